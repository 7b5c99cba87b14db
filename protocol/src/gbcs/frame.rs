//! GBCS framing: the general-ciphering MAC wrapper (`DD`) and the general-signing APDU (`DF`).
//!
//! ```text
//! MAC-wrapped (DD):  DD 00 00 00 00 00 00 | L | 11 00 00 00 00 | <general-signing APDU> | MAC(12)
//! signed-only (DF):                                              <general-signing APDU>
//! APDU: DF | 09 CRA ctr(8) | 08 orig(8) | 08 recip(8) | dt | L oi | L content | content | [L sig | sig]
//! ```
//!
//! The parser is strict: wrong fixed lengths (`09`, `08`, `0C`), length overruns, bytes after
//! the signature, unsupported length forms and unknown tags are errors. Non-minimal length
//! encodings are accepted and remembered ([`LenForm`]) so that [`Message::encode`] reproduces
//! the input byte for byte.

use std::ops::Range;

use super::CosemDateTime;

/// Security header of the MAC wrapper: security-control `0x11` (authenticated, suite 1) and a
/// zero invocation counter.
pub const MAC_SECURITY_HEADER: [u8; 5] = [0x11, 0, 0, 0, 0];
/// Prefix of the MAC's additional authenticated data; the APDU follows it.
pub const MAC_AAD_PREFIX: [u8; 6] = [0x11, 0, 0, 0, 0, 0];
/// Length of a truncated GMAC tag.
pub const MAC_LEN: usize = 12;
/// Length of a raw r‖s ECDSA P-256 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Why a byte string is not a GBCS message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GbcsError {
    /// The input ended before a field was complete.
    #[error("truncated at offset {offset}: {field} needs {needed} more byte(s)")]
    Truncated {
        /// Offset where the field starts.
        offset: usize,
        /// The field being read.
        field: &'static str,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A byte had a value the format does not allow there.
    #[error("offset {offset}: {field} is 0x{found:02x}, expected {expected}")]
    Unexpected {
        /// Offset of the byte.
        offset: usize,
        /// The field.
        field: &'static str,
        /// What was found.
        found: u8,
        /// What is allowed.
        expected: &'static str,
    },
    /// A length field disagrees with the data around it.
    #[error("offset {offset}: {field} length {declared} but {available} byte(s) available")]
    Length {
        /// Offset of the length field.
        offset: usize,
        /// The field.
        field: &'static str,
        /// The declared length.
        declared: usize,
        /// What the rest of the input allows.
        available: usize,
    },
    /// Bytes remain after a complete message.
    #[error("{count} trailing byte(s) after the message at offset {offset}")]
    Trailing {
        /// Offset of the first extra byte.
        offset: usize,
        /// Number of extra bytes.
        count: usize,
    },
    /// Other-information has a length no GBCS variant uses.
    #[error("other-information length {0} matches no GBCS variant (2, 10, 18, 26 or > 26)")]
    OtherInformation(usize),
    /// The embedded certificate in other-information is not one DER SEQUENCE.
    #[error("other-information: embedded certificate is not a single DER SEQUENCE")]
    EmbeddedCertificate,
    /// An empty input.
    #[error("empty input")]
    Empty,
}

/// The CRA flag: command, response or alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cra {
    /// `01`: a command (also a Pre-Command).
    Command = 1,
    /// `02`: a response.
    Response = 2,
    /// `03`: an alert.
    Alert = 3,
}

impl Cra {
    /// The flag byte, which is also the KDF mode byte for MACs.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// Lower-case name as the oracle prints it.
    pub fn name(self) -> &'static str {
        match self {
            Cra::Command => "command",
            Cra::Response => "response",
            Cra::Alert => "alert",
        }
    }
}

/// How a length was written, so that re-encoding reproduces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LenForm {
    /// One byte, `00`–`7F`.
    Short,
    /// `81 nn`.
    Long1,
    /// `82 nn nn`.
    Long2,
}

impl LenForm {
    /// The shortest form for `len`.
    pub fn minimal(len: usize) -> Self {
        if len < 0x80 {
            LenForm::Short
        } else if len <= 0xff {
            LenForm::Long1
        } else {
            LenForm::Long2
        }
    }

