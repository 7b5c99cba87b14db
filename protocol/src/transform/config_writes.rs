//! Device configuration writes: 6.12 Update Device Configuration (Instantaneous Power
//! Threshold), 6.5 Update Device Configuration (Voltage) on a single-phase meter, and,
//! critical, 6.4.1 Update Device Configuration (Load Limiting General Settings), 6.14.1
//! Update Device Configuration (Auxiliary Load Control Description) and 6.25 Set Electricity
//! Supply Tamper State.
//!
//! 6.4.1 is the one with an activation time: each of its four GBCS data objects gets the new
//! value in its attribute 4 and the time it takes effect in its attribute 6 (all `00` now, the
//! execution date-time, or all `FF` to cancel a pending change), as the tariff's activation
//! dates are written. 6.5 sets the measurement period of the average RMS voltage profile, the
//! four RMS voltage Limiters (extreme over-, extreme under-voltage, sag, swell: threshold and
//! minimum duration) and the average RMS over- and under-voltage thresholds, and, unless the
//! request says `RMSVoltageCountersNotReset` (ECS29c, which also writes in another order),
//! resets the sag and swell counters (ECS29a).
//!
//! 6.12 is future-dated by the DSP (SERVICES.md, "Future Dated Response Pattern"): the
//! gateway holds the request until its `ExecutionDateTime` and the command itself carries no
//! date. The objects and encodings are those of the RTDS commands, which
//! `protocol/tests/transform_rtds.rs` compares byte for byte.

use super::axdr::{Request, Value, obis};
use super::tariff::activation;
use super::{ESME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;
use crate::duis::model::body::{
    LoadLimitSupplyState, SetElectricitySupplyTamperStateSupplyTamperState,
    UpdateDeviceConfigurationALCDescriptions, UpdateDeviceConfigurationVoltage,
    UpdateDeviceConfigurationVoltagePhaseVoltageSettings,
};

pub(crate) static USE_CASES: &[UseCase] = &[
    use_case!("ECS28a", "6.4.1", ESME, Origin::User, ecs28a),
    UseCase {
        name: "ECS29a",
        srv: "6.5",
        devices: ESME,
        origin: Origin::User,
        fits: |b| single_phase(b).is_some_and(|v| v.rms_voltage_counters_not_reset.is_none()),
        build: ecs29,
    },
    UseCase {
        name: "ECS29c",
        srv: "6.5",
        devices: ESME,
        origin: Origin::User,
        fits: |b| single_phase(b).is_some_and(|v| v.rms_voltage_counters_not_reset.is_some()),
        build: ecs29,
    },
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

/// GBCS data objects of the load limiting settings, in the RTDS command's order: the supply
/// state when the limit is exceeded (boolean, `true`: disable), the power threshold (W), the
/// limiting period and the restoration period (s).
const LOAD_LIMIT_OBJECTS: [[u8; 6]; 4] = [
    obis(0, 0, 94, 44, 0, 3),
    obis(0, 0, 94, 44, 128, 7),
    obis(0, 0, 94, 44, 128, 6),
    obis(0, 0, 94, 44, 128, 8),
];

/// ECS28a: the four values (attribute 4), then their activation time (attribute 6).
fn ecs28a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateDeviceConfigurationLoadLimitingGeneralSettings(b) = i.body else {
        return Err(i.wrong_body());
    };
    const GBCS_DATA: u16 = 9000;
    let values = [
        Value::Boolean(b.load_limit_supply_state == LoadLimitSupplyState::Disable),
        Value::DoubleLongUnsigned(b.load_limit_power_threshold),
        Value::DoubleLongUnsigned(b.load_limit_period),
        Value::DoubleLongUnsigned(b.load_limit_restoration_period),
    ];
    let when = activation(i.execution(b.execution_date_time.as_ref())?);
    let mut request = Request::new();
    for (object, value) in LOAD_LIMIT_OBJECTS.into_iter().zip(values) {
        request = request.set(GBCS_DATA, object, 4, value);
    }
    for object in LOAD_LIMIT_OBJECTS {
        request = request.set(GBCS_DATA, object, 6, when.clone());
    }
    Ok(request.encode(i.counter))
}

/// A 6.5 request for a single-phase meter.
fn single_phase(b: &Body) -> Option<&UpdateDeviceConfigurationVoltage> {
    match b {
        Body::UpdateDeviceConfigurationVoltage(v)
            if matches!(
                v.phase_voltage_settings,
                UpdateDeviceConfigurationVoltagePhaseVoltageSettings::SinglePhaseVoltageSettings(_)
            ) =>
        {
            Some(v)
        }
        _ => None,
    }
}

/// ECS29a / ECS29c: the voltage settings of a single-phase meter. ECS29a writes the profile
/// period, the Limiters and the average thresholds (over, under) and resets the counters;
/// ECS29c writes the average thresholds (under, over) first and resets nothing.
fn ecs29(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Some(v) = single_phase(i.body) else {
        return Err(i.wrong_body());
    };
    let UpdateDeviceConfigurationVoltagePhaseVoltageSettings::SinglePhaseVoltageSettings(avg) =
        &v.phase_voltage_settings
    else {
        return Err(i.wrong_body());
    };
    const DATA: u16 = 1;
    const REGISTER: u16 = 3;
    const PROFILE: u16 = 7;
    const LIMITER: u16 = 71;
    let dlu = Value::DoubleLongUnsigned;
    let (over, under) = (obis(1, 0, 32, 35, 0, 4), obis(1, 0, 32, 31, 0, 4));
    let r = &v.rms_voltage_settings;
    let mut profile_and_limiters = Request::new().set(
        PROFILE,
        obis(1, 0, 32, 24, 0, 255),
        4,
        dlu(avg.average_rms_voltage_measurement_period),
    );
    for (n, threshold, duration) in [
        (
            1,
            r.rms_extreme_over_voltage_threshold,
            r.rms_extreme_over_voltage_measurement_period,
        ),
        (
            2,
            r.rms_extreme_under_voltage_threshold,
            r.rms_extreme_under_voltage_measurement_period,
        ),
        (
            3,
            r.rms_voltage_sag_threshold,
            r.rms_voltage_sag_measurement_period,
        ),
        (
            4,
            r.rms_voltage_swell_threshold,
            r.rms_voltage_swell_measurement_period,
        ),
    ] {
        let limiter = obis(0, 0, 17, 0, n, 255);
        profile_and_limiters = profile_and_limiters
            .set(LIMITER, limiter, 4, dlu(threshold))
            .set(LIMITER, limiter, 6, dlu(duration));
    }
    let over_value = dlu(avg.average_rms_over_voltage_threshold);
    let under_value = dlu(avg.average_rms_under_voltage_threshold);
    let request = if v.rms_voltage_counters_not_reset.is_some() {
        Request::new()
            .set(DATA, under, 2, under_value)
            .set(DATA, over, 2, over_value)
            .then(profile_and_limiters)
    } else {
        profile_and_limiters
            .set(DATA, over, 2, over_value)
            .set(DATA, under, 2, under_value)
            .action(REGISTER, obis(1, 0, 32, 32, 0, 4), 1, Value::Integer(0))
            .action(REGISTER, obis(1, 0, 32, 36, 0, 4), 1, Value::Integer(0))
    };
    Ok(request.encode(i.counter))
}
