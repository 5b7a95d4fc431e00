//! What the cluster unit runs before VMs boot: `prepare N` (discovery,
//! the guests' config, boot script, kernel and initrd). It reads top to
//! bottom: load the config, gather what the host and the network give
//! (image, discovery, the user's files), install the big files (etcd's
//! hashed as they are copied, for the Ignition config), render every other
//! file (pure), write them, replacing only what changed.

use std::fs::Metadata;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha512};

use crate::base::hex::hex;
use crate::base::names;
use crate::base::paths::{Root, DISCOVERY_URL_FILE, IMAGE_FILE, SUBDIR};
use crate::config::Sources;
use crate::host::access::{self, give_to_service_group, read_merge_file, MERGE_KEY, TEMPLATE_KEY};
use crate::host::bridge::host_address;
use crate::host::fetch::{self, CachedEtcd, Fetched};
use crate::host::files::{install_file, install_file_hashed, write_changed};
use crate::host::{discovery, image_version, random};
use crate::model::{Discovery, GuestConfigFormat, ImageSource, Model};
use crate::ops::load::load_model;
use crate::render::boot;
use crate::render::guest::{self, ignition, EtcdBootstrap, GuestInput, ServedFile};
use crate::render::output::RenderedFile;

/// Prepares what a cluster of `size` (the unit's instance, unparsed) boots
/// from. `say` gets one line per step worth telling.
pub fn prepare(root: &Root, size: &str, say: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    let (sources, model) = load_model(root)?;
    let size = names::parse_cluster_size(size, model.cluster.max_nodes)?;
    let inputs = gather(root, &model, size)?;
    let served_etcd = install(&inputs)?;
    let output = render(&model, &sources, &inputs, &served_etcd)?;
    write(root, &output)?;

    match &inputs.bootstrap {
        EtcdBootstrap::Discovery(url) => say(&format!("discovery: {url}")),
        EtcdBootstrap::Static {
            initial_cluster,
            token,
        } => say(&format!(
            "discovery: static, initial-cluster {initial_cluster}, token {token}"
        )),
    }
    let voters = model.etcd_cluster.members.count(size);
    say(&format!(
        "etcd: {voters} of {size} nodes vote, {} proxy to them",
        size - voters
    ));
    say(&format!("image: {}", inputs.image));
    say(&format!(
        "prepared {size} nodes: guest config at {}, boot script {}",
        names::served_url(
            inputs.host,
            model.http_port,
            guest::guest_config_file(&model)
        ),
        boot::boot_script_path(&model).display()
    ));
    Ok(())
}

/// A file copied as it is (kernel, initrd, syslinux files, etcd): its
/// source checked and described, and where it goes (both below the root).
struct Install {
    meta: Metadata,
    source: PathBuf,
    dest: PathBuf,
}

/// A user's Ignition merge file as read, and where it is served.
struct Merge {
    bytes: Vec<u8>,
    served: PathBuf,
}

/// Everything `prepare` takes from the host and the network.
struct Inputs {
    host: Ipv4Addr,
    /// The kernel, the initrd and the syslinux files.
    boot_files: Vec<Install>,
    bootstrap: EtcdBootstrap,
    /// The user's cloud-config template and its file's metadata.
    template: Option<(String, Metadata)>,
    merges: Vec<Merge>,
    /// The etcd binaries Ignition guests fetch, and their paths below our
    /// HTTP directory.
    etcd: Vec<(Install, String)>,
    /// What the served image is, as `status` shows it.
    image: String,
}

