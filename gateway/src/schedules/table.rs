//! The durable schedule table and the timing of executions.
//!
//! Layout (in the gateway's [`Store`]):
//!
//! | table | key | value |
//! |---|---|---|
//! | `schedules.records` | schedule ID (`u64`) | the [`Schedule`] as JSON |
//! | `schedules.meta` | `"next_id"` | the next schedule ID to give out (JSON number) |
//!
//! Schedule IDs start at 1 and only increase (an ID is never reused, even after its schedule
//! is deleted); the schema caps them at 10¹². [`ScheduleTable`] keeps an in-memory index of
//! the next execution of every schedule, rebuilt from the records when it is opened, so that
//! finding what is due does not read the store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::clock::{civil_from_days, days_from_civil};
use crate::store::{Store, StoreError};

/// Schedule records by ID.
pub const RECORDS: TableDefinition<'static, u64, &'static [u8]> =
    TableDefinition::new("schedules.records");

/// The ID counter.
pub const META: TableDefinition<'static, &'static str, &'static [u8]> =
    TableDefinition::new("schedules.meta");

const NEXT_ID: &str = "next_id";

/// The largest schedule ID the schema allows (`sr:scheduleID`).
pub const MAX_SCHEDULE_ID: u64 = 1_000_000_000_000;

const DAY_MS: i64 = 86_400_000;

/// `sr:ScheduleFrequency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frequency {
    /// Every day.
    Daily,
    /// Every 7 days.
    Weekly,
    /// Every calendar month (on the start date's day, or the month's last day).
    Monthly,
    /// Every 3 months.
    Quarterly,
    /// Every 6 months.
    HalfYearly,
    /// Every 12 months.
    Yearly,
}

impl Frequency {
    /// The schema's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Daily => "Daily",
            Frequency::Weekly => "Weekly",
            Frequency::Monthly => "Monthly",
            Frequency::Quarterly => "Quarterly",
            Frequency::HalfYearly => "Half-Yearly",
            Frequency::Yearly => "Yearly",
        }
    }

    /// Parses the schema's text.
    pub fn parse(s: &str) -> Option<Frequency> {
        [
            Frequency::Daily,
            Frequency::Weekly,
            Frequency::Monthly,
            Frequency::Quarterly,
            Frequency::HalfYearly,
            Frequency::Yearly,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }

    /// Days between executions, for the fixed-length frequencies.
    fn days(self) -> Option<i64> {
        match self {
            Frequency::Daily => Some(1),
            Frequency::Weekly => Some(7),
            _ => None,
        }
    }

    /// Months between executions, for the calendar frequencies.
    fn months(self) -> i64 {
        match self {
            Frequency::Monthly => 1,
            Frequency::Quarterly => 3,
            Frequency::HalfYearly => 6,
            Frequency::Yearly => 12,
            Frequency::Daily | Frequency::Weekly => 0,
        }
    }
}

/// The read period of a scheduled log read (`sr:ReadLogPeriodOffset`): days relative to the
/// execution date (0 or less) and a time of day, for the start and the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodOffset {
    /// `StartDateOffset`.
    pub start_days: i64,
    /// `StartTime` (`xs:time`, as received).
    pub start_time: String,
    /// `EndDateOffset`.
    pub end_days: i64,
    /// `EndTime` (`xs:time`, as received).
    pub end_time: String,
}

/// What each execution asks of the device: the `DSP…` element of the schedule and its read
/// period, if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// The `DSP…` element name (`DSPRetrieveImportDailyReadLog`, …).
    pub element: String,
    /// The read period of a log read; `None` for the reads that take no period.
    pub period: Option<PeriodOffset>,
}

