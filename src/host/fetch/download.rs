//! HTTP downloads into `*.part` files: redirects followed by hand (bounded,
//! never from https down to http), resume with `Range`/`If-Range`, a free-space
//! check before the first byte, progress, and every byte handed to a [`Sink`]
//! as it arrives so checks run while the data streams.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use super::progress::Progress;

/// Redirect hops allowed per request; Flatcar's release hosts use one.
const MAX_REDIRECTS: usize = 5;
/// Bytes kept free beyond the file itself, so a download never fills the disk.
const SPACE_MARGIN: u64 = 16 * 1024 * 1024;
const BUFFER_SIZE: usize = 256 * 1024;

/// Receives a file's bytes in order while it downloads (on a thread of its
/// own, so hashing runs beside the download).
pub trait Sink: Send {
    fn update(&mut self, data: &[u8]);
    /// The server sent the file anew (it changed since the partial download).
    fn reset(&mut self);
}

/// A sink that ignores the data.
pub struct NoSink;

impl Sink for NoSink {
    fn update(&mut self, _: &[u8]) {}
    fn reset(&mut self) {}
}

/// One HTTP agent for a whole fetch, so connections are reused.
pub struct Http {
    agent: ureq::Agent,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Self {
        let config = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            // A stalled transfer fails instead of hanging a start forever.
            .timeout_recv_body(Some(Duration::from_secs(120)))
            .user_agent(concat!("coreos-cluster/", env!("CARGO_PKG_VERSION")))
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// Sends a GET, following redirects by hand. Returns the final response and URL.
    fn get(
        &self,
        url: &str,
        headers: &[(&str, String)],
    ) -> anyhow::Result<(ureq::http::Response<ureq::Body>, String)> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.agent.get(&url).header("Accept-Encoding", "identity");
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let response = request.call().with_context(|| format!("GET {url}"))?;
            let status = response.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok((response, url));
            }
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .with_context(|| format!("GET {url}: redirect {status} without a Location"))?;
            let next = resolve(&url, location)?;
            if url.starts_with("https://") && !next.starts_with("https://") {
                bail!("GET {url}: refusing redirect from https to {next}");
            }
            url = next;
        }
        bail!("GET {url}: more than {MAX_REDIRECTS} redirects")
    }

    /// Fetches a small file into memory (version.txt, a key, a signature).
    pub fn get_bytes(&self, url: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
        let (mut response, final_url) = self.get(url, &[])?;
        let status = response.status();
        if !status.is_success() {
            bail!("GET {final_url}: HTTP {status}");
        }
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(limit + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("reading {final_url}"))?;
        if body.len() as u64 > limit {
            bail!("GET {final_url}: larger than {limit} bytes");
        }
        Ok(body)
    }

    /// Whether a URL answers 404 (a file missing upstream, not a network failure).
    pub fn is_missing(&self, url: &str) -> anyhow::Result<bool> {
        let (response, _) = self.get(url, &[("Range", "bytes=0-0".to_string())])?;
        Ok(response.status().as_u16() == 404)
    }

    /// Downloads `url` into `part` (resuming what is there), feeding every byte
    /// of the whole file to `sink`. The caller renames `part` once it checked it.
    pub fn download(
        &self,
        url: &str,
        part: &Path,
        sink: &mut dyn Sink,
        progress: &mut Progress,
    ) -> anyhow::Result<()> {
        let validator_path = validator_path(part);
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let validator = std::fs::read_to_string(&validator_path).ok();
        let mut headers = Vec::new();
        if let (true, Some(validator)) = (have > 0, &validator) {
            headers.push(("Range", format!("bytes={have}-")));
            headers.push(("If-Range", validator.clone()));
        }
        let (mut response, final_url) = self.get(url, &headers)?;
        let status = response.status().as_u16();
        let resumed = match status {
            206 if !headers.is_empty() => true,
            200 => false,
            // The part file already holds the whole file.
            416 if !headers.is_empty() => {
                return hash_existing(part, sink, progress, have);
            }
            _ => bail!("GET {final_url}: HTTP {}", response.status()),
        };
        let remaining = content_length(&response);
        let total = remaining.map(|r| if resumed { r + have } else { r });
        if let Some(need) = remaining {
            check_free_space(part, need)?;
        }
        let mut file = if resumed {
            let mut file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(part)
                .with_context(|| format!("opening {}", part.display()))?;
            file.seek(SeekFrom::Start(0))?;
            progress.start(total);
            feed(&mut file, sink, progress)
                .with_context(|| format!("reading {}", part.display()))?;
            file
        } else {
            sink.reset();
            progress.start(total);
            match response_validator(&response) {
                Some(v) => std::fs::write(&validator_path, v),
                None => std::fs::remove_file(&validator_path).or_else(ignore_missing),
            }
            .with_context(|| format!("writing {}", validator_path.display()))?;
            File::create(part).with_context(|| format!("creating {}", part.display()))?
        };
        let mut reader = response.body_mut().as_reader();
        // The sink hashes on a second thread while this one reads and writes:
        // verifying then adds almost nothing to the download's time.
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
            let hasher = scope.spawn(move || {
                for chunk in received {
                    sink.update(&chunk);
                }
            });
            let copied = (|| -> anyhow::Result<()> {
                let mut buf = vec![0u8; BUFFER_SIZE];
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) => return Ok(()),
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            return Err(e).with_context(|| {
                                format!(
                                    "downloading {final_url} (kept {} to resume)",
                                    part.display()
                                )
                            })
                        }
                    };
                    file.write_all(&buf[..n])
                        .with_context(|| format!("writing {}", part.display()))?;
                    // Only fails when the hashing thread is gone, which join reports.
                    let _ = chunks.send(buf[..n].to_vec());
                    progress.advance(n as u64);
                }
            })();
            drop(chunks);
            hasher.join().expect("hashing does not panic");
            if copied.is_err() {
                progress.finish();
            }
            copied
        })?;
        file.sync_all()
            .with_context(|| format!("writing {}", part.display()))?;
        progress.finish();
        Ok(())
    }
}

