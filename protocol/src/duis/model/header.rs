//! The DUIS request header: RequestID, sequencing, CommandVariant, Service Reference and
//! Service Reference Variant.

use std::fmt;
use std::str::FromStr;

use crate::catalogue::{Catalogue, Srv};
use crate::duis::model::tables;
use crate::duis::model::xsd::is_xml_space;

/// A DUIS RequestID (`RequestIDType`), also used for ResponseID: two EUI-64s and a counter,
/// written `90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000`.
///
/// For a request the first EUI is the originator (the User's business ID) and the second
/// the target (the device, or the DCC for non-device requests); a ResponseID has them
/// swapped. The counter is a decimal 0 … 2^64−1 without leading zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId {
    /// First EUI-64 (the originator in a RequestID).
    pub originator: [u8; 8],
    /// Second EUI-64 (the target in a RequestID).
    pub target: [u8; 8],
    /// The counter.
    pub counter: u64,
}

/// Why a RequestID does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestIdError {
    /// Not three `:`-separated parts.
    #[error("expected EUI:EUI:counter")]
    Shape,
    /// An EUI-64 that is not eight hex pairs joined by `-`.
    #[error("{which} EUI {value:?} is not eight hex pairs joined by '-'")]
    Eui {
        /// `originator` or `target`.
        which: &'static str,
        /// The text found.
        value: String,
    },
    /// The counter is empty or has a non-digit.
    #[error("counter {0:?} is not a decimal number")]
    CounterNotDecimal(String),
    /// The counter has a leading zero.
    #[error("counter has a leading zero")]
    CounterLeadingZero,
    /// The counter exceeds 2^64−1.
    #[error("counter exceeds 18446744073709551615")]
    CounterTooLarge,
}

impl RequestId {
    /// A RequestID from its parts.
    pub fn new(originator: [u8; 8], target: [u8; 8], counter: u64) -> RequestId {
        RequestId {
            originator,
            target,
            counter,
        }
    }

    /// Parses the XSD lexical form (leading and trailing whitespace allowed, as the type is
    /// an `xs:token`; hex in either case).
    ///
    /// # Errors
    ///
    /// [`RequestIdError`] saying which part is wrong.
    pub fn parse(s: &str) -> Result<RequestId, RequestIdError> {
        let s = s.trim_matches(is_xml_space);
        let mut parts = s.split(':');
        let (Some(o), Some(t), Some(c), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(RequestIdError::Shape);
        };
        let originator = parse_eui(o).ok_or_else(|| RequestIdError::Eui {
            which: "originator",
            value: o.to_owned(),
        })?;
        let target = parse_eui(t).ok_or_else(|| RequestIdError::Eui {
            which: "target",
            value: t.to_owned(),
        })?;
        if c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RequestIdError::CounterNotDecimal(c.to_owned()));
        }
        if c.len() > 1 && c.starts_with('0') {
            return Err(RequestIdError::CounterLeadingZero);
        }
        let counter = c
            .parse::<u64>()
            .map_err(|_| RequestIdError::CounterTooLarge)?;
        Ok(RequestId {
            originator,
            target,
            counter,
        })
    }

    /// The ResponseID that answers this RequestID: the EUIs swapped, the same counter.
    pub fn response_id(&self) -> RequestId {
        RequestId {
            originator: self.target,
            target: self.originator,
            counter: self.counter,
        }
    }
}

/// Parses an EUI-64 written as eight hex pairs joined by `-` (either case).
pub fn parse_eui(s: &str) -> Option<[u8; 8]> {
    let b = s.as_bytes();
    if b.len() != 23 {
        return None;
    }
    let mut out = [0u8; 8];
    for (i, byte) in out.iter_mut().enumerate() {
        let at = i * 3;
        if i > 0 && b[at - 1] != b'-' {
            return None;
        }
        let hi = (b[at] as char).to_digit(16)?;
        let lo = (b[at + 1] as char).to_digit(16)?;
        *byte = ((hi << 4) | lo) as u8;
    }
    Some(out)
}

/// Writes an EUI-64 as upper-case hex pairs joined by `-`.
pub fn format_eui(eui: &[u8; 8]) -> String {
    crate::hex::eui_duis(eui)
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            crate::hex::EuiText::new(&self.originator),
            crate::hex::EuiText::new(&self.target),
            self.counter
        )
    }
}

impl FromStr for RequestId {
    type Err = RequestIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequestId::parse(s)
    }
}

