//! Writing the typed DUIS model ([`crate::duis::model`]) as compact XML that validates
//! against the DUIS V5.4 schema.
//!
//! Output: an XML declaration (`UTF-8`), the root with `xmlns:sr`, `xmlns:ds` and
//! `xmlns:xsi` declared and `schemaVersion` (5.4 for new messages), no whitespace between
//! elements, every DUIS element with the `sr` prefix. A kept `ds:Signature` (or any other
//! raw subtree) is written as held, with namespace declarations added where the subtree
//! relies on bindings it does not declare itself.

use std::collections::HashMap;

use crate::duis::model::Body;
use crate::duis::model::header::RequestHeader;
use crate::duis::model::request::Request;
use crate::duis::model::response::{
    DccAlertMessage, DeviceAlertMessage, Response, ResponseBody, ResponseHeader, ResponseMessage,
    ResponsePayload,
};
use crate::duis::model::xsd::{Facets, Leaf, encode_hex_upper};
use crate::duis::xml::{Element, Node};
use crate::duis::{NS_DS, NS_SR, NS_XSI};

/// A type written as a DUIS element's attributes and content.
pub trait ToXml {
    /// Writes the attributes (called right after the start tag's name).
    fn write_attrs(&self, _w: &mut XmlWriter) {}

    /// Writes the content (child elements or text).
    fn write_content(&self, w: &mut XmlWriter);
}

/// A part of a content model (nested sequence or choice) written as a run of siblings.
pub trait WriteGroup {
    /// Writes the elements of the group.
    fn write_group(&self, w: &mut XmlWriter);
}

/// Builds compact XML.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    /// Write the canonical form (Canonical XML 1.0, inclusive) directly: see
    /// [`XmlWriter::canonical`].
    canonical: bool,
    /// Something was written whose canonical form this writer does not guarantee (a raw
    /// subtree, an attribute on an inner element).
    not_canonical: bool,
    /// Namespace bindings in scope at the current DUIS element (prefix → URI; `""` is the
    /// default namespace).
    root_scope: HashMap<String, String>,
}

impl XmlWriter {
    /// An empty writer.
    pub fn new() -> XmlWriter {
        XmlWriter::default()
    }

    /// A writer whose output, after the XML declaration, is already the document's
    /// canonical form (inclusive Canonical XML 1.0, as the enveloped-signature digest needs):
    /// namespace declarations in prefix order, empty elements as start-end pairs, text
    /// escaped as canonicalisation escapes it. Raw subtrees and attributes other than the
    /// root's `schemaVersion` are not brought to canonical form; [`XmlWriter::is_canonical`]
    /// then says so and the caller canonicalises the usual way.
    pub fn canonical() -> XmlWriter {
        XmlWriter {
            canonical: true,
            ..XmlWriter::default()
        }
    }

    /// Whether the output so far is in canonical form (always `false` for a writer not made
    /// by [`XmlWriter::canonical`]).
    pub fn is_canonical(&self) -> bool {
        self.canonical && !self.not_canonical
    }

    /// The XML written so far.
    pub fn into_string(self) -> String {
        self.out
    }

    fn text_escaped(&mut self, text: &str) {
        if self.canonical {
            escape_text_c14n(text, &mut self.out);
        } else {
            escape_text(text, &mut self.out);
        }
    }

    fn end_empty(&mut self, name: &str) {
        if self.canonical {
            self.out.push('>');
            self.close(name);
        } else {
            self.out.push_str("/>");
        }
    }

    /// Writes the XML declaration and the start tag of the root `sr:<name>` with the
    /// standard declarations and `schemaVersion`.
    pub fn start_document(&mut self, name: &str, schema_version: &str) {
        self.out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        self.out.push_str("<sr:");
        self.out.push_str(name);
        // Prefix order, as canonicalisation writes them.
        for (p, uri) in [("ds", NS_DS), ("sr", NS_SR), ("xsi", NS_XSI)] {
            self.out.push_str(" xmlns:");
            self.out.push_str(p);
            self.out.push_str("=\"");
            self.out.push_str(uri);
            self.out.push('"');
            self.root_scope.insert(p.to_owned(), uri.to_owned());
        }
        self.out.push_str(" schemaVersion=\"");
        escape_attr(schema_version, &mut self.out);
        self.out.push_str("\">");
    }

