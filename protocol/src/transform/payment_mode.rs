//! 1.6 Update Payment Mode (critical, future-datable on the device): switch a meter between
//! credit and prepayment.
//!
//! ESME (ECS02 credit, ECS03 prepayment): the Account object (class 111, 0-1:19.0.0.255) gets
//! its payment mode (attribute 2), its credit/charge configuration (attribute 11: which
//! charges each credit pays, with their collection bits) and the activation time (attribute
//! 13); for prepayment the disablement threshold (object 0-0:94.44.128.22, attribute 4) and
//! its activation time (attribute 6) too. GSME (GCS02, GCS03): the Prepayment cluster's
//! *Change Payment Mode*.
//!
//! The execution time is absent for an immediate change (an all-zero COSEM date-time, or 0 in
//! ZigBee time), the date for a future-dated one, and "not specified" (`FF…`) for a
//! cancellation (an ExecutionDateTime in the year 3000 or later).

use super::axdr::{Request, Value, obis};
use super::tariff::activation;
use super::zcl::{self, Command, Fields, cluster};
use super::{DeviceType, Execution, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;
use crate::duis::model::body::{Prepayment, UpdatePaymentMode, UpdatePaymentModeChoice};

pub(crate) static USE_CASES: &[UseCase] = &[
    UseCase {
        name: "ECS02",
        srv: "1.6",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: is_credit,
        build: ecs02,
    },
    UseCase {
        name: "ECS03",
        srv: "1.6",
        devices: &[DeviceType::Esme],
        origin: Origin::User,
        fits: is_prepayment,
        build: ecs03,
    },
    UseCase {
        name: "GCS02",
        srv: "1.6",
        devices: &[DeviceType::Gsme],
        origin: Origin::User,
        fits: is_credit,
        build: gcs02,
    },
    UseCase {
        name: "GCS03",
        srv: "1.6",
        devices: &[DeviceType::Gsme],
        origin: Origin::User,
        fits: is_prepayment,
        build: gcs03,
    },
];

fn is_credit(b: &Body) -> bool {
    matches!(b, Body::UpdatePaymentMode(m) if matches!(m.choice, UpdatePaymentModeChoice::Credit(_)))
}

fn is_prepayment(b: &Body) -> bool {
    matches!(b, Body::UpdatePaymentMode(m) if matches!(m.choice, UpdatePaymentModeChoice::Prepayment(_)))
}

fn body<'b>(i: &Input<'b>) -> Result<&'b UpdatePaymentMode, TransformError> {
    match i.body {
        Body::UpdatePaymentMode(b) => Ok(b),
        _ => Err(i.wrong_body()),
    }
}

fn prepayment<'b>(i: &Input<'b>) -> Result<&'b Prepayment, TransformError> {
    match &body(i)?.choice {
        UpdatePaymentModeChoice::Prepayment(p) => Ok(p),
        UpdatePaymentModeChoice::Credit(_) => Err(i.wrong_body()),
    }
}

/// The Account object and the disablement threshold object.
const ACCOUNT: [u8; 6] = obis(0, 1, 19, 0, 0, 255);
const DISABLEMENT_THRESHOLD: [u8; 6] = obis(0, 0, 94, 44, 128, 22);

/// Payment modes of the Account object.
const MODE_CREDIT: u8 = 1;
const MODE_PREPAYMENT: u8 = 2;

/// Credit objects (class 112) and Charge objects (class 113), by their OBIS `E` field.
const TOKEN_CREDIT: u8 = 0;
const ACCUMULATED_CREDIT: u8 = 1;
const EMERGENCY_CREDIT: u8 = 2;
const CHARGE_CONSUMPTION: u8 = 0;
const CHARGE_TIME_DEBT_1: u8 = 1;
const CHARGE_TIME_DEBT_2: u8 = 2;
const CHARGE_PAYMENT_DEBT: u8 = 3;
const CHARGE_STANDING: u8 = 4;
const CHARGE_SECONDARY: u8 = 5;

/// Charge collection bits (3 bits): collected in every state (`e0`), or not while the supply
/// is disabled (`c0`).
const COLLECT_ALWAYS: u8 = 0xe0;
const COLLECT_NOT_WHEN_DISABLED: u8 = 0xc0;

/// One credit → charge entry of the Account's credit/charge configuration.
fn credit_charge(credit: u8, charge: u8, bits: u8) -> Value {
    Value::Structure(vec![
        Value::OctetString(obis(0, 0, 19, 10, credit, 255).to_vec()),
        Value::OctetString(obis(0, 0, 19, 20, charge, 255).to_vec()),
        Value::BitString {
            bits: 3,
            bytes: vec![bits],
        },
    ])
}

/// ECS02: credit mode; token credit pays consumption and standing charge (and the secondary
/// element's charge on a twin-element meter).
fn ecs02(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let e = i.execution(body(i)?.execution_date_time.as_ref())?;
    let mut charges = vec![
        credit_charge(TOKEN_CREDIT, CHARGE_CONSUMPTION, COLLECT_ALWAYS),
        credit_charge(TOKEN_CREDIT, CHARGE_STANDING, COLLECT_ALWAYS),
    ];
    if i.ctx.twin_element {
        charges.push(credit_charge(
            TOKEN_CREDIT,
            CHARGE_SECONDARY,
            COLLECT_ALWAYS,
        ));
    }
    Ok(Request::new()
        .set(
            111,
            ACCOUNT,
            2,
            Value::Structure(vec![Value::Enum(MODE_CREDIT), Value::Enum(1)]),
        )
        .set(111, ACCOUNT, 11, Value::Array(charges))
        .set(111, ACCOUNT, 13, activation(e))
        .encode(i.counter))
}

