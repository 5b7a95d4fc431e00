//! What every guest config says, whatever its format (Ignition or
//! cloud-config): the etcd settings, the cluster's identity, the per-node
//! placeholders nginx fills in, and the etcd start script.

use crate::boot::EtcdBootstrap;
use crate::names::{ETCD_CLIENT_PORT, ETCD_PEER_PORT};

/// Filled in by nginx with the client's address (`$remote_addr`).
pub const PRIVATE_IPV4: &str = "$private_ipv4";
/// Filled in by nginx with a host name made from the client's address
/// (`10.77.0.11` gives `coreos-10-77-0-11`).
pub const PRIVATE_HOSTNAME: &str = "$private_hostname";

/// Where our etcd unit keeps its data on the guest (RAM on a PXE-booted guest).
pub const ETCD_DATA_DIR: &str = "/var/lib/coreos-cluster-etcd";

/// Starts etcd from `ETCD_*` variables, first rejoining the cluster when
/// this node lost its data (see the script's header). Used by the Ignition
/// config and by the test guest alike.
pub const ETCD_START_SCRIPT: &str = include_str!("../templates/guest/etcd-start.sh");

/// A token unique to one start of a cluster: `coreos-cluster-<size>-<16 hex>`.
/// As etcd's `initial-cluster-token` it keeps a member of an earlier cluster
/// on the same addresses from being taken for one of this cluster's.
pub fn new_cluster_token(size: u8) -> std::io::Result<String> {
    let hex = crate::hex::random_hex(8)?;
    Ok(format!("coreos-cluster-{size}-{hex}"))
}

/// etcd's settings for every node, by the names coreos-cloudinit reads
/// (`coreos.etcd2`, underscore form); etcd's environment variable is
/// `ETCD_` and the name in upper case. Per-node values are placeholders.
pub fn etcd_settings(bootstrap: &EtcdBootstrap) -> Vec<(&'static str, String)> {
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
    settings.extend([
        (
            "advertise_client_urls",
            format!("http://{ip}:{ETCD_CLIENT_PORT}"),
        ),
        (
            "initial_advertise_peer_urls",
            format!("http://{ip}:{ETCD_PEER_PORT}"),
        ),
        (
            "listen_client_urls",
            format!("http://0.0.0.0:{ETCD_CLIENT_PORT},http://0.0.0.0:4001"),
        ),
        ("listen_peer_urls", format!("http://{ip}:{ETCD_PEER_PORT}")),
    ]);
    settings
}

/// The environment file of our etcd unit: `ETCD_NAME=...` lines. Values are
/// URLs, addresses and tokens checked to hold no whitespace or quotes.
pub fn etcd_environment(bootstrap: &EtcdBootstrap) -> String {
    let mut text = String::new();
    for (name, value) in etcd_settings(bootstrap)
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
    fn tokens_are_unique_and_well_formed() {
        let a = new_cluster_token(3).unwrap();
        let b = new_cluster_token(3).unwrap();
        assert_ne!(a, b);
        let hex = a.strip_prefix("coreos-cluster-3-").unwrap();
        assert_eq!(hex.len(), 16);
        assert!(hex
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn environment_for_static_and_discovery() {
        let env = etcd_environment(&EtcdBootstrap::Static {
            initial_cluster: "10.77.0.11=http://10.77.0.11:2380".into(),
            token: "coreos-cluster-1-0123456789abcdef".into(),
        });
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
        let env = etcd_environment(&EtcdBootstrap::Discovery("https://d.example/x".into()));
        assert!(
            env.contains("\nETCD_DISCOVERY=https://d.example/x\n"),
            "{env}"
        );
        assert!(!env.contains("INITIAL_CLUSTER"), "{env}");
    }
}
