//! Authentication of GBCS messages: device and User signatures, MACs, payload decryption, and
//! building MAC-wrapped commands (PROTOCOLS.md §4.7–4.11).
//!
//! Everything works on slices of the parsed input ([`Message::regions`]): nothing is
//! re-encoded, keys come parsed from the [`Store`], and ECDH results come from the
//! [`DerivedKeyCache`].

use crate::crypto::{
    self, CryptoError, DerivedKey, DerivedKeyCache, KeyAgreementKey, PeerKey, SigningKey, cipher,
    gmac,
};
use crate::smki::{KeyEntry, Store, Usage};

use super::frame::{self, Cra, GbcsError, MAC_AAD_PREFIX, MAC_LEN, Message, SignatureField};
use super::payload::{self, EncryptedBlock, PayloadError};

/// The ACB (Access Control Broker) EUI of the ZAZ1 test PKI and the RTDS corpus.
pub const TEST_ACB: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x00, 0x00, 0x02];

/// Errors from authentication that are not verdicts about the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The bytes given to a builder are not a GBCS APDU of the right kind (caller's input).
    #[error("not a usable GBCS APDU: {0}")]
    Frame(#[from] GbcsError),
    /// The Pre-Command already carries a signature (caller's input).
    #[error("the Pre-Command is already signed")]
    AlreadySigned,
    /// The payload could not be decoded to locate encrypted blocks (message input).
    #[error("payload: {0}")]
    Payload(#[from] PayloadError),
    /// The APDU to MAC-wrap is itself MAC-wrapped (caller's input).
    #[error("the APDU is already MAC-wrapped")]
    AlreadyWrapped,
    /// An inconsistency on our side.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// The crypto library failed (our fault).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Outcome of checking a message's ECDSA signature.
#[derive(Debug, Clone, Copy)]
pub enum SignatureVerdict<'s> {
    /// The signature verifies with this DS key of the grouping-header originator.
    Verified {
        /// The key (and certificate) that verified it.
        signer: &'s KeyEntry,
    },
    /// No DS key of the originator verifies it.
    Failed,
    /// No DS certificate is held for the originator.
    NoKey,
    /// The signature length byte is `00`.
    Null,
    /// The message has no signature field (a Pre-Command).
    Absent,
}

impl SignatureVerdict<'_> {
    /// The oracle's word for the verdict: `verified`, `failed`, `no-key`, `null`, `absent`.
    pub fn name(&self) -> &'static str {
        match self {
            SignatureVerdict::Verified { .. } => "verified",
            SignatureVerdict::Failed => "failed",
            SignatureVerdict::NoKey => "no-key",
            SignatureVerdict::Null => "null",
            SignatureVerdict::Absent => "absent",
        }
    }

    /// The signer certificate's label (file name or `keystore.json:<name>`), when verified.
    pub fn signer_label(&self) -> Option<&str> {
        match self {
            SignatureVerdict::Verified { signer } => signer.public_label(),
            _ => None,
        }
    }
}

/// Outcome of checking a message's MAC.
#[derive(Debug, Clone, Copy)]
pub enum MacVerdict<'s> {
    /// The MAC verifies with the key derived from this key pair.
    Valid {
        /// The party whose private key-agreement key was used.
        private: &'s KeyEntry,
        /// The other party's key-agreement certificate (or public key).
        public: &'s KeyEntry,
    },
    /// Key pairs were available and none verifies the MAC.
    Invalid,
    /// No private key-agreement key is held for either party (with the other's public key).
    NoKey,
    /// The message is not MAC-wrapped.
    None,
}

impl MacVerdict<'_> {
    /// The oracle's word for the verdict: `valid`, `invalid`, `no-key`, `none`.
    pub fn name(&self) -> &'static str {
        match self {
            MacVerdict::Valid { .. } => "valid",
            MacVerdict::Invalid => "invalid",
            MacVerdict::NoKey => "no-key",
            MacVerdict::None => "none",
        }
    }

    /// `private-key-label x public-key-label`, when valid.
    pub fn key_pair_label(&self) -> Option<String> {
        match self {
            MacVerdict::Valid { private, public } => Some(pair_label(private, public)),
            _ => None,
        }
    }
}

