//! The systemd generator's output: model in, unit drop-ins and links out. Pure.

use std::path::{Path, PathBuf};

use askama::Template;

use crate::base::names::{
    self, CLUSTER_TEMPLATE, CONFIG_UNIT, HTTP_UNIT, KSM_UNIT, TFTP_UNIT, VM_TEMPLATE,
};
use crate::base::paths::{STATE_DIR, UNIT_DIR};
use crate::base::unit_syntax::{environment, escape_specifiers, exec_arg};
use crate::config::Sources;
use crate::model::timeouts;
use crate::model::{
    Accelerator, BootMethod, EtcdSource, ImageSource, Model, NetworkMode, NodeIndex, NodeOverride,
};
use crate::render::output::{header, RenderedFile};

/// Where the generator links units to start at boot.
const BOOT_TARGET_WANTS: &str = "multi-user.target.wants";
/// Drop-in file name used for every unit we extend.
const DROPIN: &str = "50-coreos-cluster.conf";
/// Per-node drop-ins need their own name: a file named like the template's
/// would replace it for that instance instead of adding to it.
const NODE_DROPIN: &str = "60-coreos-cluster-node.conf";

#[derive(Template)]
#[template(path = "generator/vm.conf", escape = "none")]
struct VmDropIn<'a> {
    header: &'a str,
    environment: Vec<String>,
    stop_timeout_sec: u64,
}

#[derive(Template)]
#[template(path = "generator/vm-node.conf", escape = "none")]
struct VmNodeDropIn<'a> {
    header: &'a str,
    node: NodeIndex,
    unit: String,
    environment: Vec<String>,
}

#[derive(Template)]
#[template(path = "generator/cluster.conf", escape = "none")]
struct ClusterDropIn<'a> {
    header: &'a str,
    requires: Vec<&'a str>,
    wants: Vec<&'a str>,
    writable: Vec<String>,
    start_timeout_sec: u64,
    stop_timeout_sec: u64,
}

#[derive(Template)]
#[template(path = "generator/http.conf", escape = "none")]
struct HttpDropIn<'a> {
    header: &'a str,
    wait_online: &'a str,
    /// The subnet allowed to connect; None (anyone) in bridged mode.
    clients: Option<String>,
}

#[derive(Template)]
#[template(path = "generator/tftp.conf", escape = "none")]
struct TftpDropIn<'a> {
    header: &'a str,
    wait_online: &'a str,
}

#[derive(Template)]
#[template(path = "generator/ksm.conf", escape = "none")]
struct KsmDropIn<'a> {
    header: &'a str,
    pages_to_scan: u32,
    sleep_millisecs: u32,
}

/// Everything the generator writes for a valid config.
pub fn render(model: &Model, sources: &Sources) -> Vec<RenderedFile> {
    let header = header("coreos-cluster-generator", sources);
    let header = header.as_str();
    let mut files = vec![
        RenderedFile::from_template(
            dropin(VM_TEMPLATE),
            &VmDropIn {
                header,
                environment: vm_environment(model),
                stop_timeout_sec: timeouts::vm_stop(model).as_secs(),
            },
        ),
        RenderedFile::from_template(
            dropin(CLUSTER_TEMPLATE),
            &ClusterDropIn {
                header,
                requires: cluster_requires(model),
                wants: cluster_wants(model),
                writable: writable_roots(model),
                start_timeout_sec: timeouts::cluster_start(model).as_secs(),
                stop_timeout_sec: timeouts::cluster_stop(model).as_secs(),
            },
        ),
    ];

    for (&node, settings) in &model.nodes {
        let unit = names::vm_unit(node);
        files.push(RenderedFile::from_template(
            Path::new(&format!("{unit}.d")).join(NODE_DROPIN),
            &VmNodeDropIn {
                header,
                node,
                unit,
                environment: node_environment(settings),
            },
        ));
    }

    let wait_online = wait_online_unit(model);
    files.push(RenderedFile::from_template(
        dropin(HTTP_UNIT),
        &HttpDropIn {
            header,
            wait_online: &wait_online,
            clients: match &model.network.mode {
                NetworkMode::Isolated { subnet, .. } => Some(subnet.to_string()),
                NetworkMode::Bridged { .. } => None,
            },
        },
    ));

    if model.boot.method == BootMethod::Pxelinux {
        files.push(RenderedFile::from_template(
            dropin(TFTP_UNIT),
            &TftpDropIn {
                header,
                wait_online: &wait_online,
            },
        ));
    }

    if let Some(pace) = model.ksm {
        files.push(RenderedFile::from_template(
            dropin(KSM_UNIT),
            &KsmDropIn {
                header,
                pages_to_scan: pace.pages_to_scan,
                sleep_millisecs: pace.sleep_millisecs,
            },
        ));
    }

    if let Some(size) = model.cluster.start_at_boot {
        files.push(RenderedFile::symlink(
            Path::new(BOOT_TARGET_WANTS).join(names::cluster_unit(size)),
            Path::new(UNIT_DIR).join(CLUSTER_TEMPLATE),
        ));
    }
    files
}

