//! Reading DUIS requests and responses from the XML tree ([`crate::duis::xml`]) into the
//! typed model ([`crate::duis::model`]).
//!
//! The reader follows the DUIS V5.4 schema strictly: every element must be in the DUIS
//! namespace (except the enveloped `ds:Signature`, which is kept aside as a raw subtree),
//! children must come in schema order, unknown elements and attributes are refused, and
//! every value is checked against its simple type and facets. Errors name the place:
//! `Header/RequestID: counter has a leading zero`.
//!
//! ```
//! use hubgate_protocol::duis::{reader, xml};
//! let doc = xml::Document::parse_str(
//!     r#"<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">
//!          <sr:Header>
//!            <sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000</sr:RequestID>
//!            <sr:CommandVariant>1</sr:CommandVariant>
//!            <sr:ServiceReference>4.1</sr:ServiceReference>
//!            <sr:ServiceReferenceVariant>4.1.1</sr:ServiceReferenceVariant>
//!          </sr:Header>
//!          <sr:Body><sr:ReadInstantaneousImportRegisters/></sr:Body>
//!        </sr:Request>"#,
//! ).expect("well-formed");
//! let request = reader::read_request(&doc).expect("valid");
//! assert_eq!(request.header.request_id.counter, 1000);
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::duis::model::header::{
    CommandVariant, RequestHeader, RequestId, ServiceReference, ServiceReferenceVariant,
};
use crate::duis::model::request::Request;
use crate::duis::model::response::{
    DccAlertCode, DccAlertMessage, DeviceAlertMessage, FutureDatedAlertCode,
    FutureDatedDeviceAlert, Response, ResponseBody, ResponseCode, ResponseHeader, ResponseMessage,
    ResponsePayload,
};
use crate::duis::model::xsd::{Facets, Leaf, is_xml_space};
use crate::duis::model::{Body, tables};
use crate::duis::xml::{Document, Element, Limits, Node, XmlError};
use crate::duis::{NS_DS, NS_SR, NS_XSI};

/// Why a document is not a valid DUIS request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// Where: element names from below the root, separated by `/` (`Header/RequestID`,
    /// `Body/UpdateImportTariffPrimaryElement/ElecTariffElements/Season[2]`, `…/@index`).
    pub path: String,
    /// What.
    pub kind: ReadErrorKind,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.path, self.kind)
        }
    }
}

impl std::error::Error for ReadError {}

/// The kinds of [`ReadError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadErrorKind {
    /// The document element is not the expected one.
    #[error("document element is {found}, expected sr:{expected}")]
    WrongRoot {
        /// What was expected (`Request` or `Response`).
        expected: &'static str,
        /// What was found (qualified name as written).
        found: String,
    },
    /// An element from another namespace where a DUIS element is required.
    #[error("element {0} is not in the DUIS namespace")]
    WrongNamespace(String),
    /// A required element is missing (`found` is the element found instead, if any).
    #[error("missing element {expected}{}", found_suffix(.found))]
    Missing {
        /// The element expected.
        expected: String,
        /// What came instead, if anything.
        found: Option<String>,
    },
    /// An element that the schema does not allow here.
    #[error("unexpected element {0}")]
    Unexpected(String),
    /// A `Body` child that is not one of the schema's service elements.
    #[error("unknown body element {0}")]
    UnknownBodyElement(String),
    /// None of the alternatives of a choice is present.
    #[error("expected one of {expected}{}", found_suffix(.found))]
    NoAlternative {
        /// The possible first elements.
        expected: String,
        /// What came instead, if anything.
        found: Option<String>,
    },
    /// Fewer repetitions than `minOccurs`.
    #[error("{name} occurs {found} times, at least {min} required")]
    TooFew {
        /// The element.
        name: String,
        /// How many were found.
        found: usize,
        /// `minOccurs`.
        min: usize,
    },
    /// Non-whitespace text where only elements are allowed.
    #[error("unexpected text content")]
    UnexpectedText,
    /// An attribute the schema does not allow here.
    #[error("unexpected attribute {0}")]
    UnexpectedAttribute(String),
    /// A required attribute is missing.
    #[error("missing attribute {0}")]
    MissingAttribute(String),
    /// A value that does not match its type.
    #[error("{0}")]
    InvalidValue(String),
}

