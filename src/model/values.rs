//! Parsers and checks for single config values (MACs, paths, URLs,
//! interface names, SSH keys): text in, a checked value or a reason out.

use std::path::{Component, Path};

use crate::base::text::{check_text, quoted, quoted_path, TextKind};
use crate::model::Accelerator;

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
    let shown = quoted(text);
    let octets = parse_octets(text, 5).ok_or_else(|| {
        format!("{shown} is not a MAC prefix; expected five hex octets like \"52:54:00:12:34\"")
    })?;
    if octets[0] & 1 == 1 {
        return Err(format!(
            "{shown} starts with a multicast octet; VM NICs need a unicast address \
             (e.g. \"52:54:00:12:34\")"
        ));
    }
    Ok(format_octets(&octets))
}

pub fn parse_mac(text: &str) -> Result<String, String> {
    let shown = quoted(text);
    let octets = parse_octets(text, 6).ok_or_else(|| {
        format!("{shown} is not a MAC address; expected six hex octets like \"52:54:00:ab:cd:ef\"")
    })?;
    if octets[0] & 1 == 1 {
        return Err(format!(
            "{shown} is a multicast address; a bridge needs a unicast one"
        ));
    }
    Ok(format_octets(&octets))
}

pub fn parse_accelerators(text: &str) -> Result<Vec<Accelerator>, String> {
    let shown = quoted(text);
    let mut list = Vec::new();
    for name in text.split(':') {
        let accel = match name {
            "kvm" => Accelerator::Kvm,
            "tcg" => Accelerator::Tcg,
            _ => {
                return Err(format!(
                    "{shown}: {} is not an accelerator; use \"kvm\", \"tcg\" or a \
                     fallback list like \"kvm:tcg\"",
                    quoted(name)
                ))
            }
        };
        if list.contains(&accel) {
            return Err(format!("{shown} names {} twice", quoted(name)));
        }
        list.push(accel);
    }
    Ok(list)
}

/// Interface names as systemd-networkd accepts them (`ifname_valid_full()`
/// in systemd's socket-util.c; networkd ignores a .netdev or .network whose
/// name fails it): 1 to 15 bytes, not "." or "..", not "all" or "default"
/// (the kernel's /proc/sys/net/*/conf/ directories of those names), not all
/// digits (an interface index); of the characters it allows, the ones a
/// shell and a unit file take as they are.
pub fn check_interface_name(name: &str) -> Result<(), String> {
    let shown = quoted(name);
    let chars_ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !chars_ok {
        return Err(format!(
            "{shown} is not an interface name; use 1 to 15 of a-z, A-Z, 0-9, '-', '_', '.'"
        ));
    }
    let reason = match name {
        "." | ".." => "a directory's name",
        "all" | "default" => "the name of a kernel setting for every interface",
        _ if name.bytes().all(|b| b.is_ascii_digit()) => "all digits (an interface index)",
        _ => return Ok(()),
    };
    Err(format!(
        "{shown} is not an interface name systemd-networkd accepts: {reason}"
    ))
}

