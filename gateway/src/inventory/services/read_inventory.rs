//! 8.2 Read Inventory: the devices found by Device ID, MPxN, premises (post code and
//! premises number or name) or UPRN, with the devices associated with them, as
//! `DSPInventory`.
//!
//! What each search returns (Annex 5, 8.2; "A is associated with B" is
//! [`Device::associated_with`] of A naming B):
//!
//! - **Device ID** D: (I) D; (II) every device associated with D; (III) every device
//!   associated with a device of (II); (IV) every device that a device of (I)–(III) is
//!   associated with.
//! - **MPxN**: the Smart Meters holding that MPxN (import, secondary import or export) and not
//!   Decommissioned; for each, the devices associated with it and the device it is
//!   associated with (its CHF).
//! - **Post code + premises** / **UPRN**: the Smart Meters for the MPxNs linked to the
//!   premises — those recorded on any device there that is not Decommissioned — and the
//!   Smart Meters recorded there themselves; then as for an MPxN.
//!
//! Type 2 devices (IHD, CAD) are included when present (the DCC need not provide them, and
//! may). The schema allows 17 `Device` elements: beyond that the search devices come first,
//! then the associated ones, each group in EUI order, and the rest is left out (logged).
//! Nothing found: [`RuleError::NoMatch`] (E080201).

use std::collections::BTreeSet;

use hubgate_protocol::duis::model::ResponseCode;
use hubgate_protocol::duis::model::body::ReadInventory;

use crate::inventory::db::Inventory;
use crate::inventory::dsp::{self, MAX_INVENTORY_DEVICES};
use crate::inventory::error::InventoryError;
use crate::inventory::model::{Device, DeviceStatus, Eui};
use crate::inventory::rules::{InventoryService, RuleError};
use crate::inventory::services::{ServiceOutcome, parse_id};
use crate::inventory::view::InventoryView;

/// Runs 8.2 Read Inventory.
///
/// # Errors
///
/// [`RuleError::NoMatch`], [`RuleError::InvalidDeviceId`]; the store's.
pub fn read_inventory(
    inventory: &Inventory,
    body: &ReadInventory,
) -> Result<ServiceOutcome, InventoryError> {
    let devices = inventory.read(|v| search(v, body))?;
    if devices.len() > MAX_INVENTORY_DEVICES {
        tracing::warn!(
            found = devices.len(),
            kept = MAX_INVENTORY_DEVICES,
            "read inventory result truncated to the schema's maximum"
        );
    }
    Ok(ServiceOutcome::success(
        InventoryService::ReadInventory,
        ResponseCode::I0,
        Some(dsp::payload(dsp::dsp_inventory(&devices))),
        Vec::new(),
    ))
}

/// The devices 8.2 returns for `body`, in response order (not truncated).
///
/// # Errors
///
/// [`RuleError::NoMatch`], [`RuleError::InvalidDeviceId`]; the view's.
pub fn search(
    view: &impl InventoryView,
    body: &ReadInventory,
) -> Result<Vec<Device>, InventoryError> {
    let mut out = Ordered::default();
    match body {
        ReadInventory::DeviceID(s) => {
            let id = parse_id(s)?;
            let Some(d) = view.device(&id)? else {
                return Err(RuleError::NoMatch(format!("Device ID {id}")).into());
            };
            by_device(view, d, &mut out)?;
        }
        ReadInventory::MPxN(m) => {
            let meters = meters_with_mpxns(view, [m.as_str()])?;
            if meters.is_empty() {
                return Err(RuleError::NoMatch(format!("MPxN {m}")).into());
            }
            around_meters(view, meters, &mut out)?;
        }
        ReadInventory::Uprn(u) => {
            let ids = view.with_uprn(*u)?;
            let meters = meters_at(view, &ids)?;
            if meters.is_empty() {
                return Err(RuleError::NoMatch(format!("UPRN {u}")).into());
            }
            around_meters(view, meters, &mut out)?;
        }
        ReadInventory::PropertyFilter(p) => {
            let ids = view.at_premises(&p.post_code, &p.address_identifier)?;
            let meters = meters_at(view, &ids)?;
            if meters.is_empty() {
                return Err(RuleError::NoMatch(format!(
                    "post code {:?}, premises {:?}",
                    p.post_code, p.address_identifier
                ))
                .into());
            }
            around_meters(view, meters, &mut out)?;
        }
    }
    Ok(out.devices)
}

/// Devices in response order, each once.
#[derive(Default)]
struct Ordered {
    seen: BTreeSet<Eui>,
    devices: Vec<Device>,
}

impl Ordered {
    /// Appends the devices not yet present, in EUI order; returns those appended.
    fn extend(&mut self, mut group: Vec<Device>) -> Vec<Device> {
        group.sort_by_key(|d| d.id);
        let mut added = Vec::new();
        for d in group {
            if self.seen.insert(d.id) {
                added.push(d.clone());
                self.devices.push(d);
            }
        }
        added
    }
}

fn children(view: &impl InventoryView, of: &[Device]) -> Result<Vec<Device>, InventoryError> {
    let mut out = Vec::new();
    for d in of {
        out.extend(view.devices(&view.associated_to(&d.id)?)?);
    }
    Ok(out)
}

fn parents(view: &impl InventoryView, of: &[Device]) -> Result<Vec<Device>, InventoryError> {
    let ids: Vec<Eui> = of.iter().filter_map(|d| d.associated_with).collect();
    view.devices(&ids)
}

fn by_device(
    view: &impl InventoryView,
    d: Device,
    out: &mut Ordered,
) -> Result<(), InventoryError> {
    let first = out.extend(vec![d]);
    let second = children(view, &first)?;
    let third = children(view, &second)?;
    let mut all = first;
    all.extend(second.iter().cloned());
    all.extend(third.iter().cloned());
    let fourth = parents(view, &all)?;
    out.extend(second);
    out.extend(third);
    out.extend(fourth);
    Ok(())
}

fn around_meters(
    view: &impl InventoryView,
    meters: Vec<Device>,
    out: &mut Ordered,
) -> Result<(), InventoryError> {
    let meters = out.extend(meters);
    let kids = children(view, &meters)?;
    let up = parents(view, &meters)?;
    out.extend(kids);
    out.extend(up);
    Ok(())
}

/// The Smart Meters, not Decommissioned, holding any of `mpxns`.
fn meters_with_mpxns<'a>(
    view: &impl InventoryView,
    mpxns: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Device>, InventoryError> {
    let mut ids = BTreeSet::new();
    for m in mpxns {
        ids.extend(view.with_mpxn(m)?);
    }
    let ids: Vec<Eui> = ids.into_iter().collect();
    Ok(view
        .devices(&ids)?
        .into_iter()
        .filter(|d| d.device_type.is_smart_meter() && d.status != DeviceStatus::Decommissioned)
        .collect())
}

/// The Smart Meters for the premises whose devices are `ids`.
fn meters_at(view: &impl InventoryView, ids: &[Eui]) -> Result<Vec<Device>, InventoryError> {
    let here: Vec<Device> = view
        .devices(ids)?
        .into_iter()
        .filter(|d| d.status != DeviceStatus::Decommissioned)
        .collect();
    let mpxns: BTreeSet<String> = here
        .iter()
        .flat_map(|d| d.mpxns().map(str::to_owned))
        .collect();
    let mut meters = meters_with_mpxns(view, mpxns.iter().map(String::as_str))?;
    meters.extend(here.into_iter().filter(|d| d.device_type.is_smart_meter()));
    Ok(meters)
}
