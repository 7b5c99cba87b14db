//! ZigBee Cluster Library frames as they travel between a meter and a coordinator dongle.
//!
//! Implemented (ZCL revision 6 frame format, Smart Energy 1.x cluster payloads):
//!
//! - the frame header ([`ZclHeader`]): frame type (general / cluster-specific),
//!   manufacturer-specific flag and code, direction, disable-default-response, sequence
//!   number, command id;
//! - the general commands a rig uses to read and watch a meter ([`GeneralCommand`]): Read
//!   Attributes and its response, Write Attributes and its response, Configure Reporting and
//!   its response, Report Attributes, Default Response; other general commands are kept as
//!   raw bytes;
//! - the ZCL data types ([`DataType`], [`ZclValue`]): no data, data8–64, bool, bitmap8–64,
//!   uint8–64, int8–64, enum8/16, semi/single/double precision, octet and character strings
//!   (short and long), time of day, date, UTC time, cluster and attribute ids, BACnet OID,
//!   IEEE address, 128-bit key. Array, structure, set and bag are **not** decoded (their
//!   length depends on their element type; no Smart Energy attribute a rig reads uses
//!   them) and give a [`ZclError`];
//! - the attribute tables ([`ATTRIBUTES`]) for Basic, Time, Metering, Price and Prepayment,
//!   and the cluster-specific commands ([`ClusterCommand`]) Metering GetProfile /
//!   GetProfileResponse / RequestFastPollMode (+ response), Price GetCurrentPrice /
//!   PublishPrice, Prepayment SelectAvailableEmergencyCredit / EmergencyCreditSetup /
//!   ConsumerTopUp / ConsumerTopUpResponse, Messaging DisplayMessage / CancelMessage /
//!   GetLastMessage / MessageConfirmation. Any other cluster command, and every
//!   manufacturer-specific cluster command, decodes to [`ClusterCommand::Raw`].
//!
//! Decoding never panics: every read is bounds-checked and reports the byte offset and the
//! field it was reading ([`ZclError`]); the module tests feed it truncated and random
//! frames. The codec is written here rather than taken from a crate because no Rust crate
//! covers the Smart Energy clusters; zigpy (Python) is the oracle the tests compare with.

use std::fmt;

use crate::transport::{LinkError, LinkErrorKind};

/// Cluster ids of the clusters the rig talks to.
pub mod cluster {
    /// Basic (manufacturer, model, versions).
    pub const BASIC: u16 = 0x0000;
    /// Time.
    pub const TIME: u16 = 0x000A;
    /// Smart Energy Price.
    pub const PRICE: u16 = 0x0700;
    /// Smart Energy Metering.
    pub const METERING: u16 = 0x0702;
    /// Smart Energy Messaging.
    pub const MESSAGING: u16 = 0x0703;
    /// Smart Energy Prepayment.
    pub const PREPAYMENT: u16 = 0x0705;
}

/// The Smart Energy application profile id.
pub const PROFILE_SMART_ENERGY: u16 = 0x0109;

/// ZCL status codes used in responses.
pub mod status {
    /// Success.
    pub const SUCCESS: u8 = 0x00;
    /// Generic failure.
    pub const FAILURE: u8 = 0x01;
    /// Malformed command.
    pub const MALFORMED_COMMAND: u8 = 0x80;
    /// Unsupported cluster command.
    pub const UNSUP_CLUSTER_COMMAND: u8 = 0x81;
    /// Unsupported general command.
    pub const UNSUP_GENERAL_COMMAND: u8 = 0x82;
    /// Unsupported attribute.
    pub const UNSUPPORTED_ATTRIBUTE: u8 = 0x86;
    /// Invalid value.
    pub const INVALID_VALUE: u8 = 0x87;
    /// Read-only attribute.
    pub const READ_ONLY: u8 = 0x88;
    /// Attribute cannot be reported.
    pub const UNREPORTABLE_ATTRIBUTE: u8 = 0x8C;
    /// Invalid data type.
    pub const INVALID_DATA_TYPE: u8 = 0x8D;
}

/// A ZCL frame that could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZclError {
    /// Byte offset in the frame where decoding stopped (0 for encoding errors).
    pub offset: usize,
    /// What was wrong, naming the field.
    pub message: String,
}

impl ZclError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for ZclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZCL frame, byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for ZclError {}

impl From<ZclError> for LinkError {
    fn from(e: ZclError) -> Self {
        LinkError::new(LinkErrorKind::Framing, e.to_string())
    }
}