fn found_suffix(found: &Option<String>) -> String {
    match found {
        Some(f) => format!(", found {f}"),
        None => String::new(),
    }
}

/// Why bytes could not be read as a DUIS document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DuisError {
    /// Not well-formed (or refused by the XML reader's limits).
    #[error("XML: {0}")]
    Xml(#[from] XmlError),
    /// Well-formed, but not a valid DUIS document.
    #[error("DUIS: {0}")]
    Invalid(#[from] ReadError),
}

/// A location in the document, built on the stack while reading (no allocation unless an
/// error is reported).
#[derive(Debug, Clone, Copy)]
pub struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    name: &'a str,
    index: Option<usize>,
}

impl<'a> Path<'a> {
    /// The document element (not shown in rendered paths).
    pub const ROOT: Path<'static> = Path {
        parent: None,
        name: "",
        index: None,
    };

    /// A child element or attribute named `name`.
    pub fn child(&'a self, name: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            name,
            index: None,
        }
    }

    /// The `index`-th (1-based) repetition of child `name`.
    pub fn indexed(&'a self, name: &'a str, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            name,
            index: Some(index),
        }
    }

    /// An error at this place.
    pub fn error(&self, kind: ReadErrorKind) -> ReadError {
        ReadError {
            path: self.render(),
            kind,
        }
    }

    /// An [`ReadErrorKind::InvalidValue`] error at this place.
    pub fn invalid(&self, msg: impl Into<String>) -> ReadError {
        self.error(ReadErrorKind::InvalidValue(msg.into()))
    }

    /// The rendered path (`Header/RequestID`).
    pub fn render(&self) -> String {
        let mut parts = Vec::new();
        let mut p = Some(self);
        while let Some(cur) = p {
            if !cur.name.is_empty() {
                parts.push(match cur.index {
                    Some(i) => format!("{}[{i}]", cur.name),
                    None => cur.name.to_owned(),
                });
            }
            p = cur.parent;
        }
        parts.reverse();
        parts.join("/")
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// A type read from a DUIS element (its attributes and content).
pub trait FromXml: Sized {
    /// Reads `el`, which sits at `path`.
    ///
    /// # Errors
    ///
    /// [`ReadError`] for anything the schema does not allow.
    fn from_xml(el: &Element, path: &Path<'_>) -> Result<Self, ReadError>;
}

/// A part of a content model (a nested sequence or a choice) read from a run of sibling
/// elements.
pub trait ReadGroup: Sized {
    /// Local names of the elements that can start the group.
    const FIRST: &'static [&'static str];
    /// Whether the group can be empty.
    const NULLABLE: bool;

    /// Reads the group from the cursor.
    ///
    /// # Errors
    ///
    /// [`ReadError`] for anything the schema does not allow.
    fn read_group(c: &mut Cursor<'_>) -> Result<Self, ReadError>;
}

/// Walks the child elements of one element, in order.
#[derive(Debug)]
pub struct Cursor<'a> {
    path: &'a Path<'a>,
    kids: Vec<&'a Element>,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Collects the child elements of `el`: each must be in the DUIS namespace, and text
    /// between them may only be whitespace (comments and processing instructions are
    /// ignored).
    ///
    /// # Errors
    ///
    /// [`ReadErrorKind::WrongNamespace`] or [`ReadErrorKind::UnexpectedText`].
    pub fn new(el: &'a Element, path: &'a Path<'a>) -> Result<Cursor<'a>, ReadError> {
        let mut kids = Vec::new();
        for n in &el.children {
            match n {
                Node::Element(e) => {
                    if e.ns.as_deref() != Some(NS_SR) {
                        return Err(
                            path.error(ReadErrorKind::WrongNamespace(e.qname().into_owned()))
                        );
                    }
                    kids.push(e);
                }
                Node::Text(t) if !t.chars().all(is_xml_space) => {
                    return Err(path.error(ReadErrorKind::UnexpectedText));
                }
                _ => {}
            }
        }
        Ok(Cursor { path, kids, pos: 0 })
    }

    /// The path of the parent element.
    pub fn path(&self) -> &'a Path<'a> {
        self.path
    }

    /// Local name of the next element, if any.
    pub fn peek(&self) -> Option<&'a str> {
        self.kids.get(self.pos).map(|e| e.local.as_str())
    }

    /// Whether the next element is one of `names`.
    pub fn peek_in(&self, names: &[&str]) -> bool {
        self.peek().is_some_and(|n| names.contains(&n))
    }

    /// Takes the next element, whatever it is (for content kept as a raw subtree).
    pub fn next_element(&mut self) -> Option<&'a Element> {
        self.take()
    }

    fn take(&mut self) -> Option<&'a Element> {
        let e = self.kids.get(self.pos).copied();
        self.pos += 1;
        e
    }

    /// Reads the required element `name` with `f`.
    ///
    /// # Errors
    ///
    /// [`ReadErrorKind::Missing`], or what `f` returns.
    pub fn one<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&Element, &Path<'_>) -> Result<T, ReadError>,
    ) -> Result<T, ReadError> {
        if self.peek() != Some(name) {
            return Err(self.path.error(ReadErrorKind::Missing {
                expected: name.to_owned(),
                found: self.peek().map(str::to_owned),
            }));
        }
        let e = self
            .take()
            .ok_or_else(|| self.path.error(ReadErrorKind::Unexpected(name.to_owned())))?;
        f(e, &self.path.child(name))
    }

    /// Reads the optional element `name` with `f`.
    ///
    /// # Errors
    ///
    /// What `f` returns.
    pub fn opt<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&Element, &Path<'_>) -> Result<T, ReadError>,
    ) -> Result<Option<T>, ReadError> {
        if self.peek() != Some(name) {
            return Ok(None);
        }
        self.one(name, f).map(Some)
    }

    /// Reads `min..=max` repetitions of element `name` with `f` (`max == None`: unbounded).
    /// Repetitions beyond `max` are left for [`Cursor::finish`] to report.
    ///
    /// # Errors
    ///
    /// [`ReadErrorKind::TooFew`], or what `f` returns.
    pub fn many<T>(
        &mut self,
        name: &'static str,
        min: usize,
        max: Option<usize>,
        f: impl Fn(&Element, &Path<'_>) -> Result<T, ReadError>,
    ) -> Result<Vec<T>, ReadError> {
        let mut out = Vec::new();
        while self.peek() == Some(name) && max.is_none_or(|m| out.len() < m) {
            let Some(e) = self.take() else { break };
            out.push(f(e, &self.path.indexed(name, out.len() + 1))?);
        }
        if out.len() < min {
            return Err(self.path.error(ReadErrorKind::TooFew {
                name: name.to_owned(),
                found: out.len(),
                min,
            }));
        }
        Ok(out)
    }

    /// Reads a required group.
    ///
    /// # Errors
    ///
    /// What the group returns.
    pub fn group<G: ReadGroup>(&mut self) -> Result<G, ReadError> {
        G::read_group(self)
    }

    /// Reads an optional group: present when the next element can start it.
    ///
    /// # Errors
    ///
    /// What the group returns.
    pub fn opt_group<G: ReadGroup>(&mut self) -> Result<Option<G>, ReadError> {
        if self.peek_in(G::FIRST) {
            G::read_group(self).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads `min..=max` repetitions of a group.
    ///
    /// # Errors
    ///
    /// [`ReadErrorKind::TooFew`], or what the group returns.
    pub fn many_groups<G: ReadGroup>(
        &mut self,
        min: usize,
        max: Option<usize>,
    ) -> Result<Vec<G>, ReadError> {
        let mut out = Vec::new();
        while self.peek_in(G::FIRST) && max.is_none_or(|m| out.len() < m) {
            out.push(G::read_group(self)?);
        }
        if out.len() < min {
            return Err(self.path.error(ReadErrorKind::TooFew {
                name: G::FIRST.join("|"),
                found: out.len(),
                min,
            }));
        }
        Ok(out)
    }

    /// The error for a choice none of whose alternatives `expected` is next.
    pub fn no_alternative(&self, expected: &[&str]) -> ReadError {
        self.path.error(ReadErrorKind::NoAlternative {
            expected: expected.join(", "),
            found: self.peek().map(str::to_owned),
        })
    }

    /// Checks that every child element has been read.
    ///
    /// # Errors
    ///
    /// [`ReadErrorKind::Unexpected`] naming the first element left over.
    pub fn finish(self) -> Result<(), ReadError> {
        match self.kids.get(self.pos) {
            None => Ok(()),
            Some(e) => Err(self.path.error(ReadErrorKind::Unexpected(e.local.clone()))),
        }
    }
}

/// Checks that the attributes of `el` are all unqualified and among `allowed`.
///
/// # Errors
///
/// [`ReadErrorKind::UnexpectedAttribute`].
pub fn check_attrs(el: &Element, path: &Path<'_>, allowed: &[&str]) -> Result<(), ReadError> {
    for a in &el.attrs {
        if a.ns.is_some() || !allowed.contains(&a.local.as_str()) {
            let name = match &a.prefix {
                Some(p) => format!("{p}:{}", a.local),
                None => a.local.clone(),
            };
            return Err(path.error(ReadErrorKind::UnexpectedAttribute(name)));
        }
    }
    Ok(())
}

/// Reads the optional unqualified attribute `name`.
///
/// # Errors
///
/// [`ReadErrorKind::InvalidValue`] at `…/@name`.
pub fn opt_attr<T: Leaf>(
    el: &Element,
    path: &Path<'_>,
    name: &str,
    facets: &Facets,
) -> Result<Option<T>, ReadError> {
    match el.attr(name) {
        None => Ok(None),
        Some(v) => {
            let at = format!("@{name}");
            T::parse_leaf(v, facets)
                .map(Some)
                .map_err(|e| path.child(&at).invalid(e))
        }
    }
}

/// Reads the required unqualified attribute `name`.
///
/// # Errors
///
/// [`ReadErrorKind::MissingAttribute`] or [`ReadErrorKind::InvalidValue`].
pub fn attr<T: Leaf>(
    el: &Element,
    path: &Path<'_>,
    name: &str,
    facets: &Facets,
) -> Result<T, ReadError> {
    opt_attr(el, path, name, facets)?
        .ok_or_else(|| path.error(ReadErrorKind::MissingAttribute(name.to_owned())))
}

/// The character content of `el`, which must have no child elements.
///
/// # Errors
///
/// [`ReadErrorKind::Unexpected`] naming a child element.
pub fn text_content<'e>(el: &'e Element, path: &Path<'_>) -> Result<Cow<'e, str>, ReadError> {
    if let Some(child) = el.child_elements().next() {
        return Err(path.error(ReadErrorKind::Unexpected(child.qname().into_owned())));
    }
    Ok(el.text())
}

/// Reads the simple content of `el` (attributes are checked by the caller).
///
/// # Errors
///
/// [`ReadErrorKind::InvalidValue`], or a child element.
pub fn simple_content<T: Leaf>(
    el: &Element,
    path: &Path<'_>,
    facets: &Facets,
) -> Result<T, ReadError> {
    let text = text_content(el, path)?;
    T::parse_leaf(&text, facets).map_err(|e| path.invalid(e))
}

/// A reader for a leaf element of simple type `T` with `facets` (no attributes allowed).
pub fn leaf<T: Leaf>(
    facets: &'static Facets,
) -> impl Fn(&Element, &Path<'_>) -> Result<T, ReadError> {
    move |el, path| {
        check_attrs(el, path, &[])?;
        simple_content(el, path, facets)
    }
}

/// Reads an element that must be empty (no attributes, no content).
///
/// # Errors
///
/// [`ReadErrorKind::UnexpectedAttribute`], [`ReadErrorKind::Unexpected`] or
/// [`ReadErrorKind::UnexpectedText`].
pub fn empty_content(el: &Element, path: &Path<'_>) -> Result<(), ReadError> {
    check_attrs(el, path, &[])?;
    Cursor::new(el, path)?.finish()
}

// ------------------------------------------------------------------------------------------
// Documents
// ------------------------------------------------------------------------------------------

/// Parses `xml` and reads it as a DUIS request.
///
/// # Errors
///
/// [`DuisError::Xml`] if not well-formed, [`DuisError::Invalid`] if not a valid request.
pub fn parse_request(xml: &[u8], limits: &Limits) -> Result<Request, DuisError> {
    let doc = crate::duis::xml::parse(xml, limits)?;
    Ok(read_request(&doc)?)
}

/// Parses `xml` and reads it as a DUIS response, acknowledgement or alert.
///
/// # Errors
///
/// [`DuisError::Xml`] if not well-formed, [`DuisError::Invalid`] if not a valid response.
pub fn parse_response(xml: &[u8], limits: &Limits) -> Result<Response, DuisError> {
    let doc = crate::duis::xml::parse(xml, limits)?;
    Ok(read_response(&doc)?)
}

/// The root's attributes: `schemaVersion` (required) and the `xsi` location hints.
fn root_attrs(root: &Element) -> Result<crate::duis::model::xsd::Decimal, ReadError> {
    let path = Path::ROOT;
    for a in &root.attrs {
        let ok = match a.ns.as_deref() {
            None => a.local == "schemaVersion",
            Some(NS_XSI) => a.local == "schemaLocation" || a.local == "noNamespaceSchemaLocation",
            Some(_) => false,
        };
        if !ok {
            let name = match &a.prefix {
                Some(p) => format!("{p}:{}", a.local),
                None => a.local.clone(),
            };
            return Err(path.error(ReadErrorKind::UnexpectedAttribute(name)));
        }
    }
    attr(root, &path, "schemaVersion", &Facets::NONE)
}

/// Splits the root's children into the DUIS elements and a trailing `ds:Signature`.
fn root_children<'a>(
    root: &'a Element,
    path: &Path<'_>,
) -> Result<(Vec<&'a Element>, Option<&'a Element>), ReadError> {
    let mut kids = Vec::new();
    let mut signature = None;
    for n in &root.children {
        match n {
            Node::Element(e) => {
                if signature.is_some() {
                    return Err(path.error(ReadErrorKind::Unexpected(e.qname().into_owned())));
                }
                if e.is(NS_DS, "Signature") {
                    signature = Some(e);
                } else if e.ns.as_deref() != Some(NS_SR) {
                    return Err(path.error(ReadErrorKind::WrongNamespace(e.qname().into_owned())));
                } else {
                    kids.push(e);
                }
            }
            Node::Text(t) if !t.chars().all(is_xml_space) => {
                return Err(path.error(ReadErrorKind::UnexpectedText));
            }
            _ => {}
        }
    }
    Ok((kids, signature))
}

fn expect_kid<'a>(
    kids: &[&'a Element],
    i: usize,
    name: &str,
    path: &Path<'_>,
) -> Result<&'a Element, ReadError> {
    match kids.get(i) {
        Some(e) if e.local == name => Ok(e),
        other => Err(path.error(ReadErrorKind::Missing {
            expected: name.to_owned(),
            found: other.map(|e| e.local.clone()),
        })),
    }
}

