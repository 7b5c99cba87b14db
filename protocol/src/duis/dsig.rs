//! The DUIS XML-DSig profile (PROTOCOLS.md §3): enveloped signatures with ECDSA P-256.
//!
//! The profile, exactly as DCC Boxed and its signing tool use it:
//!
//! - one `ds:Signature`, the last element child of the document element;
//! - `SignedInfo` canonicalised with Exclusive C14N 1.0 without comments (no prefix list);
//! - `SignatureMethod` ECDSA-SHA256, the `SignatureValue` being raw `r‖s` (64 bytes, not
//!   DER), base64 with any whitespace (including the `&#13;` Java writes) ignored;
//! - one `Reference URI=""` whose only transform is `enveloped-signature`, digest SHA-256;
//! - the digest is taken over the document minus the `ds:Signature` element, serialised
//!   with **inclusive** Canonical XML 1.0 (the XML-DSig default for a node-set), not with
//!   the exclusive form named in `SignedInfo`;
//! - the signer is named by `KeyInfo/X509Data/X509IssuerSerial`, with a decimal serial
//!   number; like the Java validator, the certificate is found by serial alone.
//!
//! Whitespace is significant: a document is verified as received. Because the Java tool
//! signs the whitespace-stripped tree, [`VerifyOptions::whitespace_fallback`] retries once
//! with whitespace-only text removed and says so in [`Verified::whitespace_stripped`].
//! [`sign`] always signs compact XML.
//!
//! Limitation: processing instructions before or after the document element are not kept by
//! the reader, so a document signed with such a PI would fail its digest here. DUIS
//! documents carry none.

use std::borrow::Cow;

use aws_lc_rs::constant_time;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::NS_DS;
use super::c14n::{self, Mode, Sha256Sink};
use super::xml::{Document, Element, Limits, Node, XmlError, escape_text_into};
use crate::crypto::{CryptoError, SIGNATURE_LEN, SigningKey, VerifyingKey};
use crate::smki::{Certificate, Store};

/// `CanonicalizationMethod` of the profile: Exclusive C14N 1.0 without comments.
pub const ALG_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// `SignatureMethod` of the profile: ECDSA with SHA-256.
pub const ALG_ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
/// The only `Transform` of the profile.
pub const ALG_ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// `DigestMethod` of the profile: SHA-256.
pub const ALG_SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// Length of the SHA-256 reference digest.
pub const DIGEST_LEN: usize = 32;

/// Why a signature was not accepted, or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DsigError {
    /// The document is not well-formed, or was refused by the reader (a DOCTYPE included).
    #[error("XML refused: {0}")]
    Xml(#[from] XmlError),
    /// There is no `ds:Signature` element.
    #[error("document is not signed: no ds:Signature element")]
    Unsigned,
    /// `SignatureValue` does not decode to 64 bytes: a template placeholder such as base64
    /// `"default"`, not a signature yet.
    #[error("placeholder signature: SignatureValue decodes to {len} bytes, not a 64-byte r||s")]
    Placeholder {
        /// Decoded length of `SignatureValue`.
        len: usize,
    },
    /// The signature is not in the DUIS profile (wrong algorithm, several references, other
    /// transforms, misplaced or duplicated `ds:Signature`, DER-encoded value, …).
    #[error("signature outside the DUIS XML-DSig profile: {0}")]
    UnsupportedProfile(String),
    /// No trusted certificate has the serial number named in `KeyInfo`.
    #[error("no trusted certificate with serial number {0}")]
    UnknownCertificate(String),
    /// `KeyInfo` has no `X509SerialNumber`, so the signer cannot be identified.
    #[error("KeyInfo has no X509IssuerSerial/X509SerialNumber: the signer cannot be identified")]
    MissingKeyInfo,
    /// The reference digest does not match: the signed content was altered (or reformatted).
    #[error("reference digest mismatch: the document content does not match DigestValue")]
    DigestMismatch,
    /// `SignatureValue` does not verify over `SignedInfo` with the signer's key.
    #[error("SignatureValue does not verify with the key of {label}")]
    BadSignature {
        /// Label of the key that was used.
        label: String,
    },
    /// Signing failed in the cryptographic library.
    #[error("signing failed: {0}")]
    Crypto(#[from] CryptoError),
}

impl DsigError {
    /// True when retrying on a whitespace-stripped copy could help.
    fn may_be_whitespace(&self) -> bool {
        matches!(
            self,
            DsigError::DigestMismatch | DsigError::BadSignature { .. }
        )
    }
}

/// A certificate found for a signature: its key, a label for reports, and its issuer.
#[derive(Debug, Clone)]
pub struct ResolvedCert<'a> {
    /// The P-256 public key.
    pub key: Cow<'a, VerifyingKey>,
    /// Where the certificate came from (a file name or a key-store entry), for reports.
    pub label: Cow<'a, str>,
    /// The certificate's issuer DN in RFC 2253 form (`CN=Z1,OU=07`), if known.
    pub issuer: Option<Cow<'a, str>>,
}

