//! DUIS XML-DSig against the DCC Boxed signing vectors and the 297 DUIS templates.
//!
//! Expected verdicts are those of the independent oracle (`shared/tools/oracle/README.md`,
//! "DUIS XML-DSig"), which xmlsec1 agrees with. The trust store is every certificate in
//! `conformance/smki` (`*.pem`) plus the certificates in `smki/keystore.json`.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::path::{Path, PathBuf};

use hubgate_protocol::conformance;
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::duis::dsig::{
    self, CertResolver, DsigError, KeySource, ResolvedCert, Verified, VerifyOptions,
};
use hubgate_protocol::duis::xml::XmlError;
use hubgate_protocol::smki::{Certificate, Store};

/// Certificates labelled by file name (or `keystore.json:<eui>/<serial>`), found by serial.
struct Trust {
    certs: Vec<(String, Certificate)>,
}

impl CertResolver for Trust {
    fn by_serial(&self, serial_decimal: &str) -> Option<ResolvedCert<'_>> {
        self.certs
            .iter()
            .find(|(_, c)| c.serial_decimal() == serial_decimal)
            .map(|(label, c)| ResolvedCert::from_certificate(c, label.as_str()))
    }
}

fn smki() -> PathBuf {
    conformance::require().join("smki")
}

fn vectors_dir() -> PathBuf {
    conformance::require().join("duis/signing-vectors")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn certificate(name: &str) -> Certificate {
    Certificate::from_pem(&read(&smki().join(name)))
        .unwrap_or_else(|e| panic!("{name} is not a certificate: {e}"))
}

fn trust() -> Trust {
    let mut names: Vec<String> = std::fs::read_dir(smki())
        .expect("smki folder is readable")
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".pem") && !n.ends_with(".key.pem"))
        .collect();
    names.sort();
    let mut certs: Vec<(String, Certificate)> = names
        .into_iter()
        .map(|n| (n.clone(), certificate(&n)))
        .collect();
    assert!(
        certs.len() >= 19,
        "expected the SMKI certificates, found {}",
        certs.len()
    );

    let json: serde_json::Value = serde_json::from_slice(&read(&smki().join("keystore.json")))
        .expect("keystore.json is JSON");
    let mut from_json = 0;
    for (eui, usages) in json.as_object().expect("keystore.json is an object") {
        for serials in usages.as_object().into_iter().flat_map(|u| u.values()) {
            for (serial, entry) in serials.as_object().into_iter().flatten() {
                if let Some(pem) = entry.get("certificate").and_then(|c| c.as_str()) {
                    let cert = Certificate::from_pem(pem.as_bytes())
                        .unwrap_or_else(|e| panic!("keystore.json {eui}/{serial}: {e}"));
                    certs.push((format!("keystore.json:{eui}/{serial}"), cert));
                    from_json += 1;
                }
            }
        }
    }
    assert!(from_json > 0, "keystore.json holds certificates");
    Trust { certs }
}

