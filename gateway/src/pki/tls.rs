//! The local TLS CA and the certificates it issues: the HTTPS listener's server certificate
//! and one client certificate per demo User for mutual TLS.
//!
//! This CA is separate from the SMKI-like CA: TLS trust and SMKI trust are different things
//! (a DCC User's HTTPS client certificate is not an SMKI certificate), and clients that trust
//! `<data>/tls/ca.pem` for HTTPS trust nothing else by it.
//!
//! | file | subject and use | lifetime |
//! |---|---|---|
//! | `tls/ca.pem`, `ca.key` | `O=HubGate, CN=HubGate Local TLS CA` | 10 years |
//! | `tls/server.pem`, `.key` | `CN=localhost`, SAN `localhost` `127.0.0.1` `::1` | 825 days |
//! | `tls/clients/<name>.pem`, `.key` | `CN=<name>`, x500UniqueIdentifier = User ID | 825 days |
//! | `tls/rigs/<scope>.pem`, `.key` | `OU=SMWAN, CN=<scope>`: an SMWAN rig certificate for `any` hub or one CSP region (`north`, `central`, `south`, `4g-north`, `4g-central`, `4g-south`; CN `North`, `4G North`, …) | 825 days |
//!
//! The server certificate carries extKeyUsage serverAuth, client and rig certificates
//! clientAuth. A rig certificate lets a `hil-rig` process register, over the SMWAN link,
//! only the hubs of its scope ([`crate::smwan::RigScope`]); hand a communications service
//! provider the certificate of its region, and keep `any` for a test lab.
//!
//! Validity starts an hour before `now` (clock skew). A certificate that expires within 30
//! days, or whose CA was replaced, is issued again on start; an expired CA is replaced.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use hubgate_protocol::smki::{Certificate, Usage};

use super::cert::{self, CertSpec, Extension, Issuer, KeyPair, Name, oids};
use super::generate::{Layout, invalid, pair_matches};
use super::{PkiError, files};
use crate::smwan::{RIG_UNIT, RigScope};

/// DNS names in the server certificate.
pub const SERVER_DNS_NAMES: [&str; 1] = ["localhost"];
/// IP addresses in the server certificate.
pub const SERVER_IPS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];
/// The TLS CA's common name.
pub const CA_COMMON_NAME: &str = "HubGate Local TLS CA";

const DAY: i64 = 86_400;
const CA_LIFETIME: i64 = 3650 * DAY;
const LEAF_LIFETIME: i64 = 825 * DAY;
const RENEW_BEFORE: i64 = 30 * DAY;
const BACKDATE: i64 = 3600;

/// The TLS files in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate clients trust (and, for mutual TLS, the CA of client certificates).
    pub ca_cert: PathBuf,
    /// The server certificate (PEM).
    pub server_cert: PathBuf,
    /// The server key (PKCS#8 PEM).
    pub server_key: PathBuf,
    /// Client certificates: (name, certificate, key).
    pub clients: Vec<(String, PathBuf, PathBuf)>,
    /// SMWAN rig certificates: (scope, certificate, key).
    pub rigs: Vec<(RigScope, PathBuf, PathBuf)>,
}