/// An encrypted block of a payload and what became of it.
#[derive(Debug, Clone)]
pub struct DecryptedBlock<'s> {
    /// Where the block is, as byte offsets into the whole message.
    pub block: EncryptedBlock,
    /// The result.
    pub outcome: BlockOutcome<'s>,
}

/// Result of decrypting one block.
#[derive(Debug, Clone)]
pub enum BlockOutcome<'s> {
    /// The tag verified and this is the plaintext.
    Decrypted {
        /// The party whose private key-agreement key was used.
        private: &'s KeyEntry,
        /// The other party's key-agreement certificate (or public key).
        public: &'s KeyEntry,
        /// The plaintext.
        plaintext: Vec<u8>,
    },
    /// No key pair is held for the two parties.
    NoKey,
    /// No key pair gives a tag that verifies.
    NotDecrypted,
}

impl DecryptedBlock<'_> {
    /// The plaintext, when decrypted.
    pub fn plaintext(&self) -> Option<&[u8]> {
        match &self.outcome {
            BlockOutcome::Decrypted { plaintext, .. } => Some(plaintext),
            _ => None,
        }
    }

    /// `private-key-label x public-key-label`, when decrypted.
    pub fn key_pair_label(&self) -> Option<String> {
        match &self.outcome {
            BlockOutcome::Decrypted {
                private, public, ..
            } => Some(pair_label(private, public)),
            _ => None,
        }
    }
}

/// Verifies the ECDSA signature with the DS key(s) of the grouping-header originator
/// (PROTOCOLS.md §4.7). The signed bytes are [`Message::signed_bytes`]. Every DS key held for
/// the originator is tried, best label first.
pub fn verify_signature<'s>(msg: &Message<'_>, store: &'s Store) -> SignatureVerdict<'s> {
    let sig = match msg.signature {
        SignatureField::Absent => return SignatureVerdict::Absent,
        SignatureField::Null => return SignatureVerdict::Null,
        SignatureField::Present(sig) => sig,
    };
    let signed = msg.signed_bytes();
    let mut tried = false;
    for entry in store.public_keys(&msg.header.originator, Usage::DigitalSignature) {
        tried = true;
        if entry.verifying_key().verify(signed, sig).is_ok() {
            return SignatureVerdict::Verified { signer: entry };
        }
    }
    if tried {
        SignatureVerdict::Failed
    } else {
        SignatureVerdict::NoKey
    }
}

/// The two parties whose key-agreement keys protect a message's MAC (PROTOCOLS.md §4.8): the
/// ACB and the recipient for a command whose originator is not a device, otherwise the
/// originator and the recipient.
pub fn mac_parties(msg: &Message<'_>, store: &Store, acb: &[u8; 8]) -> ([u8; 8], [u8; 8]) {
    let h = &msg.header;
    if h.cra == Cra::Command && !store.is_device(&h.originator) {
        (*acb, h.recipient)
    } else {
        (h.originator, h.recipient)
    }
}

