//! DLMS COSEM use cases of the ESME and the CHF: an Access-Request's gets, sets and actions
//! executed on the device's [`Objects`], answered with an Access-Response.
//!
//! Beyond plain attribute access:
//!
//! - **Protected reads** (action on class 30, method 1, as in ECS17b/d, ECS20b, ECS21a,
//!   ECS22b): the listed attributes are read (with range selection on profiles) and returned
//!   as one encrypted octet-string after the echoed protection parameters, whose originator
//!   and recipient are swapped.
//! - **Activation times** (class 20 attribute 10, class 113 attribute 7, class 9000
//!   attribute 6, class 111 attribute 13): all `00` means now; all `FF` cancels a pending
//!   command of the same message code; a later date makes the whole command future-dated,
//!   so its sets are kept and applied at that time, followed by one 8F66 alert per
//!   activation attribute. Activating a calendar copies its passive attributes (6–9) to the
//!   active ones (2–5); activating a charge copies attribute 6 to 5, a GBCS data object
//!   (class 9000) attribute 4 to 2.
//! - **Credit** (class 112, ECS04a/b): method 1 adds to attribute 2, method 2 sets it.
//! - **Resets** (method 1 of classes 3, 4 and 7: ECS15a, ECS28b, ECS29e, ECS57): a
//!   Register's value goes to zero, an Extended Register's too with its capture time "not
//!   specified", a Profile Generic's buffer is emptied.
//! - **Clock** (class 8, ECS70): method 5 stores the preset time and validity window, method
//!   4 applies it if the device clock is inside the window (a preset of all `FF` sets the
//!   device clock to the caller's clock), method 6 shifts the clock; attribute 2 reads the
//!   device clock.
//! - **Change of Tenancy** (ECS12, class 1 0-0:94.44.3.2 attribute 2): the set stores the
//!   date (defining the object on an ESME state saved before it existed) and writes a
//!   `change-of-tenancy` event. From then on, profile reads (class 7 attribute 2, plain or
//!   protected) by a remote party other than the device's supplier return only the entries
//!   captured at or after that date; the supplier still reads the whole buffer. This is the
//!   emulator's reading of "restrict access to the previous tenant's data"; no RTDS vector
//!   shows a restricted read.
//! - **HAN whitelist** (class 104, CHF): attribute 4 lists the devices of that network,
//!   method 1 (register_device, CCS01) adds devices, method 2 (unregister_device, CCS02)
//!   removes them, method 4 (backup) returns the whitelist with link key hashes, method 5
//!   (restore_PAN, CCS03) replaces the whitelist and extended PAN ID with a backup-shaped
//!   structure (`{ date-time, extended PAN ID, array of { EUI, link key hash } }`). Changes
//!   send a CS14 alert (8F12) to the ACB. The wire form of CCS01, CCS02 and CCS03 is the one
//!   `hubgate_protocol::transform` derives from the DLMS class 104 methods; no RTDS vector
//!   confirms it.
//!
//! Fault injection ([`DeviceState::faults`]) answers as the RTDS ERROR vectors do: the last
//! two specifications fail with `hardware-fault` and `other-reason` (a single one with
//! `hardware-fault`) and are not executed.

use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::dlms::{
    AccessRequest, AccessRequestSpec, AccessResponse, AccessResponseSpec, ActionResult, Apdu,
    DataAccessResult,
};

use crate::cosem::{Attr, Objects, result};
use crate::device::{AlertBody, AlertSpec, Ctx, Outcome, alert, alert_code};
use crate::error::DeviceError;
use crate::state::{DeviceKind, DeviceState, Pending, PendingWork};
use crate::time::{self, CosemInstant};
use crate::trust::role;
use crate::value::Value;

/// (class, attribute) pairs that hold an activation date-time.
pub const ACTIVATION_ATTRIBUTES: &[(u16, i8)] = &[(20, 10), (113, 7), (9000, 6), (111, 13)];

/// Logical name of the firmware version object (ECS52 reads attribute 2 of class 1).
pub const FIRMWARE_VERSION: [u8; 6] = [0, 0, 0, 2, 1, 255];

/// The Change of Tenancy date attribute (ECS12).
pub const CHANGE_OF_TENANCY: Attr = Attr::new(1, crate::models::obis::CHANGE_OF_TENANCY, 2);

/// The CHF's sub-GHz configuration (6.28, 6.30).
const SUB_GHZ_CONFIGURATION: Attr = Attr::new(1, crate::models::obis::SUB_GHZ_CONFIGURATION, 2);

