//! Authentication of responses and alerts from devices: the MAC and/or the device signature,
//! checked with the protocol crate against a key store handed in.

use std::sync::Arc;

use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::gbcs::auth::{self, MacVerdict, SignatureVerdict};
use hubgate_protocol::gbcs::{Message, SignatureField};
use hubgate_protocol::smki::{Store, Usage};

use crate::Eui;

/// What to do with a protection that this gateway holds no key to check.
///
/// A response addressed to a User is MAC'd with a key only that User (and the device) can
/// derive; a DCC that holds only its own ACB keys cannot check it, and the User does. With
/// the test PKI every key is held, so the safe default rejects what cannot be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unverifiable {
    /// Reject the message and count it as `no_key`.
    #[default]
    Reject,
    /// Pass the message on when it is addressed to a party the key store knows (it holds
    /// that party's key-agreement certificate, though not its private key): that recipient
    /// checks it. A message addressed to anyone else is rejected as `no_key`, and any
    /// protection that can be checked still must verify. What is passed on unchecked is
    /// marked so ([`Checked::Forwarded`]) and changes no state of the gateway's.
    Forward,
}

/// How a message that passed [`Verifier::check`] was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Its protection verified with keys this gateway holds.
    Verified,
    /// No held key could check it and it is addressed to a known party, who checks it
    /// ([`Unverifiable::Forward`]).
    Forwarded,
}

/// Why an inbound message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// The MAC does not verify with any key pair held for the two parties.
    #[error("MAC does not verify")]
    Mac,
    /// The signature does not verify with the originator's DS certificate(s).
    #[error("signature does not verify")]
    Signature,
    /// Neither a MAC nor a signature protects the message.
    #[error("neither MAC'd nor signed")]
    Unprotected,
    /// No key is held to check the protection, and the policy rejects that.
    #[error("no key to check the message")]
    NoKey,
    /// The crypto library failed (our fault, not the device's).
    #[error("internal crypto failure")]
    Internal,
}

impl AuthFailure {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::Mac => "mac",
            AuthFailure::Signature => "signature",
            AuthFailure::Unprotected => "unprotected",
            AuthFailure::NoKey => "no_key",
            AuthFailure::Internal => "internal",
        }
    }
}

/// Checks device responses and alerts (PROTOCOLS.md §4.7, §4.8, §4.10).
///
/// A MAC-wrapped message must carry a MAC that verifies; a message with a signature must carry
/// one that verifies with the originator's DS key; a message with neither is rejected. Shared
/// by every hub actor: the store is immutable and the cache is concurrent.
#[derive(Debug, Clone)]
pub struct Verifier {
    store: Arc<Store>,
    cache: Arc<DerivedKeyCache>,
    acb: Eui,
    unverifiable: Unverifiable,
}

impl Verifier {
    /// A verifier over `store`, caching ECDH results in `cache`. `acb` is the Access Control
    /// Broker's EUI (the MAC party for DCC-originated traffic).
    pub fn new(store: Arc<Store>, cache: Arc<DerivedKeyCache>, acb: Eui) -> Self {
        Verifier {
            store,
            cache,
            acb,
            unverifiable: Unverifiable::Reject,
        }
    }

    /// Sets the policy for protections no held key can check.
    pub fn with_unverifiable(mut self, policy: Unverifiable) -> Self {
        self.unverifiable = policy;
        self
    }

