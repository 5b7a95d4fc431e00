//! `coreos-cluster prepare N` (ExecStartPre= of coreos-cluster@N) and the
//! setup commands of the network and HTTP units.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::boot::{self, EtcdBootstrap, CLOUD_CONFIG, SUBDIR};
use crate::model::{Discovery, Model, NetworkMode};
use crate::output::{sync_dir, write_if_changed};
use crate::paths::Root;
use crate::status::DISCOVERY_URL_FILE;
use crate::{discovery, guest, http, network};

/// Prepare what network-booting VMs ask for (ExecStartPre= of coreos-cluster@N).
///
/// Allocates etcd discovery for N nodes (static, public or self-hosted etcd),
/// writes the cloud-config, the boot script (iPXE or pxelinux) and the kernel
/// and initrd into the HTTP or TFTP root. Files are replaced atomically and
/// only when they changed; running it again gives the same files, except for
/// a new discovery token.
#[derive(Debug, Args)]
pub struct Prepare {
    /// Number of nodes (the instance of coreos-cluster@N).
    size: String,
}

impl Prepare {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        let (sources, model) = crate::load_model(root)?;
        let size = crate::cluster::parse_cluster_size(&self.size, model.cluster.max_nodes)?;
        let host = host_address(&model)?;

        let bootstrap = match &model.discovery {
            Discovery::Static => {
                let token = guest::new_cluster_token(size).context("making the cluster token")?;
                boot::static_bootstrap(&model, size, &token)
                    .context("static discovery needs isolated mode")?
            }
            Discovery::Public { base_url } => {
                EtcdBootstrap::Discovery(discovery::allocate_public(base_url, size)?)
            }
            Discovery::Etcd { url } => {
                EtcdBootstrap::Discovery(discovery::allocate_etcd(url, size)?)
            }
        };
        let url_file = root.join(DISCOVERY_URL_FILE);
        match &bootstrap {
            EtcdBootstrap::Discovery(url) => {
                write_if_changed(&url_file, format!("{url}\n").as_bytes(), 0o644)
                    .with_context(|| format!("writing {}", url_file.display()))?;
                println!("discovery: {url}");
            }
            EtcdBootstrap::Static {
                initial_cluster,
                token,
            } => {
                let _ = std::fs::remove_file(&url_file);
                println!("discovery: static, initial-cluster {initial_cluster}, token {token}");
            }
        }

        let template = match &model.cloud_config.template {
            Some(path) => Some(
                std::fs::read_to_string(root.join(path))
                    .with_context(|| format!("reading cloud-config template {}", path.display()))?,
            ),
            None => None,
        };
        let cloud_config =
            boot::render_cloud_config(&model, &sources, &bootstrap, template.as_deref())?;
        let cloud_config_path = model.http_root.join(SUBDIR).join(CLOUD_CONFIG);
        write_file(root, &cloud_config_path, &cloud_config)?;

        let (script_path, script) = boot::render_boot_script(&model, &sources, host);
        write_file(root, &script_path, &script)?;

        for (source, dest) in boot::copies(&model) {
            let what = match dest.file_name().and_then(|n| n.to_str()) {
                Some("vmlinuz") => "kernel (image.kernel)",
                Some("initrd") => "initrd (image.initrd)",
                _ => "syslinux file (boot.syslinux-dir; package syslinux)",
            };
            boot::install_file(&root.join(&source), &root.join(&dest), what)?;
        }
        println!(
            "prepared {size} nodes: cloud-config at http://{host}/{SUBDIR}/{CLOUD_CONFIG}, boot \
             script {}",
            script_path.display()
        );
        Ok(())
    }
}

fn write_file(root: &Root, path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let real = root.join(path);
    write_if_changed(&real, text.as_bytes(), 0o644)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The host's address as the VMs see it: the bridge's.
fn host_address(model: &Model) -> anyhow::Result<Ipv4Addr> {
    match &model.network.mode {
        NetworkMode::Isolated { subnet, .. } => Ok(subnet.gateway()),
        NetworkMode::Bridged { .. } => {
            let bridge = &model.network.bridge;
            let addresses = nix::ifaddrs::getifaddrs().context("listing interface addresses")?;
            for ifaddr in addresses {
                if ifaddr.interface_name != *bridge {
                    continue;
                }
                if let Some(ip) = ifaddr
                    .address
                    .and_then(|a| a.as_sockaddr_in().map(|s| s.ip()))
                {
                    return Ok(ip);
                }
            }
            bail!(
                "bridge {bridge} has no IPv4 address yet; in bridged mode it gets one from \
                 the LAN's DHCP server (see networkctl status {bridge})"
            )
        }
    }
}

/// Write the bridge and tap files for systemd-networkd (coreos-cluster-network.service).
///
/// Writes only files that changed (a rewritten .network resets the link and
/// empties the DHCP lease table), removes ones no longer needed, and asks a
/// running networkd to reload when something changed.
#[derive(Debug, Args)]
pub struct SetupNetwork {}

impl SetupNetwork {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        let (sources, model) = crate::load_model(root)?;
        let files = network::render(&model, &sources);
        let dir = root.join(network::NETWORK_DIR);
        let changed = sync_dir(&dir, &files, network::FILE_PREFIX, 0o644)
            .with_context(|| format!("writing network files to {}", dir.display()))?;
        println!(
            "{} network files in {}{}",
            files.len(),
            network::NETWORK_DIR,
            if changed {
                " (changed)"
            } else {
                " (unchanged)"
            }
        );
        if changed && root.is_system_root() && networkd_running() {
            let status = std::process::Command::new("networkctl")
                .arg("reload")
                .status()
                .context("running networkctl reload")?;
            if !status.success() {
                bail!("networkctl reload failed ({status})");
            }
        }
        Ok(())
    }
}

fn networkd_running() -> bool {
    std::process::Command::new("systemctl")
        .args(["is-active", "--quiet", "systemd-networkd.service"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Write the nginx config of coreos-cluster-http.service into DIR.
#[derive(Debug, Args)]
pub struct SetupHttp {
    /// The unit's runtime directory (nginx's pid and temporary files go there too).
    dir: PathBuf,
}

impl SetupHttp {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        let (sources, model) = crate::load_model(root)?;
        let config = http::render(&model, &sources, &self.dir);
        let path = self.dir.join("nginx.conf");
        write_if_changed(&path, config.as_bytes(), 0o644)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}
