//! Strict XML reader producing a small, owned tree.
//!
//! Why a tree of our own rather than a DOM crate: XML-DSig needs both inclusive and exclusive
//! C14N over exactly the nodes as received (namespace declarations as written, text as
//! written), and the DUIS reader needs namespace-resolved names. quick-xml tokenises; this
//! module keeps just what those two users need, with hard limits applied while reading.
//!
//! Refused: any DOCTYPE (so no DTD and no entity declarations), references to entities other
//! than the five predefined ones and character references, encodings other than UTF-8,
//! documents over [`Limits::max_bytes`] (checked before reading), nesting deeper than
//! [`Limits::max_depth`], more than [`Limits::max_nodes`] nodes, more than
//! [`MAX_ATTRIBUTES`] attributes on an element, characters XML 1.0 does not allow, unbound
//! prefixes, misuse of the `xml`/`xmlns` prefixes, duplicate attributes (by qualified or
//! expanded name), mismatched or unclosed tags, more than one root, and text outside the
//! root. Comments and processing instructions outside the root are accepted and dropped.
//!
//! Kept as written: namespace declarations per element (C14N needs them), prefixes, the
//! order of attributes and children, and text. Text goes through XML end-of-line handling
//! (a literal CR LF or CR becomes LF) while a character reference `&#13;` stays a CR;
//! attribute values are normalised as the XML spec says for CDATA attributes. Adjacent
//! text, CDATA and references are merged into one [`Node::Text`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

/// Bounds applied while reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted element nesting.
    pub max_depth: usize,
    /// Most nodes (elements, text, comments) accepted.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // DUIS requests are a few kB; firmware images (11.1) are base64 in one element and
        // can reach several MB.
        Limits {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 200_000,
        }
    }
}

/// A parsed document: the root element (prolog and XML declaration are not kept, as C14N
/// drops them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The document element.
    pub root: Element,
}

/// A namespace declaration as written on an element: `xmlns="uri"` has `prefix == None`.
///
/// Prefixes and URIs are shared (`Arc<str>`): the parser gives every element and attribute
/// in a declaration's scope the declaration's own strings rather than a copy each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsDecl {
    /// The declared prefix, or `None` for the default namespace.
    pub prefix: Option<Arc<str>>,
    /// The namespace URI (may be empty for `xmlns=""`).
    pub uri: Arc<str>,
}

/// An attribute other than a namespace declaration, with its value already unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// Prefix as written.
    pub prefix: Option<Arc<str>>,
    /// Local name.
    pub local: String,
    /// Resolved namespace URI (unprefixed attributes have none).
    pub ns: Option<Arc<str>>,
    /// Unescaped value.
    pub value: String,
}

/// An element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Prefix as written.
    pub prefix: Option<Arc<str>>,
    /// Local name.
    pub local: String,
    /// Resolved namespace URI.
    pub ns: Option<Arc<str>>,
    /// Namespace declarations written on this element, in document order.
    pub ns_decls: Vec<NsDecl>,
    /// Other attributes, in document order.
    pub attrs: Vec<Attr>,
    /// Child nodes in document order.
    pub children: Vec<Node>,
}

/// A child node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// An element.
    Element(Element),
    /// Character data (text and CDATA), unescaped; adjacent runs are merged.
    Text(String),
    /// A comment (dropped by C14N without comments, kept for completeness).
    Comment(String),
    /// A processing instruction: target and data.
    Pi(String, String),
}

/// The namespace bound to the `xml` prefix by definition.
pub const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of `xmlns` attributes; it can never be declared.
pub const NS_XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// The binding of the `xml` prefix, which no document declares.
static XML_DECL: LazyLock<NsDecl> = LazyLock::new(|| NsDecl {
    prefix: Some(Arc::from("xml")),
    uri: Arc::from(NS_XML),
});

/// Most attributes (namespace declarations included) accepted on one element. A bound is
/// needed because duplicate detection compares each attribute with the ones before it.
pub const MAX_ATTRIBUTES: usize = 256;

/// Up to this many namespace declarations in scope, prefixes are resolved by scanning them
/// (fastest for the handful DUIS documents carry); beyond it, through the per-prefix index,
/// so that deep nesting under many declarations cannot make resolution quadratic.
const SCAN_DECLS: usize = 32;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The input is larger than [`Limits::max_bytes`]; checked before any parsing.
    #[error("document of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Input size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Elements nest deeper than [`Limits::max_depth`].
    #[error("elements nest deeper than the limit of {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More nodes than [`Limits::max_nodes`].
    #[error("document has more than {max} nodes")]
    TooManyNodes {
        /// The limit.
        max: usize,
    },
    /// An element has more than [`MAX_ATTRIBUTES`] attributes.
    #[error("element has more than {max} attributes")]
    TooManyAttributes {
        /// The limit.
        max: usize,
    },
    /// The input is not valid UTF-8 (the only accepted encoding).
    #[error("document is not valid UTF-8 (error at byte {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The XML declaration names an encoding other than UTF-8, or a version other than 1.0.
    #[error("unsupported XML declaration: {0}")]
    UnsupportedDeclaration(String),
    /// A `<!DOCTYPE …>` was present. DTDs, and with them entity declarations, are refused.
    #[error("DOCTYPE refused: DTDs and entity declarations are not accepted")]
    Doctype,
    /// A reference to an entity other than the five predefined ones.
    #[error("reference to undeclared entity &{0}; (only the predefined entities are accepted)")]
    UnknownEntity(String),
    /// A character reference that is malformed or names a character XML does not allow.
    #[error("invalid character reference &{0};")]
    BadCharRef(String),
    /// A character that XML 1.0 does not allow (for example a control character), or `]]>`
    /// in text.
    #[error("character not allowed in XML at byte {offset}")]
    IllegalChar {
        /// Offset (in the input) of the construct that holds it.
        offset: usize,
    },
    /// An element or attribute name that is not a valid qualified name.
    #[error("invalid name {0:?}")]
    InvalidName(String),
    /// A prefix that is used without being declared.
    #[error("namespace prefix {0:?} is not bound")]
    UnboundPrefix(String),
    /// A declaration that misuses the reserved `xml` / `xmlns` prefixes or namespaces, or
    /// undeclares a prefix.
    #[error("invalid namespace declaration: {0}")]
    BadNamespaceDecl(String),
    /// The same attribute (by qualified or by expanded name) appears twice on one element.
    #[error("duplicate attribute {0:?}")]
    DuplicateAttribute(String),
    /// An end tag does not match the open element.
    #[error("end tag </{found}> does not match <{expected}>")]
    MismatchedTag {
        /// The open element.
        expected: String,
        /// The end tag found.
        found: String,
    },
    /// The input ended inside an element.
    #[error("element <{0}> is not closed")]
    Unclosed(String),
    /// A second top-level element.
    #[error("more than one root element")]
    MultipleRoots,
    /// Character data (other than whitespace) outside the root element.
    #[error("text outside the root element")]
    TextOutsideRoot,
    /// No root element at all.
    #[error("no root element")]
    NoRoot,
    /// Any other well-formedness error found by the tokenizer.
    #[error("malformed XML at byte {offset}: {message}")]
    Syntax {
        /// Byte offset where the tokenizer stopped.
        offset: usize,
        /// What the tokenizer reported.
        message: String,
    },
}