/// ECS03: prepayment mode. Token and accumulated credit pay every charge; time-based debts
/// are not collected while the supply is disabled when `SuspendDebtDisabled`; emergency
/// credit also pays the standing charge and time-based debts when `SuspendDebtEmergency`.
fn ecs03(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let p = prepayment(i)?;
    let e = i.execution(body(i)?.execution_date_time.as_ref())?;
    let debt_bits = if p.suspend_debt_disabled {
        COLLECT_NOT_WHEN_DISABLED
    } else {
        COLLECT_ALWAYS
    };
    let mut charges = Vec::new();
    for (credit, order) in [
        (
            TOKEN_CREDIT,
            [
                CHARGE_CONSUMPTION,
                CHARGE_STANDING,
                CHARGE_TIME_DEBT_1,
                CHARGE_TIME_DEBT_2,
                CHARGE_PAYMENT_DEBT,
            ],
        ),
        (
            ACCUMULATED_CREDIT,
            [
                CHARGE_PAYMENT_DEBT,
                CHARGE_CONSUMPTION,
                CHARGE_STANDING,
                CHARGE_TIME_DEBT_1,
                CHARGE_TIME_DEBT_2,
            ],
        ),
    ] {
        for charge in order {
            let bits = if matches!(charge, CHARGE_TIME_DEBT_1 | CHARGE_TIME_DEBT_2) {
                debt_bits
            } else {
                COLLECT_ALWAYS
            };
            charges.push(credit_charge(credit, charge, bits));
        }
    }
    if p.suspend_debt_emergency {
        for charge in [CHARGE_STANDING, CHARGE_TIME_DEBT_1, CHARGE_TIME_DEBT_2] {
            charges.push(credit_charge(EMERGENCY_CREDIT, charge, COLLECT_ALWAYS));
        }
    }
    if i.ctx.twin_element {
        for credit in [TOKEN_CREDIT, ACCUMULATED_CREDIT] {
            charges.push(credit_charge(credit, CHARGE_SECONDARY, COLLECT_ALWAYS));
        }
    }
    Ok(Request::new()
        .set(
            111,
            ACCOUNT,
            2,
            Value::Structure(vec![Value::Enum(MODE_PREPAYMENT), Value::Enum(1)]),
        )
        .set(
            9000,
            DISABLEMENT_THRESHOLD,
            4,
            Value::DoubleLong(p.disablement_threshold),
        )
        .set(111, ACCOUNT, 11, Value::Array(charges))
        .set(9000, DISABLEMENT_THRESHOLD, 6, activation(e))
        .set(111, ACCOUNT, 13, activation(e))
        .encode(i.counter))
}

/// Prepayment cluster *Change Payment Mode*.
const CHANGE_PAYMENT_MODE: u8 = 0x06;
/// Payment control configuration: credit mode.
const CONTROL_CREDIT: u16 = 0x0c94;
/// Payment control configuration: prepayment mode, before the debt flags.
const CONTROL_PREPAYMENT: u16 = 0x0097;
/// Debt collection suspended while the supply is disabled.
const CONTROL_SUSPEND_DEBT_DISABLED: u16 = 0x0400;
/// Debt collected while emergency credit is in use.
const CONTROL_DEBT_IN_EMERGENCY: u16 = 0x0800;

/// *Change Payment Mode*: provider 0, the current time as issuer event ID, the
/// implementation time, the payment control configuration and the cut-off value.
fn change_payment_mode(
    i: &Input<'_>,
    control: u16,
    cut_off: u32,
) -> Result<Vec<u8>, TransformError> {
    let when = match i.execution(body(i)?.execution_date_time.as_ref())? {
        Execution::Now => 0,
        Execution::At(t) => t
            .zigbee()
            .map_err(|e| i.field("ExecutionDateTime", e.to_string()))?,
        Execution::Cancel => 0xffff_ffff,
    };
    Ok(zcl::encode(&[Command::cluster(
        cluster::PREPAYMENT,
        CHANGE_PAYMENT_MODE,
        Fields::new()
            .u32(0)
            .u32(i.now_zigbee()?)
            .u32(when)
            .u16(control)
            .u32(cut_off)
            .done(),
    )]))
}

/// GCS02: credit mode, no cut-off.
fn gcs02(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    change_payment_mode(i, CONTROL_CREDIT, 0xffff_ffff)
}

/// GCS03: prepayment mode with the debt flags; the disablement threshold is the cut-off.
fn gcs03(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let p = prepayment(i)?;
    let mut control = CONTROL_PREPAYMENT;
    if p.suspend_debt_disabled {
        control |= CONTROL_SUSPEND_DEBT_DISABLED;
    }
    if !p.suspend_debt_emergency {
        control |= CONTROL_DEBT_IN_EMERGENCY;
    }
    change_payment_mode(i, control, p.disablement_threshold as u32)
}