/// Whether `a` and `b` have the same DLMS types, element by element.
fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Structure(x), Value::Structure(y)) | (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_shape(x, y))
        }
        (Value::BitString { bits: x, .. }, Value::BitString { bits: y, .. }) => x == y,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

/// DBCH04: a new sub-GHz configuration of the layout the CHF holds (else
/// `type-unmatched`); once taken, the CHF tells the ACB with a DBCH09 alert carrying it.
fn set_sub_ghz_configuration(
    state: &mut DeviceState,
    ctx: &Ctx,
    value: Value,
    alerts: &mut Vec<AlertSpec>,
) -> u8 {
    let acb = state.trusted.eui_of(role::ACB);
    let Some(o) = objects_mut(state) else {
        return result::OBJECT_UNDEFINED;
    };
    match o.read(&SUB_GHZ_CONFIGURATION, None) {
        Ok(old) if same_shape(&old, &value) => {}
        Ok(_) => return result::TYPE_UNMATCHED,
        Err(code) => return code,
    }
    let body = Value::Structure(vec![
        Value::LongUnsigned(alert::SUB_GHZ_CONFIGURATION_CHANGED),
        Value::OctetString(time::cosem_from_unix(ctx.now).to_vec()),
        value.clone(),
    ]);
    if let Err(code) = o.write(&SUB_GHZ_CONFIGURATION, value) {
        return code;
    }
    if let Some(acb) = acb {
        alerts.push(AlertSpec {
            message_code: alert_code::DBCH09,
            critical: false,
            recipient: acb,
            body: AlertBody::Dlms(body),
        });
    }
    result::SUCCESS
}

/// Internal attribute id under which a clock keeps its preset (not a COSEM attribute).
const CLOCK_PRESET: i8 = -5;

/// One HAN device on a CHF whitelist.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HanDevice {
    /// The device EUI.
    pub eui: [u8; 8],
    /// The key (install code) from CCS01.
    pub key: Vec<u8>,
    /// Hash of the trust-centre link key, empty until the device has joined.
    pub hashed_link_key: Vec<u8>,
}

/// A CHF HAN network (one class 104 object).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HanNetwork {
    /// Logical name of the class 104 object.
    pub obis: [u8; 6],
    /// Extended PAN ID as the backup reports it.
    pub extended_pan_id: [u8; 8],
    /// The whitelist.
    pub devices: Vec<HanDevice>,
}

impl HanNetwork {
    /// The backup structure: date-time, extended PAN ID, (EUI, link key hash) pairs.
    pub fn backup(&self, now: i64) -> Value {
        Value::Structure(vec![
            Value::OctetString(time::cosem_from_unix(now).to_vec()),
            Value::OctetString(self.extended_pan_id.to_vec()),
            Value::Array(
                self.devices
                    .iter()
                    .map(|d| {
                        Value::Structure(vec![
                            Value::OctetString(d.eui.to_vec()),
                            Value::OctetString(d.hashed_link_key.clone()),
                        ])
                    })
                    .collect(),
            ),
        ])
    }

    /// The active_devices attribute: one 14-member structure per device, with fixed link
    /// statistics.
    pub fn active_devices(&self, now: i64) -> Value {
        Value::Array(
            self.devices
                .iter()
                .map(|d| {
                    Value::Structure(vec![
                        Value::OctetString(d.eui.to_vec()),
                        Value::BitString {
                            bits: 8,
                            bytes: vec![0xc8],
                        },
                        Value::Integer(-35),
                        Value::Integer(-50),
                        Value::Integer(-100),
                        Value::Unsigned(2),
                        Value::Unsigned(39),
                        Value::Unsigned(247),
                        Value::OctetString(time::cosem_from_unix(now).to_vec()),
                        Value::Unsigned(1),
                        Value::Unsigned(0),
                        Value::Unsigned(100),
                        Value::Unsigned(1),
                        Value::Unsigned(1),
                    ])
                })
                .collect(),
        )
    }
}

/// How the activation times of a command read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    /// No activation time, or "now", or a time already passed.
    Immediate,
    /// A later time.
    Future(i64),
    /// All `FF`: cancel.
    Cancel,
}

fn is_activation(a: &Attr) -> bool {
    ACTIVATION_ATTRIBUTES.contains(&(a.class_id, a.id))
}

fn attr_of(d: &hubgate_protocol::gbcs::payload::dlms::CosemDescriptor) -> Attr {
    Attr::new(d.class_id, d.instance_id.0, d.id)
}

