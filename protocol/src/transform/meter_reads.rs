//! Meter data reads whose command is a fixed list of attributes: 4.2 Read Instantaneous
//! Export Registers, 4.12.1 / 4.12.2 Read Maximum Demand Import / Export Registers, 4.13
//! Read Prepayment Configuration (ESME and GSME), 4.15 Read Load Limit Data, 4.16 Read Active
//! Power Import and 4.18 Read Meter Balance (ESME and GSME).
//!
//! None of these carries a parameter from the request: the request body only says when to
//! run (now, or at a future date the header carries). Each ESME read is one DLMS
//! Access-Request of plain gets, in the order the use case lists its data items; the GSME's
//! balance is one ZCL Read Attributes per cluster, and its prepayment configuration adds the
//! Calendar cluster's *Get* commands for the friendly credit calendar. The lists, classes,
//! OBIS codes and attribute numbers are those of the RTDS commands, which
//! `protocol/tests/transform_rtds.rs` compares byte for byte (the lists repeat an attribute
//! where the use case reads it twice, as the corpus's ECS26a does).

use super::axdr::obis;
use super::register_reads::gets;
use super::zcl::{self, Command, Fields, cluster};
use super::{ESME, GSME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS17a", "4.2", ESME, Origin::User, ecs17a),
    use_case!("ECS18b", "4.12.1", ESME, Origin::User, ecs18b),
    use_case!("ECS18a", "4.12.2", ESME, Origin::User, ecs18a),
    use_case!("ECS26a", "4.13", ESME, Origin::User, ecs26a),
    use_case!("ECS27", "4.15", ESME, Origin::User, ecs27),
    use_case!("ECS17c", "4.16", ESME, Origin::User, ecs17c),
    use_case!("ECS82", "4.18", ESME, Origin::User, ecs82),
    use_case!("GCS60", "4.18", GSME, Origin::User, gcs60),
    use_case!("GCS21b", "4.13", GSME, Origin::User, gcs21b),
];

/// DLMS classes of the lists below.
mod class {
    pub(super) const DATA: u16 = 1;
    pub(super) const REGISTER: u16 = 3;
    pub(super) const EXTENDED_REGISTER: u16 = 4;
    pub(super) const SCHEDULE: u16 = 10;
    pub(super) const REGISTER_MONITOR: u16 = 21;
    pub(super) const LIMITER: u16 = 71;
    pub(super) const ACCOUNT: u16 = 111;
    pub(super) const CREDIT: u16 = 112;
    pub(super) const CHARGE: u16 = 113;
    /// The GBCS-specific class the corpus reads some configuration data items with.
    pub(super) const GBCS_DATA: u16 = 9000;
}

/// `list` as gets, once the body is `expected`'s.
fn read(
    i: &Input<'_>,
    expected: fn(&Body) -> bool,
    list: &[(u16, [u8; 6], i8)],
) -> Result<Vec<u8>, TransformError> {
    if !expected(i.body) {
        return Err(i.wrong_body());
    }
    Ok(gets(list, i.counter))
}

/// ECS17a: the Registers 1-0:2.8.0.255 and 1-0:4.8.0.255 (value and scaler/unit).
fn ecs17a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    use class::REGISTER;
    read(
        i,
        |b| matches!(b, Body::ReadInstantaneousExportRegisters(_)),
        &[
            (REGISTER, obis(1, 0, 2, 8, 0, 255), 2),
            (REGISTER, obis(1, 0, 2, 8, 0, 255), 3),
            (REGISTER, obis(1, 0, 4, 8, 0, 255), 2),
            (REGISTER, obis(1, 0, 4, 8, 0, 255), 3),
        ],
    )
}

