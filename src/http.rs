//! The dedicated nginx's configuration, rendered by `coreos-cluster setup-http`
//! into the HTTP unit's runtime directory.

use std::path::Path;

use askama::Template;

use crate::config::Sources;
use crate::model::{Model, NetworkMode};
use crate::output::{header, RenderedFile};
use crate::paths::NGINX_CONFIG;

#[derive(Template)]
#[template(path = "http/nginx.conf", escape = "none")]
struct NginxConfig<'a> {
    header: &'a str,
    runtime_dir: &'a str,
    http_root: &'a str,
    listen: &'a str,
}

/// nginx.conf for the cluster, relative to `runtime_dir` (a path on the
/// running system): isolated mode listens on the bridge address only;
/// bridged mode (address from the LAN) on port 80 of every address.
pub fn render(model: &Model, sources: &Sources, runtime_dir: &Path) -> Vec<RenderedFile> {
    let header = header("coreos-cluster setup-http", sources);
    let listen = match &model.network.mode {
        NetworkMode::Isolated { subnet, .. } => format!("{}:80", subnet.gateway()),
        NetworkMode::Bridged { .. } => "80".to_string(),
    };
    vec![RenderedFile::from_template(
        NGINX_CONFIG,
        &NginxConfig {
            header: &header,
            // Quoted in the template; config paths never hold `"`, `\\` or `$`.
            runtime_dir: &runtime_dir.to_string_lossy(),
            http_root: &model.http_root.to_string_lossy(),
            listen: &listen,
        },
    )]
}
