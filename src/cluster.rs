//! Starting and stopping a cluster's VMs through systemd: `up` and `down`.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::model::NodeIndex;
use crate::systemd::{JobOutcome, Systemd, UnitState};

/// How long `up` waits for one VM's start job (QEMU's QMP greeting included).
pub const VM_START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long `down` waits for all stop jobs; below coreos-cluster@'s TimeoutStopSec.
pub const VMS_STOP_TIMEOUT: Duration = Duration::from_secs(270);

pub const VM_PATTERN: &str = "coreos-vm@*.service";
pub const CLUSTER_PATTERN: &str = "coreos-cluster@*.service";

pub fn vm_unit(node: NodeIndex) -> String {
    format!("coreos-vm@{}.service", node.instance())
}

pub fn cluster_unit(size: u8) -> String {
    format!("coreos-cluster@{size}.service")
}

/// Parses a `coreos-cluster@` instance: the size, decimal, 1 to `max_nodes`.
pub fn parse_cluster_size(text: &str, max_nodes: u8) -> anyhow::Result<u8> {
    let size = text
        .parse::<u8>()
        .ok()
        .filter(|n| (1..=max_nodes).contains(n) && text == n.to_string());
    match size {
        Some(size) => Ok(size),
        None => bail!(
            "invalid cluster size {text:?}: use a number of nodes from 1 to {max_nodes} \
             (cluster.max-nodes), e.g. coreos-cluster@3"
        ),
    }
}

/// Parses a `coreos-vm@` instance: the node number as two lowercase hex digits.
pub fn parse_vm_instance(text: &str, max_nodes: u8) -> anyhow::Result<NodeIndex> {
    let node = (text.len() == 2
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| u8::from_str_radix(text, 16).ok())
    .flatten()
    .and_then(NodeIndex::new)
    .filter(|n| n.get() <= max_nodes);
    match node {
        Some(node) => Ok(node),
        None => bail!(
            "invalid VM instance {text:?}: use the node number as two lowercase hex digits, \
             01 to {max_nodes:02x} (hex for cluster.max-nodes = {max_nodes}); node 1 is coreos-vm@01"
        ),
    }
}

/// Another cluster unit that is running or starting, if any.
fn other_active_cluster(systemd: &dyn Systemd, size: u8) -> anyhow::Result<Option<UnitState>> {
    let this = cluster_unit(size);
    Ok(systemd
        .list_units(&[CLUSTER_PATTERN])?
        .into_iter()
        .find(|unit| {
            unit.name != this
                && matches!(
                    unit.active_state.as_str(),
                    "active" | "activating" | "reloading"
                )
        }))
}

/// Refuses when another cluster size is active: both would drive coreos-vm@01...
pub fn refuse_other_cluster(systemd: &dyn Systemd, size: u8) -> anyhow::Result<()> {
    if let Some(unit) = other_active_cluster(systemd, size)? {
        bail!(
            "{} is {}: one cluster at a time drives coreos-vm@01..; stop it first \
             (systemctl stop {})",
            unit.name,
            unit.active_state,
            unit.name
        );
    }
    Ok(())
}

