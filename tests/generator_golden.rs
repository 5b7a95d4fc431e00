//! Golden tests for the generator, zram-generator style: each case under
//! tests/generator/ is a fake root (`root/`) of a good config plus the exact
//! expected output tree (`expected/`); nothing may be logged but the warnings
//! in `expected.stderr`, where a case has one. The generator
//! binary runs with COREOS_CLUSTER_ROOT pointing at the case. Refused configs
//! are the bad-config corpus (tests/bad_config.rs), which runs the generator
//! on each of them too.
//!
//! To change expected output on purpose: UPDATE_GOLDEN=1 cargo test --test generator_golden,
//! then review the diff.

mod golden;

use std::path::Path;
use std::process::Command;

use golden::{check, Failed, Trial, GENERATOR};

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
        golden::cases("tests/generator", "root", 10),
        generator_case,
        vec![usage],
    );
}

fn generator_case(case: &Path) -> Result<(), Failed> {
    let run = golden::run_generator(&case.join("root"))?;
    golden::compare_tree(case, &run.normal)?;
    // A good config logs nothing, or only the warnings it expects.
    let expected = case.join("expected.stderr");
    let expected = std::fs::read_to_string(&expected).unwrap_or_default();
    if std::env::var_os("UPDATE_GOLDEN").is_some() && !run.stderr.is_empty() {
        std::fs::write(case.join("expected.stderr"), &run.stderr)?;
    } else {
        check(run.stderr == expected, || {
            format!("logged for a good config: {}", run.stderr)
        })?;
    }
    check(
        !run.normal.join(golden::CONFIG_CHECK_WANTS).exists(),
        || "config check pulled in for a good config",
    )?;
    check(run.normal.join(golden::VM_DROPIN).is_file(), || {
        "no VM settings generated"
    })
}
