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
use crate::base::names::ETCD_BINARIES;
use crate::base::paths::Root;
use crate::host::http::Client;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedEtcd {
    /// `None` for a binary the user provides.
    pub version: Option<String>,
    pub etcd: PathBuf,
    pub etcdctl: Option<PathBuf>,
}

fn tarball_name(version: &str) -> String {
    format!("etcd-v{version}-linux-amd64.tar.gz")
}

/// The cached release, without network.
pub fn cached(root: &Root, version: &str, cache_dir: &Path) -> Option<CachedEtcd> {
    let dir = root.join(cache_dir);
    let [etcd, etcdctl] = ETCD_BINARIES.map(|b| dir.join(b));
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
    let hash = Sha256Sink(Sha256::new());
    download::checked(http, &url, &part, tarball.clone(), hash, |hash| {
        let actual = crate::base::hex::hex(&hash.0.finalize());
        if actual != sha256 {
            bail!("{url}: SHA-256 is {actual}, expected {sha256}; the file was deleted");
        }
        Ok(())
    })?;
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
        let Some(binary) = ETCD_BINARIES
            .iter()
            .find(|b| path == Path::new(&top).join(b))
        else {
            continue;
        };
        let target = dir.join(binary);
        let mut out = File::create(&target)?;
        std::io::copy(&mut (&mut entry).take(u64::MAX), &mut out)?;
        out.set_permissions(std::fs::Permissions::from_mode(0o755))?;
        out.sync_all()?;
        found += 1;
    }
    if found != ETCD_BINARIES.len() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::http::loopback::{response, serve};

    /// A release tarball as etcd publishes it: `etcd-v<V>-linux-amd64/{etcd,etcdctl}`.
    fn release_tarball(version: &str) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut archive = tar::Builder::new(gz);
        for binary in ETCD_BINARIES {
            let text = format!("#!/bin/sh\necho {binary}\n");
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o755);
            let path = format!("etcd-v{version}-linux-amd64/{binary}");
            archive
                .append_data(&mut header, path, text.as_bytes())
                .unwrap();
        }
        archive.into_inner().unwrap().finish().unwrap()
    }

    /// Runs `ensure` for 9.9.9 against a server holding its tarball.
    fn ensure_with(
        sha256: impl FnOnce(&str) -> String,
    ) -> (tempfile::TempDir, anyhow::Result<CachedEtcd>) {
        let tarball = release_tarball("9.9.9");
        let actual = crate::base::hex::hex(&Sha256::digest(&tarball));
        let (base, _) = serve(move |_, path| match path {
            "/v9.9.9/etcd-v9.9.9-linux-amd64.tar.gz" => response("200 OK", "", &tarball),
            _ => response("404 Not Found", "", ""),
        });
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let cache_dir = Path::new("images/etcd-v9.9.9");
        let http = Client::for_downloads();
        let result = ensure(&root, &http, "9.9.9", &sha256(&actual), &base, cache_dir);
        (dir, result)
    }

    #[test]
    fn a_checked_release_is_unpacked_into_the_cache() {
        let (dir, result) = ensure_with(str::to_string);
        let found = result.unwrap();
        let cache = dir.path().join("images/etcd-v9.9.9");
        assert_eq!(found.etcd, cache.join("etcd"));
        assert_eq!(
            std::fs::read_to_string(&found.etcd).unwrap(),
            "#!/bin/sh\necho etcd\n"
        );
        assert!(cache.join("etcdctl").is_file());
        // Only the binaries remain: the tarball and its validator are gone.
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
    }

    #[test]
    fn a_tarball_with_another_checksum_is_deleted_and_nothing_cached() {
        let (dir, result) = ensure_with(|_| "0".repeat(64));
        let err = format!("{:#}", result.unwrap_err());
        assert!(err.contains("SHA-256 is"), "{err}");
        let images = dir.path().join("images");
        assert!(!images.join("etcd-v9.9.9").exists());
        let staged = std::fs::read_dir(images.join(".etcd-v9.9.9.partial")).unwrap();
        assert_eq!(
            staged.count(),
            0,
            "the part file and its validator are deleted"
        );
    }
}
