//! Resets, clears and plain settings of the electricity meter that carry their values (if
//! any) straight from the request: 3.3 Clear Event Log (ECS15a), 3.4
//! Update Supplier Name (ECS16), 6.4.2 Update Device Configuration (Load Limiting Counter
//! Reset) (ECS28b), 6.18.2 Reset Maximum Demand Registers (ECS57), 6.20.1 / 6.20.2 Set Device
//! Configuration (Import MPxN / Export MPAN) (ECS39a, ECS39b), 6.27 Update Device
//! Configuration (RMS Voltage Counter Reset) (ECS29e, single phase; ECS29f, polyphase) and
//! 7.9 Add Auxiliary Load to Boost Button (ECS62Add).
//!
//! Each is one DLMS Access-Request: resets are the `reset` method (1, parameter
//! `integer 0`) of Registers (class 3), Extended Registers (class 4) and Profile Generics
//! (class 7); settings are sets of attribute 2. The objects, their order and the encodings
//! are those of the RTDS commands, which `protocol/tests/transform_rtds.rs` compares byte for
//! byte. Future-dated requests are held by the DSP (SERVICES.md): the commands carry no date.
//!
//! ECS15c (3.3 for the auxiliary load control switches' event log) is not built: neither
//! the corpus nor the catalogue gives its message code.

use super::axdr::{Request, Value, obis};
use super::log_reads::PHASES;
use super::{ESME, Input, Origin, TransformError, UseCase};
use crate::duis::model::Body;
use crate::duis::model::body::{ESMEEventLogType, SetDeviceConfigurationImportMPxNChoice};

pub(crate) static USE_CASES: &[UseCase] = &[
    UseCase {
        name: "ECS15a",
        srv: "3.3",
        devices: ESME,
        origin: Origin::User,
        fits: |b| clears(b, ESMEEventLogType::Esme),
        build: ecs15a,
    },
    use_case!("ECS16", "3.4", ESME, Origin::User, ecs16),
    use_case!("ECS28b", "6.4.2", ESME, Origin::User, ecs28b),
    use_case!("ECS57", "6.18.2", ESME, Origin::User, ecs57),
    use_case!("ECS39a", "6.20.1", ESME, Origin::User, ecs39a),
    use_case!("ECS39b", "6.20.2", ESME, Origin::Acb, ecs39b),
    use_case!("ECS29e", "6.27", ESME, Origin::User, ecs29e),
    use_case!("ECS29f", "6.27", ESME, Origin::User, ecs29f),
    use_case!("ECS62Add", "7.9", ESME, Origin::User, ecs62_add),
];

/// The `reset` method of Registers, Extended Registers and Profile Generics.
const RESET: i8 = 1;

/// Whether a 3.3 request clears the log of type `t` (a request naming no log type fits
/// neither: an ESME has two).
fn clears(b: &Body, t: ESMEEventLogType) -> bool {
    matches!(b, Body::ClearEventLog(c) if c.esme_event_log_type == Some(t))
}

/// `reset` of each `(class, object)` in order.
fn resets(i: &Input<'_>, objects: &[(u16, [u8; 6])]) -> Vec<u8> {
    objects
        .iter()
        .fold(Request::new(), |r, &(class, o)| {
            r.action(class, o, RESET, Value::Integer(0))
        })
        .encode(i.counter)
}

/// ECS15a: reset of the event log (Profile Generic 0-0:99.98.0.255).
fn ecs15a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !clears(i.body, ESMEEventLogType::Esme) {
        return Err(i.wrong_body());
    }
    Ok(resets(i, &[(7, obis(0, 0, 99, 98, 0, 255))]))
}

/// ECS16: the supplier's telephone number (0-0:96.13.0.255), then its name
/// (0-0:96.13.1.255), both octet-strings of the request's text, in the GBCS data class.
fn ecs16(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::UpdateSupplierName(b) = i.body else {
        return Err(i.wrong_body());
    };
    const GBCS_DATA: u16 = 9000;
    Ok(Request::new()
        .set(
            GBCS_DATA,
            obis(0, 0, 96, 13, 0, 255),
            2,
            Value::OctetString(b.supplier_telephone_number.as_bytes().to_vec()),
        )
        .set(
            GBCS_DATA,
            obis(0, 0, 96, 13, 1, 255),
            2,
            Value::OctetString(b.supplier_name.as_bytes().to_vec()),
        )
        .encode(i.counter))
}

/// ECS28b: reset of the load limiting counter (Register 0-0:94.44.42.255).
fn ecs28b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    if !matches!(
        i.body,
        Body::UpdateDeviceConfigurationLoadLimitingCounterReset(_)
    ) {
        return Err(i.wrong_body());
    }
    Ok(resets(i, &[(3, obis(0, 0, 94, 44, 42, 255))]))
}

