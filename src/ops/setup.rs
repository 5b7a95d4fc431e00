//! What the network and server units run first: `setup-network` (the
//! networkd files and the NAT rules), `setup-http` (nginx's config) and
//! `setup-tftp` (in.tftpd's settings). Each renders first, then writes,
//! replacing only what changed; the servers' setups first check their port.

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::Context;

use crate::base::paths::{Root, NETWORK_DIR};
use crate::host::bridge::{bridge_address, host_address, wait_for_bridge_address};
use crate::host::files::{sync_dir, write_changed};
use crate::host::networkctl;
use crate::host::ports::{self, Listen, Transport};
use crate::model::NetworkMode;
use crate::ops::load::load_model;
use crate::render::nginx::HttpListen;
use crate::render::{networkd, nftables, nginx, tftpd};

/// Writes the networkd files and the NAT rules; a running networkd reloads
/// when a file of it changed (on the system root only). Returns whether one did.
pub fn setup_network(root: &Root, say: &mut dyn FnMut(&str)) -> anyhow::Result<bool> {
    let (sources, model) = load_model(root)?;
    let rules = nftables::render(&model, &sources);
    write_changed(&root.join("/"), &rules, 0o644)?;
    let files = networkd::render(&model, &sources);
    let dir = root.join(NETWORK_DIR);
    let changed = sync_dir(&dir, &files, networkd::FILE_PREFIX, 0o644)
        .with_context(|| format!("writing network files to {}", dir.display()))?;
    say(&format!(
        "{} network files in {NETWORK_DIR}{}",
        files.len(),
        if changed {
            " (changed)"
        } else {
            " (unchanged)"
        }
    ));
    if changed && root.is_system_root() {
        networkctl::reload_if_running()?;
    }
    Ok(changed)
}

/// Checks that nginx can bind the bridge's address and `http.port`, then
/// writes its config into `runtime_dir` (a path on the running system).
pub fn setup_http(root: &Root, runtime_dir: &Path) -> anyhow::Result<()> {
    let (sources, model) = load_model(root)?;
    wait_for_bridge_address(root, &model)?;
    let listen = match &model.network.mode {
        NetworkMode::Isolated { subnet, .. } => HttpListen {
            address: subnet.gateway(),
            clients: None,
        },
        NetworkMode::Bridged { .. } => {
            let (address, lan) = bridge_address(&model.network.bridge)?;
            HttpListen {
                address,
                clients: Some(lan),
            }
        }
    };
    check_port(
        root,
        listen.address,
        model.http_port,
        Transport::Tcp,
        "http.port",
    )?;
    let files = nginx::render(&model, &sources, runtime_dir, listen);
    write_changed(&root.join(runtime_dir), &files, 0o644)?;
    Ok(())
}

/// Checks that in.tftpd can bind the bridge's address and `tftp.port`,
/// then writes its settings into `runtime_dir`.
pub fn setup_tftp(root: &Root, runtime_dir: &Path) -> anyhow::Result<()> {
    let (sources, model) = load_model(root)?;
    wait_for_bridge_address(root, &model)?;
    let address = host_address(&model)?;
    check_port(root, address, model.tftp_port, Transport::Udp, "tftp.port")?;
    let files = tftpd::render(&model, &sources, address);
    write_changed(&root.join(runtime_dir), &files, 0o644)?;
    Ok(())
}

/// The port check binds on the running system only: a test root has no bridge.
fn check_port(
    root: &Root,
    address: Ipv4Addr,
    port: u16,
    transport: Transport,
    key: &str,
) -> anyhow::Result<()> {
    if !root.is_system_root() {
        return Ok(());
    }
    ports::ensure_free(Listen {
        address,
        port,
        transport,
        key,
    })
}
