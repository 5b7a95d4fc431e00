//! The helpers coreos-vm@.service runs around QEMU, run as the unit runs
//! them. `vm-started --timeout 3` returns after about 3 s, failing, against a
//! QMP socket that never greets (silent) or sends a byte now and then without
//! ever finishing a line (trickling): the deadline bounds the whole wait.

use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CLI: &str = env!("CARGO_BIN_EXE_coreos-cluster");

fn vm_started_against(trickle: bool) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qmp.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut clients = Vec::new();
        for mut stream in listener.incoming().flatten() {
            if trickle {
                std::thread::spawn(move || {
                    while stream.write_all(b" ").is_ok() {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
            } else {
                clients.push(stream);
            }
        }
    });
    let started = Instant::now();
    let output = Command::new(CLI)
        .args(["vm-started", "--timeout", "3"])
        .arg(&socket)
        .env_remove("MAINPID")
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "succeeded: {stderr}");
    assert!(
        stderr.contains("QEMU did not answer on QMP within 3 s"),
        "{stderr}"
    );
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_millis(3600),
        "took {took:?}"
    );
}

#[test]
fn silent_socket() {
    vm_started_against(false);
}

#[test]
fn trickling_socket() {
    vm_started_against(true);
}

/// A root with `cluster.toml` holding `config` (none when empty).
fn root_with(config: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    if !config.is_empty() {
        let dir = root.path().join("etc/coreos-cluster");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cluster.toml"), config).unwrap();
    }
    root
}

/// `vm-exec INSTANCE -- /bin/true` below `root`: its exit code and stderr.
fn vm_exec(root: &Path, instance: &str) -> (Option<i32>, String) {
    let output = Command::new(CLI)
        .args(["--root".as_ref(), root.as_os_str()])
        .args(["vm-exec", instance, "--", "/bin/true"])
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

/// Exit status 78 (the unit's RestartPreventExitStatus=) means a bad instance
/// name and nothing else: other failures may pass, so systemd retries them.
#[test]
fn vm_exec_exits_78_only_for_a_bad_instance() {
    let defaults = root_with("");
    let (code, stderr) = vm_exec(defaults.path(), "zz");
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("\"zz\""), "{stderr}");

    let broken = root_with("[vm]\nmemory-mib = \"lots\"\n");
    let (code, stderr) = vm_exec(broken.path(), "01");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cluster.toml:2"), "{stderr}");

    // Direct boot before `prepare` wrote the kernel line.
    let unprepared = root_with("[boot]\nmethod = \"direct\"\n");
    let (code, stderr) = vm_exec(unprepared.path(), "01");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("kernel line"), "{stderr}");
}

/// When vm-exec ends before QEMU answers on QMP, vm-started names QEMU's own
/// PID (the child of $MAINPID), not vm-exec's.
#[test]
fn vm_started_names_the_pid_of_qemu_that_exited() {
    let dir = tempfile::tempdir().unwrap();
    let qemu = dir.path().join("qemu-system-x86_64");
    std::fs::copy("/bin/sleep", &qemu).unwrap();
    // The unit's main process stand-in: runs "QEMU" as its child, then ends.
    let mut main = Command::new("sh")
        .arg("-c")
        .arg(format!("{} 1 & echo $!; wait; exit 1", qemu.display()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(main.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let qemu_pid = line.trim().to_string();
    // Reaped as systemd reaps a unit's main process: no zombie left to find.
    let main_pid = main.id();
    let reaper = std::thread::spawn(move || main.wait());
    let output = Command::new(CLI)
        .args(["vm-started", "--timeout", "10", "--main-pid"])
        .arg(main_pid.to_string())
        .arg(dir.path().join("qmp.sock"))
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    reaper.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("QEMU (PID {qemu_pid}) exited while starting")),
        "{stderr}"
    );
}
