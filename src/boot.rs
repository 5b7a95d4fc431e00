//! What a network-booting VM asks for: the boot script (iPXE over HTTP or
//! pxelinux over TFTP), the kernel and initrd, and the cloud-config.
//! Rendering is pure; `prepare` writes the files and copies the images.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::bail;
use askama::Template;

use crate::config::Sources;
use crate::model::{BootMethod, Discovery, Model, NetworkMode, NodeIndex};
use crate::names::{self, ETCD_CLIENT_PORT, ETCD_PEER_PORT};
use crate::output::{header, RenderedFile};
use crate::paths::{CLOUD_CONFIG, INITRD, IPXE_SCRIPT, KERNEL, SUBDIR};

/// The placeholder a user's own template uses, as in the classic recipe.
pub const DISCOVERY_PLACEHOLDER: &str = "<DISCOVERY_URL>";

/// How etcd members find each other, as written into the cloud-config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdBootstrap {
    /// A discovery URL (public service or self-hosted etcd).
    Discovery(String),
    /// `initial-cluster` from the known addresses; members are named by address.
    Static(String),
}

#[derive(Template)]
#[template(path = "boot/cloud-config.yaml", escape = "none")]
struct CloudConfigTemplate<'a> {
    header: &'a str,
    ssh_authorized_keys: &'a [String],
    discovery: &'a EtcdBootstrap,
    token: String,
    client_port: u16,
    peer_port: u16,
}

#[derive(Template)]
#[template(path = "boot/boot.ipxe", escape = "none")]
struct IpxeScript<'a> {
    header: &'a str,
    base_url: &'a str,
    kernel: &'a str,
    initrd: &'a str,
    kernel_args: &'a str,
}

#[derive(Template)]
#[template(path = "boot/pxelinux.cfg", escape = "none")]
struct PxelinuxConfig<'a> {
    header: &'a str,
    prefix: &'a str,
    kernel: &'a str,
    initrd: &'a str,
    kernel_args: &'a str,
}

/// The static bootstrap for a cluster of `size` nodes, if the mode is static.
pub fn static_bootstrap(model: &Model, size: u8) -> Option<EtcdBootstrap> {
    let (Discovery::Static, NetworkMode::Isolated { subnet, .. }) =
        (&model.discovery, &model.network.mode)
    else {
        return None;
    };
    let members: Vec<String> = (1..=size)
        .filter_map(NodeIndex::new)
        .map(|n| {
            let ip = subnet.node_address(n);
            format!("{ip}={}", names::etcd_peer_url(ip))
        })
        .collect();
    Some(EtcdBootstrap::Static(members.join(",")))
}

/// Everything `prepare` renders for a cluster of `size`: the cloud-config and
/// the boot script, at their paths on the running system.
pub fn render(
    model: &Model,
    sources: &Sources,
    size: u8,
    host: Ipv4Addr,
    bootstrap: &EtcdBootstrap,
    user_template: Option<&str>,
) -> anyhow::Result<Vec<RenderedFile>> {
    Ok(vec![
        render_cloud_config(model, sources, size, bootstrap, user_template)?,
        render_boot_script(model, sources, host),
    ])
}

/// Where the cloud-config is served from, on the running system.
pub fn cloud_config_path(model: &Model) -> PathBuf {
    model.http_root.join(SUBDIR).join(CLOUD_CONFIG)
}