/// One DSP schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// `DSPScheduleID`.
    pub id: u64,
    /// The User that created it (and receives its Service Responses).
    pub owner: [u8; 8],
    /// The User Role under which its executions are sent (`IS`, `ED`, …).
    pub role: String,
    /// The device each execution addresses.
    pub device: [u8; 8],
    /// `ScheduleFrequency`.
    pub frequency: Frequency,
    /// `ScheduleStartDate` (`YYYY-MM-DD`).
    pub start_date: String,
    /// `ScheduleEndDate` (`YYYY-MM-DD`), the last day an execution may fall on.
    pub end_date: Option<String>,
    /// `ScheduleExecutionStartTime` as received; `None`: midnight UTC.
    pub start_time: Option<String>,
    /// `DSPScheduledServiceReference`.
    pub service_reference: String,
    /// `DSPScheduledServiceReferenceVariant`.
    pub srv: String,
    /// What each execution asks for.
    pub action: Action,
    /// When it was created (clock milliseconds).
    pub created_ms: i64,
    /// Its next execution (clock milliseconds).
    pub next_ms: i64,
    /// Executions so far.
    pub runs: u64,
}

impl Schedule {
    /// The schedule's timing.
    ///
    /// # Errors
    ///
    /// A stored date or time that does not parse.
    pub fn timing(&self) -> Result<Timing, String> {
        Timing::new(
            self.frequency,
            &self.start_date,
            self.end_date.as_deref(),
            self.start_time.as_deref(),
        )
    }
}

/// When a schedule's executions fall: occurrence `k` is the start date moved on by `k`
/// periods (days for Daily and Weekly, calendar months for the others, on the start date's
/// day of the month or the month's last day), at the execution time; none after the end
/// date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    frequency: Frequency,
    start_day: i64,
    end_day: Option<i64>,
    time_ms: i64,
}

