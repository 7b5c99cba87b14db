//! Building DLMS COSEM Access-Requests (PROTOCOLS.md §4.6) for the transform.
//!
//! [`Value`] is an owned `Data` tree; [`Request`] collects access-request-specifications and
//! their data, and encodes them through [`crate::gbcs::payload::dlms`] with the
//! long-invoke-id GBCS requires (`0x20` ‖ the low 24 bits of the originator counter).

use crate::gbcs::CosemDateTime;
use crate::gbcs::payload::data::{BitString, Data};
use crate::gbcs::payload::dlms::{
    AccessRequest, AccessRequestSpec, Apdu, CosemDescriptor, LongInvokeId, Obis, SelectiveAccess,
};

/// An OBIS code `a.b.c.d.e.f`.
pub(crate) const fn obis(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8) -> [u8; 6] {
    [a, b, c, d, e, f]
}

/// An owned DLMS `Data` value (the subset GBCS commands use).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `null-data`.
    Null,
    /// `array`.
    Array(Vec<Value>),
    /// `structure`.
    Structure(Vec<Value>),
    /// `boolean`.
    Boolean(bool),
    /// `bit-string` of `bits` bits.
    BitString { bits: usize, bytes: Vec<u8> },
    /// `double-long`.
    DoubleLong(i32),
    /// `double-long-unsigned`.
    DoubleLongUnsigned(u32),
    /// `octet-string`.
    OctetString(Vec<u8>),
    /// `visible-string`.
    VisibleString(Vec<u8>),
    /// `integer`.
    Integer(i8),
    /// `long`.
    Long(i16),
    /// `unsigned`.
    Unsigned(u8),
    /// `long-unsigned`.
    LongUnsigned(u16),
    /// `enum`.
    Enum(u8),
}

impl Value {
    /// An octet-string holding a COSEM date-time.
    pub(crate) fn date_time(dt: &CosemDateTime) -> Value {
        Value::OctetString(dt.to_bytes().to_vec())
    }

    /// The borrowed `Data` the payload encoder takes.
    pub(crate) fn data(&self) -> Data<'_> {
        match self {
            Value::Null => Data::Null,
            Value::Array(v) => Data::Array(v.iter().map(Value::data).collect()),
            Value::Structure(v) => Data::Structure(v.iter().map(Value::data).collect()),
            Value::Boolean(b) => Data::Boolean(*b),
            Value::BitString { bits, bytes } => Data::BitString(BitString { bits: *bits, bytes }),
            Value::DoubleLong(v) => Data::DoubleLong(*v),
            Value::DoubleLongUnsigned(v) => Data::DoubleLongUnsigned(*v),
            Value::OctetString(v) => Data::OctetString(v),
            Value::VisibleString(v) => Data::VisibleString(v),
            Value::Integer(v) => Data::Integer(*v),
            Value::Long(v) => Data::Long(*v),
            Value::Unsigned(v) => Data::Unsigned(*v),
            Value::LongUnsigned(v) => Data::LongUnsigned(*v),
            Value::Enum(v) => Data::Enum(*v),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Get,
    Set,
    Action,
    GetWithSelection(u8, Value),
}

#[derive(Debug, Clone, PartialEq)]
struct Spec {
    kind: Kind,
    class_id: u16,
    obis: [u8; 6],
    id: i8,
}

/// An Access-Request under construction: specifications in order, one data value each.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Request {
    specs: Vec<Spec>,
    data: Vec<Value>,
}

impl Request {
    /// An empty request.
    pub(crate) fn new() -> Self {
        Request::default()
    }

    fn push(mut self, kind: Kind, class_id: u16, obis: [u8; 6], id: i8, data: Value) -> Self {
        self.specs.push(Spec {
            kind,
            class_id,
            obis,
            id,
        });
        self.data.push(data);
        self
    }

    /// Gets attribute `attr` of object `class_id`/`obis` (data `null-data`).
    pub(crate) fn get(self, class_id: u16, obis: [u8; 6], attr: i8) -> Self {
        self.push(Kind::Get, class_id, obis, attr, Value::Null)
    }

    /// Sets attribute `attr` to `value`.
    pub(crate) fn set(self, class_id: u16, obis: [u8; 6], attr: i8, value: Value) -> Self {
        self.push(Kind::Set, class_id, obis, attr, value)
    }

