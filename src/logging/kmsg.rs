//! Logging for the generator, which runs before journald: the kernel log
//! when systemd runs it, stderr when a person (or a test) does.

use std::io::Write;

/// The syslog priority of an error (syslog(3)): the generator logs nothing else.
const ERROR_PRIORITY: u8 = 3;

pub fn log_error(message: &str) {
    // systemd sets $SYSTEMD_SCOPE for the generators it runs (systemd.generator(7)).
    if std::env::var_os("SYSTEMD_SCOPE").is_some() {
        if let Ok(mut kmsg) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
            let line = format!("<{ERROR_PRIORITY}>coreos-cluster-generator: {message}\n");
            if kmsg.write_all(line.as_bytes()).is_ok() {
                return;
            }
        }
    }
    eprintln!("coreos-cluster-generator: {message}");
}
