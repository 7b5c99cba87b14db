//! The DLMS/COSEM APDUs the client and server exchange: AARQ/AARE and RLRQ/RLRE (BER
//! encoded ACSE with the A-XDR xDLMS InitiateRequest/InitiateResponse inside), GET-Request
//! and GET-Response (normal and with data block), and the exception response.
//!
//! Only LN referencing without security is encoded (application context
//! `2.16.756.5.8.1.1`, lowest level authentication). The `Data` values inside GET responses
//! are A-XDR and decoded by the protocol crate's codec into [`Value`].
//!
//! Decoders return a message naming the field that is wrong; callers wrap it in a
//! [`LinkError`](super::super::LinkError) naming the port.

use crate::value::Value;
use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::dlms::DataAccessResult;

/// Application context name, LN referencing without ciphering (joint-iso-ccitt(2)
/// country(16) country-name(756) identified-organization(5) DLMS-UA(8) application-context(1)
/// context_id(1)), BER encoded with its OBJECT IDENTIFIER tag.
pub const CONTEXT_LN_NO_CIPHER: [u8; 9] = [0x06, 0x07, 0x60, 0x85, 0x74, 0x05, 0x08, 0x01, 0x01];

/// Conformance bits (24-bit block, bit 0 the most significant) this implementation offers.
pub mod conformance {
    /// block-transfer-with-get-or-read (bit 11).
    pub const BLOCK_TRANSFER_WITH_GET: u32 = 1 << (23 - 11);
    /// get (bit 19).
    pub const GET: u32 = 1 << (23 - 19);
    /// selective-access (bit 21).
    pub const SELECTIVE_ACCESS: u32 = 1 << (23 - 21);
}

/// The DLMS name of a data-access-result, e.g. `object-undefined (4)`.
#[must_use]
pub fn data_access_result_name(code: u8) -> String {
    match DataAccessResult(code).name() {
        Some(n) => format!("{n} ({code})"),
        None => format!("data-access-result {code}"),
    }
}

/// Parses `a.b.c.d.e.f` into an OBIS code.
#[must_use]
pub fn obis(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

/// Formats an OBIS code as `a.b.c.d.e.f`.
#[must_use]
pub fn obis_str(o: &[u8; 6]) -> String {
    format!("{}.{}.{}.{}.{}.{}", o[0], o[1], o[2], o[3], o[4], o[5])
}

/// Appends a BER/A-XDR length.
pub fn put_len(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else if n <= 0xFF {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.push(0x82);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    }
}

/// A reader over an APDU that reports which field ran short.
#[derive(Debug)]
struct Rd<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Rd<'a> {
    fn new(b: &'a [u8], what: &'static str) -> Self {
        Self { b, what }
    }
    fn u8(&mut self, field: &str) -> Result<u8, String> {
        let (&x, rest) = self
            .b
            .split_first()
            .ok_or_else(|| format!("{}: ends before {field}", self.what))?;
        self.b = rest;
        Ok(x)
    }
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err(format!(
                "{}: {field} needs {n} bytes, {} left",
                self.what,
                self.b.len()
            ));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u16(&mut self, field: &str) -> Result<u16, String> {
        let s = self.take(2, field)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self, field: &str) -> Result<u32, String> {
        let s = self.take(4, field)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn len(&mut self, field: &str) -> Result<usize, String> {
        let first = self.u8(field)?;
        match first {
            0..=0x7F => Ok(usize::from(first)),
            0x81 => Ok(usize::from(self.u8(field)?)),
            0x82 => Ok(usize::from(self.u16(field)?)),
            _ => Err(format!(
                "{}: {field} has length form 0x{first:02X}",
                self.what
            )),
        }
    }
    fn finish(&self) -> Result<(), String> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(format!("{}: {} trailing bytes", self.what, self.b.len()))
        }
    }
}