/// The DUIS CommandVariant: what the User sends and what comes back. Value 9 (internal to
/// the DCC) is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum CommandVariant {
    /// 1: non-critical Service Request, Command sent over the SM WAN.
    Command = 1,
    /// 2: non-critical Service Request, Command returned for local delivery.
    LocalCommand = 2,
    /// 3: both 1 and 2.
    CommandAndLocalCommand = 3,
    /// 4: critical Service Request to be transformed into a Pre-Command.
    Transform = 4,
    /// 5: Signed Pre-Command, Command sent over the SM WAN.
    SignedCommand = 5,
    /// 6: Signed Pre-Command, Command returned for local delivery.
    SignedLocalCommand = 6,
    /// 7: both 5 and 6.
    SignedCommandAndLocalCommand = 7,
    /// 8: non-device Service Request answered by the DCC.
    NonDevice = 8,
}

impl CommandVariant {
    /// Every accepted value.
    pub const ALL: [CommandVariant; 8] = [
        CommandVariant::Command,
        CommandVariant::LocalCommand,
        CommandVariant::CommandAndLocalCommand,
        CommandVariant::Transform,
        CommandVariant::SignedCommand,
        CommandVariant::SignedLocalCommand,
        CommandVariant::SignedCommandAndLocalCommand,
        CommandVariant::NonDevice,
    ];

    /// The number.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The variant for `n` (1–8).
    pub fn from_u8(n: u8) -> Option<CommandVariant> {
        CommandVariant::ALL
            .get(usize::from(n).wrapping_sub(1))
            .copied()
    }

    /// Parses the text of a `CommandVariant` element (an `xs:positiveInteger`).
    ///
    /// # Errors
    ///
    /// A message for anything other than 1–8.
    pub fn parse(s: &str) -> Result<CommandVariant, String> {
        let t = s.trim_matches(is_xml_space);
        let digits = t.strip_prefix('+').unwrap_or(t);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("CommandVariant {t:?} is not a positive integer"));
        }
        let n = digits.trim_start_matches('0');
        match n.parse::<u8>().ok().and_then(CommandVariant::from_u8) {
            Some(cv) => Ok(cv),
            None if n == "9" => {
                Err("CommandVariant 9 is internal to the DCC and not accepted".to_owned())
            }
            None => Err(format!("CommandVariant {t} is not one of 1 to 8")),
        }
    }

    /// Whether the body is a `SignedPreCommand` (5, 6, 7).
    pub fn is_signed_pre_command(self) -> bool {
        matches!(
            self,
            CommandVariant::SignedCommand
                | CommandVariant::SignedLocalCommand
                | CommandVariant::SignedCommandAndLocalCommand
        )
    }

    /// Whether a command is returned for local delivery (2, 3, 6, 7).
    pub fn has_local_delivery(self) -> bool {
        matches!(self.as_u8(), 2 | 3 | 6 | 7)
    }

    /// Whether a command is sent over the SM WAN (1, 3, 5, 7).
    pub fn has_wan_delivery(self) -> bool {
        matches!(self.as_u8(), 1 | 3 | 5 | 7)
    }
}

impl fmt::Display for CommandVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u8())
    }
}

/// A `ServiceReference` value (the service group, e.g. `4.1`), one of the schema's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceReference(&'static str);

impl ServiceReference {
    /// The value if the schema lists it (whitespace around it is ignored).
    pub fn parse(s: &str) -> Option<ServiceReference> {
        let s = s.trim_matches(is_xml_space);
        tables::SERVICE_REFERENCES
            .iter()
            .find(|v| **v == s)
            .map(|v| ServiceReference(v))
    }

    /// The value.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ServiceReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A `ServiceReferenceVariant` value (the SRV, e.g. `4.1.1`), one of the schema's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceReferenceVariant(&'static str);

impl ServiceReferenceVariant {
    /// The value if the schema lists it (whitespace around it is ignored).
    pub fn parse(s: &str) -> Option<ServiceReferenceVariant> {
        let s = s.trim_matches(is_xml_space);
        tables::SERVICE_REFERENCE_VARIANTS
            .iter()
            .find(|v| **v == s)
            .map(|v| ServiceReferenceVariant(v))
    }

    /// The value.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The catalogue entry for this SRV.
    pub fn srv(self) -> Option<&'static Srv> {
        Catalogue::get().srv(self.0)
    }

