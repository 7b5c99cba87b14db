//! ASN.1 DER payloads (the CS-series security and firmware use cases, PROTOCOLS.md §4.6): a
//! generic TLV tree.
//!
//! The decoder enforces DER: definite lengths, minimal tag numbers, primitive encodings for
//! every universal type but SEQUENCE and SET (which must be constructed), and the value rules
//! of BOOLEAN, INTEGER, ENUMERATED, NULL, OBJECT IDENTIFIER and BIT STRING. One relaxation:
//! a length may use more bytes than needed (real CS02 credential payloads write lengths of
//! 128–255 as `82 00 nn`). The [`LengthForm`] is kept so that re-encoding is byte-identical,
//! and [`Node::is_der`] tells whether every length was minimal.

use serde_json::{Value, json};

use super::cursor::Cursor;
use super::error::PayloadError;
use super::length::{LengthForm, write_length};
use crate::hex;

/// Deepest nesting the decoder accepts.
pub const MAX_DEPTH: usize = 32;

/// The class bits of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagClass {
    /// `00`.
    Universal,
    /// `01`.
    Application,
    /// `10`.
    ContextSpecific,
    /// `11`.
    Private,
}

impl TagClass {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            TagClass::Universal => "universal",
            TagClass::Application => "application",
            TagClass::ContextSpecific => "context-specific",
            TagClass::Private => "private",
        }
    }

    fn bits(self) -> u8 {
        match self {
            TagClass::Universal => 0x00,
            TagClass::Application => 0x40,
            TagClass::ContextSpecific => 0x80,
            TagClass::Private => 0xc0,
        }
    }
}

/// A DER identifier: class, constructed flag and tag number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag {
    /// Class.
    pub class: TagClass,
    /// Constructed (children) or primitive (a value).
    pub constructed: bool,
    /// Tag number.
    pub number: u32,
}

/// Universal tag numbers with special rules or names.
pub mod universal {
    /// BOOLEAN.
    pub const BOOLEAN: u32 = 1;
    /// INTEGER.
    pub const INTEGER: u32 = 2;
    /// BIT STRING.
    pub const BIT_STRING: u32 = 3;
    /// OCTET STRING.
    pub const OCTET_STRING: u32 = 4;
    /// NULL.
    pub const NULL: u32 = 5;
    /// OBJECT IDENTIFIER.
    pub const OBJECT_IDENTIFIER: u32 = 6;
    /// ENUMERATED.
    pub const ENUMERATED: u32 = 10;
    /// UTF8String.
    pub const UTF8_STRING: u32 = 12;
    /// RELATIVE-OID.
    pub const RELATIVE_OID: u32 = 13;
    /// SEQUENCE.
    pub const SEQUENCE: u32 = 16;
    /// SET.
    pub const SET: u32 = 17;
    /// UTCTime.
    pub const UTC_TIME: u32 = 23;
    /// GeneralizedTime.
    pub const GENERALIZED_TIME: u32 = 24;
}

impl Tag {
    /// The universal tag `number` (primitive, except SEQUENCE and SET).
    pub fn universal(number: u32) -> Self {
        Tag {
            class: TagClass::Universal,
            constructed: matches!(number, universal::SEQUENCE | universal::SET),
            number,
        }
    }

