//! The few systemd manager calls coreos-cluster makes, behind a narrow trait
//! so the cluster logic can be tested without a bus; implemented over D-Bus
//! (the system bus: zbus 5 in p2p mode on /run/systemd/private executed calls,
//! then failed to parse the replies).

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use zbus::blocking::Connection;
use zbus::zvariant::OwnedObjectPath;

/// A unit as listed by the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    pub name: String,
    pub active_state: String,
    pub sub_state: String,
}

/// Details of a service unit used by `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceDetails {
    /// The unit's main process (0: none); for a VM, vm-exec, QEMU's parent.
    pub main_pid: u32,
    /// Bytes, when the memory controller accounts for it.
    pub memory_current: Option<u64>,
    pub n_restarts: u32,
    /// When the unit last became active, µs since the epoch (0: never).
    pub active_enter_usec: u64,
}

/// How a job ended: systemd's JobRemoved result ("done", "failed", "timeout",
/// "dependency", "canceled", "skipped", ...), or our own wait running out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Finished(String),
    StillRunning,
}

impl JobOutcome {
    pub fn is_done(&self) -> bool {
        matches!(self, JobOutcome::Finished(r) if r == "done")
    }
}

impl std::fmt::Display for JobOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobOutcome::Finished(result) => write!(f, "{result}"),
            JobOutcome::StillRunning => write!(f, "still running when the wait ended"),
        }
    }
}

/// What the cluster commands need from systemd.
pub trait Systemd {
    /// Starts a unit and waits (at most `timeout`) for its job.
    fn start_unit(&self, unit: &str, timeout: Duration) -> anyhow::Result<JobOutcome> {
        let mut outcomes = self.start_units(&[unit.to_string()], timeout)?;
        Ok(outcomes.pop().map_or(JobOutcome::StillRunning, |(_, o)| o))
    }
    /// Starts the units in parallel and waits (at most `timeout`) for all jobs.
    fn start_units(
        &self,
        units: &[String],
        timeout: Duration,
    ) -> anyhow::Result<Vec<(String, JobOutcome)>>;
    /// Stops the units in parallel and waits (at most `timeout`) for all jobs.
    fn stop_units(
        &self,
        units: &[String],
        timeout: Duration,
    ) -> anyhow::Result<Vec<(String, JobOutcome)>>;
    /// Loaded units matching shell-style patterns, in any state.
    fn list_units(&self, patterns: &[&str]) -> anyhow::Result<Vec<UnitState>>;
    fn service_details(&self, unit: &str) -> anyhow::Result<ServiceDetails>;
}

/// One row of ListUnitsByPatterns: name, description, load, active and sub
/// state, followed unit, unit path, job id, job type, job path.
pub type UnitRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1",
    gen_async = false
)]
trait Manager {
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn subscribe(&self) -> zbus::Result<()>;
    fn list_units_by_patterns(
        &self,
        states: &[&str],
        patterns: &[&str],
    ) -> zbus::Result<Vec<UnitRow>>;
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;

    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1",
    gen_async = false
)]
trait Service {
    #[zbus(property, name = "MainPID")]
    fn main_pid(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn memory_current(&self) -> zbus::Result<u64>;
    #[zbus(property, name = "NRestarts")]
    fn n_restarts(&self) -> zbus::Result<u32>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1",
    gen_async = false
)]
trait Unit {
    #[zbus(property)]
    fn active_enter_timestamp(&self) -> zbus::Result<u64>;
}

/// systemd on the system bus (`DBUS_SYSTEM_BUS_ADDRESS` moves it, for tests).
pub struct SystemdBus {
    connection: Connection,
    manager: ManagerProxy<'static>,
}

impl SystemdBus {
    pub fn connect() -> anyhow::Result<SystemdBus> {
        let connection = Connection::system().map_err(|err| {
            anyhow!(
                "cannot reach systemd: the system D-Bus is not reachable ({err}); \
                 is this a system running systemd?"
            )
        })?;
        let manager = ManagerProxy::new(&connection).context("talking to systemd over D-Bus")?;
        // Without a subscriber systemd may not send JobRemoved.
        manager
            .subscribe()
            .context("subscribing to systemd's job signals")?;
        Ok(SystemdBus {
            connection,
            manager,
        })
    }

