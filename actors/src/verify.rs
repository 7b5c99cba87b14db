//! Authentication of responses and alerts from devices: the MAC and/or the device signature,
//! checked with the protocol crate against a key store handed in.

use std::sync::Arc;

use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::gbcs::auth::{self, MacVerdict, SignatureVerdict};
use hubgate_protocol::gbcs::{Message, SignatureField};
use hubgate_protocol::smki::Store;

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
    /// Pass the message on; the recipient checks it. Any protection that can be checked
    /// still must verify.
    Forward,
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
    pub fn check(&self, msg: &Message<'_>) -> Result<(), AuthFailure> {
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
        if unchecked && self.unverifiable == Unverifiable::Reject {
            return Err(AuthFailure::NoKey);
        }
        if verified || unchecked {
            Ok(())
        } else {
            Err(AuthFailure::Unprotected)
        }
    }
}
