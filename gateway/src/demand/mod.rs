//! SEC Annex 5 Table 5.3 demand reporting: every User's Service Requests counted per GB
//! month, the Monthly Service Metrics computed from them ([`formulas`]), the six-month
//! forecasts Users submit ([`forecast`]), and the monthly report that flags usage at or
//! above 110 % of the forecast or of the Monthly Service Threshold ([`report`]).
//!
//! # What is counted
//!
//! Each Service Request that passed checks 1–6 reaches anomaly detection (check 7), which
//! calls [`record`] with its User, SRV and the role it was sent under. It is counted in its
//! GB month in `all`, and in one of the Table 5.3 groups ([`Group`]) when its Service
//! Reference and role fall in one: `display_message` (3.1 as IS or GS),
//! `read_profile_data_supplier` (4.8 as IS, ES or GS), `update_firmware` (11.1 as IS or GS),
//! `read_profile_data_network` (4.8 as ED or GT) and `read_network_data` (4.10 as ED).
//! Quarantined requests count (they were sent); a request refused by checks 1–6 does not.
//!
//! Limits of counting at check 7: a critical SRV reaches it twice, as its Transform (CV 4)
//! and as its Signed Pre-Command (CV 5–7), and check 7 is not told the CommandVariant, so
//! `all` counts both (no SRV of the Table 5.3 groups is critical: 11.1 is a CV 8 service);
//! and a replay racing its original (two copies in flight at once, the second refused when
//! its counter is spent) is counted too.
//!
//! # Durability
//!
//! [`record`] adds one to a map in memory. [`Flusher`] adds what was counted to the store
//! every `performance.flush_interval_ms` in one transaction (and once more when the gateway
//! stops in order), so no request pays a store write. The flush adds increments to the
//! stored totals inside its transaction and forgets them only once it committed: a failed
//! flush is retried with nothing lost or counted twice; a crash loses at most one interval.
//!
//! Tables: `demand_requests` (`YYYY-MM/USER/group` → count), `demand_first_request`
//! (`USER` → the month of its first Service Request, for the First Service Month),
//! `demand_enrolled` (`YYYY-MM/*` → when the month's count was taken; `YYYY-MM/USER` →
//! `{"supplier": n, "network": n}`) and `demand_forecasts` (`USER/YYYY-MM` → the forecast).
//! `USER` is the User ID as 16 hex digits.
//!
//! # Smart Metering Systems enrolled on the 15th
//!
//! The first flush on or after the 15th of a month (GB date) counts, for every party in the
//! registration data, the Smart Metering Systems enrolled in the inventory (an ESME and its
//! hub commissioned; a GSME, its hub and GPF commissioned: `inventory::rules::is_enrolled`)
//! whose MPxNs it is registered for on the 15th: as import, export or gas supplier
//! (`supplier`) and as Electricity Distributor or Gas Transporter (`network`). An SMS counts
//! once per party. The count is kept and never retaken. The inventory is as it stands when
//! the count is taken (the store keeps no history of device status), so a count taken late
//! reflects the inventory of that day; a month in which the gateway did not run on or after
//! the 15th has no count.
//!
//! # Where it is read
//!
//! - `GET /api/v1/reports/demand?month=YYYY-MM[&user=ID][&format=text]` on the metrics
//!   listener ([`http`]): the report with the requests not yet flushed; not authenticated,
//!   like `/metrics` and the performance report.
//! - `POST /api/v1/forecasts` and `GET /api/v1/forecasts` on the DUIS listener ([`http`]):
//!   forecasts, authenticated (who may submit is described there).
//! - `hubgate report demand` reads the store of a stopped gateway; `hubgate forecast submit`
//!   and `hubgate forecast show` talk to a running one.
//! - The gauge `hubgate_demand_usage_ratio{user,item,against,month}`, set after each flush:
//!   usage over its forecast or threshold (1.1 and above is reportable).
//!
//! # Not implemented
//!
//! - The report is not sent to Users, the SEC Panel or SEC Parties, nor are aggregates
//!   published: it is there to be read.
//! - Forecasts of the Communications Hub ordering process and of Service Requests outside
//!   the Table 5.3 groups other than the `all` total.
//!
//! # What the tests prove
//!
//! Unit tests ([`formulas`], [`forecast`], [`report`] and below): the formulas against values
//! worked by hand from Table 5.3 and paragraphs 407–411, the 110 % edge, forecast
//! validation naming the field, counting and flushing into the store (a failed flush
//! retried without counting twice).
//! `gateway/tests/demand_report.rs`: signed requests over HTTPS to `hubgate serve` with
//! emulated meters over two months (a pinned clock, restarted), a forecast submitted over
//! HTTPS and with the CLI, the enrolment count from the emulated premises' inventory and
//! registration data, and the report (HTTP, gauge, CLI) flagging exactly the metrics at or
//! above 110 %.

