//! The golden-test harness shared by the generator, bad-config and prepare tests: one
//! test per case directory (a failure names its case), expected trees
//! compared with `diff -ru`, and `UPDATE_GOLDEN=1` to rewrite them on purpose.
// Each test target uses its own part of the harness.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub use libtest_mimic::{Failed, Trial};

pub const GENERATOR: &str = env!("CARGO_BIN_EXE_coreos-cluster-generator");

/// What the generator links when the config is bad: the unit that shows why.
pub const CONFIG_CHECK_WANTS: &str = "multi-user.target.wants/coreos-cluster-config.service";
/// What the generator writes only for a good config.
pub const VM_DROPIN: &str = "coreos-vm@.service.d/50-coreos-cluster.conf";

/// What the generator wrote and logged for a root.
pub struct GeneratorRun {
    /// Holds the three output directories.
    pub out: tempfile::TempDir,
    /// The normal directory, the one the generator writes into.
    pub normal: PathBuf,
    pub stderr: String,
}

/// Runs the generator as systemd does, on the config below `root`; it must
/// succeed whatever the config: a bad config is logged, and boot goes on.
pub fn run_generator(root: &Path) -> Result<GeneratorRun, Failed> {
    let out = tempfile::tempdir()?;
    let normal = out.path().join("normal");
    std::fs::create_dir(&normal)?;
    let output = Command::new(GENERATOR)
        .arg(&normal)
        .arg(out.path().join("early"))
        .arg(out.path().join("late"))
        .env(coreos_cluster::base::paths::ROOT_ENV, root)
        .env_remove("SYSTEMD_SCOPE")
        .env_remove("JOURNAL_STREAM")
        .output()?;
    let stderr = String::from_utf8(output.stderr)?;
    check(output.status.success(), || {
        format!("generator exited non-zero:\n{stderr}")
    })?;
    Ok(GeneratorRun {
        out,
        normal,
        stderr,
    })
}

/// The case directories below `dir` (relative to the crate) that hold
/// `marker`, sorted; at least `min` of them, so a lost case fails loudly.
pub fn cases(dir: &str, marker: &str, min: usize) -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join(marker).exists())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= min,
        "golden cases missing in {}: {cases:?}",
        dir.display()
    );
    cases
}

/// One test per case, named `prefix::case`, plus `others`, run by libtest-mimic.
pub fn run(
    prefix: &str,
    cases: Vec<(String, PathBuf)>,
    test: fn(&Path) -> Result<(), Failed>,
    others: Vec<Trial>,
) -> ! {
    let trials = cases
        .into_iter()
        .map(|(name, case)| Trial::test(format!("{prefix}::{name}"), move || test(&case)))
        .chain(others)
        .collect();
    libtest_mimic::run(&libtest_mimic::Arguments::from_args(), trials).exit()
}

/// Whether this run rewrites the expected trees instead of comparing.
pub fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

/// Compares `produced` with the case's `expected/` tree (links compared as
/// links), or replaces the tree when updating.
pub fn compare_tree(case: &Path, produced: &Path) -> Result<(), Failed> {
    let expected = case.join("expected");
    if updating() {
        let _ = std::fs::remove_dir_all(&expected);
        let copied = Command::new("cp")
            .arg("-a")
            .arg(produced)
            .arg(&expected)
            .status()?;
        return check(copied.success(), || "copying the new expected tree failed");
    }
    let diff = Command::new("diff")
        .args(["-ru", "--no-dereference"])
        .arg(&expected)
        .arg(produced)
        .output()?;
    check(diff.status.success(), || {
        format!(
            "output differs from {}:\n{}",
            expected.display(),
            String::from_utf8_lossy(&diff.stdout)
        )
    })
}

/// Compares text with a case's golden file (absent means empty), or rewrites it.
pub fn compare_text(path: &Path, got: &str) -> Result<(), Failed> {
    if updating() {
        if got.is_empty() {
            let _ = std::fs::remove_file(path);
        } else {
            std::fs::write(path, got)?;
        }
        return Ok(());
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    check(want == got, || {
        format!(
            "{} differs\n--- expected\n{want}--- got\n{got}",
            path.display()
        )
    })
}

/// Ok, or a failure with the message.
pub fn check<M: std::fmt::Display>(ok: bool, message: impl FnOnce() -> M) -> Result<(), Failed> {
    if ok {
        Ok(())
    } else {
        Err(message().to_string().into())
    }
}
