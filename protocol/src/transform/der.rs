//! Building ASN.1 DER payloads (the CS-series use cases, PROTOCOLS.md §4.6) through
//! [`crate::gbcs::payload::asn1`].

use crate::gbcs::payload::asn1::{Node, Tag, TagClass, universal};

/// An owned DER value, encoded through the payload module's [`Node`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Der {
    /// A primitive value.
    Primitive(Tag, Vec<u8>),
    /// A constructed value.
    Constructed(Tag, Vec<Der>),
    /// A complete DER value given as bytes (a certificate), checked by [`Der::raw`].
    Raw(Vec<u8>),
}

impl Der {
    /// INTEGER with the minimal two's-complement encoding of `v`.
    pub(crate) fn integer(v: i64) -> Der {
        Der::Primitive(Tag::universal(universal::INTEGER), integer_bytes(v))
    }

    /// OCTET STRING.
    pub(crate) fn octets(v: &[u8]) -> Der {
        Der::Primitive(Tag::universal(universal::OCTET_STRING), v.to_vec())
    }

    /// BIT STRING: the count of unused bits, then the bytes.
    pub(crate) fn bit_string(unused: u8, bytes: &[u8]) -> Der {
        let mut v = vec![unused];
        v.extend_from_slice(bytes);
        Der::Primitive(Tag::universal(universal::BIT_STRING), v)
    }

    /// GeneralizedTime from its text.
    pub(crate) fn generalized_time(text: &str) -> Der {
        Der::Primitive(
            Tag::universal(universal::GENERALIZED_TIME),
            text.as_bytes().to_vec(),
        )
    }

    /// SEQUENCE.
    pub(crate) fn sequence(items: Vec<Der>) -> Der {
        Der::Constructed(Tag::universal(universal::SEQUENCE), items)
    }

    /// `[n]` IMPLICIT, primitive, with these contents octets.
    pub(crate) fn context_primitive(n: u32, contents: Vec<u8>) -> Der {
        Der::Primitive(context_tag(n, false), contents)
    }

    /// `[n]` IMPLICIT INTEGER.
    pub(crate) fn context_integer(n: u32, v: i64) -> Der {
        Der::context_primitive(n, integer_bytes(v))
    }

    /// `[n]` IMPLICIT, constructed (a SEQUENCE with its tag replaced).
    pub(crate) fn context(n: u32, items: Vec<Der>) -> Der {
        Der::Constructed(context_tag(n, true), items)
    }

    /// A complete DER value, embedded as is (its length forms kept); `None` when `bytes` is
    /// not exactly one DER value.
    pub(crate) fn raw(bytes: &[u8]) -> Option<Der> {
        Node::decode(bytes).ok()?;
        Some(Der::Raw(bytes.to_vec()))
    }

    fn node(&self) -> Node<'_> {
        match self {
            Der::Primitive(tag, v) => Node::primitive(*tag, v),
            Der::Constructed(tag, items) => {
                Node::constructed(*tag, items.iter().map(Der::node).collect())
            }
            // Checked by `Der::raw`; an undecodable value (impossible) becomes a NULL.
            Der::Raw(b) => Node::decode(b)
                .unwrap_or_else(|_| Node::primitive(Tag::universal(universal::NULL), &[])),
        }
    }

    /// The DER encoding.
    pub(crate) fn encode(&self) -> Vec<u8> {
        self.node().to_bytes()
    }
}

fn context_tag(number: u32, constructed: bool) -> Tag {
    Tag {
        class: TagClass::ContextSpecific,
        constructed,
        number,
    }
}

/// The minimal two's-complement contents octets of `v`.
fn integer_bytes(v: i64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (x, next) = (b[start], b[start + 1]);
        if (x == 0x00 && next & 0x80 == 0) || (x == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    b[start..].to_vec()
}

/// The DER NULL (`05 00`): a request with no parameters.
pub(crate) fn null() -> Vec<u8> {
    Der::Primitive(Tag::universal(universal::NULL), Vec::new()).encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal() {
        for (v, hex) in [
            (0, "020100"),
            (5, "020105"),
            (127, "02017f"),
            (128, "02020080"),
            (-1, "0201ff"),
            (-129, "0202ff7f"),
            (i64::MAX, "02087fffffffffffffff"),
        ] {
            assert_eq!(crate::hex::encode(&Der::integer(v).encode()), hex, "{v}");
        }
        assert_eq!(null(), [0x05, 0x00]);
        assert_eq!(
            crate::hex::encode(&Der::context_integer(3, 1000).encode()),
            "830203e8"
        );
        assert!(Der::raw(&[0x30, 0x03, 0x02, 0x01]).is_none());
        let raw = Der::raw(&[0x30, 0x81, 0x03, 0x02, 0x01, 0x05]).unwrap();
        // Embedded as written, non-minimal length included.
        assert_eq!(
            crate::hex::encode(&Der::sequence(vec![raw]).encode()),
            "3006308103020105"
        );
    }
}
