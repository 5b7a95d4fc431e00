//! Parsers and checks for single config values (MACs, subnets, paths, URLs,
//! interface names, SSH keys): text in, a checked value or a reason out.

use std::net::Ipv4Addr;
use std::path::{Component, Path};

use crate::model::{Accelerator, Subnet};

fn parse_octets(text: &str, count: usize) -> Option<Vec<u8>> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != count {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            (p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect()
}

fn format_octets(octets: &[u8]) -> String {
    octets
        .iter()
        .map(|o| format!("{o:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Five octets such as `52:54:00:12:34`; the node number is the sixth.
pub fn parse_mac_prefix(text: &str) -> Result<String, String> {
    let octets = parse_octets(text, 5).ok_or_else(|| {
        format!("{text:?} is not a MAC prefix; expected five hex octets like \"52:54:00:12:34\"")
    })?;
    if octets[0] & 1 == 1 {
        return Err(format!(
            "{text:?} starts with a multicast octet; VM NICs need a unicast address \
             (e.g. \"52:54:00:12:34\")"
        ));
    }
    Ok(format_octets(&octets))
}

pub fn parse_mac(text: &str) -> Result<String, String> {
    let octets = parse_octets(text, 6).ok_or_else(|| {
        format!("{text:?} is not a MAC address; expected six hex octets like \"52:54:00:ab:cd:ef\"")
    })?;
    if octets[0] & 1 == 1 {
        return Err(format!(
            "{text:?} is a multicast address; a bridge needs a unicast one"
        ));
    }
    Ok(format_octets(&octets))
}

pub fn parse_subnet(text: &str) -> Result<Subnet, String> {
    let usage = || format!("{text:?} is not an IPv4 subnet; expected CIDR like \"10.77.0.0/24\"");
    let (addr, len) = text.split_once('/').ok_or_else(usage)?;
    let network: Ipv4Addr = addr.parse().map_err(|_| usage())?;
    let prefix_len: u8 = len.parse().map_err(|_| usage())?;
    if !(8..=30).contains(&prefix_len) {
        return Err(format!("{text:?}: prefix length must be 8 to 30"));
    }
    let mask = u32::MAX << (32 - prefix_len);
    if u32::from(network) & !mask != 0 {
        let fixed = Ipv4Addr::from(u32::from(network) & mask);
        return Err(format!(
            "{text:?} has host bits set; did you mean \"{fixed}/{prefix_len}\"?"
        ));
    }
    Ok(Subnet {
        network,
        prefix_len,
    })
}

pub fn parse_accelerators(text: &str) -> Result<Vec<Accelerator>, String> {
    let mut list = Vec::new();
    for name in text.split(':') {
        let accel = match name {
            "kvm" => Accelerator::Kvm,
            "tcg" => Accelerator::Tcg,
            _ => {
                return Err(format!(
                    "{text:?}: {name:?} is not an accelerator; use \"kvm\", \"tcg\" or a \
                     fallback list like \"kvm:tcg\""
                ))
            }
        };
        if list.contains(&accel) {
            return Err(format!("{text:?} names {name:?} twice"));
        }
        list.push(accel);
    }
    Ok(list)
}

/// Linux interface names: 1 to 15 bytes, no slash, colon or whitespace.
pub fn check_interface_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an interface name; use 1 to 15 of a-z, A-Z, 0-9, '-', '_', '.'"
        ))
    }
}

