//! Command-line interface: argument parsing and dispatch, one module per subcommand.

mod check;
mod control;
mod docs;
mod fetch;
mod node;
mod node_completion;
mod prepare;
mod vm;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::base::paths::Root;

/// Run a local cluster of network-booted CoreOS-family VMs in QEMU, the systemd way.
///
/// Start a 3-node cluster with `systemctl start coreos-cluster@3`, keep it across
/// reboots with `systemctl enable coreos-cluster@3`. The configuration is
/// /etc/coreos-cluster/cluster.toml plus drop-ins in cluster.toml.d/ (see cluster.toml(5)).
#[derive(Debug, Parser)]
#[command(name = "coreos-cluster", version, max_term_width = 80)]
pub struct Cli {
    /// Treat DIR as the root directory for every file read or written.
    #[arg(long, value_name = "DIR", default_value = "/", global = true)]
    root: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Status(control::StatusCmd),
    Up(control::Up),
    Down(control::Down),
    Console(node::Console),
    Ssh(node::Ssh),
    Logs(node::Logs),
    Check(check::Check),
    Fetch(fetch::Fetch),
    Prepare(prepare::Prepare),
    SetupNetwork(prepare::SetupNetwork),
    SetupHttp(prepare::SetupHttp),
    SetupTftp(prepare::SetupTftp),
    VmExec(vm::VmExec),
    VmStarted(vm::VmStarted),
    VmRegister(vm::VmRegister),
    VmStop(vm::VmStop),
    Completions(docs::Completions),
    #[command(hide = true)]
    ManPage(docs::ManPage),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        let root = Root::new(self.root);
        match self.command {
            Command::Status(cmd) => cmd.run(&root),
            Command::Up(cmd) => cmd.run(&root),
            Command::Down(cmd) => cmd.run(&root),
            Command::Console(cmd) => cmd.run(&root),
            Command::Ssh(cmd) => cmd.run(&root),
            Command::Logs(cmd) => cmd.run(),
            Command::Check(cmd) => cmd.run(&root),
            Command::Fetch(cmd) => cmd.run(&root),
            Command::Prepare(cmd) => cmd.run(&root),
            Command::SetupNetwork(cmd) => cmd.run(&root),
            Command::SetupHttp(cmd) => cmd.run(&root),
            Command::SetupTftp(cmd) => cmd.run(&root),
            Command::VmExec(cmd) => cmd.run(&root),
            Command::VmStarted(cmd) => cmd.run(&root),
            Command::VmRegister(cmd) => cmd.run(&root),
            Command::VmStop(cmd) => cmd.run(),
            Command::Completions(cmd) => cmd.run(),
            Command::ManPage(cmd) => cmd.run(),
        }
    }

    /// The clap command, for man pages and completions.
    pub fn command() -> clap::Command {
        <Self as clap::CommandFactory>::command()
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
