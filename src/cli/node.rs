//! `coreos-cluster console`, `ssh` and `logs`: reaching one node.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::base::names;
use crate::base::paths::{self, Root};
use crate::host::console::{self, Ended, ESCAPE_NAME};
use crate::host::systemd::{Systemd, SystemdBus};
use crate::model::NodeIndex;
use crate::ops::{ssh, status};

/// A node argument: its number, as in `[node.N]` and `status`.
#[derive(Debug, Args)]
struct NodeArg {
    /// The node's number (1 is coreos-vm@01).
    #[arg(value_name = "NODE", value_parser = parse_node)]
    node: NodeIndex,
}

fn parse_node(text: &str) -> Result<NodeIndex, String> {
    text.parse::<u8>()
        .ok()
        .and_then(NodeIndex::new)
        .ok_or_else(|| format!("{text:?} is no node number (1-255)"))
}

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

/// Attach the terminal to a node's serial console; Ctrl-] detaches.
///
/// The journal keeps the whole serial log meanwhile (coreos-cluster logs).
/// One console per node at a time.
#[derive(Debug, Args)]
pub struct Console {
    #[command(flatten)]
    node: NodeArg,
}

impl Console {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        let node = self.node.node;
        require_running(node)?;
        let dir = root.join(paths::vm_runtime_dir(&names::vm_instance(node)));
        let _held = console::take(&dir.join(paths::CONSOLE_LOCK), node.get())?;
        eprintln!(
            "Connected to node {} ({}); press {ESCAPE_NAME} to detach.",
            node.get(),
            names::vm_unit(node)
        );
        let ended = console::attach(&dir.join(paths::SERIAL_SOCKET))?;
        match ended {
            Ended::Detached => eprintln!("\r\nDetached from node {}.", node.get()),
            Ended::VmStopped => eprintln!("\r\nNode {} stopped; console closed.", node.get()),
        }
        Ok(())
    }
}

/// Run ssh to a node as `core`, with options for throwaway VMs.
///
/// Host keys are neither checked nor recorded (they change at every boot);
/// COMMAND, if given, runs on the node.
#[derive(Debug, Args)]
pub struct Ssh {
    #[command(flatten)]
    node: NodeArg,

    /// Log in with this private key (default: ssh's own choice).
    #[arg(short = 'i', long, value_name = "FILE")]
    identity: Option<PathBuf>,

    /// The command to run on the node (default: a login shell).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

impl Ssh {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        let node = self.node.node;
        let (_, model) = crate::ops::load::load_model(root)?;
        let Some(address) = status::address_of(&model, node, root) else {
            bail!(
                "the address of node {} is not known yet (bridged mode: the LAN's DHCP \
                 server chose it; it shows once the host saw the node's traffic)",
                node.get()
            );
        };
        let args = ssh::ssh_args(
            names::GUEST_USER,
            address,
            self.identity.as_deref(),
            &self.command,
        );
        let err = std::process::Command::new("ssh").args(args).exec();
        Err(err).context("running ssh")
    }
}

/// Show a node's serial log: the journal of its coreos-vm@ unit.
#[derive(Debug, Args)]
pub struct Logs {
    #[command(flatten)]
    node: NodeArg,

    /// Keep printing new lines as they come.
    #[arg(short, long)]
    follow: bool,
}

impl Logs {
    pub fn run(self) -> anyhow::Result<()> {
        let mut journalctl = std::process::Command::new("journalctl");
        journalctl.args(["--unit", &names::vm_unit(self.node.node), "--output", "cat"]);
        if self.follow {
            journalctl.arg("--follow");
        } else {
            journalctl.arg("--no-pager");
        }
        let err = journalctl.exec();
        Err(err).context("running journalctl")
    }
}
