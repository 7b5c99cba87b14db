//! 8.8.1 / 8.8.2 Unjoin Service: remove the other device from the target's HAN.
//!
//! The payload is the other device's EUI-64 as an ASN.1 OCTET STRING. To a PPMID the ACB
//! sends it on the User's behalf and signs it (CS04ACNonCritical).

use super::der::Der;
use super::{DeviceType, Input, Origin, TransformError, UseCase, any_body};
use crate::duis::model::Body;
use crate::duis::model::header::parse_eui;

pub(crate) static USE_CASES: &[UseCase] = &[
    UseCase {
        name: "CS04ACCritical",
        srv: "8.8.1",
        devices: &[DeviceType::Esme, DeviceType::Gsme],
        origin: Origin::User,
        fits: any_body,
        build: unjoin,
    },
    UseCase {
        name: "CS04ACNonCritical",
        srv: "8.8.2",
        devices: &[DeviceType::Ppmid, DeviceType::Hcalcs],
        origin: Origin::AcbSigned,
        fits: any_body,
        build: unjoin,
    },
];

fn unjoin(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let b = match i.body {
        Body::UnjoinServiceCritical(b) | Body::UnjoinServiceNonCritical(b) => b,
        _ => return Err(i.wrong_body()),
    };
    let eui =
        parse_eui(&b.other_device_id).ok_or_else(|| i.field("OtherDeviceID", "not an EUI-64"))?;
    Ok(Der::octets(&eui).encode())
}
