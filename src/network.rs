//! The networkd files for the cluster: model in, `.netdev`/`.network` out.
//! Written to /run/systemd/network by `coreos-cluster setup-network`.

use askama::Template;

use crate::config::Sources;
use crate::model::{BootMethod, Model, NetworkMode, NodeIndex, NODE_HOST_OFFSET};
use crate::output::{finish, header, RenderedFile};

/// Where networkd reads runtime configuration.
pub const NETWORK_DIR: &str = "/run/systemd/network";
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
    boot_filename: String,
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
}

/// The URL (iPXE) or TFTP path (pxelinux) that DHCP hands out as boot file.
pub fn boot_filename(model: &Model, host: std::net::Ipv4Addr) -> String {
    match model.boot.method {
        BootMethod::Ipxe => format!("http://{host}/coreos-cluster/boot.ipxe"),
        BootMethod::Pxelinux => "pxelinux.0".to_string(),
    }
}

pub fn render(model: &Model, sources: &Sources) -> Vec<RenderedFile> {
    let header = header("coreos-cluster setup-network", sources);
    let bridge = model.network.bridge.as_str();
    let name = |suffix: &str| format!("{FILE_PREFIX}{suffix}");
    let mut files = Vec::new();
    let bridge_mac = match &model.network.mode {
        NetworkMode::Bridged { bridge_mac, .. } => bridge_mac.as_deref(),
        NetworkMode::Isolated { .. } => None,
    };
    files.push(text(
        name("bridge.netdev"),
        BridgeNetdev {
            header: &header,
            bridge,
            bridge_mac,
        }
        .render(),
    ));
    match &model.network.mode {
        NetworkMode::Isolated { subnet, nat } => {
            let nodes = u32::from(model.cluster.max_nodes);
            // Unknown clients get addresses after the nodes' static leases.
            let pool_offset = NODE_HOST_OFFSET + nodes + 1;
            let hosts = (1u32 << (32 - subnet.prefix_len)) - 2;
            let leases = (1..=model.cluster.max_nodes)
                .filter_map(NodeIndex::new)
                .map(|n| (model.node_mac(n), subnet.node_address(n).to_string()))
                .collect();
            files.push(text(
                name("bridge.network"),
                IsolatedNetwork {
                    header: &header,
                    bridge,
                    gateway: subnet.gateway().to_string(),
                    prefix_len: subnet.prefix_len,
                    nat: *nat,
                    pool_offset,
                    pool_size: hosts.saturating_sub(pool_offset - 1).max(1),
                    boot_filename: boot_filename(model, subnet.gateway()),
                    leases,
                }
                .render(),
            ));
        }
        NetworkMode::Bridged { uplink, .. } => {
            files.push(text(
                name("bridge.network"),
                BridgedNetwork {
                    header: &header,
                    bridge,
                }
                .render(),
            ));
            files.push(text(
                name("uplink.network"),
                UplinkNetwork {
                    header: &header,
                    bridge,
                    uplink,
                }
                .render(),
            ));
        }
    }
    for node in (1..=model.cluster.max_nodes).filter_map(NodeIndex::new) {
        files.push(text(
            name(&format!("tap{}.netdev", node.instance())),
            TapNetdev {
                header: &header,
                node,
                tap: Model::tap_name(node),
            }
            .render(),
        ));
    }
    files.push(text(
        name("taps.network"),
        TapsNetwork {
            header: &header,
            bridge,
        }
        .render(),
    ));
    files
}

fn text(name: String, rendered: askama::Result<String>) -> RenderedFile {
    RenderedFile::text(name, finish(rendered))
}
