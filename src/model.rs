//! The checked cluster model: what the raw config means, with every default
//! applied and every value range-checked. No I/O happens here.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Component, Path, PathBuf};

use crate::config::{ConfigError, Located, RawConfig, RawNode, Sources};

/// A node's number, 1..=255; its unit instance is two lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIndex(u8);

impl NodeIndex {
    pub fn new(index: u8) -> Option<Self> {
        (index != 0).then_some(NodeIndex(index))
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// The `coreos-vm@` instance name: `01`..`ff`.
    pub fn instance(self) -> String {
        format!("{:02x}", self.0)
    }
}

impl fmt::Display for NodeIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub cluster: Cluster,
    pub vm: VmSettings,
    /// Settings that differ for single nodes.
    pub nodes: BTreeMap<NodeIndex, NodeOverride>,
    pub network: Network,
    pub discovery: Discovery,
    pub boot: Boot,
    pub image: Image,
    pub tftp_root: PathBuf,
    pub http_root: PathBuf,
    pub guest: Guest,
    pub cloud_config: CloudConfig,
    pub ksm: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The size of the cluster started at boot, if any.
    pub start_at_boot: Option<u8>,
    /// The largest cluster this config supports (one tap and one lease per node).
    pub max_nodes: u8,
    /// Five octets, lowercase, colon-separated; node i adds `:%02x`.
    pub mac_prefix: String,
    pub stagger_sec: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSettings {
    pub memory_mib: u32,
    pub cores: u32,
    /// Tried in order, like QEMU's `accel=kvm:tcg`.
    pub accelerators: Vec<Accelerator>,
    pub extra_args: Vec<String>,
    pub serial: Serial,
    pub powerdown_timeout_sec: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accelerator {
    Kvm,
    Tcg,
}

impl Accelerator {
    pub fn name(self) -> &'static str {
        match self {
            Accelerator::Kvm => "kvm",
            Accelerator::Tcg => "tcg",
        }
    }
}

/// Where a VM's serial console goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serial {
    /// QEMU's stdio, so `journalctl -u coreos-vm@01` shows the console.
    Journal,
    /// A unix socket in the VM's runtime directory, for interactive use.
    Socket,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeOverride {
    pub memory_mib: Option<u32>,
    pub cores: Option<u32>,
    pub extra_args: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub bridge: String,
    pub mode: NetworkMode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// A host-only bridge; networkd serves DHCP and PXE, addresses are known.
    Isolated { subnet: Subnet, nat: bool },
    /// The bridge enslaves a physical NIC; the LAN's DHCP server does the rest.
    Bridged {
        uplink: String,
        bridge_mac: Option<String>,
    },
}

/// An IPv4 network in CIDR form, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix_len: u8,
}

/// Node i gets host number `NODE_HOST_OFFSET + i`; lower hosts stay for the host side.
pub const NODE_HOST_OFFSET: u32 = 10;

impl Subnet {
    /// Number of host addresses (network and broadcast excluded).
    fn host_count(self) -> u32 {
        (1u32 << (32 - self.prefix_len)).saturating_sub(2)
    }

    /// How many nodes fit after the reserved low host numbers, keeping at
    /// least one address for the DHCP pool of other clients.
    pub fn node_capacity(self) -> u32 {
        self.host_count().saturating_sub(NODE_HOST_OFFSET + 1)
    }

    /// The host's address on the bridge: the first host.
    pub fn gateway(self) -> Ipv4Addr {
        self.host(1)
    }

    pub fn node_address(self, node: NodeIndex) -> Ipv4Addr {
        self.host(NODE_HOST_OFFSET + u32::from(node.get()))
    }

    fn host(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + n)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// `initial-cluster` from the known node addresses.
    Static,
    /// `GET <base>/new?size=N` on a public discovery service.
    Public { base_url: String },
    /// A token on a self-hosted etcd v2 keys endpoint.
    Etcd { url: String },
}

pub const PUBLIC_DISCOVERY_DEFAULT: &str = "https://discovery.etcd.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    pub method: BootMethod,
    pub syslinux_dir: PathBuf,
    pub kernel_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMethod {
    /// iPXE script over HTTP (QEMU's NIC ROM is iPXE).
    Ipxe,
    /// pxelinux over TFTP, as in the classic recipe.
    Pxelinux,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub source: ImageSource,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    Flatcar { channel: String },
    CoreOs,
    Files,
}

impl ImageSource {
    /// The least memory the image boots with over PXE (its initramfs lives in RAM).
    pub fn min_memory_mib(&self) -> u32 {
        match self {
            // Flatcar's docs require at least 3 GB for a PXE-booted machine.
            ImageSource::Flatcar { .. } => 3072,
            // What the classic recipe gave the older, smaller CoreOS images.
            ImageSource::CoreOs => 1024,
            // Any kernel and initrd: a floor under which no initramfs boot is useful.
            ImageSource::Files => 256,
        }
    }

