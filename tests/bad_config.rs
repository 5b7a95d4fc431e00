//! The corpus of bad configs: each case under tests/bad-config/ is a
//! `cluster.toml` (a file or a symlink; absent when the case needs none),
//! an optional `extra/` tree copied onto the root (templates, drop-ins), an
//! optional `make` naming what cannot live in git (a FIFO, a huge file or value, a
//! mode, a file name that is not UTF-8), and the exact message in
//! `expected.stderr`. `coreos-cluster check` must fail with that one line,
//! and the generator must refuse the same config: log the same reason in one
//! line, link coreos-cluster-config.service and write nothing else.
//!
//! To change messages on purpose: UPDATE_GOLDEN=1 cargo test --test bad_config.

mod golden;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use golden::{check, Failed};

const CLI: &str = env!("CARGO_BIN_EXE_coreos-cluster");

fn main() {
    golden::run(
        "bad-config",
        golden::cases("tests/bad-config", "expected.stderr", 70),
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

    generator_refuses(root.path(), &stderr)
}

/// The generator, reading the same files, logs the same reason in one line
/// and links only the unit that shows it: no VM settings, no cluster.
fn generator_refuses(root: &Path, check_stderr: &str) -> Result<(), Failed> {
    let run = golden::run_generator(root)?;
    let reason = check_stderr
        .strip_prefix("coreos-cluster: ")
        .and_then(|line| line.strip_suffix('\n'))
        .ok_or("check's message has no prefix")?;
    let logged = format!(
        "coreos-cluster-generator: {reason}; no cluster units generated, \
         see 'systemctl status coreos-cluster-config.service'\n"
    );
    check(run.stderr == logged, || {
        format!("the generator logged\n{}instead of\n{logged}", run.stderr)
    })?;
    check(run.stderr.contains("/etc/coreos-cluster/"), || {
        format!("names no config file: {}", run.stderr)
    })?;
    let link = std::fs::read_link(run.normal.join(golden::CONFIG_CHECK_WANTS))?;
    check(
        link == Path::new("/usr/lib/systemd/system/coreos-cluster-config.service"),
        || format!("the config check links to {}", link.display()),
    )?;
    let written = files_below(&run.normal)?;
    check(written == [Path::new(golden::CONFIG_CHECK_WANTS)], || {
        format!("the generator used the bad config: {written:?}")
    })
}

/// Every file and link below `dir`, relative to it.
fn files_below(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(next) = dirs.pop() {
        for entry in std::fs::read_dir(next)? {
            let path = entry?.path();
            if path.is_symlink() || !path.is_dir() {
                files.push(path.strip_prefix(dir).unwrap().to_path_buf());
            } else {
                dirs.push(path);
            }
        }
    }
    Ok(files)
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
