//! Every path the product reads or writes, and the root they hang off, so
//! tests run against fake roots. Paths here are as seen on the running system.

use std::path::{Path, PathBuf};

/// Environment variable that moves the generator's root (its argv is fixed by systemd).
pub const ROOT_ENV: &str = "COREOS_CLUSTER_ROOT";

/// The main config file.
pub const CONFIG_FILE: &str = "/etc/coreos-cluster/cluster.toml";
/// Config drop-ins, read in lexical order after the main file.
pub const DROPIN_DIR: &str = "/etc/coreos-cluster/cluster.toml.d";
/// Where the shipped static units are installed; generated links point here.
pub const UNIT_DIR: &str = "/usr/lib/systemd/system";
/// Where networkd reads runtime configuration.
pub const NETWORK_DIR: &str = "/run/systemd/network";
/// Where `prepare` records the discovery URL it allocated, for `status`.
pub const DISCOVERY_URL_FILE: &str = "/run/coreos-cluster/discovery-url";
/// Each VM's runtime directory (the unit's RuntimeDirectory=): QMP, console.
pub fn vm_runtime_dir(instance: &str) -> String {
    format!("/run/coreos-cluster/vm-{instance}")
}
/// File names inside a VM's runtime directory: QEMU's QMP socket and the
/// serial console's socket.
pub const QMP_SOCKET: &str = "qmp.sock";
pub const SERIAL_SOCKET: &str = "serial.sock";
/// Held (flock) while `coreos-cluster console` is attached: one console at a time.
pub const CONSOLE_LOCK: &str = "console.lock";
/// Made by `vm-exec` once the guest's kernel prints its first line on the
/// serial console, i.e. its boot files are loaded (`stagger-sec = "auto"`
/// waits for it before starting the next VM).
pub const KERNEL_STARTED_MARKER: &str = "kernel-started";
/// Each VM's state directory (the unit's StateDirectory=): what outlives a
/// stopped VM, for `status`.
pub fn vm_state_dir(instance: &str) -> String {
    format!("{STATE_DIR}/vm-{instance}")
}
/// In a VM's state directory: the serial line that showed its last boot
/// failed (Ignition, an emergency shell, no bootable device). `vm-exec`
/// removes it when the next boot begins.
pub const BOOT_FAILURE_RECORD: &str = "boot-failure";
/// Where `prepare` records the image the nodes boot, for `status`.
pub const IMAGE_FILE: &str = "/run/coreos-cluster/image";
/// The kernel's KSM switches and counters.
pub const KSM_DIR: &str = "/sys/kernel/mm/ksm";
/// Persistent state: StateDirectory= of the cluster unit.
pub const STATE_DIR: &str = "/var/lib/coreos-cluster";
/// The image cache (Flatcar releases, etcd, the signing key).
pub const DEFAULT_IMAGE_DIR: &str = "/var/lib/coreos-cluster/images";
/// In a channel's cache, the link to the release the nodes boot; it moves
/// only once a whole release is verified.
pub const CURRENT_LINK: &str = "current";
/// Flatcar's PXE kernel and initrd, named in the cache as upstream names them.
pub const FLATCAR_PXE_KERNEL: &str = "flatcar_production_pxe.vmlinuz";
pub const FLATCAR_PXE_INITRD: &str = "flatcar_production_pxe_image.cpio.gz";
/// The served trees by default: directories of our own (Arch's `/srv/http`
/// is shared by every web server on the host).
pub const DEFAULT_HTTP_ROOT: &str = "/srv/coreos-cluster/http";
pub const DEFAULT_TFTP_ROOT: &str = "/srv/coreos-cluster/tftp";
/// nftables rules of isolated mode, written by `setup-network`, loaded with `nft -f`.
pub const NAT_RULES_FILE: &str = "/run/coreos-cluster-network/nat.nft";
/// Our directory inside the HTTP and TFTP roots.
pub const SUBDIR: &str = "coreos-cluster";
/// The guests' configs below SUBDIR: the cloud-config and the Ignition config.
pub const CLOUD_CONFIG: &str = "cloud-config.yaml";
pub const IGNITION_CONFIG: &str = "config.ign";
/// File names inside SUBDIR (and the pxelinux tree): the boot script, the
/// kernel and the initrd.
pub const IPXE_SCRIPT: &str = "boot.ipxe";
pub const KERNEL: &str = "vmlinuz";
pub const INITRD: &str = "initrd";
/// The direct boot method's kernel command line, which `vm-exec` hands to
/// QEMU's `-append` (the config server's address is known only to `prepare`).
pub const DIRECT_CMDLINE: &str = "kernel-cmdline";
/// The pxelinux boot method's boot file, which DHCP hands out, and the
/// library it loads, both copied from syslinux into the TFTP root.
pub const PXELINUX_BOOT_FILE: &str = "pxelinux.0";
pub const PXELINUX_LDLINUX: &str = "ldlinux.c32";
/// Where the service user is looked up (below the root, like every path).
pub const PASSWD_FILE: &str = "/etc/passwd";
pub const GROUP_FILE: &str = "/etc/group";
/// nginx's config, in the HTTP unit's runtime directory.
pub const NGINX_CONFIG: &str = "nginx.conf";
/// in.tftpd's settings (address, root), in the TFTP unit's runtime directory.
pub const TFTPD_ENV: &str = "in.tftpd.env";

/// A directory standing in for `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Root(dir.into())
    }

    /// The root named by `COREOS_CLUSTER_ROOT`, or `/`.
    pub fn from_env() -> Self {
        match std::env::var_os(ROOT_ENV) {
            Some(dir) if !dir.is_empty() => Root::new(dir),
            _ => Root::new("/"),
        }
    }

    /// Whether this is the running system's own root (not a test root).
    pub fn is_system_root(&self) -> bool {
        self.0 == Path::new("/")
    }

    /// Maps a path of the running system (absolute or not) below the root.
    pub fn join(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        self.0.join(path.strip_prefix("/").unwrap_or(path))
    }
}