/// Reads a DUIS request from a parsed document.
///
/// # Errors
///
/// [`ReadError`] naming the first place where the document departs from the schema.
pub fn read_request(doc: &Document) -> Result<Request, ReadError> {
    let (schema_version, header, body, signature) =
        read_document(doc, "Request", read_request_header, read_body)?;
    Ok(Request {
        schema_version,
        header,
        body,
        signature: signature.cloned(),
    })
}

/// As [`read_request`], with the same checks, but `signature` is left `None`: for a caller
/// that verifies the signature in `doc` itself and has no use for a copy of it.
///
/// # Errors
///
/// As [`read_request`].
pub fn read_request_unsigned(doc: &Document) -> Result<Request, ReadError> {
    let (schema_version, header, body, _) =
        read_document(doc, "Request", read_request_header, read_body)?;
    Ok(Request {
        schema_version,
        header,
        body,
        signature: None,
    })
}

/// The parts of a request or response document: `schemaVersion`, the `Header`, the `Body`
/// and a trailing `ds:Signature`.
type DocumentParts<'d, H, B> = (crate::duis::model::xsd::Decimal, H, B, Option<&'d Element>);

/// Reads the document element `sr:<root>`: its attributes, then `Header` and `Body` with the
/// given readers, then an optional `ds:Signature` and nothing else.
fn read_document<'d, H, B>(
    doc: &'d Document,
    root_name: &'static str,
    read_header: fn(&Element, &Path<'_>) -> Result<H, ReadError>,
    read_body: fn(&Element, &Path<'_>) -> Result<B, ReadError>,
) -> Result<DocumentParts<'d, H, B>, ReadError> {
    let root = &doc.root;
    let path = Path::ROOT;
    if !root.is(NS_SR, root_name) {
        return Err(path.error(ReadErrorKind::WrongRoot {
            expected: root_name,
            found: root.qname().into_owned(),
        }));
    }
    let schema_version = root_attrs(root)?;
    let (kids, signature) = root_children(root, &path)?;
    let header_el = expect_kid(&kids, 0, "Header", &path)?;
    let header = read_header(header_el, &path.child("Header"))?;
    let body_el = expect_kid(&kids, 1, "Body", &path)?;
    let body = read_body(body_el, &path.child("Body"))?;
    if let Some(extra) = kids.get(2) {
        return Err(path.error(ReadErrorKind::Unexpected(extra.local.clone())));
    }
    Ok((schema_version, header, body, signature))
}

