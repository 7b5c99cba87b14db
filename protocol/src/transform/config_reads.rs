//! 6.2.x Read Device Configuration: plain DLMS gets on the ESME and ZCL Read Attributes (or
//! the Price cluster's *Get Billing Period*, or the Device Management cluster's event
//! configuration read) on the GSME. The request bodies carry nothing but an optional
//! execution time, so each use case is a fixed list of attributes.
//!
//! Several use cases of one SRV address different device generations or requesters (6.2.3:
//! ECS26d / ECS26l; 6.2.10: ECS25r1 for a supplier, ECS25r2 for a network operator); the
//! first listed is the default and [`super::Context::use_case`] picks another.

use super::register_reads::gets;
use super::zcl::{self, Command, Fields, cluster};
use super::{Input, Origin, TransformError, UseCase};
use crate::transform::axdr::obis;

use super::{CHF, ESME, GSME};

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS26k", "6.2.1", ESME, Origin::User, ecs26k),
    use_case!("ECS26c", "6.2.2", ESME, Origin::User, ecs26c),
    use_case!("ECS26d", "6.2.3", ESME, Origin::User, billing_calendar),
    use_case!("ECS26l", "6.2.3", ESME, Origin::User, billing_calendar),
    use_case!("GCS21k", "6.2.3", GSME, Origin::User, gcs21k),
    use_case!("ECS26m", "6.2.4", ESME, Origin::User, ecs26m),
    use_case!("ECS26i", "6.2.4", CHF, Origin::Acb, ecs26i),
    use_case!("GCS21e", "6.2.4", GSME, Origin::User, gcs21e),
    use_case!("GCS21m", "6.2.4", GSME, Origin::User, gcs21m),
    use_case!("ECS40", "6.2.7", ESME, Origin::User, ecs40),
    use_case!("GCS46", "6.2.7", GSME, Origin::User, gcs46),
    use_case!("GCS21a", "6.2.8", GSME, Origin::User, gcs21a),
    use_case!("ECS26j", "6.2.9", ESME, Origin::User, ecs26j),
    use_case!("ECS25r1", "6.2.10", ESME, Origin::User, ecs25r1),
    use_case!("ECS25r2", "6.2.10", ESME, Origin::User, ecs25r2),
    use_case!("GCS20r", "6.2.10", GSME, Origin::User, gcs20r),
];

type R = Result<Vec<u8>, TransformError>;

/// ECS26k: the RMS voltage thresholds and periods (Register Monitors 0-0:17.0.1–4.255,
/// limiter thresholds and averaging periods per phase).
fn ecs26k(i: &Input<'_>) -> R {
    let mut list = Vec::new();
    for e in 1..=4 {
        list.push((71, obis(0, 0, 17, 0, e, 255), 4));
        list.push((71, obis(0, 0, 17, 0, e, 255), 6));
    }
    for (c, d) in [(32, 35), (32, 31), (52, 31), (52, 35), (72, 31), (72, 35)] {
        list.push((1, obis(1, 0, c, d, 0, 4), 2));
    }
    Ok(gets(&list, i.counter))
}

/// ECS26c: the randomisation offsets.
fn ecs26c(i: &Input<'_>) -> R {
    Ok(gets(
        &[
            (1, obis(0, 0, 94, 44, 0, 0), 2),
            (1, obis(0, 0, 94, 44, 0, 2), 2),
            (1, obis(0, 0, 94, 44, 0, 1), 2),
        ],
        i.counter,
    ))
}

/// ECS26d / ECS26l: the billing calendar (Single Action Schedule 0-0:15.0.0.255, execution
/// times).
fn billing_calendar(i: &Input<'_>) -> R {
    Ok(gets(&[(22, obis(0, 0, 15, 0, 0, 255), 4)], i.counter))
}

/// ECS26m: the device identity (manufacturer, model, firmware identifiers).
fn ecs26m(i: &Input<'_>) -> R {
    Ok(gets(
        &[
            (1, obis(0, 0, 96, 1, 2, 255), 2),
            (1, obis(0, 0, 96, 1, 4, 255), 2),
            (1, obis(0, 0, 96, 1, 6, 255), 2),
            (1, obis(0, 0, 94, 44, 0, 4), 2),
        ],
        i.counter,
    ))
}