/// Bounds-checked little-endian reader.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], ZclError> {
        if self.remaining() < n {
            return Err(ZclError::new(
                self.pos,
                format!(
                    "{what}: needs {n} bytes, {} left (truncated frame)",
                    self.remaining()
                ),
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn uint(&mut self, width: usize, what: &str) -> Result<u64, ZclError> {
        let b = self.bytes(width, what)?;
        Ok(b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn u8(&mut self, what: &str) -> Result<u8, ZclError> {
        Ok(self.bytes(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, ZclError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ZclError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32, ZclError> {
        let b = self.bytes(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
}

fn put_uint(out: &mut Vec<u8>, width: usize, v: u64) {
    out.extend_from_slice(&v.to_le_bytes()[..width]);
}

fn put_octets(out: &mut Vec<u8>, bytes: &[u8], what: &str) -> Result<(), ZclError> {
    let len = u8::try_from(bytes.len())
        .ok()
        .filter(|&l| l != 0xFF)
        .ok_or_else(|| ZclError::new(0, format!("{what}: {} bytes, at most 254", bytes.len())))?;
    out.push(len);
    out.extend_from_slice(bytes);
    Ok(())
}

/// A ZCL data type (the type id of an attribute value on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// 0x00.
    NoData,
    /// data8 … data64 (0x08–0x0F): the width in bytes.
    Data(u8),
    /// 0x10.
    Bool,
    /// bitmap8 … bitmap64 (0x18–0x1F): the width in bytes.
    Bitmap(u8),
    /// uint8 … uint64 (0x20–0x27): the width in bytes.
    Uint(u8),
    /// int8 … int64 (0x28–0x2F): the width in bytes.
    Int(u8),
    /// 0x30.
    Enum8,
    /// 0x31.
    Enum16,
    /// 0x38, half precision float.
    Semi,
    /// 0x39.
    Single,
    /// 0x3A.
    Double,
    /// 0x41, one length byte.
    OctetString,
    /// 0x42, one length byte.
    CharString,
    /// 0x43, two length bytes.
    LongOctetString,
    /// 0x44, two length bytes.
    LongCharString,
    /// 0xE0.
    TimeOfDay,
    /// 0xE1.
    Date,
    /// 0xE2, seconds since 2000-01-01 00:00 UTC.
    UtcTime,
    /// 0xE8.
    ClusterId,
    /// 0xE9.
    AttributeId,
    /// 0xEA.
    BacnetOid,
    /// 0xF0.
    IeeeAddress,
    /// 0xF1.
    SecurityKey,
}

impl DataType {
    /// Common shorthands.
    pub const UINT8: Self = Self::Uint(1);
    /// uint16.
    pub const UINT16: Self = Self::Uint(2);
    /// uint24.
    pub const UINT24: Self = Self::Uint(3);
    /// uint32.
    pub const UINT32: Self = Self::Uint(4);
    /// uint48.
    pub const UINT48: Self = Self::Uint(6);
    /// int8.
    pub const INT8: Self = Self::Int(1);
    /// int24.
    pub const INT24: Self = Self::Int(3);
    /// int32.
    pub const INT32: Self = Self::Int(4);
    /// bitmap8.
    pub const BITMAP8: Self = Self::Bitmap(1);
    /// bitmap16.
    pub const BITMAP16: Self = Self::Bitmap(2);

    /// The type for a type id, `None` for ids this codec does not handle.
    #[must_use]
    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0x00 => Self::NoData,
            0x08..=0x0F => Self::Data(id - 0x07),
            0x10 => Self::Bool,
            0x18..=0x1F => Self::Bitmap(id - 0x17),
            0x20..=0x27 => Self::Uint(id - 0x1F),
            0x28..=0x2F => Self::Int(id - 0x27),
            0x30 => Self::Enum8,
            0x31 => Self::Enum16,
            0x38 => Self::Semi,
            0x39 => Self::Single,
            0x3A => Self::Double,
            0x41 => Self::OctetString,
            0x42 => Self::CharString,
            0x43 => Self::LongOctetString,
            0x44 => Self::LongCharString,
            0xE0 => Self::TimeOfDay,
            0xE1 => Self::Date,
            0xE2 => Self::UtcTime,
            0xE8 => Self::ClusterId,
            0xE9 => Self::AttributeId,
            0xEA => Self::BacnetOid,
            0xF0 => Self::IeeeAddress,
            0xF1 => Self::SecurityKey,
            _ => return None,
        })
    }

    /// The type id on the wire.
    #[must_use]
    pub fn id(self) -> u8 {
        match self {
            Self::NoData => 0x00,
            Self::Data(w) => 0x07 + w,
            Self::Bool => 0x10,
            Self::Bitmap(w) => 0x17 + w,
            Self::Uint(w) => 0x1F + w,
            Self::Int(w) => 0x27 + w,
            Self::Enum8 => 0x30,
            Self::Enum16 => 0x31,
            Self::Semi => 0x38,
            Self::Single => 0x39,
            Self::Double => 0x3A,
            Self::OctetString => 0x41,
            Self::CharString => 0x42,
            Self::LongOctetString => 0x43,
            Self::LongCharString => 0x44,
            Self::TimeOfDay => 0xE0,
            Self::Date => 0xE1,
            Self::UtcTime => 0xE2,
            Self::ClusterId => 0xE8,
            Self::AttributeId => 0xE9,
            Self::BacnetOid => 0xEA,
            Self::IeeeAddress => 0xF0,
            Self::SecurityKey => 0xF1,
        }
    }

    /// Analog types carry a reportable change in Configure Reporting; discrete ones do not.
    #[must_use]
    pub fn is_analog(self) -> bool {
        matches!(
            self,
            Self::Uint(_)
                | Self::Int(_)
                | Self::Semi
                | Self::Single
                | Self::Double
                | Self::TimeOfDay
                | Self::Date
                | Self::UtcTime
        )
    }

    fn valid_width(self) -> bool {
        match self {
            Self::Data(w) | Self::Bitmap(w) | Self::Uint(w) | Self::Int(w) => (1..=8).contains(&w),
            _ => true,
        }
    }
}

/// An attribute value with its type.
///
/// Integers carry their width in bytes so that a value round-trips with the type it came
/// with (a uint48 summation stays a uint48).
#[derive(Debug, Clone, PartialEq)]
pub enum ZclValue {
    /// No data.
    NoData,
    /// dataN: width in bytes, raw value.
    Data(u8, u64),
    /// Boolean; `None` is the "invalid" value 0xFF.
    Bool(Option<bool>),
    /// bitmapN: width in bytes, bits.
    Bitmap(u8, u64),
    /// uintN: width in bytes, value.
    Uint(u8, u64),
    /// intN: width in bytes, value.
    Int(u8, i64),
    /// enum8.
    Enum8(u8),
    /// enum16.
    Enum16(u16),
    /// Half precision float, raw bits.
    Semi(u16),
    /// Single precision float.
    Single(f32),
    /// Double precision float.
    Double(f64),
    /// Octet string.
    OctetString(Vec<u8>),
    /// Character string, raw bytes (ZCL does not promise UTF-8; see [`ZclValue::as_text`]).
    CharString(Vec<u8>),
    /// Long octet string.
    LongOctetString(Vec<u8>),
    /// Long character string.
    LongCharString(Vec<u8>),
    /// Time of day: hours, minutes, seconds, hundredths.
    TimeOfDay([u8; 4]),
    /// Date: years since 1900, month, day, day of week.
    Date([u8; 4]),
    /// UTC time, seconds since 2000-01-01 00:00 UTC.
    UtcTime(u32),
    /// Cluster id.
    ClusterId(u16),
    /// Attribute id.
    AttributeId(u16),
    /// BACnet OID.
    BacnetOid(u32),
    /// IEEE (EUI-64) address.
    IeeeAddress(u64),
    /// 128-bit security key.
    SecurityKey([u8; 16]),
}

impl ZclValue {
    /// A uint48 (the type of the Metering summations).
    #[must_use]
    pub fn uint48(v: u64) -> Self {
        Self::Uint(6, v)
    }

    /// A character string from text.
    #[must_use]
    pub fn text(s: &str) -> Self {
        Self::CharString(s.as_bytes().to_vec())
    }

    /// The value's data type.
    #[must_use]
    pub fn data_type(&self) -> DataType {
        match self {
            Self::NoData => DataType::NoData,
            Self::Data(w, _) => DataType::Data(*w),
            Self::Bool(_) => DataType::Bool,
            Self::Bitmap(w, _) => DataType::Bitmap(*w),
            Self::Uint(w, _) => DataType::Uint(*w),
            Self::Int(w, _) => DataType::Int(*w),
            Self::Enum8(_) => DataType::Enum8,
            Self::Enum16(_) => DataType::Enum16,
            Self::Semi(_) => DataType::Semi,
            Self::Single(_) => DataType::Single,
            Self::Double(_) => DataType::Double,
            Self::OctetString(_) => DataType::OctetString,
            Self::CharString(_) => DataType::CharString,
            Self::LongOctetString(_) => DataType::LongOctetString,
            Self::LongCharString(_) => DataType::LongCharString,
            Self::TimeOfDay(_) => DataType::TimeOfDay,
            Self::Date(_) => DataType::Date,
            Self::UtcTime(_) => DataType::UtcTime,
            Self::ClusterId(_) => DataType::ClusterId,
            Self::AttributeId(_) => DataType::AttributeId,
            Self::BacnetOid(_) => DataType::BacnetOid,
            Self::IeeeAddress(_) => DataType::IeeeAddress,
            Self::SecurityKey(_) => DataType::SecurityKey,
        }
    }

    /// The value as an unsigned integer, for the integer-like types.
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::Data(_, v) | Self::Bitmap(_, v) | Self::Uint(_, v) => Some(v),
            Self::Int(_, v) => u64::try_from(v).ok(),
            Self::Enum8(v) => Some(u64::from(v)),
            Self::Enum16(v) | Self::ClusterId(v) | Self::AttributeId(v) => Some(u64::from(v)),
            Self::UtcTime(v) | Self::BacnetOid(v) => Some(u64::from(v)),
            _ => None,
        }
    }

    /// The value as a signed integer, for the integer-like types.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::Int(_, v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The text of a character string (lossy for bytes that are not UTF-8).
    #[must_use]
    pub fn as_text(&self) -> Option<String> {
        match self {
            Self::CharString(b) | Self::LongCharString(b) => {
                Some(String::from_utf8_lossy(b).into_owned())
            }
            _ => None,
        }
    }

    /// Decodes a value of type `ty`.
    fn decode(r: &mut Reader<'_>, ty: DataType, what: &str) -> Result<Self, ZclError> {
        Ok(match ty {
            DataType::NoData => Self::NoData,
            DataType::Data(w) => Self::Data(w, r.uint(usize::from(w), what)?),
            DataType::Bool => match r.u8(what)? {
                0 => Self::Bool(Some(false)),
                1 => Self::Bool(Some(true)),
                0xFF => Self::Bool(None),
                v => {
                    return Err(ZclError::new(
                        r.pos - 1,
                        format!("{what}: boolean 0x{v:02x} is neither 0, 1 nor 0xff"),
                    ));
                }
            },
            DataType::Bitmap(w) => Self::Bitmap(w, r.uint(usize::from(w), what)?),
            DataType::Uint(w) => Self::Uint(w, r.uint(usize::from(w), what)?),
            DataType::Int(w) => {
                let raw = r.uint(usize::from(w), what)?;
                let shift = 64 - 8 * u32::from(w);
                // Sign-extend from the top bit of the field: shift it up to bit 63, then an
                // arithmetic shift back down (the cast reinterprets the bits on purpose).
                #[allow(clippy::cast_possible_wrap)]
                let v = ((raw << shift) as i64) >> shift;
                Self::Int(w, v)
            }
            DataType::Enum8 => Self::Enum8(r.u8(what)?),
            DataType::Enum16 => Self::Enum16(r.u16(what)?),
            DataType::Semi => Self::Semi(r.u16(what)?),
            DataType::Single => Self::Single(f32::from_bits(r.u32(what)?)),
            DataType::Double => Self::Double(f64::from_bits(r.uint(8, what)?)),
            DataType::OctetString
            | DataType::CharString
            | DataType::LongOctetString
            | DataType::LongCharString => {
                let (len, invalid) = if matches!(ty, DataType::OctetString | DataType::CharString) {
                    (u16::from(r.u8(what)?), 0xFF)
                } else {
                    (r.u16(what)?, 0xFFFF)
                };
                // The all-ones length is the "invalid" string: no content bytes follow.
                let body = if len == invalid {
                    Vec::new()
                } else {
                    r.bytes(usize::from(len), what)?.to_vec()
                };
                match ty {
                    DataType::OctetString => Self::OctetString(body),
                    DataType::CharString => Self::CharString(body),
                    DataType::LongOctetString => Self::LongOctetString(body),
                    _ => Self::LongCharString(body),
                }
            }
            DataType::TimeOfDay => Self::TimeOfDay(four(r.bytes(4, what)?)),
            DataType::Date => Self::Date(four(r.bytes(4, what)?)),
            DataType::UtcTime => Self::UtcTime(r.u32(what)?),
            DataType::ClusterId => Self::ClusterId(r.u16(what)?),
            DataType::AttributeId => Self::AttributeId(r.u16(what)?),
            DataType::BacnetOid => Self::BacnetOid(r.u32(what)?),
            DataType::IeeeAddress => Self::IeeeAddress(r.uint(8, what)?),
            DataType::SecurityKey => {
                let mut k = [0u8; 16];
                k.copy_from_slice(r.bytes(16, what)?);
                Self::SecurityKey(k)
            }
        })
    }

    /// Appends the value (without its type id).
    ///
    /// # Errors
    /// When the value does not fit its type (a uint24 above 2^24, a string over 254 bytes).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), ZclError> {
        let ty = self.data_type();
        if !ty.valid_width() {
            return Err(ZclError::new(
                0,
                format!("{ty:?}: width must be 1 to 8 bytes"),
            ));
        }
        match self {
            Self::NoData => {}
            Self::Data(w, v) | Self::Bitmap(w, v) | Self::Uint(w, v) => {
                let bits = 8 * u32::from(*w);
                if bits < 64 && *v >> bits != 0 {
                    return Err(ZclError::new(0, format!("{v} does not fit {ty:?}")));
                }
                put_uint(out, usize::from(*w), *v);
            }
            Self::Int(w, v) => {
                let bits = 8 * u32::from(*w);
                let (min, max) = if bits == 64 {
                    (i64::MIN, i64::MAX)
                } else {
                    (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
                };
                if *v < min || *v > max {
                    return Err(ZclError::new(0, format!("{v} does not fit {ty:?}")));
                }
                out.extend_from_slice(&v.to_le_bytes()[..usize::from(*w)]);
            }
            Self::Bool(b) => out.push(match b {
                Some(false) => 0,
                Some(true) => 1,
                None => 0xFF,
            }),
            Self::Enum8(v) => out.push(*v),
            Self::Enum16(v) | Self::Semi(v) | Self::ClusterId(v) | Self::AttributeId(v) => {
                out.extend_from_slice(&v.to_le_bytes());
            }
            Self::Single(v) => out.extend_from_slice(&v.to_bits().to_le_bytes()),
            Self::Double(v) => out.extend_from_slice(&v.to_bits().to_le_bytes()),
            Self::OctetString(b) | Self::CharString(b) => put_octets(out, b, "string")?,
            Self::LongOctetString(b) | Self::LongCharString(b) => {
                let len = u16::try_from(b.len())
                    .ok()
                    .filter(|&l| l != 0xFFFF)
                    .ok_or_else(|| {
                        ZclError::new(0, format!("long string: {} bytes, at most 65534", b.len()))
                    })?;
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(b);
            }
            Self::TimeOfDay(b) | Self::Date(b) => out.extend_from_slice(b),
            Self::UtcTime(v) | Self::BacnetOid(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::IeeeAddress(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::SecurityKey(k) => out.extend_from_slice(k),
        }
        Ok(())
    }
}

fn four(b: &[u8]) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    a
}

fn read_type(r: &mut Reader<'_>, what: &str) -> Result<DataType, ZclError> {
    let at = r.pos;
    let id = r.u8(what)?;
    DataType::from_id(id).ok_or_else(|| {
        ZclError::new(
            at,
            format!("{what}: data type 0x{id:02x} is not supported (arrays, structures, sets and bags are not decoded)"),
        )
    })
}

// ---------------------------------------------------------------------------------------
// Header

/// Frame type: a general (profile-wide) command or a command of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// General command (Read Attributes, Report Attributes, …).
    General,
    /// Cluster-specific command.
    ClusterSpecific,
}

/// Which side of the cluster sent the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server (a coordinator reading a meter's Metering server).
    ClientToServer,
    /// From the server to the client (the meter answering or reporting).
    ServerToClient,
}

/// The ZCL frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZclHeader {
    /// General or cluster-specific.
    pub frame_type: FrameType,
    /// Manufacturer code, present when the frame is manufacturer-specific.
    pub manufacturer_code: Option<u16>,
    /// Direction.
    pub direction: Direction,
    /// Disable default response.
    pub disable_default_response: bool,
    /// Transaction sequence number.
    pub tsn: u8,
    /// Command id.
    pub command_id: u8,
}

impl ZclHeader {
    /// The frame control byte.
    #[must_use]
    pub fn frame_control(&self) -> u8 {
        let mut fc = match self.frame_type {
            FrameType::General => 0x00,
            FrameType::ClusterSpecific => 0x01,
        };
        if self.manufacturer_code.is_some() {
            fc |= 0x04;
        }
        if self.direction == Direction::ServerToClient {
            fc |= 0x08;
        }
        if self.disable_default_response {
            fc |= 0x10;
        }
        fc
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.frame_control());
        if let Some(code) = self.manufacturer_code {
            out.extend_from_slice(&code.to_le_bytes());
        }
        out.push(self.tsn);
        out.push(self.command_id);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, ZclError> {
        let fc = r.u8("frame control")?;
        let frame_type = match fc & 0x03 {
            0 => FrameType::General,
            1 => FrameType::ClusterSpecific,
            t => {
                return Err(ZclError::new(
                    0,
                    format!("frame control 0x{fc:02x}: reserved frame type {t}"),
                ));
            }
        };
        let manufacturer_code = if fc & 0x04 != 0 {
            Some(r.u16("manufacturer code")?)
        } else {
            None
        };
        Ok(Self {
            frame_type,
            manufacturer_code,
            direction: if fc & 0x08 != 0 {
                Direction::ServerToClient
            } else {
                Direction::ClientToServer
            },
            disable_default_response: fc & 0x10 != 0,
            tsn: r.u8("transaction sequence number")?,
            command_id: r.u8("command id")?,
        })
    }
}

// ---------------------------------------------------------------------------------------
// General commands

/// General command ids.
pub mod general {
    /// Read Attributes.
    pub const READ_ATTRIBUTES: u8 = 0x00;
    /// Read Attributes Response.
    pub const READ_ATTRIBUTES_RESPONSE: u8 = 0x01;
    /// Write Attributes.
    pub const WRITE_ATTRIBUTES: u8 = 0x02;
    /// Write Attributes Response.
    pub const WRITE_ATTRIBUTES_RESPONSE: u8 = 0x04;
    /// Configure Reporting.
    pub const CONFIGURE_REPORTING: u8 = 0x06;
    /// Configure Reporting Response.
    pub const CONFIGURE_REPORTING_RESPONSE: u8 = 0x07;
    /// Report Attributes.
    pub const REPORT_ATTRIBUTES: u8 = 0x0A;
    /// Default Response.
    pub const DEFAULT_RESPONSE: u8 = 0x0B;
}

/// One record of a Read Attributes Response.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadAttributeStatus {
    /// Attribute id.
    pub id: u16,
    /// ZCL status; the value is present exactly when it is [`status::SUCCESS`].
    pub status: u8,
    /// The value, when read.
    pub value: Option<ZclValue>,
}

