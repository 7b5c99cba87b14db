//! 8.4 Update Inventory: one change to one device.
//!
//! | choice | applies to | effect |
//! |---|---|---|
//! | `UpdateDeviceStatusExceptCH` (Pending, InstalledNotCommissioned) | any device but CHF and GPF | status change under the lifecycle rules |
//! | `UpdateDeviceStatusCH` (Commissioned, Withdrawn, InstalledNotCommissioned) | CHF, GPF | status change; Commissioned under the commissioning rules |
//! | `UpdateDeviceDetails` | any device | the given fields replaced (schema facets checked) |
//! | `DeleteDevice` | a Pending device nothing is associated with | the record removed |
//! | `UpdateMPxN` | `ImportMPxN`: ESME, GSME; `SecondaryImportMPAN`, `ExportMPAN`: ESME | the MPxN replaced; a commissioned meter's new MPxN must not have another commissioned meter |
//!
//! A device type a choice does not apply to is [`RuleError::WrongDeviceType`] (E11).

use hubgate_protocol::duis::model::body::{
    UpdateDeviceDetails, UpdateDeviceStatusCH, UpdateDeviceStatusExceptCH, UpdateInventory,
    UpdateInventoryChoice, UpdateMPxN,
};
use hubgate_protocol::duis::model::xsd::Date;

use crate::inventory::db::{Inventory, InventoryTxn};
use crate::inventory::error::InventoryError;
use crate::inventory::model::{Device, DeviceStatus, DeviceType, Eui};
use crate::inventory::rules::{self, InventoryService, RuleError, StatusChange};
use crate::inventory::services::{ServiceOutcome, parse_id};
use crate::inventory::view::InventoryView;

/// Runs 8.4 Update Inventory.
///
/// # Errors
///
/// The rules' errors (see the module table); the store's.
pub fn update_inventory(
    inventory: &Inventory,
    body: &UpdateInventory,
    today: &Date,
) -> Result<ServiceOutcome, InventoryError> {
    let id = parse_id(&body.device_id)?;
    let changes = inventory.write(|t| {
        let d = t.require(&id)?;
        match &body.choice {
            UpdateInventoryChoice::UpdateDeviceStatusExceptCH(s) => {
                if is_ch(d.device_type) {
                    return Err(wrong_type(&d, "UpdateDeviceStatusExceptCH"));
                }
                let to = match s {
                    UpdateDeviceStatusExceptCH::Pending => DeviceStatus::Pending,
                    UpdateDeviceStatusExceptCH::InstalledNotCommissioned => {
                        DeviceStatus::InstalledNotCommissioned
                    }
                };
                Ok(vec![t.change_status(&id, to, today)?])
            }
            UpdateInventoryChoice::UpdateDeviceStatusCH(s) => {
                if !is_ch(d.device_type) {
                    return Err(wrong_type(&d, "UpdateDeviceStatusCH"));
                }
                let to = match s {
                    UpdateDeviceStatusCH::Commissioned => DeviceStatus::Commissioned,
                    UpdateDeviceStatusCH::Withdrawn => DeviceStatus::Withdrawn,
                    UpdateDeviceStatusCH::InstalledNotCommissioned => {
                        DeviceStatus::InstalledNotCommissioned
                    }
                };
                Ok(vec![t.change_status(&id, to, today)?])
            }
            UpdateInventoryChoice::UpdateDeviceDetails(u) => {
                update_details(t, d, u)?;
                Ok(Vec::new())
            }
            UpdateInventoryChoice::DeleteDevice(_) => {
                delete(t, &d)?;
                Ok(Vec::<StatusChange>::new())
            }
            UpdateInventoryChoice::UpdateMPxN(u) => {
                update_mpxn(t, d, u)?;
                Ok(Vec::new())
            }
        }
    })?;
    Ok(ServiceOutcome::acknowledged(
        InventoryService::UpdateInventory,
        changes,
    ))
}

fn is_ch(t: DeviceType) -> bool {
    matches!(t, DeviceType::Chf | DeviceType::Gpf)
}

fn wrong_type(d: &Device, what: &'static str) -> InventoryError {
    RuleError::WrongDeviceType {
        id: d.id,
        device_type: d.device_type,
        what,
    }
    .into()
}

fn invalid(id: Eui, error: crate::inventory::model::FieldError) -> InventoryError {
    RuleError::InvalidField { id, error }.into()
}

fn update_details(
    t: &mut InventoryTxn<'_>,
    mut d: Device,
    u: &UpdateDeviceDetails,
) -> Result<(), InventoryError> {
    if let Some(v) = &u.device_manufacturer {
        d.manufacturer = v.clone();
    }
    if let Some(v) = &u.device_model {
        d.model = v.clone();
    }
    if let Some(v) = &u.smetschts_version {
        d.smets_chts_version = Some(v.clone());
    }
    if let Some(v) = &u.firmware_version {
        d.firmware_version = Some(v.clone());
    }
    if let Some(v) = &u.esme_variant {
        d.esme_variant = Some(v.as_str().to_owned());
    }
    d.validate().map_err(|e| invalid(d.id, e))?;
    t.put(&d)
}

fn delete(t: &mut InventoryTxn<'_>, d: &Device) -> Result<(), InventoryError> {
    if d.status != DeviceStatus::Pending {
        return Err(RuleError::DeleteNotPending {
            id: d.id,
            status: d.status,
        }
        .into());
    }
    let children = t.associated_to(&d.id)?;
    if !children.is_empty() {
        return Err(RuleError::HasAssociatedDevices { id: d.id, children }.into());
    }
    t.delete(&d.id)?;
    Ok(())
}

fn update_mpxn(
    t: &mut InventoryTxn<'_>,
    mut d: Device,
    u: &UpdateMPxN,
) -> Result<(), InventoryError> {
    match u {
        UpdateMPxN::ImportMPxN(m) => {
            if !d.device_type.is_smart_meter() {
                return Err(wrong_type(&d, "UpdateMPxN ImportMPxN"));
            }
            d.import_mpxn = Some(m.clone());
        }
        UpdateMPxN::SecondaryImportMPAN(m) => {
            if d.device_type != DeviceType::Esme {
                return Err(wrong_type(&d, "UpdateMPxN SecondaryImportMPAN"));
            }
            d.secondary_import_mpan = Some(m.clone());
        }
        UpdateMPxN::ExportMPAN(m) => {
            if d.device_type != DeviceType::Esme {
                return Err(wrong_type(&d, "UpdateMPxN ExportMPAN"));
            }
            d.export_mpan = Some(m.clone());
        }
    }
    d.validate().map_err(|e| invalid(d.id, e))?;
    if d.status == DeviceStatus::Commissioned {
        rules::check_mpxns_free(t, &d)?;
    }
    t.put(&d)
}
