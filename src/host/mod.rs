//! Every side effect on the host, one module per kind: files, the bridge,
//! HTTP (one client for discovery and fetch; etcd's health and members for
//! `status`), systemd over D-Bus, machined,
//! QEMU (QMP, supervision, console), ports, access checks.

pub mod access;
pub mod bridge;
pub mod console;
pub mod discovery;
pub mod etcd;
pub mod fetch;
pub mod files;
pub mod http;
pub mod image_version;
pub mod machined;
pub mod networkctl;
pub mod ports;
pub mod procs;
pub mod qmp;
pub mod random;
pub mod supervise;
pub mod systemd;