/// ECS18b: two Data objects (0-0:94.44.5.0/1), the two import maximum demand Extended
/// Registers (value, scaler/unit, capture time) and the Schedule 0-0:12.0.0.255.
fn ecs18b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    use class::{DATA, EXTENDED_REGISTER, SCHEDULE};
    read(
        i,
        |b| matches!(b, Body::ReadMaximumDemandImportRegisters(_)),
        &[
            (DATA, obis(0, 0, 94, 44, 5, 0), 2),
            (DATA, obis(0, 0, 94, 44, 5, 1), 2),
            (EXTENDED_REGISTER, obis(1, 0, 1, 6, 0, 255), 2),
            (EXTENDED_REGISTER, obis(1, 0, 1, 6, 0, 255), 3),
            (EXTENDED_REGISTER, obis(1, 0, 1, 6, 0, 255), 5),
            (EXTENDED_REGISTER, obis(1, 0, 1, 6, 1, 255), 2),
            (EXTENDED_REGISTER, obis(1, 0, 1, 6, 1, 255), 3),
            (EXTENDED_REGISTER, obis(1, 0, 1, 6, 1, 255), 5),
            (SCHEDULE, obis(0, 0, 12, 0, 0, 255), 2),
        ],
    )
}

/// ECS18a: the Data object 0-0:94.44.5.2 and the export maximum demand Extended Register
/// (value, scaler/unit, capture time).
fn ecs18a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    use class::{DATA, EXTENDED_REGISTER};
    read(
        i,
        |b| matches!(b, Body::ReadMaximumDemandExportRegisters(_)),
        &[
            (DATA, obis(0, 0, 94, 44, 5, 2), 2),
            (EXTENDED_REGISTER, obis(1, 0, 2, 6, 0, 255), 2),
            (EXTENDED_REGISTER, obis(1, 0, 2, 6, 0, 255), 3),
            (EXTENDED_REGISTER, obis(1, 0, 2, 6, 0, 255), 5),
        ],
    )
}

/// ECS26a: attributes of the Charge objects 0-0:19.20.1/2/3, the Special Days Table
/// 0-0:11.0.2, two GBCS data objects, the Register Monitor 0-0:16.0.1, the Account
/// 0-0:19.0.0, the Credit 0-0:19.10.1 and the Schedule 0-0:12.0.1, in the RTDS command's
/// order (which reads two Charge attributes twice).
fn ecs26a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    use class::{ACCOUNT, CHARGE, CREDIT, GBCS_DATA, REGISTER_MONITOR, SCHEDULE};
    const SPECIAL_DAYS: u16 = 11;
    let charge_1 = obis(0, 0, 19, 20, 1, 255);
    let charge_2 = obis(0, 0, 19, 20, 2, 255);
    let account = obis(0, 0, 19, 0, 0, 255);
    let emergency_credit = obis(0, 0, 19, 10, 1, 255);
    read(
        i,
        |b| matches!(b, Body::ReadPrepaymentConfiguration(_)),
        &[
            (CHARGE, charge_1, 5),
            (SPECIAL_DAYS, obis(0, 0, 11, 0, 2, 255), 2),
            (CHARGE, charge_1, 8),
            (CHARGE, charge_1, 5),
            (CHARGE, charge_2, 5),
            (CHARGE, charge_2, 8),
            (CHARGE, charge_2, 5),
            (CHARGE, obis(0, 0, 19, 20, 3, 255), 13),
            (GBCS_DATA, obis(0, 0, 94, 44, 2, 10), 2),
            (REGISTER_MONITOR, obis(0, 0, 16, 0, 1, 255), 2),
            (GBCS_DATA, obis(0, 0, 94, 44, 2, 20), 2),
            (ACCOUNT, account, 16),
            (ACCOUNT, account, 18),
            (ACCOUNT, account, 19),
            (CREDIT, emergency_credit, 9),
            (CREDIT, emergency_credit, 10),
            (SCHEDULE, obis(0, 0, 12, 0, 1, 255), 2),
            (ACCOUNT, account, 11),
        ],
    )
}

/// ECS27: a GBCS data object (0-0:94.44.0.3), the Register 0-0:94.44.42.255 (value and
/// scaler/unit) and the Limiter 0-0:17.0.0.255's attributes 4, 6 and 7.
fn ecs27(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    use class::{GBCS_DATA, LIMITER, REGISTER};
    let counter = obis(0, 0, 94, 44, 42, 255);
    let limiter = obis(0, 0, 17, 0, 0, 255);
    read(
        i,
        |b| matches!(b, Body::ReadLoadLimitData(_)),
        &[
            (GBCS_DATA, obis(0, 0, 94, 44, 0, 3), 2),
            (REGISTER, counter, 2),
            (REGISTER, counter, 3),
            (LIMITER, limiter, 4),
            (LIMITER, limiter, 6),
            (LIMITER, limiter, 7),
        ],
    )
}

