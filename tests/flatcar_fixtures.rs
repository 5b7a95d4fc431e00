//! Signature checks against real Flatcar signing data, read from
//! `../shared/fixtures/flatcar/` beside the project (never copied into it):
//! the real key and a real signature verify; a tampered file, a signature by
//! a subkey the key revokes as compromised, and another pinned fingerprint
//! are refused.

use std::path::PathBuf;

use coreos_cluster::base::defaults::FLATCAR_SIGNING_KEY_FINGERPRINT;
use coreos_cluster::host::fetch::download::Sink;
use coreos_cluster::host::fetch::signature::{DetachedSig, SignatureError, SigningKey};
use coreos_cluster::host::image_version::parse_version_txt;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/flatcar")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A key of no importance, made with gpg for these tests.
fn another_key() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/another-key.asc");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn flatcar_key() -> SigningKey {
    SigningKey::parse(
        &fixture("Flatcar_Image_Signing_Key.asc"),
        FLATCAR_SIGNING_KEY_FINGERPRINT,
    )
    .unwrap()
}

fn check(data: &str, sig: &str) -> Result<(), SignatureError> {
    let mut sig = DetachedSig::parse("version.txt", &fixture(sig)).unwrap();
    sig.update(&fixture(data));
    sig.verify(&flatcar_key())
}

#[test]
fn real_signature_verifies() {
    check("version.txt", "version.txt.sig").unwrap();
}

#[test]
fn tampered_file_fails() {
    let err = check("version.txt.tampered", "version.txt.sig").unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    assert!(err.to_string().contains("version.txt"), "{err}");
}

#[test]
fn subkey_revoked_as_compromised_is_refused() {
    let err = check("version.txt", "version.txt.revoked-subkey.sig").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("revoked as compromised"), "{text}");
    assert!(text.contains("603443A1D0FC498C"), "{text}");
}

#[test]
fn other_primary_fingerprint_is_refused() {
    let err = SigningKey::parse(
        &fixture("Flatcar_Image_Signing_Key.asc"),
        "0000000000000000000000000000000000000000",
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("is not the pinned"), "{err}");
}

#[test]
fn signature_hashed_in_pieces_equals_whole() {
    let data = fixture("version.txt");
    let mut sig = DetachedSig::parse("version.txt", &fixture("version.txt.sig")).unwrap();
    sig.update(b"garbage before a restart");
    sig.reset();
    for chunk in data.chunks(7) {
        sig.update(chunk);
    }
    sig.verify(&flatcar_key()).unwrap();
}

#[test]
fn real_version_txt_parses() {
    let text = String::from_utf8(fixture("version.txt")).unwrap();
    assert_eq!(parse_version_txt(&text).unwrap(), "723.1.0");
}

/// A key file may hold other keys before the pinned one, in one armored
/// block or several, or binary: the pinned one is found and verifies.
#[test]
fn the_pinned_key_is_found_among_others() {
    let flatcar = fixture("Flatcar_Image_Signing_Key.asc");
    let mut two_blocks = another_key();
    two_blocks.extend_from_slice(&flatcar);
    let key = SigningKey::parse(&two_blocks, FLATCAR_SIGNING_KEY_FINGERPRINT).unwrap();
    let mut sig = DetachedSig::parse("version.txt", &fixture("version.txt.sig")).unwrap();
    sig.update(&fixture("version.txt"));
    sig.verify(&key).unwrap();

    let only_another = SigningKey::parse(&another_key(), FLATCAR_SIGNING_KEY_FINGERPRINT);
    let err = only_another
        .err()
        .expect("another key is not the pinned one")
        .to_string();
    assert!(err.contains("is not the pinned"), "{err}");
}
