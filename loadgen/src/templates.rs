//! Requests built from the DUIS conformance templates: one template per SRV and device type,
//! its RequestID replaced (the sending User, the chosen device, the next counter) and the
//! whole document XML-signed with the User's key. Critical SRVs are sent as their template
//! says (CommandVariant 4, Transform); [`signed_precommand_request`] builds the CommandVariant
//! 5 request that follows once the Pre-Command is back.
//!
//! **Signing without reading the document again.** A template is parsed once, when it is
//! loaded: whitespace-only text and the placeholder `ds:Signature` are removed, and what is
//! kept is the document's inclusive Canonical XML 1.0 form behind an XML declaration, with
//! the places of its `RequestID` (and body `DeviceID`) text noted. [`Template::render`]
//! splices the new values in; they are EUIs, dashes, colons and decimal digits (a value
//! with any other character is refused rather than escaped), and for the requests below
//! base64 certificates in prefixed elements without attributes, all of which
//! canonicalisation writes as they are, so the rendered text is still canonical. [`sign`] hands it to
//! [`dsig::sign_canonical`], which digests the bytes as they are and inserts the signature,
//! with no parsing, stripping or canonicalising per request. The `DigestValue` is the one
//! [`dsig::sign_with_certificate`] computes from the template text, and the document is the
//! one it writes except for what canonicalisation itself changes: comments are left out
//! and empty elements are written as start-end pairs (`<sr:ReadInventory></sr:ReadInventory>`
//! rather than `<sr:ReadInventory/>`). The Signed Pre-Command request (CommandVariant 5) is
//! written straight in canonical form by
//! [`hubgate_protocol::duis::writer::write_request_canonical`] and signed the same way.
//!
//! The unit tests prove, for every template of the conformance corpus, that the signed
//! request verifies with the User's certificate, has the same `DigestValue` as the
//! parse-and-canonicalise path, and is byte for byte that path's document (the randomised
//! `SignatureValue` removed, comments and empty tags written as canonicalisation writes
//! them); that the Signed Pre-Command request verifies and reads back; and that a rendered
//! 6.15.1 (supplier and network operator) carries the User's certificates and CA, reads
//! back, and verifies with the User's certificate.
//!
//! **The sending User's own credentials.** A request that installs the sending party's
//! certificates on a device (SR 6.15.1 Update Security Credentials (KRP) for the supplier or
//! the network operator, CS02bSupplierBySupplier / CS02bNOByNO; 6.21 Request Handover of DCC
//! Controlled Device; 6.23 Update Security Credentials (CoS), which installs the gaining
//! supplier's) would, sent as the template has it, install the conformance corpus's
//! certificates, after which the device discards every command the User signs. For these
//! templates the places of the `DigitalSigningCertificate`, `KeyAgreementCertificate`,
//! `KeyAgreementTopUpCertificate` text and of the `CertificationPathCertificates` content are
//! noted as well, and [`Template::render`] writes the User's own certificates there (base64
//! DER, as the template has them): its digital-signing certificate, its key-agreement
//! certificate (also as the top-up key-agreement certificate, the local test PKI having no
//! separate one), and the CA certificate that issued them as the certification path (the
//! device checks that each replacement was issued by a certificate of the path; when the
//! issuer is not known, as for the Users of a DCC Boxed SMKI folder, which holds no CA
//! certificate, the template's path, the corpus's own CA, is kept). A User
//! without these certificates cannot send such a request: rendering fails, which the run
//! counts as a build failure. 6.15.1 for the load controller (CS02g) and 8.5 (the ACB's
//! credentials) install another party's certificates and are left as they are.
//!
//! Which device type a template addresses comes from its GBCS use case, the file name's
//! prefix, as in the gateway's inventory check: `ECS…` an ESME, `GCS…` a GSME (or the GPF
//! when the name says so), `CS01a`/`CS01b` ESME/GSME top-ups, `CCS…`/`DBCH…` and the identity
//! reads `ECS26i`/`ECS26n` the CHF, `PCS…` a PPMID, other `CS…` an ESME or a GSME.
//! Non-device SRVs (CommandVariant 8) keep the template's target, the DCC; a `DeviceID` in
//! their body (8.2 Read Inventory) is replaced with one of the User's devices.
//!
//! Of several templates for one SRV and device type, the one chosen is the plainest success
//! case: `IMMEDIATE`/`SINGLE` preferred; `CANCELLATION`, `TWIN` (twin-element meters),
//! `UNRELIABLE`, error cases and network-operator variants avoided; future-dated ones only
//! with `templates.future_dated`. `templates.files` overrides the choice.

