//! Payload encryption of sensitive data (PROTOCOLS.md §4.9): AES-128-GCM with
//! IV = originator system title ‖ `00000000`, AAD = the single byte `0x31`, and a tag
//! truncated to 12 bytes.
//!
//! # Decrypting with a truncated tag
//!
//! aws-lc-rs's AEAD API only accepts 16-byte tags, so decryption is built from two
//! primitives, both from aws-lc:
//!
//! 1. AES-128-CTR with the initial counter block `IV ‖ 00000002` (GCM's J0 + 1) recovers the
//!    candidate plaintext. GCM increments only the low 32 bits of the counter while CTR
//!    increments all 128, which differ only after 2^32 blocks; inputs are limited far below
//!    that.
//! 2. AES-128-GCM *encryption* of that candidate plaintext with the same key, IV and AAD. GCM
//!    encryption is deterministic, and it reproduces exactly the received ciphertext, so its
//!    16-byte tag is the tag a genuine sender computed for this ciphertext. Its first 12 bytes
//!    are compared with the received tag in constant time.
//!
//! The plaintext is returned only when the tags match; otherwise it is wiped and dropped.

use aws_lc_rs::aead::{Aad, Nonce};
use aws_lc_rs::cipher::{AES_128, DecryptingKey, DecryptionContext, UnboundCipherKey};
use aws_lc_rs::constant_time;
use aws_lc_rs::iv::FixedLength;

use super::{CryptoError, DerivedKey};

/// Length of the truncated tag.
pub const TAG_LEN: usize = 12;

/// The AAD: the security-control byte for "authenticated and encrypted".
pub const AAD: [u8; 1] = [0x31];

/// The largest ciphertext accepted (64 KiB; GBCS messages are far smaller).
pub const MAX_LEN: usize = 1 << 16;

/// Encrypts `plaintext`; returns ciphertext ‖ 12-byte tag.
pub fn encrypt(
    key: &DerivedKey,
    originator: &[u8; 8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    check_len(plaintext.len())?;
    super::ops::count(super::ops::Op::Cipher);
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    let tag = seal(key, originator, &mut out)?;
    out.extend_from_slice(&tag[..TAG_LEN]);
    Ok(out)
}

/// Decrypts `ciphertext` and checks its 12-byte `tag`; returns the plaintext.
pub fn decrypt(
    key: &DerivedKey,
    originator: &[u8; 8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if tag.len() != TAG_LEN {
        return Err(CryptoError::InvalidLength {
            what: "payload encryption tag",
            expected: TAG_LEN,
            actual: tag.len(),
        });
    }
    check_len(ciphertext.len())?;
    super::ops::count(super::ops::Op::Cipher);
    let mut plaintext = ciphertext.to_vec();
    ctr_decrypt(key, originator, &mut plaintext)?;
    let mut reencrypted = plaintext.clone();
    let full_tag = seal(key, originator, &mut reencrypted)?;
    debug_assert_eq!(
        reencrypted, ciphertext,
        "GCM re-encryption must be deterministic"
    );
    match constant_time::verify_slices_are_equal(&full_tag[..TAG_LEN], tag) {
        Ok(()) => Ok(plaintext),
        Err(_) => {
            plaintext.fill(0);
            Err(CryptoError::VerificationFailed("payload encryption tag"))
        }
    }
}

/// Decrypts a block laid out as ciphertext ‖ 12-byte tag.
pub fn decrypt_block(
    key: &DerivedKey,
    originator: &[u8; 8],
    ciphertext_and_tag: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let split =
        ciphertext_and_tag
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(CryptoError::InvalidLength {
                what: "encrypted block",
                expected: TAG_LEN,
                actual: ciphertext_and_tag.len(),
            })?;
    let (ct, tag) = ciphertext_and_tag.split_at(split);
    decrypt(key, originator, ct, tag)
}

fn check_len(len: usize) -> Result<(), CryptoError> {
    if len > MAX_LEN {
        return Err(CryptoError::InvalidLength {
            what: "payload encryption input (maximum)",
            expected: MAX_LEN,
            actual: len,
        });
    }
    Ok(())
}

/// GCM-encrypts `in_out` in place and returns the full 16-byte tag.
fn seal(
    key: &DerivedKey,
    originator: &[u8; 8],
    in_out: &mut [u8],
) -> Result<[u8; 16], CryptoError> {
    let nonce = Nonce::assume_unique_for_key(super::gmac::iv(originator));
    let tag = key
        .aead()
        .seal_in_place_separate_tag(nonce, Aad::from(AAD), in_out)
        .map_err(|_| CryptoError::Internal("AES-GCM encryption"))?;
    tag.as_ref()
        .try_into()
        .map_err(|_| CryptoError::Internal("AES-GCM tag length"))
}

/// AES-128-CTR from counter block `originator ‖ 00000000 ‖ 00000002`, in place.
fn ctr_decrypt(
    key: &DerivedKey,
    originator: &[u8; 8],
    in_out: &mut [u8],
) -> Result<(), CryptoError> {
    let mut counter = [0u8; 16];
    counter[..8].copy_from_slice(originator);
    counter[15] = 2;
    let unbound = UnboundCipherKey::new(&AES_128, key.as_bytes())
        .map_err(|_| CryptoError::Internal("AES-128 key setup"))?;
    let ctr = DecryptingKey::ctr(unbound).map_err(|_| CryptoError::Internal("AES-CTR setup"))?;
    ctr.decrypt(in_out, DecryptionContext::Iv128(FixedLength::from(counter)))
        .map_err(|_| CryptoError::Internal("AES-CTR"))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key() -> DerivedKey {
        DerivedKey::from_bytes(*b"0123456789abcdef")
    }

    const TITLE: [u8; 8] = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa0];

    #[test]
    fn round_trip_various_lengths() {
        for len in [0usize, 1, 15, 16, 17, 33, 200, 1000] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let block = encrypt(&key(), &TITLE, &pt).unwrap();
            assert_eq!(block.len(), len + TAG_LEN);
            assert_eq!(
                decrypt_block(&key(), &TITLE, &block).unwrap(),
                pt,
                "len {len}"
            );
        }
    }

    #[test]
    fn ciphertext_matches_full_gcm_and_tampering_is_rejected() {
        let pt = b"sensitive meter reading".to_vec();
        let block = encrypt(&key(), &TITLE, &pt).unwrap();
        // Same as a plain AES-GCM seal, truncated.
        let mut full = pt.clone();
        let tag = seal(&key(), &TITLE, &mut full).unwrap();
        assert_eq!(&block[..pt.len()], &full[..]);
        assert_eq!(&block[pt.len()..], &tag[..12]);
        for i in 0..block.len() {
            let mut bad = block.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                decrypt_block(&key(), &TITLE, &bad),
                Err(CryptoError::VerificationFailed("payload encryption tag")),
                "flip at {i}"
            );
        }
        let other_title = [9u8; 8];
        assert!(decrypt_block(&key(), &other_title, &block).is_err());
        assert!(decrypt_block(&key(), &TITLE, &block[..11]).is_err());
        assert!(decrypt(&key(), &TITLE, &block[..4], &block[4..15]).is_err());
    }
}