/// Parses `input` into a [`Document`], applying `limits`.
///
/// The size limit is checked before anything else is done with the input.
///
/// # Errors
///
/// Any [`XmlError`]; see the module documentation for what is refused.
pub fn parse(input: &[u8], limits: &Limits) -> Result<Document, XmlError> {
    if input.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: input.len(),
            max: limits.max_bytes,
        });
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let input = std::str::from_utf8(input).map_err(|e| XmlError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    Parser::new(input, limits).run()
}

impl Document {
    /// Parses a document held in a string, with the default [`Limits`].
    ///
    /// # Errors
    ///
    /// As [`parse`].
    pub fn parse_str(input: &str) -> Result<Document, XmlError> {
        parse(input.as_bytes(), &Limits::default())
    }

    /// Parses a document with the given limits (same as [`parse`]).
    ///
    /// # Errors
    ///
    /// As [`parse`].
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Document, XmlError> {
        parse(input, limits)
    }

    /// Removes every whitespace-only text node in the tree (see
    /// [`Element::strip_whitespace_text`]).
    pub fn strip_whitespace_text(&mut self) {
        self.root.strip_whitespace_text();
    }

    /// Writes the document as compact XML, preceded by
    /// `<?xml version="1.0" encoding="UTF-8"?>`.
    ///
    /// Namespace declarations and attributes are written as held (declarations first), empty
    /// elements as `<a/>`, and text and attribute values are escaped so that reading the
    /// output back gives the same tree (a carriage return is written as `&#13;`).
    pub fn to_xml_string(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write_xml(&mut out);
        out
    }

    /// As [`Document::to_xml_string`], appending to `out`.
    pub fn write_xml(&self, out: &mut String) {
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        self.root.write_xml(out);
    }
}

impl Element {
    /// A new element with no declarations, attributes or children.
    pub fn new(prefix: Option<&str>, local: &str, ns: Option<&str>) -> Element {
        Element {
            prefix: prefix.map(Arc::from),
            local: local.to_owned(),
            ns: ns.map(Arc::from),
            ns_decls: Vec::new(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// True if this element has namespace `ns` and local name `local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// The qualified name as written (`prefix:local` or `local`).
    pub fn qname(&self) -> Cow<'_, str> {
        match &self.prefix {
            Some(p) => Cow::Owned(format!("{p}:{}", self.local)),
            None => Cow::Borrowed(&self.local),
        }
    }

    /// The child elements, in document order.
    pub fn child_elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The child elements, mutably, in document order.
    pub fn child_elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The child elements with namespace `ns` and local name `local`.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.child_elements().filter(move |e| e.is(ns, local))
    }

    /// The first child element with namespace `ns` and local name `local`.
    pub fn first_child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.child_elements().find(|e| e.is(ns, local))
    }

    /// The last child element, if any.
    pub fn last_child_element(&self) -> Option<&Element> {
        self.children.iter().rev().find_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The direct text content: all text children concatenated (descendants' text is not
    /// included). Borrowed when there is at most one text child.
    pub fn text(&self) -> Cow<'_, str> {
        let mut texts = self.children.iter().filter_map(|n| match n {
            Node::Text(t) => Some(t.as_str()),
            _ => None,
        });
        let Some(first) = texts.next() else {
            return Cow::Borrowed("");
        };
        match texts.next() {
            None => Cow::Borrowed(first),
            Some(second) => {
                let mut s = String::with_capacity(first.len() + second.len());
                s.push_str(first);
                s.push_str(second);
                texts.for_each(|t| s.push_str(t));
                Cow::Owned(s)
            }
        }
    }

    /// The value of the attribute with no namespace and local name `local`.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// The value of the attribute with namespace `ns` and local name `local`.
    pub fn attr_ns(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.local == local && a.ns.as_deref() == Some(ns))
            .map(|a| a.value.as_str())
    }

    /// Appends an unprefixed attribute (builder style).
    pub fn with_attr(mut self, local: &str, value: &str) -> Element {
        self.attrs.push(Attr {
            prefix: None,
            local: local.to_owned(),
            ns: None,
            value: value.to_owned(),
        });
        self
    }

    /// Appends a namespace declaration (builder style); `prefix == None` declares the
    /// default namespace.
    pub fn with_ns_decl(mut self, prefix: Option<&str>, uri: &str) -> Element {
        self.ns_decls.push(NsDecl {
            prefix: prefix.map(Arc::from),
            uri: Arc::from(uri),
        });
        self
    }

    /// Appends a child element (builder style).
    pub fn with_child(mut self, child: Element) -> Element {
        self.children.push(Node::Element(child));
        self
    }

    /// Appends text (builder style), merging with a preceding text node.
    pub fn with_text(mut self, text: &str) -> Element {
        self.push_text(text);
        self
    }

