//! A device's own keys: a digital-signature key (signed responses, critical alerts) and a
//! key-agreement key (MACs and payload encryption, by ECDH with a remote party).
//!
//! Two kinds of identity:
//!
//! - [`Identity::Generated`]: fresh key pairs with certificates from a
//!   [`CertificateAuthority`]. Everything a real device
//!   would have; used by [`Fleet`](crate::fleet::Fleet) for load tests.
//! - [`Identity::Rtds`]: an RTDS device (`00db1234567890a0` …). The RTDS keystore publishes
//!   only the *certificates* of devices, not their private keys. ECDH is symmetric, so the
//!   shared secret the device would compute with its KA private key and a remote party's KA
//!   certificate is computed instead from that remote party's KA *private* key (which the
//!   RTDS keystore does publish) and the device's KA certificate. MACs and encrypted payloads
//!   are therefore exactly what the real device would produce, and RTDS commands verify
//!   unchanged. No such trick exists for signatures: the device signs with a substitute DS
//!   key, and its certificate ([`DeviceKeys::ds_certificate`]) must be given to whoever
//!   verifies (the RTDS `…-ds.pem` of the device will not verify these signatures).

use std::sync::Arc;

use hubgate_protocol::crypto::{
    DerivedKey, DerivedKeyCache, KeyAgreementKey, OtherInfo, PeerKey, SigningKey,
};
use hubgate_protocol::smki::{Certificate, Store};
use serde::{Deserialize, Serialize};

use crate::error::DeviceError;
use crate::pki::{CertificateAuthority, GeneratedKey, KeyUsage, Subject};

/// What a device's keys are made of; serialisable so that a passivated device keeps its
/// keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Identity {
    /// Both private keys are held.
    Generated {
        /// The device EUI.
        eui: [u8; 8],
        /// Digital-signature key pair.
        ds: GeneratedKey,
        /// Key-agreement key pair.
        ka: GeneratedKey,
        /// DS certificate, DER.
        ds_certificate: Vec<u8>,
        /// KA certificate, DER.
        ka_certificate: Vec<u8>,
    },
    /// An RTDS device: its published KA certificate (ECDH through the remote parties'
    /// private keys, see the module documentation) and a substitute DS key.
    Rtds {
        /// The device EUI.
        eui: [u8; 8],
        /// The device's own KA certificate from the RTDS keystore, DER.
        ka_certificate: Vec<u8>,
        /// The substitute DS key pair.
        substitute_ds: GeneratedKey,
        /// Its certificate, DER.
        substitute_ds_certificate: Vec<u8>,
    },
}

impl Identity {
    /// Fresh keys for `eui`, certified by `ca`.
    pub fn generate(eui: [u8; 8], ca: &CertificateAuthority) -> Result<Self, DeviceError> {
        let ds = GeneratedKey::generate()?;
        let ka = GeneratedKey::generate()?;
        let ds_certificate = ca.issue(
            Subject::Device { eui },
            KeyUsage::DigitalSignature,
            &ds.public_point,
        )?;
        let ka_certificate = ca.issue(
            Subject::Device { eui },
            KeyUsage::KeyAgreement,
            &ka.public_point,
        )?;
        Ok(Identity::Generated {
            eui,
            ds,
            ka,
            ds_certificate,
            ka_certificate,
        })
    }

    /// The identity of an RTDS device: its KA certificate from `store` (the RTDS keystore)
    /// and a fresh substitute DS key certified by `ca`.
    pub fn rtds(
        eui: [u8; 8],
        store: &Store,
        ca: &CertificateAuthority,
    ) -> Result<Self, DeviceError> {
        let ka_certificate = store
            .public_keys(&eui, KeyUsage::KeyAgreement.to_smki())
            .find_map(|e| e.certificate().map(|c| c.der().to_vec()))
            .ok_or(DeviceError::UnknownRemoteParty {
                party: hubgate_protocol::hex::eui(&eui),
                usage: "ka",
            })?;
        let substitute_ds = GeneratedKey::generate()?;
        let substitute_ds_certificate = ca.issue(
            Subject::Device { eui },
            KeyUsage::DigitalSignature,
            &substitute_ds.public_point,
        )?;
        Ok(Identity::Rtds {
            eui,
            ka_certificate,
            substitute_ds,
            substitute_ds_certificate,
        })
    }

