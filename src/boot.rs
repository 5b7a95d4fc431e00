//! What a network-booting VM asks for: the boot script (iPXE over HTTP or
//! pxelinux over TFTP), the kernel and initrd, and the cloud-config.
//! Rendering is pure; `install_image` and the writers in `output` do the I/O.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use askama::Template;

use crate::config::Sources;
use crate::guest::etcd_settings;
use crate::ignition::IGNITION_CONFIG;
use crate::model::{BootMethod, Discovery, GuestConfigFormat, Model, NetworkMode, NodeIndex};
use crate::output::{finish, header};
use crate::yaml_quote::double_quoted;

/// Our directory inside the HTTP and TFTP roots.
pub const SUBDIR: &str = "coreos-cluster";
pub const CLOUD_CONFIG: &str = "cloud-config.yaml";
/// The placeholder a user's own template uses, as in the classic recipe.
pub const DISCOVERY_PLACEHOLDER: &str = "<DISCOVERY_URL>";

/// How etcd members find each other, as written into the cloud-config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdBootstrap {
    /// A discovery URL (public service or self-hosted etcd).
    Discovery(String),
    /// `initial-cluster` from the known addresses (members are named by
    /// address) and the token unique to this start of the cluster.
    Static {
        initial_cluster: String,
        token: String,
    },
}

/// Starts etcd2 and fleet where the image has them: Flatcar dropped both in
/// 2018, and a `command: start` of a missing unit fails coreos-cloudinit.
const CLOUD_CONFIG_START_UNIT: &str = "coreos-cluster-start-etcd2.service";
const CLOUD_CONFIG_START_UNIT_CONTENTS: &str = "\
[Unit]
Description=Start etcd2 and fleet where this image has them (coreos-cluster)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'for unit in etcd2.service fleet.service; do if systemctl cat \"$$unit\" >/dev/null 2>&1; then systemctl start --no-block \"$$unit\"; fi; done'
";

#[derive(Template)]
#[template(path = "boot/cloud-config.yaml", escape = "none")]
struct CloudConfigTemplate<'a> {
    header: &'a str,
    /// Every value below is a quoted YAML scalar already.
    ssh_authorized_keys: Vec<String>,
    etcd: Vec<(&'static str, String)>,
    start_unit_name: String,
    start_unit_contents: String,
}

#[derive(Template)]
#[template(path = "boot/boot.ipxe", escape = "none")]
struct IpxeScript<'a> {
    header: &'a str,
    base_url: &'a str,
    kernel_args: &'a str,
}

#[derive(Template)]
#[template(path = "boot/pxelinux.cfg", escape = "none")]
struct PxelinuxConfig<'a> {
    header: &'a str,
    prefix: &'a str,
    kernel_args: &'a str,
}

/// The static bootstrap for a cluster of `size` nodes, if the mode is static.
/// `token` is new for each start (`guest::new_cluster_token`).
pub fn static_bootstrap(model: &Model, size: u8, token: &str) -> Option<EtcdBootstrap> {
    let (Discovery::Static, NetworkMode::Isolated { subnet, .. }) =
        (&model.discovery, &model.network.mode)
    else {
        return None;
    };
    let members: Vec<String> = (1..=size)
        .filter_map(NodeIndex::new)
        .map(|n| {
            let ip = subnet.node_address(n);
            format!("{ip}=http://{ip}:2380")
        })
        .collect();
    Some(EtcdBootstrap::Static {
        initial_cluster: members.join(","),
        token: token.to_string(),
    })
}

/// The cloud-config: the built-in template, or the user's with
/// `<DISCOVERY_URL>` replaced. `$private_ipv4` is left for the HTTP server.
pub fn render_cloud_config(
    model: &Model,
    sources: &Sources,
    bootstrap: &EtcdBootstrap,
    user_template: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(template) = user_template {
        return match bootstrap {
            EtcdBootstrap::Discovery(url) => Ok(template.replace(DISCOVERY_PLACEHOLDER, url)),
            EtcdBootstrap::Static { .. } if template.contains(DISCOVERY_PLACEHOLDER) => bail!(
                "the cloud-config template uses {DISCOVERY_PLACEHOLDER}, but discovery.mode = \
                 \"static\" allocates no discovery URL; use \"etcd\" or \"public\", or set \
                 initial-cluster in the template"
            ),
            EtcdBootstrap::Static { .. } => Ok(template.to_string()),
        };
    }
    let header = header("coreos-cluster prepare", sources);
    Ok(finish(
        CloudConfigTemplate {
            header: &header,
            ssh_authorized_keys: (model.guest.ssh_authorized_keys.iter())
                .map(|key| double_quoted(key))
                .collect(),
            etcd: (etcd_settings(bootstrap).into_iter())
                .map(|(name, value)| (name, double_quoted(&value)))
                .collect(),
            start_unit_name: double_quoted(CLOUD_CONFIG_START_UNIT),
            start_unit_contents: double_quoted(CLOUD_CONFIG_START_UNIT_CONTENTS),
        }
        .render(),
    ))
}