/// Verifies the 12-byte GMAC of a MAC-wrapped message (PROTOCOLS.md §4.8).
///
/// Key pairs are tried in both directions (a private key held for either party with a public
/// key of the other), every candidate of each. OtherInfo comes from the grouping header
/// (originator, CRA as mode, counter, recipient); the AAD is `11 00 00 00 00 00` ‖ the APDU;
/// the IV is the originator ‖ `00000000`. ECDH results come from `cache`.
pub fn verify_mac<'s>(
    msg: &Message<'_>,
    store: &'s Store,
    acb: &[u8; 8],
    cache: &DerivedKeyCache,
) -> Result<MacVerdict<'s>, AuthError> {
    let Some(received) = msg.mac else {
        return Ok(MacVerdict::None);
    };
    let h = &msg.header;
    let (a, b) = mac_parties(msg, store, acb);
    let other = crypto::OtherInfo::new(&h.originator, h.cra.byte(), h.counter, &h.recipient);
    let aad: [&[u8]; 2] = [&MAC_AAD_PREFIX, msg.apdu()];
    let mut tried = false;
    for (private, public) in key_pairs(store, &a, &b) {
        let Some(local) = private.agreement_key() else {
            continue;
        };
        tried = true;
        let key = cache.derive(local, public.peer_key(), &other)?;
        match gmac::verify(&key, &h.originator, &aad, received) {
            Ok(()) => return Ok(MacVerdict::Valid { private, public }),
            Err(CryptoError::VerificationFailed(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(if tried {
        MacVerdict::Invalid
    } else {
        MacVerdict::NoKey
    })
}

/// Finds the encrypted blocks of the payload (by decoding it, [`payload::decode_with`]) and
/// decrypts each (PROTOCOLS.md §4.9).
///
/// The key uses KDF mode `04` and ECDH between the originator (the device) and the
/// supplementary remote party if there is one, else the recipient; the OtherInfo counter is
/// the supplementary originator counter if present, else the originator counter, and its
/// party V is the party used for ECDH. AES-128-GCM, IV = originator ‖ `00000000`, AAD `31`,
/// 12-byte tag. Every key pair held for the two parties is tried.
pub fn decrypt_blocks<'s>(
    msg: &Message<'_>,
    store: &'s Store,
    cache: &DerivedKeyCache,
) -> Result<Vec<DecryptedBlock<'s>>, AuthError> {
    let decoded = payload::decode_with(msg.content, payload::Context::for_message(msg))?;
    let blocks = decoded.encrypted_blocks();
    decrypt_located(msg, store, cache, blocks)
}

/// Like [`decrypt_blocks`], for blocks already located (ranges relative to the content).
pub fn decrypt_located<'s>(
    msg: &Message<'_>,
    store: &'s Store,
    cache: &DerivedKeyCache,
    blocks: Vec<EncryptedBlock>,
) -> Result<Vec<DecryptedBlock<'s>>, AuthError> {
    if blocks.is_empty() {
        return Ok(Vec::new());
    }
    let h = &msg.header;
    let party_v = h
        .other_info
        .supplementary
        .remote_party()
        .unwrap_or(h.recipient);
    let counter = h
        .other_info
        .supplementary
        .originator_counter()
        .unwrap_or(h.counter);
    let other = crypto::OtherInfo::new(
        &h.originator,
        crypto::kdf::MODE_ENCRYPTION,
        counter,
        &party_v,
    );
    let mut keys: Vec<(&'s KeyEntry, &'s KeyEntry, DerivedKey)> = Vec::new();
    for (private, public) in key_pairs(store, &h.originator, &party_v) {
        if let Some(local) = private.agreement_key() {
            keys.push((
                private,
                public,
                cache.derive(local, public.peer_key(), &other)?,
            ));
        }
    }
    let base = msg.regions.content.start;
    let mut out = Vec::with_capacity(blocks.len());
    for mut block in blocks {
        let (Some(ct), Some(tag)) = (
            msg.content.get(block.ciphertext.clone()),
            msg.content.get(block.tag.clone()),
        ) else {
            return Err(AuthError::Internal(
                "encrypted block range outside the content",
            ));
        };
        let mut outcome = if keys.is_empty() {
            BlockOutcome::NoKey
        } else {
            BlockOutcome::NotDecrypted
        };
        for (i, (private, public, key)) in keys.iter().enumerate() {
            match cipher::decrypt(key, &h.originator, ct, tag) {
                Ok(plaintext) => {
                    outcome = BlockOutcome::Decrypted {
                        private,
                        public,
                        plaintext,
                    };
                    // Later blocks of the message most likely use the same key.
                    keys.swap(0, i);
                    break;
                }
                Err(e) if e.is_input_error() => {}
                Err(e) => return Err(e.into()),
            }
        }
        block.shift(base);
        out.push(DecryptedBlock { block, outcome });
    }
    Ok(out)
}

