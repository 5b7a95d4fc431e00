//! coreos-cluster: a local cluster of network-booted CoreOS-family VMs in QEMU,
//! run by systemd. Data flows one way, and the folders say so (ARCHITECTURE.md);
//! each imports only from those above it in this list (`tests/layering.rs`):
//!
//! - `base`: fixed facts and pure helpers: paths and the `Root` they hang off,
//!   unit and device names, defaults, the text rule, hex, escaping.
//! - `config`: config files → raw config, each value with its file and position.
//! - `model`: raw config → the checked model (validation by section), subnet
//!   arithmetic, single-value parsers, timeouts. Pure.
//! - `render`: model (+ inputs passed in) → `Vec<RenderedFile>`: the generator's
//!   units, networkd, nftables, nginx, in.tftpd, boot scripts, guest configs. Pure.
//! - `logging`: the CLI's log (stderr with priorities) and the generator's (/dev/kmsg).
//! - `host`: every side effect: writing files, the bridge, discovery and fetch
//!   over HTTP, systemd over D-Bus, machined, QEMU (QMP, supervision, console),
//!   ports, access checks.
//! - `ops`: one module per job: `check`, `fetch`, `prepare`, `setup-*`, `up`/`down`, `status`, `console`/`ssh`/`logs`, the `vm-*` helpers;
//!   `load_model` for all of them.
//! - `cli`: argument parsing, checks and printing, one module per group of subcommands.

pub mod base;
pub mod cli;
pub mod config;
pub mod host;
pub mod logging;
pub mod model;
pub mod ops;
pub mod render;
