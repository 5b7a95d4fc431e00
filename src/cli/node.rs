//! `coreos-cluster console`, `ssh` and `logs`: reaching one node.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Args;

use crate::base::names;
use crate::base::paths::Root;
use crate::host::console::{Ended, ESCAPE_NAME};
use crate::model::NodeIndex;
use crate::ops;

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
        let ended = ops::node::console(root, node, &mut || {
            eprintln!(
                "Connected to node {} ({}); press {ESCAPE_NAME} to detach.",
                node.get(),
                names::vm_unit(node)
            );
        })?;
        match ended {
            Ended::Detached => eprintln!("\r\nDetached from node {}.", node.get()),
            Ended::VmStopped => eprintln!("\r\nNode {} stopped; console closed.", node.get()),
        }
        Ok(())
    }
}

/// Run ssh to a node as the guest's user, with options for throwaway VMs.
#[derive(Debug, Args)]
#[command(about = ssh_about(), long_about = ssh_long_about())]
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

/// `ssh --help`, naming the guest's user as the code does.
fn ssh_about() -> String {
    format!(
        "Run ssh to a node as `{}`, with options for throwaway VMs",
        names::GUEST_USER
    )
}

fn ssh_long_about() -> String {
    format!(
        "{}.\n\nHost keys are neither checked nor recorded (they change at every boot); \
         COMMAND, if given, runs on the node.",
        ssh_about()
    )
}

impl Ssh {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        ops::node::ssh(
            root,
            self.node.node,
            self.identity.as_deref(),
            &self.command,
        )
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
        ops::node::logs(self.node.node, self.follow)
    }
}
