//! `vm-exec` runs QEMU as its child and stays the unit's main process (and
//! the machine's leader for systemd-machined), for two jobs QEMU cannot do
//! alone:
//! - The serial console is a socket (`coreos-cluster console`) and the
//!   journal at once: QEMU's socket chardev logs every byte into a pipe
//!   (`logfile=/dev/fdset/N`: the journal's stream is a socket QEMU cannot
//!   open by path) whose other end is copied to stdout, the journal.
//! - `machinectl poweroff` sends SIGRTMIN+4 to the machine's leader. QEMU
//!   would die of it (the default action), and systemd would restart it as
//!   crashed; here it becomes the ACPI power button, over QMP.
//!
//! SIGTERM, SIGINT and SIGHUP are passed on to QEMU. When QEMU ends, this
//! process ends the same way: with its exit status, or by the same signal,
//! so systemd judges QEMU's end (clean stop, crash to restart) unchanged.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::qmp::Qmp;

/// The signal `machinectl poweroff` sends to a machine's leader.
pub fn poweroff_signal() -> i32 {
    nix::libc::SIGRTMIN() + 4
}

/// Where a supervised QEMU keeps its sockets.
pub struct VmSockets {
    pub qmp: PathBuf,
    pub serial: PathBuf,
}

/// QEMU's arguments for a serial console on `socket` that also logs every
/// byte to the file descriptor `log_fd`. One client at a time; output with no
/// client attached is not held back (it still reaches the log).
pub fn serial_args(socket: &Path, log_fd: i32) -> Vec<OsString> {
    let mut chardev = OsString::from("socket,id=serial0,path=");
    chardev.push(socket.as_os_str());
    chardev.push(",server=on,wait=off,logfile=/dev/fdset/1,logappend=on");
    [
        OsString::from("-add-fd"),
        format!("fd={log_fd},set=1").into(),
        "-chardev".into(),
        chardev,
        "-serial".into(),
        "chardev:serial0".into(),
    ]
    .into()
}

/// Runs `command` (QEMU) with the serial console added, relays its serial log
/// and signals, and ends as it ended. Returns only on an error.
pub fn run(command: &[OsString], sockets: &VmSockets) -> anyhow::Result<()> {
    let (log_reader, log_writer) = std::io::pipe().context("making the serial log pipe")?;
    // QEMU inherits the pipe's write end (std makes it close-on-exec).
    fcntl(&log_writer, FcntlArg::F_SETFD(FdFlag::empty())).context("passing the log pipe")?;
    // Registered before QEMU starts, so no signal finds us unprepared.
    let mut signals =
        Signals::new([poweroff_signal(), SIGTERM, SIGINT, SIGHUP]).context("handling signals")?;
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .args(serial_args(&sockets.serial, log_writer.as_raw_fd()))
        .spawn()
        .with_context(|| format!("starting {}", command[0].to_string_lossy()))?;
    drop(log_writer);
    let qemu = Pid::from_raw(child.id() as i32);

    let relay = std::thread::spawn(move || {
        let mut reader = log_reader;
        // Ends when QEMU (the only writer) exits.
        let _ = std::io::copy(&mut reader, &mut std::io::stdout().lock());
    });
    let qmp = sockets.qmp.clone();
    let handle = signals.handle();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == poweroff_signal() {
                acpi_powerdown(&qmp);
            } else if let Ok(signal) = Signal::try_from(signal) {
                let _ = kill(qemu, signal);
            }
        }
    });

    let status = child.wait().context("waiting for QEMU")?;
    handle.close();
    let _ = relay.join();
    let _ = std::io::stdout().flush();
    if let Some(signal) = status.signal() {
        // Die of the same signal, so systemd sees what QEMU got.
        signal_hook::low_level::emulate_default_handler(signal)
            .context("ending like QEMU ended")?;
    }
    std::process::exit(status.code().unwrap_or(1))
}

fn acpi_powerdown(qmp_socket: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let sent = Qmp::connect(qmp_socket, deadline)
        .and_then(|mut qmp| qmp.execute("system_powerdown", deadline));
    match sent {
        Ok(_) => tracing::info!("power-off request (SIGRTMIN+4): ACPI power button pressed"),
        Err(err) => tracing::warn!("power-off request (SIGRTMIN+4) not delivered: {err:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serial_console_logs_to_the_passed_descriptor() {
        let args: Vec<String> = serial_args(Path::new("/run/x/serial.sock"), 5)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "-add-fd",
                "fd=5,set=1",
                "-chardev",
                "socket,id=serial0,path=/run/x/serial.sock,server=on,wait=off,\
                 logfile=/dev/fdset/1,logappend=on",
                "-serial",
                "chardev:serial0"
            ]
        );
    }
}
