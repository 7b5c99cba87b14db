//! DUIS XML-DSig interoperability with programs we did not write: `xmlsec1` (libxml2 +
//! OpenSSL) and the Python oracle (`shared/tools/oracle/xmldsig_oracle.py`, lxml +
//! cryptography).
//!
//! - Our signatures over all 297 templates verify with both.
//! - Signatures made by both (the oracle over a sample of templates, xmlsec1 over all of
//!   them, compact and as pretty-printed as the templates are) verify with ours.
//!
//! The tools are required: install them with `apt-get install -y xmlsec1` and
//! `pip install lxml cryptography`. Set `HUBGATE_SKIP_INTEROP=1` to skip these tests where
//! they cannot be installed.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use hubgate_protocol::conformance;
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::duis::dsig::{self, DsigError, Verified};
use hubgate_protocol::duis::xml::{self, Document};
use hubgate_protocol::duis::{NS_DS, c14n};
use hubgate_protocol::smki::Certificate;

const KEY: &str = "xml-sign-90B3D51F30010000-ds.key";
const CERT: &str = "xml-sign-90B3D51F30010000-ds.pem";

/// True when the interop tools are present; panics with instructions when they are not,
/// unless `HUBGATE_SKIP_INTEROP=1`.
fn tools_available() -> bool {
    let xmlsec1 = Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let lxml = Command::new("python3")
        .args(["-c", "import lxml, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if xmlsec1 && lxml {
        return true;
    }
    let missing = match (xmlsec1, lxml) {
        (false, false) => "xmlsec1 and python3 lxml/cryptography",
        (false, true) => "xmlsec1",
        _ => "python3 lxml/cryptography",
    };
    if std::env::var("HUBGATE_SKIP_INTEROP").is_ok_and(|v| v == "1") {
        eprintln!("skipping XML-DSig interop: {missing} not installed (HUBGATE_SKIP_INTEROP=1)");
        return false;
    }
    panic!(
        "XML-DSig interop needs {missing}: run `apt-get install -y xmlsec1` and \
         `pip install lxml cryptography`, or set HUBGATE_SKIP_INTEROP=1 to skip"
    );
}

/// A fresh folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "hubgate-xmldsig-{tag}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp folder can be created");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn smki(name: &str) -> PathBuf {
    conformance::require().join("smki").join(name)
}

fn oracle() -> PathBuf {
    let path = conformance::require().join("../tools/oracle/xmldsig_oracle.py");
    assert!(path.is_file(), "oracle not found at {}", path.display());
    path
}

fn templates() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(conformance::require().join("duis/templates"))
        .expect("templates are readable")
        .map(|e| e.expect("directory entry").path())
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 297);
    paths
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `template` as the gateway writes a document before signing it: an XML declaration, then
/// the inclusive canonical form with whitespace-only text and any `ds:Signature` removed.
fn canonical_form(template: &[u8]) -> String {
    let mut doc = xml::parse(template, &xml::Limits::default()).expect("template reads");
    doc.strip_whitespace_text();
    doc.root
        .children
        .retain(|n| !matches!(n, xml::Node::Element(e) if e.is(NS_DS, "Signature")));
    let mut out = Vec::new();
    c14n::canonicalize_document(&doc, c14n::Mode::Inclusive, None, &mut out);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{}",
        String::from_utf8(out).expect("canonical form is UTF-8")
    )
}

fn xmlsec1_verify(cert: &Path, files: &[PathBuf]) -> Output {
    run(Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(cert)
        .args(files))
}

fn verify_ours(bytes: &[u8], cert: &Certificate) -> Result<Verified, DsigError> {
    dsig::verify(bytes, cert)
}

#[test]
fn our_signatures_verify_with_xmlsec1_and_the_oracle() {
    if !tools_available() {
        return;
    }
    let dir = TempDir::new("ours");
    let key = SigningKey::from_der(&read(&smki(KEY))).expect("PKCS#8 DER key");
    let cert = Certificate::from_pem(&read(&smki(CERT))).expect("certificate");

    let mut files = Vec::new();
    for template in templates() {
        let signed = dsig::sign_with_certificate(&read(&template), &key, &cert)
            .unwrap_or_else(|e| panic!("{}: {e}", template.display()));
        let out = dir.path(&file_name(&template));
        write(&out, &signed);
        files.push(out);

        // The same document given in canonical form and signed as the gateway signs its
        // answers: digested as written, the signature pasted in from fixed text.
        let canonical = canonical_form(&read(&template));
        let signed = dsig::sign_canonical(&canonical, &key, cert.issuer(), cert.serial_decimal())
            .unwrap_or_else(|e| panic!("{} (canonical): {e}", template.display()));
        let out = dir.path(&format!("canonical-{}", file_name(&template)));
        write(&out, &signed);
        files.push(out);
    }

    // xmlsec1 stops at the first failure, so a batch either verifies everything or is
    // redone file by file to name the culprit.
    let batch = xmlsec1_verify(&smki(CERT), &files);
    let oks = String::from_utf8_lossy(&batch.stderr)
        .lines()
        .filter(|l| *l == "OK")
        .count();
    if !batch.status.success() || oks != files.len() {
        for f in &files {
            let one = xmlsec1_verify(&smki(CERT), std::slice::from_ref(f));
            assert!(
                one.status.success(),
                "xmlsec1 rejects {}: {}",
                f.display(),
                describe(&one)
            );
        }
        panic!("xmlsec1 batch verification failed: {}", describe(&batch));
    }

    let out = run(Command::new("python3")
        .arg(oracle())
        .args(["verify", "--json", "--certs"])
        .arg(smki(CERT))
        .args(&files));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("oracle output is not JSON ({e}): {}", describe(&out)));
    let results = report.as_array().expect("oracle reports a list");
    assert_eq!(results.len(), files.len());
    for r in results {
        assert_eq!(r["verdict"], "VALID", "oracle: {r:#}");
        assert_eq!(r["certificate_source"], "KeyInfo serial", "oracle: {r:#}");
    }
    assert!(out.status.success(), "oracle: {}", describe(&out));
}