/// Executes an Access-Request.
pub(crate) fn execute(
    state: &mut DeviceState,
    ctx: &Ctx,
    req: &AccessRequest<'_>,
) -> Result<Outcome, DeviceError> {
    let n = req.specifications.len();
    let values: Vec<Value> = req.data.iter().map(Value::from_data).collect();
    let floor = tenancy_floor(state, ctx);
    let mut failed: Vec<Option<u8>> = vec![None; n];
    if ctx.fault {
        match n {
            0 => {}
            1 => failed[0] = Some(result::HARDWARE_FAULT),
            _ => {
                failed[n - 2] = Some(result::HARDWARE_FAULT);
                failed[n - 1] = Some(result::OTHER_REASON);
            }
        }
    }

    // The activation times decide whether the command is immediate, future-dated or a
    // cancellation.
    let mut activation = Activation::Immediate;
    let mut execution = Vec::new();
    for (i, spec) in req.specifications.iter().enumerate() {
        if let AccessRequestSpec::Set(d) = spec
            && is_activation(&attr_of(d))
            && failed[i].is_none()
            && let Some(Value::OctetString(b)) = values.get(i)
        {
            match time::cosem_to_instant(b) {
                Some(CosemInstant::At(t))
                    if t > ctx.now && !matches!(activation, Activation::Future(_)) =>
                {
                    activation = Activation::Future(t);
                    execution = b.clone();
                }
                Some(CosemInstant::Unspecified) => activation = Activation::Cancel,
                _ => {}
            }
        }
    }
    if activation == Activation::Cancel {
        let before = state.pending.len();
        state.pending.retain(|p| p.message_code != ctx.code);
        state.event_log.push(
            ctx.now,
            "future-dated-cancelled",
            format!(
                "message code {:#06x}: {} pending command(s) cancelled",
                ctx.code,
                before - state.pending.len()
            ),
        );
    }

    let mut data = Vec::with_capacity(n);
    let mut results = Vec::with_capacity(n);
    let mut staged = Vec::new();
    let mut activations = Vec::new();
    let mut alerts = Vec::new();
    let mut clock_shift = 0i64;
    for (i, spec) in req.specifications.iter().enumerate() {
        let value = values.get(i).cloned().unwrap_or(Value::Null);
        if let Some(code) = failed[i] {
            data.push(Value::Null);
            results.push(response_spec(spec, code));
            continue;
        }
        let (v, code) = match spec {
            AccessRequestSpec::Get(d) => read(
                state,
                &attr_of(d),
                None,
                ctx.now.saturating_add(clock_shift),
                floor,
            ),
            AccessRequestSpec::GetWithSelection(d, sel) => {
                let params = Value::from_data(&sel.parameters);
                read(
                    state,
                    &attr_of(d),
                    Some((sel.selector, &params)),
                    ctx.now.saturating_add(clock_shift),
                    floor,
                )
            }
            AccessRequestSpec::Set(d) => {
                let a = attr_of(d);
                let code = match activation {
                    Activation::Cancel => result::SUCCESS,
                    Activation::Future(_) => {
                        if objects(state).is_some_and(|o| o.has_object(a.class_id, &a.obis)) {
                            if is_activation(&a) {
                                activations.push(a);
                            } else {
                                staged.push((a, value));
                            }
                            result::SUCCESS
                        } else {
                            result::OBJECT_UNDEFINED
                        }
                    }
                    Activation::Immediate if a == CHANGE_OF_TENANCY => {
                        set_change_of_tenancy(state, ctx, value)
                    }
                    Activation::Immediate if a == SUB_GHZ_CONFIGURATION => {
                        set_sub_ghz_configuration(state, ctx, value, &mut alerts)
                    }
                    Activation::Immediate => match objects_mut(state) {
                        Some(o) => match o.write(&a, value) {
                            Ok(()) => {
                                if is_activation(&a) {
                                    activations.push(a);
                                }
                                result::SUCCESS
                            }
                            Err(e) => e,
                        },
                        None => result::OBJECT_UNDEFINED,
                    },
                };
                (Value::Null, code)
            }
            AccessRequestSpec::SetWithSelection(..) => (Value::Null, result::OTHER_REASON),
            AccessRequestSpec::Action(d) => {
                let a = attr_of(d);
                action(state, ctx, &a, &value, &mut clock_shift, &mut alerts)?
            }
        };
        data.push(if code == result::SUCCESS {
            v
        } else {
            Value::Null
        });
        results.push(response_spec(spec, code));
    }

    let mut pending = None;
    match activation {
        Activation::Immediate => {
            if let Some(o) = objects_mut(state) {
                for a in &activations {
                    activate(o, a);
                }
            }
        }
        Activation::Future(due) => {
            state.pending.retain(|p| p.message_code != ctx.code);
            pending = Some(Pending {
                due,
                message_code: ctx.code,
                originator: ctx.remote_party(),
                counter: ctx.counter,
                work: PendingWork::Dlms {
                    sets: staged,
                    activations,
                    execution,
                },
            });
        }
        Activation::Cancel => {}
    }

    let data_refs: Vec<Data<'_>> = data.iter().map(Value::to_data).collect();
    let apdu = Apdu::AccessResponse(AccessResponse {
        invoke_id: req.invoke_id,
        date_time: None,
        request_specifications: None,
        data: data_refs,
        specifications: results,
    });
    let mut payload = Vec::new();
    apdu.encode(&mut payload);
    Ok(Outcome {
        payload,
        alerts,
        pending,
    })
}

