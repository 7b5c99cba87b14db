//! Register and tariff reads: 4.1.1 Read Instantaneous Import Registers, 4.1.2 Read
//! Instantaneous Import TOU Matrices, 4.3 Read Instantaneous Prepay Values, 4.11.1 / 4.11.2
//! Read Tariff (Primary / Secondary Element).
//!
//! The import registers of an ESME are sensitive: they are read through the Data Protection
//! object with `get_protected_attributes`, so that the device encrypts the response for the
//! requester (PROTOCOLS.md §4.9). The GSME's consumption register is a ZCL Read Attributes of
//! the Metering cluster, which the meter (or the GPF, from its copy of the GSME's data)
//! answers encrypted. Tariff reads are plain DLMS gets on the ESME and ZCL reads on the GSME.

use super::axdr::{Request, obis, protected_get, protected_object};
use super::zcl::{self, Command, Fields, cluster};
use super::{DeviceType, ESME, GSME, Input, Origin, TransformError, UseCase, any_body};
use crate::duis::model::Body;

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS17b", "4.1.1", ESME, Origin::User, ecs17b),
    UseCase {
        name: "GCS13a",
        srv: "4.1.1",
        devices: &[DeviceType::Gsme, DeviceType::Gpf],
        origin: Origin::User,
        fits: any_body,
        build: gcs13a,
    },
    use_case!("ECS17d", "4.1.2", ESME, Origin::User, ecs17d),
    use_case!("ECS24", "4.11.1", ESME, Origin::User, ecs24),
    use_case!("GCS21f", "4.11.1", GSME, Origin::User, gcs21f),
    use_case!("ECS24b", "4.11.2", ESME, Origin::User, ecs24b),
    use_case!("ECS19", "4.3", ESME, Origin::User, ecs19),
    UseCase {
        name: "GCS14",
        srv: "4.3",
        devices: &[DeviceType::Gsme, DeviceType::Gpf],
        origin: Origin::User,
        fits: any_body,
        build: gcs14,
    },
];

fn protected_register(i: &Input<'_>, protection: [u8; 6], register: [u8; 6]) -> Vec<u8> {
    protected_get(
        protection,
        vec![protected_object(1, register, 2, None)],
        i.counter,
        &i.user,
        &i.target,
    )
}

/// ECS17b: the import energy registers (Data object 0-0:94.44.34.10, through the Data
/// Protection object 0-0:43.2.8.255).
fn ecs17b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    match i.body {
        Body::ReadInstantaneousImportRegisters(_) => Ok(protected_register(
            i,
            obis(0, 0, 43, 2, 8, 255),
            obis(0, 0, 94, 44, 34, 10),
        )),
        _ => Err(i.wrong_body()),
    }
}

/// Metering cluster attribute *CurrentSummationDelivered* (uint48, the gas consumed).
pub(crate) const CURRENT_SUMMATION_DELIVERED: u16 = 0x0000;

/// GCS13a: the GSME consumption register, *CurrentSummationDelivered*, by Read Attributes.
///
/// Derived: the corpus has no GCS13a command. The layout is that of the corpus's GBZ
/// attribute reads (GCS14, GCS21f: one Read Attributes component per cluster, sequence
/// number 0), with the one attribute ZigBee SE defines for the consumption register.
fn gcs13a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    match i.body {
        Body::ReadInstantaneousImportRegisters(_) => Ok(zcl::encode(&[Command::read_attributes(
            cluster::METERING,
            &[CURRENT_SUMMATION_DELIVERED],
        )])),
        _ => Err(i.wrong_body()),
    }
}

/// ECS17d: the TOU matrices (Data object 0-0:94.44.34.1, through 0-0:43.2.9.255).
fn ecs17d(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    match i.body {
        Body::ReadInstantaneousImportTOUMatrices(_) => Ok(protected_register(
            i,
            obis(0, 0, 43, 2, 9, 255),
            obis(0, 0, 94, 44, 34, 1),
        )),
        _ => Err(i.wrong_body()),
    }
}

/// ECS19: the prepayment values (Data object 0-0:94.44.34.30, through 0-0:43.2.1.255).
fn ecs19(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    match i.body {
        Body::ReadInstantaneousPrepayValues(_) => Ok(protected_register(
            i,
            obis(0, 0, 43, 2, 1, 255),
            obis(0, 0, 94, 44, 34, 30),
        )),
        _ => Err(i.wrong_body()),
    }
}

