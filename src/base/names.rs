//! Every fixed name the product shares with its units, templates and docs:
//! unit names and instances (format and parse), tap devices, MACs, etcd
//! ports and the URLs the VMs fetch. Each is defined here once.

use std::fmt;
use std::net::Ipv4Addr;

use anyhow::bail;

use crate::base::paths::SUBDIR;

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

/// The template unit of one VM; its instance is the node number in hex.
pub const VM_TEMPLATE: &str = "coreos-vm@.service";
/// The template unit of a cluster; its instance is the size in decimal.
pub const CLUSTER_TEMPLATE: &str = "coreos-cluster@.service";
pub const VM_PATTERN: &str = "coreos-vm@*.service";
pub const CLUSTER_PATTERN: &str = "coreos-cluster@*.service";
/// `vm-exec`'s exit status when starting again cannot help (a bad instance,
/// a guest that powered off after its boot failed): the VM unit's
/// RestartPreventExitStatus=.
pub const VM_EXIT_NO_RESTART: i32 = 78;
/// The unit that re-checks the config and fails visibly when it is bad.
pub const CONFIG_UNIT: &str = "coreos-cluster-config.service";
pub const HTTP_UNIT: &str = "coreos-cluster-http.service";
pub const KSM_UNIT: &str = "coreos-cluster-ksm.service";
/// Our TFTP server (tftp-hpa's in.tftpd) for the pxelinux boot method.
pub const TFTP_UNIT: &str = "coreos-cluster-tftp.service";

/// The service user: runs QEMU and nginx, owns the taps; its group may read
/// the files that can hold secrets (cloud-configs).
pub const SERVICE_USER: &str = "coreos-cluster";

/// Node i is registered with systemd-machined as `coreos-vm-NN` (QEMU's `-name` too).
const MACHINE_PREFIX: &str = "coreos-vm-";

/// The guest's user for `coreos-cluster ssh` (Flatcar and CoreOS: `core`).
pub const GUEST_USER: &str = "core";

/// Our nftables table (isolated mode); the network unit deletes it when it stops.
pub const NFT_TABLE: &str = "coreos-cluster";

/// Node i's tap is `coreos-tapNN`, NN its instance.
pub const TAP_PREFIX: &str = "coreos-tap";

/// The etcd release's binaries the guests get: the server and its client.
pub const ETCDCTL: &str = "etcdctl";
pub const ETCD_BINARIES: [&str; 2] = ["etcd", ETCDCTL];

/// etcd's client and peer ports on every node.
pub const ETCD_CLIENT_PORT: u16 = 2379;
const ETCD_PEER_PORT: u16 = 2380;
/// etcd's client port before 2.0; the guests' etcd listens there too, for
/// clients of that time.
const ETCD_LEGACY_CLIENT_PORT: u16 = 4001;

/// The `coreos-vm@` instance name of a node: `01`..`ff`.
pub fn vm_instance(node: NodeIndex) -> String {
    format!("{:02x}", node.get())
}

pub fn vm_unit(node: NodeIndex) -> String {
    unit_of(VM_TEMPLATE, &vm_instance(node))
}

pub fn cluster_unit(size: u8) -> String {
    unit_of(CLUSTER_TEMPLATE, &size.to_string())
}

/// `coreos-vm@.service` with instance `01` is `coreos-vm@01.service`.
fn unit_of(template: &str, instance: &str) -> String {
    template.replacen('@', &format!("@{instance}"), 1)
}

/// The instance of a unit made from `template`, if it is one.
fn instance_of<'a>(template: &str, unit: &'a str) -> Option<&'a str> {
    let (prefix, suffix) = template.split_once('@')?;
    unit.strip_prefix(prefix)?
        .strip_prefix('@')?
        .strip_suffix(suffix)
}

/// Parses a `coreos-cluster@` instance: the size, decimal, 1 to `max_nodes`.
pub fn parse_cluster_size(text: &str, max_nodes: u8) -> anyhow::Result<u8> {
    let size = text
        .parse::<u8>()
        .ok()
        .filter(|n| (1..=max_nodes).contains(n) && text == n.to_string());
    match size {
        Some(size) => Ok(size),
        None => bail!(
            "invalid cluster size {text:?}: use a number of nodes from 1 to {max_nodes} \
             (cluster.max-nodes), e.g. coreos-cluster@3"
        ),
    }
}

/// Parses a `coreos-vm@` instance: the node number as two lowercase hex digits.
pub fn parse_vm_instance(text: &str, max_nodes: u8) -> anyhow::Result<NodeIndex> {
    let node = (text.len() == 2
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| u8::from_str_radix(text, 16).ok())
    .flatten()
    .and_then(NodeIndex::new)
    .filter(|n| n.get() <= max_nodes);
    match node {
        Some(node) => Ok(node),
        None => bail!(
            "invalid VM instance {text:?}: use the node number as two lowercase hex digits, \
             01 to {max_nodes:02x} (hex for cluster.max-nodes = {max_nodes}); node 1 is coreos-vm@01"
        ),
    }
}

