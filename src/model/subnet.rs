//! IPv4 subnet arithmetic: the addresses of the host, the nodes and the
//! DHCP pool, and parsing a subnet as a user writes it.

use std::fmt;
use std::net::Ipv4Addr;

use crate::base::names::NodeIndex;
use crate::base::text::quoted;

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
    fn host_count(self) -> u32 {
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

pub fn parse_subnet(text: &str) -> Result<Subnet, String> {
    let shown = quoted(text);
    let usage = || format!("{shown} is not an IPv4 subnet; expected CIDR like \"10.77.0.0/24\"");
    let (addr, len) = text.split_once('/').ok_or_else(usage)?;
    let network: Ipv4Addr = addr.parse().map_err(|_| usage())?;
    let prefix_len: u8 = len.parse().map_err(|_| usage())?;
    if !(8..=30).contains(&prefix_len) {
        return Err(format!("{shown}: prefix length must be 8 to 30"));
    }
    // With a prefix of 8 or longer the whole subnet lies in one /8.
    let reserved = match network.octets()[0] {
        0 => Some("0.0.0.0/8 means \"this network\" and is never routed"),
        127 => Some("127.0.0.0/8 is loopback: the kernel never sends it to a bridge"),
        224..=239 => Some("224.0.0.0/4 is multicast, not host addresses"),
        240..=255 => Some("240.0.0.0/4 is reserved (class E); hosts and routers drop it"),
        _ => None,
    };
    if let Some(why) = reserved {
        return Err(format!(
            "{shown} cannot be a VM network: {why}; use a private range such as \"10.77.0.0/24\""
        ));
    }
    let mask = u32::MAX << (32 - prefix_len);
    if u32::from(network) & !mask != 0 {
        let fixed = Ipv4Addr::from(u32::from(network) & mask);
        return Err(format!(
            "{shown} has host bits set; did you mean \"{fixed}/{prefix_len}\"?"
        ));
    }
    Ok(Subnet {
        network,
        prefix_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let s = parse_subnet("10.77.0.0/24").unwrap();
        assert_eq!((s.network, s.prefix_len), (Ipv4Addr::new(10, 77, 0, 0), 24));
        assert!(parse_subnet("10.77.0.5/24")
            .unwrap_err()
            .contains("10.77.0.0/24"));
        for (reserved, why) in [
            ("127.0.0.0/24", "loopback"),
            ("0.1.0.0/16", "this network"),
            ("224.0.0.0/24", "multicast"),
            ("239.255.0.0/16", "multicast"),
            ("240.0.0.0/8", "class E"),
            ("255.255.255.0/24", "class E"),
        ] {
            assert!(
                parse_subnet(reserved).unwrap_err().contains(why),
                "{reserved}"
            );
        }
        assert!(parse_subnet("172.16.0.0/12").is_ok());
    }

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
