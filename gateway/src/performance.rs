//! SEC Code Performance Measures (Section H13.1, Annex 5 service metrics): a durable monthly
//! tally of Service Responses and alerts delivered within or outside their Target Response
//! Time, and the monthly report against the 99 % Target Service Level and the 96 % Minimum
//! Service Level.
//!
//! # What is counted
//!
//! Every answer the response writer times in `routing::target_time` is also recorded here
//! ([`record`]), in the GB calendar month (Europe/London: GMT in winter, BST from 01:00 UTC on
//! the last Sunday of March to 01:00 UTC on the last Sunday of October) in which it was sent.
//!
//! | category | target | measure (H13.1) | counted |
//! |---|---|---|---|
//! | `on_demand` | 30 s from the request (`performance.on_demand_target_ms`) | 1 | each device Service Response, I0 or E20/E21 |
//! | `future_dated` | 24 h from the execution date-time | 2 | each DSP future-dated Service Response, from the execution time the request named; each DSP schedule execution's Service Response, from its occurrence |
//! | `firmware` | 5 days (11.1 Update Firmware) | 1 | each 11.1 request whose distribution finished, from its acknowledgement to its last device's completion alert |
//! | `alert` | 60 s from its arrival | 3 | device alerts (a device future-dated command's execution alert among them) and DCC alerts for lost hubs |
//!
//! The response writer (`routing`) picks the category of each answer it times: a request
//! that named an execution time later than its arrival, and a DSP schedule's execution
//! (`crate::schedules`), are `future_dated`, any other device request `on_demand`. An 11.1
//! Update Firmware request (a non-device, CV 8, service answered at once) is timed by the
//! firmware distribution ([`crate::firmware`]) instead: once every device it names has its
//! outcome (a `CommsHubAlert`, or the `FirmwareDistributionFailure` for hubs that cannot be
//! reached), the time from its acknowledgement to then counts as one `firmware` answer
//! against 5 days. A device future-dated command is
//! answered twice: its immediate answer counts as `on_demand`, and the device's execution
//! alert, delivered as the Future-Dated Response, as `alert` against 60 s from its arrival
//! (the gateway does not read the execution time out of the alert).
//!
//! Measures 4 and 5 (incident resolution) are outside what a gateway can see.
//!
//! # Durability
//!
//! Answers are counted in memory ([`Tally`]); a flusher thread ([`Flusher`]) writes the
//! months' totals to the store every `performance.flush_interval_ms` (default 5 s) in one
//! transaction, and once more when the gateway stops in order. Nothing adds a commit per
//! answer. A crash (power loss, SIGKILL) loses the answers counted since the last flush: at
//! most one flush interval's worth. Totals are written as absolute values, so a failed flush
//! is simply retried by the next one and nothing is counted twice.
//!
//! The store holds one table per month, `performance.YYYY-MM`, keyed by category, each value
//! JSON `{"within": n, "outside": n, "target_ms": n}` (`target_ms`: the target in force at the
//! last update).
//!
//! # Where the report is read
//!
//! - `hubgate report performance [--month YYYY-MM] [--data-dir DIR] [--json]` reads the store
//!   directly ([`read_report`]); the gateway must be stopped (redb lets one process open it).
//! - `GET /api/v1/reports/performance?month=YYYY-MM` on the metrics listener ([`configure`]):
//!   the same report as JSON, with the answers not yet flushed included. Like `/metrics`, it is
//!   not authenticated: the metrics listener belongs on an operators' network.
//! - The gauge `hubgate_performance_within_ratio{category,month}`, set after each flush.
//!
//! # What the tests prove
//!
//! The unit tests below: GB month boundaries (GMT and BST), month parsing, the
//! met / below-target / below-minimum classification at its edges, flushing and re-reading the
//! store, absolute writes after a retried flush, the final flush on stop. The integration test
//! `gateway/tests/performance_report.rs`: a real `hubgate serve` with emulated meters, reads
//! answered within a small on-demand target and a silent meter's E21 outside it; the HTTP
//! endpoint, the gauge and, after the gateway is killed, the CLI show the same counts and
//! percentages.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{self, Clock};
use crate::metric_name;
use crate::registration::Date;
use crate::store::{Store, StoreError};

/// The HTTP path of the report.
pub const PATH: &str = "/api/v1/reports/performance";

/// Target Service Level (H13.1 measures 1-3), in percent.
pub const TARGET_SERVICE_LEVEL_PERCENT: u64 = 99;
/// Minimum Service Level (H13.1 measures 1-3), in percent.
pub const MINIMUM_SERVICE_LEVEL_PERCENT: u64 = 96;

