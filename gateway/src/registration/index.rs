//! The registration data held in memory, its queries and its atomic refresh.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use hubgate_protocol::catalogue::Role;

use super::authorise::{NotRegistered, Reason};
use super::date::Date;
use super::ingest::{self, Format, IngestError, RowError};
use super::mpxn::{Fuel, Mpxn};
use super::record::{PartyRole, RecordKey, Registration};
use super::report::{Change, Modified, RefreshReport};

/// Shards of a snapshot. A batch of changes copies only the shards it touches; the rest are
/// shared with the previous snapshot.
const SHARDS: usize = 256;

/// Bounds on what a refresh reads and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body [`RegistrationData::ingest`] accepts, in bytes (default 256 MiB).
    pub max_body_bytes: usize,
    /// Most rejected rows kept in a report; all are counted (default 1000).
    pub max_reported_rejects: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 256 << 20,
            max_reported_rejects: 1000,
        }
    }
}

/// A registration file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The extension is neither `.csv` nor `.json`.
    #[error("{}: unknown format (expected a .csv or .json file)", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The contents were refused as a whole.
    #[error("{}: {source}", path.display())]
    Ingest {
        /// The file.
        path: PathBuf,
        /// Why.
        source: IngestError,
    },
}

/// The part of a record that is not its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    party: [u8; 8],
    effective_to: Option<Date>,
}

impl Entry {
    fn of(r: &Registration) -> Entry {
        Entry {
            party: r.party(),
            effective_to: r.effective_to(),
        }
    }

    fn record(self, key: RecordKey) -> Registration {
        Registration::from_key(key, self.party, self.effective_to)
    }
}

type Shard = BTreeMap<RecordKey, Entry>;

