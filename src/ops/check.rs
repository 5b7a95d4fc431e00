//! `check`: the config and every file it names, checked as every job checks
//! them, and whether a cluster of a given size fits.

use crate::base::names;
use crate::base::paths::Root;
use crate::config::Sources;
use crate::model::Model;
use crate::ops::load::load_model;

/// The checked config, or the first problem; with `size`, also whether
/// `coreos-cluster@SIZE` fits it.
pub fn check(root: &Root, size: Option<&str>) -> anyhow::Result<(Sources, Model)> {
    let (sources, model) = load_model(root)?;
    if let Some(size) = size {
        names::parse_cluster_size(size, model.cluster.max_nodes)?;
    }
    Ok((sources, model))
}