    /// The Service Reference this SRV belongs to.
    pub fn service_reference(self) -> Option<ServiceReference> {
        self.srv()
            .and_then(|s| ServiceReference::parse(&s.service_reference))
    }
}

impl fmt::Display for ServiceReferenceVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The `sr:Header` of a request, fields in schema order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// `RequestID`.
    pub request_id: RequestId,
    /// `FirstInSequence` (optional).
    pub first_in_sequence: Option<bool>,
    /// `PrecedingServiceRequestID` (optional).
    pub preceding_request_id: Option<RequestId>,
    /// `CommandVariant`.
    pub command_variant: CommandVariant,
    /// `ServiceReference`.
    pub service_reference: ServiceReference,
    /// `ServiceReferenceVariant`.
    pub service_reference_variant: ServiceReferenceVariant,
}

impl RequestHeader {
    /// A header for `srv` (its Service Reference taken from the catalogue), with no
    /// sequencing elements. `None` if the SRV is unknown.
    pub fn new(
        request_id: RequestId,
        command_variant: CommandVariant,
        srv: &str,
    ) -> Option<RequestHeader> {
        let service_reference_variant = ServiceReferenceVariant::parse(srv)?;
        let service_reference = service_reference_variant.service_reference()?;
        Some(RequestHeader {
            request_id,
            first_in_sequence: None,
            preceding_request_id: None,
            command_variant,
            service_reference,
            service_reference_variant,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_parse_and_display() {
        let id = RequestId::parse(" 90-b3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000\n")
            .expect("valid");
        assert_eq!(
            id.originator,
            [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0x00, 0x00]
        );
        assert_eq!(id.counter, 1000);
        assert_eq!(
            id.to_string(),
            "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000"
        );
        assert_eq!(id.response_id().response_id(), id);
        let max = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:18446744073709551615";
        assert_eq!(RequestId::parse(max).map(|r| r.counter), Ok(u64::MAX));
        assert!(RequestId::parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:0").is_ok());
    }

    #[test]
    fn request_id_errors() {
        let eui = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0";
        assert_eq!(
            RequestId::parse(&format!("{eui}:01")),
            Err(RequestIdError::CounterLeadingZero)
        );
        assert_eq!(
            RequestId::parse(&format!("{eui}:18446744073709551616")),
            Err(RequestIdError::CounterTooLarge)
        );
        assert_eq!(
            RequestId::parse(&format!("{eui}:")),
            Err(RequestIdError::CounterNotDecimal(String::new()))
        );
        assert_eq!(
            RequestId::parse(&format!("{eui}:+1")),
            Err(RequestIdError::CounterNotDecimal("+1".into()))
        );
        assert_eq!(RequestId::parse(eui), Err(RequestIdError::Shape));
        assert!(matches!(
            RequestId::parse("90-B3-D5-1F-30-01-00:00-DB-12-34-56-78-90-A0:1"),
            Err(RequestIdError::Eui {
                which: "originator",
                ..
            })
        ));
        assert!(matches!(
            RequestId::parse("90-B3-D5-1F-30-01-00-00:00_DB-12-34-56-78-90-A0:1"),
            Err(RequestIdError::Eui {
                which: "target",
                ..
            })
        ));
        assert_eq!(
            RequestIdError::CounterLeadingZero.to_string(),
            "counter has a leading zero"
        );
    }

    #[test]
    fn command_variants() {
        for cv in CommandVariant::ALL {
            assert_eq!(CommandVariant::parse(&cv.to_string()), Ok(cv));
        }
        assert!(CommandVariant::parse("9").is_err());
        assert!(CommandVariant::parse("0").is_err());
        assert_eq!(CommandVariant::parse(" 04 "), Ok(CommandVariant::Transform));
        assert!(CommandVariant::SignedLocalCommand.is_signed_pre_command());
        assert!(CommandVariant::CommandAndLocalCommand.has_local_delivery());
    }

    #[test]
    fn service_references() {
        let srv = ServiceReferenceVariant::parse("6.15.1").expect("known");
        assert_eq!(
            srv.service_reference().map(ServiceReference::as_str),
            Some("6.15")
        );
        assert!(ServiceReferenceVariant::parse("6.15.9").is_none());
        assert!(ServiceReference::parse("4.1").is_some());
        let h = RequestHeader::new(
            RequestId::new([1; 8], [2; 8], 3),
            CommandVariant::Command,
            "4.1.1",
        );
        assert_eq!(h.map(|h| h.service_reference.as_str()), Some("4.1"));
    }
}
