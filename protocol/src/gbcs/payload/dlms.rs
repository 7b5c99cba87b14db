//! DLMS COSEM APDUs carried in GBCS payloads (PROTOCOLS.md §4.6), in A-XDR:
//!
//! ```text
//! Access-Request     D9 ‖ long-invoke-id-and-priority (4) ‖ date-time ‖ n ‖ spec* ‖ n ‖ Data*
//! Access-Response    DA ‖ long-invoke-id-and-priority (4) ‖ date-time ‖ [00 | 01 n spec*]
//!                       ‖ n ‖ Data* ‖ n ‖ response-spec*
//! Data-Notification  0F ‖ long-invoke-id-and-priority (4) ‖ date-time ‖ Data
//! ```
//!
//! The date-time is an A-XDR octet-string: `00` (absent, always so in GBCS) or `0C` and a
//! COSEM date-time. The list of data has exactly one entry per specification.

use std::fmt;

use serde_json::{Value, json};

use super::block::Writer;
use super::cursor::Cursor;
use super::data::Data;
use super::error::PayloadError;
use super::length::{LengthForm, write_length};
use super::render::Render;
use crate::gbcs::CosemDateTime;

/// APDU tag of an Access-Request.
pub const ACCESS_REQUEST: u8 = 0xd9;
/// APDU tag of an Access-Response.
pub const ACCESS_RESPONSE: u8 = 0xda;
/// APDU tag of a Data-Notification.
pub const DATA_NOTIFICATION: u8 = 0x0f;

/// `long-invoke-id-and-priority`: flag bits in the top byte, the invoke-id in the low 24 bits.
/// GBCS sets the top byte to `0x20` and the invoke-id to the low 24 bits of the grouping
/// header's originator counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LongInvokeId(pub u32);

impl LongInvokeId {
    /// The value GBCS expects for a message with originator counter `counter`.
    pub fn for_counter(counter: u64) -> Self {
        LongInvokeId(0x2000_0000 | (counter & 0x00ff_ffff) as u32)
    }

    /// The invoke-id: the low 24 bits.
    pub fn invoke_id(self) -> u32 {
        self.0 & 0x00ff_ffff
    }

    /// The flag byte (priority, service class, self-descriptive, processing option).
    pub fn flags(self) -> u8 {
        (self.0 >> 24) as u8
    }

    /// Whether this is exactly what GBCS requires for `counter` (flags `0x20`, low 24 bits of
    /// the counter).
    pub fn matches_counter(self, counter: u64) -> bool {
        self == LongInvokeId::for_counter(counter)
    }
}

/// An OBIS code: the 6-byte COSEM logical name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Obis(pub [u8; 6]);

impl fmt::Display for Obis {
    /// `a.b.c.d.e.f` in decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a}.{b}.{c}.{d}.{e}.{g}")
    }
}

/// A COSEM attribute or method descriptor: class-id, instance-id (OBIS) and attribute or
/// method id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CosemDescriptor {
    /// Interface class.
    pub class_id: u16,
    /// Logical name.
    pub instance_id: Obis,
    /// Attribute id (get/set) or method id (action).
    pub id: i8,
}

impl CosemDescriptor {
    fn read(c: &mut Cursor<'_>) -> Result<Self, PayloadError> {
        Ok(CosemDescriptor {
            class_id: c.u16("class-id")?,
            instance_id: Obis(c.array("instance-id")?),
            id: i8::from_be_bytes(c.array("attribute-id or method-id")?),
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.class_id.to_be_bytes());
        out.extend_from_slice(&self.instance_id.0);
        out.extend_from_slice(&self.id.to_be_bytes());
    }

    fn json(&self, id_name: &str) -> Value {
        let mut o = json!({"class_id": self.class_id, "instance_id": self.instance_id.to_string()});
        o[id_name] = json!(self.id);
        o
    }
}

/// Selective access: an access selector and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectiveAccess<'a> {
    /// Access selector.
    pub selector: u8,
    /// Access parameters.
    pub parameters: Data<'a>,
}

