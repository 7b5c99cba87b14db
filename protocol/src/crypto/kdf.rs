//! P-256 ECDH and the GBCS key derivation (PROTOCOLS.md §4.8, §4.9).
//!
//! Key = the first 16 bytes of SHA-256(`00000001` ‖ Z ‖ OtherInfo), the one-round NIST
//! SP 800-56A concatenation KDF, where Z is the x-coordinate of the ECDH shared point.

use aws_lc_rs::aead::{AES_128_GCM, LessSafeKey, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;

use super::encoding;
use super::{CryptoError, KeyId, VerifyingKey};

/// Length of the KDF OtherInfo.
pub const OTHER_INFO_LEN: usize = 33;

/// AlgorithmID at the start of OtherInfo: the DER body of OID 2.16.756.5.8.3.0
/// (DLMS UA AES-GCM-128).
pub const ALGORITHM_ID: [u8; 7] = [0x60, 0x85, 0x74, 0x06, 0x08, 0x03, 0x00];

/// KDF mode byte for payload encryption (the MAC modes equal the CRA flag: 1, 2, 3).
pub const MODE_ENCRYPTION: u8 = 0x04;

/// Length of a derived AES-128 key.
pub const KEY_LEN: usize = 16;

/// The 33-byte KDF OtherInfo:
/// `60 85 74 06 08 03 00 ‖ originator(8) ‖ 09 ‖ mode ‖ counter(8, BE) ‖ recipient(8)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OtherInfo([u8; OTHER_INFO_LEN]);

impl OtherInfo {
    /// Builds OtherInfo from its parts. `mode` is the CRA flag for MACs, or
    /// [`MODE_ENCRYPTION`].
    pub fn new(originator: &[u8; 8], mode: u8, counter: u64, recipient: &[u8; 8]) -> Self {
        let mut b = [0u8; OTHER_INFO_LEN];
        b[..7].copy_from_slice(&ALGORITHM_ID);
        b[7..15].copy_from_slice(originator);
        b[15] = 0x09;
        b[16] = mode;
        b[17..25].copy_from_slice(&counter.to_be_bytes());
        b[25..33].copy_from_slice(recipient);
        OtherInfo(b)
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8; OTHER_INFO_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for OtherInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OtherInfo({})", crate::hex::encode(&self.0))
    }
}

/// The ECDH shared secret Z (the 32-byte x-coordinate). Its `Debug` output is redacted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SharedSecret([u8; 32]);

impl SharedSecret {
    /// Wraps a known Z (for test vectors).
    pub fn from_bytes(z: [u8; 32]) -> Self {
        SharedSecret(z)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

/// A derived AES-128 key, with its AES-GCM key schedule prepared.
pub struct DerivedKey {
    bytes: [u8; KEY_LEN],
    aead: LessSafeKey,
}

impl DerivedKey {
    /// Wraps raw key bytes (for test vectors and for keys obtained elsewhere).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        // A 16-byte key is always valid for AES-128-GCM.
        let unbound =
            UnboundKey::new(&AES_128_GCM, &bytes).expect("AES_128_GCM accepts every 16-byte key");
        DerivedKey {
            bytes,
            aead: LessSafeKey::new(unbound),
        }
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    pub(crate) fn aead(&self) -> &LessSafeKey {
        &self.aead
    }
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey(..)")
    }
}

/// Runs the KDF: the first 16 bytes of SHA-256(`00000001` ‖ Z ‖ OtherInfo).
pub fn derive_key(z: &SharedSecret, other_info: &OtherInfo) -> DerivedKey {
    let mut input = [0u8; 4 + 32 + OTHER_INFO_LEN];
    input[..4].copy_from_slice(&[0, 0, 0, 1]);
    input[4..36].copy_from_slice(&z.0);
    input[36..].copy_from_slice(&other_info.0);
    let d = digest::digest(&digest::SHA256, &input);
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&d.as_ref()[..KEY_LEN]);
    DerivedKey::from_bytes(key)
}

/// A P-256 key-agreement private key (the local side of ECDH).
pub struct KeyAgreementKey {
    key: PrivateKey,
    public_id: KeyId,
}

impl KeyAgreementKey {
    /// Loads a private key from PKCS#8 DER, SEC1 (RFC 5915) DER, or PEM holding either.
    pub fn from_pem_or_der(input: &[u8]) -> Result<Self, CryptoError> {
        Self::from_der(&encoding::private_key_der(input)?)
    }

    /// Loads a private key from PKCS#8 or SEC1 DER.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let key = PrivateKey::from_private_key_der(&ECDH_P256, der)
            .map_err(|e| CryptoError::key("P-256 key-agreement private key", e))?;
        let public = key
            .compute_public_key()
            .map_err(|_| CryptoError::Internal("computing an ECDH public key"))?;
        let spki = public
            .as_der()
            .map_err(|_| CryptoError::Internal("encoding an ECDH public key"))?;
        Ok(KeyAgreementKey {
            key,
            public_id: KeyId::of_canonical_spki(spki.as_ref()),
        })
    }

    /// The identifier of the matching public key.
    pub fn public_key_id(&self) -> KeyId {
        self.public_id
    }

    /// ECDH with `peer`: returns Z, the x-coordinate of the shared point. Costs about 50 µs;
    /// see [`super::DerivedKeyCache`] to avoid repeating it.
    pub fn agree(&self, peer: &PeerKey) -> Result<SharedSecret, CryptoError> {
        super::ops::count(super::ops::Op::Ecdh);
        // `agree` consumes the parsed peer key; the clone only bumps a reference count.
        agreement::agree(
            &self.key,
            peer.key.clone(),
            CryptoError::key("ECDH peer public key", "rejected by key agreement"),
            |z| {
                let z: [u8; 32] = z
                    .try_into()
                    .map_err(|_| CryptoError::Internal("ECDH P-256 secret length"))?;
                Ok(SharedSecret(z))
            },
        )
    }
}