    /// A readable name: `SEQUENCE`, `INTEGER`, `[0]`, `[APPLICATION 3]`, `[PRIVATE 1]`.
    pub fn name(&self) -> String {
        match self.class {
            TagClass::Universal => universal_name(self.number)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("[UNIVERSAL {}]", self.number)),
            TagClass::Application => format!("[APPLICATION {}]", self.number),
            TagClass::ContextSpecific => format!("[{}]", self.number),
            TagClass::Private => format!("[PRIVATE {}]", self.number),
        }
    }

    fn read(c: &mut Cursor<'_>) -> Result<Self, PayloadError> {
        let offset = c.offset();
        let b = c.u8("ASN.1 identifier")?;
        let class = match b >> 6 {
            0 => TagClass::Universal,
            1 => TagClass::Application,
            2 => TagClass::ContextSpecific,
            _ => TagClass::Private,
        };
        let constructed = b & 0x20 != 0;
        let mut number = u32::from(b & 0x1f);
        if number == 0x1f {
            number = 0;
            for i in 0.. {
                let o = c.offset();
                let x = c.u8("ASN.1 tag number")?;
                if (i == 0 && x == 0x80) || i >= 4 {
                    return Err(PayloadError::Unexpected {
                        offset: o,
                        what: "ASN.1 tag number",
                        found: u64::from(x),
                        expected: "a minimal base-128 tag number of at most 4 bytes",
                    });
                }
                number = (number << 7) | u32::from(x & 0x7f);
                if x & 0x80 == 0 {
                    break;
                }
            }
            if number < 0x1f {
                return Err(PayloadError::Unexpected {
                    offset,
                    what: "ASN.1 tag number",
                    found: u64::from(number),
                    expected: "the short form for tag numbers below 31",
                });
            }
        }
        Ok(Tag {
            class,
            constructed,
            number,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        let first = self.class.bits() | if self.constructed { 0x20 } else { 0 };
        if self.number < 0x1f {
            out.push(first | self.number as u8);
            return;
        }
        out.push(first | 0x1f);
        let mut groups = Vec::with_capacity(5);
        let mut n = self.number;
        loop {
            groups.push((n & 0x7f) as u8);
            n >>= 7;
            if n == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().enumerate().rev() {
            out.push(if i == 0 { *g } else { g | 0x80 });
        }
    }
}

fn universal_name(n: u32) -> Option<&'static str> {
    Some(match n {
        1 => "BOOLEAN",
        2 => "INTEGER",
        3 => "BIT STRING",
        4 => "OCTET STRING",
        5 => "NULL",
        6 => "OBJECT IDENTIFIER",
        7 => "ObjectDescriptor",
        8 => "EXTERNAL",
        9 => "REAL",
        10 => "ENUMERATED",
        11 => "EMBEDDED PDV",
        12 => "UTF8String",
        13 => "RELATIVE-OID",
        16 => "SEQUENCE",
        17 => "SET",
        18 => "NumericString",
        19 => "PrintableString",
        20 => "TeletexString",
        21 => "VideotexString",
        22 => "IA5String",
        23 => "UTCTime",
        24 => "GeneralizedTime",
        25 => "GraphicString",
        26 => "VisibleString",
        27 => "GeneralString",
        28 => "UniversalString",
        30 => "BMPString",
        _ => return None,
    })
}

/// One TLV. Primitive nodes have a value and no children; constructed nodes have children
/// (and `value` is the raw bytes they were decoded from).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node<'a> {
    /// The identifier.
    pub tag: Tag,
    /// How the length was written (minimal unless the input used a longer form).
    pub length_form: LengthForm,
    /// The contents octets.
    pub value: &'a [u8],
    /// Children of a constructed node.
    pub children: Vec<Node<'a>>,
}