pub mod forecast;
pub mod formulas;
pub mod http;
pub mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hubgate_protocol::catalogue::{Catalogue, Role};
use hubgate_protocol::hex;
use redb::ReadableTable as _;
use serde::{Deserialize, Serialize};

use crate::clock::{self, Clock};
use crate::inventory::{DeviceType, Inventory, InventoryError};
use crate::metric_name;
use crate::performance::Month;
use crate::registration::{Date, Fuel, Mpxn, PartyRole, RegistrationData};
use crate::store::{Store, StoreError};

const REQUESTS: redb::TableDefinition<'static, &'static str, &'static [u8]> =
    redb::TableDefinition::new("demand_requests");
const FIRST_REQUEST: redb::TableDefinition<'static, &'static str, &'static [u8]> =
    redb::TableDefinition::new("demand_first_request");
const ENROLLED: redb::TableDefinition<'static, &'static str, &'static [u8]> =
    redb::TableDefinition::new("demand_enrolled");
const FORECASTS: redb::TableDefinition<'static, &'static str, &'static [u8]> =
    redb::TableDefinition::new("demand_forecasts");

/// What a Service Request is counted under, besides `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// Every Service Request.
    All,
    /// 3.1 Display Message, sent as IS or GS.
    DisplayMessage,
    /// 4.8 Read Profile Data, sent as IS, ES or GS.
    ReadProfileDataSupplier,
    /// 11.1 Update Firmware, sent as IS or GS.
    UpdateFirmware,
    /// 4.8 Read Profile Data, sent as ED or GT.
    ReadProfileDataNetwork,
    /// 4.10 Read Network Data, sent as ED.
    ReadNetworkData,
}

impl Group {
    /// Every group, in report order.
    pub const ALL: [Group; 6] = [
        Group::All,
        Group::DisplayMessage,
        Group::ReadProfileDataSupplier,
        Group::UpdateFirmware,
        Group::ReadProfileDataNetwork,
        Group::ReadNetworkData,
    ];

    /// The label in the store, forecasts and the report.
    pub fn label(self) -> &'static str {
        match self {
            Group::All => "all",
            Group::DisplayMessage => "display_message",
            Group::ReadProfileDataSupplier => "read_profile_data_supplier",
            Group::UpdateFirmware => "update_firmware",
            Group::ReadProfileDataNetwork => "read_profile_data_network",
            Group::ReadNetworkData => "read_network_data",
        }
    }

    /// The group labelled `label`.
    pub fn from_label(label: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.label() == label)
    }

    /// The Service Reference the group counts (`*` for all).
    pub fn service_reference(self) -> &'static str {
        match self {
            Group::All => "*",
            Group::DisplayMessage => "3.1",
            Group::ReadProfileDataSupplier | Group::ReadProfileDataNetwork => "4.8",
            Group::UpdateFirmware => "11.1",
            Group::ReadNetworkData => "4.10",
        }
    }

    /// The Table 5.3 group of a request for `srv` sent as `role`, if any.
    pub fn of(srv: &str, role: Role) -> Option<Group> {
        let reference = Catalogue::get()
            .srv(srv)
            .map_or(srv, |s| s.service_reference.as_str());
        let supplier = matches!(
            role,
            Role::ImportSupplier | Role::ExportSupplier | Role::GasSupplier
        );
        let network = matches!(role, Role::ElectricityDistributor | Role::GasTransporter);
        match reference {
            "3.1" if matches!(role, Role::ImportSupplier | Role::GasSupplier) => {
                Some(Group::DisplayMessage)
            }
            "4.8" if supplier => Some(Group::ReadProfileDataSupplier),
            "4.8" if network => Some(Group::ReadProfileDataNetwork),
            "11.1" if matches!(role, Role::ImportSupplier | Role::GasSupplier) => {
                Some(Group::UpdateFirmware)
            }
            "4.10" if role == Role::ElectricityDistributor => Some(Group::ReadNetworkData),
            _ => None,
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Smart Metering Systems enrolled for a User on the 15th of a month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    /// For which it is a registered supplier (import, export or gas).
    pub supplier: u64,
    /// For which it is the Electricity Distributor or Gas Transporter.
    pub network: u64,
}

/// A User ID's key form: 16 hex digits.
fn user_key(user: &[u8; 8]) -> String {
    hex::eui(user)
}

fn store_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::from(e.into())
}

