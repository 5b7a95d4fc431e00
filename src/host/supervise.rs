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
//!   kernel's first line marks the boot files loaded (`stagger-sec = "auto"`);
//!   a line that shows the boot failed (Ignition, an emergency shell, no
//!   bootable device) is kept for `status`, since such a guest sits in its
//!   shell (or powers off) with QEMU running fine.
//! - `machinectl poweroff` sends SIGRTMIN+4 to the machine's leader. QEMU
//!   would die of it (the default action), and systemd would restart it as
//!   crashed; here it becomes the ACPI power button, over QMP.
//!
//! SIGTERM, SIGINT and SIGHUP are passed on to QEMU. When QEMU ends, this
//! process ends the same way: with its exit status, or by the same signal,
//! so systemd judges QEMU's end (clean stop, crash to restart) unchanged;
//! except a guest that powered off after its boot failed, which ends with
//! the no-restart status: the unit fails, and booting it again cannot help.

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

use crate::base::names::VM_EXIT_NO_RESTART;
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
    /// Holds the line that showed this boot failed; removed when a boot begins.
    pub boot_failure_record: PathBuf,
}

/// iPXE's banner before it boots; it waits 2 s for Ctrl-B, and any other key
/// ends the wait. SeaBIOS shows it on the serial port (`-machine graphics=off`).
const IPXE_BANNER: &[u8] = b"Press Ctrl-B for the iPXE command line";
/// The first line Linux prints (the console replays its log from the start).
const KERNEL_FIRST_LINE: &str = "Linux version ";
/// Bytes kept from one read to the next, so a pattern split across reads is found.
const CARRY: usize = 64;
/// Serial lines that show a boot failed, and the guest will not come up by
/// itself: systemd's and dracut's (Flatcar, Fedora CoreOS and the test
/// guests), and SeaBIOS's when no boot device (the network boot) worked.
const BOOT_FAILURE_SIGNS: &[&str] = &[
    "Failed to start Ignition",
    "Failed to start ignition-",
    "Ignition failed",
    "Entering emergency mode",
    "You are in emergency mode",
    "Reached target Emergency Mode",
    "Reached target emergency.target",
    "No bootable device",
];
/// A longer line is cut here before it is kept (a log line, not a dump).
const MAX_RECORDED_LINE: usize = 300;

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
    let boot_failure = relay.join().ok().flatten();
    let _ = std::io::stdout().flush();
    if let (Some(line), Some(0)) = (&boot_failure, status.code()) {
        tracing::error!("the guest powered off after its boot failed: {line}");
        std::process::exit(VM_EXIT_NO_RESTART);
    }
    if let Some(signal) = status.signal() {
        // Die of the same signal, so systemd sees what QEMU got.
        signal_hook::low_level::emulate_default_handler(signal)
            .context("ending like QEMU ended")?;
    }
    std::process::exit(status.code().unwrap_or(1))
}

/// Copies the serial log to stdout (the journal) until QEMU exits, acting on
/// what `watch` asks for. Returns the line that showed the last boot failed.
fn relay_serial_log(mut reader: impl Read, watch: &SerialWatch, qmp: &Path) -> Option<String> {
    let mut stdout = std::io::stdout().lock();
    let mut buf = [0u8; 8192];
    let mut seen: Vec<u8> = Vec::with_capacity(buf.len() + CARRY);
    let mut lines = LineSplitter::default();
    let mut kernel_seen = false;
    let mut boot_failure = None;
    forget_boot_failure(&watch.boot_failure_record);
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
        for line in lines.push(&buf[..n]) {
            if line.contains(KERNEL_FIRST_LINE) {
                // A new boot (after a guest reboot): an earlier failure is past.
                if boot_failure.take().is_some() {
                    forget_boot_failure(&watch.boot_failure_record);
                }
                if !kernel_seen {
                    kernel_seen = true;
                    make_file(&watch.kernel_started_marker, b"");
                }
            } else if boot_failure.is_none() && shows_boot_failure(&line) {
                tracing::error!("boot failed: {line}");
                make_file(&watch.boot_failure_record, format!("{line}\n").as_bytes());
                boot_failure = Some(line);
            }
        }
        let keep = seen.len().saturating_sub(CARRY);
        seen.drain(..keep);
    }
    boot_failure
}

