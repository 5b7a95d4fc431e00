//! `fetch`: the configured Flatcar release and etcd, downloaded and verified
//! into the cache before any cluster needs them.

use crate::base::paths::Root;
use crate::host::fetch::{self, Fetched};
use crate::ops::load::load_model;

/// Brings the cache up to date with the config's channel (or pinned
/// version) and etcd; what it holds afterwards.
pub fn fetch(root: &Root) -> anyhow::Result<Fetched> {
    let (_, model) = load_model(root)?;
    fetch::update(root, &model)
}