fn response_spec(spec: &AccessRequestSpec<'_>, code: u8) -> AccessResponseSpec {
    match spec {
        AccessRequestSpec::Get(_) | AccessRequestSpec::GetWithSelection(..) => {
            AccessResponseSpec::Get(DataAccessResult(code))
        }
        AccessRequestSpec::Set(_) | AccessRequestSpec::SetWithSelection(..) => {
            AccessResponseSpec::Set(DataAccessResult(code))
        }
        AccessRequestSpec::Action(_) => AccessResponseSpec::Action(ActionResult(code)),
    }
}

fn objects(state: &DeviceState) -> Option<&Objects> {
    state.cosem()
}

fn objects_mut(state: &mut DeviceState) -> Option<&mut Objects> {
    state.cosem_mut()
}

/// ECS12: stores the Change of Tenancy date (an ESME state saved before the object existed
/// gets it defined) and logs it.
fn set_change_of_tenancy(state: &mut DeviceState, ctx: &Ctx, value: Value) -> u8 {
    let Some(date) = value.as_octets().and_then(time::cosem_to_instant) else {
        return result::TYPE_UNMATCHED;
    };
    let esme = state.kind == DeviceKind::Esme;
    let Some(o) = objects_mut(state) else {
        return result::OBJECT_UNDEFINED;
    };
    if !esme && !o.has_object(CHANGE_OF_TENANCY.class_id, &CHANGE_OF_TENANCY.obis) {
        return result::OBJECT_UNDEFINED;
    }
    o.put(CHANGE_OF_TENANCY, value);
    let detail = match date {
        CosemInstant::At(t) => format!(
            "data before {} restricted, by {}",
            time::zigbee_from_unix(t),
            hubgate_protocol::hex::eui(&ctx.remote_party())
        ),
        _ => "restriction cleared".to_owned(),
    };
    state.event_log.push(ctx.now, "change-of-tenancy", detail);
    result::SUCCESS
}

/// The earliest capture time (ZigBee seconds) a profile read by this command's remote party
/// returns: the Change of Tenancy date, unless the remote party is the device's supplier.
pub fn tenancy_floor_for(state: &DeviceState, remote_party: &[u8; 8]) -> Option<u64> {
    if state.trusted.eui_of(role::SUPPLIER).as_ref() == Some(remote_party) {
        return None;
    }
    let date = objects(state)?.get(&CHANGE_OF_TENANCY)?.as_octets()?;
    match time::cosem_to_instant(date)? {
        CosemInstant::At(t) => Some(u64::from(time::zigbee_from_unix(t))),
        _ => None,
    }
}

fn tenancy_floor(state: &DeviceState, ctx: &Ctx) -> Option<u64> {
    tenancy_floor_for(state, &ctx.remote_party())
}

/// Drops the profile entries captured before `floor`.
fn restrict(v: Value, floor: Option<u64>) -> Value {
    match (v, floor) {
        (
            Value::CompactArray {
                description,
                elements,
            },
            Some(floor),
        ) => Value::CompactArray {
            description,
            elements: elements
                .into_iter()
                .filter(|e| {
                    e.as_structure()
                        .and_then(|m| m.first())
                        .and_then(Value::as_u64)
                        .is_some_and(|t| t >= floor)
                })
                .collect(),
        },
        (v, _) => v,
    }
}

