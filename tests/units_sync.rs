//! The static units in `units/` repeat a few facts the code defines (paths,
//! names, timeouts); each is compared here, so neither side can change alone.

use std::path::Path;

use coreos_cluster::config::{self, Source, Sources};
use coreos_cluster::model::{timeouts, Model};

fn unit(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("units")
            .join(name),
    )
    .unwrap()
}

/// The values of `key=` in a unit, continuation lines joined.
fn settings(unit: &str, key: &str) -> Vec<String> {
    let joined = unit.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|line| line.strip_prefix(&format!("{key}=")))
        .map(String::from)
        .collect()
}

fn default_model() -> Model {
    let sources = Sources {
        files: vec![Source {
            path: "/etc/coreos-cluster/cluster.toml".into(),
            text: String::new(),
        }],
    };
    Model::from_raw(&config::parse(&sources, 0).unwrap(), &sources).unwrap()
}

#[test]
fn the_vm_units_stop_fallback_is_what_the_generator_writes_by_default() {
    let vm = unit("coreos-vm@.service");
    let stop = timeouts::vm_stop(&default_model()).as_secs().to_string();
    assert_eq!(settings(&vm, "TimeoutStopSec"), [stop]);
}
