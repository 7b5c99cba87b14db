//! [`Inventory`]: the Smart Metering Inventory kept in the [`Store`], with its secondary
//! indexes, and the operations the device services need (status changes, associations).
//!
//! Layout:
//!
//! | table | key | value |
//! |---|---|---|
//! | `inventory.devices` | device EUI (8 bytes) | the [`Device`] as JSON |
//! | `inventory.index` (multimap) | `M` + MPxN, `U` + UPRN (8 bytes, big-endian), `P` + premises key, `A` + associated EUI | device EUI |
//!
//! Every write goes through [`InventoryTxn::put`] / [`InventoryTxn::delete`], which keep the
//! index equal to the records inside the same transaction.

use std::sync::Arc;

use hubgate_protocol::duis::model::xsd::Date;
use redb::{
    MultimapTable, MultimapTableDefinition, ReadOnlyMultimapTable, ReadOnlyTable,
    ReadableMultimapTable, ReadableTable, Table, TableDefinition,
};

use crate::inventory::error::InventoryError;
use crate::inventory::model::{Device, DeviceStatus, DeviceType, Eui, Premises};
use crate::inventory::rules::{self, RuleError, StatusChange};
use crate::inventory::view::InventoryView;
use crate::store::{Store, StoreError};

/// Device records by EUI.
pub const DEVICES: TableDefinition<'static, &'static [u8; 8], &'static [u8]> =
    TableDefinition::new("inventory.devices");

/// Secondary indexes: kind byte + key → device EUIs.
pub const INDEX: MultimapTableDefinition<'static, &'static [u8], &'static [u8; 8]> =
    MultimapTableDefinition::new("inventory.index");

const K_MPXN: u8 = b'M';
const K_UPRN: u8 = b'U';
const K_PREMISES: u8 = b'P';
const K_ASSOCIATED: u8 = b'A';

fn index_key(kind: u8, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(kind);
    k.extend_from_slice(key);
    k
}

