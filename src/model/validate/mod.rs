//! Validation: the merged raw config in, the checked model out, with every
//! default applied and every error naming its file, line, column and key.

use std::fmt;
use std::path::PathBuf;

use crate::base::defaults::{
    DEFAULT_HTTP_PORT, DEFAULT_MAC_PREFIX, DEFAULT_MAX_NODES, DEFAULT_TFTP_PORT,
};
use crate::base::paths::CONFIG_FILE;
use crate::base::text::quoted;
use crate::config::{parse, ConfigError, Located, RawConfig, Source, Sources};
use crate::model::values::{check_path, parse_mac_prefix};
use crate::model::{Cluster, Model};

mod cluster;
mod etcd;
mod guest;
mod image;
mod ksm;
mod network;
mod unused;

impl Model {
    /// Checks the merged raw config and applies defaults; every error names
    /// the file, line, column and key.
    pub fn from_raw(raw: &RawConfig, sources: &Sources) -> Checked<Model> {
        Checker { sources }.model(raw)
    }

    /// The model of `text` read as the one config file, `CONFIG_FILE`, with
    /// its sources: for tests and anything else that has text, not a root.
    pub fn from_toml(text: &str) -> Checked<(Sources, Model)> {
        let sources = Sources {
            files: vec![Source {
                path: CONFIG_FILE.into(),
                text: text.into(),
            }],
        };
        let model = Model::from_raw(&parse(&sources, 0)?, &sources)?;
        Ok((sources, model))
    }
}

/// Validation with access to the sources, to say where a bad value is.
struct Checker<'a> {
    sources: &'a Sources,
}

/// A checked value, or where and why it is wrong.
type Checked<T> = Result<T, ConfigError>;