    /// Bytes taken by the length field itself.
    pub fn size(self) -> usize {
        match self {
            LenForm::Short => 1,
            LenForm::Long1 => 2,
            LenForm::Long2 => 3,
        }
    }
}

/// Supplementary fields of other-information (PROTOCOLS.md §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supplementary<'a> {
    /// Length 2: the message code only.
    None,
    /// Length 10: supplementary remote party ID.
    RemoteParty {
        /// The real User on whose behalf the ACB acts.
        id: [u8; 8],
    },
    /// Length 18: ID and the remote party's counter.
    RemotePartyCounter {
        /// Supplementary remote party ID.
        id: [u8; 8],
        /// Its counter (the User's DUIS counter).
        counter: u64,
    },
    /// Length 26: as 18, plus the supplementary originator counter.
    OriginatorCounter {
        /// Supplementary remote party ID.
        id: [u8; 8],
        /// Its counter.
        counter: u64,
        /// Supplementary originator counter.
        originator_counter: u64,
    },
    /// Longer than 26: as 18, plus the DER key-agreement certificate of the remote party.
    Certificate {
        /// Supplementary remote party ID.
        id: [u8; 8],
        /// Its counter.
        counter: u64,
        /// The DER certificate.
        certificate: &'a [u8],
    },
}

impl Supplementary<'_> {
    /// The supplementary remote party ID, if any.
    pub fn remote_party(&self) -> Option<[u8; 8]> {
        match *self {
            Supplementary::None => None,
            Supplementary::RemoteParty { id }
            | Supplementary::RemotePartyCounter { id, .. }
            | Supplementary::OriginatorCounter { id, .. }
            | Supplementary::Certificate { id, .. } => Some(id),
        }
    }

    /// The supplementary remote party counter, if any.
    pub fn remote_party_counter(&self) -> Option<u64> {
        match *self {
            Supplementary::RemotePartyCounter { counter, .. }
            | Supplementary::OriginatorCounter { counter, .. }
            | Supplementary::Certificate { counter, .. } => Some(counter),
            _ => None,
        }
    }

    /// The supplementary originator counter, if any.
    pub fn originator_counter(&self) -> Option<u64> {
        match *self {
            Supplementary::OriginatorCounter {
                originator_counter, ..
            } => Some(originator_counter),
            _ => None,
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            Supplementary::None => 0,
            Supplementary::RemoteParty { .. } => 8,
            Supplementary::RemotePartyCounter { .. } => 16,
            Supplementary::OriginatorCounter { .. } => 24,
            Supplementary::Certificate { certificate, .. } => 16 + certificate.len(),
        }
    }
}

/// Other-information: the message code and the supplementary fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherInfo<'a> {
    /// GBCS message code (use case).
    pub message_code: u16,
    /// Supplementary remote party fields.
    pub supplementary: Supplementary<'a>,
}

/// The general-signing grouping header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupingHeader<'a> {
    /// Command, response or alert.
    pub cra: Cra,
    /// Originator counter (big-endian u64 on the wire).
    pub counter: u64,
    /// Originator system title (EUI-64).
    pub originator: [u8; 8],
    /// Recipient system title (EUI-64).
    pub recipient: [u8; 8],
    /// Optional COSEM date-time.
    pub date_time: Option<CosemDateTime>,
    /// Other-information.
    pub other_info: OtherInfo<'a>,
}

impl GroupingHeader<'_> {
    /// The 9-byte transaction-id value: CRA flag ‖ counter.
    pub fn transaction_id(&self) -> [u8; 9] {
        let mut t = [0u8; 9];
        t[0] = self.cra.byte();
        t[1..].copy_from_slice(&self.counter.to_be_bytes());
        t
    }
}

/// The signature field at the end of the APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureField<'a> {
    /// No field at all (Pre-Commands).
    Absent,
    /// A `00` length byte: null signature.
    Null,
    /// `40` and 64 bytes of r‖s.
    Present(&'a [u8; SIGNATURE_LEN]),
}

