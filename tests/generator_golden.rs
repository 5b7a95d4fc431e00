//! Golden tests for the generator, zram-generator style: each case under
//! tests/generator/ is a fake root (`root/`) plus the exact expected output
//! tree (`expected/`) and, where something is logged, `expected.stderr`.
//! The generator binary runs with COREOS_CLUSTER_ROOT pointing at the case.
//!
//! To change expected output on purpose: UPDATE_GOLDEN=1 cargo test --test generator_golden,
//! then review the diff.

mod golden;

use std::path::Path;
use std::process::Command;

use golden::{check, Failed, Trial};

const GENERATOR: &str = env!("CARGO_BIN_EXE_coreos-cluster-generator");

fn main() {
    let usage = Trial::test("generator_without_directories_prints_usage", || {
        let output = Command::new(GENERATOR).output()?;
        check(output.status.code() == Some(2), || "exit status is not 2")?;
        check(
            String::from_utf8_lossy(&output.stderr).contains("usage:"),
            || "no usage message",
        )
    });
    golden::run(
        "generator",
        golden::cases("tests/generator", "root", 20),
        generator_case,
        vec![usage],
    );
}

fn generator_case(case: &Path) -> Result<(), Failed> {
    let out = tempfile::tempdir()?;
    let normal = out.path().join("normal");
    std::fs::create_dir(&normal)?;
    let output = Command::new(GENERATOR)
        .arg(&normal)
        .arg(out.path().join("early"))
        .arg(out.path().join("late"))
        .env("COREOS_CLUSTER_ROOT", case.join("root"))
        .env_remove("SYSTEMD_SCOPE")
        .env_remove("JOURNAL_STREAM")
        .output()?;
    let stderr = String::from_utf8(output.stderr)?;
    // A bad config is logged, not fatal: boot must go on.
    check(output.status.success(), || {
        format!("generator exited non-zero:\n{stderr}")
    })?;
    golden::compare_tree(case, &normal)?;
    golden::compare_text(&case.join("expected.stderr"), &stderr)?;

    let wants = normal.join("multi-user.target.wants/coreos-cluster-config.service");
    let vm_dropin = normal.join("coreos-vm@.service.d/50-coreos-cluster.conf");
    let bad = case
        .file_name()
        .unwrap()
        .to_string_lossy()
        .contains("-bad-");
    if bad {
        // One line, naming a file (and a position where there is one).
        check(stderr.lines().count() == 1, || {
            format!("not one line: {stderr}")
        })?;
        check(stderr.contains("/etc/coreos-cluster/"), || {
            format!("names no config file: {stderr}")
        })?;
        check(wants.is_symlink(), || "no config check pulled in")?;
        check(!vm_dropin.exists(), || {
            "VM settings generated from a bad config"
        })
    } else {
        check(stderr.is_empty(), || {
            format!("logged for a good config: {stderr}")
        })?;
        check(!wants.exists(), || {
            "config check pulled in for a good config"
        })?;
        check(vm_dropin.is_file(), || "no VM settings generated")
    }
}
