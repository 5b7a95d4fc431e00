//! What the cluster's units run before VMs boot: `prepare N` (discovery,
//! cloud-config, boot script, kernel and initrd), `setup-network` (the
//! networkd files and the NAT rules), `setup-http` (nginx's config) and
//! `setup-tftp` (in.tftpd's settings). Each renders first, then writes,
//! replacing only what changed; the servers' setups first check their port.

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{bail, Context};

use crate::boot::{self, EtcdBootstrap, GuestInput};
use crate::fetch::CachedEtcd;
use crate::http::HttpListen;
use crate::ignition::{self, ServedFile};
use crate::model::{Discovery, GuestConfigFormat, ImageSource, Model, NetworkMode, Subnet};
use crate::names::SERVICE_USER;
use crate::output::{sync_dir, write_changed, write_if_changed, RenderedFile};
use crate::paths::{Root, DISCOVERY_URL_FILE, IMAGE_FILE, NETWORK_DIR, SUBDIR};
use crate::ports::{self, Listen, Transport};
use crate::{access, discovery, fetch, guest, http, image_version, names, nat, network, tftp};

/// Prepares what a cluster of `size` (the unit's instance, unparsed) boots
/// from. `say` gets one line per step worth telling.
pub fn prepare(root: &Root, size: &str, say: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    let (sources, model) = crate::load_model(root)?;
    let size = names::parse_cluster_size(size, model.cluster.max_nodes)?;
    let host = host_address(&model)?;

    // A cached, verified image means no network here; a fresh install fetches.
    let fetched = fetch::ensure(root, &model).map_err(|err| match &model.image.source {
        ImageSource::Flatcar { .. } if !root.join(&model.image.kernel).is_file() => {
            anyhow::anyhow!(
            "{err:#}; the Flatcar image is not cached yet ({}): `coreos-cluster fetch` downloads \
             and verifies it once the release host (image.base-url) is reachable",
            model.image.kernel.display()
        )
        }
        _ => err,
    })?;

    // The big files first: when they cannot be written (a full disk), the
    // configs served now stay as they were.
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

    let bootstrap = match &model.discovery {
        Discovery::Static => {
            let token = guest::new_cluster_token(size).context("making the cluster token")?;
            boot::static_bootstrap(&model, size, &token)
                .context("static discovery needs isolated mode")?
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
        EtcdBootstrap::Static {
            initial_cluster,
            token,
        } => {
            let _ = std::fs::remove_file(&url_file);
            say(&format!(
                "discovery: static, initial-cluster {initial_cluster}, token {token}"
            ));
        }
    }

    // Files the guests' config points at, and what may hold secrets
    // (readable by nginx's group, not by all).
    let mut secret_paths = vec![boot::guest_config_path(&model)];
    let mut secret_mode = 0o640;
    let files = match model.guest.config {
        GuestConfigFormat::CloudConfig => {
            let template = match &model.cloud_config.template {
                Some(path) => Some(access::read_template(root, path)?),
                None => None,
            };
            if let Some((_, meta)) = &template {
                // Published no wider than the template, and readable by nginx's group.
                secret_mode = (access::published_mode(meta) & 0o640) | 0o040;
            }
            boot::render(
                &model,
                &sources,
                host,
                &bootstrap,
                GuestInput::CloudConfig {
                    user_template: template.as_ref().map(|(text, _)| text.as_str()),
                },
            )?
        }
        GuestConfigFormat::Ignition => {
            let served = model.http_root.join(SUBDIR);
            let etcd = fetched
                .etcd
                .as_ref()
                .context("Ignition guests need the etcd we serve")?;
            let etcd = serve_etcd(root, etcd, &served)?;
            let mut merges = Vec::new();
            for (source, rel) in ignition::merge_paths(&model) {
                let bytes = ignition::read_merge_file(&root.join(source), source)?;
                let dest = served.join(&rel);
                let text = String::from_utf8(bytes.clone()).context("merge files are JSON")?;
                write_changed(&root.join("/"), &[RenderedFile::text(&dest, text)], 0o640)?;
                give_to_service_group(root, &root.join(&dest))?;
                secret_paths.push(dest);
                merges.push(ServedFile {
                    path: rel,
                    sha512: sha512_hex(&bytes),
                });
            }
            boot::render(
                &model,
                &sources,
                host,
                &bootstrap,
                GuestInput::Ignition {
                    etcd: &etcd,
                    merges: &merges,
                },
            )?
        }
    };
    let (secret, public): (Vec<RenderedFile>, Vec<RenderedFile>) = files
        .into_iter()
        .partition(|file| secret_paths.contains(&file.path));
    write_changed(&root.join("/"), &public, 0o644)?;
    write_changed(&root.join("/"), &secret, secret_mode)?;
    for file in &secret {
        give_to_service_group(root, &root.join(&file.path))?;
    }

    let fetched_version = fetched.image.as_ref().map(|image| image.version.as_str());
    let image = image_version::describe(&model.image, root, fetched_version);
    let image_file = root.join(IMAGE_FILE);
    write_if_changed(&image_file, format!("{image}\n").as_bytes(), 0o644)
        .with_context(|| format!("writing {}", image_file.display()))?;
    say(&format!("image: {image}"));
    say(&format!(
        "prepared {size} nodes: guest config at {}, boot script {}",
        names::served_url(host, model.http_port, boot::guest_config_file(&model)),
        boot::boot_script_path(&model).display()
    ));
    Ok(())
}

/// Puts etcd and etcdctl where Ignition fetches them (`etcd/` of our HTTP
/// directory) and returns them with their SHA-512, in `ETCD_BINARIES` order.
/// A user's `etcd.binary` brings its etcdctl from the same directory.
fn serve_etcd(root: &Root, etcd: &CachedEtcd, served: &Path) -> anyhow::Result<[ServedFile; 2]> {
    let etcdctl = match &etcd.etcdctl {
        Some(path) => path.clone(),
        None => etcd.etcd.with_file_name("etcdctl"),
    };
    let mut out = Vec::new();
    for (name, source) in ignition::ETCD_BINARIES.iter().zip([&etcd.etcd, &etcdctl]) {
        let rel = format!("{}/{name}", ignition::ETCD_DIR);
        let dest = root.join(served.join(&rel));
        // Fetched paths are below the root already.
        let meta = std::fs::metadata(source).with_context(|| {
            format!(
                "{name} for the guests: cannot use {} (etcd.binary, or coreos-cluster fetch)",
                source.display()
            )
        })?;
        install_file(&meta, source, &dest)?;
        let bytes = std::fs::read(&dest).with_context(|| format!("reading {}", dest.display()))?;
        out.push(ServedFile {
            path: rel,
            sha512: sha512_hex(&bytes),
        });
    }
    Ok(out.try_into().expect("two binaries"))
}

fn sha512_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha512};
    crate::hex::hex(&Sha512::digest(bytes))
}