/// Signs a Pre-Command as a User does (PROTOCOLS.md §4.7): drops a null signature byte if
/// the DCC appended one, signs everything after the `DF` tag, and returns
/// `precommand ‖ 40 ‖ r‖s`.
pub fn sign_precommand(precommand: &[u8], key: &SigningKey) -> Result<Vec<u8>, AuthError> {
    let body = unsigned_precommand(precommand)?;
    let sig = key.try_sign(&body[1..])?;
    Ok(append_signature(body, &sig))
}

/// Adds a given signature to a Pre-Command: `precommand ‖ 40 ‖ signature` (a trailing null
/// signature byte is dropped first). The signature is not checked.
pub fn attach_signature(precommand: &[u8], signature: &[u8; 64]) -> Result<Vec<u8>, AuthError> {
    Ok(append_signature(
        unsigned_precommand(precommand)?,
        signature,
    ))
}

/// MAC-wraps a general-signing APDU (signed, or with a null signature) as the DCC does:
/// `DD 00×6 ‖ L ‖ 11 00000000 ‖ apdu ‖ MAC`. The key comes from `local` (the ACB's
/// key-agreement key) and `device` (the recipient device's KA public key); OtherInfo from the
/// APDU's grouping header.
pub fn mac_wrap(
    apdu: &[u8],
    local: &KeyAgreementKey,
    device: &PeerKey,
    cache: &DerivedKeyCache,
) -> Result<Vec<u8>, AuthError> {
    let parsed = frame::parse(apdu)?;
    if parsed.is_mac_wrapped() {
        return Err(AuthError::AlreadyWrapped);
    }
    let h = &parsed.header;
    let other = crypto::OtherInfo::new(&h.originator, h.cra.byte(), h.counter, &h.recipient);
    let key = cache.derive(local, device, &other)?;
    let mac: [u8; MAC_LEN] = gmac::compute(&key, &h.originator, &[&MAC_AAD_PREFIX, apdu])?;
    Ok(frame::encode_mac_wrapper(apdu, &mac))
}

/// Builds a Command from a Pre-Command: signs it with the User's DS key, then MAC-wraps it
/// with the ACB's KA key and the device's KA public key.
///
/// ECDSA is randomised, so the signature (and therefore the MAC) differs on every call; see
/// [`build_command_with_signature`] to reproduce a known Command.
pub fn build_command(
    precommand: &[u8],
    user_ds: &SigningKey,
    acb_ka: &KeyAgreementKey,
    device_ka: &PeerKey,
    cache: &DerivedKeyCache,
) -> Result<Vec<u8>, AuthError> {
    let signed = sign_precommand(precommand, user_ds)?;
    mac_wrap(&signed, acb_ka, device_ka, cache)
}

/// Like [`build_command`], with the signature given.
pub fn build_command_with_signature(
    precommand: &[u8],
    signature: &[u8; 64],
    acb_ka: &KeyAgreementKey,
    device_ka: &PeerKey,
    cache: &DerivedKeyCache,
) -> Result<Vec<u8>, AuthError> {
    let signed = attach_signature(precommand, signature)?;
    mac_wrap(&signed, acb_ka, device_ka, cache)
}

/// Key pairs for ECDH between parties `a` and `b`: `a`'s private keys with `b`'s public keys,
/// then `b`'s private keys with `a`'s public keys, best labels first.
fn key_pairs<'s>(
    store: &'s Store,
    a: &[u8; 8],
    b: &[u8; 8],
) -> impl Iterator<Item = (&'s KeyEntry, &'s KeyEntry)> {
    one_way_pairs(store, *a, *b).chain(one_way_pairs(store, *b, *a))
}

