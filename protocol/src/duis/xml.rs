//! Strict XML reader producing a small, owned tree.
//!
//! Why a tree of our own rather than a DOM crate: XML-DSig needs both inclusive and exclusive
//! C14N over exactly the nodes as received (namespace declarations as written, text as
//! written), and the DUIS reader needs namespace-resolved names. quick-xml tokenises; this
//! module keeps just what those two users need, with hard limits applied while reading.
//!
//! Refused: any DOCTYPE (so no DTD and no entity declarations), references to entities other
//! than the five predefined ones and character references, documents over
//! [`Limits::max_bytes`], nesting deeper than [`Limits::max_depth`], more than
//! [`Limits::max_nodes`] nodes, unbound prefixes, duplicate attributes, mismatched tags,
//! anything after the root element other than comments/PIs/whitespace.

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
        Limits { max_bytes: 16 * 1024 * 1024, max_depth: 64, max_nodes: 200_000 }
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsDecl {
    /// The declared prefix, or `None` for the default namespace.
    pub prefix: Option<String>,
    /// The namespace URI (may be empty for `xmlns=""`).
    pub uri: String,
}

/// An attribute other than a namespace declaration, with its value already unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// Prefix as written.
    pub prefix: Option<String>,
    /// Local name.
    pub local: String,
    /// Resolved namespace URI (unprefixed attributes have none).
    pub ns: Option<String>,
    /// Unescaped value.
    pub value: String,
}

/// An element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Prefix as written.
    pub prefix: Option<String>,
    /// Local name.
    pub local: String,
    /// Resolved namespace URI.
    pub ns: Option<String>,
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
