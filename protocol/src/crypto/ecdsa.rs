//! ECDSA P-256 with SHA-256 and raw `r‖s` signatures (PROTOCOLS.md §4.7).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    ParsedPublicKey,
};

use super::encoding;
use super::{CryptoError, KeyId};

/// Length of a raw P-256 signature: `r` and `s`, 32 bytes each, big-endian.
pub const SIGNATURE_LEN: usize = 64;

/// A P-256 public key parsed once and ready to verify many signatures.
///
/// Cheap to clone (the parsed key is reference-counted) and safe to share between threads.
#[derive(Clone)]
pub struct VerifyingKey {
    key: ParsedPublicKey,
    id: KeyId,
}

impl VerifyingKey {
    /// Parses a SubjectPublicKeyInfo DER or a SEC1 point (compressed or uncompressed).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, bytes)
            .map_err(|e| CryptoError::key("P-256 public key", e))?;
        let spki = key
            .as_der()
            .map_err(|_| CryptoError::Internal("re-encoding a parsed public key"))?;
        let id = KeyId::of_canonical_spki(spki.as_ref());
        Ok(VerifyingKey { key, id })
    }

    /// Parses a SubjectPublicKeyInfo, as DER or as a PEM `PUBLIC KEY` block.
    pub fn from_spki(input: &[u8]) -> Result<Self, CryptoError> {
        Self::from_bytes(&encoding::public_key_der(input)?)
    }

    /// Parses a SEC1 point (`04 ‖ x ‖ y`, or the compressed form).
    pub fn from_sec1_point(point: &[u8]) -> Result<Self, CryptoError> {
        match point.first() {
            Some(0x02..=0x04) => Self::from_bytes(point),
            _ => Err(CryptoError::key("SEC1 point", "unknown point format")),
        }
    }

    /// Verifies a raw 64-byte `r‖s` signature over `msg` (hashed with SHA-256 here).
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        if signature.len() != SIGNATURE_LEN {
            return Err(CryptoError::InvalidLength {
                what: "ECDSA signature",
                expected: SIGNATURE_LEN,
                actual: signature.len(),
            });
        }
        super::ops::count(super::ops::Op::EcdsaVerify);
        self.key
            .verify_sig(msg, signature)
            .map_err(|_| CryptoError::VerificationFailed("ECDSA signature"))
    }

    /// The key's identifier.
    pub fn id(&self) -> KeyId {
        self.id
    }
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("id", &self.id)
            .finish()
    }
}

/// A P-256 private key for signing.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    verifying: VerifyingKey,
}

impl SigningKey {
    /// Loads a private key from PKCS#8 DER, SEC1 (RFC 5915) DER, or PEM holding either
    /// (`PRIVATE KEY` or `EC PRIVATE KEY`).
    pub fn from_pem_or_der(input: &[u8]) -> Result<Self, CryptoError> {
        Self::from_der(&encoding::private_key_der(input)?)
    }

    /// Loads a private key from PKCS#8 or SEC1 DER.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|e| CryptoError::key("P-256 private key", e))?;
        let verifying = VerifyingKey::from_bytes(pair.public_key().as_ref())?;
        Ok(SigningKey {
            pair,
            rng: SystemRandom::new(),
            verifying,
        })
    }

    /// Signs `msg` (hashed with SHA-256 here) and returns the raw `r‖s` signature.
    ///
    /// ECDSA is randomised: two signatures of the same message differ.
    pub fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        // The key pair was validated when loaded, so signing can fail only if the system
        // random generator fails, and aws-lc aborts the process in that case anyway.
        self.try_sign(msg)
            .expect("P-256 signing with a validated key cannot fail")
    }

    /// Like [`SigningKey::sign`], reporting a library failure instead of panicking.
    pub fn try_sign(&self, msg: &[u8]) -> Result<[u8; SIGNATURE_LEN], CryptoError> {
        super::ops::count(super::ops::Op::EcdsaSign);
        let sig = self
            .pair
            .sign(&self.rng, msg)
            .map_err(|_| CryptoError::Internal("ECDSA signing"))?;
        sig.as_ref()
            .try_into()
            .map_err(|_| CryptoError::Internal("ECDSA signature length"))
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// The identifier of the matching public key.
    pub fn public_key_id(&self) -> KeyId {
        self.verifying.id
    }

    /// The matching public key as an uncompressed SEC1 point (`04 ‖ x ‖ y`).
    pub fn public_point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key_id", &self.verifying.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::EcdsaKeyPair;

    fn fresh_key() -> SigningKey {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        SigningKey::from_der(pkcs8.as_ref()).unwrap()
    }

    #[test]
    fn sign_then_verify_and_reject_tampering() {
        let key = fresh_key();
        let msg = b"general-signing APDU bytes";
        let sig = key.sign(msg);
        let vk = key.verifying_key();
        vk.verify(msg, &sig).unwrap();
        let mut bad = sig;
        bad[10] ^= 1;
        assert_eq!(
            vk.verify(msg, &bad),
            Err(CryptoError::VerificationFailed("ECDSA signature"))
        );
        assert!(vk.verify(b"other", &sig).is_err());
        assert!(matches!(
            vk.verify(msg, &sig[..63]),
            Err(CryptoError::InvalidLength { .. })
        ));
    }

    #[test]
    fn same_key_same_id_from_every_encoding() {
        let key = fresh_key();
        let point = key.pair.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 65);
        let from_point = VerifyingKey::from_sec1_point(&point).unwrap();
        let spki = from_point.key.as_der().unwrap();
        let from_spki = VerifyingKey::from_spki(spki.as_ref()).unwrap();
        assert_eq!(from_point.id(), key.public_key_id());
        assert_eq!(from_spki.id(), key.public_key_id());
        assert!(VerifyingKey::from_sec1_point(&point[1..]).is_err());
        assert!(VerifyingKey::from_bytes(b"junk").is_err());
    }

    #[test]
    fn loads_pkcs8_pem_from_the_conformance_keystore() {
        let root = crate::conformance::require();
        let pem = std::fs::read(root.join("gbcs/keystore/90b3d51f30000002-ds.key")).unwrap();
        let key = SigningKey::from_pem_or_der(&pem).unwrap();
        let cert_msg = b"x";
        key.verifying_key()
            .verify(cert_msg, &key.sign(cert_msg))
            .unwrap();
        let der = std::fs::read(root.join("smki/Z1-supplier-ds.key")).unwrap();
        SigningKey::from_pem_or_der(&der).unwrap();
        assert!(SigningKey::from_pem_or_der(b"-----BEGIN PRIVATE KEY-----\n").is_err());
    }
}
