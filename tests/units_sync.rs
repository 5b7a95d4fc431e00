//! The static units in `units/` repeat a few facts the code defines (paths,
//! names, timeouts); each is compared here, so neither side can change alone.

use std::path::Path;

use coreos_cluster::base::{names, paths};
use coreos_cluster::config::{self, Source, Sources};
use coreos_cluster::model::{timeouts, Model};
use coreos_cluster::render::{generator, output::Contents};

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

fn default_sources() -> Sources {
    Sources {
        files: vec![Source {
            path: "/etc/coreos-cluster/cluster.toml".into(),
            text: String::new(),
        }],
    }
}

fn default_model() -> Model {
    let sources = default_sources();
    Model::from_raw(&config::parse(&sources, 0).unwrap(), &sources).unwrap()
}

#[test]
fn the_vm_units_stop_fallback_is_what_the_generator_writes_by_default() {
    let vm = unit("coreos-vm@.service");
    let stop = timeouts::vm_stop(&default_model()).as_secs().to_string();
    assert_eq!(settings(&vm, "TimeoutStopSec"), [stop]);
}

/// A path below /run as a unit spells it: `%t/...`.
fn in_runtime_dir(path: &str) -> String {
    format!(
        "%t/{}",
        path.strip_prefix("/run/").expect("a path below /run")
    )
}

#[test]
fn the_network_unit_loads_and_deletes_our_nftables_table() {
    let network = unit("coreos-cluster-network.service");
    let rules = in_runtime_dir(paths::NAT_RULES_FILE);
    assert_eq!(
        settings(&network, "ExecStartPost"),
        [format!("/usr/bin/nft -f {rules}")]
    );
    assert_eq!(
        settings(&network, "ExecStopPost"),
        [format!(
            "-/usr/bin/nft delete table ip {}",
            names::NFT_TABLE
        )]
    );
    // setup-network writes the rules into the unit's runtime directory.
    let dir = Path::new(paths::NAT_RULES_FILE).parent().unwrap();
    assert_eq!(
        settings(&network, "RuntimeDirectory"),
        [dir.strip_prefix("/run").unwrap().to_str().unwrap()]
    );
}

#[test]
fn the_vm_unit_names_the_machine_and_its_sockets_as_the_code_does() {
    let vm = unit("coreos-vm@.service");
    let dir = paths::vm_runtime_dir("%i");
    assert_eq!(
        settings(&vm, "RuntimeDirectory"),
        [dir.strip_prefix("/run/").unwrap()]
    );
    // vm-exec keeps a failed boot's line there, for status.
    let state = paths::vm_state_dir("%i");
    assert_eq!(
        settings(&vm, "StateDirectory"),
        [state.strip_prefix("/var/lib/").unwrap()]
    );
    let qmp = in_runtime_dir(&format!("{dir}/{}", paths::QMP_SOCKET));
    let serial = in_runtime_dir(&format!("{dir}/{}", paths::SERIAL_SOCKET));
    let exec_start = &settings(&vm, "ExecStart")[0];
    let name = format!(" -name {} ", names::machine_name("%i"));
    assert!(exec_start.contains(&name), "{exec_start}");
    let qmp_arg = format!(" -qmp unix:{qmp},server=on,wait=off ");
    assert!(exec_start.contains(&qmp_arg), "{exec_start}");
    assert_eq!(
        settings(&vm, "ExecStop"),
        [format!("/usr/bin/coreos-cluster vm-stop {qmp}")]
    );
    let started = format!("/usr/bin/coreos-cluster vm-started {qmp}");
    assert!(settings(&vm, "ExecStartPost").contains(&started));
    // The comment that tells `coreos-cluster console`'s socket.
    assert!(vm.contains(&format!("({serial} for `coreos-cluster")));
}

#[test]
fn the_server_units_read_the_files_their_setup_writes() {
    let http = unit("coreos-cluster-http.service");
    let nginx = format!("-c %t/coreos-cluster-http/{}", paths::NGINX_CONFIG);
    assert!(settings(&http, "ExecStart")[0].ends_with(&nginx));
    let tftp = unit("coreos-cluster-tftp.service");
    assert_eq!(
        settings(&tftp, "EnvironmentFile"),
        [format!("-%t/coreos-cluster-tftp/{}", paths::TFTPD_ENV)]
    );
}

#[test]
fn the_units_run_as_the_service_user() {
    let user = names::SERVICE_USER;
    for name in ["coreos-vm@.service", "coreos-cluster-http.service"] {
        let text = unit(name);
        assert_eq!(settings(&text, "User"), [user], "{name}");
        assert_eq!(settings(&text, "Group"), [user], "{name}");
    }
    let cluster = unit("coreos-cluster@.service");
    assert_eq!(settings(&cluster, "SupplementaryGroups"), [user]);
    let tftp = unit("coreos-cluster-tftp.service");
    assert!(settings(&tftp, "ExecStart")[0].contains(&format!(" --user {user} ")));
}

#[test]
fn the_ksm_unit_reads_the_pace_the_generator_writes() {
    let ksm = unit(names::KSM_UNIT);
    let files = generator::render(&default_model(), &default_sources());
    let dropin = files
        .iter()
        .find(|f| f.path.starts_with(format!("{}.d", names::KSM_UNIT)))
        .expect("a drop-in for the KSM unit");
    let Contents::Text(text) = &dropin.contents else {
        panic!("the KSM drop-in is a link")
    };
    let assignments: Vec<String> = settings(text, "Environment")
        .iter()
        .flat_map(|line| {
            line.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(assignments.len(), 2, "{text}");
    for assignment in assignments {
        let (name, _) = assignment.split_once('=').unwrap();
        // `$$`: systemd passes the `$` on, and sh reads the environment.
        assert!(ksm.contains(&format!("\"$${name}\"")), "{name} unread");
    }
    assert_eq!(settings(&ksm, "ReadWritePaths"), [paths::KSM_DIR]);
    assert_eq!(settings(&ksm, "ConditionPathIsReadWrite"), [paths::KSM_DIR]);
}
