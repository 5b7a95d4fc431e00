//! `[image]` and `[etcd]`: where the kernel, initrd and the guests' etcd
//! come from, and how they are checked.

use std::path::PathBuf;

use super::{Checked, Checker};
use crate::base::defaults::*;
use crate::base::paths::{CURRENT_LINK, DEFAULT_IMAGE_DIR, FLATCAR_PXE_INITRD, FLATCAR_PXE_KERNEL};
use crate::config::{Located, RawConfig, RawImage};
use crate::model::values::*;
use crate::model::*;

impl Checker<'_> {
    pub(super) fn image(&self, raw: &RawConfig) -> Checked<Image> {
        let r = &raw.image;
        let source_name = self
            .choice(&r.source, "image.source", &["flatcar", "coreos", "files"])?
            .unwrap_or("flatcar");
        let dir = self.path(&r.dir, "image.dir", DEFAULT_IMAGE_DIR)?;
        let only_for = |value: &Option<Located<String>>, key: &str, source: &str| match value {
            Some(v) => Err(self.error(
                v,
                key,
                format!("only used with image.source = \"{source}\""),
            )),
            None => Ok(()),
        };
        match source_name {
            "flatcar" => {
                only_for(&r.kernel, "image.kernel", "files")?;
                only_for(&r.initrd, "image.initrd", "files")?;
                let channel = self
                    .choice(
                        &r.channel,
                        "image.channel",
                        &["stable", "beta", "alpha", "lts"],
                    )?
                    .unwrap_or("stable")
                    .to_string();
                let cache_dir = dir.join(format!("flatcar-{channel}"));
                let current = cache_dir.join(CURRENT_LINK);
                Ok(Image {
                    kernel: current.join(FLATCAR_PXE_KERNEL),
                    initrd: current.join(FLATCAR_PXE_INITRD),
                    source: ImageSource::Flatcar {
                        upstream: self.flatcar_upstream(r, &channel, cache_dir)?,
                        channel,
                    },
                })
            }
            "coreos" => {
                self.flatcar_only(r, source_name)?;
                only_for(&r.kernel, "image.kernel", "files")?;
                only_for(&r.initrd, "image.initrd", "files")?;
                only_for(&r.channel, "image.channel", "flatcar")?;
                let dir = dir.join("coreos");
                Ok(Image {
                    kernel: dir.join("coreos_production_pxe.vmlinuz"),
                    initrd: dir.join("coreos_production_pxe_image.cpio.gz"),
                    source: ImageSource::CoreOs,
                })
            }
            _ => {
                self.flatcar_only(r, source_name)?;
                only_for(&r.channel, "image.channel", "flatcar")?;
                let required = |value: &Option<Located<String>>, key: &str| match value {
                    Some(_) => self.path(value, key, ""),
                    None => Err(self.error_near(
                        r.source.as_ref(),
                        key,
                        "required when image.source = \"files\" (an absolute path)",
                    )),
                };
                Ok(Image {
                    kernel: required(&r.kernel, "image.kernel")?,
                    initrd: required(&r.initrd, "image.initrd")?,
                    source: ImageSource::Files,
                })
            }
        }
    }

    /// With `image.source = "files"` the image dir holds only the etcd
    /// release that Ignition guests get; otherwise a set `image.dir` is unused.
    pub(super) fn image_dir_used(&self, raw: &RawConfig, model: &Model) -> Checked<()> {
        let etcd_cached = model.serves_etcd() && matches!(model.etcd, EtcdSource::Release { .. });
        match &raw.image.dir {
            Some(v) if model.image.source == ImageSource::Files && !etcd_cached => Err(self.error(
                v,
                "image.dir",
                "only used with image.source = \"flatcar\" or \"coreos\", or for the etcd \
                 release of guest.config = \"ignition\"",
            )),
            _ => Ok(()),
        }
    }

    fn flatcar_only(&self, r: &RawImage, source: &str) -> Checked<()> {
        for (value, key) in [
            (&r.version, "image.version"),
            (&r.base_url, "image.base-url"),
            (&r.signing_key, "image.signing-key"),
            (&r.signing_key_fingerprint, "image.signing-key-fingerprint"),
        ] {
            if let Some(v) = value {
                return Err(self.error(
                    v,
                    key,
                    format!("only used with image.source = \"flatcar\" (not \"{source}\")"),
                ));
            }
        }
        Ok(())
    }

    fn flatcar_upstream(
        &self,
        r: &RawImage,
        channel: &str,
        cache_dir: PathBuf,
    ) -> Checked<FlatcarUpstream> {
        let version = match &r.version {
            Some(v) if v.value == "current" => None,
            Some(v) => Some(
                check_release_version(&v.value)
                    .map_err(|why| self.error(v, "image.version", why))?,
            ),
            None => None,
        };
        let base_url = match &r.base_url {
            Some(v) => check_url(&v.value).map_err(|why| self.error(v, "image.base-url", why))?,
            None => default_flatcar_base_url(channel),
        };
        let signing_key = match &r.signing_key {
            Some(v) if v.value.starts_with('/') => {
                check_path(&v.value).map_err(|why| self.error(v, "image.signing-key", why))?;
                v.value.clone()
            }
            Some(v) => check_url(&v.value).map_err(|why| {
                self.error(
                    v,
                    "image.signing-key",
                    format!("{why}, or an absolute path"),
                )
            })?,
            None => DEFAULT_FLATCAR_SIGNING_KEY.to_string(),
        };
        let signing_key_fingerprint = match &r.signing_key_fingerprint {
            Some(v) => {
                let fpr: String = v.value.chars().filter(|c| *c != ' ').collect();
                if fpr.len() != 40 || !fpr.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(self.error(
                        v,
                        "image.signing-key-fingerprint",
                        "expected a 40-digit hex OpenPGP v4 fingerprint",
                    ));
                }
                fpr.to_uppercase()
            }
            None => FLATCAR_SIGNING_KEY_FINGERPRINT.to_string(),
        };
        Ok(FlatcarUpstream {
            version,
            base_url,
            signing_key,
            signing_key_fingerprint,
            cache_dir,
        })
    }

    pub(super) fn etcd(&self, raw: &RawConfig) -> Checked<EtcdSource> {
        let r = &raw.etcd;
        if r.binary.is_some() {
            for (value, key) in [
                (&r.version, "etcd.version"),
                (&r.sha256, "etcd.sha256"),
                (&r.base_url, "etcd.base-url"),
            ] {
                if let Some(v) = value {
                    return Err(self.error(v, key, "not used together with etcd.binary"));
                }
            }
            return Ok(EtcdSource::Binary(self.path(
                &r.binary,
                "etcd.binary",
                "",
            )?));
        }
        let version = match &r.version {
            Some(v) => {
                check_release_version(&v.value).map_err(|why| self.error(v, "etcd.version", why))?
            }
            None => DEFAULT_ETCD_VERSION.to_string(),
        };
        let sha256 = match &r.sha256 {
            Some(v) => {
                let hex = v.value.to_lowercase();
                if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(self.error(v, "etcd.sha256", "expected 64 hex digits"));
                }
                hex
            }
            None if version == DEFAULT_ETCD_VERSION => DEFAULT_ETCD_SHA256.to_string(),
            None => {
                return Err(self.error_near(
                    r.version.as_ref(),
                    "etcd.sha256",
                    format!(
                        "required when etcd.version is not {DEFAULT_ETCD_VERSION} \
                         (the release's published SHA-256 of etcd-v{version}-linux-amd64.tar.gz)"
                    ),
                ))
            }
        };
        let base_url = match &r.base_url {
            Some(v) => check_url(&v.value).map_err(|why| self.error(v, "etcd.base-url", why))?,
            None => DEFAULT_ETCD_BASE_URL.to_string(),
        };
        let dir = self.path(&raw.image.dir, "image.dir", DEFAULT_IMAGE_DIR)?;
        Ok(EtcdSource::Release {
            cache_dir: dir.join(format!("etcd-v{version}")),
            version,
            sha256,
            base_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::tests::{assert_refused, check};
    use crate::base::defaults::{
        DEFAULT_ETCD_SHA256, DEFAULT_ETCD_VERSION, FLATCAR_SIGNING_KEY_FINGERPRINT,
    };
    use crate::model::{EtcdSource, ImageSource};

    #[test]
    fn flatcar_boots_from_the_verified_current_release() {
        let model = check("").unwrap();
        let ImageSource::Flatcar { channel, upstream } = &model.image.source else {
            panic!("flatcar is the default");
        };
        assert_eq!(channel, "stable");
        assert_eq!(
            upstream.signing_key_fingerprint,
            FLATCAR_SIGNING_KEY_FINGERPRINT
        );
        assert_eq!(
            model.image.kernel,
            Path::new("/var/lib/coreos-cluster/images/flatcar-stable/current/flatcar_production_pxe.vmlinuz")
        );
    }

    #[test]
    fn keys_of_another_source_are_refused() {
        assert_refused(
            "[image]\nsource = \"coreos\"\nversion = \"1.2\"\n",
            "image.version: only used with image.source = \"flatcar\"",
        );
        assert_refused(
            "[image]\nsource = \"files\"\n",
            "image.kernel: required when image.source = \"files\"",
        );
        assert_refused(
            "[image]\nversion = \"4593.x\"\n",
            "is not a release version",
        );
        assert_refused(
            "[image]\nsigning-key-fingerprint = \"F88C\"\n",
            "40-digit hex",
        );
    }

    #[test]
    fn the_image_dir_of_files_holds_the_etcd_of_ignition_guests() {
        let files = "[image]\nsource = \"files\"\nkernel = \"/k\"\ninitrd = \"/i\"\ndir = \"/data/images\"\n";
        let model = check(&format!("{files}[guest]\nconfig = \"ignition\"\n")).unwrap();
        let EtcdSource::Release { cache_dir, .. } = &model.etcd else {
            panic!("the release is the default");
        };
        assert!(cache_dir.starts_with("/data/images"), "{cache_dir:?}");
        assert_refused(
            files,
            "image.dir: only used with image.source = \"flatcar\"",
        );
        assert_refused(
            &format!("{files}[guest]\nconfig = \"ignition\"\n[etcd]\nbinary = \"/usr/bin/etcd\"\n"),
            "image.dir: only used with",
        );
    }

    #[test]
    fn etcd_is_the_pinned_release_or_the_users_binary() {
        let EtcdSource::Release {
            version, sha256, ..
        } = check("").unwrap().etcd
        else {
            panic!("the release is the default");
        };
        assert_eq!(
            (version.as_str(), sha256.as_str()),
            (DEFAULT_ETCD_VERSION, DEFAULT_ETCD_SHA256)
        );
        assert_refused(
            "[etcd]\nversion = \"3.5.1\"\n",
            "etcd.sha256: required when etcd.version is not",
        );
        assert_refused(
            "[etcd]\nbinary = \"/usr/bin/etcd\"\nversion = \"3.5.1\"\n",
            "not used together with etcd.binary",
        );
    }
}