    /// The device EUI.
    pub fn eui(&self) -> [u8; 8] {
        match self {
            Identity::Generated { eui, .. } | Identity::Rtds { eui, .. } => *eui,
        }
    }

    /// The DS certificate that verifies the device's signatures, DER.
    pub fn ds_certificate(&self) -> &[u8] {
        match self {
            Identity::Generated { ds_certificate, .. } => ds_certificate,
            Identity::Rtds {
                substitute_ds_certificate,
                ..
            } => substitute_ds_certificate,
        }
    }

    /// The device's KA certificate, DER.
    pub fn ka_certificate(&self) -> &[u8] {
        match self {
            Identity::Generated { ka_certificate, .. } | Identity::Rtds { ka_certificate, .. } => {
                ka_certificate
            }
        }
    }
}

/// The private side of key agreement.
enum Agreement {
    /// The device's own private key.
    Own(KeyAgreementKey),
    /// The remote parties' private keys with the device's public key (RTDS devices).
    Mirrored { public: PeerKey, peers: Arc<Store> },
}

/// A device's keys, parsed and ready to use.
pub struct DeviceKeys {
    identity: Identity,
    signing: SigningKey,
    agreement: Agreement,
}

impl std::fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKeys")
            .field("eui", &hubgate_protocol::hex::eui(&self.identity.eui()))
            .field(
                "agreement",
                &match self.agreement {
                    Agreement::Own(_) => "own",
                    Agreement::Mirrored { .. } => "mirrored",
                },
            )
            .finish()
    }
}

impl DeviceKeys {
    /// Loads an identity. An [`Identity::Rtds`] needs `peers`: a store holding the remote
    /// parties' KA private keys (the RTDS keystore).
    pub fn new(identity: Identity, peers: Option<Arc<Store>>) -> Result<Self, DeviceError> {
        let bad = |_| DeviceError::Internal("unusable key material in the identity");
        let (signing, agreement) = match &identity {
            Identity::Generated { ds, ka, .. } => (
                SigningKey::from_der(&ds.pkcs8).map_err(bad)?,
                Agreement::Own(KeyAgreementKey::from_der(&ka.pkcs8).map_err(bad)?),
            ),
            Identity::Rtds {
                ka_certificate,
                substitute_ds,
                ..
            } => {
                let cert = Certificate::from_der(ka_certificate).map_err(|_| {
                    DeviceError::Internal("unusable KA certificate in the identity")
                })?;
                let peers = peers.ok_or(DeviceError::Internal(
                    "an RTDS identity needs the store of remote party private keys",
                ))?;
                (
                    SigningKey::from_der(&substitute_ds.pkcs8).map_err(bad)?,
                    Agreement::Mirrored {
                        public: cert.peer_key().clone(),
                        peers,
                    },
                )
            }
        };
        Ok(DeviceKeys {
            identity,
            signing,
            agreement,
        })
    }

    /// The device EUI.
    pub fn eui(&self) -> [u8; 8] {
        self.identity.eui()
    }

    /// The identity (to passivate the device).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The certificate that verifies this device's signatures, DER.
    pub fn ds_certificate(&self) -> &[u8] {
        self.identity.ds_certificate()
    }

    /// Signs `msg` (ECDSA P-256 / SHA-256, raw r‖s).
    pub fn sign(&self, msg: &[u8]) -> Result<[u8; 64], DeviceError> {
        self.signing
            .try_sign(msg)
            .map_err(|_| DeviceError::Internal("ECDSA signing"))
    }

    /// The AES key for `other` between this device and the remote party whose KA public key
    /// is `peer`.
    pub fn derive(
        &self,
        peer: &PeerKey,
        other: &OtherInfo,
        cache: &DerivedKeyCache,
    ) -> Result<DerivedKey, DeviceError> {
        match &self.agreement {
            Agreement::Own(local) => cache
                .derive(local, peer, other)
                .map_err(|_| DeviceError::Internal("ECDH")),
            Agreement::Mirrored { public, peers } => {
                let local = peers.get(peer.id()).and_then(|e| e.agreement_key()).ok_or(
                    DeviceError::Internal(
                        "no private key for this remote party in the mirrored key store",
                    ),
                )?;
                cache
                    .derive(local, public, other)
                    .map_err(|_| DeviceError::Internal("ECDH"))
            }
        }
    }
}