fn decode<T: serde::de::DeserializeOwned>(table: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
        table: table.to_string(),
        source,
    })
}

fn encode<T: Serialize>(table: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Encode {
        table: table.to_string(),
        source,
    })
}

/// Everything stored for a report: counts, first months, enrolment counts and forecasts.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Requests per (month, User, group).
    pub requests: BTreeMap<(Month, [u8; 8], Group), u64>,
    /// The month of each User's first Service Request.
    pub first_request: BTreeMap<[u8; 8], Month>,
    /// Months whose enrolment count was taken, and when (RFC 3339).
    pub enrolment_taken: BTreeMap<Month, String>,
    /// Enrolment counts per (month, User).
    pub enrolled: BTreeMap<(Month, [u8; 8]), Enrolled>,
    /// Forecasts per (User, month).
    pub forecasts: BTreeMap<([u8; 8], Month), forecast::Stored>,
}

impl Ledger {
    /// Requests of `user` in `group` in `month`.
    pub fn requests(&self, month: Month, user: &[u8; 8], group: Group) -> u64 {
        self.requests
            .get(&(month, *user, group))
            .copied()
            .unwrap_or(0)
    }

    /// The enrolment count of `user` for `month`: `None` when the month has none taken.
    pub fn enrolled(&self, month: Month, user: &[u8; 8]) -> Option<Enrolled> {
        self.enrolment_taken.contains_key(&month).then(|| {
            self.enrolled
                .get(&(month, *user))
                .copied()
                .unwrap_or_default()
        })
    }

    /// Adds `n` requests.
    fn add(&mut self, month: Month, user: [u8; 8], group: Group, n: u64) {
        let c = self.requests.entry((month, user, group)).or_insert(0);
        *c = c.saturating_add(n);
    }
}

