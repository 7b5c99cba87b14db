//! SMKI certificate and key store (PROTOCOLS.md §4.12, §5.4).
//!
//! [`Certificate`] reads the fields GBCS needs from an X.509 certificate: the holder's EUI,
//! key usage, role, serial, issuer and validity, and the public key parsed for verification
//! and key agreement. [`Store`] loads certificates and private keys from folders and
//! `keystore.json`, pairs each private key with its certificate by public key, and indexes
//! them by what the certificates say (EUI and usage, serial, role), never by file name.

pub mod cert;
pub mod store;

use std::path::PathBuf;

use crate::crypto::CryptoError;

pub use cert::{Certificate, Holder, Usage};
pub use store::{CertRef, KeyEntry, LoadWarning, Store};

/// Errors from reading certificates, keys and key stores.
#[derive(Debug, thiserror::Error)]
pub enum SmkiError {
    /// A certificate that cannot be parsed or does not hold a P-256 key.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// Key material that cannot be parsed.
    #[error(transparent)]
    InvalidKey(#[from] CryptoError),
    /// A `keystore.json` that does not have the expected structure.
    #[error("invalid keystore.json: {0}")]
    InvalidKeystore(String),
    /// A file that holds no certificate or key in a supported form.
    #[error("unsupported file: {0}")]
    Unsupported(String),
    /// A file or folder that cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl SmkiError {
    /// True when the content was at fault, false for I/O failures.
    pub fn is_input_error(&self) -> bool {
        match self {
            SmkiError::InvalidKey(e) => e.is_input_error(),
            SmkiError::Io { .. } => false,
            _ => true,
        }
    }
}