/// The size of a `coreos-cluster@N.service` unit name, if it names a valid size.
pub fn parse_cluster_unit(unit: &str, max_nodes: u8) -> Option<u8> {
    parse_cluster_size(instance_of(CLUSTER_TEMPLATE, unit)?, max_nodes).ok()
}

/// The node of a `coreos-vm@NN.service` unit name, if it names a valid node.
pub fn parse_vm_unit(unit: &str, max_nodes: u8) -> Option<NodeIndex> {
    parse_vm_instance(instance_of(VM_TEMPLATE, unit)?, max_nodes).ok()
}

/// The machine name of a VM instance, as `machinectl list` shows it.
pub fn machine_name(instance: &str) -> String {
    format!("{MACHINE_PREFIX}{instance}")
}

/// The name of node i's tap device, made by networkd and opened by QEMU.
pub fn tap_name(node: NodeIndex) -> String {
    tap_name_for(&vm_instance(node))
}

/// The tap of a VM instance; `%i` gives the unit's own.
pub fn tap_name_for(instance: &str) -> String {
    format!("{TAP_PREFIX}{instance}")
}

/// Node i's MAC: the configured five-octet prefix and the node's instance.
pub fn node_mac(mac_prefix: &str, node: NodeIndex) -> String {
    mac_for(mac_prefix, &vm_instance(node))
}

/// The MAC of a VM instance; `%i` gives the unit's own.
pub fn mac_for(mac_prefix: &str, instance: &str) -> String {
    format!("{mac_prefix}:{instance}")
}

/// Where the VMs fetch our served files: `http://HOST:PORT/coreos-cluster`.
pub fn served_base_url(host: Ipv4Addr, port: u16) -> String {
    format!("http://{host}:{port}/{SUBDIR}")
}

/// The URL of one served file, e.g. the iPXE script or the cloud-config.
pub fn served_url(host: Ipv4Addr, port: u16, file: &str) -> String {
    format!("{}/{file}", served_base_url(host, port))
}

/// An etcd peer URL, as `initial-cluster` lists members. `host` is an
/// address, or a placeholder nginx fills in (`$private_ipv4`).
pub fn etcd_peer_url(host: impl fmt::Display) -> String {
    format!("http://{host}:{ETCD_PEER_PORT}")
}

/// An etcd client URL, where `/health` answers.
pub fn etcd_client_url(host: impl fmt::Display) -> String {
    format!("http://{host}:{ETCD_CLIENT_PORT}")
}

/// An etcd client URL on the legacy port.
pub fn etcd_legacy_client_url(host: impl fmt::Display) -> String {
    format!("http://{host}:{ETCD_LEGACY_CLIENT_PORT}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_two_hex_digits() {
        let cases = [(1, "01"), (10, "0a"), (16, "10"), (255, "ff")];
        for (i, want) in cases {
            assert_eq!(vm_instance(NodeIndex::new(i).unwrap()), want);
        }
        assert!(NodeIndex::new(0).is_none());
    }

    #[test]
    fn instance_names_parse() {
        assert_eq!(parse_cluster_size("3", 16).unwrap(), 3);
        for bad in ["0", "256", "abc", "03", "+3", "17", ""] {
            assert!(parse_cluster_size(bad, 16).is_err(), "{bad}");
        }
        assert_eq!(parse_vm_instance("0a", 16).unwrap().get(), 10);
        for bad in ["1", "001", "0A", "00", "11", "zz", "-1"] {
            assert!(parse_vm_instance(bad, 16).is_err(), "{bad}");
        }
        assert_eq!(parse_vm_instance("ff", 255).unwrap().get(), 255);
    }

    #[test]
    fn unit_names_round_trip() {
        let node = NodeIndex::new(11).unwrap();
        assert_eq!(vm_unit(node), "coreos-vm@0b.service");
        assert_eq!(parse_vm_unit("coreos-vm@0b.service", 16), Some(node));
        assert_eq!(parse_vm_unit("coreos-vm@1.service", 16), None);
        assert_eq!(parse_vm_unit("coreos-vm@01.socket", 16), None);
        assert_eq!(cluster_unit(3), "coreos-cluster@3.service");
        assert_eq!(parse_cluster_unit("coreos-cluster@3.service", 16), Some(3));
        assert_eq!(parse_cluster_unit("coreos-cluster@03.service", 16), None);
        assert_eq!(tap_name(node), "coreos-tap0b");
        assert_eq!(node_mac("52:54:00:12:34", node), "52:54:00:12:34:0b");
    }
}
