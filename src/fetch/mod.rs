//! Fetching what the guests boot and run: Flatcar images (signature-checked)
//! and the etcd release (checksum-checked), kept in a cache below the image dir.

pub mod cache;
pub mod download;
pub mod flatcar;
pub mod progress;
pub mod signature;
