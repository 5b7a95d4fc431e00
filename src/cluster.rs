//! Starting and stopping a cluster's VMs through systemd: `up` and `down`.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::model::NodeIndex;
use crate::names::{cluster_unit, vm_unit, CLUSTER_PATTERN, VM_PATTERN};
use crate::systemd::{JobOutcome, Systemd, UnitState};
use crate::timeouts::VM_START_TIMEOUT;

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
        progress(&format!(
            "node {i} ({unit}) starting, waiting for its start job"
        ));
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
/// `wait` bounds the wait for the stop jobs (`timeouts::down_wait`).
pub fn down(
    systemd: &dyn Systemd,
    owner: Option<u8>,
    wait: Duration,
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
    let outcomes = systemd.stop_units(&units, wait)?;
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
    use crate::systemd::fake::{unit, FakeSystemd};

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
        down(&fake, None, Duration::ZERO, &mut |_| {}).unwrap();
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
        down(&fake, Some(2), Duration::ZERO, &mut |_| {}).unwrap();
        assert!(fake.calls.borrow().is_empty());
        down(&fake, Some(3), Duration::ZERO, &mut |_| {}).unwrap();
        assert_eq!(*fake.calls.borrow(), ["stop coreos-vm@01.service"]);
    }
}