impl<'a> Node<'a> {
    /// Decodes exactly one TLV filling `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, PayloadError> {
        let mut c = Cursor::new(bytes);
        let n = Node::read(&mut c, 0)?;
        c.finish("the ASN.1 value")?;
        Ok(n)
    }

    /// A primitive node with a minimal length.
    pub fn primitive(tag: Tag, value: &'a [u8]) -> Self {
        Node {
            tag,
            length_form: LengthForm::minimal(value.len()),
            value,
            children: Vec::new(),
        }
    }

    /// A constructed node; its length is computed when encoding.
    pub fn constructed(tag: Tag, children: Vec<Node<'a>>) -> Self {
        Node {
            tag: Tag {
                constructed: true,
                ..tag
            },
            length_form: LengthForm::Short,
            value: &[],
            children,
        }
    }

    pub(crate) fn read(c: &mut Cursor<'a>, depth: usize) -> Result<Self, PayloadError> {
        if depth > MAX_DEPTH {
            return Err(PayloadError::TooDeep {
                offset: c.offset(),
                limit: MAX_DEPTH,
            });
        }
        let offset = c.offset();
        let tag = Tag::read(c)?;
        let len_offset = c.offset();
        let (len, length_form) = c.length_any("ASN.1 length")?;
        if len > c.remaining() {
            return Err(PayloadError::Length {
                offset: len_offset,
                what: "ASN.1 length",
                declared: len,
                expected: format!("at most the {} byte(s) that remain", c.remaining()),
            });
        }
        let mut inner = c.sub(len, "ASN.1 contents")?;
        let value_offset = inner.offset();
        let value = inner.rest();
        check_universal(&tag, value, offset, value_offset)?;
        let mut children = Vec::new();
        if tag.constructed {
            while !inner.is_empty() {
                children.push(Node::read(&mut inner, depth + 1)?);
            }
        }
        Ok(Node {
            tag,
            length_form,
            value,
            children,
        })
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.tag.write(out);
        if self.tag.constructed {
            let mut body = Vec::new();
            for ch in &self.children {
                ch.encode(&mut body);
            }
            write_length(out, body.len(), self.length_form);
            out.extend_from_slice(&body);
        } else {
            write_length(out, self.value.len(), self.length_form);
            out.extend_from_slice(self.value);
        }
    }

    /// The encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Whether every length in the tree uses the minimal form (strict DER).
    pub fn is_der(&self) -> bool {
        let len = if self.tag.constructed {
            self.children.iter().map(|c| c.encoded_len()).sum()
        } else {
            self.value.len()
        };
        self.length_form.is_minimal_for(len) && self.children.iter().all(Node::is_der)
    }

    fn encoded_len(&self) -> usize {
        self.to_bytes().len()
    }

    /// A JSON description: tag name, class, constructed flag, number, length, and either
    /// children or the value (hex, plus a decoded form for common universal types).
    pub fn to_json(&self) -> Value {
        let mut o = json!({
            "tag": self.tag.name(),
            "class": self.tag.class.name(),
            "constructed": self.tag.constructed,
            "number": self.tag.number,
            "length": self.value.len(),
        });
        if let LengthForm::Long(n) = self.length_form
            && !self.length_form.is_minimal_for(self.value.len())
        {
            o["length_bytes"] = json!(n);
        }
        if self.tag.constructed {
            o["children"] = Value::Array(self.children.iter().map(Node::to_json).collect());
        } else {
            o["value"] = json!(hex::encode(self.value));
            if let Some(d) = self.decoded() {
                o["decoded"] = d;
            }
        }
        o
    }

    fn decoded(&self) -> Option<Value> {
        if self.tag.class != TagClass::Universal {
            return None;
        }
        let v = self.value;
        match self.tag.number {
            universal::BOOLEAN => Some(json!(v.first() == Some(&0xff))),
            universal::INTEGER | universal::ENUMERATED if v.len() <= 8 => {
                let neg = v.first().is_some_and(|b| b & 0x80 != 0);
                let init: i64 = if neg { -1 } else { 0 };
                Some(json!(
                    v.iter().fold(init, |acc, &b| (acc << 8) | i64::from(b))
                ))
            }
            universal::OBJECT_IDENTIFIER => Some(json!(oid_string(v))),
            universal::BIT_STRING => v
                .split_first()
                .map(|(unused, bits)| json!({"unused_bits": unused, "bits": hex::encode(bits)})),
            12 | 18 | 19 | 20 | 22 | 23 | 24 | 26 => std::str::from_utf8(v).ok().map(|s| json!(s)),
            _ => None,
        }
    }
}

