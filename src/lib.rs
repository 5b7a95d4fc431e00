//! coreos-cluster: a local cluster of network-booted CoreOS-family VMs in QEMU,
//! run by systemd. Data flows one way: config → model → rendered files → actions.

pub mod boot;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod discovery;
pub mod generator;
pub mod guest;
pub mod http;
pub mod ignition;
pub mod kmsg;
pub mod model;
pub mod network;
pub mod output;
pub mod paths;
pub mod qmp;
pub mod status;
pub mod systemd;
pub mod unit_syntax;
pub mod yaml_quote;

use config::ConfigError;
use model::Model;
use paths::Root;

/// Reads and checks the configuration below `root`.
pub fn load_model(root: &Root) -> Result<(config::Sources, Model), ConfigError> {
    let (sources, raw) = config::load(root)?;
    let model = Model::from_raw(&raw, &sources)?;
    Ok((sources, model))
}