/// An attribute id with a value (Write Attributes, Report Attributes).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeRecord {
    /// Attribute id.
    pub id: u16,
    /// Value.
    pub value: ZclValue,
}

/// A failed write in a Write Attributes Response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteAttributeFailure {
    /// ZCL status (not success).
    pub status: u8,
    /// Attribute id.
    pub id: u16,
}

/// One attribute reporting configuration record.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportingConfig {
    /// Direction 0: the receiver of the command sends reports.
    Send {
        /// Attribute id.
        id: u16,
        /// Attribute data type.
        data_type: DataType,
        /// Minimum reporting interval, s.
        min_interval: u16,
        /// Maximum reporting interval, s.
        max_interval: u16,
        /// Reportable change, present exactly for analog types.
        reportable_change: Option<ZclValue>,
    },
    /// Direction 1: the receiver of the command expects reports.
    Receive {
        /// Attribute id.
        id: u16,
        /// Timeout period, s.
        timeout: u16,
    },
}

/// A failed record in a Configure Reporting Response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportingFailure {
    /// ZCL status (not success).
    pub status: u8,
    /// 0 = send reports, 1 = receive reports.
    pub direction: u8,
    /// Attribute id.
    pub id: u16,
}

/// The general commands.
#[derive(Debug, Clone, PartialEq)]
pub enum GeneralCommand {
    /// Read Attributes (0x00).
    ReadAttributes(Vec<u16>),
    /// Read Attributes Response (0x01).
    ReadAttributesResponse(Vec<ReadAttributeStatus>),
    /// Write Attributes (0x02).
    WriteAttributes(Vec<AttributeRecord>),
    /// Write Attributes Response (0x04): the failed writes; empty means all succeeded (sent
    /// as the single status byte 0x00).
    WriteAttributesResponse(Vec<WriteAttributeFailure>),
    /// Configure Reporting (0x06).
    ConfigureReporting(Vec<ReportingConfig>),
    /// Configure Reporting Response (0x07): the failed records; empty means all succeeded.
    ConfigureReportingResponse(Vec<ReportingFailure>),
    /// Report Attributes (0x0A).
    ReportAttributes(Vec<AttributeRecord>),
    /// Default Response (0x0B).
    DefaultResponse {
        /// The command answered.
        command_id: u8,
        /// Its status.
        status: u8,
    },
    /// Any other general command, undecoded.
    Other {
        /// Command id.
        command_id: u8,
        /// Payload.
        payload: Vec<u8>,
    },
}

