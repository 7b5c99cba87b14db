//! Authenticating a Registration Data Provider's push: a shared bearer token.
//!
//! The push endpoint runs over TLS; the provider sends `Authorization: Bearer <token>` with a
//! token agreed out of band and set in the gateway's configuration. The gateway keeps only
//! the token's SHA-256 digest and compares digests in constant time, so neither the
//! comparison's duration nor its early exit on a length mismatch says anything about the
//! configured token.

use aws_lc_rs::{constant_time, digest};

/// Why a push was not authenticated, or a configured token refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// The header is not `Bearer <token>`.
    #[error("Authorization header is not a bearer token")]
    NotBearer,
    /// The token is not the configured one.
    #[error("bearer token does not match")]
    Mismatch,
    /// A configured token that is too short or uses characters outside the RFC 6750 token
    /// alphabet (`A–Z a–z 0–9 - . _ ~ + /`, then optional `=` padding).
    #[error(
        "configured bearer token must be at least {} characters of A-Z a-z 0-9 - . _ ~ + / (then optional =)",
        BearerToken::MIN_LEN
    )]
    WeakToken,
}

/// The configured push token, held as its SHA-256 digest. `Debug` does not print it.
#[derive(Clone)]
pub struct BearerToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl BearerToken {
    /// Shortest token accepted in configuration (32 characters: about 190 bits when drawn
    /// from base64).
    pub const MIN_LEN: usize = 32;

    /// Takes the configured token.
    pub fn new(token: &str) -> Result<BearerToken, AuthError> {
        if token.len() < Self::MIN_LEN || !is_token68(token) {
            return Err(AuthError::WeakToken);
        }
        Ok(BearerToken {
            digest: sha256(token.as_bytes()),
        })
    }

    /// Checks the value of a request's `Authorization` header (`None` when absent). The
    /// scheme name is matched in any letter case, as HTTP requires.
    pub fn verify(&self, authorization: Option<&[u8]>) -> Result<(), AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let header = header.trim_ascii();
        let (scheme, rest) = header.split_at_checked(6).ok_or(AuthError::NotBearer)?;
        if !scheme.eq_ignore_ascii_case(b"Bearer") || rest.first() != Some(&b' ') {
            return Err(AuthError::NotBearer);
        }
        let presented = rest.trim_ascii_start();
        if presented.is_empty() {
            return Err(AuthError::NotBearer);
        }
        constant_time::verify_slices_are_equal(&sha256(presented), &self.digest)
            .map_err(|_| AuthError::Mismatch)
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// RFC 6750 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "rdp-elec-4f1c2a9be07d4c1f8e3b6a5d2c1b0a99";

    #[test]
    fn accepts_the_configured_token() {
        let t = BearerToken::new(TOKEN).unwrap();
        assert_eq!(t.verify(Some(format!("Bearer {TOKEN}").as_bytes())), Ok(()));
        assert_eq!(
            t.verify(Some(format!("bearer   {TOKEN} ").as_bytes())),
            Ok(())
        );
        assert_eq!(t.verify(Some(format!("BEARER {TOKEN}").as_bytes())), Ok(()));
    }

    #[test]
    fn refuses_anything_else() {
        let t = BearerToken::new(TOKEN).unwrap();
        assert_eq!(t.verify(None), Err(AuthError::Missing));
        assert_eq!(t.verify(Some(b"")), Err(AuthError::NotBearer));
        assert_eq!(t.verify(Some(b"Bearer")), Err(AuthError::NotBearer));
        assert_eq!(t.verify(Some(b"Bearer   ")), Err(AuthError::NotBearer));
        assert_eq!(
            t.verify(Some(format!("Basic {TOKEN}").as_bytes())),
            Err(AuthError::NotBearer)
        );
        assert_eq!(
            t.verify(Some(format!("Bearer{TOKEN}").as_bytes())),
            Err(AuthError::NotBearer)
        );
        let wrong_last = format!("Bearer {}0", &TOKEN[..TOKEN.len() - 1]);
        assert_eq!(
            t.verify(Some(wrong_last.as_bytes())),
            Err(AuthError::Mismatch)
        );
        let prefix = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
        assert_eq!(t.verify(Some(prefix.as_bytes())), Err(AuthError::Mismatch));
        let longer = format!("Bearer {TOKEN}x");
        assert_eq!(t.verify(Some(longer.as_bytes())), Err(AuthError::Mismatch));
        assert_eq!(
            t.verify(Some(format!("Bearer {}", TOKEN.to_uppercase()).as_bytes())),
            Err(AuthError::Mismatch)
        );
    }

    #[test]
    fn refuses_weak_configuration_and_hides_the_token() {
        assert_eq!(BearerToken::new("short").unwrap_err(), AuthError::WeakToken);
        let spaced = "a".repeat(31) + " b";
        assert_eq!(BearerToken::new(&spaced).unwrap_err(), AuthError::WeakToken);
        assert_eq!(
            BearerToken::new(&"=".repeat(40)).unwrap_err(),
            AuthError::WeakToken
        );
        assert!(BearerToken::new(&("A".repeat(40) + "==")).is_ok());
        let t = BearerToken::new(TOKEN).unwrap();
        assert!(!format!("{t:?}").contains("rdp"));
    }
}
