//! What every guest config says, whatever its format (Ignition or
//! cloud-config): the etcd settings, the cluster's identity, the per-node
//! placeholders nginx fills in, and the etcd start script.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::base::names::{self, NodeIndex};
use crate::base::paths::{CLOUD_CONFIG, IGNITION_CONFIG, SUBDIR};
use crate::model::{Discovery, GuestConfigFormat, Model, NetworkMode};

pub mod cloud_config;
pub mod ignition;

/// How etcd members find each other, as written into the cloud-config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdBootstrap {
    /// A discovery URL (public service or self-hosted etcd).
    Discovery(String),
    /// `initial-cluster` from the known addresses (members are named by
    /// address) and the token unique to this start of the cluster.
    Static {
        initial_cluster: String,
        token: String,
    },
}

/// What the guests' config is made from besides the model: the user's
/// cloud-config template, or the files Ignition fetches with their hashes.
pub enum GuestInput<'a> {
    CloudConfig {
        user_template: Option<&'a str>,
    },
    Ignition {
        /// etcd and etcdctl, in `names::ETCD_BINARIES` order.
        etcd: &'a [ServedFile; 2],
        merges: &'a [ServedFile],
    },
}

/// A file served by our nginx that Ignition fetches, checked by its SHA-512.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedFile {
    /// Relative to our directory of the HTTP root (`etcd/etcd`, `merge/1.ign`).
    pub path: String,
    /// 128 lowercase hex digits.
    pub sha512: String,
}

/// Filled in by nginx with the client's address (`$remote_addr`).
pub const PRIVATE_IPV4: &str = "$private_ipv4";
/// Filled in by nginx with a host name made from the client's address
/// (`10.77.0.11` gives `coreos-10-77-0-11`).
pub const PRIVATE_HOSTNAME: &str = "$private_hostname";

/// Where our etcd unit keeps its data on the guest (RAM on a PXE-booted guest).
const ETCD_DATA_DIR: &str = "/var/lib/coreos-cluster-etcd";

/// Starts etcd from `ETCD_*` variables, first rejoining the cluster when
/// this node lost its data (see the script's header). Used by the Ignition
/// config and by the test guest alike.
pub const ETCD_START_SCRIPT: &str = include_str!("../../../templates/guest/etcd-start.sh");

/// A token unique to one start of a cluster: `coreos-cluster-<size>-<16 hex>`,
/// `random` being 16 random hex digits (`host::random`). As etcd's
/// `initial-cluster-token` it keeps a member of an earlier cluster on the
/// same addresses from being taken for one of this cluster's.
pub fn cluster_token(size: u8, random: &str) -> String {
    format!("coreos-cluster-{size}-{random}")
}

/// The static bootstrap for a cluster of `size` nodes, if the mode is static:
/// the voters are nodes 1 to `etcd.members`' count, the others proxy to them.
/// `token` is new for each start (`cluster_token`).
pub fn static_bootstrap(model: &Model, size: u8, token: &str) -> Option<EtcdBootstrap> {
    let (Discovery::Static, NetworkMode::Isolated { subnet, .. }) =
        (&model.discovery, &model.network.mode)
    else {
        return None;
    };
    let members: Vec<String> = (1..=model.etcd_cluster.members.count(size))
        .filter_map(NodeIndex::new)
        .map(|n| {
            let ip = subnet.node_address(n);
            format!("{ip}={}", names::etcd_peer_url(ip))
        })
        .collect();
    Some(EtcdBootstrap::Static {
        initial_cluster: members.join(","),
        token: token.to_string(),
    })
}

/// The guests' config file (`config.ign` or `cloud-config.yaml`) below our
/// directory of the HTTP root.
pub fn guest_config_file(model: &Model) -> &'static str {
    match model.guest.config {
        GuestConfigFormat::Ignition => IGNITION_CONFIG,
        GuestConfigFormat::CloudConfig => CLOUD_CONFIG,
    }
}