impl GeneralCommand {
    /// The command id.
    #[must_use]
    pub fn command_id(&self) -> u8 {
        match self {
            Self::ReadAttributes(_) => general::READ_ATTRIBUTES,
            Self::ReadAttributesResponse(_) => general::READ_ATTRIBUTES_RESPONSE,
            Self::WriteAttributes(_) => general::WRITE_ATTRIBUTES,
            Self::WriteAttributesResponse(_) => general::WRITE_ATTRIBUTES_RESPONSE,
            Self::ConfigureReporting(_) => general::CONFIGURE_REPORTING,
            Self::ConfigureReportingResponse(_) => general::CONFIGURE_REPORTING_RESPONSE,
            Self::ReportAttributes(_) => general::REPORT_ATTRIBUTES,
            Self::DefaultResponse { .. } => general::DEFAULT_RESPONSE,
            Self::Other { command_id, .. } => *command_id,
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), ZclError> {
        match self {
            Self::ReadAttributes(ids) => {
                for id in ids {
                    out.extend_from_slice(&id.to_le_bytes());
                }
            }
            Self::ReadAttributesResponse(records) => {
                for rec in records {
                    out.extend_from_slice(&rec.id.to_le_bytes());
                    out.push(rec.status);
                    match (&rec.value, rec.status) {
                        (Some(v), status::SUCCESS) => {
                            out.push(v.data_type().id());
                            v.encode_into(out)?;
                        }
                        (None, status::SUCCESS) => {
                            return Err(ZclError::new(
                                0,
                                format!("attribute 0x{:04x}: success without a value", rec.id),
                            ));
                        }
                        (Some(_), s) => {
                            return Err(ZclError::new(
                                0,
                                format!(
                                    "attribute 0x{:04x}: status 0x{s:02x} with a value",
                                    rec.id
                                ),
                            ));
                        }
                        (None, _) => {}
                    }
                }
            }
            Self::WriteAttributes(records) | Self::ReportAttributes(records) => {
                for rec in records {
                    out.extend_from_slice(&rec.id.to_le_bytes());
                    out.push(rec.value.data_type().id());
                    rec.value.encode_into(out)?;
                }
            }
            Self::WriteAttributesResponse(failures) => {
                if failures.is_empty() {
                    out.push(status::SUCCESS);
                }
                for f in failures {
                    if f.status == status::SUCCESS {
                        return Err(ZclError::new(0, "write failure record with status success"));
                    }
                    out.push(f.status);
                    out.extend_from_slice(&f.id.to_le_bytes());
                }
            }
            Self::ConfigureReporting(records) => {
                for rec in records {
                    match rec {
                        ReportingConfig::Send {
                            id,
                            data_type,
                            min_interval,
                            max_interval,
                            reportable_change,
                        } => {
                            out.push(0);
                            out.extend_from_slice(&id.to_le_bytes());
                            out.push(data_type.id());
                            out.extend_from_slice(&min_interval.to_le_bytes());
                            out.extend_from_slice(&max_interval.to_le_bytes());
                            match (data_type.is_analog(), reportable_change) {
                                (true, Some(v)) if v.data_type() == *data_type => {
                                    v.encode_into(out)?;
                                }
                                (false, None) => {}
                                _ => {
                                    return Err(ZclError::new(
                                        0,
                                        format!(
                                            "attribute 0x{id:04x}: a reportable change is required for analog types only, and must have the attribute's type"
                                        ),
                                    ));
                                }
                            }
                        }
                        ReportingConfig::Receive { id, timeout } => {
                            out.push(1);
                            out.extend_from_slice(&id.to_le_bytes());
                            out.extend_from_slice(&timeout.to_le_bytes());
                        }
                    }
                }
            }
            Self::ConfigureReportingResponse(failures) => {
                if failures.is_empty() {
                    out.push(status::SUCCESS);
                }
                for f in failures {
                    if f.status == status::SUCCESS {
                        return Err(ZclError::new(
                            0,
                            "reporting failure record with status success",
                        ));
                    }
                    out.push(f.status);
                    out.push(f.direction);
                    out.extend_from_slice(&f.id.to_le_bytes());
                }
            }
            Self::DefaultResponse { command_id, status } => {
                out.push(*command_id);
                out.push(*status);
            }
            Self::Other { payload, .. } => out.extend_from_slice(payload),
        }
        Ok(())
    }

    fn decode(command_id: u8, r: &mut Reader<'_>) -> Result<Self, ZclError> {
        Ok(match command_id {
            general::READ_ATTRIBUTES => {
                let mut ids = Vec::new();
                while r.remaining() > 0 {
                    ids.push(r.u16("attribute id")?);
                }
                Self::ReadAttributes(ids)
            }
            general::READ_ATTRIBUTES_RESPONSE => {
                let mut records = Vec::new();
                while r.remaining() > 0 {
                    let id = r.u16("attribute id")?;
                    let st = r.u8("status")?;
                    let value = if st == status::SUCCESS {
                        let what = format!("attribute 0x{id:04x}");
                        let ty = read_type(r, &what)?;
                        Some(ZclValue::decode(r, ty, &what)?)
                    } else {
                        None
                    };
                    records.push(ReadAttributeStatus {
                        id,
                        status: st,
                        value,
                    });
                }
                Self::ReadAttributesResponse(records)
            }
            general::WRITE_ATTRIBUTES | general::REPORT_ATTRIBUTES => {
                let mut records = Vec::new();
                while r.remaining() > 0 {
                    let id = r.u16("attribute id")?;
                    let what = format!("attribute 0x{id:04x}");
                    let ty = read_type(r, &what)?;
                    let value = ZclValue::decode(r, ty, &what)?;
                    records.push(AttributeRecord { id, value });
                }
                if command_id == general::WRITE_ATTRIBUTES {
                    Self::WriteAttributes(records)
                } else {
                    Self::ReportAttributes(records)
                }
            }
            general::WRITE_ATTRIBUTES_RESPONSE => {
                let mut failures = Vec::new();
                let first = r.u8("status")?;
                if first != status::SUCCESS {
                    failures.push(WriteAttributeFailure {
                        status: first,
                        id: r.u16("attribute id")?,
                    });
                    while r.remaining() > 0 {
                        failures.push(WriteAttributeFailure {
                            status: r.u8("status")?,
                            id: r.u16("attribute id")?,
                        });
                    }
                }
                Self::WriteAttributesResponse(failures)
            }
            general::CONFIGURE_REPORTING => {
                let mut records = Vec::new();
                while r.remaining() > 0 {
                    let at = r.pos;
                    let direction = r.u8("reporting direction")?;
                    let id = r.u16("attribute id")?;
                    records.push(match direction {
                        0 => {
                            let what = format!("attribute 0x{id:04x}");
                            let data_type = read_type(r, &what)?;
                            let min_interval = r.u16("minimum reporting interval")?;
                            let max_interval = r.u16("maximum reporting interval")?;
                            let reportable_change = if data_type.is_analog() {
                                Some(ZclValue::decode(r, data_type, "reportable change")?)
                            } else {
                                None
                            };
                            ReportingConfig::Send {
                                id,
                                data_type,
                                min_interval,
                                max_interval,
                                reportable_change,
                            }
                        }
                        1 => ReportingConfig::Receive {
                            id,
                            timeout: r.u16("timeout period")?,
                        },
                        d => {
                            return Err(ZclError::new(
                                at,
                                format!("reporting direction {d} is neither 0 nor 1"),
                            ));
                        }
                    });
                }
                Self::ConfigureReporting(records)
            }
            general::CONFIGURE_REPORTING_RESPONSE => {
                let mut failures = Vec::new();
                let first = r.u8("status")?;
                if first == status::SUCCESS {
                    // All succeeded; some devices still append a direction and attribute id.
                    r.rest();
                } else {
                    failures.push(ReportingFailure {
                        status: first,
                        direction: r.u8("direction")?,
                        id: r.u16("attribute id")?,
                    });
                    while r.remaining() > 0 {
                        failures.push(ReportingFailure {
                            status: r.u8("status")?,
                            direction: r.u8("direction")?,
                            id: r.u16("attribute id")?,
                        });
                    }
                }
                Self::ConfigureReportingResponse(failures)
            }
            general::DEFAULT_RESPONSE => Self::DefaultResponse {
                command_id: r.u8("command id")?,
                status: r.u8("status")?,
            },
            _ => Self::Other {
                command_id,
                payload: r.rest().to_vec(),
            },
        })
    }
}

// ---------------------------------------------------------------------------------------
// Cluster-specific commands

/// Price PublishPrice (Price server → client, 0x00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishPrice {
    /// Provider id.
    pub provider_id: u32,
    /// Rate label (octet string).
    pub rate_label: Vec<u8>,
    /// Issuer event id.
    pub issuer_event_id: u32,
    /// Current time (UTC).
    pub current_time: u32,
    /// Unit of measure (enum8).
    pub unit_of_measure: u8,
    /// ISO 4217 currency code.
    pub currency: u16,
    /// Price trailing digit (high nibble) and price tier (low nibble).
    pub price_trailing_digit_and_tier: u8,
    /// Number of price tiers (high nibble) and register tier (low nibble).
    pub number_of_price_tiers_and_register_tier: u8,
    /// Start time (UTC, 0 = now).
    pub start_time: u32,
    /// Duration in minutes (0xFFFF = until changed).
    pub duration_in_minutes: u16,
    /// Price.
    pub price: u32,
    /// The SE 1.1 fields after `price`, when present.
    pub extension: Option<PublishPriceExtension>,
    /// Any later fields (SE 1.2 generation/extended tiers), kept raw.
    pub trailing: Vec<u8>,
}