const DAY_MS: i64 = 86_400_000;

/// A category of answer with its own Target Response Time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// On-demand Service Responses: 30 s from the request.
    OnDemand,
    /// Future-dated Service Responses: 24 h from the execution date-time.
    FutureDated,
    /// 11.1 Update Firmware: 5 days.
    Firmware,
    /// Alerts: 60 s from their arrival.
    Alert,
}

impl Category {
    /// Every category, in report order.
    pub const ALL: [Category; 4] = [
        Category::OnDemand,
        Category::FutureDated,
        Category::Firmware,
        Category::Alert,
    ];

    /// The label in the store, the metrics and the report (the same as
    /// `hubgate_target_time_total`'s `category`).
    pub fn label(self) -> &'static str {
        match self {
            Category::OnDemand => "on_demand",
            Category::FutureDated => "future_dated",
            Category::Firmware => "firmware",
            Category::Alert => "alert",
        }
    }

    /// The category of `label`.
    pub fn from_label(label: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.label() == label)
    }

    /// The SEC Target Response Time, in milliseconds.
    pub fn default_target_ms(self) -> i64 {
        match self {
            Category::OnDemand => 30_000,
            Category::FutureDated => DAY_MS,
            Category::Firmware => 5 * DAY_MS,
            Category::Alert => 60_000,
        }
    }

    /// The Code Performance Measure (H13.1) the category counts towards.
    pub fn measure(self) -> u8 {
        match self {
            Category::OnDemand | Category::Firmware => 1,
            Category::FutureDated => 2,
            Category::Alert => 3,
        }
    }

    /// Why the gateway does not count this category yet; `None` when it does.
    pub fn not_classified(self) -> Option<&'static str> {
        match self {
            Category::OnDemand | Category::Alert | Category::FutureDated | Category::Firmware => {
                None
            }
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a month could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a month: expected YYYY-MM (e.g. 2026-04)")]
pub struct MonthError(pub String);

/// A calendar month in Great Britain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: u16,
    month: u8,
}

