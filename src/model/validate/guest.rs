//! `[guest]` and `[cloud-config]`: the format of the guests' config and what
//! goes into it.

use std::path::PathBuf;

use super::{Checked, Checker};
use crate::base::text::quoted;
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
        let mut keys: Vec<String> = Vec::new();
        if let Some(v) = &r.ssh_authorized_keys {
            for key in &v.value {
                let key_error = |why| self.error(v, "guest.ssh-authorized-keys", why);
                check_ssh_key(key).map_err(key_error)?;
                // Ignition refuses a config whose list holds a key twice; the
                // same key with another comment is the same key to sshd.
                if keys.iter().any(|k| same_ssh_key(k, key)) {
                    return Err(key_error(format!(
                        "{} is listed twice (Ignition refuses the whole config then)",
                        quoted(key.trim())
                    )));
                }
                keys.push(key.trim().to_string());
            }
        }
        let mut ignition_merge = Vec::new();
        if let Some(v) = &r.ignition_merge {
            if config == GuestConfigFormat::CloudConfig {
                return Err(self.error(
                    v,
                    "guest.ignition-merge",
                    "only used with guest.config = \"ignition\" (these guests read cloud-config)",
                ));
            }
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

    pub(super) fn cloud_config(
        &self,
        raw: &RawConfig,
        format: GuestConfigFormat,
    ) -> Checked<CloudConfig> {
        let r = &raw.cloud_config;
        if let (Some(v), GuestConfigFormat::Ignition) = (&r.template, format) {
            return Err(self.error(
                v,
                "cloud-config.template",
                "only used with guest.config = \"cloud-config\" (these guests read Ignition; \
                 guest.ignition-merge adds your own Ignition config)",
            ));
        }
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
            "[guest]\nconfig = \"cloud-config\"\n[cloud-config]\ntemplate = \"t.yaml\"\n",
            "cloud-config.template",
        );
    }

    #[test]
    fn a_key_listed_twice_is_refused() {
        let twice =
            |a: &str, b: &str| format!("[guest]\nssh-authorized-keys = [\"{a}\", \"{b}\"]\n");
        let key = "ssh-ed25519 AAAAC3 me@host";
        assert_refused(&twice(key, key), "is listed twice");
        assert_refused(&twice(key, "ssh-ed25519  AAAAC3 other"), "is listed twice");
        assert!(check(&twice(key, "ssh-ed25519 AAAAC4 me@host")).is_ok());
        assert!(check(&twice(key, "ssh-rsa AAAAC3 me@host")).is_ok());
    }

    #[test]
    fn keys_of_the_other_guest_format_are_refused() {
        assert_refused(
            "[cloud-config]\ntemplate = \"/t.yaml\"\n",
            "cloud-config.template: only used with guest.config = \"cloud-config\"",
        );
        assert_refused(
            "[image]\nsource = \"coreos\"\n[guest]\nignition-merge = [\"/m.ign\"]\n",
            "guest.ignition-merge: only used with guest.config = \"ignition\"",
        );
    }
}