    fn default_memory_mib(&self) -> u32 {
        self.min_memory_mib().max(1024)
    }
}

/// What every guest gets, whatever the format of its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    pub config: GuestConfigFormat,
    pub ssh_authorized_keys: Vec<String>,
    /// The user's Ignition configs, merged through `ignition.config.merge`.
    pub ignition_merge: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestConfigFormat {
    /// Flatcar's own way (`ignition.config.url=`); the default for Flatcar.
    Ignition,
    /// coreos-cloudinit (`cloud-config-url=`); the default for CoreOS and files.
    CloudConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudConfig {
    pub template: Option<PathBuf>,
}

pub const DEFAULT_BRIDGE: &str = "coreos-br0";
pub const DEFAULT_SUBNET: &str = "10.77.0.0/24";
pub const DEFAULT_MAC_PREFIX: &str = "52:54:00:12:34";
pub const DEFAULT_MAX_NODES: u8 = 16;
pub const DEFAULT_IMAGE_DIR: &str = "/var/lib/coreos-cluster/images";

impl Model {
    /// Checks the merged raw config and applies defaults.
    pub fn from_raw(raw: &RawConfig, sources: &Sources) -> Result<Model, ConfigError> {
        Checker { sources }.model(raw)
    }

    /// The name of node i's tap device, made by networkd and opened by QEMU.
    pub fn tap_name(node: NodeIndex) -> String {
        format!("coreos-tap{}", node.instance())
    }

    pub fn node_mac(&self, node: NodeIndex) -> String {
        format!("{}:{}", self.cluster.mac_prefix, node.instance())
    }
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
                format!("{:?} is not one of {}", v.value, quoted_list(allowed)),
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
        let guest = self.guest(raw, &image.source)?;

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
            guest,
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
                        "{arg:?}: each argument must be one non-empty word without \
                         spaces, quotes or backslashes"
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
            let index = key
                .parse::<u8>()
                .ok()
                .and_then(NodeIndex::new)
                .filter(|i| i.get() <= max_nodes)
                .ok_or_else(|| {
                    self.error(
                        node,
                        &format!("node.{key}"),
                        format!(
                            "not a node number; nodes are numbered 1 to \
                             cluster.max-nodes = {max_nodes} (decimal)"
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
            Some(v) => self.interface(v, "network.bridge")?,
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
                if let Some(bad) = v
                    .value
                    .iter()
                    .find(|a| a.is_empty() || a.contains(char::is_whitespace))
                {
                    return Err(self.error(
                        v,
                        "boot.kernel-args",
                        format!("{bad:?}: each argument must be one non-empty word"),
                    ));
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

fn parse_octets(text: &str, count: usize) -> Option<Vec<u8>> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != count {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            (p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect()
}

fn format_octets(octets: &[u8]) -> String {
    octets
        .iter()
        .map(|o| format!("{o:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Five octets such as `52:54:00:12:34`; the node number is the sixth.
pub fn parse_mac_prefix(text: &str) -> Result<String, String> {
    let octets = parse_octets(text, 5).ok_or_else(|| {
        format!("{text:?} is not a MAC prefix; expected five hex octets like \"52:54:00:12:34\"")
    })?;
    if octets[0] & 1 == 1 {
        return Err(format!(
            "{text:?} starts with a multicast octet; VM NICs need a unicast address \
             (e.g. \"52:54:00:12:34\")"
        ));
    }
    Ok(format_octets(&octets))
}

pub fn parse_mac(text: &str) -> Result<String, String> {
    let octets = parse_octets(text, 6).ok_or_else(|| {
        format!("{text:?} is not a MAC address; expected six hex octets like \"52:54:00:ab:cd:ef\"")
    })?;
    if octets[0] & 1 == 1 {
        return Err(format!(
            "{text:?} is a multicast address; a bridge needs a unicast one"
        ));
    }
    Ok(format_octets(&octets))
}

pub fn parse_subnet(text: &str) -> Result<Subnet, String> {
    let usage = || format!("{text:?} is not an IPv4 subnet; expected CIDR like \"10.77.0.0/24\"");
    let (addr, len) = text.split_once('/').ok_or_else(usage)?;
    let network: Ipv4Addr = addr.parse().map_err(|_| usage())?;
    let prefix_len: u8 = len.parse().map_err(|_| usage())?;
    if !(8..=30).contains(&prefix_len) {
        return Err(format!("{text:?}: prefix length must be 8 to 30"));
    }
    let mask = u32::MAX << (32 - prefix_len);
    if u32::from(network) & !mask != 0 {
        let fixed = Ipv4Addr::from(u32::from(network) & mask);
        return Err(format!(
            "{text:?} has host bits set; did you mean \"{fixed}/{prefix_len}\"?"
        ));
    }
    Ok(Subnet {
        network,
        prefix_len,
    })
}

fn parse_accelerators(text: &str) -> Result<Vec<Accelerator>, String> {
    let mut list = Vec::new();
    for name in text.split(':') {
        let accel = match name {
            "kvm" => Accelerator::Kvm,
            "tcg" => Accelerator::Tcg,
            _ => {
                return Err(format!(
                    "{text:?}: {name:?} is not an accelerator; use \"kvm\", \"tcg\" or a \
                     fallback list like \"kvm:tcg\""
                ))
            }
        };
        if list.contains(&accel) {
            return Err(format!("{text:?} names {name:?} twice"));
        }
        list.push(accel);
    }
    Ok(list)
}

/// Linux interface names: 1 to 15 bytes, no slash, colon or whitespace.
pub fn check_interface_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an interface name; use 1 to 15 of a-z, A-Z, 0-9, '-', '_', '.'"
        ))
    }
}

/// An absolute, normalized path without control characters.
fn check_path(text: &str) -> Result<(), String> {
    let path = Path::new(text);
    if !path.is_absolute() {
        return Err(format!("{text:?} is not an absolute path"));
    }
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(format!("{text:?} must not contain '.' or '..' components"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{text:?} contains control characters"));
    }
    // These would need escaping in nginx, pxelinux and unit files alike.
    if let Some(c) = text.chars().find(|c| "\"'\\$;".contains(*c)) {
        return Err(format!(
            "{text:?} contains {c:?}; paths may not contain quotes, \\, $ or ;"
        ));
    }
    Ok(())
}

/// An http(s) URL with a host; returned without a trailing slash.
pub fn check_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("{text:?} is not an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{text:?} has no host"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{text:?} contains whitespace"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

fn check_ssh_key(key: &str) -> Result<(), String> {
    let short: String = key.chars().take(24).collect();
    if key.contains(['\n', '\r']) {
        return Err(format!("{short:?}...: a key must be on one line"));
    }
    let mut words = key.split_whitespace();
    let kind = words.next().unwrap_or("");
    if !SSH_KEY_TYPES.contains(&kind) || words.next().is_none() {
        return Err(format!(
            "{short:?}... is not an OpenSSH public key (\"TYPE BASE64 [COMMENT]\", TYPE one of {})",
            SSH_KEY_TYPES.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_capacity_and_addresses() {
        let s = parse_subnet("10.77.0.0/24").unwrap();
        assert_eq!(s.node_capacity(), 243);
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(
            s.node_address(NodeIndex::new(1).unwrap()),
            Ipv4Addr::new(10, 77, 0, 11)
        );
        assert_eq!(parse_subnet("10.0.0.0/28").unwrap().node_capacity(), 3);
        assert!(parse_subnet("10.77.0.5/24")
            .unwrap_err()
            .contains("10.77.0.0/24"));
    }

    #[test]
    fn mac_prefixes() {
        assert_eq!(
            parse_mac_prefix("52:54:00:AB:cd").unwrap(),
            "52:54:00:ab:cd"
        );
        for bad in [
            "52:54:00:12",
            "52:54:00:12:34:56",
            "52-54-00-12-34",
            "5:54:00:12:34",
            "zz:54:00:12:34",
        ] {
            assert!(parse_mac_prefix(bad).is_err(), "{bad}");
        }
        assert!(parse_mac_prefix("01:00:5e:00:00")
            .unwrap_err()
            .contains("multicast"));
    }

    #[test]
    fn node_instances_are_two_hex_digits() {
        let cases = [(1, "01"), (10, "0a"), (16, "10"), (255, "ff")];
        for (i, want) in cases {
            assert_eq!(NodeIndex::new(i).unwrap().instance(), want);
        }
        assert!(NodeIndex::new(0).is_none());
    }

    #[test]
    fn accelerators_and_interfaces() {
        assert_eq!(
            parse_accelerators("kvm:tcg").unwrap(),
            [Accelerator::Kvm, Accelerator::Tcg]
        );
        assert!(parse_accelerators("kvm:hax").is_err());
        assert!(parse_accelerators("tcg:tcg").is_err());
        assert!(check_interface_name("coreos-br0").is_ok());
        assert!(check_interface_name("a-very-long-name0").is_err());
        assert!(check_interface_name("br 0").is_err());
    }
}
