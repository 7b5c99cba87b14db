//! The ESME's auxiliary load control switches: 7.5 Activate, 7.6 Deactivate and 7.8 Reset
//! Auxiliary Load, 7.12 Set Randomised Offset Limit (critical), and 7.15 Read Auxiliary
//! Controller Operational Data.
//!
//! A switch `n` (1–5) is driven through the Script Table 0-0:10.0.103.255: script
//! `n × 256 + 0x11` activates it, `+ 0x12` deactivates it and `+ 0x20` resets it to its
//! calendar. Activation and deactivation first set their duration (minutes) in the Data
//! object 0-0:94.44.117.n or 0-0:94.44.119.n. The objects, scripts and encodings are those of
//! the RTDS commands, which `protocol/tests/transform_rtds.rs` compares byte for byte.

use super::axdr::{Request, Value, obis};
use super::register_reads::gets;
use super::{ESME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS47Activate", "7.5", ESME, Origin::User, ecs47_activate),
    use_case!(
        "ECS47Deactivate",
        "7.6",
        ESME,
        Origin::User,
        ecs47_deactivate
    ),
    use_case!("ECS47Reset", "7.8", ESME, Origin::User, ecs47_reset),
    use_case!("ECS38", "7.12", ESME, Origin::User, ecs38),
    use_case!("ECS61e", "7.15", ESME, Origin::User, ecs61e),
];

/// The Script Table of the auxiliary load control switches.
const SWITCH_SCRIPTS: [u8; 6] = obis(0, 0, 10, 0, 103, 255);
/// Low byte of a switch's script: activate, deactivate, reset.
const ACTIVATE: u16 = 0x11;
const DEACTIVATE: u16 = 0x12;
const RESET: u16 = 0x20;

/// The switch number of an `index` attribute (1–5).
fn switch(i: &Input<'_>, index: u64) -> Result<u8, TransformError> {
    match u8::try_from(index) {
        Ok(n @ 1..=5) => Ok(n),
        _ => Err(i.field("@index", format!("{index} is not a switch number 1 to 5"))),
    }
}

/// Sets switch `n`'s duration in `duration_object` (0-0:94.44.`group`.n), then runs its
/// `script`.
fn timed(i: &Input<'_>, group: u8, n: u8, minutes: u16, script: u16) -> Vec<u8> {
    Request::new()
        .set(
            1,
            obis(0, 0, 94, 44, group, n),
            2,
            Value::LongUnsigned(minutes),
        )
        .action(
            9,
            SWITCH_SCRIPTS,
            1,
            Value::LongUnsigned(u16::from(n) << 8 | script),
        )
        .encode(i.counter)
}

/// ECS47Activate: the activation duration, then the switch's activate script.
fn ecs47_activate(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::ActivateAuxiliaryLoad(b) = i.body else {
        return Err(i.wrong_body());
    };
    let s = &b.activate_alcshcalcs;
    Ok(timed(i, 117, switch(i, s.index)?, s.duration, ACTIVATE))
}

/// ECS47Deactivate: the deactivation duration, then the switch's deactivate script.
fn ecs47_deactivate(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::DeactivateAuxiliaryLoad(b) = i.body else {
        return Err(i.wrong_body());
    };
    let s = &b.deactivate_alcshcalcs;
    Ok(timed(i, 119, switch(i, s.index)?, s.duration, DEACTIVATE))
}

/// ECS47Reset: the switch's reset script.
fn ecs47_reset(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::ResetAuxiliaryLoad(b) = i.body else {
        return Err(i.wrong_body());
    };
    let n = switch(i, b.reset_alcshcalcs.index)?;
    Ok(Request::new()
        .action(
            9,
            SWITCH_SCRIPTS,
            1,
            Value::LongUnsigned(u16::from(n) << 8 | RESET),
        )
        .encode(i.counter))
}

/// ECS38: the randomised offset limit (seconds), the Data object 0-0:94.44.0.1.
fn ecs38(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::SetRandomisedOffsetLimit(b) = i.body else {
        return Err(i.wrong_body());
    };
    let limit = u16::try_from(b.randomised_offset_limit).map_err(|_| {
        i.field(
            "RandomisedOffsetLimit",
            format!("{} does not fit 16 bits", b.randomised_offset_limit),
        )
    })?;
    Ok(Request::new()
        .set(1, obis(0, 0, 94, 44, 0, 1), 2, Value::LongUnsigned(limit))
        .encode(i.counter))
}

/// ECS61e: the switches' Data objects 0-0:94.44.0.21–25 and 0-0:94.44.0.31–35.
fn ecs61e(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ReadAuxiliaryControllerOperationalData(_)) {
        return Err(i.wrong_body());
    }
    let list: Vec<(u16, [u8; 6], i8)> = (21..=25)
        .chain(31..=35)
        .map(|e| (1, obis(0, 0, 94, 44, 0, e), 2))
        .collect();
    Ok(gets(&list, i.counter))
}