/// One access-request-specification.
#[derive(Debug, Clone, PartialEq)]
pub enum AccessRequestSpec<'a> {
    /// `[1]` get an attribute.
    Get(CosemDescriptor),
    /// `[2]` set an attribute.
    Set(CosemDescriptor),
    /// `[3]` invoke a method.
    Action(CosemDescriptor),
    /// `[4]` get an attribute with selective access.
    GetWithSelection(CosemDescriptor, SelectiveAccess<'a>),
    /// `[5]` set an attribute with selective access.
    SetWithSelection(CosemDescriptor, SelectiveAccess<'a>),
}

impl<'a> AccessRequestSpec<'a> {
    /// The choice tag (1–5).
    pub fn choice(&self) -> u8 {
        match self {
            AccessRequestSpec::Get(_) => 1,
            AccessRequestSpec::Set(_) => 2,
            AccessRequestSpec::Action(_) => 3,
            AccessRequestSpec::GetWithSelection(..) => 4,
            AccessRequestSpec::SetWithSelection(..) => 5,
        }
    }

    /// The DLMS name of the choice.
    pub fn name(&self) -> &'static str {
        match self {
            AccessRequestSpec::Get(_) => "get",
            AccessRequestSpec::Set(_) => "set",
            AccessRequestSpec::Action(_) => "action",
            AccessRequestSpec::GetWithSelection(..) => "get-with-selection",
            AccessRequestSpec::SetWithSelection(..) => "set-with-selection",
        }
    }

    /// The attribute or method descriptor.
    pub fn descriptor(&self) -> &CosemDescriptor {
        match self {
            AccessRequestSpec::Get(d)
            | AccessRequestSpec::Set(d)
            | AccessRequestSpec::Action(d)
            | AccessRequestSpec::GetWithSelection(d, _)
            | AccessRequestSpec::SetWithSelection(d, _) => d,
        }
    }

    /// The selective access, for the `-with-selection` choices.
    pub fn selective_access(&self) -> Option<&SelectiveAccess<'a>> {
        match self {
            AccessRequestSpec::GetWithSelection(_, s)
            | AccessRequestSpec::SetWithSelection(_, s) => Some(s),
            _ => None,
        }
    }

    fn read(c: &mut Cursor<'a>) -> Result<Self, PayloadError> {
        let offset = c.offset();
        let choice = c.u8("access-request-specification choice")?;
        if !(1..=5).contains(&choice) {
            return Err(PayloadError::Unexpected {
                offset,
                what: "access-request-specification choice",
                found: u64::from(choice),
                expected: "1 (get), 2 (set), 3 (action), 4 (get-with-selection) or 5 (set-with-selection)",
            });
        }
        let d = CosemDescriptor::read(c)?;
        let selection = |c: &mut Cursor<'a>| -> Result<SelectiveAccess<'a>, PayloadError> {
            Ok(SelectiveAccess {
                selector: c.u8("access-selector")?,
                parameters: Data::read(c, 0)?,
            })
        };
        Ok(match choice {
            1 => AccessRequestSpec::Get(d),
            2 => AccessRequestSpec::Set(d),
            3 => AccessRequestSpec::Action(d),
            4 => AccessRequestSpec::GetWithSelection(d, selection(c)?),
            _ => AccessRequestSpec::SetWithSelection(d, selection(c)?),
        })
    }

    fn write(&self, w: &mut Writer) {
        w.out.push(self.choice());
        self.descriptor().write(&mut w.out);
        if let Some(s) = self.selective_access() {
            w.out.push(s.selector);
            s.parameters.write(w);
        }
    }

    fn json(&self, r: &mut Render<'_>) -> Value {
        let id_name = if matches!(self, AccessRequestSpec::Action(_)) {
            "method_id"
        } else {
            "attribute_id"
        };
        let mut o = self.descriptor().json(id_name);
        o["request"] = json!(self.name());
        if let Some(s) = self.selective_access() {
            o["selective_access"] =
                json!({"selector": s.selector, "parameters": s.parameters.json(r)});
        }
        o
    }
}

/// A `Data-Access-Result` (get and set results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataAccessResult(pub u8);

impl DataAccessResult {
    /// The DLMS name, if the value is defined.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "success",
            1 => "hardware-fault",
            2 => "temporary-failure",
            3 => "read-write-denied",
            4 => "object-undefined",
            9 => "object-class-inconsistent",
            11 => "object-unavailable",
            12 => "type-unmatched",
            13 => "scope-of-access-violated",
            14 => "data-block-unavailable",
            15 => "long-get-aborted",
            16 => "no-long-get-in-progress",
            17 => "long-set-aborted",
            18 => "no-long-set-in-progress",
            19 => "data-block-number-invalid",
            250 => "other-reason",
            _ => return None,
        })
    }
}

