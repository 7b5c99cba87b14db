//! The GBCS MAC: AES-128-GCM over an empty plaintext, tag truncated to 12 bytes
//! (PROTOCOLS.md §4.8).

use aws_lc_rs::aead::{Aad, Nonce};
use aws_lc_rs::constant_time;

use super::{CryptoError, DerivedKey};

/// Length of the truncated MAC.
pub const MAC_LEN: usize = 12;

/// AADs up to this many bytes are gathered on the stack; longer ones on the heap. GBCS
/// messages average about 250 bytes.
const STACK_AAD: usize = 1024;

/// The GCM IV: system title ‖ `00000000` (invocation counter 0).
pub fn iv(system_title: &[u8; 8]) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(system_title);
    iv
}

/// Computes the 12-byte MAC over the concatenation of `aad_parts`, with IV
/// `system_title ‖ 00000000`.
///
/// The parts are gathered into one buffer (on the stack for up to 1 KiB) because the GCM API
/// takes the AAD as one slice; a single part is used in place.
pub fn compute(
    key: &DerivedKey,
    system_title: &[u8; 8],
    aad_parts: &[&[u8]],
) -> Result<[u8; MAC_LEN], CryptoError> {
    match aad_parts {
        [one] => tag(key, system_title, one),
        parts => {
            let len: usize = parts.iter().map(|p| p.len()).sum();
            if len <= STACK_AAD {
                let mut buf = [0u8; STACK_AAD];
                let mut at = 0;
                for p in parts {
                    buf[at..at + p.len()].copy_from_slice(p);
                    at += p.len();
                }
                tag(key, system_title, &buf[..len])
            } else {
                tag(key, system_title, &parts.concat())
            }
        }
    }
}

/// Checks a received 12-byte MAC in constant time.
///
/// Returns [`CryptoError::VerificationFailed`] when it does not match (including a received
/// MAC of the wrong length).
pub fn verify(
    key: &DerivedKey,
    system_title: &[u8; 8],
    aad_parts: &[&[u8]],
    received: &[u8],
) -> Result<(), CryptoError> {
    let expected = compute(key, system_title, aad_parts)?;
    constant_time::verify_slices_are_equal(&expected, received)
        .map_err(|_| CryptoError::VerificationFailed("GMAC"))
}

fn tag(key: &DerivedKey, system_title: &[u8; 8], aad: &[u8]) -> Result<[u8; MAC_LEN], CryptoError> {
    super::ops::count(super::ops::Op::Gmac);
    let nonce = Nonce::assume_unique_for_key(iv(system_title));
    let full = key
        .aead()
        .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut [])
        .map_err(|_| CryptoError::Internal("AES-GCM over an empty plaintext"))?;
    let mut mac = [0u8; MAC_LEN];
    mac.copy_from_slice(&full.as_ref()[..MAC_LEN]);
    Ok(mac)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::kdf::{DerivedKey, OtherInfo, SharedSecret, derive_key};
    use crate::hex;

    #[test]
    fn gcm_vector_truncated_tag() {
        // PROTOCOLS.md §4.8: key 000102..0f, IV 90b3d51f30030000 00000000, AAD "helloworld".
        let key = DerivedKey::from_bytes(core::array::from_fn(|i| i as u8));
        let title = hex::parse_eui("90b3d51f30030000").unwrap();
        let mac = compute(&key, &title, &[b"helloworld"]).unwrap();
        assert_eq!(hex::encode(&mac), "fb3afed43b78508864f00da3");
        // Split AAD gives the same MAC as contiguous AAD.
        assert_eq!(compute(&key, &title, &[b"hello", b"world"]).unwrap(), mac);
        verify(&key, &title, &[b"helloworld"], &mac).unwrap();
        let mut bad = mac;
        bad[11] ^= 0x80;
        assert!(verify(&key, &title, &[b"helloworld"], &bad).is_err());
        assert!(verify(&key, &title, &[b"helloworld"], &mac[..11]).is_err());
    }

    #[test]
    fn worked_example_response_mac() {
        // PROTOCOLS.md §4.8, ECS17b error response: Z, key and MAC.
        // 4.1.1_ECS17b/ECS17b_4.1.1_ERROR_RESPONSE_GBCS.HEX
        let msg = hex::decode(
            "DD0000000000004C1100000000 DF0902 00000000000003E9 08 00DB1234567890A0 08 \
             90B3D51F30010000 0C 07DF0101FF000000008000FF 02 0027 0C DA200003E900000100010301 \
             00 A56C9AB1129E72330FF1A08A",
        )
        .unwrap();
        let z: [u8; 32] =
            hex::decode("42da8fad4c8c9d613976f39f1e79ccc88571efa43933d57146b533bc6d253e0f")
                .unwrap()
                .try_into()
                .unwrap();
        let orig = hex::parse_eui("00db1234567890a0").unwrap();
        let recip = hex::parse_eui("90b3d51f30010000").unwrap();
        let key = derive_key(
            &SharedSecret::from_bytes(z),
            &OtherInfo::new(&orig, 2, 1001, &recip),
        );
        assert_eq!(
            hex::encode(key.as_bytes()),
            "dd3b977cef673a093aa147641829b06e"
        );
        let apdu = &msg[13..msg.len() - 12];
        let prefix = [0x11, 0, 0, 0, 0, 0];
        let mac = compute(&key, &orig, &[&prefix, apdu]).unwrap();
        assert_eq!(hex::encode(&mac), "a56c9ab1129e72330ff1a08a");
        verify(&key, &orig, &[&prefix, apdu], &msg[msg.len() - 12..]).unwrap();
    }

    #[test]
    fn large_aad_uses_the_heap_path() {
        let key = DerivedKey::from_bytes([7; 16]);
        let title = [1u8; 8];
        let big = vec![0xabu8; STACK_AAD + 100];
        let whole = compute(&key, &title, &[&big]).unwrap();
        let split = compute(&key, &title, &[&big[..10], &big[10..]]).unwrap();
        assert_eq!(whole, split);
    }
}