/// The fields SE 1.1 added to PublishPrice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishPriceExtension {
    /// Price ratio.
    pub price_ratio: u8,
    /// Generation price.
    pub generation_price: u32,
    /// Generation price ratio.
    pub generation_price_ratio: u8,
    /// Alternate cost delivered.
    pub alternate_cost_delivered: u32,
    /// Alternate cost unit (enum8).
    pub alternate_cost_unit: u8,
    /// Alternate cost trailing digit (bitmap8).
    pub alternate_cost_trailing_digit: u8,
    /// Number of block thresholds.
    pub number_of_block_thresholds: u8,
    /// Price control (bitmap8).
    pub price_control: u8,
}

/// Messaging DisplayMessage (server → client, 0x00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayMessage {
    /// Message id.
    pub message_id: u32,
    /// Message control (bitmap8: transmission, importance, confirmation).
    pub message_control: u8,
    /// Start time (UTC, 0 = now).
    pub start_time: u32,
    /// Duration in minutes (0xFFFF = until changed).
    pub duration_in_minutes: u16,
    /// The message (character string).
    pub message: Vec<u8>,
    /// SE 1.2 extended message control, when present.
    pub extended_message_control: Option<u8>,
}

/// The cluster-specific commands of the Smart Energy clusters the rig uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterCommand {
    /// Metering, client → server 0x00.
    GetProfile {
        /// Interval channel (0 consumption delivered, 1 received).
        interval_channel: u8,
        /// End time (UTC).
        end_time: u32,
        /// Number of periods.
        number_of_periods: u8,
    },
    /// Metering, client → server 0x03.
    RequestFastPollMode {
        /// Fast poll update period, s.
        fast_poll_update_period: u8,
        /// Duration, min.
        duration: u8,
    },
    /// Metering, server → client 0x00.
    GetProfileResponse {
        /// End time (UTC).
        end_time: u32,
        /// Status (0 success).
        status: u8,
        /// Profile interval period (enum: 0 daily, 1 60 min, 2 30 min, …).
        profile_interval_period: u8,
        /// The intervals (uint24 each), newest first.
        intervals: Vec<u32>,
    },
    /// Metering, server → client 0x03.
    RequestFastPollModeResponse {
        /// Applied update period, s.
        applied_update_period: u8,
        /// Fast poll mode end time (UTC).
        fast_poll_mode_end_time: u32,
    },
    /// Price, client → server 0x00.
    GetCurrentPrice {
        /// Command options (bitmap8; bit 0 requestor Rx on when idle).
        command_options: u8,
    },
    /// Price, server → client 0x00.
    PublishPrice(PublishPrice),
    /// Prepayment, client → server 0x00.
    SelectAvailableEmergencyCredit {
        /// Command issue date/time (UTC).
        command_issue_date_time: u32,
        /// Originating device (enum8: 0 ESI, 1 meter, 2 IHD).
        originating_device: u8,
    },
    /// Prepayment, client → server 0x03.
    EmergencyCreditSetup {
        /// Issuer event id.
        issuer_event_id: u32,
        /// Start time (UTC).
        start_time: u32,
        /// Emergency credit limit.
        emergency_credit_limit: u32,
        /// Emergency credit threshold.
        emergency_credit_threshold: u32,
    },
    /// Prepayment, client → server 0x04.
    ConsumerTopUp {
        /// Originating device (enum8).
        originating_device: u8,
        /// Top-up code (octet string).
        top_up_code: Vec<u8>,
    },
    /// Prepayment, server → client 0x03.
    ConsumerTopUpResponse {
        /// Result type (enum8: 0 accepted, …).
        result_type: u8,
        /// Top-up value.
        top_up_value: i32,
        /// Source of the top-up (enum8).
        source_of_top_up: u8,
        /// Credit remaining.
        credit_remaining: i32,
    },
    /// Messaging, server → client 0x00.
    DisplayMessage(DisplayMessage),
    /// Messaging, server → client 0x01.
    CancelMessage {
        /// Message id.
        message_id: u32,
        /// Message control (bitmap8).
        message_control: u8,
    },
    /// Messaging, client → server 0x00 (no payload).
    GetLastMessage,
    /// Messaging, client → server 0x01.
    MessageConfirmation {
        /// Message id.
        message_id: u32,
        /// Confirmation time (UTC).
        confirmation_time: u32,
        /// SE 1.2 confirmation control (bitmap8) and response (octet string), when present.
        response: Option<(u8, Vec<u8>)>,
    },
    /// Any other (or manufacturer-specific) cluster command, undecoded.
    Raw {
        /// Command id.
        command_id: u8,
        /// Payload.
        payload: Vec<u8>,
    },
}

/// A cluster command name table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandDef {
    /// Cluster id.
    pub cluster: u16,
    /// Direction the command travels.
    pub direction: Direction,
    /// Command id.
    pub id: u8,
    /// Name in the SE specification.
    pub name: &'static str,
}

/// `CommandDef`s from `CLUSTER { Direction id "Name", … }` groups (cluster ids from
/// [`cluster`]).
macro_rules! command_table {
    ($($cluster:ident { $($direction:ident $id:literal $name:literal,)* })*) => {
        &[$($(CommandDef {
            cluster: cluster::$cluster,
            direction: Direction::$direction,
            id: $id,
            name: $name,
        },)*)*]
    };
}

/// The cluster-specific commands this codec decodes.
pub const COMMANDS: &[CommandDef] = command_table! {
    METERING {
        ClientToServer 0x00 "GetProfile",
        ClientToServer 0x03 "RequestFastPollMode",
        ServerToClient 0x00 "GetProfileResponse",
        ServerToClient 0x03 "RequestFastPollModeResponse",
    }
    PRICE {
        ClientToServer 0x00 "GetCurrentPrice",
        ServerToClient 0x00 "PublishPrice",
    }
    PREPAYMENT {
        ClientToServer 0x00 "SelectAvailableEmergencyCredit",
        ClientToServer 0x03 "EmergencyCreditSetup",
        ClientToServer 0x04 "ConsumerTopUp",
        ServerToClient 0x03 "ConsumerTopUpResponse",
    }
    MESSAGING {
        ServerToClient 0x00 "DisplayMessage",
        ServerToClient 0x01 "CancelMessage",
        ClientToServer 0x00 "GetLastMessage",
        ClientToServer 0x01 "MessageConfirmation",
    }
};

impl ClusterCommand {
    /// The command id.
    #[must_use]
    pub fn command_id(&self) -> u8 {
        match self {
            Self::GetProfile { .. }
            | Self::GetProfileResponse { .. }
            | Self::GetCurrentPrice { .. }
            | Self::PublishPrice(_)
            | Self::SelectAvailableEmergencyCredit { .. }
            | Self::DisplayMessage(_)
            | Self::GetLastMessage => 0x00,
            Self::CancelMessage { .. } | Self::MessageConfirmation { .. } => 0x01,
            Self::RequestFastPollMode { .. }
            | Self::RequestFastPollModeResponse { .. }
            | Self::EmergencyCreditSetup { .. }
            | Self::ConsumerTopUpResponse { .. } => 0x03,
            Self::ConsumerTopUp { .. } => 0x04,
            Self::Raw { command_id, .. } => *command_id,
        }
    }