/// Splits BER content into `(tag, value)` pairs (single-byte tags).
fn ber_fields<'a>(mut b: &'a [u8], what: &'static str) -> Result<Vec<(u8, &'a [u8])>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let mut r = Rd::new(b, what);
        let tag = r.u8("tag")?;
        let n = r.len("length")?;
        let v = r.take(n, "field value").map_err(|_| {
            format!("{what}: field 0x{tag:02X} announces {n} bytes beyond the APDU")
        })?;
        out.push((tag, v));
        b = r.b;
    }
    Ok(out)
}

/// Reads a whole BER-framed APDU `tag len content`, checking the length covers it exactly.
fn ber_apdu<'a>(apdu: &'a [u8], tag: u8, what: &'static str) -> Result<&'a [u8], String> {
    let mut r = Rd::new(apdu, what);
    let t = r.u8("tag")?;
    if t != tag {
        return Err(format!("{what}: tag 0x{t:02X}, expected 0x{tag:02X}"));
    }
    let n = r.len("length")?;
    if r.b.len() != n {
        return Err(format!(
            "{what}: length {n} but {} content bytes",
            r.b.len()
        ));
    }
    Ok(r.b)
}

fn wrap(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    put_len(out, content.len());
    out.extend_from_slice(content);
}

fn put_conformance(out: &mut Vec<u8>, bits: u32) {
    out.extend_from_slice(&[0x5F, 0x1F, 0x04, 0x00]);
    out.extend_from_slice(&bits.to_be_bytes()[1..]);
}

fn read_conformance(r: &mut Rd<'_>) -> Result<u32, String> {
    let h = r.take(4, "conformance header")?;
    if h != [0x5F, 0x1F, 0x04, 0x00] {
        return Err(format!("{}: conformance block header {h:02X?}", r.what));
    }
    let b = r.take(3, "conformance bits")?;
    Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
}

/// The xDLMS InitiateRequest carried in the AARQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitiateRequest {
    /// Proposed DLMS version (6).
    pub dlms_version: u8,
    /// Proposed conformance (24 bits).
    pub conformance: u32,
    /// Largest APDU the client receives.
    pub max_receive_pdu: u16,
    /// Whether a dedicated key was present (ciphering, not supported here).
    pub dedicated_key: bool,
}

impl InitiateRequest {
    fn encode(&self) -> Vec<u8> {
        let mut v = vec![0x01, 0x00, 0x00, 0x00, self.dlms_version];
        put_conformance(&mut v, self.conformance);
        v.extend_from_slice(&self.max_receive_pdu.to_be_bytes());
        v
    }

    fn decode(b: &[u8]) -> Result<Self, String> {
        let mut r = Rd::new(b, "InitiateRequest");
        let tag = r.u8("tag")?;
        if tag != 0x01 {
            return Err(format!("InitiateRequest: tag 0x{tag:02X}, expected 0x01"));
        }
        let dedicated_key = r.u8("dedicated-key flag")? != 0;
        if dedicated_key {
            let n = r.len("dedicated-key length")?;
            r.take(n, "dedicated-key")?;
        }
        if r.u8("response-allowed flag")? != 0 {
            r.u8("response-allowed")?;
        }
        if r.u8("proposed-quality-of-service flag")? != 0 {
            r.u8("proposed-quality-of-service")?;
        }
        let dlms_version = r.u8("proposed-dlms-version-number")?;
        let conformance = read_conformance(&mut r)?;
        let max_receive_pdu = r.u16("client-max-receive-pdu-size")?;
        r.finish()?;
        Ok(Self {
            dlms_version,
            conformance,
            max_receive_pdu,
            dedicated_key,
        })
    }
}

/// The xDLMS InitiateResponse carried in the AARE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitiateResponse {
    /// Negotiated DLMS version (6).
    pub dlms_version: u8,
    /// Negotiated conformance.
    pub conformance: u32,
    /// Largest APDU the server receives.
    pub max_receive_pdu: u16,
    /// VAA name (0x0007 for LN referencing).
    pub vaa_name: u16,
}

