//! The layers of `src/` (ARCHITECTURE.md), kept so: every `crate::` path in
//! a source file (in `use` trees and inline) points to a folder on its left,
//! no two source files import each other round, and `base/`, `model/` and
//! `render/` touch neither files, processes, sockets, D-Bus nor HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each folder may import from those before it, and from itself.
const LAYERS: &[&str] = &[
    "base", "config", "model", "render", "logging", "host", "ops", "cli", "bin",
];

/// Folders whose code is pure.
const PURE: &[&str] = &["base", "model", "render"];

/// What pure code may not use: (pattern on code without comments and strings, why).
const IMPURE: &[(&str, &str)] = &[
    ("std::fs", "the file system"),
    ("std::os::unix::fs", "the file system"),
    ("File::open", "the file system"),
    ("File::create", "the file system"),
    ("OpenOptions", "the file system"),
    ("read_to_string(", "the file system"),
    (".exists()", "the file system"),
    (".is_file()", "the file system"),
    (".is_dir()", "the file system"),
    (".metadata()", "the file system"),
    (".read_dir()", "the file system"),
    (".canonicalize()", "the file system"),
    ("std::process", "processes"),
    ("Command::new", "processes"),
    ("std::net::TcpListener", "sockets"),
    ("std::net::TcpStream", "sockets"),
    ("std::net::UdpSocket", "sockets"),
    ("TcpListener", "sockets"),
    ("TcpStream", "sockets"),
    ("UdpSocket", "sockets"),
    ("std::os::unix::net", "sockets"),
    ("UnixStream", "sockets"),
    ("UnixListener", "sockets"),
    ("zbus", "D-Bus"),
    ("ureq", "HTTP"),
    ("nix::", "system calls"),
    ("signal_hook", "signals"),
];

/// One source file: its path below `src/` and its text.
struct Source {
    path: String,
    code: String,
}

#[test]
fn imports_point_left_without_cycles_and_pure_layers_stay_pure() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &src, &mut files);
    assert!(files.len() > 20, "read {} files below src/", files.len());
    let problems = check(&files);
    assert!(
        problems.is_empty(),
        "layering broken (see ARCHITECTURE.md):\n{}",
        problems.join("\n")
    );
}

#[test]
fn an_import_that_points_right_is_refused() {
    let files = sources(&[
        ("lib.rs", "pub mod model;\npub mod render;\n"),
        ("model/mod.rs", "use crate::render::output::RenderedFile;\n"),
        ("render/mod.rs", "pub mod output;\n"),
        ("render/output.rs", "pub struct RenderedFile;\n"),
    ]);
    assert_eq!(
        check(&files),
        [
            "src/model/mod.rs imports crate::render::output::RenderedFile \
          (src/render/output.rs): model/ may import only from base/, config/, model/"
        ]
    );
    // Inline paths and groups count too.
    let files = sources(&[
        ("base/mod.rs", "fn f() { crate::host::qmp::connect(); }\n"),
        ("config/mod.rs", "use crate::{base, ops::prepare};\n"),
        ("host/qmp.rs", ""),
        ("ops/prepare.rs", ""),
    ]);
    let problems = check(&files);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("src/base/mod.rs imports crate::host::qmp::connect"));
    assert!(problems[1].starts_with("src/config/mod.rs imports crate::ops::prepare"));
}

#[test]
fn a_cycle_between_files_is_refused() {
    let files = sources(&[
        (
            "render/boot.rs",
            "use crate::render::guest::etcd_settings;\n",
        ),
        (
            "render/guest/mod.rs",
            "pub mod ignition;\nuse crate::render::boot::EtcdBootstrap;\n",
        ),
        ("render/guest/ignition.rs", "use super::EtcdBootstrap;\n"),
    ]);
    assert_eq!(
        check(&files),
        ["import cycle: src/render/boot.rs → src/render/guest/mod.rs → src/render/boot.rs"]
    );
}

#[test]
fn io_in_a_pure_layer_is_refused_but_not_in_comments_or_strings() {
    let files = sources(&[
        (
            "render/nginx.rs",
            "// std::fs is fine here\nconst S: &str = \"ureq\";\n",
        ),
        (
            "model/mod.rs",
            "use std::{fmt, fs};\nfn f() { let _ = fs::read(\"x\"); }\n",
        ),
        ("host/files.rs", "use std::fs;\n"),
    ]);
    assert_eq!(
        check(&files),
        ["src/model/mod.rs uses std::fs (the file system): model/ is pure"]
    );
}

fn sources(files: &[(&str, &str)]) -> Vec<Source> {
    files
        .iter()
        .map(|(path, text)| Source {
            path: path.to_string(),
            code: strip(text),
        })
        .collect()
}

fn collect(src: &Path, dir: &Path, out: &mut Vec<Source>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(src, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push(Source {
                path: rel,
                code: strip(&std::fs::read_to_string(&path).unwrap()),
            });
        }
    }
}