    /// The cluster and direction the command belongs to (`None` for [`Self::Raw`]).
    #[must_use]
    pub fn cluster_and_direction(&self) -> Option<(u16, Direction)> {
        use Direction::{ClientToServer as C2S, ServerToClient as S2C};
        Some(match self {
            Self::GetProfile { .. } | Self::RequestFastPollMode { .. } => (cluster::METERING, C2S),
            Self::GetProfileResponse { .. } | Self::RequestFastPollModeResponse { .. } => {
                (cluster::METERING, S2C)
            }
            Self::GetCurrentPrice { .. } => (cluster::PRICE, C2S),
            Self::PublishPrice(_) => (cluster::PRICE, S2C),
            Self::SelectAvailableEmergencyCredit { .. }
            | Self::EmergencyCreditSetup { .. }
            | Self::ConsumerTopUp { .. } => (cluster::PREPAYMENT, C2S),
            Self::ConsumerTopUpResponse { .. } => (cluster::PREPAYMENT, S2C),
            Self::DisplayMessage(_) | Self::CancelMessage { .. } => (cluster::MESSAGING, S2C),
            Self::GetLastMessage | Self::MessageConfirmation { .. } => (cluster::MESSAGING, C2S),
            Self::Raw { .. } => return None,
        })
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), ZclError> {
        let u32le = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
        match self {
            Self::GetProfile {
                interval_channel,
                end_time,
                number_of_periods,
            } => {
                out.push(*interval_channel);
                u32le(out, *end_time);
                out.push(*number_of_periods);
            }
            Self::RequestFastPollMode {
                fast_poll_update_period,
                duration,
            } => out.extend_from_slice(&[*fast_poll_update_period, *duration]),
            Self::GetProfileResponse {
                end_time,
                status,
                profile_interval_period,
                intervals,
            } => {
                u32le(out, *end_time);
                out.push(*status);
                out.push(*profile_interval_period);
                let n = u8::try_from(intervals.len()).map_err(|_| {
                    ZclError::new(
                        0,
                        format!(
                            "GetProfileResponse: {} intervals, at most 255",
                            intervals.len()
                        ),
                    )
                })?;
                out.push(n);
                for v in intervals {
                    ZclValue::Uint(3, u64::from(*v)).encode_into(out)?;
                }
            }
            Self::RequestFastPollModeResponse {
                applied_update_period,
                fast_poll_mode_end_time,
            } => {
                out.push(*applied_update_period);
                u32le(out, *fast_poll_mode_end_time);
            }
            Self::GetCurrentPrice { command_options } => out.push(*command_options),
            Self::PublishPrice(p) => {
                u32le(out, p.provider_id);
                put_octets(out, &p.rate_label, "rate label")?;
                u32le(out, p.issuer_event_id);
                u32le(out, p.current_time);
                out.push(p.unit_of_measure);
                out.extend_from_slice(&p.currency.to_le_bytes());
                out.push(p.price_trailing_digit_and_tier);
                out.push(p.number_of_price_tiers_and_register_tier);
                u32le(out, p.start_time);
                out.extend_from_slice(&p.duration_in_minutes.to_le_bytes());
                u32le(out, p.price);
                if let Some(x) = &p.extension {
                    out.push(x.price_ratio);
                    u32le(out, x.generation_price);
                    out.push(x.generation_price_ratio);
                    u32le(out, x.alternate_cost_delivered);
                    out.push(x.alternate_cost_unit);
                    out.push(x.alternate_cost_trailing_digit);
                    out.push(x.number_of_block_thresholds);
                    out.push(x.price_control);
                    out.extend_from_slice(&p.trailing);
                } else if !p.trailing.is_empty() {
                    return Err(ZclError::new(
                        0,
                        "PublishPrice: trailing fields without the SE 1.1 extension",
                    ));
                }
            }
            Self::SelectAvailableEmergencyCredit {
                command_issue_date_time,
                originating_device,
            } => {
                u32le(out, *command_issue_date_time);
                out.push(*originating_device);
            }
            Self::EmergencyCreditSetup {
                issuer_event_id,
                start_time,
                emergency_credit_limit,
                emergency_credit_threshold,
            } => {
                for v in [
                    *issuer_event_id,
                    *start_time,
                    *emergency_credit_limit,
                    *emergency_credit_threshold,
                ] {
                    u32le(out, v);
                }
            }
            Self::ConsumerTopUp {
                originating_device,
                top_up_code,
            } => {
                out.push(*originating_device);
                put_octets(out, top_up_code, "top-up code")?;
            }
            Self::ConsumerTopUpResponse {
                result_type,
                top_up_value,
                source_of_top_up,
                credit_remaining,
            } => {
                out.push(*result_type);
                out.extend_from_slice(&top_up_value.to_le_bytes());
                out.push(*source_of_top_up);
                out.extend_from_slice(&credit_remaining.to_le_bytes());
            }
            Self::DisplayMessage(m) => {
                u32le(out, m.message_id);
                out.push(m.message_control);
                u32le(out, m.start_time);
                out.extend_from_slice(&m.duration_in_minutes.to_le_bytes());
                put_octets(out, &m.message, "message")?;
                if let Some(x) = m.extended_message_control {
                    out.push(x);
                }
            }
            Self::CancelMessage {
                message_id,
                message_control,
            } => {
                u32le(out, *message_id);
                out.push(*message_control);
            }
            Self::GetLastMessage => {}
            Self::MessageConfirmation {
                message_id,
                confirmation_time,
                response,
            } => {
                u32le(out, *message_id);
                u32le(out, *confirmation_time);
                if let Some((control, text)) = response {
                    out.push(*control);
                    put_octets(out, text, "message response")?;
                }
            }
            Self::Raw { payload, .. } => out.extend_from_slice(payload),
        }
        Ok(())
    }

    fn decode(
        cluster_id: u16,
        direction: Direction,
        command_id: u8,
        r: &mut Reader<'_>,
    ) -> Result<Self, ZclError> {
        use Direction::{ClientToServer as C2S, ServerToClient as S2C};
        let octets = |r: &mut Reader<'_>, what: &str| -> Result<Vec<u8>, ZclError> {
            match ZclValue::decode(r, DataType::OctetString, what)? {
                ZclValue::OctetString(b) => Ok(b),
                _ => Err(ZclError::new(r.pos, what.to_owned())),
            }
        };
        Ok(match (cluster_id, direction, command_id) {
            (cluster::METERING, C2S, 0x00) => Self::GetProfile {
                interval_channel: r.u8("interval channel")?,
                end_time: r.u32("end time")?,
                number_of_periods: r.u8("number of periods")?,
            },
            (cluster::METERING, C2S, 0x03) => Self::RequestFastPollMode {
                fast_poll_update_period: r.u8("fast poll update period")?,
                duration: r.u8("duration")?,
            },
            (cluster::METERING, S2C, 0x00) => {
                let end_time = r.u32("end time")?;
                let status = r.u8("status")?;
                let profile_interval_period = r.u8("profile interval period")?;
                let n = r.u8("number of periods delivered")?;
                let mut intervals = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    // A uint24 always fits u32.
                    intervals.push(u32::try_from(r.uint(3, "interval")?).unwrap_or(u32::MAX));
                }
                Self::GetProfileResponse {
                    end_time,
                    status,
                    profile_interval_period,
                    intervals,
                }
            }
            (cluster::METERING, S2C, 0x03) => Self::RequestFastPollModeResponse {
                applied_update_period: r.u8("applied update period")?,
                fast_poll_mode_end_time: r.u32("fast poll mode end time")?,
            },
            (cluster::PRICE, C2S, 0x00) => Self::GetCurrentPrice {
                command_options: r.u8("command options")?,
            },
            (cluster::PRICE, S2C, 0x00) => {
                let mut p = PublishPrice {
                    provider_id: r.u32("provider id")?,
                    rate_label: octets(r, "rate label")?,
                    issuer_event_id: r.u32("issuer event id")?,
                    current_time: r.u32("current time")?,
                    unit_of_measure: r.u8("unit of measure")?,
                    currency: r.u16("currency")?,
                    price_trailing_digit_and_tier: r.u8("price trailing digit and price tier")?,
                    number_of_price_tiers_and_register_tier: r
                        .u8("number of price tiers and register tier")?,
                    start_time: r.u32("start time")?,
                    duration_in_minutes: r.u16("duration in minutes")?,
                    price: r.u32("price")?,
                    extension: None,
                    trailing: Vec::new(),
                };
                if r.remaining() > 0 {
                    p.extension = Some(PublishPriceExtension {
                        price_ratio: r.u8("price ratio")?,
                        generation_price: r.u32("generation price")?,
                        generation_price_ratio: r.u8("generation price ratio")?,
                        alternate_cost_delivered: r.u32("alternate cost delivered")?,
                        alternate_cost_unit: r.u8("alternate cost unit")?,
                        alternate_cost_trailing_digit: r.u8("alternate cost trailing digit")?,
                        number_of_block_thresholds: r.u8("number of block thresholds")?,
                        price_control: r.u8("price control")?,
                    });
                    p.trailing = r.rest().to_vec();
                }
                Self::PublishPrice(p)
            }
            (cluster::PREPAYMENT, C2S, 0x00) => Self::SelectAvailableEmergencyCredit {
                command_issue_date_time: r.u32("command issue date/time")?,
                originating_device: r.u8("originating device")?,
            },
            (cluster::PREPAYMENT, C2S, 0x03) => Self::EmergencyCreditSetup {
                issuer_event_id: r.u32("issuer event id")?,
                start_time: r.u32("start time")?,
                emergency_credit_limit: r.u32("emergency credit limit")?,
                emergency_credit_threshold: r.u32("emergency credit threshold")?,
            },
            (cluster::PREPAYMENT, C2S, 0x04) => Self::ConsumerTopUp {
                originating_device: r.u8("originating device")?,
                top_up_code: octets(r, "top-up code")?,
            },
            (cluster::PREPAYMENT, S2C, 0x03) => Self::ConsumerTopUpResponse {
                result_type: r.u8("result type")?,
                top_up_value: r.i32("top-up value")?,
                source_of_top_up: r.u8("source of top-up")?,
                credit_remaining: r.i32("credit remaining")?,
            },
            (cluster::MESSAGING, S2C, 0x00) => Self::DisplayMessage(DisplayMessage {
                message_id: r.u32("message id")?,
                message_control: r.u8("message control")?,
                start_time: r.u32("start time")?,
                duration_in_minutes: r.u16("duration in minutes")?,
                message: octets(r, "message")?,
                extended_message_control: if r.remaining() > 0 {
                    Some(r.u8("extended message control")?)
                } else {
                    None
                },
            }),
            (cluster::MESSAGING, S2C, 0x01) => Self::CancelMessage {
                message_id: r.u32("message id")?,
                message_control: r.u8("message control")?,
            },
            (cluster::MESSAGING, C2S, 0x00) => Self::GetLastMessage,
            (cluster::MESSAGING, C2S, 0x01) => Self::MessageConfirmation {
                message_id: r.u32("message id")?,
                confirmation_time: r.u32("confirmation time")?,
                response: if r.remaining() > 0 {
                    Some((
                        r.u8("message confirmation control")?,
                        octets(r, "message response")?,
                    ))
                } else {
                    None
                },
            },
            _ => Self::Raw {
                command_id,
                payload: r.rest().to_vec(),
            },
        })
    }
}