    /// Appends text, merging with a preceding text node so that no two text nodes are
    /// adjacent.
    pub fn push_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(Node::Text(t)) = self.children.last_mut() {
            t.push_str(text);
        } else {
            self.children.push(Node::Text(text.to_owned()));
        }
    }

    /// Removes every whitespace-only text node (space, tab, LF, CR) from this element and
    /// all its descendants, and merges text nodes that become adjacent.
    ///
    /// This is what a validating parser that ignores element-content whitespace sees, and
    /// what is signed: DUIS signatures are made over compact XML.
    pub fn strip_whitespace_text(&mut self) {
        let had_ws = self
            .children
            .iter()
            .any(|n| matches!(n, Node::Text(t) if t.bytes().all(is_xml_space)));
        if had_ws {
            let old = std::mem::take(&mut self.children);
            self.children.reserve(old.len());
            for n in old {
                match n {
                    Node::Text(t) if t.bytes().all(is_xml_space) => {}
                    Node::Text(t) => {
                        if let Some(Node::Text(prev)) = self.children.last_mut() {
                            prev.push_str(&t);
                        } else {
                            self.children.push(Node::Text(t));
                        }
                    }
                    other => self.children.push(other),
                }
            }
        }
        for e in self.child_elements_mut() {
            e.strip_whitespace_text();
        }
    }

    /// As [`Element::strip_whitespace_text`], but only between child elements: an element
    /// with no child element keeps its text as it is, whitespace included, because there it
    /// is a value (`10<!----> <!---->00` is not `1000`). What a verifier may remove from a
    /// signed document that was pretty-printed after signing.
    pub fn strip_element_content_whitespace(&mut self) {
        if self.children.iter().any(|n| matches!(n, Node::Element(_))) {
            self.children
                .retain(|n| !matches!(n, Node::Text(t) if t.bytes().all(is_xml_space)));
        }
        for e in self.child_elements_mut() {
            e.strip_element_content_whitespace();
        }
    }

    /// Writes this element as compact XML (see [`Document::to_xml_string`]).
    pub fn write_xml(&self, out: &mut String) {
        out.push('<');
        push_qname(out, self.prefix.as_deref(), &self.local);
        for d in &self.ns_decls {
            match &d.prefix {
                Some(p) => {
                    out.push_str(" xmlns:");
                    out.push_str(p);
                }
                None => out.push_str(" xmlns"),
            }
            out.push_str("=\"");
            escape_attr_into(out, &d.uri);
            out.push('"');
        }
        for a in &self.attrs {
            out.push(' ');
            push_qname(out, a.prefix.as_deref(), &a.local);
            out.push_str("=\"");
            escape_attr_into(out, &a.value);
            out.push('"');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for n in &self.children {
            match n {
                Node::Element(e) => e.write_xml(out),
                other => write_leaf(other, out),
            }
        }
        out.push_str("</");
        push_qname(out, self.prefix.as_deref(), &self.local);
        out.push('>');
    }
}

/// Writes a text, comment or processing-instruction node (elements are the caller's).
pub(crate) fn write_leaf(node: &Node, out: &mut String) {
    match node {
        Node::Element(_) => {}
        Node::Text(t) => escape_text_into(out, t),
        Node::Comment(c) => {
            out.push_str("<!--");
            out.push_str(c);
            out.push_str("-->");
        }
        Node::Pi(target, data) => {
            out.push_str("<?");
            out.push_str(target);
            if !data.is_empty() {
                out.push(' ');
                out.push_str(data);
            }
            out.push_str("?>");
        }
    }
}

fn push_qname(out: &mut String, prefix: Option<&str>, local: &str) {
    if let Some(p) = prefix {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(local);
}

/// Escapes text content for the compact writers (this one and the DUIS writer).
pub(crate) fn escape_text_into(out: &mut String, s: &str) {
    escape_text_cr(out, s, "&#13;");
}

/// Escapes text content, writing a carriage return as `cr` (`&#13;` in the compact
/// writers, `&#xD;` where the output must be canonical).
pub(crate) fn escape_text_cr(out: &mut String, s: &str, cr: &str) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => cr,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Escapes an attribute value for the compact writers (quoted with `"`).
pub(crate) fn escape_attr_into(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'"' => "&quot;",
            b'\t' => "&#9;",
            b'\n' => "&#10;",
            b'\r' => "&#13;",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// XML whitespace (`S` production).
#[inline]
pub(crate) fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// True for a character XML 1.0 allows (the `Char` production).
#[inline]
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// True for a valid `NCName` (approximated: XML name characters for ASCII, any non-ASCII
/// character accepted).
fn is_ncname(s: &str) -> bool {
    match s.as_bytes() {
        [first, rest @ ..] => {
            NAME_BYTES[usize::from(*first)] & NAME_START != 0
                && rest.iter().all(|&b| NAME_BYTES[usize::from(b)] != 0)
        }
        [] => false,
    }
}

/// [`NAME_BYTES`]: the byte may start a name (it may also continue one).
const NAME_START: u8 = 2;

/// Per byte: [`NAME_START`] for letters, `_` and non-ASCII; 1 for what may only continue a
/// name (digits, `-`, `.`); 0 for the rest. One lookup per byte for the names of every
/// element and attribute.
static NAME_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            NAME_START | 1
        } else if c.is_ascii_digit() || c == b'-' || c == b'.' {
            1
        } else {
            0
        };
        b += 1;
    }
    t
};

