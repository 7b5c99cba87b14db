//! 9.1 Request Customer Identification Number: the DCC draws a new four-digit Customer
//! Identification Number (CIN), sets it on the meter and returns it to the User in the
//! Service Response's `CINMessage`. The ACB sends the command on the User's behalf (the
//! requesting Users are of the "other user" role, whose credentials the meter does not hold).
//!
//! - ECS50 (ESME): DLMS set of the Data object `0-3:96.13.1.255` (attribute 2) to the CIN as
//!   an octet-string of ASCII digits.
//! - GCS36 (GSME): Device Management *Update CIN* (`06`): issuer event ID now,
//!   implementation time 0 (now), provider ID 0, then the CIN as a ZCL octet string.
//!
//! Both are checked byte for byte against the RTDS commands in
//! `protocol/tests/transform_rtds.rs`, with the corpus's CIN as [`Context::cin`]. The CIN
//! is an input because the DCC chooses it: [`random_cin`] draws one, and [`cin_in_command`]
//! reads it back out of a command already built (the gateway answers from the command it
//! journaled, so a restart cannot give the User another number than the meter holds).

use super::axdr::{Request, Value};
use super::zcl::{self, CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE, Command, Fields, cluster};
use super::{Context, ESME, GSME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;
use crate::gbcs::frame;
use crate::gbcs::payload::dlms::{AccessRequestSpec, Apdu};
use crate::gbcs::payload::gbz::{ComponentBody, GbzBody};
use crate::gbcs::payload::{self, Payload, data::Data};

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS50", "9.1", ESME, Origin::Acb, ecs50),
    use_case!("GCS36", "9.1", GSME, Origin::Acb, gcs36),
];

/// The DLMS Data object holding the ESME's CIN.
const CIN_OBJECT: [u8; 6] = [0, 3, 96, 13, 1, 255];
/// Device Management *Update CIN*.
const UPDATE_CIN: u8 = 0x06;
/// Where *Update CIN*'s CIN (a ZCL octet string) starts: after the issuer event ID,
/// implementation time and provider ID.
const UPDATE_CIN_CIN_AT: usize = 12;

/// Digits in a CIN (the DUIS `CINMessage` pattern `[0-9]{4}`).
pub const CIN_DIGITS: usize = 4;

/// Whether `cin` is a well-formed CIN: exactly four ASCII digits.
pub fn is_cin(cin: &str) -> bool {
    cin.len() == CIN_DIGITS && cin.bytes().all(|b| b.is_ascii_digit())
}

/// A new CIN, uniformly drawn from 0000–9999 with the operating system's secure random
/// source.
///
/// # Errors
///
/// When the random source fails.
pub fn random_cin() -> Result<String, TransformError> {
    // Rejection sampling: 60 000 is the largest multiple of 10 000 below 2^16, so every
    // number keeps the same chance.
    loop {
        let mut b = [0u8; 2];
        aws_lc_rs::rand::fill(&mut b).map_err(|_| TransformError::Unsupported {
            srv: "9.1".into(),
            use_case: None,
            reason: "the random source failed to draw a Customer Identification Number".into(),
        })?;
        let v = u16::from_le_bytes(b);
        if v < 60_000 {
            return Ok(format!("{:04}", v % 10_000));
        }
    }
}

/// The CIN a 9.1 command (a whole GBCS message, as sent) sets: the octet string of ECS50's
/// set or of GCS36's *Update CIN*. `None` for any other command, or one whose CIN is not
/// four digits.
pub fn cin_in_command(command: &[u8]) -> Option<String> {
    let msg = frame::parse(command).ok()?;
    let bytes: Vec<u8> = match payload::decode(msg.content).ok()? {
        Payload::Dlms(Apdu::AccessRequest(r)) => {
            let at = r.specifications.iter().position(|s| {
                matches!(s, AccessRequestSpec::Set(d)
                    if d.class_id == 1 && d.instance_id.0 == CIN_OBJECT && d.id == 2)
            })?;
            match r.data.get(at)? {
                Data::OctetString(v) => v.to_vec(),
                _ => return None,
            }
        }
        Payload::Gbz(g) => {
            let GbzBody::Components(components) = &g.body else {
                return None;
            };
            let c = components.iter().find(|c| {
                c.cluster_id == cluster::DEVICE_MANAGEMENT && c.zcl.command_id == UPDATE_CIN
            })?;
            let ComponentBody::Plain(p) = c.body else {
                return None;
            };
            let len = usize::from(*p.get(UPDATE_CIN_CIN_AT)?);
            p.get(UPDATE_CIN_CIN_AT + 1..UPDATE_CIN_CIN_AT + 1 + len)?
                .to_vec()
        }
        Payload::Dlms(_) | Payload::Asn1(_) => return None,
    };
    let cin = String::from_utf8(bytes).ok()?;
    is_cin(&cin).then_some(cin)
}

