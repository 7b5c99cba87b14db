//! DSP schedules: SR 5.1 Create Schedule, 5.2 Read Schedule and 5.3 Delete Schedule, the
//! runner that sends each scheduled device request at its time, and the removal of schedules
//! when the SEC requires it.
//!
//! # The services (non-device, CommandVariant 8)
//!
//! | SRV | answer |
//! |---|---|
//! | 5.1 `CreateSchedule` | `I0` + `DSPScheduleID` (the new schedule) |
//! | 5.2 `ReadSchedule` by `DSPScheduleID` / `DeviceID` | `I0` + `DSPSchedulesRead` (the User's schedule, or its schedules for the device, at most 99); `E050201` no such schedule of this User; `W050201` none for the device |
//! | 5.3 `DeleteSchedule` by `DSPScheduleID` / `DeviceID` | `I0` + `DSPScheduleID` (by ID) or `DSPSchedulesRead` of the schedules deleted (by device, at most 99 listed, all deleted); `E050301` no such schedule of this User; `W050301` none for the device |
//!
//! A User sees and deletes only its own schedules: another User's ID reads as unknown.
//! 5.1 is checked like the request it schedules would be, and refused with:
//!
//! | check | code |
//! |---|---|
//! | the scheduled SRV is not DCC-schedulable (the catalogue's "DCC Scheduled" column: 4.6.1, 4.6.2, 4.8.x, 4.10, 4.12.x, 4.14, 4.15, 4.16, 4.17, 14.1), or Reference, Variant and the `DSP…` element disagree | `E050101` |
//! | `ScheduleStartDate` before today (UTC), `ScheduleEndDate` before the start, a date or time that does not parse, or no execution left | `E050102` |
//! | the User already holds `schedules.max_per_user` schedules | `E050103` |
//! | no role of the User may send the scheduled SRV | `E2` |
//! | the device is not on the inventory / its type does not fit / its status does not allow the SRV | `E19` / `E11` / `E5` |
//! | the User is not the registered party for the device's MPxN today (not for `OU`) | `E4` |
//!
//! The DUIS meanings of the `E05…`/`W05…` codes are not in the project's sources; the
//! assignment above is a judgement, as for the ingress codes.
//!
//! # Executions
//!
//! Occurrences fall on `ScheduleStartDate` moved on by whole periods (days for Daily and
//! Weekly; calendar months for Monthly, Quarterly, Half-Yearly and Yearly, on the start day
//! of the month or the month's last day), at `ScheduleExecutionStartTime` (UTC midnight when
//! absent), never after `ScheduleEndDate`; see [`table::Timing`]. A runner thread wakes every
//! `schedules.tick_ms` and sends what is due on the gateway clock: it checks again that the
//! User is not suspended, the device's type and status, and registration, then builds a
//! CommandVariant 1 request for the scheduled SRV — the `DSP…` element without its `DSP`
//! prefix, with a `ReadLogPeriod` from the offsets relative to the execution date — and
//! hands it to [`crate::routing::Router::route_scheduled`] like an accepted request.
//!
//! ## Catch-up of missed occurrences
//!
//! When more than one occurrence has passed since the schedule last ran (the gateway was
//! down over them, or the clock jumped), the first wake-up runs the schedule **once**, not
//! once per missed occurrence, and it then continues at its first occurrence after now. That
//! one execution runs as the latest occurrence at or before now: its Service Response is
//! tagged with the schedule ID like any other, and for a log read its `ReadLogPeriod` starts
//! where the earliest missed occurrence's would have (and ends where the latest's does), so
//! one answer gives the User the data of the whole missed stretch. The choice: a DCC
//! schedule exists for periodic reads, one catch-up read delivers what the missed ones would
//! have, and a start after an outage does not send every device one command per missed day.
//! The bound: the read period reaches back over missed occurrences at most
//! [`CATCH_UP_SPAN_MS`] (7 days) before the one run, so a long outage asks no device for an
//! unbounded log; occurrences older than that are dropped (a User wanting them reads them on
//! demand). Each catch-up is logged (warning) with the first missed occurrence, where the
//! read period starts and the occurrence run.
//!
//! Its RequestID is the owner, the device and the next counter of the owner's anti-replay
//! sequence, recorded like an accepted request's: the GBCS command carries that counter as
//! the User's originator counter, which the device accepts only if it increases. The Service
//! Response (delivered as every Service Response) carries `DSPScheduledMessage{GBCSPayload,
//! DSPScheduleID}`; a failed execution (device not reached, not answering, no longer fitting)
//! carries `DSPScheduleID` with the error code. The tagging is done by the DSP's
//! [`Responder`] through [`AnswerHook`], by RequestID of the executions in flight. An
//! execution is journaled like every device request ([`crate::journal`]) with its
//! `DSPScheduleID` in the entry: at start, before the router sends the journal again, the
//! executions in flight are read back from it, so an execution interrupted by a crash or a
//! stop is sent again and still answered as the schedule's. The journal is read once at
//! start and handed to the schedules, then to the router, which sends it again.
//! The memory of executions in flight is bounded in time: an entry leaves with its final
//! answer, and the runner forgets any still there twice the router's response timeout after
//! it was sent (an outcome the response writer dropped without an answer), logged; an
//! answer arriving later still reaches the owner, untagged.
//!
//! Each execution's Service Response counts against the 24-hour target response time of
//! scheduled services (the `future_dated` category of [`crate::performance`]), timed from its
//! occurrence, not against the 30-second on-demand target.
//!
//! ## `CommandFailure` DCC alert
//!
//! An execution that fails — answered `E20`/`E21` (the device was not reached or did not
//! answer, also after being sent again at a restart), or not sent because the device, the
//! owner's role or registration no longer fits (`E19`, `E11`, `E5`, `E2`, `E4`), or refused by
//! routing (`E100`, …) — gets, besides its tagged error response, a `CommandFailure` DCC alert
//! to the schedule's owner carrying `CommandRequestID` (the execution's RequestID),
//! `DSPScheduleID` and `DeviceID`, with DCC alert code [`COMMAND_FAILURE_CODE`] (`N12`). The
//! code is a judgement like the removal codes below: the DUIS table of DCC alert codes is not
//! in the project's sources, so an unused code of the schema's enumeration next to the
//! other schedule codes was taken, kept in one constant. For answers from the device the
//! alert is signed and queued by the runner thread after the response writer has built the
//! response; a crash in between loses the alert (the User still has the tagged response).
//!
//! # Removal, with a `DSPScheduleRemoval` DCC alert to the schedule's owner
//!
//! | event | alert code |
//! |---|---|
//! | the device, or a device sharing its MPxN (its Smart Metering System), becomes `Withdrawn` or `Decommissioned` through an inventory service (8.3, 8.4, 8.14.x), or is found so at an execution | `N9` |
//! | Change of Tenancy: SR 3.2 Restrict Access for Change of Tenancy is answered `I0` by its device; every schedule created in the Other User (`OU`) role on a device sharing that device's MPxN is removed | `N10` |
//! | the owner is suspended (`users.<User ID>.suspended`): swept when the runner starts, and checked at each execution | `N11` |
//! | the owner's 5.3 | none: the 5.3 Service Response confirms it |
//!
//! The alert codes are a judgement (the DUIS table of DCC alert codes is not in the
//! project's sources); the alert body is the schema's `DSPScheduleRemoval{DeviceID,
//! DSPScheduleID}`. A schedule whose last occurrence has run is removed without an alert.
//!
//! Not done: scheduled executions are tallied in the same `future_dated` category as DSP
//! future-dated requests (both have the 24-hour target), not in a row of their own;
//! `KAPublicSecurityCredential` (a scheduled read for an unknown remote party) is refused: the
//! schedule would have to keep the party's certificate and check it again at each run. (Change
//! of Tenancy removal after a 3.2 answered `I0` is proved end to end in
//! `gateway/tests/change_of_tenancy.rs`; removal on suspension, and the `CommandFailure` alert
//! for an execution whose device no longer fits, in `gateway/tests/schedules_removal.rs`.)
//!
//! What the tests prove: `table` — timing of every frequency, the last occurrence before an
//! instant (end date included), IDs, per-User limit, the record surviving a reopening;
//! `virtual_time` — the clock follows its file; this module — the execution request built
//! from a schedule, on time and as a catch-up reaching back over missed occurrences, a
//! damaged record giving an error, and executions in flight forgotten when answered or past
//! their time limit; `gateway/tests/schedules.rs` — over HTTPS against a real
//! `hubgate serve` with emulated meters and virtual time: a schedule created as a User runs
//! at its times and each Service Response from the meter is tagged with the schedule ID, 5.1
//! refuses a past start date and an unschedulable SRV, read and delete behave, and
//! decommissioning the device removes a schedule with its DCC alert;
//! `gateway/tests/schedules_restart.rs` — with the gateway killed over two occurrences, the
//! next start runs the schedule exactly once (tagged; the log shows its read period reaching
//! back) and the following occurrence on time, both counted against the 24-hour target; an
//! execution in flight at a SIGKILL is sent again at start and its `E21` still carries the
//! schedule ID, with the `CommandFailure` alert (`N12`) to the owner, both schema-valid and
//! DSP-signed.

