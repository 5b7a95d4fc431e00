//! The checked cluster model: what the raw config means, with every default
//! applied, and the facts derived from it (addresses, MACs, DHCP pool).
//! Built by `validate`; no I/O happens here.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::config::{ConfigError, RawConfig, Sources};

/// A node's number, 1..=255; `names::vm_instance` spells it in unit names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIndex(u8);

impl NodeIndex {
    pub fn new(index: u8) -> Option<Self> {
        (index != 0).then_some(NodeIndex(index))
    }

    pub fn get(self) -> u8 {
        self.0
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
    pub etcd: EtcdSource,
    pub tftp_root: PathBuf,
    pub http_root: PathBuf,
    /// Our nginx's TCP port.
    pub http_port: u16,
    /// Our TFTP server's UDP port (pxelinux boot method).
    pub tftp_port: u16,
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
    pub stagger: Stagger,
}

/// How far apart `up` starts the VMs (`cluster.stagger-sec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stagger {
    /// Seconds `up` pauses after a VM started, before the next; 0: all at once.
    Fixed(u32),
    /// Each VM once the previous one's kernel started (its boot files are
    /// loaded), at most `timeouts::AUTO_STAGGER_MAX` after its start.
    Auto,
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
    /// The network an interface address with this prefix length is on.
    pub fn containing(address: Ipv4Addr, prefix_len: u8) -> Subnet {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(prefix_len))
            .unwrap_or(0);
        Subnet {
            network: Ipv4Addr::from(u32::from(address) & mask),
            prefix_len,
        }
    }

    /// Number of host addresses (network and broadcast excluded).
    pub fn host_count(self) -> u32 {
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

    /// The DHCP pool for other clients, after the static leases of
    /// `max_nodes` nodes: (first host number, number of addresses).
    pub fn dhcp_pool(self, max_nodes: u8) -> (u32, u32) {
        let offset = NODE_HOST_OFFSET + u32::from(max_nodes) + 1;
        let size = self.host_count().saturating_sub(offset - 1).max(1);
        (offset, size)
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
    /// QEMU loads the kernel and initrd itself (`-kernel`, `-initrd`): no
    /// PXE, the fastest start. The guest still reads its config over HTTP.
    Direct,
}

impl BootMethod {
    /// Whether the VM boots from its NIC (the iPXE ROM, DHCP's boot file).
    pub fn is_network_boot(self) -> bool {
        self != BootMethod::Direct
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub source: ImageSource,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    Flatcar {
        channel: String,
        upstream: FlatcarUpstream,
    },
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

    pub fn default_memory_mib(&self) -> u32 {
        self.min_memory_mib().max(1024)
    }
}

/// Where Flatcar images come from and how they are checked and cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatcarUpstream {
    /// A pinned release, or `None` to follow the channel's current one.
    pub version: Option<String>,
    /// The channel's release directory, e.g. `https://stable.release.flatcar-linux.net/amd64-usr`.
    pub base_url: String,
    /// URL or absolute path of the signing key.
    pub signing_key: String,
    pub signing_key_fingerprint: String,
    /// `<image dir>/flatcar-<channel>`: one directory per version plus `current`.
    pub cache_dir: PathBuf,
}

/// The etcd server the guests run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdSource {
    /// The upstream static release, checked against `sha256`.
    Release {
        version: String,
        sha256: String,
        base_url: String,
        /// `<image dir>/etcd-v<version>`, holding `etcd` and `etcdctl`.
        cache_dir: PathBuf,
    },
    /// A binary the user provides.
    Binary(PathBuf),
}

/// The etcd release fetched by default, and its published SHA-256.
pub const DEFAULT_ETCD_VERSION: &str = "3.5.27";
pub const DEFAULT_ETCD_SHA256: &str =
    "0aad9a9e4e0817a021e933f9806a2b2960a62f949ad5a3d6436d8886945cb1bc";
pub const DEFAULT_ETCD_BASE_URL: &str = "https://github.com/etcd-io/etcd/releases/download";
pub const DEFAULT_FLATCAR_SIGNING_KEY: &str =
    "https://www.flatcar.org/security/image-signing-key/Flatcar_Image_Signing_Key.asc";

/// A channel's release directory on Flatcar's hosts.
pub fn default_flatcar_base_url(channel: &str) -> String {
    format!("https://{channel}.release.flatcar-linux.net/amd64-usr")
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
// Paced by the guests' own progress: measured fastest to a working cluster
// at 8 nodes (tests/bench/boot.sh, README), and it adapts to the host's speed.
pub const DEFAULT_STAGGER: Stagger = Stagger::Auto;

impl Model {
    /// Checks the merged raw config and applies defaults.
    pub fn from_raw(raw: &RawConfig, sources: &Sources) -> Result<Model, ConfigError> {
        crate::validate::model(raw, sources)
    }

    /// Whether the guests run an etcd that we serve them: Ignition configs
    /// install ours (Flatcar has none); cloud-config guests bring their own.
    pub fn serves_etcd(&self) -> bool {
        self.guest.config == GuestConfigFormat::Ignition
    }

    pub fn node_mac(&self, node: NodeIndex) -> String {
        crate::names::node_mac(&self.cluster.mac_prefix, node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::parse_subnet;

    #[test]
    fn subnet_capacity_addresses_and_pool() {
        let s = parse_subnet("10.77.0.0/24").unwrap();
        assert_eq!(s.node_capacity(), 243);
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(
            s.node_address(NodeIndex::new(1).unwrap()),
            Ipv4Addr::new(10, 77, 0, 11)
        );
        assert_eq!(s.dhcp_pool(16), (27, 228));
        assert_eq!(parse_subnet("10.0.0.0/28").unwrap().node_capacity(), 3);
        let lan = Subnet::containing(Ipv4Addr::new(192, 168, 77, 1), 24);
        assert_eq!(lan.to_string(), "192.168.77.0/24");
        assert_eq!(
            Subnet::containing(Ipv4Addr::new(10, 1, 2, 3), 0).to_string(),
            "0.0.0.0/0"
        );
    }
}
