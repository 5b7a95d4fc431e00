//! The raw config: every section and key as serde reads it, each value with
//! the file and byte offset it came from, and the merge of drop-ins.
//!
//! Every value keeps where it came from (file, byte span) so that validation
//! errors can name the file, line and column even after drop-ins are merged.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::config::source::Sources;

thread_local! {
    // The index of the file being deserialized, stamped into every `Located`.
    pub(crate) static CURRENT_FILE: Cell<usize> = const { Cell::new(0) };
}

/// A config value with the file and byte offset it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub file: usize,
    pub offset: usize,
}

impl<T> Located<T> {
    /// Formats `path:line:col` for this value.
    pub fn at(&self, sources: &Sources) -> String {
        sources.locate(self.file, self.offset)
    }

    /// The same place, holding another value.
    pub fn map_value<U>(&self, f: impl FnOnce(&T) -> U) -> Located<U> {
        Located {
            value: f(&self.value),
            file: self.file,
            offset: self.offset,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<T>::deserialize(deserializer)?;
        Ok(Located {
            offset: spanned.span().start,
            file: CURRENT_FILE.with(Cell::get),
            value: spanned.into_inner(),
        })
    }
}

type Value<T> = Option<Located<T>>;

/// A key that takes an integer or a word (`stagger-sec = 2` or `"auto"`);
/// `validate` says which words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrWord {
    Int(i64),
    Word(String),
}

impl<'de> Deserialize<'de> for IntOrWord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;

        impl serde::de::Visitor<'_> for Either {
            type Value = IntOrWord;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer or a string in quotes")
            }

            fn visit_i64<E>(self, n: i64) -> Result<IntOrWord, E> {
                Ok(IntOrWord::Int(n))
            }

            fn visit_str<E>(self, word: &str) -> Result<IntOrWord, E> {
                Ok(IntOrWord::Word(word.to_string()))
            }
        }

        deserializer.deserialize_any(Either)
    }
}

/// Gives a section a `merge` that copies every key a later file sets: later
/// files win. The pattern names every field without `..`, so a field left out
/// here is a compile error, not a key that silently never overrides.
macro_rules! merge_by_key {
    ($section:ident { $($field:ident),* $(,)? }) => {
        impl $section {
            fn merge(&mut self, later: $section) {
                let $section { $($field),* } = later;
                $( if $field.is_some() { self.$field = $field; } )*
            }
        }
    };
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawConfig {
    pub cluster: RawCluster,
    pub vm: RawVm,
    pub network: RawNetwork,
    pub discovery: RawDiscovery,
    pub boot: RawBoot,
    pub image: RawImage,
    pub etcd: RawEtcd,
    pub paths: RawPaths,
    pub http: RawHttp,
    pub tftp: RawTftp,
    pub guest: RawGuest,
    pub cloud_config: RawCloudConfig,
    pub ksm: RawKsm,
    /// Per-node overrides, keyed by the node's number (`[node.2]`).
    pub node: BTreeMap<String, Located<RawNode>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCluster {
    pub start_at_boot: Value<i64>,
    pub max_nodes: Value<i64>,
    pub mac_prefix: Value<String>,
    pub stagger_sec: Value<IntOrWord>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawVm {
    pub memory_mib: Value<i64>,
    pub cores: Value<i64>,
    pub accelerator: Value<String>,
    pub extra_args: Value<Vec<String>>,
    pub serial: Value<String>,
    pub powerdown_timeout_sec: Value<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawNetwork {
    pub mode: Value<String>,
    pub bridge: Value<String>,
    pub subnet: Value<String>,
    pub nat: Value<bool>,
    pub uplink: Value<String>,
    pub bridge_mac: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDiscovery {
    pub mode: Value<String>,
    pub url: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawBoot {
    pub method: Value<String>,
    pub syslinux_dir: Value<String>,
    pub kernel_args: Value<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawImage {
    pub source: Value<String>,
    pub channel: Value<String>,
    pub dir: Value<String>,
    pub kernel: Value<String>,
    pub initrd: Value<String>,
    pub version: Value<String>,
    pub base_url: Value<String>,
    pub signing_key: Value<String>,
    pub signing_key_fingerprint: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawEtcd {
    pub version: Value<String>,
    pub sha256: Value<String>,
    pub binary: Value<String>,
    pub base_url: Value<String>,
    pub members: Value<IntOrWord>,
    pub v2_api: Value<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPaths {
    pub tftp_root: Value<String>,
    pub http_root: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawHttp {
    pub port: Value<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawTftp {
    pub port: Value<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawGuest {
    pub config: Value<String>,
    pub ssh_authorized_keys: Value<Vec<String>>,
    pub ignition_merge: Value<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCloudConfig {
    pub template: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawKsm {
    pub enable: Value<bool>,
    pub pages_to_scan: Value<i64>,
    pub sleep_millisecs: Value<i64>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawNode {
    pub memory_mib: Value<i64>,
    pub cores: Value<i64>,
    pub extra_args: Value<Vec<String>>,
}

merge_by_key!(RawCluster {
    start_at_boot,
    max_nodes,
    mac_prefix,
    stagger_sec
});
merge_by_key!(RawVm {
    memory_mib,
    cores,
    accelerator,
    extra_args,
    serial,
    powerdown_timeout_sec
});
merge_by_key!(RawNetwork {
    mode,
    bridge,
    subnet,
    nat,
    uplink,
    bridge_mac
});
merge_by_key!(RawDiscovery { mode, url });
merge_by_key!(RawBoot {
    method,
    syslinux_dir,
    kernel_args
});
merge_by_key!(RawImage {
    source,
    channel,
    dir,
    kernel,
    initrd,
    version,
    base_url,
    signing_key,
    signing_key_fingerprint
});
merge_by_key!(RawEtcd {
    version,
    sha256,
    binary,
    base_url,
    members,
    v2_api
});
merge_by_key!(RawPaths {
    tftp_root,
    http_root
});
merge_by_key!(RawHttp { port });
merge_by_key!(RawTftp { port });
merge_by_key!(RawGuest {
    config,
    ssh_authorized_keys,
    ignition_merge
});
merge_by_key!(RawCloudConfig { template });
merge_by_key!(RawKsm {
    enable,
    pages_to_scan,
    sleep_millisecs
});
merge_by_key!(RawNode {
    memory_mib,
    cores,
    extra_args
});

impl RawConfig {
    /// Applies a later file on top of this one.
    pub(crate) fn merge(&mut self, later: RawConfig) {
        let RawConfig {
            cluster,
            vm,
            network,
            discovery,
            boot,
            image,
            etcd,
            paths,
            http,
            tftp,
            guest,
            cloud_config,
            ksm,
            node,
        } = later;
        self.cluster.merge(cluster);
        self.vm.merge(vm);
        self.network.merge(network);
        self.discovery.merge(discovery);
        self.boot.merge(boot);
        self.image.merge(image);
        self.etcd.merge(etcd);
        self.paths.merge(paths);
        self.http.merge(http);
        self.tftp.merge(tftp);
        self.guest.merge(guest);
        self.cloud_config.merge(cloud_config);
        self.ksm.merge(ksm);
        for (key, later_node) in node {
            match self.node.get_mut(&key) {
                Some(existing) => existing.value.merge(later_node.value),
                None => {
                    self.node.insert(key, later_node);
                }
            }
        }
    }
}
