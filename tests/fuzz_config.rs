//! A bounded property-based fuzz run of the config parser, validation and
//! every renderer: for thousands of generated configs (every key, values of
//! every type, strings drawn with control characters, separators, quotes,
//! `%`, `$`, `;` and non-ASCII), nothing panics, every refusal is one line
//! without control characters, and no rendered file holds a control
//! character other than `\n` and `\t`.

use std::net::Ipv4Addr;
use std::path::Path;

use coreos_cluster::config::{self, Sources};
use coreos_cluster::model::Model;
use coreos_cluster::render::boot;
use coreos_cluster::render::guest::{self, EtcdBootstrap, GuestInput, ServedFile};
use coreos_cluster::render::output::{Contents, RenderedFile};
use coreos_cluster::render::{
    generator, networkd as network, nftables as nat, nginx as http, tftpd as tftp,
};
use proptest::prelude::*;

/// Characters that break one file format or another, and plain ones.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => proptest::char::range('0', '9'),
        2 => proptest::sample::select(vec![
            '.', ':', '/', '-', '_', '=', ',', ' ', '%', '$', ';', '#', '|', '&', '"', '\'',
            '\\', '{', '}', '[', ']', '\n', '\t', '\r', '\0', '\u{b}', '\u{1b}', '\u{7f}',
            '\u{85}', '\u{9f}', '\u{2028}', '\u{2029}', '\u{feff}', 'é', '✓',
        ]),
    ]
}

fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(tricky_char(), 0..24).prop_map(|c| c.into_iter().collect()),
        // Values that are valid somewhere, so later checks are reached too.
        proptest::sample::select(vec![
            "52:54:00:12:34",
            "10.77.0.0/24",
            "10.0.0.0/28",
            "172.16.0.0/12",
            "bridged",
            "isolated",
            "static",
            "public",
            "etcd",
            "http://10.77.0.1:2379",
            "ipxe",
            "pxelinux",
            "files",
            "flatcar",
            "coreos",
            "/srv/http",
            "/srv/tftp",
            "eth0",
            "coreos-br0",
            "kvm:tcg",
            "socket",
            "journal",
            "beta",
            "/boot/vmlinuz",
            "/boot/initrd.img",
        ])
        .prop_map(String::from),
    ]
}

/// A TOML basic string: controls as \uXXXX, as a file would spell them.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => tricky_string().prop_map(|s| toml_string(&s)),
        2 => prop_oneof![Just(-1i64), 0i64..5000, Just(i64::MAX)].prop_map(|n| n.to_string()),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        2 => proptest::collection::vec(tricky_string(), 0..4).prop_map(|items| {
            let items: Vec<String> = items.iter().map(|s| toml_string(s)).collect();
            format!("[{}]", items.join(", "))
        }),
    ]
}

/// A config file: some of the known keys (and a node table), each once.
fn config_text() -> impl Strategy<Value = String> {
    let keys = config::keys();
    proptest::collection::btree_map(proptest::sample::select(keys), toml_value(), 0..10).prop_map(
        |chosen| {
            let mut text = String::new();
            for (key, value) in chosen {
                let (table, field) = key.rsplit_once('.').unwrap();
                let table = table.replace(".N", ".2");
                text.push_str(&format!("[{table}]\n{field} = {value}\n"));
            }
            text
        },
    )
}

/// Every file every renderer makes for this model.
fn render_all(model: &Model, sources: &Sources) -> Vec<RenderedFile> {
    let mut files = generator::render(model, sources);
    files.extend(network::render(model, sources));
    let host = Ipv4Addr::new(10, 77, 0, 1);
    let listen = http::HttpListen {
        address: host,
        clients: None,
    };
    files.extend(http::render(
        model,
        sources,
        Path::new("/run/coreos-cluster-http"),
        listen,
    ));
    files.extend(nat::render(model, sources));
    files.extend(tftp::render(model, sources, host));
    let bootstrap = guest::static_bootstrap(model, 3, "coreos-cluster-3-0123456789abcdef")
        .unwrap_or_else(|| EtcdBootstrap::Discovery("https://discovery.example/abc".to_string()));
    let cloud_config = GuestInput::CloudConfig {
        user_template: None,
    };
    files.extend(boot::render(model, sources, host, &bootstrap, cloud_config).unwrap());
    let etcd = ["etcd/etcd", "etcd/etcdctl"].map(|path| ServedFile {
        path: path.to_string(),
        sha512: "0".repeat(128),
    });
    let ignition = GuestInput::Ignition {
        etcd: &etcd,
        merges: &[],
    };
    files.extend(boot::render(model, sources, host, &bootstrap, ignition).unwrap());
    files
}