/// `part` (a slice the tokenizer took from `input`) as text, without checking its UTF-8 again:
/// the input was checked whole, and the tokenizer cuts only at ASCII delimiters. Its position
/// in `input` is found from the two addresses (so the slice found is `part` itself); a slice
/// that is not from `input`, or that does not fall on character boundaries, is checked as it
/// is.
fn as_str<'p>(input: &'p str, part: &'p [u8]) -> Result<&'p str, std::str::Utf8Error> {
    let start = (part.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
    start
        .checked_add(part.len())
        .and_then(|end| input.get(start..end))
        .map_or_else(|| std::str::from_utf8(part), Ok)
}

/// Splits and validates a qualified name.
fn split_qname(raw: &str) -> Result<(Option<&str>, &str), XmlError> {
    match raw.split_once(':') {
        Some((p, l)) if is_ncname(p) && is_ncname(l) => Ok((Some(p), l)),
        None if is_ncname(raw) => Ok((None, raw)),
        _ => Err(XmlError::InvalidName(raw.to_owned())),
    }
}

/// Appends `raw` (character data without references) to `out`, applying XML end-of-line
/// normalisation and checking for characters XML does not allow.
fn push_chars(out: &mut String, raw: &str, offset: usize, is_text: bool) -> Result<(), XmlError> {
    let bytes = raw.as_bytes();
    let mut has_cr = false;
    let mut has_ef = false;
    for &b in bytes {
        if b < 0x20 {
            match b {
                b'\r' => has_cr = true,
                b'\t' | b'\n' => {}
                _ => return Err(XmlError::IllegalChar { offset }),
            }
        }
        has_ef |= b == 0xEF;
    }
    // U+FFFE and U+FFFF are encoded EF BF BE / EF BF BF.
    if (has_ef
        && bytes
            .windows(3)
            .any(|w| w[0] == 0xEF && w[1] == 0xBF && w[2] >= 0xBE))
        || (is_text && raw.contains("]]>"))
    {
        return Err(XmlError::IllegalChar { offset });
    }
    if !has_cr {
        out.push_str(raw);
        return Ok(());
    }
    let mut rest = raw;
    while let Some(i) = rest.find('\r') {
        out.push_str(&rest[..i]);
        out.push('\n');
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('\n') {
            rest = r;
        }
    }
    out.push_str(rest);
    Ok(())
}

/// Resolves a reference body (between `&` and `;`) to a character: a character reference
/// to a character XML allows, or one of the five predefined entities.
///
/// # Errors
///
/// [`XmlError::BadCharRef`] or [`XmlError::UnknownEntity`].
pub fn resolve_reference(name: &str) -> Result<char, XmlError> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix('x') {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex, 16).ok()
            }
            None if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => num.parse().ok(),
            _ => None,
        };
        return match code.and_then(char::from_u32) {
            Some(c) if is_xml_char(c) => Ok(c),
            _ => Err(XmlError::BadCharRef(name.to_owned())),
        };
    }
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        _ => Err(XmlError::UnknownEntity(name.to_owned())),
    }
}

/// An attribute value as written (between its quotes) as the reader gives it: references
/// resolved and whitespace normalised (see `attr_value`), so that other readers of the same
/// bytes (loadgen's answer scanner) see the value this one sees. Borrowed when there is
/// nothing to resolve or normalise.
///
/// # Errors
///
/// An [`XmlError`] for `<`, an unknown or malformed reference, or a character XML forbids.
pub fn attribute_value(raw: &str) -> Result<Cow<'_, str>, XmlError> {
    attr_value(raw, 0)
}

/// Unescapes and normalises an attribute value as the XML spec requires for CDATA
/// attributes: references resolved, literal TAB/LF/CR (and CR LF) become a space, while
/// characters written as references are kept.
fn attr_value(raw: &str, offset: usize) -> Result<Cow<'_, str>, XmlError> {
    let bytes = raw.as_bytes();
    if !bytes
        .iter()
        .any(|&b| b < 0x20 || b == b'&' || b == b'<' || b >= 0xEF)
    {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        let Some(i) = rest.find(['&', '<', '\t', '\n', '\r']) else {
            push_chars(&mut out, rest, offset, false)?;
            break;
        };
        push_chars(&mut out, &rest[..i], offset, false)?;
        let b = rest.as_bytes()[i];
        rest = &rest[i + 1..];
        match b {
            b'<' => {
                return Err(XmlError::Syntax {
                    offset,
                    message: "'<' in attribute value".to_owned(),
                });
            }
            b'&' => {
                let Some(end) = rest.find(';') else {
                    return Err(XmlError::Syntax {
                        offset,
                        message: "unterminated reference in attribute value".to_owned(),
                    });
                };
                out.push(resolve_reference(&rest[..end])?);
                rest = &rest[end + 1..];
            }
            b'\r' => {
                out.push(' ');
                if let Some(r) = rest.strip_prefix('\n') {
                    rest = r;
                }
            }
            _ => out.push(' '),
        }
    }
    Ok(Cow::Owned(out))
}

