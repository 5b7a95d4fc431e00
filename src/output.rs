//! Rendered files and writing them: fresh into a generator directory, or
//! synchronized into a live directory (atomically, only what changed).

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One rendered file, relative to the directory it is written into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub contents: Contents,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    Text(String),
    Symlink(PathBuf),
}

impl RenderedFile {
    pub fn text(path: impl Into<PathBuf>, text: String) -> Self {
        RenderedFile {
            path: path.into(),
            contents: Contents::Text(text),
        }
    }
}

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
pub fn write_if_changed(path: &Path, bytes: &[u8], mode: u32) -> io::Result<bool> {
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
    let mut changed = false;
    for file in files {
        if let Contents::Text(text) = &file.contents {
            changed |= write_if_changed(&dir.join(&file.path), text.as_bytes(), mode)?;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cc-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn write_if_changed_is_idempotent_and_keeps_the_inode_when_equal() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempdir("idem");
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
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sync_dir_removes_only_stale_owned_files() {
        let dir = tempdir("sync");
        std::fs::write(dir.join("50-coreos-cluster-old.netdev"), "x").unwrap();
        std::fs::write(dir.join("10-user.network"), "mine").unwrap();
        let files = [RenderedFile::text(
            "50-coreos-cluster-new.netdev",
            "y".into(),
        )];
        assert!(sync_dir(&dir, &files, "50-coreos-cluster-", 0o644).unwrap());
        assert!(!sync_dir(&dir, &files, "50-coreos-cluster-", 0o644).unwrap());
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["10-user.network", "50-coreos-cluster-new.netdev"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
