//! Settings of our TFTP server (coreos-cluster-tftp.service, tftp-hpa's
//! in.tftpd) for the pxelinux boot method, rendered by `setup-tftp` into the
//! unit's runtime directory and read by its `ExecStart=`. Pure.

use std::net::Ipv4Addr;

use askama::Template;

use crate::base::paths::TFTPD_ENV;
use crate::config::Sources;
use crate::model::Model;
use crate::render::output::{header, RenderedFile};

#[derive(Template)]
#[template(path = "boot/tftpd.env", escape = "none")]
struct TftpdEnv<'a> {
    header: &'a str,
    address: Ipv4Addr,
    port: u16,
    root: &'a str,
}

/// in.tftpd's address (the bridge's), port and root, as an environment file.
pub fn render(model: &Model, sources: &Sources, address: Ipv4Addr) -> Vec<RenderedFile> {
    let header = header("coreos-cluster setup-tftp", sources);
    vec![RenderedFile::from_template(
        TFTPD_ENV,
        &TftpdEnv {
            header: &header,
            address,
            port: model.tftp_port,
            // One word for systemd: config paths hold no quotes, `\` or `$`.
            root: &model.tftp_root.to_string_lossy(),
        },
    )]
}
