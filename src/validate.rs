//! Validation: the merged raw config in, the checked model out, with every
//! default applied and every error naming its file, line, column and key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::config::{ConfigError, Located, RawConfig, RawNode, Sources};
use crate::model::*;
use crate::names::TAP_PREFIX;
use crate::values::{
    check_interface_name, check_kernel_arg, check_path, check_ssh_key, check_url,
    parse_accelerators, parse_mac, parse_mac_prefix, parse_subnet, quoted,
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
        let stagger_sec = self
            .int(
                &raw.cluster.stagger_sec,
                "cluster.stagger-sec",
                0..=600,
                " s",
            )?
            .unwrap_or(1);

        let image = self.image(raw)?;
        let vm = self.vm(raw, &image.source)?;
        let nodes = self.nodes(raw, max_nodes, &image.source)?;
        let network = self.network(raw, max_nodes)?;
        let discovery = self.discovery(raw, &network)?;
        let boot = self.boot(raw, &network)?;

        Ok(Model {
            cluster: Cluster {
                start_at_boot,
                max_nodes,
                mac_prefix,
                stagger_sec,
            },
            vm,
            nodes,
            network,
            discovery,
            boot,
            image,
            tftp_root: self.path(&raw.paths.tftp_root, "paths.tftp-root", "/srv/tftp")?,
            http_root: self.path(&raw.paths.http_root, "paths.http-root", "/srv/http")?,
            cloud_config: self.cloud_config(raw)?,
            ksm: raw.ksm.enable.as_ref().is_none_or(|v| v.value),
        })
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
                let dir = dir.join(format!("flatcar-{channel}"));
                Ok(Image {
                    kernel: dir.join("flatcar_production_pxe.vmlinuz"),
                    initrd: dir.join("flatcar_production_pxe_image.cpio.gz"),
                    source: ImageSource::Flatcar { channel },
                })
            }
            "coreos" => {
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
        let method = match self.choice(&r.method, "boot.method", &["ipxe", "pxelinux"])? {
            Some("ipxe") => BootMethod::Ipxe,
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

    fn cloud_config(&self, raw: &RawConfig) -> Result<CloudConfig, ConfigError> {
        let r = &raw.cloud_config;
        let mut keys = Vec::new();
        if let Some(v) = &r.ssh_authorized_keys {
            for key in &v.value {
                check_ssh_key(key)
                    .map_err(|why| self.error(v, "cloud-config.ssh-authorized-keys", why))?;
                keys.push(key.trim().to_string());
            }
        }
        let template = match &r.template {
            Some(_) => Some(self.path(&r.template, "cloud-config.template", "")?),
            None => None,
        };
        Ok(CloudConfig {
            ssh_authorized_keys: keys,
            template,
        })
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