/// ECS57: reset of each maximum demand Extended Register the request names, in the RTDS
/// order: import (1-0:1.6.0.255), import in the configurable period (1-0:1.6.1.255), export
/// (1-0:2.6.0.255).
fn ecs57(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::ResetMaximumDemandRegisters(b) = i.body else {
        return Err(i.wrong_body());
    };
    let objects: Vec<(u16, [u8; 6])> = [
        (
            b.max_demand_active_power_import_value.is_some(),
            obis(1, 0, 1, 6, 0, 255),
        ),
        (
            b.max_demand_config_time_active_power_import_value.is_some(),
            obis(1, 0, 1, 6, 1, 255),
        ),
        (
            b.max_demand_active_power_export_value.is_some(),
            obis(1, 0, 2, 6, 0, 255),
        ),
    ]
    .into_iter()
    .filter(|(named, _)| *named)
    .map(|(_, o)| (4, o))
    .collect();
    if objects.is_empty() {
        return Err(i.field("ResetMaximumDemandRegisters", "names no register to reset"));
    }
    Ok(resets(i, &objects))
}

/// ECS39a: the import MPAN (and a twin-element meter's secondary one, appended) as the
/// octet-string of the Data object 0-0:94.44.34.11.
fn ecs39a(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::SetDeviceConfigurationImportMPxN(b) = i.body else {
        return Err(i.wrong_body());
    };
    let SetDeviceConfigurationImportMPxNChoice::ImportMPANs(m) = &b.choice else {
        return Err(i.field("ImportMPRN", "an electricity meter takes ImportMPANs"));
    };
    let mut mpans = m.import_mpan.as_bytes().to_vec();
    if let Some(secondary) = &m.secondary_import_mpan {
        mpans.extend_from_slice(secondary.as_bytes());
    }
    Ok(Request::new()
        .set(1, obis(0, 0, 94, 44, 34, 11), 2, Value::OctetString(mpans))
        .encode(i.counter))
}

/// ECS39b: the export MPAN as the octet-string of the Data object 1-0:0.0.2.255. The ACB
/// sends it, with the User as supplementary remote party, as the RTDS command is sent.
fn ecs39b(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::SetDeviceConfigurationExportMPAN(b) = i.body else {
        return Err(i.wrong_body());
    };
    Ok(Request::new()
        .set(
            1,
            obis(1, 0, 0, 0, 2, 255),
            2,
            Value::OctetString(b.export_mpan.as_bytes().to_vec()),
        )
        .encode(i.counter))
}

/// ECS29e: reset of the single-phase RMS voltage sag and swell counters (Registers
/// 1-0:32.32.0.4 and 1-0:32.36.0.4).
fn ecs29e(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    counter_resets(i, &PHASES[..1])
}

/// ECS29f: the same resets for phase L1, then L2 (1-0:52.32.0.4, 1-0:52.36.0.4), then L3
/// (value group C 72) of a polyphase meter.
fn ecs29f(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    counter_resets(i, &PHASES)
}

/// The sag and swell counter resets of each phase of `phases` in turn.
fn counter_resets(i: &Input<'_>, phases: &[u8]) -> Result<Vec<u8>, TransformError> {
    if !matches!(
        i.body,
        Body::UpdateDeviceConfigurationRMSVoltageCounterReset(_)
    ) {
        return Err(i.wrong_body());
    }
    let objects: Vec<(u16, [u8; 6])> = phases
        .iter()
        .flat_map(|&c| [(3, obis(1, 0, c, 32, 0, 4)), (3, obis(1, 0, c, 36, 0, 4))])
        .collect();
    Ok(resets(i, &objects))
}

/// ECS62Add: whether each auxiliary load control switch 1–5 follows the boost button, the
/// boolean Data objects 0-0:94.44.6.1 to .5, in switch order.
fn ecs62_add(i: &Input<'_>) -> Result<Vec<u8>, TransformError> {
    let Body::AddAuxiliaryLoadToBoostButton(b) = i.body else {
        return Err(i.wrong_body());
    };
    let mut flags: [Option<bool>; 5] = [None; 5];
    for s in &b.add_to_boost_button {
        let slot = usize::try_from(s.index)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| flags.get_mut(n))
            .ok_or_else(|| {
                i.field(
                    "AddToBoostButton/@index",
                    format!("{} is not a switch number 1 to 5", s.index),
                )
            })?;
        if slot.replace(s.value).is_some() {
            return Err(i.field(
                "AddToBoostButton/@index",
                format!("switch {} is named twice", s.index),
            ));
        }
    }
    let mut request = Request::new();
    for (n, flag) in (1u8..).zip(flags) {
        let flag =
            flag.ok_or_else(|| i.field("AddToBoostButton", format!("switch {n} is not named")))?;
        request = request.set(1, obis(0, 0, 94, 44, 6, n), 2, Value::Boolean(flag));
    }
    Ok(request.encode(i.counter))
}
