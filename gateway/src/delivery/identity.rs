//! Who is asking, for the pull endpoint: the User named by a mutual-TLS client certificate,
//! or else the User whose bearer token is presented.
//!
//! - **Client certificate.** With `tls.mutual_tls`, rustls has already checked the client's
//!   chain against `tls.client_ca` during the handshake. [`on_connect`] (installed on the
//!   HTTPS listener) reads the User ID from the certificate's subject — the
//!   `x500UniqueIdentifier` (2.5.4.45) attribute holding the 8-byte User ID as a BIT STRING,
//!   as the local TLS CA writes it in `<data_dir>/tls/clients/<name>.pem` and as SMKI
//!   organisation certificates carry it — and stores it with the connection. A certificate
//!   that names a User identifies it; an `Authorization` header is then not consulted.
//! - **Bearer token.** Otherwise `Authorization: Bearer <token>` must match one User's
//!   `users.<id>.pull_token`. Tokens are held as SHA-256 digests and compared in constant
//!   time ([`BearerToken`]); every configured token is compared, so the time taken does not
//!   depend on which one matched.

use std::any::Any;

use actix_web::HttpRequest;
use actix_web::dev::Extensions;

use crate::config::Config;
use crate::registration::{AuthError, BearerToken};

/// The User named by the client certificate of the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertifiedUser(pub [u8; 8]);

/// DER body of OID 2.5.4.45 (x500UniqueIdentifier).
const OID_UNIQUE_IDENTIFIER: &[u8] = &[0x55, 0x04, 0x2d];

/// The User ID in a certificate's subject: an `x500UniqueIdentifier` BIT STRING with no
/// unused bits holding exactly 8 bytes. `None` for anything else, including input that is
/// not a certificate.
pub fn user_in_certificate(der: &[u8]) -> Option<[u8; 8]> {
    use x509_parser::asn1_rs::Tag;
    use x509_parser::prelude::FromDer as _;
    let (_, x) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    x.subject()
        .iter_attributes()
        .filter(|a| a.attr_type().as_bytes() == OID_UNIQUE_IDENTIFIER)
        .find_map(|a| {
            let v = a.attr_value();
            match (v.tag(), v.data) {
                (Tag::BitString, [0, eui @ ..]) => eui.try_into().ok(),
                _ => None,
            }
        })
}

/// For `HttpServer::on_connect`: on a TLS connection whose client presented a certificate
/// naming a User, stores [`CertifiedUser`] in the connection's data.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    let Some(tls) = connection.downcast_ref::<Tls>() else {
        return;
    };
    let (_, session) = tls.get_ref();
    if let Some(user) = session
        .peer_certificates()
        .and_then(<[_]>::first)
        .and_then(|c| user_in_certificate(c.as_ref()))
    {
        data.insert(CertifiedUser(user));
    }
}

/// The Users' pull tokens.
#[derive(Debug, Clone, Default)]
pub struct PullTokens {
    tokens: Vec<([u8; 8], BearerToken)>,
}

/// A configured pull token that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("users.{user}.pull_token: {source}")]
pub struct TokenError {
    /// The User key as configured.
    pub user: String,
    /// Why.
    pub source: AuthError,
}

impl PullTokens {
    /// The tokens set in `users.<id>.pull_token`.
    ///
    /// # Errors
    ///
    /// [`TokenError`] for a token that is too weak ([`Config::validate`] refuses those too).
    pub fn from_config(config: &Config) -> Result<PullTokens, TokenError> {
        let mut tokens = Vec::new();
        for (id, o) in &config.users {
            let (Some(eui), Some(token)) = (hubgate_protocol::hex::parse_eui(id), &o.pull_token)
            else {
                continue;
            };
            let t = BearerToken::new(token).map_err(|source| TokenError {
                user: id.clone(),
                source,
            })?;
            tokens.push((eui, t));
        }
        Ok(PullTokens { tokens })
    }