/// Byte ranges of a message's parts, as offsets into the whole input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Regions {
    /// `DD` and the six empty header fields (MAC-wrapped only).
    pub mac_header: Option<Range<usize>>,
    /// The ciphered-service length field (MAC-wrapped only).
    pub ciphered_length_field: Option<Range<usize>>,
    /// `11 00000000` (MAC-wrapped only).
    pub security_header: Option<Range<usize>>,
    /// The whole general-signing APDU, from `DF` to the end of the signature field.
    pub apdu: Range<usize>,
    /// The ECDSA input: from after `DF` to the end of the content.
    pub signed: Range<usize>,
    /// The CRA flag byte.
    pub cra_flag: Range<usize>,
    /// The 8-byte originator counter.
    pub originator_counter: Range<usize>,
    /// The originator system title.
    pub originator: Range<usize>,
    /// The recipient system title.
    pub recipient: Range<usize>,
    /// The date-time value (empty when absent).
    pub date_time: Range<usize>,
    /// The other-information value.
    pub other_information: Range<usize>,
    /// The payload.
    pub content: Range<usize>,
    /// The signature length byte, if the field is there.
    pub signature_length_field: Option<Range<usize>>,
    /// The 64 signature bytes, if present.
    pub signature: Option<Range<usize>>,
    /// The 12-byte MAC (MAC-wrapped only).
    pub mac: Option<Range<usize>>,
}

/// How lengths were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthForms {
    /// Ciphered-service length (MAC-wrapped only).
    pub ciphered: Option<LenForm>,
    /// Other-information length.
    pub other_info: LenForm,
    /// Content length.
    pub content: LenForm,
}

/// A parsed GBCS message borrowing its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The whole input.
    pub bytes: &'a [u8],
    /// The grouping header.
    pub header: GroupingHeader<'a>,
    /// The payload.
    pub content: &'a [u8],
    /// The signature field.
    pub signature: SignatureField<'a>,
    /// The MAC, when MAC-wrapped.
    pub mac: Option<&'a [u8; MAC_LEN]>,
    /// Where everything is.
    pub regions: Regions,
    /// Length encodings, for exact re-encoding.
    pub forms: LengthForms,
}

impl<'a> Message<'a> {
    /// Whether the message has the `DD` MAC wrapper.
    pub fn is_mac_wrapped(&self) -> bool {
        self.mac.is_some()
    }

    /// The general-signing APDU (from `DF`).
    pub fn apdu(&self) -> &'a [u8] {
        &self.bytes[self.regions.apdu.clone()]
    }

    /// The bytes covered by the ECDSA signature.
    pub fn signed_bytes(&self) -> &'a [u8] {
        &self.bytes[self.regions.signed.clone()]
    }

    /// Whether this is a Pre-Command: a bare `DF` command with no signature field.
    pub fn is_precommand(&self) -> bool {
        !self.is_mac_wrapped()
            && self.header.cra == Cra::Command
            && self.signature == SignatureField::Absent
    }

    /// Rebuilds the message bytes from the parsed fields. Equal to [`Message::bytes`] for
    /// every message [`parse`] accepts.
    pub fn encode(&self) -> Vec<u8> {
        let sig = match self.signature {
            SignatureField::Absent => None,
            SignatureField::Null => Some(None),
            SignatureField::Present(s) => Some(Some(s)),
        };
        let apdu = encode_apdu(
            &self.header,
            self.content,
            sig,
            self.forms.other_info,
            self.forms.content,
        );
        match (self.mac, self.forms.ciphered) {
            (Some(mac), form) => encode_mac_wrapper_with(
                &apdu,
                mac,
                form.unwrap_or(LenForm::minimal(5 + apdu.len() + MAC_LEN)),
            ),
            (None, _) => apdu,
        }
    }
}

