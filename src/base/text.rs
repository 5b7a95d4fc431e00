//! The one rule for text that reaches a rendered file or a message, and how
//! a message shows a value.

/// Whether a text may span lines. Only a user's own cloud-config template
/// does (`\n`, and `\t` inside lines); every config value is one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Line,
    Lines,
}

/// The one rule for text that reaches a rendered file (unit drop-ins, networkd
/// and nginx files, boot scripts, the cloud-config) or a message: no C0 or C1
/// control characters, no DEL, no line or paragraph separators (U+2028,
/// U+2029, U+0085, which YAML 1.1 reads as line breaks) and no U+FEFF. systemd
/// ends a line at NUL, YAML starts a new key after U+2028, a terminal obeys ESC.
pub fn check_text(text: &str, kind: TextKind) -> Result<(), String> {
    let bad = text.chars().enumerate().find(|&(_, c)| {
        let allowed = kind == TextKind::Lines && (c == '\n' || c == '\t');
        !allowed && (c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'))
    });
    match bad {
        None => Ok(()),
        Some((index, c)) => Err(format!(
            "{} holds U+{:04X} at character {}; {}",
            quoted(text),
            u32::from(c),
            index + 1,
            match kind {
                TextKind::Line => {
                    "values may not hold control characters, line or paragraph separators \
                     or U+FEFF"
                }
                TextKind::Lines => {
                    "only newlines and tabs may stand among its characters, no other control \
                     characters, line or paragraph separators or U+FEFF"
                }
            }
        )),
    }
}

/// Longest part of a value a message repeats: a message must fit a journal
/// or kmsg record, and a 1 MiB value says nothing more than its start.
pub const SHOWN_CHARS: usize = 60;

/// A value for a message: quoted and escaped, shortened to its first
/// characters and its size when long.
pub fn quoted(text: &str) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        format!("{text:?}")
    } else {
        let start: String = text.chars().take(SHOWN_CHARS).collect();
        format!("{start:?}… ({} bytes)", text.len())
    }
}

/// A path for a message, shown as `quoted` shows any value.
pub fn quoted_path(path: &std::path::Path) -> String {
    quoted(&path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rule() {
        use TextKind::*;
        for ok in ["plain", "ünïcödé ✓", "a b", "%i $x \\"] {
            assert_eq!(check_text(ok, Line), Ok(()), "{ok:?}");
        }
        for bad in [
            "x\u{0}User=root",
            "\u{1b}[31m",
            "\u{b}",
            "a\nb",
            "a\tb",
            "\r",
            "\u{7f}",
            "\u{85}",
            "\u{9f}",
            "\u{2028}",
            "\u{2029}",
            "\u{feff}",
        ] {
            let err = check_text(bad, Line).unwrap_err();
            assert!(err.contains("U+"), "{bad:?}: {err}");
            assert!(!err.chars().any(|c| c.is_control()), "escaped: {err:?}");
        }
        assert_eq!(check_text("a:\n\tb\n", Lines), Ok(()));
        assert!(check_text("a\r\n", Lines).unwrap_err().contains("U+000D"));
        assert!(check_text("a\u{2028}", Lines).is_err());
    }

    #[test]
    fn long_values_are_shortened() {
        let long = "x".repeat(1 << 20);
        assert_eq!(
            quoted(&long),
            format!("\"{}\"… (1048576 bytes)", "x".repeat(60))
        );
        assert_eq!(quoted("short"), "\"short\"");
        assert!(
            check_text(&format!("{long}\u{0}"), TextKind::Line)
                .unwrap_err()
                .len()
                < 300
        );
    }
}