    /// Writes the end tag of the root.
    pub fn end_document(&mut self, name: &str) {
        self.close(name);
    }

    fn open(&mut self, name: &str) {
        self.out.push_str("<sr:");
        self.out.push_str(name);
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</sr:");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Writes an attribute of the element being started.
    pub fn attr<T: Leaf>(&mut self, name: &str, value: &T, facets: &Facets) {
        self.not_canonical = true;
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("=\"");
        escape_attr(&value.lexical(facets), &mut self.out);
        self.out.push('"');
    }

    /// Writes `sr:<name>` with the attributes and content of `value` (`<sr:name/>` when both
    /// are empty).
    pub fn child<T: ToXml + ?Sized>(&mut self, name: &str, value: &T) {
        self.open(name);
        value.write_attrs(self);
        self.out.push('>');
        let mark = self.out.len();
        value.write_content(self);
        if self.out.len() == mark {
            self.out.pop();
            self.end_empty(name);
        } else {
            self.close(name);
        }
    }

    /// Writes an element with no attributes and no content.
    pub fn empty(&mut self, name: &str) {
        self.open(name);
        self.end_empty(name);
    }

    /// Writes `sr:<name>` holding the simple value `value`.
    pub fn leaf<T: Leaf>(&mut self, name: &str, value: &T, facets: &Facets) {
        self.open(name);
        self.out.push('>');
        self.text_escaped(&value.lexical(facets));
        self.close(name);
    }

    /// Writes `sr:<name>` holding already-lexical text.
    pub fn leaf_str(&mut self, name: &str, text: &str) {
        self.open(name);
        self.out.push('>');
        self.text_escaped(text);
        self.close(name);
    }

    /// Writes simple content (text) of the current element.
    pub fn text<T: Leaf>(&mut self, value: &T, facets: &Facets) {
        self.text_escaped(&value.lexical(facets));
    }

    /// Writes a group.
    pub fn group<G: WriteGroup + ?Sized>(&mut self, g: &G) {
        g.write_group(self);
    }

    /// Writes a raw subtree as held, declaring any prefix it uses that is not bound (to the
    /// same URI) by the DUIS root or by the subtree itself.
    ///
    /// A canonical writer writes a plain subtree (see [`plain_subtree`]) straight in canonical
    /// form, so that a response holding one (an inventory answer) is still signed without
    /// being read back; anything else marks the output as not canonical.
    pub fn raw(&mut self, el: &Element) {
        if self.canonical && plain_subtree(el, &self.root_scope) {
            write_plain_c14n(el, &mut self.out);
            return;
        }
        self.not_canonical = true;
        let scope = self.root_scope.clone();
        write_raw(el, &scope, &mut self.out);
    }
}

/// Whether `el` is a subtree whose canonical form [`write_plain_c14n`] writes exactly as
/// canonicalising the document would after [`write_raw`] and reading back with
/// whitespace-only text removed (what [`crate::duis::dsig::sign`] does): no namespace
/// declarations and no attributes anywhere, every element's prefix bound by the root to its
/// namespace (or neither prefix nor namespace, with no default namespace in scope), and as
/// children only elements and text, never two texts side by side nor a whitespace-only one,
/// and no control character XML cannot carry.
/// Under those conditions the canonical form has no declarations to render or sort, and
/// every text is kept as it is.
fn plain_subtree(el: &Element, root_scope: &HashMap<String, String>) -> bool {
    if !el.ns_decls.is_empty() || !el.attrs.is_empty() {
        return false;
    }
    let bound = match (&el.prefix, &el.ns) {
        (Some(p), Some(uri)) => root_scope.get(&**p).map(String::as_str) == Some(&**uri),
        (None, None) => !root_scope.contains_key(""),
        _ => false,
    };
    if !bound {
        return false;
    }
    let mut previous_text = false;
    el.children.iter().all(|n| match n {
        Node::Element(e) => {
            previous_text = false;
            plain_subtree(e, root_scope)
        }
        Node::Text(t) => {
            let ok = !previous_text
                && !t.bytes().all(crate::duis::xml::is_xml_space)
                && !t
                    .chars()
                    .any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\r'));
            previous_text = true;
            ok
        }
        Node::Comment(_) | Node::Pi(..) => false,
    })
}

/// Writes a subtree that [`plain_subtree`] accepted in canonical form: start-end pairs, text
/// escaped as canonicalisation escapes it.
fn write_plain_c14n(el: &Element, out: &mut String) {
    let qname = el.qname();
    out.push('<');
    out.push_str(&qname);
    out.push('>');
    for n in &el.children {
        match n {
            Node::Element(e) => write_plain_c14n(e, out),
            Node::Text(t) => escape_text_c14n(t, out),
            Node::Comment(_) | Node::Pi(..) => {}
        }
    }
    out.push_str("</");
    out.push_str(&qname);
    out.push('>');
}

fn write_raw(el: &Element, parent: &HashMap<String, String>, out: &mut String) {
    let mut scope = parent.clone();
    let mut decls: Vec<(String, String)> = Vec::new();
    for d in &el.ns_decls {
        let p = d.prefix.as_deref().unwrap_or_default().to_owned();
        scope.insert(p.clone(), d.uri.to_string());
        decls.push((p, d.uri.to_string()));
    }
    let mut need = |prefix: &str, uri: &str, scope: &mut HashMap<String, String>| {
        if scope.get(prefix).map(String::as_str) != Some(uri) {
            scope.insert(prefix.to_owned(), uri.to_owned());
            decls.push((prefix.to_owned(), uri.to_owned()));
        }
    };
    let el_prefix = el.prefix.as_deref().unwrap_or_default();
    match &el.ns {
        Some(uri) => need(el_prefix, uri, &mut scope),
        None => {
            if el_prefix.is_empty() && scope.get("").is_some_and(|u| !u.is_empty()) {
                need("", "", &mut scope);
            }
        }
    }
    for a in &el.attrs {
        if let (Some(p), Some(uri)) = (&a.prefix, &a.ns) {
            need(p, uri, &mut scope);
        }
    }
    out.push('<');
    let qname = el.qname();
    out.push_str(&qname);
    for (p, uri) in &decls {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        escape_attr(uri, out);
        out.push('"');
    }
    for a in &el.attrs {
        out.push(' ');
        if let Some(p) = &a.prefix {
            out.push_str(p);
            out.push(':');
        }
        out.push_str(&a.local);
        out.push_str("=\"");
        escape_attr(&a.value, out);
        out.push('"');
    }
    if el.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for n in &el.children {
        match n {
            Node::Element(e) => write_raw(e, &scope, out),
            other => crate::duis::xml::write_leaf(other, out),
        }
    }
    out.push_str("</");
    out.push_str(&qname);
    out.push('>');
}

/// Escapes character data.
pub fn escape_text(s: &str, out: &mut String) {
    crate::duis::xml::escape_text_into(out, s);
}

/// Escapes character data as Canonical XML writes it (`&amp;`, `&lt;`, `&gt;`, `&#xD;`).
fn escape_text_c14n(s: &str, out: &mut String) {
    crate::duis::xml::escape_text_cr(out, s, "&#xD;");
}

/// Escapes an attribute value (double-quoted).
pub fn escape_attr(s: &str, out: &mut String) {
    crate::duis::xml::escape_attr_into(out, s);
}

// ------------------------------------------------------------------------------------------
// Documents
// ------------------------------------------------------------------------------------------

/// Writes a request as a complete XML document (with its `ds:Signature`, if it has one).
pub fn write_request(request: &Request) -> String {
    write_request_with(request, XmlWriter::new()).0
}

/// Writes a request (which must not hold a signature yet) so that everything after the XML
/// declaration is its canonical form, ready for [`crate::duis::dsig::sign_canonical`];
/// `None` when the request holds parts this writer does not canonicalise (an attribute below
/// the root, a raw subtree that is not plain).
pub fn write_request_canonical(request: &Request) -> Option<String> {
    if request.signature.is_some() {
        return None;
    }
    let (xml, canonical) = write_request_with(request, XmlWriter::canonical());
    canonical.then_some(xml)
}

fn write_request_with(request: &Request, mut w: XmlWriter) -> (String, bool) {
    w.start_document("Request", request.schema_version.as_str());
    write_request_header(&request.header, &mut w);
    w.child("Body", &BodyContent(&request.body));
    if let Some(sig) = &request.signature {
        w.raw(sig);
    }
    w.end_document("Request");
    let canonical = w.is_canonical();
    (w.into_string(), canonical)
}

struct BodyContent<'a>(&'a Body);