    /// Tokens for the given Users.
    ///
    /// # Errors
    ///
    /// [`AuthError::WeakToken`] for a token that is too weak.
    pub fn new<'a>(
        tokens: impl IntoIterator<Item = ([u8; 8], &'a str)>,
    ) -> Result<PullTokens, AuthError> {
        Ok(PullTokens {
            tokens: tokens
                .into_iter()
                .map(|(u, t)| BearerToken::new(t).map(|t| (u, t)))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The User whose token the `Authorization` header value carries.
    ///
    /// # Errors
    ///
    /// [`AuthError::Missing`], [`AuthError::NotBearer`] or [`AuthError::Mismatch`].
    pub fn user_for(&self, authorization: Option<&[u8]>) -> Result<[u8; 8], AuthError> {
        let mut found = None;
        let mut error = AuthError::Mismatch;
        for (user, token) in &self.tokens {
            match token.verify(authorization) {
                Ok(()) => found = found.or(Some(*user)),
                Err(e @ (AuthError::Missing | AuthError::NotBearer)) => error = e,
                Err(_) => {}
            }
        }
        if self.tokens.is_empty() {
            // Still say what was wrong with the header.
            return Err(match authorization {
                None => AuthError::Missing,
                Some(_) => AuthError::Mismatch,
            });
        }
        found.ok_or(error)
    }
}

/// The User making `req`: its client certificate's User, or the User whose pull token it
/// presents.
///
/// # Errors
///
/// Why the request is not authenticated.
pub fn identify(req: &HttpRequest, tokens: &PullTokens) -> Result<[u8; 8], AuthError> {
    if let Some(CertifiedUser(user)) = req.conn_data::<CertifiedUser>() {
        return Ok(*user);
    }
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .map(actix_web::http::header::HeaderValue::as_bytes);
    tokens.user_for(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x01, 0, 0];
    const B: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x02, 0, 0];
    const TA: &str = "pull-token-of-user-a-0123456789abcdef";
    const TB: &str = "pull-token-of-user-b-0123456789abcdef";

    #[test]
    fn each_token_names_its_user_only() {
        let t = PullTokens::new([(A, TA), (B, TB)]).unwrap();
        assert_eq!(t.user_for(Some(format!("Bearer {TA}").as_bytes())), Ok(A));
        assert_eq!(t.user_for(Some(format!("bearer {TB}").as_bytes())), Ok(B));
        assert_eq!(t.user_for(None), Err(AuthError::Missing));
        assert_eq!(t.user_for(Some(b"Basic abc")), Err(AuthError::NotBearer));
        let wrong = format!("Bearer {}x", &TA[..TA.len() - 1]);
        assert_eq!(t.user_for(Some(wrong.as_bytes())), Err(AuthError::Mismatch));
        let none = PullTokens::default();
        assert_eq!(
            none.user_for(Some(format!("Bearer {TA}").as_bytes())),
            Err(AuthError::Mismatch)
        );
        assert_eq!(none.user_for(None), Err(AuthError::Missing));
        assert!(PullTokens::new([(A, "short")]).is_err());
    }

    #[test]
    fn the_user_id_is_read_from_a_local_tls_client_certificate() {
        let dir = std::env::temp_dir().join(format!("hubgate-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = Config {
            data_dir: dir.clone(),
            tls: crate::config::TlsConfig {
                mutual_tls: true,
                ..Default::default()
            },
            ..Config::default()
        };
        let pki = crate::pki::Pki::open(&config, 1_750_000_000).unwrap();
        let files = pki.tls().unwrap();
        assert!(!files.clients.is_empty());
        for (name, cert, _) in &files.clients {
            let der = crate::ingress::tls::load_certs(cert).unwrap();
            let user = pki.users().iter().find(|u| {
                name == &u
                    .name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect::<String>()
            });
            assert_eq!(
                user_in_certificate(der[0].as_ref()),
                user.map(|u| u.id),
                "{name}"
            );
        }
        // The server certificate names no User; garbage is not a certificate.
        let server = crate::ingress::tls::load_certs(&files.server_cert).unwrap();
        assert_eq!(user_in_certificate(server[0].as_ref()), None);
        assert_eq!(user_in_certificate(b"\x30\x03\x02\x01\x00"), None);
        assert_eq!(user_in_certificate(&[]), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
