//! 8.14.1–8.14.4 Communications Hub Status Update: the installer tells the DCC what
//! happened to a Communications Hub.
//!
//! | SRV | body | CHF status | also |
//! |---|---|---|---|
//! | 8.14.1 Install Success | `CHFInstallSuccessSMWAN` | Commissioned (it reached the SMWAN), under the commissioning rules | the MPxN is recorded on the CHF |
//! | 8.14.2 Install, no SM WAN | `CHFInstallSuccessNoSMWAN` | InstalledNotCommissioned | the MPxN is recorded on the CHF |
//! | 8.14.3 Fault Return | `CHFFaultReturn` | Decommissioned | the hub's GPFs too |
//! | 8.14.4 No Fault Return | `CHFNoFaultReturn` | Decommissioned | the hub's GPFs too |
//!
//! The device must be a CHF ([`RuleError::WrongDeviceType`], E11); other status problems
//! are the lifecycle's ([`RuleError::IllegalTransition`], [`RuleError::NotCommissionable`],
//! E5). An install naming an MPxN that no Smart Meter on the inventory holds still succeeds,
//! with the warning W081401 instead of I99.
//!
//! The hub's GPF is the GPF associated with a GSME that is associated with the CHF (the GPF
//! lives in the hub), decommissioned with it unless already Decommissioned.

use hubgate_protocol::duis::model::ResponseCode;
use hubgate_protocol::duis::model::body::{
    CHFFaultReturn, CHFInstallSuccessNoSMWAN, CHFInstallSuccessSMWAN, CHFNoFaultReturn,
};
use hubgate_protocol::duis::model::xsd::Date;

use crate::inventory::db::{Inventory, InventoryTxn};
use crate::inventory::error::InventoryError;
use crate::inventory::model::{DeviceStatus, DeviceType, Eui};
use crate::inventory::rules::{InventoryService, RuleError, StatusChange};
use crate::inventory::services::{ServiceOutcome, parse_id};
use crate::inventory::view::InventoryView;

const SERVICE: InventoryService = InventoryService::ChStatusUpdate;

/// The warning for an install at an MPxN with no Smart Meter on the inventory.
fn w081401() -> ResponseCode {
    // Invariant: W081401 is in the DUIS 5.4 ResponseCode enumeration (tested below).
    ResponseCode::parse("W081401").expect("W081401 is a DUIS 5.4 response code")
}

/// Runs 8.14.1 Install Success (SM WAN available).
///
/// # Errors
///
/// The rules' errors; the store's.
pub fn install_success(
    inventory: &Inventory,
    body: &CHFInstallSuccessSMWAN,
    today: &Date,
) -> Result<ServiceOutcome, InventoryError> {
    install(
        inventory,
        &body.device_id,
        &body.mpxn,
        DeviceStatus::Commissioned,
        today,
    )
}

/// Runs 8.14.2 Install Success (no SM WAN).
///
/// # Errors
///
/// The rules' errors; the store's.
pub fn install_success_no_wan(
    inventory: &Inventory,
    body: &CHFInstallSuccessNoSMWAN,
    today: &Date,
) -> Result<ServiceOutcome, InventoryError> {
    install(
        inventory,
        &body.device_id,
        &body.mpxn,
        DeviceStatus::InstalledNotCommissioned,
        today,
    )
}

/// Runs 8.14.3 Fault Return.
///
/// # Errors
///
/// The rules' errors; the store's.
pub fn fault_return(
    inventory: &Inventory,
    body: &CHFFaultReturn,
    today: &Date,
) -> Result<ServiceOutcome, InventoryError> {
    parse_id(&body.other_device_id)?;
    hub_returned(inventory, &body.device_id, today)
}

/// Runs 8.14.4 No Fault Return.
///
/// # Errors
///
/// The rules' errors; the store's.
pub fn no_fault_return(
    inventory: &Inventory,
    body: &CHFNoFaultReturn,
    today: &Date,
) -> Result<ServiceOutcome, InventoryError> {
    hub_returned(inventory, &body.device_id, today)
}

fn require_chf(t: &InventoryTxn<'_>, id: &Eui) -> Result<(), InventoryError> {
    let d = t.require(id)?;
    if d.device_type != DeviceType::Chf {
        return Err(RuleError::WrongDeviceType {
            id: *id,
            device_type: d.device_type,
            what: "Communications Hub Status Update",
        }
        .into());
    }
    Ok(())
}

fn install(
    inventory: &Inventory,
    device_id: &str,
    mpxn: &str,
    to: DeviceStatus,
    today: &Date,
) -> Result<ServiceOutcome, InventoryError> {
    let id = parse_id(device_id)?;
    let (change, meter_known) = inventory.write(|t| {
        require_chf(t, &id)?;
        let change = t.change_status(&id, to, today)?;
        let mut chf = t.require(&id)?;
        chf.import_mpxn = Some(mpxn.to_owned());
        chf.validate()
            .map_err(|error| RuleError::InvalidField { id, error })?;
        t.put(&chf)?;
        let mut meter_known = false;
        for m in t.with_mpxn(mpxn)? {
            if t.device(&m)?
                .is_some_and(|d| d.device_type.is_smart_meter())
            {
                meter_known = true;
                break;
            }
        }
        Ok((change, meter_known))
    })?;
    let code = if meter_known {
        ResponseCode::I99
    } else {
        w081401()
    };
    Ok(ServiceOutcome::success(SERVICE, code, None, vec![change]))
}

fn hub_returned(
    inventory: &Inventory,
    device_id: &str,
    today: &Date,
) -> Result<ServiceOutcome, InventoryError> {
    let id = parse_id(device_id)?;
    let changes = inventory.write(|t| {
        require_chf(t, &id)?;
        let mut changes: Vec<StatusChange> =
            vec![t.change_status(&id, DeviceStatus::Decommissioned, today)?];
        let mut gpfs = Vec::new();
        for meter in t.associated_to(&id)? {
            if t.device(&meter)?
                .is_some_and(|m| m.device_type == DeviceType::Gsme)
            {
                for g in t.devices(&t.associated_to(&meter)?)? {
                    if g.device_type == DeviceType::Gpf && g.status != DeviceStatus::Decommissioned
                    {
                        gpfs.push(g.id);
                    }
                }
            }
        }
        gpfs.sort();
        gpfs.dedup();
        for g in gpfs {
            changes.push(t.change_status(&g, DeviceStatus::Decommissioned, today)?);
        }
        Ok(changes)
    })?;
    Ok(ServiceOutcome::acknowledged(SERVICE, changes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn warning_code_is_in_the_schema() {
        assert!(super::w081401().is_warning());
    }
}