impl InitiateResponse {
    fn encode(&self) -> Vec<u8> {
        let mut v = vec![0x08, 0x00, self.dlms_version];
        put_conformance(&mut v, self.conformance);
        v.extend_from_slice(&self.max_receive_pdu.to_be_bytes());
        v.extend_from_slice(&self.vaa_name.to_be_bytes());
        v
    }

    fn decode(b: &[u8]) -> Result<Self, String> {
        let mut r = Rd::new(b, "InitiateResponse");
        let tag = r.u8("tag")?;
        if tag == 0x0E {
            return Err(confirmed_service_error(r.b));
        }
        if tag != 0x08 {
            return Err(format!("InitiateResponse: tag 0x{tag:02X}, expected 0x08"));
        }
        if r.u8("negotiated-quality-of-service flag")? != 0 {
            r.u8("negotiated-quality-of-service")?;
        }
        let dlms_version = r.u8("negotiated-dlms-version-number")?;
        let conformance = read_conformance(&mut r)?;
        let max_receive_pdu = r.u16("server-max-receive-pdu-size")?;
        let vaa_name = r.u16("vaa-name")?;
        r.finish()?;
        Ok(Self {
            dlms_version,
            conformance,
            max_receive_pdu,
            vaa_name,
        })
    }
}

/// Encodes an AARQ: LN referencing, no security, with `initiate` as user information.
#[must_use]
pub fn encode_aarq(initiate: &InitiateRequest) -> Vec<u8> {
    let mut body = Vec::new();
    wrap(0xA1, &CONTEXT_LN_NO_CIPHER, &mut body);
    let mut ui = Vec::new();
    wrap(0x04, &initiate.encode(), &mut ui);
    wrap(0xBE, &ui, &mut body);
    let mut out = Vec::new();
    wrap(0x60, &body, &mut out);
    out
}

/// What the server needs from an AARQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aarq {
    /// The application context name (content of the OBJECT IDENTIFIER, with tag).
    pub context: Vec<u8>,
    /// The authentication mechanism name, when one was given.
    pub mechanism: Option<Vec<u8>>,
    /// The InitiateRequest, or why it could not be read.
    pub initiate: Result<InitiateRequest, String>,
}

/// Decodes an AARQ.
///
/// # Errors
/// When the BER structure is malformed.
pub fn decode_aarq(apdu: &[u8]) -> Result<Aarq, String> {
    let body = ber_apdu(apdu, 0x60, "AARQ")?;
    let mut context = Vec::new();
    let mut mechanism = None;
    let mut initiate = Err("AARQ has no user-information".to_owned());
    for (tag, v) in ber_fields(body, "AARQ")? {
        match tag {
            0xA1 => context = v.to_vec(),
            0x8B => mechanism = Some(v.to_vec()),
            0xBE => {
                initiate =
                    ber_apdu(v, 0x04, "AARQ user-information").and_then(InitiateRequest::decode);
            }
            _ => {}
        }
    }
    Ok(Aarq {
        context,
        mechanism,
        initiate,
    })
}

/// `acse-service-user` diagnostics (result-source-diagnostic choice 1).
pub mod diagnostic {
    /// null.
    pub const NULL: u8 = 0;
    /// no-reason-given.
    pub const NO_REASON: u8 = 1;
    /// application-context-name-not-supported.
    pub const CONTEXT_NOT_SUPPORTED: u8 = 2;
    /// authentication-mechanism-name-not-recognised.
    pub const MECHANISM_NOT_RECOGNISED: u8 = 11;
}

/// Encodes an AARE. `result` 0 is accepted, 1 rejected-permanent; `diagnostic` is an
/// acse-service-user value; `user_info` is the InitiateResponse or a confirmedServiceError.
#[must_use]
pub fn encode_aare(result: u8, diag: u8, user_info: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    wrap(0xA1, &CONTEXT_LN_NO_CIPHER, &mut body);
    wrap(0xA2, &[0x02, 0x01, result], &mut body);
    wrap(0xA3, &[0xA1, 0x03, 0x02, 0x01, diag], &mut body);
    let mut ui = Vec::new();
    wrap(0x04, user_info, &mut ui);
    wrap(0xBE, &ui, &mut body);
    let mut out = Vec::new();
    wrap(0x61, &body, &mut out);
    out
}