/// ECS17c: the Data object 0-0:94.44.34.20 (active power import).
fn ecs17c(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    read(
        i,
        |b| matches!(b, Body::ReadActivePowerImport(_)),
        &[(class::DATA, obis(0, 0, 94, 44, 34, 20), 2)],
    )
}

/// ECS82: the Credit object 0-0:19.10.0.255's current amount (attribute 2).
fn ecs82(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    read(
        i,
        |b| matches!(b, Body::ReadMeterBalance(_)),
        &[(class::CREDIT, obis(0, 0, 19, 10, 0, 255), 2)],
    )
}

/// The Metering cluster attribute GCS60 reads (0x0A00).
const METERING_BALANCE: u16 = 0x0a00;
/// The Prepayment cluster attribute GCS60 reads (0x0001, *CreditRemaining*).
const CREDIT_REMAINING: u16 = 0x0001;

/// GCS60: one attribute of the Metering cluster and one of the Prepayment cluster.
fn gcs60(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadMeterBalance(_)) {
        return Err(i.wrong_body());
    }
    Ok(zcl::encode(&[
        Command::read_attributes(cluster::METERING, &[METERING_BALANCE]),
        Command::read_attributes(cluster::PREPAYMENT, &[CREDIT_REMAINING]),
    ]))
}

/// The Prepayment cluster attributes GCS21b reads: those of the corpus's command, in its
/// order.
const PREPAYMENT_CONFIGURATION: [u16; 12] = [
    0x0239, 0x0006, 0x0216, 0x0226, 0x0040, 0x0010, 0x0011, 0x0031, 0x0021, 0x0022, 0x0217, 0x0227,
];
/// The Price cluster attribute GCS21b reads (0x0617, a bitmap8).
const PRICE_CONFIGURATION: u16 = 0x0617;
/// Calendar cluster *Get Day Profiles*, *Get Week Profiles*, *Get Seasons*, *Get Special
/// Days*.
const GET_DAY_PROFILES: u8 = 0x01;
const GET_WEEK_PROFILES: u8 = 0x02;
const GET_SEASONS: u8 = 0x03;
const GET_SPECIAL_DAYS: u8 = 0x04;
/// The issuer calendar ID the corpus's GCS21b asks for.
const CURRENT_CALENDAR: u32 = 0xffff_fffe;
/// Calendar type: friendly credit.
const FRIENDLY_CREDIT_CALENDAR: u8 = 0x03;

/// GCS21b: the gas meter's prepayment configuration: Read Attributes of the Prepayment and
/// Price clusters, then the friendly credit calendar: day profiles and week profiles from ID
/// 1 on (all of them), seasons, and special days (from time 0, all, calendar type friendly
/// credit), each of provider 0 and the current calendar.
fn gcs21b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadPrepaymentConfiguration(_)) {
        return Err(i.wrong_body());
    }
    let profiles = |command| {
        Command::cluster(
            cluster::CALENDAR,
            command,
            Fields::new()
                .u32(0)
                .u32(CURRENT_CALENDAR)
                .u8(1)
                .u8(0)
                .done(),
        )
    };
    Ok(zcl::encode(&[
        Command::read_attributes(cluster::PREPAYMENT, &PREPAYMENT_CONFIGURATION),
        Command::read_attributes(cluster::PRICE, &[PRICE_CONFIGURATION]),
        profiles(GET_DAY_PROFILES),
        profiles(GET_WEEK_PROFILES),
        Command::cluster(
            cluster::CALENDAR,
            GET_SEASONS,
            Fields::new().u32(0).u32(CURRENT_CALENDAR).done(),
        ),
        Command::cluster(
            cluster::CALENDAR,
            GET_SPECIAL_DAYS,
            Fields::new()
                .u32(0)
                .u8(0)
                .u8(FRIENDLY_CREDIT_CALENDAR)
                .u32(0)
                .u32(CURRENT_CALENDAR)
                .done(),
        ),
    ]))
}
