//! systemd generator: turns /etc/coreos-cluster/cluster.toml into drop-ins and links.
//! See systemd.generator(7): argv is `normal-dir [early-dir late-dir]`.

use std::path::PathBuf;
use std::process::ExitCode;

use coreos_cluster::base::names::CONFIG_UNIT;
use coreos_cluster::base::paths::Root;
use coreos_cluster::host::files::write_all;
use coreos_cluster::logging::kmsg::{log_error, log_warning};
use coreos_cluster::ops::load::load_model;
use coreos_cluster::render::generator::{render, render_config_error};

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let normal_dir = match args.as_slice() {
        [normal] | [normal, _, _] => normal,
        _ => {
            eprintln!(
                "usage: coreos-cluster-generator NORMAL_DIR [EARLY_DIR LATE_DIR]\n\
                 Run by systemd at boot and on daemon-reload; see coreos-cluster-generator(8)."
            );
            return ExitCode::from(2);
        }
    };
    let root = Root::from_env();

    let files = match load_model(&root) {
        Ok((sources, model)) => {
            for warning in &model.warnings {
                log_warning(&format!("warning: {warning}"));
            }
            render(&model, &sources)
        }
        Err(err) => {
            // A bad config must not break boot: start nothing, make it visible.
            log_error(&format!(
                "{err}; no cluster units generated, see 'systemctl status {CONFIG_UNIT}'"
            ));
            render_config_error()
        }
    };
    match write_all(normal_dir, &files) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            log_error(&format!("cannot write to {}: {err}", normal_dir.display()));
            ExitCode::FAILURE
        }
    }
}