fn gather(root: &Root, model: &Model, size: u8) -> anyhow::Result<Inputs> {
    let host = host_address(model)?;
    let fetched = fetch_image(root, model)?;
    let boot_files = check_boot_files(root, model)?;
    // A discovery token is sized for the voters: the first to register vote,
    // the later ones find the registry full and proxy.
    let voters = model.etcd_cluster.members.count(size);
    let bootstrap = match &model.discovery {
        Discovery::Static => {
            let random = random::random_hex(8).context("making the cluster token")?;
            guest::static_bootstrap(model, size, &guest::cluster_token(size, &random))
                .context("static discovery needs isolated mode")?
        }
        Discovery::Public { base_url } => {
            EtcdBootstrap::Discovery(discovery::allocate_public(base_url, voters)?)
        }
        Discovery::Etcd { url } => EtcdBootstrap::Discovery(discovery::allocate_etcd(url, voters)?),
    };
    let (mut template, mut merges, mut etcd) = (None, Vec::new(), Vec::new());
    match model.guest.config {
        GuestConfigFormat::CloudConfig => {
            if let Some(path) = &model.cloud_config.template {
                template = Some(
                    access::read_template(root, path)
                        .map_err(|why| anyhow::anyhow!("{TEMPLATE_KEY}: {}", why.naming(path)))?,
                );
            }
        }
        GuestConfigFormat::Ignition => {
            let served = model.http_root.join(SUBDIR);
            let cached = fetched
                .etcd
                .as_ref()
                .context("Ignition guests need the etcd we serve")?;
            etcd = etcd_binaries(root, cached, &served)?;
            for (source, rel) in ignition::merge_paths(model) {
                merges.push(Merge {
                    bytes: read_merge_file(
                        &root.join(source),
                        ignition::merge_specs(&model.image.source),
                    )
                    .map_err(|why| anyhow::anyhow!("{MERGE_KEY}: {}: {why}", source.display()))?,
                    served: served.join(rel),
                });
            }
        }
    }
    let fetched_version = fetched.image.as_ref().map(|image| image.version.as_str());
    let image = image_version::describe(&model.image, root, fetched_version);
    Ok(Inputs {
        host,
        boot_files,
        bootstrap,
        template,
        merges,
        etcd,
        image,
    })
}

/// A cached, verified image means no network here; a fresh install fetches.
/// When that fails, which of the image's files the cache lacks.
fn fetch_image(root: &Root, model: &Model) -> anyhow::Result<Fetched> {
    fetch::ensure(root, model).map_err(|err| {
        let missing: Vec<String> = [&model.image.kernel, &model.image.initrd]
            .into_iter()
            .filter(|path| !root.join(path).is_file())
            .map(|path| path.display().to_string())
            .collect();
        match &model.image.source {
            ImageSource::Flatcar { .. } if !missing.is_empty() => anyhow::anyhow!(
                "{err:#}; the Flatcar image is not cached yet ({} missing): `coreos-cluster \
                 fetch` downloads and verifies it once the release host (image.base-url) is \
                 reachable",
                missing.join(" and ")
            ),
            _ => err,
        }
    })
}

/// The boot files, each a file the service user may read.
fn check_boot_files(root: &Root, model: &Model) -> anyhow::Result<Vec<Install>> {
    let user = access::ServiceUser::lookup(root);
    let mut files = Vec::new();
    for copy in boot::copies(model) {
        let meta = access::check_source(&user, root, &copy.source).map_err(|why| {
            let err = format!("{}: {}", copy.what, why.naming(&copy.source));
            match (copy.is_image, &model.image.source) {
                (true, ImageSource::Flatcar { .. }) => anyhow::anyhow!(
                    "{err}; run `coreos-cluster fetch` to download and verify the image"
                ),
                _ => anyhow::anyhow!(err),
            }
        })?;
        files.push(Install {
            meta,
            source: root.join(&copy.source),
            dest: root.join(&copy.dest),
        });
    }
    Ok(files)
}

/// etcd and etcdctl, served where Ignition fetches them (`etcd/` of our
/// HTTP directory), in `names::ETCD_BINARIES` order. A user's `etcd.binary`
/// brings its etcdctl from the same directory.
fn etcd_binaries(
    root: &Root,
    etcd: &CachedEtcd,
    served: &Path,
) -> anyhow::Result<Vec<(Install, String)>> {
    let etcdctl = match &etcd.etcdctl {
        Some(path) => path.clone(),
        None => etcd.etcd.with_file_name(names::ETCDCTL),
    };
    let mut out = Vec::new();
    for (name, source) in names::ETCD_BINARIES.iter().zip([&etcd.etcd, &etcdctl]) {
        let rel = format!("{}/{name}", ignition::ETCD_DIR);
        let cannot_use = || {
            format!(
                "{name} for the guests: cannot use {} (etcd.binary, or coreos-cluster fetch)",
                source.display()
            )
        };
        // Fetched paths are below the root already.
        let meta = std::fs::metadata(source).with_context(cannot_use)?;
        if !meta.is_file() {
            return Err(anyhow::anyhow!(
                "is {}, not a regular file",
                crate::config::file_kind(&meta)
            ))
            .with_context(cannot_use);
        }
        let install = Install {
            meta,
            source: source.clone(),
            dest: root.join(served.join(&rel)),
        };
        out.push((install, rel));
    }
    Ok(out)
}