#[test]
fn oracle_signatures_verify_with_ours() {
    if !tools_available() {
        return;
    }
    let dir = TempDir::new("oracle");
    let cert = Certificate::from_pem(&read(&smki(CERT))).expect("certificate");
    // The oracle starts a Python interpreter per file: sign a spread of templates, including
    // the largest (a base64 firmware image).
    let sample: Vec<PathBuf> = templates()
        .into_iter()
        .enumerate()
        .filter(|(i, p)| i % 12 == 0 || file_name(p).starts_with("11.1_"))
        .map(|(_, p)| p)
        .collect();
    assert!(sample.len() >= 25);
    for template in &sample {
        let out = dir.path(&file_name(template));
        let res = run(Command::new("python3")
            .arg(oracle())
            .arg("sign")
            .arg(template)
            .arg("--key")
            .arg(smki(KEY))
            .arg("--cert")
            .arg(smki(CERT))
            .arg("-o")
            .arg(&out));
        assert!(
            res.status.success(),
            "oracle cannot sign {}: {}",
            template.display(),
            describe(&res)
        );
        let v = verify_ours(&read(&out), &cert)
            .unwrap_or_else(|e| panic!("oracle-signed {} rejected: {e}", template.display()));
        assert!(!v.whitespace_stripped && v.issuer_matches == Some(true));
    }
}

/// A signature skeleton for `xmlsec1 --sign`: empty DigestValue and SignatureValue, and the
/// KeyInfo written out (KeyInfo is not signed).
fn skeleton(cert: &Certificate) -> String {
    format!(
        concat!(
            "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>",
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"/>",
            "<ds:Reference URI=\"\"><ds:Transforms>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
            "</ds:Transforms>",
            "<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>",
            "<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>",
            "<ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509IssuerSerial>",
            "<ds:X509IssuerName>{}</ds:X509IssuerName><ds:X509SerialNumber>{}</ds:X509SerialNumber>",
            "</ds:X509IssuerSerial></ds:X509Data></ds:KeyInfo></ds:Signature>"
        ),
        cert.issuer(),
        cert.serial_decimal()
    )
}

/// The template made compact by our reader/writer, placeholder removed, skeleton appended.
fn compact_template(template: &[u8], cert: &Certificate) -> String {
    let mut doc = Document::parse(template, &Default::default()).expect("template parses");
    doc.strip_whitespace_text();
    doc.root.children.retain(|n| {
        !matches!(n, hubgate_protocol::duis::xml::Node::Element(e)
            if e.is(hubgate_protocol::duis::NS_DS, "Signature"))
    });
    let xml = doc.to_xml_string();
    let end = xml.rfind("</").expect("root end tag");
    format!("{}{}{}", &xml[..end], skeleton(cert), &xml[end..])
}

/// The template as written (pretty-printed), with its placeholder signature replaced in
/// place by the skeleton.
fn pretty_template(template: &[u8], cert: &Certificate) -> String {
    let text = String::from_utf8(template.to_vec()).expect("UTF-8 template");
    let start = text.find("<ds:Signature").expect("placeholder signature");
    let end = text.find("</ds:Signature>").expect("placeholder end") + "</ds:Signature>".len();
    format!("{}{}{}", &text[..start], skeleton(cert), &text[end..])
}

#[test]
fn xmlsec1_signatures_verify_with_ours() {
    if !tools_available() {
        return;
    }
    let dir = TempDir::new("xmlsec1");
    let cert = Certificate::from_pem(&read(&smki(CERT))).expect("certificate");
    for (i, template) in templates().iter().enumerate() {
        let bytes = read(template);
        let mut forms = vec![("compact", compact_template(&bytes, &cert))];
        if i % 4 == 0 {
            forms.push(("pretty", pretty_template(&bytes, &cert)));
        }
        for (form, xml) in forms {
            let input = dir.path(&format!("{form}-in.xml"));
            let output = dir.path(&format!("{form}-out.xml"));
            write(&input, xml.as_bytes());
            let res = run(Command::new("xmlsec1")
                .arg("--sign")
                .arg("--privkey-der")
                .arg(smki(KEY))
                .arg("--output")
                .arg(&output)
                .arg(&input));
            assert!(
                res.status.success(),
                "xmlsec1 cannot sign {}: {}",
                template.display(),
                describe(&res)
            );
            let signed = read(&output);
            // Verified as received: whitespace is significant and no fallback is used.
            let v = verify_ours(&signed, &cert).unwrap_or_else(|e| {
                panic!("xmlsec1-signed {form} {} rejected: {e}", template.display())
            });
            assert!(!v.whitespace_stripped);
        }
    }
}