// ---------------------------------------------------------------------------------------
// Frames

/// The payload of a ZCL frame.
#[derive(Debug, Clone, PartialEq)]
pub enum ZclPayload {
    /// A general command.
    General(GeneralCommand),
    /// A cluster-specific command.
    Cluster(ClusterCommand),
}

/// A whole ZCL frame: header and decoded payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ZclFrame {
    /// The header (its `command_id` and `frame_type` agree with the payload).
    pub header: ZclHeader,
    /// The payload.
    pub payload: ZclPayload,
}

impl ZclFrame {
    /// A general command frame. Frames from the server side have disable-default-response
    /// set, as Smart Energy devices (and zigpy) send them.
    #[must_use]
    pub fn general(tsn: u8, direction: Direction, command: GeneralCommand) -> Self {
        Self {
            header: ZclHeader {
                frame_type: FrameType::General,
                manufacturer_code: None,
                direction,
                disable_default_response: direction == Direction::ServerToClient,
                tsn,
                command_id: command.command_id(),
            },
            payload: ZclPayload::General(command),
        }
    }

    /// A cluster-specific command frame, in the command's own direction (client → server
    /// for [`ClusterCommand::Raw`]); disable-default-response is set for server → client
    /// frames, as for [`Self::general`].
    #[must_use]
    pub fn cluster(tsn: u8, command: ClusterCommand) -> Self {
        let direction = command
            .cluster_and_direction()
            .map_or(Direction::ClientToServer, |(_, d)| d);
        Self {
            header: ZclHeader {
                frame_type: FrameType::ClusterSpecific,
                manufacturer_code: None,
                direction,
                disable_default_response: direction == Direction::ServerToClient,
                tsn,
                command_id: command.command_id(),
            },
            payload: ZclPayload::Cluster(command),
        }
    }

    /// The same frame, manufacturer-specific with `code`.
    #[must_use]
    pub fn with_manufacturer(mut self, code: u16) -> Self {
        self.header.manufacturer_code = Some(code);
        self
    }

    /// The same frame with disable-default-response set as given.
    #[must_use]
    pub fn with_disable_default_response(mut self, disable: bool) -> Self {
        self.header.disable_default_response = disable;
        self
    }

    /// The same frame with the direction set as given.
    #[must_use]
    pub fn with_direction(mut self, direction: Direction) -> Self {
        self.header.direction = direction;
        self
    }

    /// Encodes the frame.
    ///
    /// # Errors
    /// When the header disagrees with the payload (frame type, command id) or a value does
    /// not fit its type.
    pub fn encode(&self) -> Result<Vec<u8>, ZclError> {
        let (frame_type, id) = match &self.payload {
            ZclPayload::General(g) => (FrameType::General, g.command_id()),
            ZclPayload::Cluster(c) => (FrameType::ClusterSpecific, c.command_id()),
        };
        if frame_type != self.header.frame_type || id != self.header.command_id {
            return Err(ZclError::new(
                0,
                format!(
                    "header says {:?} command 0x{:02x}, payload is {frame_type:?} command 0x{id:02x}",
                    self.header.frame_type, self.header.command_id
                ),
            ));
        }
        let mut out = Vec::with_capacity(16);
        self.header.encode_into(&mut out);
        match &self.payload {
            ZclPayload::General(g) => g.encode_into(&mut out)?,
            ZclPayload::Cluster(c) => c.encode_into(&mut out)?,
        }
        Ok(out)
    }

    /// Decodes a frame received on cluster `cluster_id` (the cluster is carried by the
    /// APS layer, not the ZCL frame, and selects the cluster-specific command table).
    ///
    /// # Errors
    /// [`ZclError`] naming the byte offset and field for truncated or malformed frames,
    /// unsupported data types, and bytes left over after a fixed-size payload.
    pub fn decode(cluster_id: u16, bytes: &[u8]) -> Result<Self, ZclError> {
        let mut r = Reader::new(bytes);
        let header = ZclHeader::decode(&mut r)?;
        let payload = match header.frame_type {
            FrameType::General => {
                ZclPayload::General(GeneralCommand::decode(header.command_id, &mut r)?)
            }
            FrameType::ClusterSpecific if header.manufacturer_code.is_some() => {
                ZclPayload::Cluster(ClusterCommand::Raw {
                    command_id: header.command_id,
                    payload: r.rest().to_vec(),
                })
            }
            FrameType::ClusterSpecific => ZclPayload::Cluster(ClusterCommand::decode(
                cluster_id,
                header.direction,
                header.command_id,
                &mut r,
            )?),
        };
        if r.remaining() > 0 {
            return Err(ZclError::new(
                r.pos,
                format!(
                    "command 0x{:02x}: {} bytes left over after the payload",
                    header.command_id,
                    r.remaining()
                ),
            ));
        }
        Ok(Self { header, payload })
    }
}

// ---------------------------------------------------------------------------------------
// Attribute tables

/// An attribute of a cluster's server side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeDef {
    /// Cluster id.
    pub cluster: u16,
    /// Attribute id.
    pub id: u16,
    /// Name in the ZCL / SE specification.
    pub name: &'static str,
    /// Its data type.
    pub data_type: DataType,
}

/// `AttributeDef`s from `CLUSTER { id "Name" TYPE, … }` groups (cluster ids from
/// [`cluster`], types from [`DataType`]).
macro_rules! attribute_table {
    ($($cluster:ident { $($id:literal $name:literal $ty:ident,)* })*) => {
        &[$($(AttributeDef {
            cluster: cluster::$cluster,
            id: $id,
            name: $name,
            data_type: DataType::$ty,
        },)*)*]
    };
}

/// Attribute ids of the Metering cluster the rig reads.
pub mod metering {
    /// CurrentSummationDelivered (uint48).
    pub const CURRENT_SUMMATION_DELIVERED: u16 = 0x0000;
    /// CurrentSummationReceived (uint48).
    pub const CURRENT_SUMMATION_RECEIVED: u16 = 0x0001;
    /// Status (bitmap8).
    pub const STATUS: u16 = 0x0200;
    /// UnitOfMeasure (enum8).
    pub const UNIT_OF_MEASURE: u16 = 0x0300;
    /// Multiplier (uint24).
    pub const MULTIPLIER: u16 = 0x0301;
    /// Divisor (uint24).
    pub const DIVISOR: u16 = 0x0302;
    /// InstantaneousDemand (int24).
    pub const INSTANTANEOUS_DEMAND: u16 = 0x0400;
}