/// Where a default came from when no file set the key.
const BUILT_IN: &str = "built-in default";
impl Checker<'_> {
    fn error<T>(&self, value: &Located<T>, key: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError {
            location: value.at(self.sources),
            message: format!("{key}: {message}"),
        }
    }

    /// An error about a missing or defaulted key, placed at the related
    /// value that made it matter (or at the last file read).
    fn error_near<T>(
        &self,
        anchor: Option<&Located<T>>,
        key: &str,
        message: impl fmt::Display,
    ) -> ConfigError {
        let location = match (anchor, self.sources.files.last()) {
            (Some(anchor), _) => anchor.at(self.sources),
            (None, Some(last)) => last.path.display().to_string(),
            (None, None) => BUILT_IN.to_string(),
        };
        ConfigError {
            location,
            message: format!("{key}: {message}"),
        }
    }

    fn int(
        &self,
        value: &Option<Located<i64>>,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        unit: &str,
    ) -> Checked<Option<u32>> {
        let Some(v) = value else { return Ok(None) };
        if !range.contains(&v.value) {
            return Err(self.error(
                v,
                key,
                format!(
                    "{}{unit} is out of range; allowed: {} to {}{unit}",
                    v.value,
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(Some(v.value as u32))
    }

    fn choice<'v>(
        &self,
        value: &'v Option<Located<String>>,
        key: &str,
        allowed: &[&str],
    ) -> Checked<Option<&'v str>> {
        let Some(v) = value else { return Ok(None) };
        if allowed.contains(&v.value.as_str()) {
            Ok(Some(v.value.as_str()))
        } else {
            Err(self.error(
                v,
                key,
                format!(
                    "{} is not one of {}",
                    quoted(&v.value),
                    quoted_list(allowed)
                ),
            ))
        }
    }

    fn path(&self, value: &Option<Located<String>>, key: &str, default: &str) -> Checked<PathBuf> {
        match value {
            Some(v) => {
                check_path(&v.value).map_err(|why| self.error(v, key, why))?;
                Ok(PathBuf::from(&v.value))
            }
            None => Ok(PathBuf::from(default)),
        }
    }

    fn model(&self, raw: &RawConfig) -> Checked<Model> {
        let max_nodes = self
            .int(&raw.cluster.max_nodes, "cluster.max-nodes", 1..=255, "")?
            .map_or(DEFAULT_MAX_NODES, |n| n as u8);
        let start_at_boot = self.start_at_boot(raw, max_nodes)?;
        let mac_prefix = match &raw.cluster.mac_prefix {
            Some(v) => parse_mac_prefix(&v.value)
                .map_err(|why| self.error(v, "cluster.mac-prefix", why))?,
            None => DEFAULT_MAC_PREFIX.to_string(),
        };
        let stagger = self.stagger(raw)?;

        let image = self.image(raw)?;
        let vm = self.vm(raw, &image.source)?;
        let nodes = self.nodes(raw, max_nodes, &image.source)?;
        let network = self.network(raw, max_nodes)?;
        let discovery = self.discovery(raw, &network)?;
        let boot = self.boot(raw, &network)?;
        let guest = self.guest(raw, &image.source)?;
        let (http_root, tftp_root) = self.served_trees(raw)?;
        let etcd = self.etcd(raw)?;

        let mut model = Model {
            cluster: Cluster {
                start_at_boot,
                max_nodes,
                mac_prefix,
                stagger,
            },
            vm,
            nodes,
            network,
            discovery,
            boot,
            etcd_cluster: self.etcd_cluster(raw, &etcd)?,
            etcd,
            image,
            tftp_root,
            http_root,
            http_port: self.port(&raw.http.port, "http.port", DEFAULT_HTTP_PORT)?,
            tftp_port: self.port(&raw.tftp.port, "tftp.port", DEFAULT_TFTP_PORT)?,
            cloud_config: self.cloud_config(raw, guest.config)?,
            guest,
            ksm: self.ksm(raw)?,
            warnings: Vec::new(),
        };
        model.warnings = self.unused_keys(raw, &model);
        model
            .warnings
            .extend(self.etcd_cluster_warnings(raw, &model));
        self.image_dir_used(raw, &model)?;
        Ok(model)
    }

    fn port(&self, value: &Option<Located<i64>>, key: &str, default: u16) -> Checked<u16> {
        Ok(self
            .int(value, key, 1..=65535, "")?
            .map_or(default, |port| port as u16))
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The model of one config file.
    pub(crate) fn check(toml: &str) -> Checked<Model> {
        Model::from_toml(toml).map(|(_, model)| model)
    }

    /// The message of the error a config gives, with its location.
    pub(crate) fn refused(toml: &str) -> String {
        check(toml).unwrap_err().to_string()
    }

    /// Asserts that a config is refused with a message holding `part`.
    #[track_caller]
    pub(crate) fn assert_refused(toml: &str, part: &str) {
        let err = refused(toml);
        assert!(err.contains(part), "{toml:?}: {err}");
    }

    #[test]
    fn no_file_gives_the_defaults() {
        let model = Model::from_raw(&RawConfig::default(), &Sources::default()).unwrap();
        assert_eq!((model.http_port, model.tftp_port), (8777, 69));
        assert_eq!(model.cluster.max_nodes, DEFAULT_MAX_NODES);
        assert_eq!(model.cluster.mac_prefix, DEFAULT_MAC_PREFIX);
        assert!(model.ksm.is_some());
    }

    #[test]
    fn ranges_and_choices_name_file_line_key_and_what_is_allowed() {
        assert_eq!(
            refused("[http]\nport = 0\n"),
            "/etc/coreos-cluster/cluster.toml:2:8: http.port: 0 is out of range; allowed: 1 to 65535"
        );
        assert_eq!(
            refused("[boot]\nmethod = \"usb\"\n"),
            "/etc/coreos-cluster/cluster.toml:2:10: boot.method: \"usb\" is not one of \"ipxe\", \"pxelinux\", \"direct\""
        );
        assert_refused("[paths]\nhttp-root = \"srv\"\n", "is not an absolute path");
    }
}
