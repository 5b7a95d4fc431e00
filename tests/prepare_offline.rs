//! `prepare` with the release host unreachable and the Flatcar cache half
//! there: the message names the file the cache lacks, not only the network
//! error of the version lookup.

use std::process::Command;

const CLI: &str = env!("CARGO_BIN_EXE_coreos-cluster");

#[test]
fn a_cache_without_its_initrd_names_it() {
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc/coreos-cluster");
    std::fs::create_dir_all(&etc).unwrap();
    // Port 9 (discard) on loopback: nothing listens, the lookup fails at once.
    std::fs::write(
        etc.join("cluster.toml"),
        "[image]\nbase-url = \"http://127.0.0.1:9/stable\"\n",
    )
    .unwrap();
    let cache = root
        .path()
        .join("var/lib/coreos-cluster/images/flatcar-stable/current");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("flatcar_production_pxe.vmlinuz"), "kernel").unwrap();
    let output = Command::new(CLI)
        .args(["--root".as_ref(), root.path().as_os_str()])
        .args(["prepare", "1"])
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "the Flatcar image is not cached yet \
             (/var/lib/coreos-cluster/images/flatcar-stable/current/flatcar_production_pxe_image.cpio.gz missing)"
        ),
        "{stderr}"
    );
}
