//! `[cluster]`, `[vm]` and `[node.N]`: sizes, the stagger, memory, cores and
//! QEMU's extra arguments.

use std::collections::BTreeMap;

use super::{Checked, Checker};
use crate::base::defaults::DEFAULT_POWERDOWN_TIMEOUT_SEC;
use crate::base::text::quoted;
use crate::config::{ConfigError, IntOrWord, Located, RawConfig, RawNode};
use crate::model::values::*;
use crate::model::*;

impl Checker<'_> {
    /// Seconds, or "auto": the next VM once the previous one's kernel started.
    pub(super) fn stagger(&self, raw: &RawConfig) -> Checked<Stagger> {
        let Some(v) = &raw.cluster.stagger_sec else {
            return Ok(DEFAULT_STAGGER);
        };
        let range = 0..=600;
        let allowed = format!(
            "allowed: {} to {} s, or \"auto\"",
            range.start(),
            range.end()
        );
        let refuse = |what: String| Err(self.error(v, "cluster.stagger-sec", what));
        match &v.value {
            IntOrWord::Int(sec) if range.contains(sec) => Ok(Stagger::Fixed(*sec as u32)),
            IntOrWord::Int(sec) => refuse(format!("{sec} s is out of range; {allowed}")),
            IntOrWord::Word(word) if word == "auto" => Ok(Stagger::Auto),
            IntOrWord::Word(word) => refuse(format!("{} is not accepted; {allowed}", quoted(word))),
        }
    }

    pub(super) fn start_at_boot(&self, raw: &RawConfig, max_nodes: u8) -> Checked<Option<u8>> {
        let key = "cluster.start-at-boot";
        let Some(size) = self.int(&raw.cluster.start_at_boot, key, 1..=255, "")? else {
            return Ok(None);
        };
        if size > u32::from(max_nodes) {
            let v = raw.cluster.start_at_boot.as_ref().expect("checked above");
            return Err(self.error(
                v,
                key,
                format!(
                    "a cluster of {size} is larger than cluster.max-nodes = {max_nodes}; \
                     raise max-nodes or start fewer nodes"
                ),
            ));
        }
        Ok(Some(size as u8))
    }

    fn memory(
        &self,
        value: &Option<Located<i64>>,
        key: &str,
        source: &ImageSource,
    ) -> Checked<Option<u32>> {
        let Some(mib) = self.int(value, key, 1..=1_048_576, " MiB")? else {
            return Ok(None);
        };
        let min = source.min_memory_mib();
        if mib < min {
            let v = value.as_ref().expect("checked above");
            let why = match source {
                ImageSource::Flatcar { .. } => "a Flatcar PXE image needs (its docs require 3 GB)",
                ImageSource::CoreOs => "a CoreOS PXE image needs",
                ImageSource::Files => "a network-booted initramfs needs",
            };
            return Err(self.error(
                v,
                key,
                format!("{mib} MiB is below the {min} MiB {why}; set at least {min}"),
            ));
        }
        Ok(Some(mib))
    }

    fn extra_args(
        &self,
        value: &Option<Located<Vec<String>>>,
        key: &str,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(v) = value else { return Ok(None) };
        for arg in &v.value {
            // They reach QEMU through systemd's word splitting of `$VAR`.
            if arg.is_empty()
                || arg
                    .chars()
                    .any(|c| c.is_whitespace() || "\"'\\".contains(c))
            {
                return Err(self.error(
                    v,
                    key,
                    format!(
                        "{}: each argument must be one non-empty word without \
                         spaces, quotes or backslashes",
                        quoted(arg)
                    ),
                ));
            }
        }
        Ok(Some(v.value.clone()))
    }

    pub(super) fn vm(&self, raw: &RawConfig, source: &ImageSource) -> Checked<VmSettings> {
        let r = &raw.vm;
        let accelerators = match &r.accelerator {
            Some(v) => {
                parse_accelerators(&v.value).map_err(|why| self.error(v, "vm.accelerator", why))?
            }
            None => vec![Accelerator::Kvm, Accelerator::Tcg],
        };
        let serial = match self.choice(&r.serial, "vm.serial", &["journal", "socket"])? {
            Some("socket") => Serial::Socket,
            _ => Serial::Journal,
        };
        Ok(VmSettings {
            memory_mib: self
                .memory(&r.memory_mib, "vm.memory-mib", source)?
                .unwrap_or_else(|| source.default_memory_mib()),
            cores: self.int(&r.cores, "vm.cores", 1..=255, "")?.unwrap_or(1),
            accelerators,
            extra_args: self
                .extra_args(&r.extra_args, "vm.extra-args")?
                .unwrap_or_default(),
            serial,
            powerdown_timeout_sec: self
                .int(
                    &r.powerdown_timeout_sec,
                    "vm.powerdown-timeout-sec",
                    1..=3600,
                    " s",
                )?
                .unwrap_or(DEFAULT_POWERDOWN_TIMEOUT_SEC),
        })
    }

    pub(super) fn nodes(
        &self,
        raw: &RawConfig,
        max_nodes: u8,
        source: &ImageSource,
    ) -> Checked<BTreeMap<NodeIndex, NodeOverride>> {
        let mut nodes = BTreeMap::new();
        for (key, node) in &raw.node {
            // Plain decimal only, so `[node.1]` and `[node.01]` or `[node.+1]`
            // cannot name one node twice.
            let index = key
                .parse::<u8>()
                .ok()
                .filter(|n| *key == n.to_string())
                .and_then(NodeIndex::new)
                .filter(|i| i.get() <= max_nodes)
                .ok_or_else(|| {
                    self.error(
                        node,
                        &format!("node.{key}"),
                        format!(
                            "not a node number; nodes are numbered 1 to \
                             cluster.max-nodes = {max_nodes}, in plain decimal ([node.1], \
                             not [node.01] or [node.+1])"
                        ),
                    )
                })?;
            let RawNode {
                memory_mib,
                cores,
                extra_args,
            } = &node.value;
            let prefix = format!("node.{key}");
            nodes.insert(
                index,
                NodeOverride {
                    memory_mib: self.memory(memory_mib, &format!("{prefix}.memory-mib"), source)?,
                    cores: self.int(cores, &format!("{prefix}.cores"), 1..=255, "")?,
                    extra_args: self.extra_args(extra_args, &format!("{prefix}.extra-args"))?,
                },
            );
        }
        Ok(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_refused, check, refused};
    use crate::model::{NodeIndex, Stagger};

    #[test]
    fn stagger_is_seconds_or_auto() {
        assert_eq!(check("").unwrap().cluster.stagger, Stagger::Auto);
        let fixed = check("[cluster]\nstagger-sec = 2\n").unwrap();
        assert_eq!(fixed.cluster.stagger, Stagger::Fixed(2));
        assert_refused("[cluster]\nstagger-sec = 601\n", "601 s is out of range");
        assert_eq!(
            refused("[cluster]\nstagger-sec = \"soon\"\n"),
            "/etc/coreos-cluster/cluster.toml:2:15: cluster.stagger-sec: \"soon\" is not accepted; allowed: 0 to 600 s, \
             or \"auto\""
        );
    }

    #[test]
    fn a_cluster_started_at_boot_fits_max_nodes() {
        assert_refused(
            "[cluster]\nmax-nodes = 3\nstart-at-boot = 4\n",
            "/etc/coreos-cluster/cluster.toml:3:17: cluster.start-at-boot: a cluster of 4",
        );
    }

    #[test]
    fn memory_is_at_least_what_the_image_needs() {
        let model = check("").unwrap();
        assert_eq!(
            (model.vm.memory_mib, model.vm.powerdown_timeout_sec),
            (3072, 30)
        );
        assert_refused("[vm]\nmemory-mib = 1024\n", "below the 3072 MiB");
        let coreos = check("[image]\nsource = \"coreos\"\n[vm]\nmemory-mib = 1024\n");
        assert_eq!(coreos.unwrap().vm.memory_mib, 1024);
    }

    #[test]
    fn nodes_are_plain_decimal_numbers_up_to_max_nodes() {
        let model = check("[node.2]\ncores = 2\n").unwrap();
        assert_eq!(model.nodes[&NodeIndex::new(2).unwrap()].cores, Some(2));
        for bad in ["01", "\"+1\"", "17", "0"] {
            assert_refused(&format!("[node.{bad}]\ncores = 2\n"), "not a node number");
        }
        assert_refused(
            "[vm]\nextra-args = [\"-a b\"]\n",
            "vm.extra-args: \"-a b\": each argument",
        );
    }
}
