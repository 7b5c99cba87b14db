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
//!
//! Records read by [`Inventory::device`], [`Inventory::get`] and [`Inventory::hub_of`] (every
//! device Service Request reads two or three) are kept decoded in a [`DeviceCache`] that every
//! [`Inventory::write`] empties; see there why a cached record is never older than the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

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

/// Most records a [`DeviceCache`] holds; when full it starts again empty (the hot set of a
/// running gateway refills it within a few requests per device).
pub const DEVICE_CACHE_CAPACITY: usize = 65_536;

/// Decoded device records as last committed, shared by the readers of one [`Inventory`].
///
/// Why a record served from it is never older than what a read of the store would give:
/// - every write through [`Inventory::write`] starts by advancing `generation` and raising
///   `writing`, and ends (after its commit, or its failure) by advancing `generation` again,
///   lowering `writing` and emptying the map; while `writing` is raised nothing is served
///   from the cache or kept in it, so the readers read the store as if there were no cache;
/// - a reader notes the generation *before* it opens its read transaction and keeps what it
///   read only if, when it inserts (under the same lock), the generation is unchanged and no
///   write is in progress: a snapshot that could predate a commit was noted before that
///   write's start and is refused;
/// - when the store's handle has been reopened ([`Store::reopens`]: a commit whose fsync
///   failed may have reached the file after all) the map is emptied and the generation
///   advanced before anything else is served.
#[derive(Debug, Default)]
pub struct DeviceCache {
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    generation: u64,
    /// Writes in progress.
    writing: usize,
    /// [`Store::reopens`] when the map was last emptied for it.
    reopens: u64,
    devices: HashMap<Eui, Arc<Device>>,
}

impl CacheState {
    fn forget(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.devices.clear();
    }
}

impl DeviceCache {
    fn state(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // The state is a map and counters, consistent after any panic mid-way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, emptied first if the store's handle was reopened since (`reopens` is its
    /// current [`Store::reopens`]).
    fn current(&self, reopens: u64) -> std::sync::MutexGuard<'_, CacheState> {
        let mut s = self.state();
        if s.reopens != reopens {
            s.reopens = reopens;
            s.forget();
        }
        s
    }

    /// The generation a reader notes before its read transaction.
    fn generation(&self, reopens: u64) -> u64 {
        self.current(reopens).generation
    }

    /// The cached record (none while a write is in progress) and the generation it was
    /// looked up at.
    fn lookup(&self, id: &Eui, reopens: u64) -> (Option<Arc<Device>>, u64) {
        let s = self.current(reopens);
        let cached = match s.writing {
            0 => s.devices.get(id).cloned(),
            _ => None,
        };
        (cached, s.generation)
    }

    /// Keeps `device`, read in a snapshot opened at `generation`, unless a write started
    /// since.
    fn keep(&self, generation: u64, device: &Arc<Device>) {
        let mut s = self.state();
        if s.generation != generation || s.writing > 0 {
            return;
        }
        if s.devices.len() >= DEVICE_CACHE_CAPACITY {
            s.devices.clear();
        }
        s.devices.insert(device.id, Arc::clone(device));
    }

    /// A write transaction starts: until [`WriteGuard`] is dropped nothing is served or kept.
    fn begin_write(&self) -> WriteGuard<'_> {
        let mut s = self.state();
        s.writing += 1;
        s.forget();
        WriteGuard(self)
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.state().devices.len()
    }

    /// True if nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Ends a write for the [`DeviceCache`] when dropped (also when the write panics).
struct WriteGuard<'c>(&'c DeviceCache);

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.writing = s.writing.saturating_sub(1);
        s.forget();
    }
}