/// A read, with the attributes computed from device state: the clock (class 8 attribute 2)
/// and the CHF whitelists (class 104 attribute 4). Profile buffers are cut at `floor` (the
/// Change of Tenancy restriction).
fn read(
    state: &DeviceState,
    a: &Attr,
    selection: Option<(u8, &Value)>,
    now: i64,
    floor: Option<u64>,
) -> (Value, u8) {
    if a.class_id == 8 && a.id == 2 && objects(state).is_some_and(|o| o.has_object(8, &a.obis)) {
        return (
            Value::OctetString(time::cosem_from_unix(now).to_vec()),
            result::SUCCESS,
        );
    }
    if a.class_id == 1 && a.id == 2 && a.obis == FIRMWARE_VERSION {
        return (
            Value::OctetString(state.firmware_version.clone()),
            result::SUCCESS,
        );
    }
    if a.class_id == 104
        && a.id == 4
        && let Some(net) = state.han_networks.iter().find(|n| n.obis == a.obis)
    {
        return (net.active_devices(now), result::SUCCESS);
    }
    match objects(state).map(|o| o.read(a, selection)) {
        Some(Ok(v)) if a.class_id == 7 && a.id == 2 => (restrict(v, floor), result::SUCCESS),
        Some(Ok(v)) => (v, result::SUCCESS),
        Some(Err(e)) => (Value::Null, e),
        None => (Value::Null, result::OBJECT_UNDEFINED),
    }
}

/// Copies passive attributes to active ones when an activation time is reached.
fn activate(o: &mut Objects, a: &Attr) {
    let copies: &[(i8, i8)] = match a.class_id {
        20 => &[(6, 2), (7, 3), (8, 4), (9, 5)],
        113 => &[(6, 5)],
        9000 => &[(4, 2)],
        _ => &[],
    };
    for &(from, to) in copies {
        if let Some(v) = o.get(&Attr::new(a.class_id, a.obis, from)).cloned() {
            o.put(Attr::new(a.class_id, a.obis, to), v);
        }
    }
}

/// Runs a due future-dated DLMS command: applies its sets, activates, and returns one 8F66
/// alert per activation attribute.
pub(crate) fn run_pending(state: &mut DeviceState, p: &Pending) -> Vec<AlertSpec> {
    let PendingWork::Dlms {
        sets,
        activations,
        execution,
    } = &p.work
    else {
        return Vec::new();
    };
    let mut ok = true;
    if let Some(o) = objects_mut(state) {
        for (a, v) in sets {
            ok &= o.write(a, v.clone()).is_ok();
        }
        for a in activations {
            o.put(*a, Value::OctetString(execution.clone()));
            activate(o, a);
        }
    } else {
        ok = false;
    }
    activations
        .iter()
        .map(|a| {
            let mut record = Vec::with_capacity(19);
            record.extend_from_slice(&p.message_code.to_be_bytes());
            record.extend_from_slice(&p.counter.to_be_bytes());
            record.extend_from_slice(&a.class_id.to_be_bytes());
            record.extend_from_slice(&a.obis);
            record.extend_from_slice(&a.id.to_be_bytes());
            AlertSpec {
                message_code: alert_code::FUTURE_DATED_DLMS,
                critical: true,
                recipient: p.originator,
                body: AlertBody::Dlms(Value::Structure(vec![
                    Value::LongUnsigned(if ok {
                        alert::FUTURE_DATED_SUCCESS
                    } else {
                        alert::FUTURE_DATED_FAILURE
                    }),
                    Value::OctetString(execution.clone()),
                    Value::OctetString(record),
                ])),
            }
        })
        .collect()
}