/// An absolute, normalized path without control characters.
pub fn check_path(text: &str) -> Result<(), String> {
    let shown = quoted(text);
    let path = Path::new(text);
    if !path.is_absolute() {
        return Err(format!("{shown} is not an absolute path"));
    }
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(format!("{shown} must not contain '.' or '..' components"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{shown} contains control characters"));
    }
    // These would need escaping in nginx, pxelinux and unit files alike.
    if let Some(c) = text.chars().find(|c| "\"'\\$;".contains(*c)) {
        return Err(format!(
            "{shown} contains {c:?}; paths may not contain quotes, \\, $ or ;"
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
    let shown = quoted_path(path);
    if path.components().count() <= 2 {
        return Err(format!(
            "{shown} is the root or a top-level directory; use a directory of \
             coreos-cluster's own, such as one below /srv/coreos-cluster"
        ));
    }
    if let Some(system) = SYSTEM_DIRS.iter().find(|dir| path.starts_with(dir)) {
        return Err(format!(
            "{shown} is below {system}, which belongs to the system; use a directory of \
             coreos-cluster's own, such as one below /srv/coreos-cluster"
        ));
    }
    if SHARED_DIRS.iter().any(|dir| path == Path::new(dir)) {
        return Err(format!(
            "{shown} is shared with other software; use a directory of coreos-cluster's \
             own, such as one below /srv/coreos-cluster"
        ));
    }
    Ok(())
}

/// An http(s) URL with a host; returned without a trailing slash.
pub fn check_url(text: &str) -> Result<String, String> {
    check_text(text, TextKind::Line)?;
    let shown = quoted(text);
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("{shown} is not an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{shown} has no host"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{shown} contains whitespace"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// Characters that mean something to iPXE's command line (`;`, `||`, `&&`
/// chain commands, `#` starts a comment, `${...}` expands a setting, quotes
/// and `\` group and escape) or to a shell that may see the kernel line.
/// pxelinux's `append` takes the rest of its line verbatim, so the line
/// rule (check_text) and one word per argument cover it.
const KERNEL_ARG_SPECIAL: &str = ";|&#$\"'\\`{}";

/// One kernel command-line word, safe on an iPXE `kernel` line and a
/// pxelinux `append` line: non-empty, printable ASCII, no space, none of
/// KERNEL_ARG_SPECIAL, and not `initrd=` (the boot script sets it).
pub fn check_kernel_arg(arg: &str) -> Result<(), String> {
    let shown = quoted(arg);
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{shown}: each argument must be one non-empty word of printable ASCII, no spaces"
        ));
    }
    if let Some(c) = arg.chars().find(|c| KERNEL_ARG_SPECIAL.contains(*c)) {
        return Err(format!(
            "{shown} contains {c:?}, which iPXE's command line treats specially \
             (; || && chain commands, # starts a comment, ${{...}} expands a setting); \
             kernel arguments may not contain any of {KERNEL_ARG_SPECIAL}"
        ));
    }
    if arg.starts_with("initrd=") {
        return Err(format!("{shown}: the boot script sets initrd= itself"));
    }
    Ok(())
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
    let shown = quoted(key);
    if key.contains(['\n', '\r']) {
        return Err(format!("{shown}: a key must be on one line"));
    }
    let mut words = key.split_whitespace();
    let kind = words.next().unwrap_or("");
    if !SSH_KEY_TYPES.contains(&kind) || words.next().is_none() {
        return Err(format!(
            "{shown} is not an OpenSSH public key (\"TYPE BASE64 [COMMENT]\", TYPE one of {})",
            SSH_KEY_TYPES.join(", ")
        ));
    }
    Ok(())
}

/// Whether two OpenSSH public keys are one key: the same type and key,
/// whatever their comments.
pub fn same_ssh_key(a: &str, b: &str) -> bool {
    a.split_whitespace()
        .take(2)
        .eq(b.split_whitespace().take(2))
}

/// Whether a text is a release version as used in paths and URLs: numbers
/// joined by dots, such as `4593.2.3`.
pub fn is_release_version(text: &str) -> bool {
    text.split('.')
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

pub fn check_release_version(value: &str) -> Result<String, String> {
    if is_release_version(value) {
        Ok(value.to_string())
    } else {
        Err(format!(
            "{} is not a release version like \"4593.2.3\"",
            quoted(value)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_args() {
        for ok in [
            "console=ttyS0,115200n8",
            "flatcar.autologin",
            "rd.break=pre-mount",
            "a.b=1:2/3",
        ] {
            assert_eq!(check_kernel_arg(ok), Ok(()), "{ok}");
        }
        for bad in [
            ";",
            "a;shell",
            "||",
            "a&&b",
            "#",
            "x=${net0/mac}",
            "\"q\"",
            "'",
            "a\\b",
            "`id`",
            "console=ttyS0 ; shell",
            "",
            "é",
            "initrd=/x",
        ] {
            assert!(check_kernel_arg(bad).is_err(), "{bad:?}");
        }
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
    fn keys_and_versions_are_shown_as_every_value() {
        let key = format!("ssh-dss {}", "A".repeat(400));
        assert!(check_ssh_key(&key).unwrap_err().starts_with(&quoted(&key)));
        let version = "1.".repeat(400);
        assert!(check_release_version(&version)
            .unwrap_err()
            .starts_with(&quoted(&version)));
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
        // What systemd's ifname_valid_full() refuses, though made of allowed characters.
        for refused in [".", "..", "all", "default", "12345", "0"] {
            assert!(check_interface_name(refused).is_err(), "{refused}");
        }
        for accepted in ["all0", "br.default", "1br", "eth0.100", "12345a"] {
            assert!(check_interface_name(accepted).is_ok(), "{accepted}");
        }
    }
}
