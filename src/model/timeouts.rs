//! Timeouts that fit together, derived from the config (stagger, powerdown
//! grace, largest cluster), so no outer wait gives up before an inner one:
//!
//! - a VM's `TimeoutStopSec=` = powerdown grace + STOP_MARGIN (its stop
//!   helper waits the grace period, then systemd sends SIGTERM);
//! - `down` waits for the stop jobs that long + STOP_MARGIN;
//! - the cluster's `TimeoutStopSec=` = `down`'s wait + STOP_MARGIN;
//! - the cluster's `TimeoutStartSec=` = PREPARE_BUDGET + max-nodes ×
//!   (stagger + VM_START_TIMEOUT): `up` waits at most VM_START_TIMEOUT for
//!   each VM, one stagger apart ("auto": at most AUTO_STAGGER_MAX);
//! - PREPARE_BUDGET covers discovery's HTTP_ATTEMPTS of at most
//!   HTTP_EXCHANGE_TIMEOUT each and the backoff between them.

use std::time::Duration;

use crate::model::{Model, Stagger};

/// What each wait leaves for the one inside it to finish and report.
pub const STOP_MARGIN: Duration = Duration::from_secs(15);
/// How long `up` waits for one VM's start job (QEMU's QMP greeting included).
pub const VM_START_TIMEOUT: Duration = Duration::from_secs(90);
/// `stagger-sec = "auto"`: the longest `up` waits from a VM's start for its
/// kernel before it starts the next VM.
pub const AUTO_STAGGER_MAX: Duration = Duration::from_secs(20);
/// `prepare`: discovery (with its retries) and copying images.
pub const PREPARE_BUDGET: Duration = Duration::from_secs(120);
/// One short HTTP exchange (a discovery request), redirects included.
pub const HTTP_EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a retried HTTP exchange is tried, and the first pause between
/// tries (each next pause is twice as long).
pub const HTTP_ATTEMPTS: u32 = 3;
pub const HTTP_FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// A download (of any size) connecting, and the longest its body may stall.
pub const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
pub const HTTP_STALL_TIMEOUT: Duration = Duration::from_secs(120);
/// `down`'s wait when the config cannot be read at stop time: enough for the
/// largest powerdown grace the config allows.
pub const DOWN_WAIT_UNKNOWN: Duration = Duration::from_secs(3600 + 2 * 15);
/// How long `vm-started` waits for a new QEMU's QMP greeting: well inside
/// VM_START_TIMEOUT, so `up` hears why a start failed.
pub const QMP_GREETING_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a running QEMU may take to answer a QMP command (the ACPI power
/// button, from `vm-stop` or `machinectl poweroff`).
pub const QMP_ANSWER_TIME: Duration = Duration::from_secs(5);
/// How long networkd may take to give the bridge its address after a reload.
pub const BRIDGE_ADDRESS_WAIT: Duration = Duration::from_secs(10);
/// How long `status` waits for a node's etcd `/health` (all nodes at once).
pub const ETCD_HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// iPXE's "Press Ctrl-B" banner waits this long for a key; a key pressed
/// later is of no use, so it is also the deadline for pressing one.
pub const IPXE_BANNER_WAIT: Duration = Duration::from_secs(2);

fn secs(n: u32) -> Duration {
    Duration::from_secs(n.into())
}

/// The longest `up` waits from one VM's start to the next.
fn stagger_max(stagger: Stagger) -> Duration {
    match stagger {
        Stagger::Fixed(sec) => secs(sec),
        Stagger::Auto => AUTO_STAGGER_MAX,
    }
}

/// `TimeoutStopSec=` of every VM.
pub fn vm_stop(model: &Model) -> Duration {
    secs(model.vm.powerdown_timeout_sec) + STOP_MARGIN
}

/// How long `down` waits for all VMs' stop jobs (they stop in parallel).
pub fn down_wait(model: &Model) -> Duration {
    vm_stop(model) + STOP_MARGIN
}

/// `TimeoutStopSec=` of the cluster unit, whose `ExecStopPost=` is `down`.
pub fn cluster_stop(model: &Model) -> Duration {
    down_wait(model) + STOP_MARGIN
}

/// The longest a retried HTTP exchange takes: every attempt timing out,
/// with the pauses between them.
pub fn http_retried_exchange() -> Duration {
    let pauses: u32 = (0..HTTP_ATTEMPTS - 1).map(|i| 1 << i).sum();
    HTTP_EXCHANGE_TIMEOUT * HTTP_ATTEMPTS + HTTP_FIRST_BACKOFF * pauses
}

/// `TimeoutStartSec=` of the cluster unit: `prepare`, then `up` for the
/// largest cluster the config allows.
pub fn cluster_start(model: &Model) -> Duration {
    let per_node = stagger_max(model.cluster.stagger) + VM_START_TIMEOUT;
    PREPARE_BUDGET + per_node * u32::from(model.cluster.max_nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(text: &str) -> Model {
        Model::from_toml(text).unwrap().1
    }

    #[test]
    fn outer_waits_outlast_inner_ones() {
        let m = model(
            "[vm]\npowerdown-timeout-sec = 3600\n[cluster]\nstagger-sec = 600\nmax-nodes = 3\n",
        );
        assert_eq!(vm_stop(&m).as_secs(), 3615);
        assert_eq!(down_wait(&m).as_secs(), 3630);
        assert_eq!(cluster_stop(&m).as_secs(), 3645);
        assert!(down_wait(&m) <= DOWN_WAIT_UNKNOWN);
        assert!(QMP_GREETING_TIMEOUT < VM_START_TIMEOUT);
        // 3 nodes started 600 s apart, each allowed 90 s, after prepare.
        assert_eq!(cluster_start(&m).as_secs(), 120 + 3 * 690);
        let d = model("");
        assert_eq!(
            (vm_stop(&d).as_secs(), cluster_stop(&d).as_secs()),
            (45, 75)
        );
        // "auto" waits at most AUTO_STAGGER_MAX per node.
        let auto = model("[cluster]\nstagger-sec = \"auto\"\nmax-nodes = 3\n");
        assert_eq!(auto.cluster.stagger, Stagger::Auto);
        assert_eq!(cluster_start(&auto).as_secs(), 120 + 3 * (20 + 90));
    }

    #[test]
    fn discovery_with_its_retries_fits_in_prepare() {
        // 3 attempts of 10 s, 0.5 s and 1 s apart.
        assert_eq!(http_retried_exchange(), Duration::from_millis(31_500));
        assert!(http_retried_exchange() < PREPARE_BUDGET);
    }
}