/// Starts nodes 1..=size one by one, `stagger` apart, each job awaited.
/// On a failure it stops and says which node, leaving started ones running.
pub fn up(
    systemd: &dyn Systemd,
    size: u8,
    stagger: Duration,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    refuse_other_cluster(systemd, size)?;
    let started_at = Instant::now();
    for i in 1..=size {
        let node = NodeIndex::new(i).expect("1..=size is never 0");
        if i > 1 && !stagger.is_zero() {
            std::thread::sleep(stagger);
        }
        let unit = vm_unit(node);
        let t = Instant::now();
        let outcome = systemd.start_unit(&unit, VM_START_TIMEOUT)?;
        if !outcome.is_done() {
            let running = match i {
                1 => "no node was started".to_string(),
                2 => "node 1 is running and left as it is".to_string(),
                _ => format!("nodes 1-{} are running and left as they are", i - 1),
            };
            let why = match outcome {
                JobOutcome::StillRunning => format!(
                    "its start job did not finish within {} s",
                    VM_START_TIMEOUT.as_secs()
                ),
                JobOutcome::Finished(result) => format!("start job result '{result}'"),
            };
            bail!("node {i} ({unit}) did not start: {why}; {running}; see journalctl -u {unit}");
        }
        progress(&format!(
            "node {i} ({unit}) started in {:.1} s",
            t.elapsed().as_secs_f64()
        ));
    }
    progress(&format!(
        "{size} nodes started in {:.1} s",
        started_at.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Stops every coreos-vm@ unit that is not already stopped, all at once.
/// Run for cluster `owner`, it leaves the VMs alone while another cluster is
/// active: a refused or failed second start must not stop the running one.
pub fn down(
    systemd: &dyn Systemd,
    owner: Option<u8>,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    if let Some(size) = owner {
        if let Some(other) = other_active_cluster(systemd, size)? {
            progress(&format!(
                "{} is {}: its VMs are left running",
                other.name, other.active_state
            ));
            return Ok(());
        }
    }
    let units: Vec<String> = systemd
        .list_units(&[VM_PATTERN])?
        .into_iter()
        .filter(|u| !matches!(u.active_state.as_str(), "inactive" | "failed"))
        .map(|u| u.name)
        .collect();
    if units.is_empty() {
        progress("no VM running");
        return Ok(());
    }
    let t = Instant::now();
    let outcomes = systemd.stop_units(&units, VMS_STOP_TIMEOUT)?;
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|(_, outcome)| !outcome.is_done())
        .map(|(unit, outcome)| format!("{unit}: {outcome}"))
        .collect();
    if !failed.is_empty() {
        bail!("some VMs did not stop: {}", failed.join("; "));
    }
    progress(&format!(
        "{} VMs stopped in {:.1} s",
        units.len(),
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systemd::ServiceDetails;
    use std::cell::RefCell;

    /// An in-memory systemd for the ordering and error logic; the real one is
    /// exercised by tests/systemd/cluster-control.sh.
    #[derive(Default)]
    struct FakeSystemd {
        units: Vec<UnitState>,
        failing: Option<String>,
        calls: RefCell<Vec<String>>,
    }

    impl Systemd for FakeSystemd {
        fn start_unit(&self, unit: &str, _: Duration) -> anyhow::Result<JobOutcome> {
            self.calls.borrow_mut().push(format!("start {unit}"));
            let result = if self.failing.as_deref() == Some(unit) {
                "failed"
            } else {
                "done"
            };
            Ok(JobOutcome::Finished(result.to_string()))
        }
        fn stop_units(
            &self,
            units: &[String],
            _: Duration,
        ) -> anyhow::Result<Vec<(String, JobOutcome)>> {
            self.calls
                .borrow_mut()
                .push(format!("stop {}", units.join(" ")));
            Ok(units
                .iter()
                .map(|u| (u.clone(), JobOutcome::Finished("done".into())))
                .collect())
        }
        fn list_units(&self, patterns: &[&str]) -> anyhow::Result<Vec<UnitState>> {
            let prefix = patterns[0].trim_end_matches("*.service");
            Ok(self
                .units
                .iter()
                .filter(|u| u.name.starts_with(prefix))
                .cloned()
                .collect())
        }
        fn service_details(&self, _: &str) -> anyhow::Result<ServiceDetails> {
            Ok(ServiceDetails::default())
        }
    }

    fn unit(name: &str, state: &str) -> UnitState {
        UnitState {
            name: name.into(),
            active_state: state.into(),
            sub_state: String::new(),
        }
    }

    #[test]
    fn up_starts_nodes_in_order_and_names_the_failing_one() {
        let fake = FakeSystemd {
            failing: Some("coreos-vm@0b.service".into()),
            ..Default::default()
        };
        let err = up(&fake, 12, Duration::ZERO, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("node 11 (coreos-vm@0b.service) did not start: start job result 'failed'; nodes 1-10 are running"), "{err}");
        let calls = fake.calls.borrow();
        assert_eq!(calls.len(), 11);
        assert_eq!(calls[9], "start coreos-vm@0a.service");
    }

    #[test]
    fn up_refuses_a_second_cluster() {
        let fake = FakeSystemd {
            units: vec![
                unit("coreos-cluster@5.service", "active"),
                unit("coreos-cluster@3.service", "activating"),
            ],
            ..Default::default()
        };
        let err = up(&fake, 3, Duration::ZERO, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("coreos-cluster@5.service is active"), "{err}");
        assert!(fake.calls.borrow().is_empty());
    }

    #[test]
    fn down_stops_only_running_vms_at_once() {
        let fake = FakeSystemd {
            units: vec![
                unit("coreos-vm@01.service", "active"),
                unit("coreos-vm@02.service", "inactive"),
                unit("coreos-vm@03.service", "activating"),
                unit("coreos-vm@04.service", "failed"),
            ],
            ..Default::default()
        };
        down(&fake, None, &mut |_| {}).unwrap();
        assert_eq!(
            *fake.calls.borrow(),
            ["stop coreos-vm@01.service coreos-vm@03.service"]
        );
    }

    #[test]
    fn down_for_a_refused_cluster_leaves_the_running_one_alone() {
        let fake = FakeSystemd {
            units: vec![
                unit("coreos-cluster@3.service", "active"),
                unit("coreos-cluster@2.service", "deactivating"),
                unit("coreos-vm@01.service", "active"),
            ],
            ..Default::default()
        };
        down(&fake, Some(2), &mut |_| {}).unwrap();
        assert!(fake.calls.borrow().is_empty());
        down(&fake, Some(3), &mut |_| {}).unwrap();
        assert_eq!(*fake.calls.borrow(), ["stop coreos-vm@01.service"]);
    }

    #[test]
    fn instance_names() {
        assert_eq!(parse_cluster_size("3", 16).unwrap(), 3);
        for bad in ["0", "256", "abc", "03", "+3", "17", ""] {
            assert!(parse_cluster_size(bad, 16).is_err(), "{bad}");
        }
        assert_eq!(parse_vm_instance("0a", 16).unwrap().get(), 10);
        for bad in ["1", "001", "0A", "00", "11", "zz", "-1"] {
            assert!(parse_vm_instance(bad, 16).is_err(), "{bad}");
        }
        assert_eq!(parse_vm_instance("ff", 255).unwrap().get(), 255);
    }
}
