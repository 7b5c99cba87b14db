//! An owned, serialisable copy of a DLMS COSEM `Data` value.
//!
//! The protocol crate decodes payloads into [`Data`], which borrows the input. Device state
//! outlives the command that wrote it and must be serialisable, so attribute values are kept
//! as [`Value`]s and turned back into [`Data`] (borrowing the value) for encoding.

use hubgate_protocol::gbcs::CosemDateTime;
use hubgate_protocol::gbcs::payload::data::{
    BitString, CompactArray, CosemDate, CosemTime, Data, TypeDescription,
};
use serde::{Deserialize, Serialize};

/// A DLMS `Data` value that owns its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// `null-data`.
    Null,
    /// `array`.
    Array(Vec<Value>),
    /// `structure`.
    Structure(Vec<Value>),
    /// `boolean`.
    Boolean(bool),
    /// `bit-string`: the bit count and the bytes holding the bits.
    BitString {
        /// Number of bits.
        bits: usize,
        /// `ceil(bits / 8)` bytes, first bit in the most significant bit.
        bytes: Vec<u8>,
    },
    /// `double-long` (i32).
    DoubleLong(i32),
    /// `double-long-unsigned` (u32).
    DoubleLongUnsigned(u32),
    /// `octet-string`.
    OctetString(Vec<u8>),
    /// `visible-string`.
    VisibleString(Vec<u8>),
    /// `utf8-string`.
    Utf8String(String),
    /// `bcd`.
    Bcd(u8),
    /// `integer` (i8).
    Integer(i8),
    /// `long` (i16).
    Long(i16),
    /// `unsigned` (u8).
    Unsigned(u8),
    /// `long-unsigned` (u16).
    LongUnsigned(u16),
    /// `compact-array`: a type description and the elements.
    CompactArray {
        /// The type of every element.
        description: TypeDesc,
        /// The elements.
        elements: Vec<Value>,
    },
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
    /// `date-time`, the 12 wire bytes.
    DateTime([u8; 12]),
    /// `date`, the 5 wire bytes.
    Date([u8; 5]),
    /// `time`, the 4 wire bytes.
    Time([u8; 4]),
    /// `dont-care`.
    DontCare,
}

/// The type description of a compact array (owned form of [`TypeDescription`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TypeDesc {
    /// A simple type, by its `Data` tag.
    Simple(u8),
    /// A fixed-size array of one element type.
    Array {
        /// Number of elements.
        count: u16,
        /// The element type.
        element: Box<TypeDesc>,
    },
    /// A structure, one entry per member.
    Structure(Vec<TypeDesc>),
}

impl TypeDesc {
    /// Converts from the protocol crate's form.
    pub fn from_description(d: &TypeDescription) -> Self {
        match d {
            TypeDescription::Simple(t) => TypeDesc::Simple(*t),
            TypeDescription::Array { count, element } => TypeDesc::Array {
                count: *count,
                element: Box::new(TypeDesc::from_description(element)),
            },
            TypeDescription::Structure(m) => {
                TypeDesc::Structure(m.iter().map(TypeDesc::from_description).collect())
            }
        }
    }

    /// Converts to the protocol crate's form.
    pub fn to_description(&self) -> TypeDescription {
        match self {
            TypeDesc::Simple(t) => TypeDescription::Simple(*t),
            TypeDesc::Array { count, element } => TypeDescription::Array {
                count: *count,
                element: Box::new(element.to_description()),
            },
            TypeDesc::Structure(m) => {
                TypeDescription::Structure(m.iter().map(TypeDesc::to_description).collect())
            }
        }
    }

    /// The type description of a value, for use in a compact array. `None` for values that
    /// cannot be described (nested compact arrays, empty arrays).
    pub fn of(v: &Value) -> Option<Self> {
        Some(match v {
            Value::Array(items) => {
                let first = items.first()?;
                TypeDesc::Array {
                    count: u16::try_from(items.len()).ok()?,
                    element: Box::new(TypeDesc::of(first)?),
                }
            }
            Value::Structure(items) => {
                TypeDesc::Structure(items.iter().map(TypeDesc::of).collect::<Option<_>>()?)
            }
            Value::CompactArray { .. } => return None,
            other => TypeDesc::Simple(other.to_data().tag()),
        })
    }
}

impl Value {
    /// Copies a decoded `Data` value.
    pub fn from_data(d: &Data<'_>) -> Self {
        match d {
            Data::Null => Value::Null,
            Data::Array(v) => Value::Array(v.iter().map(Value::from_data).collect()),
            Data::Structure(v) => Value::Structure(v.iter().map(Value::from_data).collect()),
            Data::Boolean(b) => Value::Boolean(*b),
            Data::BitString(b) => Value::BitString {
                bits: b.bits,
                bytes: b.bytes.to_vec(),
            },
            Data::DoubleLong(x) => Value::DoubleLong(*x),
            Data::DoubleLongUnsigned(x) => Value::DoubleLongUnsigned(*x),
            Data::OctetString(s) => Value::OctetString(s.to_vec()),
            Data::VisibleString(s) => Value::VisibleString(s.to_vec()),
            Data::Utf8String(s) => Value::Utf8String((*s).to_owned()),
            Data::Bcd(x) => Value::Bcd(*x),
            Data::Integer(x) => Value::Integer(*x),
            Data::Long(x) => Value::Long(*x),
            Data::Unsigned(x) => Value::Unsigned(*x),
            Data::LongUnsigned(x) => Value::LongUnsigned(*x),
            Data::CompactArray(c) => Value::CompactArray {
                description: TypeDesc::from_description(&c.description),
                elements: c.elements.iter().map(Value::from_data).collect(),
            },
            Data::Long64(x) => Value::Long64(*x),
            Data::Long64Unsigned(x) => Value::Long64Unsigned(*x),
            Data::Enum(x) => Value::Enum(*x),
            Data::Float32(x) => Value::Float32(*x),
            Data::Float64(x) => Value::Float64(*x),
            Data::DateTime(dt) => Value::DateTime(dt.to_bytes()),
            Data::Date(d) => Value::Date(d.to_bytes()),
            Data::Time(t) => Value::Time(t.to_bytes()),
            Data::DontCare => Value::DontCare,
        }
    }

