//! Who may read a file, and publishing a file no wider than its source.
//!
//! `prepare` runs as root, but nginx and tftpd serve what it writes as the
//! service user. A source that user could not read itself (a 0600 kernel, a
//! template in a private directory) is refused instead of being published,
//! and a published copy never gets more permission bits than its source.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context};

use crate::base::names::SERVICE_USER;
use crate::base::paths::{Root, GROUP_FILE, PASSWD_FILE};
use crate::base::text::{check_text, TextKind};
use crate::config::{ConfigError, MAX_CONFIG_BYTES};
use crate::model::Model;
use crate::render::guest::cloud_config;
use crate::render::guest::ignition::{merge_specs, MergeSpecs, MERGE_MAX_BYTES};

/// The service user's identity, read from the root's passwd and group files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceUser {
    pub uid: Option<u32>,
    pub gids: Vec<u32>,
}

impl ServiceUser {
    /// Looks the service user up below `root`; an unknown user reads only
    /// what every user may read.
    pub fn lookup(root: &Root) -> ServiceUser {
        let passwd = std::fs::read_to_string(root.join(PASSWD_FILE)).unwrap_or_default();
        let group = std::fs::read_to_string(root.join(GROUP_FILE)).unwrap_or_default();
        let Some((uid, primary)) = passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4 && fields[0] == SERVICE_USER)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        }) else {
            return ServiceUser::default();
        };
        let mut gids = vec![primary];
        for line in group.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 4 && fields[3].split(',').any(|m| m == SERVICE_USER) {
                gids.extend(fields[2].parse::<u32>().ok());
            }
        }
        ServiceUser {
            uid: Some(uid),
            gids,
        }
    }

    /// Whether the permission bits let this user read a file like `meta`.
    fn can_read(&self, meta: &std::fs::Metadata) -> bool {
        let mode = meta.mode();
        if self.uid == Some(meta.uid()) {
            mode & 0o400 != 0
        } else if self.gids.contains(&meta.gid()) {
            mode & 0o040 != 0
        } else {
            mode & 0o004 != 0
        }
    }
}

/// Why a source that would be published is refused, without its path:
/// `check` shows the path as the location, `prepare` inside the message
/// (`naming`).
#[derive(Debug)]
pub enum SourceRefusal {
    /// It cannot be looked up (missing, or in a directory root cannot enter).
    Unusable(std::io::Error),
    /// What it is instead (`config::file_kind`).
    NotAFile(&'static str),
    /// Its permission bits, which keep the service user out.
    Private(u32),
    TooLarge,
    Unreadable(std::io::Error),
    NotUtf8,
    /// The rule of `check_text` it breaks, without the text.
    BadCharacter(String),
}

impl std::fmt::Display for SourceRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            SourceRefusal::Unusable(err) => write!(f, "cannot use: {err}"),
            SourceRefusal::NotAFile(kind) => write!(f, "is {kind}, not a regular file"),
            SourceRefusal::Private(mode) => write!(
                f,
                "(mode {mode:04o}) is not readable by the {SERVICE_USER} user, which serves it; \
                 make it readable by that user (e.g. chmod o+r, or chgrp {SERVICE_USER} and \
                 chmod g+r) instead of publishing a private file"
            ),
            SourceRefusal::TooLarge => write!(f, "is larger than {} KiB", MAX_CONFIG_BYTES / 1024),
            SourceRefusal::Unreadable(err) => write!(f, "cannot read: {err}"),
            SourceRefusal::NotUtf8 => write!(f, "is not UTF-8 text"),
            SourceRefusal::BadCharacter(rule) => write!(f, "holds {rule}"),
        }
    }
}

impl std::error::Error for SourceRefusal {}

impl SourceRefusal {
    /// The reason with `path` in it, for a message that has no location.
    pub fn naming(&self, path: &Path) -> String {
        let path = path.display();
        match self {
            SourceRefusal::Unusable(err) => format!("cannot use {path}: {err}"),
            SourceRefusal::Unreadable(err) => format!("cannot read {path}: {err}"),
            other => format!("{path} {other}"),
        }
    }
}

/// Checks a source that will be published: it exists, is a regular file and
/// the service user could read it itself.
pub fn check_source(
    user: &ServiceUser,
    root: &Root,
    path: &Path,
) -> Result<std::fs::Metadata, SourceRefusal> {
    let meta = std::fs::metadata(root.join(path)).map_err(SourceRefusal::Unusable)?;
    if !meta.is_file() {
        return Err(SourceRefusal::NotAFile(crate::config::file_kind(&meta)));
    }
    if !user.can_read(&meta) {
        return Err(SourceRefusal::Private(meta.mode() & 0o7777));
    }
    Ok(meta)
}

