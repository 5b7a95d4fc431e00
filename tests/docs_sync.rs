//! Every config key the parser accepts is documented in cluster.toml(5), the
//! README's configuration table and the annotated example, so a new key
//! cannot ship undocumented. Keys come from `config::keys()`, which reads the
//! serde definitions themselves. Messages and docs spell each key one way.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// (section, key): `node.N.cores` is (`node.N`, `cores`).
fn split(key: &str) -> (&str, &str) {
    key.rsplit_once('.').expect("keys are section.key")
}

/// The lines of a document from `header` up to the next line for which `is_header` holds.
fn block<'a>(text: &'a str, header: &str, is_header: impl Fn(&str) -> bool) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !is_header(l))
        .collect()
}

fn missing(check: impl Fn(&str, &str) -> bool) -> Vec<String> {
    coreos_cluster::config::keys()
        .into_iter()
        .filter(|key| {
            let (section, name) = split(key);
            !check(section, name)
        })
        .collect()
}

#[test]
fn config_keys_are_known() {
    let keys = coreos_cluster::config::keys();
    for key in [
        "cluster.max-nodes",
        "guest.ssh-authorized-keys",
        "node.N.cores",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} not in {keys:?}");
    }
}

#[test]
fn every_key_is_in_the_man_page() {
    let man = read("packaging/man/cluster.toml.5");
    let missing = missing(|section, name| {
        block(&man, &format!(".SH [{section}]"), |l| l.starts_with(".SH"))
            .iter()
            .filter(|l| l.starts_with(".B ") || l.starts_with(".BR "))
            // roff spells a hyphen in a word as `\-`.
            .flat_map(|l| {
                l.replace("\\-", "-")
                    .split_whitespace()
                    .skip(1)
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .any(|word| word.trim_matches(|c: char| "\",.;()".contains(c)) == name)
    });
    assert!(missing.is_empty(), "not in cluster.toml(5): {missing:?}");
}

#[test]
fn every_key_is_in_the_example() {
    let example = read("packaging/cluster.toml.example");
    let missing = missing(|section, name| {
        let header = match section {
            "node.N" => "#[node.1]".to_string(),
            _ => format!("[{section}]"),
        };
        block(&example, &header, |l| {
            l.trim_start_matches('#').starts_with('[')
        })
        .iter()
        .any(|l| {
            l.trim_start_matches('#')
                .split_once('=')
                .is_some_and(|(k, _)| k.trim() == name)
        })
    });
    assert!(
        missing.is_empty(),
        "not in cluster.toml.example: {missing:?}"
    );
}

#[test]
fn every_key_is_in_the_readme_table() {
    let readme = read("README.md");
    let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `")).collect();
    let missing = missing(|section, name| {
        rows.iter().any(|row| {
            let first_cell = row.split(" | ").next().unwrap_or("");
            match section {
                "node.N" => {
                    first_cell.contains("`[node.N]`") && first_cell.contains(&format!("`{name}`"))
                }
                _ => first_cell.contains(&format!("`{section}.{name}`")),
            }
        })
    });
    assert!(
        missing.is_empty(),
        "not in README's configuration table: {missing:?}"
    );
}

/// The files below `dir` (relative to the crate), recursively.
fn files_below(dir: &str) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Messages, help and docs name a key one way, as `section.key` (the way
/// every validation message does), never as `[section] key`.
#[test]
fn keys_are_spelled_section_dot_key() {
    let mut texts: Vec<(String, String)> = ["src", "units"]
        .iter()
        .flat_map(|dir| files_below(dir))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.display().to_string(), text)
        })
        .collect();
    texts.push(("README.md".into(), read("README.md")));
    let mut found = Vec::new();
    for key in coreos_cluster::config::keys() {
        let (section, name) = split(&key);
        let other_spelling = format!("[{section}] {name}");
        for (path, text) in &texts {
            if text.contains(&other_spelling) {
                found.push(format!("{path}: {other_spelling} (write {key})"));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// A document as one line, so a phrase may wrap anywhere.
fn flat(path: &str) -> String {
    read(path).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Each document (path, phrases) says each of its phrases.
fn assert_docs_say(docs: &[(&str, Vec<String>)]) {
    for (path, phrases) in docs {
        let text = flat(path);
        for phrase in phrases {
            assert!(text.contains(phrase.as_str()), "{path} lacks {phrase:?}");
        }
    }
}

/// Numbers and names the docs repeat: the powerdown grace's default, the
/// bound of `stagger-sec = "auto"`, the timeouts' margins, pxelinux's files,
/// the guest's user, KSM's pace.
#[test]
fn the_docs_numbers_and_names_are_the_codes() {
    use coreos_cluster::base::names::GUEST_USER as user;
    use coreos_cluster::model::timeouts::{PREPARE_BUDGET, STOP_MARGIN, VM_START_TIMEOUT};
    let margin = STOP_MARGIN.as_secs();
    let prepare = PREPARE_BUDGET.as_secs();
    let start = VM_START_TIMEOUT.as_secs();
    use coreos_cluster::base::paths::{
        PXELINUX_BOOT_FILE as pxelinux, PXELINUX_LDLINUX as ldlinux,
    };
    let grace = coreos_cluster::base::defaults::DEFAULT_POWERDOWN_TIMEOUT_SEC;
    let auto = coreos_cluster::model::timeouts::AUTO_STAGGER_MAX.as_secs();
    use coreos_cluster::base::defaults::{
        DEFAULT_KSM_PAGES_TO_SCAN as pages, DEFAULT_KSM_SLEEP_MILLISECS as sleep,
    };
    assert_docs_say(&[
        (
            "packaging/man/cluster.toml.5",
            vec![
                format!(".BR powerdown-timeout-sec \" (1-3600, {grace})\""),
                format!("at most {auto} seconds after its start"),
                format!("where {pxelinux} and {ldlinux} are."),
                format!(".IR {pxelinux} \", \" {ldlinux} \", \""),
                format!("OpenSSH public keys of the .B {user} user"),
                format!(".BR pages-to-scan \" (1-100000, {pages})\""),
                format!(".BR sleep-millisecs \" (1-10000, {sleep})\""),
            ],
        ),
        (
            "packaging/cluster.toml.example",
            vec![
                format!("#powerdown-timeout-sec = {grace}"),
                format!("loaded its boot files (at most {auto} s)"),
                format!("#pages-to-scan = {pages}"),
                format!("#sleep-millisecs = {sleep}"),
            ],
        ),
        (
            "README.md",
            vec![
                format!("| `vm.powerdown-timeout-sec` | {grace} |"),
                format!("| `ksm.pages-to-scan` | {pages} |"),
                format!("| `ksm.sleep-millisecs` | {sleep} |"),
                format!("ssh to node N's address as `{user}`"),
                format!("printed its first line, or after {auto} s;"),
                format!("`\"auto\"` counts as {auto} s"),
                format!("at most {auto} s after its start |"),
                format!("or after {auto} s at most"),
                format!("`vm.powerdown-timeout-sec` + {margin} s; `down` waits {margin} s longer"),
                format!("`TimeoutStopSec=` is {margin} s longer again"),
                format!("its `TimeoutStartSec=` is {prepare} s (prepare"),
                format!("(`stagger-sec` + {start} s, `up`'s bound"),
                // The worked example: a grace of 3600 s; 3 nodes 600 s apart.
                format!(
                    "that is {}, {} and {} s;",
                    3600 + margin,
                    3600 + 2 * margin,
                    3600 + 3 * margin
                ),
                format!("a start may take {} s", prepare + 3 * (600 + start)),
            ],
        ),
    ]);
}
