//! The model (and runtime inputs passed in as arguments) → files, pure: the
//! generator's units and drop-ins, networkd, nftables, nginx, in.tftpd, the
//! boot scripts and the guests' configs. Nothing here touches the host.

pub mod boot;
pub mod generator;
pub mod guest;
pub mod networkd;
pub mod nftables;
pub mod nginx;
pub mod output;
pub mod tftpd;
