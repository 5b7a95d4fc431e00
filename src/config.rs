//! Reading `cluster.toml` and its drop-ins into one raw, unvalidated config.
//!
//! Every value keeps where it came from (file, byte span) so that validation
//! errors can name the file, line and column even after drop-ins are merged.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use std::io::Read;
use std::os::unix::fs::MetadataExt;

use crate::paths::{Root, CONFIG_FILE, DROPIN_DIR};
use crate::values::{check_text, quoted, TextKind, SHOWN_CHARS};

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

/// A key that takes an integer or a word (`stagger-sec = 2` or `"auto"`);
/// `validate` says which words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrWord {
    Int(i64),
    Word(String),
}

impl<'de> Deserialize<'de> for IntOrWord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;

        impl serde::de::Visitor<'_> for Either {
            type Value = IntOrWord;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer or a string in quotes")
            }

            fn visit_i64<E>(self, n: i64) -> Result<IntOrWord, E> {
                Ok(IntOrWord::Int(n))
            }

            fn visit_str<E>(self, word: &str) -> Result<IntOrWord, E> {
                Ok(IntOrWord::Word(word.to_string()))
            }
        }

        deserializer.deserialize_any(Either)
    }
}

/// Gives a section a `merge` that copies every key a later file sets: later
/// files win. The pattern names every field without `..`, so a field left out
/// here is a compile error, not a key that silently never overrides.
macro_rules! merge_by_key {
    ($section:ident { $($field:ident),* $(,)? }) => {
        impl $section {
            fn merge(&mut self, later: $section) {
                let $section { $($field),* } = later;
                $( if $field.is_some() { self.$field = $field; } )*
            }
        }
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
    pub etcd: RawEtcd,
    pub paths: RawPaths,
    pub http: RawHttp,
    pub tftp: RawTftp,
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
    pub stagger_sec: Value<IntOrWord>,
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
    pub version: Value<String>,
    pub base_url: Value<String>,
    pub signing_key: Value<String>,
    pub signing_key_fingerprint: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawEtcd {
    pub version: Value<String>,
    pub sha256: Value<String>,
    pub binary: Value<String>,
    pub base_url: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPaths {
    pub tftp_root: Value<String>,
    pub http_root: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawHttp {
    pub port: Value<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawTftp {
    pub port: Value<i64>,
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

merge_by_key!(RawCluster {
    start_at_boot,
    max_nodes,
    mac_prefix,
    stagger_sec
});
merge_by_key!(RawVm {
    memory_mib,
    cores,
    accelerator,
    extra_args,
    serial,
    powerdown_timeout_sec
});
merge_by_key!(RawNetwork {
    mode,
    bridge,
    subnet,
    nat,
    uplink,
    bridge_mac
});
merge_by_key!(RawDiscovery { mode, url });
merge_by_key!(RawBoot {
    method,
    syslinux_dir,
    kernel_args
});
merge_by_key!(RawImage {
    source,
    channel,
    dir,
    kernel,
    initrd,
    version,
    base_url,
    signing_key,
    signing_key_fingerprint
});
merge_by_key!(RawEtcd {
    version,
    sha256,
    binary,
    base_url
});
merge_by_key!(RawPaths {
    tftp_root,
    http_root
});
merge_by_key!(RawHttp { port });
merge_by_key!(RawTftp { port });
merge_by_key!(RawGuest {
    config,
    ssh_authorized_keys,
    ignition_merge
});
merge_by_key!(RawCloudConfig { template });
merge_by_key!(RawKsm { enable });
merge_by_key!(RawNode {
    memory_mib,
    cores,
    extra_args
});

impl RawConfig {
    /// Applies a later file on top of this one.
    fn merge(&mut self, later: RawConfig) {
        let RawConfig {
            cluster,
            vm,
            network,
            discovery,
            boot,
            image,
            etcd,
            paths,
            http,
            tftp,
            guest,
            cloud_config,
            ksm,
            node,
        } = later;
        self.cluster.merge(cluster);
        self.vm.merge(vm);
        self.network.merge(network);
        self.discovery.merge(discovery);
        self.boot.merge(boot);
        self.image.merge(image);
        self.etcd.merge(etcd);
        self.paths.merge(paths);
        self.http.merge(http);
        self.tftp.merge(tftp);
        self.guest.merge(guest);
        self.cloud_config.merge(cloud_config);
        self.ksm.merge(ksm);
        for (key, later_node) in node {
            match self.node.get_mut(&key) {
                Some(existing) => existing.value.merge(later_node.value),
                None => {
                    self.node.insert(key, later_node);
                }
            }
        }
    }
}

/// Every key a config file may set, as `section.key` (`node.N.key` for the
/// per-node settings), read from the serde definitions that parse the files.
pub fn keys() -> Vec<String> {
    let mut keys = Vec::new();
    for &section in field_names::<RawConfig>() {
        let (prefix, fields) = match section {
            "cluster" => (section, field_names::<RawCluster>()),
            "vm" => (section, field_names::<RawVm>()),
            "network" => (section, field_names::<RawNetwork>()),
            "discovery" => (section, field_names::<RawDiscovery>()),
            "boot" => (section, field_names::<RawBoot>()),
            "image" => (section, field_names::<RawImage>()),
            "etcd" => (section, field_names::<RawEtcd>()),
            "paths" => (section, field_names::<RawPaths>()),
            "http" => (section, field_names::<RawHttp>()),
            "tftp" => (section, field_names::<RawTftp>()),
            "guest" => (section, field_names::<RawGuest>()),
            "cloud-config" => (section, field_names::<RawCloudConfig>()),
            "ksm" => (section, field_names::<RawKsm>()),
            "node" => ("node.N", field_names::<RawNode>()),
            other => panic!("config::keys() does not know section [{other}]"),
        };
        keys.extend(fields.iter().map(|field| format!("{prefix}.{field}")));
    }
    keys
}

/// The (renamed) field names serde derives for a struct: a deserializer that
/// only records what `deserialize_struct` is asked for.
fn field_names<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{value::Error, Error as _, Visitor};

    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            *self.0 = fields;
            Err(Error::custom("fields recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// Parses one file's text. `file` is its index in `Sources`.
pub fn parse(sources: &Sources, file: usize) -> Result<RawConfig, ConfigError> {
    let text = &sources.files[file].text;
    check_all_text(sources, file)?;
    CURRENT_FILE.with(|c| c.set(file));
    toml::from_str::<RawConfig>(text).map_err(|err| {
        let span = err.span();
        let mut message = plain_message(err.message().trim_end());
        // toml marks the repeated key but does not name it.
        if let (true, Some(span)) = (message == "duplicate key", &span) {
            let key = text.get(span.clone()).unwrap_or_default();
            message = format!("duplicate key {}", quoted(key.trim()));
        }
        ConfigError {
            location: sources.locate(file, span.map_or(0, |s| s.start)),
            message,
        }
    })
}

/// The longest message toml or serde may give before it is shortened.
const MAX_MESSAGE_CHARS: usize = 200;

/// serde and toml speak of Rust types; say what a TOML author writes instead.
fn plain_message(message: &str) -> String {
    const PLAIN: &[(&str, &str)] = &[
        ("expected i64", "expected an integer"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected an array"),
        ("expected a string", "expected a string in quotes"),
        ("expected a map", "expected a table"),
    ];
    let mut plain = message.to_string();
    for (rust, toml) in PLAIN {
        plain = plain.replace(rust, toml);
    }
    // serde repeats a value of the wrong type whole: keep a message short
    // enough for one journal or kmsg record.
    let quoted_value = (plain.find("string \""), plain.rfind("\", expected"));
    if let (Some(start), Some(end)) = quoted_value {
        let value = &plain[start + "string \"".len()..end];
        if value.chars().count() > SHOWN_CHARS {
            let shown: String = value.chars().take(SHOWN_CHARS).collect();
            let size = value.len();
            plain.replace_range(
                start..end + 1,
                &format!("string \"{shown}\"… ({size} bytes)"),
            );
        }
    }
    if plain.chars().count() > MAX_MESSAGE_CHARS {
        let size = plain.len();
        plain = plain.chars().take(MAX_MESSAGE_CHARS).collect();
        plain.push_str(&format!("… ({size} bytes)"));
    }
    // An integer beyond 64 bits: toml tried i128.
    if let Some((start, _)) = plain.split_once(" as i128, expected ") {
        plain = format!("{} is too large", start.replace("invalid type: ", ""));
    }
    // `expected struct RawNode` and the like: every struct here is a table.
    while let Some(start) = plain.find("struct Raw") {
        let name = start + "struct ".len();
        let end = plain[name..]
            .find(|c: char| !c.is_alphanumeric())
            .map_or(plain.len(), |i| name + i);
        plain.replace_range(start..end, "a table");
    }
    plain
}

/// Applies the one text rule (`values::check_text`) to every key and string
/// of a file before anything else reads it, so no value that reaches a
/// rendered file or a message can hold a control character.
fn check_all_text(sources: &Sources, file: usize) -> Result<(), ConfigError> {
    // A file that does not parse gets toml's own error from `parse`.
    let Ok(table) = toml::de::DeTable::parse(&sources.files[file].text) else {
        return Ok(());
    };
    let mut bad = None;
    walk_table(table.get_ref(), "", &mut |key, offset, text| {
        if bad.is_none() {
            if let Err(why) = check_text(text, TextKind::Line) {
                bad = Some(ConfigError {
                    location: sources.locate(file, offset),
                    message: format!("{key}: {why}"),
                });
            }
        }
    });
    bad.map_or(Ok(()), Err)
}

/// Calls `visit(key path, offset, text)` for every key and string below `table`.
fn walk_table(table: &toml::de::DeTable, prefix: &str, visit: &mut dyn FnMut(&str, usize, &str)) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            quoted_key(key.get_ref())
        } else {
            format!("{prefix}.{}", quoted_key(key.get_ref()))
        };
        visit(&path, key.span().start, key.get_ref());
        walk_value(value, &path, visit);
    }
}

fn walk_value(
    value: &toml::Spanned<toml::de::DeValue>,
    path: &str,
    visit: &mut dyn FnMut(&str, usize, &str),
) {
    use toml::de::DeValue;
    match value.get_ref() {
        DeValue::String(text) => visit(path, value.span().start, text),
        DeValue::Array(items) => items.iter().for_each(|item| walk_value(item, path, visit)),
        DeValue::Table(table) => walk_table(table, path, visit),
        _ => {}
    }
}

/// A key as a message shows it: bare when TOML would write it bare.
fn quoted_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        key.to_string()
    } else {
        quoted(key)
    }
}

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