impl ToXml for BodyContent<'_> {
    fn write_content(&self, w: &mut XmlWriter) {
        self.0.write_element(w);
    }
}

fn write_request_header(h: &RequestHeader, w: &mut XmlWriter) {
    struct H<'a>(&'a RequestHeader);
    impl ToXml for H<'_> {
        fn write_content(&self, w: &mut XmlWriter) {
            let h = self.0;
            w.leaf_str("RequestID", &h.request_id.to_string());
            if let Some(b) = h.first_in_sequence {
                w.leaf("FirstInSequence", &b, &Facets::NONE);
            }
            if let Some(p) = &h.preceding_request_id {
                w.leaf_str("PrecedingServiceRequestID", &p.to_string());
            }
            w.leaf_str("CommandVariant", &h.command_variant.as_u8().to_string());
            w.leaf_str("ServiceReference", h.service_reference.as_str());
            w.leaf_str(
                "ServiceReferenceVariant",
                h.service_reference_variant.as_str(),
            );
        }
    }
    w.child("Header", &H(h));
}

/// Writes a response as a complete XML document (with its `ds:Signature`, if it has one).
pub fn write_response(response: &Response) -> String {
    write_response_with(response, XmlWriter::new()).0
}

/// Writes a response (which must not hold a signature yet) so that everything after the XML
/// declaration is its canonical form; `None` when the response holds parts this writer does
/// not canonicalise (a raw subtree, such as a DSP payload or a SMETS1 message).
pub fn write_response_canonical(response: &Response) -> Option<String> {
    if response.signature.is_some() {
        return None;
    }
    let (xml, canonical) = write_response_with(response, XmlWriter::canonical());
    canonical.then_some(xml)
}