pub mod table;
pub mod virtual_time;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hubgate_protocol::catalogue::{Catalogue, Role};
use hubgate_protocol::duis::NS_SR;
use hubgate_protocol::duis::model::Body;
use hubgate_protocol::duis::model::body::{DSPSchedule, DSPScheduleChoice, ReadSchedule};
use hubgate_protocol::duis::model::header::RequestId;
use hubgate_protocol::duis::model::request::Request;
use hubgate_protocol::duis::model::response::{ResponseCode, ResponsePayload};
use hubgate_protocol::duis::xml::{Element, Limits};
use hubgate_protocol::hex;

use crate::clock::{Clock, rfc3339_ms};
use crate::delivery::{Delivery, Kind};
use crate::ingress::codes::Rejection;
use crate::ingress::devices::InventoryDirectory;
use crate::ingress::pipeline::{Accepted, DeviceDirectory as _};
use crate::ingress::respond::{Answer, AnswerHook, Responder};
use crate::inventory::dsp::{leaf, sr};
use crate::inventory::{DeviceStatus, Eui, Inventory, StatusChange};
use crate::registration::{Date, RegistrationData};
use crate::store::Store;
use crate::users::{UserRegistry, UserStatus};
pub use table::{Action, Frequency, PeriodOffset, Schedule, ScheduleTable, TableError, Timing};

/// DCC alert code: schedule removed because its device was withdrawn or decommissioned.
pub const REMOVED_DEVICE_CODE: &str = "N9";
/// DCC alert code: schedule removed on Change of Tenancy.
pub const REMOVED_TENANCY_CODE: &str = "N10";
/// DCC alert code: schedule removed because its User is suspended.
pub const REMOVED_SUSPENDED_CODE: &str = "N11";
/// DCC alert code of the `CommandFailure` alert for a scheduled execution that failed.
pub const COMMAND_FAILURE_CODE: &str = "N12";

/// How far back a catch-up execution's read period reaches: missed occurrences up to this
/// long before the one caught up are covered by its read period, older ones are not.
pub const CATCH_UP_SPAN_MS: i64 = 7 * 86_400_000;

/// The SRV whose execution is a Change of Tenancy.
pub const CHANGE_OF_TENANCY_SRV: &str = "3.2";

/// Most schedules one `DSPSchedulesRead` lists (schema `maxOccurs`).
pub const MAX_READ: usize = 99;

/// Most due schedules run per wake-up (the rest run at the next).
const MAX_PER_TICK: usize = 256;

/// Settings (`schedules.*`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Most schedules one User may hold.
    pub max_per_user: usize,
    /// How often the runner looks for due schedules.
    pub tick: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_per_user: 1000,
            tick: Duration::from_millis(1000),
        }
    }
}

/// Why schedules are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The device (or its Smart Metering System) was withdrawn or decommissioned.
    Device,
    /// Change of Tenancy.
    ChangeOfTenancy,
    /// The owner is suspended.
    Suspended,
}

impl Removal {
    /// The DCC alert code.
    pub fn code(self) -> &'static str {
        match self {
            Removal::Device => REMOVED_DEVICE_CODE,
            Removal::ChangeOfTenancy => REMOVED_TENANCY_CODE,
            Removal::Suspended => REMOVED_SUSPENDED_CODE,
        }
    }
}

/// Work for the runner from other threads.
#[derive(Debug)]
enum Event {
    /// A 3.2 was answered `I0` for this device by this requester.
    ChangeOfTenancy { device: [u8; 8], requester: [u8; 8] },
    /// Execution `request` of schedule `schedule` was answered with an error.
    CommandFailed { request: RequestId, schedule: u64 },
}

