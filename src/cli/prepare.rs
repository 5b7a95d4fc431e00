//! `coreos-cluster prepare N` (ExecStartPre= of coreos-cluster@N) and the
//! setup commands of the network and HTTP units; the work is in `prepare`.

use std::path::PathBuf;

use clap::Args;

use crate::base::paths::Root;
use crate::ops::{prepare, setup};

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
        prepare::prepare(root, &self.size, &mut |line| println!("{line}"))
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
        setup::setup_network(root, &mut |line| println!("{line}")).map(drop)
    }
}

/// Write the nginx config of coreos-cluster-http.service into DIR.
///
/// Fails first when nginx could not listen on the bridge's address and
/// http.port, naming the process that holds the port.
#[derive(Debug, Args)]
pub struct SetupHttp {
    /// The unit's runtime directory (nginx's pid and temporary files go there
    /// too); below --root, like every path.
    dir: PathBuf,
}

impl SetupHttp {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        setup::setup_http(root, &self.dir)
    }
}

/// Write in.tftpd's settings for coreos-cluster-tftp.service into DIR.
///
/// Fails first when in.tftpd could not listen on the bridge's address and
/// tftp.port, naming the process that holds the port.
#[derive(Debug, Args)]
pub struct SetupTftp {
    /// The unit's runtime directory; below --root, like every path.
    dir: PathBuf,
}

impl SetupTftp {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        setup::setup_tftp(root, &self.dir)
    }
}
