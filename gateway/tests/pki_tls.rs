//! The local TLS files work with rustls (webpki), which is stricter than openssl: an
//! in-memory handshake for `localhost` and `127.0.0.1`, with and without a client
//! certificate.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::path::Path;
use std::sync::Arc;

use hubgate_gateway::config::{Config, TlsConfig};
use hubgate_gateway::pki::Pki;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// 2025-06-01T00:00:00Z.
const NOW: i64 = 1_748_736_000;

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn key(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap()
}

fn roots(ca: &Path) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca) {
        roots.add(c).unwrap();
    }
    Arc::new(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Runs the handshake to completion; the error of whichever side fails.
fn handshake(
    client: ClientConfig,
    server: ServerConfig,
    name: ServerName<'static>,
) -> Result<(), rustls::Error> {
    let mut c = ClientConnection::new(Arc::new(client), name)?;
    let mut s = ServerConnection::new(Arc::new(server))?;
    for _ in 0..20 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            s.read_tls(&mut rd).unwrap();
        }
        s.process_new_packets()?;
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            c.read_tls(&mut rd).unwrap();
        }
        c.process_new_packets()?;
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

#[test]
fn rustls_accepts_the_local_tls_certificates() {
    let dir = std::env::temp_dir().join(format!("hubgate-pki-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config {
        data_dir: dir.clone(),
        tls: TlsConfig {
            mutual_tls: true,
            ..TlsConfig::default()
        },
        ..Config::default()
    };
    let pki = Pki::open(&config, NOW).unwrap();
    let tls = pki.tls().unwrap();
    assert_eq!(
        config.client_ca_path().as_deref(),
        Some(tls.ca_cert.as_path())
    );

    let server_plain = || {
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs(&tls.server_cert), key(&tls.server_key))
            .unwrap()
    };
    let client = |ca: &Path| {
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(ca))
    };

    for name in ["localhost", "127.0.0.1", "::1"] {
        let name = ServerName::try_from(name).unwrap();
        handshake(
            client(&tls.ca_cert).with_no_client_auth(),
            server_plain(),
            name,
        )
        .unwrap();
    }
    // Not for other names, and not trusted through the SMKI CA.
    let other = ServerName::try_from("example.org").unwrap();
    assert!(
        handshake(
            client(&tls.ca_cert).with_no_client_auth(),
            server_plain(),
            other
        )
        .is_err()
    );
    let smki_ca = dir.join("pki/ca.pem");
    let localhost = ServerName::try_from("localhost").unwrap();
    assert!(
        handshake(
            client(&smki_ca).with_no_client_auth(),
            server_plain(),
            localhost.clone()
        )
        .is_err()
    );

    // Mutual TLS: a User's client certificate is accepted, none is refused.
    let server_mutual = || {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots(&tls.ca_cert),
            provider(),
        )
        .build()
        .unwrap();
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs(&tls.server_cert), key(&tls.server_key))
            .unwrap()
    };
    let (_, c_cert, c_key) = &tls.clients[0];
    handshake(
        client(&tls.ca_cert)
            .with_client_auth_cert(certs(c_cert), key(c_key))
            .unwrap(),
        server_mutual(),
        localhost.clone(),
    )
    .unwrap();
    assert!(
        handshake(
            client(&tls.ca_cert).with_no_client_auth(),
            server_mutual(),
            localhost
        )
        .is_err()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