/// The schedules, their services and their runner.
pub struct Schedules {
    table: ScheduleTable,
    inventory: Arc<Inventory>,
    directory: InventoryDirectory,
    users: Arc<UserRegistry>,
    registration: Arc<RegistrationData>,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    responder: Responder,
    delivery: Arc<Delivery>,
    settings: Settings,
    /// Executions in flight: RequestID → schedule ID.
    in_flight: InFlight,
    events: crossbeam_channel::Sender<Event>,
    inbox: Mutex<Option<crossbeam_channel::Receiver<Event>>>,
}

impl std::fmt::Debug for Schedules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedules")
            .field("schedules", &self.table.len())
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

/// What [`Schedules::new`] needs.
pub struct Parts {
    /// The store (schedule table; the Users' anti-replay counters).
    pub store: Arc<Store>,
    /// The Smart Metering Inventory.
    pub inventory: Arc<Inventory>,
    /// The Users.
    pub users: Arc<UserRegistry>,
    /// Registration data.
    pub registration: Arc<RegistrationData>,
    /// The gateway clock.
    pub clock: Arc<dyn Clock>,
    /// Signs the DCC alerts and the answers of executions that could not be sent.
    pub responder: Responder,
    /// Delivers them.
    pub delivery: Arc<Delivery>,
    /// Settings.
    pub settings: Settings,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// An answer to a schedule service: code and payload.
type Outcome = (ResponseCode, Option<ResponsePayload>);

fn code(s: &str) -> ResponseCode {
    ResponseCode::parse(s).unwrap_or(ResponseCode::I0)
}

/// After a stop between an execution's journaling and its schedule's move to the next
/// occurrence (two commits, in that order), the schedule still names the occurrence the
/// journal re-sends: it is moved on here, so the occurrence runs once, not twice.
fn moved_on_past(table: &ScheduleTable, id: u64, at_ms: i64) {
    let Ok(Some(s)) = table.get(id) else {
        return;
    };
    if s.next_ms > at_ms {
        return;
    }
    if move_on(table, s, at_ms).is_ok() {
        tracing::info!(
            id,
            occurrence = %rfc3339_ms(at_ms),
            "schedule moved past an occurrence already sent before the last stop"
        );
    }
}

/// Counts a run of `s` and moves it to its first occurrence after `after_ms`, or removes it
/// when it has none left. Errors are logged and returned.
fn move_on(table: &ScheduleTable, mut s: Schedule, after_ms: i64) -> Result<(), TableError> {
    let id = s.id;
    s.runs += 1;
    let r = match s
        .timing()
        .ok()
        .and_then(|t| t.next_at_or_after(after_ms + 1))
    {
        Some(n) => {
            s.next_ms = n;
            table.update(&s).map(|_| ())
        }
        None => {
            tracing::info!(id, "schedule ended: its last execution ran");
            table.remove(&[id]).map(|_| ())
        }
    };
    if let Err(e) = &r {
        tracing::error!(id, error = %e, "a schedule could not be moved on");
    }
    r
}

/// Scheduled executions in flight, by RequestID: the schedule each belongs to, for the answer
/// hook to tag its Service Response, and when it was sent (monotonic, so a jump of the
/// gateway's clock expires nothing).
///
/// An entry leaves when the hook sees the execution's final answer. An outcome the response
/// writer drops without signing an answer (a second reply, a signing failure) would leave
/// it for good, so [`InFlight::expire`] bounds every entry's life: each execution is answered
/// (by its device, or `E20`/`E21` at its deadline) within the response timeout of being
/// sent, and the runner forgets entries twice that old.
#[derive(Debug, Default)]
struct InFlight {
    map: DashMap<RequestId, (u64, Instant)>,
}

impl InFlight {
    fn insert(&self, request: RequestId, schedule: u64, sent: Instant) {
        self.map.insert(request, (schedule, sent));
    }

    /// The schedule of execution `request`, which has its final answer: forgotten.
    fn remove(&self, request: &RequestId) -> Option<u64> {
        self.map.remove(request).map(|(_, (s, _))| s)
    }

    /// The schedule of execution `request`, still in flight.
    fn get(&self, request: &RequestId) -> Option<u64> {
        self.map.get(request).map(|e| e.0)
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Forgets the executions sent more than `ttl` before `now`; how many.
    fn expire(&self, now: Instant, ttl: Duration) -> usize {
        if self.map.is_empty() {
            return 0;
        }
        let before = self.map.len();
        self.map
            .retain(|_, (_, sent)| now.saturating_duration_since(*sent) <= ttl);
        before.saturating_sub(self.map.len())
    }
}

/// Today (UTC) as days since the epoch.
fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

impl Schedules {
    /// The schedules kept in `parts.store`; `journal` is the request journal as
    /// [`crate::journal::read_all`] read it at start.
    ///
    /// # Errors
    ///
    /// [`TableError`] when the table cannot be opened or read.
    pub fn new(
        parts: Parts,
        journal: &[crate::journal::ReadBack],
    ) -> Result<Schedules, TableError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let in_flight = InFlight::default();
        let table = ScheduleTable::open(Arc::clone(&parts.store))?;
        // Executions acknowledged before the last stop and not answered: the router sends
        // them again from the journal, and their answers are still the schedule's.
        for (_, entry) in journal {
            if let Ok(e) = entry
                && let Some(id) = e.schedule_id
            {
                in_flight.insert(e.request_id, id, Instant::now());
                if let Some(at_ms) = e.not_before_ms {
                    moved_on_past(&table, id, at_ms);
                }
            }
        }
        if !in_flight.is_empty() {
            tracing::info!(
                executions = in_flight.len(),
                "scheduled executions in flight at the last stop"
            );
        }
        Ok(Schedules {
            table,
            directory: InventoryDirectory::new(Arc::clone(&parts.inventory)),
            inventory: parts.inventory,
            users: parts.users,
            registration: parts.registration,
            store: parts.store,
            clock: parts.clock,
            responder: parts.responder,
            delivery: parts.delivery,
            settings: parts.settings,
            in_flight,
            events: tx,
            inbox: Mutex::new(Some(rx)),
        })
    }

    /// The schedule table.
    pub fn table(&self) -> &ScheduleTable {
        &self.table
    }

