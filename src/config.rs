//! Reading `cluster.toml` and its drop-ins into one raw, unvalidated config.
//!
//! Every value keeps where it came from (file, byte span) so that validation
//! errors can name the file, line and column even after drop-ins are merged.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::paths::Root;

/// Where the main config file lives, relative to the root.
pub const CONFIG_FILE: &str = "etc/coreos-cluster/cluster.toml";
/// Where drop-ins live, relative to the root; read in lexical order.
pub const DROPIN_DIR: &str = "etc/coreos-cluster/cluster.toml.d";

/// A config file as read, kept so errors can point into it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as seen on the running system (without the test root).
    pub path: PathBuf,
    pub text: String,
}

/// All config files that were read, in the order they apply.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<Source>,
}

impl Sources {
    /// Formats a location as `path:line:col` for a value in file `file`.
    pub fn locate(&self, file: usize, offset: usize) -> String {
        let source = &self.files[file];
        let (line, col) = line_col(source.text.as_bytes(), offset);
        format!("{}:{line}:{col}", source.path.display())
    }

    /// The paths that were read, for the header of generated files.
    pub fn paths(&self) -> Vec<&Path> {
        self.files.iter().map(|s| s.path.as_path()).collect()
    }
}

/// One-based line and column (in characters) of a byte offset.
fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

/// A config problem, already formatted for a person: where, which key, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    /// `path:line:col`, or just the path when there is no position.
    pub location: String,
    pub message: String,
}

thread_local! {
    // The index of the file being deserialized, stamped into every `Located`.
    static CURRENT_FILE: Cell<usize> = const { Cell::new(0) };
}

/// A config value with the file and byte offset it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub file: usize,
    pub offset: usize,
}

impl<T> Located<T> {
    /// Formats `path:line:col` for this value.
    pub fn at(&self, sources: &Sources) -> String {
        sources.locate(self.file, self.offset)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<T>::deserialize(deserializer)?;
        Ok(Located {
            offset: spanned.span().start,
            file: CURRENT_FILE.with(Cell::get),
            value: spanned.into_inner(),
        })
    }
}

type Value<T> = Option<Located<T>>;

