//! The one place rendered files are written: fresh into a generator
//! directory, or synchronized into a live directory (atomically, only what
//! changed); and images installed where the servers find them.

use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;

use crate::host::access;
use crate::render::output::{Contents, RenderedFile};

/// Writes every file below a fresh directory, creating directories as needed.
pub fn write_all(dir: &Path, files: &[RenderedFile]) -> io::Result<()> {
    for file in files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match &file.contents {
            Contents::Text(text) => std::fs::write(&path, text)?,
            Contents::Symlink(target) => {
                match std::fs::remove_file(&path) {
                    Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                    _ => {}
                }
                std::os::unix::fs::symlink(target, &path)?;
            }
        }
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically (a temporary file in the same
/// directory, then rename), unless it already holds exactly that. Readers see
/// the old file or the new one, never a part. Returns whether it changed.
fn write_if_changed(path: &Path, bytes: &[u8], mode: u32) -> io::Result<bool> {
    if let Ok(existing) = std::fs::read(path) {
        if existing == bytes {
            let perms = std::fs::metadata(path)?.permissions();
            if perms.mode() & 0o7777 != mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            return Ok(false);
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

/// Writes the text files below `dir` with `write_if_changed`, each replaced
/// only when its bytes differ; absolute paths are taken below `dir` too, as
/// for a root. Returns whether anything changed; an error names the file.
pub fn write_changed(dir: &Path, files: &[RenderedFile], mode: u32) -> io::Result<bool> {
    let mut changed = false;
    for file in files {
        if let Contents::Text(text) = &file.contents {
            let path = dir.join(file.path.strip_prefix("/").unwrap_or(&file.path));
            changed |= write_if_changed(&path, text.as_bytes(), mode).map_err(|err| {
                io::Error::new(err.kind(), format!("writing {}: {err}", path.display()))
            })?;
        }
    }
    Ok(changed)
}

/// Brings the text files in `dir` in line with `files`: writes what changed
/// (mode `mode`), and removes files named `owned_prefix*` that are no longer
/// rendered. Returns whether anything changed.
pub fn sync_dir(
    dir: &Path,
    files: &[RenderedFile],
    owned_prefix: &str,
    mode: u32,
) -> io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    let mut changed = write_changed(dir, files, mode)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let stale = name.to_string_lossy().starts_with(owned_prefix)
            && !files.iter().any(|f| f.path.as_os_str() == name);
        if stale {
            std::fs::remove_file(entry.path())?;
            changed = true;
        }
    }
    Ok(changed)
}

/// Puts `source` (whose metadata is `meta`) at `dest` (hard link when
/// possible, else a copy no wider than the source), unless `dest` already has
/// the same size and modification time. The swap is atomic: a VM booting
/// meanwhile gets the old file or the new one; a failed copy (a full disk)
/// leaves the old one and names the path.
pub fn install_file(meta: &std::fs::Metadata, source: &Path, dest: &Path) -> anyhow::Result<bool> {
    install(meta, source, dest, None)
}

/// `install_file` that also feeds the source's bytes to `hasher`, reading
/// the source once: while it is copied, or on its own when `dest` is a hard
/// link or already in place.
pub fn install_file_hashed(
    meta: &std::fs::Metadata,
    source: &Path,
    dest: &Path,
    hasher: &mut dyn Write,
) -> anyhow::Result<bool> {
    install(meta, source, dest, Some(hasher))
}

fn install(
    meta: &std::fs::Metadata,
    source: &Path,
    dest: &Path,
    mut hasher: Option<&mut dyn Write>,
) -> anyhow::Result<bool> {
    if let Ok(existing) = std::fs::metadata(dest) {
        if existing.len() == meta.len() && existing.modified().ok() == meta.modified().ok() {
            hash_alone(source, hasher)?;
            return Ok(false);
        }
    }
    let dir = dest.parent().expect("destinations are inside a root");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        dest.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(source, &tmp).is_ok() {
        if let Err(err) = hash_alone(source, hasher) {
            let _ = std::fs::remove_file(&tmp);
            return Err(err);
        }
    } else {
        let mode = access::published_mode(meta);
        let copied = (|| {
            let file = match hasher.as_deref_mut() {
                // The kernel copies (and may share extents) when nothing hashes.
                None => {
                    std::fs::copy(source, &tmp)?;
                    std::fs::File::options().write(true).open(&tmp)?
                }
                Some(hasher) => {
                    use std::os::unix::fs::OpenOptionsExt;
                    let mut file = std::fs::File::options()
                        .write(true)
                        .create_new(true)
                        .mode(mode)
                        .open(&tmp)?;
                    let mut source = HashingReader {
                        inner: std::fs::File::open(source)?,
                        hasher,
                    };
                    io::copy(&mut source, &mut file)?;
                    file
                }
            };
            file.set_modified(meta.modified()?)?;
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            file.sync_all()
        })();
        if let Err(err) = copied {
            let _ = std::fs::remove_file(&tmp);
            return Err(err)
                .with_context(|| format!("copying {} to {}", source.display(), dest.display()));
        }
        access::copy_group(meta, &tmp)?;
    }
    std::fs::rename(&tmp, dest).with_context(|| format!("installing {}", dest.display()))?;
    Ok(true)
}

/// Reads `source` into `hasher` (when there is one) where no copy does.
fn hash_alone(source: &Path, hasher: Option<&mut dyn Write>) -> anyhow::Result<()> {
    if let Some(hasher) = hasher {
        std::fs::File::open(source)
            .and_then(|mut file| io::copy(&mut file, hasher))
            .with_context(|| format!("reading {}", source.display()))?;
    }
    Ok(())
}

/// Hands what it reads to `hasher` too, so a file is hashed as it is copied.
struct HashingReader<'a, R> {
    inner: R,
    hasher: &'a mut dyn Write,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.write_all(&buf[..read])?;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_if_changed_is_idempotent_and_keeps_the_inode_when_equal() {
        use std::os::unix::fs::MetadataExt;
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let path = dir.join("a.conf");
        assert!(write_if_changed(&path, b"one", 0o644).unwrap());
        let inode = std::fs::metadata(&path).unwrap().ino();
        assert!(!write_if_changed(&path, b"one", 0o644).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
        assert!(write_if_changed(&path, b"two", 0o600).unwrap());
        let meta = std::fs::metadata(&path).unwrap();
        assert_ne!(
            meta.ino(),
            inode,
            "replaced by rename, not rewritten in place"
        );
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left");
    }

    #[test]
    fn sync_dir_removes_only_stale_owned_files() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        std::fs::write(dir.join("50-coreos-cluster-old.netdev"), "x").unwrap();
        std::fs::write(dir.join("10-user.network"), "mine").unwrap();
        let files = [RenderedFile::text(
            "50-coreos-cluster-new.netdev",
            "y".into(),
        )];
        assert!(sync_dir(dir, &files, "50-coreos-cluster-", 0o644).unwrap());
        assert!(!sync_dir(dir, &files, "50-coreos-cluster-", 0o644).unwrap());
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["10-user.network", "50-coreos-cluster-new.netdev"]);
    }

    #[test]
    fn install_file_hashed_sees_every_byte_whether_it_copies_links_or_skips() {
        use sha2::{Digest, Sha512};
        use std::os::unix::fs::MetadataExt;
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let expected = Sha512::digest(&bytes);
        let served = tempfile::tempdir().unwrap();
        // A source on another file system cannot be hard linked: it is copied.
        let elsewhere =
            tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
        let beside = tempfile::tempdir().unwrap();
        for (round, dir) in [elsewhere.path(), beside.path()].into_iter().enumerate() {
            let source = dir.join("etcd");
            std::fs::write(&source, &bytes).unwrap();
            std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o755)).unwrap();
            let meta = std::fs::metadata(&source).unwrap();
            let dest = served.path().join(format!("{round}/etcd"));
            // Installed, then already in place.
            for changed in [true, false] {
                let mut hasher = Sha512::new();
                let installed = install_file_hashed(&meta, &source, &dest, &mut hasher).unwrap();
                assert_eq!(installed, changed);
                assert_eq!(hasher.finalize(), expected);
            }
            assert_eq!(std::fs::read(&dest).unwrap(), bytes);
            let installed = std::fs::metadata(&dest).unwrap();
            if (installed.dev(), installed.ino()) != (meta.dev(), meta.ino()) {
                assert_eq!(installed.permissions().mode() & 0o7777, 0o644);
            }
            let names: Vec<_> = std::fs::read_dir(dest.parent().unwrap()).unwrap().collect();
            assert_eq!(names.len(), 1, "no temporary file left");
        }
    }
}
