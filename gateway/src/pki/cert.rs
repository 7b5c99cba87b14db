//! Keys and certificates: P-256 key pairs from aws-lc-rs and X.509 v3 certificates written
//! with the `der` module in the profiles HubGate issues (SMKI-like organisation certificates,
//! their CA, and the local TLS CA with its server and client certificates).

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use hubgate_protocol::smki::Usage;

use super::PkiError;
use super::der;

/// Object identifiers used in the certificates.
pub mod oids {
    /// id-ecPublicKey.
    pub const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
    /// prime256v1 (P-256).
    pub const PRIME256V1: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
    /// ecdsa-with-SHA256.
    pub const ECDSA_WITH_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
    /// commonName.
    pub const COMMON_NAME: &[u64] = &[2, 5, 4, 3];
    /// organizationName.
    pub const ORGANIZATION: &[u64] = &[2, 5, 4, 10];
    /// organizationalUnitName: the SMKI role.
    pub const ORGANIZATIONAL_UNIT: &[u64] = &[2, 5, 4, 11];
    /// x500UniqueIdentifier: the SMKI holder's EUI-64, a BIT STRING.
    pub const UNIQUE_IDENTIFIER: &[u64] = &[2, 5, 4, 45];
    /// subjectKeyIdentifier.
    pub const SUBJECT_KEY_ID: &[u64] = &[2, 5, 29, 14];
    /// keyUsage.
    pub const KEY_USAGE: &[u64] = &[2, 5, 29, 15];
    /// subjectAltName.
    pub const SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
    /// basicConstraints.
    pub const BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
    /// certificatePolicies.
    pub const CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
    /// authorityKeyIdentifier.
    pub const AUTHORITY_KEY_ID: &[u64] = &[2, 5, 29, 35];
    /// extKeyUsage.
    pub const EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
    /// id-kp-serverAuth.
    pub const SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
    /// id-kp-clientAuth.
    pub const CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];
    /// The certificate policy carried by the ZAZ1 test organisation certificates
    /// (`1.2.826.0.1.8641679.1.2.1.4`), reused so that HubGate's certificates look the same
    /// to tools that print or filter on it.
    pub const SMKI_ORGANISATION_POLICY: &[u64] = &[1, 2, 826, 0, 1, 8_641_679, 1, 2, 1, 4];
}

/// keyUsage bit numbers (RFC 5280 §4.2.1.3).
mod key_usage_bit {
    pub const DIGITAL_SIGNATURE: u8 = 0;
    pub const KEY_AGREEMENT: u8 = 4;
    pub const KEY_CERT_SIGN: u8 = 5;
    pub const CRL_SIGN: u8 = 6;
}

/// A P-256 key pair, kept with its PKCS#8 encoding so it can be written to a file.
pub struct KeyPair {
    pkcs8: Vec<u8>,
    pair: EcdsaKeyPair,
}

impl KeyPair {
    /// A fresh key pair from the system random generator.
    ///
    /// # Errors
    ///
    /// [`PkiError::Crypto`] if the cryptographic library fails.
    pub fn generate() -> Result<Self, PkiError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| PkiError::Crypto("generating a P-256 key pair"))?;
        Self::from_der(doc.as_ref())
            .map_err(|_| PkiError::Crypto("reading a generated P-256 key pair"))
    }

    /// Reads a private key from PKCS#8 or SEC1 DER, or PEM holding either.
    ///
    /// # Errors
    ///
    /// [`PkiError::InvalidKey`] when the input is not a P-256 private key.
    pub fn from_pem_or_der(input: &[u8]) -> Result<Self, PkiError> {
        let der = match pem_blocks(input) {
            Some(blocks) => blocks
                .into_iter()
                .find(|(label, _)| label.ends_with("PRIVATE KEY"))
                .map(|(_, der)| der)
                .ok_or(PkiError::InvalidKey("no PRIVATE KEY block in the PEM text"))?,
            None => input.to_vec(),
        };
        Self::from_der(&der)
    }

    fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
            .map_err(|_| PkiError::InvalidKey("not a P-256 private key"))?;
        let pkcs8 = pair
            .to_pkcs8v1()
            .map_err(|_| PkiError::Crypto("encoding a private key as PKCS#8"))?;
        Ok(KeyPair {
            pkcs8: pkcs8.as_ref().to_vec(),
            pair,
        })
    }

    /// The public key as an uncompressed SEC1 point (`04 ‖ x ‖ y`).
    pub fn public_point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The SubjectPublicKeyInfo, DER.
    pub fn spki_der(&self) -> Vec<u8> {
        spki(self.public_point())
    }

    /// The private key as PKCS#8 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The private key as PKCS#8 PEM (`PRIVATE KEY`).
    pub fn pkcs8_pem(&self) -> String {
        pem("PRIVATE KEY", &self.pkcs8)
    }

    /// Signs `msg` with ECDSA P-256/SHA-256; the signature is DER, as X.509 wants it.
    fn sign_der(&self, msg: &[u8]) -> Result<Vec<u8>, PkiError> {
        let rng = SystemRandom::new();
        self.pair
            .sign(&rng, msg)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| PkiError::Crypto("ECDSA signing"))
    }
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_point", &hex(self.public_point()))
            .finish_non_exhaustive()
    }
}

