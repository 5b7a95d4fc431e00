//! What a network-booting VM asks for: the boot script (iPXE over HTTP or
//! pxelinux over TFTP), the kernel and initrd, and its config (Ignition or
//! cloud-config).
//! Rendering is pure; `prepare` writes the files and copies the images.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use askama::Template;

use crate::base::names;
use crate::base::paths::{
    DIRECT_CMDLINE, INITRD, IPXE_SCRIPT, KERNEL, PXELINUX_BOOT_FILE, PXELINUX_LDLINUX, SUBDIR,
};
use crate::config::Sources;
use crate::model::{BootMethod, GuestConfigFormat, Model};
use crate::render::guest::{
    cloud_config, guest_config_file, guest_config_path, ignition, EtcdBootstrap, GuestInput,
};
use crate::render::output::{header, RenderedFile};

/// The serial console at 115200 baud, as Flatcar's docs write it: under
/// QEMU (TCG) a boot to multi-user is 2-3 s faster than at the kernel's
/// default 9600 (tests/bench/console.sh).
const SERIAL_CONSOLE: &str = "console=ttyS0,115200n8";

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

/// Everything `prepare` renders for a cluster: the guests' config and the
/// boot script, at their paths on the running system.
pub fn render(
    model: &Model,
    sources: &Sources,
    host: Ipv4Addr,
    bootstrap: &EtcdBootstrap,
    guest: GuestInput,
) -> anyhow::Result<Vec<RenderedFile>> {
    let guest_config = match guest {
        GuestInput::CloudConfig { user_template } => RenderedFile::text(
            guest_config_path(model),
            cloud_config::render(model, sources, bootstrap, user_template)?,
        ),
        GuestInput::Ignition { etcd, merges } => RenderedFile::text(
            guest_config_path(model),
            ignition::render(model, host, bootstrap, etcd, merges),
        ),
    };
    Ok(vec![guest_config, render_boot_script(model, sources, host)])
}

/// Kernel command line: where the guest config is, the console, the user's extras.
pub fn kernel_args(model: &Model, host: Ipv4Addr) -> String {
    let config_url = names::served_url(host, model.http_port, guest_config_file(model));
    let mut args = match model.guest.config {
        GuestConfigFormat::CloudConfig => vec![format!("cloud-config-url={config_url}")],
        // Flatcar's initramfs runs Ignition on its first boot. iPXE (and
        // UEFI) want the initrd named on the line; pxelinux's append has it,
        // and QEMU's -initrd passes it in the boot parameters.
        GuestConfigFormat::Ignition => (model.boot.method == BootMethod::Ipxe)
            .then(|| format!("initrd={INITRD}"))
            .into_iter()
            .chain([
                "flatcar.first_boot=1".to_string(),
                format!("ignition.config.url={config_url}"),
            ])
            .collect(),
    };
    args.extend(["console=tty0".to_string(), SERIAL_CONSOLE.to_string()]);
    args.extend(model.boot.kernel_args.iter().cloned());
    args.join(" ")
}

/// Where the boot script goes: below the HTTP root (iPXE, and the kernel
/// line of the direct method) or the TFTP root (pxelinux).
pub fn boot_script_path(model: &Model) -> PathBuf {
    match model.boot.method {
        BootMethod::Ipxe => model.http_root.join(SUBDIR).join(IPXE_SCRIPT),
        BootMethod::Pxelinux => model.tftp_root.join("pxelinux.cfg").join("default"),
        BootMethod::Direct => model.http_root.join(SUBDIR).join(DIRECT_CMDLINE),
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
                base_url: &names::served_base_url(host, model.http_port),
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
        // One line, read by vm-exec for QEMU's -append.
        BootMethod::Direct => RenderedFile::text(path, format!("{args}\n")),
    }
}

/// Where the kernel and initrd are served from.
pub fn image_dir(model: &Model) -> PathBuf {
    match model.boot.method {
        BootMethod::Ipxe | BootMethod::Direct => model.http_root.join(SUBDIR),
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
        for name in [PXELINUX_BOOT_FILE, PXELINUX_LDLINUX] {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn model(toml: &str) -> Model {
        Model::from_toml(toml).unwrap().1
    }

    #[test]
    fn kernel_line_per_guest_config() {
        let host = Ipv4Addr::new(10, 77, 0, 1);
        let flatcar = model("[boot]\nkernel-args = [\"quiet\"]\n");
        assert_eq!(
            kernel_args(&flatcar, host),
            "initrd=initrd flatcar.first_boot=1 \
             ignition.config.url=http://10.77.0.1:8777/coreos-cluster/config.ign \
             console=tty0 console=ttyS0,115200n8 quiet"
        );
        let pxelinux = model("[boot]\nmethod = \"pxelinux\"\n");
        assert!(kernel_args(&pxelinux, host).starts_with("flatcar.first_boot=1 "));
        let coreos = model("[image]\nsource = \"coreos\"\n");
        assert_eq!(
            kernel_args(&coreos, host),
            "cloud-config-url=http://10.77.0.1:8777/coreos-cluster/cloud-config.yaml \
             console=tty0 console=ttyS0,115200n8"
        );
        let chosen = model("[guest]\nconfig = \"cloud-config\"\n");
        assert!(kernel_args(&chosen, host).starts_with("cloud-config-url="));
    }
}
