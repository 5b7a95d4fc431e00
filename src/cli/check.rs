//! `coreos-cluster check`: validate the configuration and summarize it.

use clap::Args;

use crate::base::paths::Root;
use crate::model::{BootMethod, Discovery, Model, NetworkMode};

/// Check the configuration and print what it describes.
///
/// Exits non-zero with the file, line and column of the first problem.
/// coreos-cluster-config.service runs this before anything else starts.
#[derive(Debug, Args)]
pub struct Check {
    /// Print nothing when the configuration is valid.
    #[arg(short, long)]
    quiet: bool,

    /// Also check that a cluster of this size fits (coreos-cluster@SIZE).
    #[arg(long, value_name = "SIZE")]
    size: Option<String>,
}

impl Check {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        let (sources, model) = crate::ops::check::check(root, self.size.as_deref())?;
        for warning in &model.warnings {
            tracing::warn!("warning: {warning}");
        }
        if !self.quiet {
            let files = sources.paths();
            if files.is_empty() {
                println!("no config file: using built-in defaults");
            }
            for path in files {
                println!("read {}", path.display());
            }
            print!("{}", summary(&model));
        }
        Ok(())
    }
}

fn summary(model: &Model) -> String {
    let vm = &model.vm;
    let network = match &model.network.mode {
        NetworkMode::Isolated { subnet, nat } => format!(
            "isolated on {} ({subnet}, host {}, NAT {})",
            model.network.bridge,
            subnet.gateway(),
            if *nat { "on" } else { "off" }
        ),
        NetworkMode::Bridged { uplink, .. } => {
            format!("bridged: {} enslaves {uplink}", model.network.bridge)
        }
    };
    let discovery = match &model.discovery {
        Discovery::Static => "static (initial-cluster from node addresses)".to_string(),
        Discovery::Public { base_url } => format!("public ({base_url})"),
        Discovery::Etcd { url } => format!("self-hosted etcd ({url})"),
    };
    let boot = match model.boot.method {
        BootMethod::Ipxe => "ipxe over HTTP",
        BootMethod::Pxelinux => "pxelinux over TFTP",
        BootMethod::Direct => "direct (QEMU loads the kernel and initrd)",
    };
    let tftp = match model.boot.method {
        BootMethod::Pxelinux => format!(
            "; TFTP port {} serves {}",
            model.tftp_port,
            model.tftp_root.display()
        ),
        BootMethod::Ipxe | BootMethod::Direct => String::new(),
    };
    let accel: Vec<&str> = vm.accelerators.iter().map(|a| a.name()).collect();
    let at_boot = model
        .cluster
        .start_at_boot
        .map_or("none".to_string(), |n| format!("{n} nodes"));
    format!(
        "configuration is valid\n\
         network:   {network}\n\
         discovery: {discovery}\n\
         boot:      {boot}, kernel {}\n\
         served:    HTTP port {} serves {}{tftp}\n\
         vm:        {} MiB, {} cores, accelerator {}, MACs {}:NN\n\
         nodes:     up to {}, {} with own settings; started at boot: {at_boot}\n",
        model.image.kernel.display(),
        model.http_port,
        model.http_root.display(),
        vm.memory_mib,
        vm.cores,
        accel.join(":"),
        model.cluster.mac_prefix,
        model.cluster.max_nodes,
        model.nodes.len(),
    )
}
