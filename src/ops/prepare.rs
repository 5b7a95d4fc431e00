//! What the cluster unit runs before VMs boot: `prepare N` (discovery,
//! the guests' config, boot script, kernel and initrd). It renders first,
//! then writes, replacing only what changed.

use std::path::Path;

use anyhow::Context;

use crate::base::hex::hex;
use crate::base::names;
use crate::base::paths::{Root, DISCOVERY_URL_FILE, IMAGE_FILE, SUBDIR};
use crate::host::access::{self, give_to_service_group, read_merge_file};
use crate::host::bridge::host_address;
use crate::host::fetch::{self, CachedEtcd};
use crate::host::files::{install_file, write_changed, write_if_changed};
use crate::host::{discovery, image_version, random};
use crate::model::{Discovery, GuestConfigFormat, ImageSource};
use crate::ops::load::load_model;
use crate::render::boot;
use crate::render::guest::{self, ignition, EtcdBootstrap, GuestInput, ServedFile};
use crate::render::output::RenderedFile;

/// Prepares what a cluster of `size` (the unit's instance, unparsed) boots
/// from. `say` gets one line per step worth telling.
pub fn prepare(root: &Root, size: &str, say: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    let (sources, model) = load_model(root)?;
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
            let random = random::random_hex(8).context("making the cluster token")?;
            guest::static_bootstrap(&model, size, &guest::cluster_token(size, &random))
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
    let mut secret_paths = vec![guest::guest_config_path(&model)];
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
                let bytes = read_merge_file(&root.join(source), source)?;
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
        names::served_url(host, model.http_port, guest::guest_config_file(&model)),
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
    hex(&Sha512::digest(bytes))
}
