//! Counts of the public-key and symmetric operations this process has performed, so a
//! benchmark can say how many bare aws-lc-rs operations one Service Request costs and set
//! the measured throughput against that ceiling.
//!
//! One relaxed atomic increment per operation: a few nanoseconds against the tens of
//! microseconds of an ECDSA operation, so the counts are always on.

use std::sync::atomic::{AtomicU64, Ordering};

/// A counted operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// ECDSA P-256 signature verification.
    EcdsaVerify,
    /// ECDSA P-256 signing.
    EcdsaSign,
    /// P-256 ECDH (a shared secret computed, not taken from a cache).
    Ecdh,
    /// A 12-byte GMAC computed or checked.
    Gmac,
    /// An AES-128-GCM payload encryption or decryption.
    Cipher,
}

impl Op {
    /// Every operation, in a fixed order.
    pub const ALL: [Op; 5] = [
        Op::EcdsaVerify,
        Op::EcdsaSign,
        Op::Ecdh,
        Op::Gmac,
        Op::Cipher,
    ];

    /// A stable lower-case name (a metric label).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Op::EcdsaVerify => "ecdsa_verify",
            Op::EcdsaSign => "ecdsa_sign",
            Op::Ecdh => "ecdh",
            Op::Gmac => "gmac",
            Op::Cipher => "cipher",
        }
    }
}

static COUNTS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// Counts one `op`.
#[inline]
pub fn count(op: Op) {
    COUNTS[op as usize].fetch_add(1, Ordering::Relaxed);
}

/// How many of `op` this process has performed.
#[must_use]
pub fn total(op: Op) -> u64 {
    COUNTS[op as usize].load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningKey;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

    #[test]
    #[allow(clippy::unwrap_used)]
    fn signing_and_verifying_are_counted() {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let key = SigningKey::from_der(pkcs8.as_ref()).unwrap();
        let (s0, v0) = (total(Op::EcdsaSign), total(Op::EcdsaVerify));
        let sig = key.sign(b"counted");
        key.verifying_key().verify(b"counted", &sig).unwrap();
        // Other tests may run in parallel: at least ours were counted.
        assert!(total(Op::EcdsaSign) > s0);
        assert!(total(Op::EcdsaVerify) > v0);
    }
}
