//! Reading `cluster.toml` and its drop-ins into one raw, unvalidated config.
//! This folder knows files and TOML, not the model.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::base::paths::{Root, CONFIG_FILE, DROPIN_DIR};
use crate::base::text::{check_text, quoted, TextKind};

mod keys;
mod parse;
mod raw;
mod source;

pub use keys::keys;
pub use parse::parse;
pub use raw::*;
pub use source::{ConfigError, Source, Sources};

/// Config files are small; a larger one is a mistake (or `/dev/zero`).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads the main file (if any) and the drop-ins below `root`, and merges them.
/// A missing main file is not an error: the built-in defaults apply.
pub fn load(root: &Root) -> Result<(Sources, RawConfig), ConfigError> {
    let mut sources = Sources::default();
    for path in config_paths(root)? {
        sources.files.push(read_source(root, &path)?);
    }
    let mut merged = RawConfig::default();
    for file in 0..sources.files.len() {
        merged.merge(parse(&sources, file)?);
    }
    Ok((sources, merged))
}

/// The config files that exist, in the order they apply (paths on the running system).
fn config_paths(root: &Root) -> Result<Vec<PathBuf>, ConfigError> {
    let mut paths = Vec::new();
    let main = PathBuf::from(CONFIG_FILE);
    match std::fs::symlink_metadata(root.join(&main)) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io_error(&main, &err)),
        Ok(_) => paths.push(main),
    }
    let dropin_dir = PathBuf::from(DROPIN_DIR);
    let entries = match std::fs::read_dir(root.join(&dropin_dir)) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(paths),
        Err(err) => return Err(io_error(&dropin_dir, &err)),
    };
    let mut dropins = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| io_error(&dropin_dir, &err))?;
        let raw_name = entry.file_name();
        // Like systemd's drop-ins: only `*.toml`, hidden files ignored.
        let lossy = raw_name.to_string_lossy();
        if !lossy.ends_with(".toml") || lossy.starts_with('.') {
            continue;
        }
        // Its name is printed in the header of every rendered file.
        let refuse = |message: String| ConfigError {
            location: dropin_dir.display().to_string(),
            message,
        };
        let Some(name) = raw_name.to_str() else {
            return Err(refuse(format!(
                "drop-in {raw_name:?}: its name is not valid UTF-8; rename it"
            )));
        };
        if let Err(why) = check_text(name, TextKind::Line) {
            return Err(refuse(format!("drop-in name refused: {why}")));
        }
        dropins.push(dropin_dir.join(name));
    }
    dropins.sort();
    paths.extend(dropins);
    Ok(paths)
}

/// Reads a config file: a regular file (through symlinks), at most
/// MAX_CONFIG_BYTES, UTF-8. A FIFO or device is refused before it is opened
/// for reading, so it cannot hang the generator.
fn read_source(root: &Root, path: &Path) -> Result<Source, ConfigError> {
    let real = root.join(path);
    let refuse = |message: String| ConfigError {
        location: path.display().to_string(),
        message,
    };
    let meta = match std::fs::metadata(&real) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let target = std::fs::read_link(&real).unwrap_or_default();
            return Err(refuse(format!(
                "is a symbolic link to {}, which does not exist; fix or remove the link",
                quoted(&target.to_string_lossy())
            )));
        }
        Err(err) => return Err(io_error(path, &err)),
    };
    if !meta.is_file() {
        return Err(refuse(format!(
            "is {}, not a regular file; config files must be regular files",
            file_kind(&meta)
        )));
    }
    // The generator reads it as root, the config check as a dynamic user and
    // vm-exec as the service user: a file only root may read would pass in
    // one and fail in the others, so every reader refuses it alike.
    if meta.mode() & 0o004 == 0 {
        return Err(refuse(format!(
            "is not readable by every user (mode {:04o}); the config check and the VMs \
             read it unprivileged: chmod a+r (it holds no secrets)",
            meta.mode() & 0o7777
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&real)
        .and_then(|file| file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|err| io_error(path, &err))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(refuse(format!(
            "is larger than {} KiB; config files are small text files",
            MAX_CONFIG_BYTES / 1024
        )));
    }
    let text = String::from_utf8(bytes).map_err(|err| {
        let offset = err.utf8_error().valid_up_to();
        let (line, col) = source::line_col(err.as_bytes(), offset);
        ConfigError {
            location: format!("{}:{line}:{col}", path.display()),
            message: "not valid UTF-8 (TOML files must be UTF-8 text)".to_string(),
        }
    })?;
    Ok(Source {
        path: path.to_path_buf(),
        text,
    })
}

/// What a file that is not a regular file is, for a message.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn io_error(path: &Path, err: &std::io::Error) -> ConfigError {
    ConfigError {
        location: path.display().to_string(),
        message: format!("cannot read: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn sources(texts: &[&str]) -> Sources {
        Sources {
            files: texts
                .iter()
                .enumerate()
                .map(|(i, t)| Source {
                    path: PathBuf::from(format!("/f{i}.toml")),
                    text: t.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn later_files_win_per_key() {
        let s = sources(&[
            "[vm]\nmemory-mib = 1024\ncores = 2\n[node.1]\ncores = 3\n",
            "[vm]\nmemory-mib = 2048\n[node.1]\nmemory-mib = 4096\n",
        ]);
        let mut merged = parse(&s, 0).unwrap();
        merged.merge(parse(&s, 1).unwrap());
        let mem = merged.vm.memory_mib.unwrap();
        assert_eq!((mem.value, mem.file), (2048, 1));
        assert_eq!(merged.vm.cores.unwrap().value, 2);
        let node = &merged.node["1"].value;
        assert_eq!(node.cores.as_ref().unwrap().value, 3);
        assert_eq!(node.memory_mib.as_ref().unwrap().value, 4096);
        assert_eq!(mem_location(&s, 1), "/f1.toml:2:14");
    }

    fn mem_location(s: &Sources, file: usize) -> String {
        parse(s, file).unwrap().vm.memory_mib.unwrap().at(s)
    }

    #[test]
    fn a_key_may_take_an_integer_or_a_word() {
        let s = sources(&[
            "[cluster]\nstagger-sec = 2\n",
            "[cluster]\nstagger-sec = \"auto\"\n",
        ]);
        let value = |file| parse(&s, file).unwrap().cluster.stagger_sec.unwrap();
        assert_eq!(value(0).value, IntOrWord::Int(2));
        assert_eq!(value(1).value, IntOrWord::Word("auto".into()));
        assert_eq!(value(1).at(&s), "/f1.toml:2:15");
    }

    #[test]
    fn unknown_key_names_file_line_and_column() {
        let s = sources(&["[vm]\nmemroy-mib = 1\n"]);
        let err = parse(&s, 0).unwrap_err();
        assert_eq!(err.location, "/f0.toml:2:1");
        assert!(err.message.contains("unknown field `memroy-mib`"), "{err}");
    }
}