/// Executes one action; returns the return value and the action result.
fn action(
    state: &mut DeviceState,
    ctx: &Ctx,
    a: &Attr,
    params: &Value,
    clock_shift: &mut i64,
    alerts: &mut Vec<AlertSpec>,
) -> Result<(Value, u8), DeviceError> {
    let now = ctx.now.saturating_add(*clock_shift);
    Ok(match (a.class_id, a.id) {
        (30, 1) => protected_read(state, ctx, params, now)?,
        (112, 1) | (112, 2) => {
            let Some(amount) = params.as_i64() else {
                return Ok((Value::Null, result::TYPE_UNMATCHED));
            };
            let Some(o) = objects_mut(state) else {
                return Ok((Value::Null, result::OBJECT_UNDEFINED));
            };
            if !o.has_object(112, &a.obis) {
                return Ok((Value::Null, result::OBJECT_UNDEFINED));
            }
            let target = Attr::new(112, a.obis, 2);
            let current = o.get(&target).and_then(Value::as_i64).unwrap_or(0);
            let new = if a.id == 1 {
                current.saturating_add(amount)
            } else {
                amount
            };
            o.put(
                target,
                Value::DoubleLong(i32::try_from(new).unwrap_or(if new < 0 {
                    i32::MIN
                } else {
                    i32::MAX
                })),
            );
            (Value::Null, result::SUCCESS)
        }
        (8, 4) | (8, 5) | (8, 6) => {
            let Some(o) = objects_mut(state) else {
                return Ok((Value::Null, result::OBJECT_UNDEFINED));
            };
            if !o.has_object(8, &a.obis) {
                return Ok((Value::Null, result::OBJECT_UNDEFINED));
            }
            let preset_attr = Attr::new(8, a.obis, CLOCK_PRESET);
            match a.id {
                5 => {
                    o.put(preset_attr, params.clone());
                    (Value::Null, result::SUCCESS)
                }
                6 => {
                    let Some(s) = params.as_i64() else {
                        return Ok((Value::Null, result::TYPE_UNMATCHED));
                    };
                    // shift_time is a long of -900..=900 seconds (the clock class).
                    if !(-900..=900).contains(&s) {
                        return Ok((Value::Null, result::OTHER_REASON));
                    }
                    *clock_shift = clock_shift.saturating_add(s);
                    state.clock_offset = state.clock_offset.saturating_add(s);
                    (Value::Null, result::SUCCESS)
                }
                _ => {
                    let Some(preset) = o.get(&preset_attr).and_then(Value::as_structure) else {
                        return Ok((Value::Null, result::OTHER_REASON));
                    };
                    let instant = |i: usize| {
                        preset
                            .get(i)
                            .and_then(Value::as_octets)
                            .and_then(time::cosem_to_instant)
                    };
                    let (Some(p), Some(from), Some(to)) = (instant(0), instant(1), instant(2))
                    else {
                        return Ok((Value::Null, result::TYPE_UNMATCHED));
                    };
                    let inside = |bound: CosemInstant, upper: bool| match bound {
                        CosemInstant::At(t) => {
                            if upper {
                                now <= t
                            } else {
                                now >= t
                            }
                        }
                        _ => true,
                    };
                    if !inside(from, false) || !inside(to, true) {
                        return Ok((Value::Null, result::OTHER_REASON));
                    }
                    let shift = match p {
                        CosemInstant::At(t) => t.saturating_sub(now),
                        // Not specified: the sender's clock is the reference.
                        _ => state.clock_offset.saturating_neg(),
                    };
                    *clock_shift = clock_shift.saturating_add(shift);
                    state.clock_offset = state.clock_offset.saturating_add(shift);
                    state.event_log.push(
                        now.saturating_add(shift),
                        "clock-adjusted",
                        format!("by {shift} s"),
                    );
                    (Value::Null, result::SUCCESS)
                }
            }
        }
        (104, 1) | (104, 2) | (104, 4) | (104, 5) => han_action(state, ctx, a, params, now, alerts),
        (3, 1) | (4, 1) | (7, 1) => reset(state, a),
        (9, 1) if a.obis == crate::models::obis::SUPPLY_SCRIPTS => supply_script(state, params),
        (9, 1) if a.obis == crate::models::obis::SWITCH_SCRIPTS => {
            // Switch n's scripts: n × 256 + 0x11 (activate), 0x12 (deactivate), 0x20 (reset).
            match params.as_u64() {
                Some(id)
                    if (1..=5).contains(&(id >> 8))
                        && [0x11, 0x12, 0x20].contains(&(id & 0xff)) =>
                {
                    (Value::Null, result::SUCCESS)
                }
                _ => (Value::Null, result::OTHER_REASON),
            }
        }
        _ => {
            if objects(state).is_some_and(|o| o.has_object(a.class_id, &a.obis)) {
                (Value::Null, result::SUCCESS)
            } else {
                (Value::Null, result::OBJECT_UNDEFINED)
            }
        }
    })
}

/// The `reset` method: a Register's or Extended Register's value goes back to zero (an
/// Extended Register's capture time to "not specified"), a Profile Generic's buffer is
/// emptied.
fn reset(state: &mut DeviceState, a: &Attr) -> (Value, u8) {
    let Some(o) = objects_mut(state) else {
        return (Value::Null, result::OBJECT_UNDEFINED);
    };
    if !o.has_object(a.class_id, &a.obis) {
        return (Value::Null, result::OBJECT_UNDEFINED);
    }
    if a.class_id == 7 {
        if let Some(p) = o.profile_mut(&a.obis) {
            p.entries.clear();
        }
        return (Value::Null, result::SUCCESS);
    }
    let value = Attr::new(a.class_id, a.obis, 2);
    let zero = match o.get(&value) {
        Some(Value::DoubleLong(_)) => Value::DoubleLong(0),
        Some(Value::LongUnsigned(_)) => Value::LongUnsigned(0),
        Some(Value::Long64Unsigned(_)) => Value::Long64Unsigned(0),
        _ => Value::DoubleLongUnsigned(0),
    };
    o.put(value, zero);
    if a.class_id == 4 {
        o.put(
            Attr::new(4, a.obis, 5),
            Value::OctetString(
                vec![0xff; 9]
                    .into_iter()
                    .chain([0x80, 0x00, 0xff])
                    .collect(),
            ),
        );
    }
    (Value::Null, result::SUCCESS)
}