/// An `Action-Result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActionResult(pub u8);

impl ActionResult {
    /// The DLMS name, if the value is defined.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "success",
            1 => "hardware-fault",
            2 => "temporary-failure",
            3 => "read-write-denied",
            4 => "object-undefined",
            9 => "object-class-inconsistent",
            11 => "object-unavailable",
            12 => "type-unmatched",
            13 => "scope-of-access-violated",
            14 => "data-block-unavailable",
            15 => "long-action-aborted",
            16 => "no-long-action-in-progress",
            250 => "other-reason",
            _ => return None,
        })
    }
}

/// One access-response-specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessResponseSpec {
    /// `[1]` result of a get.
    Get(DataAccessResult),
    /// `[2]` result of a set.
    Set(DataAccessResult),
    /// `[3]` result of an action.
    Action(ActionResult),
}

impl AccessResponseSpec {
    /// The choice tag (1–3).
    pub fn choice(&self) -> u8 {
        match self {
            AccessResponseSpec::Get(_) => 1,
            AccessResponseSpec::Set(_) => 2,
            AccessResponseSpec::Action(_) => 3,
        }
    }

    /// The raw result value.
    pub fn result(&self) -> u8 {
        match self {
            AccessResponseSpec::Get(r) | AccessResponseSpec::Set(r) => r.0,
            AccessResponseSpec::Action(r) => r.0,
        }
    }

    /// Whether the result is `success` (0).
    pub fn is_success(&self) -> bool {
        self.result() == 0
    }

    fn read(c: &mut Cursor<'_>) -> Result<Self, PayloadError> {
        let offset = c.offset();
        let choice = c.u8("access-response-specification choice")?;
        let result = c.u8("access-response result")?;
        Ok(match choice {
            1 => AccessResponseSpec::Get(DataAccessResult(result)),
            2 => AccessResponseSpec::Set(DataAccessResult(result)),
            3 => AccessResponseSpec::Action(ActionResult(result)),
            _ => {
                return Err(PayloadError::Unexpected {
                    offset,
                    what: "access-response-specification choice",
                    found: u64::from(choice),
                    expected: "1 (get), 2 (set) or 3 (action)",
                });
            }
        })
    }

    fn json(&self) -> Value {
        let (kind, name) = match self {
            AccessResponseSpec::Get(r) => ("get", r.name()),
            AccessResponseSpec::Set(r) => ("set", r.name()),
            AccessResponseSpec::Action(r) => ("action", r.name()),
        };
        json!({"response": kind, "result": self.result(), "result_name": name})
    }
}

/// An Access-Request (commands).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRequest<'a> {
    /// Invoke-id and priority.
    pub invoke_id: LongInvokeId,
    /// Date-time (absent in GBCS).
    pub date_time: Option<CosemDateTime>,
    /// What to get, set or invoke.
    pub specifications: Vec<AccessRequestSpec<'a>>,
    /// One value per specification (`null-data` for gets).
    pub data: Vec<Data<'a>>,
}

/// An Access-Response (responses).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessResponse<'a> {
    /// Invoke-id and priority (as in the request).
    pub invoke_id: LongInvokeId,
    /// Date-time (absent in GBCS).
    pub date_time: Option<CosemDateTime>,
    /// The optional echo of the request's specifications.
    pub request_specifications: Option<Vec<AccessRequestSpec<'a>>>,
    /// One value per response specification.
    pub data: Vec<Data<'a>>,
    /// One result per request specification.
    pub specifications: Vec<AccessResponseSpec>,
}

/// A Data-Notification (DLMS alerts).
#[derive(Debug, Clone, PartialEq)]
pub struct DataNotification<'a> {
    /// Invoke-id and priority.
    pub invoke_id: LongInvokeId,
    /// Date-time (absent in GBCS).
    pub date_time: Option<CosemDateTime>,
    /// The notification body, in GBCS a structure whose first members are the alert code and
    /// a timestamp.
    pub body: Data<'a>,
}