impl std::fmt::Debug for KeyAgreementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAgreementKey")
            .field("public_key_id", &self.public_id)
            .finish_non_exhaustive()
    }
}

/// A peer's P-256 key-agreement public key, parsed once.
#[derive(Clone)]
pub struct PeerKey {
    key: agreement::ParsedPublicKey,
    id: KeyId,
}

impl PeerKey {
    /// Parses a SubjectPublicKeyInfo DER or a SEC1 point (compressed or uncompressed).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        // Parse through the signature API first: it validates the point and gives the
        // canonical SPKI, from which the id comes, so that ids agree with `VerifyingKey`.
        let id = VerifyingKey::from_bytes(bytes)?.id();
        let unparsed = agreement::UnparsedPublicKey::new(&ECDH_P256, bytes);
        let key = agreement::ParsedPublicKey::try_from(&unparsed)
            .map_err(|e| CryptoError::key("P-256 key-agreement public key", e))?;
        Ok(PeerKey { key, id })
    }

    /// Parses a SubjectPublicKeyInfo, as DER or as a PEM `PUBLIC KEY` block.
    pub fn from_spki(input: &[u8]) -> Result<Self, CryptoError> {
        Self::from_bytes(&encoding::public_key_der(input)?)
    }

    /// The key's identifier.
    pub fn id(&self) -> KeyId {
        self.id
    }
}

