//! Every rule of the Smart Metering Inventory, in one place: the status lifecycle, the
//! commissioning rules, the associations, and what makes a Smart Metering System enrolled.
//! Services and the bulk import change a device only through [`change_status`],
//! [`check_association`] and [`check_record`]; they never set a status themselves.
//!
//! # Lifecycle
//!
//! Statuses are the schema's `sr:DeviceStatus` values. Allowed transitions (anything else,
//! including "to the same status", is [`RuleError::IllegalTransition`]):
//!
//! | from | to |
//! |---|---|
//! | Pending | Whitelisted, InstalledNotCommissioned, Commissioned¹, Decommissioned |
//! | Whitelisted | Pending, InstalledNotCommissioned, Decommissioned |
//! | InstalledNotCommissioned | Pending, Whitelisted, Commissioned¹, Withdrawn, Decommissioned |
//! | Commissioned | InstalledNotCommissioned, Withdrawn, Decommissioned, Suspended, Recovery |
//! | Withdrawn | Pending², InstalledNotCommissioned, Decommissioned |
//! | Decommissioned | Pending² |
//! | Suspended | Commissioned¹ ³, Withdrawn, Decommissioned |
//! | Recovery | Recovered, Decommissioned |
//! | Recovered | Commissioned¹ ³, Decommissioned |
//!
//! ¹ subject to the commissioning rules below. ² re-notification (SR 12.2) of a device that
//! left service, once reset. ³ reinstatement of a device that was commissioned before.
//!
//! # Commissioning rules (checked in this order)
//!
//! 1. The device is on the inventory ([`RuleError::NotOnInventory`]).
//! 2. Its status is Pending or InstalledNotCommissioned (or Suspended / Recovered, for a
//!    reinstatement) ([`RuleError::NotCommissionable`]).
//! 3. The CHF it is to be associated with — for a Smart Meter its own CHF, for any other
//!    device its meter's CHF — is commissioned ([`RuleError::ChfNotCommissioned`]). A CHF
//!    has no such condition: it is commissioned when it connects to the SMWAN.
//! 4. A Smart Meter: none of its MPxNs already has another commissioned Smart Meter
//!    ([`RuleError::MpxnHasCommissionedMeter`]).
//! 5. Any other device: the Smart Meter it is associated with is commissioned
//!    ([`RuleError::MeterNotCommissioned`]).
//!
//! A device whose association is not recorded (or names a device not on the inventory)
//! cannot be checked against 3–5 and is refused ([`RuleError::NoAssociation`],
//! [`RuleError::AssociatedDeviceMissing`]).
//!
//! An electricity Smart Metering System is enrolled when its ESME and its CHF are
//! commissioned; a gas one when its GSME, a GPF associated with it and its CHF are
//! ([`is_enrolled`]).
//!
//! # DUIS response codes
//!
//! [`RuleError::response_code`] maps each error, for the service that raised it
//! ([`InventoryService`]). General codes are used where their meaning fits (E5, E11, E19,
//! from the schema's enumeration and the DUIS summary in PROTOCOLS.md §2.3). The six-digit
//! service codes exist in the schema's enumeration but their meanings are not in our
//! sources; the assignment below is this project's and this table is the one place to change
//! it. Device services (for example 8.1.1 Commission Device, 8.11 Update HAN Device Log)
//! call these rules with [`InventoryService::DeviceService`] and get general codes only.
//!
//! | error | 8.2 | 8.3 / 8.14.x | 8.4 | 12.1 | 12.2 | device services |
//! |---|---|---|---|---|---|---|
//! | `NotOnInventory`, `InvalidDeviceId` | E19 | E19 | E19 | E19 | E19 | E19 |
//! | `WrongDeviceType` | E11 | E11 | E11 | E11 | E11 | E11 |
//! | `IllegalTransition`, `NotCommissionable`, `DeleteNotPending` | E5 | E5 | E5 | E5 | E5 | E5 |
//! | `NoMatch` | E080201 | E19 | E19 | E19 | E19 | E19 |
//! | `MpxnHasCommissionedMeter` | E5 | E5 | E080405 | E5 | E5 | E5 |
//! | `ChfNotCommissioned` | E5 | E5 | E080406 | E5 | E5 | E5 |
//! | `MeterNotCommissioned` | E5 | E5 | E080407 | E5 | E5 | E5 |
//! | `NoAssociation`, `AssociatedDeviceMissing` | E5 | E5 | E080408 | E5 | E5 | E5 |
//! | `AssociationNotAllowed` | E080409 | E080409 | E080409 | E080409 | E120203 | E5 |
//! | `HasAssociatedDevices` | E5 | E5 | E080410 | E5 | E5 | E5 |
//! | `InvalidField` | E080411 | E080411 | E080411 | E080411 | E120204 | E5 |
//! | `AlreadyOnInventory` | E5 | E5 | E5 | E5 | E120201 | E5 |
//! | `UnknownUprn` | E19 | E19 | E19 | E120101 | E19 | E19 |
//! | `NoCoverage` | E5 | E5 | E5 | E120102 | E5 | E5 |