/// A DLMS APDU.
#[derive(Debug, Clone, PartialEq)]
pub enum Apdu<'a> {
    /// `D9`.
    AccessRequest(AccessRequest<'a>),
    /// `DA`.
    AccessResponse(AccessResponse<'a>),
    /// `0F`.
    DataNotification(DataNotification<'a>),
}

fn read_date_time(c: &mut Cursor<'_>) -> Result<Option<CosemDateTime>, PayloadError> {
    let offset = c.offset();
    let v = c.length_prefixed("date-time")?;
    match <&[u8; 12]>::try_from(v) {
        Ok(b) => Ok(Some(CosemDateTime::from_bytes(b))),
        Err(_) if v.is_empty() => Ok(None),
        Err(_) => Err(PayloadError::Length {
            offset,
            what: "date-time length",
            declared: v.len(),
            expected: "0 (absent) or 12".to_owned(),
        }),
    }
}

fn write_date_time(out: &mut Vec<u8>, dt: &Option<CosemDateTime>) {
    match dt {
        None => out.push(0),
        Some(dt) => {
            out.push(12);
            out.extend_from_slice(&dt.to_bytes());
        }
    }
}

fn read_specs<'a>(c: &mut Cursor<'a>) -> Result<Vec<AccessRequestSpec<'a>>, PayloadError> {
    // Every specification takes at least 10 bytes (choice and descriptor).
    let n = c.count("access-request-specification count", 10)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(AccessRequestSpec::read(c)?);
    }
    Ok(v)
}

fn read_data_list<'a>(c: &mut Cursor<'a>, expected: usize) -> Result<Vec<Data<'a>>, PayloadError> {
    let offset = c.offset();
    let n = c.count("list-of-data count", 1)?;
    if n != expected {
        return Err(PayloadError::Length {
            offset,
            what: "list-of-data count",
            declared: n,
            expected: format!("{expected} (one per specification)"),
        });
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(Data::read(c, 0)?);
    }
    Ok(v)
}

fn write_count(out: &mut Vec<u8>, n: usize) {
    write_length(out, n, LengthForm::minimal(n));
}

fn header_json(kind: &str, invoke_id: LongInvokeId, dt: &Option<CosemDateTime>) -> Value {
    json!({
        "kind": kind,
        "long_invoke_id_and_priority": format!("{:08x}", invoke_id.0),
        "invoke_id": invoke_id.invoke_id(),
        "date_time": dt.map(|d| d.to_string()),
    })
}

impl<'a> Apdu<'a> {
    /// Decodes one APDU filling `content`.
    pub fn decode(content: &'a [u8]) -> Result<Self, PayloadError> {
        let mut c = Cursor::new(content);
        let apdu = Apdu::read(&mut c)?;
        c.finish("the DLMS APDU")?;
        Ok(apdu)
    }

    pub(crate) fn read(c: &mut Cursor<'a>) -> Result<Self, PayloadError> {
        let offset = c.offset();
        let t = c.u8("DLMS APDU tag")?;
        let invoke_id = LongInvokeId(c.u32("long-invoke-id-and-priority")?);
        let date_time = read_date_time(c)?;
        match t {
            ACCESS_REQUEST => {
                let specifications = read_specs(c)?;
                let data = read_data_list(c, specifications.len())?;
                Ok(Apdu::AccessRequest(AccessRequest {
                    invoke_id,
                    date_time,
                    specifications,
                    data,
                }))
            }
            ACCESS_RESPONSE => {
                let flag_offset = c.offset();
                let request_specifications = match c.u8("access-request-specification presence")? {
                    0 => None,
                    1 => Some(read_specs(c)?),
                    b => {
                        return Err(PayloadError::Unexpected {
                            offset: flag_offset,
                            what: "access-request-specification presence",
                            found: u64::from(b),
                            expected: "00 (absent) or 01 (present)",
                        });
                    }
                };
                let n = c.count("list-of-data count", 1)?;
                let mut data = Vec::with_capacity(n);
                for _ in 0..n {
                    data.push(Data::read(c, 0)?);
                }
                let spec_offset = c.offset();
                let m = c.count("access-response-specification count", 2)?;
                if m != n {
                    return Err(PayloadError::Length {
                        offset: spec_offset,
                        what: "access-response-specification count",
                        declared: m,
                        expected: format!("{n} (one per list-of-data entry)"),
                    });
                }
                let mut specifications = Vec::with_capacity(m);
                for _ in 0..m {
                    specifications.push(AccessResponseSpec::read(c)?);
                }
                Ok(Apdu::AccessResponse(AccessResponse {
                    invoke_id,
                    date_time,
                    request_specifications,
                    data,
                    specifications,
                }))
            }
            DATA_NOTIFICATION => {
                let body = Data::read(c, 0)?;
                Ok(Apdu::DataNotification(DataNotification {
                    invoke_id,
                    date_time,
                    body,
                }))
            }
            _ => Err(PayloadError::Unexpected {
                offset,
                what: "DLMS APDU tag",
                found: u64::from(t),
                expected: "d9 (access-request), da (access-response) or 0f (data-notification)",
            }),
        }
    }

