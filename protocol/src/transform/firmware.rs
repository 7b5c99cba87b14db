//! 11.2 Read Firmware Version.
//!
//! ESME: the active firmware identifier (0-0:0.2.1.255). GSME: the Metering cluster's
//! firmware attribute. PPMID: an empty ASN.1 request (NULL) that the ACB sends on the User's
//! behalf.

use super::der;
use super::register_reads::gets;
use super::zcl::{self, Command, cluster};
use super::{DeviceType, Input, Origin, TransformError, UseCase, any_body};
use crate::transform::axdr::obis;

pub(crate) static USE_CASES: &[UseCase] = &[
    UseCase {
        name: "ECS52",
        srv: "11.2",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: any_body,
        build: ecs52,
    },
    UseCase {
        name: "GCS38",
        srv: "11.2",
        devices: &[DeviceType::Gsme],
        origin: Origin::User,
        fits: any_body,
        build: gcs38,
    },
    UseCase {
        name: "CS08",
        srv: "11.2",
        devices: &[DeviceType::Ppmid],
        origin: Origin::Acb,
        fits: any_body,
        build: cs08,
    },
];

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