/// `x`'s private key-agreement keys with `y`'s public ones.
fn one_way_pairs(
    store: &Store,
    x: [u8; 8],
    y: [u8; 8],
) -> impl Iterator<Item = (&KeyEntry, &KeyEntry)> {
    store
        .private_keys(&x, Usage::KeyAgreement)
        .flat_map(move |p| {
            store
                .public_keys(&y, Usage::KeyAgreement)
                .map(move |q| (p, q))
        })
}

fn pair_label(private: &KeyEntry, public: &KeyEntry) -> String {
    format!(
        "{} x {}",
        private.private_label().unwrap_or("?"),
        public.public_label().unwrap_or("?")
    )
}

/// The Pre-Command bytes without a trailing null signature; an error if it is not a bare,
/// unsigned `DF` command.
fn unsigned_precommand(precommand: &[u8]) -> Result<Vec<u8>, AuthError> {
    let parsed = frame::parse(precommand)?;
    if parsed.is_mac_wrapped() {
        return Err(AuthError::AlreadyWrapped);
    }
    match parsed.signature {
        SignatureField::Absent => Ok(precommand.to_vec()),
        SignatureField::Null => Ok(precommand[..precommand.len() - 1].to_vec()),
        SignatureField::Present(_) => Err(AuthError::AlreadySigned),
    }
}

