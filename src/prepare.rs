//! What the cluster's units run before VMs boot: `prepare N` (discovery,
//! cloud-config, boot script, kernel and initrd), `setup-network` (the
//! networkd files) and `setup-http` (nginx's config). Each renders first,
//! then writes, replacing only what changed.

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{bail, Context};

use crate::boot::{self, EtcdBootstrap};
use crate::model::{Discovery, ImageSource, Model, NetworkMode};
use crate::output::{sync_dir, write_changed, write_if_changed};
use crate::paths::{Root, CLOUD_CONFIG, DISCOVERY_URL_FILE, NETWORK_DIR};
use crate::{access, discovery, http, names, network};

/// Prepares what a cluster of `size` (the unit's instance, unparsed) boots
/// from. `say` gets one line per step worth telling.
pub fn prepare(root: &Root, size: &str, say: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    let (sources, model) = crate::load_model(root)?;
    let size = names::parse_cluster_size(size, model.cluster.max_nodes)?;
    let host = host_address(&model)?;

    let bootstrap = match &model.discovery {
        Discovery::Static => {
            boot::static_bootstrap(&model, size).context("static discovery needs isolated mode")?
        }
        Discovery::Public { base_url } => {
            EtcdBootstrap::Discovery(discovery::allocate_public(base_url, size)?)
        }
        Discovery::Etcd { url } => EtcdBootstrap::Discovery(discovery::allocate_etcd(url, size)?),
    };
    let url_file = root.join(DISCOVERY_URL_FILE);
    match &bootstrap {
        EtcdBootstrap::Discovery(url) => {
            write_if_changed(&url_file, format!("{url}\n").as_bytes(), 0o644)
                .with_context(|| format!("writing {}", url_file.display()))?;
            say(&format!("discovery: {url}"));
        }
        EtcdBootstrap::Static(members) => {
            let _ = std::fs::remove_file(&url_file);
            say(&format!("discovery: static, initial-cluster {members}"));
        }
    }

    let template = match &model.cloud_config.template {
        Some(path) => Some(access::read_template(root, path)?),
        None => None,
    };
    let files = boot::render(
        &model,
        &sources,
        size,
        host,
        &bootstrap,
        template.as_ref().map(|(text, _)| text.as_str()),
    )?;
    // The cloud-config comes first; one made from the user's template is
    // published no wider than the template.
    let (cloud_config, boot_script) = files.split_at(1);
    let cloud_config_mode = template
        .as_ref()
        .map_or(0o644, |(_, meta)| access::published_mode(meta));
    write_changed(&root.join("/"), cloud_config, cloud_config_mode)?;
    if let Some((_, meta)) = &template {
        access::copy_group(meta, &root.join(boot::cloud_config_path(&model)))?;
    }
    write_changed(&root.join("/"), boot_script, 0o644)?;

    let user = access::ServiceUser::lookup(root);
    for copy in boot::copies(&model) {
        let meta =
            access::check_source(&user, root, &copy.source, copy.what).map_err(|err| {
                match (copy.is_image, &model.image.source) {
                    (true, ImageSource::Flatcar { .. }) => anyhow::anyhow!(
                        "{err:#}; run `coreos-cluster fetch` to download and verify the image"
                    ),
                    _ => err,
                }
            })?;
        install_file(&meta, &root.join(&copy.source), &root.join(&copy.dest))?;
    }
    say(&format!(
        "prepared {size} nodes: cloud-config at {}, boot script {}",
        names::served_url(host, CLOUD_CONFIG),
        boot::boot_script_path(&model).display()
    ));
    Ok(())
}

/// Writes the networkd files; returns whether anything changed (networkd
/// then needs a reload).
pub fn setup_network(root: &Root, say: &mut dyn FnMut(&str)) -> anyhow::Result<bool> {
    let (sources, model) = crate::load_model(root)?;
    let files = network::render(&model, &sources);
    let dir = root.join(NETWORK_DIR);
    let changed = sync_dir(&dir, &files, network::FILE_PREFIX, 0o644)
        .with_context(|| format!("writing network files to {}", dir.display()))?;
    say(&format!(
        "{} network files in {NETWORK_DIR}{}",
        files.len(),
        if changed {
            " (changed)"
        } else {
            " (unchanged)"
        }
    ));
    Ok(changed)
}

/// Writes nginx's config into `runtime_dir` (a path on the running system).
pub fn setup_http(root: &Root, runtime_dir: &Path) -> anyhow::Result<()> {
    let (sources, model) = crate::load_model(root)?;
    let files = http::render(&model, &sources, runtime_dir);
    write_changed(&root.join(runtime_dir), &files, 0o644)?;
    Ok(())
}

/// The host's address as the VMs see it: the bridge's.
pub fn host_address(model: &Model) -> anyhow::Result<Ipv4Addr> {
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

/// Puts `source` (whose metadata is `meta`) at `dest` (hard link when
/// possible, else a copy no wider than the source), unless `dest` already has
/// the same size and modification time. The swap is atomic: a VM booting
/// meanwhile gets the old file or the new one; a failed copy (a full disk)
/// leaves the old one and names the path.
pub fn install_file(meta: &std::fs::Metadata, source: &Path, dest: &Path) -> anyhow::Result<bool> {
    if let Ok(existing) = std::fs::metadata(dest) {
        if existing.len() == meta.len() && existing.modified().ok() == meta.modified().ok() {
            return Ok(false);
        }
    }
    let dir = dest.parent().expect("destinations are inside a root");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        dest.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(source, &tmp).is_err() {
        let copied = (|| {
            std::fs::copy(source, &tmp)?;
            let file = std::fs::File::options().write(true).open(&tmp)?;
            file.set_modified(meta.modified()?)?;
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(access::published_mode(
                meta,
            )))?;
            file.sync_all()
        })();
        if let Err(err) = copied {
            let _ = std::fs::remove_file(&tmp);
            return Err(err)
                .with_context(|| format!("copying {} to {}", source.display(), dest.display()));
        }
        access::copy_group(meta, &tmp)?;
    }
    std::fs::rename(&tmp, dest).with_context(|| format!("installing {}", dest.display()))?;
    Ok(true)
}