fn read_request_id(el: &Element, path: &Path<'_>) -> Result<RequestId, ReadError> {
    check_attrs(el, path, &[])?;
    let text = text_content(el, path)?;
    text.parse::<RequestId>()
        .map_err(|e| path.invalid(e.to_string()))
}

fn read_service_reference(el: &Element, path: &Path<'_>) -> Result<ServiceReference, ReadError> {
    check_attrs(el, path, &[])?;
    let t = text_content(el, path)?;
    ServiceReference::parse(&t)
        .ok_or_else(|| path.invalid(format!("unknown Service Reference {t:?}")))
}

fn read_service_reference_variant(
    el: &Element,
    path: &Path<'_>,
) -> Result<ServiceReferenceVariant, ReadError> {
    check_attrs(el, path, &[])?;
    let t = text_content(el, path)?;
    ServiceReferenceVariant::parse(&t)
        .ok_or_else(|| path.invalid(format!("unknown Service Reference Variant {t:?}")))
}

fn read_request_header(el: &Element, path: &Path<'_>) -> Result<RequestHeader, ReadError> {
    check_attrs(el, path, &[])?;
    let mut c = Cursor::new(el, path)?;
    let request_id = c.one("RequestID", read_request_id)?;
    let first_in_sequence = c.opt("FirstInSequence", leaf::<bool>(&Facets::NONE))?;
    let preceding_request_id = c.opt("PrecedingServiceRequestID", read_request_id)?;
    let command_variant = c.one("CommandVariant", |e, p| {
        check_attrs(e, p, &[])?;
        let t = text_content(e, p)?;
        CommandVariant::parse(&t).map_err(|m| p.invalid(m))
    })?;
    let service_reference = c.one("ServiceReference", read_service_reference)?;
    let service_reference_variant =
        c.one("ServiceReferenceVariant", read_service_reference_variant)?;
    c.finish()?;
    Ok(RequestHeader {
        request_id,
        first_in_sequence,
        preceding_request_id,
        command_variant,
        service_reference,
        service_reference_variant,
    })
}

