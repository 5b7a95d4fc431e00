//! systemd-networkd, the running daemon, through networkctl: asked to reload its files.

use anyhow::{bail, Context};

/// Asks a running systemd-networkd to read its files again; nothing when it
/// does not run (it reads them when it starts).
pub fn reload_if_running() -> anyhow::Result<()> {
    let running = std::process::Command::new("systemctl")
        .args(["is-active", "--quiet", "systemd-networkd.service"])
        .status()
        .is_ok_and(|s| s.success());
    if !running {
        return Ok(());
    }
    let status = std::process::Command::new("networkctl")
        .arg("reload")
        .status()
        .context("running networkctl reload")?;
    if !status.success() {
        bail!("networkctl reload failed ({status})");
    }
    Ok(())
}
