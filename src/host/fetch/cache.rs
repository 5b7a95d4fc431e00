//! Cache directory helpers: a lock per cache, staging directories that become
//! visible by one rename, a `current` link switched atomically, and pruning
//! to the last versions.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::fcntl::{Flock, FlockArg};

use crate::base::paths::CURRENT_LINK;
use crate::model::values::is_release_version;

/// Versions kept in a cache: the one in use and the one before.
const KEEP_VERSIONS: usize = 2;

/// Holds an exclusive lock on `<dir>/.lock` until dropped, so two runs never
/// write the same files.
pub struct CacheLock(#[allow(dead_code)] Flock<File>);

pub fn lock(dir: &Path) -> anyhow::Result<CacheLock> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(".lock");
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => return Ok(CacheLock(lock)),
        Err((file, _)) => file,
    };
    eprintln!("waiting for another run to finish with {}", dir.display());
    Flock::lock(file, FlockArg::LockExclusive)
        .map(CacheLock)
        .map_err(|(_, e)| e)
        .with_context(|| format!("locking {}", path.display()))
}

/// A hidden directory where a version is assembled before it becomes visible.
pub fn staging_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.partial"))
}

/// Makes the staged directory visible as `<dir>/<name>` with one rename.
pub fn publish(dir: &Path, staging: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let target = dir.join(name);
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .with_context(|| format!("removing incomplete {}", target.display()))?;
    }
    std::fs::rename(staging, &target)
        .with_context(|| format!("moving {} to {}", staging.display(), target.display()))?;
    sync_dir(dir)?;
    Ok(target)
}

/// Points `<dir>/current` at `name`, atomically (a new link renamed over the old).
pub fn switch_current(dir: &Path, name: &str) -> anyhow::Result<()> {
    let current = dir.join(CURRENT_LINK);
    if std::fs::read_link(&current).is_ok_and(|t| t == Path::new(name)) {
        return Ok(());
    }
    let tmp = dir.join(".current.new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    std::fs::rename(&tmp, &current).with_context(|| format!("switching {}", current.display()))?;
    sync_dir(dir)
}

/// The version `<dir>/current` points at.
pub fn current(dir: &Path) -> Option<String> {
    let target = std::fs::read_link(dir.join(CURRENT_LINK)).ok()?;
    Some(target.to_str()?.to_string())
}

/// Removes all but the version in use and the newest other one, and stale
/// staging directories of other versions.
pub fn prune(dir: &Path, in_use: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut others = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == in_use || name == format!(".{in_use}.partial") {
            continue;
        }
        if let Some(v) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".partial"))
        {
            if is_release_version(v) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        } else if is_release_version(&name) && entry.path().is_dir() {
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            others.push((modified, entry.path()));
        }
    }
    others.sort();
    let keep = KEEP_VERSIONS - 1;
    let remove = others.len().saturating_sub(keep);
    for (_, path) in others.into_iter().take(remove) {
        let _ = std::fs::remove_dir_all(path);
    }
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}
