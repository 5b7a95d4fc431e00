//! The first step of every job: the config below a root, checked into a model.

use crate::base::paths::Root;
use crate::config::{self, ConfigError, Sources};
use crate::host::access;
use crate::model::Model;

/// Reads and checks the configuration below `root`, and the files it names.
pub fn load_model(root: &Root) -> Result<(Sources, Model), ConfigError> {
    let (sources, raw) = config::load(root)?;
    let model = Model::from_raw(&raw, &sources)?;
    access::check_named_files(root, &model)?;
    Ok((sources, model))
}