/// GCS14: the prepayment values of the gas meter (or of the GPF's copy): two Price cluster
/// attributes, then six of the Prepayment cluster, in the RTDS command's order.
fn gcs14(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadInstantaneousPrepayValues(_)) {
        return Err(i.wrong_body());
    }
    Ok(zcl::encode(&[
        Command::read_attributes(cluster::PRICE, &[0x0617, 0x0616]),
        Command::read_attributes(
            cluster::PREPAYMENT,
            &[0x0005, 0x0002, 0x0001, 0x0231, 0x0211, 0x0221],
        ),
    ]))
}

/// A get of each `(class, OBIS, attribute)`.
pub(crate) fn gets(list: &[(u16, [u8; 6], i8)], counter: u64) -> Vec<u8> {
    list.iter()
        .fold(Request::new(), |r, (class, o, attr)| {
            r.get(*class, *o, *attr)
        })
        .encode(counter)
}

/// ECS24: the primary element's tariff: the price scale and TOU/block prices (Register
/// Tables), the activity calendar's season, week and day profiles, the special days, the
/// block thresholds (Register Monitors) and the standing charge.
fn ecs24(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadTariffPrimaryElement(_)) {
        return Err(i.wrong_body());
    }
    let mut list = vec![
        (3, obis(0, 0, 94, 44, 1, 7), 2),
        (3, obis(0, 0, 94, 44, 1, 7), 3),
        (20, obis(0, 0, 13, 0, 0, 255), 3),
        (20, obis(0, 0, 13, 0, 0, 255), 4),
        (20, obis(0, 0, 13, 0, 0, 255), 5),
        (11, obis(0, 0, 11, 0, 0, 255), 2),
    ];
    for e in 11..=18 {
        list.push((21, obis(0, 0, 16, 0, e, 255), 2));
    }
    list.extend([
        (9000, obis(0, 0, 94, 44, 2, 0), 2),
        (113, obis(0, 0, 19, 20, 4, 255), 5),
        (113, obis(0, 0, 19, 20, 0, 255), 5),
    ]);
    Ok(gets(&list, i.counter))
}

/// ECS24b: the secondary element's tariff.
fn ecs24b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadTariffSecondaryElement(_)) {
        return Err(i.wrong_body());
    }
    Ok(gets(
        &[
            (113, obis(0, 0, 19, 20, 5, 255), 5),
            (3, obis(0, 0, 94, 44, 1, 8), 2),
            (3, obis(0, 0, 94, 44, 1, 8), 3),
            (11, obis(0, 0, 11, 0, 1, 255), 2),
            (20, obis(0, 0, 13, 0, 1, 255), 3),
            (20, obis(0, 0, 13, 0, 1, 255), 4),
            (20, obis(0, 0, 13, 0, 1, 255), 5),
        ],
        i.counter,
    ))
}

/// Issuer Calendar ID meaning "the current calendar".
const ANY_CALENDAR: u32 = 0xffff_ffff;

/// GCS21f: the GSME tariff: Price cluster attributes (block thresholds, prices, standing
/// charge, units), the Calendar cluster's day and week profiles, seasons and special days,
/// and the current price.
fn gcs21f(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadTariffPrimaryElement(_)) {
        return Err(i.wrong_body());
    }
    let profiles = || Fields::new().u32(0).u32(ANY_CALENDAR).u8(1).u8(0).done();
    Ok(zcl::encode(&[
        Command::read_attributes(
            cluster::PRICE,
            &[
                0x0203, 0x0202, 0x0100, 0x0101, 0x0102, 0x0615, 0x0400, 0x0401, 0x0402, 0x0403,
                0x0410, 0x0420, 0x0430, 0x0440, 0x0616, 0x0617, 0x0301,
            ],
        ),
        // Get Day Profiles, Get Week Profiles: provider 0, current calendar, from ID 1, all.
        Command::cluster(cluster::CALENDAR, 0x01, profiles()),
        Command::cluster(cluster::CALENDAR, 0x02, profiles()),
        // Get Seasons: provider 0, current calendar.
        Command::cluster(
            cluster::CALENDAR,
            0x03,
            Fields::new().u32(0).u32(ANY_CALENDAR).done(),
        ),
        // Get Special Days: from now, all events, any calendar type, provider 0.
        Command::cluster(
            cluster::CALENDAR,
            0x04,
            Fields::new()
                .u32(0)
                .u8(0)
                .u8(0)
                .u32(0)
                .u32(ANY_CALENDAR)
                .done(),
        ),
        // Get Current Price, no options.
        Command::cluster(cluster::PRICE, 0x00, vec![0x00]),
    ]))
}