impl<'a> ResolvedCert<'a> {
    /// Borrows the key and issuer of an SMKI certificate.
    pub fn from_certificate(cert: &'a Certificate, label: impl Into<Cow<'a, str>>) -> Self {
        ResolvedCert {
            key: Cow::Borrowed(cert.verifying_key()),
            label: label.into(),
            issuer: Some(Cow::Borrowed(cert.issuer())),
        }
    }
}

/// Finds a trusted certificate by the decimal serial number written in `KeyInfo`.
pub trait CertResolver {
    /// The certificate with this serial number (decimal, as written in
    /// `X509SerialNumber`), if trusted.
    fn by_serial(&self, serial_decimal: &str) -> Option<ResolvedCert<'_>>;
}

impl<T: CertResolver + ?Sized> CertResolver for &T {
    fn by_serial(&self, serial_decimal: &str) -> Option<ResolvedCert<'_>> {
        (**self).by_serial(serial_decimal)
    }
}

impl<T: CertResolver + ?Sized> CertResolver for std::sync::Arc<T> {
    fn by_serial(&self, serial_decimal: &str) -> Option<ResolvedCert<'_>> {
        (**self).by_serial(serial_decimal)
    }
}

/// The SMKI store resolves any certificate it holds, labelled with its file name.
impl CertResolver for Store {
    fn by_serial(&self, serial_decimal: &str) -> Option<ResolvedCert<'_>> {
        let hit = self.by_serial_decimal(serial_decimal).next()?;
        Some(ResolvedCert::from_certificate(hit.certificate, hit.label))
    }
}

/// A single certificate trusts itself only.
impl CertResolver for Certificate {
    fn by_serial(&self, serial_decimal: &str) -> Option<ResolvedCert<'_>> {
        (self.serial_decimal() == serial_decimal.trim())
            .then(|| ResolvedCert::from_certificate(self, self.serial_decimal()))
    }
}

/// Where the verification key comes from.
#[derive(Debug, Clone, Copy)]
pub enum KeySource<'a> {
    /// Look up `KeyInfo`'s serial number in a trust store.
    KeyInfo(&'a dyn CertResolver),
    /// Use this certificate and ignore `KeyInfo` (as the Java validator's `--cert`).
    Explicit(&'a ResolvedCert<'a>),
}

impl std::fmt::Debug for dyn CertResolver + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertResolver")
    }
}

/// Options for [`verify_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Reader limits.
    pub limits: Limits,
    /// When the digest or the signature fails on the document as received, retry once with
    /// whitespace-only text removed (what a validating Java parser sees).
    pub whitespace_fallback: bool,
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Label of the certificate that verified it.
    pub label: String,
    /// `X509SerialNumber` from `KeyInfo`, if present.
    pub serial: Option<String>,
    /// `X509IssuerName` from `KeyInfo`, if present (not integrity-protected).
    pub key_info_issuer: Option<String>,
    /// Whether `X509IssuerName` names the certificate's issuer (ignoring spaces after
    /// commas); `None` when either is unknown. Informational: like the Java validator, the
    /// certificate is chosen by serial alone.
    pub issuer_matches: Option<bool>,
    /// True when the key was given explicitly and `KeyInfo` was not used.
    pub explicit_key: bool,
    /// The reference digest, which matched `DigestValue`.
    pub digest: [u8; DIGEST_LEN],
    /// True when only the whitespace-stripped copy verified.
    pub whitespace_stripped: bool,
}

/// Verifies a signed DUIS document, finding the signer by `KeyInfo` serial in `resolver`.
///
/// Uses default limits and no whitespace fallback.
///
/// # Errors
///
/// A [`DsigError`] saying why the document is not validly signed.
pub fn verify(doc_bytes: &[u8], resolver: &dyn CertResolver) -> Result<Verified, DsigError> {
    verify_with(
        doc_bytes,
        KeySource::KeyInfo(resolver),
        &VerifyOptions::default(),
    )
}

/// Verifies a signed DUIS document with the given key source and options.
///
/// # Errors
///
/// A [`DsigError`] saying why the document is not validly signed.
pub fn verify_with(
    doc_bytes: &[u8],
    keys: KeySource<'_>,
    options: &VerifyOptions,
) -> Result<Verified, DsigError> {
    let doc = super::xml::parse(doc_bytes, &options.limits)?;
    verify_document(&doc, keys, options.whitespace_fallback)
}