    /// The key store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Checks the message's MAC and signature.
    pub fn check(&self, msg: &Message<'_>) -> Result<Checked, AuthFailure> {
        let mut verified = false;
        let mut unchecked = false;
        if msg.is_mac_wrapped() {
            match auth::verify_mac(msg, &self.store, &self.acb, &self.cache) {
                Ok(MacVerdict::Valid { .. }) => verified = true,
                Ok(MacVerdict::Invalid) => return Err(AuthFailure::Mac),
                Ok(MacVerdict::NoKey) => unchecked = true,
                Ok(MacVerdict::None) => {}
                Err(_) => return Err(AuthFailure::Internal),
            }
        }
        if let SignatureField::Present(_) = msg.signature {
            match auth::verify_signature(msg, &self.store) {
                SignatureVerdict::Verified { .. } => verified = true,
                SignatureVerdict::Failed => return Err(AuthFailure::Signature),
                SignatureVerdict::NoKey => unchecked = true,
                SignatureVerdict::Null | SignatureVerdict::Absent => {}
            }
        }
        if verified {
            return Ok(Checked::Verified);
        }
        if !unchecked {
            return Err(AuthFailure::Unprotected);
        }
        let known_recipient = || {
            self.store
                .public_keys(&msg.header.recipient, Usage::KeyAgreement)
                .next()
                .is_some()
        };
        match self.unverifiable {
            Unverifiable::Forward if known_recipient() => Ok(Checked::Forwarded),
            Unverifiable::Forward | Unverifiable::Reject => Err(AuthFailure::NoKey),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubgate_protocol::gbcs;

    /// The RTDS CS14 alert: MAC'd by the CHF `00DB1234567890A2` for the ACB `90B3D51F30000002`.
    fn cs14() -> Vec<u8> {
        let p = hubgate_protocol::conformance::require()
            .join("gbcs/rtds/NA_CS14/CS14_NA_8F12_ALERT_GBCS.HEX");
        hubgate_protocol::hex::decode(std::fs::read_to_string(p).expect("the alert").trim())
            .expect("hex")
    }

    /// A store with the keystore's files `names` only.
    fn store_of(names: &[&str]) -> Arc<Store> {
        let dir = hubgate_protocol::conformance::require().join("gbcs/keystore");
        let mut store = Store::new();
        for name in names {
            let bytes = std::fs::read(dir.join(name)).expect("a keystore file");
            if name.ends_with(".key") {
                store.add_private_key(&bytes, name).expect("a key");
            } else {
                store.add_certificate(&bytes, name).expect("a certificate");
            }
        }
        Arc::new(store)
    }

    fn verifier(store: Arc<Store>, policy: Unverifiable) -> Verifier {
        let acb = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0, 0, 2];
        Verifier::new(store, Arc::new(DerivedKeyCache::default()), acb).with_unverifiable(policy)
    }

    #[test]
    fn only_a_known_recipient_gets_what_cannot_be_checked() {
        let bytes = cs14();
        let msg = gbcs::parse(&bytes).expect("GBCS");
        let all = store_of(&[
            "00db1234567890a2-ka.pem",
            "90b3d51f30000002-ka.pem",
            "90b3d51f30000002-ka.key",
        ]);
        // The ACB's private key is held: verified, under either policy.
        for policy in [Unverifiable::Reject, Unverifiable::Forward] {
            assert_eq!(
                verifier(Arc::clone(&all), policy).check(&msg),
                Ok(Checked::Verified)
            );
        }
        let mut tampered = bytes.clone();
        let n = tampered.len();
        tampered[n - 1] ^= 1;
        let forged = gbcs::parse(&tampered).expect("GBCS");
        assert_eq!(
            verifier(Arc::clone(&all), Unverifiable::Forward).check(&forged),
            Err(AuthFailure::Mac),
            "what can be checked must verify"
        );
        // No private key for either party, the recipient's certificate known: passed on
        // unchecked under Forward only.
        let public = store_of(&["00db1234567890a2-ka.pem", "90b3d51f30000002-ka.pem"]);
        assert_eq!(
            verifier(Arc::clone(&public), Unverifiable::Forward).check(&forged),
            Ok(Checked::Forwarded)
        );
        assert_eq!(
            verifier(public, Unverifiable::Reject).check(&msg),
            Err(AuthFailure::NoKey)
        );
        // A recipient the store does not know: rejected even under Forward.
        let device_only = store_of(&["00db1234567890a2-ka.pem"]);
        assert_eq!(
            verifier(device_only, Unverifiable::Forward).check(&msg),
            Err(AuthFailure::NoKey)
        );
    }
}
