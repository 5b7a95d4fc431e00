use std::path::Path;

use clap::Args;

use crate::base::paths::Root;
use crate::ops;

/// Download the Flatcar image for the configured channel and the etcd release.
///
/// Resolves the channel's current release (or the one pinned with
/// image.version), downloads the PXE kernel and initramfs from that release's
/// directory, checks their OpenPGP signatures against Flatcar's signing key
/// (primary fingerprint pinned), and switches the cache's `current` link only
/// when every file verified. Downloads resume after an interruption. The etcd
/// release (for guests that have no etcd of their own) is checked against its
/// pinned SHA-256. Nothing is downloaded that is already cached.
#[derive(Debug, Args)]
pub struct Fetch {}

impl Fetch {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        let fetched = ops::fetch::fetch(root)?;
        if let Some(image) = &fetched.image {
            println!("flatcar {}: {}", image.version, parent(&image.kernel));
        }
        match &fetched.etcd {
            Some(etcd) => match &etcd.version {
                Some(version) => println!("etcd {version}: {}", parent(&etcd.etcd)),
                None => println!("etcd: {}", etcd.etcd.display()),
            },
            None => println!("etcd: not needed (the guests bring their own)"),
        }
        Ok(())
    }
}

fn parent(path: &Path) -> String {
    path.parent().unwrap_or(path).display().to_string()
}
