//! The bridge's address as the host has it: what the servers bind to and
//! the VMs reach the host at.

use std::net::Ipv4Addr;

use anyhow::{bail, Context};

use crate::base::paths::Root;
use crate::model::timeouts::BRIDGE_ADDRESS_WAIT;
use crate::model::{Model, NetworkMode, Subnet};

/// In isolated mode, waits until networkd has given the bridge its address,
/// which nginx and in.tftpd bind to: the network unit runs before networkd
/// starts (networkd reads our files at its start), and a reload that changed
/// the bridge's file re-adds the address a moment later.
pub fn wait_for_bridge_address(root: &Root, model: &Model) -> anyhow::Result<()> {
    let NetworkMode::Isolated { subnet, .. } = &model.network.mode else {
        // Bridged: the LAN's DHCP server gives it, at its own pace.
        return Ok(());
    };
    if !root.is_system_root() {
        return Ok(());
    }
    let bridge = &model.network.bridge;
    let deadline = std::time::Instant::now() + BRIDGE_ADDRESS_WAIT;
    loop {
        if matches!(bridge_address(bridge), Ok((ip, _)) if ip == subnet.gateway()) {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            bail!(
                "bridge {bridge} did not get {} within {} s (see networkctl status {bridge})",
                subnet.gateway(),
                BRIDGE_ADDRESS_WAIT.as_secs()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The host's address as the VMs see it: the bridge's.
pub fn host_address(model: &Model) -> anyhow::Result<Ipv4Addr> {
    match &model.network.mode {
        NetworkMode::Isolated { subnet, .. } => Ok(subnet.gateway()),
        NetworkMode::Bridged { .. } => Ok(bridge_address(&model.network.bridge)?.0),
    }
}

/// The bridge's IPv4 address and the network it is on (bridged mode: both
/// come from the LAN's DHCP server).
pub fn bridge_address(bridge: &str) -> anyhow::Result<(Ipv4Addr, Subnet)> {
    let addresses = nix::ifaddrs::getifaddrs().context("listing interface addresses")?;
    for ifaddr in addresses {
        if ifaddr.interface_name != bridge {
            continue;
        }
        let ipv4 = |a: Option<nix::sys::socket::SockaddrStorage>| {
            a.and_then(|a| a.as_sockaddr_in().map(|s| s.ip()))
        };
        if let (Some(ip), Some(mask)) = (ipv4(ifaddr.address), ipv4(ifaddr.netmask)) {
            let prefix_len = u32::from(mask).leading_ones() as u8;
            return Ok((ip, Subnet::containing(ip, prefix_len)));
        }
    }
    bail!(
        "bridge {bridge} has no IPv4 address yet; in bridged mode it gets one from \
         the LAN's DHCP server (see networkctl status {bridge})"
    )
}