fn append_signature(mut body: Vec<u8>, sig: &[u8; 64]) -> Vec<u8> {
    body.reserve(1 + sig.len());
    body.push(0x40);
    body.extend_from_slice(sig);
    body
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::hex;
    use base64::Engine as _;

    fn store() -> Store {
        Store::load_conformance(&crate::conformance::require()).unwrap()
    }

    /// The two MAC vectors of the gbcs-parser unit tests ("gbcs-sme.c.nc" command and
    /// response), where `abababababababab` plays the ACB.
    #[test]
    fn unit_test_mac_vectors_with_another_acb() {
        let s = store();
        let cache = DerivedKeyCache::default();
        let acb = hex::parse_eui("abababababababab").unwrap();
        for (text, label) in [
            (
                "DD000000000000541100000000DF0901000000000000000208123456789ABCDEF0\
                 08FFFFFFFFFFFFFFFE0002002220D920000002000102000100005E2C0302020109\
                 0C07DF0105FF000000008000FF000F1DD00D6745EBD8E0A663A4",
                "abababababababab-ka.key x fffffffffffffffe-ka.pem",
            ),
            (
                "DD000000000000401100000000DF0902000000000000000208FFFFFFFFFFFFFFFE\
                 08123456789ABCDEF0000200220CDA2000000200000100010200000B3C1B312CEAE9C130060E29",
                "123456789abcdef0-ka.key x fffffffffffffffe-ka.pem",
            ),
        ] {
            let bytes = hex::decode(text).unwrap();
            let m = frame::parse(&bytes).unwrap();
            let v = verify_mac(&m, &s, &acb, &cache).unwrap();
            assert_eq!(v.key_pair_label().as_deref(), Some(label));
            // With the corpus ACB, the command's MAC is tried with the wrong key pair.
            if m.header.cra == Cra::Command {
                assert!(matches!(
                    verify_mac(&m, &s, &TEST_ACB, &cache).unwrap(),
                    MacVerdict::Invalid
                ));
            }
        }
    }

    /// The device-signed CS06 response carried by the 8.13 DUIS template.
    #[test]
    fn cs06_response_from_the_duis_template() {
        let path = crate::conformance::require()
            .join("duis/templates/8.13_RETURN_LOCAL_COMMAND_RESPONSE_CS06_REQUEST_DUIS.XML");
        let xml = std::fs::read_to_string(path).unwrap();
        let start = xml.find("DeviceGBCSResponse>").unwrap() + "DeviceGBCSResponse>".len();
        let end = start + xml[start..].find('<').unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(xml[start..end].trim())
            .unwrap();
        let m = frame::parse(&bytes).unwrap();
        let s = store();
        let v = verify_signature(&m, &s);
        assert_eq!(v.signer_label(), Some("00db1234567890a0-ds.pem"));
        assert_eq!(v.name(), "verified");
    }

    #[test]
    fn worked_example_mac_and_verdict_names() {
        let bytes = hex::decode(
            "DD0000000000004C1100000000DF090200000000000003E90800DB1234567890A00890B3D51F30010000\
             0C07DF0101FF000000008000FF0200270CDA200003E90000010001030100A56C9AB1129E72330FF1A08A",
        )
        .unwrap();
        let m = frame::parse(&bytes).unwrap();
        let s = store();
        let cache = DerivedKeyCache::new(4);
        let v = verify_mac(&m, &s, &TEST_ACB, &cache).unwrap();
        assert_eq!(
            v.key_pair_label().as_deref(),
            Some("90b3d51f30010000-ka.key x 00db1234567890a0-ka.pem")
        );
        assert_eq!(v.name(), "valid");
        assert_eq!(verify_signature(&m, &s).name(), "null");
        assert_eq!(
            mac_parties(&m, &s, &TEST_ACB),
            (m.header.originator, m.header.recipient)
        );
        // Verifying twice runs ECDH once.
        verify_mac(&m, &s, &TEST_ACB, &cache).unwrap();
        assert_eq!(cache.stats().misses, 1);
        assert!(decrypt_blocks(&m, &s, &cache).unwrap().is_empty());
    }

    #[test]
    fn builders_reject_unsuitable_input() {
        let s = store();
        let cache = DerivedKeyCache::default();
        let acb = s
            .private_keys(&TEST_ACB, Usage::KeyAgreement)
            .next()
            .unwrap();
        let device = s
            .public_keys(
                &hex::parse_eui("00db1234567890a0").unwrap(),
                Usage::KeyAgreement,
            )
            .next()
            .unwrap();
        let user = s
            .private_keys(
                &hex::parse_eui("90b3d51f30010000").unwrap(),
                Usage::DigitalSignature,
            )
            .next()
            .unwrap();
        let (acb_ka, device_ka, user_ds) = (
            acb.agreement_key().unwrap(),
            device.peer_key(),
            user.signing_key().unwrap(),
        );
        // A minimal Pre-Command: supplier -> ESME, message code 0027, content 01 02.
        let pre = hex::decode(
            "DF0901 00000000000003E9 08 90B3D51F30010000 08 00DB1234567890A0 00 02 0027 02 0102",
        )
        .unwrap();
        let cmd = build_command(&pre, user_ds, acb_ka, device_ka, &cache).unwrap();
        let m = frame::parse(&cmd).unwrap();
        assert_eq!(
            verify_signature(&m, &s).signer_label(),
            Some("90b3d51f30010000-ds.pem")
        );
        assert_eq!(
            verify_mac(&m, &s, &TEST_ACB, &cache)
                .unwrap()
                .key_pair_label()
                .as_deref(),
            Some("90b3d51f30000002-ka.key x 00db1234567890a0-ka.pem")
        );
        // A trailing null signature is dropped before signing.
        let mut pre_null = pre.clone();
        pre_null.push(0x00);
        let sig = [7u8; 64];
        assert_eq!(
            attach_signature(&pre_null, &sig).unwrap(),
            attach_signature(&pre, &sig).unwrap()
        );
        // Already signed, already wrapped, not GBCS.
        let signed = attach_signature(&pre, &sig).unwrap();
        assert_eq!(
            sign_precommand(&signed, user_ds),
            Err(AuthError::AlreadySigned)
        );
        assert_eq!(
            mac_wrap(&cmd, acb_ka, device_ka, &cache),
            Err(AuthError::AlreadyWrapped)
        );
        assert!(matches!(
            build_command(&[0x01, 0x02], user_ds, acb_ka, device_ka, &cache),
            Err(AuthError::Frame(_))
        ));
    }
}