    /// Collects JobRemoved signals from now on, on a thread, so none is missed
    /// between enqueuing a job and starting to wait for it.
    fn job_results(&self) -> anyhow::Result<mpsc::Receiver<(OwnedObjectPath, String)>> {
        let signals = self.manager.receive_job_removed()?;
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for signal in signals {
                if let Ok(args) = signal.args() {
                    if sender
                        .send((args.job().clone(), args.result().clone()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        });
        Ok(receiver)
    }

    /// Enqueues one job per unit (`enqueue` is StartUnit or StopUnit, `verb`
    /// says which in messages), all before waiting, and waits for them all.
    fn run_jobs(
        &self,
        units: &[String],
        timeout: Duration,
        verb: &str,
        enqueue: fn(&ManagerProxy<'static>, &str, &str) -> zbus::Result<OwnedObjectPath>,
    ) -> anyhow::Result<Vec<(String, JobOutcome)>> {
        let results = self.job_results()?;
        let mut jobs = HashMap::new();
        for unit in units {
            let job = enqueue(&self.manager, unit, "replace")
                .map_err(explain)
                .with_context(|| format!("asking systemd to {verb} {unit}"))?;
            jobs.insert(job, unit.clone());
        }
        let mut outcomes = wait_for_jobs(&results, &jobs, Instant::now() + timeout);
        Ok(units
            .iter()
            .map(|u| {
                let outcome = outcomes.remove(u).unwrap_or(JobOutcome::StillRunning);
                (u.clone(), outcome)
            })
            .collect())
    }
}

/// Waits until every job in `jobs` is removed or the deadline passes.
fn wait_for_jobs(
    results: &mpsc::Receiver<(OwnedObjectPath, String)>,
    jobs: &HashMap<OwnedObjectPath, String>,
    deadline: Instant,
) -> HashMap<String, JobOutcome> {
    let mut outcomes = HashMap::new();
    while outcomes.len() < jobs.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match results.recv_timeout(left) {
            Ok((job, result)) => {
                if let Some(unit) = jobs.get(&job) {
                    outcomes.insert(unit.clone(), JobOutcome::Finished(result));
                }
            }
            Err(_) => break,
        }
    }
    for unit in jobs.values() {
        outcomes
            .entry(unit.clone())
            .or_insert(JobOutcome::StillRunning);
    }
    outcomes
}

/// systemd's refusals in words: polkit answers an unprivileged caller with
/// AccessDenied or InteractiveAuthorizationRequired.
fn explain(err: zbus::Error) -> anyhow::Error {
    if let zbus::Error::MethodError(name, detail, _) = &err {
        let refused = matches!(
            name.as_str(),
            "org.freedesktop.DBus.Error.AccessDenied"
                | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
        );
        if refused {
            return anyhow!(
                "systemd refused: access denied ({}); run coreos-cluster as root, as its units do",
                detail.as_deref().unwrap_or("no detail")
            );
        }
    }
    err.into()
}

impl Systemd for SystemdBus {
    fn start_units(
        &self,
        units: &[String],
        timeout: Duration,
    ) -> anyhow::Result<Vec<(String, JobOutcome)>> {
        self.run_jobs(units, timeout, "start", ManagerProxy::start_unit)
    }

    fn stop_units(
        &self,
        units: &[String],
        timeout: Duration,
    ) -> anyhow::Result<Vec<(String, JobOutcome)>> {
        self.run_jobs(units, timeout, "stop", ManagerProxy::stop_unit)
    }

    fn list_units(&self, patterns: &[&str]) -> anyhow::Result<Vec<UnitState>> {
        let units = self
            .manager
            .list_units_by_patterns(&[], patterns)
            .context("listing units")?;
        let mut units: Vec<UnitState> = units
            .into_iter()
            .map(|u| UnitState {
                name: u.0,
                active_state: u.3,
                sub_state: u.4,
            })
            .collect();
        units.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(units)
    }

    fn service_details(&self, unit: &str) -> anyhow::Result<ServiceDetails> {
        let path = self.manager.load_unit(unit)?;
        let unit_props = UnitProxy::builder(&self.connection)
            .path(path.clone())?
            .build()
            .with_context(|| format!("reading properties of {unit}"))?;
        let service = ServiceProxy::builder(&self.connection)
            .path(path)?
            .build()
            .with_context(|| format!("reading properties of {unit}"))?;
        let memory = service.memory_current().ok().filter(|&m| m != u64::MAX);
        Ok(ServiceDetails {
            main_pid: service.main_pid().unwrap_or(0),
            memory_current: memory,
            n_restarts: service.n_restarts().unwrap_or(0),
            active_enter_usec: unit_props.active_enter_timestamp().unwrap_or(0),
        })
    }
}

/// An in-memory systemd for the cluster and status logic; the real one is
/// exercised by tests/systemd/cluster-control.sh.
#[cfg(test)]
pub mod fake {
    use std::cell::RefCell;
    use std::time::Duration;

    use super::{JobOutcome, ServiceDetails, Systemd, UnitState};

    #[derive(Default)]
    pub struct FakeSystemd {
        pub units: Vec<UnitState>,
        pub failing: Option<String>,
        pub calls: RefCell<Vec<String>>,
    }

    impl Systemd for FakeSystemd {
        fn start_units(
            &self,
            units: &[String],
            _: Duration,
        ) -> anyhow::Result<Vec<(String, JobOutcome)>> {
            Ok(self.jobs("start", units))
        }
        fn stop_units(
            &self,
            units: &[String],
            _: Duration,
        ) -> anyhow::Result<Vec<(String, JobOutcome)>> {
            Ok(self.jobs("stop", units))
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

    impl FakeSystemd {
        /// Records the call; every job is done but a start of `failing`.
        fn jobs(&self, verb: &str, units: &[String]) -> Vec<(String, JobOutcome)> {
            self.calls
                .borrow_mut()
                .push(format!("{verb} {}", units.join(" ")));
            units
                .iter()
                .map(|u| {
                    let failed = verb == "start" && self.failing.as_deref() == Some(u.as_str());
                    let result = if failed { "failed" } else { "done" };
                    (u.clone(), JobOutcome::Finished(result.into()))
                })
                .collect()
        }
    }

    pub fn unit(name: &str, state: &str) -> UnitState {
        UnitState {
            name: name.into(),
            active_state: state.into(),
            sub_state: String::new(),
        }
    }
}
