//! The nftables table of isolated mode: node-to-node packets are never
//! connection-tracked, so networkd's masquerading applies only to what
//! leaves the subnet, whatever the host's br_netfilter settings. Pure:
//! `setup-network` writes the file, the network unit loads it with `nft -f`.

use askama::Template;

use crate::base::names::NFT_TABLE;
use crate::base::paths::NAT_RULES_FILE;
use crate::config::Sources;
use crate::model::{Model, NetworkMode};
use crate::render::output::{header, RenderedFile};

#[derive(Template)]
#[template(path = "network/nat.nft", escape = "none")]
struct NatRules<'a> {
    header: &'a str,
    table: &'a str,
    subnet: Option<String>,
    host: String,
}

/// The rules file (at its path on the running system). Without NAT (bridged
/// mode, or `nat = false`) it only removes the table.
pub fn render(model: &Model, sources: &Sources) -> Vec<RenderedFile> {
    let header = header("coreos-cluster setup-network", sources);
    let (subnet, host) = match &model.network.mode {
        NetworkMode::Isolated { subnet, nat: true } => {
            (Some(subnet.to_string()), subnet.gateway().to_string())
        }
        _ => (None, String::new()),
    };
    vec![RenderedFile::from_template(
        NAT_RULES_FILE,
        &NatRules {
            header: &header,
            table: NFT_TABLE,
            subnet,
            host,
        },
    )]
}
