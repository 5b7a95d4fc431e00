//! Golden tests for everything `prepare`, `setup-network`, `setup-http` and
//! `setup-tftp` write: each case under tests/prepare/golden/ is a fake root, a `commands`
//! file (one coreos-cluster command a line, run with --root) and the exact
//! tree of new files (`expected/`). Each case runs twice: the second run must
//! change nothing (same bytes, same inodes: files are replaced only when
//! their contents change). Static discovery only; the cluster token, new for
//! every start, is compared as `coreos-cluster-<size>-TOKEN`, so a second run
//! may rewrite the files that hold it.
//!
//! To change expected output on purpose: UPDATE_GOLDEN=1 cargo test --test prepare_golden

mod golden;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use golden::{check, Failed};

fn main() {
    golden::run(
        "prepare",
        golden::cases("tests/prepare/golden", "commands", 4),
        prepare_case,
        Vec::new(),
    );
}

/// `coreos-cluster-<size>-<16 hex>` (a new token for every start) made stable.
fn without_tokens(bytes: &[u8]) -> Vec<u8> {
    const PREFIX: &[u8] = b"coreos-cluster-";
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(PREFIX) {
            let digits = bytes[i + PREFIX.len()..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let hex_at = i + PREFIX.len() + digits + 1;
            let hex = bytes.get(hex_at..hex_at + 16).unwrap_or_default();
            if digits > 0
                && bytes[hex_at - 1] == b'-'
                && hex.len() == 16
                && hex.iter().all(|b| b.is_ascii_hexdigit())
            {
                out.extend_from_slice(&bytes[i..hex_at]);
                out.extend_from_slice(b"TOKEN");
                i = hex_at + 16;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Every file below `dir`: its bytes and inode.
fn files_below(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u64)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                files.insert(rel, (std::fs::read(&path).unwrap(), meta.ino()));
            }
        }
    }
    files
}

fn run_commands(case: &Path, root: &Path) -> Result<(), Failed> {
    let commands = std::fs::read_to_string(case.join("commands"))?;
    for line in commands.lines().filter(|l| !l.trim().is_empty()) {
        let output = Command::new(env!("CARGO_BIN_EXE_coreos-cluster"))
            .arg("--root")
            .arg(root)
            .args(line.split_whitespace())
            .output()?;
        check(output.status.success(), || {
            format!(
                "`{line}` failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    }
    Ok(())
}

fn prepare_case(case: &Path) -> Result<(), Failed> {
    let work = tempfile::tempdir()?;
    let root = work.path().join("root");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(case.join("root"))
        .arg(&root)
        .status()?;
    check(copied.success(), || "copying the fake root failed")?;
    let before = files_below(&root);

    run_commands(case, &root)?;
    let first = files_below(&root);
    run_commands(case, &root)?;
    let second = files_below(&root);
    let rewritten: Vec<_> = first
        .iter()
        .filter(|(k, (bytes, inode))| match second.get(*k) {
            Some((again, _)) if without_tokens(bytes) != *bytes => {
                without_tokens(again) != without_tokens(bytes)
            }
            Some((again, again_inode)) => again != bytes || again_inode != inode,
            None => true,
        })
        .map(|(k, _)| k)
        .collect();
    check(rewritten.is_empty(), || {
        format!("a second run rewrote {rewritten:?}")
    })?;

    let produced = work.path().join("produced");
    for (rel, (bytes, _)) in first.iter().filter(|(k, _)| !before.contains_key(*k)) {
        let path = produced.join(rel);
        std::fs::create_dir_all(path.parent().unwrap())?;
        std::fs::write(path, without_tokens(bytes))?;
    }
    golden::compare_tree(case, &produced)
}