/// Reads every demand table of `store` (a report reads the lot; the tables hold a few rows
/// per User and month).
///
/// # Errors
///
/// [`StoreError`], including a decode error for a damaged value.
pub fn read_ledger(store: &Store) -> Result<Ledger, StoreError> {
    store.read(|tx| {
        let mut ledger = Ledger::default();
        let open = |def| match tx.open_table(def) {
            Ok(t) => Ok(Some(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(store_err(e)),
        };
        if let Some(t) = open(REQUESTS)? {
            for entry in t.iter().map_err(store_err)? {
                let (k, v) = entry.map_err(store_err)?;
                let key = k.value();
                let parsed = key.split('/').collect::<Vec<_>>();
                if let [month, user, group] = parsed.as_slice()
                    && let (Ok(month), Some(user), Some(group)) = (
                        Month::parse(month),
                        hex::parse_eui(user),
                        Group::from_label(group),
                    )
                {
                    let n: u64 = decode("demand_requests", v.value())?;
                    ledger.add(month, user, group, n);
                }
            }
        }
        if let Some(t) = open(FIRST_REQUEST)? {
            for entry in t.iter().map_err(store_err)? {
                let (k, v) = entry.map_err(store_err)?;
                let month: String = decode("demand_first_request", v.value())?;
                if let (Some(user), Ok(month)) = (hex::parse_eui(k.value()), Month::parse(&month)) {
                    ledger.first_request.insert(user, month);
                }
            }
        }
        if let Some(t) = open(ENROLLED)? {
            for entry in t.iter().map_err(store_err)? {
                let (k, v) = entry.map_err(store_err)?;
                let Some((month, who)) = k.value().split_once('/') else {
                    continue;
                };
                let Ok(month) = Month::parse(month) else {
                    continue;
                };
                if who == "*" {
                    let at: String = decode("demand_enrolled", v.value())?;
                    ledger.enrolment_taken.insert(month, at);
                } else if let Some(user) = hex::parse_eui(who) {
                    ledger
                        .enrolled
                        .insert((month, user), decode("demand_enrolled", v.value())?);
                }
            }
        }
        if let Some(t) = open(FORECASTS)? {
            for entry in t.iter().map_err(store_err)? {
                let (k, v) = entry.map_err(store_err)?;
                let Some((who, month)) = k.value().split_once('/') else {
                    continue;
                };
                if let (Some(user), Ok(month)) = (hex::parse_eui(who), Month::parse(month)) {
                    ledger
                        .forecasts
                        .insert((user, month), decode("demand_forecasts", v.value())?);
                }
            }
        }
        Ok(ledger)
    })
}

/// Stores `forecast` for its User, replacing what was stored for its months, in one
/// transaction.
///
/// # Errors
///
/// [`StoreError`].
pub fn store_forecast(store: &Store, forecast: &forecast::Forecast) -> Result<(), StoreError> {
    store.write(|tx| {
        let mut t = tx.open_table(FORECASTS).map_err(store_err)?;
        for (month, stored) in &forecast.months {
            let key = format!("{}/{month}", user_key(&forecast.user));
            let bytes = encode("demand_forecasts", stored)?;
            t.insert(key.as_str(), bytes.as_slice())
                .map_err(store_err)?;
        }
        Ok::<_, StoreError>(())
    })
}

/// Where the enrolment counts come from.
#[derive(Clone)]
pub struct Sources {
    /// The Smart Metering Inventory.
    pub inventory: Arc<Inventory>,
    /// Registration data.
    pub registration: Arc<RegistrationData>,
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sources").finish_non_exhaustive()
    }
}

/// The Smart Metering Systems enrolled now, per party registered for them on `on`.
///
/// # Errors
///
/// [`InventoryError`].
pub fn count_enrolled(
    sources: &Sources,
    on: Date,
) -> Result<BTreeMap<[u8; 8], Enrolled>, InventoryError> {
    let systems: Vec<(Option<String>, Option<String>)> = sources.inventory.read(|t| {
        let mut out = Vec::new();
        for d in t.all()? {
            if !matches!(d.device_type, DeviceType::Esme | DeviceType::Gsme) {
                continue;
            }
            if crate::inventory::rules::is_enrolled(t, &d.id)? {
                out.push((d.import_mpxn.clone(), d.export_mpan.clone()));
            }
        }
        Ok(out)
    })?;
    let snapshot = sources.registration.snapshot();
    let mut out: BTreeMap<[u8; 8], Enrolled> = BTreeMap::new();
    for (import, export) in systems {
        let mut suppliers = BTreeSet::new();
        let mut networks = BTreeSet::new();
        if let Some(mpxn) = import.as_deref().and_then(|m| m.parse::<Mpxn>().ok()) {
            let (supplier, network) = match mpxn.fuel() {
                Fuel::Electricity => (PartyRole::ImportSupplier, PartyRole::ElectricityDistributor),
                Fuel::Gas => (PartyRole::GasSupplier, PartyRole::GasTransporter),
            };
            if let Some(r) = snapshot.in_force(mpxn, supplier, on) {
                suppliers.insert(r.party());
            }
            if let Some(r) = snapshot.in_force(mpxn, network, on) {
                networks.insert(r.party());
            }
        }
        if let Some(mpxn) = export.as_deref().and_then(|m| m.parse::<Mpxn>().ok())
            && let Some(r) = snapshot.in_force(mpxn, PartyRole::ExportSupplier, on)
        {
            suppliers.insert(r.party());
        }
        for p in suppliers {
            out.entry(p).or_default().supplier += 1;
        }
        for p in networks {
            out.entry(p).or_default().network += 1;
        }
    }
    Ok(out)
}

/// A count's key: its GB month, its User and its group.
type CountKey = (Month, [u8; 8], Group);

/// The in-memory counts and their flushing.
pub struct Demand {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    sources: Option<Sources>,
    flush_interval: Duration,
    pending: Mutex<HashMap<CountKey, u64>>,
    flushing: Mutex<()>,
}

impl fmt::Debug for Demand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Demand")
            .field("flush_interval", &self.flush_interval)
            .finish_non_exhaustive()
    }
}