    /// Runs 5.1, 5.2 or 5.3 for `request`; `None` when its body is none of them.
    pub fn handle(&self, request: &Request, now_ms: i64) -> Option<Result<Outcome, Rejection>> {
        let owner = request.header.request_id.originator;
        let busy = |e: TableError| Rejection::Busy(format!("schedules: {e}"));
        Some(match &request.body {
            Body::CreateSchedule(s) => self.create(owner, s, now_ms).map_err(busy),
            Body::ReadSchedule(r) => self.read(owner, r).map_err(busy),
            Body::DeleteSchedule(d) => self.delete(owner, d).map_err(busy),
            _ => return None,
        })
    }

    /// Checks a 5.1 body; the schedule to store, or the refusal.
    fn check_create(
        &self,
        owner: [u8; 8],
        s: &DSPSchedule,
        now_ms: i64,
    ) -> Result<Schedule, ResponseCode> {
        let refuse = |c: &str, why: String| {
            tracing::info!(user = %hex::eui_duis(&owner), code = c, reason = %why, "create schedule refused");
            code(c)
        };
        let reference = s.dsp_scheduled_service_reference.as_str();
        let srv_name = s.dsp_scheduled_service_reference_variant.as_str();
        let Some(srv) = Catalogue::get().srv(srv_name) else {
            return Err(refuse("E050101", format!("unknown SRV {srv_name}")));
        };
        if !srv.dcc_scheduled || srv.service_reference != reference {
            return Err(refuse(
                "E050101",
                format!("SRV {srv_name} (reference {reference}) cannot be scheduled"),
            ));
        }
        let action = action_of(&s.choice);
        let fits = srv
            .body_elements
            .iter()
            .any(|b| action.element.strip_prefix("DSP") == Some(b.as_str()));
        if !fits {
            return Err(refuse(
                "E050101",
                format!("{} does not schedule SRV {srv_name}", action.element),
            ));
        }
        if s.ka_public_security_credential.is_some() {
            return Err(refuse(
                "E050101",
                "reads for an unknown remote party (KAPublicSecurityCredential) are not scheduled"
                    .into(),
            ));
        }
        let frequency = Frequency::parse(s.schedule_frequency.as_str())
            .ok_or_else(|| refuse("E050102", "unknown ScheduleFrequency".into()))?;
        let start_date = s.schedule_start_date.as_str().to_string();
        let end_date = s.schedule_end_date.as_ref().map(|d| d.as_str().to_string());
        let start_time = s
            .schedule_execution_start_time
            .as_ref()
            .map(|t| t.as_str().to_string());
        let timing = Timing::new(
            frequency,
            &start_date,
            end_date.as_deref(),
            start_time.as_deref(),
        )
        .map_err(|e| refuse("E050102", e))?;
        if table::parse_date(&start_date).is_some_and(|d| d < day_of(now_ms)) {
            return Err(refuse(
                "E050102",
                format!("ScheduleStartDate {start_date} is in the past"),
            ));
        }
        let next_ms = timing
            .next_at_or_after(now_ms)
            .ok_or_else(|| refuse("E050102", "no execution falls in the schedule".into()))?;
        let device = hex::parse_eui(&s.device_id)
            .ok_or_else(|| refuse("E050101", format!("DeviceID {:?}", s.device_id)))?;
        let role = self
            .check_run(owner, device, srv_name, now_ms)
            .map_err(|(c, why)| refuse(c.as_str(), why))?;
        Ok(Schedule {
            id: 0,
            owner,
            role: role.code().to_string(),
            device,
            frequency,
            start_date,
            end_date,
            start_time,
            service_reference: reference.to_string(),
            srv: srv_name.to_string(),
            action,
            created_ms: now_ms,
            next_ms,
            runs: 0,
        })
    }

    /// Whether `owner` may send `srv` to `device` now, as the H4 checks 3, 5 and 6 would
    /// decide: the role it would send it under, or the code and reason.
    fn check_run(
        &self,
        owner: [u8; 8],
        device: [u8; 8],
        srv: &str,
        now_ms: i64,
    ) -> Result<Role, (ResponseCode, String)> {
        let authorised = self
            .users
            .authorise(&owner, srv)
            .map_err(|e| (code(e.code()), e.to_string()))?;
        let (role, roles) = (authorised.role, authorised.user.roles.clone());
        let facts = self
            .directory
            .check_device(&device, srv, 1)
            .map_err(|r| (r.code(), r.to_string()))?;
        if !facts.mpxns.is_empty() {
            let date =
                Date::gb_from_unix_ms(now_ms).map_err(|e| (code("E4"), format!("date: {e}")))?;
            let mut reason = String::new();
            let ok = facts.mpxns.iter().any(|m| {
                self.registration
                    .authorised(owner, &roles, m, date)
                    .inspect_err(|e| reason = e.to_string())
                    .is_ok()
            });
            if !ok {
                return Err((code("E4"), reason));
            }
        }
        Ok(role)
    }

    fn create(&self, owner: [u8; 8], s: &DSPSchedule, now_ms: i64) -> Result<Outcome, TableError> {
        let schedule = match self.check_create(owner, s, now_ms) {
            Ok(s) => s,
            Err(refused) => return Ok((refused, None)),
        };
        match self.table.create(schedule, self.settings.max_per_user)? {
            Some(s) => {
                tracing::info!(user = %hex::eui_duis(&owner), id = s.id, srv = %s.srv, device = %hex::eui_duis(&s.device), next = %rfc3339_ms(s.next_ms), "schedule created");
                Ok((ResponseCode::I0, Some(ResponsePayload::DspScheduleId(s.id))))
            }
            None => Ok((code("E050103"), None)),
        }
    }

    /// The owner's schedules a 5.2 / 5.3 body names.
    fn selected(&self, owner: [u8; 8], which: &ReadSchedule) -> Result<Vec<Schedule>, TableError> {
        Ok(match which {
            ReadSchedule::DSPScheduleID(id) => self
                .table
                .get(*id)?
                .filter(|s| s.owner == owner)
                .into_iter()
                .collect(),
            ReadSchedule::DeviceID(d) => match hex::parse_eui(d) {
                Some(device) => self
                    .table
                    .matching(|s| s.owner == owner && s.device == device)?,
                None => Vec::new(),
            },
        })
    }

    fn read(&self, owner: [u8; 8], which: &ReadSchedule) -> Result<Outcome, TableError> {
        let found = self.selected(owner, which)?;
        if found.is_empty() {
            let c = match which {
                ReadSchedule::DSPScheduleID(_) => "E050201",
                ReadSchedule::DeviceID(_) => "W050201",
            };
            return Ok((code(c), None));
        }
        Ok((ResponseCode::I0, Some(schedules_read(&found))))
    }

