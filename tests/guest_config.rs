//! The guest configs (Ignition and cloud-config) as rendered, checked against
//! the real consumers that run here:
//! - golden files in tests/guest-config/golden/ (change them on purpose with
//!   `UPDATE_GOLDEN=1 cargo test --test guest_config` and review the diff);
//! - every Ignition config, and the merge example, passes `ignition-validate`
//!   (Debian's `ignition`, the Ignition 2.14 of the test guest);
//! - every cloud-config parses (PyYAML, Debian's python3-yaml) back to exactly
//!   the values that went in, SSH key comments with `: `, `#`, quotes and
//!   YAML indicators included; the quoting function round-trips U+2028,
//!   U+0085 and controls, which the config refuses anyway;
//! - Debian's nginx with the rendered nginx.conf on loopback fills in
//!   `$private_ipv4` and `$private_hostname` per client in both formats.
//!
//! A missing tool fails the test with the package to install (tests/install-deps.sh).

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use coreos_cluster::base::paths::IGNITION_CONFIG;
use coreos_cluster::base::paths::SUBDIR;
use coreos_cluster::config::Sources;
use coreos_cluster::model::Model;
use coreos_cluster::render::boot;
use coreos_cluster::render::guest::ignition;
use coreos_cluster::render::guest::{self, etcd_settings};
use coreos_cluster::render::guest::{EtcdBootstrap, GuestInput, ServedFile};
use coreos_cluster::render::output::{Contents, RenderedFile};

const HOST: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const TOKEN: &str = "coreos-cluster-3-0123456789abcdef";
const DISCOVERY: &str = "http://10.77.0.1:2379/v2/keys/_etcd/registry/3f2a";

