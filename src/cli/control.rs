//! `coreos-cluster up`, `down` and `status`: the cluster through systemd.

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::base::paths::Root;
use crate::model::timeouts;
use crate::model::{Discovery, Model};
use crate::ops::cluster;
use crate::ops::status::{self, EtcdRole, NodeStatus, Status};

/// Start the VMs of a cluster one by one (ExecStart= of coreos-cluster@N).
#[derive(Debug, Args)]
#[command(long_about = up_long_about())]
pub struct Up {
    /// Number of nodes (the instance of coreos-cluster@N).
    size: String,
}

/// `up --help`, with the bound of "auto" from the code.
fn up_long_about() -> String {
    format!(
        "Start the VMs of a cluster one by one (ExecStart= of coreos-cluster@N).\n\n\
         Starts coreos-vm@01 .. coreos-vm@NN (hex) with cluster.stagger-sec between \
         them, waiting for each start job (\"auto\": the next one once the previous \
         VM's kernel started, at most {} s after its start; 0: all jobs at once, \
         then waits for them all). Fails naming the nodes that did not start; nodes \
         already started are left running. Refuses while another cluster size is \
         active.",
        timeouts::AUTO_STAGGER_MAX.as_secs()
    )
}

impl Up {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        cluster::start(root, &self.size, &mut |line| println!("{line}"))
    }
}

/// Stop every coreos-vm@ unit, all at once (ExecStopPost= of coreos-cluster@N).
///
/// Each VM gets an ACPI powerdown and its grace period (vm.powerdown-timeout-sec)
/// before systemd terminates QEMU.
#[derive(Debug, Args)]
pub struct Down {
    /// Run for coreos-cluster@SIZE: do nothing while another cluster is active.
    #[arg(long, value_name = "SIZE")]
    cluster: Option<u8>,
}

impl Down {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        cluster::stop(root, self.cluster, &mut |line| println!("{line}"))
    }
}

/// Show the cluster: nodes, MACs, IPs, etcd health, memory and KSM savings, and
/// any node whose last boot failed, with the serial line that showed it.
#[derive(Debug, Args)]
pub struct StatusCmd {
    /// Print JSON (a stable schema, versioned by its "schema" field).
    #[arg(long)]
    json: bool,

    /// Redraw every few seconds until interrupted (Ctrl-C).
    #[arg(long, conflicts_with = "json")]
    watch: bool,
}

/// How often `status --watch` redraws.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

impl StatusCmd {
    pub fn run(self, root: &Root) -> anyhow::Result<()> {
        loop {
            // Read afresh each time: a --watch shows what changed meanwhile.
            let (model, status) = status::current(root)?;
            if self.json {
                let json = serde_json::to_string_pretty(&status).context("encoding status")?;
                println!("{json}");
            } else if self.watch {
                // Home, clear the screen, then the same text as without --watch.
                print!("\x1b[H\x1b[2J{}", human(&model, &status));
                std::io::Write::flush(&mut std::io::stdout())?;
            } else {
                print!("{}", human(&model, &status));
            }
            if !self.watch {
                return Ok(());
            }
            std::thread::sleep(WATCH_INTERVAL);
        }
    }
}

