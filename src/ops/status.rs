//! What `coreos-cluster status` reports, gathered from the model, systemd,
//! the kernel and the nodes' etcd. Serialized as the stable `--json` schema.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::Serialize;

use crate::base::names::{self, CLUSTER_PATTERN, VM_PATTERN};
use crate::base::paths::{Root, DISCOVERY_URL_FILE, IMAGE_FILE, KSM_DIR};
use crate::host::etcd;
use crate::host::procs::{self, page_size, read_number, QemuProcesses};
use crate::host::systemd::{Systemd, SystemdBus};
use crate::model::{Model, NetworkMode, NodeIndex};
use crate::ops::load::load_model;
use crate::ops::vm::boot_failure;

/// Bumped on any incompatible change of the JSON below.
const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Status {
    pub schema: u32,
    /// The active (or starting, stopping, failed) cluster unit, if any.
    pub cluster: Option<ClusterStatus>,
    pub discovery_url: Option<String>,
    /// The image the nodes boot, as `prepare` recorded it.
    pub image: Option<String>,
    pub nodes: Vec<NodeStatus>,
    /// The etcd cluster as its members report it (None: no node answered).
    pub etcd: Option<EtcdStatus>,
    /// Memory charged to the VMs, where systemd accounts it, else their RSS.
    pub memory_bytes: Option<u64>,
    pub ksm: Option<KsmStatus>,
    /// VM units that are not stopped but name no node of this config
    /// (`coreos-vm@1`, or a node above cluster.max-nodes).
    pub other_units: Vec<OtherUnit>,
}

#[derive(Debug, Serialize)]
pub struct ClusterStatus {
    pub unit: String,
    pub size: u8,
    pub active_state: String,
}