struct Parser<'a> {
    /// The whole input, checked as UTF-8 once: the tokenizer's slices are taken from it.
    input: &'a str,
    reader: Reader<&'a [u8]>,
    limits: &'a Limits,
    /// Open elements, outermost first; their declarations are the namespace scope.
    stack: Vec<Element>,
    /// The same scope indexed by prefix (`""` for the default namespace): the declarations
    /// binding it, innermost last. Built once more than [`SCAN_DECLS`] declarations are in
    /// scope, then kept up to date.
    index: Option<HashMap<String, Vec<NsDecl>>>,
    /// Number of declarations in scope.
    in_scope: usize,
    root: Option<Element>,
    nodes: usize,
    /// Whether any event was read yet (the XML declaration must come first).
    events_seen: bool,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str, limits: &'a Limits) -> Self {
        let mut reader = Reader::from_reader(input.as_bytes());
        let cfg = reader.config_mut();
        cfg.trim_text(false);
        cfg.expand_empty_elements = false;
        cfg.check_end_names = false;
        cfg.check_comments = true;
        cfg.allow_dangling_amp = false;
        cfg.allow_unmatched_ends = true;
        Parser {
            input,
            reader,
            limits,
            stack: Vec::new(),
            index: None,
            in_scope: 0,
            root: None,
            nodes: 0,
            events_seen: false,
        }
    }

    fn offset(&self) -> usize {
        usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX)
    }

    fn count_node(&mut self) -> Result<(), XmlError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(XmlError::TooManyNodes {
                max: self.limits.max_nodes,
            });
        }
        Ok(())
    }

    /// The text node at the end of the open element's children, created if needed.
    fn text_target(&mut self) -> Result<Option<&mut String>, XmlError> {
        let needs_new = match self.stack.last() {
            None => return Ok(None),
            Some(open) => !matches!(open.children.last(), Some(Node::Text(_))),
        };
        if needs_new {
            self.count_node()?;
        }
        let Some(open) = self.stack.last_mut() else {
            return Ok(None);
        };
        if needs_new {
            open.children.push(Node::Text(String::new()));
        }
        match open.children.last_mut() {
            Some(Node::Text(t)) => Ok(Some(t)),
            _ => Ok(None),
        }
    }

    fn push_node(&mut self, node: Node) -> Result<(), XmlError> {
        self.count_node()?;
        if let Some(open) = self.stack.last_mut() {
            open.children.push(node);
        }
        Ok(())
    }

    fn run(mut self) -> Result<Document, XmlError> {
        loop {
            let offset = self.offset();
            let event = match self.reader.read_event() {
                Ok(ev) => ev,
                Err(e) => return Err(self.map_err(e, offset)),
            };
            let first = !self.events_seen;
            self.events_seen = true;
            match event {
                Event::Decl(decl) => {
                    if !first {
                        return Err(XmlError::Syntax {
                            offset,
                            message: "XML declaration not at the start".to_owned(),
                        });
                    }
                    check_decl(&decl)?;
                }
                Event::DocType(_) => return Err(XmlError::Doctype),
                Event::Start(start) => self.start(&start, offset, false)?,
                Event::Empty(start) => self.start(&start, offset, true)?,
                Event::End(end) => {
                    let name = as_str(self.input, end.name().0)
                        .map_err(|_| XmlError::NotUtf8 { offset })?
                        .trim_end_matches(|c: char| c.is_ascii_whitespace());
                    self.end(name)?;
                }
                Event::Text(text) => {
                    let raw =
                        as_str(self.input, &text).map_err(|_| XmlError::NotUtf8 { offset })?;
                    if raw.contains('&') {
                        return Err(XmlError::Syntax {
                            offset,
                            message: "stray '&'".to_owned(),
                        });
                    }
                    match self.text_target()? {
                        Some(t) => push_chars(t, raw, offset, true)?,
                        None => {
                            if !raw.bytes().all(is_xml_space) {
                                return Err(XmlError::TextOutsideRoot);
                            }
                        }
                    }
                }
                Event::CData(cdata) => {
                    let raw =
                        as_str(self.input, &cdata).map_err(|_| XmlError::NotUtf8 { offset })?;
                    if self.stack.is_empty() {
                        return Err(XmlError::TextOutsideRoot);
                    }
                    // An empty section adds no character data, so no (empty) text node either:
                    // the writer could not reproduce one.
                    if !raw.is_empty()
                        && let Some(t) = self.text_target()?
                    {
                        push_chars(t, raw, offset, false)?;
                    }
                }
                Event::GeneralRef(r) => {
                    let name = as_str(self.input, &r).map_err(|_| XmlError::NotUtf8 { offset })?;
                    let c = resolve_reference(name)?;
                    match self.text_target()? {
                        Some(t) => t.push(c),
                        None => return Err(XmlError::TextOutsideRoot),
                    }
                }
                Event::Comment(c) => {
                    let raw = as_str(self.input, &c).map_err(|_| XmlError::NotUtf8 { offset })?;
                    let mut s = String::with_capacity(raw.len());
                    push_chars(&mut s, raw, offset, false)?;
                    if !self.stack.is_empty() {
                        self.push_node(Node::Comment(s))?;
                    }
                }
                Event::PI(pi) => {
                    let target = as_str(self.input, pi.target())
                        .map_err(|_| XmlError::NotUtf8 { offset })?;
                    if target.eq_ignore_ascii_case("xml") || !is_ncname(target) {
                        return Err(XmlError::InvalidName(target.to_owned()));
                    }
                    let content = as_str(self.input, pi.content())
                        .map_err(|_| XmlError::NotUtf8 { offset })?;
                    if !content.is_empty()
                        && !content.starts_with(|c: char| c.is_ascii_whitespace())
                    {
                        return Err(XmlError::InvalidName(format!("{target}{content}")));
                    }
                    let mut data = String::with_capacity(content.len());
                    push_chars(
                        &mut data,
                        content.trim_start_matches([' ', '\t', '\r', '\n']),
                        offset,
                        false,
                    )?;
                    if !self.stack.is_empty() {
                        self.push_node(Node::Pi(target.to_owned(), data))?;
                    }
                }
                Event::Eof => break,
            }
        }
        if let Some(open) = self.stack.last() {
            return Err(XmlError::Unclosed(open.qname().into_owned()));
        }
        self.root
            .map(|root| Document { root })
            .ok_or(XmlError::NoRoot)
    }

    fn map_err(&self, e: quick_xml::Error, offset: usize) -> XmlError {
        let message = match self.stack.last() {
            Some(open) => format!("{e} (inside <{}>)", open.qname()),
            None => e.to_string(),
        };
        XmlError::Syntax { offset, message }
    }

    fn start(
        &mut self,
        start: &BytesStart<'_>,
        offset: usize,
        empty: bool,
    ) -> Result<(), XmlError> {
        if self.stack.is_empty() && self.root.is_some() {
            return Err(XmlError::MultipleRoots);
        }
        if self.stack.len() >= self.limits.max_depth {
            return Err(XmlError::TooDeep {
                max: self.limits.max_depth,
            });
        }
        self.count_node()?;
        let qname = as_str(self.input, start.name().0).map_err(|_| XmlError::NotUtf8 { offset })?;
        let (prefix, local) = split_qname(qname)?;
        if prefix == Some("xmlns") {
            return Err(XmlError::BadNamespaceDecl(format!("element named {qname}")));
        }

        // Declarations are collected first, as they apply to the element's own name and
        // attributes whatever their order.
        let mut ns_decls: Vec<NsDecl> = Vec::new();
        let mut attrs: Vec<Attr> = Vec::new();
        for (n, attr) in start.attributes().with_checks(true).enumerate() {
            if n >= MAX_ATTRIBUTES {
                return Err(XmlError::TooManyAttributes {
                    max: MAX_ATTRIBUTES,
                });
            }
            let attr = attr.map_err(|e| match e {
                quick_xml::events::attributes::AttrError::Duplicated(..) => {
                    XmlError::DuplicateAttribute(qname.to_owned())
                }
                other => XmlError::Syntax {
                    offset,
                    message: other.to_string(),
                },
            })?;
            let key = as_str(self.input, attr.key.0).map_err(|_| XmlError::NotUtf8 { offset })?;
            let raw = as_str(self.input, &attr.value).map_err(|_| XmlError::NotUtf8 { offset })?;
            let value = attr_value(raw, offset)?.into_owned();
            match split_qname(key)? {
                (None, "xmlns") => {
                    if value == NS_XML || value == NS_XMLNS {
                        return Err(XmlError::BadNamespaceDecl(format!("xmlns=\"{value}\"")));
                    }
                    ns_decls.push(NsDecl {
                        prefix: None,
                        uri: Arc::from(value),
                    });
                }
                (Some("xmlns"), p) => {
                    if p == "xmlns"
                        || (p == "xml") != (value == NS_XML)
                        || value == NS_XMLNS
                        || value.is_empty()
                    {
                        return Err(XmlError::BadNamespaceDecl(format!("xmlns:{p}=\"{value}\"")));
                    }
                    ns_decls.push(NsDecl {
                        prefix: Some(Arc::from(p)),
                        uri: Arc::from(value),
                    });
                }
                (p, l) => attrs.push(Attr {
                    prefix: p.map(Arc::from),
                    local: l.to_owned(),
                    ns: None,
                    value,
                }),
            }
        }

        // The element's own declarations enter the scope now and leave it in `close` (after
        // a refusal the parser is not used again).
        self.in_scope += ns_decls.len();
        if self.index.is_none() && self.in_scope > SCAN_DECLS {
            let mut index = HashMap::new();
            for d in self.stack.iter().flat_map(|e| &e.ns_decls) {
                index_decl(&mut index, d);
            }
            self.index = Some(index);
        }
        if let Some(index) = &mut self.index {
            for d in &ns_decls {
                index_decl(index, d);
            }
        }
        let (prefix, ns) = match prefix {
            Some(p) => match self.lookup(&ns_decls, p) {
                Some(d) => (d.prefix.clone(), Some(Arc::clone(&d.uri))),
                None => return Err(XmlError::UnboundPrefix(p.to_owned())),
            },
            None => (
                None,
                self.lookup(&ns_decls, "")
                    .filter(|d| !d.uri.is_empty())
                    .map(|d| Arc::clone(&d.uri)),
            ),
        };
        for i in 0..attrs.len() {
            let Some(p) = attrs[i].prefix.as_deref() else {
                continue;
            };
            let Some(decl) = self.lookup(&ns_decls, p) else {
                return Err(XmlError::UnboundPrefix(p.to_owned()));
            };
            if attrs[..i]
                .iter()
                .any(|a| a.local == attrs[i].local && a.ns.as_deref() == Some(&*decl.uri))
            {
                return Err(XmlError::DuplicateAttribute(format!(
                    "{p}:{}",
                    attrs[i].local
                )));
            }
            attrs[i].ns = Some(Arc::clone(&decl.uri));
        }

        self.stack.push(Element {
            prefix,
            local: local.to_owned(),
            ns,
            ns_decls,
            attrs,
            children: Vec::new(),
        });
        if empty {
            self.close();
        }
        Ok(())
    }

    fn end(&mut self, name: &str) -> Result<(), XmlError> {
        let Some(open) = self.stack.last() else {
            return Err(XmlError::Syntax {
                offset: self.offset(),
                message: format!("unexpected end tag </{name}>"),
            });
        };
        let e = open;
        let matches = match &e.prefix {
            Some(p) => {
                name.len() == p.len() + 1 + e.local.len()
                    && name.starts_with(&**p)
                    && name.as_bytes()[p.len()] == b':'
                    && name.ends_with(e.local.as_str())
            }
            None => name == e.local,
        };
        if !matches {
            return Err(XmlError::MismatchedTag {
                expected: e.qname().into_owned(),
                found: name.to_owned(),
            });
        }
        self.close();
        Ok(())
    }

    /// The namespace bound to `prefix` (`""` for the default namespace) by `own`, the
    /// declarations of the element being opened, or by those of the open elements, innermost
    /// first.
    fn lookup<'s>(&'s self, own: &'s [NsDecl], prefix: &str) -> Option<&'s NsDecl> {
        if prefix == "xml" {
            return Some(&XML_DECL);
        }
        if let Some(index) = &self.index
            && self.in_scope > SCAN_DECLS
        {
            return index.get(prefix).and_then(|decls| decls.last());
        }
        std::iter::once(own)
            .chain(self.stack.iter().rev().map(|e| e.ns_decls.as_slice()))
            .flat_map(|decls| decls.iter())
            .find(|d| d.prefix.as_deref().unwrap_or("") == prefix)
    }

    /// Closes the innermost open element.
    fn close(&mut self) {
        let Some(element) = self.stack.pop() else {
            return;
        };
        self.in_scope -= element.ns_decls.len();
        if let Some(index) = &mut self.index {
            for d in &element.ns_decls {
                if let Some(uris) = index.get_mut(d.prefix.as_deref().unwrap_or("")) {
                    uris.pop();
                }
            }
        }
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(Node::Element(element)),
            None => self.root = Some(element),
        }
    }
}

