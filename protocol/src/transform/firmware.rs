//! 11.2 Read Firmware Version and 11.3 Activate Firmware.
//!
//! 11.2 — ESME: the active firmware identifier (0-0:0.2.1.255). GSME: the Metering cluster's
//! firmware attribute. PPMID: an empty ASN.1 request (NULL) that the ACB sends on the User's
//! behalf.
//!
//! 11.3 (CS06, ESME and GSME, critical, originated by the User): the RTDS layout
//! `SEQUENCE { OCTET STRING (32) manufacturer image hash, INTEGER originator counter,
//! GeneralizedTime execution time OPTIONAL }`; the execution time is the request's
//! `ExecutionDateTime` (`99991231235959Z` for a cancellation, year 3000 or later), and absent
//! for an immediate activation.

use super::der;
use super::der::Der;
use super::register_reads::gets;
use super::zcl::{self, Command, cluster};
use super::{DeviceType, ESME, Execution, GSME, Input, Origin, TransformError, UseCase, any_body};
use crate::duis::model::Body;
use crate::transform::axdr::obis;

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS52", "11.2", ESME, Origin::User, ecs52),
    use_case!("GCS38", "11.2", GSME, Origin::User, gcs38),
    UseCase {
        name: "CS08",
        srv: "11.2",
        devices: &[DeviceType::Ppmid],
        origin: Origin::Acb,
        fits: any_body,
        build: cs08,
    },
    UseCase {
        name: "CS06",
        srv: "11.3",
        devices: &[DeviceType::Esme, DeviceType::Gsme],
        origin: Origin::User,
        fits: any_body,
        build: cs06,
    },
];

/// CS06 Activate Firmware (see the module documentation).
fn cs06(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::ActivateFirmware(b) = i.body else {
        return Err(i.wrong_body());
    };
    if b.firmware_hash.len() != 32 {
        return Err(i.field("FirmwareHash", "not 32 bytes (a SHA-256 hash)"));
    }
    let counter = i64::try_from(i.counter)
        .map_err(|_| i.field("RequestID", "counter beyond an ASN.1 INTEGER of 8 bytes"))?;
    let mut items = vec![Der::octets(&b.firmware_hash), Der::integer(counter)];
    match i.execution(b.execution_date_time.as_ref())? {
        Execution::Now => {}
        Execution::At(t) => items.push(Der::generalized_time(&t.generalized_time())),
        Execution::Cancel => items.push(Der::generalized_time("99991231235959Z")),
    }
    Ok(Der::sequence(items).encode())
}

fn ecs52(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    Ok(gets(&[(1, obis(0, 0, 0, 2, 1, 255), 2)], i.counter))
}

fn gcs38(_: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    Ok(zcl::encode(&[Command::read_attributes(
        cluster::METERING,
        &[0x0206],
    )]))
}

fn cs08(_: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    Ok(der::null())
}