    fn delete(&self, owner: [u8; 8], which: &ReadSchedule) -> Result<Outcome, TableError> {
        let found = self.selected(owner, which)?;
        let ids: Vec<u64> = found.iter().map(|s| s.id).collect();
        let removed = self.table.remove(&ids)?;
        if removed.is_empty() {
            let c = match which {
                ReadSchedule::DSPScheduleID(_) => "E050301",
                ReadSchedule::DeviceID(_) => "W050301",
            };
            return Ok((code(c), None));
        }
        for s in &removed {
            tracing::info!(user = %hex::eui_duis(&owner), id = s.id, "schedule deleted on its User's request");
        }
        Ok(match which {
            ReadSchedule::DSPScheduleID(id) => {
                (ResponseCode::I0, Some(ResponsePayload::DspScheduleId(*id)))
            }
            ReadSchedule::DeviceID(_) => (ResponseCode::I0, Some(schedules_read(&removed))),
        })
    }

    /// The MPxNs of a device's Smart Metering System: its own, else those of the device it
    /// is associated with.
    fn mpxns_of(&self, device: &[u8; 8]) -> Vec<String> {
        let Ok(Some(d)) = self.inventory.get(&Eui(*device)) else {
            return Vec::new();
        };
        let own: Vec<String> = d.mpxns().map(str::to_string).collect();
        if !own.is_empty() {
            return own;
        }
        match d.associated_with {
            Some(meter) => match self.inventory.get(&meter) {
                Ok(Some(m)) => m.mpxns().map(str::to_string).collect(),
                _ => Vec::new(),
            },
            None => Vec::new(),
        }
    }

    /// Whether two devices are the same or share an MPxN.
    fn same_system(&self, a: &[u8; 8], b: &[u8; 8], b_mpxns: &[String]) -> bool {
        a == b || (!b_mpxns.is_empty() && self.mpxns_of(a).iter().any(|m| b_mpxns.contains(m)))
    }

    /// Removes `victims` and sends each owner a `DSPScheduleRemoval` DCC alert with the
    /// code for `why`; the schedules removed.
    ///
    /// # Errors
    ///
    /// [`TableError`]: nothing removed, no alert.
    pub fn remove(
        &self,
        victims: &[Schedule],
        why: Removal,
        now_ms: i64,
    ) -> Result<Vec<Schedule>, TableError> {
        let ids: Vec<u64> = victims.iter().map(|s| s.id).collect();
        let removed = self.table.remove(&ids)?;
        for s in &removed {
            tracing::info!(user = %hex::eui_duis(&s.owner), id = s.id, reason = ?why, "schedule removed");
            match removal_alert(&self.responder, s, why, now_ms) {
                Some(body) => {
                    if let Err(e) = self.delivery.submit(s.owner, body, Kind::DccAlert) {
                        tracing::error!(user = %hex::eui_duis(&s.owner), error = %e, "a schedule removal alert could not be queued");
                    }
                }
                None => tracing::error!(id = s.id, "a schedule removal alert could not be built"),
            }
        }
        Ok(removed)
    }

    /// Inventory status changes (from the inventory services): schedules on a device that
    /// became Withdrawn or Decommissioned, or sharing its MPxN, are removed.
    pub fn device_status_changed(&self, changes: &[StatusChange], now_ms: i64) {
        for c in changes {
            if !matches!(c.to, DeviceStatus::Withdrawn | DeviceStatus::Decommissioned) {
                continue;
            }
            let gone = c.id.0;
            let mpxns = self.mpxns_of(&gone);
            let r = self
                .table
                .matching(|s| self.same_system(&s.device, &gone, &mpxns))
                .and_then(|v| self.remove(&v, Removal::Device, now_ms));
            if let Err(e) = r {
                tracing::error!(device = %c.id, error = %e, "schedules of a withdrawn or decommissioned device could not be removed");
            }
        }
    }

    /// Change of Tenancy at `device` (requested by `requester`): the schedules created in
    /// the Other User role on its Smart Metering System are removed.
    ///
    /// # Errors
    ///
    /// [`TableError`].
    pub fn change_of_tenancy(
        &self,
        device: [u8; 8],
        requester: [u8; 8],
        now_ms: i64,
    ) -> Result<Vec<Schedule>, TableError> {
        let mpxns = self.mpxns_of(&device);
        let victims = self.table.matching(|s| {
            s.role == Role::OtherUser.code()
                && s.owner != requester
                && self.same_system(&s.device, &device, &mpxns)
        })?;
        self.remove(&victims, Removal::ChangeOfTenancy, now_ms)
    }

    /// Removes the schedules of suspended (or no longer known) Users.
    ///
    /// # Errors
    ///
    /// [`TableError`].
    pub fn sweep_suspended(&self, now_ms: i64) -> Result<Vec<Schedule>, TableError> {
        let victims = self.table.matching(|s| {
            self.users
                .get(&s.owner)
                .is_none_or(|u| u.status == UserStatus::Suspended)
        })?;
        self.remove(&victims, Removal::Suspended, now_ms)
    }

    /// The next counter of `owner`'s anti-replay sequence, recorded as spent.
    fn spend_counter(&self, owner: [u8; 8]) -> Result<u64, String> {
        for _ in 0..8 {
            let next = self
                .store
                .counter_last(owner)
                .map_err(|e| e.to_string())?
                .map_or(1, |l| l.saturating_add(1));
            if self
                .store
                .counter_accept(owner, next)
                .map_err(|e| e.to_string())?
            {
                return Ok(next);
            }
        }
        Err("the User's counter kept moving".into())
    }

    /// Delivers an execution's answer that did not come from its device.
    fn answer_failed(&self, s: &Schedule, request: Option<&Request>, c: ResponseCode, now_ms: i64) {
        let (id, service) = match request {
            Some(r) => (
                r.header.request_id,
                Some((
                    r.header.service_reference,
                    r.header.service_reference_variant,
                )),
            ),
            None => (RequestId::new(s.owner, s.device, 0), None),
        };
        let Some(service) = service else {
            return;
        };
        if c.is_error() {
            self.send_command_failure(s.owner, id, s.id, now_ms);
        }
        let answer = Answer {
            request_id: Some(id),
            with_response_id: true,
            code: c,
            service: Some(service),
            payload: Some(ResponsePayload::DspScheduleId(s.id)),
        };
        match self.responder.signed(answer, now_ms) {
            Ok(body) => {
                if let Err(e) = self.delivery.submit(s.owner, body, Kind::Response) {
                    tracing::error!(error = %e, "a scheduled execution's answer could not be queued");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "a scheduled execution's answer could not be signed")
            }
        }
    }