#[derive(Debug, Default, Serialize)]
pub struct NodeStatus {
    pub node: u8,
    pub unit: String,
    pub active_state: String,
    pub sub_state: String,
    pub mac: String,
    pub ip: Option<String>,
    /// None when not checked (node not running or address unknown).
    pub etcd_healthy: Option<bool>,
    /// Whether the node votes or proxies (None: not known, no member answered).
    pub etcd_role: Option<EtcdRole>,
    pub memory_bytes: Option<u64>,
    /// QEMU's resident memory (None: not running, or not readable).
    pub rss_bytes: Option<u64>,
    /// QEMU's memory that KSM merged (None: no per-process KSM counter,
    /// before Linux 5.19 or without KSM, or not readable).
    pub ksm_merged_bytes: Option<u64>,
    pub restarts: u32,
    /// Seconds since the VM's unit last started (None: not running).
    pub uptime_sec: Option<u64>,
    /// The serial line that showed the node's last boot failed (Ignition, an
    /// emergency shell, no bootable device); None: it did not, or not yet.
    pub boot_failure: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EtcdRole {
    /// A voting member of the etcd cluster.
    Member,
    /// A proxy to the members on the node's client port.
    Proxy,
}

#[derive(Debug, Serialize)]
pub struct EtcdStatus {
    /// The members' addresses, as the cluster lists them.
    pub members: Vec<String>,
    /// How many of them answer healthy.
    pub healthy_members: usize,
}

#[derive(Debug, Serialize)]
pub struct OtherUnit {
    pub unit: String,
    pub active_state: String,
    pub sub_state: String,
}

#[derive(Debug, Serialize)]
pub struct KsmStatus {
    pub run: u32,
    pub pages_sharing: u64,
    pub saved_bytes: u64,
    /// ksmd's pace: this many pages, then a sleep of `sleep_millisecs`.
    pub pages_to_scan: u32,
    pub sleep_millisecs: u32,
}

/// The config and the cluster's status now, from systemd and the host.
pub fn current(root: &Root) -> anyhow::Result<(Model, Status)> {
    let (_, model) = load_model(root)?;
    let systemd = SystemdBus::connect()?;
    let status = gather(&model, &systemd, root)?;
    Ok((model, status))
}

pub fn gather(model: &Model, systemd: &dyn Systemd, root: &Root) -> anyhow::Result<Status> {
    let clusters = systemd.list_units(&[CLUSTER_PATTERN])?;
    // The running (or starting, stopping) cluster; else a failed one, which
    // explains why nothing runs. Instances that are no size are not clusters.
    let max_nodes = model.cluster.max_nodes;
    let cluster = clusters
        .iter()
        .filter_map(|u| {
            Some(ClusterStatus {
                size: names::parse_cluster_unit(&u.name, max_nodes)?,
                unit: u.name.clone(),
                active_state: u.active_state.clone(),
            })
        })
        .filter(|c| c.active_state != "inactive")
        .min_by_key(|c| c.active_state == "failed");

    let vm_units = systemd.list_units(&[VM_PATTERN])?;
    // The cluster's nodes, plus any other VM unit systemd knows and that is not stopped.
    let mut indices: BTreeSet<NodeIndex> = (1..=cluster.as_ref().map_or(0, |c| c.size))
        .filter_map(NodeIndex::new)
        .collect();
    let mut other_units = Vec::new();
    for unit in vm_units.iter().filter(|u| u.active_state != "inactive") {
        match names::parse_vm_unit(&unit.name, max_nodes) {
            Some(node) => {
                indices.insert(node);
            }
            None => other_units.push(OtherUnit {
                unit: unit.name.clone(),
                active_state: unit.active_state.clone(),
                sub_state: unit.sub_state.clone(),
            }),
        }
    }

    let neighbours = read_neighbours(root);
    let qemu_processes = QemuProcesses::scan(root);
    let mut nodes = Vec::new();
    for node in indices {
        let unit = names::vm_unit(node);
        let state = vm_units.iter().find(|u| u.name == unit);
        let (active_state, sub_state) = state.map_or(("inactive".into(), "dead".into()), |s| {
            (s.active_state.clone(), s.sub_state.clone())
        });
        let mac = model.node_mac(node);
        let ip = node_address(model, node, &mac, &neighbours);
        let running = active_state == "active";
        let details = if running {
            systemd.service_details(&unit).unwrap_or_default()
        } else {
            Default::default()
        };
        let qemu = if running {
            procs::memory(root, qemu_processes.children_of(details.main_pid))
        } else {
            procs::Memory::default()
        };
        nodes.push(NodeStatus {
            node: node.get(),
            // Probed below, all nodes at once.
            etcd_healthy: None,
            etcd_role: None,
            ip: ip.map(|ip| ip.to_string()),
            unit,
            active_state,
            sub_state,
            mac,
            memory_bytes: details.memory_current.or(qemu.rss).filter(|_| running),
            rss_bytes: qemu.rss,
            ksm_merged_bytes: qemu.ksm_merged,
            restarts: details.n_restarts,
            uptime_sec: uptime_sec(details.active_enter_usec).filter(|_| running),
            boot_failure: boot_failure(root, node),
        });
    }
    probe_etcd(&mut nodes);
    let etcd = etcd_roles(&mut nodes);
    let memory: Vec<u64> = nodes.iter().filter_map(|n| n.memory_bytes).collect();

    Ok(Status {
        schema: SCHEMA_VERSION,
        cluster,
        discovery_url: read_line(&root.join(DISCOVERY_URL_FILE)),
        image: read_line(&root.join(IMAGE_FILE)),
        memory_bytes: (!memory.is_empty()).then(|| memory.iter().sum()),
        nodes,
        etcd,
        other_units,
        ksm: read_ksm(&root.join(KSM_DIR)),
    })
}

/// A one-line record of `prepare`, if there is one.
fn read_line(file: &Path) -> Option<String> {
    std::fs::read_to_string(file)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A node's IPv4 address, as `status` shows it (None: not known yet).
pub fn address_of(model: &Model, node: NodeIndex, root: &Root) -> Option<Ipv4Addr> {
    node_address(model, node, &model.node_mac(node), &read_neighbours(root))
}

/// Isolated mode: the node's static DHCP lease. Bridged mode: the host's
/// neighbour table (the LAN's DHCP server chose the address).
fn node_address(
    model: &Model,
    node: NodeIndex,
    mac: &str,
    neighbours: &[(Ipv4Addr, String)],
) -> Option<Ipv4Addr> {
    match &model.network.mode {
        NetworkMode::Isolated { subnet, .. } => Some(subnet.node_address(node)),
        NetworkMode::Bridged { .. } => neighbours
            .iter()
            .find(|(_, m)| m.eq_ignore_ascii_case(mac))
            .map(|(ip, _)| *ip),
    }
}

/// IPv4 neighbours of the network namespace of the root's PID 1: (address, MAC).
/// (Reading /proc and /sys below the root lets `--root /proc/PID/root` look
/// into a container's namespaces.)
fn read_neighbours(root: &Root) -> Vec<(Ipv4Addr, String)> {
    let text = std::fs::read_to_string(root.join("/proc/1/net/arp")).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let ip = fields.first()?.parse().ok()?;
            let mac = fields.get(3)?.to_string();
            (mac != "00:00:00:00:00:00").then_some((ip, mac))
        })
        .collect()
}

/// Seconds from a systemd timestamp (µs since the epoch) to now.
fn uptime_sec(since_usec: u64) -> Option<u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_micros() as u64;
    (since_usec > 0).then(|| now.saturating_sub(since_usec) / 1_000_000)
}

/// Fills in `etcd_healthy` of every running node with an address, probing
/// all nodes in parallel so `status` takes one probe's time, not one per node.
fn probe_etcd(nodes: &mut [NodeStatus]) {
    std::thread::scope(|scope| {
        for node in nodes.iter_mut() {
            let ip = node.ip.as_deref().and_then(|ip| ip.parse().ok());
            if let (Some(ip), "active") = (ip, node.active_state.as_str()) {
                scope.spawn(move || node.etcd_healthy = Some(etcd::healthy(ip)));
            }
        }
    });
}

