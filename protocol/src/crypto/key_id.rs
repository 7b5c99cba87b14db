//! Stable identifiers for public keys, used to index stores and caches.

use aws_lc_rs::digest;

/// Identifies a P-256 public key: SHA-256 of its canonical SubjectPublicKeyInfo DER.
///
/// The SPKI is re-encoded by aws-lc from the parsed point before hashing, so the same key read
/// from a certificate, a bare `PUBLIC KEY` file, a SEC1 point (compressed or not) or derived
/// from its private key always gets the same id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 32]);

impl KeyId {
    /// The id of a key given by its canonical SPKI DER encoding.
    pub fn of_canonical_spki(spki_der: &[u8]) -> Self {
        let d = digest::digest(&digest::SHA256, spki_der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        KeyId(out)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl std::fmt::Display for KeyId {
    /// The first eight bytes in hex: enough to tell keys apart in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::hex::encode(&self.0[..8]))
    }
}