/// Verifies an already parsed document (so a caller can go on to read it without parsing
/// twice).
///
/// # Errors
///
/// A [`DsigError`] saying why the document is not validly signed.
pub fn verify_document(
    doc: &Document,
    keys: KeySource<'_>,
    whitespace_fallback: bool,
) -> Result<Verified, DsigError> {
    match verify_once(doc, keys) {
        Err(e) if whitespace_fallback && e.may_be_whitespace() => {
            let mut stripped = doc.clone();
            stripped.root.strip_element_content_whitespace();
            match verify_once(&stripped, keys) {
                Ok(v) => Ok(Verified {
                    whitespace_stripped: true,
                    ..v
                }),
                Err(_) => Err(e),
            }
        }
        other => other,
    }
}

fn verify_once(doc: &Document, keys: KeySource<'_>) -> Result<Verified, DsigError> {
    let parts = profile(doc)?;

    let resolved;
    let cert: &ResolvedCert<'_> = match keys {
        KeySource::Explicit(c) => c,
        KeySource::KeyInfo(resolver) => {
            let serial = parts.serial.as_deref().ok_or(DsigError::MissingKeyInfo)?;
            resolved = resolver
                .by_serial(serial)
                .ok_or_else(|| DsigError::UnknownCertificate(serial.to_owned()))?;
            &resolved
        }
    };

    let mut sink = Sha256Sink::new();
    c14n::canonicalize_document(doc, Mode::Inclusive, Some(parts.signature), &mut sink);
    let digest = sink.finish();
    constant_time::verify_slices_are_equal(digest.as_ref(), &parts.digest_value)
        .map_err(|_| DsigError::DigestMismatch)?;

    let mut signed_info = Vec::with_capacity(640);
    c14n::canonicalize_subtree(
        parts.signed_info,
        &[],
        Mode::Exclusive,
        None,
        &mut signed_info,
    );
    cert.key
        .verify(&signed_info, &parts.signature_value)
        .map_err(|_| DsigError::BadSignature {
            label: cert.label.clone().into_owned(),
        })?;

    let issuer_matches = match (&parts.issuer, &cert.issuer) {
        (Some(a), Some(b)) => Some(same_dn(a, b)),
        _ => None,
    };
    Ok(Verified {
        label: cert.label.clone().into_owned(),
        serial: parts.serial,
        key_info_issuer: parts.issuer,
        issuer_matches,
        explicit_key: matches!(keys, KeySource::Explicit(_)),
        digest: parts.digest_value,
        whitespace_stripped: false,
    })
}

/// Compares two RFC 2253 strings, ignoring spaces after separators.
fn same_dn(a: &str, b: &str) -> bool {
    a.split(',').map(str::trim).eq(b.split(',').map(str::trim))
}

/// The parts of a signature in the profile.
struct Parts<'d> {
    signature: &'d Element,
    signed_info: &'d Element,
    digest_value: [u8; DIGEST_LEN],
    signature_value: [u8; SIGNATURE_LEN],
    serial: Option<String>,
    issuer: Option<String>,
}

fn unsupported(what: impl Into<String>) -> DsigError {
    DsigError::UnsupportedProfile(what.into())
}

/// Counts `ds:Signature` elements in the tree.
fn count_signatures(e: &Element) -> usize {
    e.child_elements()
        .map(|c| usize::from(c.is(NS_DS, "Signature")) + count_signatures(c))
        .sum()
}

/// The element children of `e` in order, refusing non-whitespace text (comments and PIs are
/// skipped).
fn element_children(e: &Element) -> Result<impl Iterator<Item = &Element>, DsigError> {
    for n in &e.children {
        if let Node::Text(t) = n
            && !t.bytes().all(crate::duis::xml::is_xml_space)
        {
            return Err(unsupported(format!("unexpected text in ds:{}", e.local)));
        }
    }
    Ok(e.child_elements())
}

/// Takes the next child, which must be `ds:<local>`.
fn expect_ds<'d>(
    it: &mut impl Iterator<Item = &'d Element>,
    parent: &str,
    local: &str,
) -> Result<&'d Element, DsigError> {
    match it.next() {
        Some(e) if e.is(NS_DS, local) => Ok(e),
        Some(e) => Err(unsupported(format!(
            "ds:{parent} has {} where ds:{local} belongs",
            e.qname()
        ))),
        None => Err(unsupported(format!("ds:{parent} has no ds:{local}"))),
    }
}

fn expect_end<'d>(
    it: &mut impl Iterator<Item = &'d Element>,
    parent: &str,
) -> Result<(), DsigError> {
    match it.next() {
        None => Ok(()),
        Some(e) => Err(unsupported(format!(
            "unexpected {} in ds:{parent}",
            e.qname()
        ))),
    }
}

/// Checks an algorithm element: the `Algorithm` attribute and no content but whitespace.
fn expect_algorithm(e: &Element, uri: &str) -> Result<(), DsigError> {
    match e.attr("Algorithm") {
        Some(a) if a == uri => {}
        Some(a) => return Err(unsupported(format!("ds:{} Algorithm {a}", e.local))),
        None => return Err(unsupported(format!("ds:{} has no Algorithm", e.local))),
    }
    let mut inner = element_children(e)?;
    expect_end(&mut inner, &e.local)
}