fn read_body(el: &Element, path: &Path<'_>) -> Result<Body, ReadError> {
    check_attrs(el, path, &[])?;
    let mut c = Cursor::new(el, path)?;
    let body = Body::read_element(&mut c)?;
    c.finish()?;
    Ok(body)
}

/// Reads a DUIS response, acknowledgement or alert from a parsed document.
///
/// # Errors
///
/// [`ReadError`] naming the first place where the document departs from the schema.
pub fn read_response(doc: &Document) -> Result<Response, ReadError> {
    let (schema_version, header, body, signature) =
        read_document(doc, "Response", read_response_header, read_response_body)?;
    Ok(Response {
        schema_version,
        header,
        body,
        signature: signature.cloned(),
    })
}

fn read_response_header(el: &Element, path: &Path<'_>) -> Result<ResponseHeader, ReadError> {
    check_attrs(el, path, &[])?;
    let mut c = Cursor::new(el, path)?;
    let request_id = c.opt("RequestID", read_request_id)?;
    let response_id = c.opt("ResponseID", read_request_id)?;
    let response_code = c.one("ResponseCode", |e, p| {
        check_attrs(e, p, &[])?;
        let t = text_content(e, p)?;
        ResponseCode::parse(&t).ok_or_else(|| p.invalid(format!("unknown response code {t:?}")))
    })?;
    let response_date_time = c.one("ResponseDateTime", leaf(&Facets::NONE))?;
    c.finish()?;
    Ok(ResponseHeader {
        request_id,
        response_id,
        response_code,
        response_date_time,
    })
}