use std::collections::BTreeMap;
use std::ops::Range;

use base64::Engine as _;
use std::path::{Path, PathBuf};

use hubgate_protocol::catalogue::{Catalogue, Srv};
use hubgate_protocol::duis::NS_DS;
use hubgate_protocol::duis::c14n::{self, Mode};
use hubgate_protocol::duis::dsig;
use hubgate_protocol::duis::model::body::{Body, SignedPreCommand};
use hubgate_protocol::duis::model::header::{CommandVariant, RequestHeader, RequestId};
use hubgate_protocol::duis::model::request::Request;
use hubgate_protocol::duis::reader;
use hubgate_protocol::duis::writer;
use hubgate_protocol::duis::xml::{self, Element, Limits, Node};
use hubgate_protocol::hex;

use crate::targets::DeviceKind;
use crate::users::User;

/// One usable template.
#[derive(Clone)]
pub struct Template {
    /// File name.
    pub file: String,
    /// The SRV.
    pub srv: String,
    /// Its CommandVariant.
    pub cv: u8,
    /// Device types it may address (empty: a non-device request).
    pub kinds: Vec<DeviceKind>,
    /// Its `ExecutionDateTime` (future dated), as written.
    pub execution: Option<String>,
    /// The same instant in Unix milliseconds.
    pub execution_ms: Option<i64>,
    /// The document in canonical form (inclusive C14N 1.0, behind an XML declaration),
    /// unsigned.
    text: String,
    /// Where the text of its `sr:RequestID` lies in `text`.
    request_id_at: Range<usize>,
    /// Where the text of its first `sr:DeviceID` lies in `text`, if it has one.
    device_id_at: Option<Range<usize>>,
    /// The template's target (kept for non-device requests).
    target: [u8; 8],
    /// Non-device request naming a device in its body.
    body_device: bool,
    /// Where the sending party's replacement certificates lie, for a request that installs
    /// them (see the module documentation).
    credentials: Option<CredentialSlots>,
}

/// Places in a template's canonical text that take the sending User's certificates.
#[derive(Clone, Debug)]
struct CredentialSlots {
    /// Text of `sr:DigitalSigningCertificate`.
    ds: Option<Range<usize>>,
    /// Text of `sr:KeyAgreementCertificate`.
    ka: Option<Range<usize>>,
    /// Text of `sr:KeyAgreementTopUpCertificate`.
    top_up: Option<Range<usize>>,
    /// Content of `sr:CertificationPathCertificates` (its `sr:Certificate` children).
    path: Option<Range<usize>>,
}

/// SRVs whose body carries the sending party's own replacement certificates.
const OWN_CREDENTIAL_SRVS: &[&str] = &["6.15.1", "6.21", "6.23"];

/// Remote party roles whose credentials are the sending User's own (6.15.1 and 6.21).
const OWN_ROLES: &[&str] = &["Supplier", "NetworkOperator"];

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("file", &self.file)
            .field("srv", &self.srv)
            .field("cv", &self.cv)
            .field("kinds", &self.kinds)
            .field("execution", &self.execution)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// The HTTP path for its CommandVariant.
    pub fn path(&self) -> &'static str {
        service_path(self.cv)
    }

    /// Whether this SRV is critical and sent for transformation (CommandVariant 4).
    pub fn is_transform(&self) -> bool {
        self.cv == 4
    }

    /// Device types a non-device request may name in its body.
    pub fn body_kinds(&self) -> &'static [DeviceKind] {
        if self.body_device {
            &[DeviceKind::Esme, DeviceKind::Gsme, DeviceKind::Chf]
        } else {
            &[]
        }
    }

    /// The request for `user` to `target` (`None`: the template's own target) with
    /// `counter`, body device `body_device` if the template names one; unsigned, in
    /// canonical form (see the module documentation), ready for [`sign`].
    ///
    /// # Errors
    ///
    /// When a value to splice in would need escaping (it cannot, being made of EUIs, a
    /// decimal counter and base64; checked all the same), or the request installs the
    /// sending party's certificates and `user` lacks one of them.
    pub fn render(
        &self,
        user: &User,
        target: Option<[u8; 8]>,
        counter: u64,
        body_device: Option<[u8; 8]>,
    ) -> Result<(Rendered, RequestId), String> {
        let id = RequestId::new(user.id, target.unwrap_or(self.target), counter);
        let mut splices: Vec<(String, Range<usize>)> = Vec::with_capacity(6);
        splices.push((id.to_string(), self.request_id_at.clone()));
        if let (Some(d), Some(at)) = (body_device, &self.device_id_at)
            && self.body_device
        {
            splices.push((hex::eui_duis(&d), at.clone()));
        }
        for (value, _) in &splices {
            if !value.bytes().all(canonical_as_is) {
                return Err(format!(
                    "{}: {value:?} would need escaping in canonical XML",
                    self.file
                ));
            }
        }
        if let Some(slots) = &self.credentials {
            self.credential_splices(user, slots, &mut splices)?;
        }
        splices.sort_by_key(|(_, at)| at.start);
        let extra: usize = splices.iter().map(|(v, _)| v.len()).sum();
        let mut out = String::with_capacity(self.text.len() + extra);
        let mut from = 0;
        for (value, at) in &splices {
            let before = self
                .text
                .get(from..at.start)
                .ok_or_else(|| format!("{}: overlapping elements to replace", self.file))?;
            out.push_str(before);
            out.push_str(value);
            from = at.end;
        }
        out.push_str(self.text.get(from..).unwrap_or_default());
        Ok((Rendered(out), id))
    }
}

