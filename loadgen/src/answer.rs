//! Reading the gateway's answers cheaply: one streaming pass over the XML (quick-xml) that
//! picks out exactly what loadgen records, instead of building the tree and the typed model
//! of [`Response::parse`](hubgate_protocol::duis::model::response::Response::parse).
//!
//! What [`scan`] extracts: `ResponseCode`, `RequestID`, `ResponseID`, `ResponseDateTime`,
//! which body it is ([`Kind`]: a Service Response, one carrying a future-dated device alert,
//! a device alert, a DCC alert, a SMETS1 response), the alert code of an alert, and the
//! `GBCSPayload` of a Pre-Command. These values are checked as the model reader checks them
//! (a listed response or DCC alert code, a well-formed RequestID and `xs:dateTime`, hex and
//! base64 that decode).
//!
//! What is refused ([`AnswerError`]): input that is not well-formed, namespace-aware XML
//! (unclosed or mismatched tags, several roots, text outside the root, a DOCTYPE, unknown
//! entities, undeclared prefixes, malformed or repeated attributes, not UTF-8, over the
//! reader's size and depth limits); a root other than `sr:Response`; a header without
//! `ResponseCode` or `ResponseDateTime`, with other elements, repeated or out of order; a
//! body that is not exactly one of the four response kinds; an alert without its code; a
//! Pre-Command without its payload; text where the schema has only elements.
//!
//! What is not checked, unlike the full reader: the rest of the body against the schema
//! (Service Reference, GBCS version, the other payload kinds), and the signature (loadgen
//! never verifies the gateway's signatures). A response the scanner accepts and the model
//! reader refuses can therefore only differ from the schema in parts loadgen does not read.
//!
//! The unit tests prove that on answers of every body kind, built with the protocol's model
//! and writer and signed as the gateway signs them, and on the responses of the conformance
//! corpus' signing vectors, the scanner gives exactly the fields the model reader gives; and
//! that malformed, truncated or incomplete answers (each case above) are refused by both.

use hubgate_protocol::duis::model::header::RequestId;
use hubgate_protocol::duis::model::response::{DccAlertCode, ResponseCode};
use hubgate_protocol::duis::model::xsd::{self, DateTime};
use hubgate_protocol::duis::xml::{self, Limits};
use hubgate_protocol::duis::{NS_DS, NS_SR};
use hubgate_protocol::hex;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::PrefixDeclaration;
use quick_xml::reader::Reader;

/// Which body an answer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `ResponseMessage` (acknowledgement, Service Response, Pre-Command, …).
    Response,
    /// `ResponseMessage` carrying a `FutureDatedDeviceAlertMessage`.
    FutureDatedAlert,
    /// `DeviceAlertMessage`.
    DeviceAlert,
    /// `DCCAlertMessage`.
    DccAlert,
    /// `SMETS1ResponseMessage`.
    Smets1Response,
}

impl Kind {
    /// The name the report counts it under.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Response => "response",
            Kind::FutureDatedAlert => "future_dated_alert",
            Kind::DeviceAlert => "device_alert",
            Kind::DccAlert => "dcc_alert",
            Kind::Smets1Response => "smets1_response",
        }
    }
}

/// What loadgen reads from an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `ResponseCode`.
    pub response_code: &'static str,
    /// `RequestID`, if present.
    pub request_id: Option<RequestId>,
    /// `ResponseID`, if present.
    pub response_id: Option<RequestId>,
    /// `ResponseDateTime`, as written (whitespace around it removed).
    pub response_date_time: String,
    /// The body.
    pub kind: Kind,
    /// `AlertCode` of a device alert (upper-case hex) or `DCCAlertCode` of a DCC alert.
    pub alert_code: Option<String>,
    /// The `GBCSPayload` of a `PreCommand`, decoded.
    pub precommand: Option<Vec<u8>>,
}

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Not well-formed XML, or over the reader's limits.
    #[error("not well-formed XML: {0}")]
    Xml(String),
    /// An element in a place the DUIS response schema does not have it.
    #[error("unexpected {0}")]
    Unexpected(String),
    /// A required element is missing.
    #[error("no {0}")]
    Missing(&'static str),
    /// A value that does not read as its type.
    #[error("{field}: {message}")]
    Invalid {
        /// The element.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Where the scan is: the role of each open element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Root,
    Header,
    Body,
    ResponseMessage,
    PreCommand,
    DeviceAlert,
    DccAlert,
    /// A leaf whose text is kept.
    Field(Field),
    /// Anything else (its content is checked for well-formedness only).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    RequestId,
    ResponseId,
    ResponseCode,
    ResponseDateTime,
    AlertCode,
    DccAlertCode,
    PreCommandPayload,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::RequestId => "sr:RequestID",
            Field::ResponseId => "sr:ResponseID",
            Field::ResponseCode => "sr:ResponseCode",
            Field::ResponseDateTime => "sr:ResponseDateTime",
            Field::AlertCode => "sr:AlertCode",
            Field::DccAlertCode => "sr:DCCAlertCode",
            Field::PreCommandPayload => "sr:PreCommand/sr:GBCSPayload",
        }
    }
}

