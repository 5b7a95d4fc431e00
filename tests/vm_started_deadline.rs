//! `vm-started --timeout 3` returns after about 3 s, failing, against a QMP
//! socket that never greets (silent) or sends a byte now and then without
//! ever finishing a line (trickling): the deadline bounds the whole wait.

use std::io::Write;
use std::os::unix::net::UnixListener;
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
