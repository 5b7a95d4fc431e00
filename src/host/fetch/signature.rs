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
    #[error("{file}: signed by {issuer}, a key not in the signing key (was it rotated?)")]
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
    /// Parses an armored or binary key and checks its primary fingerprint.
    pub fn parse(bytes: &[u8], pinned_fingerprint: &str) -> Result<SigningKey, SignatureError> {
        let (key, _) = SignedPublicKey::from_reader_single(bytes)
            .map_err(|e| SignatureError::Key(format!("cannot read the key: {e}")))?;
        let fingerprint = upper_hex(key.primary_key.fingerprint().as_bytes());
        let pinned: String = pinned_fingerprint
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        if fingerprint != pinned {
            return Err(SignatureError::Key(format!(
                "primary key fingerprint {fingerprint} is not the pinned {pinned}"
            )));
        }
        Ok(SigningKey { key })
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

/// Revoked as compromised (or for no or an unknown reason): never valid.
/// Retired or superseded: valid only for signatures made before.
fn check_revocations<'a>(
    revocations: impl Iterator<Item = &'a Signature>,
    created: u32,
    what: &str,
) -> Result<(), String> {
    for revocation in revocations {
        let revoked_at = revocation.created().map_or(0, |t| t.as_secs());
        match revocation.revocation_reason_code() {
            Some(RevocationCode::KeyRetired) | Some(RevocationCode::KeySuperseded) => {
                if created >= revoked_at {
                    return Err(format!("made after the {what} was retired"));
                }
            }
            Some(RevocationCode::KeyCompromised) => {
                return Err(format!("the {what} is revoked as compromised"));
            }
            other => {
                return Err(format!(
                    "the {what} is revoked ({})",
                    other.map_or("no reason given".to_string(), |c| format!("{c:?}"))
                ));
            }
        }
    }
    Ok(())
}

fn age(secs: u64) -> String {
    match secs {
        s if s >= 86400 => format!("{} days", s / 86400),
        s if s >= 3600 => format!("{} hours", s / 3600),
        s => format!("{s} s"),
    }
}
