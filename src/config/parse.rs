//! One file's text → raw config: the text rule on every key and string
//! first, then serde, with messages in a TOML author's words.

use crate::base::text::{check_text, quoted, TextKind, SHOWN_CHARS};
use crate::config::keys;
use crate::config::raw::{RawConfig, CURRENT_FILE};
use crate::config::source::{ConfigError, Sources};

/// Parses one file's text. `file` is its index in `Sources`.
pub fn parse(sources: &Sources, file: usize) -> Result<RawConfig, ConfigError> {
    let text = &sources.files[file].text;
    check_all_text(sources, file)?;
    CURRENT_FILE.with(|c| c.set(file));
    toml::from_str::<RawConfig>(text).map_err(|err| {
        let span = err.span();
        let mut message = plain_message(err.message().trim_end());
        // toml marks the repeated key but does not name it.
        if let (true, Some(span)) = (message == "duplicate key", &span) {
            let key = text.get(span.clone()).unwrap_or_default();
            message = format!("duplicate key {}", quoted(key.trim()));
        }
        if let Some(moved) = moved_key_message(text, span.as_ref().map_or(0, |s| s.start), &message)
        {
            message = moved;
        }
        ConfigError {
            location: sources.locate(file, span.map_or(0, |s| s.start)),
            message,
        }
    })
}

/// For serde's "unknown field `KEY`" about a key of an earlier version: where
/// it lives now. The section is the last table header above the key.
fn moved_key_message(text: &str, at: usize, message: &str) -> Option<String> {
    let key = message.strip_prefix("unknown field `")?.split('`').next()?;
    let section = text.get(..at)?.lines().rev().find_map(|line| {
        let header = line.trim_start().strip_prefix('[')?;
        Some(header.split(']').next()?.trim_matches(['[', ' ']))
    })?;
    let old = format!("{section}.{key}");
    let new = keys::moved_to(&old)?;
    let (new_section, new_key) = new.split_once('.')?;
    Some(format!(
        "{old} has moved to {new}: write {new_key} under [{new_section}]"
    ))
}

/// The longest message toml or serde may give before it is shortened.
const MAX_MESSAGE_CHARS: usize = 200;

/// serde and toml speak of Rust types; say what a TOML author writes instead.
fn plain_message(message: &str) -> String {
    const PLAIN: &[(&str, &str)] = &[
        ("expected i64", "expected an integer"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected an array"),
        ("expected a string", "expected a string in quotes"),
        ("expected a map", "expected a table"),
    ];
    let mut plain = message.to_string();
    for (rust, toml) in PLAIN {
        plain = plain.replace(rust, toml);
    }
    // serde repeats a value of the wrong type whole: keep a message short
    // enough for one journal or kmsg record.
    let quoted_value = (plain.find("string \""), plain.rfind("\", expected"));
    if let (Some(start), Some(end)) = quoted_value {
        let value = &plain[start + "string \"".len()..end];
        if value.chars().count() > SHOWN_CHARS {
            let shown: String = value.chars().take(SHOWN_CHARS).collect();
            let size = value.len();
            plain.replace_range(
                start..end + 1,
                &format!("string \"{shown}\"… ({size} bytes)"),
            );
        }
    }
    if plain.chars().count() > MAX_MESSAGE_CHARS {
        let size = plain.len();
        plain = plain.chars().take(MAX_MESSAGE_CHARS).collect();
        plain.push_str(&format!("… ({size} bytes)"));
    }
    // An integer beyond 64 bits: toml tried i128.
    if let Some((start, _)) = plain.split_once(" as i128, expected ") {
        plain = format!("{} is too large", start.replace("invalid type: ", ""));
    }
    // `expected struct RawNode` and the like: every struct here is a table.
    while let Some(start) = plain.find("struct Raw") {
        let name = start + "struct ".len();
        let end = plain[name..]
            .find(|c: char| !c.is_alphanumeric())
            .map_or(plain.len(), |i| name + i);
        plain.replace_range(start..end, "a table");
    }
    plain
}

/// Applies the one text rule (`base::text::check_text`) to every key and string
/// of a file before anything else reads it, so no value that reaches a
/// rendered file or a message can hold a control character.
fn check_all_text(sources: &Sources, file: usize) -> Result<(), ConfigError> {
    // A file that does not parse gets toml's own error from `parse`.
    let Ok(table) = toml::de::DeTable::parse(&sources.files[file].text) else {
        return Ok(());
    };
    let mut bad = None;
    walk_table(table.get_ref(), "", &mut |key, offset, text| {
        if bad.is_none() {
            if let Err(why) = check_text(text, TextKind::Line) {
                bad = Some(ConfigError {
                    location: sources.locate(file, offset),
                    message: format!("{key}: {why}"),
                });
            }
        }
    });
    bad.map_or(Ok(()), Err)
}

/// Calls `visit(key path, offset, text)` for every key and string below `table`.
fn walk_table(table: &toml::de::DeTable, prefix: &str, visit: &mut dyn FnMut(&str, usize, &str)) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            quoted_key(key.get_ref())
        } else {
            format!("{prefix}.{}", quoted_key(key.get_ref()))
        };
        visit(&path, key.span().start, key.get_ref());
        walk_value(value, &path, visit);
    }
}

fn walk_value(
    value: &toml::Spanned<toml::de::DeValue>,
    path: &str,
    visit: &mut dyn FnMut(&str, usize, &str),
) {
    use toml::de::DeValue;
    match value.get_ref() {
        DeValue::String(text) => visit(path, value.span().start, text),
        DeValue::Array(items) => items.iter().for_each(|item| walk_value(item, path, visit)),
        DeValue::Table(table) => walk_table(table, path, visit),
        _ => {}
    }
}

/// A key as a message shows it: bare when TOML would write it bare.
fn quoted_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        key.to_string()
    } else {
        quoted(key)
    }
}