    /// Runs schedule `id` (due at `now_ms`) through `router`, then moves it to its next
    /// occurrence (or removes it when it has none).
    fn execute(&self, id: u64, router: Option<&crate::routing::Router>, now_ms: i64) {
        let s = match self.table.get(id) {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(id, error = %e, "a schedule could not be read");
                return;
            }
        };
        // The owner suspended or the device gone: the schedule goes, with its alert.
        let suspended = self
            .users
            .get(&s.owner)
            .is_none_or(|u| u.status == UserStatus::Suspended);
        let gone = matches!(
            self.inventory.get(&Eui(s.device)),
            Ok(Some(d)) if matches!(d.status, DeviceStatus::Withdrawn | DeviceStatus::Decommissioned)
        );
        if suspended || gone {
            let why = if suspended {
                Removal::Suspended
            } else {
                Removal::Device
            };
            if let Err(e) = self.remove(std::slice::from_ref(&s), why, now_ms) {
                tracing::error!(id, error = %e, "a schedule could not be removed");
            }
            return;
        }
        // Catch-up: when later occurrences than the one due have passed too (the gateway was
        // down, or the clock jumped), one execution runs, as the latest of them; its read
        // period reaches back over the missed ones of the last CATCH_UP_SPAN_MS.
        let timing = s.timing();
        let at_ms = timing
            .as_ref()
            .ok()
            .and_then(|t| t.last_at_or_before(now_ms))
            .filter(|l| *l > s.next_ms)
            .unwrap_or(s.next_ms);
        let from_ms = if at_ms > s.next_ms {
            let from = timing
                .as_ref()
                .ok()
                .and_then(|t| t.next_at_or_after(s.next_ms.max(at_ms - CATCH_UP_SPAN_MS)))
                .unwrap_or(at_ms)
                .min(at_ms);
            tracing::warn!(
                id,
                missed_since = %rfc3339_ms(s.next_ms),
                covered_from = %rfc3339_ms(from),
                runs_as = %rfc3339_ms(at_ms),
                "missed occurrences of a schedule caught up by one execution"
            );
            from
        } else {
            at_ms
        };
        self.run_once(&s, router, from_ms, at_ms, now_ms);
        let _ = move_on(&self.table, s, now_ms);
    }

    fn run_once(
        &self,
        s: &Schedule,
        router: Option<&crate::routing::Router>,
        from_ms: i64,
        at_ms: i64,
        now_ms: i64,
    ) {
        let counter = match self.spend_counter(s.owner) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(id = s.id, error = %e, "no counter for a scheduled execution");
                return;
            }
        };
        let request = match execution_request(s, from_ms, at_ms, counter) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(id = s.id, error = %e, "a scheduled request could not be built");
                return;
            }
        };
        if let Err((c, why)) = self.check_run(s.owner, s.device, &s.srv, now_ms) {
            tracing::info!(id = s.id, code = %c.as_str(), reason = %why, "scheduled execution not sent");
            self.answer_failed(s, Some(&request), c, now_ms);
            return;
        }
        let Some(router) = router else {
            self.answer_failed(s, Some(&request), code("E100"), now_ms);
            return;
        };
        let facts = match self.directory.check_device(&s.device, &s.srv, 1) {
            Ok(f) => f,
            Err(r) => {
                self.answer_failed(s, Some(&request), r.code(), now_ms);
                return;
            }
        };
        let accepted = Accepted {
            request,
            role: Role::parse(&s.role).unwrap_or(Role::OtherUser),
            device: Some(facts),
            routed: None,
            firmware: None,
        };
        let rid = accepted.request.header.request_id;
        self.in_flight.insert(rid, s.id, Instant::now());
        if let Err(r) = router.route_scheduled(&accepted, s.id, at_ms) {
            self.in_flight.remove(&rid);
            tracing::info!(id = s.id, code = %r.code(), reason = %r, "scheduled execution refused by routing");
            self.answer_failed(s, Some(&accepted.request), r.code(), now_ms);
            return;
        }
        tracing::info!(id = s.id, request = %rid, "scheduled execution sent");
    }

    /// One wake-up of the runner: executions in flight for longer than twice the router's
    /// response timeout are forgotten ([`InFlight::expire`]), then every schedule due runs.
    pub fn tick(&self, router: Option<&crate::routing::Router>) {
        if let Some(r) = router {
            let expired = self
                .in_flight
                .expire(Instant::now(), r.timeout().saturating_mul(2));
            if expired > 0 {
                tracing::warn!(
                    executions = expired,
                    "scheduled executions in flight past twice the response timeout forgotten: an answer still to come is not tagged with its schedule"
                );
            }
        }
        let now_ms = self.clock.now_ms();
        for id in self.table.due(now_ms, MAX_PER_TICK) {
            self.execute(id, router, now_ms);
        }
    }

    fn on_event(&self, event: Event) {
        let now_ms = self.clock.now_ms();
        match event {
            Event::ChangeOfTenancy { device, requester } => {
                if let Err(e) = self.change_of_tenancy(device, requester, now_ms) {
                    tracing::error!(device = %hex::eui_duis(&device), error = %e, "schedules could not be removed on Change of Tenancy");
                }
            }
            Event::CommandFailed { request, schedule } => {
                self.send_command_failure(request.originator, request, schedule, now_ms);
            }
        }
    }

    /// Sends `owner` the `CommandFailure` DCC alert for execution `request` of schedule
    /// `schedule`.
    fn send_command_failure(&self, owner: [u8; 8], request: RequestId, schedule: u64, now_ms: i64) {
        match command_failure_alert(&self.responder, &request, schedule, now_ms) {
            Some(body) => {
                if let Err(e) = self.delivery.submit(owner, body, Kind::DccAlert) {
                    tracing::error!(user = %hex::eui_duis(&owner), error = %e, "a CommandFailure alert could not be queued");
                }
            }
            None => tracing::error!(schedule, "a CommandFailure alert could not be built"),
        }
    }

    /// Starts the runner thread: it removes the schedules of suspended Users, then sends
    /// due executions through `router` every tick and handles Change of Tenancy events.
    /// Only the first call starts a thread.
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub fn start(
        self: &Arc<Self>,
        router: Option<Arc<crate::routing::Router>>,
    ) -> std::io::Result<()> {
        let inbox = self
            .inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(inbox) = inbox else {
            return Ok(());
        };
        if let Err(e) = self.sweep_suspended(self.clock.now_ms()) {
            tracing::error!(error = %e, "schedules of suspended Users could not be removed");
        }
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("hubgate-schedules".into())
            .spawn(move || {
                loop {
                    match inbox.recv_timeout(me.settings.tick) {
                        Ok(e) => me.on_event(e),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                    }
                    me.tick(router.as_deref());
                }
            })?;
        Ok(())
    }
}