/// Days since the epoch of an `xs:date` (`YYYY-MM-DD`, any time zone suffix ignored).
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let m: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Milliseconds after midnight UTC of an `xs:time` (`hh:mm:ss[.fff][Z|±hh:mm]`; no zone
/// means UTC).
pub fn parse_time(s: &str) -> Option<i64> {
    let ms = crate::clock::parse_rfc3339_ms(&format!("1970-01-01T{}", s.trim()))?;
    // `24:00:00` is the end of the day; a zone offset may move the instant across
    // midnight, which is kept (the execution moves to the neighbouring UTC day).
    Some(ms)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

impl Timing {
    /// The timing of a schedule with these fields.
    ///
    /// # Errors
    ///
    /// Which field does not parse, or an end date before the start date.
    pub fn new(
        frequency: Frequency,
        start_date: &str,
        end_date: Option<&str>,
        start_time: Option<&str>,
    ) -> Result<Timing, String> {
        let start_day = parse_date(start_date)
            .ok_or_else(|| format!("ScheduleStartDate {start_date:?} is not a date"))?;
        let end_day = match end_date {
            Some(e) => {
                Some(parse_date(e).ok_or_else(|| format!("ScheduleEndDate {e:?} is not a date"))?)
            }
            None => None,
        };
        if end_day.is_some_and(|e| e < start_day) {
            return Err("ScheduleEndDate is before ScheduleStartDate".into());
        }
        let time_ms = match start_time {
            Some(t) => parse_time(t)
                .ok_or_else(|| format!("ScheduleExecutionStartTime {t:?} is not a time"))?,
            None => 0,
        };
        Ok(Timing {
            frequency,
            start_day,
            end_day,
            time_ms,
        })
    }

    /// The day of occurrence `k`.
    fn day(&self, k: i64) -> i64 {
        if let Some(d) = self.frequency.days() {
            return self.start_day + k * d;
        }
        let (y, m, d) = civil_from_days(self.start_day);
        let total = y * 12 + i64::from(m) - 1 + k * self.frequency.months();
        let (ny, nm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
        days_from_civil(ny, nm, d.min(days_in_month(ny, nm)))
    }

    /// The instant of occurrence `k`, or `None` past the end date.
    pub fn occurrence(&self, k: i64) -> Option<i64> {
        let day = self.day(k);
        if self.end_day.is_some_and(|e| day > e) {
            return None;
        }
        Some(day * DAY_MS + self.time_ms)
    }

    /// The first execution at or after `t_ms`, or `None` when the schedule has ended by
    /// then.
    pub fn next_at_or_after(&self, t_ms: i64) -> Option<i64> {
        let first = self.start_day * DAY_MS + self.time_ms;
        // An estimate no later than the answer (periods are at least this long), then step.
        let min_period_ms = match self.frequency.days() {
            Some(d) => d * DAY_MS,
            None => 28 * DAY_MS * self.frequency.months(),
        };
        let max_period_ms = match self.frequency.days() {
            Some(d) => d * DAY_MS,
            None => 31 * DAY_MS * self.frequency.months(),
        };
        let mut k = if t_ms <= first {
            0
        } else {
            (t_ms - first) / max_period_ms
        };
        let bound = k + (t_ms - first).max(0) / min_period_ms + 2;
        while k <= bound {
            let at = self.occurrence(k)?;
            if at >= t_ms {
                return Some(at);
            }
            k += 1;
        }
        None
    }

    /// The last execution at or before `t_ms` (the end date considered), or `None` when the
    /// first falls after it.
    pub fn last_at_or_before(&self, t_ms: i64) -> Option<i64> {
        let first = self.occurrence(0)?;
        // No occurrence falls after the end date's execution time.
        let t_ms = match self.end_day {
            Some(e) => t_ms.min(e * DAY_MS + self.time_ms),
            None => t_ms,
        };
        if t_ms < first {
            return None;
        }
        let max_period_ms = match self.frequency.days() {
            Some(d) => d * DAY_MS,
            None => 31 * DAY_MS * self.frequency.months(),
        };
        // Occurrence `k` falls no later than `first + k * max_period_ms`: start from the
        // largest such `k` not after `t_ms`, then step while the occurrences stay at or
        // before it (at most a few steps: periods are at least 28/31 of the longest).
        let mut k = (t_ms - first) / max_period_ms;
        let mut last = None;
        while let Some(at) = self.occurrence(k) {
            if at > t_ms {
                break;
            }
            last = Some(at);
            k += 1;
        }
        last
    }
}

/// Why the table failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record could not be encoded or decoded.
    #[error("schedule record {id}: {reason}")]
    Corrupt {
        /// The schedule ID.
        id: u64,
        /// Why.
        reason: String,
    },
    /// No more schedule IDs.
    #[error("schedule IDs are exhausted")]
    Exhausted,
}

impl From<redb::TableError> for TableError {
    fn from(e: redb::TableError) -> Self {
        TableError::Store(e.into())
    }
}

impl From<redb::StorageError> for TableError {
    fn from(e: redb::StorageError) -> Self {
        TableError::Store(e.into())
    }
}

/// The schedules, durable in the store, with an in-memory index of next executions.
#[derive(Debug)]
pub struct ScheduleTable {
    store: Arc<Store>,
    /// (next execution, ID) of every schedule; the mutex also serialises writes.
    due: Mutex<BTreeSet<(i64, u64)>>,
}

fn encode(s: &Schedule) -> Result<Vec<u8>, TableError> {
    serde_json::to_vec(s).map_err(|e| TableError::Corrupt {
        id: s.id,
        reason: e.to_string(),
    })
}

fn decode(id: u64, bytes: &[u8]) -> Result<Schedule, TableError> {
    serde_json::from_slice(bytes).map_err(|e| TableError::Corrupt {
        id,
        reason: e.to_string(),
    })
}

impl ScheduleTable {
    /// The table in `store` (created if needed), its index read from the records.
    ///
    /// # Errors
    ///
    /// [`TableError`].
    pub fn open(store: Arc<Store>) -> Result<ScheduleTable, TableError> {
        store.write(|tx| {
            tx.open_table(RECORDS)?;
            tx.open_table(META)?;
            Ok::<_, TableError>(())
        })?;
        let table = ScheduleTable {
            store,
            due: Mutex::new(BTreeSet::new()),
        };
        let all = table.all()?;
        let mut due = table.lock();
        for s in all {
            due.insert((s.next_ms, s.id));
        }
        drop(due);
        Ok(table)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeSet<(i64, u64)>> {
        self.due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every schedule, by ID.
    ///
    /// # Errors
    ///
    /// [`TableError`].
    pub fn all(&self) -> Result<Vec<Schedule>, TableError> {
        self.store.read(|tx| {
            let t = tx.open_table(RECORDS)?;
            let mut out = Vec::new();
            for entry in t.iter()? {
                let (k, v) = entry?;
                out.push(decode(k.value(), v.value())?);
            }
            Ok(out)
        })
    }

    /// The schedule `id`.
    ///
    /// # Errors
    ///
    /// [`TableError`].
    pub fn get(&self, id: u64) -> Result<Option<Schedule>, TableError> {
        self.store.read(|tx| {
            let t = tx.open_table(RECORDS)?;
            match t.get(id)? {
                Some(v) => Ok(Some(decode(id, v.value())?)),
                None => Ok(None),
            }
        })
    }

    /// Schedules for which `keep` is true, by ID.
    ///
    /// # Errors
    ///
    /// [`TableError`].
    pub fn matching(&self, keep: impl Fn(&Schedule) -> bool) -> Result<Vec<Schedule>, TableError> {
        Ok(self.all()?.into_iter().filter(|s| keep(s)).collect())
    }

    /// Stores a new schedule, giving it the next ID, if `owner` holds fewer than
    /// `max_per_user` schedules (`Ok(None)` otherwise). Count, ID and record are one
    /// transaction.
    ///
    /// # Errors
    ///
    /// [`TableError`].
    pub fn create(
        &self,
        mut schedule: Schedule,
        max_per_user: usize,
    ) -> Result<Option<Schedule>, TableError> {
        let mut due = self.lock();
        let stored = self.store.write(|tx| {
            let mut records = tx.open_table(RECORDS)?;
            let mut held = 0usize;
            for entry in records.iter()? {
                let (k, v) = entry?;
                if decode(k.value(), v.value())?.owner == schedule.owner {
                    held += 1;
                }
            }
            if held >= max_per_user {
                return Ok(None);
            }
            let mut meta = tx.open_table(META)?;
            let next: u64 = match meta.get(NEXT_ID)? {
                Some(v) => serde_json::from_slice(v.value()).map_err(|e| TableError::Corrupt {
                    id: 0,
                    reason: format!("next_id: {e}"),
                })?,
                None => 1,
            };
            if next > MAX_SCHEDULE_ID {
                return Err(TableError::Exhausted);
            }
            schedule.id = next;
            let n = serde_json::to_vec(&(next + 1)).map_err(|e| TableError::Corrupt {
                id: next,
                reason: e.to_string(),
            })?;
            meta.insert(NEXT_ID, n.as_slice())?;
            records.insert(next, encode(&schedule)?.as_slice())?;
            Ok::<_, TableError>(Some(schedule))
        })?;
        if let Some(s) = &stored {
            due.insert((s.next_ms, s.id));
        }
        Ok(stored)
    }

    /// Replaces a stored schedule (after an execution); `false` if it is no longer there
    /// (removed meanwhile), in which case nothing is written.
    ///
    /// # Errors
    ///
    /// [`TableError`].
    pub fn update(&self, schedule: &Schedule) -> Result<bool, TableError> {
        let mut due = self.lock();
        let old = self.store.write(|tx| {
            let mut records = tx.open_table(RECORDS)?;
            let old = match records.get(schedule.id)? {
                Some(v) => decode(schedule.id, v.value())?,
                None => return Ok(None),
            };
            records.insert(schedule.id, encode(schedule)?.as_slice())?;
            Ok::<_, TableError>(Some(old))
        })?;
        match old {
            Some(old) => {
                due.remove(&(old.next_ms, old.id));
                due.insert((schedule.next_ms, schedule.id));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Removes the schedules with `ids`; those that were there, by ID.
    ///
    /// # Errors
    ///
    /// [`TableError`]; nothing is removed then.
    pub fn remove(&self, ids: &[u64]) -> Result<Vec<Schedule>, TableError> {
        let mut due = self.lock();
        let removed = self.store.write(|tx| {
            let mut records = tx.open_table(RECORDS)?;
            let mut out = BTreeMap::new();
            for id in ids {
                if let Some(v) = records.remove(*id)? {
                    out.insert(*id, decode(*id, v.value())?);
                }
            }
            Ok::<_, TableError>(out)
        })?;
        for s in removed.values() {
            due.remove(&(s.next_ms, s.id));
        }
        Ok(removed.into_values().collect())
    }

    /// IDs of the schedules due at `now_ms` (next execution at or before it), earliest
    /// first, at most `limit`.
    pub fn due(&self, now_ms: i64, limit: usize) -> Vec<u64> {
        self.lock()
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .take(limit)
            .map(|(_, id)| *id)
            .collect()
    }

    /// Number of schedules.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        crate::clock::parse_rfc3339_ms(s).unwrap()
    }

    /// A daily 4.6.1 import daily read log schedule of User `[owner; 8]` on device `[9; 8]`,
    /// starting 2030-01-02, next due at `next_ms`.
    pub(crate) fn record(owner: u8, next_ms: i64) -> Schedule {
        Schedule {
            id: 0,
            owner: [owner; 8],
            role: "IS".into(),
            device: [9; 8],
            frequency: Frequency::Daily,
            start_date: "2030-01-02".into(),
            end_date: None,
            start_time: None,
            service_reference: "4.6".into(),
            srv: "4.6.1".into(),
            action: Action {
                element: "DSPRetrieveImportDailyReadLog".into(),
                period: Some(PeriodOffset {
                    start_days: -1,
                    start_time: "00:00:00Z".into(),
                    end_days: 0,
                    end_time: "00:00:00Z".into(),
                }),
            },
            created_ms: 0,
            next_ms,
            runs: 0,
        }
    }

    #[test]
    fn daily_and_weekly_occurrences() {
        let t = Timing::new(Frequency::Daily, "2030-01-02", None, Some("01:30:00.00Z")).unwrap();
        assert_eq!(t.occurrence(0), Some(ms("2030-01-02T01:30:00Z")));
        assert_eq!(
            t.next_at_or_after(ms("2029-06-01T00:00:00Z")),
            Some(ms("2030-01-02T01:30:00Z"))
        );
        assert_eq!(
            t.next_at_or_after(ms("2030-01-02T01:30:00Z")),
            Some(ms("2030-01-02T01:30:00Z"))
        );
        assert_eq!(
            t.next_at_or_after(ms("2030-01-02T01:30:00.001Z")),
            Some(ms("2030-01-03T01:30:00Z"))
        );
        assert_eq!(
            t.next_at_or_after(ms("2031-03-01T12:00:00Z")),
            Some(ms("2031-03-02T01:30:00Z"))
        );
        let w = Timing::new(Frequency::Weekly, "2030-01-02", Some("2030-01-20"), None).unwrap();
        assert_eq!(
            w.next_at_or_after(ms("2030-01-03T00:00:00Z")),
            Some(ms("2030-01-09T00:00:00Z"))
        );
        assert_eq!(
            w.next_at_or_after(ms("2030-01-16T00:00:01Z")),
            None,
            "the next one (2030-01-23) falls after the end date"
        );
        // A zone offset moves the execution to its UTC instant.
        let z = Timing::new(Frequency::Daily, "2030-01-02", None, Some("00:30:00+01:00")).unwrap();
        assert_eq!(z.occurrence(0), Some(ms("2030-01-01T23:30:00Z")));
    }

    #[test]
    fn calendar_occurrences_keep_the_day_or_take_the_months_last() {
        let m = Timing::new(Frequency::Monthly, "2030-01-31", None, None).unwrap();
        assert_eq!(m.occurrence(1), Some(ms("2030-02-28T00:00:00Z")));
        assert_eq!(m.occurrence(2), Some(ms("2030-03-31T00:00:00Z")));
        assert_eq!(
            m.next_at_or_after(ms("2030-03-01T00:00:00Z")),
            Some(ms("2030-03-31T00:00:00Z"))
        );
        let q = Timing::new(Frequency::Quarterly, "2030-11-15", None, None).unwrap();
        assert_eq!(q.occurrence(1), Some(ms("2031-02-15T00:00:00Z")));
        let h = Timing::new(Frequency::HalfYearly, "2028-08-31", None, None).unwrap();
        assert_eq!(h.occurrence(1), Some(ms("2029-02-28T00:00:00Z")));
        let y = Timing::new(Frequency::Yearly, "2028-02-29", None, None).unwrap();
        assert_eq!(y.occurrence(1), Some(ms("2029-02-28T00:00:00Z")));
        assert_eq!(y.occurrence(4), Some(ms("2032-02-29T00:00:00Z")));
        assert_eq!(
            y.next_at_or_after(ms("2100-06-01T00:00:00Z")),
            Some(ms("2101-02-28T00:00:00Z"))
        );
    }

    #[test]
    fn the_last_occurrence_before_an_instant() {
        let t = Timing::new(Frequency::Daily, "2030-01-02", None, Some("01:30:00Z")).unwrap();
        assert_eq!(t.last_at_or_before(ms("2030-01-02T01:29:59Z")), None);
        assert_eq!(
            t.last_at_or_before(ms("2030-01-02T01:30:00Z")),
            Some(ms("2030-01-02T01:30:00Z"))
        );
        assert_eq!(
            t.last_at_or_before(ms("2030-01-05T00:00:00Z")),
            Some(ms("2030-01-04T01:30:00Z"))
        );
        let m = Timing::new(Frequency::Monthly, "2030-01-31", Some("2030-06-15"), None).unwrap();
        assert_eq!(
            m.last_at_or_before(ms("2030-03-30T00:00:00Z")),
            Some(ms("2030-02-28T00:00:00Z"))
        );
        assert_eq!(
            m.last_at_or_before(ms("2031-01-01T00:00:00Z")),
            Some(ms("2030-05-31T00:00:00Z")),
            "the end date stops the occurrences"
        );
        let y = Timing::new(Frequency::Yearly, "2028-02-29", None, None).unwrap();
        assert_eq!(
            y.last_at_or_before(ms("2130-02-28T12:00:00Z")),
            Some(ms("2130-02-28T00:00:00Z"))
        );
        // Agrees with `next_at_or_after` on every day of a stretch.
        let w = Timing::new(Frequency::Weekly, "2030-01-02", None, Some("12:00:00Z")).unwrap();
        for day in 0..60 {
            let t = ms("2030-01-02T00:00:00Z") + day * DAY_MS;
            if let Some(last) = w.last_at_or_before(t) {
                assert!(last <= t);
                assert!(w.next_at_or_after(last + 1).is_some_and(|n| n > t));
            }
        }
    }

    #[test]
    fn bad_fields_are_refused() {
        assert!(Timing::new(Frequency::Daily, "2030-02-30", None, None).is_err());
        assert!(Timing::new(Frequency::Daily, "2030-01-02", Some("2030-01-01"), None).is_err());
        assert!(Timing::new(Frequency::Daily, "2030-01-02", None, Some("25:00:00")).is_err());
        assert!(Timing::new(Frequency::Daily, "yesterday", None, None).is_err());
        assert_eq!(Frequency::parse("Half-Yearly"), Some(Frequency::HalfYearly));
        assert_eq!(Frequency::parse("Fortnightly"), None);
    }

    #[test]
    fn ids_increase_limits_hold_and_records_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("hubgate-schedules-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        {
            let store = Arc::new(Store::open(&dir).unwrap());
            let t = ScheduleTable::open(Arc::clone(&store)).unwrap();
            let a = t.create(record(1, 300), 2).unwrap().unwrap();
            let b = t.create(record(1, 100), 2).unwrap().unwrap();
            assert_eq!((a.id, b.id), (1, 2));
            assert!(t.create(record(1, 50), 2).unwrap().is_none(), "limit of 2");
            let c = t.create(record(2, 200), 2).unwrap().unwrap();
            assert_eq!(c.id, 3);
            assert_eq!(t.due(250, 10), vec![2, 3]);
            assert_eq!(t.due(99, 10), Vec::<u64>::new());
            let mut b2 = b.clone();
            b2.next_ms = 1_000;
            assert!(t.update(&b2).unwrap());
            assert_eq!(t.due(400, 10), vec![3, 1]);
            let removed = t.remove(&[1, 42]).unwrap();
            assert_eq!(removed.len(), 1);
            assert_eq!(removed[0].id, 1);
            assert!(
                !t.update(&a).unwrap(),
                "a removed schedule is not written back"
            );
        }
        let store = Arc::new(Store::open(&dir).unwrap());
        let t = ScheduleTable::open(store).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.due(i64::MAX, 10), vec![3, 2]);
        assert_eq!(t.get(2).unwrap().unwrap().next_ms, 1_000);
        // IDs are not reused after a removal.
        let d = t.create(record(3, 0), 2).unwrap().unwrap();
        assert_eq!(d.id, 4);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