/// The module path of a file below `src/` (`render/guest/mod.rs` is
/// `render::guest`); binaries are the crate's users, not its modules.
fn module_of(path: &str) -> Option<Vec<String>> {
    if path.starts_with("bin/") {
        return None;
    }
    let mut parts: Vec<String> = path
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    Some(parts)
}

fn layer_of(path: &str) -> &str {
    path.split_once('/').map_or("lib", |(top, _)| top)
}

/// Every check; one line per problem.
fn check(files: &[Source]) -> Vec<String> {
    let modules: BTreeMap<Vec<String>, &str> = files
        .iter()
        .filter_map(|f| Some((module_of(&f.path)?, f.path.as_str())))
        .collect();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for file in files {
        let from = layer_of(&file.path);
        for path in references(file) {
            let Some(target) = resolve(&modules, &path) else {
                continue;
            };
            if target == file.path {
                continue;
            }
            edges.entry(&file.path).or_default().insert(target);
            let to = layer_of(target);
            if to == "lib" || from == "lib" {
                continue;
            }
            let rank = |layer: &str| LAYERS.iter().position(|l| *l == layer);
            let (Some(from_rank), Some(to_rank)) = (rank(from), rank(to)) else {
                problems.push(format!(
                    "src/{}: {from}/ or {to}/ is not a layer",
                    file.path
                ));
                continue;
            };
            if to_rank > from_rank {
                let allowed: Vec<String> = LAYERS[..=from_rank]
                    .iter()
                    .map(|l| format!("{l}/"))
                    .collect();
                problems.push(format!(
                    "src/{} imports crate::{} (src/{target}): {from}/ may import only from {}",
                    file.path,
                    path.join("::"),
                    allowed.join(", ")
                ));
            }
        }
        if PURE.contains(&from) {
            problems.extend(impurities(file, from));
        }
    }
    problems.extend(cycles(&edges));
    problems
}

