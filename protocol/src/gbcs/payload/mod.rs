//! GBCS payload (the grouping header's content): DLMS COSEM APDUs, ZigBee GBZ containers and
//! ASN.1 DER structures (PROTOCOLS.md §4.6).
//!
//! [`decode_with`] picks the kind from the first bytes (`D9`, `DA`, `0F`: DLMS; `01 09`: GBZ;
//! anything else: ASN.1 DER) and decodes the whole content strictly: overruns, trailing
//! bytes, wrong lengths and unknown tags are [`PayloadError`]s carrying the offset, never
//! panics. Decoding borrows the content (zero-copy), and [`Payload::encode`] rebuilds it byte
//! for byte.
//!
//! Encrypted blocks (§4.9) are located structurally by [`Payload::encrypted_blocks`]: every
//! DLMS octet-string whose value is `31 00000000 ‖ ciphertext ‖ tag(12)` and every GBZ
//! component with control bit `0x02`.
//!
//! - [`dlms`]: Access-Request, Access-Response, Data-Notification.
//! - [`data`]: the DLMS `Data` tree.
//! - [`gbz`]: GBZ components and alerts.
//! - [`asn1`]: DER TLV trees.
//! - [`block`]: encrypted block positions.

pub mod asn1;
pub mod block;
mod cursor;
pub mod data;
pub mod dlms;
pub mod error;
pub mod gbz;
pub mod length;
mod render;

use std::ops::Range;

use serde_json::Value;

pub use block::{BlockSource, EncryptedBlock, SECURITY_HEADER, TAG_LEN, looks_encrypted};
pub use error::PayloadError;
pub use length::LengthForm;

use crate::gbcs::{Cra, Message};
use block::Writer;
use cursor::Cursor;
use render::Render;

/// What the decoder needs to know from the grouping header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    /// The CRA flag. GBZ alerts carry an alert code and timestamp that commands and responses
    /// do not, so a GBZ payload is read in its alert form only when this is [`Cra::Alert`].
    pub cra: Option<Cra>,
}

impl Context {
    /// The context for a message with this CRA flag.
    pub fn new(cra: Cra) -> Self {
        Context { cra: Some(cra) }
    }

    /// The context of a parsed GBCS message.
    pub fn for_message(m: &Message<'_>) -> Self {
        Context::new(m.header.cra)
    }
}

/// The payload kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// DLMS Access-Request (`D9`).
    DlmsAccessRequest,
    /// DLMS Access-Response (`DA`).
    DlmsAccessResponse,
    /// DLMS Data-Notification (`0F`).
    DlmsDataNotification,
    /// ZigBee GBZ (`01 09`).
    Gbz,
    /// ASN.1 DER.
    Asn1,
}

impl PayloadKind {
    /// Short name, as used in the JSON `kind` member.
    pub fn name(self) -> &'static str {
        match self {
            PayloadKind::DlmsAccessRequest => "dlms-access-request",
            PayloadKind::DlmsAccessResponse => "dlms-access-response",
            PayloadKind::DlmsDataNotification => "dlms-data-notification",
            PayloadKind::Gbz => "gbz",
            PayloadKind::Asn1 => "asn1",
        }
    }
}

/// A decoded payload, borrowing the content.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload<'a> {
    /// A DLMS COSEM APDU.
    Dlms(dlms::Apdu<'a>),
    /// A ZigBee GBZ container.
    Gbz(gbz::Gbz<'a>),
    /// An ASN.1 DER value.
    Asn1(asn1::Node<'a>),
}

/// Decodes a payload without header context: GBZ payloads are read in their command/response
/// form. Use [`decode_with`] for alerts.
pub fn decode(content: &[u8]) -> Result<Payload<'_>, PayloadError> {
    decode_with(content, Context::default())
}

/// Decodes a payload; `ctx` says whether it belongs to an alert.
pub fn decode_with(content: &[u8], ctx: Context) -> Result<Payload<'_>, PayloadError> {
    let mut c = Cursor::new(content);
    let payload = match (c.peek(), c.peek2()) {
        (None, _) => return Err(PayloadError::Empty),
        (Some(dlms::ACCESS_REQUEST | dlms::ACCESS_RESPONSE | dlms::DATA_NOTIFICATION), _) => {
            Payload::Dlms(dlms::Apdu::read(&mut c)?)
        }
        (Some(0x01), Some(0x09)) => {
            Payload::Gbz(gbz::Gbz::read(&mut c, ctx.cra == Some(Cra::Alert))?)
        }
        _ => Payload::Asn1(asn1::Node::read(&mut c, 0)?),
    };
    c.finish(match payload {
        Payload::Dlms(_) => "the DLMS APDU",
        Payload::Gbz(_) => "the GBZ payload",
        Payload::Asn1(_) => "the ASN.1 value",
    })?;
    Ok(payload)
}

impl<'a> Payload<'a> {
    /// The kind of payload.
    pub fn kind(&self) -> PayloadKind {
        match self {
            Payload::Dlms(dlms::Apdu::AccessRequest(_)) => PayloadKind::DlmsAccessRequest,
            Payload::Dlms(dlms::Apdu::AccessResponse(_)) => PayloadKind::DlmsAccessResponse,
            Payload::Dlms(dlms::Apdu::DataNotification(_)) => PayloadKind::DlmsDataNotification,
            Payload::Gbz(_) => PayloadKind::Gbz,
            Payload::Asn1(_) => PayloadKind::Asn1,
        }
    }

    /// The DLMS long-invoke-id-and-priority, for DLMS payloads. GBCS requires
    /// [`dlms::LongInvokeId::matches_counter`] with the grouping header's originator counter.
    pub fn invoke_id(&self) -> Option<dlms::LongInvokeId> {
        match self {
            Payload::Dlms(a) => Some(a.invoke_id()),
            _ => None,
        }
    }

    fn written(&self) -> Writer {
        let mut w = Writer::default();
        match self {
            Payload::Dlms(a) => a.write(&mut w),
            Payload::Gbz(g) => g.write(&mut w),
            Payload::Asn1(n) => n.encode(&mut w.out),
        }
        w
    }

    /// The encoding. For a decoded payload this equals the content it was decoded from.
    pub fn encode(&self) -> Vec<u8> {
        self.written().out
    }

    /// The encrypted blocks, in order, with byte ranges relative to the content (the
    /// encoding, for payloads built by hand).
    pub fn encrypted_blocks(&self) -> Vec<EncryptedBlock> {
        self.written().blocks
    }

    /// A JSON description of the structure.
    pub fn to_json(&self) -> Value {
        self.to_json_with(&[])
    }

    /// A JSON description with the plaintexts of decrypted blocks shown in place. Each entry
    /// gives a block's ciphertext range (or its whole range, security header to tag, as in
    /// [`EncryptedBlock::range`]) and the plaintext; DLMS plaintexts that decode as `Data`
    /// are also shown decoded.
    pub fn to_json_with(&self, decrypted: &[(Range<usize>, Vec<u8>)]) -> Value {
        let mut r = Render::new(self.encrypted_blocks(), decrypted);
        match self {
            Payload::Dlms(a) => a.json(&mut r),
            Payload::Gbz(g) => g.json(&mut r),
            Payload::Asn1(n) => {
                let mut o = serde_json::json!({"kind": "asn1"});
                o["tree"] = n.to_json();
                o
            }
        }
    }
}