/// Where the ETag or Last-Modified of a part file's download is kept.
pub fn validator_path(part: &Path) -> PathBuf {
    let mut name = part.as_os_str().to_owned();
    name.push(".validator");
    PathBuf::from(name)
}

/// Removes a part file and its validator (after a failed check).
pub fn discard(part: &Path) {
    let _ = std::fs::remove_file(part);
    let _ = std::fs::remove_file(validator_path(part));
}

fn ignore_missing(err: std::io::Error) -> std::io::Result<()> {
    if err.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(err)
    }
}

fn hash_existing(
    part: &Path,
    sink: &mut dyn Sink,
    progress: &mut Progress,
    have: u64,
) -> anyhow::Result<()> {
    let mut file = File::open(part).with_context(|| format!("opening {}", part.display()))?;
    progress.start(Some(have));
    feed(&mut file, sink, progress).with_context(|| format!("reading {}", part.display()))?;
    progress.finish();
    Ok(())
}

/// Hands what a part file already holds to the sink, leaving the file at its end.
fn feed(file: &mut File, sink: &mut dyn Sink, progress: &mut Progress) -> std::io::Result<()> {
    sink.reset();
    let mut buf = vec![0u8; BUFFER_SIZE];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        sink.update(&buf[..n]);
        progress.advance(n as u64);
    }
}

fn content_length(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    response
        .headers()
        .get("content-length")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A strong ETag, else Last-Modified: what `If-Range` may carry.
fn response_validator(response: &ureq::http::Response<ureq::Body>) -> Option<String> {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    match header("etag") {
        Some(etag) if !etag.starts_with("W/") => Some(etag),
        _ => header("last-modified"),
    }
}

/// Refuses to start when the file system holding `path` cannot take `need` bytes.
pub fn check_free_space(path: &Path, need: u64) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let stat = nix::sys::statvfs::statvfs(dir)
        .with_context(|| format!("checking free space in {}", dir.display()))?;
    let free = stat.blocks_available() as u64 * stat.fragment_size() as u64;
    if free < need + SPACE_MARGIN {
        bail!(
            "not enough space in {}: {} needed (plus {} spare), {} free",
            dir.display(),
            human_bytes(need),
            human_bytes(SPACE_MARGIN),
            human_bytes(free)
        );
    }
    Ok(())
}

pub fn human_bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / MIB)
    } else {
        format!("{n} bytes")
    }
}

/// Resolves a Location header against the URL that sent it.
fn resolve(base: &str, location: &str) -> anyhow::Result<String> {
    if location.contains("://") {
        return Ok(location.to_string());
    }
    let scheme_end = base.find("://").context("URL without a scheme")? + 3;
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    if let Some(rest) = location.strip_prefix("//") {
        return Ok(format!("{}{rest}", &base[..scheme_end]));
    }
    if location.starts_with('/') {
        return Ok(format!("{}{location}", &base[..host_end]));
    }
    let path_end = base
        .rfind('/')
        .filter(|&i| i >= host_end)
        .map_or(base.len(), |i| i + 1);
    let prefix = &base[..path_end];
    let sep = if prefix.ends_with('/') { "" } else { "/" };
    Ok(format!("{prefix}{sep}{location}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_redirects_resolve_against_the_sender() {
        let base = "https://stable.example/amd64-usr/1.2.3/a.txt";
        assert_eq!(resolve(base, "https://cdn/x").unwrap(), "https://cdn/x");
        assert_eq!(resolve(base, "/y/z").unwrap(), "https://stable.example/y/z");
        assert_eq!(resolve(base, "//cdn/p").unwrap(), "https://cdn/p");
        assert_eq!(
            resolve(base, "b.txt").unwrap(),
            "https://stable.example/amd64-usr/1.2.3/b.txt"
        );
    }
}
