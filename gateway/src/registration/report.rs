//! What a refresh changed.

use super::ingest::RowError;
use super::record::{RecordKey, Registration};

/// One change to the registration data, as [`super::RegistrationData::apply`] takes it and
/// [`RefreshReport::changes`] gives it (for a store to persist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Insert the record, or replace the one with the same [`RecordKey`].
    Upsert(Registration),
    /// Remove the record with this key, if there is one.
    Remove(RecordKey),
}

/// A record whose party or end date a refresh changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Modified {
    /// The record before.
    pub before: Registration,
    /// The record after (same [`RecordKey`]).
    pub after: Registration,
}

/// What a refresh or a batch of changes did, relative to the data it replaced.
///
/// `added`, `removed` and `modified` list every record concerned, in key order; a store
/// persists them through [`RefreshReport::changes`]. For a reply to the sender, who needs
/// the counts and a sample rather than every record, use [`RefreshReport::summary`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RefreshReport {
    /// The generation of the data after the refresh (unchanged when nothing changed).
    pub generation: u64,
    /// Records held after the refresh.
    pub records: usize,
    /// Records that are new.
    pub added: Vec<Registration>,
    /// Records that are gone.
    pub removed: Vec<Registration>,
    /// Records whose party or `effective_to` changed.
    pub modified: Vec<Modified>,
    /// Records named by the input that were already exactly so (for a batch of changes:
    /// upserts of identical records and removals of absent keys).
    pub unchanged: usize,
    /// Records absent from a full refresh that were *kept* because the body had rejected
    /// rows: a partly unreadable body never deletes registrations.
    pub removals_withheld: usize,
    /// Rejected rows (a bounded sample, in line order).
    pub rejected: Vec<RowError>,
    /// Rejected rows in all.
    pub rejected_total: usize,
}

impl RefreshReport {
    /// Whether the data changed.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.removed.is_empty() && self.modified.is_empty())
    }

    /// The changes to persist so that a store matches the data after this refresh.
    pub fn changes(&self) -> Vec<Change> {
        let removes = self.removed.iter().map(|r| Change::Remove(r.key()));
        let upserts = self
            .added
            .iter()
            .chain(self.modified.iter().map(|m| &m.after))
            .map(|r| Change::Upsert(*r));
        removes.chain(upserts).collect()
    }

    /// Counts, with at most `max_details` records of each kind and rejected rows.
    pub fn summary(&self, max_details: usize) -> RefreshSummary {
        RefreshSummary {
            generation: self.generation,
            records: self.records,
            added: self.added.len(),
            removed: self.removed.len(),
            modified: self.modified.len(),
            unchanged: self.unchanged,
            removals_withheld: self.removals_withheld,
            rejected: self.rejected_total,
            added_sample: self.added.iter().take(max_details).copied().collect(),
            removed_sample: self.removed.iter().take(max_details).copied().collect(),
            modified_sample: self.modified.iter().take(max_details).copied().collect(),
            rejected_sample: self.rejected.iter().take(max_details).cloned().collect(),
        }
    }
}

/// A bounded view of a [`RefreshReport`], for replying to the sender of a push.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefreshSummary {
    /// See [`RefreshReport::generation`].
    pub generation: u64,
    /// See [`RefreshReport::records`].
    pub records: usize,
    /// Records added.
    pub added: usize,
    /// Records removed.
    pub removed: usize,
    /// Records modified.
    pub modified: usize,
    /// See [`RefreshReport::unchanged`].
    pub unchanged: usize,
    /// See [`RefreshReport::removals_withheld`].
    pub removals_withheld: usize,
    /// Rows rejected.
    pub rejected: usize,
    /// The first added records.
    pub added_sample: Vec<Registration>,
    /// The first removed records.
    pub removed_sample: Vec<Registration>,
    /// The first modified records.
    pub modified_sample: Vec<Modified>,
    /// The first rejected rows.
    pub rejected_sample: Vec<RowError>,
}