/// The mode for a published copy of a file like `source`: at most 0644, and
/// never a bit the source does not have.
pub fn published_mode(source: &std::fs::Metadata) -> u32 {
    source.permissions().mode() & 0o644
}

/// Gives `dest` the group of `source`, so a group-readable source stays
/// readable by the same group (only root may; others keep their own group).
pub fn copy_group(source: &std::fs::Metadata, dest: &Path) -> anyhow::Result<()> {
    if std::fs::metadata(dest)?.gid() == source.gid() {
        return Ok(());
    }
    match std::os::unix::fs::chown(dest, None, Some(source.gid())) {
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => Ok(()),
        result => result.with_context(|| format!("setting the group of {}", dest.display())),
    }
}

/// How a config names the template, in messages.
pub const TEMPLATE_KEY: &str = "cloud-config.template";
/// How a config names the merge files, in messages.
pub const MERGE_KEY: &str = "guest.ignition-merge";

/// Reads the user's cloud-config template: a regular file the service user
/// may read (it is served), at most MAX_CONFIG_BYTES, UTF-8, and only
/// newlines and tabs among its characters (`base::text::check_text`, Lines).
pub fn read_template(
    root: &Root,
    path: &Path,
) -> Result<(String, std::fs::Metadata), SourceRefusal> {
    let meta = check_source(&ServiceUser::lookup(root), root, path)?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(SourceRefusal::TooLarge);
    }
    let bytes = std::fs::read(root.join(path)).map_err(SourceRefusal::Unreadable)?;
    let text = String::from_utf8(bytes).map_err(|_| SourceRefusal::NotUtf8)?;
    check_text(&text, TextKind::Lines).map_err(|why| {
        // Not the text itself: the position says where.
        let rule = why
            .split_once(" holds ")
            .map_or(why.as_str(), |(_, rule)| rule);
        SourceRefusal::BadCharacter(rule.to_string())
    })?;
    Ok((text, meta))
}

/// The one check of the files a config names (`load_model`: `check`, the
/// generator, `prepare` and every other job): the cloud-config template and
/// the Ignition merge files, so a bad one fails there and not at a guest's boot.
pub fn check_named_files(root: &Root, model: &Model) -> Result<(), ConfigError> {
    // The location names the file; the message need not say it again.
    let refuse = |path: &Path, key: &str, why: &dyn std::fmt::Display| ConfigError {
        location: path.display().to_string(),
        message: format!("{key}: {why}"),
    };
    if let Some(path) = &model.cloud_config.template {
        let (text, _) =
            read_template(root, path).map_err(|why| refuse(path, TEMPLATE_KEY, &why))?;
        cloud_config::check_template(model, &text)
            .map_err(|why| refuse(path, TEMPLATE_KEY, &why))?;
    }
    for path in &model.guest.ignition_merge {
        read_merge_file(&root.join(path), merge_specs(&model.image.source))
            .map_err(|why| refuse(path, MERGE_KEY, &why))?;
    }
    Ok(())
}

/// Why a merge file is refused, without its path: `check` shows the path as
/// the location, `prepare` after the key.
#[derive(Debug)]
pub enum MergeRefusal {
    Unreadable(std::io::Error),
    NotAFile,
    TooLarge,
    NotJson(serde_json::Error),
    UnknownVersion { version: String, specs: MergeSpecs },
    NoVersion,
}

impl std::fmt::Display for MergeRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            MergeRefusal::Unreadable(err) => write!(f, "cannot read: {err}"),
            MergeRefusal::NotAFile => write!(f, "not a regular file"),
            MergeRefusal::TooLarge => write!(f, "larger than {MERGE_MAX_BYTES} bytes"),
            MergeRefusal::NotJson(err) => write!(f, "not JSON: {err}"),
            MergeRefusal::UnknownVersion { version, specs } => write!(
                f,
                "ignition.version {version:?} is not one of {} (what {} reads)",
                specs.versions.join(", "),
                specs.reader
            ),
            MergeRefusal::NoVersion => write!(f, "no ignition.version; not an Ignition config"),
        }
    }
}

impl std::error::Error for MergeRefusal {}