/// What the generator writes for a config it cannot use: nothing that starts a
/// VM, and a link that makes the config check run, fail and show in
/// `systemctl --failed` with the same message.
pub fn render_config_error() -> Vec<RenderedFile> {
    vec![RenderedFile::symlink(
        Path::new(BOOT_TARGET_WANTS).join(CONFIG_UNIT),
        Path::new(UNIT_DIR).join(CONFIG_UNIT),
    )]
}

fn dropin(unit: &str) -> PathBuf {
    Path::new(&format!("{unit}.d")).join(DROPIN)
}

fn words(args: &[String]) -> String {
    escape_specifiers(&args.join(" "))
}

/// The values the static `coreos-vm@.service` passes to QEMU.
fn vm_environment(model: &Model) -> Vec<String> {
    let vm = &model.vm;
    let accel_args: Vec<String> = vm
        .accelerators
        .iter()
        .map(|a| match a {
            // A TCG code buffer that is never writable and executable at once,
            // so the unit can keep MemoryDenyWriteExecute=yes.
            Accelerator::Tcg => "-accel tcg,split-wx=on".to_string(),
            Accelerator::Kvm => "-accel kvm".to_string(),
        })
        .collect();
    // `%i` stays a specifier: systemd fills in the node's instance.
    vec![
        environment("QEMU_MEMORY_MIB", &vm.memory_mib.to_string()),
        environment("QEMU_CORES", &vm.cores.to_string()),
        environment("QEMU_ACCEL_ARGS", &accel_args.join(" ")),
        format!(
            "Environment=\"QEMU_MAC={}\"",
            names::mac_for(&escape_specifiers(&model.cluster.mac_prefix), "%i")
        ),
        format!("Environment=\"QEMU_TAP={}\"", names::tap_name_for("%i")),
        // The NIC boots the VM (its iPXE ROM), or has no ROM at all when QEMU
        // loads the kernel itself: SeaBIOS then skips the ROM's setup.
        environment(
            "QEMU_NIC_BOOT",
            if model.boot.method.is_network_boot() {
                "bootindex=1"
            } else {
                "romfile="
            },
        ),
        format!("Environment=\"QEMU_EXTRA_ARGS={}\"", words(&vm.extra_args)),
        environment(
            "COREOS_VM_POWERDOWN_TIMEOUT_SEC",
            &vm.powerdown_timeout_sec.to_string(),
        ),
    ]
}

fn node_environment(settings: &NodeOverride) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(mib) = settings.memory_mib {
        lines.push(environment("QEMU_MEMORY_MIB", &mib.to_string()));
    }
    if let Some(cores) = settings.cores {
        lines.push(environment("QEMU_CORES", &cores.to_string()));
    }
    if let Some(args) = &settings.extra_args {
        lines.push(format!("Environment=\"QEMU_EXTRA_ARGS={}\"", words(args)));
    }
    lines
}

/// The roots `prepare` writes into, as `ReadWritePaths=` words; tmpfiles.d
/// makes the default ones, and a missing one fails the start naming it.
fn writable_roots(model: &Model) -> Vec<String> {
    let mut roots = vec![model.http_root.clone()];
    if model.boot.method == BootMethod::Pxelinux {
        roots.push(model.tftp_root.clone());
    }
    let mut writable: Vec<String> = roots
        .iter()
        .map(|root| exec_arg(&root.to_string_lossy()))
        .collect();
    // prepare fetches into the image dir (Flatcar, and etcd for Ignition
    // guests); StateDirectory= covers only the default one, and a dir
    // elsewhere may not exist yet ("-").
    let mut caches = Vec::new();
    if let ImageSource::Flatcar { upstream, .. } = &model.image.source {
        caches.push(&upstream.cache_dir);
    }
    if let EtcdSource::Release { cache_dir, .. } = &model.etcd {
        if model.serves_etcd() {
            caches.push(cache_dir);
        }
    }
    for dir in caches.iter().filter_map(|cache| cache.parent()) {
        let word = format!("-{}", exec_arg(&dir.to_string_lossy()));
        if !dir.starts_with(STATE_DIR) && !writable.contains(&word) {
            writable.push(word);
        }
    }
    writable
}

fn cluster_requires(model: &Model) -> Vec<&'static str> {
    match model.boot.method {
        BootMethod::Pxelinux => vec![TFTP_UNIT],
        BootMethod::Ipxe | BootMethod::Direct => vec![],
    }
}

fn cluster_wants(model: &Model) -> Vec<&'static str> {
    let mut wants = Vec::new();
    if model.ksm.is_some() {
        wants.push(KSM_UNIT);
    }
    wants
}

/// networkd's wait for the bridge: configured without carrier when it is ours
/// alone (no VM may be up yet), routable when it gets its address from the LAN.
fn wait_online_unit(model: &Model) -> String {
    let state = match model.network.mode {
        NetworkMode::Isolated { .. } => "no-carrier",
        NetworkMode::Bridged { .. } => "routable",
    };
    format!(
        "systemd-networkd-wait-online@{}:{state}.service",
        model.network.bridge
    )
}
