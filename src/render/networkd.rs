//! The networkd files for the cluster: model in, `.netdev`/`.network` out.
//! Written to /run/systemd/network by `coreos-cluster setup-network`.

use std::net::Ipv4Addr;

use askama::Template;

use crate::base::names::{self, TAP_PREFIX};
use crate::base::paths::{IPXE_SCRIPT, PXELINUX_BOOT_FILE};
use crate::config::Sources;
use crate::model::{BootMethod, Model, NetworkMode, NodeIndex};
use crate::render::output::{header, RenderedFile};

/// Every file of ours starts with this, so stale ones can be found and removed.
pub const FILE_PREFIX: &str = "50-coreos-cluster-";

#[derive(Template)]
#[template(path = "network/bridge.netdev", escape = "none")]
struct BridgeNetdev<'a> {
    header: &'a str,
    bridge: &'a str,
    bridge_mac: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "network/bridge-isolated.network", escape = "none")]
struct IsolatedNetwork<'a> {
    header: &'a str,
    bridge: &'a str,
    gateway: String,
    prefix_len: u8,
    nat: bool,
    pool_offset: u32,
    pool_size: u32,
    boot_filename: Option<String>,
    leases: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "network/bridge-bridged.network", escape = "none")]
struct BridgedNetwork<'a> {
    header: &'a str,
    bridge: &'a str,
}

#[derive(Template)]
#[template(path = "network/uplink.network", escape = "none")]
struct UplinkNetwork<'a> {
    header: &'a str,
    bridge: &'a str,
    uplink: &'a str,
}

#[derive(Template)]
#[template(path = "network/tap.netdev", escape = "none")]
struct TapNetdev<'a> {
    header: &'a str,
    node: NodeIndex,
    tap: String,
}

#[derive(Template)]
#[template(path = "network/taps.network", escape = "none")]
struct TapsNetwork<'a> {
    header: &'a str,
    bridge: &'a str,
    tap_prefix: &'a str,
}

/// The URL (iPXE) or TFTP path (pxelinux) that DHCP hands out as boot
/// file; none when QEMU loads the kernel itself.
fn boot_filename(model: &Model, host: Ipv4Addr) -> Option<String> {
    match model.boot.method {
        BootMethod::Ipxe => Some(names::served_url(host, model.http_port, IPXE_SCRIPT)),
        BootMethod::Pxelinux => Some(PXELINUX_BOOT_FILE.to_string()),
        BootMethod::Direct => None,
    }
}

/// File `suffix` of ours, named so `FILE_PREFIX` finds it.
fn file(suffix: &str, template: &impl Template) -> RenderedFile {
    RenderedFile::from_template(format!("{FILE_PREFIX}{suffix}"), template)
}

pub fn render(model: &Model, sources: &Sources) -> Vec<RenderedFile> {
    let header = header("coreos-cluster setup-network", sources);
    let header = header.as_str();
    let bridge = model.network.bridge.as_str();
    let bridge_mac = match &model.network.mode {
        NetworkMode::Bridged { bridge_mac, .. } => bridge_mac.as_deref(),
        NetworkMode::Isolated { .. } => None,
    };
    let mut files = vec![file(
        "bridge.netdev",
        &BridgeNetdev {
            header,
            bridge,
            bridge_mac,
        },
    )];
    match &model.network.mode {
        NetworkMode::Isolated { subnet, nat } => {
            // Unknown clients get addresses after the nodes' static leases.
            let (pool_offset, pool_size) = subnet.dhcp_pool(model.cluster.max_nodes);
            let leases = (1..=model.cluster.max_nodes)
                .filter_map(NodeIndex::new)
                .map(|n| (model.node_mac(n), subnet.node_address(n).to_string()))
                .collect();
            files.push(file(
                "bridge.network",
                &IsolatedNetwork {
                    header,
                    bridge,
                    gateway: subnet.gateway().to_string(),
                    prefix_len: subnet.prefix_len,
                    nat: *nat,
                    pool_offset,
                    pool_size,
                    boot_filename: boot_filename(model, subnet.gateway()),
                    leases,
                },
            ));
        }
        NetworkMode::Bridged { uplink, .. } => {
            files.push(file("bridge.network", &BridgedNetwork { header, bridge }));
            files.push(file(
                "uplink.network",
                &UplinkNetwork {
                    header,
                    bridge,
                    uplink,
                },
            ));
        }
    }
    for node in (1..=model.cluster.max_nodes).filter_map(NodeIndex::new) {
        let tap = names::tap_name(node);
        files.push(file(
            &format!("tap{}.netdev", names::vm_instance(node)),
            &TapNetdev { header, node, tap },
        ));
    }
    files.push(file(
        "taps.network",
        &TapsNetwork {
            header,
            bridge,
            tap_prefix: TAP_PREFIX,
        },
    ));
    files
}
