//! DUIS responses, acknowledgements and alerts (`sr:Response`).

use std::fmt;

use crate::duis::model::header::{RequestId, ServiceReference, ServiceReferenceVariant};
use crate::duis::model::request::schema_version;
use crate::duis::model::tables;
use crate::duis::model::xsd::{DateTime, Decimal, is_xml_space};
use crate::duis::reader::{self, DuisError, ReadError};
use crate::duis::writer;
use crate::duis::xml::{Document, Element, Limits};

/// An `sr:Response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The `schemaVersion` attribute.
    pub schema_version: Decimal,
    /// `sr:Header`.
    pub header: ResponseHeader,
    /// The content of `sr:Body`.
    pub body: ResponseBody,
    /// The enveloped `ds:Signature`, as read (`None` when absent).
    pub signature: Option<Element>,
}

impl Response {
    /// A new, unsigned response with `schemaVersion` 5.4.
    pub fn new(header: ResponseHeader, body: ResponseBody) -> Response {
        Response {
            schema_version: schema_version(),
            header,
            body,
            signature: None,
        }
    }

    /// Reads a response from a parsed document.
    ///
    /// # Errors
    ///
    /// As [`reader::read_response`].
    pub fn from_document(doc: &Document) -> Result<Response, ReadError> {
        reader::read_response(doc)
    }

    /// Parses and reads a response.
    ///
    /// # Errors
    ///
    /// As [`reader::parse_response`].
    pub fn parse(xml: &[u8], limits: &Limits) -> Result<Response, DuisError> {
        reader::parse_response(xml, limits)
    }

    /// Writes the response as a compact XML document (see [`writer::write_response`]).
    pub fn to_xml(&self) -> String {
        writer::write_response(self)
    }

    /// The GBCS message carried, if any (`GBCSPayload` of a response message, a
    /// Pre-Command, a local command, a CIN or scheduled message, or an alert).
    pub fn gbcs_payload(&self) -> Option<&[u8]> {
        match &self.body {
            ResponseBody::ResponseMessage(m) => {
                m.payload.as_ref().and_then(ResponsePayload::gbcs_payload)
            }
            ResponseBody::DeviceAlertMessage(a) => Some(&a.gbcs_payload),
            ResponseBody::DccAlertMessage(_) | ResponseBody::Smets1ResponseMessage(_) => None,
        }
    }
}

/// The `sr:Header` of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    /// `RequestID` (optional).
    pub request_id: Option<RequestId>,
    /// `ResponseID` (optional): the RequestID with its EUIs swapped.
    pub response_id: Option<RequestId>,
    /// `ResponseCode`.
    pub response_code: ResponseCode,
    /// `ResponseDateTime`.
    pub response_date_time: DateTime,
}

/// A `ResponseCode` value, one of the schema's enumeration (`I0`, `I99`, `E1`…, `Essmmnn`,
/// `Wssmmnn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseCode(&'static str);

impl ResponseCode {
    /// `I0`: success.
    pub const I0: ResponseCode = ResponseCode("I0");
    /// `I99`: acknowledgement.
    pub const I99: ResponseCode = ResponseCode("I99");

    /// The code if the schema lists it (whitespace around it is ignored).
    pub fn parse(s: &str) -> Option<ResponseCode> {
        let s = s.trim_matches(is_xml_space);
        tables::RESPONSE_CODES
            .iter()
            .find(|v| **v == s)
            .map(|v| ResponseCode(v))
    }

    /// The code.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Information or success (`I…`).
    pub fn is_success(self) -> bool {
        self.0.starts_with('I')
    }

    /// A warning (`W…`).
    pub fn is_warning(self) -> bool {
        self.0.starts_with('W')
    }

