//! Logging for the generator, which runs before journald: the kernel log
//! when systemd runs it, stderr when a person (or a test) does.

use std::io::Write;

/// syslog(3) priorities: the generator logs errors and warnings only.
const ERROR_PRIORITY: u8 = 3;
const WARNING_PRIORITY: u8 = 4;

pub fn log_error(message: &str) {
    log(ERROR_PRIORITY, message);
}

pub fn log_warning(message: &str) {
    log(WARNING_PRIORITY, message);
}

fn log(priority: u8, message: &str) {
    // systemd sets $SYSTEMD_SCOPE for the generators it runs (systemd.generator(7)).
    if std::env::var_os("SYSTEMD_SCOPE").is_some() {
        if let Ok(mut kmsg) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
            let line = format!("<{priority}>coreos-cluster-generator: {message}\n");
            if kmsg.write_all(line.as_bytes()).is_ok() {
                return;
            }
        }
    }
    eprintln!("coreos-cluster-generator: {message}");
}
