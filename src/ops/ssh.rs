//! `coreos-cluster ssh`: ssh's command line for a node.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::Path;

/// Options for throwaway VMs: their host keys change at every boot, so none
/// is checked or recorded (the user's known_hosts stays untouched), and the
/// warning about adding one is not printed.
pub const THROWAWAY_HOST_OPTIONS: [&str; 6] = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
];

/// ssh's arguments (without the program) to run `command` on `user@address`,
/// or a login shell when `command` is empty.
pub fn ssh_args(
    user: &str,
    address: Ipv4Addr,
    identity: Option<&Path>,
    command: &[OsString],
) -> Vec<OsString> {
    let mut args: Vec<OsString> = THROWAWAY_HOST_OPTIONS.iter().map(Into::into).collect();
    if let Some(key) = identity {
        args.push("-i".into());
        args.push(key.into());
    }
    args.push(format!("{user}@{address}").into());
    if !command.is_empty() {
        // Everything after this is the remote command, never ssh's options.
        args.push("--".into());
        args.extend(command.iter().cloned());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    const OPTIONS: [&str; 6] = THROWAWAY_HOST_OPTIONS;

    #[test]
    fn a_login_has_no_command() {
        let args = strings(ssh_args("core", Ipv4Addr::new(10, 77, 0, 11), None, &[]));
        let mut want: Vec<&str> = OPTIONS.to_vec();
        want.push("core@10.77.0.11");
        assert_eq!(args, want);
    }

    #[test]
    fn the_command_is_passed_through_after_the_options() {
        let command: Vec<OsString> = ["-v", "cat /etc/os-release", "x y"]
            .iter()
            .map(Into::into)
            .collect();
        let key = Path::new("/root/.ssh/id_ed25519");
        let args = strings(ssh_args(
            "core",
            Ipv4Addr::new(10, 77, 0, 12),
            Some(key),
            &command,
        ));
        let mut want: Vec<&str> = OPTIONS.to_vec();
        want.extend([
            "-i",
            "/root/.ssh/id_ed25519",
            "core@10.77.0.12",
            "--",
            "-v",
            "cat /etc/os-release",
            "x y",
        ]);
        assert_eq!(args, want);
    }
}