fn only_newlines_and_tabs(text: &str) -> bool {
    !text.chars().any(|c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
    })
}

/// Free-form values that reach rendered files, set one at a time on top of
/// a config that is otherwise valid, so the renderers see them.
const FREE_FORM: &[(&str, &str, bool)] = &[
    ("vm", "extra-args", true),
    ("node.3", "extra-args", true),
    ("boot", "kernel-args", true),
    ("paths", "http-root", false),
    ("paths", "tftp-root", false),
    ("network", "bridge", false),
    ("cluster", "mac-prefix", false),
    ("discovery", "url", false),
    ("boot", "syslinux-dir", false),
    ("image", "kernel", false),
];

/// A valid base for FREE_FORM values: pxelinux and files, so every path key is used.
const BASE: &str = "[boot]\nmethod = \"pxelinux\"\n[image]\nsource = \"files\"\n\
                    kernel = \"/k\"\ninitrd = \"/i\"\n[discovery]\nmode = \"public\"\n";

fn with_free_form(choice: usize, value: &str) -> String {
    let (table, key, array) = FREE_FORM[choice];
    let value = if array {
        format!("[\"-a\", {}]", toml_string(value))
    } else {
        toml_string(value)
    };
    let mut text = String::new();
    // The base's own tables, minus a key the free-form value replaces.
    for line in BASE.lines() {
        if !line.starts_with(&format!("{key} =")) {
            text.push_str(line);
            text.push('\n');
        }
    }
    let header = format!("[{table}]");
    if text.contains(&header) {
        text.replace(&header, &format!("{header}\n{key} = {value}"))
    } else {
        format!("{text}{header}\n{key} = {value}\n")
    }
}

/// Checks one config; returns whether it was accepted (and rendered).
fn check_config(text: String) -> Result<bool, TestCaseError> {
    match Model::from_toml(&text) {
        Err(err) => {
            let message = err.to_string();
            prop_assert!(
                !message.contains('\n') && only_newlines_and_tabs(&message),
                "message: {message:?}"
            );
            prop_assert!(message.len() < 1000, "long message: {message}");
        }
        Ok((sources, model)) => {
            for file in render_all(&model, &sources) {
                let path = file.path.to_string_lossy().into_owned();
                prop_assert!(only_newlines_and_tabs(&path), "path {path:?}");
                if let Contents::Text(text) = &file.contents {
                    prop_assert!(only_newlines_and_tabs(text), "{path}: {text:?}");
                }
            }
            return Ok(true);
        }
    }
    Ok(false)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_configs_render_clean_or_are_refused(text in config_text()) {
        check_config(text)?;
    }


    #[test]
    fn free_form_values_reach_renderers_clean(
        choice in 0..FREE_FORM.len(),
        value in tricky_string(),
    ) {
        check_config(with_free_form(choice, &value))?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in proptest::collection::vec(tricky_char(), 0..200)) {
        check_config(text.into_iter().collect())?;
    }
}

/// The fuzz must reach the renderers, not only the refusals.
#[test]
fn free_form_values_are_often_accepted() {
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&(0..FREE_FORM.len(), tricky_string()), |(choice, value)| {
            if check_config(with_free_form(choice, &value))? {
                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    let accepted = accepted.into_inner();
    assert!(
        accepted >= 50,
        "only {accepted} of 500 configs reached the renderers"
    );
}
