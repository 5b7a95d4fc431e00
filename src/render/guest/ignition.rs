//! The Ignition config (spec 3.3.0) that Flatcar guests fetch from
//! `ignition.config.url=`: the `core` user's SSH keys, the host name, etcd and
//! etcdctl fetched from our nginx with their SHA-512, and our etcd unit with
//! its start script. One config serves every node: nginx fills in
//! `$private_ipv4` and `$private_hostname` per client, as for the cloud-config.
//! Rendering is pure; hashing and writing are the caller's.

use std::net::Ipv4Addr;
use std::path::Path;

use serde::Serialize;

use crate::base::names::{served_base_url, ETCD_BINARIES, GUEST_USER};
use crate::model::{ImageSource, Model};
use crate::render::guest::{
    etcd_environment, EtcdBootstrap, ServedFile, ETCD_START_SCRIPT, PRIVATE_HOSTNAME, PRIVATE_IPV4,
};

/// The spec version emitted: Flatcar documents it, Debian 12's Ignition 2.14
/// and current Flatcar's accept it.
const SPEC_VERSION: &str = "3.3.0";
/// Spec versions of Ignition's configs, oldest first.
const SPEC_VERSIONS: [&str; 6] = ["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0", "3.5.0"];

/// What the guests' Ignition reads of a user's merged config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeSpecs {
    pub versions: &'static [&'static str],
    /// Whose Ignition that is, for messages.
    pub reader: &'static str,
}

/// The spec versions the configured image's Ignition reads. Flatcar's
/// stable, beta and alpha ship Ignition 2.24 (spec up to 3.5.0), its
/// newest LTS stream up to 3.4.0 (what Butane's `variant: flatcar` 1.1.0
/// emits); LTS-2023 and the other images' Ignition 2.14 read up to 3.3.0.
/// A pinned `image.version` is taken as its channel's.
pub fn merge_specs(source: &ImageSource) -> MergeSpecs {
    match source {
        ImageSource::Flatcar { channel, .. } if channel == "lts" => MergeSpecs {
            versions: &SPEC_VERSIONS[..5],
            reader: "the Ignition of Flatcar's newest LTS stream",
        },
        ImageSource::Flatcar { .. } => MergeSpecs {
            versions: &SPEC_VERSIONS,
            reader: "the Ignition 2.24 of Flatcar stable, beta and alpha",
        },
        ImageSource::CoreOs | ImageSource::Files => MergeSpecs {
            versions: &SPEC_VERSIONS[..4],
            reader: "Ignition 2.14, the oldest the supported images ship",
        },
    }
}
/// The etcd binaries, below our directory of the HTTP root.
pub const ETCD_DIR: &str = "etcd";
/// The user's merged configs, below our directory of the HTTP root.
pub const MERGE_DIR: &str = "merge";
/// A merged config larger than this is refused (Ignition configs are small).
pub const MERGE_MAX_BYTES: u64 = 1 << 20;

/// Where things go on the guest.
const GUEST_BIN_DIR: &str = "/opt/bin";
const GUEST_ETCD_UNIT: &str = "coreos-cluster-etcd.service";
const GUEST_ETCD_SCRIPT: &str = "/opt/bin/coreos-cluster-etcd";
const GUEST_ETCD_ENV: &str = "/etc/coreos-cluster/etcd.env";

#[derive(Serialize)]
struct Config {
    ignition: Ignition,
    passwd: Passwd,
    storage: Storage,
    systemd: Systemd,
}

#[derive(Serialize)]
struct Ignition {
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<IgnitionConfig>,
}

#[derive(Serialize)]
struct IgnitionConfig {
    merge: Vec<Resource>,
}

#[derive(Serialize)]
struct Resource {
    source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification: Option<Verification>,
}

#[derive(Serialize)]
struct Verification {
    hash: String,
}