impl Template {
    /// Adds the User's certificates to `splices`, where `slots` says.
    fn credential_splices(
        &self,
        user: &User,
        slots: &CredentialSlots,
        splices: &mut Vec<(String, Range<usize>)>,
    ) -> Result<(), String> {
        let missing = |what: &str| {
            format!(
                "{}: User {} has no {what} to install with SR {}",
                self.file, user.name, self.srv
            )
        };
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        if let Some(at) = &slots.ds {
            let c = user
                .ds_cert
                .as_ref()
                .ok_or_else(|| missing("digital-signing certificate"))?;
            splices.push((b64(c.der()), at.clone()));
        }
        for at in [&slots.ka, &slots.top_up].into_iter().flatten() {
            let c = user
                .ka_cert
                .as_ref()
                .ok_or_else(|| missing("key-agreement certificate"))?;
            splices.push((b64(c.der()), at.clone()));
        }
        // Without a known issuer (a DCC Boxed SMKI folder holds no CA certificate), the
        // template's path stays: the corpus's, which issued the corpus's Users.
        if let (Some(at), Some(ca)) = (&slots.path, user.issuer_ca.as_deref()) {
            splices.push((
                format!("<sr:Certificate>{}</sr:Certificate>", b64(ca)),
                at.clone(),
            ));
        }
        Ok(())
    }
}

/// A rendered request in canonical form, made by [`Template::render`]: the only text
/// [`sign`] takes, since it digests the bytes as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered(String);

impl Rendered {
    /// The document text (an XML declaration, then the canonical form).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters canonicalisation writes unchanged in text content, among those a spliced
/// value may hold (EUIs, dashes, colons, decimal digits).
fn canonical_as_is(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b':'
}

/// The web service path for a CommandVariant (DCC Boxed paths).
pub fn service_path(cv: u8) -> &'static str {
    match cv {
        4 => "/api/v1/serviceT",
        2 | 6 | 8 => "/api/v1/serviceD",
        _ => "/api/v1/serviceS",
    }
}

/// Where the text of the first `<sr:NAME>` element lies in `text` (its start tag written
/// without attributes, as in the canonical form of a DUIS template).
fn element_text(text: &str, name: &str) -> Option<Range<usize>> {
    let at = element_content(text, name)?;
    // Text only: a child element would be replaced with it.
    (!text.get(at.clone())?.contains('<')).then_some(at)
}