impl Demand {
    /// Counts over `store`, dating requests with `clock`; enrolment counts from `sources`
    /// (none without).
    pub fn new(
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        sources: Option<Sources>,
        flush_interval: Duration,
    ) -> Demand {
        Demand {
            store,
            clock,
            sources,
            flush_interval,
            pending: Mutex::new(HashMap::new()),
            flushing: Mutex::new(()),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The month now.
    pub fn current_month(&self) -> Month {
        Month::of_ms(self.clock.now_ms())
    }

    /// The time now.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CountKey, u64>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a Service Request from `user` for `srv`, sent as `role` at `at_ms`.
    pub fn record_at(&self, user: &[u8; 8], srv: &str, role: Role, at_ms: i64) {
        let month = Month::of_ms(at_ms);
        let group = Group::of(srv, role);
        let mut pending = self.lock();
        for g in std::iter::once(Group::All).chain(group) {
            let c = pending.entry((month, *user, g)).or_insert(0);
            *c = c.saturating_add(1);
        }
    }

    /// The stored ledger with the requests not flushed yet. Waits for a flush in progress: a
    /// flush takes the counts out of memory before its transaction commits, and a ledger
    /// read in between would see them in neither place.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn ledger(&self) -> Result<Ledger, StoreError> {
        let _one = self.flushing_guard();
        self.ledger_while_flushing()
    }

    /// Excludes flushes (see [`Demand::ledger`]).
    fn flushing_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.flushing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// [`Demand::ledger`] for a caller that holds [`Demand::flushing_guard`].
    fn ledger_while_flushing(&self) -> Result<Ledger, StoreError> {
        let mut ledger = read_ledger(&self.store)?;
        let pending: Vec<_> = self.lock().iter().map(|(k, v)| (*k, *v)).collect();
        for ((month, user, group), n) in pending {
            ledger.add(month, user, group, n);
            let first = ledger.first_request.entry(user).or_insert(month);
            if month < *first {
                *first = month;
            }
        }
        Ok(ledger)
    }

    /// Adds what was counted since the last flush to the store in one transaction, then
    /// takes the month's enrolment count if it is due; the number of counts written. On
    /// failure the counts stay to be written by the next flush.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn flush(&self) -> Result<usize, StoreError> {
        let _one = self.flushing_guard();
        let batch: Vec<(CountKey, u64)> = self.lock().drain().collect();
        let written = if batch.is_empty() {
            Ok(0)
        } else {
            self.store.write(|tx| {
                let mut t = tx.open_table(REQUESTS).map_err(store_err)?;
                let mut first = tx.open_table(FIRST_REQUEST).map_err(store_err)?;
                let mut earliest: BTreeMap<[u8; 8], Month> = BTreeMap::new();
                for ((month, user, group), n) in &batch {
                    let key = format!("{month}/{}/{group}", user_key(user));
                    let stored: u64 = match t.get(key.as_str()).map_err(store_err)? {
                        Some(v) => decode("demand_requests", v.value())?,
                        None => 0,
                    };
                    let bytes = encode("demand_requests", &stored.saturating_add(*n))?;
                    t.insert(key.as_str(), bytes.as_slice())
                        .map_err(store_err)?;
                    let e = earliest.entry(*user).or_insert(*month);
                    if *month < *e {
                        *e = *month;
                    }
                }
                for (user, month) in earliest {
                    let key = user_key(&user);
                    let known: Option<Month> = match first.get(key.as_str()).map_err(store_err)? {
                        Some(v) => {
                            let s: String = decode("demand_first_request", v.value())?;
                            Month::parse(&s).ok()
                        }
                        None => None,
                    };
                    if known.is_none_or(|k| month < k) {
                        let bytes = encode("demand_first_request", &month.to_string())?;
                        first
                            .insert(key.as_str(), bytes.as_slice())
                            .map_err(store_err)?;
                    }
                }
                Ok::<_, StoreError>(batch.len())
            })
        };
        match written {
            Ok(n) => {
                if let Err(e) = self.take_enrolment_if_due() {
                    tracing::error!(error = %e, "counting enrolled Smart Metering Systems");
                }
                if n > 0 {
                    let users: BTreeSet<[u8; 8]> = batch.iter().map(|((_, u, _), _)| *u).collect();
                    self.publish_while_flushing(&users);
                }
                Ok(n)
            }
            Err(e) => {
                let mut pending = self.lock();
                for (k, n) in batch {
                    let c = pending.entry(k).or_insert(0);
                    *c = c.saturating_add(n);
                }
                Err(e)
            }
        }
    }

