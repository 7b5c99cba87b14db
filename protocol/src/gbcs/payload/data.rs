//! DLMS COSEM `Data` in A-XDR: a tag byte and a value, decoded to a typed tree.
//!
//! Lengths and counts use the minimal A-XDR form. Booleans must be `00` or `FF`, the bytes a
//! COSEM encoder writes; anything else is rejected so that re-encoding stays byte-identical.
//! Compact arrays are decoded element by element from their type description.

use serde_json::{Value, json};

use super::block::Writer;
use super::cursor::Cursor;
use super::error::PayloadError;
use super::length::{LengthForm, write_length};
use super::render::Render;
use crate::gbcs::CosemDateTime;

/// Deepest nesting of arrays, structures and type descriptions the decoder accepts.
pub const MAX_DEPTH: usize = 32;

/// A-XDR tags of the `Data` choice.
pub mod tag {
    /// `null-data`.
    pub const NULL: u8 = 0;
    /// `array`.
    pub const ARRAY: u8 = 1;
    /// `structure`.
    pub const STRUCTURE: u8 = 2;
    /// `boolean`.
    pub const BOOLEAN: u8 = 3;
    /// `bit-string`.
    pub const BIT_STRING: u8 = 4;
    /// `double-long` (i32).
    pub const DOUBLE_LONG: u8 = 5;
    /// `double-long-unsigned` (u32).
    pub const DOUBLE_LONG_UNSIGNED: u8 = 6;
    /// `octet-string`.
    pub const OCTET_STRING: u8 = 9;
    /// `visible-string`.
    pub const VISIBLE_STRING: u8 = 10;
    /// `utf8-string`.
    pub const UTF8_STRING: u8 = 12;
    /// `bcd` (one byte).
    pub const BCD: u8 = 13;
    /// `integer` (i8).
    pub const INTEGER: u8 = 15;
    /// `long` (i16).
    pub const LONG: u8 = 16;
    /// `unsigned` (u8).
    pub const UNSIGNED: u8 = 17;
    /// `long-unsigned` (u16).
    pub const LONG_UNSIGNED: u8 = 18;
    /// `compact-array`.
    pub const COMPACT_ARRAY: u8 = 19;
    /// `long64` (i64).
    pub const LONG64: u8 = 20;
    /// `long64-unsigned` (u64).
    pub const LONG64_UNSIGNED: u8 = 21;
    /// `enum` (u8).
    pub const ENUM: u8 = 22;
    /// `float32`.
    pub const FLOAT32: u8 = 23;
    /// `float64`.
    pub const FLOAT64: u8 = 24;
    /// `date-time` (12 bytes).
    pub const DATE_TIME: u8 = 25;
    /// `date` (5 bytes).
    pub const DATE: u8 = 26;
    /// `time` (4 bytes).
    pub const TIME: u8 = 27;
    /// `dont-care`.
    pub const DONT_CARE: u8 = 255;
}

/// The name DLMS gives a `Data` tag, or `None` for tags outside the choice.
pub fn tag_name(t: u8) -> Option<&'static str> {
    Some(match t {
        tag::NULL => "null-data",
        tag::ARRAY => "array",
        tag::STRUCTURE => "structure",
        tag::BOOLEAN => "boolean",
        tag::BIT_STRING => "bit-string",
        tag::DOUBLE_LONG => "double-long",
        tag::DOUBLE_LONG_UNSIGNED => "double-long-unsigned",
        tag::OCTET_STRING => "octet-string",
        tag::VISIBLE_STRING => "visible-string",
        tag::UTF8_STRING => "utf8-string",
        tag::BCD => "bcd",
        tag::INTEGER => "integer",
        tag::LONG => "long",
        tag::UNSIGNED => "unsigned",
        tag::LONG_UNSIGNED => "long-unsigned",
        tag::COMPACT_ARRAY => "compact-array",
        tag::LONG64 => "long64",
        tag::LONG64_UNSIGNED => "long64-unsigned",
        tag::ENUM => "enum",
        tag::FLOAT32 => "float32",
        tag::FLOAT64 => "float64",
        tag::DATE_TIME => "date-time",
        tag::DATE => "date",
        tag::TIME => "time",
        tag::DONT_CARE => "dont-care",
        _ => return None,
    })
}

