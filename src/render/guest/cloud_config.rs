//! The cloud-config for coreos-cloudinit (CoreOS images, or by choice): the
//! built-in template with every value quoted, or the user's own template
//! with the classic `<DISCOVERY_URL>` placeholder.

use anyhow::bail;
use askama::Template;

use crate::base::yaml_quote::double_quoted;
use crate::config::Sources;
use crate::model::{Discovery, GuestConfigFormat, Model};
use crate::render::guest::{etcd_settings, EtcdBootstrap};
use crate::render::output::{header, render_template};

/// The placeholder a user's own template uses, as in the classic recipe.
const DISCOVERY_PLACEHOLDER: &str = "<DISCOVERY_URL>";

/// What `check` refuses of a user's template, before `prepare` renders it:
/// the placeholder where no discovery URL is allocated.
pub fn check_template(model: &Model, template: &str) -> Result<(), String> {
    if model.guest.config == GuestConfigFormat::CloudConfig
        && model.discovery == Discovery::Static
        && template.contains(DISCOVERY_PLACEHOLDER)
    {
        return Err(static_placeholder_refusal());
    }
    Ok(())
}

fn static_placeholder_refusal() -> String {
    format!(
        "uses {DISCOVERY_PLACEHOLDER}, but discovery.mode = \"static\" allocates no discovery \
         URL; use \"etcd\" or \"public\", or set initial-cluster in the template"
    )
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

/// The cloud-config: the built-in template, or the user's with
/// `<DISCOVERY_URL>` replaced. `$private_ipv4` is left for the HTTP server.
pub fn render(
    model: &Model,
    sources: &Sources,
    bootstrap: &EtcdBootstrap,
    user_template: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(template) = user_template {
        let text = match bootstrap {
            EtcdBootstrap::Discovery(url) => template.replace(DISCOVERY_PLACEHOLDER, url),
            EtcdBootstrap::Static { .. } if template.contains(DISCOVERY_PLACEHOLDER) => {
                bail!("the cloud-config template {}", static_placeholder_refusal())
            }
            EtcdBootstrap::Static { .. } => template.to_string(),
        };
        return Ok(text);
    }
    let header = header("coreos-cluster prepare", sources);
    Ok(render_template(&CloudConfigTemplate {
        header: &header,
        ssh_authorized_keys: (model.guest.ssh_authorized_keys.iter())
            .map(|key| double_quoted(key))
            .collect(),
        etcd: (etcd_settings(bootstrap, model.etcd_cluster.v2_api).into_iter())
            .map(|(name, value)| (name, double_quoted(&value)))
            .collect(),
        start_unit_name: double_quoted(CLOUD_CONFIG_START_UNIT),
        start_unit_contents: double_quoted(CLOUD_CONFIG_START_UNIT_CONTENTS),
    }))
}