/// Copies every field that `other` sets over `self`: later files win.
macro_rules! merge_fields {
    ($into:expr, $from:expr; $($field:ident),* $(,)?) => {
        $( if $from.$field.is_some() { $into.$field = $from.$field; } )*
    };
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawConfig {
    pub cluster: RawCluster,
    pub vm: RawVm,
    pub network: RawNetwork,
    pub discovery: RawDiscovery,
    pub boot: RawBoot,
    pub image: RawImage,
    pub paths: RawPaths,
    pub guest: RawGuest,
    pub cloud_config: RawCloudConfig,
    pub ksm: RawKsm,
    /// Per-node overrides, keyed by the node's number (`[node.2]`).
    pub node: BTreeMap<String, Located<RawNode>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCluster {
    pub start_at_boot: Value<i64>,
    pub max_nodes: Value<i64>,
    pub mac_prefix: Value<String>,
    pub stagger_sec: Value<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawVm {
    pub memory_mib: Value<i64>,
    pub cores: Value<i64>,
    pub accelerator: Value<String>,
    pub extra_args: Value<Vec<String>>,
    pub serial: Value<String>,
    pub powerdown_timeout_sec: Value<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawNetwork {
    pub mode: Value<String>,
    pub bridge: Value<String>,
    pub subnet: Value<String>,
    pub nat: Value<bool>,
    pub uplink: Value<String>,
    pub bridge_mac: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDiscovery {
    pub mode: Value<String>,
    pub url: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawBoot {
    pub method: Value<String>,
    pub syslinux_dir: Value<String>,
    pub kernel_args: Value<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawImage {
    pub source: Value<String>,
    pub channel: Value<String>,
    pub dir: Value<String>,
    pub kernel: Value<String>,
    pub initrd: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPaths {
    pub tftp_root: Value<String>,
    pub http_root: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawGuest {
    pub config: Value<String>,
    pub ssh_authorized_keys: Value<Vec<String>>,
    pub ignition_merge: Value<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCloudConfig {
    pub template: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawKsm {
    pub enable: Value<bool>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawNode {
    pub memory_mib: Value<i64>,
    pub cores: Value<i64>,
    pub extra_args: Value<Vec<String>>,
}

impl RawConfig {
    /// Applies a later file on top of this one.
    fn merge(&mut self, later: RawConfig) {
        let (a, b) = (&mut self.cluster, later.cluster);
        merge_fields!(a, b; start_at_boot, max_nodes, mac_prefix, stagger_sec);
        let (a, b) = (&mut self.vm, later.vm);
        merge_fields!(a, b; memory_mib, cores, accelerator, extra_args, serial,
            powerdown_timeout_sec);
        let (a, b) = (&mut self.network, later.network);
        merge_fields!(a, b; mode, bridge, subnet, nat, uplink, bridge_mac);
        let (a, b) = (&mut self.discovery, later.discovery);
        merge_fields!(a, b; mode, url);
        let (a, b) = (&mut self.boot, later.boot);
        merge_fields!(a, b; method, syslinux_dir, kernel_args);
        let (a, b) = (&mut self.image, later.image);
        merge_fields!(a, b; source, channel, dir, kernel, initrd);
        let (a, b) = (&mut self.paths, later.paths);
        merge_fields!(a, b; tftp_root, http_root);
        let (a, b) = (&mut self.guest, later.guest);
        merge_fields!(a, b; config, ssh_authorized_keys, ignition_merge);
        let (a, b) = (&mut self.cloud_config, later.cloud_config);
        merge_fields!(a, b; template);
        let (a, b) = (&mut self.ksm, later.ksm);
        merge_fields!(a, b; enable);
        for (key, node) in later.node {
            match self.node.get_mut(&key) {
                Some(existing) => {
                    let (a, b) = (&mut existing.value, node.value);
                    merge_fields!(a, b; memory_mib, cores, extra_args);
                }
                None => {
                    self.node.insert(key, node);
                }
            }
        }
    }
}

/// Parses one file's text. `file` is its index in `Sources`.
pub fn parse(sources: &Sources, file: usize) -> Result<RawConfig, ConfigError> {
    let text = &sources.files[file].text;
    CURRENT_FILE.with(|c| c.set(file));
    toml::from_str::<RawConfig>(text).map_err(|err| {
        let offset = err.span().map_or(0, |s| s.start);
        ConfigError {
            location: sources.locate(file, offset),
            // serde names Rust types; say what a TOML author writes instead.
            message: err
                .message()
                .trim_end()
                .replace("expected i64", "expected an integer")
                .replace("expected a boolean", "expected true or false"),
        }
    })
}

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
    let main = Path::new("/").join(CONFIG_FILE);
    if root.join(&main).exists() {
        paths.push(main);
    }
    let dropin_dir = Path::new("/").join(DROPIN_DIR);
    let entries = match std::fs::read_dir(root.join(&dropin_dir)) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(paths),
        Err(err) => return Err(io_error(&dropin_dir, &err)),
    };
    let mut dropins = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| io_error(&dropin_dir, &err))?;
        let name = entry.file_name();
        // Like systemd's drop-ins: only `*.toml`, hidden files ignored.
        let name = name.to_string_lossy();
        if name.ends_with(".toml") && !name.starts_with('.') {
            dropins.push(dropin_dir.join(name.as_ref()));
        }
    }
    dropins.sort();
    paths.extend(dropins);
    Ok(paths)
}

fn read_source(root: &Root, path: &Path) -> Result<Source, ConfigError> {
    let bytes = std::fs::read(root.join(path)).map_err(|err| io_error(path, &err))?;
    let text = String::from_utf8(bytes).map_err(|err| {
        let offset = err.utf8_error().valid_up_to();
        let (line, col) = line_col(err.as_bytes(), offset);
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

fn io_error(path: &Path, err: &std::io::Error) -> ConfigError {
    ConfigError {
        location: path.display().to_string(),
        message: format!("cannot read: {err}"),
    }
}

#[cfg(test)]
mod tests {
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
    fn line_and_column_count_characters() {
        assert_eq!(line_col(b"abc\ndef", 5), (2, 2));
        assert_eq!(line_col("é = 1\nx".as_bytes(), 2), (1, 2));
        assert_eq!(line_col(b"", 0), (1, 1));
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
    fn unknown_key_names_file_line_and_column() {
        let s = sources(&["[vm]\nmemroy-mib = 1\n"]);
        let err = parse(&s, 0).unwrap_err();
        assert_eq!(err.location, "/f0.toml:2:1");
        assert!(err.message.contains("unknown field `memroy-mib`"), "{err}");
    }
}
