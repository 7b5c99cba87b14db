//! 2.2 Top Up Device: a UTRN (Unique Transaction Reference Number, 20 digits) for the
//! meter's prepayment credit.
//!
//! ESME: the Token Gateway's `enter` method (class 115, 0-0:19.40.0.255) with the UTRN's
//! digits. GSME: the Prepayment cluster's *Consumer Top Up*.

use super::axdr::{Request, Value, obis};
use super::zcl::{self, Command, Fields, cluster};
use super::{ESME, GSME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("CS01a", "2.2", ESME, Origin::User, cs01a),
    use_case!("CS01b", "2.2", GSME, Origin::User, cs01b),
];

fn utrn<'b>(i: &Input<'b>) -> Result<&'b [u8], TransformError> {
    let Body::TopUpDevice(b) = i.body else {
        return Err(i.wrong_body());
    };
    let u = b.utrn.as_bytes();
    if u.is_empty() || u.len() > 254 || !u.iter().all(u8::is_ascii_digit) {
        return Err(i.field("UTRN", "must be decimal digits"));
    }
    Ok(u)
}

/// CS01a: Token Gateway `enter` with the UTRN.
fn cs01a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let u = utrn(i)?;
    Ok(Request::new()
        .action(
            115,
            obis(0, 0, 19, 40, 0, 255),
            1,
            Value::OctetString(u.to_vec()),
        )
        .encode(i.counter))
}

/// Prepayment cluster *Consumer Top Up*.
const CONSUMER_TOP_UP: u8 = 0x04;
/// Originating device: the energy service interface (remote top-up).
const ORIGIN_ESI: u8 = 0x00;

/// CS01b: *Consumer Top Up* with the UTRN.
fn cs01b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let u = utrn(i)?;
    Ok(zcl::encode(&[Command::cluster(
        cluster::PREPAYMENT,
        CONSUMER_TOP_UP,
        Fields::new().u8(ORIGIN_ESI).string(u).done(),
    )]))
}