/// ECS26i: the CHF identity, read by the ACB.
fn ecs26i(i: &Input<'_>) -> R {
    Ok(gets(
        &[
            (1, obis(0, 0, 96, 1, 1, 255), 2),
            (1, obis(0, 0, 96, 1, 4, 255), 2),
            (1, obis(0, 0, 96, 1, 6, 255), 2),
        ],
        i.counter,
    ))
}

/// ECS40: the MPAN(s).
fn ecs40(i: &Input<'_>) -> R {
    Ok(gets(
        &[
            (1, obis(0, 0, 94, 44, 34, 11), 2),
            (1, obis(1, 0, 0, 0, 2, 255), 2),
        ],
        i.counter,
    ))
}

/// ECS26j: the payment mode (Account object 0-0:19.0.0.255, attribute 2).
fn ecs26j(i: &Input<'_>) -> R {
    Ok(gets(&[(111, obis(0, 0, 19, 0, 0, 255), 2)], i.counter))
}

/// ECS25r1: the event and alert behaviours a supplier configures.
fn ecs25r1(i: &Input<'_>) -> R {
    Ok(gets(
        &[
            (1, obis(0, 30, 97, 98, 15, 255), 2),
            (1, obis(0, 30, 97, 98, 16, 255), 2),
            (1, obis(0, 30, 97, 98, 17, 255), 2),
            (1, obis(0, 30, 97, 98, 18, 255), 2),
        ],
        i.counter,
    ))
}

/// ECS25r2: the event and alert behaviours a network operator configures.
fn ecs25r2(i: &Input<'_>) -> R {
    Ok(gets(
        &[
            (1, obis(0, 33, 97, 98, 15, 255), 2),
            (1, obis(0, 33, 97, 98, 18, 255), 2),
        ],
        i.counter,
    ))
}

/// GCS21k: the billing calendar (Price cluster *Get Billing Period*: from the start, current
/// events, one command, any tariff type).
fn gcs21k(_: &Input<'_>) -> R {
    Ok(zcl::encode(&[Command::cluster(
        cluster::PRICE,
        0x0b,
        Fields::new().u32(0).u32(0xffff_ffff).u8(1).u8(0).done(),
    )]))
}

/// GCS21e: the GSME identity (Basic cluster: manufacturer, model, power source; Metering:
/// firmware identifiers).
fn gcs21e(_: &Input<'_>) -> R {
    Ok(zcl::encode(&[
        Command::read_attributes(cluster::BASIC, &[0x0004, 0x0005, 0x0003]),
        Command::read_attributes(cluster::METERING, &[0x0608, 0x0607]),
    ]))
}

/// GCS21m: the GSME identity, later form.
fn gcs21m(_: &Input<'_>) -> R {
    Ok(zcl::encode(&[
        Command::read_attributes(cluster::BASIC, &[0x0004, 0x0005]),
        Command::read_attributes(cluster::METERING, &[0x0608, 0x0607]),
    ]))
}

/// GCS46: the MPRN (Metering attribute 0x0307).
fn gcs46(_: &Input<'_>) -> R {
    Ok(zcl::encode(&[Command::read_attributes(
        cluster::METERING,
        &[0x0307],
    )]))
}

/// GCS21a: the gas configuration (Price conversion and calorific value attributes,
/// Metering flow and tamper settings).
fn gcs21a(_: &Input<'_>) -> R {
    Ok(zcl::encode(&[
        Command::read_attributes(cluster::PRICE, &[0x0306, 0x0305, 0x0304, 0x0303, 0x0302]),
        Command::read_attributes(
            cluster::METERING,
            &[0x0b13, 0x0b12, 0x0b11, 0x0b10, 0x0b14, 0x0b15],
        ),
    ]))
}

/// GCS20r: the event configuration (Device Management *Get Event Configuration* for event
/// group 0x81FF).
fn gcs20r(_: &Input<'_>) -> R {
    Ok(zcl::encode(&[Command::cluster(
        cluster::DEVICE_MANAGEMENT,
        0x05,
        Fields::new().u16(0x81ff).done(),
    )
    .frame_control(zcl::CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE)]))
}
