//! coreos-cluster: a local cluster of network-booted CoreOS-family VMs in QEMU,
//! run by systemd. Data flows one way: config → model → rendered files → actions.
//!
//! Module map (each owns one job):
//! - `paths`: every fixed path, and the `Root` they hang off (fake roots in tests).
//! - `names`: unit names and instances (format and parse), taps, MACs, etcd ports, served URLs.
//! - `config`: config files → raw config, each value with its file and position; the key list.
//! - `values`: parsers and checks for single values (MAC, subnet, path, URL, SSH key).
//! - `validate`: raw config → model, every error naming file, line, column and key.
//! - `model`: the checked model and the facts derived from it (addresses, MACs, DHCP pool).
//! - `output`: `RenderedFile` (built from a template), and writing: fresh, or atomic and only what changed.
//! - `unit_syntax`: escaping values for unit files.
//! - `generator`, `network`, `http`, `boot`: renderers, model → `Vec<RenderedFile>`, pure.
//! - `access`: what the service user may read; publishing no wider than the source.
//! - `prepare`: what the cluster's units run first: discovery, render, write, copy images.
//! - `discovery`: allocating an etcd discovery URL over HTTP.
//! - `systemd`: the narrow D-Bus trait and its zbus implementation.
//! - `cluster`: `up` and `down` over that trait.
//! - `timeouts`: unit and helper timeouts derived from the config, nested.
//! - `status`: what `coreos-cluster status` reports.
//! - `qmp`: a minimal QMP client (greeting, ACPI powerdown).
//! - `logging`, `kmsg`: the CLI's log (journal with priorities, or stderr); the generator's (/dev/kmsg).
//! - `cli`: argument parsing and dispatch, one module per group of subcommands.

pub mod access;
pub mod boot;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod discovery;
pub mod generator;
pub mod http;
pub mod kmsg;
pub mod logging;
pub mod model;
pub mod names;
pub mod network;
pub mod output;
pub mod paths;
pub mod prepare;
pub mod qmp;
pub mod status;
pub mod systemd;
pub mod timeouts;
pub mod unit_syntax;
pub mod validate;
pub mod values;

use config::ConfigError;
use model::Model;
use paths::Root;

/// Reads and checks the configuration below `root`.
pub fn load_model(root: &Root) -> Result<(config::Sources, Model), ConfigError> {
    let (sources, raw) = config::load(root)?;
    let model = Model::from_raw(&raw, &sources)?;
    access::check_named_files(root, &model)?;
    Ok((sources, model))
}