fn write_response_with(response: &Response, mut w: XmlWriter) -> (String, bool) {
    w.start_document("Response", response.schema_version.as_str());
    write_response_header(&response.header, &mut w);
    struct B<'a>(&'a ResponseBody);
    impl ToXml for B<'_> {
        fn write_content(&self, w: &mut XmlWriter) {
            match self.0 {
                ResponseBody::ResponseMessage(m) => w.child("ResponseMessage", &Rm(m)),
                ResponseBody::DeviceAlertMessage(a) => w.child("DeviceAlertMessage", &Da(a)),
                ResponseBody::DccAlertMessage(a) => w.child("DCCAlertMessage", &Dcc(a)),
                ResponseBody::Smets1ResponseMessage(e) => w.raw(e),
            }
        }
    }
    w.child("Body", &B(&response.body));
    if let Some(sig) = &response.signature {
        w.raw(sig);
    }
    w.end_document("Response");
    let canonical = w.is_canonical();
    (w.into_string(), canonical)
}

fn write_response_header(h: &ResponseHeader, w: &mut XmlWriter) {
    struct H<'a>(&'a ResponseHeader);
    impl ToXml for H<'_> {
        fn write_content(&self, w: &mut XmlWriter) {
            let h = self.0;
            if let Some(id) = &h.request_id {
                w.leaf_str("RequestID", &id.to_string());
            }
            if let Some(id) = &h.response_id {
                w.leaf_str("ResponseID", &id.to_string());
            }
            w.leaf_str("ResponseCode", h.response_code.as_str());
            w.leaf("ResponseDateTime", &h.response_date_time, &Facets::NONE);
        }
    }
    w.child("Header", &H(h));
}

struct Rm<'a>(&'a ResponseMessage);