/// A COSEM date (5 bytes): year (u16 BE), month, day of month, day of week; `FF` (and
/// `FFFF` for the year) means not specified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CosemDate {
    /// Year, `0xFFFF` when not specified.
    pub year: u16,
    /// Month.
    pub month: u8,
    /// Day of month.
    pub day: u8,
    /// Day of week.
    pub day_of_week: u8,
}

impl CosemDate {
    /// Decodes the 5 bytes.
    pub fn from_bytes(b: &[u8; 5]) -> Self {
        CosemDate {
            year: u16::from_be_bytes([b[0], b[1]]),
            month: b[2],
            day: b[3],
            day_of_week: b[4],
        }
    }

    /// The 5 wire bytes.
    pub fn to_bytes(&self) -> [u8; 5] {
        let y = self.year.to_be_bytes();
        [y[0], y[1], self.month, self.day, self.day_of_week]
    }
}

impl std::fmt::Display for CosemDate {
    /// `YYYY-MM-DD`, unspecified fields as `*`; a specified day of week is appended as `/N`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.year == 0xffff {
            f.write_str("****")?;
        } else {
            write!(f, "{:04}", self.year)?;
        }
        write!(f, "-{}-{}", field(self.month), field(self.day))?;
        if self.day_of_week != 0xff {
            write!(f, "/{}", self.day_of_week)?;
        }
        Ok(())
    }
}

/// Two digits, or `**` for the "not specified" value `FF`.
fn field(v: u8) -> String {
    if v == 0xff {
        "**".to_owned()
    } else {
        format!("{v:02}")
    }
}

/// A COSEM time (4 bytes): hour, minute, second, hundredths; `FF` means not specified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CosemTime {
    /// Hour.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
    /// Hundredths of a second.
    pub hundredths: u8,
}

impl CosemTime {
    /// Decodes the 4 bytes.
    pub fn from_bytes(b: &[u8; 4]) -> Self {
        CosemTime {
            hour: b[0],
            minute: b[1],
            second: b[2],
            hundredths: b[3],
        }
    }

    /// The 4 wire bytes.
    pub fn to_bytes(&self) -> [u8; 4] {
        [self.hour, self.minute, self.second, self.hundredths]
    }
}

impl std::fmt::Display for CosemTime {
    /// `HH:MM:SS.hh`, unspecified fields as `**`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}.{}",
            field(self.hour),
            field(self.minute),
            field(self.second),
            field(self.hundredths)
        )
    }
}

/// A bit-string: a bit count and the `ceil(bits / 8)` bytes holding them, first bit in the
/// most significant bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BitString<'a> {
    /// Number of bits.
    pub bits: usize,
    /// The bytes.
    pub bytes: &'a [u8],
}

/// The type description of a compact array.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeDescription {
    /// A simple type, named by its `Data` tag (not array, structure or compact-array).
    Simple(u8),
    /// `array`: a fixed number of elements of one type.
    Array {
        /// Number of elements.
        count: u16,
        /// The element type.
        element: Box<TypeDescription>,
    },
    /// `structure`: one entry per member.
    Structure(Vec<TypeDescription>),
}

impl TypeDescription {
    fn read(c: &mut Cursor<'_>, depth: usize) -> Result<Self, PayloadError> {
        if depth > MAX_DEPTH {
            return Err(PayloadError::TooDeep {
                offset: c.offset(),
                limit: MAX_DEPTH,
            });
        }
        let offset = c.offset();
        let t = c.u8("type-description tag")?;
        match t {
            tag::ARRAY => {
                let count = c.u16("type-description array element count")?;
                let elem_offset = c.offset();
                let element = TypeDescription::read(c, depth + 1)?;
                if count > 0 && element.min_size() == 0 {
                    return Err(PayloadError::Invalid {
                        offset: elem_offset,
                        what: "type-description array element",
                        detail: "an element type that occupies no bytes cannot be repeated",
                    });
                }
                Ok(TypeDescription::Array {
                    count,
                    element: Box::new(element),
                })
            }
            tag::STRUCTURE => {
                let n = c.count("type-description structure member count", 1)?;
                let mut members = Vec::with_capacity(n);
                for _ in 0..n {
                    members.push(TypeDescription::read(c, depth + 1)?);
                }
                Ok(TypeDescription::Structure(members))
            }
            tag::COMPACT_ARRAY => Err(PayloadError::Unexpected {
                offset,
                what: "type-description tag",
                found: u64::from(t),
                expected: "a simple type, array or structure (compact arrays do not nest)",
            }),
            _ if tag_name(t).is_some() => Ok(TypeDescription::Simple(t)),
            _ => Err(PayloadError::Unexpected {
                offset,
                what: "type-description tag",
                found: u64::from(t),
                expected: "a DLMS Data tag",
            }),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            TypeDescription::Simple(t) => out.push(*t),
            TypeDescription::Array { count, element } => {
                out.push(tag::ARRAY);
                out.extend_from_slice(&count.to_be_bytes());
                element.write(out);
            }
            TypeDescription::Structure(members) => {
                out.push(tag::STRUCTURE);
                write_length(out, members.len(), LengthForm::minimal(members.len()));
                for m in members {
                    m.write(out);
                }
            }
        }
    }

