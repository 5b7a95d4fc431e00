//! The helpers `coreos-vm@.service` runs around QEMU: `vm-exec` (ExecStart=),
//! `vm-started` and `vm-register` (ExecStartPost=) and `vm-stop` (ExecStop=).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;

use crate::base::names;
use crate::base::paths::{self, Root};
use crate::host::qmp::Qmp;
use crate::host::{machined, supervise};
use crate::model::{BootMethod, Model};
use crate::render::boot;

/// How long a running QEMU may take to answer a QMP command.
const QMP_ANSWER_TIME: Duration = Duration::from_secs(5);

/// Exit status of `vm-exec` for a bad instance; the unit does not restart on it.
pub const EXIT_BAD_INSTANCE: i32 = 78;

/// Check a coreos-vm@ instance name, then run QEMU (ExecStart=).
///
/// Exits with status 78 when the instance is not a node number, so systemd
/// does not restart it. Otherwise runs the command with a serial console
/// socket that also logs to the journal, turns SIGRTMIN+4 (machinectl
/// poweroff) into an ACPI powerdown, and exits as QEMU exits.
#[derive(Debug, Args)]
pub struct VmExec {
    /// The instance: the node number as two lowercase hex digits.
    instance: String,

    /// QEMU's command line.
    #[arg(last = true, required = true)]
    command: Vec<std::ffi::OsString>,
}

impl VmExec {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        let checked = crate::ops::load::load_model(root)
            .map_err(anyhow::Error::from)
            .and_then(|(_, model)| {
                crate::base::names::parse_vm_instance(&self.instance, model.cluster.max_nodes)?;
                let boot_args = direct_boot_args(&model, root)?;
                Ok((model, boot_args))
            });
        let (model, boot_args) = match checked {
            Ok(checked) => checked,
            Err(err) => {
                tracing::error!("{err:#}");
                std::process::exit(EXIT_BAD_INSTANCE);
            }
        };
        let dir = root.join(paths::vm_runtime_dir(&self.instance));
        let sockets = supervise::VmSockets {
            qmp: dir.join(paths::QMP_SOCKET),
            serial: dir.join(paths::SERIAL_SOCKET),
        };
        let watch = supervise::SerialWatch {
            skip_ipxe_banner: model.boot.method.is_network_boot(),
            kernel_started_marker: dir.join(paths::KERNEL_STARTED_MARKER),
        };
        let mut command = self.command;
        command.extend(boot_args);
        supervise::run(&command, &sockets, watch)
    }
}

/// QEMU's `-kernel`, `-initrd` and `-append` for the direct boot method: the
/// files and the kernel line `prepare` put in the served tree. None otherwise.
fn direct_boot_args(model: &Model, root: &Root) -> anyhow::Result<Vec<OsString>> {
    if model.boot.method != BootMethod::Direct {
        return Ok(Vec::new());
    }
    let dir = boot::image_dir(model);
    let line_file = boot::boot_script_path(model);
    let line = std::fs::read_to_string(root.join(&line_file)).with_context(|| {
        format!(
            "reading the kernel line of boot.method = \"direct\", {}, which \
             `coreos-cluster prepare` writes (systemctl start coreos-cluster@N runs it)",
            line_file.display()
        )
    })?;
    Ok(vec![
        "-kernel".into(),
        dir.join(paths::KERNEL).into(),
        "-initrd".into(),
        dir.join(paths::INITRD).into(),
        "-append".into(),
        line.trim().into(),
    ])
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
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,

    /// QEMU's PID; stop waiting as soon as it is gone (systemd sets $MAINPID).
    #[arg(long, env = "MAINPID", value_name = "PID")]
    main_pid: Option<i32>,
}

impl VmStarted {
    pub fn run(self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(self.timeout);
        loop {
            if let Some(pid) = self.main_pid {
                if !process_exists(pid) {
                    bail!("QEMU (PID {pid}) exited while starting; its own message is above");
                }
            }
            match Qmp::connect(&self.qmp_socket, deadline) {
                Ok(_) => return Ok(()),
                Err(err) if Instant::now() >= deadline => {
                    return Err(err).with_context(|| {
                        format!("QEMU did not answer on QMP within {} s", self.timeout)
                    })
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
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
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    timeout: u64,
}

impl VmStop {
    pub fn run(self) -> anyhow::Result<()> {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(self.timeout);
        let answer_by = (started + QMP_ANSWER_TIME).min(deadline);
        let mut qmp = match Qmp::connect(&self.qmp_socket, answer_by) {
            Ok(qmp) => qmp,
            Err(err) => {
                // Nothing to power off gracefully; systemd ends whatever is left.
                tracing::warn!("no ACPI powerdown: {err:#}");
                return Ok(());
            }
        };
        qmp.execute("system_powerdown", answer_by)?;
        if qmp.wait_for_exit(deadline)? {
            tracing::info!(
                "guest powered off after {:.1} s",
                started.elapsed().as_secs_f64()
            );
        } else {
            tracing::warn!(
                "guest ignored ACPI powerdown for {} s; leaving QEMU to systemd's SIGTERM",
                self.timeout
            );
        }
        Ok(())
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
        let tap = names::tap_name_for(&self.instance);
        let path = root.join(format!("/sys/class/net/{tap}/ifindex"));
        let ifindex: i32 = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the index of {tap}"))?
            .trim()
            .parse()
            .with_context(|| format!("parsing {}", path.display()))?;
        machined::register(&names::machine_name(&self.instance), self.leader, ifindex)
    }
}

/// Whether a process exists (signal 0 checks without sending anything).
fn process_exists(pid: i32) -> bool {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    // EPERM: it exists but is not ours.
    matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM))
}