impl Month {
    /// A month; `None` unless `1 <= month <= 12` and the year has four digits.
    pub fn new(year: u16, month: u8) -> Option<Month> {
        ((1000..=9999).contains(&year) && (1..=12).contains(&month))
            .then_some(Month { year, month })
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1-12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The GB month an instant (milliseconds since the Unix epoch) falls in.
    pub fn of_ms(ms: i64) -> Month {
        match Date::gb_from_unix_ms(ms) {
            Ok(d) => Month {
                year: d.year(),
                month: d.month(),
            },
            // Outside the dates the registration calendar knows: the UTC month, clamped.
            Err(_) => {
                let (y, m, _) = clock::civil_from_days(ms.div_euclid(DAY_MS));
                Month {
                    year: u16::try_from(y.clamp(1000, 9999)).unwrap_or(1000),
                    month: u8::try_from(m).unwrap_or(1),
                }
            }
        }
    }

    /// The instant (milliseconds since the Unix epoch) the month begins: midnight on the 1st
    /// in Great Britain (23:00 UTC the day before from April to October).
    pub fn start_ms(self) -> i64 {
        let midnight_utc =
            clock::days_from_civil(i64::from(self.year), u32::from(self.month), 1) * DAY_MS;
        let bst = midnight_utc - DAY_MS / 24;
        if Month::of_ms(bst) == self {
            bst
        } else {
            midnight_utc
        }
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year.saturating_add(1),
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Reads `YYYY-MM`.
    ///
    /// # Errors
    ///
    /// [`MonthError`].
    pub fn parse(s: &str) -> Result<Month, MonthError> {
        let err = || MonthError(s.to_string());
        let (y, m) = s.trim().split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let year = y.parse().map_err(|_| err())?;
        let month = m.parse().map_err(|_| err())?;
        Month::new(year, month).ok_or_else(err)
    }

    fn table_name(self) -> String {
        format!("performance.{self}")
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Answers of one category in one month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Delivered within the target.
    pub within: u64,
    /// Delivered outside it.
    pub outside: u64,
    /// The target in force at the last update, in milliseconds (0: not recorded).
    #[serde(default)]
    pub target_ms: i64,
}

impl Counts {
    /// All answers.
    pub fn answers(self) -> u64 {
        self.within.saturating_add(self.outside)
    }
}

/// How a month's percentage stands against the service levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// At or above the 99 % Target Service Level.
    Met,
    /// Below the target but at or above the 96 % Minimum Service Level: the DCC must explain
    /// the cause.
    BelowTarget,
    /// Below the Minimum Service Level: the DCC must also report the steps taken to rectify.
    BelowMinimum,
    /// No answers in the month.
    NoAnswers,
}

impl Standing {
    /// `within` of `answers` against the service levels (exact integer comparison).
    pub fn of(answers: u64, within: u64) -> Standing {
        let (a, w) = (u128::from(answers), u128::from(within.min(answers)));
        if a == 0 {
            Standing::NoAnswers
        } else if w * 100 >= u128::from(TARGET_SERVICE_LEVEL_PERCENT) * a {
            Standing::Met
        } else if w * 100 >= u128::from(MINIMUM_SERVICE_LEVEL_PERCENT) * a {
            Standing::BelowTarget
        } else {
            Standing::BelowMinimum
        }
    }

    /// As the report prints it.
    pub fn label(self) -> &'static str {
        match self {
            Standing::Met => "met",
            Standing::BelowTarget => "below target",
            Standing::BelowMinimum => "below minimum",
            Standing::NoAnswers => "no answers",
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The category label.
    pub category: &'static str,
    /// The Code Performance Measure it counts towards.
    pub measure: u8,
    /// Its Target Response Time, in milliseconds.
    pub target_response_ms: i64,
    /// Whether the gateway counts it today.
    pub classified: bool,
    /// Why not, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// Answers in the month.
    pub answers: u64,
    /// Of which within the target.
    pub within_target: u64,
    /// Of which outside it.
    pub outside_target: u64,
    /// `within_target / answers` in percent, two decimals; `None` with no answers.
    pub within_percent: Option<f64>,
    /// Against the service levels.
    pub standing: Standing,
}

/// The monthly Code Performance Measures report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Its first instant (RFC 3339, UTC).
    pub from: String,
    /// The first instant of the next month (RFC 3339, UTC).
    pub until: String,
    /// The Target Service Level, percent.
    pub target_service_level_percent: u64,
    /// The Minimum Service Level, percent.
    pub minimum_service_level_percent: u64,
    /// One row per category.
    pub measures: Vec<Row>,
}

impl Report {
    /// The report of `month` from the counts per category; `on_demand_target_ms` for a
    /// category with none stored.
    pub fn build(
        month: Month,
        counts: &BTreeMap<Category, Counts>,
        on_demand_target_ms: i64,
    ) -> Report {
        let measures = Category::ALL
            .into_iter()
            .map(|c| {
                let n = counts.get(&c).copied().unwrap_or_default();
                let answers = n.answers();
                let target = if n.target_ms > 0 {
                    n.target_ms
                } else if c == Category::OnDemand {
                    on_demand_target_ms
                } else {
                    c.default_target_ms()
                };
                #[allow(clippy::cast_precision_loss)]
                let percent = (answers > 0)
                    .then(|| (n.within as f64 * 10_000.0 / answers as f64).round() / 100.0);
                Row {
                    category: c.label(),
                    measure: c.measure(),
                    target_response_ms: target,
                    classified: c.not_classified().is_none(),
                    note: c.not_classified(),
                    answers,
                    within_target: n.within,
                    outside_target: n.outside,
                    within_percent: percent,
                    standing: Standing::of(answers, n.within),
                }
            })
            .collect();
        Report {
            month: month.to_string(),
            from: clock::rfc3339_ms(month.start_ms()),
            until: clock::rfc3339_ms(month.next().start_ms()),
            target_service_level_percent: TARGET_SERVICE_LEVEL_PERCENT,
            minimum_service_level_percent: MINIMUM_SERVICE_LEVEL_PERCENT,
            measures,
        }
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The report as a text table.
    pub fn render_table(&self) -> String {
        let mut out = format!(
            "Code Performance Measures, {} ({} to {})\n\
             Target Service Level {} %, Minimum Service Level {} %\n\n\
             {:<13} {:>7} {:>11} {:>8} {:>8} {:>8} {:>9}  {}\n",
            self.month,
            self.from,
            self.until,
            self.target_service_level_percent,
            self.minimum_service_level_percent,
            "CATEGORY",
            "MEASURE",
            "TARGET",
            "ANSWERS",
            "WITHIN",
            "OUTSIDE",
            "WITHIN %",
            "STANDING"
        );
        let mut notes = String::new();
        for r in &self.measures {
            let percent = r
                .within_percent
                .map_or_else(|| "-".to_string(), |p| format!("{p:.2}"));
            let standing = if r.classified {
                r.standing.label()
            } else {
                "not classified"
            };
            out.push_str(&format!(
                "{:<13} {:>7} {:>11} {:>8} {:>8} {:>8} {:>9}  {}\n",
                r.category,
                r.measure,
                duration_text(r.target_response_ms),
                r.answers,
                r.within_target,
                r.outside_target,
                percent,
                standing
            ));
            if let Some(n) = r.note {
                notes.push_str(&format!("  {}: {n}\n", r.category));
            }
        }
        if !notes.is_empty() {
            out.push_str("\nNot classified yet:\n");
            out.push_str(&notes);
        }
        out
    }
}

/// `30 s`, `24 h`, `5 d`, `1500 ms`.
fn duration_text(ms: i64) -> String {
    if ms % DAY_MS == 0 && ms > DAY_MS {
        format!("{} d", ms / DAY_MS)
    } else if ms % 3_600_000 == 0 && ms >= 3_600_000 {
        format!("{} h", ms / 3_600_000)
    } else if ms % 1000 == 0 && ms >= 1000 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

fn table(name: &str) -> redb::TableDefinition<'_, &'static str, &'static [u8]> {
    redb::TableDefinition::new(name)
}

fn decode(table: &str, bytes: &[u8]) -> Result<Counts, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
        table: table.to_string(),
        source,
    })
}