/// Runs a supply script: 0x0033 connects the supply, 0x0036 arms it (ready for the
/// consumer to reconnect); the Disconnect Control object follows (output state, control
/// state 1 connected / 2 ready for reconnection). Any other script: `other-reason`.
fn supply_script(state: &mut DeviceState, params: &Value) -> (Value, u8) {
    let (output, control) = match params.as_u64() {
        Some(0x0033) => (true, 1),
        Some(0x0036) => (false, 2),
        _ => return (Value::Null, result::OTHER_REASON),
    };
    let Some(o) = objects_mut(state) else {
        return (Value::Null, result::OBJECT_UNDEFINED);
    };
    let dc = crate::models::obis::DISCONNECT_CONTROL;
    o.put(Attr::new(70, dc, 2), Value::Boolean(output));
    o.put(Attr::new(70, dc, 3), Value::Enum(control));
    (Value::Null, result::SUCCESS)
}

/// A device EUI with its key or link key hash.
type NamedDevice = ([u8; 8], Vec<u8>);

/// The most entries a HAN whitelist (the CHF device log) holds.
const WHITELIST_CAPACITY: usize = crate::cs::JOIN_CAPACITY * 4;

/// A restore_PAN parameter: `{ date-time, extended PAN ID, array of { EUI, link key hash }
/// }`, the backup's shape. `None` when it does not read so (or holds more devices than a
/// whitelist takes).
fn restore_parameter(params: &Value) -> Option<([u8; 8], Vec<NamedDevice>)> {
    let [_, pan, devices] = params.as_structure()? else {
        return None;
    };
    let pan: [u8; 8] = pan.as_octets()?.try_into().ok()?;
    let devices = devices.as_array()?;
    if devices.len() > WHITELIST_CAPACITY {
        return None;
    }
    let devices = devices
        .iter()
        .map(|d| {
            let m = d.as_structure()?;
            let eui: [u8; 8] = m.first()?.as_octets()?.try_into().ok()?;
            let hash = m.get(1).and_then(Value::as_octets).unwrap_or(&[]).to_vec();
            Some((eui, hash))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((pan, devices))
}

/// The EUIs (and keys) named by register_device / unregister_device parameters: one
/// octet-string, a structure whose first member is one, or an array of either.
fn named_devices(params: &Value) -> Option<Vec<([u8; 8], Vec<u8>)>> {
    let one = |v: &Value| -> Option<([u8; 8], Vec<u8>)> {
        match v {
            Value::OctetString(b) => Some((b.as_slice().try_into().ok()?, Vec::new())),
            Value::Structure(m) => {
                let eui = m.first()?.as_octets()?.try_into().ok()?;
                let key = m.get(1).and_then(Value::as_octets).unwrap_or(&[]).to_vec();
                Some((eui, key))
            }
            _ => None,
        }
    };
    match params {
        Value::Array(items) => items.iter().map(one).collect(),
        other => one(other).map(|d| vec![d]),
    }
}

fn han_action(
    state: &mut DeviceState,
    ctx: &Ctx,
    a: &Attr,
    params: &Value,
    now: i64,
    alerts: &mut Vec<AlertSpec>,
) -> (Value, u8) {
    let Some(i) = state.han_networks.iter().position(|n| n.obis == a.obis) else {
        return (Value::Null, result::OBJECT_UNDEFINED);
    };
    if a.id == 4 {
        return (state.han_networks[i].backup(now), result::SUCCESS);
    }
    let net = &mut state.han_networks[i];
    let mut changed = false;
    if a.id == 5 {
        let Some((pan, devices)) = restore_parameter(params) else {
            return (Value::Null, result::TYPE_UNMATCHED);
        };
        let restored: Vec<HanDevice> = devices
            .into_iter()
            .map(|(eui, hash)| HanDevice {
                eui,
                key: Vec::new(),
                hashed_link_key: hash,
            })
            .collect();
        changed = net.devices != restored || net.extended_pan_id != pan;
        net.devices = restored;
        net.extended_pan_id = pan;
    }
    let devices = if a.id == 5 {
        Vec::new()
    } else {
        let Some(devices) = named_devices(params) else {
            return (Value::Null, result::TYPE_UNMATCHED);
        };
        devices
    };
    if a.id == 1 {
        // The whitelist holds as many entries as a restore may bring back; a registration
        // that would take it past that is refused whole.
        let mut new: Vec<[u8; 8]> = devices
            .iter()
            .map(|(eui, _)| *eui)
            .filter(|eui| !net.devices.iter().any(|d| d.eui == *eui))
            .collect();
        new.sort_unstable();
        new.dedup();
        if net.devices.len() + new.len() > WHITELIST_CAPACITY {
            return (Value::Null, result::OTHER_REASON);
        }
    }
    for (eui, key) in devices {
        let present = net.devices.iter().position(|d| d.eui == eui);
        match (a.id, present) {
            (1, None) => {
                net.devices.push(HanDevice {
                    eui,
                    key,
                    hashed_link_key: Vec::new(),
                });
                changed = true;
            }
            // Already whitelisted: the key is discarded and the result is success.
            (1, Some(_)) => {}
            (_, Some(p)) => {
                net.devices.remove(p);
                changed = true;
            }
            (_, None) => {}
        }
    }
    let backup = net.backup(now);
    if changed {
        state.event_log.push(
            now,
            "han-whitelist-changed",
            format!("network {:?} by {:#06x}", a.obis, ctx.code),
        );
        if let Some(acb) = state.trusted.eui_of(role::ACB) {
            alerts.push(AlertSpec {
                message_code: alert_code::CS14,
                critical: false,
                recipient: acb,
                body: AlertBody::Dlms(Value::Structure(vec![
                    Value::LongUnsigned(alert::DEVICE_LOG_CHANGED),
                    Value::OctetString(time::cosem_from_unix(now).to_vec()),
                    backup,
                ])),
            });
        }
    }
    (Value::Null, result::SUCCESS)
}

/// Class 30 method 1: reads the listed attributes and returns them encrypted after the
/// echoed protection parameters.
fn protected_read(
    state: &DeviceState,
    ctx: &Ctx,
    params: &Value,
    now: i64,
) -> Result<(Value, u8), DeviceError> {
    let Some([objects_list, protection]) = params
        .as_structure()
        .and_then(|p| <&[Value; 2]>::try_from(p).ok())
    else {
        return Ok((Value::Null, result::TYPE_UNMATCHED));
    };
    let (Some(list), Some(prot)) = (objects_list.as_array(), protection.as_array()) else {
        return Ok((Value::Null, result::TYPE_UNMATCHED));
    };
    let mut values = Vec::with_capacity(list.len());
    for def in list {
        let Some(m) = def.as_structure() else {
            return Ok((Value::Null, result::TYPE_UNMATCHED));
        };
        let (Some(class_id), Some(obis), Some(id)) = (
            m.first().and_then(Value::as_u64),
            m.get(1)
                .and_then(Value::as_octets)
                .and_then(|o| <[u8; 6]>::try_from(o).ok()),
            m.get(2).and_then(Value::as_i64),
        ) else {
            return Ok((Value::Null, result::TYPE_UNMATCHED));
        };
        let selection = m.get(4).and_then(Value::as_structure).and_then(|s| {
            let selector = s.first()?.as_u64()?;
            (selector != 0).then(|| (selector as u8, s.get(1).cloned().unwrap_or(Value::Null)))
        });
        let a = Attr::new(
            u16::try_from(class_id).unwrap_or(0),
            obis,
            i8::try_from(id).unwrap_or(0),
        );
        let (v, code) = read(
            state,
            &a,
            selection.as_ref().map(|(s, p)| (*s, p)),
            now,
            tenancy_floor(state, ctx),
        );
        if code != result::SUCCESS {
            return Ok((Value::Null, code));
        }
        values.push(v);
    }
    // Echo the protection parameters with originator and recipient swapped; for an unknown
    // remote party the recipient is the command's originator (the ACB), as the RTDS URP
    // answer has it.
    let mut echoed = Vec::with_capacity(prot.len());
    for p in prot {
        let swapped = (|| {
            let outer = p.as_structure()?;
            let inner = outer.get(1)?.as_structure()?;
            let mut inner = inner.to_vec();
            if inner.len() < 3 {
                return None;
            }
            inner.swap(1, 2);
            if ctx.unknown_remote_party {
                inner[2] = Value::OctetString(ctx.originator.to_vec());
            }
            Some(Value::Structure(vec![
                outer[0].clone(),
                Value::Structure(inner),
            ]))
        })();
        match swapped {
            Some(v) => echoed.push(v),
            None => return Ok((Value::Null, result::TYPE_UNMATCHED)),
        }
    }
    let plaintext = Value::Structure(values).encode();
    let block = ctx.encrypt(&plaintext)?;
    Ok((
        Value::Structure(vec![Value::Array(echoed), Value::OctetString(block)]),
        result::SUCCESS,
    ))
}
