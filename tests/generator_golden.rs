//! Golden tests for the generator, zram-generator style: each case under
//! tests/generator/ is a fake root (`root/`) plus the exact expected output
//! tree (`expected/`) and, where something is logged, `expected.stderr`.
//! The generator binary runs with COREOS_CLUSTER_ROOT pointing at the case.
//!
//! To change expected output on purpose: UPDATE_GOLDEN=1 cargo test --test generator_golden,
//! then review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/generator");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("root").is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "golden cases missing: {cases:?}");
    cases
}

struct Run {
    out: tempdir::TempDir,
    stderr: String,
    success: bool,
}

fn run_generator(case: &Path) -> Run {
    let out = tempdir::TempDir::new();
    let normal = out.path().join("normal");
    std::fs::create_dir(&normal).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_coreos-cluster-generator"))
        .arg(&normal)
        .arg(out.path().join("early"))
        .arg(out.path().join("late"))
        .env("COREOS_CLUSTER_ROOT", case.join("root"))
        .env_remove("SYSTEMD_SCOPE")
        .output()
        .unwrap();
    Run {
        out,
        stderr: String::from_utf8(output.stderr).unwrap(),
        success: output.status.success(),
    }
}

fn update_golden() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

#[test]
fn generator_output_matches_golden_trees() {
    let mut failures = Vec::new();
    for case in cases() {
        let run = run_generator(&case);
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        // A bad config is logged, not fatal: boot must go on.
        if !run.success {
            failures.push(format!(
                "{name}: generator exited non-zero:\n{}",
                run.stderr
            ));
            continue;
        }
        let produced = run.out.path().join("normal");
        let expected = case.join("expected");
        let stderr_file = case.join("expected.stderr");
        if update_golden() {
            let _ = std::fs::remove_dir_all(&expected);
            let status = Command::new("cp")
                .arg("-a")
                .arg(&produced)
                .arg(&expected)
                .status();
            assert!(status.unwrap().success());
            if run.stderr.is_empty() {
                let _ = std::fs::remove_file(&stderr_file);
            } else {
                std::fs::write(&stderr_file, &run.stderr).unwrap();
            }
            continue;
        }
        let diff = Command::new("diff")
            .args(["-ru", "--no-dereference"])
            .arg(&expected)
            .arg(&produced)
            .output()
            .unwrap();
        if !diff.status.success() {
            failures.push(format!(
                "{name}: output differs from {}:\n{}",
                expected.display(),
                String::from_utf8_lossy(&diff.stdout)
            ));
        }
        let want_stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
        if run.stderr != want_stderr {
            failures.push(format!(
                "{name}: stderr differs\n--- expected\n{want_stderr}--- got\n{}",
                run.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_configs_generate_only_the_visible_failure() {
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let run = run_generator(&case);
        let normal = run.out.path().join("normal");
        let wants = normal.join("multi-user.target.wants/coreos-cluster-config.service");
        if name.contains("-bad-") {
            // One line, naming a file (and a position where there is one).
            assert_eq!(run.stderr.lines().count(), 1, "{name}: {}", run.stderr);
            assert!(
                run.stderr.contains("/etc/coreos-cluster/"),
                "{name}: {}",
                run.stderr
            );
            assert!(wants.is_symlink(), "{name}: no config check pulled in");
            assert!(
                !normal.join("coreos-vm@.service.d").exists(),
                "{name}: VM settings generated from a bad config"
            );
        } else {
            assert!(run.stderr.is_empty(), "{name}: {}", run.stderr);
            assert!(
                !wants.exists(),
                "{name}: config check pulled in for a good config"
            );
            assert!(normal
                .join("coreos-vm@.service.d/50-coreos-cluster.conf")
                .is_file());
        }
    }
}

#[test]
fn generator_without_directories_prints_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_coreos-cluster-generator"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage:"));
}

/// A tiny self-cleaning temporary directory (no extra crate for tests).
mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "coreos-cluster-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