/// The counts of `month` in `store`, per category.
///
/// # Errors
///
/// [`StoreError`].
pub fn read_counts(store: &Store, month: Month) -> Result<BTreeMap<Category, Counts>, StoreError> {
    let name = month.table_name();
    store.read(|tx| {
        let t = match tx.open_table(table(&name)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
            Err(e) => return Err(StoreError::from(redb::Error::from(e))),
        };
        let mut out = BTreeMap::new();
        for c in Category::ALL {
            if let Some(v) = t
                .get(c.label())
                .map_err(|e| StoreError::from(redb::Error::from(e)))?
            {
                out.insert(c, decode(&name, v.value())?);
            }
        }
        Ok(out)
    })
}

/// The months with a tally in `store`, oldest first.
///
/// # Errors
///
/// [`StoreError`].
pub fn months(store: &Store) -> Result<Vec<Month>, StoreError> {
    store.read(|tx| {
        use redb::TableHandle as _;
        let tables = tx
            .list_tables()
            .map_err(|e| StoreError::from(redb::Error::from(e)))?;
        let mut out: Vec<Month> = tables
            .filter_map(|h| {
                h.name()
                    .strip_prefix("performance.")
                    .and_then(|m| Month::parse(m).ok())
            })
            .collect();
        out.sort();
        Ok(out)
    })
}

/// The report of `month` from `store` alone (what the gateway flushed).
///
/// # Errors
///
/// [`StoreError`].
pub fn read_report(
    store: &Store,
    month: Month,
    on_demand_target_ms: i64,
) -> Result<Report, StoreError> {
    Ok(Report::build(
        month,
        &read_counts(store, month)?,
        on_demand_target_ms,
    ))
}

/// The tally's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The on-demand Target Response Time, in milliseconds.
    pub on_demand_target_ms: i64,
    /// How often the counts are written to the store.
    pub flush_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            on_demand_target_ms: Category::OnDemand.default_target_ms(),
            flush_interval: Duration::from_secs(5),
        }
    }
}

impl Settings {
    /// The settings of `config.performance`.
    pub fn from_config(config: &crate::config::Config) -> Settings {
        Settings {
            on_demand_target_ms: i64::try_from(config.performance.on_demand_target_ms)
                .unwrap_or(i64::MAX),
            flush_interval: Duration::from_millis(config.performance.flush_interval_ms),
        }
    }