fn read_response_body(el: &Element, path: &Path<'_>) -> Result<ResponseBody, ReadError> {
    check_attrs(el, path, &[])?;
    let mut c = Cursor::new(el, path)?;
    let body = match c.peek() {
        Some("ResponseMessage") => {
            ResponseBody::ResponseMessage(c.one("ResponseMessage", read_response_message)?)
        }
        Some("DeviceAlertMessage") => {
            ResponseBody::DeviceAlertMessage(c.one("DeviceAlertMessage", read_device_alert)?)
        }
        Some("DCCAlertMessage") => {
            ResponseBody::DccAlertMessage(c.one("DCCAlertMessage", read_dcc_alert)?)
        }
        Some("SMETS1ResponseMessage") => ResponseBody::Smets1ResponseMessage(
            c.one("SMETS1ResponseMessage", |e, _| Ok(e.clone()))?,
        ),
        _ => {
            return Err(c.no_alternative(&[
                "ResponseMessage",
                "DeviceAlertMessage",
                "DCCAlertMessage",
                "SMETS1ResponseMessage",
            ]));
        }
    };
    c.finish()?;
    Ok(body)
}

fn read_response_message(el: &Element, path: &Path<'_>) -> Result<ResponseMessage, ReadError> {
    check_attrs(el, path, &[])?;
    let mut c = Cursor::new(el, path)?;
    let service_reference = c.one("ServiceReference", read_service_reference)?;
    let service_reference_variant =
        c.one("ServiceReferenceVariant", read_service_reference_variant)?;
    let payload = match c.peek() {
        None => None,
        Some("GBCSPayload") => Some(ResponsePayload::GbcsPayload(
            c.one("GBCSPayload", leaf(&Facets::BASE64))?,
        )),
        Some("PreCommand") => Some(c.one("PreCommand", |e, p| {
            check_attrs(e, p, &[])?;
            let mut c = Cursor::new(e, p)?;
            let gbcs_version = c.one("GBCSVersion", leaf(&Facets::STRING))?;
            let gbcs_payload = c.one("GBCSPayload", leaf(&Facets::BASE64))?;
            c.finish()?;
            Ok(ResponsePayload::PreCommand {
                gbcs_version,
                gbcs_payload,
            })
        })?),
        Some("LocalCommand") => Some(c.one("LocalCommand", |e, p| {
            check_attrs(e, p, &[])?;
            let mut c = Cursor::new(e, p)?;
            let gbcs_payload = c.one("GBCSPayload", leaf(&Facets::BASE64))?;
            c.finish()?;
            Ok(ResponsePayload::LocalCommand { gbcs_payload })
        })?),
        Some("CINMessage") => Some(c.one("CINMessage", |e, p| {
            check_attrs(e, p, &[])?;
            let mut c = Cursor::new(e, p)?;
            let gbcs_payload = c.one("GBCSPayload", leaf(&Facets::BASE64))?;
            let customer_identification_number =
                c.one("CustomerIdentificationNumber", leaf(&CIN_FACETS))?;
            c.finish()?;
            Ok(ResponsePayload::CinMessage {
                gbcs_payload,
                customer_identification_number,
            })
        })?),
        Some("DSPScheduledMessage") => Some(c.one("DSPScheduledMessage", |e, p| {
            check_attrs(e, p, &[])?;
            let mut c = Cursor::new(e, p)?;
            let gbcs_payload = c.one("GBCSPayload", leaf(&Facets::BASE64))?;
            let dsp_schedule_id = c.one("DSPScheduleID", leaf(&SCHEDULE_ID_FACETS))?;
            c.finish()?;
            Ok(ResponsePayload::DspScheduledMessage {
                gbcs_payload,
                dsp_schedule_id,
            })
        })?),
        Some("DSPScheduleID") => Some(ResponsePayload::DspScheduleId(
            c.one("DSPScheduleID", leaf(&SCHEDULE_ID_FACETS))?,
        )),
        Some("FutureDatedDeviceAlertMessage") => {
            Some(ResponsePayload::FutureDatedDeviceAlertMessage(c.one(
                "FutureDatedDeviceAlertMessage",
                |e, p| {
                    check_attrs(e, p, &[])?;
                    let mut c = Cursor::new(e, p)?;
                    let code: Vec<u8> = c.one("FutureDatedAlertCode", leaf(&Facets::HEX))?;
                    let alert_code = match code.as_slice() {
                        [0x8F, 0x66] => FutureDatedAlertCode::Executed,
                        [0x8F, 0x67] => FutureDatedAlertCode::Failed,
                        _ => {
                            return Err(p
                                .child("FutureDatedAlertCode")
                                .invalid("must be 8F66 or 8F67"));
                        }
                    };
                    let gbcs_payload = c.one("GBCSPayload", leaf(&Facets::BASE64))?;
                    let instruction_number = c.one("InstructionNumber", leaf(&Facets::NONE))?;
                    let total_command_instructions =
                        c.one("TotalCommandInstructions", leaf(&Facets::NONE))?;
                    c.finish()?;
                    Ok(FutureDatedDeviceAlert {
                        alert_code,
                        gbcs_payload,
                        instruction_number,
                        total_command_instructions,
                    })
                },
            )?))
        }
        Some(name) if tables::RESPONSE_DSP_ELEMENTS.contains(&name) => {
            c.next_element().map(|e| ResponsePayload::Dsp {
                element: name.to_owned(),
                xml: e.clone(),
            })
        }
        Some(_) => None,
    };
    c.finish()?;
    Ok(ResponseMessage {
        service_reference,
        service_reference_variant,
        payload,
    })
}

