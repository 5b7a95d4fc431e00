//! Random tokens, from the kernel.

use std::io::Read;

use crate::base::hex::hex;

/// `len` random bytes from /dev/urandom, as hex.
pub fn random_hex(len: usize) -> std::io::Result<String> {
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_differ_and_are_lower_case_hex() {
        let a = random_hex(8).unwrap();
        assert_ne!(a, random_hex(8).unwrap());
        assert_eq!(a.len(), 16);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}