/// Adds a declaration to a namespace index, as the innermost binding of its prefix.
fn index_decl(index: &mut HashMap<String, Vec<NsDecl>>, d: &NsDecl) {
    let prefix = d.prefix.as_deref().unwrap_or("");
    match index.get_mut(prefix) {
        Some(decls) => decls.push(d.clone()),
        None => {
            index.insert(prefix.to_owned(), vec![d.clone()]);
        }
    }
}

/// Accepts only `version="1.0"` and, if present, `encoding="UTF-8"`.
fn check_decl(decl: &quick_xml::events::BytesDecl<'_>) -> Result<(), XmlError> {
    let version = decl
        .version()
        .map_err(|e| XmlError::UnsupportedDeclaration(e.to_string()))?;
    if &*version != b"1.0" {
        return Err(XmlError::UnsupportedDeclaration(format!(
            "version {}",
            String::from_utf8_lossy(&version)
        )));
    }
    if let Some(enc) = decl.encoding() {
        let enc = enc.map_err(|e| XmlError::UnsupportedDeclaration(e.to_string()))?;
        if !enc.eq_ignore_ascii_case(b"UTF-8") {
            return Err(XmlError::UnsupportedDeclaration(format!(
                "encoding {} (only UTF-8 is accepted)",
                String::from_utf8_lossy(&enc)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Document, XmlError> {
        Document::parse_str(s)
    }

    #[test]
    fn slices_of_the_input_are_read_in_place_and_others_are_checked() {
        let input = "<a é=\"ü\">text</a>";
        let part = &input.as_bytes()[3..5];
        let s = as_str(input, part).unwrap();
        assert_eq!(s, "é");
        assert_eq!(
            s.as_ptr(),
            part.as_ptr(),
            "taken from the input, not copied"
        );
        // Not from the input: checked as it is.
        let elsewhere = [0xC3u8, 0xA9];
        assert_eq!(as_str(input, &elsewhere).unwrap(), "é");
        assert!(as_str(input, &[0xC3u8]).is_err());
        // A slice of the input that splits a character is checked (and refused).
        assert!(as_str(input, &input.as_bytes()[3..4]).is_err());
        // Names and text outside ASCII survive the parse.
        let d = p(input).unwrap();
        assert_eq!(d.root.attr("é"), Some("ü"));
        assert_eq!(d.root.text(), "text");
    }

    #[test]
    fn parses_namespaces_attributes_and_text() {
        let d = p(concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n",
            "<sr:Request xmlns:sr=\"urn:sr\" xmlns=\"urn:d\" schemaVersion=\"5.4\">",
            "<sr:Header a=\"1 &amp; 2\"><sr:RequestID>x&lt;y&#x41;<![CDATA[<z>]]></sr:RequestID></sr:Header>",
            "<Body xmlns=\"\"><b:x xmlns:b=\"urn:b\" b:at=\"v\"/></Body>",
            "</sr:Request>\n<!-- trailing -->"
        ))
        .expect("well-formed");
        let r = &d.root;
        assert!(r.is("urn:sr", "Request"));
        assert_eq!(r.ns_decls.len(), 2);
        assert_eq!(r.ns_decls[1].prefix, None);
        assert_eq!(r.attr("schemaVersion"), Some("5.4"));
        let h = r.first_child("urn:sr", "Header").expect("header");
        assert_eq!(h.attr("a"), Some("1 & 2"));
        let id = h.first_child("urn:sr", "RequestID").expect("id");
        assert_eq!(id.children.len(), 1, "text, reference and CDATA are merged");
        assert_eq!(id.text(), "x<yA<z>");
        let body = r.child_elements().nth(1).expect("body");
        assert_eq!(body.ns, None, "xmlns=\"\" undeclares the default namespace");
        let x = body.first_child("urn:b", "x").expect("x");
        assert_eq!(x.attr_ns("urn:b", "at"), Some("v"));
        assert_eq!(x.attr("at"), None);
    }

    #[test]
    fn end_of_line_normalisation_keeps_char_refs() {
        let d = p("<a t=\"1\r\n2\t3&#13;&#10;\">l1\r\nl2\rl3&#13;</a>").expect("ok");
        assert_eq!(d.root.text(), "l1\nl2\nl3\r");
        assert_eq!(d.root.attr("t"), Some("1 2 3\r\n"));
    }

    #[test]
    fn refuses_doctype_with_clear_message() {
        let e = p("<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>")
            .expect_err("doctype");
        assert_eq!(e, XmlError::Doctype);
        assert!(e.to_string().contains("DTDs and entity declarations"));
    }

    #[test]
    fn refuses_malformed_input() {
        type Check = fn(&XmlError) -> bool;
        let cases: &[(&str, Check)] = &[
            (
                "<a>&foo;</a>",
                |e| matches!(e, XmlError::UnknownEntity(n) if n == "foo"),
            ),
            ("<a>&#0;</a>", |e| matches!(e, XmlError::BadCharRef(_))),
            ("<a>&#x1;</a>", |e| matches!(e, XmlError::BadCharRef(_))),
            ("<a>\u{1}</a>", |e| {
                matches!(e, XmlError::IllegalChar { .. })
            }),
            ("<a>]]></a>", |e| matches!(e, XmlError::IllegalChar { .. })),
            (
                "<p:a/>",
                |e| matches!(e, XmlError::UnboundPrefix(p) if p == "p"),
            ),
            ("<a p:x=\"1\"/>", |e| {
                matches!(e, XmlError::UnboundPrefix(_))
            }),
            ("<a x=\"1\" x=\"2\"/>", |e| {
                matches!(e, XmlError::DuplicateAttribute(_))
            }),
            (
                "<a xmlns:p=\"u\" xmlns:q=\"u\" p:x=\"1\" q:x=\"2\"/>",
                |e| matches!(e, XmlError::DuplicateAttribute(_)),
            ),
            ("<a><b></a></b>", |e| {
                matches!(e, XmlError::MismatchedTag { .. })
            }),
            ("<a><b>", |e| matches!(e, XmlError::Unclosed(n) if n == "b")),
            ("<a/><b/>", |e| matches!(e, XmlError::MultipleRoots)),
            ("x<a/>", |e| matches!(e, XmlError::TextOutsideRoot)),
            ("<a/>x", |e| matches!(e, XmlError::TextOutsideRoot)),
            ("", |e| matches!(e, XmlError::NoRoot)),
            ("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>", |e| {
                matches!(e, XmlError::UnsupportedDeclaration(_))
            }),
            ("<a xmlns:p=\"\"/>", |e| {
                matches!(e, XmlError::BadNamespaceDecl(_))
            }),
            ("<a xmlns:xmlns=\"u\"/>", |e| {
                matches!(e, XmlError::BadNamespaceDecl(_))
            }),
            ("<a x=\"<\"/>", |e| matches!(e, XmlError::Syntax { .. })),
            ("<a x=1/>", |e| matches!(e, XmlError::Syntax { .. })),
            ("<1a/>", |e| matches!(e, XmlError::InvalidName(_))),
            ("<a>&amp</a>", |e| matches!(e, XmlError::Syntax { .. })),
            ("<a></b>", |e| matches!(e, XmlError::MismatchedTag { .. })),
            ("</a>", |e| matches!(e, XmlError::Syntax { .. })),
        ];
        for (input, check) in cases {
            match p(input) {
                Ok(d) => panic!("{input:?} was accepted: {d:?}"),
                Err(e) => assert!(check(&e), "{input:?} gave {e:?}"),
            }
        }
        assert!(matches!(
            parse(b"<a>\xff</a>", &Limits::default()),
            Err(XmlError::NotUtf8 { offset: 3 })
        ));
    }

    #[test]
    fn applies_limits() {
        let limits = Limits {
            max_bytes: 10,
            max_depth: 2,
            max_nodes: 3,
        };
        assert_eq!(
            parse(b"<a>0123456789</a>", &limits),
            Err(XmlError::TooLarge { size: 17, max: 10 })
        );
        assert_eq!(
            parse(
                b"<a><b><c/></b></a>",
                &Limits {
                    max_bytes: 100,
                    ..limits
                }
            ),
            Err(XmlError::TooDeep { max: 2 })
        );
        let many: String = (0..=MAX_ATTRIBUTES)
            .map(|i| format!(" a{i}=\"\""))
            .collect();
        assert_eq!(
            Document::parse_str(&format!("<a{many}/>")),
            Err(XmlError::TooManyAttributes {
                max: MAX_ATTRIBUTES
            })
        );
        assert_eq!(
            parse(
                b"<a>x<b/>y<c/></a>",
                &Limits {
                    max_bytes: 100,
                    max_depth: 5,
                    max_nodes: 3
                }
            ),
            Err(XmlError::TooManyNodes { max: 3 })
        );
    }

    #[test]
    fn strips_whitespace_and_writes_back() {
        let src = "<?xml version=\"1.0\"?>\n<r:a xmlns:r=\"u\" k=\"&quot;&#9;\">\n  <r:b> x &amp; y\r</r:b>\n  <r:c>  </r:c>\n<?pi data?><!--c--></r:a>";
        let mut d = p(src).expect("ok");
        d.strip_whitespace_text();
        let out = d.to_xml_string();
        assert_eq!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><r:a xmlns:r=\"u\" k=\"&quot;&#9;\"><r:b> x &amp; y\n</r:b><r:c/><?pi data?><!--c--></r:a>"
        );
        let again = p(&out).expect("reparse");
        assert_eq!(again, d);
    }

    /// Shadowing, `xmlns=""` and declarations going out of scope resolve the same whether
    /// prefixes are resolved by scanning the declarations in scope or through the index.
    #[test]
    fn many_declarations_in_scope_resolve_like_few() {
        let filler: String = (0..=SCAN_DECLS)
            .map(|i| format!(" xmlns:f{i:02}=\"urn:f{i}\""))
            .collect();
        for (on_root, on_m) in [("", ""), (filler.as_str(), ""), ("", filler.as_str())] {
            let d = p(&format!(
                concat!(
                    "<a:r xmlns:a=\"urn:a1\" xmlns=\"urn:d1\"{on_root}>",
                    "<m{on_m}><a:x a:at=\"1\" xmlns:a=\"urn:a2\"/><y xmlns=\"\"/><z/></m>",
                    "<a:w a:at=\"2\"/><v/></a:r>"
                ),
                on_root = on_root,
                on_m = on_m,
            ))
            .expect("well-formed");
            let r = &d.root;
            assert!(r.is("urn:a1", "r"));
            let m = r.first_child("urn:d1", "m").expect("m");
            let x = m
                .first_child("urn:a2", "x")
                .expect("own declaration applies to x");
            assert_eq!(x.attr_ns("urn:a2", "at"), Some("1"));
            let y = m.child_elements().nth(1).expect("y");
            assert_eq!((y.local.as_str(), y.ns.as_deref()), ("y", None));
            assert!(
                m.first_child("urn:d1", "z").is_some(),
                "xmlns=\"\" left scope"
            );
            let w = r
                .first_child("urn:a1", "w")
                .expect("x's declaration left scope");
            assert_eq!(w.attr_ns("urn:a1", "at"), Some("2"));
            assert!(r.first_child("urn:d1", "v").is_some());
        }
    }

    /// Resolving prefixes bound on the root below 62 levels of 256 declarations each costs
    /// about what resolving prefixes bound on the parent does. Resolution used to scan every
    /// declaration in scope, a few million comparisons per element here: about 45 s for a
    /// 16 MB document of this shape within the default limits.
    /// An empty CDATA section adds no text node, so the tree reads back the same from the
    /// writer's output (it used to leave an empty text node that the writer drops).
    #[test]
    fn empty_cdata_adds_no_text_node() {
        let d = p("<a><![CDATA[]]></a>").expect("ok");
        assert!(d.root.children.is_empty(), "{:?}", d.root.children);
        assert_eq!(p(&d.to_xml_string()).expect("reparse"), d);
        let d = p("<a>x<![CDATA[]]>y<![CDATA[]]><!--c--><![CDATA[]]></a>").expect("ok");
        assert_eq!(
            d.root.children,
            [Node::Text("xy".to_owned()), Node::Comment("c".to_owned())]
        );
        assert_eq!(p(&d.to_xml_string()).expect("reparse"), d);
        for outside in ["<![CDATA[]]><a/>", "<a/><![CDATA[]]>"] {
            assert_eq!(p(outside), Err(XmlError::TextOutsideRoot), "{outside}");
        }
    }

    #[test]
    fn carriage_return_round_trips_through_writer() {
        let d = p("<a b=\"&#13;\">x&#13;\ny</a>").expect("ok");
        let out = d.to_xml_string();
        assert!(out.ends_with("<a b=\"&#13;\">x&#13;\ny</a>"), "{out}");
        assert_eq!(p(&out).expect("reparse"), d);
    }
}
