//! Which image the nodes boot, recorded by `prepare` for `status`: the
//! version fetched (Flatcar), or the one in the `version.txt` Flatcar (and
//! CoreOS) publish beside their PXE images when it is there, else the
//! kernel's path.

use std::path::Path;

use anyhow::{bail, Context};

use crate::base::paths::Root;
use crate::model::values::is_release_version;
use crate::model::{Image, ImageSource};

/// One line describing the image in use, e.g. `flatcar-stable 3975.2.0`.
pub fn describe(image: &Image, root: &Root, fetched_version: Option<&str>) -> String {
    let name = match &image.source {
        ImageSource::Flatcar { channel, .. } => format!("flatcar-{channel}"),
        ImageSource::CoreOs => "coreos".to_string(),
        ImageSource::Files => "files".to_string(),
    };
    let version_file = image.kernel.parent().map(|dir| dir.join("version.txt"));
    let version = match fetched_version {
        Some(version) => Some(version.to_string()),
        None => version_file.and_then(|f| read_version(&root.join(f))),
    };
    match version {
        Some(version) => format!("{name} {version}"),
        None => format!("{name} {}", image.kernel.display()),
    }
}

fn read_version(file: &Path) -> Option<String> {
    parse_version_txt(&std::fs::read_to_string(file).ok()?).ok()
}

/// The release a `version.txt` names: its `FLATCAR_VERSION`, which must be
/// a release version (it becomes a path and a URL).
pub fn parse_version_txt(text: &str) -> anyhow::Result<String> {
    let field = |key: &str| text.lines().find_map(|l| l.trim().strip_prefix(key));
    // Early Flatcar releases (2018), and CoreOS, wrote the CoreOS key.
    let version = field("FLATCAR_VERSION=")
        .or_else(|| field("COREOS_VERSION="))
        .context("no FLATCAR_VERSION line")?
        .trim_matches(['"', '\'']);
    if !is_release_version(version) {
        bail!("FLATCAR_VERSION={version:?} is not a version number");
    }
    Ok(version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_txt_names_the_release() {
        let text = "FLATCAR_BUILD=4593\nFLATCAR_VERSION=4593.2.3\nFLATCAR_SDK_VERSION=1\n";
        assert_eq!(parse_version_txt(text).unwrap(), "4593.2.3");
        assert!(parse_version_txt("FLATCAR_VERSION=../../etc\n").is_err());
        assert!(parse_version_txt("FLATCAR_VERSION=\n").is_err());
        assert!(parse_version_txt("nothing\n").is_err());
    }

    #[test]
    fn the_version_comes_from_version_txt_else_the_kernel_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let images = dir.path().join("images/flatcar-stable");
        std::fs::create_dir_all(&images).unwrap();
        let image = Image {
            source: ImageSource::CoreOs,
            kernel: "/images/flatcar-stable/flatcar_production_pxe.vmlinuz".into(),
            initrd: "/images/flatcar-stable/flatcar_production_pxe_image.cpio.gz".into(),
        };
        assert_eq!(
            describe(&image, &root, None),
            "coreos /images/flatcar-stable/flatcar_production_pxe.vmlinuz"
        );
        std::fs::write(
            images.join("version.txt"),
            "FLATCAR_BUILD=3975\nFLATCAR_VERSION=3975.2.0\nFLATCAR_SDK_VERSION=3975.0.0\n",
        )
        .unwrap();
        assert_eq!(describe(&image, &root, None), "coreos 3975.2.0");
        assert_eq!(describe(&image, &root, Some("4000.0.0")), "coreos 4000.0.0");
    }
}
