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

/// Checks a source that will be published: it exists, is a regular file and
/// the service user could read it itself. `what` names it in messages.
pub fn check_source(
    user: &ServiceUser,
    root: &Root,
    path: &Path,
    what: &str,
) -> anyhow::Result<std::fs::Metadata> {
    let meta = std::fs::metadata(root.join(path))
        .with_context(|| format!("{what}: cannot use {}", path.display()))?;
    if !meta.is_file() {
        bail!(
            "{what}: {} is {}, not a regular file",
            path.display(),
            crate::config::file_kind(&meta)
        );
    }
    if !user.can_read(&meta) {
        bail!(
            "{what}: {} (mode {:04o}) is not readable by the {SERVICE_USER} user, \
             which serves it; make it readable by that user (e.g. chmod o+r, or chgrp \
             {SERVICE_USER} and chmod g+r) instead of publishing a private file",
            path.display(),
            meta.mode() & 0o7777
        );
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

/// Reads the user's cloud-config template: a regular file the service user
/// may read (it is served), at most MAX_CONFIG_BYTES, UTF-8, and only
/// newlines and tabs among its characters (`base::text::check_text`, Lines).
pub fn read_template(root: &Root, path: &Path) -> anyhow::Result<(String, std::fs::Metadata)> {
    let what = "cloud-config.template";
    let meta = check_source(&ServiceUser::lookup(root), root, path, what)?;
    if meta.len() > MAX_CONFIG_BYTES {
        bail!(
            "{what}: {} is larger than {} KiB",
            path.display(),
            MAX_CONFIG_BYTES / 1024
        );
    }
    let bytes = std::fs::read(root.join(path))
        .with_context(|| format!("{what}: cannot read {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{what}: {} is not UTF-8 text", path.display()))?;
    check_text(&text, TextKind::Lines).map_err(|why| {
        // Not the text itself: the position says where.
        let rule = why
            .split_once(" holds ")
            .map_or(why.as_str(), |(_, rule)| rule);
        anyhow::anyhow!("{what}: {} holds {rule}", path.display())
    })?;
    Ok((text, meta))
}

/// The one check of the files a config names (`load_model`: `check`, the
/// generator, `prepare` and every other job): the cloud-config template and
/// the Ignition merge files, so a bad one fails there and not at a guest's boot.
pub fn check_named_files(root: &Root, model: &Model) -> Result<(), ConfigError> {
    // The location names the file; the message need not say it again.
    let at = |path: &Path| {
        let shown = path.display().to_string();
        move |err: anyhow::Error| ConfigError {
            message: format!("{err:#}")
                .replacen(&format!(": {shown}:"), ":", 1)
                .replacen(&format!(" {shown}"), "", 1),
            location: shown,
        }
    };
    if let Some(path) = &model.cloud_config.template {
        let (text, _) = read_template(root, path).map_err(at(path))?;
        cloud_config::check_template(model, &text)
            .map_err(|why| anyhow::anyhow!("cloud-config.template: {} {why}", path.display()))
            .map_err(at(path))?;
    }
    for path in &model.guest.ignition_merge {
        read_merge_file(&root.join(path), path, merge_specs(&model.image.source))
            .map_err(at(path))?;
    }
    Ok(())
}

/// Checks a user's config for `guest.ignition-merge` (`check` and `prepare`):
/// a readable regular file of at most `MERGE_MAX_BYTES`, JSON, with an
/// `ignition.version` the guests' Ignition reads (`specs`). `real` is the
/// path to open (below the root), `shown` the path to name in messages.
/// Returns its bytes.
pub fn read_merge_file(real: &Path, shown: &Path, specs: MergeSpecs) -> anyhow::Result<Vec<u8>> {
    let what = format!("guest.ignition-merge: {}", shown.display());
    let meta = std::fs::metadata(real).with_context(|| format!("{what}: cannot read"))?;
    if !meta.is_file() {
        bail!("{what}: not a regular file");
    }
    if meta.len() > MERGE_MAX_BYTES {
        bail!("{what}: larger than {MERGE_MAX_BYTES} bytes");
    }
    let bytes = std::fs::read(real).with_context(|| format!("{what}: cannot read"))?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{what}: not JSON"))?;
    match json.pointer("/ignition/version").and_then(|v| v.as_str()) {
        Some(version) if specs.versions.contains(&version) => Ok(bytes),
        Some(version) => bail!(
            "{what}: ignition.version {version:?} is not one of {} (what {} reads)",
            specs.versions.join(", "),
            specs.reader
        ),
        None => bail!("{what}: no ignition.version; not an Ignition config"),
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
        assert!(read_merge_file(&good, Path::new("/etc/x.ign"), specs).is_ok());
        for (path, expected) in cases {
            let err = format!(
                "{:#}",
                read_merge_file(&path, Path::new("/etc/x.ign"), specs).unwrap_err()
            );
            assert!(
                err.starts_with("guest.ignition-merge: /etc/x.ign: "),
                "{err}"
            );
            assert!(err.contains(expected), "{err}");
        }
    }
}