/// Decodes base64 text, ignoring whitespace (including carriage returns).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    crate::duis::model::xsd::decode_base64(text).ok()
}

/// True if `sig` looks like a DER `SEQUENCE { INTEGER r, INTEGER s }`.
fn looks_like_der(sig: &[u8]) -> bool {
    matches!(sig, [0x30, len, 0x02, ..] if usize::from(*len) + 2 == sig.len())
}

fn profile(doc: &Document) -> Result<Parts<'_>, DsigError> {
    let root = &doc.root;
    match count_signatures(root) {
        0 => return Err(DsigError::Unsigned),
        1 => {}
        n => return Err(unsupported(format!("{n} ds:Signature elements"))),
    }
    let signature = match root.last_child_element() {
        Some(s) if s.is(NS_DS, "Signature") => s,
        _ => {
            return Err(unsupported(
                "ds:Signature is not the last child of the root element",
            ));
        }
    };

    let mut it = element_children(signature)?;
    let signed_info = expect_ds(&mut it, "Signature", "SignedInfo")?;
    let value_el = expect_ds(&mut it, "Signature", "SignatureValue")?;
    let key_info = match it.next() {
        None => None,
        Some(e) if e.is(NS_DS, "KeyInfo") => Some(e),
        Some(e) => {
            return Err(unsupported(format!(
                "unexpected {} in ds:Signature",
                e.qname()
            )));
        }
    };
    expect_end(&mut it, "Signature")?;

    let mut si = element_children(signed_info)?;
    expect_algorithm(
        expect_ds(&mut si, "SignedInfo", "CanonicalizationMethod")?,
        ALG_EXC_C14N,
    )?;
    expect_algorithm(
        expect_ds(&mut si, "SignedInfo", "SignatureMethod")?,
        ALG_ECDSA_SHA256,
    )?;
    let reference = expect_ds(&mut si, "SignedInfo", "Reference")?;
    if si.next().is_some() {
        return Err(unsupported(
            "more than one ds:Reference, or extra content in ds:SignedInfo",
        ));
    }
    match reference.attr("URI") {
        Some("") => {}
        Some(u) => {
            return Err(unsupported(format!(
                "Reference URI=\"{u}\" (only \"\" is accepted)"
            )));
        }
        None => return Err(unsupported("Reference without URI")),
    }
    let mut r = element_children(reference)?;
    let transforms = expect_ds(&mut r, "Reference", "Transforms")?;
    expect_algorithm(expect_ds(&mut r, "Reference", "DigestMethod")?, ALG_SHA256)?;
    let digest_el = expect_ds(&mut r, "Reference", "DigestValue")?;
    expect_end(&mut r, "Reference")?;
    let mut t = element_children(transforms)?;
    expect_algorithm(expect_ds(&mut t, "Transforms", "Transform")?, ALG_ENVELOPED)?;
    if t.next().is_some() {
        return Err(unsupported("transforms other than enveloped-signature"));
    }

    let sig = decode_base64(&value_el.text())
        .ok_or_else(|| unsupported("SignatureValue is not base64"))?;
    let signature_value: [u8; SIGNATURE_LEN] = match sig.as_slice().try_into() {
        Ok(v) => v,
        Err(_) if looks_like_der(&sig) => {
            return Err(unsupported(
                "DER-encoded ECDSA signature (the profile uses raw r||s)",
            ));
        }
        Err(_) => return Err(DsigError::Placeholder { len: sig.len() }),
    };
    let digest =
        decode_base64(&digest_el.text()).ok_or_else(|| unsupported("DigestValue is not base64"))?;
    let digest_value: [u8; DIGEST_LEN] = digest.as_slice().try_into().map_err(|_| {
        unsupported(format!(
            "DigestValue decodes to {} bytes, not a SHA-256 digest",
            digest.len()
        ))
    })?;

    let issuer_serial = key_info
        .and_then(|k| k.first_child(NS_DS, "X509Data"))
        .and_then(|d| d.first_child(NS_DS, "X509IssuerSerial"));
    let serial = issuer_serial
        .and_then(|s| s.first_child(NS_DS, "X509SerialNumber"))
        .map(|s| s.text().trim().to_owned())
        .filter(|s| !s.is_empty());
    if let Some(s) = &serial
        && !s.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(unsupported(format!(
            "X509SerialNumber {s:?} is not a decimal integer"
        )));
    }
    let issuer = issuer_serial
        .and_then(|s| s.first_child(NS_DS, "X509IssuerName"))
        .map(|s| s.text().trim().to_owned());

    Ok(Parts {
        signature,
        signed_info,
        digest_value,
        signature_value,
        serial,
        issuer,
    })
}