/// Gives a file that may hold secrets to the service user's group (nginx
/// runs as that user). On a test root the group may not exist: the mode alone
/// keeps the file from other users there.
fn give_to_service_group(root: &Root, path: &Path) -> anyhow::Result<()> {
    let group = nix::unistd::Group::from_name(SERVICE_USER)
        .with_context(|| format!("looking up group {SERVICE_USER}"))?;
    match group {
        Some(group) => std::os::unix::fs::chown(path, None, Some(group.gid.as_raw()))
            .with_context(|| format!("giving {} to group {SERVICE_USER}", path.display())),
        None if !root.is_system_root() => Ok(()),
        None => bail!("group {SERVICE_USER} does not exist (systemd-sysusers coreos-cluster.conf)"),
    }
}

/// Writes the networkd files and the NAT rules; returns whether a networkd
/// file changed (networkd then needs a reload).
pub fn setup_network(root: &Root, say: &mut dyn FnMut(&str)) -> anyhow::Result<bool> {
    let (sources, model) = crate::load_model(root)?;
    let rules = nat::render(&model, &sources);
    write_changed(&root.join("/"), &rules, 0o644)?;
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

/// How long networkd may take to give the bridge its address after a reload.
const BRIDGE_ADDRESS_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// In isolated mode, waits until networkd has given the bridge its address,
/// which nginx and in.tftpd bind to: the network unit runs before networkd
/// starts (networkd reads our files at its start), and a reload that changed
/// the bridge's file re-adds the address a moment later.
fn wait_for_bridge_address(root: &Root, model: &Model) -> anyhow::Result<()> {
    let NetworkMode::Isolated { subnet, .. } = &model.network.mode else {
        // Bridged: the LAN's DHCP server gives it, at its own pace.
        return Ok(());
    };
    if !root.is_system_root() {
        return Ok(());
    }
    let bridge = &model.network.bridge;
    let deadline = std::time::Instant::now() + BRIDGE_ADDRESS_WAIT;
    loop {
        if matches!(bridge_address(bridge), Ok((ip, _)) if ip == subnet.gateway()) {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            bail!(
                "bridge {bridge} did not get {} within {} s (see networkctl status {bridge})",
                subnet.gateway(),
                BRIDGE_ADDRESS_WAIT.as_secs()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Checks that nginx can bind the bridge's address and `[http] port`, then
/// writes its config into `runtime_dir` (a path on the running system).
pub fn setup_http(root: &Root, runtime_dir: &Path) -> anyhow::Result<()> {
    let (sources, model) = crate::load_model(root)?;
    wait_for_bridge_address(root, &model)?;
    let listen = match &model.network.mode {
        NetworkMode::Isolated { subnet, .. } => HttpListen {
            address: subnet.gateway(),
            clients: None,
        },
        NetworkMode::Bridged { .. } => {
            let (address, lan) = bridge_address(&model.network.bridge)?;
            HttpListen {
                address,
                clients: Some(lan),
            }
        }
    };
    check_port(
        root,
        listen.address,
        model.http_port,
        Transport::Tcp,
        "[http] port",
    )?;
    let files = http::render(&model, &sources, runtime_dir, listen);
    write_changed(&root.join(runtime_dir), &files, 0o644)?;
    Ok(())
}

/// Checks that in.tftpd can bind the bridge's address and `[tftp] port`,
/// then writes its settings into `runtime_dir`.
pub fn setup_tftp(root: &Root, runtime_dir: &Path) -> anyhow::Result<()> {
    let (sources, model) = crate::load_model(root)?;
    wait_for_bridge_address(root, &model)?;
    let address = host_address(&model)?;
    check_port(
        root,
        address,
        model.tftp_port,
        Transport::Udp,
        "[tftp] port",
    )?;
    let files = tftp::render(&model, &sources, address);
    write_changed(&root.join(runtime_dir), &files, 0o644)?;
    Ok(())
}

/// The port check binds on the running system only: a test root has no bridge.
fn check_port(
    root: &Root,
    address: Ipv4Addr,
    port: u16,
    transport: Transport,
    key: &str,
) -> anyhow::Result<()> {
    if !root.is_system_root() {
        return Ok(());
    }
    ports::ensure_free(Listen {
        address,
        port,
        transport,
        key,
    })
}

/// The host's address as the VMs see it: the bridge's.
pub fn host_address(model: &Model) -> anyhow::Result<Ipv4Addr> {
    match &model.network.mode {
        NetworkMode::Isolated { subnet, .. } => Ok(subnet.gateway()),
        NetworkMode::Bridged { .. } => Ok(bridge_address(&model.network.bridge)?.0),
    }
}

/// The bridge's IPv4 address and the network it is on (bridged mode: both
/// come from the LAN's DHCP server).
fn bridge_address(bridge: &str) -> anyhow::Result<(Ipv4Addr, Subnet)> {
    let addresses = nix::ifaddrs::getifaddrs().context("listing interface addresses")?;
    for ifaddr in addresses {
        if ifaddr.interface_name != bridge {
            continue;
        }
        let ipv4 = |a: Option<nix::sys::socket::SockaddrStorage>| {
            a.and_then(|a| a.as_sockaddr_in().map(|s| s.ip()))
        };
        if let (Some(ip), Some(mask)) = (ipv4(ifaddr.address), ipv4(ifaddr.netmask)) {
            let prefix_len = u32::from(mask).leading_ones() as u8;
            return Ok((ip, Subnet::containing(ip, prefix_len)));
        }
    }
    bail!(
        "bridge {bridge} has no IPv4 address yet; in bridged mode it gets one from \
         the LAN's DHCP server (see networkctl status {bridge})"
    )
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
