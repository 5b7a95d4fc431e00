//! The helpers `coreos-vm@.service` runs around QEMU: `vm-exec` (ExecStart=),
//! `vm-started` and `vm-register` (ExecStartPost=) and `vm-stop` (ExecStop=).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::base::defaults::DEFAULT_POWERDOWN_TIMEOUT_SEC;
use crate::base::names::VM_EXIT_NO_RESTART;
use crate::base::paths::Root;
use crate::model::timeouts::QMP_GREETING_TIMEOUT;
use crate::ops::vm::{self, VmExecError};

/// Check a coreos-vm@ instance name, then run QEMU (ExecStart=).
#[derive(Debug, Args)]
#[command(long_about = vm_exec_long_about())]
pub struct VmExec {
    /// The instance: the node number as two lowercase hex digits.
    instance: String,

    /// QEMU's command line.
    #[arg(last = true, required = true)]
    command: Vec<std::ffi::OsString>,
}

/// `vm-exec --help`, with the exit status from the code.
fn vm_exec_long_about() -> String {
    format!(
        "Check a coreos-vm@ instance name, then run QEMU (ExecStart=).\n\n\
         Exits with status {VM_EXIT_NO_RESTART} when the instance is not a node number, or \
         when the guest powers off after the serial console showed its boot failed \
         (Ignition failed, an emergency shell, no bootable device), so systemd does not \
         restart it; the failing line is kept for `coreos-cluster status`. Any other \
         failure (the config, the files `prepare` writes) exits 1, which Restart=on-failure retries. Otherwise runs the command \
         with a serial console socket that also logs to the journal, turns SIGRTMIN+4 \
         (machinectl poweroff) into an ACPI powerdown, and exits as QEMU exits."
    )
}

impl VmExec {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        match vm::vm_exec(root, &self.instance, self.command) {
            Ok(()) => Ok(()),
            Err(VmExecError::BadInstance(err)) => {
                tracing::error!("{err:#}");
                std::process::exit(VM_EXIT_NO_RESTART);
            }
            Err(VmExecError::Other(err)) => Err(err),
        }
    }
}

/// Wait until a just-started QEMU answers on its QMP socket (ExecStartPost=).
///
/// QEMU can die right after it was started (a tap it may not open, a bad
/// argument); waiting for its QMP greeting makes the start job fail honestly.
#[derive(Debug, Args)]
pub struct VmStarted {
    /// The VM's QMP socket.
    qmp_socket: PathBuf,

    /// Give up after this many seconds.
    #[arg(long, default_value_t = QMP_GREETING_TIMEOUT.as_secs(), value_name = "SECONDS")]
    timeout: u64,

    /// The unit's main process, vm-exec (systemd sets $MAINPID); stop
    /// waiting as soon as it is gone, naming its QEMU child's PID.
    #[arg(long, env = "MAINPID", value_name = "PID")]
    main_pid: Option<u32>,
}

impl VmStarted {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        let timeout = Duration::from_secs(self.timeout);
        vm::vm_started(root, &self.qmp_socket, timeout, self.main_pid)
    }
}

/// Power a VM off through ACPI and wait for QEMU to exit (ExecStop=).
///
/// Sends the ACPI power button over QMP and waits up to the grace period for
/// QEMU to exit. A guest that ignores it is left to systemd, which sends
/// SIGTERM (then SIGKILL) when this returns.
#[derive(Debug, Args)]
pub struct VmStop {
    /// The VM's QMP socket.
    qmp_socket: PathBuf,

    /// Grace period for the guest to power off, in seconds.
    #[arg(
        long,
        env = "COREOS_VM_POWERDOWN_TIMEOUT_SEC",
        default_value_t = DEFAULT_POWERDOWN_TIMEOUT_SEC.into(),
        value_name = "SECONDS"
    )]
    timeout: u64,
}

impl VmStop {
    pub fn run(self) -> anyhow::Result<()> {
        vm::vm_stop(&self.qmp_socket, Duration::from_secs(self.timeout))
    }
}

/// Register the VM with systemd-machined (ExecStartPost=, privileged).
///
/// machined accepts registrations from root only (its D-Bus policy), so the
/// unit runs just this step as root, without the service's user; machined
/// itself checks the leader and finds the unit from the leader's cgroup.
#[derive(Debug, Args)]
pub struct VmRegister {
    /// The instance: the node number as two lowercase hex digits.
    instance: String,

    /// The machine's leader (systemd sets $MAINPID: vm-exec, which QEMU runs under).
    #[arg(long, env = "MAINPID", value_name = "PID")]
    leader: u32,
}

impl VmRegister {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        vm::vm_register(root, &self.instance, self.leader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vm_unit_does_not_restart_an_instance_vm_exec_refused() {
        let unit = include_str!("../../units/coreos-vm@.service");
        let setting = format!("RestartPreventExitStatus={VM_EXIT_NO_RESTART}");
        assert!(unit.lines().any(|line| line == setting), "{setting}");
    }
}
