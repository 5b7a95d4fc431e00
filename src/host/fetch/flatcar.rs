//! Flatcar PXE images: resolve the release, download its files and their
//! detached signatures from that release's own directory, verify while
//! downloading, and publish the release in the cache only when all verified.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::cache;
use super::download;
use super::signature::{DetachedSig, SignatureError, SigningKey};
use crate::base::paths::{Root, FLATCAR_PXE_INITRD, FLATCAR_PXE_KERNEL};
use crate::host::http::Client;
use crate::host::image_version::parse_version_txt;
use crate::model::FlatcarUpstream;

/// The same file as the PXE kernel; its `.sig` stands in when the PXE one is missing.
const IMAGE_KERNEL: &str = "flatcar_production_image.vmlinuz";
/// The cached signing key, shared by all channels (below the image dir).
const KEY_FILE: &str = "flatcar-signing-key.asc";
const SMALL_FILE_LIMIT: u64 = 1024 * 1024;

/// A verified release in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedImage {
    pub version: String,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// The cached release for the configured version (or `current`), without network.
pub fn cached(root: &Root, upstream: &FlatcarUpstream) -> Option<CachedImage> {
    let dir = root.join(&upstream.cache_dir);
    let version = match &upstream.version {
        Some(v) => v.clone(),
        None => cache::current(&dir)?,
    };
    let image = complete(&dir, &version)?;
    // The nodes boot what `current` names: a pinned release cached earlier
    // must be the current one again.
    if cache::current(&dir).as_deref() != Some(version.as_str()) {
        let _lock = cache::lock(&dir).ok()?;
        cache::switch_current(&dir, &version).ok()?;
    }
    Some(image)
}

fn complete(dir: &Path, version: &str) -> Option<CachedImage> {
    let version_dir = dir.join(version);
    let image = CachedImage {
        version: version.to_string(),
        kernel: version_dir.join(FLATCAR_PXE_KERNEL),
        initrd: version_dir.join(FLATCAR_PXE_INITRD),
    };
    (image.kernel.is_file() && image.initrd.is_file()).then_some(image)
}

/// Resolves the release to use (the pinned one, or the channel's current one)
/// and makes sure it is cached and `current` points at it.
pub fn update(
    root: &Root,
    http: &Client,
    upstream: &FlatcarUpstream,
) -> anyhow::Result<CachedImage> {
    let dir = root.join(&upstream.cache_dir);
    let version = match &upstream.version {
        Some(v) => v.clone(),
        None => resolve_current(http, &upstream.base_url)?,
    };
    let _lock = cache::lock(&dir)?;
    let image = match complete(&dir, &version) {
        Some(image) => image,
        None => fetch_release(root, http, upstream, &dir, &version)?,
    };
    cache::switch_current(&dir, &version)?;
    cache::prune(&dir, &version);
    Ok(image)
}

/// The directory of a channel's newest release on Flatcar's servers.
const UPSTREAM_CURRENT: &str = "current";

/// Reads `FLATCAR_VERSION` from the channel's `current/version.txt`. For
/// "lts" that is the newest LTS stream's, as Flatcar's own tools read it
/// (`lts.release.flatcar-linux.net/amd64-usr/current/`); an older stream is
/// chosen by pinning its release (`image.version`).
pub fn resolve_current(http: &Client, base_url: &str) -> anyhow::Result<String> {
    let url = format!("{base_url}/{UPSTREAM_CURRENT}/version.txt");
    let text = http.get_bytes(&url, SMALL_FILE_LIMIT)?;
    parse_version_txt(&String::from_utf8_lossy(&text)).with_context(|| format!("reading {url}"))
}

/// A file of the release and the signature that covers it.
struct Signed {
    name: &'static str,
    sig_url: String,
    sig: DetachedSig,
    /// The signature as published, to check a file kept by an earlier try.
    sig_bytes: Vec<u8>,
}

fn fetch_release(
    root: &Root,
    http: &Client,
    upstream: &FlatcarUpstream,
    dir: &Path,
    version: &str,
) -> anyhow::Result<CachedImage> {
    let release_url = format!("{}/{version}", upstream.base_url);
    // Signatures first: a missing or unknown one fails before the big downloads.
    let mut files = Vec::new();
    for name in [FLATCAR_PXE_KERNEL, FLATCAR_PXE_INITRD] {
        files.push(signature_for(http, &release_url, version, name)?);
    }
    let key_path = dir.parent().unwrap_or(dir).join(KEY_FILE);
    let key = signing_key(root, http, upstream, &key_path, &files)?;

    let staging = cache::staging_dir(dir, version);
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    for Signed {
        name,
        sig_url,
        sig,
        sig_bytes,
    } in files
    {
        let part = staging.join(format!("{name}.part"));
        let url = format!("{release_url}/{name}");
        let label = format!("{name} ({version})");
        // A file an earlier, failed try verified and kept: checked again
        // from disk (the key may have changed since), not fetched again.
        let kept = staging.join(name);
        if kept.is_file() {
            let again = DetachedSig::parse(name, &sig_bytes).map_err(anyhow::Error::from);
            let again = again.and_then(|sig| {
                download::checked_file(&kept, label.clone(), sig, |sig| {
                    sig.verify(&key).map_err(anyhow::Error::from)
                })
            });
            match again {
                Ok(()) => {
                    eprintln!("{label}: verified in an earlier try, reused");
                    continue;
                }
                Err(_) => download::discard(&kept),
            }
        }
        download::checked(http, &url, &part, label, sig, |sig| {
            sig.verify(&key)
                .with_context(|| format!("checking {url} against {sig_url}"))
        })?;
        download::keep(&part, &staging.join(name))?;
    }
    cache::publish(dir, &staging, version)?;
    complete(dir, version).context("the published release lacks its files")
}