impl AnswerHook for Schedules {
    fn payload(&self, answer: &Answer) -> Option<Option<ResponsePayload>> {
        let id = answer.request_id?;
        // Only a device's answer carries out a 3.2: the I0 with no body that answers a
        // cancellation of a held one (crate::cancellation) changes nothing.
        if answer.with_response_id
            && answer.code == ResponseCode::I0
            && matches!(answer.payload, Some(ResponsePayload::GbcsPayload(_)))
            && answer
                .service
                .is_some_and(|(_, v)| v.as_str() == CHANGE_OF_TENANCY_SRV)
        {
            let _ = self.events.send(Event::ChangeOfTenancy {
                device: id.target,
                requester: id.originator,
            });
        }
        if self.in_flight.is_empty() {
            return None;
        }
        let schedule = if answer.with_response_id {
            self.in_flight.remove(&id)
        } else {
            self.in_flight.get(&id)
        }?;
        // A failed execution (E20/E21, or refused when it was sent again after a restart):
        // its owner also gets the CommandFailure DCC alert, from the runner thread.
        if answer.with_response_id && answer.code.is_error() {
            let _ = self.events.send(Event::CommandFailed {
                request: id,
                schedule,
            });
        }
        Some(Some(match &answer.payload {
            Some(ResponsePayload::GbcsPayload(p)) => ResponsePayload::DspScheduledMessage {
                gbcs_payload: p.clone(),
                dsp_schedule_id: schedule,
            },
            None => ResponsePayload::DspScheduleId(schedule),
            Some(other) => other.clone(),
        }))
    }
}

/// The request an execution of `s` at `at_ms` sends, with RequestID counter `counter`,
/// catching up the occurrences from `from_ms` on (`from_ms == at_ms` for an execution on
/// time): its read period (for a log read) starts where the occurrence at `from_ms` would
/// have started it and ends where the one at `at_ms` ends it.
///
/// # Errors
///
/// Why the request could not be built (a damaged record).
pub fn execution_request(
    s: &Schedule,
    from_ms: i64,
    at_ms: i64,
    counter: u64,
) -> Result<Request, String> {
    let id = RequestId::new(s.owner, s.device, counter);
    let element = s
        .action
        .element
        .strip_prefix("DSP")
        .ok_or_else(|| format!("action {}", s.action.element))?;
    let (from_day, day) = (day_of(from_ms.min(at_ms)), day_of(at_ms));
    let inner = match &s.action.period {
        Some(p) => format!(
            "<sr:ReadLogPeriod><sr:StartDateTime>{}T{}</sr:StartDateTime><sr:EndDateTime>{}T{}</sr:EndDateTime></sr:ReadLogPeriod>",
            table::format_day(from_day + p.start_days),
            p.start_time,
            table::format_day(day + p.end_days),
            p.end_time
        ),
        None => String::new(),
    };
    let xml = format!(
        "<sr:Request xmlns:sr=\"{NS_SR}\" schemaVersion=\"5.4\"><sr:Header><sr:RequestID>{id}</sr:RequestID><sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>{}</sr:ServiceReference><sr:ServiceReferenceVariant>{}</sr:ServiceReferenceVariant></sr:Header><sr:Body><sr:{element}>{inner}</sr:{element}></sr:Body></sr:Request>",
        s.service_reference, s.srv
    );
    Request::parse(xml.as_bytes(), &Limits::default()).map_err(|e| e.to_string())
}

/// What a `DSP…` choice asks of the device.
fn action_of(choice: &DSPScheduleChoice) -> Action {
    use DSPScheduleChoice as C;
    let (element, period) = match choice {
        C::DSPRetrieveImportDailyReadLog(p) => ("DSPRetrieveImportDailyReadLog", Some(p)),
        C::DSPRetrieveExportDailyReadLog(p) => ("DSPRetrieveExportDailyReadLog", Some(p)),
        C::DSPReadActiveImportProfileData(p) => ("DSPReadActiveImportProfileData", Some(p)),
        C::DSPReadReactiveImportProfileData(p) => ("DSPReadReactiveImportProfileData", Some(p)),
        C::DSPReadExportProfileData(p) => ("DSPReadExportProfileData", Some(p)),
        C::DSPReadNetworkData(p) => ("DSPReadNetworkData", Some(p)),
        C::DSPReadPrepaymentDailyReadLog(p) => ("DSPReadPrepaymentDailyReadLog", Some(p)),
        C::DSPRetrieveDailyConsumptionLog(p) => ("DSPRetrieveDailyConsumptionLog", Some(p)),
        C::DSPReadMaximumDemandImportRegisters(_) => ("DSPReadMaximumDemandImportRegisters", None),
        C::DSPReadMaximumDemandExportRegisters(_) => ("DSPReadMaximumDemandExportRegisters", None),
        C::DSPReadLoadLimitData(_) => ("DSPReadLoadLimitData", None),
        C::DSPReadActivePowerImport(_) => ("DSPReadActivePowerImport", None),
        C::DSPRecordNetworkDataGAS(_) => ("DSPRecordNetworkDataGAS", None),
        C::DSPReadInstantaneousExportRegisters(_) => ("DSPReadInstantaneousExportRegisters", None),
    };
    Action {
        element: element.to_string(),
        period: period.map(|p| PeriodOffset {
            start_days: p.start_date_offset,
            start_time: p.start_time.as_str().to_string(),
            end_days: p.end_date_offset,
            end_time: p.end_time.as_str().to_string(),
        }),
    }
}