/// Encodes an accepting AARE carrying `resp`.
#[must_use]
pub fn encode_aare_accept(resp: &InitiateResponse) -> Vec<u8> {
    encode_aare(0, diagnostic::NULL, &resp.encode())
}

/// ConfirmedServiceError for a refused initiate (initiate-error, `reason`: 0 other,
/// 1 dlms-version-too-low, 2 incompatible-conformance, 3 pdu-size-too-short,
/// 4 refused-by-the-VDE-Handler).
#[must_use]
pub fn initiate_error(reason: u8) -> Vec<u8> {
    vec![0x0E, 0x01, 0x06, reason]
}

/// Names a ConfirmedServiceError (the bytes after its 0x0E tag), e.g.
/// `initiate-error: pdu-size-too-short (4)`.
#[must_use]
pub fn confirmed_service_error(b: &[u8]) -> String {
    let (kind, value) = match b {
        [_, k, v, ..] => (*k, *v),
        _ => return format!("confirmedServiceError {b:02X?}"),
    };
    let kind_name = match kind {
        0 => "application-reference",
        1 => "hardware-resource",
        2 => "vde-state-error",
        3 => "service",
        4 => "definition",
        5 => "access",
        6 => "initiate",
        7 => "load-data-set",
        9 => "task",
        _ => "other",
    };
    let value_name = match (kind, value) {
        (6, 0) => "other",
        (6, 1) => "dlms-version-too-low",
        (6, 2) => "incompatible-conformance",
        (6, 3) => "pdu-size-too-short",
        (6, 4) => "refused-by-the-VDE-Handler",
        _ => "",
    };
    format!("confirmedServiceError {kind_name}-error: {value_name} ({value})")
}

/// What the client needs from an AARE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aare {
    /// Association result: 0 accepted, 1 rejected-permanent, 2 rejected-transient.
    pub result: u8,
    /// Result source diagnostic: (source 1 user / 2 provider, value).
    pub diagnostic: Option<(u8, u8)>,
    /// The InitiateResponse or why there is none.
    pub initiate: Result<InitiateResponse, String>,
}

/// Decodes an AARE.
///
/// # Errors
/// When the BER structure is malformed or the result is missing.
pub fn decode_aare(apdu: &[u8]) -> Result<Aare, String> {
    let body = ber_apdu(apdu, 0x61, "AARE")?;
    let mut result = None;
    let mut diag = None;
    let mut initiate = Err("AARE has no user-information".to_owned());
    for (tag, v) in ber_fields(body, "AARE")? {
        match tag {
            0xA2 => {
                if v.len() == 3 && v[0] == 0x02 && v[1] == 0x01 {
                    result = Some(v[2]);
                } else {
                    return Err(format!(
                        "AARE: association-result {v:02X?} is not an INTEGER"
                    ));
                }
            }
            0xA3 if v.len() == 5 && v[2] == 0x02 && v[3] == 0x01 => {
                diag = Some((v[0] & 0x0F, v[4]));
            }
            0xBE => {
                initiate =
                    ber_apdu(v, 0x04, "AARE user-information").and_then(InitiateResponse::decode);
            }
            _ => {}
        }
    }
    Ok(Aare {
        result: result.ok_or("AARE has no association-result")?,
        diagnostic: diag,
        initiate,
    })
}

/// Encodes an RLRQ with reason normal (0), without user information.
#[must_use]
pub fn encode_rlrq() -> Vec<u8> {
    vec![0x62, 0x03, 0x80, 0x01, 0x00]
}