/// `CustomerIdentificationNumber`: four digits.
static CIN_FACETS: Facets = Facets {
    ws: crate::duis::model::xsd::Ws::Preserve,
    length: Some(4),
    patterns: &["[0-9]{4}"],
    ..Facets::NONE
};
/// `sr:scheduleID`.
static SCHEDULE_ID_FACETS: Facets = Facets {
    max_inclusive: Some("1000000000000"),
    ..Facets::NONE
};

fn read_device_alert(el: &Element, path: &Path<'_>) -> Result<DeviceAlertMessage, ReadError> {
    check_attrs(el, path, &[])?;
    let mut c = Cursor::new(el, path)?;
    let alert_code = c.one("AlertCode", leaf(&Facets::HEX))?;
    let throttled_alert_sequence_id = c.opt("ThrottledAlertSequenceId", leaf(&Facets::NONE))?;
    let throttled_alert_count = c.opt("ThrottledAlertCount", leaf(&Facets::NONE))?;
    let gbcs_payload = c.one("GBCSPayload", leaf(&Facets::BASE64))?;
    c.finish()?;
    Ok(DeviceAlertMessage {
        alert_code,
        throttled_alert_sequence_id,
        throttled_alert_count,
        gbcs_payload,
    })
}

fn read_dcc_alert(el: &Element, path: &Path<'_>) -> Result<DccAlertMessage, ReadError> {
    check_attrs(el, path, &[])?;
    let mut c = Cursor::new(el, path)?;
    let dcc_alert_code = c.one("DCCAlertCode", |e, p| {
        check_attrs(e, p, &[])?;
        let t = text_content(e, p)?;
        DccAlertCode::parse(&t).ok_or_else(|| p.invalid(format!("unknown DCC alert code {t:?}")))
    })?;
    let throttled_alert_sequence_id = c.opt("ThrottledAlertSequenceId", leaf(&Facets::NONE))?;
    let throttled_alert_count = c.opt("ThrottledAlertCount", leaf(&Facets::NONE))?;
    let dcc_alert = c.one("DCCAlert", |e, p| {
        check_attrs(e, p, &[])?;
        let mut inner = Cursor::new(e, p)?;
        match inner.peek() {
            Some(n) if tables::DCC_ALERT_ELEMENTS.contains(&n) => {
                inner.pos += 1;
                inner.finish()?;
                Ok(e.clone())
            }
            _ => Err(inner.no_alternative(tables::DCC_ALERT_ELEMENTS)),
        }
    })?;
    c.finish()?;
    Ok(DccAlertMessage {
        dcc_alert_code,
        throttled_alert_sequence_id,
        throttled_alert_count,
        dcc_alert,
    })
}