/// Kernel command line: where the guest config is, the console, the user's extras.
pub fn kernel_args(model: &Model, host: Ipv4Addr) -> String {
    let mut args = match model.guest.config {
        GuestConfigFormat::CloudConfig => {
            vec![format!(
                "cloud-config-url=http://{host}/{SUBDIR}/{CLOUD_CONFIG}"
            )]
        }
        // Flatcar's initramfs runs Ignition on its first boot. iPXE (and
        // UEFI) want the initrd named on the line; pxelinux's append has it.
        GuestConfigFormat::Ignition => (model.boot.method == BootMethod::Ipxe)
            .then(|| "initrd=initrd".to_string())
            .into_iter()
            .chain([
                "flatcar.first_boot=1".to_string(),
                format!("ignition.config.url=http://{host}/{SUBDIR}/{IGNITION_CONFIG}"),
            ])
            .collect(),
    };
    args.extend(["console=tty0".to_string(), "console=ttyS0".to_string()]);
    args.extend(model.boot.kernel_args.iter().cloned());
    args.join(" ")
}

/// The boot script and where it goes (below the HTTP or TFTP root).
pub fn render_boot_script(model: &Model, sources: &Sources, host: Ipv4Addr) -> (PathBuf, String) {
    let args = kernel_args(model, host);
    let header = header("coreos-cluster prepare", sources);
    match model.boot.method {
        BootMethod::Ipxe => {
            let base_url = format!("http://{host}/{SUBDIR}");
            let script = IpxeScript {
                header: &header,
                base_url: &base_url,
                kernel_args: &args,
            }
            .render();
            (
                model.http_root.join(SUBDIR).join("boot.ipxe"),
                finish(script),
            )
        }
        BootMethod::Pxelinux => {
            let config = PxelinuxConfig {
                header: &header,
                prefix: &format!("{SUBDIR}/"),
                kernel_args: &args,
            }
            .render();
            (
                model.tftp_root.join("pxelinux.cfg").join("default"),
                finish(config),
            )
        }
    }
}

/// Where the kernel and initrd are served from.
pub fn image_dir(model: &Model) -> PathBuf {
    match model.boot.method {
        BootMethod::Ipxe => model.http_root.join(SUBDIR),
        BootMethod::Pxelinux => model.tftp_root.join(SUBDIR),
    }
}

/// Files copied as they are: (source, destination), all on the running system.
pub fn copies(model: &Model) -> Vec<(PathBuf, PathBuf)> {
    let dir = image_dir(model);
    let mut list = vec![
        (model.image.kernel.clone(), dir.join("vmlinuz")),
        (model.image.initrd.clone(), dir.join("initrd")),
    ];
    if model.boot.method == BootMethod::Pxelinux {
        for name in ["pxelinux.0", "ldlinux.c32"] {
            list.push((
                model.boot.syslinux_dir.join(name),
                model.tftp_root.join(name),
            ));
        }
    }
    list
}

/// Puts `source` at `dest` (hard link when possible, else a copy), unless
/// `dest` already has the same size and modification time. The swap is
/// atomic: a VM booting meanwhile gets the old file or the new one.
pub fn install_file(source: &Path, dest: &Path, what: &str) -> anyhow::Result<bool> {
    let meta = std::fs::metadata(source)
        .with_context(|| format!("{what} not found: looked for {}", source.display()))?;
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
        std::fs::copy(source, &tmp)
            .with_context(|| format!("copying {} to {}", source.display(), dir.display()))?;
        let file = std::fs::File::options().write(true).open(&tmp)?;
        file.set_modified(meta.modified()?)?;
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    std::fs::rename(&tmp, dest).with_context(|| format!("installing {}", dest.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(toml: &str) -> Model {
        let sources = Sources {
            files: vec![crate::config::Source {
                path: "/c.toml".into(),
                text: toml.into(),
            }],
        };
        Model::from_raw(&crate::config::parse(&sources, 0).unwrap(), &sources).unwrap()
    }

    #[test]
    fn kernel_line_per_guest_config() {
        let host = Ipv4Addr::new(10, 77, 0, 1);
        let flatcar = model("[boot]\nkernel-args = [\"quiet\"]\n");
        assert_eq!(
            kernel_args(&flatcar, host),
            "initrd=initrd flatcar.first_boot=1 \
             ignition.config.url=http://10.77.0.1/coreos-cluster/config.ign \
             console=tty0 console=ttyS0 quiet"
        );
        let pxelinux = model("[boot]\nmethod = \"pxelinux\"\n");
        assert!(kernel_args(&pxelinux, host).starts_with("flatcar.first_boot=1 "));
        let coreos = model("[image]\nsource = \"coreos\"\n");
        assert_eq!(
            kernel_args(&coreos, host),
            "cloud-config-url=http://10.77.0.1/coreos-cluster/cloud-config.yaml \
             console=tty0 console=ttyS0"
        );
        let chosen = model("[guest]\nconfig = \"cloud-config\"\n");
        assert!(kernel_args(&chosen, host).starts_with("cloud-config-url="));
    }
}