    /// The fewest bytes one value of this type occupies in compact-array contents.
    pub fn min_size(&self) -> usize {
        match self {
            TypeDescription::Simple(t) => fixed_size(*t).unwrap_or(1),
            TypeDescription::Array { count, element } => {
                usize::from(*count).saturating_mul(element.min_size())
            }
            TypeDescription::Structure(members) => members
                .iter()
                .fold(0usize, |acc, m| acc.saturating_add(m.min_size())),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            TypeDescription::Simple(t) => json!(tag_name(*t).unwrap_or("unknown")),
            TypeDescription::Array { count, element } => {
                json!({"array": {"count": count, "element": element.to_json()}})
            }
            TypeDescription::Structure(members) => {
                json!({"structure": members.iter().map(TypeDescription::to_json).collect::<Vec<_>>()})
            }
        }
    }
}

/// A compact array: a type description and the elements decoded with it.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactArray<'a> {
    /// The type of every element.
    pub description: TypeDescription,
    /// The elements, as `Data` values of that type.
    pub elements: Vec<Data<'a>>,
}

/// A DLMS COSEM `Data` value. Strings and byte strings borrow the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Data<'a> {
    /// `null-data`.
    Null,
    /// `array`.
    Array(Vec<Data<'a>>),
    /// `structure`.
    Structure(Vec<Data<'a>>),
    /// `boolean` (`00` or `FF` on the wire).
    Boolean(bool),
    /// `bit-string`.
    BitString(BitString<'a>),
    /// `double-long`.
    DoubleLong(i32),
    /// `double-long-unsigned`.
    DoubleLongUnsigned(u32),
    /// `octet-string`.
    OctetString(&'a [u8]),
    /// `visible-string`: the raw bytes (normally printable ASCII).
    VisibleString(&'a [u8]),
    /// `utf8-string`.
    Utf8String(&'a str),
    /// `bcd`.
    Bcd(u8),
    /// `integer`.
    Integer(i8),
    /// `long`.
    Long(i16),
    /// `unsigned`.
    Unsigned(u8),
    /// `long-unsigned`.
    LongUnsigned(u16),
    /// `compact-array`.
    CompactArray(CompactArray<'a>),
    /// `long64`.
    Long64(i64),
    /// `long64-unsigned`.
    Long64Unsigned(u64),
    /// `enum`.
    Enum(u8),
    /// `float32`.
    Float32(f32),
    /// `float64`.
    Float64(f64),
    /// `date-time`.
    DateTime(CosemDateTime),
    /// `date`.
    Date(CosemDate),
    /// `time`.
    Time(CosemTime),
    /// `dont-care`.
    DontCare,
}

/// Size of a fixed-size simple type, `None` for variable-size and constructed types.
fn fixed_size(t: u8) -> Option<usize> {
    Some(match t {
        tag::NULL | tag::DONT_CARE => 0,
        tag::BOOLEAN | tag::BCD | tag::INTEGER | tag::UNSIGNED | tag::ENUM => 1,
        tag::LONG | tag::LONG_UNSIGNED => 2,
        tag::DOUBLE_LONG | tag::DOUBLE_LONG_UNSIGNED | tag::FLOAT32 | tag::TIME => 4,
        tag::DATE => 5,
        tag::LONG64 | tag::LONG64_UNSIGNED | tag::FLOAT64 => 8,
        tag::DATE_TIME => 12,
        _ => return None,
    })
}

impl<'a> Data<'a> {
    /// Decodes exactly one `Data` value filling `bytes`. Offsets in errors are relative to
    /// `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, PayloadError> {
        let mut c = Cursor::new(bytes);
        let d = Data::read(&mut c, 0)?;
        c.finish("DLMS Data")?;
        Ok(d)
    }

    /// Reads one tagged value.
    pub(crate) fn read(c: &mut Cursor<'a>, depth: usize) -> Result<Self, PayloadError> {
        if depth > MAX_DEPTH {
            return Err(PayloadError::TooDeep {
                offset: c.offset(),
                limit: MAX_DEPTH,
            });
        }
        let offset = c.offset();
        let t = c.u8("Data tag")?;
        match t {
            tag::ARRAY | tag::STRUCTURE => {
                let n = c.count(
                    if t == tag::ARRAY {
                        "array element count"
                    } else {
                        "structure member count"
                    },
                    1,
                )?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(Data::read(c, depth + 1)?);
                }
                Ok(if t == tag::ARRAY {
                    Data::Array(items)
                } else {
                    Data::Structure(items)
                })
            }
            tag::COMPACT_ARRAY => {
                let description = TypeDescription::read(c, depth + 1)?;
                let mut contents = c.length_prefixed_cursor("compact-array contents")?;
                let min = description.min_size();
                if min == 0 && !contents.is_empty() {
                    return Err(PayloadError::Invalid {
                        offset: contents.offset(),
                        what: "compact-array contents",
                        detail: "the element type occupies no bytes but contents are present",
                    });
                }
                let mut elements = Vec::with_capacity(contents.remaining() / min.max(1));
                while !contents.is_empty() {
                    elements.push(Data::read_described(
                        &mut contents,
                        &description,
                        depth + 1,
                    )?);
                }
                Ok(Data::CompactArray(CompactArray {
                    description,
                    elements,
                }))
            }
            _ if tag_name(t).is_some() => Data::read_value(c, t),
            _ => Err(PayloadError::Unexpected {
                offset,
                what: "Data tag",
                found: u64::from(t),
                expected: "a DLMS Data tag (0-6, 9, 10, 12, 13, 15-27 or 255)",
            }),
        }
    }

    /// Reads the value of a simple type whose tag is already known.
    fn read_value(c: &mut Cursor<'a>, t: u8) -> Result<Self, PayloadError> {
        Ok(match t {
            tag::NULL => Data::Null,
            tag::DONT_CARE => Data::DontCare,
            tag::BOOLEAN => {
                let offset = c.offset();
                match c.u8("boolean")? {
                    0x00 => Data::Boolean(false),
                    0xff => Data::Boolean(true),
                    b => {
                        return Err(PayloadError::Unexpected {
                            offset,
                            what: "boolean",
                            found: u64::from(b),
                            expected: "00 (false) or ff (true)",
                        });
                    }
                }
            }
            tag::BIT_STRING => {
                let offset = c.offset();
                let bits = c.length_minimal("bit-string bit count")?;
                let n = bits.div_ceil(8);
                if n > c.remaining() {
                    return Err(PayloadError::Length {
                        offset,
                        what: "bit-string bit count",
                        declared: bits,
                        expected: format!(
                            "at most {} bits ({} bytes remain)",
                            c.remaining() * 8,
                            c.remaining()
                        ),
                    });
                }
                Data::BitString(BitString {
                    bits,
                    bytes: c.take(n, "bit-string")?,
                })
            }
            tag::DOUBLE_LONG => Data::DoubleLong(i32::from_be_bytes(c.array("double-long")?)),
            tag::DOUBLE_LONG_UNSIGNED => Data::DoubleLongUnsigned(c.u32("double-long-unsigned")?),
            tag::OCTET_STRING => Data::OctetString(c.length_prefixed("octet-string")?),
            tag::VISIBLE_STRING => Data::VisibleString(c.length_prefixed("visible-string")?),
            tag::UTF8_STRING => {
                let offset = c.offset();
                let b = c.length_prefixed("utf8-string")?;
                Data::Utf8String(std::str::from_utf8(b).map_err(|_| PayloadError::Invalid {
                    offset,
                    what: "utf8-string",
                    detail: "not valid UTF-8",
                })?)
            }
            tag::BCD => Data::Bcd(c.u8("bcd")?),
            tag::INTEGER => Data::Integer(i8::from_be_bytes(c.array("integer")?)),
            tag::LONG => Data::Long(i16::from_be_bytes(c.array("long")?)),
            tag::UNSIGNED => Data::Unsigned(c.u8("unsigned")?),
            tag::LONG_UNSIGNED => Data::LongUnsigned(c.u16("long-unsigned")?),
            tag::LONG64 => Data::Long64(i64::from_be_bytes(c.array("long64")?)),
            tag::LONG64_UNSIGNED => Data::Long64Unsigned(c.u64("long64-unsigned")?),
            tag::ENUM => Data::Enum(c.u8("enum")?),
            tag::FLOAT32 => Data::Float32(f32::from_bits(c.u32("float32")?)),
            tag::FLOAT64 => Data::Float64(f64::from_bits(c.u64("float64")?)),
            tag::DATE_TIME => Data::DateTime(CosemDateTime::from_bytes(&c.array("date-time")?)),
            tag::DATE => Data::Date(CosemDate::from_bytes(&c.array("date")?)),
            tag::TIME => Data::Time(CosemTime::from_bytes(&c.array("time")?)),
            _ => {
                return Err(PayloadError::Unexpected {
                    offset: c.offset(),
                    what: "Data tag",
                    found: u64::from(t),
                    expected: "a simple DLMS Data type",
                });
            }
        })
    }

    /// Reads one untagged value of type `desc` from compact-array contents.
    fn read_described(
        c: &mut Cursor<'a>,
        desc: &TypeDescription,
        depth: usize,
    ) -> Result<Self, PayloadError> {
        if depth > MAX_DEPTH {
            return Err(PayloadError::TooDeep {
                offset: c.offset(),
                limit: MAX_DEPTH,
            });
        }
        match desc {
            TypeDescription::Simple(t) => Data::read_value(c, *t),
            TypeDescription::Array { count, element } => {
                let n = usize::from(*count);
                let mut items = Vec::with_capacity(n.min(c.remaining()));
                for _ in 0..n {
                    items.push(Data::read_described(c, element, depth + 1)?);
                }
                Ok(Data::Array(items))
            }
            TypeDescription::Structure(members) => {
                let mut items = Vec::with_capacity(members.len());
                for m in members {
                    items.push(Data::read_described(c, m, depth + 1)?);
                }
                Ok(Data::Structure(items))
            }
        }
    }

    /// The A-XDR tag of this value.
    pub fn tag(&self) -> u8 {
        match self {
            Data::Null => tag::NULL,
            Data::Array(_) => tag::ARRAY,
            Data::Structure(_) => tag::STRUCTURE,
            Data::Boolean(_) => tag::BOOLEAN,
            Data::BitString(_) => tag::BIT_STRING,
            Data::DoubleLong(_) => tag::DOUBLE_LONG,
            Data::DoubleLongUnsigned(_) => tag::DOUBLE_LONG_UNSIGNED,
            Data::OctetString(_) => tag::OCTET_STRING,
            Data::VisibleString(_) => tag::VISIBLE_STRING,
            Data::Utf8String(_) => tag::UTF8_STRING,
            Data::Bcd(_) => tag::BCD,
            Data::Integer(_) => tag::INTEGER,
            Data::Long(_) => tag::LONG,
            Data::Unsigned(_) => tag::UNSIGNED,
            Data::LongUnsigned(_) => tag::LONG_UNSIGNED,
            Data::CompactArray(_) => tag::COMPACT_ARRAY,
            Data::Long64(_) => tag::LONG64,
            Data::Long64Unsigned(_) => tag::LONG64_UNSIGNED,
            Data::Enum(_) => tag::ENUM,
            Data::Float32(_) => tag::FLOAT32,
            Data::Float64(_) => tag::FLOAT64,
            Data::DateTime(_) => tag::DATE_TIME,
            Data::Date(_) => tag::DATE,
            Data::Time(_) => tag::TIME,
            Data::DontCare => tag::DONT_CARE,
        }
    }

    /// The DLMS name of this value's type (`"long-unsigned"`, …).
    pub fn type_name(&self) -> &'static str {
        tag_name(self.tag()).unwrap_or("unknown")
    }

    /// Appends the A-XDR encoding (tag and value).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(std::mem::take(out));
        self.write(&mut w);
        *out = w.out;
    }

    /// The A-XDR encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Writes the tag and the value.
    pub(crate) fn write(&self, w: &mut Writer) {
        w.out.push(self.tag());
        match self {
            Data::Array(items) | Data::Structure(items) => {
                write_length(&mut w.out, items.len(), LengthForm::minimal(items.len()));
                for i in items {
                    i.write(w);
                }
            }
            Data::CompactArray(ca) => {
                ca.description.write(&mut w.out);
                // The contents are length-prefixed: write them aside, then splice them in so
                // that block offsets recorded inside stay right.
                let mut inner = Writer::new(Vec::new());
                for e in &ca.elements {
                    e.write_untagged(&mut inner);
                }
                write_length(
                    &mut w.out,
                    inner.out.len(),
                    LengthForm::minimal(inner.out.len()),
                );
                let shift = w.out.len();
                w.out.extend_from_slice(&inner.out);
                for mut b in inner.blocks {
                    b.shift(shift);
                    w.blocks.push(b);
                }
            }
            _ => self.write_untagged(w),
        }
    }

    /// Writes the value without its tag (compact-array contents), or the value of a simple type.
    fn write_untagged(&self, w: &mut Writer) {
        let out = &mut w.out;
        match self {
            Data::Null | Data::DontCare => {}
            Data::Array(items) | Data::Structure(items) => {
                for i in items {
                    i.write_untagged(w);
                }
            }
            Data::CompactArray(_) => {
                // Not representable inside compact-array contents; write it tagged.
                self.write(w);
            }
            Data::Boolean(b) => out.push(if *b { 0xff } else { 0x00 }),
            Data::BitString(bs) => {
                write_length(out, bs.bits, LengthForm::minimal(bs.bits));
                out.extend_from_slice(bs.bytes);
            }
            Data::DoubleLong(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::DoubleLongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::OctetString(v) => w.octet_string(v),
            Data::VisibleString(v) => {
                write_length(out, v.len(), LengthForm::minimal(v.len()));
                out.extend_from_slice(v);
            }
            Data::Utf8String(v) => {
                write_length(out, v.len(), LengthForm::minimal(v.len()));
                out.extend_from_slice(v.as_bytes());
            }
            Data::Bcd(v) | Data::Unsigned(v) | Data::Enum(v) => out.push(*v),
            Data::Integer(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Long(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::LongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Long64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Long64Unsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Float32(v) => out.extend_from_slice(&v.to_bits().to_be_bytes()),
            Data::Float64(v) => out.extend_from_slice(&v.to_bits().to_be_bytes()),
            Data::DateTime(v) => out.extend_from_slice(&v.to_bytes()),
            Data::Date(v) => out.extend_from_slice(&v.to_bytes()),
            Data::Time(v) => out.extend_from_slice(&v.to_bytes()),
        }
    }

    /// A JSON description of the value: `{"type": …, "value": …}`.
    pub fn to_json(&self) -> Value {
        self.json(&mut Render::plain())
    }

    /// JSON, with encrypted octet-strings matched against `r` in encoding order.
    pub(crate) fn json(&self, r: &mut Render<'_>) -> Value {
        let ty = self.type_name();
        let value = match self {
            Data::Null | Data::DontCare => Value::Null,
            Data::Array(items) | Data::Structure(items) => {
                Value::Array(items.iter().map(|i| i.json(r)).collect())
            }
            Data::CompactArray(ca) => {
                let elements: Vec<Value> = ca.elements.iter().map(|e| e.json(r)).collect();
                return json!({
                    "type": ty,
                    "description": ca.description.to_json(),
                    "value": elements,
                });
            }
            Data::Boolean(b) => json!(b),
            Data::BitString(bs) => json!({"bits": bs.bits, "bytes": crate::hex::encode(bs.bytes)}),
            Data::DoubleLong(v) => json!(v),
            Data::DoubleLongUnsigned(v) => json!(v),
            Data::OctetString(v) => {
                let mut o = json!({"type": ty, "value": crate::hex::encode(v)});
                if let Some(enc) = r.dlms_block(v) {
                    o["encrypted"] = enc;
                }
                return o;
            }
            Data::VisibleString(v) => match std::str::from_utf8(v) {
                Ok(s) if v.iter().all(|b| (0x20..0x7f).contains(b)) => json!(s),
                _ => return json!({"type": ty, "hex": crate::hex::encode(v)}),
            },
            Data::Utf8String(s) => json!(s),
            Data::Bcd(v) | Data::Unsigned(v) | Data::Enum(v) => json!(v),
            Data::Integer(v) => json!(v),
            Data::Long(v) => json!(v),
            Data::LongUnsigned(v) => json!(v),
            Data::Long64(v) => json!(v),
            Data::Long64Unsigned(v) => json!(v),
            Data::Float32(v) => json!(v),
            Data::Float64(v) => json!(v),
            Data::DateTime(v) => json!(v.to_string()),
            Data::Date(v) => json!(v.to_string()),
            Data::Time(v) => json!(v.to_string()),
        };
        json!({"type": ty, "value": value})
    }
}
