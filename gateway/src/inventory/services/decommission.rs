//! 8.3 Decommission Device: sets a device's status to Decommissioned (removed from DCC
//! services and from the premises).
//!
//! A Communications Hub (CHF, GPF) leaves through 8.14.3 / 8.14.4 instead
//! ([`RuleError::WrongDeviceType`], E11). Any status but Decommissioned may move to
//! Decommissioned ([`crate::inventory::rules`]); decommissioning twice is
//! [`RuleError::IllegalTransition`] (E5). Associations are kept as history; the
//! device's Smart Metering System is no longer enrolled.

use hubgate_protocol::duis::model::body::DecommissionDevice;
use hubgate_protocol::duis::model::xsd::Date;

use crate::inventory::db::Inventory;
use crate::inventory::error::InventoryError;
use crate::inventory::model::{DeviceStatus, DeviceType};
use crate::inventory::rules::{InventoryService, RuleError};
use crate::inventory::services::{ServiceOutcome, parse_id};

/// Runs 8.3 Decommission Device.
///
/// # Errors
///
/// [`RuleError::NotOnInventory`], [`RuleError::WrongDeviceType`],
/// [`RuleError::IllegalTransition`]; the store's.
pub fn decommission_device(
    inventory: &Inventory,
    body: &DecommissionDevice,
    today: &Date,
) -> Result<ServiceOutcome, InventoryError> {
    let id = parse_id(&body.device_id)?;
    let change = inventory.write(|t| {
        let d = t.require(&id)?;
        if matches!(d.device_type, DeviceType::Chf | DeviceType::Gpf) {
            return Err(RuleError::WrongDeviceType {
                id,
                device_type: d.device_type,
                what: "Decommission Device (a Communications Hub returns through 8.14.3 or 8.14.4)",
            }
            .into());
        }
        t.change_status(&id, DeviceStatus::Decommissioned, today)
    })?;
    Ok(ServiceOutcome::acknowledged(
        InventoryService::DecommissionDevice,
        vec![change],
    ))
}
