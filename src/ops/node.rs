//! Reaching one node: its serial console, ssh, and its serial log.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::Path;

use anyhow::{bail, Context};

use crate::base::names;
use crate::base::paths::{self, Root};
use crate::host::console::{self, Ended};
use crate::host::systemd::{Systemd, SystemdBus};
use crate::model::NodeIndex;
use crate::ops::load::load_model;
use crate::ops::status;

/// Refuses unless the node's VM unit is running.
fn require_running(node: NodeIndex) -> anyhow::Result<()> {
    let unit = names::vm_unit(node);
    let systemd = SystemdBus::connect()?;
    let state = systemd
        .list_units(&[&unit])?
        .into_iter()
        .next()
        .map_or("inactive".to_string(), |u| u.active_state);
    if state != "active" {
        bail!(
            "node {} is not running ({unit} is {state}); start the cluster with \
             systemctl start coreos-cluster@N",
            node.get()
        );
    }
    Ok(())
}

/// Attaches the terminal to a running node's serial console (one at a time
/// per node) until the user detaches or the VM stops; `connected` runs once
/// the console is held.
pub fn console(root: &Root, node: NodeIndex, connected: &mut dyn FnMut()) -> anyhow::Result<Ended> {
    require_running(node)?;
    let dir = root.join(paths::vm_runtime_dir(&names::vm_instance(node)));
    let _held = console::take(&dir.join(paths::CONSOLE_LOCK), node.get())?;
    connected();
    console::attach(&dir.join(paths::SERIAL_SOCKET))
}

/// Replaces this process with ssh to the node as the guest user, running
/// `command` there (a login shell when empty). Returns only on an error.
pub fn ssh(
    root: &Root,
    node: NodeIndex,
    identity: Option<&Path>,
    command: &[OsString],
) -> anyhow::Result<()> {
    let (_, model) = load_model(root)?;
    let Some(address) = status::address_of(&model, node, root) else {
        bail!(
            "the address of node {} is not known yet (bridged mode: the LAN's DHCP \
             server chose it; it shows once the host saw the node's traffic)",
            node.get()
        );
    };
    let args = ssh_args(names::GUEST_USER, address, identity, command);
    let err = std::process::Command::new("ssh").args(args).exec();
    Err(err).context("running ssh")
}

/// Replaces this process with journalctl showing the node's serial log (the
/// journal of its coreos-vm@ unit), following new lines when `follow`.
pub fn logs(node: NodeIndex, follow: bool) -> anyhow::Result<()> {
    let mut journalctl = std::process::Command::new("journalctl");
    journalctl.args(["--unit", &names::vm_unit(node), "--output", "cat"]);
    journalctl.arg(if follow { "--follow" } else { "--no-pager" });
    let err = journalctl.exec();
    Err(err).context("running journalctl")
}

/// Options for throwaway VMs: their host keys change at every boot, so none
/// is checked or recorded (the user's known_hosts stays untouched), and the
/// warning about adding one is not printed.
const THROWAWAY_HOST_OPTIONS: [&str; 6] = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
];

/// ssh's arguments (without the program) to run `command` on `user@address`,
/// or a login shell when `command` is empty.
fn ssh_args(
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