/// Decodes an RLRQ, returning whether it carried user information.
///
/// # Errors
/// When the BER structure is malformed.
pub fn decode_rlrq(apdu: &[u8]) -> Result<bool, String> {
    let body = ber_apdu(apdu, 0x62, "RLRQ")?;
    Ok(ber_fields(body, "RLRQ")?.iter().any(|(t, _)| *t == 0xBE))
}

/// Encodes an RLRE with reason normal; with `user_info`, the InitiateResponse it carries
/// (every length computed from the content, unlike the RLRE some stacks send).
#[must_use]
pub fn encode_rlre(user_info: Option<&InitiateResponse>) -> Vec<u8> {
    let mut body = vec![0x80, 0x01, 0x00];
    if let Some(r) = user_info {
        let mut ui = Vec::new();
        wrap(0x04, &r.encode(), &mut ui);
        wrap(0xBE, &ui, &mut body);
    }
    let mut out = Vec::new();
    wrap(0x63, &body, &mut out);
    out
}

/// Decodes an RLRE, returning the release-response reason (0 normal) when present.
///
/// # Errors
/// When the BER structure is malformed (including lengths that do not match the content).
pub fn decode_rlre(apdu: &[u8]) -> Result<Option<u8>, String> {
    let body = ber_apdu(apdu, 0x63, "RLRE")?;
    let mut reason = None;
    for (tag, v) in ber_fields(body, "RLRE")? {
        match tag {
            0x80 => reason = v.first().copied(),
            0xBE => {
                ber_apdu(v, 0x04, "RLRE user-information").and_then(InitiateResponse::decode)?;
            }
            _ => {}
        }
    }
    Ok(reason)
}

/// A COSEM attribute reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttributeRef {
    /// Interface class (1 Data, 3 Register, 7 Profile generic, 8 Clock, 15 Association LN).
    pub class_id: u16,
    /// Logical name.
    pub obis: [u8; 6],
    /// Attribute index.
    pub attribute: i8,
}

impl std::fmt::Display for AttributeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "class {} {} attribute {}",
            self.class_id,
            obis_str(&self.obis),
            self.attribute
        )
    }
}

/// A GET-Request.
#[derive(Debug, Clone, PartialEq)]
pub enum GetRequest {
    /// get-request-normal; `selection` is the raw selective access (selector and data).
    Normal {
        /// invoke-id-and-priority.
        invoke: u8,
        /// The attribute.
        attr: AttributeRef,
        /// Selective access descriptor (selector, parameters), if any.
        selection: Option<(u8, Value)>,
    },
    /// get-request-next: the block number last received.
    Next {
        /// invoke-id-and-priority.
        invoke: u8,
        /// Block number acknowledged.
        block: u32,
    },
    /// get-request-with-list (not served here).
    WithList {
        /// invoke-id-and-priority.
        invoke: u8,
    },
}

impl GetRequest {
    /// Encodes the request.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Normal {
                invoke,
                attr,
                selection,
            } => {
                let mut v = vec![0xC0, 0x01, *invoke];
                v.extend_from_slice(&attr.class_id.to_be_bytes());
                v.extend_from_slice(&attr.obis);
                v.push(attr.attribute as u8);
                match selection {
                    None => v.push(0),
                    Some((sel, data)) => {
                        v.extend_from_slice(&[1, *sel]);
                        v.extend_from_slice(&data.encode());
                    }
                }
                v
            }
            Self::Next { invoke, block } => {
                let mut v = vec![0xC0, 0x02, *invoke];
                v.extend_from_slice(&block.to_be_bytes());
                v
            }
            Self::WithList { invoke } => vec![0xC0, 0x03, *invoke, 0],
        }
    }

    /// Decodes a GET-Request.
    ///
    /// # Errors
    /// A message naming the malformed field.
    pub fn decode(apdu: &[u8]) -> Result<Self, String> {
        let mut r = Rd::new(apdu, "GET-Request");
        if r.u8("tag")? != 0xC0 {
            return Err("GET-Request: tag is not 0xC0".into());
        }
        let choice = r.u8("request choice")?;
        let invoke = r.u8("invoke-id-and-priority")?;
        match choice {
            1 => {
                let class_id = r.u16("class-id")?;
                let o = r.take(6, "instance-id")?;
                let attribute = r.u8("attribute-id")? as i8;
                let selection = if r.u8("access-selection flag")? != 0 {
                    let sel = r.u8("access-selector")?;
                    let d = Data::decode(r.b).map_err(|e| {
                        format!("GET-Request: access-parameters are not A-XDR Data: {e}")
                    })?;
                    r.b = &[];
                    Some((sel, Value::from_data(&d)))
                } else {
                    None
                };
                r.finish()?;
                let mut obis = [0u8; 6];
                obis.copy_from_slice(o);
                Ok(Self::Normal {
                    invoke,
                    attr: AttributeRef {
                        class_id,
                        obis,
                        attribute,
                    },
                    selection,
                })
            }
            2 => {
                let block = r.u32("block-number")?;
                r.finish()?;
                Ok(Self::Next { invoke, block })
            }
            3 => Ok(Self::WithList { invoke }),
            c => Err(format!("GET-Request: unknown request choice {c}")),
        }
    }
}

