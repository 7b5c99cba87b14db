//! 12.2 Device Pre-notification: adds a device to the inventory as Pending.
//!
//! - A device not on the inventory is added with the notified details.
//! - A device that left service (Decommissioned or Withdrawn) is notified again: its record
//!   is replaced by the notified details (premises, MPxNs and associations cleared), status
//!   Pending.
//! - Any other device already on the inventory: [`RuleError::AlreadyOnInventory`] (E120201).
//! - `ESMEVariant` only for an ESME, and the schema's facets: [`RuleError::InvalidField`]
//!   (E120204).
//! - `AssociatedGPFDeviceID` (a GSME's GPF) must name a GPF on the inventory, not
//!   Decommissioned and not associated with another GSME in service; the GPF is then
//!   associated with the GSME. Otherwise [`RuleError::AssociationNotAllowed`] (E120203).
//!
//! The Certified Products List is not consulted (no CPL is kept yet); `CPLStatus` stays
//! empty.

use hubgate_protocol::duis::model::body::DevicePrenotification;

use crate::inventory::db::Inventory;
use crate::inventory::error::InventoryError;
use crate::inventory::model::{Device, DeviceStatus, DeviceType};
use crate::inventory::rules::{self, InventoryService, RuleError, StatusChange};
use crate::inventory::services::{ServiceOutcome, parse_id};
use crate::inventory::view::InventoryView;

/// Runs 12.2 Device Pre-notification.
///
/// # Errors
///
/// The rules' errors (see the module documentation); the store's.
pub fn device_prenotification(
    inventory: &Inventory,
    body: &DevicePrenotification,
) -> Result<ServiceOutcome, InventoryError> {
    let id = parse_id(&body.device_id)?;
    let gpf_id = body
        .associated_gpf_device_id
        .as_deref()
        .map(parse_id)
        .transpose()?;
    let mut d = Device::new(
        id,
        DeviceType::from(body.device_type),
        &body.device_manufacturer,
        &body.device_model,
    );
    d.smets_chts_version = body.smetschts_version.clone();
    d.firmware_version = body.firmware_version.clone();
    d.esme_variant = body.esme_variant.map(|v| v.as_str().to_owned());
    d.validate()
        .map_err(|error| RuleError::InvalidField { id, error })?;

    let changes = inventory.write(|t| {
        let mut changes = Vec::new();
        if let Some(old) = t.device(&id)? {
            if !matches!(
                old.status,
                DeviceStatus::Decommissioned | DeviceStatus::Withdrawn
            ) {
                return Err(RuleError::AlreadyOnInventory {
                    id,
                    status: old.status,
                }
                .into());
            }
            if !rules::transition_allowed(old.status, DeviceStatus::Pending) {
                return Err(RuleError::IllegalTransition {
                    id,
                    from: old.status,
                    to: DeviceStatus::Pending,
                }
                .into());
            }
            // A device re-notified as another type must not keep devices associated with
            // it under rules that no longer hold (a GPF left on an ESME, say).
            if old.device_type != d.device_type {
                let children = t.associated_to(&id)?;
                if !children.is_empty() {
                    return Err(RuleError::HasAssociatedDevices { id, children }.into());
                }
            }
            changes.push(StatusChange {
                id,
                device_type: d.device_type,
                from: old.status,
                to: DeviceStatus::Pending,
            });
        }
        t.put(&d)?;
        if let Some(g) = gpf_id {
            let refuse = |reason: String| -> InventoryError {
                RuleError::AssociationNotAllowed {
                    id,
                    target: g,
                    reason,
                }
                .into()
            };
            if d.device_type != DeviceType::Gsme {
                return Err(refuse(format!(
                    "only a GSME names an associated GPF, not a {}",
                    d.device_type
                )));
            }
            let Some(mut gpf) = t.device(&g)? else {
                return Err(refuse("the GPF is not on the inventory".into()));
            };
            if gpf.device_type != DeviceType::Gpf {
                return Err(refuse(format!("{g} is a {}, not a GPF", gpf.device_type)));
            }
            if gpf.status == DeviceStatus::Decommissioned {
                return Err(refuse("the GPF is Decommissioned".into()));
            }
            if let Some(other) = gpf.associated_with.filter(|o| *o != id)
                && t.device(&other)?
                    .is_some_and(|o| o.status != DeviceStatus::Decommissioned)
            {
                return Err(refuse(format!(
                    "the GPF is already associated with {other}"
                )));
            }
            rules::check_association(t, &gpf, &id)?;
            gpf.associated_with = Some(id);
            t.put(&gpf)?;
        }
        Ok(changes)
    })?;
    Ok(ServiceOutcome::acknowledged(
        InventoryService::DevicePrenotification,
        changes,
    ))
}