/// A distinguished name, built one attribute (one RDN) at a time, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Name {
    rdns: Vec<Vec<u8>>,
}

impl Name {
    /// An empty name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an attribute whose value is a PrintableString (falls back to UTF8String when the
    /// text has characters PrintableString cannot carry).
    pub fn printable(mut self, attr: &[u64], value: &str) -> Self {
        let v = der::printable_string(value).unwrap_or_else(|| der::utf8_string(value));
        self.push(attr, v);
        self
    }

    /// Adds an attribute whose value is a UTF8String.
    pub fn utf8(mut self, attr: &[u64], value: &str) -> Self {
        self.push(attr, der::utf8_string(value));
        self
    }

    /// Adds the SMKI x500UniqueIdentifier: a BIT STRING holding the 8-byte EUI.
    pub fn unique_identifier(mut self, eui: &[u8; 8]) -> Self {
        self.push(oids::UNIQUE_IDENTIFIER, der::bit_string(eui));
        self
    }

    fn push(&mut self, attr: &[u64], value: Vec<u8>) {
        let atv = der::sequence([der::oid(attr), value]);
        self.rdns.push(der::set([atv]));
    }

    /// The DER `Name` (a SEQUENCE of RDN SETs).
    pub fn to_der(&self) -> Vec<u8> {
        der::sequence(&self.rdns)
    }
}

/// One X.509 v3 extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    oid: &'static [u64],
    critical: bool,
    value: Vec<u8>,
}

impl Extension {
    /// An extension with its DER-encoded value (the content of the `extnValue` OCTET STRING).
    pub fn new(oid: &'static [u64], critical: bool, value: Vec<u8>) -> Self {
        Extension {
            oid,
            critical,
            value,
        }
    }

    /// keyUsage (critical) for an SMKI key: digitalSignature or keyAgreement alone.
    pub fn key_usage(usage: Usage) -> Self {
        let bit = match usage {
            Usage::DigitalSignature => key_usage_bit::DIGITAL_SIGNATURE,
            Usage::KeyAgreement => key_usage_bit::KEY_AGREEMENT,
        };
        Self::new(oids::KEY_USAGE, true, der::named_bits(&[bit]))
    }

    /// keyUsage (critical) for a certificate authority: keyCertSign and cRLSign.
    pub fn key_usage_ca() -> Self {
        Self::new(
            oids::KEY_USAGE,
            true,
            der::named_bits(&[key_usage_bit::KEY_CERT_SIGN, key_usage_bit::CRL_SIGN]),
        )
    }

    /// basicConstraints (critical): `cA` TRUE with a path length of 0, or an end entity.
    pub fn basic_constraints(ca: bool) -> Self {
        let value = if ca {
            der::sequence([der::boolean(true), der::small_integer(0)])
        } else {
            der::sequence::<[Vec<u8>; 0], Vec<u8>>([])
        };
        Self::new(oids::BASIC_CONSTRAINTS, true, value)
    }

    /// subjectKeyIdentifier.
    pub fn subject_key_id(id: &[u8]) -> Self {
        Self::new(oids::SUBJECT_KEY_ID, false, der::octet_string(id))
    }

    /// authorityKeyIdentifier with the issuer's key identifier only.
    pub fn authority_key_id(id: &[u8]) -> Self {
        Self::new(
            oids::AUTHORITY_KEY_ID,
            false,
            der::sequence([der::implicit(0, id)]),
        )
    }

