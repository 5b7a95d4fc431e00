//! Logging for the generator, which runs before journald: the kernel log
//! when systemd runs it, stderr when a person (or a test) does.

use std::io::Write;

/// Syslog priorities used here (syslog(3)).
#[derive(Debug, Clone, Copy)]
pub enum Priority {
    Error = 3,
    Info = 6,
}

pub fn log(priority: Priority, message: &str) {
    // systemd sets $SYSTEMD_SCOPE for the generators it runs (systemd.generator(7)).
    if std::env::var_os("SYSTEMD_SCOPE").is_some() {
        if let Ok(mut kmsg) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
            let line = format!("<{}>coreos-cluster-generator: {message}\n", priority as u8);
            if kmsg.write_all(line.as_bytes()).is_ok() {
                return;
            }
        }
    }
    eprintln!("coreos-cluster-generator: {message}");
}
