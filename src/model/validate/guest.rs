//! `[guest]` and `[cloud-config]`: the format of the guests' config and what
//! goes into it.

use std::path::PathBuf;

use super::Checker;
use crate::config::{ConfigError, RawConfig};
use crate::model::values::*;
use crate::model::*;

impl Checker<'_> {
    pub(super) fn guest(
        &self,
        raw: &RawConfig,
        source: &ImageSource,
    ) -> Result<Guest, ConfigError> {
        let r = &raw.guest;
        let config = match self.choice(&r.config, "guest.config", &["ignition", "cloud-config"])? {
            Some("ignition") => GuestConfigFormat::Ignition,
            Some(_) => GuestConfigFormat::CloudConfig,
            None if matches!(source, ImageSource::Flatcar { .. }) => GuestConfigFormat::Ignition,
            None => GuestConfigFormat::CloudConfig,
        };
        let mut keys = Vec::new();
        if let Some(v) = &r.ssh_authorized_keys {
            for key in &v.value {
                check_ssh_key(key)
                    .map_err(|why| self.error(v, "guest.ssh-authorized-keys", why))?;
                keys.push(key.trim().to_string());
            }
        }
        let mut ignition_merge = Vec::new();
        if let Some(v) = &r.ignition_merge {
            for path in &v.value {
                check_path(path).map_err(|why| self.error(v, "guest.ignition-merge", why))?;
                ignition_merge.push(PathBuf::from(path));
            }
        }
        Ok(Guest {
            config,
            ssh_authorized_keys: keys,
            ignition_merge,
        })
    }

    pub(super) fn cloud_config(&self, raw: &RawConfig) -> Result<CloudConfig, ConfigError> {
        let r = &raw.cloud_config;
        let template = match &r.template {
            Some(_) => Some(self.path(&r.template, "cloud-config.template", "")?),
            None => None,
        };
        Ok(CloudConfig { template })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, refused};
    use crate::model::*;

    #[test]
    fn the_format_follows_the_image() {
        assert_eq!(check("").unwrap().guest.config, GuestConfigFormat::Ignition);
        let coreos = check("[image]\nsource = \"coreos\"\n").unwrap();
        assert_eq!(coreos.guest.config, GuestConfigFormat::CloudConfig);
        assert!(!coreos.serves_etcd());
    }

    #[test]
    fn keys_and_merge_files_are_checked() {
        let model = check("[guest]\nssh-authorized-keys = [\" ssh-ed25519 AAAA me \"]\n").unwrap();
        assert_eq!(model.guest.ssh_authorized_keys, ["ssh-ed25519 AAAA me"]);
        let err = refused("[guest]\nssh-authorized-keys = [\"AAAA\"]\n");
        assert!(err.contains("is not an OpenSSH public key"), "{err}");
        let err = refused("[guest]\nignition-merge = [\"x.ign\"]\n");
        assert!(
            err.contains("guest.ignition-merge: \"x.ign\" is not an absolute path"),
            "{err}"
        );
        let err = refused("[cloud-config]\ntemplate = \"t.yaml\"\n");
        assert!(err.contains("cloud-config.template"), "{err}");
    }
}
