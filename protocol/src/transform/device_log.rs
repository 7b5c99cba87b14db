//! 8.9 Read Device Log: the HAN device log (the devices joined to a CHF or GPF).
//!
//! CHF: the ACB reads the device log object (class 104, 0-0:30.3.0.255) on the User's
//! behalf; with `ReadSecurityDetails` it invokes the log objects' method 4 on both logs.
//! GSME (CS07): an empty ASN.1 request (NULL).

use super::axdr::{Request, Value, obis};
use super::der;
use super::{DeviceType, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;

pub(crate) static USE_CASES: &[UseCase] = &[
    UseCase {
        name: "CCS06",
        srv: "8.9",
        devices: &[DeviceType::Chf],
        origin: Origin::Acb,
        fits: without_security_details,
        build: read_log,
    },
    UseCase {
        name: "CCS05CCS04",
        srv: "8.9",
        devices: &[DeviceType::Chf, DeviceType::Gpf],
        origin: Origin::Acb,
        fits: without_security_details,
        build: read_log,
    },
    UseCase {
        name: "CCS07",
        srv: "8.9",
        devices: &[DeviceType::Chf],
        origin: Origin::Acb,
        fits: with_security_details,
        build: ccs07,
    },
    UseCase {
        name: "CS07",
        srv: "8.9",
        devices: &[DeviceType::Gsme, DeviceType::Esme],
        origin: Origin::User,
        fits: without_security_details,
        build: cs07,
    },
];

fn with_security_details(b: &Body) -> bool {
    matches!(b, Body::ReadDeviceLog(r) if r.read_security_details.is_some())
}

fn without_security_details(b: &Body) -> bool {
    matches!(b, Body::ReadDeviceLog(r) if r.read_security_details.is_none())
}

/// The CHF's device log objects (class 104).
const DEVICE_LOG: u16 = 104;
const CHF_LOG: [u8; 6] = obis(0, 0, 30, 3, 0, 255);
const GPF_LOG: [u8; 6] = obis(0, 0, 30, 3, 1, 255);

/// CCS05CCS04 / CCS06: get the device log entries (attribute 4).
fn read_log(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    Ok(Request::new().get(DEVICE_LOG, CHF_LOG, 4).encode(i.counter))
}

/// CCS07: the device logs with their security details (method 4 of both logs).
fn ccs07(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    Ok(Request::new()
        .action(DEVICE_LOG, CHF_LOG, 4, Value::Null)
        .action(DEVICE_LOG, GPF_LOG, 4, Value::Null)
        .encode(i.counter))
}

/// CS07: an empty request.
fn cs07(_: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    Ok(der::null())
}