fn make_file(path: &Path, contents: &[u8]) {
    if let Err(err) = std::fs::write(path, contents) {
        tracing::warn!("cannot write {}: {err}", path.display());
    }
}

fn forget_boot_failure(record: &Path) {
    match std::fs::remove_file(record) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!("cannot remove {}: {err}", record.display())
        }
        _ => {}
    }
}

fn shows_boot_failure(line: &str) -> bool {
    BOOT_FAILURE_SIGNS.iter().any(|sign| line.contains(sign))
}

/// Cuts the serial stream into lines as a reader sees them: terminal escape
/// sequences (systemd's colours) and carriage returns removed, long lines
/// cut at MAX_RECORDED_LINE.
#[derive(Default)]
struct LineSplitter {
    line: Vec<u8>,
    in_escape: bool,
}

impl LineSplitter {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut done = Vec::new();
        for &b in bytes {
            if self.in_escape {
                // CSI sequences end with a byte in @..~ after their '['.
                self.in_escape = !(b.is_ascii_alphabetic() || b == b'~');
                continue;
            }
            match b {
                0x1b => self.in_escape = true,
                b'\n' => {
                    let text = String::from_utf8_lossy(&self.line).trim().to_string();
                    self.line.clear();
                    if !text.is_empty() {
                        done.push(text);
                    }
                }
                b'\r' => {}
                _ if self.line.len() < MAX_RECORDED_LINE => self.line.push(b),
                _ => {}
            }
        }
        done
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
    fn lines_lose_colours_and_carriage_returns_and_may_span_reads() {
        let mut lines = LineSplitter::default();
        assert!(lines.push(b"[\x1b[0;1;31mFAI").is_empty());
        assert_eq!(
            lines.push(b"LED\x1b[0m] Failed to start ignition-fetch.service\r\nnext"),
            ["[FAILED] Failed to start ignition-fetch.service"]
        );
        assert_eq!(lines.push(b"\r\n\r\n"), ["next"]);
        let long = lines.push(&[b'x'; 5000]);
        assert!(long.is_empty());
        assert_eq!(lines.push(b"\n")[0].len(), MAX_RECORDED_LINE);
    }

    #[test]
    fn boot_failures_are_told_from_ordinary_lines() {
        for failed in [
            "[FAILED] Failed to start ignition-fetch.service - Ignition (fetch).",
            "[FAILED] Failed to start Ignition (disks).",
            "[  OK  ] Reached target emergency.target - Emergency Mode.",
            "Entering emergency mode. Exit the shell to continue.",
            "No bootable device.  Retrying in 60 seconds.",
        ] {
            assert!(shows_boot_failure(failed), "{failed}");
        }
        for fine in [
            "[  OK  ] Finished ignition-fetch.service - Ignition (fetch).",
            "ignition[501]: GET error: Get \"http://10.77.0.1/config.ign\": dial tcp: connection refused",
            "Press Ctrl-B for the iPXE command line...",
            "etcd: failed to reach the peer 10.77.0.12 (retrying)",
        ] {
            assert!(!shows_boot_failure(fine), "{fine}");
        }
    }

    #[test]
    fn a_failed_boot_is_kept_until_the_next_boot_begins() {
        let dir = tempfile::tempdir().unwrap();
        let watch = SerialWatch {
            skip_ipxe_banner: false,
            kernel_started_marker: dir.path().join("kernel-started"),
            boot_failure_record: dir.path().join("boot-failure"),
        };
        let qmp = dir.path().join("qmp.sock");
        std::fs::write(&watch.boot_failure_record, "an old boot's failure\n").unwrap();
        let failed = &b"Linux version 6.1\nsomething\n\x1b[1mEntering emergency mode\x1b[0m.\n\
                        You are in emergency mode.\n"[..];
        let line = relay_serial_log(failed, &watch, &qmp);
        assert_eq!(line.as_deref(), Some("Entering emergency mode."));
        assert_eq!(
            std::fs::read_to_string(&watch.boot_failure_record).unwrap(),
            "Entering emergency mode.\n"
        );
        assert!(watch.kernel_started_marker.exists());

        let rebooted = &b"Entering emergency mode.\nrebooting\nLinux version 6.1\nfine\n"[..];
        assert_eq!(relay_serial_log(rebooted, &watch, &qmp), None);
        assert!(!watch.boot_failure_record.exists());
    }

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