/// Encodes a general-signing APDU. `signature`: `None` = field absent, `Some(None)` = null
/// signature, `Some(Some(sig))` = present.
pub fn encode_apdu(
    header: &GroupingHeader<'_>,
    content: &[u8],
    signature: Option<Option<&[u8; SIGNATURE_LEN]>>,
    oi_form: LenForm,
    content_form: LenForm,
) -> Vec<u8> {
    let oi_len = 2 + header.other_info.supplementary.encoded_len();
    let mut out = Vec::with_capacity(48 + oi_len + content.len() + 66);
    out.push(0xdf);
    out.push(0x09);
    out.extend_from_slice(&header.transaction_id());
    out.push(0x08);
    out.extend_from_slice(&header.originator);
    out.push(0x08);
    out.extend_from_slice(&header.recipient);
    match &header.date_time {
        Some(dt) => {
            out.push(0x0c);
            out.extend_from_slice(&dt.to_bytes());
        }
        None => out.push(0x00),
    }
    write_len(&mut out, oi_len, oi_form);
    out.extend_from_slice(&header.other_info.message_code.to_be_bytes());
    match header.other_info.supplementary {
        Supplementary::None => {}
        Supplementary::RemoteParty { id } => out.extend_from_slice(&id),
        Supplementary::RemotePartyCounter { id, counter } => {
            out.extend_from_slice(&id);
            out.extend_from_slice(&counter.to_be_bytes());
        }
        Supplementary::OriginatorCounter {
            id,
            counter,
            originator_counter,
        } => {
            out.extend_from_slice(&id);
            out.extend_from_slice(&counter.to_be_bytes());
            out.extend_from_slice(&originator_counter.to_be_bytes());
        }
        Supplementary::Certificate {
            id,
            counter,
            certificate,
        } => {
            out.extend_from_slice(&id);
            out.extend_from_slice(&counter.to_be_bytes());
            out.extend_from_slice(certificate);
        }
    }
    write_len(&mut out, content.len(), content_form);
    out.extend_from_slice(content);
    match signature {
        None => {}
        Some(None) => out.push(0x00),
        Some(Some(sig)) => {
            out.push(0x40);
            out.extend_from_slice(sig);
        }
    }
    out
}

/// Wraps an APDU in the general-ciphering MAC header with the minimal length form:
/// `DD 00×6 ‖ L ‖ 11 00000000 ‖ apdu ‖ mac`.
pub fn encode_mac_wrapper(apdu: &[u8], mac: &[u8; MAC_LEN]) -> Vec<u8> {
    encode_mac_wrapper_with(apdu, mac, LenForm::minimal(5 + apdu.len() + MAC_LEN))
}

fn encode_mac_wrapper_with(apdu: &[u8], mac: &[u8; MAC_LEN], form: LenForm) -> Vec<u8> {
    let mut out = Vec::with_capacity(apdu.len() + 30);
    out.extend_from_slice(&[0xdd, 0, 0, 0, 0, 0, 0]);
    write_len(&mut out, 5 + apdu.len() + MAC_LEN, form);
    out.extend_from_slice(&MAC_SECURITY_HEADER);
    out.extend_from_slice(apdu);
    out.extend_from_slice(mac);
    out
}

