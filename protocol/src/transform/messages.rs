//! 3.1 Display Message: the supplier's message on the meter's display.
//!
//! ESME: the message is written to the display Data object (0-2:96.13.1.255). GSME: the
//! Messaging cluster's *Display Message*, with the current time as message ID, shown now and
//! until replaced. The execution date-time of a future-dated request is the DCC's to hold
//! (DSP pattern): it is not in the command.

use super::axdr::{Request, Value, obis};
use super::zcl::{self, Command, Fields, cluster};
use super::{ESME, GSME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS10", "3.1", ESME, Origin::User, ecs10),
    use_case!("GCS07", "3.1", GSME, Origin::User, gcs07),
];

fn message<'b>(i: &Input<'b>) -> Result<&'b str, TransformError> {
    match i.body {
        Body::DisplayMessage(b) => Ok(&b.supplier_message),
        _ => Err(i.wrong_body()),
    }
}

/// ECS10: set the display message.
fn ecs10(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let m = message(i)?;
    Ok(Request::new()
        .set(
            1,
            obis(0, 2, 96, 13, 1, 255),
            2,
            Value::OctetString(m.as_bytes().to_vec()),
        )
        .encode(i.counter))
}

/// Messaging cluster *Display Message*.
const DISPLAY_MESSAGE: u8 = 0x00;
/// Duration "until changed".
const UNTIL_CHANGED: u16 = 0xffff;

/// GCS07: *Display Message* (ID = the current time, normal transmission, start now, until
/// changed).
fn gcs07(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let m = message(i)?;
    if m.len() > 254 {
        return Err(i.field(
            "SupplierMessage",
            format!("{} bytes do not fit a ZCL string (at most 254)", m.len()),
        ));
    }
    Ok(zcl::encode(&[Command::cluster(
        cluster::MESSAGING,
        DISPLAY_MESSAGE,
        Fields::new()
            .u32(i.now_zigbee()?)
            .u8(0x00)
            .u32(0)
            .u16(UNTIL_CHANGED)
            .string(m.as_bytes())
            .done(),
    )
    .frame_control(zcl::CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE)]))
}
