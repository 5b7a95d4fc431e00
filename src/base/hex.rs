//! Hex, for digests (SHA-256, SHA-512), random tokens and key fingerprints.

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Upper-case hex, as OpenPGP tools show key IDs and fingerprints.
pub fn upper_hex(bytes: &[u8]) -> String {
    hex(bytes).to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_cases_pad_each_byte_to_two_digits() {
        assert_eq!(super::hex(&[0x0a, 0xbc]), "0abc");
        assert_eq!(super::upper_hex(&[0x0a, 0xbc]), "0ABC");
    }
}
