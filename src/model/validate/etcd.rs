//! `etcd.members` and `etcd.v2-api`: how many nodes vote, and which API the
//! cluster serves. (`[etcd]`'s binary keys are checked with the image.)

use super::{Checked, Checker};
use crate::base::text::quoted;
use crate::config::{ConfigError, IntOrWord, RawConfig};
use crate::model::*;

/// etcd dropped `--enable-v2` in this release.
const ETCD_WITHOUT_V2: (u32, u32) = (3, 6);

impl Checker<'_> {
    pub(super) fn etcd_cluster(
        &self,
        raw: &RawConfig,
        source: &EtcdSource,
    ) -> Checked<EtcdCluster> {
        let r = &raw.etcd;
        let members = match &r.members {
            None => EtcdMembers::Auto,
            Some(v) => {
                let allowed = format!(
                    "allowed: \"auto\" (3 voters from 3 nodes on, else 1), an odd number \
                     from 1 to {MAX_ETCD_VOTERS}, or \"all\""
                );
                let refuse = |what: String| Err(self.error(v, "etcd.members", what));
                match &v.value {
                    IntOrWord::Int(n) if (1..=i64::from(MAX_ETCD_VOTERS)).contains(n) => {
                        if n % 2 == 0 {
                            return refuse(format!(
                                "{n} voters tolerate no more failures than {} and make every \
                                 write wait for one more; {allowed}",
                                n - 1
                            ));
                        }
                        EtcdMembers::AtMost(*n as u8)
                    }
                    IntOrWord::Int(n) if *n > i64::from(MAX_ETCD_VOTERS) => {
                        return refuse(format!(
                            "{n} voters is more than etcd advises (at most {MAX_ETCD_VOTERS}: \
                             every write goes to every voter); {allowed}"
                        ))
                    }
                    IntOrWord::Int(n) => return refuse(format!("{n} is out of range; {allowed}")),
                    IntOrWord::Word(word) if word == "auto" => EtcdMembers::Auto,
                    IntOrWord::Word(word) if word == "all" => EtcdMembers::All,
                    IntOrWord::Word(word) => {
                        return refuse(format!("{} is not accepted; {allowed}", quoted(word)))
                    }
                }
            }
        };
        let v2_api = r.v2_api.as_ref().is_some_and(|v| v.value);
        if let (Some(v), EtcdSource::Release { version, .. }) = (&r.v2_api, source) {
            if v.value && release_lacks_v2(version) {
                return Err(self.error(
                    v,
                    "etcd.v2-api",
                    format!(
                        "etcd {version} has no v2 API (etcd {}.{} removed --enable-v2); \
                         pin etcd.version to a 3.5 release or use the v3 API",
                        ETCD_WITHOUT_V2.0, ETCD_WITHOUT_V2.1
                    ),
                ));
            }
        }
        Ok(EtcdCluster { members, v2_api })
    }

    /// `members = "all"` where a cluster can be larger than etcd advises.
    pub(super) fn etcd_cluster_warnings(&self, raw: &RawConfig, model: &Model) -> Vec<ConfigError> {
        match &raw.etcd.members {
            Some(v)
                if model.etcd_cluster.members == EtcdMembers::All
                    && model.cluster.max_nodes > MAX_ETCD_VOTERS =>
            {
                vec![self.error(
                    v,
                    "etcd.members",
                    format!(
                        "\"all\" makes every node of a cluster above {MAX_ETCD_VOTERS} nodes a \
                         voter (cluster.max-nodes = {}): etcd advises at most {MAX_ETCD_VOTERS}, \
                         and such a cluster writes slowly and holds spurious elections",
                        model.cluster.max_nodes
                    ),
                )]
            }
            _ => Vec::new(),
        }
    }
}

/// Whether an etcd release (`3.6.0`) is one without `--enable-v2`.
fn release_lacks_v2(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major_minor = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major_minor >= ETCD_WITHOUT_V2
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_refused, check};
    use crate::model::EtcdMembers;

    #[test]
    fn members_are_auto_an_odd_number_or_all() {
        let members = |toml: &str| check(toml).unwrap().etcd_cluster.members;
        assert_eq!(members(""), EtcdMembers::Auto);
        assert_eq!(members("[etcd]\nmembers = \"auto\"\n"), EtcdMembers::Auto);
        assert_eq!(members("[etcd]\nmembers = 5\n"), EtcdMembers::AtMost(5));
        assert_eq!(members("[etcd]\nmembers = \"all\"\n"), EtcdMembers::All);
        assert_refused(
            "[etcd]\nmembers = 4\n",
            "4 voters tolerate no more failures than 3",
        );
        assert_refused("[etcd]\nmembers = 9\n", "more than etcd advises (at most 7");
        assert_refused("[etcd]\nmembers = 0\n", "0 is out of range");
        assert_refused("[etcd]\nmembers = \"some\"\n", "\"some\" is not accepted");
    }

    #[test]
    fn the_voter_count_is_the_largest_odd_number_allowed() {
        let counts =
            |members: EtcdMembers| -> Vec<u8> { (1..=9).map(|n| members.count(n)).collect() };
        assert_eq!(counts(EtcdMembers::Auto), [1, 1, 3, 3, 3, 3, 3, 3, 3]);
        assert_eq!(counts(EtcdMembers::AtMost(5)), [1, 1, 3, 3, 5, 5, 5, 5, 5]);
        assert_eq!(counts(EtcdMembers::AtMost(1)), [1; 9]);
        assert_eq!(counts(EtcdMembers::All), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn the_v2_api_needs_an_etcd_that_has_it() {
        assert!(!check("").unwrap().etcd_cluster.v2_api);
        assert!(
            check("[etcd]\nv2-api = true\n")
                .unwrap()
                .etcd_cluster
                .v2_api
        );
        let sha = "0".repeat(64);
        assert_refused(
            &format!("[etcd]\nversion = \"3.6.1\"\nsha256 = \"{sha}\"\nv2-api = true\n"),
            "etcd 3.6.1 has no v2 API (etcd 3.6 removed --enable-v2)",
        );
        let binary = "[etcd]\nbinary = \"/usr/bin/etcd\"\nv2-api = true\n";
        assert!(check(binary).unwrap().etcd_cluster.v2_api);
    }

    #[test]
    fn all_voters_above_seven_nodes_is_warned_about() {
        let model = check("[etcd]\nmembers = \"all\"\n").unwrap();
        assert_eq!(model.warnings.len(), 1, "{:?}", model.warnings);
        assert!(model.warnings[0].message.contains("advises at most 7"));
        let small = check("[cluster]\nmax-nodes = 7\n[etcd]\nmembers = \"all\"\n").unwrap();
        assert!(small.warnings.is_empty());
    }
}
