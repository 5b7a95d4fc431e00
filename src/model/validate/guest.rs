//! `[guest]` and `[cloud-config]`: the format of the guests' config and what
//! goes into it.

use std::path::PathBuf;

use super::{Checked, Checker};
use crate::config::RawConfig;
use crate::model::values::*;
use crate::model::*;

impl Checker<'_> {
    pub(super) fn guest(&self, raw: &RawConfig, source: &ImageSource) -> Checked<Guest> {
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

    pub(super) fn cloud_config(&self, raw: &RawConfig) -> Checked<CloudConfig> {
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
    use super::super::tests::{assert_refused, check};
    use crate::model::GuestConfigFormat;

    #[test]
    fn the_format_follows_the_image() {
        use GuestConfigFormat::{CloudConfig, Ignition};
        let coreos = "[image]\nsource = \"coreos\"\n";
        let chosen = "[guest]\nconfig = \"cloud-config\"\n";
        for (toml, format, serves_etcd) in [
            ("", Ignition, true),
            (coreos, CloudConfig, false),
            (chosen, CloudConfig, false),
        ] {
            let model = check(toml).unwrap();
            assert_eq!(model.guest.config, format, "{toml:?}");
            assert_eq!(model.serves_etcd(), serves_etcd, "{toml:?}");
        }
    }

    #[test]
    fn keys_and_merge_files_are_checked() {
        let model = check("[guest]\nssh-authorized-keys = [\" ssh-ed25519 AAAA me \"]\n").unwrap();
        assert_eq!(model.guest.ssh_authorized_keys, ["ssh-ed25519 AAAA me"]);
        assert_refused(
            "[guest]\nssh-authorized-keys = [\"AAAA\"]\n",
            "is not an OpenSSH public key",
        );
        assert_refused(
            "[guest]\nignition-merge = [\"x.ign\"]\n",
            "guest.ignition-merge: \"x.ign\" is not an absolute path",
        );
        assert_refused(
            "[cloud-config]\ntemplate = \"t.yaml\"\n",
            "cloud-config.template",
        );
    }
}
