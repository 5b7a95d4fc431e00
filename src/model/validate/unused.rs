//! Keys that have no effect with the other settings. They are warned about,
//! not refused: a drop-in may switch the setting that uses them (the boot
//! method, the guests' format, KSM), and the keys then apply again.

use super::Checker;
use crate::config::ConfigError;
use crate::config::{Located, RawConfig};
use crate::model::{BootMethod, Model};

impl Checker<'_> {
    pub(super) fn unused_keys(&self, raw: &RawConfig, model: &Model) -> Vec<ConfigError> {
        let mut warnings = Vec::new();
        let mut unused = |value: Option<Located<()>>, key: &str, why: &str| {
            if let Some(value) = value {
                warnings.push(self.error(&value, key, format!("has no effect: {why}")));
            }
        };
        if model.boot.method != BootMethod::Pxelinux {
            let why = format!(
                "only pxelinux boots over TFTP (boot.method = \"{}\")",
                model.boot.method.name()
            );
            unused(at(&raw.tftp.port), "tftp.port", &why);
            unused(at(&raw.paths.tftp_root), "paths.tftp-root", &why);
            unused(at(&raw.boot.syslinux_dir), "boot.syslinux-dir", &why);
        }
        if !model.serves_etcd() {
            let why = "these guests bring their own etcd (guest.config = \"cloud-config\")";
            unused(at(&raw.etcd.version), "etcd.version", why);
            unused(at(&raw.etcd.sha256), "etcd.sha256", why);
            unused(at(&raw.etcd.base_url), "etcd.base-url", why);
            unused(at(&raw.etcd.binary), "etcd.binary", why);
        }
        if model.ksm.is_none() {
            let why = "KSM is off (ksm.enable = false)";
            unused(at(&raw.ksm.pages_to_scan), "ksm.pages-to-scan", why);
            unused(at(&raw.ksm.sleep_millisecs), "ksm.sleep-millisecs", why);
        }
        warnings
    }
}

/// Where a set key is, without its value.
fn at<T>(value: &Option<Located<T>>) -> Option<Located<()>> {
    value.as_ref().map(|v| v.map_value(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;

    fn warnings(toml: &str) -> Vec<String> {
        let model = check(toml).unwrap();
        model.warnings.iter().map(|w| w.message.clone()).collect()
    }

    #[test]
    fn tftp_keys_without_pxelinux_are_warned_about() {
        let shown = warnings("[tftp]\nport = 6969\n[boot]\nsyslinux-dir = \"/usr/lib/syslinux\"\n");
        assert_eq!(
            shown,
            [
                "tftp.port: has no effect: only pxelinux boots over TFTP (boot.method = \"ipxe\")",
                "boot.syslinux-dir: has no effect: only pxelinux boots over TFTP (boot.method = \"ipxe\")",
            ]
        );
        let pxelinux = "[boot]\nmethod = \"pxelinux\"\n[tftp]\nport = 6969\n";
        assert!(warnings(pxelinux).is_empty());
    }

    #[test]
    fn etcd_keys_for_cloud_config_guests_are_warned_about() {
        let shown =
            warnings("[guest]\nconfig = \"cloud-config\"\n[etcd]\nbase-url = \"http://m/\"\n");
        assert_eq!(shown.len(), 1);
        assert!(
            shown[0].starts_with("etcd.base-url: has no effect: these guests bring their own etcd")
        );
        assert!(warnings("[etcd]\nbase-url = \"http://m/\"\n").is_empty());
        assert!(warnings("").is_empty());
    }

    #[test]
    fn the_ksm_pace_with_ksm_off_is_warned_about() {
        let shown = warnings("[ksm]\nenable = false\nsleep-millisecs = 50\n");
        assert_eq!(
            shown,
            ["ksm.sleep-millisecs: has no effect: KSM is off (ksm.enable = false)"]
        );
        assert!(warnings("[ksm]\nsleep-millisecs = 50\n").is_empty());
    }
}