/// The index keys of a record.
fn index_keys(d: &Device) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = d.mpxns().map(|m| index_key(K_MPXN, m.as_bytes())).collect();
    if let Some(u) = d.uprn {
        keys.push(index_key(K_UPRN, &u.to_be_bytes()));
    }
    if let Some(p) = &d.premises {
        let k = Premises::match_key(&p.post_code, &p.address_identifier);
        keys.push(index_key(K_PREMISES, k.as_bytes()));
    }
    if let Some(a) = &d.associated_with {
        keys.push(index_key(K_ASSOCIATED, a.bytes()));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The inventory's tables inside one transaction: a read snapshot ([`InventorySnapshot`]) or
/// a write transaction ([`InventoryTxn`]).
#[derive(Debug)]
pub struct Tables<D, I> {
    devices: D,
    index: I,
}

/// The inventory in a read transaction.
pub type InventorySnapshot = Tables<
    ReadOnlyTable<&'static [u8; 8], &'static [u8]>,
    ReadOnlyMultimapTable<&'static [u8], &'static [u8; 8]>,
>;

/// The inventory in a write transaction.
pub type InventoryTxn<'t> = Tables<
    Table<'t, &'static [u8; 8], &'static [u8]>,
    MultimapTable<'t, &'static [u8], &'static [u8; 8]>,
>;

fn decode(id: &Eui, bytes: &[u8]) -> Result<Device, InventoryError> {
    let d: Device = serde_json::from_slice(bytes).map_err(|e| InventoryError::Corrupt {
        key: id.to_string(),
        reason: e.to_string(),
    })?;
    if d.id != *id {
        return Err(InventoryError::Corrupt {
            key: id.to_string(),
            reason: format!("record holds device {}", d.id),
        });
    }
    Ok(d)
}

impl<D, I> Tables<D, I>
where
    D: ReadableTable<&'static [u8; 8], &'static [u8]>,
    I: ReadableMultimapTable<&'static [u8], &'static [u8; 8]>,
{
    fn lookup(&self, key: &[u8]) -> Result<Vec<Eui>, InventoryError> {
        let mut out = Vec::new();
        for v in self.index.get(key)? {
            out.push(Eui(*v?.value()));
        }
        Ok(out)
    }

    /// Number of devices on the inventory.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`].
    pub fn len(&self) -> Result<u64, InventoryError> {
        Ok(self.devices.len()?)
    }

    /// True if the inventory holds no device.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`].
    pub fn is_empty(&self) -> Result<bool, InventoryError> {
        Ok(self.len()? == 0)
    }

    /// Every device, in EUI order (for exports and tests; a full scan).
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`] or [`InventoryError::Corrupt`].
    pub fn all(&self) -> Result<Vec<Device>, InventoryError> {
        let mut out = Vec::new();
        for entry in self.devices.iter()? {
            let (k, v) = entry?;
            out.push(decode(&Eui(*k.value()), v.value())?);
        }
        Ok(out)
    }
}

impl<D, I> InventoryView for Tables<D, I>
where
    D: ReadableTable<&'static [u8; 8], &'static [u8]>,
    I: ReadableMultimapTable<&'static [u8], &'static [u8; 8]>,
{
    fn device(&self, id: &Eui) -> Result<Option<Device>, InventoryError> {
        match self.devices.get(id.bytes())? {
            None => Ok(None),
            Some(v) => decode(id, v.value()).map(Some),
        }
    }

    fn with_mpxn(&self, mpxn: &str) -> Result<Vec<Eui>, InventoryError> {
        self.lookup(&index_key(K_MPXN, mpxn.as_bytes()))
    }

    fn with_uprn(&self, uprn: u64) -> Result<Vec<Eui>, InventoryError> {
        self.lookup(&index_key(K_UPRN, &uprn.to_be_bytes()))
    }

    fn at_premises(
        &self,
        post_code: &str,
        address_identifier: &str,
    ) -> Result<Vec<Eui>, InventoryError> {
        let k = Premises::match_key(post_code, address_identifier);
        self.lookup(&index_key(K_PREMISES, k.as_bytes()))
    }

    fn associated_to(&self, id: &Eui) -> Result<Vec<Eui>, InventoryError> {
        self.lookup(&index_key(K_ASSOCIATED, id.bytes()))
    }
}

impl InventoryTxn<'_> {
    /// Stores `device` (replacing the record with its id), updating the indexes. No rule is
    /// checked here: callers check with [`rules`] first.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`] or [`InventoryError::Corrupt`] (of the replaced record).
    pub fn put(&mut self, device: &Device) -> Result<(), InventoryError> {
        let old = self.device(&device.id)?;
        let old_keys = old.as_ref().map(index_keys).unwrap_or_default();
        let new_keys = index_keys(device);
        for k in old_keys.iter().filter(|k| !new_keys.contains(k)) {
            self.index.remove(k.as_slice(), device.id.bytes())?;
        }
        for k in new_keys.iter().filter(|k| !old_keys.contains(k)) {
            self.index.insert(k.as_slice(), device.id.bytes())?;
        }
        let bytes = serde_json::to_vec(device).map_err(|source| StoreError::Encode {
            table: DEVICES.to_string(),
            source,
        })?;
        self.devices.insert(device.id.bytes(), bytes.as_slice())?;
        Ok(())
    }

    /// Removes the device with `id` and its index entries; the removed record, if any.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`] or [`InventoryError::Corrupt`].
    pub fn delete(&mut self, id: &Eui) -> Result<Option<Device>, InventoryError> {
        let Some(old) = self.device(id)? else {
            return Ok(None);
        };
        for k in index_keys(&old) {
            self.index.remove(k.as_slice(), id.bytes())?;
        }
        self.devices.remove(id.bytes())?;
        Ok(Some(old))
    }

    /// Reads the device or fails with [`RuleError::NotOnInventory`].
    ///
    /// # Errors
    ///
    /// [`RuleError::NotOnInventory`] and the view's errors.
    pub fn require(&self, id: &Eui) -> Result<Device, InventoryError> {
        self.device(id)?
            .ok_or_else(|| RuleError::NotOnInventory(*id).into())
    }

    /// Changes the status of `id` under the rules ([`rules::change_status`]) and stores it.
    ///
    /// # Errors
    ///
    /// The rules' errors and the store's.
    pub fn change_status(
        &mut self,
        id: &Eui,
        to: DeviceStatus,
        today: &Date,
    ) -> Result<StatusChange, InventoryError> {
        let d = self.require(id)?;
        let (d, change) = rules::change_status(self, &d, to, today)?;
        self.put(&d)?;
        Ok(change)
    }
}

/// Where a device's chain of associations leads ([`Inventory::hub_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubOf {
    /// The Communications Hub Function (the device itself for a CHF).
    Hub(Eui),
    /// A device on the chain is not on the inventory: the device itself, or one it names.
    Missing(Eui),
    /// The chain ends, or runs past four links, without a CHF.
    NoHub,
}

/// The Smart Metering Inventory.
#[derive(Debug, Clone)]
pub struct Inventory {
    store: Arc<Store>,
}