use hubgate_protocol::duis::model::ResponseCode;
use hubgate_protocol::duis::model::xsd::Date;

use crate::inventory::error::InventoryError;
use crate::inventory::model::{Device, DeviceStatus, DeviceType, Eui, FieldError};
use crate::inventory::view::InventoryView;

/// The service a rule was checked for: it picks the response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InventoryService {
    /// 8.2 Read Inventory.
    ReadInventory,
    /// 8.3 Decommission Device.
    DecommissionDevice,
    /// 8.4 Update Inventory.
    UpdateInventory,
    /// 8.14.1–8.14.4 Communications Hub Status Update.
    ChStatusUpdate,
    /// 12.1 Request WAN Matrix.
    RequestWanMatrix,
    /// 12.2 Device Pre-notification.
    DevicePrenotification,
    /// A device service (or the bulk import) applying the rules.
    DeviceService,
}

/// A rule of the inventory that a request breaks: the requester's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The device is not on the inventory.
    #[error("device {0} is not on the Smart Metering Inventory")]
    NotOnInventory(Eui),
    /// A Device ID that is not an EUI-64.
    #[error("{0:?} is not a Device ID")]
    InvalidDeviceId(String),
    /// The service or change does not apply to this device type.
    #[error("{what} does not apply to device {id} of type {device_type}")]
    WrongDeviceType {
        /// The device.
        id: Eui,
        /// Its type.
        device_type: DeviceType,
        /// The service or change.
        what: &'static str,
    },
    /// The lifecycle does not allow this status change.
    #[error("device {id} cannot go from {from} to {to}")]
    IllegalTransition {
        /// The device.
        id: Eui,
        /// Its status.
        from: DeviceStatus,
        /// The requested status.
        to: DeviceStatus,
    },
    /// Commissioning needs status Pending or InstalledNotCommissioned.
    #[error(
        "device {id} is {status}: only a Pending or InstalledNotCommissioned device can be commissioned"
    )]
    NotCommissionable {
        /// The device.
        id: Eui,
        /// Its status.
        status: DeviceStatus,
    },
    /// The CHF the device is (to be) associated with is not commissioned.
    #[error("device {id}: its Communications Hub Function {chf} is {status}, not Commissioned")]
    ChfNotCommissioned {
        /// The device.
        id: Eui,
        /// The CHF.
        chf: Eui,
        /// The CHF's status.
        status: DeviceStatus,
    },
    /// Another Smart Meter is already commissioned on the MPxN.
    #[error("device {id}: MPxN {mpxn} already has the commissioned Smart Meter {meter}")]
    MpxnHasCommissionedMeter {
        /// The meter being commissioned (or changed).
        id: Eui,
        /// The MPxN.
        mpxn: String,
        /// The commissioned meter holding it.
        meter: Eui,
    },
    /// The Smart Meter the device is associated with is not commissioned.
    #[error("device {id}: its Smart Meter {meter} is {status}, not Commissioned")]
    MeterNotCommissioned {
        /// The device.
        id: Eui,
        /// The meter.
        meter: Eui,
        /// The meter's status.
        status: DeviceStatus,
    },
    /// The association the rules need is not recorded.
    #[error("device {id} has no associated {needed} on the inventory")]
    NoAssociation {
        /// The device.
        id: Eui,
        /// What is missing ("Communications Hub Function", "Smart Meter").
        needed: &'static str,
    },
    /// The recorded association names a device that is not on the inventory.
    #[error("device {id} is associated with {associated}, which is not on the inventory")]
    AssociatedDeviceMissing {
        /// The device.
        id: Eui,
        /// The missing device.
        associated: Eui,
    },
    /// This association is not possible.
    #[error("device {id} cannot be associated with {target}: {reason}")]
    AssociationNotAllowed {
        /// The device.
        id: Eui,
        /// The intended device.
        target: Eui,
        /// Why.
        reason: String,
    },
    /// Other devices are associated with the device.
    #[error("device {id} has associated devices ({}); remove those associations first", list(.children))]
    HasAssociatedDevices {
        /// The device.
        id: Eui,
        /// The devices associated with it.
        children: Vec<Eui>,
    },
    /// Only a Pending device can be deleted from the inventory.
    #[error("device {id} is {status}: only a Pending device can be deleted")]
    DeleteNotPending {
        /// The device.
        id: Eui,
        /// Its status.
        status: DeviceStatus,
    },
    /// A value the schema or the device type does not allow.
    #[error("device {id}: {error}")]
    InvalidField {
        /// The device.
        id: Eui,
        /// The field and why.
        error: FieldError,
    },
    /// Pre-notification of a device already on the inventory (and in service).
    #[error("device {id} is already on the inventory ({status})")]
    AlreadyOnInventory {
        /// The device.
        id: Eui,
        /// Its status.
        status: DeviceStatus,
    },
    /// A search found no device.
    #[error("no device on the inventory matches {0}")]
    NoMatch(String),
    /// The UPRN is not known.
    #[error("UPRN {0} is not known")]
    UnknownUprn(u64),
    /// The WAN matrix has no entry for the post code.
    #[error("no WAN coverage data for post code {0:?}")]
    NoCoverage(String),
}