fn shard_of(mpxn: Mpxn) -> usize {
    let (value, _) = mpxn.raw();
    // Fibonacci hashing: the top 8 bits of the product spread neighbouring numbers.
    usize::from((value.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
}

/// One immutable version of the registration data. Readers query a snapshot; a refresh
/// builds the next one and swaps it in whole.
#[derive(Debug)]
pub struct Snapshot {
    generation: u64,
    len: usize,
    shards: Box<[Arc<Shard>]>,
}

impl Snapshot {
    fn empty() -> Snapshot {
        let empty = Arc::new(Shard::new());
        Snapshot {
            generation: 0,
            len: 0,
            shards: vec![empty; SHARDS].into_boxed_slice(),
        }
    }

    fn shard(&self, mpxn: Mpxn) -> &Shard {
        // `shard_of` is below SHARDS, the length of `shards`.
        &self.shards[shard_of(mpxn)]
    }

    /// Counts the versions: 0 for the initial empty data, one more for each refresh or batch
    /// that changed something.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no records are held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every record, in key order (MPxN, role, effective_from).
    pub fn records(&self) -> Vec<Registration> {
        let mut all: Vec<Registration> = self
            .shards
            .iter()
            .flat_map(|s| s.iter().map(|(k, e)| e.record(*k)))
            .collect();
        all.sort_by_key(Registration::key);
        all
    }

    /// The record with this key.
    pub fn get(&self, key: &RecordKey) -> Option<Registration> {
        self.shard(key.mpxn).get(key).map(|e| e.record(*key))
    }

    /// Every record for one MPxN, in key order.
    pub fn for_mpxn(&self, mpxn: Mpxn) -> Vec<Registration> {
        self.shard(mpxn)
            .range(mpxn_range(mpxn))
            .map(|(k, e)| e.record(*k))
            .collect()
    }

    /// The record in force for `role` of `mpxn` on `at`: the one with the latest
    /// `effective_from` on or before `at`, provided its `effective_to` (inclusive) has not
    /// passed. A later registration thus ends an earlier one even if the earlier one was
    /// left open-ended.
    pub fn in_force(&self, mpxn: Mpxn, role: PartyRole, at: Date) -> Option<Registration> {
        let lo = RecordKey {
            mpxn,
            party_role: role,
            effective_from: Date::MIN,
        };
        let hi = RecordKey {
            effective_from: at,
            ..lo
        };
        let (key, entry) = self.shard(mpxn).range(lo..=hi).next_back()?;
        let record = entry.record(*key);
        record.covers(at).then_some(record)
    }

    /// The registration-data check for a non-critical Service Request: passes when, on
    /// `at`, `user` holds the relationship that at least one of `roles` needs to `mpxn`
    /// (see the table in the [module docs](super)). `OU` needs none and always passes.
    pub fn authorised(
        &self,
        user: [u8; 8],
        roles: &[Role],
        mpxn: &str,
        at: Date,
    ) -> Result<(), NotRegistered> {
        if roles.is_empty() {
            return Err(Reason::NoRole.into());
        }
        if roles.contains(&Role::OtherUser) {
            return Ok(());
        }
        let mpxn: Mpxn = mpxn.parse().map_err(Reason::InvalidMpxn)?;
        if !self.knows(mpxn) {
            return Err(Reason::UnknownMpxn.into());
        }
        let fuel = mpxn.fuel();
        let mut failure: Option<Reason> = None;
        let mut wrong_fuel: Option<Reason> = None;
        for &role in roles {
            let Some(needed) = PartyRole::required_for(role) else {
                return Ok(());
            };
            if needed.fuel().is_some_and(|f| f != fuel) {
                wrong_fuel.get_or_insert(Reason::WrongFuel { role, fuel });
                continue;
            }
            match self.in_force(mpxn, needed, at) {
                Some(r) if r.party() == user => return Ok(()),
                Some(_) => failure.get_or_insert(Reason::OtherParty { role, at }),
                None => failure.get_or_insert(Reason::Vacant { role, at }),
            };
        }
        Err(failure.or(wrong_fuel).unwrap_or(Reason::NoRole).into())
    }

    /// The Change of Supplier check (SR 6.23): passes when `user` is, or will be, the
    /// registered supplier of `mpxn` on the execution date `at` — the import supplier of an
    /// MPAN or the gas supplier of an MPRN. A registration starting after today but on or
    /// before `at` passes; one that has ended by `at` does not.
    pub fn will_be_supplier(
        &self,
        user: [u8; 8],
        mpxn: &str,
        at: Date,
    ) -> Result<(), NotRegistered> {
        let parsed: Mpxn = mpxn.parse().map_err(Reason::InvalidMpxn)?;
        let role = match parsed.fuel() {
            Fuel::Electricity => Role::ImportSupplier,
            Fuel::Gas => Role::GasSupplier,
        };
        self.authorised(user, &[role], mpxn, at)
    }

    fn knows(&self, mpxn: Mpxn) -> bool {
        self.shard(mpxn).range(mpxn_range(mpxn)).next().is_some()
    }
}

fn mpxn_range(mpxn: Mpxn) -> std::ops::RangeInclusive<RecordKey> {
    let lo = RecordKey {
        mpxn,
        party_role: PartyRole::ImportSupplier,
        effective_from: Date::MIN,
    };
    let hi = RecordKey {
        mpxn,
        party_role: PartyRole::SupplierAgent,
        effective_from: Date::MAX,
    };
    lo..=hi
}

/// The registration data: an index of [`Registration`]s answering the H4 registration check,
/// refreshed atomically.
///
/// Reads take a shared lock only long enough to query (or to clone the current
/// [`Snapshot`]'s `Arc`). A refresh builds the next snapshot beside the current one, without
/// blocking readers, and swaps it in with a single pointer store; refreshes are serialised
/// so that each one's report is relative to the data it replaced. A reader therefore sees
/// either all of a refresh or none of it.
///
/// Persistence is left to the caller: seed with [`RegistrationData::from_records`], and
/// persist each report's [`RefreshReport::changes`] (see [`super::persist`] for a redb
/// table).
#[derive(Debug)]
pub struct RegistrationData {
    current: RwLock<Arc<Snapshot>>,
    writer: Mutex<()>,
    limits: Limits,
}

impl Default for RegistrationData {
    fn default() -> Self {
        RegistrationData::with_limits(Limits::default())
    }
}

impl RegistrationData {
    /// Empty data with default [`Limits`].
    pub fn new() -> RegistrationData {
        RegistrationData::default()
    }

    /// Empty data with the given limits.
    pub fn with_limits(limits: Limits) -> RegistrationData {
        RegistrationData {
            current: RwLock::new(Arc::new(Snapshot::empty())),
            writer: Mutex::new(()),
            limits,
        }
    }

    /// Data holding `records` (for a record repeated by key, the last one), with default
    /// limits. This is how a store's persisted records are loaded back.
    pub fn from_records(records: impl IntoIterator<Item = Registration>) -> RegistrationData {
        let data = RegistrationData::new();
        data.refresh(records);
        data
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The current snapshot, to run several queries against one version.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.read())
    }

    /// See [`Snapshot::records`].
    pub fn records(&self) -> Vec<Registration> {
        self.read().records()
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no records are held.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// See [`Snapshot::authorised`].
    pub fn authorised(
        &self,
        user: [u8; 8],
        roles: &[Role],
        mpxn: &str,
        at: Date,
    ) -> Result<(), NotRegistered> {
        self.read().authorised(user, roles, mpxn, at)
    }

    /// See [`Snapshot::will_be_supplier`].
    pub fn will_be_supplier(
        &self,
        user: [u8; 8],
        mpxn: &str,
        at: Date,
    ) -> Result<(), NotRegistered> {
        self.read().will_be_supplier(user, mpxn, at)
    }

    /// Replaces the whole data set with `records` (a full refresh; for a record repeated by
    /// key, the last one wins) and reports the difference.
    pub fn refresh(&self, records: impl IntoIterator<Item = Registration>) -> RefreshReport {
        self.replace(
            records,
            Vec::new(),
            0,
            [Fuel::Electricity, Fuel::Gas].as_slice(),
        )
    }

    /// Reads a full refresh pushed by a Registration Data Provider and applies it.
    ///
    /// The body replaces the records **of each fuel it carries**: a push from the gas
    /// provider, holding only MPRNs, leaves the electricity records alone.
    ///
    /// Valid rows are applied even when others are rejected; the report lists the rejected
    /// rows. When any row is rejected, records absent from the body are kept rather than
    /// removed (counted in [`RefreshReport::removals_withheld`]), since the rejected rows may
    /// be the ones that carried them.
    pub fn ingest(&self, body: &[u8], format: Format) -> Result<RefreshReport, IngestError> {
        if body.len() > self.limits.max_body_bytes {
            return Err(IngestError::TooLarge {
                size: body.len(),
                limit: self.limits.max_body_bytes,
            });
        }
        let parsed = ingest::parse(body, format, self.limits.max_reported_rejects)?;
        let mut fuels: Vec<Fuel> = parsed.records.iter().map(Registration::fuel).collect();
        fuels.sort();
        fuels.dedup();
        Ok(self.replace(
            parsed.records,
            parsed.rejected,
            parsed.rejected_total,
            &fuels,
        ))
    }

    /// [`RegistrationData::ingest`] of a file, the format chosen by its extension.
    pub fn refresh_from_file(&self, path: &Path) -> Result<RefreshReport, LoadError> {
        let format = Format::from_path(path).ok_or_else(|| LoadError::UnknownFormat {
            path: path.to_owned(),
        })?;
        let io = |source| LoadError::Io {
            path: path.to_owned(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        let limit = self.limits.max_body_bytes;
        if size > u64::try_from(limit).unwrap_or(u64::MAX) {
            return Err(LoadError::Ingest {
                path: path.to_owned(),
                source: IngestError::TooLarge {
                    size: usize::try_from(size).unwrap_or(usize::MAX),
                    limit,
                },
            });
        }
        let body = std::fs::read(path).map_err(io)?;
        self.ingest(&body, format)
            .map_err(|source| LoadError::Ingest {
                path: path.to_owned(),
                source,
            })
    }

    /// Applies a batch of changes (an incremental update, or a replay from a store) as one
    /// step, in order, and reports the difference.
    pub fn apply(&self, changes: &[Change]) -> RefreshReport {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.snapshot();
        let mut touched: HashMap<usize, Shard> = HashMap::new();
        let mut originals: BTreeMap<RecordKey, Option<Entry>> = BTreeMap::new();
        for change in changes {
            let key = match change {
                Change::Upsert(r) => r.key(),
                Change::Remove(k) => *k,
            };
            let index = shard_of(key.mpxn);
            let shard = touched
                .entry(index)
                .or_insert_with(|| Shard::clone(&old.shards[index]));
            originals
                .entry(key)
                .or_insert_with(|| old.shards[index].get(&key).copied());
            match change {
                Change::Upsert(r) => shard.insert(key, Entry::of(r)),
                Change::Remove(k) => shard.remove(k),
            };
        }
        let mut report = RefreshReport::default();
        for (key, before) in originals {
            let after = touched
                .get(&shard_of(key.mpxn))
                .and_then(|s| s.get(&key))
                .copied();
            classify(key, before, after, &mut report);
        }
        let mut shards = old.shards.clone();
        for (index, shard) in touched {
            shards[index] = Arc::new(shard);
        }
        self.install(&old, shards, report)
    }

    fn replace(
        &self,
        records: impl IntoIterator<Item = Registration>,
        rejected: Vec<RowError>,
        rejected_total: usize,
        fuels: &[Fuel],
    ) -> RefreshReport {
        let mut parts: Vec<Shard> = vec![Shard::new(); SHARDS];
        for r in records {
            parts[shard_of(r.mpxn())].insert(r.key(), Entry::of(&r));
        }
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.snapshot();
        let keep_absent = rejected_total > 0;
        let mut report = RefreshReport {
            rejected,
            rejected_total,
            ..RefreshReport::default()
        };
        let mut shards = Vec::with_capacity(SHARDS);
        for (old_shard, mut part) in old.shards.iter().zip(parts) {
            let changes_before = change_count(&report);
            let mut kept = Vec::new();
            let mut old_iter = old_shard.iter().peekable();
            let mut new_iter = part.iter().peekable();
            loop {
                let order = match (old_iter.peek(), new_iter.peek()) {
                    (None, None) => break,
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (Some((o, _)), Some((n, _))) => o.cmp(n),
                };
                match order {
                    std::cmp::Ordering::Less => {
                        if let Some((&k, &e)) = old_iter.next() {
                            if !fuels.contains(&k.mpxn.fuel()) {
                                kept.push((k, e));
                            } else if keep_absent {
                                kept.push((k, e));
                                report.removals_withheld += 1;
                            } else {
                                classify(k, Some(e), None, &mut report);
                            }
                        }
                    }
                    std::cmp::Ordering::Greater => {
                        if let Some((&k, &e)) = new_iter.next() {
                            classify(k, None, Some(e), &mut report);
                        }
                    }
                    std::cmp::Ordering::Equal => {
                        if let (Some((&k, &o)), Some((_, &n))) = (old_iter.next(), new_iter.next())
                        {
                            classify(k, Some(o), Some(n), &mut report);
                        }
                    }
                }
            }
            if change_count(&report) == changes_before {
                shards.push(Arc::clone(old_shard));
            } else {
                part.extend(kept);
                shards.push(Arc::new(part));
            }
        }
        self.install(&old, shards.into_boxed_slice(), report)
    }

    /// Sorts the report, swaps in the new snapshot if anything changed, and logs.
    fn install(
        &self,
        old: &Snapshot,
        shards: Box<[Arc<Shard>]>,
        mut report: RefreshReport,
    ) -> RefreshReport {
        report.added.sort_by_key(Registration::key);
        report.removed.sort_by_key(Registration::key);
        report.modified.sort_by_key(|m| m.after.key());
        report.records = old.len + report.added.len() - report.removed.len();
        report.generation = old.generation;
        if report.changed() {
            report.generation += 1;
            let next = Arc::new(Snapshot {
                generation: report.generation,
                len: report.records,
                shards,
            });
            *self.current.write().unwrap_or_else(PoisonError::into_inner) = next;
        }
        if report.rejected_total > 0 {
            tracing::warn!(
                rejected = report.rejected_total,
                removals_withheld = report.removals_withheld,
                "registration data: rows rejected"
            );
        }
        tracing::info!(
            generation = report.generation,
            records = report.records,
            added = report.added.len(),
            removed = report.removed.len(),
            modified = report.modified.len(),
            unchanged = report.unchanged,
            "registration data refreshed"
        );
        report
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Arc<Snapshot>> {
        // The guarded value is a single `Arc`, replaced whole, so it is never left
        // half-written by a panicking writer.
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn change_count(r: &RefreshReport) -> usize {
    r.added.len() + r.removed.len() + r.modified.len()
}

fn classify(key: RecordKey, before: Option<Entry>, after: Option<Entry>, r: &mut RefreshReport) {
    match (before, after) {
        (None, None) => r.unchanged += 1,
        (None, Some(a)) => r.added.push(a.record(key)),
        (Some(b), None) => r.removed.push(b.record(key)),
        (Some(b), Some(a)) if a == b => r.unchanged += 1,
        (Some(b), Some(a)) => r.modified.push(Modified {
            before: b.record(key),
            after: a.record(key),
        }),
    }
}