/// Follows `device`'s chain of associations for [`Inventory::hub_of`], at most four links,
/// reading each record with `link`.
fn follow_chain<E>(
    device: &Eui,
    mut link: impl FnMut(&Eui) -> Result<Option<Arc<Device>>, E>,
) -> Result<HubOf, E> {
    let mut id = *device;
    for _ in 0..4 {
        let Some(d) = link(&id)? else {
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
}

/// The Smart Metering Inventory.
///
/// Open one per store and share it (`Arc`): its [`DeviceCache`] sees only the writes made
/// through it.
#[derive(Debug, Clone)]
pub struct Inventory {
    store: Arc<Store>,
    cache: Arc<DeviceCache>,
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
        Ok(Inventory {
            store,
            cache: Arc::default(),
        })
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
        let _writing = self.cache.begin_write();
        self.store.write(|tx| {
            let mut t = Tables {
                devices: tx.open_table(DEVICES)?,
                index: tx.open_multimap_table(INDEX)?,
            };
            f(&mut t)
        })
    }

    /// The device with `id`, shared with the cache.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`] or [`InventoryError::Corrupt`].
    pub fn device(&self, id: &Eui) -> Result<Option<Arc<Device>>, InventoryError> {
        let (cached, generation) = self.cache.lookup(id, self.store.reopens());
        if cached.is_some() {
            return Ok(cached);
        }
        let Some(device) = self.read(|t| t.device(id))? else {
            return Ok(None);
        };
        let device = Arc::new(device);
        self.cache.keep(generation, &device);
        Ok(Some(device))
    }

    /// The device with `id`.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`] or [`InventoryError::Corrupt`].
    pub fn get(&self, id: &Eui) -> Result<Option<Device>, InventoryError> {
        Ok(self.device(id)?.map(|d| Device::clone(&d)))
    }

    /// The records cache (for its size in tests).
    pub fn cache(&self) -> &DeviceCache {
        &self.cache
    }

    /// The Communications Hub Function `device` is reached through: the device itself for
    /// a CHF, else the first CHF up its chain of associations (meter → CHF; PPMID, IHD, GPF,
    /// HCALCS → meter), followed for at most four links.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`] or [`InventoryError::Corrupt`].
    pub fn hub_of(&self, device: &Eui) -> Result<HubOf, InventoryError> {
        // The whole chain as of one moment: from the cache when every link is there at one
        // generation, else from one read transaction (whose records are then kept).
        let reopens = self.store.reopens();
        let generation = self.cache.generation(reopens);
        let cached = follow_chain(device, |id| match self.cache.lookup(id, reopens) {
            (Some(d), g) if g == generation => Ok(Some(d)),
            _ => Err(()),
        });
        if let Ok(hub) = cached {
            return Ok(hub);
        }
        let generation = self.cache.generation(reopens);
        self.read(|t| {
            follow_chain(device, |id| {
                let d = t.device(id)?.map(Arc::new);
                if let Some(d) = &d {
                    self.cache.keep(generation, d);
                }
                Ok(d)
            })
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn eui(n: u8) -> Eui {
        Eui([0, 0xDB, 0x12, 0x34, 0x56, 0x78, 0x90, n])
    }

    fn open(tag: &str) -> (Inventory, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "hubgate-inventory-cache-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Arc::new(Store::open(&dir).unwrap());
        (Inventory::open(store).unwrap(), dir)
    }

    /// A CHF (1) with an ESME (2) associated to it.
    fn premises(inv: &Inventory) {
        inv.insert(&Device::new(eui(1), DeviceType::Chf, "AB01", "01"))
            .unwrap();
        let mut esme = Device::new(eui(2), DeviceType::Esme, "AB01", "02");
        esme.associated_with = Some(eui(1));
        inv.insert(&esme).unwrap();
    }

    #[test]
    fn a_read_after_a_write_sees_the_write_not_the_cached_record() {
        let (inv, dir) = open("write");
        premises(&inv);
        assert!(inv.cache().is_empty(), "a write leaves the cache empty");
        assert_eq!(
            inv.get(&eui(2)).unwrap().unwrap().status,
            DeviceStatus::Pending
        );
        assert_eq!(inv.hub_of(&eui(2)).unwrap(), HubOf::Hub(eui(1)));
        assert_eq!(inv.cache().len(), 2, "the ESME and its hub are cached");

        let today = Date::new("2026-01-05").unwrap();
        inv.change_status(&eui(2), DeviceStatus::Whitelisted, &today)
            .unwrap();
        assert!(inv.cache().is_empty());
        assert_eq!(
            inv.get(&eui(2)).unwrap().unwrap().status,
            DeviceStatus::Whitelisted
        );

        // A new hub: the association is followed as stored now.
        inv.insert(&Device::new(eui(3), DeviceType::Chf, "AB01", "01"))
            .unwrap();
        inv.write(|t| {
            let mut d = t.require(&eui(2))?;
            d.associated_with = Some(eui(3));
            t.put(&d)
        })
        .unwrap();
        assert_eq!(inv.hub_of(&eui(2)).unwrap(), HubOf::Hub(eui(3)));
        // A failed write empties the cache too (harmless; nothing changed).
        let failed = inv.write(|_| Err::<(), _>(RuleError::NotOnInventory(eui(9)).into()));
        assert!(failed.is_err());
        assert!(inv.cache().is_empty());
        assert_eq!(inv.hub_of(&eui(9)).unwrap(), HubOf::Missing(eui(9)));
        drop(inv);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_record_read_before_a_write_committed_is_not_kept() {
        let cache = DeviceCache::default();
        let d = Arc::new(Device::new(eui(2), DeviceType::Esme, "AB01", "02"));
        let (none, generation) = cache.lookup(&d.id, 0);
        assert!(none.is_none());
        // A write starts (and commits) between this reader's lookup and its insert.
        let writing = cache.begin_write();
        cache.keep(generation, &d);
        assert!(cache.is_empty(), "a record from an older snapshot was kept");
        // While it is in progress nothing is kept or served.
        let (_, during) = cache.lookup(&d.id, 0);
        cache.keep(during, &d);
        assert!(cache.is_empty(), "a record was kept during a write");
        drop(writing);
        cache.keep(during, &d);
        assert!(
            cache.is_empty(),
            "a record read during a write was kept after it"
        );
        let (_, now) = cache.lookup(&d.id, 0);
        cache.keep(now, &d);
        assert_eq!(cache.lookup(&d.id, 0).0.map(|c| c.id), Some(d.id));
        let _writing = cache.begin_write();
        assert!(cache.lookup(&d.id, 0).0.is_none(), "served during a write");
        drop(_writing);
        // After the store's handle was reopened, nothing from before is served.
        let (_, now) = cache.lookup(&d.id, 0);
        cache.keep(now, &d);
        assert!(cache.lookup(&d.id, 0).0.is_some());
        assert!(cache.lookup(&d.id, 1).0.is_none(), "served across a reopen");
    }

    #[test]
    fn a_full_cache_starts_again_empty() {
        let cache = DeviceCache::default();
        for n in 0..=DEVICE_CACHE_CAPACITY as u64 {
            let mut id = [0u8; 8];
            id.copy_from_slice(&n.to_be_bytes());
            cache.keep(
                0,
                &Arc::new(Device::new(Eui(id), DeviceType::Ihd, "AB01", "03")),
            );
        }
        assert_eq!(cache.len(), 1);
    }
}