#[derive(Serialize)]
struct Passwd {
    users: Vec<User>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct User {
    name: &'static str,
    ssh_authorized_keys: Vec<String>,
}

#[derive(Serialize)]
struct Storage {
    files: Vec<File>,
}

#[derive(Serialize)]
struct File {
    path: String,
    /// Decimal in JSON, as the spec has it.
    mode: u32,
    /// A RAM root starts from the image's files (e.g. `/etc/hostname`).
    overwrite: bool,
    contents: Resource,
}

#[derive(Serialize)]
struct Systemd {
    units: Vec<Unit>,
}

#[derive(Serialize)]
struct Unit {
    name: &'static str,
    enabled: bool,
    contents: String,
}

/// The Ignition config for every node of a cluster. `etcd` holds the served
/// etcd and etcdctl (in `ETCD_BINARIES` order), `merges` the user's configs
/// as served (`merge_paths`), each with its SHA-512.
pub fn render(
    model: &Model,
    host: Ipv4Addr,
    bootstrap: &EtcdBootstrap,
    etcd: &[ServedFile; 2],
    merges: &[ServedFile],
) -> String {
    let base = served_base_url(host, model.http_port);
    let fetched = |file: &ServedFile| Resource {
        source: format!("{base}/{}", file.path),
        verification: Some(Verification {
            hash: format!("sha512-{}", file.sha512),
        }),
    };
    let mut files = vec![
        data_file("/etc/hostname", 0o644, &format!("{PRIVATE_HOSTNAME}\n")),
        data_file(
            GUEST_ETCD_ENV,
            0o644,
            &etcd_environment(bootstrap, model.etcd_cluster.v2_api),
        ),
        data_file(GUEST_ETCD_SCRIPT, 0o755, ETCD_START_SCRIPT),
    ];
    for (name, served) in ETCD_BINARIES.iter().zip(etcd) {
        files.push(File {
            path: format!("{GUEST_BIN_DIR}/{name}"),
            mode: 0o755,
            overwrite: true,
            contents: fetched(served),
        });
    }
    let config = Config {
        ignition: Ignition {
            version: SPEC_VERSION,
            config: (!merges.is_empty()).then(|| IgnitionConfig {
                merge: merges.iter().map(fetched).collect(),
            }),
        },
        passwd: Passwd {
            users: vec![User {
                name: GUEST_USER,
                ssh_authorized_keys: model.guest.ssh_authorized_keys.clone(),
            }],
        },
        storage: Storage { files },
        systemd: Systemd {
            units: vec![Unit {
                name: GUEST_ETCD_UNIT,
                enabled: true,
                contents: etcd_unit(),
            }],
        },
    };
    let mut text = serde_json::to_string_pretty(&config).expect("plain data serializes");
    text.push('\n');
    text
}

fn etcd_unit() -> String {
    format!(
        "[Unit]\n\
         Description=etcd of the coreos-cluster (rejoins after a lost RAM root)\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         EnvironmentFile={GUEST_ETCD_ENV}\n\
         ExecStart={GUEST_ETCD_SCRIPT}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

fn data_file(path: &str, mode: u32, text: &str) -> File {
    File {
        path: path.to_string(),
        mode,
        overwrite: true,
        contents: Resource {
            source: data_url(text),
            verification: None,
        },
    }
}

/// An RFC 2397 `data:` URL of `text`, percent-encoded except for the
/// placeholders, which stay literal so nginx can fill them in.
fn data_url(text: &str) -> String {
    let mut url = String::from("data:,");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            url.push(byte as char);
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    for placeholder in [PRIVATE_IPV4, PRIVATE_HOSTNAME] {
        let encoded = placeholder.replace('$', "%24");
        url = url.replace(&encoded, placeholder);
    }
    url
}

/// Where each of the user's merged configs is served (relative to our
/// directory of the HTTP root), by position: `merge/1.ign`, `merge/2.ign`, ...
pub fn merge_paths(model: &Model) -> Vec<(&Path, String)> {
    (model.guest.ignition_merge.iter().enumerate())
        .map(|(i, source)| (source.as_path(), format!("{MERGE_DIR}/{}.ign", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn merged_configs_may_have_what_the_channels_ignition_reads() {
        let newest = |toml: &str| {
            let (_, model) = Model::from_toml(toml).unwrap();
            *merge_specs(&model.image.source).versions.last().unwrap()
        };
        assert_eq!(newest(""), "3.5.0");
        assert_eq!(newest("[image]\nchannel = \"alpha\"\n"), "3.5.0");
        assert_eq!(newest("[image]\nchannel = \"lts\"\n"), "3.4.0");
        let coreos = "[image]\nsource = \"coreos\"\n[guest]\nconfig = \"ignition\"\n";
        assert_eq!(newest(coreos), "3.3.0");
    }

    use super::*;

    #[test]
    fn data_urls_encode_everything_but_the_placeholders() {
        assert_eq!(data_url("a b\n"), "data:,a%20b%0A");
        assert_eq!(
            data_url("X=$private_ipv4:1 $HOME $private_hostname"),
            "data:,X%3D$private_ipv4%3A1%20%24HOME%20$private_hostname"
        );
    }
}