    /// A `Data` view of this value (borrowing it), for encoding.
    pub fn to_data(&self) -> Data<'_> {
        match self {
            Value::Null => Data::Null,
            Value::Array(v) => Data::Array(v.iter().map(Value::to_data).collect()),
            Value::Structure(v) => Data::Structure(v.iter().map(Value::to_data).collect()),
            Value::Boolean(b) => Data::Boolean(*b),
            Value::BitString { bits, bytes } => Data::BitString(BitString { bits: *bits, bytes }),
            Value::DoubleLong(x) => Data::DoubleLong(*x),
            Value::DoubleLongUnsigned(x) => Data::DoubleLongUnsigned(*x),
            Value::OctetString(s) => Data::OctetString(s),
            Value::VisibleString(s) => Data::VisibleString(s),
            Value::Utf8String(s) => Data::Utf8String(s),
            Value::Bcd(x) => Data::Bcd(*x),
            Value::Integer(x) => Data::Integer(*x),
            Value::Long(x) => Data::Long(*x),
            Value::Unsigned(x) => Data::Unsigned(*x),
            Value::LongUnsigned(x) => Data::LongUnsigned(*x),
            Value::CompactArray {
                description,
                elements,
            } => Data::CompactArray(CompactArray {
                description: description.to_description(),
                elements: elements.iter().map(Value::to_data).collect(),
            }),
            Value::Long64(x) => Data::Long64(*x),
            Value::Long64Unsigned(x) => Data::Long64Unsigned(*x),
            Value::Enum(x) => Data::Enum(*x),
            Value::Float32(x) => Data::Float32(*x),
            Value::Float64(x) => Data::Float64(*x),
            Value::DateTime(b) => Data::DateTime(CosemDateTime::from_bytes(b)),
            Value::Date(b) => Data::Date(CosemDate::from_bytes(b)),
            Value::Time(b) => Data::Time(CosemTime::from_bytes(b)),
            Value::DontCare => Data::DontCare,
        }
    }

    /// The A-XDR encoding.
    pub fn encode(&self) -> Vec<u8> {
        self.to_data().to_bytes()
    }

    /// Decodes exactly one A-XDR value.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        Data::decode(bytes).ok().map(|d| Value::from_data(&d))
    }

    /// The octet-string bytes, if this is an octet-string.
    pub fn as_octets(&self) -> Option<&[u8]> {
        match self {
            Value::OctetString(s) => Some(s),
            _ => None,
        }
    }

    /// The members of a structure, if this is one.
    pub fn as_structure(&self) -> Option<&[Value]> {
        match self {
            Value::Structure(v) => Some(v),
            _ => None,
        }
    }

    /// The elements of an array, if this is one.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }

    /// An unsigned integer value of any width, if this is one.
    pub fn as_u64(&self) -> Option<u64> {
        Some(match self {
            Value::Unsigned(x) | Value::Enum(x) => u64::from(*x),
            Value::LongUnsigned(x) => u64::from(*x),
            Value::DoubleLongUnsigned(x) => u64::from(*x),
            Value::Long64Unsigned(x) => *x,
            Value::Integer(x) => u64::try_from(*x).ok()?,
            Value::Long(x) => u64::try_from(*x).ok()?,
            Value::DoubleLong(x) => u64::try_from(*x).ok()?,
            Value::Long64(x) => u64::try_from(*x).ok()?,
            _ => return None,
        })
    }

    /// A signed integer value of any width, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        Some(match self {
            Value::Integer(x) => i64::from(*x),
            Value::Long(x) => i64::from(*x),
            Value::DoubleLong(x) => i64::from(*x),
            Value::Long64(x) => *x,
            other => i64::try_from(other.as_u64()?).ok()?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_nested_values_and_compact_arrays() {
        let v = Value::Structure(vec![
            Value::CompactArray {
                description: TypeDesc::Structure(vec![TypeDesc::Simple(6), TypeDesc::Simple(6)]),
                elements: vec![
                    Value::Structure(vec![
                        Value::DoubleLongUnsigned(473_299_200),
                        Value::DoubleLongUnsigned(95),
                    ]),
                    Value::Structure(vec![
                        Value::DoubleLongUnsigned(473_301_000),
                        Value::DoubleLongUnsigned(243),
                    ]),
                ],
            },
            Value::BitString {
                bits: 3,
                bytes: vec![0xe0],
            },
            Value::OctetString(vec![1, 2, 3]),
            Value::Long(-5),
        ]);
        let bytes = v.encode();
        assert_eq!(Value::decode(&bytes).unwrap(), v);
        assert_eq!(
            TypeDesc::of(&Value::Structure(vec![
                Value::DoubleLongUnsigned(1),
                Value::Array(vec![Value::Long(1), Value::Long(2)])
            ])),
            Some(TypeDesc::Structure(vec![
                TypeDesc::Simple(6),
                TypeDesc::Array {
                    count: 2,
                    element: Box::new(TypeDesc::Simple(16))
                }
            ]))
        );
    }
}