/// Checks a user's config for `guest.ignition-merge` (`check` and `prepare`):
/// a readable regular file of at most `MERGE_MAX_BYTES`, JSON, with an
/// `ignition.version` the guests' Ignition reads (`specs`). `real` is the
/// path to open (below the root). Returns its bytes.
pub fn read_merge_file(real: &Path, specs: MergeSpecs) -> Result<Vec<u8>, MergeRefusal> {
    let meta = std::fs::metadata(real).map_err(MergeRefusal::Unreadable)?;
    if !meta.is_file() {
        return Err(MergeRefusal::NotAFile);
    }
    if meta.len() > MERGE_MAX_BYTES {
        return Err(MergeRefusal::TooLarge);
    }
    let bytes = std::fs::read(real).map_err(MergeRefusal::Unreadable)?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(MergeRefusal::NotJson)?;
    match json.pointer("/ignition/version").and_then(|v| v.as_str()) {
        Some(version) if specs.versions.contains(&version) => Ok(bytes),
        Some(version) => Err(MergeRefusal::UnknownVersion {
            version: version.to_string(),
            specs,
        }),
        None => Err(MergeRefusal::NoVersion),
    }
}

/// Gives a file that may hold secrets to the service user's group (nginx
/// runs as that user). On a test root the group may not exist: the mode alone
/// keeps the file from other users there.
pub fn give_to_service_group(root: &Root, path: &Path) -> anyhow::Result<()> {
    let group = nix::unistd::Group::from_name(SERVICE_USER)
        .with_context(|| format!("looking up group {SERVICE_USER}"))?;
    match group {
        Some(group) => std::os::unix::fs::chown(path, None, Some(group.gid.as_raw()))
            .with_context(|| format!("giving {} to group {SERVICE_USER}", path.display())),
        None if !root.is_system_root() => Ok(()),
        None => bail!("group {SERVICE_USER} does not exist (systemd-sysusers coreos-cluster.conf)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_files_are_checked() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let file = |name: &str, text: &str| {
            std::fs::write(dir.join(name), text).unwrap();
            dir.join(name)
        };
        let good = file("good.ign", r#"{"ignition": {"version": "3.1.0"}}"#);
        let cases = [
            (
                file("new.ign", r#"{"ignition": {"version": "3.4.0"}}"#),
                "\"3.4.0\" is not one of",
            ),
            (
                file("none.ign", r#"{"storage": {}}"#),
                "no ignition.version",
            ),
            (file("yaml.ign", "variant: flatcar\n"), "not JSON"),
            (dir.join("missing.ign"), "cannot read"),
            (dir.to_path_buf(), "not a regular file"),
        ];
        let specs = merge_specs(&crate::model::ImageSource::Files);
        assert!(read_merge_file(&good, specs).is_ok());
        let shown = dir.display().to_string();
        for (path, expected) in cases {
            let why = read_merge_file(&path, specs).unwrap_err().to_string();
            assert!(why.contains(expected), "{why}");
            assert!(!why.contains(&shown), "the caller names the file: {why}");
        }
    }

    #[test]
    fn template_refusals_leave_the_path_to_the_caller() {
        let temp = tempfile::tempdir().unwrap();
        let root = Root::new(temp.path());
        let dir = root.join("/etc/coreos-cluster");
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, bytes: &[u8], mode: u32| {
            std::fs::write(dir.join(name), bytes).unwrap();
            std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(mode))
                .unwrap();
            Path::new("/etc/coreos-cluster").join(name)
        };
        let good = file("good.yaml", b"#cloud-config\n", 0o644);
        assert!(read_template(&root, &good).is_ok());
        let cases = [
            (
                Path::new("/etc/coreos-cluster/missing.yaml").to_path_buf(),
                "cannot use: ",
            ),
            (
                Path::new("/etc/coreos-cluster").to_path_buf(),
                "is a directory, not a regular file",
            ),
            (
                file("private.yaml", b"x\n", 0o600),
                "(mode 0600) is not readable",
            ),
            (
                file("latin1.yaml", b"caf\xe9\n", 0o644),
                "is not UTF-8 text",
            ),
            (
                file("escape.yaml", b"a\x1bb\n", 0o644),
                "holds U+001B at character 2; only",
            ),
        ];
        for (path, expected) in cases {
            let why = read_template(&root, &path).unwrap_err();
            let (reason, named) = (why.to_string(), why.naming(&path));
            assert!(reason.starts_with(expected), "{reason}");
            assert!(!reason.contains("/etc/coreos-cluster"), "{reason}");
            assert!(named.contains(&path.display().to_string()), "{named}");
        }
        let missing = Path::new("/etc/coreos-cluster/missing.yaml");
        let why = read_template(&root, missing).unwrap_err();
        assert!(why
            .naming(missing)
            .starts_with("cannot use /etc/coreos-cluster/missing.yaml: "));
    }
}