impl ToXml for Rm<'_> {
    fn write_content(&self, w: &mut XmlWriter) {
        let m = self.0;
        w.leaf_str("ServiceReference", m.service_reference.as_str());
        w.leaf_str(
            "ServiceReferenceVariant",
            m.service_reference_variant.as_str(),
        );
        let Some(p) = &m.payload else { return };
        struct Seq<F: Fn(&mut XmlWriter)>(F);
        impl<F: Fn(&mut XmlWriter)> ToXml for Seq<F> {
            fn write_content(&self, w: &mut XmlWriter) {
                (self.0)(w);
            }
        }
        match p {
            ResponsePayload::GbcsPayload(b) => w.leaf("GBCSPayload", b, &Facets::BASE64),
            ResponsePayload::PreCommand {
                gbcs_version,
                gbcs_payload,
            } => w.child(
                "PreCommand",
                &Seq(|w: &mut XmlWriter| {
                    w.leaf("GBCSVersion", gbcs_version, &Facets::STRING);
                    w.leaf("GBCSPayload", gbcs_payload, &Facets::BASE64);
                }),
            ),
            ResponsePayload::LocalCommand { gbcs_payload } => w.child(
                "LocalCommand",
                &Seq(|w: &mut XmlWriter| w.leaf("GBCSPayload", gbcs_payload, &Facets::BASE64)),
            ),
            ResponsePayload::CinMessage {
                gbcs_payload,
                customer_identification_number,
            } => w.child(
                "CINMessage",
                &Seq(|w: &mut XmlWriter| {
                    w.leaf("GBCSPayload", gbcs_payload, &Facets::BASE64);
                    w.leaf_str(
                        "CustomerIdentificationNumber",
                        customer_identification_number,
                    );
                }),
            ),
            ResponsePayload::DspScheduledMessage {
                gbcs_payload,
                dsp_schedule_id,
            } => w.child(
                "DSPScheduledMessage",
                &Seq(|w: &mut XmlWriter| {
                    w.leaf("GBCSPayload", gbcs_payload, &Facets::BASE64);
                    w.leaf("DSPScheduleID", dsp_schedule_id, &Facets::NONE);
                }),
            ),
            ResponsePayload::DspScheduleId(id) => w.leaf("DSPScheduleID", id, &Facets::NONE),
            ResponsePayload::FutureDatedDeviceAlertMessage(a) => w.child(
                "FutureDatedDeviceAlertMessage",
                &Seq(|w: &mut XmlWriter| {
                    w.leaf_str(
                        "FutureDatedAlertCode",
                        &encode_hex_upper(&a.alert_code.code().to_be_bytes()),
                    );
                    w.leaf("GBCSPayload", &a.gbcs_payload, &Facets::BASE64);
                    w.leaf("InstructionNumber", &a.instruction_number, &Facets::NONE);
                    w.leaf(
                        "TotalCommandInstructions",
                        &a.total_command_instructions,
                        &Facets::NONE,
                    );
                }),
            ),
            ResponsePayload::Dsp { xml, .. } => w.raw(xml),
        }
    }
}

struct Da<'a>(&'a DeviceAlertMessage);

impl ToXml for Da<'_> {
    fn write_content(&self, w: &mut XmlWriter) {
        let a = self.0;
        w.leaf("AlertCode", &a.alert_code, &Facets::HEX);
        if let Some(v) = a.throttled_alert_sequence_id {
            w.leaf("ThrottledAlertSequenceId", &v, &Facets::NONE);
        }
        if let Some(v) = a.throttled_alert_count {
            w.leaf("ThrottledAlertCount", &v, &Facets::NONE);
        }
        w.leaf("GBCSPayload", &a.gbcs_payload, &Facets::BASE64);
    }
}

struct Dcc<'a>(&'a DccAlertMessage);