    /// Takes the current month's enrolment count when the GB date is the 15th or later and
    /// none was taken; whether one was taken.
    ///
    /// # Errors
    ///
    /// [`StoreError`] (an inventory failure is logged and retried at the next flush).
    pub fn take_enrolment_if_due(&self) -> Result<bool, StoreError> {
        let Some(sources) = &self.sources else {
            return Ok(false);
        };
        let now = self.clock.now_ms();
        let Ok(today) = Date::gb_from_unix_ms(now) else {
            return Ok(false);
        };
        if today.day() < 15 {
            return Ok(false);
        }
        let month = Month::of_ms(now);
        let marker = format!("{month}/*");
        if self.store.get(ENROLLED, marker.as_str())?.is_some() {
            return Ok(false);
        }
        let Ok(on) = Date::new(i64::from(month.year()), u32::from(month.month()), 15) else {
            return Ok(false);
        };
        let counts = match count_enrolled(sources, on) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "reading the inventory for the enrolment count");
                return Ok(false);
            }
        };
        self.store.write(|tx| {
            let mut t = tx.open_table(ENROLLED).map_err(store_err)?;
            for (user, e) in &counts {
                let key = format!("{month}/{}", user_key(user));
                let bytes = encode("demand_enrolled", e)?;
                t.insert(key.as_str(), bytes.as_slice())
                    .map_err(store_err)?;
            }
            let bytes = encode("demand_enrolled", &clock::rfc3339_ms(now))?;
            t.insert(marker.as_str(), bytes.as_slice())
                .map_err(store_err)?;
            Ok::<_, StoreError>(())
        })?;
        tracing::info!(%month, parties = counts.len(), "enrolled Smart Metering Systems counted for the 15th");
        Ok(true)
    }

    /// Sets the usage gauges of `users` for the current month.
    pub fn publish(&self, users: &BTreeSet<[u8; 8]>) {
        let _one = self.flushing_guard();
        self.publish_while_flushing(users);
    }

    /// [`Demand::publish`] for a caller that holds [`Demand::flushing_guard`].
    fn publish_while_flushing(&self, users: &BTreeSet<[u8; 8]>) {
        let month = self.current_month();
        let ledger = match self.ledger_while_flushing() {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "reading the demand ledger");
                return;
            }
        };
        let r = report::Report::build(&ledger, month, None);
        for row in r
            .rows
            .iter()
            .filter(|row| hex::parse_eui(&row.user).is_some_and(|u| users.contains(&u)))
        {
            if let (Some(ratio), Some(against)) = (row.ratio(), row.against) {
                metrics::gauge!(
                    metric_name::DEMAND_USAGE_RATIO,
                    "user" => row.user.clone(),
                    "item" => row.item.clone(),
                    "against" => against,
                    "month" => month.to_string()
                )
                .set(ratio);
            }
        }
    }

    /// The report of `month` (optionally of one User), with the requests not flushed yet.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn report(
        &self,
        month: Month,
        user: Option<[u8; 8]>,
    ) -> Result<report::Report, StoreError> {
        Ok(report::Report::build(&self.ledger()?, month, user))
    }
}