/// `sr:DSPScheduleDetails` of a schedule (the `DSPSchedule` type, in schema order).
fn details(s: &Schedule) -> Element {
    let mut e = sr("DSPScheduleDetails")
        .with_child(leaf("ScheduleFrequency", s.frequency.as_str()))
        .with_child(leaf("ScheduleStartDate", &s.start_date));
    if let Some(d) = &s.end_date {
        e = e.with_child(leaf("ScheduleEndDate", d));
    }
    if let Some(t) = &s.start_time {
        e = e.with_child(leaf("ScheduleExecutionStartTime", t));
    }
    let mut action = sr(&s.action.element);
    if let Some(p) = &s.action.period {
        action = action
            .with_child(leaf("StartDateOffset", &p.start_days.to_string()))
            .with_child(leaf("StartTime", &p.start_time))
            .with_child(leaf("EndDateOffset", &p.end_days.to_string()))
            .with_child(leaf("EndTime", &p.end_time));
    }
    e.with_child(leaf("DSPScheduledServiceReference", &s.service_reference))
        .with_child(leaf("DSPScheduledServiceReferenceVariant", &s.srv))
        .with_child(leaf("DeviceID", &hex::eui_duis(&s.device)))
        .with_child(action)
}

/// `DSPSchedulesRead` of the first [`MAX_READ`] of `schedules`.
fn schedules_read(schedules: &[Schedule]) -> ResponsePayload {
    let xml = schedules
        .iter()
        .take(MAX_READ)
        .fold(sr("DSPSchedulesRead"), |e, s| {
            e.with_child(
                sr("DSPSchedules")
                    .with_child(leaf("DSPScheduleID", &s.id.to_string()))
                    .with_child(details(s)),
            )
        });
    crate::inventory::dsp::payload(xml)
}

/// The signed `DSPScheduleRemoval` DCC alert for `s`'s owner.
pub fn removal_alert(
    responder: &Responder,
    s: &Schedule,
    why: Removal,
    now_ms: i64,
) -> Option<Vec<u8>> {
    let response = crate::alerts::dcc_alert_message(
        why.code(),
        &format!(
            "<sr:DSPScheduleRemoval><sr:DeviceID>{}</sr:DeviceID><sr:DSPScheduleID>{}</sr:DSPScheduleID></sr:DSPScheduleRemoval>",
            hex::eui_duis(&s.device),
            s.id
        ),
        now_ms,
    )?;
    responder.sign_response(&response).ok()
}

/// The signed `CommandFailure` DCC alert (code [`COMMAND_FAILURE_CODE`]) for the failed
/// execution `request` of schedule `schedule`: `CommandRequestID`, `DSPScheduleID` and the
/// device, in the schema's order.
pub fn command_failure_alert(
    responder: &Responder,
    request: &RequestId,
    schedule: u64,
    now_ms: i64,
) -> Option<Vec<u8>> {
    let response = crate::alerts::dcc_alert_message(
        COMMAND_FAILURE_CODE,
        &format!(
            "<sr:CommandFailure><sr:CommandRequestID>{request}</sr:CommandRequestID><sr:DSPScheduleID>{schedule}</sr:DSPScheduleID><sr:DeviceID>{}</sr:DeviceID></sr:CommandFailure>",
            hex::eui_duis(&request.target)
        ),
        now_ms,
    )?;
    responder.sign_response(&response).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        crate::clock::parse_rfc3339_ms(s).unwrap()
    }

    fn daily_read_log() -> Schedule {
        Schedule {
            id: 5,
            owner: [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x01, 0, 0],
            device: [0, 0xdb, 0x55, 0, 0, 0, 0, 1],
            ..table::tests::record(0, ms("2030-01-02T00:00:00Z"))
        }
    }

    fn period(r: &Request) -> (String, String) {
        let Body::RetrieveImportDailyReadLog(b) = &r.body else {
            panic!("not a daily read log: {:?}", r.body);
        };
        (
            b.read_log_period.start_date_time.as_str().to_string(),
            b.read_log_period.end_date_time.as_str().to_string(),
        )
    }

    #[test]
    fn an_execution_reads_the_period_of_its_occurrence() {
        let s = daily_read_log();
        let at = ms("2030-01-05T00:00:00Z");
        let r = execution_request(&s, at, at, 77).unwrap();
        assert_eq!(r.header.request_id, RequestId::new(s.owner, s.device, 77));
        assert_eq!(r.header.service_reference_variant.as_str(), "4.6.1");
        assert_eq!(
            period(&r),
            ("2030-01-04T00:00:00Z".into(), "2030-01-05T00:00:00Z".into())
        );
    }

    #[test]
    fn a_catch_up_reads_from_the_first_missed_occurrence_to_the_last() {
        let s = daily_read_log();
        let r = execution_request(
            &s,
            ms("2030-01-03T00:00:00Z"),
            ms("2030-01-05T00:00:00Z"),
            78,
        )
        .unwrap();
        assert_eq!(
            period(&r),
            ("2030-01-02T00:00:00Z".into(), "2030-01-05T00:00:00Z".into())
        );
        // A start after the occurrence is taken as the occurrence itself.
        let r = execution_request(
            &s,
            ms("2030-01-09T00:00:00Z"),
            ms("2030-01-05T00:00:00Z"),
            79,
        )
        .unwrap();
        assert_eq!(
            period(&r),
            ("2030-01-04T00:00:00Z".into(), "2030-01-05T00:00:00Z".into())
        );
    }

    #[test]
    fn executions_in_flight_are_forgotten_once_twice_the_response_timeout_has_passed() {
        let f = InFlight::default();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        let (a, b) = (
            RequestId::new([1; 8], [2; 8], 1),
            RequestId::new([1; 8], [2; 8], 2),
        );
        f.insert(a, 5, t0);
        f.insert(b, 6, t0 + Duration::from_secs(50));
        assert_eq!(f.expire(t0 + ttl, ttl), 0, "not older than the limit yet");
        assert_eq!(f.expire(t0 + Duration::from_secs(61), ttl), 1);
        assert_eq!((f.get(&a), f.get(&b)), (None, Some(6)));
        // Answered: removed at once, and nothing left to expire.
        assert_eq!(f.remove(&b), Some(6));
        assert!(f.is_empty());
        assert_eq!(f.expire(t0 + Duration::from_secs(3_600), ttl), 0);
        assert_eq!(f.len(), 0);
    }

    #[test]
    fn a_damaged_action_is_an_error_not_a_panic() {
        let mut s = daily_read_log();
        s.action.element = "RetrieveImportDailyReadLog".into();
        assert!(execution_request(&s, 0, 0, 1).is_err());
        s.action.element = "DSPNoSuchRead".into();
        assert!(execution_request(&s, 0, 0, 1).is_err());
    }
}
