//! The error type shared by the crypto modules.

/// Errors from the GBCS cryptography.
///
/// Variants other than [`CryptoError::Internal`] are caused by the input (bad key material, a
/// wrong length, a signature or tag that does not verify); [`CryptoError::Internal`] means the
/// crypto library failed on input it should have accepted, which is our fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Key material that cannot be parsed or is not a P-256 key.
    #[error("invalid {what}: {detail}")]
    InvalidKey {
        /// Which kind of key was expected.
        what: &'static str,
        /// Why it was rejected.
        detail: String,
    },
    /// PEM text that cannot be decoded, or holds no block of an accepted kind.
    #[error("invalid PEM: {0}")]
    InvalidPem(String),
    /// An input of the wrong length.
    #[error("{what}: expected {expected} bytes, got {actual}")]
    InvalidLength {
        /// The input concerned.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// A signature, MAC or authentication tag did not verify.
    #[error("{0} did not verify")]
    VerificationFailed(&'static str),
    /// The crypto library failed on valid input.
    #[error("internal crypto failure: {0}")]
    Internal(&'static str),
}

impl CryptoError {
    /// True when the error was caused by the input (as opposed to a failure on our side).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, CryptoError::Internal(_))
    }

    pub(crate) fn key(what: &'static str, detail: impl std::fmt::Display) -> Self {
        CryptoError::InvalidKey {
            what,
            detail: detail.to_string(),
        }
    }
}
