//! The listener's TLS identity: certificate files given in the scenario, or a local CA and a
//! server certificate made here (rcgen, aws-lc-rs) and kept in the report folder, so that a
//! gateway told to trust `listener-ca.pem` (`delivery.ca`) keeps trusting later runs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

/// File names of the generated identity, in the report folder.
pub const CA_FILE: &str = "listener-ca.pem";
/// The server certificate.
pub const CERT_FILE: &str = "listener.pem";
/// Its key.
pub const KEY_FILE: &str = "listener.key";

/// Where the listener's certificate and key are, and the CA to trust for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// The CA certificate the gateway must trust (`None` when the files were given).
    pub ca: Option<PathBuf>,
}

/// Makes (or reuses, when all three files are there) a local CA and a certificate for
/// `localhost`, `127.0.0.1` and the listening address in `dir`.
///
/// # Errors
///
/// When a file cannot be written or the generator fails.
pub fn ensure_identity(dir: &Path, addr: SocketAddr) -> Result<Identity, String> {
    let id = Identity {
        cert: dir.join(CERT_FILE),
        key: dir.join(KEY_FILE),
        ca: Some(dir.join(CA_FILE)),
    };
    let ca_path = dir.join(CA_FILE);
    if id.cert.is_file() && id.key.is_file() && ca_path.is_file() {
        return Ok(id);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let e = |e: rcgen::Error| format!("making the listener's certificate: {e}");
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "HubGate loadgen listener CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(e)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).map_err(e)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "HubGate loadgen listener");
    let mut ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    if !addr.ip().is_unspecified() && !ips.contains(&addr.ip()) {
        ips.push(addr.ip());
    }
    for ip in ips {
        params.subject_alt_names.push(rcgen::SanType::IpAddress(ip));
    }
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?;
    let cert = params.signed_by(&key, &issuer).map_err(e)?;
    let write = |p: &Path, text: String| {
        std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    write(&id.key, key.serialize_pem())?;
    write(&id.cert, cert.pem())?;
    write(&ca_path, ca_cert.pem())?;
    Ok(id)
}

/// A rustls server configuration (aws-lc-rs, HTTP/1.1) from PEM files.
///
/// # Errors
///
/// When a file cannot be read, holds nothing usable, or rustls refuses the pair.
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    let read = |p: &Path| -> Result<Vec<pem::Pem>, String> {
        let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        pem::parse_many(&bytes).map_err(|e| format!("{}: {e}", p.display()))
    };
    let chain: Vec<CertificateDer<'static>> = read(cert)?
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| CertificateDer::from(p.into_contents()))
        .collect();
    if chain.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    let key_der: PrivateKeyDer<'static> = read(key)?
        .into_iter()
        .find_map(|p| match p.tag() {
            "PRIVATE KEY" => Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                p.into_contents(),
            ))),
            "EC PRIVATE KEY" => Some(PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(
                p.into_contents(),
            ))),
            _ => None,
        })
        .ok_or_else(|| format!("{}: no private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
