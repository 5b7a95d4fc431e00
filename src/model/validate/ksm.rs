//! `[ksm]`: whether KSM runs while a cluster does, and how fast ksmd scans.

use super::{Checked, Checker};
use crate::base::defaults::{DEFAULT_KSM_PAGES_TO_SCAN, DEFAULT_KSM_SLEEP_MILLISECS};
use crate::config::RawConfig;
use crate::model::KsmPace;

impl Checker<'_> {
    /// The pace is checked even with KSM off: a drop-in may switch it on.
    pub(super) fn ksm(&self, raw: &RawConfig) -> Checked<Option<KsmPace>> {
        let r = &raw.ksm;
        let pace = KsmPace {
            pages_to_scan: self
                .int(&r.pages_to_scan, "ksm.pages-to-scan", 1..=100_000, " pages")?
                .unwrap_or(DEFAULT_KSM_PAGES_TO_SCAN),
            sleep_millisecs: self
                .int(&r.sleep_millisecs, "ksm.sleep-millisecs", 1..=10_000, " ms")?
                .unwrap_or(DEFAULT_KSM_SLEEP_MILLISECS),
        };
        let enabled = r.enable.as_ref().is_none_or(|v| v.value);
        Ok(enabled.then_some(pace))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_refused, check, refused};
    use crate::model::KsmPace;

    #[test]
    fn the_pace_defaults_to_a_faster_scan_than_the_kernels() {
        let pace = KsmPace {
            pages_to_scan: 1000,
            sleep_millisecs: 20,
        };
        assert_eq!(check("").unwrap().ksm, Some(pace));
        let set = check("[ksm]\npages-to-scan = 1234\nsleep-millisecs = 33\n").unwrap();
        assert_eq!(
            set.ksm,
            Some(KsmPace {
                pages_to_scan: 1234,
                sleep_millisecs: 33
            })
        );
        assert_eq!(check("[ksm]\nenable = false\n").unwrap().ksm, None);
    }

    #[test]
    fn a_pace_out_of_range_is_refused_naming_the_key_and_the_range() {
        assert_eq!(
            refused("[ksm]\npages-to-scan = 0\n"),
            "/etc/coreos-cluster/cluster.toml:2:17: ksm.pages-to-scan: 0 pages is out of range; \
             allowed: 1 to 100000 pages"
        );
        assert_refused(
            "[ksm]\nsleep-millisecs = 10001\n",
            "ksm.sleep-millisecs: 10001 ms is out of range; allowed: 1 to 10000 ms",
        );
        assert_refused("[ksm]\nsleep-millisecs = 0\n", "allowed: 1 to 10000 ms");
        // Checked with KSM off too: a drop-in may switch it on.
        assert_refused(
            "[ksm]\nenable = false\npages-to-scan = 100001\n",
            "ksm.pages-to-scan: 100001 pages is out of range",
        );
    }
}