/// 75 s is "1m15s", 3725 s "1h02m".
fn duration(sec: u64) -> String {
    match sec {
        0..60 => format!("{sec}s"),
        60..3600 => format!("{}m{:02}s", sec / 60, sec % 60),
        _ => format!("{}h{:02}m", sec / 3600, sec % 3600 / 60),
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// "rss 412 MiB, ksm 180 MiB": what the node's QEMU holds, and what KSM
/// merged of it where the kernel counts that per process.
fn qemu_memory(node: &NodeStatus) -> String {
    let shown: Vec<String> = [("rss", node.rss_bytes), ("ksm", node.ksm_merged_bytes)]
        .into_iter()
        .filter_map(|(what, bytes)| Some(format!("{what} {}", mib(bytes?))))
        .collect();
    if shown.is_empty() {
        "-".to_string()
    } else {
        shown.join(", ")
    }
}

fn human(model: &Model, status: &Status) -> String {
    let mut out = String::new();
    match &status.cluster {
        Some(c) => out.push_str(&format!("cluster:   {} {}\n", c.unit, c.active_state)),
        None => out.push_str("cluster:   none active\n"),
    }
    let discovery = status
        .discovery_url
        .clone()
        .unwrap_or_else(|| match &model.discovery {
            Discovery::Static => "static (initial-cluster)".into(),
            _ => "-".into(),
        });
    out.push_str(&format!("discovery: {discovery}\n"));
    let image = status.image.as_deref().unwrap_or("- (not prepared yet)");
    out.push_str(&format!("image:     {image}\n"));
    if status.nodes.is_empty() {
        out.push_str("no nodes\n");
    } else {
        out.push_str(&format!(
            "{:<4} {:<21} {:<18} {:<17} {:<15} {:<9} {:<8} {:<9} {:<6} {}\n",
            "NODE", "UNIT", "STATE", "MAC", "IP", "UPTIME", "RESTARTS", "ETCD", "ROLE", "QEMU"
        ));
        for n in &status.nodes {
            let etcd = match n.etcd_healthy {
                Some(true) => "healthy",
                Some(false) => "unhealthy",
                None => "-",
            };
            let role = match n.etcd_role {
                Some(EtcdRole::Member) => "member",
                Some(EtcdRole::Proxy) => "proxy",
                None => "-",
            };
            out.push_str(&format!(
                "{:<4} {:<21} {:<18} {:<17} {:<15} {:<9} {:<8} {:<9} {:<6} {}\n",
                n.node,
                n.unit,
                match n.boot_failure {
                    Some(_) => "boot-failed".to_string(),
                    None => format!("{}/{}", n.active_state, n.sub_state),
                },
                n.mac,
                n.ip.as_deref().unwrap_or("-"),
                n.uptime_sec.map_or("-".to_string(), duration),
                n.restarts,
                etcd,
                role,
                qemu_memory(n)
            ));
        }
    }
    for n in &status.nodes {
        if let Some(line) = &n.boot_failure {
            let label = format!("node {}:", n.node);
            out.push_str(&format!(
                "{label:<11}boot failed ({}/{}): {line}\n",
                n.active_state, n.sub_state
            ));
        }
    }
    match &status.etcd {
        Some(e) => out.push_str(&format!(
            "etcd:      {} members ({}), {} healthy\n",
            e.members.len(),
            e.members.join(", "),
            e.healthy_members
        )),
        None => out.push_str("etcd:      no node answers\n"),
    }
    let running = status
        .nodes
        .iter()
        .filter(|n| n.active_state == "active")
        .count();
    let memory = status.memory_bytes.map_or("-".to_string(), mib);
    out.push_str(&format!("memory:    {memory} in {running} running VMs\n"));
    match &status.ksm {
        Some(k) if k.run == 1 => out.push_str(&format!(
            "ksm:       on, saving {} ({} pages shared), scanning {} pages every {} ms\n",
            mib(k.saved_bytes),
            k.pages_sharing,
            k.pages_to_scan,
            k.sleep_millisecs
        )),
        Some(_) => out.push_str("ksm:       off\n"),
        None => out.push_str("ksm:       not available\n"),
    }
    for other in &status.other_units {
        out.push_str(&format!(
            "other:     {} {}/{} (names no node of this config)\n",
            other.unit, other.active_state, other.sub_state
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::ops::status::NodeStatus;

    #[test]
    fn qemu_memory_shows_what_is_known() {
        let node = |rss: Option<u64>, ksm: Option<u64>| NodeStatus {
            rss_bytes: rss,
            ksm_merged_bytes: ksm,
            ..Default::default()
        };
        let mib = |n: u64| Some(n << 20);
        let shown = super::qemu_memory(&node(mib(412), mib(180)));
        assert_eq!(shown, "rss 412 MiB, ksm 180 MiB");
        assert_eq!(super::qemu_memory(&node(mib(412), None)), "rss 412 MiB");
        assert_eq!(super::qemu_memory(&node(None, None)), "-");
    }

    #[test]
    fn uptimes_are_short() {
        let shown: Vec<String> = [0, 59, 75, 3599, 3725].map(super::duration).into();
        assert_eq!(shown, ["0s", "59s", "1m15s", "59m59s", "1h02m"]);
    }
}
