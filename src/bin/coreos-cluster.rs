//! The helper that coreos-cluster's units run, and the command people use.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = coreos_cluster::cli::Cli::parse();
    coreos_cluster::logging::init();
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}
