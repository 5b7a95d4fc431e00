//! `vm-exec` runs QEMU as its child and stays the unit's main process (and
//! the machine's leader for systemd-machined), for two jobs QEMU cannot do
//! alone:
//! - The serial console is a socket (`coreos-cluster console`) and the
//!   journal at once: QEMU's socket chardev logs every byte into a pipe
//!   (`logfile=/dev/fdset/N`: the journal's stream is a socket QEMU cannot
//!   open by path) whose other end is copied to stdout, the journal.
//! - The serial log is watched on its way to the journal: at iPXE's
//!   "Press Ctrl-B" banner, which waits 2 s for a key on every network boot,
//!   a key is pressed over QMP so the boot goes on at once; and the guest
//!   kernel's first line marks the boot files loaded (`stagger-sec = "auto"`).
//! - `machinectl poweroff` sends SIGRTMIN+4 to the machine's leader. QEMU
//!   would die of it (the default action), and systemd would restart it as
//!   crashed; here it becomes the ACPI power button, over QMP.
//!
//! SIGTERM, SIGINT and SIGHUP are passed on to QEMU. When QEMU ends, this
//! process ends the same way: with its exit status, or by the same signal,
//! so systemd judges QEMU's end (clean stop, crash to restart) unchanged.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::host::qmp::Qmp;
use crate::model::timeouts::{IPXE_BANNER_WAIT, QMP_ANSWER_TIME};

/// The signal `machinectl poweroff` sends to a machine's leader.
fn poweroff_signal() -> i32 {
    nix::libc::SIGRTMIN() + 4
}

/// Where a supervised QEMU keeps its sockets.
pub struct VmSockets {
    pub qmp: PathBuf,
    pub serial: PathBuf,
}

/// What the serial log is watched for.
pub struct SerialWatch {
    /// Press a key at iPXE's banner (the VM boots from its NIC).
    pub skip_ipxe_banner: bool,
    /// Made when the guest kernel's first line appears.
    pub kernel_started_marker: PathBuf,
}

/// iPXE's banner before it boots; it waits 2 s for Ctrl-B, and any other key
/// ends the wait. SeaBIOS shows it on the serial port (`-machine graphics=off`).
const IPXE_BANNER: &[u8] = b"Press Ctrl-B for the iPXE command line";
/// The first line Linux prints (the console replays its log from the start).
const KERNEL_FIRST_LINE: &[u8] = b"Linux version ";
/// Bytes kept from one read to the next, so a pattern split across reads is found.
const CARRY: usize = 64;

/// QEMU's arguments for a serial console on `socket` that also logs every
/// byte to the file descriptor `log_fd`. One client at a time; output with no
/// client attached is not held back (it still reaches the log).
fn serial_args(socket: &Path, log_fd: i32) -> Vec<OsString> {
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
pub fn run(command: &[OsString], sockets: &VmSockets, watch: SerialWatch) -> anyhow::Result<()> {
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

    let qmp = sockets.qmp.clone();
    let relay = std::thread::spawn(move || relay_serial_log(log_reader, &watch, &qmp));
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

/// Copies the serial log to stdout (the journal) until QEMU exits, acting on
/// what `watch` asks for.
fn relay_serial_log(mut reader: impl Read, watch: &SerialWatch, qmp: &Path) {
    let mut stdout = std::io::stdout().lock();
    let mut buf = [0u8; 8192];
    let mut seen: Vec<u8> = Vec::with_capacity(buf.len() + CARRY);
    let mut kernel_seen = false;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let _ = stdout.write_all(&buf[..n]);
        seen.extend_from_slice(&buf[..n]);
        // Every boot shows the banner again (a guest reboot resets the VM).
        if watch.skip_ipxe_banner && contains(&seen, IPXE_BANNER) {
            seen.clear();
            let qmp = qmp.to_path_buf();
            std::thread::spawn(move || press_key(&qmp));
        }
        if !kernel_seen && contains(&seen, KERNEL_FIRST_LINE) {
            kernel_seen = true;
            if let Err(err) = std::fs::write(&watch.kernel_started_marker, b"") {
                tracing::warn!(
                    "cannot make {}: {err}",
                    watch.kernel_started_marker.display()
                );
            }
        }
        let keep = seen.len().saturating_sub(CARRY);
        seen.drain(..keep);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Presses Enter on the VM's keyboard; iPXE's banner takes it as "go on".
fn press_key(qmp_socket: &Path) {
    let deadline = Instant::now() + IPXE_BANNER_WAIT;
    let keys = serde_json::json!({ "keys": [{ "type": "qcode", "data": "ret" }] });
    let sent = Qmp::connect(qmp_socket, deadline)
        .and_then(|mut qmp| qmp.execute_with("send-key", keys, deadline));
    let wait = IPXE_BANNER_WAIT.as_secs();
    match sent {
        Ok(_) => {
            tracing::info!("iPXE's banner: key pressed, the boot goes on without its {wait} s wait")
        }
        Err(err) => tracing::warn!("iPXE's banner: no key pressed, it waits {wait} s: {err:#}"),
    }
}

fn acpi_powerdown(qmp_socket: &Path) {
    let deadline = Instant::now() + QMP_ANSWER_TIME;
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