/// Creates or renews the local TLS CA, the server certificate and the client certificates
/// of `clients` (name and User ID) under `layout`; returns the files in use and the files
/// written.
///
/// # Errors
///
/// [`PkiError::Io`] when files cannot be read or written, [`PkiError::InvalidFile`] when an
/// existing file is not what it should be.
pub fn ensure(
    layout: &Layout,
    now: i64,
    clients: &[(&str, [u8; 8])],
) -> Result<(TlsFiles, Vec<PathBuf>), PkiError> {
    let mut created = Vec::new();
    let (ca_path, ca_key_path) = (layout.tls_ca_cert(), layout.tls_ca_key());
    let ca_usable = pair_matches(&ca_path, &ca_key_path)?
        .is_some_and(|c| now + RENEW_BEFORE <= c.not_after() && c.not_before() <= now);
    if !ca_usable {
        let key = KeyPair::generate()?;
        let subject = Name::new()
            .printable(oids::ORGANIZATION, "HubGate")
            .printable(oids::COMMON_NAME, CA_COMMON_NAME);
        let spec = CertSpec {
            serial: cert::random_serial()?,
            subject: subject.clone(),
            not_before: now - BACKDATE,
            not_after: now + CA_LIFETIME,
            public_point: key.public_point().to_vec(),
            extensions: vec![
                Extension::basic_constraints(true),
                Extension::key_usage_ca(),
                Extension::subject_key_id(&cert::key_identifier(key.public_point(), 20)),
            ],
        };
        let der = cert::sign_certificate(&spec, &subject.to_der(), &key)?;
        files::write(&ca_key_path, key.pkcs8_pem().as_bytes(), true)?;
        files::write(&ca_path, cert::pem("CERTIFICATE", &der).as_bytes(), false)?;
        created.extend([ca_path.clone(), ca_key_path.clone()]);
    }
    let ca_der = cert::certificate_der(&files::read(&ca_path)?)
        .ok_or_else(|| invalid(&ca_path, "no CERTIFICATE"))?;
    let ca_key = KeyPair::from_pem_or_der(&files::read(&ca_key_path)?)
        .map_err(|e| invalid(&ca_key_path, e))?;
    let issuer = Issuer::from_certificate(&ca_der, ca_key).map_err(|e| invalid(&ca_path, e))?;
    let ca_key_id = cert::key_identifier(issuer.key().public_point(), 20);

    let mut leaves = vec![(
        layout.tls_server_cert(),
        layout.tls_server_key(),
        Name::new().printable(oids::COMMON_NAME, SERVER_DNS_NAMES[0]),
        vec![
            Extension::ext_key_usage(&[oids::SERVER_AUTH]),
            Extension::subject_alt_name(&SERVER_DNS_NAMES, &SERVER_IPS)?,
        ],
    )];
    let mut client_files = Vec::new();
    for (name, id) in clients {
        let (c, k) = (layout.tls_client_cert(name), layout.tls_client_key(name));
        client_files.push((name.to_string(), c.clone(), k.clone()));
        leaves.push((
            c,
            k,
            Name::new()
                .printable(oids::ORGANIZATION, "HubGate")
                .utf8(oids::COMMON_NAME, name)
                .unique_identifier(id),
            vec![Extension::ext_key_usage(&[oids::CLIENT_AUTH])],
        ));
    }
    let mut rig_files = Vec::new();
    for scope in RigScope::ALL {
        let stem = scope.file_stem();
        let (c, k) = (layout.tls_rig_cert(&stem), layout.tls_rig_key(&stem));
        rig_files.push((scope, c.clone(), k.clone()));
        leaves.push((
            c,
            k,
            Name::new()
                .printable(oids::ORGANIZATION, "HubGate")
                .printable(oids::ORGANIZATIONAL_UNIT, RIG_UNIT)
                .printable(oids::COMMON_NAME, scope.common_name()),
            vec![Extension::ext_key_usage(&[oids::CLIENT_AUTH])],
        ));
    }
    for (cert_path, key_path, subject, mut extensions) in leaves {
        let current = pair_matches(&cert_path, &key_path)?.filter(|c| {
            now + RENEW_BEFORE <= c.not_after()
                && c.not_before() <= now
                && authority_key_id(c).as_deref() == Some(ca_key_id.as_slice())
        });
        if current.is_some() {
            continue;
        }
        let key = KeyPair::generate()?;
        let mut all = vec![
            Extension::basic_constraints(false),
            Extension::key_usage(Usage::DigitalSignature),
            Extension::subject_key_id(&cert::key_identifier(key.public_point(), 20)),
        ];
        all.append(&mut extensions);
        let der = issuer.issue(CertSpec {
            serial: cert::random_serial()?,
            subject,
            not_before: now - BACKDATE,
            not_after: now + LEAF_LIFETIME,
            public_point: key.public_point().to_vec(),
            extensions: all,
        })?;
        files::write(&key_path, key.pkcs8_pem().as_bytes(), true)?;
        files::write(&cert_path, cert::pem("CERTIFICATE", &der).as_bytes(), false)?;
        created.extend([cert_path, key_path]);
    }
    Ok((
        TlsFiles {
            ca_cert: ca_path,
            server_cert: layout.tls_server_cert(),
            server_key: layout.tls_server_key(),
            clients: client_files,
            rigs: rig_files,
        },
        created,
    ))
}

fn authority_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    use x509_parser::prelude::FromDer as _;
    let (_, x) = x509_parser::certificate::X509Certificate::from_der(cert.der()).ok()?;
    x.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
}
