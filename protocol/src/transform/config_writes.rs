//! Device configuration writes with no activation of their own: 6.12 Update Device
//! Configuration (Instantaneous Power Threshold), and, critical, 6.14.1 Update Device
//! Configuration (Auxiliary Load Control Description) and 6.25 Set Electricity Supply Tamper
//! State.
//!
//! 6.12 is future-dated by the DSP (SERVICES.md, "Future Dated Response Pattern"): the
//! gateway holds the request until its `ExecutionDateTime` and the command itself carries no
//! date. The objects and encodings are those of the RTDS commands, which
//! `protocol/tests/transform_rtds.rs` compares byte for byte.

use super::axdr::{Request, Value, obis};
use super::{ESME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;
use crate::duis::model::body::{
    SetElectricitySupplyTamperStateSupplyTamperState, UpdateDeviceConfigurationALCDescriptions,
};

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS34", "6.12", ESME, Origin::User, ecs34),
    use_case!("ECS81", "6.25", ESME, Origin::User, ecs81),
    use_case!("ECS46a", "6.14.1", ESME, Origin::User, ecs46a),
];

/// The Register Monitor whose thresholds split low, medium and high instantaneous power.
const POWER_THRESHOLDS: [u8; 6] = obis(0, 0, 16, 0, 0, 255);

/// ECS34: the Register Monitor's thresholds (attribute 2), low/medium then medium/high, in W.
fn ecs34(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateDeviceConfigurationInstantaneousPowerThreshold(b) = i.body else {
        return Err(i.wrong_body());
    };
    if b.low_medium_power_threshold > b.medium_high_power_threshold {
        return Err(i.field(
            "LowMediumPowerThreshold",
            format!(
                "{} is above MediumHighPowerThreshold {}",
                b.low_medium_power_threshold, b.medium_high_power_threshold
            ),
        ));
    }
    Ok(Request::new()
        .set(
            21,
            POWER_THRESHOLDS,
            2,
            Value::Array(vec![
                Value::DoubleLongUnsigned(b.low_medium_power_threshold),
                Value::DoubleLongUnsigned(b.medium_high_power_threshold),
            ]),
        )
        .encode(i.counter))
}

/// ECS46a: one set per switch named in the request, in its order: the description of
/// switch `n` (1–5) is the visible-string of the Data object 0-0:94.44.0.(10 + n).
fn ecs46a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateDeviceConfigurationALCDescriptions(b) = i.body else {
        return Err(i.wrong_body());
    };
    let UpdateDeviceConfigurationALCDescriptions::ALCSHCALCSDescription(switches) = &**b;
    let mut request = Request::new();
    let mut seen = [false; 5];
    for s in switches {
        let n = match u8::try_from(s.index) {
            Ok(n @ 1..=5) => n,
            _ => {
                return Err(i.field(
                    "ALCSHCALCSDescription/@index",
                    format!("{} is not a switch number 1 to 5", s.index),
                ));
            }
        };
        if std::mem::replace(&mut seen[usize::from(n - 1)], true) {
            return Err(i.field(
                "ALCSHCALCSDescription/@index",
                format!("switch {n} is described twice"),
            ));
        }
        request = request.set(
            1,
            obis(0, 0, 94, 44, 0, 10 + n),
            2,
            Value::VisibleString(s.switch_description.as_bytes().to_vec()),
        );
    }
    Ok(request.encode(i.counter))
}

/// ECS81: the supply tamper state, the boolean Data object 0-0:94.44.0.4 (`Locked`: true).
fn ecs81(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::SetElectricitySupplyTamperState(b) = i.body else {
        return Err(i.wrong_body());
    };
    let locked = matches!(
        b.supply_tamper_state,
        SetElectricitySupplyTamperStateSupplyTamperState::Locked
    );
    Ok(Request::new()
        .set(1, obis(0, 0, 94, 44, 0, 4), 2, Value::Boolean(locked))
        .encode(i.counter))
}