/// Where the guests' config is served from, on the running system.
pub fn guest_config_path(model: &Model) -> PathBuf {
    model.http_root.join(SUBDIR).join(guest_config_file(model))
}

/// etcd's settings for every node, by the names coreos-cloudinit reads
/// (`coreos.etcd2`, underscore form); etcd's environment variable is
/// `ETCD_` and the name in upper case. Per-node values are placeholders.
/// Whether a node votes or proxies follows from them (the start script).
pub fn etcd_settings(bootstrap: &EtcdBootstrap, v2_api: bool) -> Vec<(&'static str, String)> {
    let ip = PRIVATE_IPV4;
    let mut settings = vec![("name", ip.to_string())];
    match bootstrap {
        EtcdBootstrap::Discovery(url) => settings.push(("discovery", url.clone())),
        EtcdBootstrap::Static {
            initial_cluster,
            token,
        } => settings.extend([
            ("initial_cluster", initial_cluster.clone()),
            ("initial_cluster_state", "new".to_string()),
            ("initial_cluster_token", token.clone()),
        ]),
    }
    let any = Ipv4Addr::UNSPECIFIED;
    settings.extend([
        ("advertise_client_urls", names::etcd_client_url(ip)),
        ("initial_advertise_peer_urls", names::etcd_peer_url(ip)),
        (
            "listen_client_urls",
            format!(
                "{},{}",
                names::etcd_client_url(any),
                names::etcd_legacy_client_url(any)
            ),
        ),
        ("listen_peer_urls", names::etcd_peer_url(ip)),
    ]);
    if v2_api {
        settings.push(("enable_v2", "true".to_string()));
    }
    settings
}

/// The environment file of our etcd unit: `ETCD_NAME=...` lines. Values are
/// URLs, addresses and tokens checked to hold no whitespace or quotes.
pub fn etcd_environment(bootstrap: &EtcdBootstrap, v2_api: bool) -> String {
    let mut text = String::new();
    for (name, value) in etcd_settings(bootstrap, v2_api)
        .into_iter()
        .chain([("data_dir", ETCD_DATA_DIR.to_string())])
    {
        text.push_str(&format!("ETCD_{}={value}\n", name.to_uppercase()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_the_size() {
        assert_eq!(
            cluster_token(3, "0123456789abcdef"),
            "coreos-cluster-3-0123456789abcdef"
        );
    }

    #[test]
    fn environment_for_static_and_discovery() {
        let env = etcd_environment(
            &EtcdBootstrap::Static {
                initial_cluster: "10.77.0.11=http://10.77.0.11:2380".into(),
                token: "coreos-cluster-1-0123456789abcdef".into(),
            },
            false,
        );
        assert_eq!(
            env,
            "ETCD_NAME=$private_ipv4\n\
             ETCD_INITIAL_CLUSTER=10.77.0.11=http://10.77.0.11:2380\n\
             ETCD_INITIAL_CLUSTER_STATE=new\n\
             ETCD_INITIAL_CLUSTER_TOKEN=coreos-cluster-1-0123456789abcdef\n\
             ETCD_ADVERTISE_CLIENT_URLS=http://$private_ipv4:2379\n\
             ETCD_INITIAL_ADVERTISE_PEER_URLS=http://$private_ipv4:2380\n\
             ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379,http://0.0.0.0:4001\n\
             ETCD_LISTEN_PEER_URLS=http://$private_ipv4:2380\n\
             ETCD_DATA_DIR=/var/lib/coreos-cluster-etcd\n"
        );
        let env = etcd_environment(
            &EtcdBootstrap::Discovery("https://d.example/x".into()),
            true,
        );
        assert!(
            env.contains("\nETCD_DISCOVERY=https://d.example/x\n"),
            "{env}"
        );
        assert!(!env.contains("INITIAL_CLUSTER"), "{env}");
        assert!(env.contains("\nETCD_ENABLE_V2=true\n"), "{env}");
    }
}
