//! `[network]`, `[discovery]`, `[boot]` and `[paths]`: the bridge, how the
//! nodes find each other and boot, and the trees we serve.

use std::path::PathBuf;

use super::{Checked, Checker};
use crate::base::defaults::*;
use crate::base::names::TAP_PREFIX;
use crate::base::paths::{DEFAULT_HTTP_ROOT, DEFAULT_IMAGE_DIR, DEFAULT_TFTP_ROOT};
use crate::base::text::{quoted, quoted_path};
use crate::config::{Located, RawConfig};
use crate::model::values::*;
use crate::model::*;

impl Checker<'_> {
    /// The HTTP and TFTP roots: directories of our own, apart from each other
    /// and from the image cache (the units may write all of them).
    pub(super) fn served_trees(&self, raw: &RawConfig) -> Checked<(PathBuf, PathBuf)> {
        let http_key = "paths.http-root";
        let tftp_key = "paths.tftp-root";
        let http = self.path(&raw.paths.http_root, http_key, DEFAULT_HTTP_ROOT)?;
        let tftp = self.path(&raw.paths.tftp_root, tftp_key, DEFAULT_TFTP_ROOT)?;
        let image_dir = self.path(&raw.image.dir, "image.dir", DEFAULT_IMAGE_DIR)?;
        let trees = [
            (&http, raw.paths.http_root.as_ref(), http_key),
            (&tftp, raw.paths.tftp_root.as_ref(), tftp_key),
        ];
        for (tree, value, key) in trees {
            let refuse = |why: String| self.error_near(value, key, why);
            check_served_tree(tree).map_err(refuse)?;
            if image_dir.starts_with(tree) {
                return Err(refuse(format!(
                    "{} holds the image cache (image.dir = {}); serve a directory apart \
                     from it",
                    quoted_path(tree),
                    quoted_path(&image_dir)
                )));
            }
        }
        if http.starts_with(&tftp) || tftp.starts_with(&http) {
            let (value, key) = match raw.paths.tftp_root.as_ref() {
                Some(v) => (Some(v), tftp_key),
                None => (raw.paths.http_root.as_ref(), http_key),
            };
            return Err(self.error_near(
                value,
                key,
                format!(
                    "the HTTP root {} and the TFTP root {} are nested; use two separate \
                     directories",
                    quoted_path(&http),
                    quoted_path(&tftp)
                ),
            ));
        }
        Ok((http, tftp))
    }

    fn interface(&self, value: &Located<String>, key: &str) -> Checked<String> {
        check_interface_name(&value.value).map_err(|why| self.error(value, key, why))?;
        Ok(value.value.clone())
    }

    pub(super) fn network(&self, raw: &RawConfig, max_nodes: u8) -> Checked<Network> {
        let r = &raw.network;
        let mode = self
            .choice(&r.mode, "network.mode", &["isolated", "bridged"])?
            .unwrap_or("isolated");
        let bridge = match &r.bridge {
            Some(v) => {
                let bridge = self.interface(v, "network.bridge")?;
                if bridge.starts_with(TAP_PREFIX) {
                    return Err(self.error(
                        v,
                        "network.bridge",
                        format!(
                            "{} would clash with the node taps ({TAP_PREFIX}NN); \
                             choose another name",
                            quoted(&bridge)
                        ),
                    ));
                }
                bridge
            }
            None => DEFAULT_BRIDGE.to_string(),
        };
        let only_for = |value: Option<&Located<String>>, key: &str, mode: &str| match value {
            Some(v) => Err(self.error(v, key, format!("only used with network.mode = \"{mode}\""))),
            None => Ok(()),
        };
        let mode = if mode == "isolated" {
            only_for(r.uplink.as_ref(), "network.uplink", "bridged")?;
            only_for(r.bridge_mac.as_ref(), "network.bridge-mac", "bridged")?;
            let subnet = match &r.subnet {
                Some(v) => {
                    parse_subnet(&v.value).map_err(|why| self.error(v, "network.subnet", why))?
                }
                None => parse_subnet(DEFAULT_SUBNET).expect("valid default"),
            };
            if subnet.node_capacity() < u32::from(max_nodes) {
                let why = format!(
                    "{subnet} has room for {} nodes (node i gets host number {NODE_HOST_OFFSET} + i, \
                     one address stays for other clients), \
                     but cluster.max-nodes = {max_nodes}; use a larger subnet or lower max-nodes",
                    subnet.node_capacity()
                );
                return Err(match &r.subnet {
                    Some(v) => self.error(v, "network.subnet", why),
                    None => self.error_near(raw.cluster.max_nodes.as_ref(), "network.subnet", why),
                });
            }
            NetworkMode::Isolated {
                subnet,
                nat: r.nat.as_ref().is_none_or(|v| v.value),
            }
        } else {
            only_for(r.subnet.as_ref(), "network.subnet", "isolated")?;
            if let Some(v) = &r.nat {
                return Err(self.error(
                    v,
                    "network.nat",
                    "only used with network.mode = \"isolated\"",
                ));
            }
            let uplink =
                match &r.uplink {
                    Some(v) if v.value == bridge || v.value.starts_with(TAP_PREFIX) => {
                        return Err(self.error(
                            v,
                            "network.uplink",
                            format!(
                                "{} is the bridge or a node tap; the uplink is the host's \
                                 NIC that the bridge enslaves, e.g. \"eth0\"",
                                quoted(&v.value)
                            ),
                        ))
                    }
                    Some(v) => self.interface(v, "network.uplink")?,
                    None => return Err(self.error_near(
                        r.mode.as_ref(),
                        "network.uplink",
                        "required when network.mode = \"bridged\" (the NIC the bridge enslaves, \
                         e.g. \"eth0\")",
                    )),
                };
            let bridge_mac = match &r.bridge_mac {
                Some(v) => Some(
                    parse_mac(&v.value).map_err(|why| self.error(v, "network.bridge-mac", why))?,
                ),
                None => None,
            };
            NetworkMode::Bridged { uplink, bridge_mac }
        };
        Ok(Network { bridge, mode })
    }

    pub(super) fn discovery(&self, raw: &RawConfig, network: &Network) -> Checked<Discovery> {
        let r = &raw.discovery;
        let isolated = matches!(network.mode, NetworkMode::Isolated { .. });
        let mode = self.choice(&r.mode, "discovery.mode", &["static", "public", "etcd"])?;
        let mode =
            match mode {
                Some(mode) => mode,
                None if isolated => "static",
                None => return Err(self.error_near(
                    raw.network.mode.as_ref(),
                    "discovery.mode",
                    "required when network.mode = \"bridged\" (node addresses are not known in \
                     advance): \"etcd\" or \"public\"",
                )),
            };
        let url = match &r.url {
            Some(v) => {
                Some(check_url(&v.value).map_err(|why| self.error(v, "discovery.url", why))?)
            }
            None => None,
        };
        match (mode, url) {
            ("static", None) if isolated => Ok(Discovery::Static),
            ("static", Some(_)) => Err(self.error(
                r.url.as_ref().expect("matched Some"),
                "discovery.url",
                "not used with discovery.mode = \"static\"",
            )),
            ("static", None) => Err(self.error(
                r.mode
                    .as_ref()
                    .expect("static is never the default in bridged mode"),
                "discovery.mode",
                "\"static\" needs node addresses in advance, which only network.mode = \
                 \"isolated\" knows; use \"etcd\" or \"public\"",
            )),
            ("public", url) => Ok(Discovery::Public {
                base_url: url.unwrap_or_else(|| PUBLIC_DISCOVERY_DEFAULT.to_string()),
            }),
            (_, Some(url)) => Ok(Discovery::Etcd { url }),
            (_, None) => Err(self.error_near(
                r.mode.as_ref(),
                "discovery.url",
                "required when discovery.mode = \"etcd\" (the etcd v2 keys endpoint, \
                 e.g. \"http://10.77.0.1:2379\")",
            )),
        }
    }

    pub(super) fn boot(&self, raw: &RawConfig, network: &Network) -> Checked<Boot> {
        let r = &raw.boot;
        let method = match self.choice(&r.method, "boot.method", &["ipxe", "pxelinux", "direct"])? {
            Some("ipxe") => BootMethod::Ipxe,
            Some("direct") => BootMethod::Direct,
            Some(_) => BootMethod::Pxelinux,
            // iPXE over HTTP is faster, but on a LAN the DHCP server picks the boot file.
            None => match network.mode {
                NetworkMode::Isolated { .. } => BootMethod::Ipxe,
                NetworkMode::Bridged { .. } => BootMethod::Pxelinux,
            },
        };
        let kernel_args = match &r.kernel_args {
            Some(v) => {
                for arg in &v.value {
                    check_kernel_arg(arg).map_err(|why| self.error(v, "boot.kernel-args", why))?;
                }
                v.value.clone()
            }
            None => Vec::new(),
        };
        Ok(Boot {
            method,
            syslinux_dir: self.path(
                &r.syslinux_dir,
                "boot.syslinux-dir",
                "/usr/lib/syslinux/bios",
            )?,
            kernel_args,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_refused, check};
    use crate::base::defaults::DEFAULT_BRIDGE;
    use crate::model::{BootMethod, Discovery};

    #[test]
    fn isolated_is_the_default_and_bridged_needs_an_uplink() {
        let model = check("").unwrap();
        assert_eq!(model.network.bridge, DEFAULT_BRIDGE);
        assert_eq!(
            (model.discovery, model.boot.method),
            (Discovery::Static, BootMethod::Ipxe)
        );
        assert_refused(
            "[network]\nmode = \"bridged\"\n",
            "network.uplink: required",
        );
        let bridged = "[network]\nmode = \"bridged\"\nuplink = \"eth0\"\n";
        assert_refused(bridged, "discovery.mode: required");
        let lan = check(&format!("{bridged}[discovery]\nmode = \"public\"\n")).unwrap();
        assert_eq!(lan.boot.method, BootMethod::Pxelinux);
        assert_refused(
            &format!("{bridged}[discovery]\nmode = \"static\"\n"),
            "\"static\" needs node addresses in advance",
        );
    }

    #[test]
    fn names_and_subnets_that_clash_are_refused() {
        assert_refused(
            "[network]\nbridge = \"coreos-tap1\"\n",
            "would clash with the node taps",
        );
        assert_refused(
            "[network]\nsubnet = \"10.0.0.0/28\"\n",
            "has room for 3 nodes",
        );
        assert_refused("[discovery]\nmode = \"etcd\"\n", "discovery.url: required");
    }

    #[test]
    fn served_trees_are_our_own_and_apart() {
        assert_refused(
            "[paths]\nhttp-root = \"/srv/x\"\ntftp-root = \"/srv/x/t\"\n",
            "are nested",
        );
        assert_refused(
            "[paths]\nhttp-root = \"/srv/http\"\n",
            "is shared with other software",
        );
        assert_refused(
            "[paths]\nhttp-root = \"/var/lib/coreos-cluster\"\n",
            "holds the image cache",
        );
    }
}