    /// The invoke-id and priority.
    pub fn invoke_id(&self) -> LongInvokeId {
        match self {
            Apdu::AccessRequest(a) => a.invoke_id,
            Apdu::AccessResponse(a) => a.invoke_id,
            Apdu::DataNotification(a) => a.invoke_id,
        }
    }

    /// The APDU tag.
    pub fn tag(&self) -> u8 {
        match self {
            Apdu::AccessRequest(_) => ACCESS_REQUEST,
            Apdu::AccessResponse(_) => ACCESS_RESPONSE,
            Apdu::DataNotification(_) => DATA_NOTIFICATION,
        }
    }

    /// Appends the A-XDR encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(std::mem::take(out));
        self.write(&mut w);
        *out = w.out;
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.out.push(self.tag());
        w.out.extend_from_slice(&self.invoke_id().0.to_be_bytes());
        match self {
            Apdu::AccessRequest(a) => {
                write_date_time(&mut w.out, &a.date_time);
                write_count(&mut w.out, a.specifications.len());
                for s in &a.specifications {
                    s.write(w);
                }
                write_count(&mut w.out, a.data.len());
                for d in &a.data {
                    d.write(w);
                }
            }
            Apdu::AccessResponse(a) => {
                write_date_time(&mut w.out, &a.date_time);
                match &a.request_specifications {
                    None => w.out.push(0),
                    Some(specs) => {
                        w.out.push(1);
                        write_count(&mut w.out, specs.len());
                        for s in specs {
                            s.write(w);
                        }
                    }
                }
                write_count(&mut w.out, a.data.len());
                for d in &a.data {
                    d.write(w);
                }
                write_count(&mut w.out, a.specifications.len());
                for s in &a.specifications {
                    w.out.push(s.choice());
                    w.out.push(s.result());
                }
            }
            Apdu::DataNotification(a) => {
                write_date_time(&mut w.out, &a.date_time);
                a.body.write(w);
            }
        }
    }

    pub(crate) fn json(&self, r: &mut Render<'_>) -> Value {
        match self {
            Apdu::AccessRequest(a) => {
                let mut o = header_json("dlms-access-request", a.invoke_id, &a.date_time);
                o["specifications"] =
                    Value::Array(a.specifications.iter().map(|s| s.json(r)).collect());
                o["data"] = Value::Array(a.data.iter().map(|d| d.json(r)).collect());
                o
            }
            Apdu::AccessResponse(a) => {
                let mut o = header_json("dlms-access-response", a.invoke_id, &a.date_time);
                o["request_specifications"] = match &a.request_specifications {
                    None => Value::Null,
                    Some(specs) => Value::Array(specs.iter().map(|s| s.json(r)).collect()),
                };
                o["data"] = Value::Array(a.data.iter().map(|d| d.json(r)).collect());
                o["specifications"] = Value::Array(
                    a.specifications
                        .iter()
                        .map(AccessResponseSpec::json)
                        .collect(),
                );
                o
            }
            Apdu::DataNotification(a) => {
                let mut o = header_json("dlms-data-notification", a.invoke_id, &a.date_time);
                if let Data::Structure(items) = &a.body
                    && let Some(Data::LongUnsigned(code)) = items.first()
                {
                    o["alert_code"] = json!(format!("{code:04x}"));
                }
                o["body"] = a.body.json(r);
                o
            }
        }
    }
}