/// The attributes of Basic, Time, Metering, Price and Prepayment that a rig reads (ZCL
/// rev. 6 for Basic and Time, SE 1.2 for the others). Messaging has no attributes.
pub const ATTRIBUTES: &[AttributeDef] = attribute_table! {
    BASIC {
        0x0000 "ZCLVersion" UINT8,
        0x0001 "ApplicationVersion" UINT8,
        0x0002 "StackVersion" UINT8,
        0x0003 "HWVersion" UINT8,
        0x0004 "ManufacturerName" CharString,
        0x0005 "ModelIdentifier" CharString,
        0x0006 "DateCode" CharString,
        0x0007 "PowerSource" Enum8,
        0x4000 "SWBuildID" CharString,
    }
    TIME {
        0x0000 "Time" UtcTime,
        0x0001 "TimeStatus" BITMAP8,
        0x0002 "TimeZone" INT32,
        0x0003 "DstStart" UINT32,
        0x0004 "DstEnd" UINT32,
        0x0005 "DstShift" INT32,
        0x0006 "StandardTime" UINT32,
        0x0007 "LocalTime" UINT32,
        0x0008 "LastSetTime" UtcTime,
        0x0009 "ValidUntilTime" UtcTime,
    }
    METERING {
        0x0000 "CurrentSummationDelivered" UINT48,
        0x0001 "CurrentSummationReceived" UINT48,
        0x0002 "CurrentMaxDemandDelivered" UINT48,
        0x0003 "CurrentMaxDemandReceived" UINT48,
        0x0006 "PowerFactor" INT8,
        0x0007 "ReadingSnapShotTime" UtcTime,
        0x0014 "SupplyStatus" Enum8,
        0x0200 "Status" BITMAP8,
        0x0300 "UnitOfMeasure" Enum8,
        0x0301 "Multiplier" UINT24,
        0x0302 "Divisor" UINT24,
        0x0303 "SummationFormatting" BITMAP8,
        0x0304 "DemandFormatting" BITMAP8,
        0x0306 "MeteringDeviceType" BITMAP8,
        0x0308 "MeterSerialNumber" OctetString,
        0x0400 "InstantaneousDemand" INT24,
    }
    PRICE {
        0x0000 "Tier1PriceLabel" OctetString,
        0x0300 "CommodityType" Enum8,
        0x0301 "StandingCharge" UINT32,
        0x0610 "TariffLabel" OctetString,
        0x0611 "NumberOfPriceTiersInUse" UINT8,
        0x0615 "UnitOfMeasure" Enum8,
        0x0616 "Currency" UINT16,
        0x0617 "PriceTrailingDigit" BITMAP8,
    }
    PREPAYMENT {
        0x0000 "PaymentControlConfiguration" BITMAP16,
        0x0001 "CreditRemaining" INT32,
        0x0002 "EmergencyCreditRemaining" INT32,
        0x0003 "CreditStatus" BITMAP8,
        0x0004 "CreditRemainingTimeStamp" UtcTime,
        0x0005 "AccumulatedDebt" INT32,
        0x0006 "OverallDebtCap" INT32,
        0x0010 "EmergencyCreditLimitAllowance" UINT32,
        0x0011 "EmergencyCreditThreshold" UINT32,
        0x0020 "TotalCreditAdded" UINT48,
        0x0021 "MaxCreditLimit" UINT32,
        0x0022 "MaxCreditPerTopUp" UINT32,
        0x0031 "LowCreditWarningLevel" UINT32,
    }
};

/// The definition of attribute `id` of `cluster`, if the table has it.
#[must_use]
pub fn attribute(cluster: u16, id: u16) -> Option<&'static AttributeDef> {
    ATTRIBUTES
        .iter()
        .find(|a| a.cluster == cluster && a.id == id)
}

/// The definition of a cluster-specific command, if the table has it.
#[must_use]
pub fn command(cluster: u16, direction: Direction, id: u8) -> Option<&'static CommandDef> {
    COMMANDS
        .iter()
        .find(|c| c.cluster == cluster && c.direction == direction && c.id == id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::transport::testing::{XorShift, each_prefix, hex};

    #[test]
    fn report_attributes_round_trips() {
        let f = ZclFrame::general(
            0x42,
            Direction::ServerToClient,
            GeneralCommand::ReportAttributes(vec![AttributeRecord {
                id: metering::CURRENT_SUMMATION_DELIVERED,
                value: ZclValue::uint48(123_456_789),
            }]),
        );
        let b = f.encode().unwrap();
        assert_eq!(b, hex("18420a00002515cd5b070000"));
        assert_eq!(ZclFrame::decode(cluster::METERING, &b).unwrap(), f);
    }

    #[test]
    fn signed_values_sign_extend_and_range_check() {
        let mut out = Vec::new();
        ZclValue::Int(3, -2).encode_into(&mut out).unwrap();
        assert_eq!(out, [0xFE, 0xFF, 0xFF]);
        let v = ZclValue::decode(&mut Reader::new(&out), DataType::INT24, "x").unwrap();
        assert_eq!(v, ZclValue::Int(3, -2));
        assert!(ZclValue::Int(1, 128).encode_into(&mut Vec::new()).is_err());
        assert!(
            ZclValue::Uint(3, 1 << 24)
                .encode_into(&mut Vec::new())
                .is_err()
        );
        assert!(ZclValue::Uint(9, 1).encode_into(&mut Vec::new()).is_err());
        ZclValue::Int(8, i64::MIN)
            .encode_into(&mut Vec::new())
            .unwrap();
    }

    #[test]
    fn errors_name_the_offset_and_field() {
        let e = ZclFrame::decode(cluster::METERING, &hex("18420a00002515cd5b")).unwrap_err();
        assert_eq!(e.offset, 6);
        assert!(e.message.contains("attribute 0x0000"), "{e}");
        let e = ZclFrame::decode(cluster::METERING, &hex("18420a0000480000")).unwrap_err();
        assert!(e.message.contains("0x48"), "{e}");
        let e = ZclFrame::decode(cluster::METERING, &hex("03420a")).unwrap_err();
        assert!(e.message.contains("reserved frame type"), "{e}");
        let e = ZclFrame::decode(cluster::METERING, &hex("011300000000000018ff")).unwrap_err();
        assert!(e.message.contains("left over"), "{e}");
    }

    /// Every prefix of valid frames, and random bytes, decode to a value or an error, never
    /// a panic; and what decodes re-encodes to the same bytes.
    #[test]
    fn decoding_never_panics_on_truncated_or_random_input() {
        let samples = [
            "1811010000002515cd5b070000000300300001030022010000020386",
            "001206000000251e0084030a0000000000",
            "011300000000000018",
            "19010000efbeadde00021801000000020000000300000400",
            "0912abcd0a0000e2785634120100101a0200ff",
            "094400000000000000000000000000000000000000000000000000000000000000",
        ];
        let samples: Vec<Vec<u8>> = samples.into_iter().map(hex).collect();
        for cl in [
            cluster::METERING,
            cluster::PRICE,
            cluster::MESSAGING,
            cluster::PREPAYMENT,
        ] {
            each_prefix(&samples, |b| {
                let _ = ZclFrame::decode(cl, b);
            });
        }
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut decoded = 0;
        for _ in 0..50_000 {
            let x = rng.next_u64();
            let len = usize::try_from(x % 40).unwrap();
            let mut bytes = XorShift(x);
            let buf: Vec<u8> = (0..len)
                .map(|_| bytes.next_u64().to_le_bytes()[3])
                .collect();
            let cl = [
                cluster::METERING,
                cluster::PRICE,
                cluster::PREPAYMENT,
                cluster::MESSAGING,
            ][usize::try_from(x % 4).unwrap()];
            if let Ok(f) = ZclFrame::decode(cl, &buf) {
                decoded += 1;
                // Re-encoding may differ only where the wire allows two forms of the same
                // value (an "invalid" 0xFF string length, a success with trailing bytes).
                if let Ok(again) = f.encode() {
                    let _ = ZclFrame::decode(cl, &again).unwrap();
                }
            }
        }
        assert!(decoded > 100, "only {decoded} random frames decoded");
    }

    #[test]
    fn tables_have_the_metering_basics() {
        let a = attribute(cluster::METERING, metering::INSTANTANEOUS_DEMAND).unwrap();
        assert_eq!(a.data_type, DataType::INT24);
        assert_eq!(
            attribute(cluster::BASIC, 0x0005).unwrap().name,
            "ModelIdentifier"
        );
        assert_eq!(
            command(cluster::MESSAGING, Direction::ClientToServer, 0x01)
                .unwrap()
                .name,
            "MessageConfirmation"
        );
        for id in 0..=0xFFu8 {
            if let Some(t) = DataType::from_id(id) {
                assert_eq!(t.id(), id);
            }
        }
    }
}
