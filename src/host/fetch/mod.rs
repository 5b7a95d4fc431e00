//! Fetching what the guests boot and run: Flatcar images (signature-checked)
//! and the etcd release (checksum-checked), kept in a cache below the image dir.
//!
//! [`ensure`] never touches the network when the configured image and etcd are
//! cached; [`update`] resolves the channel's current release and fetches it.

pub mod cache;
pub mod download;
pub mod etcd;
pub mod flatcar;
pub mod progress;
pub mod signature;

use crate::base::paths::Root;
use crate::host::http::Client;
use crate::model::{EtcdSource, ImageSource, Model};

pub use etcd::CachedEtcd;
pub use flatcar::CachedImage;

/// What the guests boot and run, as found in (or put into) the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// `None` when the image is not fetched (`image.source` other than flatcar).
    pub image: Option<CachedImage>,
    /// `None` when the guests bring their own etcd.
    pub etcd: Option<CachedEtcd>,
}

/// Makes sure the configured image and etcd are cached, fetching only what is
/// missing; a cached, verified image means no network access at all.
pub fn ensure(root: &Root, model: &Model) -> anyhow::Result<Fetched> {
    fetch(root, model, false)
}

/// Resolves the channel's current release (or the pinned one) and fetches
/// it and etcd if they are not cached yet; switches `current` to it.
pub fn update(root: &Root, model: &Model) -> anyhow::Result<Fetched> {
    fetch(root, model, true)
}

fn fetch(root: &Root, model: &Model, resolve: bool) -> anyhow::Result<Fetched> {
    let http = Client::for_downloads();
    let image = match &model.image.source {
        ImageSource::Flatcar { upstream, .. } => {
            // `update` resolves the release first; `ensure` takes what is cached.
            let cached = if resolve {
                None
            } else {
                flatcar::cached(root, upstream)
            };
            Some(match cached {
                Some(image) => image,
                None => flatcar::update(root, &http, upstream)?,
            })
        }
        ImageSource::CoreOs | ImageSource::Files => None,
    };
    if !model.serves_etcd() {
        return Ok(Fetched { image, etcd: None });
    }
    let etcd = match &model.etcd {
        EtcdSource::Binary(path) => CachedEtcd {
            version: None,
            etcd: root.join(path),
            etcdctl: None,
        },
        EtcdSource::Release {
            version,
            sha256,
            base_url,
            cache_dir,
        } => match etcd::cached(root, version, cache_dir) {
            Some(found) => found,
            None => etcd::ensure(root, &http, version, sha256, base_url, cache_dir)?,
        },
    };
    Ok(Fetched {
        image,
        etcd: Some(etcd),
    })
}
