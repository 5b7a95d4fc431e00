//! Whether our servers can bind their address and port, and if not, who
//! holds it: the socket's inode from /proc/net, its process from /proc/*/fd.
//! Checked before a server starts, so a taken port fails the start at once
//! with one message that says what to change.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

use anyhow::bail;

use crate::base::paths::CONFIG_FILE;

/// The transport a server listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// A port one of our servers wants, and the config key that moves it.
#[derive(Debug, Clone, Copy)]
pub struct Listen<'a> {
    pub address: Ipv4Addr,
    pub port: u16,
    pub transport: Transport,
    /// The key to change, as a person writes it: `http.port`.
    pub key: &'a str,
}

/// Fails when `listen` cannot be bound, naming the address, the port, the
/// process that holds it (when /proc shows it) and the key to change.
pub fn ensure_free(listen: Listen) -> anyhow::Result<()> {
    let addr = SocketAddrV4::new(listen.address, listen.port);
    // Rust sets SO_REUSEADDR on TCP listeners, as nginx does: a port left in
    // TIME_WAIT is free, one that a server (even on 0.0.0.0) holds is not.
    let result = match listen.transport {
        Transport::Tcp => TcpListener::bind(addr).map(drop),
        Transport::Udp => UdpSocket::bind(addr).map(drop),
    };
    let err = match result {
        Ok(()) => return Ok(()),
        Err(err) => err,
    };
    let transport = listen.transport.name();
    if err.kind() != ErrorKind::AddrInUse {
        bail!("cannot listen on {addr}/{transport}: {err}");
    }
    let holder = holders(listen.address, listen.port, listen.transport)
        .into_iter()
        .next()
        .map_or("an unknown process".to_string(), |(pid, name)| {
            format!("{name} (pid {pid})")
        });
    bail!(
        "cannot listen on {addr}/{transport}: port {} is already in use by {holder}; \
         stop that server or choose another port with {} in {CONFIG_FILE}",
        listen.port,
        listen.key
    )
}

/// The processes (pid, name) with a socket bound to `port` on `address` or
/// on every address; empty when /proc does not show them.
fn holders(address: Ipv4Addr, port: u16, transport: Transport) -> Vec<(u32, String)> {
    let inodes = socket_inodes(address, port, transport);
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| {
                let target = target.to_string_lossy();
                inodes
                    .iter()
                    .any(|inode| target == format!("socket:[{inode}]"))
            })
        });
        if holds {
            let name = std::fs::read_to_string(entry.path().join("comm"))
                .map_or_else(|_| "?".to_string(), |s| s.trim().to_string());
            found.push((pid, name));
        }
    }
    found.sort();
    found
}

/// Inodes of the sockets bound to `port` on `address` or a wildcard, from
/// /proc/self/net (the caller's network namespace). TCP counts only
/// listening sockets.
fn socket_inodes(address: Ipv4Addr, port: u16, transport: Transport) -> Vec<u64> {
    const TCP_LISTEN: &str = "0A";
    let name = transport.name();
    let mut inodes = Vec::new();
    for table in [name.to_string(), format!("{name}6")] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/self/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            if transport == Transport::Tcp && *state != TCP_LISTEN {
                continue;
            }
            let Some((hex_addr, hex_port)) = local.split_once(':') else {
                continue;
            };
            if u16::from_str_radix(hex_port, 16) != Ok(port) {
                continue;
            }
            if covers(hex_addr, address) {
                if let Ok(inode) = inode.parse() {
                    inodes.push(inode);
                }
            }
        }
    }
    inodes
}

/// Whether a /proc/net local address (hex, in the kernel's byte order)
/// is `address`, or a wildcard that includes it.
fn covers(hex_addr: &str, address: Ipv4Addr) -> bool {
    let ours = u32::from_ne_bytes(address.octets());
    match hex_addr.len() {
        8 => u32::from_str_radix(hex_addr, 16).is_ok_and(|a| a == 0 || a == ours),
        // IPv6: "::" (a dual-stack wildcard) or "::ffff:a.b.c.d".
        32 => {
            hex_addr.chars().all(|c| c == '0')
                || (hex_addr[..16].chars().all(|c| c == '0')
                    && hex_addr[16..24].eq_ignore_ascii_case("FFFF0000")
                    && u32::from_str_radix(&hex_addr[24..], 16).is_ok_and(|a| a == ours))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_names_the_process_and_the_key() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let listen = Listen {
            address: Ipv4Addr::LOCALHOST,
            port,
            transport: Transport::Tcp,
            key: "http.port",
        };
        let err = ensure_free(listen).unwrap_err().to_string();
        let me = std::process::id();
        assert!(err.contains(&format!("127.0.0.1:{port}/tcp")), "{err}");
        assert!(err.contains(&format!("(pid {me})")), "{err}");
        assert!(
            err.contains("http.port in /etc/coreos-cluster/cluster.toml"),
            "{err}"
        );
        drop(taken);
        ensure_free(listen).unwrap();
    }

    #[test]
    fn a_wildcard_udp_socket_blocks_a_specific_address() {
        let taken = UdpSocket::bind("0.0.0.0:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let found = holders(Ipv4Addr::LOCALHOST, port, Transport::Udp);
        assert_eq!(found.first().map(|h| h.0), Some(std::process::id()));
        let err = ensure_free(Listen {
            address: Ipv4Addr::LOCALHOST,
            port,
            transport: Transport::Udp,
            key: "tftp.port",
        })
        .unwrap_err();
        assert!(err.to_string().contains("tftp.port"), "{err}");
    }

    #[test]
    fn proc_addresses_in_kernel_byte_order() {
        let ip = Ipv4Addr::new(10, 77, 0, 1);
        assert!(covers("01004D0A", ip));
        assert!(covers("00000000", ip));
        assert!(!covers("0100007F", ip));
        assert!(covers("00000000000000000000000000000000", ip));
        assert!(covers("0000000000000000FFFF000001004D0A", ip));
    }
}