/// An absolute, normalized path without control characters.
pub fn check_path(text: &str) -> Result<(), String> {
    let path = Path::new(text);
    if !path.is_absolute() {
        return Err(format!("{text:?} is not an absolute path"));
    }
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(format!("{text:?} must not contain '.' or '..' components"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{text:?} contains control characters"));
    }
    // These would need escaping in nginx, pxelinux and unit files alike.
    if let Some(c) = text.chars().find(|c| "\"'\\$;".contains(*c)) {
        return Err(format!(
            "{text:?} contains {c:?}; paths may not contain quotes, \\, $ or ;"
        ));
    }
    Ok(())
}

/// Directories a served tree must not be below: the system's own.
const SYSTEM_DIRS: &[&str] = &[
    "/etc", "/usr", "/boot", "/proc", "/sys", "/dev", "/run", "/bin", "/sbin", "/lib", "/lib64",
];

/// Directories other software shares: a served tree may be below them, not them.
const SHARED_DIRS: &[&str] = &[
    "/var/lib",
    "/var/cache",
    "/var/log",
    "/var/tmp",
    "/srv/http",
    "/srv/ftp",
    "/srv/tftp",
    "/home",
    "/root",
    "/tmp",
];

/// A tree the product serves and its units may write: a directory of its
/// own, never `/`, a top-level directory, a system directory or one that
/// other software shares (Arch's `/srv/http` is every web server's root).
/// `path` has passed `check_path`.
pub fn check_served_tree(path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.components().count() <= 2 {
        return Err(format!(
            "{shown:?} is the root or a top-level directory; use a directory of \
             coreos-cluster's own, such as one below /srv/coreos-cluster"
        ));
    }
    if let Some(system) = SYSTEM_DIRS.iter().find(|dir| path.starts_with(dir)) {
        return Err(format!(
            "{shown:?} is below {system}, which belongs to the system; use a directory of \
             coreos-cluster's own, such as one below /srv/coreos-cluster"
        ));
    }
    if SHARED_DIRS.iter().any(|dir| path == Path::new(dir)) {
        return Err(format!(
            "{shown:?} is shared with other software; use a directory of coreos-cluster's \
             own, such as one below /srv/coreos-cluster"
        ));
    }
    Ok(())
}

/// An http(s) URL with a host; returned without a trailing slash.
pub fn check_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("{text:?} is not an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{text:?} has no host"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{text:?} contains whitespace"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

pub fn check_ssh_key(key: &str) -> Result<(), String> {
    let short: String = key.chars().take(24).collect();
    if key.contains(['\n', '\r']) {
        return Err(format!("{short:?}...: a key must be on one line"));
    }
    let mut words = key.split_whitespace();
    let kind = words.next().unwrap_or("");
    if !SSH_KEY_TYPES.contains(&kind) || words.next().is_none() {
        return Err(format!(
            "{short:?}... is not an OpenSSH public key (\"TYPE BASE64 [COMMENT]\", TYPE one of {})",
            SSH_KEY_TYPES.join(", ")
        ));
    }
    Ok(())
}

/// A release version as used in paths and URLs: digits and dots.
pub fn check_release_version(value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(value.to_string())
    } else {
        Err(format!(
            "{value:?} is not a release version like \"4593.2.3\""
        ))
    }
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
    }

    #[test]
    fn mac_prefixes() {
        assert_eq!(
            parse_mac_prefix("52:54:00:AB:cd").unwrap(),
            "52:54:00:ab:cd"
        );
        for bad in [
            "52:54:00:12",
            "52:54:00:12:34:56",
            "52-54-00-12-34",
            "5:54:00:12:34",
            "zz:54:00:12:34",
        ] {
            assert!(parse_mac_prefix(bad).is_err(), "{bad}");
        }
        assert!(parse_mac_prefix("01:00:5e:00:00")
            .unwrap_err()
            .contains("multicast"));
    }

    #[test]
    fn accelerators_and_interfaces() {
        assert_eq!(
            parse_accelerators("kvm:tcg").unwrap(),
            [Accelerator::Kvm, Accelerator::Tcg]
        );
        assert!(parse_accelerators("kvm:hax").is_err());
        assert!(parse_accelerators("tcg:tcg").is_err());
        assert!(check_interface_name("coreos-br0").is_ok());
        assert!(check_interface_name("a-very-long-name0").is_err());
        assert!(check_interface_name("br 0").is_err());
    }
}