/// Signs a DUIS document: the result is compact XML with an XML declaration, whose last
/// element is a `ds:Signature` in the profile.
///
/// Whitespace-only text is removed and any existing `ds:Signature` (a template placeholder,
/// say) is replaced. `issuer_rfc2253` and `serial_decimal` go into `KeyInfo` as written
/// (for an SMKI certificate: [`Certificate::issuer`] and [`Certificate::serial_decimal`];
/// see [`sign_with_certificate`]).
///
/// # Errors
///
/// [`DsigError::Xml`] if the input is refused by the reader, [`DsigError::Crypto`] if the
/// cryptographic library fails.
pub fn sign(
    doc_bytes: &[u8],
    key: &SigningKey,
    issuer_rfc2253: &str,
    serial_decimal: &str,
) -> Result<Vec<u8>, DsigError> {
    let mut doc = super::xml::parse(doc_bytes, &Limits::default())?;
    sign_document(&mut doc, key, issuer_rfc2253, serial_decimal)?;
    Ok(doc.to_xml_string().into_bytes())
}

/// As [`sign`], taking the `KeyInfo` issuer and serial from the signer's certificate.
///
/// # Errors
///
/// As [`sign`].
pub fn sign_with_certificate(
    doc_bytes: &[u8],
    key: &SigningKey,
    cert: &Certificate,
) -> Result<Vec<u8>, DsigError> {
    sign(doc_bytes, key, cert.issuer(), cert.serial_decimal())
}

/// Signs a parsed document in place (see [`sign`]); write it out with
/// [`Document::to_xml_string`].
///
/// # Errors
///
/// [`DsigError::Crypto`] if the cryptographic library fails.
pub fn sign_document(
    doc: &mut Document,
    key: &SigningKey,
    issuer_rfc2253: &str,
    serial_decimal: &str,
) -> Result<(), DsigError> {
    doc.strip_whitespace_text();
    remove_signatures(&mut doc.root);

    // With the signature not yet appended, the document is exactly what the enveloped
    // transform leaves.
    let mut sink = Sha256Sink::new();
    c14n::canonicalize_document(doc, Mode::Inclusive, None, &mut sink);
    let digest = sink.finish();

    let signature = signature_element(digest.as_ref(), key, issuer_rfc2253, serial_decimal)?;
    doc.root.children.push(Node::Element(signature));
    Ok(())
}

/// Signs a document that the caller wrote directly in canonical form: `xml` is an optional
/// XML declaration followed by the root element, and everything after the declaration is
/// exactly what inclusive Canonical XML 1.0 makes of the document (as
/// [`crate::duis::writer::write_response_canonical`] writes it). The digest is then taken over
/// those bytes as they are, with no parsing, and the `ds:Signature` is inserted before the
/// root's end tag. The result is the same signed document [`sign`] makes, without reading the
/// document back.
///
/// # Errors
///
/// [`DsigError::Xml`] if `xml` has no root end tag, [`DsigError::Crypto`] if the
/// cryptographic library fails.
pub fn sign_canonical(
    xml: &str,
    key: &SigningKey,
    issuer_rfc2253: &str,
    serial_decimal: &str,
) -> Result<Vec<u8>, DsigError> {
    let body = match xml.strip_prefix("<?xml") {
        Some(rest) => rest
            .find("?>")
            .map(|i| &rest[i + 2..])
            .ok_or_else(|| unsupported("an XML declaration without its end"))?,
        None => xml,
    };
    let close = body
        .rfind("</")
        .ok_or_else(|| unsupported("a document without a root end tag"))?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
    let head = xml.len() - body.len();
    let mut out = String::with_capacity(xml.len() + 1024);
    out.push_str(&xml[..head + close]);
    write_signature(
        &mut out,
        digest.as_ref(),
        key,
        issuer_rfc2253,
        serial_decimal,
    )?;
    out.push_str(&body[close..]);
    Ok(out.into_bytes())
}

/// The profile's `SignedInfo` over a digest given in base64.
fn signed_info_element(digest_b64: &str) -> Element {
    let ds = |local: &str| Element::new(Some("ds"), local, Some(NS_DS));
    ds("SignedInfo")
        .with_child(ds("CanonicalizationMethod").with_attr("Algorithm", ALG_EXC_C14N))
        .with_child(ds("SignatureMethod").with_attr("Algorithm", ALG_ECDSA_SHA256))
        .with_child(
            ds("Reference")
                .with_attr("URI", "")
                .with_child(
                    ds("Transforms")
                        .with_child(ds("Transform").with_attr("Algorithm", ALG_ENVELOPED)),
                )
                .with_child(ds("DigestMethod").with_attr("Algorithm", ALG_SHA256))
                .with_child(ds("DigestValue").with_text(digest_b64)),
        )
}