/// Dotted form of an OBJECT IDENTIFIER's contents (already checked by the decoder).
fn oid_string(v: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut cur: u64 = 0;
    for &b in v {
        cur = (cur << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (cur / 40).min(2);
                arcs.push(first);
                arcs.push(cur - first * 40);
            } else {
                arcs.push(cur);
            }
            cur = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The DER rules for universal types.
fn check_universal(
    tag: &Tag,
    v: &[u8],
    offset: usize,
    value_offset: usize,
) -> Result<(), PayloadError> {
    if tag.class != TagClass::Universal {
        return Ok(());
    }
    let invalid = |offset, detail| {
        Err(PayloadError::Invalid {
            offset,
            what: "ASN.1 value",
            detail,
        })
    };
    let n = tag.number;
    if n == 0 {
        return invalid(
            offset,
            "universal tag 0 (end-of-contents) is not allowed in DER",
        );
    }
    let must_construct = matches!(n, universal::SEQUENCE | universal::SET);
    if tag.constructed != must_construct {
        return invalid(
            offset,
            if must_construct {
                "SEQUENCE and SET must use the constructed form"
            } else {
                "DER requires the primitive form for this universal type"
            },
        );
    }
    match n {
        universal::BOOLEAN if v != [0x00] && v != [0xff] => {
            invalid(value_offset, "a DER BOOLEAN is one byte, 00 or ff")
        }
        universal::INTEGER | universal::ENUMERATED => match v {
            [] => invalid(value_offset, "an INTEGER needs at least one byte"),
            [0x00, b, ..] if b & 0x80 == 0 => invalid(value_offset, "INTEGER is not minimal"),
            [0xff, b, ..] if b & 0x80 != 0 => invalid(value_offset, "INTEGER is not minimal"),
            _ => Ok(()),
        },
        universal::NULL if !v.is_empty() => invalid(value_offset, "NULL must be empty"),
        universal::OBJECT_IDENTIFIER | universal::RELATIVE_OID => {
            if v.last().is_none_or(|b| b & 0x80 != 0) {
                return invalid(
                    value_offset,
                    "an OBJECT IDENTIFIER must end with a complete arc",
                );
            }
            let mut at_start = true;
            for &b in v {
                if at_start && b == 0x80 {
                    return invalid(value_offset, "OBJECT IDENTIFIER arc is not minimal");
                }
                at_start = b & 0x80 == 0;
            }
            Ok(())
        }
        universal::BIT_STRING => match v {
            [] => invalid(value_offset, "a BIT STRING needs its unused-bits byte"),
            [u, ..] if *u > 7 => invalid(value_offset, "unused-bits count above 7"),
            [u] if *u != 0 => invalid(value_offset, "an empty BIT STRING has no unused bits"),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_round_trip_and_names() {
        let bytes = [0x30, 0x82, 0x00, 0x06, 0x02, 0x01, 0x05, 0x9f, 0x21, 0x00];
        let n = Node::decode(&bytes).expect("decodes");
        assert_eq!(n.tag.name(), "SEQUENCE");
        assert!(!n.is_der());
        assert_eq!(n.children.len(), 2);
        assert_eq!(n.children[1].tag.number, 33);
        assert_eq!(n.children[1].tag.name(), "[33]");
        assert_eq!(n.to_bytes(), bytes);
        assert_eq!(n.to_json()["children"][0]["decoded"], 5);
    }

    #[test]
    fn der_rules() {
        for bad in [
            &[0x02, 0x02, 0x00, 0x05][..],
            &[0x01, 0x01, 0x01],
            &[0x05, 0x01, 0x00],
            &[0x24, 0x00],
            &[0x10, 0x00],
            &[0x1f, 0x05, 0x00],
            &[0x1f, 0x80, 0x21, 0x00],
            &[0x06, 0x01, 0x81],
            &[0x03, 0x01, 0x01],
            &[0x04, 0x80, 0x00, 0x00],
            &[0x04, 0x02, 0x00],
            &[0x00, 0x00],
        ] {
            assert!(Node::decode(bad).is_err(), "{bad:02x?}");
        }
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
            "1.2.840.10045.2.1"
        );
    }
}
