//! Starting and stopping a cluster's VMs through systemd: `up` and `down`.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail};

use crate::base::names::{
    cluster_unit, parse_cluster_size, vm_instance, vm_unit, CLUSTER_PATTERN, VM_PATTERN,
};
use crate::base::paths::{vm_runtime_dir, Root, KERNEL_STARTED_MARKER};
use crate::host::systemd::{JobOutcome, Systemd, SystemdBus, UnitState};
use crate::model::timeouts::{self, AUTO_STAGGER_MAX, VM_START_TIMEOUT};
use crate::model::{NodeIndex, Stagger};
use crate::ops::load::load_model;
use crate::ops::vm::{boot_failure_record, read_boot_failure};

/// `up SIZE` (ExecStart= of coreos-cluster@SIZE): the config read, then the
/// cluster's VMs started through systemd as `cluster.stagger-sec` paces them.
pub fn start(root: &Root, size: &str, say: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    let (_, model) = load_model(root)?;
    let size = parse_cluster_size(size, model.cluster.max_nodes)?;
    let systemd = SystemdBus::connect()?;
    up(&systemd, root, size, Pace::of(model.cluster.stagger), say)
}

/// `down` (ExecStopPost= of coreos-cluster@SIZE): every VM stopped, also
/// when the config broke since they started (then with the longest wait).
pub fn stop(root: &Root, owner: Option<u8>, say: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    let wait = load_model(root).map_or(timeouts::DOWN_WAIT_UNKNOWN, |(_, model)| {
        timeouts::down_wait(&model)
    });
    let systemd = SystemdBus::connect()?;
    down(&systemd, owner, wait, say)
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
fn refuse_other_cluster(systemd: &dyn Systemd, size: u8) -> anyhow::Result<()> {
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

/// How `up` paces the VMs' starts (from `cluster.stagger-sec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Every start job at once, then wait for them all.
    AllAtOnce,
    /// One by one, each start job awaited, then this pause.
    Fixed(Duration),
    /// One by one, each start job awaited, then until the VM's kernel
    /// started (its boot files are loaded), at most `max` after its start.
    KernelStarted { max: Duration },
}

/// How often `up` looks for a VM's kernel-started marker.
const MARKER_POLL: Duration = Duration::from_millis(100);

impl Pace {
    /// What `cluster.stagger-sec` asks for.
    pub fn of(stagger: Stagger) -> Pace {
        match stagger {
            Stagger::Fixed(0) => Pace::AllAtOnce,
            Stagger::Fixed(sec) => Pace::Fixed(Duration::from_secs(sec.into())),
            Stagger::Auto => Pace::KernelStarted {
                max: AUTO_STAGGER_MAX,
            },
        }
    }
}

/// Starts nodes 1..=size as `pace` says, their jobs awaited. On a failure
/// it says which nodes, leaving started ones running. The VMs' runtime
/// directories are below `root`.
pub fn up(
    systemd: &dyn Systemd,
    root: &Root,
    size: u8,
    pace: Pace,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    refuse_other_cluster(systemd, size)?;
    let started_at = Instant::now();
    let nodes: Vec<NodeIndex> = (1..=size).filter_map(NodeIndex::new).collect();
    match pace {
        Pace::AllAtOnce => start_at_once(systemd, &nodes, progress)?,
        _ => start_one_by_one(systemd, root, &nodes, pace, progress)?,
    }
    progress(&format!(
        "{size} nodes started in {:.1} s",
        started_at.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn start_at_once(
    systemd: &dyn Systemd,
    nodes: &[NodeIndex],
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let numbers: Vec<u8> = nodes.iter().map(|n| n.get()).collect();
    progress(&format!(
        "{} starting at once, waiting for their start jobs",
        node_list(&numbers)
    ));
    let units: Vec<String> = nodes.iter().map(|&n| vm_unit(n)).collect();
    let outcomes = systemd.start_units(&units, VM_START_TIMEOUT)?;
    let (done, failed): (Vec<_>, Vec<_>) = nodes
        .iter()
        .zip(outcomes)
        .map(|(node, (unit, outcome))| (node.get(), unit, outcome))
        .partition(|(_, _, outcome)| outcome.is_done());
    if !failed.is_empty() {
        let running: Vec<u8> = done.iter().map(|(i, _, _)| *i).collect();
        return Err(not_started(&failed, &running));
    }
    Ok(())
}

fn start_one_by_one(
    systemd: &dyn Systemd,
    root: &Root,
    nodes: &[NodeIndex],
    pace: Pace,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    for (k, &node) in nodes.iter().enumerate() {
        let i = node.get();
        let unit = vm_unit(node);
        progress(&format!(
            "node {i} ({unit}) starting, waiting for its start job"
        ));
        let t = Instant::now();
        let queued = SystemTime::now();
        let outcome = systemd.start_unit(&unit, VM_START_TIMEOUT)?;
        if !outcome.is_done() {
            let running: Vec<u8> = nodes[..k].iter().map(|n| n.get()).collect();
            return Err(not_started(&[(i, unit, outcome)], &running));
        }
        progress(&format!(
            "node {i} ({unit}) started in {:.1} s",
            t.elapsed().as_secs_f64()
        ));
        if k + 1 == nodes.len() {
            break;
        }
        match pace {
            Pace::AllAtOnce => {}
            Pace::Fixed(pause) => std::thread::sleep(pause),
            Pace::KernelStarted { max } => match kernel_started(root, node, queued, t + max) {
                KernelWait::Started => progress(&format!(
                    "node {i} loaded its boot files after {:.1} s",
                    t.elapsed().as_secs_f64()
                )),
                KernelWait::BootFailed(line) => {
                    let running: Vec<u8> = nodes[..=k].iter().map(|n| n.get()).collect();
                    let running = left_running(&running);
                    bail!("node {i} ({unit}) failed to boot: {line}; {running}; see journalctl -u {unit}")
                }
                KernelWait::TimedOut => progress(&format!(
                    "node {i} did not report its kernel within {} s; starting the next node",
                    max.as_secs_f64()
                )),
            },
        }
    }
    Ok(())
}

enum KernelWait {
    Started,
    /// The boot failed before its kernel (no bootable device): the line.
    BootFailed(String),
    TimedOut,
}

/// Waits until the node's VM reports its kernel started or its boot failed,
/// or `deadline`. Only a marker made since the start job was `queued`
/// counts. (The runtime directory goes when the VM stops, so a fresh start
/// has none, and vm-exec removes an old failure; the kernel's file clock may
/// lag by a tick, but the marker comes seconds after the start.)
fn kernel_started(
    root: &Root,
    node: NodeIndex,
    queued: SystemTime,
    deadline: Instant,
) -> KernelWait {
    let instance = vm_instance(node);
    let marker = root
        .join(vm_runtime_dir(&instance))
        .join(KERNEL_STARTED_MARKER);
    let failure = boot_failure_record(root, &instance);
    let made_since_queued = |file: &Path| {
        std::fs::metadata(file)
            .and_then(|m| m.modified())
            .is_ok_and(|made| made >= queued)
    };
    loop {
        if made_since_queued(&marker) {
            return KernelWait::Started;
        }
        if made_since_queued(&failure) {
            if let Some(line) = read_boot_failure(&failure) {
                return KernelWait::BootFailed(line);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return KernelWait::TimedOut;
        }
        std::thread::sleep(left.min(MARKER_POLL));
    }
}

/// Which nodes did not start and why, which are left running, where to look.
fn not_started(failed: &[(u8, String, JobOutcome)], running: &[u8]) -> anyhow::Error {
    let why: Vec<String> = failed
        .iter()
        .map(|(i, unit, outcome)| {
            let why = match outcome {
                JobOutcome::StillRunning => format!(
                    "its start job did not finish within {} s",
                    VM_START_TIMEOUT.as_secs()
                ),
                JobOutcome::Finished(result) => format!("start job result '{result}'"),
            };
            format!("node {i} ({unit}) did not start: {why}")
        })
        .collect();
    let running = left_running(running);
    let journal: String = failed
        .iter()
        .map(|(_, unit, _)| format!(" -u {unit}"))
        .collect();
    anyhow!("{}; {running}; see journalctl{journal}", why.join("; "))
}

fn left_running(running: &[u8]) -> String {
    match running {
        [] => "no node was started".to_string(),
        [_] => format!("{} is running and left as it is", node_list(running)),
        _ => format!("{} are running and left as they are", node_list(running)),
    }
}

/// Ascending node numbers as ranges: "node 3", "nodes 1-4", "nodes 1-2, 5".
fn node_list(nodes: &[u8]) -> String {
    let mut ranges: Vec<(u8, u8)> = Vec::new();
    for &n in nodes {
        match ranges.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(n) => *last = n,
            _ => ranges.push((n, n)),
        }
    }
    let ranges: Vec<String> = ranges
        .iter()
        .map(|&(first, last)| {
            if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            }
        })
        .collect();
    let noun = if nodes.len() == 1 { "node" } else { "nodes" };
    format!("{noun} {}", ranges.join(", "))
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
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::host::systemd::fake::{unit, FakeSystemd};

    /// A root without runtime directories: no VM ever reports its kernel.
    fn no_root() -> Root {
        Root::new("/nonexistent")
    }

    /// Node `node`'s kernel-started marker below `root`, its directory made.
    fn marker(root: &Path, node: u8) -> PathBuf {
        let node = NodeIndex::new(node).unwrap();
        let dir = Root::new(root).join(vm_runtime_dir(&vm_instance(node)));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(KERNEL_STARTED_MARKER)
    }

    /// Runs `up` of `size` nodes with `stagger-sec = "auto"` bounded by
    /// `max_ms`: its progress lines, how long it took, how many start calls.
    fn up_auto(root: &Path, size: u8, max_ms: u64) -> (Vec<String>, Duration, usize) {
        let fake = FakeSystemd::default();
        let pace = Pace::KernelStarted {
            max: Duration::from_millis(max_ms),
        };
        let mut lines = Vec::new();
        let t = Instant::now();
        up(&fake, &Root::new(root), size, pace, &mut |l| {
            lines.push(l.to_string())
        })
        .unwrap();
        let calls = fake.calls.borrow().len();
        (lines, t.elapsed(), calls)
    }

    #[test]
    fn auto_starts_the_next_node_once_the_kernel_reports() {
        let root = tempfile::tempdir().unwrap();
        let first = marker(root.path(), 1);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::write(first, "").unwrap();
        });
        let (lines, took, calls) = up_auto(root.path(), 2, 5000);
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(
            lines[2].starts_with("node 1 loaded its boot files after 0."),
            "{lines:?}"
        );
        assert_eq!(calls, 2);
    }

    #[test]
    fn auto_stops_at_a_node_whose_boot_failed_instead_of_waiting_out_its_bound() {
        let root = tempfile::tempdir().unwrap();
        let record = boot_failure_record(&Root::new(root.path()), "01");
        std::fs::create_dir_all(record.parent().unwrap()).unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            std::fs::write(record, "No bootable device.\n").unwrap();
        });
        let fake = FakeSystemd::default();
        let pace = Pace::KernelStarted {
            max: Duration::from_secs(5),
        };
        let t = Instant::now();
        let err = up(&fake, &Root::new(root.path()), 3, pace, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(
            err,
            "node 1 (coreos-vm@01.service) failed to boot: No bootable device.; \
                 node 1 is running and left as it is; see journalctl -u coreos-vm@01.service"
        );
        assert_eq!(fake.calls.borrow().len(), 1);
    }

    #[test]
    fn auto_waits_at_most_its_bound_and_ignores_an_old_marker() {
        let root = tempfile::tempdir().unwrap();
        let old = std::fs::File::create(marker(root.path(), 1)).unwrap();
        old.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        let (lines, took, calls) = up_auto(root.path(), 3, 200);
        // Two waits of 0.2 s: after node 1 and node 2, none after the last.
        assert!(took >= Duration::from_millis(400), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        let waits: Vec<&String> = lines.iter().filter(|l| l.contains("kernel")).collect();
        assert_eq!(
            waits,
            [
                "node 1 did not report its kernel within 0.2 s; starting the next node",
                "node 2 did not report its kernel within 0.2 s; starting the next node"
            ]
        );
        assert_eq!(calls, 3);
    }

    #[test]
    fn up_starts_nodes_in_order_and_names_the_failing_one() {
        let fake = FakeSystemd {
            failing: Some("coreos-vm@0b.service".into()),
            ..Default::default()
        };
        let err = up(
            &fake,
            &no_root(),
            12,
            Pace::Fixed(Duration::ZERO),
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("node 11 (coreos-vm@0b.service) did not start: start job result 'failed'; nodes 1-10 are running"), "{err}");
        let calls = fake.calls.borrow();
        assert_eq!(calls.len(), 11);
        assert_eq!(calls[9], "start coreos-vm@0a.service");
    }

    #[test]
    fn stagger_zero_starts_all_nodes_with_one_call() {
        assert_eq!(Pace::of(Stagger::Fixed(0)), Pace::AllAtOnce);
        let fake = FakeSystemd::default();
        up(&fake, &no_root(), 3, Pace::AllAtOnce, &mut |_| {}).unwrap();
        assert_eq!(
            *fake.calls.borrow(),
            ["start coreos-vm@01.service coreos-vm@02.service coreos-vm@03.service"]
        );
    }

    #[test]
    fn all_at_once_names_the_failing_node_and_the_running_ones() {
        let fake = FakeSystemd {
            failing: Some("coreos-vm@03.service".into()),
            ..Default::default()
        };
        let err = up(&fake, &no_root(), 5, Pace::AllAtOnce, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "node 3 (coreos-vm@03.service) did not start: start job result 'failed'; \
             nodes 1-2, 4-5 are running and left as they are; \
             see journalctl -u coreos-vm@03.service"
        );
        assert_eq!(fake.calls.borrow().len(), 1);
    }

    #[test]
    fn node_lists_are_ranges() {
        assert_eq!(node_list(&[3]), "node 3");
        assert_eq!(node_list(&[1, 2, 3, 4]), "nodes 1-4");
        assert_eq!(node_list(&[1, 2, 5, 254, 255]), "nodes 1-2, 5, 254-255");
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
        let err = up(&fake, &no_root(), 3, Pace::AllAtOnce, &mut |_| {})
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