    /// An error (`E…`).
    pub fn is_error(self) -> bool {
        self.0.starts_with('E')
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The content of a response `Body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseBody {
    /// `ResponseMessage`: the answer to a request.
    ResponseMessage(ResponseMessage),
    /// `DeviceAlertMessage`: an alert raised by a device.
    DeviceAlertMessage(DeviceAlertMessage),
    /// `DCCAlertMessage`: an alert raised by the DCC.
    DccAlertMessage(DccAlertMessage),
    /// `SMETS1ResponseMessage`, kept as a raw subtree.
    Smets1ResponseMessage(Element),
}

/// `ResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMessage {
    /// `ServiceReference`.
    pub service_reference: ServiceReference,
    /// `ServiceReferenceVariant`.
    pub service_reference_variant: ServiceReferenceVariant,
    /// The payload; `None` for an acknowledgement with no body.
    pub payload: Option<ResponsePayload>,
}

/// The optional payload of a `ResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponsePayload {
    /// `GBCSPayload`: the device's GBCS response.
    GbcsPayload(Vec<u8>),
    /// `PreCommand`: the answer to a CommandVariant 4 request.
    PreCommand {
        /// `GBCSVersion`.
        gbcs_version: String,
        /// `GBCSPayload`: the unsigned general-signing APDU.
        gbcs_payload: Vec<u8>,
    },
    /// `LocalCommand`: a command for local delivery.
    LocalCommand {
        /// `GBCSPayload`.
        gbcs_payload: Vec<u8>,
    },
    /// `CINMessage`.
    CinMessage {
        /// `GBCSPayload`.
        gbcs_payload: Vec<u8>,
        /// `CustomerIdentificationNumber` (four digits).
        customer_identification_number: String,
    },
    /// `DSPScheduledMessage`: the response to a DCC-scheduled command.
    DspScheduledMessage {
        /// `GBCSPayload`.
        gbcs_payload: Vec<u8>,
        /// `DSPScheduleID`.
        dsp_schedule_id: u64,
    },
    /// `DSPScheduleID`: the schedule created by SRV 5.1.
    DspScheduleId(u64),
    /// `FutureDatedDeviceAlertMessage`.
    FutureDatedDeviceAlertMessage(FutureDatedDeviceAlert),
    /// Any other DCC payload (`DSPInventory`, `DSPOptIn`, `DSPSchedulesRead`,
    /// `DSPUpdateFirmwareWarning`, `DSPUpdatePPMIDFirmwareWarning`, `DSPWANMatrix`), kept as
    /// a raw subtree.
    Dsp {
        /// Local name of the element.
        element: String,
        /// The element.
        xml: Element,
    },
}

impl ResponsePayload {
    /// The GBCS message carried, if any.
    pub fn gbcs_payload(&self) -> Option<&[u8]> {
        match self {
            ResponsePayload::GbcsPayload(p)
            | ResponsePayload::PreCommand {
                gbcs_payload: p, ..
            }
            | ResponsePayload::LocalCommand { gbcs_payload: p }
            | ResponsePayload::CinMessage {
                gbcs_payload: p, ..
            }
            | ResponsePayload::DspScheduledMessage {
                gbcs_payload: p, ..
            } => Some(p),
            ResponsePayload::FutureDatedDeviceAlertMessage(a) => Some(&a.gbcs_payload),
            ResponsePayload::DspScheduleId(_) | ResponsePayload::Dsp { .. } => None,
        }
    }
}

/// `FutureDatedAlertCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FutureDatedAlertCode {
    /// `8F66`: the future-dated command was executed.
    Executed,
    /// `8F67`: the future-dated command failed.
    Failed,
}

impl FutureDatedAlertCode {
    /// The 16-bit alert code.
    pub fn code(self) -> u16 {
        match self {
            FutureDatedAlertCode::Executed => 0x8F66,
            FutureDatedAlertCode::Failed => 0x8F67,
        }
    }
}

/// `FutureDatedDeviceAlertMessage`: the outcome of a device-future-dated command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FutureDatedDeviceAlert {
    /// `FutureDatedAlertCode`.
    pub alert_code: FutureDatedAlertCode,
    /// `GBCSPayload`: the device's alert.
    pub gbcs_payload: Vec<u8>,
    /// `InstructionNumber`.
    pub instruction_number: u16,
    /// `TotalCommandInstructions`.
    pub total_command_instructions: u16,
}

/// `DeviceAlertMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAlertMessage {
    /// `AlertCode` (`xs:hexBinary`, normally two bytes such as `8F0A`).
    pub alert_code: Vec<u8>,
    /// `ThrottledAlertSequenceId` (optional).
    pub throttled_alert_sequence_id: Option<u32>,
    /// `ThrottledAlertCount` (optional).
    pub throttled_alert_count: Option<u32>,
    /// `GBCSPayload`: the device's alert.
    pub gbcs_payload: Vec<u8>,
}

impl DeviceAlertMessage {
    /// The alert code as a number, when it is two bytes long.
    pub fn alert_code_u16(&self) -> Option<u16> {
        match self.alert_code.as_slice() {
            [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
            _ => None,
        }
    }
}

/// A `DCCAlertCode` value (`AD1`, `N1`…`N65`, `N999`), one of the schema's enumeration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DccAlertCode(&'static str);

impl DccAlertCode {
    /// The code if the schema lists it (whitespace around it is ignored).
    pub fn parse(s: &str) -> Option<DccAlertCode> {
        let s = s.trim_matches(is_xml_space);
        tables::DCC_ALERT_CODES
            .iter()
            .find(|v| **v == s)
            .map(|v| DccAlertCode(v))
    }

    /// The code.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for DccAlertCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// `DCCAlertMessage`: an alert from the DCC itself (no GBCS payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DccAlertMessage {
    /// `DCCAlertCode`.
    pub dcc_alert_code: DccAlertCode,
    /// `ThrottledAlertSequenceId` (optional).
    pub throttled_alert_sequence_id: Option<u32>,
    /// `ThrottledAlertCount` (optional).
    pub throttled_alert_count: Option<u32>,
    /// The `sr:DCCAlert` element as read (its one child is one of
    /// [`tables::DCC_ALERT_ELEMENTS`]).
    pub dcc_alert: Element,
}

impl DccAlertMessage {
    /// Local name of the alert inside `DCCAlert` (`PowerOutageEvent`, …).
    pub fn alert_kind(&self) -> Option<&str> {
        self.dcc_alert
            .child_elements()
            .next()
            .map(|e| e.local.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_codes() {
        assert_eq!(ResponseCode::parse("I0"), Some(ResponseCode::I0));
        assert!(ResponseCode::parse(" E65 ").is_some_and(ResponseCode::is_error));
        assert!(ResponseCode::parse("W050201").is_some_and(ResponseCode::is_warning));
        assert!(ResponseCode::parse("E9999").is_none());
        assert!(DccAlertCode::parse("N999").is_some());
        assert!(DccAlertCode::parse("N32").is_none());
    }
}