/// The namespace an element name resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Sr,
    Ds,
    Other,
}

#[derive(Debug, Default)]
struct Scan {
    request_id: Option<RequestId>,
    response_id: Option<RequestId>,
    response_code: Option<&'static str>,
    response_date_time: Option<String>,
    kind: Option<Kind>,
    alert_code: Option<String>,
    precommand: Option<Vec<u8>>,
    /// Header fields seen, in order (index into the schema's sequence).
    header_at: usize,
    /// Root children seen: 1 after the header, 2 after the body, 3 after the signature.
    root_at: usize,
    /// A `PreCommand` was opened.
    precommand_seen: bool,
    /// Its `GBCSPayload` was opened.
    payload_seen: bool,
}

/// Reads an answer (see the module documentation).
///
/// # Errors
///
/// An [`AnswerError`] saying why the body is not a readable DUIS response.
pub fn scan(body: &[u8]) -> Result<Answer, AnswerError> {
    let limits = Limits::default();
    if body.len() > limits.max_bytes {
        return Err(AnswerError::Xml(format!(
            "{} bytes, more than {}",
            body.len(),
            limits.max_bytes
        )));
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    std::str::from_utf8(body).map_err(|e| AnswerError::Xml(format!("not UTF-8: {e}")))?;

    let mut reader = Reader::from_reader(body);
    let cfg = reader.config_mut();
    cfg.trim_text(false);
    cfg.expand_empty_elements = true;
    cfg.check_end_names = true;
    cfg.check_comments = true;
    cfg.allow_dangling_amp = false;
    cfg.allow_unmatched_ends = false;

    let mut s = Scan::default();
    let mut stack: Vec<Frame> = Vec::with_capacity(16);
    let mut scopes = Scopes::default();
    let mut text = String::new();
    let mut root_done = false;
    let mut first = true;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| AnswerError::Xml(e.to_string()))?;
        let was_first = std::mem::replace(&mut first, false);
        match event {
            Event::Decl(_) if was_first => {}
            Event::Decl(_) => {
                return Err(AnswerError::Xml("XML declaration not at the start".into()));
            }
            Event::DocType(_) => return Err(AnswerError::Xml("DOCTYPE".into())),
            Event::Start(start) => {
                if stack.is_empty() && root_done {
                    return Err(AnswerError::Xml("more than one root element".into()));
                }
                if stack.len() >= limits.max_depth {
                    return Err(AnswerError::Xml(format!(
                        "nested deeper than {}",
                        limits.max_depth
                    )));
                }
                scopes.open(&start, stack.len())?;
                let name = start.name();
                let ns = scopes.resolve(name.prefix().map(|p| p.into_inner()))?;
                let local = std::str::from_utf8(name.local_name().into_inner())
                    .map_err(|e| AnswerError::Xml(e.to_string()))?;
                let frame = s.enter(stack.last().copied(), ns, local)?;
                if matches!(frame, Frame::Field(_)) {
                    text.clear();
                }
                stack.push(frame);
            }
            Event::End(_) => {
                let Some(frame) = stack.pop() else {
                    return Err(AnswerError::Xml("end tag without a start".into()));
                };
                scopes.close(stack.len());
                s.leave(frame, &text)?;
                if stack.is_empty() {
                    root_done = true;
                }
            }
            Event::Empty(_) => {
                // Expanded into Start and End by the configuration.
                return Err(AnswerError::Xml("unexpanded empty element".into()));
            }
            Event::Text(t) => {
                let raw = t.decode().map_err(|e| AnswerError::Xml(e.to_string()))?;
                on_text(stack.last().copied(), &raw, &mut text)?;
            }
            Event::CData(c) => {
                let raw = c.decode().map_err(|e| AnswerError::Xml(e.to_string()))?;
                if stack.is_empty() {
                    return Err(AnswerError::Xml("CDATA outside the root".into()));
                }
                on_text(stack.last().copied(), &raw, &mut text)?;
            }
            Event::GeneralRef(r) => {
                let name = std::str::from_utf8(&r).map_err(|e| AnswerError::Xml(e.to_string()))?;
                let c =
                    xml::resolve_reference(name).map_err(|e| AnswerError::Xml(e.to_string()))?;
                let mut buf = [0u8; 4];
                on_text(stack.last().copied(), c.encode_utf8(&mut buf), &mut text)?;
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(AnswerError::Xml("unclosed element at the end".into()));
    }
    if !root_done {
        return Err(AnswerError::Xml("no root element".into()));
    }
    s.finish()
}

/// The namespace bindings in scope while scanning.
///
/// Written here rather than taken from quick-xml's `NsReader`: that reader walks every start
/// tag's attributes once for its declarations, and the well-formedness check (syntax, no
/// repeated attribute) walked them a second time with an allocation per tag. [`Scopes::open`]
/// does both in one walk, and the scanner only needs to know whether a name is in the
/// response namespace, the signature namespace or another one. The binding rules are the
/// same as `NsReader`'s: `xml` may only be bound to its own namespace, `xmlns` never, no
/// other prefix to either of those two namespaces; `xmlns:p=""` undeclares `p` and
/// `xmlns=""` the default namespace.
#[derive(Debug, Default)]
struct Scopes {
    /// The prefixes of `bindings`, one after the other.
    prefixes: Vec<u8>,
    bindings: Vec<Binding>,
}

#[derive(Debug, Clone, Copy)]
struct Binding {
    /// Where its prefix starts in `Scopes::prefixes`.
    at: usize,
    /// Its length; 0 for the default namespace.
    len: usize,
    /// The namespace, `None` where the declaration undeclares (an empty URI).
    ns: Option<Ns>,
    /// Depth of the element that declares it (0 for the root).
    depth: usize,
}

/// Attribute names kept inline per start tag before a tag with more of them needs the heap.
const INLINE_ATTRIBUTES: usize = 8;

impl Scopes {
    /// Checks the attributes of a start tag at `depth` (syntax, no name twice) and takes in
    /// the namespace declarations among them.
    fn open(&mut self, start: &BytesStart<'_>, depth: usize) -> Result<(), AnswerError> {
        let mut seen: [&[u8]; INLINE_ATTRIBUTES] = [&[]; INLINE_ATTRIBUTES];
        let mut more: Vec<&[u8]> = Vec::new();
        for (n, a) in start.attributes().with_checks(false).enumerate() {
            let a = a.map_err(|e| AnswerError::Xml(e.to_string()))?;
            let key = a.key.into_inner();
            let earlier = seen[..n.min(INLINE_ATTRIBUTES)]
                .iter()
                .chain(more.iter())
                .any(|k| *k == key);
            if earlier {
                return Err(AnswerError::Xml(format!(
                    "attribute {} repeated",
                    String::from_utf8_lossy(key)
                )));
            }
            match seen.get_mut(n) {
                Some(slot) => *slot = key,
                None => more.push(key),
            }
            let prefix: &[u8] = match a.key.as_namespace_binding() {
                None => continue,
                Some(PrefixDeclaration::Default) => b"",
                Some(PrefixDeclaration::Named(p)) => p,
            };
            // As the model reader sees it: references resolved, whitespace normalised.
            let written = std::str::from_utf8(&a.value)
                .map_err(|e| AnswerError::Xml(format!("namespace not UTF-8: {e}")))?;
            let uri = xml::attribute_value(written).map_err(|e| AnswerError::Xml(e.to_string()))?;
            let uri = uri.as_bytes();
            let refused = match prefix {
                b"xml" if uri != xml::NS_XML.as_bytes() => {
                    Some("the xml prefix bound to another namespace")
                }
                b"xml" => continue,
                b"xmlns" => Some("the xmlns prefix declared"),
                b"" => None,
                _ if uri == xml::NS_XML.as_bytes() || uri == xml::NS_XMLNS.as_bytes() => {
                    Some("a prefix bound to the xml or xmlns namespace")
                }
                _ => None,
            };
            if let Some(why) = refused {
                return Err(AnswerError::Xml(format!(
                    "{why}: {}",
                    String::from_utf8_lossy(key)
                )));
            }
            let ns = match uri {
                b"" => None,
                u if u == NS_SR.as_bytes() => Some(Ns::Sr),
                u if u == NS_DS.as_bytes() => Some(Ns::Ds),
                _ => Some(Ns::Other),
            };
            self.bindings.push(Binding {
                at: self.prefixes.len(),
                len: prefix.len(),
                ns,
                depth,
            });
            self.prefixes.extend_from_slice(prefix);
        }
        Ok(())
    }

    /// The namespace of an element name with `prefix`.
    fn resolve(&self, prefix: Option<&[u8]>) -> Result<Ns, AnswerError> {
        match prefix {
            None => Ok(self
                .bindings
                .iter()
                .rev()
                .find(|b| b.len == 0)
                .and_then(|b| b.ns)
                .unwrap_or(Ns::Other)),
            Some(b"xml" | b"xmlns") => Ok(Ns::Other),
            Some(p) => self
                .bindings
                .iter()
                .rev()
                .find(|b| b.len != 0 && &self.prefixes[b.at..b.at + b.len] == p)
                .and_then(|b| b.ns)
                .ok_or_else(|| {
                    AnswerError::Xml(format!("undeclared prefix {}", String::from_utf8_lossy(p)))
                }),
        }
    }

    /// Drops the declarations of the element at `depth`, which has just ended.
    fn close(&mut self, depth: usize) {
        let keep = self
            .bindings
            .iter()
            .rposition(|b| b.depth < depth)
            .map_or(0, |i| i + 1);
        if keep < self.bindings.len() {
            self.prefixes.truncate(self.bindings[keep].at);
            self.bindings.truncate(keep);
        }
    }
}

/// Character data inside `frame`: kept for a field, allowed as whitespace in the element-only
/// frames, ignored elsewhere.
fn on_text(frame: Option<Frame>, raw: &str, text: &mut String) -> Result<(), AnswerError> {
    let blank = raw
        .bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    match frame {
        Some(Frame::Field(_)) => text.push_str(raw),
        Some(Frame::Other) => {}
        None if blank => {}
        None => return Err(AnswerError::Xml("text outside the root element".into())),
        Some(_) if blank => {}
        Some(f) => return Err(AnswerError::Unexpected(format!("text in {f:?}"))),
    }
    Ok(())
}

impl Scan {
    /// The frame of an element `local` in namespace `ns` opened inside `parent`.
    fn enter(&mut self, parent: Option<Frame>, ns: Ns, local: &str) -> Result<Frame, AnswerError> {
        let unexpected = |where_: &str| {
            AnswerError::Unexpected(format!(
                "{}{local} in {where_}",
                match ns {
                    Ns::Sr => "sr:",
                    Ns::Ds => "ds:",
                    Ns::Other => "",
                }
            ))
        };
        let Some(parent) = parent else {
            return if ns == Ns::Sr && local == "Response" {
                Ok(Frame::Root)
            } else {
                Err(unexpected("place of the root sr:Response"))
            };
        };
        let sr = ns == Ns::Sr;
        let frame = match parent {
            Frame::Root => match (self.root_at, sr, local) {
                (0, true, "Header") => {
                    self.root_at = 1;
                    Frame::Header
                }
                (1, true, "Body") => {
                    self.root_at = 2;
                    Frame::Body
                }
                (2, false, "Signature") if ns == Ns::Ds => {
                    self.root_at = 3;
                    Frame::Other
                }
                _ => return Err(unexpected("sr:Response")),
            },
            Frame::Header => {
                let (at, field) = match (sr, local) {
                    (true, "RequestID") => (1, Field::RequestId),
                    (true, "ResponseID") => (2, Field::ResponseId),
                    (true, "ResponseCode") => (3, Field::ResponseCode),
                    (true, "ResponseDateTime") => (4, Field::ResponseDateTime),
                    _ => return Err(unexpected("sr:Header")),
                };
                if at <= self.header_at {
                    return Err(unexpected("sr:Header (repeated or out of order)"));
                }
                self.header_at = at;
                Frame::Field(field)
            }
            Frame::Body => {
                if self.kind.is_some() {
                    return Err(unexpected("sr:Body (a second body element)"));
                }
                let (kind, frame) = match (sr, local) {
                    (true, "ResponseMessage") => (Kind::Response, Frame::ResponseMessage),
                    (true, "DeviceAlertMessage") => (Kind::DeviceAlert, Frame::DeviceAlert),
                    (true, "DCCAlertMessage") => (Kind::DccAlert, Frame::DccAlert),
                    (true, "SMETS1ResponseMessage") => (Kind::Smets1Response, Frame::Other),
                    _ => return Err(unexpected("sr:Body")),
                };
                self.kind = Some(kind);
                frame
            }
            Frame::ResponseMessage => match (sr, local) {
                (true, "PreCommand") if !self.precommand_seen => {
                    self.precommand_seen = true;
                    Frame::PreCommand
                }
                (true, "FutureDatedDeviceAlertMessage") => {
                    self.kind = Some(Kind::FutureDatedAlert);
                    Frame::Other
                }
                _ => Frame::Other,
            },
            Frame::PreCommand => match (sr, local) {
                (true, "GBCSPayload") if !self.payload_seen => {
                    self.payload_seen = true;
                    Frame::Field(Field::PreCommandPayload)
                }
                (true, "GBCSVersion") => Frame::Other,
                _ => return Err(unexpected("sr:PreCommand")),
            },
            Frame::DeviceAlert => match (sr, local) {
                (true, "AlertCode") if self.alert_code.is_none() => Frame::Field(Field::AlertCode),
                (true, "AlertCode") => return Err(unexpected("sr:DeviceAlertMessage (repeated)")),
                _ => Frame::Other,
            },
            Frame::DccAlert => match (sr, local) {
                (true, "DCCAlertCode") if self.alert_code.is_none() => {
                    Frame::Field(Field::DccAlertCode)
                }
                (true, "DCCAlertCode") => return Err(unexpected("sr:DCCAlertMessage (repeated)")),
                _ => Frame::Other,
            },
            Frame::Field(f) => return Err(unexpected(f.name())),
            Frame::Other => Frame::Other,
        };
        Ok(frame)
    }

    /// Closes an element: a field's text becomes its value.
    fn leave(&mut self, frame: Frame, text: &str) -> Result<(), AnswerError> {
        let Frame::Field(field) = frame else {
            return Ok(());
        };
        let invalid = |message: String| AnswerError::Invalid {
            field: field.name(),
            message,
        };
        match field {
            Field::RequestId | Field::ResponseId => {
                let id = RequestId::parse(text).map_err(|e| invalid(e.to_string()))?;
                if field == Field::RequestId {
                    self.request_id = Some(id);
                } else {
                    self.response_id = Some(id);
                }
            }
            Field::ResponseCode => {
                let code = ResponseCode::parse(text)
                    .ok_or_else(|| invalid(format!("unknown response code {text:?}")))?;
                self.response_code = Some(code.as_str());
            }
            Field::ResponseDateTime => {
                let t = DateTime::new(&xsd::collapse(text)).map_err(|e| invalid(e.0))?;
                self.response_date_time = Some(t.as_str().to_string());
            }
            Field::AlertCode => {
                let bytes = xsd::decode_hex(&xsd::collapse(text)).map_err(invalid)?;
                self.alert_code = Some(hex::encode(&bytes).to_ascii_uppercase());
            }
            Field::DccAlertCode => {
                let code = DccAlertCode::parse(text)
                    .ok_or_else(|| invalid(format!("unknown DCC alert code {text:?}")))?;
                self.alert_code = Some(code.as_str().to_string());
            }
            Field::PreCommandPayload => {
                self.precommand = Some(xsd::decode_base64(text).map_err(invalid)?);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Answer, AnswerError> {
        if self.root_at < 2 {
            return Err(AnswerError::Missing(if self.root_at == 0 {
                "sr:Header"
            } else {
                "sr:Body"
            }));
        }
        let kind = self.kind.ok_or(AnswerError::Missing("body element"))?;
        if matches!(kind, Kind::DeviceAlert) && self.alert_code.is_none() {
            return Err(AnswerError::Missing("sr:AlertCode"));
        }
        if matches!(kind, Kind::DccAlert) && self.alert_code.is_none() {
            return Err(AnswerError::Missing("sr:DCCAlertCode"));
        }
        if self.precommand_seen && self.precommand.is_none() {
            return Err(AnswerError::Missing("sr:PreCommand/sr:GBCSPayload"));
        }
        Ok(Answer {
            response_code: self
                .response_code
                .ok_or(AnswerError::Missing("sr:ResponseCode"))?,
            request_id: self.request_id,
            response_id: self.response_id,
            response_date_time: self
                .response_date_time
                .ok_or(AnswerError::Missing("sr:ResponseDateTime"))?,
            kind,
            alert_code: self.alert_code,
            precommand: self.precommand,
        })
    }
}

/// The same fields read through the full model reader
/// ([`Response::parse`](hubgate_protocol::duis::model::response::Response::parse)), `None`
/// where it refuses the bytes: what [`scan`] is checked against, in the tests and by the
/// `answer_scan` fuzz target.
pub fn model_fields(body: &[u8]) -> Option<Answer> {
    use hubgate_protocol::duis::model::response::{Response, ResponseBody, ResponsePayload};
    let r = Response::parse(body, &Limits::default()).ok()?;
    let (kind, alert_code, precommand) = match &r.body {
        ResponseBody::ResponseMessage(m) => match &m.payload {
            Some(ResponsePayload::FutureDatedDeviceAlertMessage(_)) => {
                (Kind::FutureDatedAlert, None, None)
            }
            Some(ResponsePayload::PreCommand { gbcs_payload, .. }) => {
                (Kind::Response, None, Some(gbcs_payload.clone()))
            }
            _ => (Kind::Response, None, None),
        },
        ResponseBody::DeviceAlertMessage(a) => (
            Kind::DeviceAlert,
            Some(hex::encode(&a.alert_code).to_ascii_uppercase()),
            None,
        ),
        ResponseBody::DccAlertMessage(a) => (
            Kind::DccAlert,
            Some(a.dcc_alert_code.as_str().to_string()),
            None,
        ),
        ResponseBody::Smets1ResponseMessage(_) => (Kind::Smets1Response, None, None),
    };
    Some(Answer {
        response_code: r.header.response_code.as_str(),
        request_id: r.header.request_id,
        response_id: r.header.response_id,
        response_date_time: r.header.response_date_time.as_str().to_string(),
        kind,
        alert_code,
        precommand,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubgate_protocol::crypto::SigningKey;
    use hubgate_protocol::duis::dsig;
    use hubgate_protocol::duis::model::header::{ServiceReference, ServiceReferenceVariant};
    use hubgate_protocol::duis::model::response::{
        DccAlertMessage, DeviceAlertMessage, FutureDatedAlertCode, FutureDatedDeviceAlert,
        Response, ResponseBody, ResponseHeader, ResponseMessage, ResponsePayload,
    };
    use hubgate_protocol::duis::writer;
    use hubgate_protocol::duis::xml::Element;

    fn key() -> SigningKey {
        let path =
            hubgate_protocol::conformance::require().join("smki/xml-sign-90B3D51F30010000-ds.key");
        SigningKey::from_der(&std::fs::read(path).expect("key file")).expect("P-256 key")
    }

    /// Signed as the gateway signs its answers: canonical writer when it can, else parsed.
    fn signed(response: &Response) -> Vec<u8> {
        let key = key();
        match writer::write_response_canonical(response) {
            Some(xml) => dsig::sign_canonical(&xml, &key, "CN=Z1,OU=07", "12345"),
            None => dsig::sign(response.to_xml().as_bytes(), &key, "CN=Z1,OU=07", "12345"),
        }
        .expect("signs")
    }

    fn header(code: &str, request: Option<&str>, response: Option<&str>) -> ResponseHeader {
        ResponseHeader {
            request_id: request.map(|r| r.parse().expect("RequestID")),
            response_id: response.map(|r| r.parse().expect("ResponseID")),
            response_code: ResponseCode::parse(code).expect("code"),
            response_date_time: DateTime::new("2031-02-03T04:05:06.789Z").expect("dateTime"),
        }
    }

    const REQ: &str = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1700000000123456";
    const RSP: &str = "00-DB-12-34-56-78-90-A0:90-B3-D5-1F-30-01-00-00:1700000000123456";

    fn message(srv: &str, payload: Option<ResponsePayload>) -> ResponseBody {
        // 4.1.1 belongs to Service Reference 4.1; 7.1 is its own.
        let sr = match srv.rsplit_once('.') {
            Some((head, _)) if head.contains('.') => head,
            _ => srv,
        };
        ResponseBody::ResponseMessage(ResponseMessage {
            service_reference: ServiceReference::parse(sr).expect("Service Reference"),
            service_reference_variant: ServiceReferenceVariant::parse(srv).expect("SRV"),
            payload,
        })
    }

    /// One answer of every body kind the gateway sends, signed.
    fn answers() -> Vec<(&'static str, Vec<u8>)> {
        let sr = |local: &str| Element::new(Some("sr"), local, Some(NS_SR));
        let payload: Vec<u8> = (0u8..=255).cycle().take(150).collect();
        vec![
            (
                "acknowledgement",
                signed(&Response::new(
                    header("I99", Some(REQ), None),
                    message("4.1.1", None),
                )),
            ),
            (
                "error",
                signed(&Response::new(
                    header("E42", Some(REQ), None),
                    message("4.1.1", None),
                )),
            ),
            (
                "service response",
                signed(&Response::new(
                    header("I0", Some(REQ), Some(RSP)),
                    message("4.1.1", Some(ResponsePayload::GbcsPayload(payload.clone()))),
                )),
            ),
            (
                "pre-command",
                signed(&Response::new(
                    header("I0", Some(REQ), None),
                    message(
                        "7.1",
                        Some(ResponsePayload::PreCommand {
                            gbcs_version: "4.0".into(),
                            gbcs_payload: payload.clone(),
                        }),
                    ),
                )),
            ),
            (
                "future-dated alert",
                signed(&Response::new(
                    header("I0", None, Some(RSP)),
                    message(
                        "1.1.1",
                        Some(ResponsePayload::FutureDatedDeviceAlertMessage(
                            FutureDatedDeviceAlert {
                                alert_code: FutureDatedAlertCode::Executed,
                                gbcs_payload: payload.clone(),
                                instruction_number: 1,
                                total_command_instructions: 1,
                            },
                        )),
                    ),
                )),
            ),
            (
                "device alert",
                signed(&Response::new(
                    header("I0", None, Some(RSP)),
                    ResponseBody::DeviceAlertMessage(DeviceAlertMessage {
                        alert_code: vec![0x8F, 0x0a],
                        throttled_alert_sequence_id: Some(7),
                        throttled_alert_count: Some(2),
                        gbcs_payload: payload.clone(),
                    }),
                )),
            ),
            (
                "DCC alert",
                signed(&Response::new(
                    header("I0", None, Some(RSP)),
                    ResponseBody::DccAlertMessage(DccAlertMessage {
                        dcc_alert_code: DccAlertCode::parse("N42").expect("DCC alert code"),
                        throttled_alert_sequence_id: None,
                        throttled_alert_count: None,
                        dcc_alert: sr("DCCAlert").with_child(sr("PowerOutageEvent")),
                    }),
                )),
            ),
            (
                "SMETS1 response",
                signed(&Response::new(
                    header("I0", Some(REQ), None),
                    ResponseBody::Smets1ResponseMessage(
                        sr("SMETS1ResponseMessage")
                            .with_child(sr("ServiceReference").with_text("4.1"))
                            .with_child(sr("ServiceReferenceVariant").with_text("4.1.1")),
                    ),
                )),
            ),
        ]
    }

    #[test]
    fn every_kind_reads_as_the_model_reads_it() {
        let mut kinds = std::collections::HashSet::new();
        for (what, body) in answers() {
            let fast = scan(&body).unwrap_or_else(|e| panic!("{what}: {e}"));
            let full = model_fields(&body).unwrap_or_else(|| panic!("{what}: model refuses"));
            assert_eq!(fast, full, "{what}");
            kinds.insert(fast.kind);
        }
        assert_eq!(kinds.len(), 5, "every body kind covered: {kinds:?}");
    }

    /// Names resolve through the declarations in scope, whatever the prefixes: the same
    /// answer written with another prefix, with the response namespace as the default one, or
    /// with a second prefix declared on the header gives the same fields, in the scanner and
    /// in the model reader; a prefix used outside its declaration's element, undeclared with
    /// `xmlns:p=""`, or bound where XML forbids it is refused by both.
    #[test]
    fn names_resolve_through_the_declarations_in_scope() {
        let ack = String::from_utf8(answers().swap_remove(0).1).expect("UTF-8");
        let want = scan(ack.as_bytes()).expect("the acknowledgement");
        let decl = format!("xmlns:sr=\"{NS_SR}\"");
        assert!(ack.contains(&decl), "the root declares sr: {ack}");
        // `q` declared on the header for the response namespace, and `element` written with it.
        let q_on_header = |element: &str| {
            ack.replacen(
                "<sr:Header>",
                &format!("<sr:Header xmlns:q=\"{NS_SR}\">"),
                1,
            )
            .replacen(&format!("<sr:{element}>"), &format!("<q:{element}>"), 1)
            .replacen(&format!("</sr:{element}>"), &format!("</q:{element}>"), 1)
        };
        let same = [
            (
                "another prefix",
                ack.replace("sr:", "p:")
                    .replace(&decl, &format!("xmlns:p=\"{NS_SR}\"")),
            ),
            (
                "the default namespace",
                ack.replace("sr:", "")
                    .replace(&decl, &format!("xmlns=\"{NS_SR}\"")),
            ),
            (
                "the namespace written with references",
                ack.replace(
                    &decl,
                    "xmlns:sr=\"http:&#x2F;&#47;www.dccinterface.co.uk&#x2f;ServiceUserGateway\"",
                ),
            ),
            (
                "a prefix declared on the header",
                q_on_header("ResponseCode"),
            ),
        ];
        for (what, body) in same {
            assert_eq!(scan(body.as_bytes()).as_ref(), Ok(&want), "{what}: {body}");
            assert_eq!(
                model_fields(body.as_bytes()).as_ref(),
                Some(&want),
                "{what}: the model"
            );
        }
        let refused = [
            (
                "a prefix used after its declaring element",
                q_on_header("Body"),
            ),
            (
                "a prefix undeclared",
                ack.replacen("<sr:Header>", "<sr:Header xmlns:sr=\"\">", 1),
            ),
            (
                "the xml prefix bound elsewhere",
                ack.replacen(&decl, &format!("{decl} xmlns:xml=\"urn:x\""), 1),
            ),
            (
                "a prefix bound to the xmlns namespace",
                ack.replacen(
                    &decl,
                    &format!("{decl} xmlns:q=\"http://www.w3.org/2000/xmlns/\""),
                    1,
                ),
            ),
            (
                "an attribute repeated after eight others",
                ack.replacen(
                    "<sr:Header>",
                    "<sr:Header a1=\"1\" a2=\"1\" a3=\"1\" a4=\"1\" a5=\"1\" a6=\"1\" a7=\"1\" \
                     a8=\"1\" a9=\"1\" a10=\"1\" a9=\"2\">",
                    1,
                ),
            ),
        ];
        for (what, body) in refused {
            assert!(
                scan(body.as_bytes()).is_err(),
                "{what}: scanned {:?}",
                scan(body.as_bytes())
            );
            assert!(
                model_fields(body.as_bytes()).is_none(),
                "{what}: the model reads it"
            );
        }
        // Ten different attributes on one tag are fine.
        let many = ack.replacen(
            "<sr:Header>",
            "<sr:Header a1=\"1\" a2=\"1\" a3=\"1\" a4=\"1\" a5=\"1\" a6=\"1\" a7=\"1\" a8=\"1\" \
             a9=\"1\" a10=\"1\">",
            1,
        );
        assert_eq!(scan(many.as_bytes()).as_ref(), Ok(&want));
    }

    #[test]
    fn the_fields_are_the_ones_written() {
        let all = answers();
        let get = |name: &str| {
            let body = &all.iter().find(|(w, _)| *w == name).expect("answer").1;
            scan(body).expect("reads")
        };
        let ack = get("acknowledgement");
        assert_eq!(ack.response_code, "I99");
        assert_eq!(ack.request_id, Some(REQ.parse().expect("id")));
        assert_eq!(ack.response_id, None);
        assert_eq!(ack.response_date_time, "2031-02-03T04:05:06.789Z");
        assert_eq!(ack.kind, Kind::Response);
        assert_eq!(get("error").response_code, "E42");
        let pre = get("pre-command");
        assert_eq!(
            pre.precommand,
            Some((0u8..=255).cycle().take(150).collect::<Vec<u8>>())
        );
        assert_eq!(get("service response").precommand, None);
        assert_eq!(
            get("service response").response_id,
            Some(RSP.parse().expect("id"))
        );
        assert_eq!(
            get("future-dated alert").kind.as_str(),
            "future_dated_alert"
        );
        assert_eq!(get("device alert").alert_code.as_deref(), Some("8F0A"));
        assert_eq!(get("DCC alert").alert_code.as_deref(), Some("N42"));
        assert_eq!(get("SMETS1 response").kind.as_str(), "smets1_response");
    }

    #[test]
    fn responses_of_the_corpus_read_alike() {
        let dir = hubgate_protocol::conformance::require().join("duis/signing-vectors");
        let mut read = 0;
        for entry in std::fs::read_dir(&dir).expect("signing vectors") {
            let path = entry.expect("entry").path();
            let body = std::fs::read(&path).expect("readable");
            let full = model_fields(&body);
            let fast = scan(&body).ok();
            if let Some(full) = full {
                read += 1;
                assert_eq!(fast, Some(full), "{}", path.display());
            } else if let Some(fast) = fast {
                // The scanner reads less of the body than the model reader: it may accept a
                // response the model refuses for a detail loadgen does not use, never a
                // request or malformed XML.
                let name = path.display().to_string();
                assert!(
                    name.contains("RESPONSE") || name.contains("response"),
                    "{name}"
                );
                assert_ne!(fast.response_code, "");
            }
        }
        assert!(read >= 3, "{read} responses read");
    }

    /// `doc` without its first `from` … `to` stretch (both included).
    fn cut(doc: &str, from: &str, to: &str) -> String {
        let a = doc.find(from).expect("from");
        let b = doc[a..].find(to).expect("to") + a + to.len();
        format!("{}{}", &doc[..a], &doc[b..])
    }

    /// Each of these must be refused by the scanner, as by the model reader.
    #[test]
    fn malformed_or_incomplete_answers_are_refused() {
        let ack = String::from_utf8(answers().swap_remove(0).1).expect("UTF-8");
        let cut_ack = |from: &str, to: &str| cut(&ack, from, to);
        let cases: Vec<(&str, Vec<u8>)> =
            vec![
            ("empty", Vec::new()),
            ("not XML", b"HTTP/1.1 I99".to_vec()),
            ("truncated", ack.as_bytes()[..ack.len() - 5].to_vec()),
            (
                "mismatched end tag",
                ack.replacen("</sr:Header>", "</sr:Heade>", 1).into_bytes(),
            ),
            (
                "no ResponseCode",
                cut_ack("<sr:ResponseCode>", "</sr:ResponseCode>").into_bytes(),
            ),
            (
                "no ResponseDateTime",
                cut_ack("<sr:ResponseDateTime>", "</sr:ResponseDateTime>").into_bytes(),
            ),
            ("no Header", cut_ack("<sr:Header>", "</sr:Header>").into_bytes()),
            ("no Body", cut_ack("<sr:Body>", "</sr:Body>").into_bytes()),
            (
                "unknown response code",
                ack.replacen(">I99<", ">I98<", 1).into_bytes(),
            ),
            (
                "bad dateTime",
                ack.replacen("2031-02-03T", "2031-02-33T", 1).into_bytes(),
            ),
            (
                "bad RequestID",
                ack.replacen(":1700000000123456<", ":0170<", 1).into_bytes(),
            ),
            (
                "repeated ResponseCode",
                ack.replacen(
                    "<sr:ResponseCode>I99</sr:ResponseCode>",
                    "<sr:ResponseCode>I99</sr:ResponseCode><sr:ResponseCode>I0</sr:ResponseCode>",
                    1,
                )
                .into_bytes(),
            ),
            ("two roots", format!("{ack}<sr:Response/>").into_bytes()),
            ("text after the root", format!("{ack}I99").into_bytes()),
            (
                "text in the header",
                ack.replacen("<sr:Header>", "<sr:Header>I0", 1).into_bytes(),
            ),
            (
                "unknown entity",
                ack.replacen(">I99<", ">&ack;<", 1).into_bytes(),
            ),
            (
                "DOCTYPE",
                ack.replacen("?>", "?><!DOCTYPE r [<!ENTITY a \"I99\">]>", 1)
                    .into_bytes(),
            ),
            ("undeclared prefix", ack.replace("sr:", "zz:").into_bytes()),
            (
                "wrong namespace",
                ack.replacen(
                    "http://www.dccinterface.co.uk/ServiceUserGateway",
                    "urn:other",
                    1,
                )
                .into_bytes(),
            ),
            (
                "a request",
                ack.replace("sr:Response", "sr:Request").into_bytes(),
            ),
            (
                "repeated attribute",
                ack.replacen("schemaVersion=", "a=\"1\" a=", 1).into_bytes(),
            ),
            ("not UTF-8", {
                let mut b = ack.clone().into_bytes();
                let at = ack.find("I99").expect("code");
                b[at] = 0xFF;
                b
            }),
        ];
        for (what, body) in cases {
            assert!(scan(&body).is_err(), "{what}: scanned {:?}", scan(&body));
            assert!(model_fields(&body).is_none(), "{what}: the model reads it");
        }
        // Alerts without their code, a Pre-Command without its payload.
        for (what, from, to) in [
            ("device alert", "<sr:AlertCode>", "</sr:AlertCode>"),
            ("DCC alert", "<sr:DCCAlertCode>", "</sr:DCCAlertCode>"),
            ("pre-command", "<sr:GBCSPayload>", "</sr:GBCSPayload>"),
        ] {
            let all = answers();
            let body = std::str::from_utf8(&all.iter().find(|(w, _)| *w == what).expect("kind").1)
                .expect("UTF-8")
                .to_string();
            let body = cut(&body, from, to);
            assert!(scan(body.as_bytes()).is_err(), "{what} without {from}");
            assert!(model_fields(body.as_bytes()).is_none(), "{what}");
        }
        // Every prefix of a good answer is unreadable.
        for end in (0..ack.len()).step_by(11) {
            assert!(
                scan(&ack.as_bytes()[..end]).is_err(),
                "prefix of {end} bytes"
            );
        }
    }
}