/// A GET-Response. Results are the encoded A-XDR `Data` (or raw block bytes) on success,
/// a data-access-result code otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetResponse {
    /// get-response-normal.
    Normal {
        /// invoke-id-and-priority.
        invoke: u8,
        /// Encoded `Data`, or a data-access-result.
        result: Result<Vec<u8>, u8>,
    },
    /// get-response-with-datablock.
    Block {
        /// invoke-id-and-priority.
        invoke: u8,
        /// Whether this is the last block.
        last: bool,
        /// Block number (from 1).
        block: u32,
        /// Raw data bytes of this block, or a data-access-result.
        result: Result<Vec<u8>, u8>,
    },
}

impl GetResponse {
    /// Encodes the response.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Normal { invoke, result } => {
                let mut v = vec![0xC4, 0x01, *invoke];
                match result {
                    Ok(data) => {
                        v.push(0);
                        v.extend_from_slice(data);
                    }
                    Err(code) => v.extend_from_slice(&[1, *code]),
                }
                v
            }
            Self::Block {
                invoke,
                last,
                block,
                result,
            } => {
                let mut v = vec![0xC4, 0x02, *invoke, u8::from(*last)];
                v.extend_from_slice(&block.to_be_bytes());
                match result {
                    Ok(raw) => {
                        v.push(0);
                        put_len(&mut v, raw.len());
                        v.extend_from_slice(raw);
                    }
                    Err(code) => v.extend_from_slice(&[1, *code]),
                }
                v
            }
        }
    }

    /// Decodes a GET-Response.
    ///
    /// # Errors
    /// A message naming the malformed field.
    pub fn decode(apdu: &[u8]) -> Result<Self, String> {
        let mut r = Rd::new(apdu, "GET-Response");
        let tag = r.u8("tag")?;
        if tag != 0xC4 {
            return Err(format!("GET-Response: tag 0x{tag:02X}, expected 0xC4"));
        }
        let choice = r.u8("response choice")?;
        let invoke = r.u8("invoke-id-and-priority")?;
        match choice {
            1 => {
                let result = match r.u8("result choice")? {
                    0 => Ok(r.b.to_vec()),
                    1 => {
                        let c = r.u8("data-access-result")?;
                        r.finish()?;
                        Err(c)
                    }
                    c => return Err(format!("GET-Response: result choice {c}")),
                };
                Ok(Self::Normal { invoke, result })
            }
            2 => {
                let last = r.u8("last-block")? != 0;
                let block = r.u32("block-number")?;
                let result = match r.u8("result choice")? {
                    0 => {
                        let n = r.len("raw-data length")?;
                        let raw = r.take(n, "raw-data")?.to_vec();
                        r.finish()?;
                        Ok(raw)
                    }
                    1 => {
                        let c = r.u8("data-access-result")?;
                        r.finish()?;
                        Err(c)
                    }
                    c => return Err(format!("GET-Response: block result choice {c}")),
                };
                Ok(Self::Block {
                    invoke,
                    last,
                    block,
                    result,
                })
            }
            c => Err(format!("GET-Response: unsupported response choice {c}")),
        }
    }
}

