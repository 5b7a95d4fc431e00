//! The checked cluster model: what the raw config means, with every default
//! applied, and the facts derived from it (addresses, MACs, DHCP pool).
//! Built by `validate`; no I/O happens here.

use crate::config::ConfigError;
use std::collections::BTreeMap;
use std::path::PathBuf;

mod subnet;
pub mod timeouts;
pub mod validate;
pub mod values;

pub use crate::base::names::NodeIndex;
pub use subnet::{parse_subnet, Subnet, NODE_HOST_OFFSET};

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
    /// Which nodes vote in etcd, and which API versions it serves.
    pub etcd_cluster: EtcdCluster,
    pub tftp_root: PathBuf,
    pub http_root: PathBuf,
    /// Our nginx's TCP port.
    pub http_port: u16,
    /// Our TFTP server's UDP port (pxelinux boot method).
    pub tftp_port: u16,
    pub guest: Guest,
    pub cloud_config: CloudConfig,
    /// KSM while a cluster runs, at this pace; None: `ksm.enable = false`.
    pub ksm: Option<KsmPace>,
    /// Keys set to no effect with the other settings: `check` shows them,
    /// the generator logs them; never refused (a drop-in may switch the
    /// setting that uses them).
    pub warnings: Vec<ConfigError>,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// `initial-cluster` from the known node addresses.
    Static,
    /// `GET <base>/new?size=N` on a public discovery service.
    Public { base_url: String },
    /// A token on a self-hosted etcd v2 keys endpoint.
    Etcd { url: String },
}

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
    /// As `boot.method` spells it.
    pub fn name(self) -> &'static str {
        match self {
            BootMethod::Ipxe => "ipxe",
            BootMethod::Pxelinux => "pxelinux",
            BootMethod::Direct => "direct",
        }
    }

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

/// How the nodes form the etcd cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtcdCluster {
    pub members: EtcdMembers,
    /// Whether members serve etcd's v2 API too (`--enable-v2`, etcd 3.4-3.5).
    pub v2_api: bool,
}

/// How many nodes are etcd voters (`etcd.members`); the other nodes run a
/// proxy to them. Every write goes to every voter, so more voters make a
/// slower cluster: etcd's guidance is an odd number, at most seven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdMembers {
    /// One voter below three nodes, else three.
    Auto,
    /// At most this many, an odd number up to `MAX_ETCD_VOTERS`.
    AtMost(u8),
    /// Every node votes, however many.
    All,
}

/// etcd's own guidance: "no more than seven" voters.
pub const MAX_ETCD_VOTERS: u8 = 7;

impl EtcdMembers {
    /// The number of voters in a cluster of `size` nodes: the largest odd
    /// number the setting and the size allow (an even count tolerates no
    /// more failures than the odd one below it).
    pub fn count(self, size: u8) -> u8 {
        let odd_at_most = |n: u8| {
            if n.is_multiple_of(2) {
                n.saturating_sub(1).max(1)
            } else {
                n
            }
        };
        match self {
            EtcdMembers::Auto => odd_at_most(size.min(3)),
            EtcdMembers::AtMost(k) => odd_at_most(k.min(size)),
            EtcdMembers::All => size,
        }
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

/// How fast ksmd scans: `pages_to_scan` pages, then a sleep of `sleep_millisecs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KsmPace {
    pub pages_to_scan: u32,
    pub sleep_millisecs: u32,
}

// Paced by the guests' own progress: measured fastest to a working cluster
// at 8 nodes (tests/bench/boot.sh, README), and it adapts to the host's speed.
pub const DEFAULT_STAGGER: Stagger = Stagger::Auto;

impl Model {
    /// Whether the guests run an etcd that we serve them: Ignition configs
    /// install ours (Flatcar has none); cloud-config guests bring their own.
    pub fn serves_etcd(&self) -> bool {
        self.guest.config == GuestConfigFormat::Ignition
    }

    pub fn node_mac(&self, node: NodeIndex) -> String {
        crate::base::names::node_mac(&self.cluster.mac_prefix, node)
    }
}