fn list(ids: &[Eui]) -> String {
    ids.iter()
        .map(Eui::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A code from the schema's `ResponseCode` enumeration.
fn code(s: &'static str) -> ResponseCode {
    // Invariant: every literal passed here is in the DUIS 5.4 ResponseCode enumeration
    // (the test `every_mapped_code_is_in_the_schema` checks each one).
    ResponseCode::parse(s).expect("code listed in the DUIS 5.4 ResponseCode enumeration")
}

impl RuleError {
    /// The DUIS response code answering this error in `service` (see the module table).
    pub fn response_code(&self, service: InventoryService) -> ResponseCode {
        use InventoryService as S;
        use RuleError as R;
        let update = service == S::UpdateInventory;
        let device = service == S::DeviceService;
        match self {
            R::NotOnInventory(_) | R::InvalidDeviceId(_) => code("E19"),
            R::WrongDeviceType { .. } => code("E11"),
            R::IllegalTransition { .. }
            | R::NotCommissionable { .. }
            | R::DeleteNotPending { .. } => code("E5"),
            R::NoMatch(_) if service == S::ReadInventory => code("E080201"),
            R::NoMatch(_) => code("E19"),
            R::MpxnHasCommissionedMeter { .. } if update => code("E080405"),
            R::ChfNotCommissioned { .. } if update => code("E080406"),
            R::MeterNotCommissioned { .. } if update => code("E080407"),
            R::NoAssociation { .. } | R::AssociatedDeviceMissing { .. } if update => {
                code("E080408")
            }
            R::HasAssociatedDevices { .. } if update => code("E080410"),
            R::MpxnHasCommissionedMeter { .. }
            | R::ChfNotCommissioned { .. }
            | R::MeterNotCommissioned { .. }
            | R::NoAssociation { .. }
            | R::AssociatedDeviceMissing { .. }
            | R::HasAssociatedDevices { .. } => code("E5"),
            R::AssociationNotAllowed { .. } if device => code("E5"),
            R::AssociationNotAllowed { .. } if service == S::DevicePrenotification => {
                code("E120203")
            }
            R::AssociationNotAllowed { .. } => code("E080409"),
            R::InvalidField { .. } if device => code("E5"),
            R::InvalidField { .. } if service == S::DevicePrenotification => code("E120204"),
            R::InvalidField { .. } => code("E080411"),
            R::AlreadyOnInventory { .. } if service == S::DevicePrenotification => code("E120201"),
            R::AlreadyOnInventory { .. } => code("E5"),
            R::UnknownUprn(_) if service == S::RequestWanMatrix => code("E120101"),
            R::UnknownUprn(_) => code("E19"),
            R::NoCoverage(_) if service == S::RequestWanMatrix => code("E120102"),
            R::NoCoverage(_) => code("E5"),
        }
    }
}

/// A status change that was applied, for the modules that react to one (schedules are
/// removed on withdrawal and decommissioning; suppliers are told of commissioning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// The device.
    pub id: Eui,
    /// Its type.
    pub device_type: DeviceType,
    /// The status before.
    pub from: DeviceStatus,
    /// The status after.
    pub to: DeviceStatus,
}

/// Whether the lifecycle allows `from` → `to` (see the module table). Commissioning also
/// needs [`check_commission`].
pub fn transition_allowed(from: DeviceStatus, to: DeviceStatus) -> bool {
    use DeviceStatus::*;
    matches!(
        (from, to),
        (
            Pending,
            Whitelisted | InstalledNotCommissioned | Commissioned | Decommissioned
        ) | (
            Whitelisted,
            Pending | InstalledNotCommissioned | Decommissioned
        ) | (
            InstalledNotCommissioned,
            Pending | Whitelisted | Commissioned | Withdrawn | Decommissioned
        ) | (
            Commissioned,
            InstalledNotCommissioned | Withdrawn | Decommissioned | Suspended | Recovery
        ) | (
            Withdrawn,
            Pending | InstalledNotCommissioned | Decommissioned
        ) | (Decommissioned, Pending)
            | (Suspended, Commissioned | Withdrawn | Decommissioned)
            | (Recovery, Recovered | Decommissioned)
            | (Recovered, Commissioned | Decommissioned)
    )
}

/// Checks that `device` may move to `to` and returns it updated (status, and
/// `DateCommissioned` = `today` when it is commissioned from Pending or
/// InstalledNotCommissioned), with the change. Nothing is written.
///
/// # Errors
///
/// [`RuleError::IllegalTransition`], the commissioning rules' errors when `to` is
/// Commissioned, or the view's errors.
pub fn change_status(
    view: &impl InventoryView,
    device: &Device,
    to: DeviceStatus,
    today: &Date,
) -> Result<(Device, StatusChange), InventoryError> {
    let from = device.status;
    if to == DeviceStatus::Commissioned {
        check_commission(view, device)?;
    } else if !transition_allowed(from, to) {
        return Err(RuleError::IllegalTransition {
            id: device.id,
            from,
            to,
        }
        .into());
    }
    let mut d = device.clone();
    d.status = to;
    if to == DeviceStatus::Commissioned
        && matches!(
            from,
            DeviceStatus::Pending | DeviceStatus::InstalledNotCommissioned
        )
    {
        d.date_commissioned = Some(today.as_str().to_owned());
    }
    let change = StatusChange {
        id: d.id,
        device_type: d.device_type,
        from,
        to,
    };
    Ok((d, change))
}

/// The commissioning rules 2–5 for `device` (rule 1 holds: the caller read it from the
/// inventory). Reinstatement (from Suspended or Recovered) is checked like commissioning.
///
/// # Errors
///
/// [`RuleError::NotCommissionable`] and the errors of [`commission_prerequisites`].
pub fn check_commission(view: &impl InventoryView, device: &Device) -> Result<(), InventoryError> {
    match device.status {
        DeviceStatus::Pending | DeviceStatus::InstalledNotCommissioned => {}
        DeviceStatus::Suspended | DeviceStatus::Recovered => {}
        status => {
            return Err(RuleError::NotCommissionable {
                id: device.id,
                status,
            }
            .into());
        }
    }
    commission_prerequisites(view, device)
}

/// Rules 3–5: what must already be commissioned for `device` to be commissioned (its CHF,
/// its meter), and a Smart Meter's MPxNs free of other commissioned meters.
///
/// # Errors
///
/// [`RuleError::ChfNotCommissioned`], [`RuleError::MpxnHasCommissionedMeter`],
/// [`RuleError::MeterNotCommissioned`], [`RuleError::NoAssociation`],
/// [`RuleError::AssociatedDeviceMissing`], or the view's errors.
pub fn commission_prerequisites(
    view: &impl InventoryView,
    device: &Device,
) -> Result<(), InventoryError> {
    match device.device_type {
        DeviceType::Chf => Ok(()),
        DeviceType::Esme | DeviceType::Gsme => {
            let chf = associated(view, device, "Communications Hub Function")?;
            require_chf_commissioned(device, &chf)?;
            check_mpxns_free(view, device)
        }
        _ => {
            let meter = associated(view, device, "Smart Meter")?;
            let chf = associated(view, &meter, "Communications Hub Function").map_err(|e| {
                match e {
                    // Report it against the device being commissioned.
                    InventoryError::Rule(RuleError::NoAssociation { needed, .. }) => {
                        RuleError::NoAssociation {
                            id: device.id,
                            needed,
                        }
                        .into()
                    }
                    other => other,
                }
            })?;
            require_chf_commissioned(device, &chf)?;
            if meter.status != DeviceStatus::Commissioned {
                return Err(RuleError::MeterNotCommissioned {
                    id: device.id,
                    meter: meter.id,
                    status: meter.status,
                }
                .into());
            }
            Ok(())
        }
    }
}

fn require_chf_commissioned(device: &Device, chf: &Device) -> Result<(), InventoryError> {
    if chf.status != DeviceStatus::Commissioned {
        return Err(RuleError::ChfNotCommissioned {
            id: device.id,
            chf: chf.id,
            status: chf.status,
        }
        .into());
    }
    Ok(())
}

/// The device `device` is associated with.
fn associated(
    view: &impl InventoryView,
    device: &Device,
    needed: &'static str,
) -> Result<Device, InventoryError> {
    let Some(target) = device.associated_with else {
        return Err(RuleError::NoAssociation {
            id: device.id,
            needed,
        }
        .into());
    };
    view.device(&target)?.ok_or_else(|| {
        RuleError::AssociatedDeviceMissing {
            id: device.id,
            associated: target,
        }
        .into()
    })
}

/// Rule 4 for a Smart Meter: none of its MPxNs has another commissioned Smart Meter. Other
/// device types pass.
///
/// # Errors
///
/// [`RuleError::MpxnHasCommissionedMeter`], or the view's errors.
pub fn check_mpxns_free(view: &impl InventoryView, device: &Device) -> Result<(), InventoryError> {
    if !device.device_type.is_smart_meter() {
        return Ok(());
    }
    for mpxn in device.mpxns() {
        for other in view.with_mpxn(mpxn)? {
            if other == device.id {
                continue;
            }
            if let Some(o) = view.device(&other)?
                && o.device_type.is_smart_meter()
                && o.status == DeviceStatus::Commissioned
            {
                return Err(RuleError::MpxnHasCommissionedMeter {
                    id: device.id,
                    mpxn: mpxn.to_owned(),
                    meter: o.id,
                }
                .into());
            }
        }
    }
    Ok(())
}

/// Checks that `device` may be Associated with `target` (the type pairs of the model, a
/// target on the inventory and not decommissioned), and returns the target.
///
/// # Errors
///
/// [`RuleError::AssociationNotAllowed`], or the view's errors.
pub fn check_association(
    view: &impl InventoryView,
    device: &Device,
    target: &Eui,
) -> Result<Device, InventoryError> {
    let refuse = |reason: String| -> InventoryError {
        RuleError::AssociationNotAllowed {
            id: device.id,
            target: *target,
            reason,
        }
        .into()
    };
    if *target == device.id {
        return Err(refuse("a device cannot be Associated with itself".into()));
    }
    let Some(t) = view.device(target)? else {
        return Err(refuse("it is not on the inventory".into()));
    };
    let allowed = device.device_type.association_targets();
    if !allowed.contains(&t.device_type) {
        let names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
        return Err(refuse(format!(
            "a {} is associated with {}, not with a {}",
            device.device_type,
            if names.is_empty() {
                "nothing".to_owned()
            } else {
                names.join(" or ")
            },
            t.device_type
        )));
    }
    if t.status == DeviceStatus::Decommissioned {
        return Err(refuse("it is Decommissioned".into()));
    }
    Ok(t)
}

/// Checks a whole record before it is stored as given (bulk import, direct inserts): field
/// facets, its association, and — for a Commissioned device — the commissioning
/// prerequisites (rules 3–5), so that imported data keeps every invariant the services keep.
///
/// # Errors
///
/// [`RuleError::InvalidField`], the errors of [`check_association`] and
/// [`commission_prerequisites`].
pub fn check_record(view: &impl InventoryView, device: &Device) -> Result<(), InventoryError> {
    device.validate().map_err(|error| RuleError::InvalidField {
        id: device.id,
        error,
    })?;
    if let Some(target) = &device.associated_with {
        check_association(view, device, target)?;
    }
    if device.status == DeviceStatus::Commissioned {
        commission_prerequisites(view, device)?;
    }
    Ok(())
}

/// Whether the Smart Metering System of the Smart Meter `meter` is enrolled: an ESME and its
/// CHF commissioned; a GSME, its CHF and a GPF associated with it commissioned.
///
/// # Errors
///
/// [`RuleError::NotOnInventory`], [`RuleError::WrongDeviceType`] for a device that is not
/// a Smart Meter, or the view's errors.
pub fn is_enrolled(view: &impl InventoryView, meter: &Eui) -> Result<bool, InventoryError> {
    let m = view
        .device(meter)?
        .ok_or(RuleError::NotOnInventory(*meter))?;
    if !m.device_type.is_smart_meter() {
        return Err(RuleError::WrongDeviceType {
            id: m.id,
            device_type: m.device_type,
            what: "enrolment",
        }
        .into());
    }
    if m.status != DeviceStatus::Commissioned {
        return Ok(false);
    }
    let chf_ok = match m.associated_with {
        Some(c) => view.device(&c)?.is_some_and(|c| {
            c.device_type == DeviceType::Chf && c.status == DeviceStatus::Commissioned
        }),
        None => false,
    };
    if !chf_ok {
        return Ok(false);
    }
    if m.device_type == DeviceType::Esme {
        return Ok(true);
    }
    for child in view.associated_to(meter)? {
        if view.device(&child)?.is_some_and(|g| {
            g.device_type == DeviceType::Gpf && g.status == DeviceStatus::Commissioned
        }) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use DeviceStatus::*;

    fn eui(n: u8) -> Eui {
        Eui([0, 0xDB, 0x12, 0x34, 0x56, 0x78, 0x90, n])
    }

    const CHF: u8 = 1;
    const ESME: u8 = 2;
    const GSME: u8 = 3;
    const GPF: u8 = 4;
    const PPMID: u8 = 5;
    const OLD_ESME: u8 = 6;

    fn today() -> Date {
        Date::new("2025-12-28").unwrap()
    }

    /// A CHF with an ESME (MPAN), a GSME (MPRN) with its GPF, and a PPMID on the ESME; all
    /// Pending.
    fn premises() -> BTreeMap<Eui, Device> {
        let mut m = BTreeMap::new();
        let mut add = |n: u8, t: DeviceType, with: Option<u8>, mpxn: Option<&str>| {
            let mut d = Device::new(eui(n), t, "AB01", "010A030B");
            d.associated_with = with.map(eui);
            d.import_mpxn = mpxn.map(str::to_owned);
            m.insert(d.id, d);
        };
        add(CHF, DeviceType::Chf, None, None);
        add(ESME, DeviceType::Esme, Some(CHF), Some("1100000000001"));
        add(GSME, DeviceType::Gsme, Some(CHF), Some("1234567890"));
        add(GPF, DeviceType::Gpf, Some(GSME), None);
        add(PPMID, DeviceType::Ppmid, Some(ESME), None);
        m
    }

    fn set(m: &mut BTreeMap<Eui, Device>, n: u8, s: DeviceStatus) {
        if let Some(d) = m.get_mut(&eui(n)) {
            d.status = s;
        }
    }

    fn commission(m: &mut BTreeMap<Eui, Device>, n: u8) -> Result<StatusChange, RuleError> {
        let d = m[&eui(n)].clone();
        match change_status(m, &d, Commissioned, &today()) {
            Ok((d, c)) => {
                m.insert(d.id, d);
                Ok(c)
            }
            Err(InventoryError::Rule(r)) => Err(r),
            Err(e) => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn commissioning_in_order_enrols_both_systems() {
        let mut m = premises();
        assert!(!is_enrolled(&m, &eui(ESME)).unwrap());
        let c = commission(&mut m, CHF).unwrap();
        assert_eq!((c.from, c.to), (Pending, Commissioned));
        assert_eq!(
            m[&eui(CHF)].date_commissioned.as_deref(),
            Some("2025-12-28")
        );
        assert!(!is_enrolled(&m, &eui(ESME)).unwrap());
        commission(&mut m, ESME).unwrap();
        assert!(is_enrolled(&m, &eui(ESME)).unwrap(), "ESME + CHF");
        commission(&mut m, PPMID).unwrap();
        commission(&mut m, GSME).unwrap();
        assert!(
            !is_enrolled(&m, &eui(GSME)).unwrap(),
            "gas needs its GPF too"
        );
        commission(&mut m, GPF).unwrap();
        assert!(is_enrolled(&m, &eui(GSME)).unwrap(), "GSME + GPF + CHF");
        set(&mut m, CHF, Decommissioned);
        assert!(!is_enrolled(&m, &eui(ESME)).unwrap());
        assert!(!is_enrolled(&m, &eui(GSME)).unwrap());
        assert!(matches!(
            is_enrolled(&m, &eui(GPF)),
            Err(InventoryError::Rule(RuleError::WrongDeviceType { .. }))
        ));
        assert!(matches!(
            is_enrolled(&m, &eui(99)),
            Err(InventoryError::Rule(RuleError::NotOnInventory(_)))
        ));
    }

    #[test]
    fn rule_status_must_be_pending_or_installed_not_commissioned() {
        for s in DeviceStatus::ALL {
            let mut m = premises();
            set(&mut m, CHF, *s);
            let r = commission(&mut m, CHF);
            match s {
                Pending | InstalledNotCommissioned | Suspended | Recovered => {
                    assert!(r.is_ok(), "{s}: {r:?}")
                }
                _ => assert_eq!(
                    r,
                    Err(RuleError::NotCommissionable {
                        id: eui(CHF),
                        status: *s
                    }),
                    "{s}"
                ),
            }
        }
    }

    #[test]
    fn rule_chf_must_be_commissioned() {
        let mut m = premises();
        set(&mut m, CHF, InstalledNotCommissioned);
        assert_eq!(
            commission(&mut m, ESME),
            Err(RuleError::ChfNotCommissioned {
                id: eui(ESME),
                chf: eui(CHF),
                status: InstalledNotCommissioned
            })
        );
        // Via the meter, for other devices, checked before the meter itself.
        assert_eq!(
            commission(&mut m, PPMID),
            Err(RuleError::ChfNotCommissioned {
                id: eui(PPMID),
                chf: eui(CHF),
                status: InstalledNotCommissioned
            })
        );
    }

    #[test]
    fn rule_mpxn_must_not_have_a_commissioned_meter() {
        let mut m = premises();
        commission(&mut m, CHF).unwrap();
        let mut old = Device::new(eui(OLD_ESME), DeviceType::Esme, "AB01", "M");
        old.import_mpxn = Some("9999999999999".into());
        old.secondary_import_mpan = Some("1100000000001".into());
        old.associated_with = Some(eui(CHF));
        old.status = Commissioned;
        m.insert(old.id, old);
        assert_eq!(
            commission(&mut m, ESME),
            Err(RuleError::MpxnHasCommissionedMeter {
                id: eui(ESME),
                mpxn: "1100000000001".into(),
                meter: eui(OLD_ESME)
            })
        );
        // Once the old meter is decommissioned, the MPxN is free.
        set(&mut m, OLD_ESME, Decommissioned);
        commission(&mut m, ESME).unwrap();
    }

    #[test]
    fn rule_other_devices_need_their_meter_commissioned() {
        let mut m = premises();
        commission(&mut m, CHF).unwrap();
        assert_eq!(
            commission(&mut m, PPMID),
            Err(RuleError::MeterNotCommissioned {
                id: eui(PPMID),
                meter: eui(ESME),
                status: Pending
            })
        );
        assert_eq!(
            commission(&mut m, GPF),
            Err(RuleError::MeterNotCommissioned {
                id: eui(GPF),
                meter: eui(GSME),
                status: Pending
            })
        );
        commission(&mut m, GSME).unwrap();
        commission(&mut m, GPF).unwrap();
    }

    #[test]
    fn rule_associations_must_be_recorded() {
        let mut m = premises();
        commission(&mut m, CHF).unwrap();
        m.get_mut(&eui(ESME)).unwrap().associated_with = None;
        assert_eq!(
            commission(&mut m, ESME),
            Err(RuleError::NoAssociation {
                id: eui(ESME),
                needed: "Communications Hub Function"
            })
        );
        assert_eq!(
            commission(&mut m, PPMID),
            Err(RuleError::NoAssociation {
                id: eui(PPMID),
                needed: "Communications Hub Function"
            })
        );
        m.get_mut(&eui(PPMID)).unwrap().associated_with = Some(eui(77));
        assert_eq!(
            commission(&mut m, PPMID),
            Err(RuleError::AssociatedDeviceMissing {
                id: eui(PPMID),
                associated: eui(77)
            })
        );
    }

    #[test]
    fn every_illegal_transition_is_refused() {
        let m = premises();
        let mut allowed = 0;
        for from in DeviceStatus::ALL {
            for to in DeviceStatus::ALL {
                if *to == Commissioned {
                    continue; // covered by the commissioning tests
                }
                let mut d = m[&eui(CHF)].clone();
                d.status = *from;
                let r = change_status(&m, &d, *to, &today());
                if transition_allowed(*from, *to) {
                    allowed += 1;
                    let (d, c) = r.unwrap();
                    assert_eq!((d.status, c.from, c.to), (*to, *from, *to));
                } else {
                    assert!(
                        matches!(
                            r,
                            Err(InventoryError::Rule(RuleError::IllegalTransition { from: f, to: t, .. }))
                                if f == *from && t == *to
                        ),
                        "{from} -> {to} must be refused"
                    );
                }
            }
        }
        assert_eq!(allowed, 24, "the table in the module documentation");
        for s in DeviceStatus::ALL {
            assert!(!transition_allowed(*s, *s), "{s} -> {s}");
        }
        // Only re-notification leads out of Decommissioned.
        for s in DeviceStatus::ALL {
            assert_eq!(
                transition_allowed(Decommissioned, *s),
                *s == Pending,
                "Decommissioned -> {s}"
            );
        }
    }

    #[test]
    fn decommissioned_device_cannot_be_commissioned() {
        let mut m = premises();
        set(&mut m, CHF, Decommissioned);
        assert_eq!(
            commission(&mut m, CHF),
            Err(RuleError::NotCommissionable {
                id: eui(CHF),
                status: Decommissioned
            })
        );
    }

    #[test]
    fn reinstatement_keeps_the_commissioning_date() {
        let mut m = premises();
        commission(&mut m, CHF).unwrap();
        m.get_mut(&eui(CHF)).unwrap().date_commissioned = Some("2020-01-01".into());
        set(&mut m, CHF, Suspended);
        commission(&mut m, CHF).unwrap();
        assert_eq!(
            m[&eui(CHF)].date_commissioned.as_deref(),
            Some("2020-01-01")
        );
    }

    #[test]
    fn association_type_pairs() {
        let m = premises();
        let ok = |n: u8, t: u8| check_association(&m, &m[&eui(n)], &eui(t)).is_ok();
        assert!(ok(ESME, CHF));
        assert!(ok(GPF, GSME));
        assert!(ok(PPMID, GSME));
        assert!(!ok(GPF, ESME));
        assert!(!ok(ESME, GSME));
        assert!(!ok(CHF, ESME));
        assert!(!ok(PPMID, CHF));
        assert!(!ok(ESME, ESME));
        assert!(!ok(ESME, 99));
        let mut m2 = m.clone();
        set(&mut m2, CHF, Decommissioned);
        assert!(check_association(&m2, &m2[&eui(ESME)], &eui(CHF)).is_err());
    }

    #[test]
    fn records_keep_the_invariants() {
        let mut m = premises();
        let mut d = m[&eui(ESME)].clone();
        d.status = Commissioned;
        assert!(matches!(
            check_record(&m, &d),
            Err(InventoryError::Rule(RuleError::ChfNotCommissioned { .. }))
        ));
        set(&mut m, CHF, Commissioned);
        check_record(&m, &d).unwrap();
        d.model = "x".repeat(31);
        assert!(matches!(
            check_record(&m, &d),
            Err(InventoryError::Rule(RuleError::InvalidField { .. }))
        ));
    }

    #[test]
    fn every_mapped_code_is_in_the_schema() {
        let id = eui(1);
        let field = FieldError {
            field: "X",
            reason: String::new(),
        };
        let errors = [
            RuleError::NotOnInventory(id),
            RuleError::InvalidDeviceId(String::new()),
            RuleError::WrongDeviceType {
                id,
                device_type: DeviceType::Chf,
                what: "x",
            },
            RuleError::IllegalTransition {
                id,
                from: Pending,
                to: Pending,
            },
            RuleError::NotCommissionable {
                id,
                status: Pending,
            },
            RuleError::ChfNotCommissioned {
                id,
                chf: id,
                status: Pending,
            },
            RuleError::MpxnHasCommissionedMeter {
                id,
                mpxn: String::new(),
                meter: id,
            },
            RuleError::MeterNotCommissioned {
                id,
                meter: id,
                status: Pending,
            },
            RuleError::NoAssociation { id, needed: "x" },
            RuleError::AssociatedDeviceMissing { id, associated: id },
            RuleError::AssociationNotAllowed {
                id,
                target: id,
                reason: String::new(),
            },
            RuleError::HasAssociatedDevices {
                id,
                children: vec![id],
            },
            RuleError::DeleteNotPending {
                id,
                status: Pending,
            },
            RuleError::InvalidField { id, error: field },
            RuleError::AlreadyOnInventory {
                id,
                status: Pending,
            },
            RuleError::NoMatch(String::new()),
            RuleError::UnknownUprn(1),
            RuleError::NoCoverage(String::new()),
        ];
        use InventoryService as S;
        let services = [
            S::ReadInventory,
            S::DecommissionDevice,
            S::UpdateInventory,
            S::ChStatusUpdate,
            S::RequestWanMatrix,
            S::DevicePrenotification,
            S::DeviceService,
        ];
        for e in &errors {
            for s in services {
                let c = e.response_code(s);
                assert!(c.is_error(), "{e} in {s:?}: {c}");
                if s == S::DeviceService {
                    assert!(
                        c.as_str().len() <= 3,
                        "device services get general codes: {c}"
                    );
                }
            }
        }
        assert_eq!(
            RuleError::NoMatch(String::new())
                .response_code(S::ReadInventory)
                .as_str(),
            "E080201"
        );
        assert_eq!(
            errors[6].response_code(S::UpdateInventory).as_str(),
            "E080405"
        );
    }
}