impl ToXml for Dcc<'_> {
    fn write_content(&self, w: &mut XmlWriter) {
        let a = self.0;
        w.leaf_str("DCCAlertCode", a.dcc_alert_code.as_str());
        if let Some(v) = a.throttled_alert_sequence_id {
            w.leaf("ThrottledAlertSequenceId", &v, &Facets::NONE);
        }
        if let Some(v) = a.throttled_alert_count {
            w.leaf("ThrottledAlertCount", &v, &Facets::NONE);
        }
        w.raw(&a.dcc_alert);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duis::c14n::{self, Mode};
    use crate::duis::dsig;
    use crate::duis::model::body::SignedPreCommand;
    use crate::duis::model::header::{CommandVariant, RequestId};
    use crate::duis::xml::{Document, Limits};

    /// The SHA-256 of what the enveloped-signature digest covers, the long way: the document
    /// read back, whitespace-only text removed, canonicalised.
    fn digest_by_parsing(xml: &str) -> Vec<u8> {
        let mut doc = Document::parse_str(xml).expect("well-formed");
        doc.strip_whitespace_text();
        let bytes = c14n::document_to_vec(&doc, Mode::Inclusive, None);
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes)
            .as_ref()
            .to_vec()
    }

    /// The SHA-256 of the canonical writer's output after the XML declaration, which is what
    /// `sign_canonical` digests.
    fn digest_as_written(xml: &str) -> Vec<u8> {
        let body = xml
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
            .expect("declaration");
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes())
            .as_ref()
            .to_vec()
    }

    fn signed_precommand(execution: Option<&str>) -> Request {
        let id: RequestId = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1001"
            .parse()
            .expect("RequestID");
        let cv = CommandVariant::from_u8(5).expect("CV 5");
        let header = RequestHeader::new(id, cv, "7.1").expect("SRV 7.1");
        let body = Body::SignedPreCommand(Box::new(SignedPreCommand {
            execution_date_time: execution
                .map(|e| crate::duis::model::xsd::DateTime::new(e).expect("dateTime")),
            gbcs_payload: (0u8..=255).cycle().take(300).collect(),
        }));
        Request::new(header, body)
    }

    #[test]
    fn canonical_request_digest_matches_parse_and_canonicalise() {
        for execution in [None, Some("2031-01-01T00:00:00Z")] {
            let request = signed_precommand(execution);
            let canonical = write_request_canonical(&request).expect("a CV 5 request is plain");
            assert_eq!(
                digest_as_written(&canonical),
                digest_by_parsing(&request.to_xml())
            );
            // Reading the canonical output back gives the same request.
            let back = crate::duis::reader::parse_request(canonical.as_bytes(), &Limits::default())
                .expect("reads back");
            assert_eq!(back, request);
        }
    }

    #[test]
    fn canonical_requests_of_the_corpus_digest_as_parsed() {
        let dir = crate::conformance::require().join("duis/templates");
        let mut canonical = 0;
        let mut refused = 0;
        for entry in std::fs::read_dir(&dir).expect("templates folder") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            let Ok(mut request) =
                crate::duis::reader::parse_request(text.as_bytes(), &Limits::default())
            else {
                continue;
            };
            request.signature = None;
            match write_request_canonical(&request) {
                Some(xml) => {
                    canonical += 1;
                    assert_eq!(
                        digest_as_written(&xml),
                        digest_by_parsing(&write_request(&request)),
                        "{}",
                        path.display()
                    );
                }
                None => refused += 1,
            }
        }
        assert!(canonical > 100, "{canonical} canonical, {refused} refused");
    }

    #[test]
    fn canonical_request_signs_and_verifies_and_a_signed_one_is_refused() {
        let key_path = crate::conformance::require().join("smki/xml-sign-90B3D51F30010000-ds.key");
        let key = crate::crypto::SigningKey::from_der(&std::fs::read(key_path).expect("key"))
            .expect("P-256 key");
        let request = signed_precommand(None);
        let xml = write_request_canonical(&request).expect("canonical");
        let bytes = dsig::sign_canonical(&xml, &key, "CN=Z1,OU=07", "1").expect("signs");
        let cert = dsig::ResolvedCert {
            key: std::borrow::Cow::Borrowed(key.verifying_key()),
            label: "test".into(),
            issuer: None,
        };
        let verified = dsig::verify_with(
            &bytes,
            dsig::KeySource::Explicit(&cert),
            &dsig::VerifyOptions::default(),
        )
        .expect("verifies");
        assert_eq!(verified.digest.to_vec(), digest_as_written(&xml));
        // A signed request is refused: its signature would be part of the digest.
        let doc = Document::parse(&bytes, &Limits::default()).expect("xml");
        let signed = crate::duis::reader::read_request(&doc).expect("request");
        assert!(signed.signature.is_some());
        assert!(write_request_canonical(&signed).is_none());
    }
}
