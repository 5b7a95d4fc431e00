//! Lower-case hex, for digests (SHA-256, SHA-512) and random tokens.

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
