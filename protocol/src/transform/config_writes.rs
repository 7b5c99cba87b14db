//! Device configuration writes: 6.12 Update Device Configuration (Instantaneous Power
//! Threshold), 6.5 Update Device Configuration (Voltage) on a single-phase or polyphase
//! meter, and,
//! critical, 6.4.1 Update Device Configuration (Load Limiting General Settings), 6.14.1
//! Update Device Configuration (Auxiliary Load Control Description), 6.14.2 (Auxiliary Load
//! Control Scheduler, [`ecs46c`]) and 6.25 Set Electricity Supply Tamper State.
//!
//! 6.4.1 is the one with an activation time: each of its four GBCS data objects gets the new
//! value in its attribute 4 and the time it takes effect in its attribute 6 (all `00` now, the
//! execution date-time, or all `FF` to cancel a pending change), as the tariff's activation
//! dates are written. 6.5 sets the measurement period of the average RMS voltage profile, the
//! four RMS voltage Limiters (extreme over-, extreme under-voltage, sag, swell: threshold and
//! minimum duration) and the average RMS over- and under-voltage thresholds, and, unless the
//! request says `RMSVoltageCountersNotReset` (ECS29c, which also writes in another order),
//! resets the sag and swell counters (ECS29a); ECS29d is the polyphase form of ECS29c (ECS29b,
//! that of ECS29a, is refused: no message code is known for it).
//!
//! 6.12 is future-dated by the DSP (SERVICES.md, "Future Dated Response Pattern"): the
//! gateway holds the request until its `ExecutionDateTime` and the command itself carries no
//! date. The objects and encodings are those of the RTDS commands, which
//! `protocol/tests/transform_rtds.rs` compares byte for byte.

