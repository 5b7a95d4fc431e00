//! The one way a value enters a rendered YAML file (the cloud-config): as a
//! double-quoted scalar, so no value can add a key, a list item or a comment.

use std::fmt::Write;

/// `value` as a YAML double-quoted scalar that every YAML 1.1/1.2 parser
/// (coreos-cloudinit's go-yaml, PyYAML) reads back as exactly `value`.
///
/// Escaped: `"` and `\`; every C0 control, DEL and every C1 control (YAML
/// 1.1 counts U+0085 as a line break); U+2028 and U+2029 (line and paragraph
/// separators, also line breaks to YAML 1.1); U+FEFF (a byte order mark) and
/// the non-characters U+FFFE/U+FFFF, which YAML does not allow raw.
pub fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if needs_escape(c) => {
                write!(out, "\\u{:04X}", u32::from(c)).expect("writing to a String");
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn needs_escape(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00..=0x1F | 0x7F..=0x9F | 0x2028 | 0x2029 | 0xFEFF | 0xFFFE | 0xFFFF
    )
}

#[cfg(test)]
mod tests {
    use super::double_quoted;

    #[test]
    fn escapes_table() {
        let cases = [
            ("plain", r#""plain""#),
            ("", r#""""#),
            ("a: b # c", r#""a: b # c""#),
            (r#"say "hi""#, r#""say \"hi\"""#),
            (r"back\slash", r#""back\\slash""#),
            ("tab\there", r#""tab\u0009here""#),
            ("nl\ncr\r", r#""nl\u000Acr\u000D""#),
            ("nul\0esc\x1bdel\x7f", r#""nul\u0000esc\u001Bdel\u007F""#),
            ("nel\u{85}c1\u{9f}", r#""nel\u0085c1\u009F""#),
            (
                "ls\u{2028}ps\u{2029}bom\u{feff}",
                r#""ls\u2028ps\u2029bom\uFEFF""#,
            ),
            ("nbsp\u{a0}é€😀", "\"nbsp\u{a0}é€😀\""),
            ("$private_ipv4", r#""$private_ipv4""#),
        ];
        for (value, quoted) in cases {
            assert_eq!(double_quoted(value), quoted, "{value:?}");
        }
    }
}