/// Whether a meter's response to a 9.1 command shows it took the CIN: a DLMS Access-Response
/// whose every result is `success` (ECS50), or a GBZ answer of ZCL Default Responses to
/// *Update CIN* all of status `SUCCESS` (GCS36). Anything else, including a response that
/// cannot be read, does not show it.
pub fn cin_taken(response: &[u8]) -> bool {
    let Ok(msg) = frame::parse(response) else {
        return false;
    };
    let ctx = payload::Context::for_message(&msg);
    match payload::decode_with(msg.content, ctx) {
        Ok(Payload::Dlms(Apdu::AccessResponse(r))) => {
            !r.specifications.is_empty() && r.specifications.iter().all(|s| s.is_success())
        }
        Ok(Payload::Gbz(g)) => {
            let components = g.components();
            !components.is_empty()
                && components.iter().all(|c| {
                    // A general (frame type 0) Default Response (0B) to Update CIN, SUCCESS.
                    c.cluster_id == cluster::DEVICE_MANAGEMENT
                        && c.zcl.frame_control & 0x03 == 0
                        && c.zcl.command_id == 0x0b
                        && matches!(c.body, ComponentBody::Plain(p) if p == [UPDATE_CIN, 0])
                })
        }
        _ => false,
    }
}

/// The CIN the context gives, checked.
fn cin<'a>(i: &Input<'a>, use_case: &str) -> Result<&'a str, TransformError> {
    let ctx: &'a Context = i.ctx;
    let unsupported = |reason: String| TransformError::Unsupported {
        srv: i.srv.to_string(),
        use_case: Some(use_case.to_owned()),
        reason,
    };
    match ctx.cin.as_deref() {
        Some(c) if is_cin(c) => Ok(c),
        Some(c) => Err(unsupported(format!(
            "the Customer Identification Number {c:?} is not four digits"
        ))),
        None => Err(unsupported(
            "the command carries the new Customer Identification Number the DCC draws; the \
             context gives none"
                .into(),
        )),
    }
}

/// ECS50: set the ESME's CIN object.
fn ecs50(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::RequestCustomerIdentificationNumber(_)) {
        return Err(i.wrong_body());
    }
    let cin = cin(i, "ECS50")?;
    Ok(Request::new()
        .set(
            1,
            CIN_OBJECT,
            2,
            Value::OctetString(cin.as_bytes().to_vec()),
        )
        .encode(i.counter))
}

/// GCS36: *Update CIN*.
fn gcs36(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::RequestCustomerIdentificationNumber(_)) {
        return Err(i.wrong_body());
    }
    let cin = cin(i, "GCS36")?;
    Ok(zcl::encode(&[Command::cluster(
        cluster::DEVICE_MANAGEMENT,
        UPDATE_CIN,
        Fields::new()
            .u32(i.now_zigbee()?)
            .u32(0)
            .u32(0)
            .string(cin.as_bytes())
            .done(),
    )
    .frame_control(CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cins_are_four_digits_and_drawn_uniformly_enough() {
        assert!(is_cin("0042"));
        for bad in ["", "123", "12345", "12a4", "١٢٣٤"] {
            assert!(!is_cin(bad), "{bad:?}");
        }
        let drawn: Vec<String> = (0..200).map(|_| random_cin().unwrap()).collect();
        assert!(drawn.iter().all(|c| is_cin(c)), "{drawn:?}");
        let distinct: std::collections::BTreeSet<_> = drawn.iter().collect();
        // 200 draws from 10 000 values: a repeat-heavy source would show here.
        assert!(distinct.len() > 150, "{} distinct of 200", distinct.len());
    }

    #[test]
    fn cin_of_other_commands_is_none() {
        assert_eq!(cin_in_command(&[]), None);
        assert_eq!(cin_in_command(&[0xdd, 0x00]), None);
    }
}
