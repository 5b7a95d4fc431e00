//! Downloads into `*.part` files (over [`crate::host::http`]): resume with
//! `Range`/`If-Range`, a free-space check before the first byte, progress,
//! and every byte handed to a [`Sink`] as it arrives so checks run while the
//! data streams.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel};

use anyhow::{bail, Context};

use super::progress::Progress;
use crate::host::http::{Client, DOWNLOAD_BUFFER_SIZE};

/// Bytes kept free beyond the file itself, so a download never fills the disk.
const SPACE_MARGIN: u64 = 16 * 1024 * 1024;
/// Chunks waiting for the hashing and for the writing thread, each.
const QUEUE_DEPTH: usize = 4;

/// A read buffer and how much of it the last read filled.
struct Chunk {
    buf: Vec<u8>,
    len: usize,
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Receives a file's bytes in order while it downloads (on a thread of its
/// own, so hashing runs beside the download).
pub trait Sink: Send {
    fn update(&mut self, data: &[u8]);
    /// The server sent the file anew (it changed since the partial download).
    fn reset(&mut self);
}

/// Downloads `url` into `part`, then hands `sink` (which saw every byte) to
/// `check`; a part file that fails it is deleted, never resumed nor kept.
/// The caller [`keep`]s or [`discard`]s a part file that passed.
pub fn checked<S: Sink>(
    http: &Client,
    url: &str,
    part: &Path,
    label: String,
    mut sink: S,
    check: impl FnOnce(S) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    into_part(http, url, part, &mut sink, &mut Progress::new(label))?;
    check(sink).inspect_err(|_| discard(part))
}

/// Hands a file kept by an earlier try to `sink`, then to `check`, as if
/// it had just been downloaded (no network).
pub fn checked_file<S: Sink>(
    path: &Path,
    label: String,
    mut sink: S,
    check: impl FnOnce(S) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let have = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    hash_existing(path, &mut sink, &mut Progress::new(label), have)?;
    check(sink)
}

/// Downloads `url` into `part` (resuming what is there), feeding every byte
/// of the whole file to `sink`.
fn into_part(
    http: &Client,
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
    let answer = http.get(url, &headers)?;
    let (mut response, final_url) = (answer.response, answer.url);
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
    let file = if resumed {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(part)
            .with_context(|| format!("opening {}", part.display()))?;
        file.seek(SeekFrom::Start(0))?;
        progress.start(total);
        feed(&mut file, sink, progress).with_context(|| format!("reading {}", part.display()))?;
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
    // Three threads, so verifying adds almost nothing to the download's
    // time: this one reads, a second hashes, a third writes the part file
    // and hands each buffer back to be read into again (no copy, no
    // allocation per chunk). Hashing is the slowest stage (SHA-512 runs at
    // about 500 MiB/s), so its thread does nothing else.
    let part_file = &file;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (to_hash, hash_queue) = sync_channel::<Chunk>(QUEUE_DEPTH);
        let (to_write, write_queue) = sync_channel::<Chunk>(QUEUE_DEPTH);
        let (to_reuse, free) = channel::<Vec<u8>>();
        let hasher = scope.spawn(move || {
            for chunk in hash_queue {
                sink.update(chunk.bytes());
                if to_write.send(chunk).is_err() {
                    return;
                }
            }
        });
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for chunk in write_queue {
                (&*part_file).write_all(chunk.bytes())?;
                let _ = to_reuse.send(chunk.buf);
            }
            Ok(())
        });
        let copied = (|| -> anyhow::Result<()> {
            loop {
                let mut buf = free
                    .try_recv()
                    .unwrap_or_else(|_| vec![0u8; DOWNLOAD_BUFFER_SIZE]);
                let len = match reader.read(&mut buf) {
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
                progress.advance(len as u64);
                // Fails only when the writer stopped, which its join reports.
                if to_hash.send(Chunk { buf, len }).is_err() {
                    return Ok(());
                }
            }
        })();
        drop(to_hash);
        hasher.join().expect("hashing does not panic");
        let stored = writer
            .join()
            .expect("writing does not panic")
            .with_context(|| format!("writing {}", part.display()));
        let result = copied.and(stored);
        if result.is_err() {
            progress.finish();
        }
        result
    })?;
    file.sync_all()
        .with_context(|| format!("writing {}", part.display()))?;
    progress.finish();
    Ok(())
}

/// Gives a checked part file its final name.
pub fn keep(part: &Path, target: &Path) -> anyhow::Result<()> {
    std::fs::rename(part, target).with_context(|| format!("renaming {}", part.display()))?;
    let _ = std::fs::remove_file(validator_path(part));
    Ok(())
}

/// Where the ETag or Last-Modified of a part file's download is kept.
fn validator_path(part: &Path) -> PathBuf {
    let mut name = part.as_os_str().to_owned();
    name.push(".validator");
    PathBuf::from(name)
}

/// Removes a part file and its validator (after a failed check, or once used).
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
    let mut buf = vec![0u8; DOWNLOAD_BUFFER_SIZE];
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
fn check_free_space(path: &Path, need: u64) -> anyhow::Result<()> {
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

fn human_bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / MIB)
    } else {
        format!("{n} bytes")
    }
}
