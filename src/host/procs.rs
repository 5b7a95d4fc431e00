//! Processes, read from `/proc` below a root: which QEMU runs under which VM
//! unit's main process (`vm-exec`), and what memory it holds. `/proc`'s PIDs
//! are those systemd reports (a cgroup's own list is in the reader's PID
//! namespace, which differs in a container).

use std::collections::HashMap;
use std::path::Path;

use crate::base::paths::Root;

/// Every QEMU process, by its parent's PID: one scan of `/proc` for all nodes.
#[derive(Debug, Default)]
pub struct QemuProcesses {
    by_parent: HashMap<u32, Vec<u32>>,
}

impl QemuProcesses {
    pub fn scan(root: &Root) -> QemuProcesses {
        let mut by_parent: HashMap<u32, Vec<u32>> = HashMap::new();
        let entries = std::fs::read_dir(root.join("/proc")).into_iter().flatten();
        for pid in entries.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok()) {
            let stat = std::fs::read_to_string(root.join(format!("/proc/{pid}/stat")));
            if let Some(parent) = stat.ok().as_deref().and_then(qemu_parent) {
                by_parent.entry(parent).or_default().push(pid);
            }
        }
        for pids in by_parent.values_mut() {
            pids.sort_unstable();
        }
        QemuProcesses { by_parent }
    }

    /// The QEMU processes whose parent is `parent` (a VM unit's main process).
    pub fn children_of(&self, parent: u32) -> &[u32] {
        match parent {
            0 => &[],
            _ => self.by_parent.get(&parent).map_or(&[], Vec::as_slice),
        }
    }
}

/// `/proc/PID/stat` is "PID (COMM) STATE PPID ..."; COMM may hold spaces and
/// parentheses, so it ends at the last ')'. The parent, if COMM is QEMU's.
fn qemu_parent(stat: &str) -> Option<u32> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat.get(open + 1..close)?;
    let ppid = stat[close + 1..].split_whitespace().nth(1)?;
    comm.starts_with("qemu").then(|| ppid.parse().ok())?
}

/// What processes hold in memory, and what KSM merged of it, summed; a
/// counter none of them has stays None (not 0).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss: Option<u64>,
    pub ksm_merged: Option<u64>,
}

pub fn memory(root: &Root, pids: &[u32]) -> Memory {
    let sum = |each: &dyn Fn(u32) -> Option<u64>| -> Option<u64> {
        pids.iter()
            .filter_map(|&pid| each(pid))
            .reduce(|a, b| a + b)
    };
    Memory {
        rss: sum(&|pid| rss_bytes(root, pid)),
        ksm_merged: sum(&|pid| {
            let pages = read_number(&root.join(format!("/proc/{pid}/ksm_merging_pages")))?;
            Some(pages * page_size())
        }),
    }
}

fn rss_bytes(root: &Root, pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(root.join(format!("/proc/{pid}/status"))).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// A file that holds one number, as the kernel's counters do.
pub fn read_number(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// The page size KSM counts in.
pub fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |s| s as u64)
}

/// Whether a process exists (signal 0 checks without sending anything).
pub fn exists(pid: u32) -> bool {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // EPERM: it exists but is not ours.
    matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_proc() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        // vm-exec 100 runs QEMU 200; QEMU 300 belongs to no unit; 400 is no QEMU.
        write("/proc/100/stat", "100 (coreos-cluster) S 1 100 100 0\n");
        write(
            "/proc/100/status",
            "Name:\tcoreos-cluster\nVmRSS:\t 5000 kB\n",
        );
        write("/proc/100/ksm_merging_pages", "7\n");
        write("/proc/200/stat", "200 (qemu-system-x86) S 100 100 100 0\n");
        write("/proc/200/status", "Name:\tqemu\nVmRSS:\t  421888 kB\n");
        write("/proc/200/ksm_merging_pages", "46080\n");
        write("/proc/300/stat", "300 (qemu-system-x86) S 1 300 300 0\n");
        write("/proc/300/status", "VmRSS:\t 1000 kB\n");
        write("/proc/400/stat", "400 (sh (qemu) x) S 100 100 100 0\n");
        write("/proc/self/stat", "not a pid\n");
        (dir, root)
    }

    #[test]
    fn one_scan_finds_each_units_qemu() {
        let (_dir, root) = fake_proc();
        let qemu = QemuProcesses::scan(&root);
        assert_eq!(qemu.children_of(100), [200]);
        assert_eq!(qemu.children_of(1), [300]);
        assert_eq!(qemu.children_of(0), [] as [u32; 0]);
        assert_eq!(qemu.children_of(999), [] as [u32; 0]);
    }

    #[test]
    fn memory_is_summed_and_unknown_stays_unknown() {
        let (_dir, root) = fake_proc();
        assert_eq!(
            memory(&root, &[200]),
            Memory {
                rss: Some(421888 * 1024),
                ksm_merged: Some(46080 * page_size()),
            }
        );
        // A kernel without the per-process counter: no KSM figure, not 0.
        assert_eq!(memory(&root, &[300]).ksm_merged, None);
        assert_eq!(memory(&root, &[]), Memory::default());
    }

    #[test]
    fn stat_lines_name_qemu_and_its_parent() {
        assert_eq!(qemu_parent("7 (qemu-system-x86) S 5 7 7 0"), Some(5));
        assert_eq!(qemu_parent("7 (a) b) S 5 7 7 0"), None);
        assert_eq!(qemu_parent("7 (qemu) x) S 5 7"), Some(5));
        assert_eq!(qemu_parent("garbage"), None);
    }

    #[test]
    fn this_process_exists() {
        assert!(exists(std::process::id()));
        assert!(!exists(u32::MAX));
    }
}
