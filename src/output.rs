//! Writing rendered files below a directory.

use std::io;
use std::path::Path;

use crate::generator::{Contents, GeneratedFile};

/// Writes every file below `dir`, creating directories as needed.
pub fn write_all(dir: &Path, files: &[GeneratedFile]) -> io::Result<()> {
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