impl Inventory {
    /// The inventory in `store` (its tables are created if needed).
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`].
    pub fn open(store: Arc<Store>) -> Result<Inventory, InventoryError> {
        store.write(|tx| {
            tx.open_table(DEVICES)?;
            tx.open_multimap_table(INDEX)?;
            Ok::<_, InventoryError>(())
        })?;
        Ok(Inventory { store })
    }

    /// The store it lives in.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Runs `f` on a consistent snapshot.
    ///
    /// # Errors
    ///
    /// What `f` returns, or [`InventoryError::Store`].
    pub fn read<T>(
        &self,
        f: impl FnOnce(&InventorySnapshot) -> Result<T, InventoryError>,
    ) -> Result<T, InventoryError> {
        self.store.read(|tx| {
            let t = Tables {
                devices: tx.open_table(DEVICES)?,
                index: tx.open_multimap_table(INDEX)?,
            };
            f(&t)
        })
    }

    /// Runs `f` in one write transaction, committed (durably) only if it returns `Ok`: the
    /// rules are checked and the records written atomically.
    ///
    /// # Errors
    ///
    /// What `f` returns, or [`InventoryError::Store`].
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut InventoryTxn<'_>) -> Result<T, InventoryError>,
    ) -> Result<T, InventoryError> {
        self.store.write(|tx| {
            let mut t = Tables {
                devices: tx.open_table(DEVICES)?,
                index: tx.open_multimap_table(INDEX)?,
            };
            f(&mut t)
        })
    }

    /// The device with `id`.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`] or [`InventoryError::Corrupt`].
    pub fn get(&self, id: &Eui) -> Result<Option<Device>, InventoryError> {
        self.read(|t| t.device(id))
    }

    /// The Communications Hub Function `device` is reached through: the device itself for
    /// a CHF, else the first CHF up its chain of associations (meter → CHF; PPMID, IHD, GPF,
    /// HCALCS → meter), followed for at most four links.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`] or [`InventoryError::Corrupt`].
    pub fn hub_of(&self, device: &Eui) -> Result<HubOf, InventoryError> {
        // One read transaction for the whole chain.
        self.read(|t| {
            let mut id = *device;
            for _ in 0..4 {
                let Some(d) = t.device(&id)? else {
                    return Ok(HubOf::Missing(id));
                };
                if d.device_type == DeviceType::Chf {
                    return Ok(HubOf::Hub(d.id));
                }
                match d.associated_with {
                    Some(next) => id = next,
                    None => return Ok(HubOf::NoHub),
                }
            }
            Ok(HubOf::NoHub)
        })
    }

    /// Number of devices.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`].
    pub fn len(&self) -> Result<u64, InventoryError> {
        self.read(|t| t.len())
    }

    /// True if no device is on the inventory.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`].
    pub fn is_empty(&self) -> Result<bool, InventoryError> {
        Ok(self.len()? == 0)
    }

    /// Adds a new device as given, after [`rules::check_record`].
    ///
    /// # Errors
    ///
    /// [`RuleError::AlreadyOnInventory`], the rules' errors, the store's.
    pub fn insert(&self, device: &Device) -> Result<(), InventoryError> {
        self.write(|t| {
            if let Some(old) = t.device(&device.id)? {
                return Err(RuleError::AlreadyOnInventory {
                    id: old.id,
                    status: old.status,
                }
                .into());
            }
            rules::check_record(t, device)?;
            t.put(device)
        })
    }

    /// Changes a device's status under the rules (for the device services: 8.1.1
    /// Commission Device, 8.11 Update HAN Device Log → Whitelisted, …).
    ///
    /// # Errors
    ///
    /// The rules' errors (answer with [`rules::InventoryService::DeviceService`] codes) and
    /// the store's.
    pub fn change_status(
        &self,
        id: &Eui,
        to: DeviceStatus,
        today: &Date,
    ) -> Result<StatusChange, InventoryError> {
        self.write(|t| t.change_status(id, to, today))
    }

    /// Checks, without changing anything, that `id` could be commissioned now (the
    /// inventory check before a Commission Device command is sent).
    ///
    /// # Errors
    ///
    /// The commissioning rules' errors.
    pub fn check_commission(&self, id: &Eui) -> Result<(), InventoryError> {
        self.read(|t| {
            let d = t.device(id)?.ok_or(RuleError::NotOnInventory(*id))?;
            rules::check_commission(t, &d)
        })
    }

    /// Records that `id` is Associated with `target` (a meter with its CHF on joining the
    /// HAN, a PPMID with its meter, …), after [`rules::check_association`].
    ///
    /// # Errors
    ///
    /// [`RuleError::NotOnInventory`], [`RuleError::AssociationNotAllowed`], the store's.
    pub fn associate(&self, id: &Eui, target: &Eui) -> Result<(), InventoryError> {
        self.write(|t| {
            let mut d = t.require(id)?;
            rules::check_association(t, &d, target)?;
            d.associated_with = Some(*target);
            t.put(&d)
        })
    }

    /// Whether the Smart Metering System of the Smart Meter `meter` is enrolled
    /// ([`rules::is_enrolled`]).
    ///
    /// # Errors
    ///
    /// As [`rules::is_enrolled`].
    pub fn is_enrolled(&self, meter: &Eui) -> Result<bool, InventoryError> {
        self.read(|t| rules::is_enrolled(t, meter))
    }
}
