//! GBCS cryptography on aws-lc-rs (PROTOCOLS.md §4.7–4.9).
//!
//! - [`ecdsa`]: P-256/SHA-256 signatures as raw `r‖s` ([`VerifyingKey`], [`SigningKey`]).
//! - [`kdf`]: P-256 ECDH and the GBCS KDF ([`KeyAgreementKey`], [`PeerKey`], [`OtherInfo`]).
//! - [`gmac`]: the 12-byte GMAC that authenticates MAC-wrapped messages.
//! - [`cipher`]: AES-128-GCM payload encryption with a 12-byte tag.
//! - [`ops`]: counts of the operations performed, for benchmarks.
//! - [`cache`]: [`DerivedKeyCache`], which keeps ECDH shared secrets so that a MAC costs a
//!   hash and an AES-GCM pass rather than a point multiplication.
//!
//! Keys are parsed once and are cheap to share; nothing on the verify path re-parses keys.

pub mod cache;
pub mod cipher;
pub mod ecdsa;
mod encoding;
mod error;
pub mod gmac;
pub mod kdf;
mod key_id;
pub mod ops;

pub use cache::{CacheStats, DerivedKeyCache};
pub use ecdsa::{SIGNATURE_LEN, SigningKey, VerifyingKey};
pub use error::CryptoError;
pub use kdf::{DerivedKey, KeyAgreementKey, OtherInfo, PeerKey, SharedSecret, derive_key};
pub use key_id::KeyId;

pub(crate) use encoding::looks_like_pem;
