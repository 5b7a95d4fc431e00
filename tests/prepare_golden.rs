//! Golden tests for everything `prepare`, `setup-network` and `setup-http`
//! write: each case under tests/prepare/golden/ is a fake root, a `commands`
//! file (one coreos-cluster command a line; `{root}` is the fake root) and the
//! exact tree of new files (`expected/`). Each case runs twice: the second run
//! must change nothing (same bytes, same inodes: files are replaced only when
//! their contents change). Static discovery only; the cluster token, new for
//! every start, is compared as `coreos-cluster-<size>-TOKEN`, so a second run
//! may rewrite the files that hold it.
//!
//! To change expected output on purpose: UPDATE_GOLDEN=1 cargo test --test prepare_golden

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

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

fn run_commands(case: &Path, root: &Path) {
    let commands = std::fs::read_to_string(case.join("commands")).unwrap();
    for line in commands.lines().filter(|l| !l.trim().is_empty()) {
        let line = line.replace("{root}", &root.to_string_lossy());
        let output = Command::new(env!("CARGO_BIN_EXE_coreos-cluster"))
            .arg("--root")
            .arg(root)
            .args(line.split_whitespace())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: `{line}` failed:\n{}",
            case.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn prepare_output_matches_golden_trees_and_is_idempotent() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/prepare/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("commands").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "golden cases missing");
    let mut failures = Vec::new();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let work =
            std::env::temp_dir().join(format!("cc-prepare-golden-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let root = work.join("root");
        assert!(Command::new("cp")
            .arg("-a")
            .arg(case.join("root"))
            .arg(&root)
            .status()
            .unwrap()
            .success());
        let before = files_below(&root);

        run_commands(&case, &root);
        let first = files_below(&root);
        run_commands(&case, &root);
        let second = files_below(&root);
        let changed: Vec<_> = first
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
        if !changed.is_empty() || first.len() != second.len() {
            failures.push(format!("{name}: a second run rewrote {changed:?}"));
        }

        // The new files, with the fake root's path taken out of their text.
        let produced = work.join("produced");
        let prefix = root.to_string_lossy().to_string();
        for (rel, (bytes, _)) in first.iter().filter(|(k, _)| !before.contains_key(*k)) {
            let path = produced.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let text = String::from_utf8_lossy(&without_tokens(bytes)).replace(&prefix, "");
            std::fs::write(path, text).unwrap();
        }
        let expected = case.join("expected");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            let _ = std::fs::remove_dir_all(&expected);
            assert!(Command::new("cp")
                .arg("-a")
                .arg(&produced)
                .arg(&expected)
                .status()
                .unwrap()
                .success());
        } else {
            let diff = Command::new("diff")
                .arg("-ru")
                .arg(&expected)
                .arg(&produced)
                .output()
                .unwrap();
            if !diff.status.success() {
                failures.push(format!(
                    "{name}:\n{}",
                    String::from_utf8_lossy(&diff.stdout)
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&work);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