use super::axdr::{Request, Value, obis};
use super::log_reads::PHASES;
use super::tariff::activation;
use super::{ESME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;
use crate::duis::model::body::{
    AverageRMSVoltageSettings, LoadLimitSupplyState,
    SetElectricitySupplyTamperStateSupplyTamperState, UpdateDeviceConfigurationALCDescriptions,
    UpdateDeviceConfigurationVoltage, UpdateDeviceConfigurationVoltagePhaseVoltageSettings,
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
    UseCase {
        name: "ECS29b",
        srv: "6.5",
        devices: ESME,
        origin: Origin::User,
        fits: |b| polyphase(b).is_some_and(|v| v.rms_voltage_counters_not_reset.is_none()),
        build: ecs29,
    },
    UseCase {
        name: "ECS29d",
        srv: "6.5",
        devices: ESME,
        origin: Origin::User,
        fits: |b| polyphase(b).is_some_and(|v| v.rms_voltage_counters_not_reset.is_some()),
        build: ecs29,
    },
    use_case!("ECS34", "6.12", ESME, Origin::User, ecs34),
    use_case!("ECS81", "6.25", ESME, Origin::User, ecs81),
    use_case!("ECS46a", "6.14.1", ESME, Origin::User, ecs46a),
    use_case!("ECS46c", "6.14.2", ESME, Origin::User, ecs46c),
];

/// The ALCS scheduler (6.14.2): the switches' identities (0-0:94.44.0.21 to .25: the
/// HCALCS's EUI, zeros for an ALCS), its special days, its schedule and their activation.
const SWITCH_IDENTITY_BASE: u8 = 20;
const ALCS_SPECIAL_DAYS: [u8; 6] = obis(0, 1, 11, 0, 3, 255);
const ALCS_SCHEDULE: [u8; 6] = obis(0, 1, 12, 0, 2, 255);
const SWITCH_SCRIPTS: [u8; 6] = obis(0, 0, 10, 0, 103, 255);
const ALCS_SCHEDULE_ACTIVATION: [u8; 6] = obis(0, 0, 94, 44, 128, 26);
const ALCS_SPECIAL_DAYS_ACTIVATION: [u8; 6] = obis(0, 0, 94, 44, 128, 35);
/// Low byte of a switch's script: activate, deactivate.
const SWITCH_ACTIVATE: u16 = 0x01;
const SWITCH_DEACTIVATE: u16 = 0x02;

/// ECS46c: for each `SwitchTypeAndId` the switch's identity (the HCALCS's EUI, or zeros
/// for an ALCS) in 0-0:94.44.0.(20 + *n*); the special days (0-1:11.0.3.255: index, COSEM
/// date, day ID = index); the schedule (0-1:12.0.2.255, entries as the non-disablement
/// schedule's: script 0-0:10.0.103.255, selector switch × 256 + 1 to activate or + 2 to
/// deactivate); then the activation times of the schedule (0-0:94.44.128.26) and the special
/// days (128.35).
fn ecs46c(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    use super::prepay_config::{ScheduleEntry, numbered_special_day};
    use super::tariff::date;
    use crate::duis::model::body::{
        ActivateDeactivateSwitchSwitch, DateType, SwitchTypeAndIdChoice,
    };
    let Body::UpdateDeviceConfigurationALCScheduler(b) = i.body else {
        return Err(i.wrong_body());
    };
    let mut r = Request::new();
    for s in &b.switch_type_and_id {
        let n = u8::try_from(s.index)
            .ok()
            .filter(|n| (1..=5).contains(n))
            .ok_or_else(|| {
                i.field(
                    "SwitchTypeAndId/@index",
                    format!("{} is not 1 to 5", s.index),
                )
            })?;
        let eui = match &s.choice {
            SwitchTypeAndIdChoice::Alcs(_) => [0u8; 8],
            SwitchTypeAndIdChoice::Hcalcs(id) => crate::duis::model::header::parse_eui(id)
                .ok_or_else(|| i.field("HCALCS", format!("{id:?} is not an EUI-64")))?,
        };
        r = r.set(
            1,
            obis(0, 0, 94, 44, 0, SWITCH_IDENTITY_BASE + n),
            2,
            Value::OctetString(eui.to_vec()),
        );
    }
    let special = &b.alcshcalcs_special_days.alcshcalcs_special_day;
    let mut days = Vec::with_capacity(special.len());
    for d in special {
        let on = DateType {
            year: d.year.clone(),
            month: d.month.clone(),
            day_of_month: d.day_of_month.clone(),
            day_of_week: d.day_of_week.clone(),
        };
        days.push(numbered_special_day(
            i,
            ("ALCSHCALCSSpecialDay/@index", "ALCSHCALCSSpecialDay"),
            d.index,
            &on,
        )?);
    }
    let mut entries = Vec::with_capacity(b.alcshcalcs_connection_schedule.len());
    for (n, e) in b.alcshcalcs_connection_schedule.iter().enumerate() {
        let switch = &e.activate_deactivate_switch;
        let number = u16::try_from(switch.index)
            .ok()
            .filter(|n| (1..=5).contains(n))
            .ok_or_else(|| {
                i.field(
                    "ActivateDeactivateSwitch/@index",
                    format!("{} is not 1 to 5", switch.index),
                )
            })?;
        let action = match switch.switch {
            ActivateDeactivateSwitchSwitch::ActivateSwitch(_) => SWITCH_ACTIVATE,
            ActivateDeactivateSwitchSwitch::DeactivateSwitch(_) => SWITCH_DEACTIVATE,
        };
        let times = &e.alcs_schedule_dates_and_time;
        let entry = ScheduleEntry {
            script: SWITCH_SCRIPTS,
            selector: number << 8 | action,
            weekdays: e
                .days_of_week_applicability
                .iter()
                .flat_map(|w| w.day_of_week_applicability.iter().map(|d| d.day_of_week_id))
                .collect(),
            special_days: e
                .special_days_applicability
                .iter()
                .map(|a| a.index)
                .collect(),
            switch_time: times.switch_time.as_str(),
            start: date(i, "StartDate", &times.start_date)?,
            end: date(i, "EndDate", &times.end_date)?,
        };
        entries.push(entry.encode(i, n + 1, special.len())?);
    }
    let at = activation(i.execution(b.execution_date_time.as_ref())?);
    Ok(r.set(11, ALCS_SPECIAL_DAYS, 2, Value::Array(days))
        .set(10, ALCS_SCHEDULE, 2, Value::Array(entries))
        .set(9000, ALCS_SCHEDULE_ACTIVATION, 6, at.clone())
        .set(9000, ALCS_SPECIAL_DAYS_ACTIVATION, 6, at)
        .encode(i.counter))
}

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

/// A 6.5 request for a polyphase meter.
fn polyphase(b: &Body) -> Option<&UpdateDeviceConfigurationVoltage> {
    match b {
        Body::UpdateDeviceConfigurationVoltage(v)
            if matches!(
                v.phase_voltage_settings,
                UpdateDeviceConfigurationVoltagePhaseVoltageSettings::PolyPhaseVoltageSettings(_)
            ) =>
        {
            Some(v)
        }
        _ => None,
    }
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

/// The average RMS voltage settings of each phase a 6.5 request sets, as (OBIS value group
/// C of the phase, settings), L1 first: the one of a single-phase request, or the three of a
/// polyphase one ordered by their `Phase` (each of 1, 2 and 3 once).
fn phase_settings<'a>(
    i: &Input<'_>,
    v: &'a UpdateDeviceConfigurationVoltage,
) -> Result<Vec<(u8, &'a AverageRMSVoltageSettings)>, TransformError> {
    match &v.phase_voltage_settings {
        UpdateDeviceConfigurationVoltagePhaseVoltageSettings::SinglePhaseVoltageSettings(avg) => {
            Ok(vec![(PHASES[0], avg)])
        }
        UpdateDeviceConfigurationVoltagePhaseVoltageSettings::PolyPhaseVoltageSettings(phases) => {
            let mut out = Vec::with_capacity(3);
            for (n, c) in (1u64..=3).zip(PHASES) {
                let mut of_n = phases.iter().filter(|p| p.phase == n);
                match (of_n.next(), of_n.next()) {
                    (Some(p), None) => out.push((c, &p.phase_voltage_settings)),
                    _ => {
                        return Err(i.field(
                            "PolyPhaseVoltageSettings/Phase",
                            format!("phase {n} must be given exactly once"),
                        ));
                    }
                }
            }
            Ok(out)
        }
    }
}

/// ECS29a / ECS29c (single phase), ECS29b / ECS29d (polyphase): the voltage settings.
/// ECS29a writes the profile period, the Limiters and the average thresholds (over, under)
/// and resets the sag and swell counters; ECS29c writes the average thresholds (under, over)
/// first and resets nothing. The polyphase forms do the same for each phase in turn (the
/// profile 1-0:C.24.0.255, the thresholds 1-0:C.35.0.4 and 1-0:C.31.0.4 and the counters
/// 1-0:C.32.0.4 and 1-0:C.36.0.4 of phase L1, L2, L3: C = 32, 52, 72); the four Limiters
/// are the meter's. ECS29d matches the corpus. ECS29b is refused before it is built: neither
/// the corpus nor the catalogue gives its message code.
fn ecs29(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateDeviceConfigurationVoltage(v) = i.body else {
        return Err(i.wrong_body());
    };
    let phases = phase_settings(i, v)?;
    const DATA: u16 = 1;
    const REGISTER: u16 = 3;
    const PROFILE: u16 = 7;
    const LIMITER: u16 = 71;
    let dlu = Value::DoubleLongUnsigned;
    let over = |c| obis(1, 0, c, 35, 0, 4);
    let under = |c| obis(1, 0, c, 31, 0, 4);
    let r = &v.rms_voltage_settings;
    let mut profile_and_limiters = Request::new();
    for &(c, avg) in &phases {
        profile_and_limiters = profile_and_limiters.set(
            PROFILE,
            obis(1, 0, c, 24, 0, 255),
            4,
            dlu(avg.average_rms_voltage_measurement_period),
        );
    }
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
    // Each phase's average thresholds, under-voltage first or over-voltage first.
    let thresholds = |mut request: Request, under_first: bool| {
        for &(c, avg) in &phases {
            let under = (under(c), avg.average_rms_under_voltage_threshold);
            let over = (over(c), avg.average_rms_over_voltage_threshold);
            let (first, second) = if under_first {
                (under, over)
            } else {
                (over, under)
            };
            for (object, value) in [first, second] {
                request = request.set(DATA, object, 2, dlu(value));
            }
        }
        request
    };
    let request = if v.rms_voltage_counters_not_reset.is_some() {
        thresholds(Request::new(), true).then(profile_and_limiters)
    } else {
        let mut request = thresholds(profile_and_limiters, false);
        for &(c, _) in &phases {
            request = request
                .action(REGISTER, obis(1, 0, c, 32, 0, 4), 1, Value::Integer(0))
                .action(REGISTER, obis(1, 0, c, 36, 0, 4), 1, Value::Integer(0));
        }
        request
    };
    Ok(request.encode(i.counter))
}
