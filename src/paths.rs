//! The root every path hangs off, so tests run against fake roots.

use std::path::{Path, PathBuf};

/// Environment variable that moves the generator's root (its argv is fixed by systemd).
pub const ROOT_ENV: &str = "COREOS_CLUSTER_ROOT";

/// A directory standing in for `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Root(dir.into())
    }

    /// The root named by `COREOS_CLUSTER_ROOT`, or `/`.
    pub fn from_env() -> Self {
        match std::env::var_os(ROOT_ENV) {
            Some(dir) if !dir.is_empty() => Root::new(dir),
            _ => Root::new("/"),
        }
    }

    /// Whether this is the running system's own root (not a test root).
    pub fn is_system_root(&self) -> bool {
        self.0 == Path::new("/")
    }

    /// Maps a path of the running system (absolute or not) below the root.
    pub fn join(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        self.0.join(path.strip_prefix("/").unwrap_or(path))
    }
}