/// The profile's `ds:Signature` around `signed_info`, with its value given in base64.
fn signature_around(
    signed_info: Element,
    value_b64: &str,
    issuer_rfc2253: &str,
    serial_decimal: &str,
) -> Element {
    let ds = |local: &str| Element::new(Some("ds"), local, Some(NS_DS));
    ds("Signature")
        .with_ns_decl(Some("ds"), NS_DS)
        .with_child(signed_info)
        .with_child(ds("SignatureValue").with_text(value_b64))
        .with_child(
            ds("KeyInfo").with_child(
                ds("X509Data").with_child(
                    ds("X509IssuerSerial")
                        .with_child(ds("X509IssuerName").with_text(issuer_rfc2253))
                        .with_child(ds("X509SerialNumber").with_text(serial_decimal)),
                ),
            ),
        )
}

/// The `ds:Signature` of the profile over a document whose canonical digest is `digest`.
fn signature_element(
    digest: &[u8],
    key: &SigningKey,
    issuer_rfc2253: &str,
    serial_decimal: &str,
) -> Result<Element, DsigError> {
    let signed_info = signed_info_element(&BASE64.encode(digest));
    let mut canonical = Vec::with_capacity(640);
    c14n::canonicalize_subtree(&signed_info, &[], Mode::Exclusive, None, &mut canonical);
    let value = key.try_sign(&canonical)?;
    Ok(signature_around(
        signed_info,
        &BASE64.encode(value),
        issuer_rfc2253,
        serial_decimal,
    ))
}

/// The fixed text around the variable parts of a signature, cut once from the trees that
/// [`signed_info_element`] and [`signature_around`] build, so that both ways of writing a
/// signature give the same bytes by construction.
///
/// Why: every answer the gateway sends is signed, and building, canonicalising and writing
/// the fifteen-element tree for it costs several times more than pasting four values into
/// fixed text.
struct SignatureText {
    /// Exclusive canonical `SignedInfo`, before and after the digest.
    signed_info: [String; 2],
    /// The serialised `ds:Signature`, cut at the digest, the value, the issuer and the serial.
    signature: [String; 5],
}

/// Placeholders the text is cut at; none of them is changed by escaping or canonicalisation.
const MARKS: [&str; 4] = [
    "HUBGATE-DIGEST-MARK",
    "HUBGATE-VALUE-MARK",
    "HUBGATE-ISSUER-MARK",
    "HUBGATE-SERIAL-MARK",
];

fn signature_text() -> &'static SignatureText {
    static TEXT: std::sync::OnceLock<SignatureText> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let signed_info = signed_info_element(MARKS[0]);
        let mut canonical = Vec::new();
        c14n::canonicalize_subtree(&signed_info, &[], Mode::Exclusive, None, &mut canonical);
        let canonical = String::from_utf8(canonical).unwrap_or_default();
        let mut written = String::new();
        signature_around(signed_info, MARKS[1], MARKS[2], MARKS[3]).write_xml(&mut written);
        SignatureText {
            signed_info: cut(&canonical, &MARKS[..1]),
            signature: cut(&written, &MARKS),
        }
    })
}

/// `text` cut at each of `marks`, which it holds once each and in order: `N + 1` pieces.
fn cut<const N: usize>(text: &str, marks: &[&str]) -> [String; N] {
    let mut pieces: [String; N] = std::array::from_fn(|_| String::new());
    let mut rest = text;
    for (i, mark) in marks.iter().enumerate() {
        // The trees are fixed, so a missing mark is a defect here, found by the unit tests
        // (which compare this text with the trees); it cannot come from input.
        let (before, after) = rest.split_once(mark).unwrap_or((rest, ""));
        pieces[i] = before.to_owned();
        rest = after;
    }
    pieces[marks.len()] = rest.to_owned();
    pieces
}

/// Writes the `ds:Signature` of the profile over a document whose canonical digest is
/// `digest`: the same bytes as [`signature_element`] written out, without building it.
fn write_signature(
    out: &mut String,
    digest: &[u8],
    key: &SigningKey,
    issuer_rfc2253: &str,
    serial_decimal: &str,
) -> Result<(), DsigError> {
    if issuer_rfc2253.is_empty() || serial_decimal.is_empty() {
        // An empty element is written self-closed by the tree writer; keep its form.
        signature_element(digest, key, issuer_rfc2253, serial_decimal)?.write_xml(out);
        return Ok(());
    }
    let text = signature_text();
    let mut digest_b64 = String::with_capacity(44);
    BASE64.encode_string(digest, &mut digest_b64);
    let mut canonical = String::with_capacity(
        text.signed_info[0].len() + digest_b64.len() + text.signed_info[1].len(),
    );
    canonical.push_str(&text.signed_info[0]);
    canonical.push_str(&digest_b64);
    canonical.push_str(&text.signed_info[1]);
    let value = key.try_sign(canonical.as_bytes())?;
    paste_signature(
        out,
        text,
        &digest_b64,
        &BASE64.encode(value),
        issuer_rfc2253,
        serial_decimal,
    );
    Ok(())
}

