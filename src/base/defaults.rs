//! The value of every key a config leaves out, defined once: validation
//! applies them, and docs and tests compare against them.

/// Our nginx's default port: not 80, which a web server of the host's
/// (Arch's nginx listens on `*:80`) already holds; iPXE fetches any port.
pub const DEFAULT_HTTP_PORT: u16 = 8777;
/// TFTP's own port: PXE firmware asks port 69, and no other.
pub const DEFAULT_TFTP_PORT: u16 = 69;

pub const DEFAULT_BRIDGE: &str = "coreos-br0";
pub const DEFAULT_SUBNET: &str = "10.77.0.0/24";
pub const DEFAULT_MAC_PREFIX: &str = "52:54:00:12:34";
pub const DEFAULT_MAX_NODES: u8 = 16;
/// `vm.powerdown-timeout-sec`: how long a guest may take to power off after
/// the ACPI power button before systemd terminates QEMU.
pub const DEFAULT_POWERDOWN_TIMEOUT_SEC: u32 = 30;
pub const PUBLIC_DISCOVERY_DEFAULT: &str = "https://discovery.etcd.io";

/// The etcd release fetched by default, and its published SHA-256.
pub const DEFAULT_ETCD_VERSION: &str = "3.5.27";
pub const DEFAULT_ETCD_SHA256: &str =
    "0aad9a9e4e0817a021e933f9806a2b2960a62f949ad5a3d6436d8886945cb1bc";
pub const DEFAULT_ETCD_BASE_URL: &str = "https://github.com/etcd-io/etcd/releases/download";
pub const DEFAULT_FLATCAR_SIGNING_KEY: &str =
    "https://www.flatcar.org/security/image-signing-key/Flatcar_Image_Signing_Key.asc";

/// A channel's release directory on Flatcar's hosts.
pub fn default_flatcar_base_url(channel: &str) -> String {
    format!("https://{channel}.release.flatcar-linux.net/amd64-usr")
}

/// Primary fingerprint of the Flatcar image signing key.
pub const FLATCAR_SIGNING_KEY_FINGERPRINT: &str = "F88CFEDEFF29A5B4D9523864E25D9AED0593B34A";

/// `ksm.pages-to-scan`: ten times the kernel's 100, for a burst of identical
/// guests: one pass over 20 guests of 1 GiB takes under 2 minutes, not 17.
pub const DEFAULT_KSM_PAGES_TO_SCAN: u32 = 1000;
/// `ksm.sleep-millisecs`: the kernel's own.
pub const DEFAULT_KSM_SLEEP_MILLISECS: u32 = 20;