static INSTALLED: OnceLock<Arc<Demand>> = OnceLock::new();

/// Makes `demand` the one [`record`] counts into (once per process; `false` if one already
/// was).
pub fn install(demand: Arc<Demand>) -> bool {
    INSTALLED.set(demand).is_ok()
}

/// Counts a Service Request from `user` for `srv` sent as `role` at `at_ms` in the installed
/// counts; nothing when none is installed.
pub fn record(user: &[u8; 8], srv: &str, role: Role, at_ms: i64) {
    if let Some(d) = INSTALLED.get() {
        d.record_at(user, srv, role, at_ms);
    }
}

/// The thread that flushes a [`Demand`] every interval, and once more when stopped.
pub type Flusher = crate::flusher::Flusher<Demand>;

impl crate::flusher::Flush for Demand {
    const WHAT: &'static str = "the demand counts";

    fn flush(&self) -> Result<usize, StoreError> {
        Demand::flush(self)
    }
}

/// Starts flushing `demand` every interval (the first flush at once, which takes a due
/// enrolment count).
///
/// # Errors
///
/// When the thread cannot be started.
pub fn start_flusher(demand: Arc<Demand>) -> std::io::Result<Flusher> {
    let interval = demand.flush_interval;
    Flusher::spawn(demand, "hubgate-demand", interval, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{PinnedClock, parse_rfc3339_ms};

    const SUPPLIER: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0, 0];

    fn at(s: &str) -> i64 {
        parse_rfc3339_ms(s).unwrap()
    }

    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    fn temp_store(tag: &str) -> (std::path::PathBuf, Arc<Store>) {
        let d = std::env::temp_dir().join(format!("hubgate-demand-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        (d.clone(), Arc::new(Store::open(&d).unwrap()))
    }

    #[test]
    fn groups_follow_table_5_3_by_reference_and_role() {
        assert_eq!(
            Group::of("3.1", Role::ImportSupplier),
            Some(Group::DisplayMessage)
        );
        assert_eq!(Group::of("3.1", Role::ExportSupplier), None);
        assert_eq!(
            Group::of("4.8.1", Role::ExportSupplier),
            Some(Group::ReadProfileDataSupplier)
        );
        assert_eq!(
            Group::of("4.8.1", Role::GasTransporter),
            Some(Group::ReadProfileDataNetwork)
        );
        assert_eq!(
            Group::of("11.1", Role::GasSupplier),
            Some(Group::UpdateFirmware)
        );
        assert_eq!(
            Group::of("4.10", Role::ElectricityDistributor),
            Some(Group::ReadNetworkData)
        );
        assert_eq!(Group::of("4.10", Role::GasTransporter), None);
        assert_eq!(Group::of("4.1.1", Role::ImportSupplier), None);
        for g in Group::ALL {
            assert_eq!(Group::from_label(g.label()), Some(g));
        }
    }

    #[test]
    fn a_ledger_read_during_a_flush_never_loses_counts() {
        let (dir, store) = temp_store("flush-race");
        let clock = Arc::new(PinnedClock::at(at("2026-10-05T12:00:00Z")));
        let d = Arc::new(Demand::new(
            Arc::clone(&store),
            clock,
            None,
            Duration::from_secs(3600),
        ));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Counting and flushing on one thread, reading on this one: what is counted is in
        // the store or in memory at every instant, so the total never goes down.
        let writer = {
            let (d, stop) = (Arc::clone(&d), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for _ in 0..5 {
                        d.record_at(
                            &SUPPLIER,
                            "4.1.1",
                            Role::ImportSupplier,
                            at("2026-10-05T12:00:00Z"),
                        );
                    }
                    d.flush().unwrap();
                }
            })
        };
        let mut last = 0;
        let deadline = std::time::Instant::now() + Duration::from_millis(1500);
        while std::time::Instant::now() < deadline {
            let now = d
                .ledger()
                .unwrap()
                .requests(m("2026-10"), &SUPPLIER, Group::All);
            assert!(now >= last, "the count went from {last} down to {now}");
            last = now;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
        assert!(last > 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn counts_are_flushed_in_batches_and_added_to_the_store() {
        let (dir, store) = temp_store("flush");
        let clock = Arc::new(PinnedClock::at(at("2026-10-05T12:00:00Z")));
        let d = Demand::new(Arc::clone(&store), clock, None, Duration::from_secs(3600));
        d.record_at(
            &SUPPLIER,
            "3.1",
            Role::ImportSupplier,
            at("2026-10-05T12:00:00Z"),
        );
        d.record_at(
            &SUPPLIER,
            "4.1.1",
            Role::ImportSupplier,
            at("2026-10-05T12:00:00Z"),
        );
        // 23:30 UTC on 30 September is October in Great Britain (BST).
        d.record_at(
            &SUPPLIER,
            "3.1",
            Role::ImportSupplier,
            at("2026-09-30T23:30:00Z"),
        );
        d.record_at(
            &SUPPLIER,
            "3.1",
            Role::ImportSupplier,
            at("2026-09-30T22:30:00Z"),
        );
        assert!(
            read_ledger(&store).unwrap().requests.is_empty(),
            "nothing written yet"
        );
        let live = d.ledger().unwrap();
        assert_eq!(live.requests(m("2026-10"), &SUPPLIER, Group::All), 3);
        assert_eq!(live.first_request[&SUPPLIER], m("2026-09"));
        assert_eq!(
            d.flush().unwrap(),
            4,
            "(Oct, all), (Oct, 3.1), (Sep, all), (Sep, 3.1)"
        );
        assert_eq!(d.flush().unwrap(), 0);
        let stored = read_ledger(&store).unwrap();
        assert_eq!(
            stored.requests(m("2026-10"), &SUPPLIER, Group::DisplayMessage),
            2
        );
        assert_eq!(stored.requests(m("2026-09"), &SUPPLIER, Group::All), 1);
        assert_eq!(stored.first_request[&SUPPLIER], m("2026-09"));
        // More requests add to the stored totals.
        d.record_at(
            &SUPPLIER,
            "3.1",
            Role::ImportSupplier,
            at("2026-10-06T12:00:00Z"),
        );
        d.flush().unwrap();
        let stored = read_ledger(&store).unwrap();
        assert_eq!(
            stored.requests(m("2026-10"), &SUPPLIER, Group::DisplayMessage),
            3
        );
        // A new Demand (a restart) adds to what is stored.
        drop(d);
        let clock = Arc::new(PinnedClock::at(at("2026-10-07T12:00:00Z")));
        let d = Demand::new(Arc::clone(&store), clock, None, Duration::from_secs(3600));
        d.record_at(
            &SUPPLIER,
            "3.1",
            Role::ImportSupplier,
            at("2026-10-07T12:00:00Z"),
        );
        assert_eq!(
            d.ledger()
                .unwrap()
                .requests(m("2026-10"), &SUPPLIER, Group::DisplayMessage),
            4
        );
        d.flush().unwrap();
        assert_eq!(
            read_ledger(&store).unwrap().first_request[&SUPPLIER],
            m("2026-09")
        );
        drop((d, store));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_count_is_a_decode_error_and_the_batch_is_kept() {
        let (dir, store) = temp_store("corrupt");
        let key = format!("2026-10/{}/all", user_key(&SUPPLIER));
        store.put(REQUESTS, key.as_str(), b"not json").unwrap();
        let clock = Arc::new(PinnedClock::at(at("2026-10-05T12:00:00Z")));
        let d = Demand::new(Arc::clone(&store), clock, None, Duration::from_secs(3600));
        d.record_at(
            &SUPPLIER,
            "4.1.1",
            Role::ImportSupplier,
            at("2026-10-05T12:00:00Z"),
        );
        assert!(matches!(d.flush(), Err(StoreError::Decode { .. })));
        assert!(matches!(
            read_ledger(&store),
            Err(StoreError::Decode { .. })
        ));
        // Repaired: the kept request is written by the next flush, once.
        store.put(REQUESTS, key.as_str(), b"5").unwrap();
        assert_eq!(d.flush().unwrap(), 1);
        assert_eq!(
            read_ledger(&store)
                .unwrap()
                .requests(m("2026-10"), &SUPPLIER, Group::All),
            6
        );
        drop((d, store));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
