//! The upstream etcd release for the guests: the static tarball, its SHA-256
//! checked while it downloads, `etcd` and `etcdctl` extracted into the cache.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use super::cache;
use super::download::{self, Sink};
use super::progress::Progress;
use crate::base::paths::Root;
use crate::host::http::Client;

const BINARIES: [&str; 2] = ["etcd", "etcdctl"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedEtcd {
    /// `None` for a binary the user provides.
    pub version: Option<String>,
    pub etcd: PathBuf,
    pub etcdctl: Option<PathBuf>,
}

pub fn tarball_name(version: &str) -> String {
    format!("etcd-v{version}-linux-amd64.tar.gz")
}

/// The cached release, without network.
pub fn cached(root: &Root, version: &str, cache_dir: &Path) -> Option<CachedEtcd> {
    let dir = root.join(cache_dir);
    let [etcd, etcdctl] = BINARIES.map(|b| dir.join(b));
    (etcd.is_file() && etcdctl.is_file()).then(|| CachedEtcd {
        version: Some(version.to_string()),
        etcd,
        etcdctl: Some(etcdctl),
    })
}

/// Downloads, checks and extracts the release unless it is cached.
pub fn ensure(
    root: &Root,
    http: &Client,
    version: &str,
    sha256: &str,
    base_url: &str,
    cache_dir: &Path,
) -> anyhow::Result<CachedEtcd> {
    let dir = root.join(cache_dir);
    let parent = dir.parent().context("etcd cache directory has no parent")?;
    let name = dir
        .file_name()
        .context("etcd cache directory has no name")?;
    let name = name.to_string_lossy();
    let _lock = cache::lock(parent)?;
    if let Some(found) = cached(root, version, cache_dir) {
        return Ok(found);
    }
    let staging = cache::staging_dir(parent, &name);
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let tarball = tarball_name(version);
    let url = format!("{base_url}/v{version}/{tarball}");
    let part = staging.join(format!("{tarball}.part"));
    let mut hash = Sha256Sink(Sha256::new());
    let mut progress = Progress::new(&tarball);
    download::into_part(http, &url, &part, &mut hash, &mut progress)?;
    let actual = crate::base::hex::hex(&hash.0.finalize());
    if actual != sha256 {
        download::discard(&part);
        bail!("{url}: SHA-256 is {actual}, expected {sha256}; the file was deleted");
    }
    extract(&part, version, &staging).with_context(|| format!("unpacking {tarball}"))?;
    download::discard(&part);
    cache::publish(parent, &staging, &name)?;
    cached(root, version, cache_dir).context("the unpacked release lacks etcd or etcdctl")
}

/// Writes `etcd` and `etcdctl` from the tarball's top directory into `dir`.
fn extract(tarball: &Path, version: &str, dir: &Path) -> anyhow::Result<()> {
    let file = File::open(tarball)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let top = format!("etcd-v{version}-linux-amd64");
    let mut found = 0;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        // Archives made with `tar -C dir .` name their members `./...`.
        let path = path.strip_prefix(".").unwrap_or(&path).to_path_buf();
        let Some(binary) = BINARIES.iter().find(|b| path == Path::new(&top).join(b)) else {
            continue;
        };
        let target = dir.join(binary);
        let mut out = File::create(&target)?;
        std::io::copy(&mut (&mut entry).take(u64::MAX), &mut out)?;
        out.set_permissions(std::fs::Permissions::from_mode(0o755))?;
        out.sync_all()?;
        found += 1;
    }
    if found != BINARIES.len() {
        bail!("{top}/etcd or {top}/etcdctl is missing in the archive");
    }
    Ok(())
}

struct Sha256Sink(Sha256);

impl Sink for Sha256Sink {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn reset(&mut self) {
        self.0 = Sha256::new();
    }
}
