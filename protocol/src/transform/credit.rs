//! The electricity meter's prepayment credits, critical: 1.5 Update Meter Balance (ECS04a
//! adjust, ECS04b reset) and 2.5 Activate Emergency Credit (ECS09).
//!
//! Each is one DLMS Access-Request of Credit (class 112) methods, as the RTDS Pre-Commands
//! carry them (`protocol/tests/transform_rtds.rs` compares them byte for byte): an
//! adjustment adds its amount to the meter balance credit 0-0:19.10.0.255 (`update_amount`,
//! method 1); a reset sets each of the three credits 0-0:19.10.0/1/2.255 to zero
//! (`set_amount_to_value`, method 2), whether the meter is in prepayment or credit mode;
//! emergency credit is invoked on 0-0:19.10.1.255 (`invoke_credit`, method 3).

use super::axdr::{Request, Value, obis};
use super::{ESME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;
use crate::duis::model::body::{AdjustOrReset, UpdateMeterBalance};

pub(crate) static USE_CASES: &[UseCase] = &[
    UseCase {
        name: "ECS04a",
        srv: "1.5",
        devices: ESME,
        origin: Origin::User,
        fits: |b| matches!(change(b), Some(AdjustOrReset::AdjustMeterBalance(_))),
        build: ecs04a,
    },
    UseCase {
        name: "ECS04b",
        srv: "1.5",
        devices: ESME,
        origin: Origin::User,
        fits: |b| matches!(change(b), Some(AdjustOrReset::ResetMeterBalance(_))),
        build: ecs04b,
    },
    use_case!("ECS09", "2.5", ESME, Origin::User, ecs09),
];

const CREDIT: u16 = 112;
const UPDATE_AMOUNT: i8 = 1;
const SET_AMOUNT_TO_VALUE: i8 = 2;
const INVOKE_CREDIT: i8 = 3;

/// The adjustment or reset a 1.5 request asks for, in either payment mode.
fn change(b: &Body) -> Option<&AdjustOrReset> {
    match b {
        Body::UpdateMeterBalance(u) => Some(match &**u {
            UpdateMeterBalance::PrepaymentMode(c) | UpdateMeterBalance::CreditMode(c) => c,
        }),
        _ => None,
    }
}

/// ECS04a: the amount (in the meter's currency units, signed) added to the meter balance.
fn ecs04a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Some(AdjustOrReset::AdjustMeterBalance(amount)) = change(i.body) else {
        return Err(i.wrong_body());
    };
    Ok(Request::new()
        .action(
            CREDIT,
            obis(0, 0, 19, 10, 0, 255),
            UPDATE_AMOUNT,
            Value::DoubleLong(*amount),
        )
        .encode(i.counter))
}

/// ECS04b: every credit set to zero.
fn ecs04b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Some(AdjustOrReset::ResetMeterBalance(_)) = change(i.body) else {
        return Err(i.wrong_body());
    };
    Ok((0..=2u8)
        .fold(Request::new(), |r, n| {
            r.action(
                CREDIT,
                obis(0, 0, 19, 10, n, 255),
                SET_AMOUNT_TO_VALUE,
                Value::DoubleLong(0),
            )
        })
        .encode(i.counter))
}

/// ECS09: emergency credit invoked.
fn ecs09(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(i.body, Body::ActivateEmergencyCredit(_)) {
        return Err(i.wrong_body());
    }
    Ok(Request::new()
        .action(
            CREDIT,
            obis(0, 0, 19, 10, 1, 255),
            INVOKE_CREDIT,
            Value::Integer(0),
        )
        .encode(i.counter))
}