/// The `crate::` paths a file names, as absolute module paths: `use` trees
/// (with `self::`, `super::` and child modules resolved) and inline paths.
fn references(file: &Source) -> Vec<Vec<String>> {
    let Some(module) = module_of(&file.path) else {
        // A binary names the library as `coreos_cluster::`.
        return inline_paths(&file.code, "coreos_cluster");
    };
    let children: BTreeSet<String> = file
        .code
        .lines()
        .filter_map(|line| {
            let line = line.trim_start().trim_start_matches("pub ");
            let name = line.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect();
    let mut paths = Vec::new();
    for (indented, tree) in use_trees(&file.code) {
        for path in expand(&tree) {
            let (first, rest) = path.split_first().expect("a path has a segment");
            let base = match first.as_str() {
                "crate" => Vec::new(),
                // Indented: inside an inline module (tests), whose parent is this file.
                "super" if indented => module.clone(),
                "super" => module[..module.len().saturating_sub(1)].to_vec(),
                "self" => module.clone(),
                name if children.contains(name) => {
                    let mut child = module.clone();
                    child.push(name.to_string());
                    paths.push([child, rest.to_vec()].concat());
                    continue;
                }
                _ => continue,
            };
            paths.push([base, rest.to_vec()].concat());
        }
    }
    paths.extend(inline_paths(&without_uses(&file.code), "crate"));
    paths
}

/// `crate::a::b` paths outside `use` declarations.
fn inline_paths(code: &str, root: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(found) = code[at..].find(&format!("{root}::")) {
        let start = at + found;
        at = start + root.len();
        let boundary = start == 0 || !is_ident(bytes[start - 1]);
        if !boundary {
            continue;
        }
        let mut path = Vec::new();
        let mut rest = &code[start + root.len()..];
        while let Some(after) = rest.strip_prefix("::") {
            let len = after.bytes().take_while(|b| is_ident(*b)).count();
            if len == 0 {
                break;
            }
            path.push(after[..len].to_string());
            rest = &after[len..];
        }
        if !path.is_empty() {
            paths.push(path);
        }
    }
    paths
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Each `use` declaration's tree (without `use` and `;`), and whether it is indented.
fn use_trees(code: &str) -> Vec<(bool, String)> {
    let mut trees = Vec::new();
    for (start, text) in use_spans(code) {
        let indented = code[..start]
            .rsplit('\n')
            .next()
            .is_some_and(|l| !l.is_empty());
        trees.push((indented, text.to_string()));
    }
    trees
}

/// Where each `use` declaration starts, and its tree.
fn use_spans(code: &str) -> Vec<(usize, &str)> {
    let mut spans = Vec::new();
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let decl = trimmed
            .strip_prefix("pub(crate) ")
            .or_else(|| trimmed.strip_prefix("pub(super) "))
            .or_else(|| trimmed.strip_prefix("pub "))
            .unwrap_or(trimmed);
        if let Some(tree) = decl.strip_prefix("use ") {
            let begin = offset + (line.len() - trimmed.len());
            let tree_start = offset + line.len() - tree.len();
            if let Some(end) = code[tree_start..].find(';') {
                spans.push((begin, &code[tree_start..tree_start + end]));
            }
        }
        offset += line.len();
    }
    spans
}

/// The code with its `use` declarations blanked out.
fn without_uses(code: &str) -> String {
    let mut out = code.to_string();
    for (start, tree) in use_spans(code) {
        let tree_start = code[start..].find(tree).map(|i| start + i).unwrap_or(start);
        let end = tree_start + tree.len();
        out.replace_range(start..end, &" ".repeat(end - start));
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e` (as segments; `self`
/// in a group names its prefix, `as` renames are dropped).
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree: String = tree
        .chars()
        .filter(|c| !c.is_whitespace() || *c == ' ')
        .collect();
    let mut out = Vec::new();
    expand_into(tree.trim(), &mut Vec::new(), &mut out);
    out
}

fn expand_into(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let pushed: Vec<String> = head
            .split("::")
            .filter(|s| !s.is_empty())
            .map(|s| s.trim().to_string())
            .collect();
        let len = prefix.len();
        prefix.extend(pushed);
        for part in split_top(inner) {
            expand_into(part, prefix, out);
        }
        prefix.truncate(len);
        return;
    }
    let tree = tree.split(" as ").next().unwrap_or(tree).trim();
    let mut path = prefix.clone();
    for segment in tree.split("::") {
        match segment.trim() {
            "self" if !path.is_empty() => {}
            "*" | "" => {}
            s => path.push(s.to_string()),
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// Splits a group's items at its top-level commas.
fn split_top(inner: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
}

/// The file holding the item a path names: the longest prefix that is a module.
fn resolve<'a>(modules: &BTreeMap<Vec<String>, &'a str>, path: &[String]) -> Option<&'a str> {
    (1..=path.len())
        .rev()
        .find_map(|n| modules.get(&path[..n]).copied())
}

/// Uses of the host in a pure file, whether in `use` trees or inline.
fn impurities(file: &Source, layer: &str) -> Vec<String> {
    let mut named: Vec<String> = use_trees(&file.code)
        .iter()
        .flat_map(|(_, tree)| expand(tree))
        .map(|path| path.join("::"))
        .collect();
    named.push(without_uses(&file.code));
    let mut found = Vec::new();
    for (pattern, what) in IMPURE {
        let hit = named.iter().any(|text| contains_word(text, pattern));
        if hit && !found.iter().any(|(w, _)| w == what) {
            found.push((*what, *pattern));
        }
    }
    found
        .into_iter()
        .map(|(what, pattern)| {
            format!(
                "src/{} uses {pattern} ({what}): {layer}/ is pure",
                file.path
            )
        })
        .collect()
}

/// Whether `pattern` occurs in `text` not glued to an identifier before it.
fn contains_word(text: &str, pattern: &str) -> bool {
    text.match_indices(pattern).any(|(i, _)| {
        i == 0
            || pattern.starts_with('.')
            || !is_ident(text.as_bytes()[i - 1]) && text.as_bytes()[i - 1] != b':'
    })
}

/// Every cycle of the import graph, once, as the files along it.
fn cycles(edges: &BTreeMap<&str, BTreeSet<&str>>) -> Vec<String> {
    let mut reported = BTreeSet::new();
    let mut problems = Vec::new();
    for &start in edges.keys() {
        let mut stack = vec![(start, vec![start])];
        let mut seen = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for &next in edges.get(node).into_iter().flatten() {
                if next == start {
                    let mut members: Vec<&str> = trail.clone();
                    members.sort();
                    if reported.insert(members) {
                        let shown: Vec<String> = trail
                            .iter()
                            .chain([&start])
                            .map(|f| format!("src/{f}"))
                            .collect();
                        problems.push(format!("import cycle: {}", shown.join(" → ")));
                    }
                } else if seen.insert(next) {
                    let mut longer = trail.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
    problems
}

/// Rust code with comments, string and character literals blanked out, so
/// that neither a doc comment nor a URL counts as code.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !chars[i - 1].is_alphanumeric())
        {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            out.push('"');
            i += 2 + hashes;
            while i < chars.len() && !chars[i..].iter().collect::<String>().starts_with(&close) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push('"');
            i += close.len();
        } else if c == '"' || c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A string or a character literal (a lifetime has no closing quote).
            i = blank_literal(&chars, i, &mut out);
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Blanks the literal that starts at `chars[start]` (a quote) up to its
/// closing quote, escapes included; returns the index after it.
fn blank_literal(chars: &[char], start: usize, out: &mut String) -> usize {
    let quote = chars[start];
    out.push(quote);
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' {
            out.push(' ');
            i += 1;
        }
        if i < chars.len() {
            out.push(if chars[i] == '\n' { '\n' } else { ' ' });
            i += 1;
        }
    }
    out.push(quote);
    i + 1
}
