//! The corpus of bad configs: each case under tests/bad-config/ is a
//! `cluster.toml` (a file or a symlink; absent when the case needs none),
//! an optional `extra/` tree copied onto the root (templates, drop-ins), an
//! optional `make` naming what cannot live in git (a FIFO, a huge file or value, a
//! mode, a file name that is not UTF-8), and the exact message in
//! `expected.stderr`. `coreos-cluster check` must fail with that one line,
//! and the generator must refuse the same config.
//!
//! To change messages on purpose: UPDATE_GOLDEN=1 cargo test --test bad_config.

mod golden;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use golden::{check, Failed};

const CLI: &str = env!("CARGO_BIN_EXE_coreos-cluster");
const GENERATOR: &str = env!("CARGO_BIN_EXE_coreos-cluster-generator");

fn main() {
    golden::run(
        "bad-config",
        golden::cases("tests/bad-config", "expected.stderr", 40),
        bad_config_case,
        Vec::new(),
    );
}

fn bad_config_case(case: &Path) -> Result<(), Failed> {
    let root = tempfile::tempdir()?;
    let etc = root.path().join("etc/coreos-cluster");
    let dropins = etc.join("cluster.toml.d");
    std::fs::create_dir_all(&dropins)?;
    let config = case.join("cluster.toml");
    if config.symlink_metadata().is_ok() {
        copy(&config, &etc)?;
    }
    if case.join("extra").is_dir() {
        copy(&case.join("extra/."), root.path())?;
    }
    if let Ok(make) = std::fs::read_to_string(case.join("make")) {
        match make.trim() {
            "fifo" => {
                let made = Command::new("mkfifo")
                    .arg(etc.join("cluster.toml"))
                    .status()?;
                check(made.success(), || "mkfifo failed")?
            }
            "too-large" => {
                let line = "# a comment line, repeated past the size cap\n";
                std::fs::write(
                    etc.join("cluster.toml"),
                    line.repeat((1 << 20) / line.len() + 1),
                )?
            }
            "long-version" => std::fs::write(
                etc.join("cluster.toml"),
                format!("[image]\nversion = \"{}\"\n", "1.".repeat((1 << 19) - 32)),
            )?,
            "mode-0600" => set_mode(&etc.join("cluster.toml"), 0o600)?,
            "template-0600" => set_mode(&etc.join("private.yaml"), 0o600)?,
            "dropin-not-utf8" => write_dropin(&dropins, b"10-\xff\xfe.toml")?,
            "dropin-newline" => write_dropin(&dropins, b"x\n[Service]\nUser=root\n#.toml")?,
            other => return Err(format!("unknown make {other:?}").into()),
        }
    }

    let output = Command::new(CLI)
        .arg("--root")
        .arg(root.path())
        .args(["check", "--quiet"])
        .env_remove("JOURNAL_STREAM")
        .output()?;
    let stderr = String::from_utf8(output.stderr)?;
    check(!output.status.success(), || "check accepted a bad config")?;
    check(stderr.lines().count() == 1, || {
        format!("not one line: {stderr}")
    })?;
    check(!stderr.chars().any(|c| c.is_control() && c != '\n'), || {
        format!("a control character in the message: {stderr:?}")
    })?;
    golden::compare_text(&case.join("expected.stderr"), &stderr)?;

    // The generator, reading the same files, writes no VM settings.
    let out = tempfile::tempdir()?;
    let status = Command::new(GENERATOR)
        .args([out.path(), out.path(), out.path()])
        .env("COREOS_CLUSTER_ROOT", root.path())
        .env_remove("JOURNAL_STREAM")
        .output()?
        .status;
    check(status.success(), || "the generator failed")?;
    check(!out.path().join("coreos-vm@.service.d").exists(), || {
        "the generator used the bad config"
    })
}

fn copy(from: &Path, to: &Path) -> Result<(), Failed> {
    let copied = Command::new("cp").arg("-a").arg(from).arg(to).status()?;
    check(copied.success(), || format!("copying {}", from.display()))
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn write_dropin(dir: &Path, name: &[u8]) -> std::io::Result<()> {
    std::fs::write(dir.join(OsStr::from_bytes(name)), "[vm]\ncores = 2\n")
}
