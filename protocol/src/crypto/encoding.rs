//! Reading key material given as PEM or DER.

use super::CryptoError;

/// PEM labels accepted for private keys: PKCS#8 and SEC1 (RFC 5915).
const PRIVATE_LABELS: &[&str] = &["PRIVATE KEY", "EC PRIVATE KEY"];

/// PEM labels accepted for public keys.
const PUBLIC_LABELS: &[&str] = &["PUBLIC KEY"];

/// The DER of a private key given as PEM (`PRIVATE KEY` or `EC PRIVATE KEY`) or as DER.
pub(crate) fn private_key_der(input: &[u8]) -> Result<Vec<u8>, CryptoError> {
    der_from(input, PRIVATE_LABELS)
}

/// The DER of a public key given as PEM (`PUBLIC KEY`) or as DER / SEC1 point bytes.
pub(crate) fn public_key_der(input: &[u8]) -> Result<Vec<u8>, CryptoError> {
    der_from(input, PUBLIC_LABELS)
}

/// True when `input` looks like PEM text rather than binary DER.
pub(crate) fn looks_like_pem(input: &[u8]) -> bool {
    input
        .windows(b"-----BEGIN ".len())
        .any(|w| w == b"-----BEGIN ")
}

fn der_from(input: &[u8], labels: &[&str]) -> Result<Vec<u8>, CryptoError> {
    if !looks_like_pem(input) {
        return Ok(input.to_vec());
    }
    let blocks = pem::parse_many(input).map_err(|e| CryptoError::InvalidPem(e.to_string()))?;
    let found: Vec<String> = blocks.iter().map(|b| b.tag().to_string()).collect();
    blocks
        .into_iter()
        .find(|b| labels.contains(&b.tag()))
        .map(pem::Pem::into_contents)
        .ok_or_else(|| {
            CryptoError::InvalidPem(format!(
                "no {} block (found: {})",
                labels.join(" or "),
                if found.is_empty() {
                    "none".to_string()
                } else {
                    found.join(", ")
                }
            ))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn der_passes_through_and_pem_is_decoded() {
        assert_eq!(private_key_der(&[0x30, 0x00]).unwrap(), vec![0x30, 0x00]);
        let text = b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
        assert_eq!(private_key_der(text).unwrap(), vec![0x30, 0x00]);
        let wrong = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        let err = private_key_der(wrong).unwrap_err();
        assert!(err.to_string().contains("CERTIFICATE"), "{err}");
    }
}
