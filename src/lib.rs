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
//! - `generator`, `network`, `nat`, `http`, `tftp`, `boot`: renderers, model → `Vec<RenderedFile>`, pure.
//! - `ports`: whether a server can bind its port, and who holds it when not.
//! - `access`: what the service user may read; publishing no wider than the source.
//! - `prepare`: what the cluster's units run first: discovery, render, write, copy images.
//! - `image_version`: the image in use, recorded by `prepare` for `status`.
//! - `discovery`: allocating an etcd discovery URL over HTTP.
//! - `systemd`: the narrow D-Bus trait and its zbus implementation.
//! - `cluster`: `up` and `down` over that trait.
//! - `timeouts`: unit and helper timeouts derived from the config, nested.
//! - `status`: what `coreos-cluster status` reports.
//! - `qmp`: a minimal QMP client (greeting, ACPI powerdown).
//! - `supervise`: QEMU under `vm-exec`: serial console to socket and journal, machinectl poweroff as ACPI.
//! - `machined`: registering a VM with systemd-machined.
//! - `console`, `ssh`: reaching a node: its serial console, ssh's arguments.
//! - `logging`, `kmsg`: the CLI's log (journal with priorities, or stderr); the generator's (/dev/kmsg).
//! - `cli`: argument parsing and dispatch, one module per group of subcommands.

pub mod access;
pub mod boot;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod console;
pub mod discovery;
pub mod fetch;
pub mod generator;
pub mod guest;
pub mod hex;
pub mod http;
pub mod ignition;
pub mod image_version;
pub mod kmsg;
pub mod logging;
pub mod machined;
pub mod model;
pub mod names;
pub mod nat;
pub mod network;
pub mod output;
pub mod paths;
pub mod ports;
pub mod prepare;
pub mod qmp;
pub mod ssh;
pub mod status;
pub mod supervise;
pub mod systemd;
pub mod tftp;
pub mod timeouts;
pub mod unit_syntax;
pub mod validate;
pub mod values;
pub mod yaml_quote;

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