    /// Invokes method `method` with parameter `value`.
    pub(crate) fn action(self, class_id: u16, obis: [u8; 6], method: i8, value: Value) -> Self {
        self.push(Kind::Action, class_id, obis, method, value)
    }

    /// This request's items followed by `other`'s.
    pub(crate) fn then(mut self, other: Request) -> Self {
        self.specs.extend(other.specs);
        self.data.extend(other.data);
        self
    }

    /// Gets attribute `attr` with selective access (`selector`, `parameters`).
    pub(crate) fn get_with_selection(
        self,
        class_id: u16,
        obis: [u8; 6],
        attr: i8,
        selector: u8,
        parameters: Value,
    ) -> Self {
        self.push(
            Kind::GetWithSelection(selector, parameters),
            class_id,
            obis,
            attr,
            Value::Null,
        )
    }

    /// The A-XDR encoding, with the long-invoke-id of `counter`.
    pub(crate) fn encode(&self, counter: u64) -> Vec<u8> {
        let specifications = self
            .specs
            .iter()
            .map(|s| {
                let d = CosemDescriptor {
                    class_id: s.class_id,
                    instance_id: Obis(s.obis),
                    id: s.id,
                };
                match &s.kind {
                    Kind::Get => AccessRequestSpec::Get(d),
                    Kind::Set => AccessRequestSpec::Set(d),
                    Kind::Action => AccessRequestSpec::Action(d),
                    Kind::GetWithSelection(selector, p) => AccessRequestSpec::GetWithSelection(
                        d,
                        SelectiveAccess {
                            selector: *selector,
                            parameters: p.data(),
                        },
                    ),
                }
            })
            .collect();
        let apdu = Apdu::AccessRequest(AccessRequest {
            invoke_id: LongInvokeId::for_counter(counter),
            date_time: None,
            specifications,
            data: self.data.iter().map(Value::data).collect(),
        });
        let mut out = Vec::new();
        apdu.encode(&mut out);
        out
    }
}

/// The Data Protection object (class 30) through which sensitive values are read.
pub(crate) const DATA_PROTECTION: u16 = 30;

/// Protection parameters of a `get_protected_attributes` call: the device encrypts the
/// response (protection type 2, authenticated encryption) with a key agreed with the
/// requester (key-info: agreed key, key parameters `02`). The transaction-id is the KDF mode
/// byte `04` (payload encryption) ‖ the originator counter.
pub(crate) fn protection_parameters(
    counter: u64,
    originator: &[u8; 8],
    recipient: &[u8; 8],
) -> Value {
    let mut transaction_id = vec![0x04];
    transaction_id.extend_from_slice(&counter.to_be_bytes());
    Value::Array(vec![Value::Structure(vec![
        Value::Enum(2),
        Value::Structure(vec![
            Value::OctetString(transaction_id),
            Value::OctetString(originator.to_vec()),
            Value::OctetString(recipient.to_vec()),
            Value::OctetString(Vec::new()),
            Value::Structure(vec![
                Value::Enum(2),
                Value::Structure(vec![
                    Value::OctetString(vec![0x02]),
                    Value::OctetString(Vec::new()),
                ]),
            ]),
        ]),
    ])])
}

/// One entry of a `get_protected_attributes` object list: attribute `attr` of
/// `class_id`/`obis`, with optional selective access (`selector`, `parameters`).
pub(crate) fn protected_object(
    class_id: u16,
    obis: [u8; 6],
    attr: i8,
    access: Option<(u8, Value)>,
) -> Value {
    let (selector, parameters) = access.unwrap_or((0, Value::Null));
    Value::Structure(vec![
        Value::LongUnsigned(class_id),
        Value::OctetString(obis.to_vec()),
        Value::Integer(attr),
        Value::LongUnsigned(0),
        Value::Structure(vec![Value::Enum(selector), parameters]),
    ])
}

/// An Access-Request that reads `objects` through the Data Protection object `protection`
/// (method 1, `get_protected_attributes`), asking for an encrypted response.
pub(crate) fn protected_get(
    protection: [u8; 6],
    objects: Vec<Value>,
    counter: u64,
    originator: &[u8; 8],
    recipient: &[u8; 8],
) -> Vec<u8> {
    Request::new()
        .action(
            DATA_PROTECTION,
            protection,
            1,
            Value::Structure(vec![
                Value::Array(objects),
                protection_parameters(counter, originator, recipient),
            ]),
        )
        .encode(counter)
}