/// Fetches the detached signature of `name`, falling back from the PXE kernel's
/// to the identical image kernel's.
fn signature_for(
    http: &Client,
    release_url: &str,
    version: &str,
    name: &'static str,
) -> anyhow::Result<Signed> {
    // A release without the file may still have its signature: ask for
    // both, before any download.
    if http.is_missing(&format!("{release_url}/{name}"))? {
        bail!(
            "Flatcar {version} has no PXE image ({name} is missing at {release_url}/); \
             pin a release that has one with image.version = \"...\" in cluster.toml"
        );
    }
    let mut candidates = vec![format!("{release_url}/{name}.sig")];
    if name == FLATCAR_PXE_KERNEL {
        candidates.push(format!("{release_url}/{IMAGE_KERNEL}.sig"));
    }
    for sig_url in candidates {
        if http.is_missing(&sig_url)? {
            continue;
        }
        let bytes = http.get_bytes(&sig_url, SMALL_FILE_LIMIT)?;
        let sig = DetachedSig::parse(name, &bytes)?;
        return Ok(Signed {
            name,
            sig_url,
            sig,
            sig_bytes: bytes,
        });
    }
    bail!("{release_url}/{name}: no detached signature (.sig) published; refusing an unsigned file")
}

/// The cached key if it knows every issuer, else the key fetched again (the
/// signing subkey rotates). Only a key with the pinned fingerprint is cached.
fn signing_key(
    root: &Root,
    http: &Client,
    upstream: &FlatcarUpstream,
    key_path: &Path,
    files: &[Signed],
) -> anyhow::Result<SigningKey> {
    let pin = &upstream.signing_key_fingerprint;
    if let Ok(bytes) = std::fs::read(key_path) {
        if let Ok(key) = SigningKey::parse(&bytes, pin) {
            if files.iter().all(|f| key.knows_issuer(&f.sig)) {
                return Ok(key);
            }
        }
    }
    let bytes = if upstream.signing_key.starts_with('/') {
        let path = root.join(&upstream.signing_key);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?
    } else {
        http.get_bytes(&upstream.signing_key, SMALL_FILE_LIMIT)?
    };
    let key = SigningKey::parse(&bytes, pin)
        .with_context(|| format!("checking the key from {}", upstream.signing_key))?;
    if let Some(f) = files.iter().find(|f| !key.knows_issuer(&f.sig)) {
        return Err(SignatureError::UnknownIssuer {
            file: f.name.to_string(),
            issuer: f.sig.issuer(),
        })
        .with_context(|| format!("even the key just fetched from {}", upstream.signing_key));
    }
    if let Some(parent) = key_path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let tmp = key_path.with_extension("asc.new");
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, key_path))
        .with_context(|| format!("writing {}", key_path.display()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the initrd's signature is published, not the initrd: the
    /// release is refused as one without a PXE image, before any download.
    #[test]
    fn a_release_missing_its_initrd_is_named_before_downloads() {
        use crate::host::http::loopback::{response, serve};
        let initrd_sig = format!("/4081.2.0/{FLATCAR_PXE_INITRD}.sig");
        let (base, requests) = serve(move |_, path| match path {
            p if p == initrd_sig => response("200 OK", "", "not read"),
            _ => response("404 Not Found", "", ""),
        });
        let release = format!("{base}/4081.2.0");
        let http = Client::for_downloads();
        let err = signature_for(&http, &release, "4081.2.0", FLATCAR_PXE_INITRD)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("Flatcar 4081.2.0 has no PXE image"), "{err}");
        let asked: Vec<String> = requests.try_iter().collect();
        assert_eq!(asked, [format!("GET /4081.2.0/{FLATCAR_PXE_INITRD} ")]);
    }

    #[test]
    fn every_channel_reads_its_current_version_txt() {
        use crate::host::http::loopback::{response, serve};
        let (base, requests) = serve(|_, path| match path {
            "/amd64-usr/current/version.txt" => response(
                "200 OK",
                "",
                "FLATCAR_BUILD=4081\nFLATCAR_VERSION=4081.3.4\n",
            ),
            _ => response("404 Not Found", "", ""),
        });
        let version = resolve_current(&Client::for_downloads(), &format!("{base}/amd64-usr"));
        assert_eq!(version.unwrap(), "4081.3.4");
        let asked: Vec<String> = requests.try_iter().collect();
        assert_eq!(asked, ["GET /amd64-usr/current/version.txt "]);
    }
}
