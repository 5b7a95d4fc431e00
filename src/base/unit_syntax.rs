//! Escaping values for systemd unit files (systemd.unit(5), systemd.service(5)).

/// Doubles `%` so systemd does not read specifiers in a value.
pub fn escape_specifiers(value: &str) -> String {
    value.replace('%', "%%")
}

/// One `Environment=` assignment, quoted so any value survives intact.
pub fn environment(key: &str, value: &str) -> String {
    format!("Environment=\"{key}={}\"", quote_inner(value))
}

/// An `ExecStart=` argument: one word after systemd's splitting and expansion.
pub fn exec_arg(value: &str) -> String {
    let escaped = quote_inner(value).replace('$', "$$");
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || "\"'\\;".contains(c));
    if plain {
        escaped
    } else {
        format!("\"{escaped}\"")
    }
}

/// Backslash-escapes `\` and `"`, and doubles `%`, for use inside double quotes.
fn quote_inner(value: &str) -> String {
    escape_specifiers(&value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_table() {
        let cases = [
            ("plain", "Environment=\"K=plain\"", "plain"),
            ("50%", "Environment=\"K=50%%\"", "50%%"),
            ("a b", "Environment=\"K=a b\"", "\"a b\""),
            (
                "say \"hi\"",
                "Environment=\"K=say \\\"hi\\\"\"",
                "\"say \\\"hi\\\"\"",
            ),
            (
                "back\\slash",
                "Environment=\"K=back\\\\slash\"",
                "\"back\\\\slash\"",
            ),
            ("$HOME", "Environment=\"K=$HOME\"", "$$HOME"),
            ("", "Environment=\"K=\"", "\"\""),
        ];
        for (value, env, arg) in cases {
            assert_eq!(environment("K", value), env, "{value}");
            assert_eq!(exec_arg(value), arg, "{value}");
        }
    }
}