    /// The target of `category`.
    pub fn target_ms(&self, category: Category) -> i64 {
        match category {
            Category::OnDemand => self.on_demand_target_ms,
            other => other.default_target_ms(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Totals of every (month, category) touched since start, loaded from the store on first
    /// touch: always at least what the store holds.
    totals: BTreeMap<(Month, Category), Counts>,
    /// Keys changed since the last flush.
    dirty: BTreeSet<(Month, Category)>,
}

/// The in-memory tally, flushed to the store by a [`Flusher`].
pub struct Tally {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    state: Mutex<State>,
    /// Held while a flush writes, so flushes never overtake each other.
    flushing: Mutex<()>,
}

impl fmt::Debug for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tally")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Tally {
    /// A tally over `store`, dating answers with `clock`.
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>, settings: Settings) -> Tally {
        Tally {
            store,
            clock,
            settings,
            state: Mutex::new(State::default()),
            flushing: Mutex::new(()),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts an answer of `category` that took `elapsed_ms`, sent now.
    pub fn record(&self, category: Category, elapsed_ms: i64) {
        self.record_at(category, elapsed_ms, self.clock.now_ms());
    }

    /// Counts an answer of `category` that took `elapsed_ms`, sent at `at_ms`.
    pub fn record_at(&self, category: Category, elapsed_ms: i64, at_ms: i64) {
        let month = Month::of_ms(at_ms);
        let target = self.settings.target_ms(category);
        let key = (month, category);
        let mut state = self.lock();
        let c = match state.totals.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                // First answer of this month and category since start: continue from the
                // store. If it cannot be read, this answer is not counted rather than the
                // month's stored total being overwritten by a smaller one.
                match read_counts(&self.store, month) {
                    Ok(mut stored) => e.insert(stored.remove(&category).unwrap_or_default()),
                    Err(err) => {
                        tracing::error!(error = %err, %month, "reading the performance tally: an answer was not counted");
                        return;
                    }
                }
            }
        };
        if elapsed_ms <= target {
            c.within = c.within.saturating_add(1);
        } else {
            c.outside = c.outside.saturating_add(1);
        }
        c.target_ms = target;
        state.dirty.insert(key);
    }

    /// Writes what changed since the last flush to the store, in one transaction; the
    /// number of (month, category) totals written. On failure they stay to be written by
    /// the next flush.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn flush(&self) -> Result<usize, StoreError> {
        let _one = self
            .flushing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed: Vec<((Month, Category), Counts)> = {
            let mut state = self.lock();
            let keys = std::mem::take(&mut state.dirty);
            keys.into_iter()
                .filter_map(|k| state.totals.get(&k).map(|c| (k, *c)))
                .collect()
        };
        if changed.is_empty() {
            return Ok(0);
        }
        let written = self.store.write(|tx| {
            for ((month, category), counts) in &changed {
                let name = month.table_name();
                let bytes = serde_json::to_vec(counts).map_err(|source| StoreError::Encode {
                    table: name.clone(),
                    source,
                })?;
                tx.open_table(table(&name))
                    .map_err(|e| StoreError::from(redb::Error::from(e)))?
                    .insert(category.label(), bytes.as_slice())
                    .map_err(|e| StoreError::from(redb::Error::from(e)))?;
            }
            Ok::<_, StoreError>(changed.len())
        });
        match written {
            Ok(n) => {
                for ((month, category), counts) in &changed {
                    publish_gauge(*month, *category, *counts);
                }
                Ok(n)
            }
            Err(e) => {
                let mut state = self.lock();
                state.dirty.extend(changed.into_iter().map(|(k, _)| k));
                Err(e)
            }
        }
    }

    /// The counts of `month`: the store's, with the answers not flushed yet.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn counts(&self, month: Month) -> Result<BTreeMap<Category, Counts>, StoreError> {
        let mut counts = read_counts(&self.store, month)?;
        let state = self.lock();
        for ((m, c), n) in state
            .totals
            .range((month, Category::OnDemand)..=(month, Category::Alert))
        {
            if *m == month {
                counts.insert(*c, *n);
            }
        }
        Ok(counts)
    }

    /// The report of `month`, with the answers not flushed yet.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn report(&self, month: Month) -> Result<Report, StoreError> {
        Ok(Report::build(
            month,
            &self.counts(month)?,
            self.settings.on_demand_target_ms,
        ))
    }

    /// The month now.
    pub fn current_month(&self) -> Month {
        Month::of_ms(self.clock.now_ms())
    }

    /// Sets the gauges of `month` from the store (at start, so a restarted gateway exports
    /// the month so far).
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn publish(&self, month: Month) -> Result<(), StoreError> {
        for (c, n) in self.counts(month)? {
            publish_gauge(month, c, n);
        }
        Ok(())
    }
}

fn publish_gauge(month: Month, category: Category, counts: Counts) {
    let answers = counts.answers();
    if answers > 0 {
        #[allow(clippy::cast_precision_loss)]
        let ratio = counts.within as f64 / answers as f64;
        metrics::gauge!(
            metric_name::PERFORMANCE_WITHIN_RATIO,
            "category" => category.label(),
            "month" => month.to_string()
        )
        .set(ratio);
    }
}

static INSTALLED: OnceLock<Arc<Tally>> = OnceLock::new();

/// Makes `tally` the one [`record`] counts into (once per process; `false` if one already
/// was).
pub fn install(tally: Arc<Tally>) -> bool {
    INSTALLED.set(tally).is_ok()
}

