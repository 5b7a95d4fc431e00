//! The dedicated nginx's configuration, rendered by `coreos-cluster setup-http`
//! into the HTTP unit's runtime directory.

use std::net::Ipv4Addr;
use std::path::Path;

use askama::Template;

use crate::base::paths::{NGINX_CONFIG, SUBDIR};
use crate::config::Sources;
use crate::model::{Model, Subnet};
use crate::render::guest::ignition::MERGE_DIR;
use crate::render::output::{header, RenderedFile};

#[derive(Template)]
#[template(path = "http/nginx.conf", escape = "none")]
struct NginxConfig<'a> {
    header: &'a str,
    runtime_dir: &'a str,
    http_root: &'a str,
    listen: String,
    allow: Option<String>,
    /// Where the user's merged Ignition configs are served (`/coreos-cluster/merge/`).
    merge_location: String,
}

/// Where our nginx listens, and whom it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpListen {
    /// The bridge's address: the host's in isolated mode, the LAN's lease in bridged mode.
    pub address: Ipv4Addr,
    /// The only clients nginx answers (bridged mode: the LAN the bridge is
    /// on). None in isolated mode, where the unit's IPAddressAllow= does it.
    pub clients: Option<Subnet>,
}

/// nginx.conf for the cluster, relative to `runtime_dir` (a path on the
/// running system), listening on the bridge's address and `http.port`.
pub fn render(
    model: &Model,
    sources: &Sources,
    runtime_dir: &Path,
    listen: HttpListen,
) -> Vec<RenderedFile> {
    let header = header("coreos-cluster setup-http", sources);
    vec![RenderedFile::from_template(
        NGINX_CONFIG,
        &NginxConfig {
            header: &header,
            // Quoted in the template; config paths never hold `"`, `\\` or `$`.
            runtime_dir: &runtime_dir.to_string_lossy(),
            http_root: &model.http_root.to_string_lossy(),
            listen: format!("{}:{}", listen.address, model.http_port),
            allow: listen.clients.map(|subnet| subnet.to_string()),
            merge_location: format!("/{SUBDIR}/{MERGE_DIR}/"),
        },
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bridged_model() -> (Sources, Model) {
        let text = "[network]\nmode = \"bridged\"\nuplink = \"eth0\"\n\
                    [discovery]\nmode = \"public\"\n[http]\nport = 8123\n";
        Model::from_toml(text).unwrap()
    }

    #[test]
    fn bridged_mode_serves_only_the_bridges_lan() {
        let (sources, model) = bridged_model();
        let address = Ipv4Addr::new(192, 168, 77, 1);
        let listen = HttpListen {
            address,
            clients: Some(Subnet::containing(address, 24)),
        };
        let files = render(&model, &sources, Path::new("/run/x"), listen);
        let crate::render::output::Contents::Text(text) = &files[0].contents else {
            panic!("nginx.conf is text")
        };
        assert!(text.contains("listen 192.168.77.1:8123;"), "{text}");
        assert!(
            text.contains("allow 192.168.77.0/24;\n        deny all;"),
            "{text}"
        );
    }
}