/// The members as the first healthy node reports them, and each node's
/// role from that list: a node whose address is a member's votes, any
/// other node that answers etcd is a proxy.
fn etcd_roles(nodes: &mut [NodeStatus]) -> Option<EtcdStatus> {
    let mut members = nodes
        .iter()
        .filter(|n| n.etcd_healthy == Some(true))
        .filter_map(|n| n.ip.as_deref()?.parse().ok())
        .find_map(etcd::member_addresses)?;
    // In address order, not the order of etcd's member IDs.
    members.sort();
    for node in nodes.iter_mut() {
        let Some(ip) = node
            .ip
            .as_deref()
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        else {
            continue;
        };
        node.etcd_role = if members.contains(&ip) {
            Some(EtcdRole::Member)
        } else if node.etcd_healthy == Some(true) {
            Some(EtcdRole::Proxy)
        } else {
            None
        };
    }
    let healthy_members = nodes
        .iter()
        .filter(|n| n.etcd_role == Some(EtcdRole::Member) && n.etcd_healthy == Some(true))
        .count();
    Some(EtcdStatus {
        members: members.iter().map(Ipv4Addr::to_string).collect(),
        healthy_members,
    })
}

fn read_ksm(dir: &Path) -> Option<KsmStatus> {
    let pages_sharing = read_number(&dir.join("pages_sharing"))?;
    Some(KsmStatus {
        run: read_number(&dir.join("run"))? as u32,
        pages_sharing,
        saved_bytes: pages_sharing * page_size(),
        pages_to_scan: read_number(&dir.join("pages_to_scan"))? as u32,
        sleep_millisecs: read_number(&dir.join("sleep_millisecs"))? as u32,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::host::systemd::fake::{unit, FakeSystemd};

    #[test]
    fn etcd_is_probed_on_all_nodes_at_once() {
        use std::io::{Read, Write};
        // Three slow etcd stand-ins, each answering /health after 1 s.
        let mut nodes = Vec::new();
        for i in 0..3u8 {
            let ip = format!("127.0.0.{}", 151 + i);
            let listener =
                std::net::TcpListener::bind((ip.as_str(), crate::base::names::ETCD_CLIENT_PORT))
                    .unwrap();
            std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                std::thread::sleep(Duration::from_secs(1));
                let body = r#"{"health":"true"}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            });
            nodes.push(NodeStatus {
                node: i + 1,
                unit: String::new(),
                active_state: "active".into(),
                sub_state: "running".into(),
                mac: String::new(),
                ip: Some(ip),
                etcd_healthy: None,
                etcd_role: None,
                memory_bytes: None,
                rss_bytes: None,
                ksm_merged_bytes: None,
                restarts: 0,
                uptime_sec: None,
                boot_failure: None,
            });
        }
        let started = std::time::Instant::now();
        probe_etcd(&mut nodes);
        let took = started.elapsed();
        assert!(nodes.iter().all(|n| n.etcd_healthy == Some(true)));
        assert!(took < Duration::from_millis(1900), "sequential? {took:?}");
    }

    #[test]
    fn a_unit_that_names_no_node_is_reported_as_itself() {
        let root = tempfile::tempdir().unwrap();
        let (_, model) = crate::ops::load::load_model(&Root::new(root.path())).unwrap();
        let fake = FakeSystemd {
            units: vec![
                unit("coreos-cluster@2.service", "failed"),
                unit("coreos-vm@1.service", "failed"),
                unit("coreos-vm@02.service", "failed"),
            ],
            ..Default::default()
        };
        let status = gather(&model, &fake, &Root::new(root.path())).unwrap();
        let cluster = status.cluster.unwrap();
        assert_eq!(
            (cluster.unit.as_str(), cluster.size),
            ("coreos-cluster@2.service", 2)
        );
        let nodes: Vec<_> = status
            .nodes
            .iter()
            .map(|n| (n.node, n.unit.as_str(), n.active_state.as_str()))
            .collect();
        assert_eq!(
            nodes,
            [
                (1, "coreos-vm@01.service", "inactive"),
                (2, "coreos-vm@02.service", "failed")
            ]
        );
        let others: Vec<_> = status
            .other_units
            .iter()
            .map(|u| (u.unit.as_str(), u.active_state.as_str()))
            .collect();
        assert_eq!(others, [("coreos-vm@1.service", "failed")]);
    }

    #[test]
    fn ksm_shows_its_switch_savings_and_pace() {
        let dir = tempfile::tempdir().unwrap();
        for (knob, value) in [
            ("run", "1"),
            ("pages_sharing", "3"),
            ("pages_to_scan", "1234"),
            ("sleep_millisecs", "33"),
        ] {
            std::fs::write(dir.path().join(knob), format!("{value}\n")).unwrap();
        }
        let ksm = read_ksm(dir.path()).unwrap();
        assert_eq!(
            (
                ksm.run,
                ksm.saved_bytes,
                ksm.pages_to_scan,
                ksm.sleep_millisecs
            ),
            (1, 3 * page_size(), 1234, 33)
        );
    }
}