impl std::fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerKey").field("id", &self.id).finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::hex;

    fn eui(s: &str) -> [u8; 8] {
        hex::parse_eui(s).unwrap()
    }

    fn keystore(name: &str) -> Vec<u8> {
        std::fs::read(
            crate::conformance::require()
                .join("gbcs/keystore")
                .join(name),
        )
        .unwrap()
    }

    /// The device KA public key from its certificate (the SPKI sits inside the PEM
    /// certificate; the SMKI module parses it properly, here we take it via x509-parser).
    fn device_ka(name: &str) -> PeerKey {
        let pem = keystore(name);
        let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
        let cert = p.parse_x509().unwrap();
        PeerKey::from_bytes(cert.public_key().raw).unwrap()
    }

    #[test]
    fn other_info_layout() {
        let oi = OtherInfo::new(&eui("00db1234567890a0"), 2, 0x3e9, &eui("90b3d51f30010000"));
        assert_eq!(
            hex::encode(oi.as_bytes()),
            "6085740608030000db1234567890a0090200000000000003e990b3d51f30010000"
        );
    }

    #[test]
    fn kdf_vector_acb_device_command() {
        // PROTOCOLS.md §4.8 (gbcs-parser crypto tests): ACB x device, command.
        let acb = KeyAgreementKey::from_pem_or_der(&keystore("90b3d51f30000002-ka.key")).unwrap();
        let device = device_ka("00db1234567890a0-ka.pem");
        let z = acb.agree(&device).unwrap();
        let oi = OtherInfo::new(
            &eui("90b3d51f30010000"),
            1,
            0x0000_0001_0000_0000,
            &eui("00db1234567890a0"),
        );
        let key = derive_key(&z, &oi);
        assert_eq!(
            hex::encode(key.as_bytes()),
            "6a93e360717394015df93e031218c9a6"
        );
    }

    #[test]
    fn worked_example_command_key() {
        // PROTOCOLS.md §4.8: the ECS17b error command, ACB x device, counter 1001.
        let acb = KeyAgreementKey::from_pem_or_der(&keystore("90b3d51f30000002-ka.key")).unwrap();
        let z = acb.agree(&device_ka("00db1234567890a0-ka.pem")).unwrap();
        let oi = OtherInfo::new(&eui("90b3d51f30010000"), 1, 1001, &eui("00db1234567890a0"));
        assert_eq!(
            hex::encode(derive_key(&z, &oi).as_bytes()),
            "82ed5e3f1f6c761c0df6705b64e21088"
        );
    }

    #[test]
    fn worked_example_z_and_key() {
        // PROTOCOLS.md §4.8 worked example: supplier KA private x device KA certificate.
        let supplier =
            KeyAgreementKey::from_pem_or_der(&keystore("90b3d51f30010000-ka.key")).unwrap();
        let device = device_ka("00db1234567890a0-ka.pem");
        let z = supplier.agree(&device).unwrap();
        assert_eq!(
            hex::encode(z.as_bytes()),
            "42da8fad4c8c9d613976f39f1e79ccc88571efa43933d57146b533bc6d253e0f"
        );
        let oi = OtherInfo::new(&eui("00db1234567890a0"), 2, 1001, &eui("90b3d51f30010000"));
        assert_eq!(
            hex::encode(derive_key(&z, &oi).as_bytes()),
            "dd3b977cef673a093aa147641829b06e"
        );
    }

    #[test]
    fn ecdh_is_symmetric_and_ids_match() {
        let gen_pkcs8 = || {
            aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &aws_lc_rs::rand::SystemRandom::new(),
            )
            .unwrap()
        };
        let (a8, b8) = (gen_pkcs8(), gen_pkcs8());
        let a = KeyAgreementKey::from_der(a8.as_ref()).unwrap();
        let b = KeyAgreementKey::from_der(b8.as_ref()).unwrap();
        let a_sign = super::super::SigningKey::from_der(a8.as_ref()).unwrap();
        assert_eq!(a.public_key_id(), a_sign.public_key_id());
        let pub_of = |der: &[u8]| {
            let s = super::super::SigningKey::from_der(der).unwrap();
            let kp = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                der,
            )
            .unwrap();
            use aws_lc_rs::signature::KeyPair;
            let p = PeerKey::from_bytes(kp.public_key().as_ref()).unwrap();
            assert_eq!(p.id(), s.public_key_id());
            p
        };
        let (pa, pb) = (pub_of(a8.as_ref()), pub_of(b8.as_ref()));
        assert_eq!(a.agree(&pb).unwrap(), b.agree(&pa).unwrap());
        assert!(PeerKey::from_bytes(&[4u8; 65]).is_err());
    }
}