/// The cloud-config: the built-in template, or the user's with
/// `<DISCOVERY_URL>` replaced. `$private_ipv4` is left for the HTTP server.
fn render_cloud_config(
    model: &Model,
    sources: &Sources,
    size: u8,
    bootstrap: &EtcdBootstrap,
    user_template: Option<&str>,
) -> anyhow::Result<RenderedFile> {
    let path = cloud_config_path(model);
    if let Some(template) = user_template {
        let text = match bootstrap {
            EtcdBootstrap::Discovery(url) => template.replace(DISCOVERY_PLACEHOLDER, url),
            EtcdBootstrap::Static(_) if template.contains(DISCOVERY_PLACEHOLDER) => bail!(
                "the cloud-config template uses {DISCOVERY_PLACEHOLDER}, but discovery.mode = \
                 \"static\" allocates no discovery URL; use \"etcd\" or \"public\", or set \
                 initial-cluster in the template"
            ),
            EtcdBootstrap::Static(_) => template.to_string(),
        };
        return Ok(RenderedFile::text(path, text));
    }
    let header = header("coreos-cluster prepare", sources);
    Ok(RenderedFile::from_template(
        path,
        &CloudConfigTemplate {
            header: &header,
            ssh_authorized_keys: &model.cloud_config.ssh_authorized_keys,
            discovery: bootstrap,
            token: format!("coreos-cluster-{size}"),
            client_port: ETCD_CLIENT_PORT,
            peer_port: ETCD_PEER_PORT,
        },
    ))
}

/// Kernel command line: where the cloud-config is, the console, the user's extras.
pub fn kernel_args(model: &Model, host: Ipv4Addr) -> String {
    let mut args = vec![
        format!("cloud-config-url={}", names::served_url(host, CLOUD_CONFIG)),
        "console=tty0".to_string(),
        "console=ttyS0".to_string(),
    ];
    args.extend(model.boot.kernel_args.iter().cloned());
    args.join(" ")
}

/// Where the boot script goes: below the HTTP root (iPXE) or the TFTP root (pxelinux).
pub fn boot_script_path(model: &Model) -> PathBuf {
    match model.boot.method {
        BootMethod::Ipxe => model.http_root.join(SUBDIR).join(IPXE_SCRIPT),
        BootMethod::Pxelinux => model.tftp_root.join("pxelinux.cfg").join("default"),
    }
}

/// The boot script that fetches the kernel and initrd.
fn render_boot_script(model: &Model, sources: &Sources, host: Ipv4Addr) -> RenderedFile {
    let args = kernel_args(model, host);
    let header = header("coreos-cluster prepare", sources);
    let path = boot_script_path(model);
    match model.boot.method {
        BootMethod::Ipxe => RenderedFile::from_template(
            path,
            &IpxeScript {
                header: &header,
                base_url: &names::served_base_url(host),
                kernel: KERNEL,
                initrd: INITRD,
                kernel_args: &args,
            },
        ),
        BootMethod::Pxelinux => RenderedFile::from_template(
            path,
            &PxelinuxConfig {
                header: &header,
                prefix: &format!("{SUBDIR}/"),
                kernel: KERNEL,
                initrd: INITRD,
                kernel_args: &args,
            },
        ),
    }
}

/// Where the kernel and initrd are served from.
pub fn image_dir(model: &Model) -> PathBuf {
    match model.boot.method {
        BootMethod::Ipxe => model.http_root.join(SUBDIR),
        BootMethod::Pxelinux => model.tftp_root.join(SUBDIR),
    }
}

/// A file served as it is: where it comes from and goes, on the running
/// system, and what it is (for the error when it is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub source: PathBuf,
    pub dest: PathBuf,
    pub what: &'static str,
    /// The kernel or initrd (which `fetch` provides), not a syslinux file.
    pub is_image: bool,
}

/// The kernel, the initrd and (pxelinux) the syslinux files.
pub fn copies(model: &Model) -> Vec<Copy> {
    let dir = image_dir(model);
    let mut list = vec![
        Copy {
            source: model.image.kernel.clone(),
            dest: dir.join(KERNEL),
            what: "kernel (image.kernel)",
            is_image: true,
        },
        Copy {
            source: model.image.initrd.clone(),
            dest: dir.join(INITRD),
            what: "initrd (image.initrd)",
            is_image: true,
        },
    ];
    if model.boot.method == BootMethod::Pxelinux {
        for name in ["pxelinux.0", "ldlinux.c32"] {
            list.push(Copy {
                source: model.boot.syslinux_dir.join(name),
                dest: model.tftp_root.join(name),
                what: "syslinux file (boot.syslinux-dir; package syslinux)",
                is_image: false,
            });
        }
    }
    list
}