/// Writes the serialised `ds:Signature` with its four variable parts pasted into `text`.
fn paste_signature(
    out: &mut String,
    text: &SignatureText,
    digest_b64: &str,
    value_b64: &str,
    issuer_rfc2253: &str,
    serial_decimal: &str,
) {
    let [s0, s1, s2, s3, s4] = &text.signature;
    out.push_str(s0);
    out.push_str(digest_b64);
    out.push_str(s1);
    out.push_str(value_b64);
    out.push_str(s2);
    escape_text_into(out, issuer_rfc2253);
    out.push_str(s3);
    escape_text_into(out, serial_decimal);
    out.push_str(s4);
}

/// Removes every `ds:Signature` element below `e`.
fn remove_signatures(e: &mut Element) {
    e.children
        .retain(|n| !matches!(n, Node::Element(c) if c.is(NS_DS, "Signature")));
    for c in e.child_elements_mut() {
        remove_signatures(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<sr:Request xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\" ",
        "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" schemaVersion=\"5.4\">\n",
        "  <sr:Header>\n    <sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000</sr:RequestID>\n",
        "  </sr:Header>\n  <sr:Body><sr:ReadInventory/></sr:Body>\n</sr:Request>\n"
    );

    fn key() -> SigningKey {
        let path = crate::conformance::require().join("smki/xml-sign-90B3D51F30010000-ds.key");
        let der = std::fs::read(path).expect("key file is readable");
        SigningKey::from_der(&der).expect("PKCS#8 P-256 key")
    }

    fn explicit(key: &SigningKey) -> ResolvedCert<'_> {
        ResolvedCert {
            key: Cow::Borrowed(key.verifying_key()),
            label: "test".into(),
            issuer: None,
        }
    }

    fn verify_explicit(
        doc: &[u8],
        key: &SigningKey,
        fallback: bool,
    ) -> Result<Verified, DsigError> {
        let cert = explicit(key);
        let options = VerifyOptions {
            whitespace_fallback: fallback,
            ..Default::default()
        };
        verify_with(doc, KeySource::Explicit(&cert), &options)
    }

    #[test]
    fn the_signature_text_is_the_tree_written_out() {
        let text = signature_text();
        for (digest, value, issuer, serial) in [
            ([0u8; 32], "AAAA", "CN=Z1,OU=07", "12345"),
            (
                [0xFF; 32],
                "q83vEjRWeJA=",
                "CN=a & b <c> \"d\" \r e,O=Caf\u{e9}",
                "340282366920938463463374607431768211455",
            ),
            ([7; 32], "x", "]]>", "0"),
        ] {
            let d64 = BASE64.encode(digest);
            let tree = signed_info_element(&d64);
            let mut c14n_tree = Vec::new();
            c14n::canonicalize_subtree(&tree, &[], Mode::Exclusive, None, &mut c14n_tree);
            let c14n_text = format!("{}{d64}{}", text.signed_info[0], text.signed_info[1]);
            assert_eq!(c14n_text.as_bytes(), &c14n_tree[..]);

            let mut tree_xml = String::new();
            signature_around(tree, value, issuer, serial).write_xml(&mut tree_xml);
            let mut text_xml = String::new();
            paste_signature(&mut text_xml, text, &d64, value, issuer, serial);
            assert_eq!(text_xml, tree_xml);
        }
        for piece in text.signed_info.iter().chain(&text.signature) {
            assert!(!piece.contains("MARK"), "{piece}");
        }
    }

    #[test]
    fn written_signatures_verify_and_keep_their_key_info() {
        let key = key();
        let doc = "<r xmlns=\"urn:x\"><a>1</a></r>";
        for (issuer, serial) in [("CN=Z1, O=a&b <c>", "42"), ("", "7"), ("CN=Z1", "")] {
            let signed = sign_canonical(doc, &key, issuer, serial).expect("signs");
            let v = verify_explicit(&signed, &key, false).expect("verifies");
            if !serial.is_empty() {
                assert_eq!(v.serial.as_deref(), Some(serial));
            }
            if !issuer.is_empty() {
                assert_eq!(v.key_info_issuer.as_deref(), Some(issuer));
            }
        }
    }

    #[test]
    fn sign_then_verify() {
        let key = key();
        let signed = sign(REQUEST.as_bytes(), &key, "CN=Z1,OU=07", "123").expect("signs");
        let text = String::from_utf8(signed.clone()).expect("UTF-8");
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><sr:Request "));
        assert!(
            text.contains("<sr:Header><sr:RequestID>"),
            "compact output: {text}"
        );
        assert!(text.ends_with(
            "<ds:X509IssuerName>CN=Z1,OU=07</ds:X509IssuerName>\
             <ds:X509SerialNumber>123</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data>\
             </ds:KeyInfo></ds:Signature></sr:Request>"
        ));
        let v = verify_explicit(&signed, &key, false).expect("verifies");
        assert_eq!(v.serial.as_deref(), Some("123"));
        assert!(!v.whitespace_stripped && v.explicit_key);

        // Re-signing replaces the signature rather than adding one.
        let again = sign(&signed, &key, "CN=Z1,OU=07", "123").expect("signs");
        assert_eq!(
            String::from_utf8_lossy(&again)
                .matches("<ds:Signature xmlns")
                .count(),
            1
        );
        verify_explicit(&again, &key, false).expect("verifies");
    }

    #[test]
    fn tampering_is_detected() {
        let key = key();
        let signed =
            String::from_utf8(sign(REQUEST.as_bytes(), &key, "CN=Z1,OU=07", "1").expect("signs"))
                .expect("UTF-8");
        let altered = signed.replace(":1000<", ":1001<");
        assert!(matches!(
            verify_explicit(altered.as_bytes(), &key, true),
            Err(DsigError::DigestMismatch)
        ));
        let altered = signed.replace("URI=\"\"", "URI=\"\" Id=\"x\"");
        assert!(matches!(
            verify_explicit(altered.as_bytes(), &key, true),
            Err(DsigError::BadSignature { .. })
        ));
        let altered = signed.replace(ALG_ENVELOPED, "http://www.w3.org/2001/10/xml-exc-c14n#");
        assert!(matches!(
            verify_explicit(altered.as_bytes(), &key, false),
            Err(DsigError::UnsupportedProfile(_))
        ));
        let pretty = signed.replace("<sr:Body>", "\n  <sr:Body>");
        assert!(matches!(
            verify_explicit(pretty.as_bytes(), &key, false),
            Err(DsigError::DigestMismatch)
        ));
        let v = verify_explicit(pretty.as_bytes(), &key, true).expect("verifies after stripping");
        assert!(v.whitespace_stripped);
        // Whitespace inside a value is not what the fallback removes: `10 00` is not `1000`,
        // even with the space set between comments.
        let split = signed.replace(":1000<", ":10<!----> <!---->00<");
        assert!(matches!(
            verify_explicit(split.as_bytes(), &key, true),
            Err(DsigError::DigestMismatch)
        ));
    }

    #[test]
    fn key_info_is_required_for_lookup() {
        let key = key();
        let signed = sign(REQUEST.as_bytes(), &key, "CN=Z1,OU=07", "42").expect("signs");
        struct One<'k>(&'k SigningKey);
        impl CertResolver for One<'_> {
            fn by_serial(&self, serial: &str) -> Option<ResolvedCert<'_>> {
                (serial == "42").then(|| explicit(self.0))
            }
        }
        let v = verify(&signed, &One(&key)).expect("verifies");
        assert_eq!(v.label, "test");
        let other = String::from_utf8_lossy(&signed).replace(">42<", ">43<");
        assert!(
            matches!(verify(other.as_bytes(), &One(&key)), Err(DsigError::UnknownCertificate(s)) if s == "43")
        );
        let start = other.find("<ds:KeyInfo>").expect("KeyInfo");
        let end = other.find("</ds:KeyInfo>").expect("KeyInfo end") + "</ds:KeyInfo>".len();
        let no_key_info = format!("{}{}", &other[..start], &other[end..]);
        assert!(matches!(
            verify(no_key_info.as_bytes(), &One(&key)),
            Err(DsigError::MissingKeyInfo)
        ));
        verify_explicit(no_key_info.as_bytes(), &key, false).expect("explicit key ignores KeyInfo");
    }

    #[test]
    fn structural_refusals() {
        let key = key();
        let unsigned = verify_explicit(REQUEST.as_bytes(), &key, false);
        assert!(matches!(unsigned, Err(DsigError::Unsigned)));
        let signed =
            String::from_utf8(sign(REQUEST.as_bytes(), &key, "CN=Z1,OU=07", "1").expect("signs"))
                .expect("UTF-8");
        let moved = signed.replace("</sr:Request>", "<sr:Trailer/></sr:Request>");
        assert!(matches!(
            verify_explicit(moved.as_bytes(), &key, false),
            Err(DsigError::UnsupportedProfile(_))
        ));
        let placeholder = {
            let a =
                signed.find("<ds:SignatureValue>").expect("value") + "<ds:SignatureValue>".len();
            let b = signed.find("</ds:SignatureValue>").expect("value end");
            format!("{}ZGVmYXVsdA=={}", &signed[..a], &signed[b..])
        };
        assert!(matches!(
            verify_explicit(placeholder.as_bytes(), &key, false),
            Err(DsigError::Placeholder { len: 7 })
        ));
    }
}