/// What the oracle says about each vector.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Valid(&'static str),
    BadSignature,
    DigestMismatch,
    /// Missing KeyInfo; valid with this certificate given explicitly, after whitespace
    /// stripping.
    MissingKeyInfo(&'static str),
    /// Unknown KeyInfo serial; valid with this certificate given explicitly.
    UnknownCertificate(&'static str),
    Placeholder,
    Unsigned,
    Doctype,
}

const ACB_DS: &str = "Z1-accessControlBroker-ds.pem";
const ACB_XML: &str = "Z1-accessControlBroker-dSPXmlSign.pem";

const VECTORS: &[(&str, Expect)] = &[
    (
        "ECS52_11.2_SUCCESS_RESPONSE_DUIS.XML",
        Expect::Valid(ACB_DS),
    ),
    ("message.xml", Expect::Valid(ACB_DS)),
    (
        "read-inventory-response-4g.xml",
        Expect::Valid("dsp-xml-sign-90B3D51F30000002-ds.pem"),
    ),
    ("read-inventory-response-5.4.xml", Expect::Valid(ACB_XML)),
    ("readfw-response-resigned.xml", Expect::Valid(ACB_XML)),
    (
        "readfw-response.xml",
        Expect::Valid("dsp-xml-sign-90B3D51F30000002-ds-pre-1.4.1.pem"),
    ),
    ("readfw-response-badsignature.xml", Expect::BadSignature),
    ("readfw-response-invalid.xml", Expect::DigestMismatch),
    (
        "readfw-response-no-serial.xml",
        Expect::MissingKeyInfo(ACB_DS),
    ),
    (
        "readfw-response-nonexist-serial.xml",
        Expect::UnknownCertificate(ACB_DS),
    ),
    (
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS-signed.XML",
        Expect::Placeholder,
    ),
    ("ECS50_9.1_SUCCESS_REQUEST_DUIS.XML", Expect::Placeholder),
    (
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        Expect::Unsigned,
    ),
    (
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS-invalid.XML",
        Expect::Unsigned,
    ),
    (
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS-nonexist-businessid.XML",
        Expect::Unsigned,
    ),
    ("acknowledgement-error.xml", Expect::Unsigned),
    ("message2.xml", Expect::Unsigned),
    ("readfw-response-no-signature.xml", Expect::Unsigned),
    ("duis-xxe.xml", Expect::Doctype),
];

fn with_fallback() -> VerifyOptions {
    VerifyOptions {
        whitespace_fallback: true,
        ..Default::default()
    }
}

fn explicit(bytes: &[u8], cert_file: &str, options: &VerifyOptions) -> Result<Verified, DsigError> {
    let cert = certificate(cert_file);
    let resolved = ResolvedCert::from_certificate(&cert, cert_file);
    dsig::verify_with(bytes, KeySource::Explicit(&resolved), options)
}

/// Checks one vector against its expectation with the given trust store; `exact_labels`
/// asks for the certificate file name as the label.
fn check(name: &str, expect: Expect, resolver: &dyn CertResolver, exact_labels: bool) {
    let bytes = read(&vectors_dir().join(name));
    for options in [VerifyOptions::default(), with_fallback()] {
        let got = dsig::verify_with(&bytes, KeySource::KeyInfo(resolver), &options);
        let ok = match (&got, expect) {
            (Ok(v), Expect::Valid(cert)) => {
                (!exact_labels || v.label == cert)
                    && !v.whitespace_stripped
                    && !v.explicit_key
                    && v.issuer_matches == Some(true)
            }
            (Err(DsigError::BadSignature { .. }), Expect::BadSignature) => true,
            (Err(DsigError::DigestMismatch), Expect::DigestMismatch) => true,
            (Err(DsigError::MissingKeyInfo), Expect::MissingKeyInfo(_)) => true,
            (Err(DsigError::UnknownCertificate(serial)), Expect::UnknownCertificate(_)) => {
                serial.starts_with("2176")
            }
            (Err(DsigError::Placeholder { .. }), Expect::Placeholder) => true,
            (Err(DsigError::Unsigned), Expect::Unsigned) => true,
            (Err(DsigError::Xml(XmlError::Doctype)), Expect::Doctype) => true,
            _ => false,
        };
        assert!(
            ok,
            "{name} (fallback {}): expected {expect:?}, got {got:?}",
            options.whitespace_fallback
        );
    }

    match expect {
        Expect::Valid(cert) => {
            let v = explicit(&bytes, cert, &VerifyOptions::default())
                .unwrap_or_else(|e| panic!("{name} with explicit {cert}: {e}"));
            assert!(v.explicit_key && v.label == cert);
        }
        Expect::UnknownCertificate(cert) => {
            let v = explicit(&bytes, cert, &VerifyOptions::default())
                .unwrap_or_else(|e| panic!("{name} with explicit {cert}: {e}"));
            assert!(!v.whitespace_stripped);
        }
        Expect::MissingKeyInfo(cert) => {
            // Pretty-printed after signing: as stored the digest no longer matches, and a
            // whitespace-stripped copy verifies.
            let stored = explicit(&bytes, cert, &VerifyOptions::default());
            assert!(
                matches!(stored, Err(DsigError::DigestMismatch)),
                "{name}: {stored:?}"
            );
            let v = explicit(&bytes, cert, &with_fallback())
                .unwrap_or_else(|e| panic!("{name} with explicit {cert} and fallback: {e}"));
            assert!(v.whitespace_stripped && v.serial.is_none());
        }
        Expect::DigestMismatch => {
            // The SignedInfo signature itself is fine (content was altered after signing):
            // the digest check is what catches it.
            let got = explicit(&bytes, ACB_DS, &with_fallback());
            assert!(
                matches!(got, Err(DsigError::DigestMismatch)),
                "{name}: {got:?}"
            );
        }
        _ => {}
    }
}

#[test]
fn every_vector_is_listed() {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("signing vectors are readable")
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let mut listed: Vec<String> = VECTORS.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(names, listed);
}

#[test]
fn signing_vectors_match_the_oracle() {
    let trust = trust();
    for &(name, expect) in VECTORS {
        check(name, expect, &trust, true);
    }
}

#[test]
fn signing_vectors_with_the_smki_store() {
    let mut store = Store::new();
    store.load_dir(&smki()).expect("smki folder loads");
    for &(name, expect) in VECTORS {
        check(name, expect, &store, false);
    }
}

#[test]
fn vectors_report_signer_details() {
    let bytes = read(&vectors_dir().join("readfw-response-resigned.xml"));
    let v = dsig::verify(&bytes, &trust()).expect("valid");
    assert_eq!(
        v.serial.as_deref(),
        Some("20315062944123339095836004026371736578")
    );
    assert_eq!(v.key_info_issuer.as_deref(), Some("CN=Z1,OU=07"));
    assert_eq!(
        hubgate_protocol::hex::encode(&v.digest),
        "96d8558501151cb42809264ef006ac00b9cfcd2e48c44bbf9ebc84ea9bc3b27c"
    );
}

#[test]
fn templates_round_trip() {
    let root = conformance::require();
    let key = SigningKey::from_der(&read(&smki().join("xml-sign-90B3D51F30010000-ds.key")))
        .expect("PKCS#8 DER signing key");
    let cert = certificate("xml-sign-90B3D51F30010000-ds.pem");
    let trust = trust();

    let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join("duis/templates"))
        .expect("templates are readable")
        .map(|e| e.expect("directory entry").path())
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 297);
    for path in &paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let template = read(path);
        let before = dsig::verify(&template, &trust);
        assert!(
            matches!(before, Err(DsigError::Placeholder { len: 7 })),
            "{name}: {before:?}"
        );

        let signed = dsig::sign_with_certificate(&template, &key, &cert)
            .unwrap_or_else(|e| panic!("{name}: cannot sign: {e}"));
        let v = dsig::verify(&signed, &trust).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.label, "xml-sign-90B3D51F30010000-ds.pem", "{name}");
        assert_eq!(v.serial.as_deref(), Some(cert.serial_decimal()));
        assert_eq!(v.issuer_matches, Some(true));
        // The certificate alone is a trust store too.
        dsig::verify(&signed, &cert).unwrap_or_else(|e| panic!("{name}: {e}"));

        // Signing is over compact XML; flipping one character of content breaks it.
        let text = String::from_utf8(signed).expect("UTF-8 output");
        assert!(!text.contains(">\n"), "{name}: output is not compact");
        let tampered = text.replacen("<sr:CommandVariant>", "<sr:CommandVariant>1", 1);
        if tampered != text {
            let got = dsig::verify(tampered.as_bytes(), &trust);
            assert!(
                matches!(got, Err(DsigError::DigestMismatch)),
                "{name}: {got:?}"
            );
        }
    }
}
