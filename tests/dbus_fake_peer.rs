//! D-Bus error paths the real systemd cannot produce on demand, against a
//! fake systemd on a private bus (dbus-daemon in a temporary directory,
//! named as the system bus by DBUS_SYSTEM_BUS_ADDRESS): a start job that
//! never finishes ends at the bounded wait with StillRunning, and
//! AccessDenied reaches the user as a message that says what to do.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coreos_cluster::host::systemd::{JobOutcome, Systemd, SystemdBus, UnitRow};
use zbus::zvariant::OwnedObjectPath;

const CLI: &str = env!("CARGO_BIN_EXE_coreos-cluster");
/// The unit the fake refuses to start, as polkit would for an unprivileged caller.
const DENIED: &str = "coreos-vm@02.service";
/// A VM the fake lists as running; stopping it is refused too.
const RUNNING: &str = "coreos-vm@01.service";

struct FakeManager;

fn path(text: &str) -> OwnedObjectPath {
    OwnedObjectPath::try_from(text).unwrap()
}

fn denied() -> zbus::fdo::Error {
    zbus::fdo::Error::AccessDenied("Interactive authentication required.".into())
}

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl FakeManager {
    fn subscribe(&self) {}

    /// Accepts the job and never reports it done (no JobRemoved), or refuses.
    fn start_unit(&self, name: &str, _mode: &str) -> zbus::fdo::Result<OwnedObjectPath> {
        if name == DENIED {
            return Err(denied());
        }
        Ok(path("/org/freedesktop/systemd1/job/1"))
    }

    fn stop_unit(&self, _name: &str, _mode: &str) -> zbus::fdo::Result<OwnedObjectPath> {
        Err(denied())
    }

    fn list_units_by_patterns(&self, _states: Vec<String>, patterns: Vec<String>) -> Vec<UnitRow> {
        if !patterns.iter().any(|p| p.starts_with("coreos-vm@")) {
            return Vec::new();
        }
        let unit = path("/org/freedesktop/systemd1/unit/x");
        let row = (
            RUNNING.into(),
            String::new(),
            "loaded".into(),
            "active".into(),
            "running".into(),
            String::new(),
            unit.clone(),
            0,
            String::new(),
            unit,
        );
        vec![row]
    }
}

/// dbus-daemon, ended when the test ends (pass or fail).
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// dbus-daemon on a socket in `dir`, and the fake systemd on it.
fn private_bus(dir: &std::path::Path) -> (Daemon, zbus::blocking::Connection, String) {
    let address = format!("unix:path={}", dir.join("bus").display());
    let mut daemon = Daemon(
        Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address"])
            .arg(format!("--address={address}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon runs"),
    );
    // It prints its address once it listens.
    let mut line = String::new();
    BufReader::new(daemon.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let fake = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .name("org.freedesktop.systemd1")
        .unwrap()
        .serve_at("/org/freedesktop/systemd1", FakeManager)
        .unwrap()
        .build()
        .unwrap();
    (daemon, fake, address)
}

#[test]
fn fake_systemd_error_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, _fake, address) = private_bus(dir.path());
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &address);

    // A job that never finishes: the wait ends at its bound.
    let systemd = SystemdBus::connect().unwrap();
    let started = Instant::now();
    let outcome = systemd.start_unit(RUNNING, Duration::from_secs(2)).unwrap();
    let took = started.elapsed();
    assert_eq!(outcome, JobOutcome::StillRunning);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );

    // AccessDenied: one message naming the unit and what to do.
    let err = format!(
        "{:#}",
        systemd
            .start_unit(DENIED, Duration::from_secs(2))
            .unwrap_err()
    );
    assert_eq!(
        err,
        format!(
            "asking systemd to start {DENIED}: systemd refused: access denied (Interactive \
             authentication required.); run coreos-cluster as root, as its units do"
        )
    );

    // The same through the command: `down` is refused stopping the running VM.
    let root = tempfile::tempdir().unwrap();
    let output = Command::new(CLI)
        .arg("--root")
        .arg(root.path())
        .arg("down")
        .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!(
            "asking systemd to stop {RUNNING}: systemd refused: access denied"
        )),
        "{stderr}"
    );
}