    /// certificatePolicies (critical, as in the SMKI profile) with one policy and no
    /// qualifiers.
    pub fn certificate_policy(policy: &[u64]) -> Self {
        Self::new(
            oids::CERTIFICATE_POLICIES,
            true,
            der::sequence([der::sequence([der::oid(policy)])]),
        )
    }

    /// extKeyUsage with the given purposes.
    pub fn ext_key_usage(purposes: &[&[u64]]) -> Self {
        Self::new(
            oids::EXT_KEY_USAGE,
            false,
            der::sequence(purposes.iter().map(|p| der::oid(p))),
        )
    }

    /// subjectAltName with DNS names and IP addresses.
    ///
    /// # Errors
    ///
    /// [`PkiError::InvalidName`] for a DNS name that is not ASCII.
    pub fn subject_alt_name(dns: &[&str], ips: &[std::net::IpAddr]) -> Result<Self, PkiError> {
        let mut names = Vec::new();
        for d in dns {
            if !d.is_ascii() {
                return Err(PkiError::InvalidName(d.to_string()));
            }
            // dNSName [2] IMPLICIT IA5String.
            names.push(der::implicit(2, d.as_bytes()));
        }
        for ip in ips {
            let bytes = match ip {
                std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            names.push(der::implicit(7, &bytes));
        }
        Ok(Self::new(
            oids::SUBJECT_ALT_NAME,
            false,
            der::sequence(names),
        ))
    }

    fn to_der(&self) -> Vec<u8> {
        let mut parts = vec![der::oid(self.oid)];
        if self.critical {
            parts.push(der::boolean(true));
        }
        parts.push(der::octet_string(&self.value));
        der::sequence(parts)
    }
}

/// What goes into one certificate, apart from the issuer.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// The serial number's magnitude (big-endian, positive).
    pub serial: Vec<u8>,
    /// The subject.
    pub subject: Name,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// The subject's public key as an uncompressed SEC1 point.
    pub public_point: Vec<u8>,
    /// Extensions, in the order written.
    pub extensions: Vec<Extension>,
}

/// The party that signs certificates: its subject name (DER, copied verbatim into the
/// issuer field), its key identifier and its key.
#[derive(Debug)]
pub struct Issuer {
    name_der: Vec<u8>,
    key_id: Vec<u8>,
    key: KeyPair,
}

impl Issuer {
    /// An issuer from its certificate (DER) and private key; fails when they do not match.
    ///
    /// # Errors
    ///
    /// [`PkiError::InvalidCertificate`] when the certificate cannot be read or certifies
    /// another key.
    pub fn from_certificate(cert_der: &[u8], key: KeyPair) -> Result<Self, PkiError> {
        use x509_parser::prelude::FromDer as _;
        let (_, x) = x509_parser::certificate::X509Certificate::from_der(cert_der)
            .map_err(|e| PkiError::InvalidCertificate(format!("CA certificate: {e}")))?;
        if x.public_key().subject_public_key.data.as_ref() != key.public_point() {
            return Err(PkiError::InvalidCertificate(
                "the CA key does not match the CA certificate".into(),
            ));
        }
        let key_id = match x.extensions_map() {
            Ok(map) => map
                .get(&x509_parser::oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)
                .and_then(|e| match e.parsed_extension() {
                    x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => {
                        Some(k.0.to_vec())
                    }
                    _ => None,
                }),
            Err(_) => None,
        }
        .unwrap_or_else(|| key_identifier(key.public_point(), 20));
        Ok(Issuer {
            name_der: x.subject().as_raw().to_vec(),
            key_id,
            key,
        })
    }

    /// The issuer's key.
    pub fn key(&self) -> &KeyPair {
        &self.key
    }

    /// Issues a certificate: adds the authorityKeyIdentifier and signs.
    ///
    /// # Errors
    ///
    /// As [`sign_certificate`].
    pub fn issue(&self, mut spec: CertSpec) -> Result<Vec<u8>, PkiError> {
        spec.extensions
            .push(Extension::authority_key_id(&self.key_id));
        sign_certificate(&spec, &self.name_der, &self.key)
    }
}