/// Writes a DER-style length in the given form. A length too large for the form is written in
/// the smallest form that holds it.
pub fn write_len(out: &mut Vec<u8>, len: usize, form: LenForm) {
    let form = match form {
        LenForm::Short if len >= 0x80 => LenForm::minimal(len),
        LenForm::Long1 if len > 0xff => LenForm::Long2,
        f => f,
    };
    match form {
        LenForm::Short => out.push(len as u8),
        LenForm::Long1 => out.extend_from_slice(&[0x81, len as u8]),
        LenForm::Long2 => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
}

/// A bounds-checked reader over the input.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], GbcsError> {
        let avail = self.end - self.pos;
        if n > avail {
            return Err(GbcsError::Truncated {
                offset: self.pos,
                field,
                needed: n - avail,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, GbcsError> {
        Ok(self.take(1, field)?[0])
    }

    fn expect(
        &mut self,
        value: u8,
        field: &'static str,
        expected: &'static str,
    ) -> Result<(), GbcsError> {
        let offset = self.pos;
        let b = self.byte(field)?;
        if b != value {
            return Err(GbcsError::Unexpected {
                offset,
                field,
                found: b,
                expected,
            });
        }
        Ok(())
    }

    fn array8(&mut self, field: &'static str) -> Result<[u8; 8], GbcsError> {
        let s = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn len(&mut self, field: &'static str) -> Result<(usize, LenForm), GbcsError> {
        let offset = self.pos;
        let b = self.byte(field)?;
        match b {
            0x00..=0x7f => Ok((b as usize, LenForm::Short)),
            0x81 => Ok((self.byte(field)? as usize, LenForm::Long1)),
            0x82 => {
                let s = self.take(2, field)?;
                Ok(((s[0] as usize) << 8 | s[1] as usize, LenForm::Long2))
            }
            _ => Err(GbcsError::Unexpected {
                offset,
                field,
                found: b,
                expected: "a length byte 00-7F, 81 or 82",
            }),
        }
    }

    fn remaining(&self) -> usize {
        self.end - self.pos
    }
}

fn be_u64(b: [u8; 8]) -> u64 {
    u64::from_be_bytes(b)
}

/// Parses a GBCS message (`DD` MAC-wrapped or bare `DF`).
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, GbcsError> {
    let first = *bytes.first().ok_or(GbcsError::Empty)?;
    let mut c = Cursor {
        buf: bytes,
        pos: 0,
        end: bytes.len(),
    };
    let mut regions = Regions::default();
    let mut ciphered_form = None;
    let mut mac = None;
    match first {
        0xdd => {
            c.pos = 1;
            for field in [
                "transaction-id",
                "originator-system-title",
                "recipient-system-title",
                "date-time",
                "other-information",
                "key-info",
            ] {
                c.expect(
                    0x00,
                    field,
                    "00 (GBCS uses an empty general-ciphering header)",
                )?;
            }
            regions.mac_header = Some(0..7);
            let lstart = c.pos;
            let (len, form) = c.len("ciphered-service length")?;
            ciphered_form = Some(form);
            regions.ciphered_length_field = Some(lstart..c.pos);
            if len != c.remaining() {
                if len > c.remaining() {
                    return Err(GbcsError::Length {
                        offset: lstart,
                        field: "ciphered-service",
                        declared: len,
                        available: c.remaining(),
                    });
                }
                return Err(GbcsError::Trailing {
                    offset: c.pos + len,
                    count: c.remaining() - len,
                });
            }
            if len < MAC_SECURITY_HEADER.len() + 1 + MAC_LEN {
                return Err(GbcsError::Length {
                    offset: lstart,
                    field: "ciphered-service",
                    declared: len,
                    available: MAC_SECURITY_HEADER.len() + 1 + MAC_LEN,
                });
            }
            let sh = c.pos;
            c.expect(0x11, "security-control", "11 (authenticated, suite 1)")?;
            for _ in 0..4 {
                c.expect(0x00, "invocation-counter", "00")?;
            }
            regions.security_header = Some(sh..c.pos);
            let mac_start = bytes.len() - MAC_LEN;
            regions.mac = Some(mac_start..bytes.len());
            mac = bytes[mac_start..].try_into().ok();
            c.end = mac_start;
            let apdu_first = bytes[c.pos];
            if apdu_first != 0xdf {
                return Err(GbcsError::Unexpected {
                    offset: c.pos,
                    field: "general-signing tag",
                    found: apdu_first,
                    expected: "DF",
                });
            }
        }
        0xdf => {}
        other => {
            return Err(GbcsError::Unexpected {
                offset: 0,
                field: "message tag",
                found: other,
                expected: "DD (general-ciphering) or DF (general-signing)",
            });
        }
    }

    let apdu_start = c.pos;
    c.expect(0xdf, "general-signing tag", "DF")?;
    c.expect(0x09, "transaction-id length", "09")?;
    let cra_at = c.pos;
    let cra = match c.byte("CRA flag")? {
        1 => Cra::Command,
        2 => Cra::Response,
        3 => Cra::Alert,
        other => {
            return Err(GbcsError::Unexpected {
                offset: cra_at,
                field: "CRA flag",
                found: other,
                expected: "01, 02 or 03",
            });
        }
    };
    regions.cra_flag = cra_at..cra_at + 1;
    let ctr_at = c.pos;
    let counter = be_u64(c.array8("originator counter")?);
    regions.originator_counter = ctr_at..c.pos;
    c.expect(0x08, "originator-system-title length", "08")?;
    let o_at = c.pos;
    let originator = c.array8("originator-system-title")?;
    regions.originator = o_at..c.pos;
    c.expect(0x08, "recipient-system-title length", "08")?;
    let r_at = c.pos;
    let recipient = c.array8("recipient-system-title")?;
    regions.recipient = r_at..c.pos;
    let dt_len_at = c.pos;
    let date_time = match c.byte("date-time length")? {
        0x00 => {
            regions.date_time = c.pos..c.pos;
            None
        }
        0x0c => {
            let at = c.pos;
            let s = c.take(12, "date-time")?;
            regions.date_time = at..c.pos;
            let mut a = [0u8; 12];
            a.copy_from_slice(s);
            Some(CosemDateTime::from_bytes(&a))
        }
        other => {
            return Err(GbcsError::Unexpected {
                offset: dt_len_at,
                field: "date-time length",
                found: other,
                expected: "00 (absent) or 0C",
            });
        }
    };
    let oi_len_at = c.pos;
    let (oi_len, oi_form) = c.len("other-information length")?;
    if oi_len > c.remaining() {
        return Err(GbcsError::Length {
            offset: oi_len_at,
            field: "other-information",
            declared: oi_len,
            available: c.remaining(),
        });
    }
    let oi_at = c.pos;
    let oi = c.take(oi_len, "other-information")?;
    regions.other_information = oi_at..c.pos;
    let other_info = parse_other_info(oi)?;
    let cl_at = c.pos;
    let (content_len, content_form) = c.len("content length")?;
    if content_len > c.remaining() {
        return Err(GbcsError::Length {
            offset: cl_at,
            field: "content",
            declared: content_len,
            available: c.remaining(),
        });
    }
    let content_at = c.pos;
    let content = c.take(content_len, "content")?;
    regions.content = content_at..c.pos;
    regions.signed = apdu_start + 1..c.pos;
    let signature = if c.remaining() == 0 {
        SignatureField::Absent
    } else {
        let sl_at = c.pos;
        regions.signature_length_field = Some(sl_at..sl_at + 1);
        match c.byte("signature length")? {
            0x00 => SignatureField::Null,
            0x40 => {
                let s_at = c.pos;
                let s = c.take(SIGNATURE_LEN, "signature")?;
                regions.signature = Some(s_at..c.pos);
                match s.try_into() {
                    Ok(arr) => SignatureField::Present(arr),
                    Err(_) => {
                        return Err(GbcsError::Truncated {
                            offset: s_at,
                            field: "signature",
                            needed: SIGNATURE_LEN,
                        });
                    }
                }
            }
            other => {
                return Err(GbcsError::Unexpected {
                    offset: sl_at,
                    field: "signature length",
                    found: other,
                    expected: "00 (null) or 40",
                });
            }
        }
    };
    if c.remaining() != 0 {
        return Err(GbcsError::Trailing {
            offset: c.pos,
            count: c.remaining(),
        });
    }
    regions.apdu = apdu_start..c.pos;
    Ok(Message {
        bytes,
        header: GroupingHeader {
            cra,
            counter,
            originator,
            recipient,
            date_time,
            other_info,
        },
        content,
        signature,
        mac,
        regions,
        forms: LengthForms {
            ciphered: ciphered_form,
            other_info: oi_form,
            content: content_form,
        },
    })
}

fn parse_other_info(oi: &[u8]) -> Result<OtherInfo<'_>, GbcsError> {
    let arr = |s: &[u8]| -> [u8; 8] {
        let mut a = [0u8; 8];
        a.copy_from_slice(&s[..8]);
        a
    };
    if oi.len() < 2 {
        return Err(GbcsError::OtherInformation(oi.len()));
    }
    let message_code = u16::from_be_bytes([oi[0], oi[1]]);
    let supplementary = match oi.len() {
        2 => Supplementary::None,
        10 => Supplementary::RemoteParty {
            id: arr(&oi[2..10]),
        },
        18 => Supplementary::RemotePartyCounter {
            id: arr(&oi[2..10]),
            counter: be_u64(arr(&oi[10..18])),
        },
        26 => Supplementary::OriginatorCounter {
            id: arr(&oi[2..10]),
            counter: be_u64(arr(&oi[10..18])),
            originator_counter: be_u64(arr(&oi[18..26])),
        },
        n if n > 26 => {
            let certificate = &oi[18..];
            if !is_single_der_sequence(certificate) {
                return Err(GbcsError::EmbeddedCertificate);
            }
            Supplementary::Certificate {
                id: arr(&oi[2..10]),
                counter: be_u64(arr(&oi[10..18])),
                certificate,
            }
        }
        n => return Err(GbcsError::OtherInformation(n)),
    };
    Ok(OtherInfo {
        message_code,
        supplementary,
    })
}

/// Whether `der` is exactly one DER SEQUENCE (tag `30`, definite length covering the rest).
fn is_single_der_sequence(der: &[u8]) -> bool {
    if der.len() < 2 || der[0] != 0x30 {
        return false;
    }
    let (len, hdr) = match der[1] {
        n @ 0x00..=0x7f => (n as usize, 2),
        0x81 if der.len() >= 3 => (der[2] as usize, 3),
        0x82 if der.len() >= 4 => (((der[2] as usize) << 8) | der[3] as usize, 4),
        _ => return false,
    };
    hdr + len == der.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex;

    /// PROTOCOLS.md §4.8 worked example: ECS17b error response, MAC-wrapped.
    const ECS17B_ERROR_RESPONSE: &str = "DD000000000000 4C 1100000000 DF 09 02 00000000000003E9 08 00DB1234567890A0 08 90B3D51F30010000 0C 07DF0101FF000000008000FF 02 0027 0C DA200003E900000100010301 00 A56C9AB1129E72330FF1A08A";

    #[test]
    fn parses_worked_example() {
        let bytes = hex::decode(ECS17B_ERROR_RESPONSE).unwrap();
        let m = parse(&bytes).unwrap();
        assert_eq!(m.header.cra, Cra::Response);
        assert_eq!(m.header.counter, 1001);
        assert_eq!(hex::eui(&m.header.originator), "00db1234567890a0");
        assert_eq!(hex::eui(&m.header.recipient), "90b3d51f30010000");
        assert_eq!(m.header.other_info.message_code, 0x0027);
        assert_eq!(m.header.date_time.map(|d| d.year), Some(2015));
        assert_eq!(m.signature, SignatureField::Null);
        assert_eq!(hex::encode(m.mac.unwrap()), "a56c9ab1129e72330ff1a08a");
        assert_eq!(m.regions.apdu, 13..bytes.len() - 12);
        assert_eq!(m.regions.signed.start, 14);
        assert_eq!(hex::encode(m.content), "da200003e900000100010301");
        assert_eq!(m.encode(), bytes);
    }

    #[test]
    fn rejects_truncation_and_trailing_bytes_without_panicking() {
        let bytes = hex::decode(ECS17B_ERROR_RESPONSE).unwrap();
        for n in 0..bytes.len() {
            assert!(parse(&bytes[..n]).is_err(), "prefix of {n} bytes accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(parse(&longer), Err(GbcsError::Trailing { .. })));
        let mut bad = bytes.clone();
        bad[14] = 0x0a; // transaction-id length
        assert!(matches!(
            parse(&bad),
            Err(GbcsError::Unexpected {
                field: "transaction-id length",
                ..
            })
        ));
        let apdu = &bytes[13..bytes.len() - 12];
        let mut extra = apdu.to_vec();
        extra.push(0x01);
        assert!(parse(&extra).is_err());
    }

    #[test]
    fn rejects_unknown_tags_and_length_forms() {
        assert!(matches!(
            parse(&[0xe0, 0x00]),
            Err(GbcsError::Unexpected {
                field: "message tag",
                ..
            })
        ));
        let mut b = hex::decode(ECS17B_ERROR_RESPONSE).unwrap();
        b[7] = 0x83;
        assert!(parse(&b).is_err());
        assert_eq!(parse(&[]), Err(GbcsError::Empty));
    }

    #[test]
    fn non_minimal_lengths_round_trip() {
        let bytes = hex::decode(ECS17B_ERROR_RESPONSE).unwrap();
        let m = parse(&bytes).unwrap();
        let apdu = encode_apdu(
            &m.header,
            m.content,
            Some(None),
            LenForm::Long1,
            LenForm::Long2,
        );
        let m2 = parse(&apdu).unwrap();
        assert_eq!(m2.forms.other_info, LenForm::Long1);
        assert_eq!(m2.forms.content, LenForm::Long2);
        assert_eq!(m2.encode(), apdu);
    }
}