/// Puts the big files in place, first: when they cannot be written (a full
/// disk), the configs served now stay as they were. Returns the etcd
/// binaries as the Ignition config names them, hashed as they were copied.
fn install(inputs: &Inputs) -> anyhow::Result<Vec<ServedFile>> {
    for file in &inputs.boot_files {
        install_file(&file.meta, &file.source, &file.dest)?;
    }
    let mut served = Vec::new();
    for (file, path) in &inputs.etcd {
        let mut hasher = Sha512::new();
        install_file_hashed(&file.meta, &file.source, &file.dest, &mut hasher)?;
        served.push(ServedFile {
            path: path.clone(),
            sha512: hex(&hasher.finalize()),
        });
    }
    Ok(served)
}

/// Every file `prepare` writes, rendered.
struct Output {
    /// The discovery URL `status` shows (None: static discovery, no file).
    discovery_url: Option<RenderedFile>,
    /// Readable by all.
    public: Vec<RenderedFile>,
    /// Files that may hold secrets (the guests' config, merged configs):
    /// readable by nginx's group, not by all; at most as open as the template.
    secret: Vec<RenderedFile>,
    secret_mode: u32,
    image: RenderedFile,
}

fn render(
    model: &Model,
    sources: &Sources,
    inputs: &Inputs,
    served_etcd: &[ServedFile],
) -> anyhow::Result<Output> {
    let served_merges: Vec<ServedFile> = (inputs.merges.iter().zip(ignition::merge_paths(model)))
        .map(|(merge, (_, rel))| ServedFile {
            path: rel,
            sha512: sha512_hex(&merge.bytes),
        })
        .collect();
    let guest_input = match model.guest.config {
        GuestConfigFormat::CloudConfig => GuestInput::CloudConfig {
            user_template: inputs.template.as_ref().map(|(text, _)| text.as_str()),
        },
        GuestConfigFormat::Ignition => GuestInput::Ignition {
            etcd: served_etcd.try_into().expect("etcd and etcdctl"),
            merges: &served_merges,
        },
    };
    let files = boot::render(model, sources, inputs.host, &inputs.bootstrap, guest_input)?;
    let guest_config = guest::guest_config_path(model);
    // Merged configs before the config that names them.
    let mut secret = Vec::new();
    for merge in &inputs.merges {
        let text = String::from_utf8(merge.bytes.clone()).context("merge files are JSON")?;
        secret.push(RenderedFile::text(&merge.served, text));
    }
    let (guest_configs, public): (Vec<RenderedFile>, Vec<RenderedFile>) = files
        .into_iter()
        .partition(|file| file.path == guest_config);
    secret.extend(guest_configs);
    let secret_mode = match &inputs.template {
        // Published no wider than the template, and readable by nginx's group.
        Some((_, meta)) => (access::published_mode(meta) & 0o640) | 0o040,
        None => 0o640,
    };
    let discovery_url = match &inputs.bootstrap {
        EtcdBootstrap::Discovery(url) => {
            Some(RenderedFile::text(DISCOVERY_URL_FILE, format!("{url}\n")))
        }
        EtcdBootstrap::Static { .. } => None,
    };
    Ok(Output {
        discovery_url,
        public,
        secret,
        secret_mode,
        image: RenderedFile::text(IMAGE_FILE, format!("{}\n", inputs.image)),
    })
}

fn write(root: &Root, output: &Output) -> anyhow::Result<()> {
    let url_file = root.join(DISCOVERY_URL_FILE);
    match &output.discovery_url {
        Some(file) => write_text(root, file, 0o644)?,
        None => {
            let _ = std::fs::remove_file(&url_file);
        }
    }
    write_changed(&root.join("/"), &output.public, 0o644)?;
    write_changed(&root.join("/"), &output.secret, output.secret_mode)?;
    for file in &output.secret {
        give_to_service_group(root, &root.join(&file.path))?;
    }
    write_text(root, &output.image, 0o644)
}

/// One small file, written only when it changed.
fn write_text(root: &Root, file: &RenderedFile, mode: u32) -> anyhow::Result<()> {
    write_changed(&root.join("/"), std::slice::from_ref(file), mode)
        .map(drop)
        .with_context(|| format!("writing {}", root.join(&file.path).display()))
}

fn sha512_hex(bytes: &[u8]) -> String {
    hex(&Sha512::digest(bytes))
}