/// Writes the TBSCertificate for `spec` under `issuer_name` (DER) and signs it with
/// `issuer_key`; returns the certificate, DER.
///
/// # Errors
///
/// [`PkiError::InvalidValidity`] for times outside years 0–9999, [`PkiError::Crypto`] if
/// signing fails.
pub fn sign_certificate(
    spec: &CertSpec,
    issuer_name: &[u8],
    issuer_key: &KeyPair,
) -> Result<Vec<u8>, PkiError> {
    let algorithm = der::sequence([der::oid(oids::ECDSA_WITH_SHA256)]);
    let time = |t| der::time(t).ok_or(PkiError::InvalidValidity(t));
    let validity = der::sequence([time(spec.not_before)?, time(spec.not_after)?]);
    let mut tbs = vec![
        der::explicit(0, &der::small_integer(2)),
        der::unsigned_integer(&spec.serial),
        algorithm.clone(),
        issuer_name.to_vec(),
        validity,
        spec.subject.to_der(),
        spki(&spec.public_point),
    ];
    if !spec.extensions.is_empty() {
        let exts = der::sequence(spec.extensions.iter().map(Extension::to_der));
        tbs.push(der::explicit(3, &exts));
    }
    let tbs = der::sequence(tbs);
    let signature = issuer_key.sign_der(&tbs)?;
    Ok(der::sequence([tbs, algorithm, der::bit_string(&signature)]))
}

/// A positive random serial number of 16 bytes (126–127 bits of randomness; the first byte
/// is never zero, so the encoding is always 16 bytes long).
///
/// # Errors
///
/// [`PkiError::Crypto`] if the system random generator fails.
pub fn random_serial() -> Result<Vec<u8>, PkiError> {
    let mut serial = [0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| PkiError::Crypto("random serial number"))?;
    serial[0] &= 0x7f;
    if serial[0] == 0 {
        serial[0] = 0x01;
    }
    Ok(serial.to_vec())
}

/// A key identifier: the leftmost `len` bytes of SHA-256 over the public key point
/// (RFC 7093 §2 method 1 for `len` 20; the SMKI certificates use 8-byte identifiers).
pub fn key_identifier(public_point: &[u8], len: usize) -> Vec<u8> {
    let d = digest::digest(&digest::SHA256, public_point);
    d.as_ref()[..len.min(32)].to_vec()
}

/// The SubjectPublicKeyInfo of a P-256 point.
fn spki(point: &[u8]) -> Vec<u8> {
    der::sequence([
        der::sequence([der::oid(oids::EC_PUBLIC_KEY), der::oid(oids::PRIME256V1)]),
        der::bit_string(point),
    ])
}

/// PEM text: base64 wrapped at 64 columns between BEGIN and END lines.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The blocks of PEM text as (label, DER), or `None` when `input` is not PEM.
pub fn pem_blocks(input: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let text = std::str::from_utf8(input).ok()?;
    if !text.contains("-----BEGIN ") {
        return None;
    }
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut b64 = String::new();
        for l in lines.by_ref() {
            if l.trim() == end {
                break;
            }
            b64.push_str(l.trim());
        }
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
            blocks.push((label.to_string(), der));
        }
    }
    Some(blocks)
}

/// The first `CERTIFICATE` block of PEM text (or the input itself when it is not PEM).
pub fn certificate_der(input: &[u8]) -> Option<Vec<u8>> {
    match pem_blocks(input) {
        Some(blocks) => blocks
            .into_iter()
            .find(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der),
        None => Some(input.to_vec()),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_sixteen_bytes() {
        for _ in 0..64 {
            let s = random_serial().unwrap();
            assert_eq!(s.len(), 16);
            assert!(s[0] != 0 && s[0] < 0x80);
        }
    }

    #[test]
    fn key_pairs_round_trip_through_pem() {
        let k = KeyPair::generate().unwrap();
        let again = KeyPair::from_pem_or_der(k.pkcs8_pem().as_bytes()).unwrap();
        assert_eq!(k.public_point(), again.public_point());
        assert_eq!(k.public_point().len(), 65);
        assert!(KeyPair::from_pem_or_der(b"not a key").is_err());
    }

    #[test]
    fn pem_is_wrapped_and_read_back() {
        let der: Vec<u8> = (0..=255).collect();
        let text = pem("CERTIFICATE", &der);
        assert!(text.lines().all(|l| l.len() <= 64));
        assert_eq!(certificate_der(text.as_bytes()).unwrap(), der);
    }
}