/// Exception response: state-error (1 service-not-allowed, 2 service-unknown) and
/// service-error (1 operation-not-possible, 2 service-not-supported, 3 other-reason).
#[must_use]
pub fn encode_exception(state_error: u8, service_error: u8) -> Vec<u8> {
    vec![0xD8, state_error, service_error]
}

/// Decodes A-XDR `Data` filling `bytes` into a [`Value`].
///
/// # Errors
/// A message naming the offset and problem.
pub fn decode_data(bytes: &[u8]) -> Result<Value, String> {
    Data::decode(bytes)
        .map(|d| Value::from_data(&d))
        .map_err(|e| format!("A-XDR Data: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::transport::testing::hex;

    #[test]
    fn aare_captured_from_gurux_decodes() {
        let aare = hex(
            "6129a109060760857405080101a203020100a305a103020100be10040e0800065f1f040000125dffff0007",
        );
        let a = decode_aare(&aare).unwrap();
        assert_eq!(a.result, 0);
        assert_eq!(a.diagnostic, Some((1, 0)));
        let i = a.initiate.unwrap();
        assert_eq!(
            (i.dlms_version, i.max_receive_pdu, i.vaa_name),
            (6, 0xFFFF, 7)
        );
        assert_eq!(i.conformance, 0x00125D);
        // Our encoder produces the same bytes.
        assert_eq!(encode_aare_accept(&i), aare);
    }

    #[test]
    fn aarq_from_dlms_cosem_decodes() {
        let aarq = hex(
            "6029a109060760857405080101a60a04087574695c308aca6bbe10040e01000000065f1f040020525fffff",
        );
        let a = decode_aarq(&aarq).unwrap();
        assert_eq!(a.context, CONTEXT_LN_NO_CIPHER);
        let i = a.initiate.unwrap();
        assert_eq!((i.dlms_version, i.max_receive_pdu), (6, 0xFFFF));
    }

    #[test]
    fn rlre_lengths_are_consistent_and_checked() {
        let r = InitiateResponse {
            dlms_version: 6,
            conformance: 0x00125D,
            max_receive_pdu: 0xFFFF,
            vaa_name: 7,
        };
        let rlre = encode_rlre(Some(&r));
        assert_eq!(&rlre[..9], &hex("6315800100be10040e")[..]);
        assert_eq!(decode_rlre(&rlre).unwrap(), Some(0));
        // The RLRE with off-by-one lengths is refused.
        let bad = hex("630e800100be0f040e0800065f1f040000125dffff0007");
        assert!(decode_rlre(&bad).is_err());
    }

    #[test]
    fn get_request_and_responses_round_trip() {
        let req = hex("c001c1000100002a0000ff0200");
        let g = GetRequest::decode(&req).unwrap();
        assert_eq!(g.encode(), req);
        let resp = hex("c401c100090a47525830303030303031");
        let r = GetResponse::decode(&resp).unwrap();
        assert_eq!(r.encode(), resp);
        let GetResponse::Normal { result: Ok(d), .. } = r else {
            panic!("not a normal response")
        };
        assert_eq!(
            decode_data(&d).unwrap(),
            Value::OctetString(b"GRX0000001".to_vec())
        );
        let b = GetResponse::Block {
            invoke: 0xC1,
            last: false,
            block: 1,
            result: Ok(vec![1, 2, 3]),
        };
        assert_eq!(GetResponse::decode(&b.encode()).unwrap(), b);
        assert!(GetResponse::decode(&hex("c401c1")).is_err());
        assert!(GetRequest::decode(&hex("c001c10001")).is_err());
    }
}
