//! OpenPGP detached-signature checks for Flatcar images, with the policy
//! rPGP leaves to its users: the primary key is pinned by fingerprint, only a
//! signing subkey bound to it counts, and it must have been valid when the
//! signature was made (expiry and revocation judged at that time, except that
//! a key revoked as compromised, or for no stated reason, is never trusted).
//!
//! The data is hashed while it downloads ([`Sink`]); checking the signature
//! afterwards costs one public-key operation.

use digest::DynDigest;
use pgp::composed::{Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{RevocationCode, Signature, SignatureType, SignatureVersionSpecific};
use pgp::types::{KeyDetails, VerifyingKey};

use super::download::Sink;
use crate::base::hex::upper_hex;

/// Why a key or signature was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("signing key: {0}")]
    Key(String),
    /// No key in the keyring has the signature's issuer: fetch the key again.
    #[error(
        "{file}: signed by {issuer}, a subkey this key file lacks (was the signing key \
         rotated? the key is fetched again)"
    )]
    UnknownIssuer { file: String, issuer: String },
    #[error("{file}: signature by {issuer} refused: {reason}")]
    Refused {
        file: String,
        issuer: String,
        reason: String,
    },
    #[error("{file}: not an OpenPGP signature: {reason}")]
    Malformed { file: String, reason: String },
}

/// The signing key, its primary fingerprint checked against the pin.
pub struct SigningKey {
    key: SignedPublicKey,
}

impl SigningKey {
    /// Parses an armored or binary key file, which may hold several keys
    /// (and several armored blocks), and takes the one whose primary
    /// fingerprint is the pinned one.
    pub fn parse(bytes: &[u8], pinned_fingerprint: &str) -> Result<SigningKey, SignatureError> {
        let pinned: String = pinned_fingerprint
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        let cannot_read =
            |e: pgp::errors::Error| SignatureError::Key(format!("cannot read the key: {e}"));
        let mut found = Vec::new();
        for block in key_blocks(bytes) {
            let (keys, _) = SignedPublicKey::from_reader_many(block).map_err(cannot_read)?;
            for key in keys {
                let key = key.map_err(cannot_read)?;
                let fingerprint = upper_hex(key.primary_key.fingerprint().as_bytes());
                if fingerprint == pinned {
                    return Ok(SigningKey { key });
                }
                found.push(fingerprint);
            }
        }
        Err(SignatureError::Key(match found.as_slice() {
            [] => "the file holds no key".to_string(),
            [one] => format!("primary key fingerprint {one} is not the pinned {pinned}"),
            many => format!(
                "none of its {} keys ({}) has the pinned primary fingerprint {pinned}",
                many.len(),
                many.join(", ")
            ),
        }))
    }

    /// Whether the key holds the key that made `sig`.
    pub fn knows_issuer(&self, sig: &DetachedSig) -> bool {
        self.subkey_for(sig).is_some() || sig.names(&self.key.primary_key)
    }

    fn subkey_for(&self, sig: &DetachedSig) -> Option<&SignedPublicSubKey> {
        self.key.public_subkeys.iter().find(|s| sig.names(&s.key))
    }
}

/// A detached signature, with the hash of the signed data computed as it arrives.
pub struct DetachedSig {
    file: String,
    sig: Signature,
    hasher: Box<dyn DynDigest + Send>,
}