/// Counts an answer of the category labelled `category` (`on_demand`, `alert`) that took
/// `elapsed_ms`, in the installed tally; nothing when none is installed or the label is not a
/// category.
pub fn record(category: &str, elapsed_ms: i64) {
    if let (Some(t), Some(c)) = (INSTALLED.get(), Category::from_label(category)) {
        t.record(c, elapsed_ms);
    }
}

/// The thread that flushes a [`Tally`] every interval, and once more when stopped.
pub type Flusher = crate::flusher::Flusher<Tally>;

impl crate::flusher::Flush for Tally {
    const WHAT: &'static str = "the performance tally";

    fn flush(&self) -> Result<usize, StoreError> {
        Tally::flush(self)
    }
}

/// Starts flushing `tally` every `tally.settings().flush_interval`.
///
/// # Errors
///
/// When the thread cannot be started.
pub fn start_flusher(tally: Arc<Tally>) -> std::io::Result<Flusher> {
    let interval = tally.settings.flush_interval;
    Flusher::spawn(tally, "hubgate-performance", interval, false)
}

/// Adds `GET /api/v1/reports/performance[?month=YYYY-MM]` (default: the current month).
pub fn configure(cfg: &mut actix_web::web::ServiceConfig, tally: actix_web::web::Data<Tally>) {
    cfg.service(
        actix_web::web::resource(PATH)
            .app_data(tally)
            .route(actix_web::web::get().to(report_endpoint)),
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    month: Option<String>,
}

async fn report_endpoint(
    query: Result<actix_web::web::Query<ReportQuery>, actix_web::Error>,
    tally: actix_web::web::Data<Tally>,
) -> actix_web::HttpResponse {
    use actix_web::HttpResponse;
    use actix_web::http::StatusCode;
    let json = |status: StatusCode, v: serde_json::Value| {
        HttpResponse::build(status)
            .content_type("application/json")
            .body(v.to_string())
    };
    let query = match query {
        Ok(q) => q.into_inner(),
        Err(e) => {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": format!("query: {e}") }),
            );
        }
    };
    let month = match query.month.as_deref().map(Month::parse) {
        None => tally.current_month(),
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": e.to_string() }),
            );
        }
    };
    let t = tally.into_inner();
    match actix_web::web::block(move || t.report(month)).await {
        Ok(Ok(r)) => json(StatusCode::OK, r.to_json()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "performance report");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "error": "the store failed" }),
            )
        }
        Err(e) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "error": e.to_string() }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{PinnedClock, parse_rfc3339_ms};

    fn at(s: &str) -> i64 {
        parse_rfc3339_ms(s).unwrap()
    }

    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    #[test]
    fn months_follow_the_gb_calendar() {
        // GMT: the UTC month.
        assert_eq!(Month::of_ms(at("2026-01-31T23:59:59.999Z")), m("2026-01"));
        assert_eq!(Month::of_ms(at("2026-02-01T00:00:00Z")), m("2026-02"));
        // BST (30 March 2025 to 26 October 2025; 29 March 2026 to 25 October 2026): the
        // month begins at 23:00 UTC the day before.
        assert_eq!(Month::of_ms(at("2026-03-31T22:59:59.999Z")), m("2026-03"));
        assert_eq!(Month::of_ms(at("2026-03-31T23:00:00Z")), m("2026-04"));
        assert_eq!(Month::of_ms(at("2025-06-30T23:30:00Z")), m("2025-07"));
        assert_eq!(Month::of_ms(at("2026-09-30T23:00:00Z")), m("2026-10"));
        // After BST ends, 31 October 23:30 UTC is still October.
        assert_eq!(Month::of_ms(at("2026-10-31T23:30:00Z")), m("2026-10"));
        assert_eq!(Month::of_ms(at("2026-12-31T23:59:59Z")), m("2026-12"));
        assert_eq!(Month::of_ms(at("2027-01-01T00:00:00Z")), m("2027-01"));

        assert_eq!(m("2026-04").start_ms(), at("2026-03-31T23:00:00Z"));
        assert_eq!(m("2026-10").start_ms(), at("2026-09-30T23:00:00Z"));
        assert_eq!(m("2026-11").start_ms(), at("2026-11-01T00:00:00Z"));
        assert_eq!(m("2026-03").start_ms(), at("2026-03-01T00:00:00Z"));
        assert_eq!(m("2026-12").next(), m("2027-01"));
        for month in ["2024-02", "2026-03", "2026-04", "2026-10", "2026-11"] {
            let s = m(month).start_ms();
            assert_eq!(Month::of_ms(s), m(month), "{month} starts in itself");
            assert_ne!(Month::of_ms(s - 1), m(month), "{month}: the instant before");
        }
        let r = Report::build(m("2026-04"), &BTreeMap::new(), 30_000);
        assert_eq!(r.from, "2026-03-31T23:00:00.000Z");
        assert_eq!(r.until, "2026-04-30T23:00:00.000Z");
    }

    #[test]
    fn months_are_read_strictly() {
        assert_eq!(m("2026-04").to_string(), "2026-04");
        for bad in [
            "2026-13",
            "2026-00",
            "2026-4",
            "26-04",
            "2026/04",
            "april",
            "",
            "2026-04-01",
            "+026-04",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Month::parse("2026-13")
                .unwrap_err()
                .to_string()
                .contains("YYYY-MM")
        );
    }

    #[test]
    fn standing_against_99_and_96_percent() {
        assert_eq!(Standing::of(0, 0), Standing::NoAnswers);
        assert_eq!(Standing::of(100, 100), Standing::Met);
        assert_eq!(
            Standing::of(100, 99),
            Standing::Met,
            "exactly 99 % meets the target"
        );
        assert_eq!(Standing::of(1000, 989), Standing::BelowTarget, "98.9 %");
        assert_eq!(
            Standing::of(100, 96),
            Standing::BelowTarget,
            "exactly 96 % is the minimum"
        );
        assert_eq!(Standing::of(1000, 959), Standing::BelowMinimum, "95.9 %");
        assert_eq!(Standing::of(3, 2), Standing::BelowMinimum);
        assert_eq!(
            Standing::of(u64::MAX, u64::MAX),
            Standing::Met,
            "no overflow"
        );
        let mut counts = BTreeMap::new();
        counts.insert(
            Category::OnDemand,
            Counts {
                within: 2,
                outside: 1,
                target_ms: 1500,
            },
        );
        let r = Report::build(m("2026-11"), &counts, 30_000);
        let od = &r.measures[0];
        assert_eq!(
            (od.category, od.answers, od.within_target),
            ("on_demand", 3, 2)
        );
        assert_eq!(od.within_percent, Some(66.67));
        assert_eq!(od.standing, Standing::BelowMinimum);
        assert_eq!(od.target_response_ms, 1500);
        let alert = &r.measures[3];
        assert_eq!(
            (alert.answers, alert.standing, alert.within_percent),
            (0, Standing::NoAnswers, None)
        );
        assert!(r.measures.iter().all(|m| m.classified && m.note.is_none()));
        let text = r.render_table();
        assert!(
            text.contains("66.67") && text.contains("below minimum") && text.contains("1500 ms"),
            "{text}"
        );
        assert!(!text.contains("not classified"), "{text}");
        assert_eq!(r.to_json()["measures"][0]["standing"], "below_minimum");
    }

    fn temp_store(tag: &str) -> (std::path::PathBuf, Arc<Store>) {
        let d =
            std::env::temp_dir().join(format!("hubgate-performance-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let s = Arc::new(Store::open(&d).unwrap());
        (d, s)
    }

    #[test]
    fn the_tally_is_flushed_in_batches_and_continues_after_reopen() {
        let (dir, store) = temp_store("flush");
        let clock = Arc::new(PinnedClock::at(at("2026-04-15T12:00:00Z")));
        let settings = Settings {
            on_demand_target_ms: 1000,
            flush_interval: Duration::from_secs(3600),
        };
        let tally = Tally::new(Arc::clone(&store), clock.clone(), settings);
        tally.record(Category::OnDemand, 10);
        tally.record(Category::OnDemand, 1000);
        tally.record(Category::OnDemand, 1001);
        tally.record(Category::Alert, 59_000);
        // A BST month boundary: 23:30 UTC on 30 April is May in Great Britain.
        tally.record_at(Category::Alert, 61_000, at("2026-04-30T23:30:00Z"));
        // Not flushed yet: the store has nothing, the live report has everything.
        assert!(read_counts(&store, m("2026-04")).unwrap().is_empty());
        let live = tally.counts(m("2026-04")).unwrap();
        assert_eq!(live[&Category::OnDemand].within, 2);
        assert_eq!(live[&Category::OnDemand].outside, 1);
        assert_eq!(tally.flush().unwrap(), 3);
        assert_eq!(tally.flush().unwrap(), 0, "nothing changed since");
        let stored = read_counts(&store, m("2026-04")).unwrap();
        assert_eq!(
            stored[&Category::OnDemand],
            Counts {
                within: 2,
                outside: 1,
                target_ms: 1000
            }
        );
        assert_eq!(stored[&Category::Alert].within, 1);
        assert_eq!(
            read_counts(&store, m("2026-05")).unwrap()[&Category::Alert].outside,
            1
        );
        assert_eq!(months(&store).unwrap(), vec![m("2026-04"), m("2026-05")]);
        // Absolute writes: another answer and another flush do not double anything.
        tally.record(Category::OnDemand, 5);
        assert_eq!(tally.flush().unwrap(), 1);
        assert_eq!(
            read_counts(&store, m("2026-04")).unwrap()[&Category::OnDemand].within,
            3
        );
        drop(tally);
        // A new tally (a restart) continues from the store.
        let tally = Tally::new(Arc::clone(&store), clock, settings);
        tally.record(Category::OnDemand, 5000);
        let r = tally.report(m("2026-04")).unwrap();
        assert_eq!((r.measures[0].answers, r.measures[0].within_target), (5, 3));
        assert_eq!(
            read_report(&store, m("2026-04"), 30_000).unwrap().measures[0].answers,
            4
        );
        drop(tally);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_flusher_writes_periodically_and_on_stop() {
        let (dir, store) = temp_store("flusher");
        let clock = Arc::new(PinnedClock::at(at("2026-11-02T00:00:00Z")));
        let periodic = Arc::new(Tally::new(
            Arc::clone(&store),
            clock.clone(),
            Settings {
                on_demand_target_ms: 1000,
                flush_interval: Duration::from_millis(20),
            },
        ));
        let f = start_flusher(Arc::clone(&periodic)).unwrap();
        periodic.record(Category::OnDemand, 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while read_counts(&store, m("2026-11")).unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(f);
        // A long interval: only the stop writes.
        let slow = Arc::new(Tally::new(
            Arc::clone(&store),
            clock,
            Settings {
                on_demand_target_ms: 1000,
                flush_interval: Duration::from_secs(3600),
            },
        ));
        let f = start_flusher(Arc::clone(&slow)).unwrap();
        slow.record(Category::OnDemand, 2000);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            read_counts(&store, m("2026-11")).unwrap()[&Category::OnDemand].outside,
            0
        );
        assert_eq!(f.stop().unwrap(), 1);
        let c = read_counts(&store, m("2026-11")).unwrap()[&Category::OnDemand];
        assert_eq!((c.within, c.outside), (1, 1));
        drop((periodic, slow, store));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_value_is_a_decode_error_not_a_panic() {
        let (dir, store) = temp_store("corrupt");
        store
            .put(table("performance.2026-11"), "on_demand", b"not json")
            .unwrap();
        assert!(matches!(
            read_counts(&store, m("2026-11")),
            Err(StoreError::Decode { .. })
        ));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn future_dated_and_firmware_answers_count_against_24_hours_and_5_days() {
        let (dir, store) = temp_store("categories");
        let clock = Arc::new(PinnedClock::at(at("2026-11-10T12:00:00Z")));
        let tally = Tally::new(Arc::clone(&store), clock, Settings::default());
        // Future-dated: 24 h from the execution time, the edge included.
        tally.record(Category::FutureDated, DAY_MS);
        tally.record(Category::FutureDated, DAY_MS + 1);
        // Firmware: 5 days; a 2-day answer is within it (it would be outside 30 s).
        tally.record(Category::Firmware, 2 * DAY_MS);
        tally.record(Category::Firmware, 5 * DAY_MS + 1);
        tally.record(Category::Firmware, 60_000);
        let r = tally.report(m("2026-11")).unwrap();
        let row = |c: &str| r.measures.iter().find(|x| x.category == c).unwrap();
        let fd = row("future_dated");
        assert_eq!((fd.measure, fd.within_target, fd.outside_target), (2, 1, 1));
        assert_eq!(fd.target_response_ms, DAY_MS);
        assert!(fd.classified);
        assert!(row("firmware").classified);
        let fw = row("firmware");
        assert_eq!((fw.measure, fw.within_target, fw.outside_target), (1, 2, 1));
        assert_eq!(fw.target_response_ms, 5 * DAY_MS);
        assert_eq!(fw.within_percent, Some(66.67));
        assert_eq!(row("on_demand").answers, 0);
        let text = r.render_table();
        assert!(text.contains("24 h") && text.contains("5 d"), "{text}");
        drop((tally, store));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn labels_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::from_label(c.label()), Some(c));
        }
        assert_eq!(Category::from_label("other"), None);
        assert_eq!(duration_text(30_000), "30 s");
        assert_eq!(duration_text(DAY_MS), "24 h");
        assert_eq!(duration_text(5 * DAY_MS), "5 d");
        assert_eq!(duration_text(60_000), "60 s");
    }
}
