//! Which image the nodes boot, recorded by `prepare` for `status`: the
//! version fetched (Flatcar), or the one in the `version.txt` Flatcar (and
//! CoreOS) publish beside their PXE images when it is there, else the
//! kernel's path.

use std::path::Path;

use crate::base::paths::Root;
use crate::model::{Image, ImageSource};

/// Keys of version.txt that name the release, newest naming first.
const VERSION_KEYS: [&str; 2] = ["FLATCAR_VERSION=", "COREOS_VERSION="];

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
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        VERSION_KEYS
            .iter()
            .find_map(|key| line.strip_prefix(key))
            .map(|v| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