impl DetachedSig {
    /// Parses the `.sig` of `file` (binary or armored) and prepares its hash.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<DetachedSig, SignatureError> {
        let malformed = |reason: String| SignatureError::Malformed {
            file: file.to_string(),
            reason,
        };
        let (detached, _) = pgp::composed::DetachedSignature::from_reader_single(bytes)
            .map_err(|e| malformed(e.to_string()))?;
        let sig = detached.signature;
        let config = sig.config().ok_or_else(|| {
            malformed(format!("unsupported signature version {:?}", sig.version()))
        })?;
        let mut parsed = DetachedSig {
            file: file.to_string(),
            hasher: config
                .hash_alg
                .new_hasher()
                .map_err(|e| malformed(e.to_string()))?,
            sig,
        };
        parsed.reset();
        Ok(parsed)
    }

    /// The issuer as people see it: the key ID in hex.
    pub fn issuer(&self) -> String {
        if let Some(id) = self.sig.issuer_key_id().first() {
            return upper_hex(id.as_ref());
        }
        match self.sig.issuer_fingerprint().first() {
            Some(fp) => upper_hex(fp.as_bytes()),
            None => "an unnamed key".to_string(),
        }
    }

    fn names(&self, key: &impl KeyDetails) -> bool {
        let ids = self.sig.issuer_key_id();
        let fps = self.sig.issuer_fingerprint();
        ids.iter().any(|id| **id == key.legacy_key_id())
            || fps.iter().any(|fp| **fp == key.fingerprint())
    }

    fn refuse(&self, reason: impl Into<String>) -> SignatureError {
        SignatureError::Refused {
            file: self.file.clone(),
            issuer: self.issuer(),
            reason: reason.into(),
        }
    }

    /// Checks the signature over the data fed so far, under the policy above.
    pub fn verify(mut self, key: &SigningKey) -> Result<(), SignatureError> {
        let Some(subkey) = key.subkey_for(&self) else {
            if self.names(&key.key.primary_key) {
                return Err(
                    self.refuse("made by the primary key; only signing subkeys sign images")
                );
            }
            return Err(SignatureError::UnknownIssuer {
                file: self.file.clone(),
                issuer: self.issuer(),
            });
        };
        let config = self.sig.config().expect("checked in parse");
        if !matches!(
            config.hash_alg,
            HashAlgorithm::Sha256
                | HashAlgorithm::Sha384
                | HashAlgorithm::Sha512
                | HashAlgorithm::Sha3_256
                | HashAlgorithm::Sha3_512
        ) {
            return Err(self.refuse(format!("hash {} is weaker than SHA-256", config.hash_alg)));
        }
        if self.sig.typ() != Some(SignatureType::Binary) {
            return Err(self.refuse(format!(
                "signature type {:?}, expected a binary document signature",
                self.sig.typ()
            )));
        }
        let Some(created) = self.sig.created().map(|t| t.as_secs()) else {
            return Err(self.refuse("signature has no creation time"));
        };
        let primary = &key.key.primary_key;
        check_revocations(
            key.key
                .details
                .revocation_signatures
                .iter()
                .filter(|r| r.verify_key(primary).is_ok()),
            created,
            "primary key",
        )
        .map_err(|why| self.refuse(why))?;
        check_subkey(primary, subkey, created).map_err(|why| self.refuse(why))?;

        // The data is already in the hasher; the signature's own fields follow.
        let mut hasher = std::mem::replace(&mut self.hasher, Box::new(sha2::Sha256::default()));
        let trailer = config
            .hash_signature_data(&mut hasher)
            .and_then(|len| config.trailer(len))
            .map_err(|e| self.refuse(e.to_string()))?;
        hasher.update(&trailer);
        let hash = hasher.finalize();
        let signed_prefix = self.sig.signed_hash_value();
        let signature = self.sig.signature();
        match (signed_prefix, signature) {
            (Some(prefix), Some(signature)) if prefix == hash[..2] => subkey
                .key
                .verify(config.hash_alg, &hash, signature)
                .map_err(|_| self.refuse("the file does not match its signature")),
            _ => Err(self.refuse("the file does not match its signature")),
        }
    }
}

impl Sink for DetachedSig {
    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    fn reset(&mut self) {
        self.hasher.reset();
        if let Some(SignatureVersionSpecific::V6 { salt }) =
            self.sig.config().map(|c| &c.version_specific)
        {
            self.hasher.update(salt);
        }
    }
}

/// The subkey must be bound (valid binding and back signature) and allowed to
/// sign at `created`, not expired then, and not revoked as of then.
fn check_subkey(
    primary: &pgp::packet::PublicKey,
    subkey: &SignedPublicSubKey,
    created: u32,
) -> Result<(), String> {
    let key_created = subkey.key.created_at().as_secs();
    if created < key_created {
        return Err("made before the subkey existed".to_string());
    }
    let binding = subkey
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
        .filter(|s| s.created().is_some_and(|t| t.as_secs() <= created))
        .filter(|s| s.verify_subkey_binding(primary, &subkey.key).is_ok())
        .max_by_key(|s| s.created().map(|t| t.as_secs()))
        .ok_or("the subkey has no valid binding signature to the primary key from before the signature")?;
    if !binding.key_flags().sign() {
        return Err("the subkey is not allowed to sign".to_string());
    }
    let backsig_ok = binding
        .embedded_signature()
        .is_some_and(|b| b.verify_primary_key_binding(&subkey.key, primary).is_ok());
    if !backsig_ok {
        return Err("the subkey's back signature to the primary key is missing or bad".to_string());
    }
    if let Some(valid_for) = binding.key_expiration_time().map(|d| d.as_secs()) {
        let expires = u64::from(key_created) + u64::from(valid_for);
        if valid_for != 0 && u64::from(created) >= expires {
            return Err(format!(
                "made {} after the subkey expired",
                age(u64::from(created) - expires)
            ));
        }
    }
    check_revocations(
        subkey
            .signatures
            .iter()
            .filter(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
            .filter(|s| s.verify_subkey_binding(primary, &subkey.key).is_ok()),
        created,
        "subkey",
    )
}

/// A key file's armored blocks, each read on its own (a reader of armor
/// stops at the first block's end); binary data is one block.
fn key_blocks(bytes: &[u8]) -> Vec<&[u8]> {
    const BEGIN: &[u8] = b"-----BEGIN PGP PUBLIC KEY BLOCK-----";
    let starts: Vec<usize> = bytes
        .windows(BEGIN.len())
        .enumerate()
        .filter_map(|(at, window)| (window == BEGIN).then_some(at))
        .collect();
    if starts.is_empty() {
        return vec![bytes];
    }
    let ends = starts.iter().skip(1).copied().chain([bytes.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&a, b)| &bytes[a..b])
        .collect()
}

/// Revoked as compromised (or for no or an unknown reason): never valid.
/// Retired or superseded: valid only for signatures made before.
fn check_revocations<'a>(
    revocations: impl Iterator<Item = &'a Signature>,
    created: u32,
    what: &str,
) -> Result<(), String> {
    for revocation in revocations {
        let revoked_at = revocation.created().map_or(0, |t| t.as_secs());
        let reason = revocation.revocation_reason_code().copied();
        revocation_verdict(reason, revoked_at, created, what)?;
    }
    Ok(())
}

