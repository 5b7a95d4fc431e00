//! The config files as read, and the error that points into them.

use std::path::{Path, PathBuf};

/// A config file as read, kept so errors can point into it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as seen on the running system (without the test root).
    pub path: PathBuf,
    pub text: String,
}

/// All config files that were read, in the order they apply.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<Source>,
}

impl Sources {
    /// Formats a location as `path:line:col` for a value in file `file`.
    pub fn locate(&self, file: usize, offset: usize) -> String {
        let source = &self.files[file];
        let (line, col) = line_col(source.text.as_bytes(), offset);
        format!("{}:{line}:{col}", source.path.display())
    }

    /// The paths that were read, for the header of generated files.
    pub fn paths(&self) -> Vec<&Path> {
        self.files.iter().map(|s| s.path.as_path()).collect()
    }
}

/// One-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

/// A config problem, already formatted for a person: where, which key, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    /// `path:line:col`, or just the path when there is no position.
    pub location: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_col(b"abc\ndef", 5), (2, 2));
        assert_eq!(line_col("é = 1\nx".as_bytes(), 2), (1, 2));
        assert_eq!(line_col(b"", 0), (1, 1));
    }
}