/// Keys whose comments would break YAML if pasted raw (and that the config
/// accepts: its text rule refuses control characters and line separators).
const NASTY_KEYS: &[&str] = &[
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDq alice@host: admin # not a comment",
    "ssh-rsa AAAAB3NzaC1yc2E \"bob\" 'quoted' \\back\\slash",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFs - item {a: b} [c] &x *y !tag | > % @ `",
];

/// What the config refuses, still quoted safely should it ever get through:
/// YAML 1.1 parsers take U+2028 and U+0085 for line breaks.
const REFUSED_BY_CONFIG: &[&str] = &[
    "ls\u{2028}injected: true",
    "nel\u{85}- item\u{feff}\u{1b}[0m\u{7f}\u{0}\u{9b}\ttab",
];

struct Case {
    name: &'static str,
    toml: String,
    bootstrap: EtcdBootstrap,
    merges: usize,
}

fn keys_toml(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys
        .iter()
        .map(|k| serde_json::to_string(k).unwrap())
        .collect();
    format!("ssh-authorized-keys = [{}]\n", quoted.join(", "))
}

/// Five nodes, three voters, the v2 API on.
const VOTERS_3_OF_5: &str = "[etcd]\nmembers = 3\nv2-api = true\n";

/// The static bootstrap `prepare 5` makes for `toml`: nodes 1-3 listed.
fn voters_3_of_5(toml: &str) -> EtcdBootstrap {
    let bootstrap = guest::static_bootstrap(&model(toml).1, 5, TOKEN).unwrap();
    let EtcdBootstrap::Static {
        initial_cluster, ..
    } = &bootstrap
    else {
        panic!("not static: {bootstrap:?}");
    };
    assert_eq!(initial_cluster.matches('=').count(), 3, "{initial_cluster}");
    bootstrap
}

fn cases() -> Vec<Case> {
    let statics = EtcdBootstrap::Static {
        initial_cluster: "10.77.0.11=http://10.77.0.11:2380,10.77.0.12=http://10.77.0.12:2380,\
                          10.77.0.13=http://10.77.0.13:2380"
            .into(),
        token: TOKEN.into(),
    };
    let discovery = EtcdBootstrap::Discovery(DISCOVERY.into());
    vec![
        Case {
            name: "ignition-static-keys",
            toml: format!("[guest]\n{}", keys_toml(NASTY_KEYS)),
            bootstrap: statics.clone(),
            merges: 0,
        },
        Case {
            name: "ignition-discovery-merge",
            toml: "[discovery]\nmode = \"etcd\"\nurl = \"http://10.77.0.1:2379\"\n\
                   [guest]\nignition-merge = [\"/etc/coreos-cluster/extra.ign\"]\n"
                .into(),
            bootstrap: discovery.clone(),
            merges: 1,
        },
        Case {
            name: "cloud-config-static-keys",
            toml: format!(
                "[image]\nsource = \"coreos\"\n[guest]\n{}",
                keys_toml(NASTY_KEYS)
            ),
            bootstrap: statics,
            merges: 0,
        },
        Case {
            name: "ignition-static-3-of-5-v2",
            toml: VOTERS_3_OF_5.into(),
            bootstrap: voters_3_of_5(VOTERS_3_OF_5),
            merges: 0,
        },
        Case {
            name: "cloud-config-static-3-of-5-v2",
            toml: format!("[image]\nsource = \"coreos\"\n{VOTERS_3_OF_5}"),
            bootstrap: voters_3_of_5(&format!("[image]\nsource = \"coreos\"\n{VOTERS_3_OF_5}")),
            merges: 0,
        },
        Case {
            name: "cloud-config-discovery",
            toml: "[image]\nsource = \"flatcar\"\n[guest]\nconfig = \"cloud-config\"\n".into(),
            bootstrap: discovery,
            merges: 0,
        },
    ]
}

fn model(toml: &str) -> (Sources, Model) {
    Model::from_toml(toml).unwrap()
}

fn served(path: &str, fill: &str) -> ServedFile {
    ServedFile {
        path: path.into(),
        sha512: fill.repeat(64),
    }
}

/// The rendered file of a case: `.ign` or `.yaml` by the model's choice.
fn render(case: &Case) -> (String, String) {
    let (sources, model) = model(&case.toml);
    if case.name.starts_with("ignition") {
        let etcd = [served("etcd/etcd", "a1"), served("etcd/etcdctl", "b2")];
        let merges: Vec<ServedFile> = ignition::merge_paths(&model)
            .into_iter()
            .map(|(_, path)| served(&path, "c3"))
            .collect();
        assert_eq!(merges.len(), case.merges);
        let text = ignition::render(&model, HOST, &case.bootstrap, &etcd, &merges);
        (format!("{}.ign", case.name), text)
    } else {
        let files = boot::render(
            &model,
            &sources,
            HOST,
            &case.bootstrap,
            GuestInput::CloudConfig {
                user_template: None,
            },
        )
        .unwrap();
        let text = text_of(&files[0]);
        (format!("{}.yaml", case.name), text)
    }
}

fn text_of(file: &RenderedFile) -> String {
    match &file.contents {
        Contents::Text(text) => text.clone(),
        other => panic!("{}: not text: {other:?}", file.path.display()),
    }
}

/// Whether `tool` is installed; a check never passes without its tool.
fn have(tool: &str, package: &str) -> bool {
    assert!(
        Path::new(tool).is_file(),
        "{tool} missing: install the Debian package {package} (tests/install-deps.sh)"
    );
    true
}

fn ignition_validate(path: &Path) -> Result<(), String> {
    let out = Command::new("/usr/bin/ignition-validate")
        .arg(path)
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // Warnings are output too; a clean config gives none.
    if out.status.success() && report.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {report}", path.display()))
    }
}

#[test]
fn rendered_guest_configs_match_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guest-config/golden");
    let mut failures = Vec::new();
    for case in cases() {
        let (name, text) = render(&case);
        let path = dir.join(&name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            let temp = tempfile::tempdir().unwrap();
            let produced = temp.path().join(&name);
            std::fs::write(&produced, &text).unwrap();
            let diff = Command::new("diff")
                .arg("-u")
                .arg(&path)
                .arg(&produced)
                .output()
                .unwrap();
            failures.push(String::from_utf8_lossy(&diff.stdout).to_string());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ignition_configs_and_the_merge_example_pass_ignition_validate() {
    if !have("/usr/bin/ignition-validate", "ignition") {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let mut paths =
        vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/ignition-merge.example.ign")];
    for case in cases().iter().filter(|c| c.name.starts_with("ignition")) {
        let (name, text) = render(case);
        // As rendered, and as a node gets it from nginx.
        let filled = text
            .replace("$private_ipv4", "10.77.0.11")
            .replace("$private_hostname", "coreos-10-77-0-11");
        for (file, text) in [(name.clone(), text), (format!("filled-{name}"), filled)] {
            std::fs::write(dir.join(&file), text).unwrap();
            paths.push(dir.join(file));
        }
    }
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|p| ignition_validate(p).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The validator is strict enough to catch a wrong hash length.
    let bad = std::fs::read_to_string(&paths[1])
        .unwrap()
        .replacen(&"a1".repeat(64), "a1", 1);
    std::fs::write(dir.join("bad.ign"), bad).unwrap();
    assert!(ignition_validate(&dir.join("bad.ign")).is_err());
}

/// The cloud-config as PyYAML reads it, as JSON.
fn parse_yaml(text: &str) -> serde_json::Value {
    let mut child = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.buffer.read().decode())))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "PyYAML refused:\n{text}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_quoting_function_round_trips_what_the_config_refuses() {
    have(
        "/usr/lib/python3/dist-packages/yaml/__init__.py",
        "python3-yaml",
    );
    let text: String = REFUSED_BY_CONFIG
        .iter()
        .map(|value| {
            format!(
                "- {}\n",
                coreos_cluster::base::yaml_quote::double_quoted(value)
            )
        })
        .collect();
    assert_eq!(
        parse_yaml(&text),
        serde_json::json!(REFUSED_BY_CONFIG),
        "{text}"
    );
}

#[test]
fn cloud_configs_parse_back_to_exactly_the_values_given() {
    if !have(
        "/usr/lib/python3/dist-packages/yaml/__init__.py",
        "python3-yaml",
    ) {
        return;
    }
    for case in cases()
        .iter()
        .filter(|c| c.name.starts_with("cloud-config"))
    {
        let (_, text) = render(case);
        let parsed = parse_yaml(&text);
        let keys: Vec<&str> = if case.name.ends_with("keys") {
            NASTY_KEYS.to_vec()
        } else {
            vec![]
        };
        let etcd2: serde_json::Map<String, serde_json::Value> =
            etcd_settings(&case.bootstrap, case.toml.contains("v2-api = true"))
                .into_iter()
                .map(|(name, value)| (name.to_string(), value.into()))
                .collect();
        let mut expected = serde_json::json!({
            "coreos": {
                "etcd2": etcd2,
                "units": [{
                    "name": "coreos-cluster-start-etcd2.service",
                    "command": "start",
                    "content": parsed["coreos"]["units"][0]["content"].clone(),
                }],
            },
        });
        if !keys.is_empty() {
            expected["ssh_authorized_keys"] = serde_json::json!(keys);
        }
        assert_eq!(parsed, expected, "{}:\n{text}", case.name);
        let unit = parsed["coreos"]["units"][0]["content"].as_str().unwrap();
        assert!(unit.contains("systemctl cat \"$$unit\""), "{unit}");
        assert!(
            !text.contains("initial-cluster"),
            "hyphenated keys are ignored by Flatcar"
        );
    }
}

/// Debian's nginx with the rendered config on 127.0.0.1 and a free port,
/// stopped (by its PID) when dropped.
struct Nginx {
    child: std::process::Child,
    port: u16,
}

impl Drop for Nginx {
    /// SIGTERM, so the master also ends its worker (SIGKILL would orphan it).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn fetch_from(nginx: &Nginx, client: &str, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-fsS", "--interface", client])
        .arg(format!("http://127.0.0.1:{}/{SUBDIR}/{path}", nginx.port))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn nginx_fills_in_address_and_hostname_per_client() {
    if !have("/usr/sbin/nginx", "nginx-light") || !have("/usr/bin/curl", "curl") {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let work = temp.path();
    let http_root = work.join("www");
    let (sources, model) = model(&format!(
        "[paths]\nhttp-root = \"{}\"\n[guest]\n{}",
        http_root.display(),
        keys_toml(&NASTY_KEYS[..1])
    ));
    let served_dir = http_root.join(SUBDIR);
    std::fs::create_dir_all(&served_dir).unwrap();
    let all = cases();
    let ign = render(&all[0]).1;
    let yaml = render(&all[2]).1;
    std::fs::write(served_dir.join(IGNITION_CONFIG), &ign).unwrap();
    std::fs::write(served_dir.join("cloud-config.yaml"), &yaml).unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let runtime = work.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let rendered = text_of(
        &coreos_cluster::render::nginx::render(
            &model,
            &sources,
            &runtime,
            coreos_cluster::render::nginx::HttpListen {
                address: HOST,
                clients: None,
            },
        )[0],
    );
    let listen = format!("listen {}:{};", HOST, model.http_port);
    assert!(rendered.contains(&listen), "{rendered}");
    // Only the listen address and the journal log differ from the unit's.
    let conf = rendered
        .replace(&listen, &format!("listen 127.0.0.1:{port};"))
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("access_log syslog:") {
                "    access_log off;"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(runtime.join("nginx.conf"), conf).unwrap();
    let nginx = Nginx {
        child: Command::new("/usr/sbin/nginx")
            .args(["-e", "stderr", "-p"])
            .arg(&runtime)
            .arg("-c")
            .arg(runtime.join("nginx.conf"))
            .spawn()
            .unwrap(),
        port,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    for client in ["127.0.0.5", "127.0.0.42"] {
        let hostname = format!("coreos-{}", client.replace('.', "-"));
        let got = fetch_from(&nginx, client, IGNITION_CONFIG);
        let expected = ign
            .replace("$private_ipv4", client)
            .replace("$private_hostname", &hostname);
        assert_ne!(expected, ign);
        assert_eq!(got, expected, "Ignition config as {client} gets it");
        assert!(
            got.contains(&format!("\"source\": \"data:,{hostname}%0A\"")),
            "{got}"
        );
        assert!(got.contains(&format!("ETCD_NAME%3D{client}%0A")), "{got}");
        if have("/usr/bin/ignition-validate", "ignition") {
            let path = work.join(format!("{client}.ign"));
            std::fs::write(&path, &got).unwrap();
            ignition_validate(&path).unwrap();
        }
        let got = fetch_from(&nginx, client, "cloud-config.yaml");
        assert_eq!(
            got,
            yaml.replace("$private_ipv4", client),
            "cloud-config as {client} gets it"
        );
        assert!(got.contains(&format!("    name: \"{client}\"\n")), "{got}");
    }
    drop(nginx);
}
