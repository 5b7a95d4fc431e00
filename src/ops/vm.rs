//! What `coreos-vm@.service` runs around QEMU: `vm-exec` (ExecStart=),
//! `vm-started` and `vm-register` (ExecStartPost=) and `vm-stop` (ExecStop=).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::base::names;
use crate::base::paths::{self, Root};
use crate::host::procs::{self, QemuProcesses};
use crate::host::qmp::Qmp;
use crate::host::{machined, supervise};
use crate::model::timeouts::QMP_ANSWER_TIME;
use crate::model::{BootMethod, Model, NodeIndex};
use crate::ops::load::load_model;
use crate::render::boot;

/// Why `vm-exec` did not run QEMU.
#[derive(Debug, thiserror::Error)]
pub enum VmExecError {
    /// The instance names no node: retrying cannot help (the unit's
    /// RestartPreventExitStatus=).
    #[error("{0:#}")]
    BadInstance(anyhow::Error),
    /// Anything else (the config, the files `prepare` writes, QEMU's start).
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

/// Checks the instance, then runs QEMU (`command`) under supervision with its
/// serial console, and ends as QEMU ended. Returns only on an error.
pub fn vm_exec(root: &Root, instance: &str, command: Vec<OsString>) -> Result<(), VmExecError> {
    let (_, model) = load_model(root).map_err(anyhow::Error::from)?;
    names::parse_vm_instance(instance, model.cluster.max_nodes)
        .map_err(VmExecError::BadInstance)?;
    let mut command = command;
    command.extend(direct_boot_args(&model, root)?);
    let dir = root.join(paths::vm_runtime_dir(instance));
    let sockets = supervise::VmSockets {
        qmp: dir.join(paths::QMP_SOCKET),
        serial: dir.join(paths::SERIAL_SOCKET),
    };
    let watch = supervise::SerialWatch {
        skip_ipxe_banner: model.boot.method.is_network_boot(),
        kernel_started_marker: dir.join(paths::KERNEL_STARTED_MARKER),
        boot_failure_record: boot_failure_record(root, instance),
    };
    Ok(supervise::run(&command, &sockets, watch)?)
}

/// Where the VM of `instance` keeps the line that showed its boot failed.
pub fn boot_failure_record(root: &Root, instance: &str) -> PathBuf {
    root.join(paths::vm_state_dir(instance))
        .join(paths::BOOT_FAILURE_RECORD)
}

/// The serial line that showed the node's last boot failed, if it did
/// (`vm-exec` keeps it until the next boot begins).
pub fn boot_failure(root: &Root, node: NodeIndex) -> Option<String> {
    read_boot_failure(&boot_failure_record(root, &names::vm_instance(node)))
}

/// The line a boot-failure record holds, if it holds one.
pub fn read_boot_failure(record: &Path) -> Option<String> {
    let line = std::fs::read_to_string(record).ok()?;
    Some(line.trim().to_string()).filter(|l| !l.is_empty())
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

/// Waits until a just-started QEMU answers on its QMP socket, at most
/// `timeout`; stops waiting as soon as the unit's main process (`main_pid`,
/// vm-exec, QEMU's parent) is gone, naming QEMU's own PID.
pub fn vm_started(
    root: &Root,
    qmp_socket: &Path,
    timeout: Duration,
    main_pid: Option<u32>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut qemu_pid = None;
    loop {
        if let Some(main_pid) = main_pid {
            if qemu_pid.is_none() {
                qemu_pid = QemuProcesses::scan(root)
                    .children_of(main_pid)
                    .first()
                    .copied();
            }
            if !procs::exists(main_pid) {
                match qemu_pid {
                    Some(qemu) => {
                        bail!("QEMU (PID {qemu}) exited while starting; its own message is above")
                    }
                    None => bail!(
                        "vm-exec (PID {main_pid}) exited before QEMU started; its message is above"
                    ),
                }
            }
        }
        match Qmp::connect(qmp_socket, deadline) {
            Ok(_) => return Ok(()),
            Err(err) if Instant::now() >= deadline => {
                return Err(err).with_context(|| {
                    format!("QEMU did not answer on QMP within {} s", timeout.as_secs())
                })
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Sends the ACPI power button over QMP and waits up to `grace` for QEMU to
/// exit. A guest that ignores it is left to systemd, which sends SIGTERM
/// (then SIGKILL) when this returns.
pub fn vm_stop(qmp_socket: &Path, grace: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let deadline = started + grace;
    let answer_by = (started + QMP_ANSWER_TIME).min(deadline);
    let mut qmp = match Qmp::connect(qmp_socket, answer_by) {
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
            grace.as_secs()
        );
    }
    Ok(())
}

/// Registers the VM of `instance` with systemd-machined, `leader` its
/// leader (vm-exec) and its tap the machine's network interface.
pub fn vm_register(root: &Root, instance: &str, leader: u32) -> anyhow::Result<()> {
    let tap = names::tap_name_for(instance);
    let path = root.join(format!("/sys/class/net/{tap}/ifindex"));
    let ifindex: i32 = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the index of {tap}"))?
        .trim()
        .parse()
        .with_context(|| format!("parsing {}", path.display()))?;
    machined::register(&names::machine_name(instance), leader, ifindex)
}
