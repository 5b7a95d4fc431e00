//! Validation: the merged raw config in, the checked model out, with every
//! default applied and every error naming its file, line, column and key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::config::{ConfigError, IntOrWord, Located, RawConfig, RawNode, Sources};
use crate::model::*;
use crate::names::{DEFAULT_HTTP_PORT, DEFAULT_TFTP_PORT, TAP_PREFIX};
use crate::paths::{DEFAULT_HTTP_ROOT, DEFAULT_IMAGE_DIR, DEFAULT_TFTP_ROOT};
use crate::values::{
    check_interface_name, check_kernel_arg, check_path, check_release_version, check_served_tree,
    check_ssh_key, check_url, parse_accelerators, parse_mac, parse_mac_prefix, parse_subnet,
    quoted,
};

/// Checks the merged raw config and applies defaults.
pub fn model(raw: &RawConfig, sources: &Sources) -> Result<Model, ConfigError> {
    Checker { sources }.model(raw)
}

/// Validation with access to the sources, to say where a bad value is.
struct Checker<'a> {
    sources: &'a Sources,
}

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
    ) -> Result<Option<u32>, ConfigError> {
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
    ) -> Result<Option<&'v str>, ConfigError> {
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

    fn path(
        &self,
        value: &Option<Located<String>>,
        key: &str,
        default: &str,
    ) -> Result<PathBuf, ConfigError> {
        match value {
            Some(v) => {
                check_path(&v.value).map_err(|why| self.error(v, key, why))?;
                Ok(PathBuf::from(&v.value))
            }
            None => Ok(PathBuf::from(default)),
        }
    }

    fn model(&self, raw: &RawConfig) -> Result<Model, ConfigError> {
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

        Ok(Model {
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
            etcd: self.etcd(raw)?,
            image,
            tftp_root,
            http_root,
            http_port: self.port(&raw.http.port, "http.port", DEFAULT_HTTP_PORT)?,
            tftp_port: self.port(&raw.tftp.port, "tftp.port", DEFAULT_TFTP_PORT)?,
            guest,
            cloud_config: self.cloud_config(raw)?,
            ksm: raw.ksm.enable.as_ref().is_none_or(|v| v.value),
        })
    }

    fn port(
        &self,
        value: &Option<Located<i64>>,
        key: &str,
        default: u16,
    ) -> Result<u16, ConfigError> {
        Ok(self
            .int(value, key, 1..=65535, "")?
            .map_or(default, |port| port as u16))
    }

    /// The HTTP and TFTP roots: directories of our own, apart from each other
    /// and from the image cache (the units may write all of them).
    fn served_trees(&self, raw: &RawConfig) -> Result<(PathBuf, PathBuf), ConfigError> {
        let http_key = "paths.http-root";
        let tftp_key = "paths.tftp-root";
        let http = self.path(&raw.paths.http_root, http_key, DEFAULT_HTTP_ROOT)?;
        let tftp = self.path(&raw.paths.tftp_root, tftp_key, DEFAULT_TFTP_ROOT)?;
        let image_dir = self.path(&raw.image.dir, "image.dir", DEFAULT_IMAGE_DIR)?;
        let trees = [
            (&http, raw.paths.http_root.as_ref(), http_key),
            (&tftp, raw.paths.tftp_root.as_ref(), tftp_key),
        ];
        for (tree, value, key) in trees {
            let refuse = |why: String| self.error_near(value, key, why);
            check_served_tree(tree).map_err(refuse)?;
            if image_dir.starts_with(tree) {
                return Err(refuse(format!(
                    "{:?} holds the image cache (image.dir = {:?}); serve a directory apart \
                     from it",
                    tree.display(),
                    image_dir.display()
                )));
            }
        }
        if http.starts_with(&tftp) || tftp.starts_with(&http) {
            let (value, key) = match raw.paths.tftp_root.as_ref() {
                Some(v) => (Some(v), tftp_key),
                None => (raw.paths.http_root.as_ref(), http_key),
            };
            return Err(self.error_near(
                value,
                key,
                format!(
                    "the HTTP root {:?} and the TFTP root {:?} are nested; use two separate \
                     directories",
                    http.display(),
                    tftp.display()
                ),
            ));
        }
        Ok((http, tftp))
    }

    /// Seconds, or "auto": the next VM once the previous one's kernel started.
    fn stagger(&self, raw: &RawConfig) -> Result<Stagger, ConfigError> {
        let Some(v) = &raw.cluster.stagger_sec else {
            return Ok(DEFAULT_STAGGER);
        };
        let range = 0..=600;
        let allowed = format!(
            "allowed: {} to {} s, or \"auto\"",
            range.start(),
            range.end()
        );
        let refuse = |what: String| Err(self.error(v, "cluster.stagger-sec", what));
        match &v.value {
            IntOrWord::Int(sec) if range.contains(sec) => Ok(Stagger::Fixed(*sec as u32)),
            IntOrWord::Int(sec) => refuse(format!("{sec} s is out of range; {allowed}")),
            IntOrWord::Word(word) if word == "auto" => Ok(Stagger::Auto),
            IntOrWord::Word(word) => refuse(format!("{} is not accepted; {allowed}", quoted(word))),
        }
    }

    fn start_at_boot(&self, raw: &RawConfig, max_nodes: u8) -> Result<Option<u8>, ConfigError> {
        let key = "cluster.start-at-boot";
        let Some(size) = self.int(&raw.cluster.start_at_boot, key, 1..=255, "")? else {
            return Ok(None);
        };
        if size > u32::from(max_nodes) {
            let v = raw.cluster.start_at_boot.as_ref().expect("checked above");
            return Err(self.error(
                v,
                key,
                format!(
                    "a cluster of {size} is larger than cluster.max-nodes = {max_nodes}; \
                     raise max-nodes or start fewer nodes"
                ),
            ));
        }
        Ok(Some(size as u8))
    }

    fn image(&self, raw: &RawConfig) -> Result<Image, ConfigError> {
        let r = &raw.image;
        let source_name = self
            .choice(&r.source, "image.source", &["flatcar", "coreos", "files"])?
            .unwrap_or("flatcar");
        let dir = self.path(&r.dir, "image.dir", DEFAULT_IMAGE_DIR)?;
        let only_for = |value: &Option<Located<String>>, key: &str, source: &str| match value {
            Some(v) => Err(self.error(
                v,
                key,
                format!("only used with image.source = \"{source}\""),
            )),
            None => Ok(()),
        };
        match source_name {
            "flatcar" => {
                only_for(&r.kernel, "image.kernel", "files")?;
                only_for(&r.initrd, "image.initrd", "files")?;
                let channel = self
                    .choice(
                        &r.channel,
                        "image.channel",
                        &["stable", "beta", "alpha", "lts"],
                    )?
                    .unwrap_or("stable")
                    .to_string();
                let cache_dir = dir.join(format!("flatcar-{channel}"));
                // The cache's `current` link moves only once a whole release is verified.
                let current = cache_dir.join("current");
                Ok(Image {
                    kernel: current.join("flatcar_production_pxe.vmlinuz"),
                    initrd: current.join("flatcar_production_pxe_image.cpio.gz"),
                    source: ImageSource::Flatcar {
                        upstream: self.flatcar_upstream(r, &channel, cache_dir)?,
                        channel,
                    },
                })
            }
            "coreos" => {
                self.flatcar_only(r, source_name)?;
                only_for(&r.kernel, "image.kernel", "files")?;
                only_for(&r.initrd, "image.initrd", "files")?;
                only_for(&r.channel, "image.channel", "flatcar")?;
                let dir = dir.join("coreos");
                Ok(Image {
                    kernel: dir.join("coreos_production_pxe.vmlinuz"),
                    initrd: dir.join("coreos_production_pxe_image.cpio.gz"),
                    source: ImageSource::CoreOs,
                })
            }
            _ => {
                self.flatcar_only(r, source_name)?;
                only_for(&r.channel, "image.channel", "flatcar")?;
                only_for(&r.dir, "image.dir", "flatcar\" or \"coreos")?;
                let required = |value: &Option<Located<String>>, key: &str| match value {
                    Some(_) => self.path(value, key, ""),
                    None => Err(self.error_near(
                        r.source.as_ref(),
                        key,
                        "required when image.source = \"files\" (an absolute path)",
                    )),
                };
                Ok(Image {
                    kernel: required(&r.kernel, "image.kernel")?,
                    initrd: required(&r.initrd, "image.initrd")?,
                    source: ImageSource::Files,
                })
            }
        }
    }

    fn flatcar_only(&self, r: &crate::config::RawImage, source: &str) -> Result<(), ConfigError> {
        for (value, key) in [
            (&r.version, "image.version"),
            (&r.base_url, "image.base-url"),
            (&r.signing_key, "image.signing-key"),
            (&r.signing_key_fingerprint, "image.signing-key-fingerprint"),
        ] {
            if let Some(v) = value {
                return Err(self.error(
                    v,
                    key,
                    format!("only used with image.source = \"flatcar\" (not \"{source}\")"),
                ));
            }
        }
        Ok(())
    }

    fn flatcar_upstream(
        &self,
        r: &crate::config::RawImage,
        channel: &str,
        cache_dir: PathBuf,
    ) -> Result<FlatcarUpstream, ConfigError> {
        let version = match &r.version {
            Some(v) if v.value == "current" => None,
            Some(v) => Some(
                check_release_version(&v.value)
                    .map_err(|why| self.error(v, "image.version", why))?,
            ),
            None => None,
        };
        let base_url = match &r.base_url {
            Some(v) => check_url(&v.value).map_err(|why| self.error(v, "image.base-url", why))?,
            None => default_flatcar_base_url(channel),
        };
        let signing_key = match &r.signing_key {
            Some(v) if v.value.starts_with('/') => {
                check_path(&v.value).map_err(|why| self.error(v, "image.signing-key", why))?;
                v.value.clone()
            }
            Some(v) => check_url(&v.value).map_err(|why| {
                self.error(
                    v,
                    "image.signing-key",
                    format!("{why}, or an absolute path"),
                )
            })?,
            None => DEFAULT_FLATCAR_SIGNING_KEY.to_string(),
        };
        let signing_key_fingerprint = match &r.signing_key_fingerprint {
            Some(v) => {
                let fpr: String = v.value.chars().filter(|c| *c != ' ').collect();
                if fpr.len() != 40 || !fpr.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(self.error(
                        v,
                        "image.signing-key-fingerprint",
                        "expected a 40-digit hex OpenPGP v4 fingerprint",
                    ));
                }
                fpr.to_uppercase()
            }
            None => crate::fetch::signature::FLATCAR_SIGNING_KEY_FINGERPRINT.to_string(),
        };
        Ok(FlatcarUpstream {
            version,
            base_url,
            signing_key,
            signing_key_fingerprint,
            cache_dir,
        })
    }

    fn etcd(&self, raw: &RawConfig) -> Result<EtcdSource, ConfigError> {
        let r = &raw.etcd;
        if r.binary.is_some() {
            for (value, key) in [
                (&r.version, "etcd.version"),
                (&r.sha256, "etcd.sha256"),
                (&r.base_url, "etcd.base-url"),
            ] {
                if let Some(v) = value {
                    return Err(self.error(v, key, "not used together with etcd.binary"));
                }
            }
            return Ok(EtcdSource::Binary(self.path(
                &r.binary,
                "etcd.binary",
                "",
            )?));
        }
        let version = match &r.version {
            Some(v) => {
                check_release_version(&v.value).map_err(|why| self.error(v, "etcd.version", why))?
            }
            None => DEFAULT_ETCD_VERSION.to_string(),
        };
        let sha256 = match &r.sha256 {
            Some(v) => {
                let hex = v.value.to_lowercase();
                if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(self.error(v, "etcd.sha256", "expected 64 hex digits"));
                }
                hex
            }
            None if version == DEFAULT_ETCD_VERSION => DEFAULT_ETCD_SHA256.to_string(),
            None => {
                return Err(self.error_near(
                    r.version.as_ref(),
                    "etcd.sha256",
                    format!(
                        "required when etcd.version is not {DEFAULT_ETCD_VERSION} \
                         (the release's published SHA-256 of etcd-v{version}-linux-amd64.tar.gz)"
                    ),
                ))
            }
        };
        let base_url = match &r.base_url {
            Some(v) => check_url(&v.value).map_err(|why| self.error(v, "etcd.base-url", why))?,
            None => DEFAULT_ETCD_BASE_URL.to_string(),
        };
        let dir = self.path(&raw.image.dir, "image.dir", DEFAULT_IMAGE_DIR)?;
        Ok(EtcdSource::Release {
            cache_dir: dir.join(format!("etcd-v{version}")),
            version,
            sha256,
            base_url,
        })
    }

    fn memory(
        &self,
        value: &Option<Located<i64>>,
        key: &str,
        source: &ImageSource,
    ) -> Result<Option<u32>, ConfigError> {
        let Some(mib) = self.int(value, key, 1..=1_048_576, " MiB")? else {
            return Ok(None);
        };
        let min = source.min_memory_mib();
        if mib < min {
            let v = value.as_ref().expect("checked above");
            let why = match source {
                ImageSource::Flatcar { .. } => "a Flatcar PXE image needs (its docs require 3 GB)",
                ImageSource::CoreOs => "a CoreOS PXE image needs",
                ImageSource::Files => "a network-booted initramfs needs",
            };
            return Err(self.error(
                v,
                key,
                format!("{mib} MiB is below the {min} MiB {why}; set at least {min}"),
            ));
        }
        Ok(Some(mib))
    }

    fn extra_args(
        &self,
        value: &Option<Located<Vec<String>>>,
        key: &str,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(v) = value else { return Ok(None) };
        for arg in &v.value {
            // They reach QEMU through systemd's word splitting of `$VAR`.
            if arg.is_empty()
                || arg
                    .chars()
                    .any(|c| c.is_whitespace() || "\"'\\".contains(c))
            {
                return Err(self.error(
                    v,
                    key,
                    format!(
                        "{}: each argument must be one non-empty word without \
                         spaces, quotes or backslashes",
                        quoted(arg)
                    ),
                ));
            }
        }
        Ok(Some(v.value.clone()))
    }

    fn vm(&self, raw: &RawConfig, source: &ImageSource) -> Result<VmSettings, ConfigError> {
        let r = &raw.vm;
        let accelerators = match &r.accelerator {
            Some(v) => {
                parse_accelerators(&v.value).map_err(|why| self.error(v, "vm.accelerator", why))?
            }
            None => vec![Accelerator::Kvm, Accelerator::Tcg],
        };
        let serial = match self.choice(&r.serial, "vm.serial", &["journal", "socket"])? {
            Some("socket") => Serial::Socket,
            _ => Serial::Journal,
        };
        Ok(VmSettings {
            memory_mib: self
                .memory(&r.memory_mib, "vm.memory-mib", source)?
                .unwrap_or_else(|| source.default_memory_mib()),
            cores: self.int(&r.cores, "vm.cores", 1..=255, "")?.unwrap_or(1),
            accelerators,
            extra_args: self
                .extra_args(&r.extra_args, "vm.extra-args")?
                .unwrap_or_default(),
            serial,
            powerdown_timeout_sec: self
                .int(
                    &r.powerdown_timeout_sec,
                    "vm.powerdown-timeout-sec",
                    1..=3600,
                    " s",
                )?
                .unwrap_or(30),
        })
    }

    fn nodes(
        &self,
        raw: &RawConfig,
        max_nodes: u8,
        source: &ImageSource,
    ) -> Result<BTreeMap<NodeIndex, NodeOverride>, ConfigError> {
        let mut nodes = BTreeMap::new();
        for (key, node) in &raw.node {
            // Plain decimal only, so `[node.1]` and `[node.01]` or `[node.+1]`
            // cannot name one node twice.
            let index = key
                .parse::<u8>()
                .ok()
                .filter(|n| *key == n.to_string())
                .and_then(NodeIndex::new)
                .filter(|i| i.get() <= max_nodes)
                .ok_or_else(|| {
                    self.error(
                        node,
                        &format!("node.{key}"),
                        format!(
                            "not a node number; nodes are numbered 1 to \
                             cluster.max-nodes = {max_nodes}, in plain decimal ([node.1], \
                             not [node.01] or [node.+1])"
                        ),
                    )
                })?;
            let RawNode {
                memory_mib,
                cores,
                extra_args,
            } = &node.value;
            let prefix = format!("node.{key}");
            nodes.insert(
                index,
                NodeOverride {
                    memory_mib: self.memory(memory_mib, &format!("{prefix}.memory-mib"), source)?,
                    cores: self.int(cores, &format!("{prefix}.cores"), 1..=255, "")?,
                    extra_args: self.extra_args(extra_args, &format!("{prefix}.extra-args"))?,
                },
            );
        }
        Ok(nodes)
    }

    fn interface(&self, value: &Located<String>, key: &str) -> Result<String, ConfigError> {
        check_interface_name(&value.value).map_err(|why| self.error(value, key, why))?;
        Ok(value.value.clone())
    }

    fn network(&self, raw: &RawConfig, max_nodes: u8) -> Result<Network, ConfigError> {
        let r = &raw.network;
        let mode = self
            .choice(&r.mode, "network.mode", &["isolated", "bridged"])?
            .unwrap_or("isolated");
        let bridge = match &r.bridge {
            Some(v) => {
                let bridge = self.interface(v, "network.bridge")?;
                if bridge.starts_with(TAP_PREFIX) {
                    return Err(self.error(
                        v,
                        "network.bridge",
                        format!(
                            "{} would clash with the node taps ({TAP_PREFIX}NN); \
                             choose another name",
                            quoted(&bridge)
                        ),
                    ));
                }
                bridge
            }
            None => DEFAULT_BRIDGE.to_string(),
        };
        let only_for = |value: Option<&Located<String>>, key: &str, mode: &str| match value {
            Some(v) => Err(self.error(v, key, format!("only used with network.mode = \"{mode}\""))),
            None => Ok(()),
        };
        let mode = if mode == "isolated" {
            only_for(r.uplink.as_ref(), "network.uplink", "bridged")?;
            only_for(r.bridge_mac.as_ref(), "network.bridge-mac", "bridged")?;
            let subnet = match &r.subnet {
                Some(v) => {
                    parse_subnet(&v.value).map_err(|why| self.error(v, "network.subnet", why))?
                }
                None => parse_subnet(DEFAULT_SUBNET).expect("valid default"),
            };
            if subnet.node_capacity() < u32::from(max_nodes) {
                let why = format!(
                    "{subnet} has room for {} nodes (node i gets host number {NODE_HOST_OFFSET} + i, \
                     one address stays for other clients), \
                     but cluster.max-nodes = {max_nodes}; use a larger subnet or lower max-nodes",
                    subnet.node_capacity()
                );
                return Err(match &r.subnet {
                    Some(v) => self.error(v, "network.subnet", why),
                    None => self.error_near(raw.cluster.max_nodes.as_ref(), "network.subnet", why),
                });
            }
            NetworkMode::Isolated {
                subnet,
                nat: r.nat.as_ref().is_none_or(|v| v.value),
            }
        } else {
            only_for(r.subnet.as_ref(), "network.subnet", "isolated")?;
            if let Some(v) = &r.nat {
                return Err(self.error(
                    v,
                    "network.nat",
                    "only used with network.mode = \"isolated\"",
                ));
            }
            let uplink =
                match &r.uplink {
                    Some(v) if v.value == bridge || v.value.starts_with(TAP_PREFIX) => {
                        return Err(self.error(
                            v,
                            "network.uplink",
                            format!(
                                "{} is the bridge or a node tap; the uplink is the host's \
                                 NIC that the bridge enslaves, e.g. \"eth0\"",
                                quoted(&v.value)
                            ),
                        ))
                    }
                    Some(v) => self.interface(v, "network.uplink")?,
                    None => return Err(self.error_near(
                        r.mode.as_ref(),
                        "network.uplink",
                        "required when network.mode = \"bridged\" (the NIC the bridge enslaves, \
                         e.g. \"eth0\")",
                    )),
                };
            let bridge_mac = match &r.bridge_mac {
                Some(v) => Some(
                    parse_mac(&v.value).map_err(|why| self.error(v, "network.bridge-mac", why))?,
                ),
                None => None,
            };
            NetworkMode::Bridged { uplink, bridge_mac }
        };
        Ok(Network { bridge, mode })
    }

    fn discovery(&self, raw: &RawConfig, network: &Network) -> Result<Discovery, ConfigError> {
        let r = &raw.discovery;
        let isolated = matches!(network.mode, NetworkMode::Isolated { .. });
        let mode = self.choice(&r.mode, "discovery.mode", &["static", "public", "etcd"])?;
        let mode =
            match mode {
                Some(mode) => mode,
                None if isolated => "static",
                None => return Err(self.error_near(
                    raw.network.mode.as_ref(),
                    "discovery.mode",
                    "required when network.mode = \"bridged\" (node addresses are not known in \
                     advance): \"etcd\" or \"public\"",
                )),
            };
        let url = match &r.url {
            Some(v) => {
                Some(check_url(&v.value).map_err(|why| self.error(v, "discovery.url", why))?)
            }
            None => None,
        };
        match (mode, url) {
            ("static", None) if isolated => Ok(Discovery::Static),
            ("static", Some(_)) => Err(self.error(
                r.url.as_ref().expect("matched Some"),
                "discovery.url",
                "not used with discovery.mode = \"static\"",
            )),
            ("static", None) => Err(self.error(
                r.mode
                    .as_ref()
                    .expect("static is never the default in bridged mode"),
                "discovery.mode",
                "\"static\" needs node addresses in advance, which only network.mode = \
                 \"isolated\" knows; use \"etcd\" or \"public\"",
            )),
            ("public", url) => Ok(Discovery::Public {
                base_url: url.unwrap_or_else(|| PUBLIC_DISCOVERY_DEFAULT.to_string()),
            }),
            (_, Some(url)) => Ok(Discovery::Etcd { url }),
            (_, None) => Err(self.error_near(
                r.mode.as_ref(),
                "discovery.url",
                "required when discovery.mode = \"etcd\" (the etcd v2 keys endpoint, \
                 e.g. \"http://10.77.0.1:2379\")",
            )),
        }
    }

    fn boot(&self, raw: &RawConfig, network: &Network) -> Result<Boot, ConfigError> {
        let r = &raw.boot;
        let method = match self.choice(&r.method, "boot.method", &["ipxe", "pxelinux", "direct"])? {
            Some("ipxe") => BootMethod::Ipxe,
            Some("direct") => BootMethod::Direct,
            Some(_) => BootMethod::Pxelinux,
            // iPXE over HTTP is faster, but on a LAN the DHCP server picks the boot file.
            None => match network.mode {
                NetworkMode::Isolated { .. } => BootMethod::Ipxe,
                NetworkMode::Bridged { .. } => BootMethod::Pxelinux,
            },
        };
        let kernel_args = match &r.kernel_args {
            Some(v) => {
                for arg in &v.value {
                    check_kernel_arg(arg).map_err(|why| self.error(v, "boot.kernel-args", why))?;
                }
                v.value.clone()
            }
            None => Vec::new(),
        };
        Ok(Boot {
            method,
            syslinux_dir: self.path(
                &r.syslinux_dir,
                "boot.syslinux-dir",
                "/usr/lib/syslinux/bios",
            )?,
            kernel_args,
        })
    }

    fn guest(&self, raw: &RawConfig, source: &ImageSource) -> Result<Guest, ConfigError> {
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

    fn cloud_config(&self, raw: &RawConfig) -> Result<CloudConfig, ConfigError> {
        let r = &raw.cloud_config;
        let template = match &r.template {
            Some(_) => Some(self.path(&r.template, "cloud-config.template", "")?),
            None => None,
        };
        Ok(CloudConfig { template })
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