/// What one revocation made at `revoked_at` says of a signature made at
/// `created`, naming the reason the revocation gives.
fn revocation_verdict(
    reason: Option<RevocationCode>,
    revoked_at: u32,
    created: u32,
    what: &str,
) -> Result<(), String> {
    match reason {
        Some(RevocationCode::KeyRetired) if created >= revoked_at => {
            Err(format!("made after the {what} was retired"))
        }
        Some(RevocationCode::KeySuperseded) if created >= revoked_at => {
            Err(format!("made after the {what} was superseded"))
        }
        Some(RevocationCode::KeyRetired | RevocationCode::KeySuperseded) => Ok(()),
        Some(RevocationCode::KeyCompromised) => {
            Err(format!("the {what} is revoked as compromised"))
        }
        other => Err(format!(
            "the {what} is revoked ({})",
            other.map_or("no reason given".to_string(), |c| format!("{c:?}"))
        )),
    }
}

fn age(secs: u64) -> String {
    match secs {
        s if s >= 86400 => format!("{} days", s / 86400),
        s if s >= 3600 => format!("{} hours", s / 3600),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_names_its_own_reason() {
        let verdict = |code, created| revocation_verdict(Some(code), 100, created, "subkey");
        assert_eq!(
            verdict(RevocationCode::KeySuperseded, 100),
            Err("made after the subkey was superseded".to_string())
        );
        assert_eq!(
            verdict(RevocationCode::KeyRetired, 200),
            Err("made after the subkey was retired".to_string())
        );
        // Signed before it was retired or superseded: still good.
        assert_eq!(verdict(RevocationCode::KeyRetired, 99), Ok(()));
        assert_eq!(verdict(RevocationCode::KeySuperseded, 99), Ok(()));
        assert_eq!(
            verdict(RevocationCode::KeyCompromised, 1),
            Err("the subkey is revoked as compromised".to_string())
        );
        assert!(revocation_verdict(None, 100, 1, "key").is_err());
    }

    #[test]
    fn each_armored_block_is_read_on_its_own() {
        let begin = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
        let two = format!("{begin}\nA\n-----END-----\n{begin}\nB\n");
        let blocks = key_blocks(two.as_bytes());
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].ends_with(b"B\n"));
        assert_eq!(key_blocks(b"\x99binary"), [b"\x99binary"]);
    }

    #[test]
    fn key_blocks_start_at_each_armor_header() {
        let begin = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
        let block = |body: &str| format!("{begin}\n{body}\n-----END PGP PUBLIC KEY BLOCK-----\n");
        // What stands before the first header is not part of a block.
        let three = format!("a comment\n{}{}{}", block("A"), block("B"), block("C"));
        let blocks = key_blocks(three.as_bytes());
        let expected = [block("A"), block("B"), block("C")];
        assert_eq!(
            blocks,
            expected.iter().map(|b| b.as_bytes()).collect::<Vec<_>>()
        );
        // A header ending the data is a block of its own.
        let last = format!("{}{begin}", block("A"));
        assert_eq!(key_blocks(last.as_bytes())[1], begin.as_bytes());
        // Binary data, shorter than a header or not, is one block.
        let binary = [0x99, 0x01, 0x0d, 0x04, 0xff, 0xfe, 0x00, 0x2d, 0x2d];
        assert_eq!(key_blocks(&binary), [&binary[..]]);
        assert_eq!(key_blocks(&binary.repeat(10)), [&binary.repeat(10)[..]]);
        assert_eq!(key_blocks(b""), [b""]);
    }
}