/// Where the content of the first `<sr:NAME>` element lies in `text` (child elements
/// included).
fn element_content(text: &str, name: &str) -> Option<Range<usize>> {
    let open = format!("<sr:{name}>");
    let close = format!("</sr:{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text.get(start..)?.find(&close)?;
    Some(start..end)
}

/// The places of the sending party's certificates, for a template that installs them.
fn credential_slots(srv: &str, text: &str) -> Option<CredentialSlots> {
    if !OWN_CREDENTIAL_SRVS.contains(&srv) {
        return None;
    }
    if let Some(role) = element_text(text, "RemotePartyRole")
        && !text.get(role).is_some_and(|r| OWN_ROLES.contains(&r))
    {
        return None;
    }
    let slots = CredentialSlots {
        ds: element_text(text, "DigitalSigningCertificate"),
        ka: element_text(text, "KeyAgreementCertificate"),
        top_up: element_text(text, "KeyAgreementTopUpCertificate"),
        path: element_content(text, "CertificationPathCertificates"),
    };
    (slots.ds.is_some() || slots.ka.is_some() || slots.top_up.is_some()).then_some(slots)
}

/// Device types the use case in a template's file name addresses.
fn kinds_of(file: &str) -> Vec<DeviceKind> {
    use DeviceKind::*;
    let uc = file.split('_').next().unwrap_or_default();
    let upper = file.to_ascii_uppercase();
    if matches!(uc, "ECS26i" | "ECS26n") || uc.starts_with("CCS") || uc.starts_with("DBCH") {
        vec![Chf]
    } else if uc.starts_with("ECS") || uc == "CS01a" {
        vec![Esme]
    } else if uc.starts_with("GCS") {
        if upper.contains("GPF") {
            vec![Gpf]
        } else {
            vec![Gsme]
        }
    } else if uc == "CS01b" {
        vec![Gsme]
    } else if uc.starts_with("PCS") {
        vec![Ppmid]
    } else {
        vec![Esme, Gsme]
    }
}

/// How plain a success case the file name says it is (higher is better); `None` to skip.
fn score(file: &str, future_dated: bool, dated: bool) -> Option<i32> {
    let f = file.to_ascii_uppercase();
    if f.contains("ERROR") || f.contains("FAILURE") {
        return None;
    }
    if dated && !future_dated {
        return None;
    }
    let mut s = 0;
    for (word, w) in [
        ("SUCCESS", 4),
        ("IMMEDIATE", 3),
        ("SINGLE", 2),
        ("RELIABLE_GSME", 1),
        ("SUPPLIERBYSUPPLIER", 2),
        ("CANCELLATION", -20),
        ("TWIN", -10),
        ("UNRELIABLE", -6),
        ("NOBYNO", -8),
        ("LOADCONTROLLER", -4),
        ("DSP_FUTURE_DATED", -2),
    ] {
        if f.contains(word) {
            s += w;
        }
    }
    Some(s)
}

/// The templates chosen for each SRV, by device-type group.
#[derive(Debug, Clone, Default)]
pub struct Library {
    by_srv: BTreeMap<String, Vec<Template>>,
    dir: PathBuf,
}

impl Library {
    /// Reads every `*_REQUEST_DUIS.XML` in `dir` and keeps the best template for each SRV
    /// and device type; `overrides` (SRV → file name) win.
    ///
    /// # Errors
    ///
    /// When the folder cannot be read, or an override names a file that is missing or not
    /// a request for its SRV.
    pub fn load(
        dir: &Path,
        future_dated: bool,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Library, String> {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with("_REQUEST_DUIS.XML"))
            .collect();
        files.sort();
        let catalogue = Catalogue::get();
        let mut best: BTreeMap<(String, Vec<DeviceKind>), (i32, Template)> = BTreeMap::new();
        for file in files {
            let Ok(t) = read_template(dir, &file) else {
                continue;
            };
            let Some(srv) = catalogue.srv(&t.srv) else {
                continue;
            };
            let dated = t.execution.is_some();
            let forced = overrides.get(&t.srv).is_some_and(|f| *f == file);
            let Some(s) = score(&file, future_dated, dated) else {
                continue;
            };
            let s = if forced { i32::MAX } else { s };
            if overrides.contains_key(&t.srv) && !forced {
                continue;
            }
            // Templates in the CommandVariant the SRV is sent with first: 4 for critical
            // device SRVs, 8 for non-device ones, else 1.
            let wanted_cv = if srv.non_device {
                8
            } else if srv.critical {
                4
            } else {
                1
            };
            if t.cv != wanted_cv && !forced {
                continue;
            }
            let key = (t.srv.clone(), t.kinds.clone());
            match best.get(&key) {
                Some((old, _)) if *old >= s => {}
                _ => {
                    best.insert(key, (s, t));
                }
            }
        }
        let mut by_srv: BTreeMap<String, Vec<Template>> = BTreeMap::new();
        for ((srv, _), (_, t)) in best {
            by_srv.entry(srv).or_default().push(t);
        }
        for (srv, file) in overrides {
            if !by_srv
                .get(srv)
                .is_some_and(|v| v.iter().any(|t| t.file == *file))
            {
                return Err(format!(
                    "templates.files.\"{srv}\": {file:?} is not a usable {srv} request template in {}",
                    dir.display()
                ));
            }
        }
        Ok(Library {
            by_srv,
            dir: dir.to_path_buf(),
        })
    }

    /// The templates for `srv` (one per device-type group).
    pub fn for_srv(&self, srv: &str) -> &[Template] {
        self.by_srv.get(srv).map_or(&[], Vec::as_slice)
    }

    /// SRVs with a template.
    pub fn srvs(&self) -> impl Iterator<Item = &str> {
        self.by_srv.keys().map(String::as_str)
    }

    /// The folder read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn read_template(dir: &Path, file: &str) -> Result<Template, String> {
    let path = dir.join(file);
    let raw = std::fs::read(&path).map_err(|e| e.to_string())?;
    let mut doc = xml::parse(&raw, &Limits::default()).map_err(|e| e.to_string())?;
    let request = reader::read_request(&doc).map_err(|e| e.to_string())?;
    let srv = request.header.service_reference_variant.to_string();
    let non_device = Catalogue::get()
        .srv(&srv)
        .is_some_and(|s: &Srv| s.non_device);
    let execution = request
        .body
        .execution_date_time()
        .map(|d| d.as_str().to_string());
    let execution_ms = execution.as_deref().and_then(crate::time::parse_rfc3339_ms);
    let text = canonical_unsigned(&mut doc)?;
    let request_id_at =
        element_text(&text, "RequestID").ok_or_else(|| format!("{file}: no sr:RequestID"))?;
    let device_id_at = element_text(&text, "DeviceID");
    let credentials = credential_slots(&srv, &text);
    Ok(Template {
        file: file.to_string(),
        cv: request.header.command_variant.as_u8(),
        kinds: if non_device {
            Vec::new()
        } else {
            kinds_of(file)
        },
        execution,
        execution_ms,
        body_device: non_device && device_id_at.is_some(),
        target: request.header.request_id.target,
        text,
        request_id_at,
        device_id_at,
        credentials,
        srv,
    })
}

/// What [`dsig::sign`] digests, written out: the document with whitespace-only text and any
/// `ds:Signature` removed, in inclusive canonical form behind an XML declaration.
fn canonical_unsigned(doc: &mut xml::Document) -> Result<String, String> {
    doc.strip_whitespace_text();
    remove_signatures(&mut doc.root);
    let mut out = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>".to_vec();
    c14n::canonicalize_document(doc, Mode::Inclusive, None, &mut out);
    String::from_utf8(out).map_err(|e| format!("canonical form is not UTF-8: {e}"))
}

/// Removes every `ds:Signature` element below `e` (a template's placeholder).
fn remove_signatures(e: &mut Element) {
    e.children
        .retain(|n| !matches!(n, Node::Element(c) if c.is(NS_DS, "Signature")));
    for c in e.child_elements_mut() {
        remove_signatures(c);
    }
}

/// XML-signs a rendered request as `user`, without reading it again (see the module
/// documentation).
///
/// # Errors
///
/// What the signer reports (a key failure).
pub fn sign(user: &User, rendered: &Rendered) -> Result<Vec<u8>, String> {
    sign_canonical_as(user, rendered.as_str()).map_err(|e| e.to_string())
}

/// [`dsig::sign_canonical`] with `user`'s XML-signing key and certificate.
fn sign_canonical_as(user: &User, canonical: &str) -> Result<Vec<u8>, dsig::DsigError> {
    dsig::sign_canonical(
        canonical,
        &user.xml_key,
        user.xml_cert.issuer(),
        user.xml_cert.serial_decimal(),
    )
}

/// The CommandVariant 5 request (Send Command with a Signed Pre-Command) that follows a
/// Transform: same RequestID and SRV, the Pre-Command signed with the User's GBCS DS key;
/// XML-signed. `execution` is copied from the Transform request, if it had one.
///
/// # Errors
///
/// When the User has no DS key, the Pre-Command is not one, or signing fails.
pub fn signed_precommand_request(
    user: &User,
    request_id: RequestId,
    srv: &str,
    precommand: &[u8],
    execution: Option<&str>,
) -> Result<Vec<u8>, String> {
    let ds = user
        .ds_key
        .as_ref()
        .ok_or_else(|| format!("User {} has no digital-signature key", user.name))?;
    let signed = hubgate_protocol::gbcs::auth::sign_precommand(precommand, ds)
        .map_err(|e| format!("signing the Pre-Command: {e}"))?;
    let cv = CommandVariant::from_u8(5).ok_or("CommandVariant 5")?;
    let header = RequestHeader::new(request_id, cv, srv).ok_or_else(|| format!("SRV {srv}"))?;
    let execution_date_time = match execution {
        Some(e) => Some(
            hubgate_protocol::duis::model::xsd::DateTime::new(e)
                .map_err(|e| format!("ExecutionDateTime: {e:?}"))?,
        ),
        None => None,
    };
    let body = Body::SignedPreCommand(Box::new(SignedPreCommand {
        execution_date_time,
        gbcs_payload: signed,
    }));
    let request = Request::new(header, body);
    match writer::write_request_canonical(&request) {
        Some(xml) => sign_canonical_as(user, &xml),
        None => {
            dsig::sign_with_certificate(request.to_xml().as_bytes(), &user.xml_key, &user.xml_cert)
        }
    }
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> PathBuf {
        hubgate_protocol::conformance::require()
    }

    /// What rendering did before templates were kept in canonical form: the template file's
    /// text with the first `<sr:NAME>` element's text replaced.
    fn replace_element(text: &str, name: &str, value: &str) -> String {
        let open = format!("<sr:{name}>");
        let close = format!("</sr:{name}>");
        let start = text.find(&open).expect("element") + open.len();
        let end = start + text[start..].find(&close).expect("end tag");
        format!("{}{value}{}", &text[..start], &text[end..])
    }

    /// The text of the first `<ds:NAME>` element.
    fn ds_text<'a>(doc: &'a str, name: &str) -> &'a str {
        let open = format!("<ds:{name}>");
        let start = doc.find(&open).expect("element") + open.len();
        let end = start + doc[start..].find('<').expect("end tag");
        &doc[start..end]
    }

    /// `doc` with the text of its `ds:SignatureValue` removed.
    fn without_signature_value(doc: &str) -> String {
        let v = ds_text(doc, "SignatureValue");
        doc.replacen(&format!(">{v}<"), "><", 1)
    }

    /// `xml` without its comments (canonicalisation without comments leaves them out).
    fn without_comments(xml: &str) -> String {
        let mut out = String::with_capacity(xml.len());
        let mut rest = xml;
        while let Some(start) = rest.find("<!--") {
            let end = start + rest[start..].find("-->").expect("comment end") + 3;
            out.push_str(&rest[..start]);
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    /// Compact XML with every empty-element tag `<a …/>` written as `<a …></a>`, as
    /// canonicalisation writes it.
    fn expand_empty_tags(xml: &str) -> String {
        let mut out = String::with_capacity(xml.len() + 256);
        let mut rest = xml;
        while let Some(end) = rest.find("/>") {
            let start = rest[..end].rfind('<').expect("tag start");
            let name_end = rest[start..end]
                .find([' ', '\t', '\n'])
                .map_or(end, |i| start + i);
            out.push_str(&rest[..end]);
            out.push_str("></");
            out.push_str(&rest[start + 1..name_end]);
            out.push('>');
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn fast_signing_matches_the_parse_and_canonicalise_path_for_every_template() {
        let dir = corpus().join("duis/templates");
        let users = crate::users::load_zaz1(&corpus().join("smki")).expect("ZAZ1 Users");
        let user = users.first().expect("a User");
        let target = [0x00, 0xDB, 0x12, 0x34, 0x56, 0x78, 0x90, 0xA1];
        let device = [0x00, 0xDB, 0x12, 0x34, 0x56, 0x78, 0x90, 0xB2];
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("templates")
            .map(|e| e.expect("entry").file_name().into_string().expect("name"))
            .filter(|n| n.ends_with("_REQUEST_DUIS.XML"))
            .collect();
        files.sort();
        let mut checked = 0;
        let mut with_device = 0;
        let mut with_credentials = 0;
        for (n, file) in files.iter().enumerate() {
            let Ok(t) = read_template(&dir, file) else {
                continue;
            };
            let counter = 1_700_000_000_000_000 + n as u64;
            let body_device = t.body_device.then_some(device);
            let (rendered, id) = t
                .render(user, Some(target), counter, body_device)
                .expect("renders");
            assert_eq!(id, RequestId::new(user.id, target, counter));
            let fast = String::from_utf8(sign(user, &rendered).expect("signs")).expect("UTF-8");

            // The old path: the file's text, values replaced, parsed, stripped and signed.
            let raw = std::fs::read_to_string(dir.join(file)).expect("template");
            let mut old_text = replace_element(&raw, "RequestID", &id.to_string());
            if body_device.is_some() {
                with_device += 1;
                old_text = replace_element(&old_text, "DeviceID", &hex::eui_duis(&device));
            }
            if t.credentials.is_some() {
                with_credentials += 1;
                old_text = with_own_certificates(&old_text, user);
            }
            let old = String::from_utf8(
                dsig::sign_with_certificate(old_text.as_bytes(), &user.xml_key, &user.xml_cert)
                    .expect("signs"),
            )
            .expect("UTF-8");

            let v = dsig::verify(fast.as_bytes(), &user.xml_cert)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!v.whitespace_stripped, "{file}");
            assert_eq!(
                ds_text(&fast, "DigestValue"),
                ds_text(&old, "DigestValue"),
                "{file}"
            );
            // Byte for byte, once the (randomised) SignatureValue is removed and the old
            // path's output is written as canonicalisation writes it: comments left out,
            // empty-element tags as start-end pairs.
            let fast_doc = without_signature_value(&fast);
            let old_doc = without_signature_value(&old);
            let (fast_body, fast_sig) =
                fast_doc.split_at(fast_doc.find("<ds:Signature ").expect("sig"));
            let (old_body, old_sig) =
                old_doc.split_at(old_doc.find("<ds:Signature ").expect("sig"));
            assert_eq!(fast_sig, old_sig, "{file}: signature element");
            assert_eq!(
                fast_body,
                expand_empty_tags(&without_comments(old_body)),
                "{file}: document"
            );
            // And the request reads back as the one rendered.
            let back = reader::parse_request(fast.as_bytes(), &Limits::default()).expect("reads");
            assert_eq!(back.header.request_id, id, "{file}");
            checked += 1;
        }
        assert!(
            checked >= 250,
            "{checked} of {} templates checked",
            files.len()
        );
        assert!(
            with_device > 0,
            "a template with a body DeviceID was checked"
        );
        assert!(
            with_credentials >= 5,
            "{with_credentials} templates installing the User's certificates checked"
        );
    }

    /// `text` with the User's certificates written into the replacement certificate
    /// elements the template has (and its CA as the path, if known), as text edits.
    fn with_own_certificates(text: &str, user: &User) -> String {
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        let ds = b64(user.ds_cert.as_ref().expect("DS certificate").der());
        let ka = b64(user.ka_cert.as_ref().expect("KA certificate").der());
        let mut out = text.to_string();
        for (name, value) in [
            ("DigitalSigningCertificate", &ds),
            ("KeyAgreementCertificate", &ka),
            ("KeyAgreementTopUpCertificate", &ka),
        ] {
            if out.contains(&format!("<sr:{name}>")) {
                out = replace_element(&out, name, value);
            }
        }
        if let Some(ca) = &user.issuer_ca {
            out = replace_element(
                &out,
                "CertificationPathCertificates",
                &format!("<sr:Certificate>{}</sr:Certificate>", b64(ca)),
            );
        }
        out
    }

    /// The base64 text of every `<sr:NAME>` element of `doc`.
    fn all_texts<'a>(doc: &'a str, name: &str) -> Vec<&'a str> {
        let open = format!("<sr:{name}>");
        let close = format!("</sr:{name}>");
        doc.match_indices(&open)
            .map(|(i, _)| {
                let start = i + open.len();
                &doc[start..start + doc[start..].find(&close).expect("end tag")]
            })
            .collect()
    }

    #[test]
    fn a_rendered_6_15_1_installs_the_users_own_certificates_and_verifies() {
        let dir = corpus().join("duis/templates");
        let users = crate::users::load_zaz1(&corpus().join("smki")).expect("ZAZ1 Users");
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        let target = [0x00, 0xDB, 0x12, 0x34, 0x56, 0x78, 0x90, 0xA1];
        let ca = std::fs::read(corpus().join("smki/Z1-supplier-ds.pem")).expect("a certificate");
        for (file, org) in [
            (
                "CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML",
                "90-B3-D5-1F-30-01-00-00",
            ),
            (
                "CS02bNOByNO_6.15.1_SUCCESS_REQUEST_DUIS.XML",
                "90-B3-D5-1F-30-02-00-00",
            ),
        ] {
            let t = read_template(&dir, file).expect("template");
            let template_text = t.text.clone();
            let user = users.iter().find(|u| u.name == org).expect("the User");
            let ds = b64(user.ds_cert.as_ref().expect("DS certificate").der());
            let ka = b64(user.ka_cert.as_ref().expect("KA certificate").der());
            assert!(!template_text.contains(&ds), "{file}: already the User's");

            // With a known issuing CA (a stand-in certificate here), the path is that CA.
            let mut with_ca = crate::users::load_zaz1(&corpus().join("smki"))
                .expect("ZAZ1 Users")
                .into_iter()
                .find(|u| u.name == org)
                .expect("the User");
            with_ca.issuer_ca = Some(
                hubgate_protocol::smki::Certificate::from_pem(&ca)
                    .expect("PEM")
                    .der()
                    .to_vec(),
            );
            for u in [user, &with_ca] {
                let (rendered, id) = t.render(u, Some(target), 7, None).expect("renders");
                let signed = sign(u, &rendered).expect("signs");
                dsig::verify(&signed, &u.xml_cert).unwrap_or_else(|e| panic!("{file}: {e}"));
                let text = String::from_utf8(signed.clone()).expect("UTF-8");
                assert_eq!(all_texts(&text, "DigitalSigningCertificate"), [ds.as_str()]);
                let kas = all_texts(&text, "KeyAgreementCertificate");
                assert_eq!(kas, [ka.as_str()], "{file}");
                for top_up in all_texts(&text, "KeyAgreementTopUpCertificate") {
                    assert_eq!(top_up, ka, "{file}");
                }
                let path = all_texts(&text, "Certificate");
                match &u.issuer_ca {
                    Some(c) => assert_eq!(path, [b64(c).as_str()], "{file}"),
                    None => assert_eq!(
                        path,
                        all_texts(&template_text, "Certificate"),
                        "{file}: the template's path kept"
                    ),
                }
                let back = reader::parse_request(&signed, &Limits::default()).expect("reads");
                assert_eq!(back.header.request_id, id);
                let Body::UpdateSecurityCredentialsKRP(k) = &back.body else {
                    panic!("{file}: not a 6.15.1 body");
                };
                let hubgate_protocol::duis::model::body::ReplacementCertificatesKRP::SupplierOrNetworkOperatorCertificates(r) =
                    &k.replacement_certificates;
                assert_eq!(
                    r.digital_signing_certificate.as_deref(),
                    user.ds_cert.as_ref().map(|c| c.der())
                );
                assert_eq!(
                    r.key_agreement_certificate.as_deref(),
                    user.ka_cert.as_ref().map(|c| c.der())
                );
            }

            // A User without a key-agreement certificate cannot send it.
            with_ca.ka_cert = None;
            let e = t
                .render(&with_ca, Some(target), 8, None)
                .expect_err("no KA certificate");
            assert!(e.contains("no key-agreement certificate"), "{e}");
            with_ca.ka_cert = user.ka_cert.clone();
            with_ca.ds_cert = None;
            let e = t
                .render(&with_ca, Some(target), 9, None)
                .expect_err("no DS certificate");
            assert!(e.contains("no digital-signing certificate"), "{e}");
        }
    }

    #[test]
    fn other_parties_credentials_are_left_as_the_template_has_them() {
        let dir = corpus().join("duis/templates");
        for file in [
            "CS02gLoadControllerBySupplier_6.15.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML",
            "CS02bACBByACB_8.5_SUCCESS_REQUEST_DUIS.XML",
        ] {
            let t = read_template(&dir, file).expect("template");
            assert!(t.credentials.is_none(), "{file}");
        }
        for file in [
            "CS02bSupplierBySupplierHandover_6.21_SUCCESS_REQUEST_DUIS.XML",
            "CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML",
            "CS02bSupplierBySupplier_6.15.1_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML",
        ] {
            let t = read_template(&dir, file).expect("template");
            assert!(t.credentials.is_some(), "{file}");
        }
    }

    #[test]
    fn spliced_values_never_need_escaping() {
        for b in [b'&', b'<', b'>', b'\r', b'"', b' ', b'\n'] {
            assert!(!canonical_as_is(b), "{:?}", b as char);
        }
        let id = RequestId::new([0xAB; 8], [0x01; 8], u64::MAX).to_string();
        assert!(id.bytes().all(canonical_as_is), "{id}");
        assert!(hex::eui_duis(&[0xFE; 8]).bytes().all(canonical_as_is));
    }

    #[test]
    fn the_signed_precommand_request_verifies_and_reads_back() {
        let users = crate::users::load_zaz1(&corpus().join("smki")).expect("ZAZ1 Users");
        let user = users
            .iter()
            .find(|u| u.ds_key.is_some())
            .expect("a User with a DS key");
        let id = RequestId::new(
            user.id,
            [0x00, 0xDB, 0x12, 0x34, 0x56, 0x78, 0x90, 0xA1],
            42,
        );
        let precommand = hex::decode(
            std::fs::read_to_string(corpus().join(
                "gbcs/rtds/1.1.1_ECS01a/ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_PRECOMMAND_GBCS.HEX",
            ))
            .expect("Pre-Command vector")
            .trim(),
        )
        .expect("hex");
        for execution in [None, Some("2031-01-01T00:00:00Z")] {
            let signed = signed_precommand_request(user, id, "1.1.1", &precommand, execution)
                .expect("builds");
            dsig::verify(&signed, &user.xml_cert).expect("verifies");
            let back = reader::parse_request(&signed, &Limits::default()).expect("reads");
            assert_eq!(back.header.request_id, id);
            assert_eq!(back.header.command_variant.as_u8(), 5);
            assert_eq!(
                back.body
                    .execution_date_time()
                    .map(|d| d.as_str().to_string()),
                execution.map(str::to_string)
            );
        }
    }
}
