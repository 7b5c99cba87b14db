//! Alerts to Users: who receives a device alert, how a future-dated command's outcome is
//! tied back to its request, and the DCC alerts the gateway raises itself.
//!
//! Everything here runs on the response writer thread of [`crate::routing::ResponseSink`],
//! which signs each message with the DSP key and hands it to the durable outbox.
//!
//! # Device alerts: who receives them
//!
//! An alert from a device that the inventory puts behind another Communications Hub than
//! the one it came through (or behind none) is dropped, counted in
//! `hubgate_alerts_dropped_total{reason="not_behind_hub"}` and logged: it can only be a
//! replay or a forgery routed through a hub the device does not belong to. So is an alert
//! from a device the inventory does not hold at all (`reason="not_on_inventory"`): a device
//! joins a hub's HAN only after its pre-notification, so such an alert has no hub to be
//! checked against, and a genuine alert of a device known only to the key store could
//! otherwise be replayed through any hub. Only a failed inventory read lets an alert through
//! unjudged (logged as an error).
//!
//! An alert whose protection the gateway could check (every key held) is handled as below.
//! One it could not check, passed on by the hub actors for its recipient to check
//! (`DeviceAlert::verified` false), goes to its GBCS recipient alone, when that is a User: it
//! is not sent to the registered parties (who could not check it), matched to a
//! future-dated request, throttled or quarantined.
//!
//! A device alert goes, as one signed `DeviceAlertMessage` each, to every User that the
//! Registration Data names, today (GB calendar day), as a supplier (`import_supplier`,
//! `export_supplier`, `gas_supplier`) or network operator (`electricity_distributor`,
//! `gas_transporter`) of the device's MPxNs. These are the parties whose credentials a
//! device holds in the trust roles that receive alerts. The device's MPxNs are looked up in
//! the Smart Metering Inventory: its own (`ImportMPxN`, `ExportMPAN`); else those of the
//! device it is associated with (a PPMID or GPF with its meter); else, for a hub, those of
//! the devices associated with it. The User the GBCS alert is addressed to also receives it
//! when it is not the Access Control Broker (the DCC itself) and is a User the gateway knows,
//! so that a device holding the credentials of a User no longer registered still reaches it;
//! an address that is no User is not kept (a device or rig cannot make the outbox hold
//! messages for parties of its choosing). With nobody left to receive it, the alert is
//! dropped, counted in `hubgate_alerts_dropped_total{reason="no_recipient"}` and logged. The
//! `ResponseID` of each copy names the device, the receiving User and the device's alert
//! counter.
//!
//! # Future-dated outcomes (`8F66` executed, `8F67` failed)
//!
//! When a command for an SRV whose DUIS future-dated pattern is `Device` or `DSP & Device`
//! gets its immediate response from the device (and does not ask to be run now, see
//! [`crate::cancellation`]), the gateway remembers the request
//! (RequestID, Service Reference and Variant) under the device and the GBCS originator
//! counter of the command, and how many future-dated instructions the command holds where
//! it can count them (DLMS: the sets of activation date-time attributes). The execution
//! alert repeats that counter: in the DLMS form inside the alert's record octet-string
//! (message code ‖ counter ‖ …), in the GBZ form in its future-dated record. A match is
//! answered to the requesting User alone as a `ResponseMessage` carrying
//! `FutureDatedDeviceAlertMessage`, with the request's `RequestID` and `ResponseID`, its
//! Service Reference and Variant, `InstructionNumber` (the alerts seen for that request so
//! far, this one included) and `TotalCommandInstructions` (the count taken from the command,
//! or the instruction number where the command could not be counted). An alert that matches
//! nothing (a request forgotten beyond the bound, the ASN.1 form of the credentials update,
//! which carries no counter) goes out as a `DeviceAlertMessage` to the recipients above. At
//! most [`MAX_FUTURE_DATED`] requests are remembered (oldest forgotten first), in memory and
//! durably ([`FutureDated`]), so a restart in between changes nothing.
//!
//! A device keeps at most one pending instruction per message code. A cancellation (an
//! `ExecutionDateTime` in the year 3000 or later, [`crate::cancellation`]) that the device
//! carries out drops its pending instructions of that message code, and so does a newer
//! future-dated command of that message code that it accepts (it keeps only the newer);
//! neither raises an alert for what was dropped. The response writer then forgets every
//! remembered request for that device with that message code, whichever User sent it
//! ([`FutureDated::drop_instructions`]; records written before message codes were kept
//! match on the SRV), and counts them in `hubgate_future_dated_cancelled_total` with
//! `pattern="device"` or `pattern="superseded"`. The cancellation itself is not
//! remembered. Nobody is told of a forgotten request (see [`crate::cancellation`] for why).
//! `gateway/tests/future_dated_cancel.rs` proves both with an emulated meter.
//!
//! # DCC alerts
//!
//! * Hub connectivity loss: when an SMWAN rig connection ends, every hub it held that no
//!   newer connection took over is reported as a `PowerOutageEvent` with DCC alert code
//!   `AD1`: the loss of a hub's link is what the gateway can observe of a supply outage at
//!   the premises (the SEC's example of a DCC alert is a power outage reported by a
//!   Communications Hub, and SEC F4.9 sends power outage alerts to the electricity network
//!   operator). Recipients: the `electricity_distributor` registered today for the import
//!   MPAN of each electricity meter associated with the hub; one alert per User per hub
//!   event, naming the first such MPAN. The code meaning (`AD1`) is a judgement: the DUIS
//!   table of DCC alert codes is not in the project's sources.
//! * Change of Supplier (SR 6.23, [`crate::cos`]): when the device's CS02b response reports
//!   a supplier cell replaced, a `ChangeOfSupplier` DCC alert naming the 6.23 request
//!   (`ChangeOfSupplierServiceRequestID`) goes to the gaining supplier (the requester) and to
//!   each losing supplier (the prior EUI of the replaced supplier cells, as the device
//!   reports them), with DCC alert code `N42`. The alert type is the DUIS schema's; the code
//!   is a judgement, like `AD1` above: the DUIS table of alert codes is not in the project's
//!   sources. A device that reports nothing replaced (or a future-dated acceptance) raises
//!   none.
//! * A command not delivered to, or not answered by, its device already ends in a Service
//!   Response with `E20`/`E21`. The DCC alert for a failed command (`CommandFailure`, with an
//!   optional DSP schedule ID) is raised for DSP schedules' executions: one that fails
//!   (`E20`/`E21`, or not sent because the device no longer fits) also sends the schedule's
//!   owner a `CommandFailure` naming the execution's RequestID, the schedule and the device,
//!   with DCC alert code [`crate::schedules::COMMAND_FAILURE_CODE`] (`N12`, a judgement like
//!   the others here); see [`crate::schedules`]. Other commands answered `E20`/`E21`
//!   (on demand, DSP future-dated) raise no DCC alert.
//! * Quarantined request ([`quarantined_request`]): when anomaly detection quarantines a
//!   Service Request ([`crate::anomaly`]), its User receives a `QuarantinedRequest` DCC alert
//!   with DCC alert code [`QUARANTINED_REQUEST_CODE`] (`N24`), naming the request's
//!   `RequestID` and the quarantine ID as `QuarantineEventRef`, under
//!   `ADDCCThresholdBreach`: every threshold the gateway applies is set by the DCC operator
//!   (the Table 5.3 defaults and `anomaly.overrides`), none by the User itself. The code is a
//!   judgement, like `AD1` and `N42`: the DUIS table of DCC alert codes is in neither the
//!   project's documents nor its seeds (PROTOCOLS.md lists it as an open question), so a
//!   code of the schema's enumeration not used for anything else was taken, and it is kept in
//!   one constant to be corrected when the table is at hand. The alert is signed and handed
//!   to delivery on the alert thread once the quarantine record is durable; a crash between
//!   the two loses the alert (the User still had the `E43`).
//!
//! # Alert-storm throttling ([`Throttle`])
//!
//! Identical device alerts — same device, same alert code — are throttled over
//! `alerts.throttle_window_ms` (default 60 s; `0` turns throttling off). The first opens a
//! window and is delivered at once. Each identical one inside the window is counted and
//! held back (`hubgate_alerts_throttled_total`); the last one held back is kept. When the
//! window closes — checked on the alert thread every quarter window (between 50 ms and 1 s),
//! or at the next identical alert after the window, whichever comes first — a window that
//! held any back sends one `DeviceAlertMessage`, to the same recipients, carrying the last
//! held-back alert's `GBCSPayload`, `ThrottledAlertSequenceId` (a number given to the window
//! when it first holds an alert back, unique within a run; it counts up from the start time
//! in seconds, so a later run reuses one only after more throttled windows than seconds
//! between the two starts) and `ThrottledAlertCount` (the alerts held
//! back, the one carried included). The element order is the DUIS 5.4 schema's
//! (`AlertCode`, `ThrottledAlertSequenceId`, `ThrottledAlertCount`, `GBCSPayload`). An
//! alert that opens a new window after a summary is delivered at once again.
//!
//! Future-dated outcomes tied to a request are answers, not alerts, and are never
//! throttled. The windows run on the monotonic clock, so a pinned or stepped wall clock
//! cannot hold one open. At most `alerts.throttle_max_tracked` (device, code) windows are
//! open; making room closes the oldest early (its summary is sent then).
//!
//! The open windows are also kept in the store (table `alerts.throttle_windows`: device ‖
//! alert code → start, count held back, sequence ID and the last alert held back, whole), so
//! a restart in the middle of a storm, `kill -9` included, neither forgets what it held back
//! nor sends a summary twice. A window changed by an alert is written in the transaction of
//! the response writer's batch that carries that alert's messages (or its summary, when the
//! alert closed the window); a window the alert thread closes is removed in the transaction
//! that stores its summary. Writes carry each window as it is when its transaction begins,
//! so the transactions' order keeps the durable copy equal to memory; a transaction that
//! fails leaves its windows to the next one. At start the stored windows open again at
//! their start times (on the timeline of the monotonic clock, which starts from the wall
//! clock; a start later than now counts as now); one whose time ran out while the gateway
//! was down closes at once, its summary sent to the recipients registered then. Records that
//! cannot be read are logged and removed.
//!
//! # Alert thresholds per hub
//!
//! Every device alert is counted against its Communications Hub's sliding minute and hour
//! ([`crate::anomaly::HubAlerts`]; `anomaly.hub_alerts_per_minute`, default 60, and
//! `anomaly.hub_alerts_per_hour`, default 600). An alert over either limit is quarantined:
//! the signed messages it would have been delivered as are held durably in the quarantine
//! (not delivered), listed by the admin API and `hubgate quarantine list`, and delivered as
//! they are when an operator releases them, or dropped when deleted. Alerts held back by
//! throttling count towards the hub's windows but have nothing to quarantine; throttle
//! summaries are not counted again. When the quarantine cannot be written the alert is
//! delivered (logged): an alert is never lost to a store failure. When the quarantine already
//! holds `anomaly.max_held_alerts` records (default 100 000), an alert over its hub's
//! threshold is dropped instead, counted in `hubgate_alerts_dropped_total{reason=
//! "quarantine_full"}` and logged: a hub's alert storm cannot fill the store.
//!
//! Not done: throttling of DCC alerts (they are raised once per event); DCC alerts other
//! than those above. A crash between a window's last change and the commit of its batch
//! loses that change with the batch's other messages (nothing of the batch was delivered).
//!
//! `gateway/tests/alerts.rs` proves, against a running `hubgate serve` with emulated meters
//! and a separate `hil-rig` process: a future-dated tariff's 8F66 reaches the supplier as a
//! `FutureDatedDeviceAlertMessage` with the request's RequestID, also when the gateway is
//! killed and restarted between the command and its execution; killing the rig raises an `AD1`
//! `PowerOutageEvent` for the network operator; each message is valid against the DUIS XSD
//! and its DSP signature verifies with an independent checker. `gateway/tests/alert_throttle.rs`
//! proves, with an emulated premises connected over the SMWAN link whose meter raises
//! alerts on demand: a burst of identical alerts reaches each recipient as the first alert
//! and, after the window, one alert with `ThrottledAlertCount` equal to the number held
//! back, schema-valid and DSP-signed, while a different alert code in the same burst is not
//! held back; alerts over a hub's threshold are not delivered, are listed, released (then
//! delivered) and deleted (never delivered) through the admin API and the command line;
//! a window holding alerts back when the gateway is killed with SIGKILL closes after the
//! restart with one summary whose `ThrottledAlertCount` is the number held back before the
//! crash, whether the window ends after the restart or ran out while the gateway was down.
//! `gateway/tests/quarantine.rs` proves the `QuarantinedRequest` DCC alert reaches the
//! User of a quarantined request, schema-valid and DSP-signed. Unit tests here cover the
//! throttle's windows, closing at the next identical alert, its memory bound, the window
//! records, which writer writes what, and windows read back from a store.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubgate_actors::DeviceAlert;
use hubgate_protocol::catalogue::FutureDatedPattern;
use hubgate_protocol::duis::model::header::{RequestId, ServiceReference, ServiceReferenceVariant};
use hubgate_protocol::duis::model::response::{
    DccAlertCode, DccAlertMessage, DeviceAlertMessage, FutureDatedAlertCode,
    FutureDatedDeviceAlert, Response, ResponseBody, ResponseCode, ResponseHeader, ResponsePayload,
};
use hubgate_protocol::duis::model::xsd::DateTime;
use hubgate_protocol::duis::xml::Document;
use hubgate_protocol::gbcs::frame;
use hubgate_protocol::gbcs::payload::{self, Payload, data::Data, dlms, gbz};
use hubgate_protocol::hex;

use crate::anomaly::quarantine::{HeldAlert, HeldMessage};
use crate::clock::{Clock, rfc3339_ms};
use crate::delivery::{Delivery, Kind, Outgoing};
use crate::ingress::respond::{Answer, Responder};
use crate::inventory::{DeviceType, Eui, HubOf, Inventory, InventoryView as _};
use crate::metric_name;
use crate::registration::{Date, Fuel, Mpxn, PartyRole, RegistrationData};
use crate::store::Store;
use crate::users::UserRegistry;

/// Most future-dated requests remembered for matching their execution alerts.
pub const MAX_FUTURE_DATED: usize = 65_536;

/// (class, attribute) of the COSEM attributes that hold an activation date-time: each set
/// of one in a future-dated command is one instruction with its own execution alert
/// ([`count_instructions`]), and its value is the instruction's execution time
/// ([`crate::cancellation::command_execution`]).
pub(crate) const ACTIVATION_ATTRIBUTES: &[(u16, i8)] = &[(20, 10), (113, 7), (9000, 6), (111, 13)];

/// Party roles whose Users receive device alerts: suppliers and network operators.
const ALERTED_ROLES: [PartyRole; 5] = [
    PartyRole::ImportSupplier,
    PartyRole::ExportSupplier,
    PartyRole::GasSupplier,
    PartyRole::ElectricityDistributor,
    PartyRole::GasTransporter,
];

/// One signed message for one User.
pub type Signed = ([u8; 8], Vec<u8>, Kind);

/// Counts an alert message queued for a User.
fn count(kind: &'static str) {
    metrics::counter!(metric_name::ALERTS_TOTAL, "kind" => kind).increment(1);
}

/// `response` signed for `user` as an alert of `kind` (a Device Alert, or a DCC Alert
/// otherwise), counted; `None`, logged, when it cannot be signed.
fn sign(responder: &Responder, user: [u8; 8], response: &Response, kind: Kind) -> Option<Signed> {
    let (label, what) = match kind {
        Kind::DeviceAlert => ("device", "a Device Alert could not be signed"),
        _ => ("dcc", "a DCC Alert could not be signed"),
    };
    match responder.sign_response(response) {
        Ok(body) => {
            count(label);
            Some((user, body, kind))
        }
        Err(e) => {
            tracing::error!(error = %e, "{what}");
            None
        }
    }
}

/// Where the inventory puts an alert's device relative to the hub the alert came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behind {
    /// Behind that hub (or the hub itself).
    Yes,
    /// Behind another hub, or behind none.
    Elsewhere,
    /// Not on the inventory.
    NotOnInventory,
}

/// Who receives alerts about a device: the inventory (device → MPxN) and the registration
/// data (MPxN → Users).
#[derive(Clone)]
pub struct Recipients {
    inventory: Arc<Inventory>,
    registration: Arc<RegistrationData>,
    /// The Users: a device alert's GBCS recipient is alerted only when it is one.
    users: Arc<UserRegistry>,
    acb: [u8; 8],
    /// Throttling and the per-hub thresholds applied to device alerts, when set.
    guard: Option<Arc<AlertGuard>>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipients")
            .field("acb", &hex::eui(&self.acb))
            .finish_non_exhaustive()
    }
}

impl Recipients {
    /// Over the inventory, registration data and Users; `acb` is the Access Control Broker,
    /// whose alerts are for the DCC itself.
    pub fn new(
        inventory: Arc<Inventory>,
        registration: Arc<RegistrationData>,
        users: Arc<UserRegistry>,
        acb: [u8; 8],
    ) -> Recipients {
        Recipients {
            inventory,
            registration,
            users,
            acb,
            guard: None,
        }
    }

    /// These recipients with `guard` applied to every device alert ([`device_alert`]):
    /// throttling and the per-hub alert thresholds.
    #[must_use]
    pub fn with_guard(mut self, guard: Arc<AlertGuard>) -> Recipients {
        self.guard = Some(guard);
        self
    }

    /// The MPxNs of `device`: its own, else its associated device's, else (a hub) those of
    /// the devices associated with it.
    fn mpxns_of(&self, device: &[u8; 8]) -> Vec<String> {
        let id = Eui(*device);
        let found = self.inventory.read(|v| {
            let Some(d) = v.device(&id)? else {
                return Ok(Vec::new());
            };
            let own: Vec<String> = d.mpxns().map(str::to_owned).collect();
            if !own.is_empty() {
                return Ok(own);
            }
            if let Some(meter) = d.associated_with
                && let Some(m) = v.device(&meter)?
            {
                let theirs: Vec<String> = m.mpxns().map(str::to_owned).collect();
                if !theirs.is_empty() {
                    return Ok(theirs);
                }
            }
            let mut behind = Vec::new();
            for other in v.associated_to(&id)? {
                if let Some(m) = v.device(&other)? {
                    behind.extend(m.mpxns().map(str::to_owned));
                }
            }
            Ok(behind)
        });
        match found {
            Ok(mut v) => {
                v.sort();
                v.dedup();
                v
            }
            Err(e) => {
                tracing::error!(device = %hex::eui_duis(device), error = %e, "inventory read for alert recipients failed");
                Vec::new()
            }
        }
    }

    /// The Users registered on `now_ms`'s GB day as a supplier or network operator of
    /// `device`'s MPxNs, in a stable order, without repeats.
    pub fn registered_for(&self, device: &[u8; 8], now_ms: i64) -> Vec<[u8; 8]> {
        let Ok(today) = Date::gb_from_unix_ms(now_ms) else {
            return Vec::new();
        };
        let snapshot = self.registration.snapshot();
        let mut users = Vec::new();
        for m in self.mpxns_of(device) {
            let Ok(mpxn) = m.parse::<Mpxn>() else {
                continue;
            };
            for role in ALERTED_ROLES {
                if let Some(r) = snapshot.in_force(mpxn, role, today)
                    && !users.contains(&r.party())
                {
                    users.push(r.party());
                }
            }
        }
        users
    }

    /// Where the inventory puts `device` relative to Communications Hub `hub` (the hub
    /// itself is behind itself, when the inventory holds it), following each device's
    /// association (meter → hub; PPMID, IHD, GPF → meter). `None` when the inventory cannot
    /// be read.
    pub fn behind_hub(&self, device: &[u8; 8], hub: &[u8; 8]) -> Option<Behind> {
        let failed = |e: &dyn std::fmt::Display| {
            tracing::error!(device = %hex::eui_duis(device), error = %e, "inventory read for an alert's hub failed");
        };
        if device == hub {
            return match self.inventory.get(&Eui(*hub)) {
                Ok(Some(_)) => Some(Behind::Yes),
                Ok(None) => Some(Behind::NotOnInventory),
                Err(e) => {
                    failed(&e);
                    None
                }
            };
        }
        match self.inventory.hub_of(&Eui(*device)) {
            Ok(HubOf::Hub(h)) if h.0 == *hub => Some(Behind::Yes),
            Ok(HubOf::Missing(id)) if id.0 == *device => Some(Behind::NotOnInventory),
            Ok(HubOf::Hub(_) | HubOf::Missing(_) | HubOf::NoHub) => Some(Behind::Elsewhere),
            Err(e) => {
                failed(&e);
                None
            }
        }
    }

    /// The Users a device alert goes to: the registered suppliers and network operators,
    /// and the GBCS recipient when it is a User (not the ACB, and not an EUI nobody holds:
    /// a device, or a rig, cannot make the gateway keep messages for parties of its choosing).
    /// An alert the gateway could not check goes to its GBCS recipient alone, when that is a
    /// User: the one party that can check it.
    pub fn for_device_alert(&self, a: &DeviceAlert, now_ms: i64) -> Vec<[u8; 8]> {
        let is_user = |eui: &[u8; 8]| self.users.get(eui).is_some();
        if !a.verified {
            return if is_user(&a.recipient) {
                vec![a.recipient]
            } else {
                Vec::new()
            };
        }
        let mut users = self.registered_for(&a.device, now_ms);
        if a.recipient != self.acb && !users.contains(&a.recipient) {
            if is_user(&a.recipient) {
                users.push(a.recipient);
            } else {
                tracing::debug!(device = %hex::eui_duis(&a.device), recipient = %hex::eui_duis(&a.recipient), "a device alert's recipient is no User: not sent to it");
            }
        }
        users
    }

    /// For a hub that went away: each electricity network operator registered today for the
    /// import MPAN of an electricity meter associated with the hub, with the first such MPAN.
    pub fn for_power_outage(&self, hub: &[u8; 8], now_ms: i64) -> Vec<([u8; 8], String)> {
        let Ok(today) = Date::gb_from_unix_ms(now_ms) else {
            return Vec::new();
        };
        let id = Eui(*hub);
        let mpans = self.inventory.read(|v| {
            let mut mpans = Vec::new();
            for other in v.associated_to(&id)? {
                if let Some(m) = v.device(&other)?
                    && m.device_type == DeviceType::Esme
                    && let Some(mpan) = m.import_mpxn
                {
                    mpans.push(mpan);
                }
            }
            Ok(mpans)
        });
        let mpans = match mpans {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(hub = %hex::eui_duis(hub), error = %e, "inventory read for a power outage alert failed");
                return Vec::new();
            }
        };
        let snapshot = self.registration.snapshot();
        let mut out: Vec<([u8; 8], String)> = Vec::new();
        for m in mpans {
            let Ok(mpxn) = m.parse::<Mpxn>() else {
                continue;
            };
            if mpxn.fuel() != Fuel::Electricity {
                continue;
            }
            if let Some(r) = snapshot.in_force(mpxn, PartyRole::ElectricityDistributor, today)
                && !out.iter().any(|(u, _)| *u == r.party())
            {
                out.push((r.party(), m));
            }
        }
        out
    }
}

/// A request whose device will report its execution later.
#[derive(Debug, Clone)]
struct Awaited {
    request_id: RequestId,
    service: (ServiceReference, ServiceReferenceVariant),
    total: Option<u16>,
    seen: u16,
    /// The command's GBCS message code (`None` in records of an older version).
    message_code: Option<u16>,
}

/// Future-dated requests by (device, command counter), bounded, oldest forgotten first.
///
/// Kept in memory for matching and durably in the table `alerts.future_dated` (device ‖
/// counter → RequestID, Service Reference, Variant, instructions expected and seen, then the
/// command's message code in hex where known, as lines of text), so a restart between the device's acceptance and its execution alert
/// still delivers that alert as the request's FutureDatedDeviceAlertMessage. Every change is
/// recorded as a pending write ([`FutureDated::drain_writes`]); the response writer applies
/// them ([`FutureDated::apply_in`]) in the transaction that stores the batch's answers.
#[derive(Debug, Default)]
pub struct FutureDated {
    by_key: HashMap<([u8; 8], u64), Awaited>,
    order: VecDeque<([u8; 8], u64)>,
    writes: Vec<FutureDatedWrite>,
}

/// A change to the durable copy: the record for (device, counter), or its removal.
pub type FutureDatedWrite = ([u8; 16], Option<Vec<u8>>);

/// The durable copy of [`FutureDated`].
const FUTURE_DATED: redb::TableDefinition<'static, &'static [u8; 16], &'static [u8]> =
    redb::TableDefinition::new("alerts.future_dated");

fn future_key(key: ([u8; 8], u64)) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&key.0);
    k[8..].copy_from_slice(&key.1.to_be_bytes());
    k
}

impl Awaited {
    fn encode(&self) -> Vec<u8> {
        let mut text = format!(
            "{}\n{}\n{}\n{}\n{}",
            self.request_id,
            self.service.0.as_str(),
            self.service.1.as_str(),
            self.total.map(|t| t.to_string()).unwrap_or_default(),
            self.seen
        );
        if let Some(code) = self.message_code {
            text.push_str(&format!("\n{code:04X}"));
        }
        text.into_bytes()
    }

    fn decode(bytes: &[u8]) -> Option<Awaited> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.split('\n');
        let request_id = RequestId::parse(lines.next()?).ok()?;
        let sr = ServiceReference::parse(lines.next()?)?;
        let srv = ServiceReferenceVariant::parse(lines.next()?)?;
        let total = match lines.next()? {
            "" => None,
            t => Some(t.parse().ok()?),
        };
        let seen = lines.next()?.parse().ok()?;
        let message_code = match lines.next() {
            Some(c) => Some(u16::from_str_radix(c, 16).ok()?),
            None => None,
        };
        Some(Awaited {
            request_id,
            service: (sr, srv),
            total,
            seen,
            message_code,
        })
    }
}

impl FutureDated {
    /// The requests remembered by an earlier run, from `store` (unreadable records are
    /// skipped, with a log line).
    ///
    /// # Errors
    ///
    /// The store's.
    pub fn load(store: &crate::store::Store) -> Result<FutureDated, crate::store::StoreError> {
        use redb::ReadableTable as _;
        let mut out = FutureDated::default();
        store.read(|t| {
            let table = match t.open_table(FUTURE_DATED) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
                Err(e) => return Err(crate::store::StoreError::from(e)),
            };
            for item in table.iter()? {
                let (k, v) = item?;
                let k = *k.value();
                let mut device = [0u8; 8];
                device.copy_from_slice(&k[..8]);
                let mut counter = [0u8; 8];
                counter.copy_from_slice(&k[8..]);
                let key = (device, u64::from_be_bytes(counter));
                match Awaited::decode(v.value()) {
                    Some(a) => {
                        out.by_key.insert(key, a);
                        out.order.push_back(key);
                    }
                    None => tracing::error!(
                        device = %hubgate_protocol::hex::eui_duis(&key.0),
                        counter = key.1,
                        "a remembered future-dated request cannot be read"
                    ),
                }
            }
            Ok::<_, crate::store::StoreError>(())
        })?;
        Ok(out)
    }

    /// The changes since the last call, for [`FutureDated::apply_in`].
    pub fn drain_writes(&mut self) -> Vec<FutureDatedWrite> {
        std::mem::take(&mut self.writes)
    }

    /// Applies `writes` inside `t`.
    ///
    /// # Errors
    ///
    /// The store's.
    pub fn apply_in(
        t: &redb::WriteTransaction,
        writes: &[FutureDatedWrite],
    ) -> Result<(), crate::store::StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut table = t.open_table(FUTURE_DATED)?;
        for (k, v) in writes {
            match v {
                Some(v) => {
                    table.insert(k, v.as_slice())?;
                }
                None => {
                    table.remove(k)?;
                }
            }
        }
        Ok(())
    }

    /// Requests remembered.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Remembers a request whose command (to `device`, GBCS counter `counter`, message code
    /// `message_code`) the device accepted; `total` is the number of future-dated
    /// instructions it holds, if known.
    pub fn remember(
        &mut self,
        device: [u8; 8],
        counter: u64,
        request_id: RequestId,
        service: (ServiceReference, ServiceReferenceVariant),
        total: Option<u16>,
        message_code: Option<u16>,
    ) {
        let key = (device, counter);
        let awaited = Awaited {
            request_id,
            service,
            total,
            seen: 0,
            message_code,
        };
        self.writes.push((future_key(key), Some(awaited.encode())));
        if self.by_key.insert(key, awaited).is_none() {
            self.order.push_back(key);
        }
        while self.by_key.len() > MAX_FUTURE_DATED {
            match self.order.pop_front() {
                Some(old) => {
                    self.by_key.remove(&old);
                    self.writes.push((future_key(old), None));
                }
                None => break,
            }
        }
    }

    /// Forgets every request remembered for `device` whose pending instruction the device
    /// has dropped: those with message code `message_code` (or, for records kept without
    /// one, Service Reference Variant `srv`), whichever User sent them. A device keeps at
    /// most one pending instruction per message code, whoever sent it, so both a
    /// cancellation it carried out and a newer future-dated command of that message code it
    /// accepted drop them all ([`crate::cancellation`]); their execution alerts never come.
    /// Call it before remembering the newer command. Returns the RequestIDs forgotten.
    pub fn drop_instructions(
        &mut self,
        device: [u8; 8],
        srv: ServiceReferenceVariant,
        message_code: u16,
    ) -> Vec<RequestId> {
        let gone: Vec<([u8; 8], u64)> = self
            .by_key
            .iter()
            .filter(|(k, a)| {
                k.0 == device
                    && match a.message_code {
                        Some(c) => c == message_code,
                        None => a.service.1 == srv,
                    }
            })
            .map(|(k, _)| *k)
            .collect();
        let mut forgotten = Vec::with_capacity(gone.len());
        for key in &gone {
            if let Some(a) = self.by_key.remove(key) {
                forgotten.push(a.request_id);
            }
            self.writes.push((future_key(*key), None));
        }
        if !gone.is_empty() {
            self.order.retain(|k| !gone.contains(k));
        }
        forgotten.sort_by_key(|r| (r.originator, r.counter));
        forgotten
    }

    /// Whether a request is remembered under (device, counter).
    pub fn remembers(&self, device: [u8; 8], counter: u64) -> bool {
        self.by_key.contains_key(&(device, counter))
    }

    /// Takes one execution alert for (device, counter): the request, this instruction's
    /// number and the total. The request is forgotten once every instruction has reported.
    fn take(&mut self, device: [u8; 8], counter: u64) -> Option<(Awaited, u16, u16)> {
        let key = (device, counter);
        let a = self.by_key.get_mut(&key)?;
        a.seen = a.seen.saturating_add(1);
        let number = a.seen;
        let total = a.total.unwrap_or(number).max(number);
        let out = (a.clone(), number, total);
        if a.total.is_some_and(|t| number >= t) {
            self.by_key.remove(&key);
            self.order.retain(|k| *k != key);
            self.writes.push((future_key(key), None));
        } else {
            let encoded = a.encode();
            self.writes.push((future_key(key), Some(encoded)));
        }
        Some(out)
    }
}

/// Whether an SRV's requests may be executed by the device at a later time.
pub fn device_future_datable(srv: &str) -> bool {
    hubgate_protocol::catalogue::Catalogue::try_get()
        .ok()
        .and_then(|c| c.srv(srv))
        .is_some_and(|s| {
            matches!(
                s.future_dated,
                FutureDatedPattern::Device | FutureDatedPattern::DspAndDevice
            )
        })
}

/// The number of future-dated instructions in a GBCS command, where it can be counted: the
/// sets of activation date-time attributes of a DLMS command. `None` otherwise.
pub fn count_instructions(command: &[u8]) -> Option<u16> {
    let msg = frame::parse(command).ok()?;
    let decoded = payload::decode_with(msg.content, payload::Context::for_message(&msg)).ok()?;
    let Payload::Dlms(dlms::Apdu::AccessRequest(req)) = decoded else {
        return None;
    };
    let n = req
        .specifications
        .iter()
        .filter(|s| match s {
            dlms::AccessRequestSpec::Set(d) => ACTIVATION_ATTRIBUTES.contains(&(d.class_id, d.id)),
            _ => false,
        })
        .count();
    u16::try_from(n).ok().filter(|n| *n > 0)
}

/// A future-dated execution alert: its code, and the command's message code and originator
/// counter when the alert carries them.
fn execution_alert(bytes: &[u8]) -> Option<(FutureDatedAlertCode, Option<(u16, u64)>)> {
    let msg = frame::parse(bytes).ok()?;
    let decoded = payload::decode_with(msg.content, payload::Context::for_message(&msg)).ok()?;
    let as_code = |c: u16| match c {
        0x8F66 => Some(FutureDatedAlertCode::Executed),
        0x8F67 => Some(FutureDatedAlertCode::Failed),
        _ => None,
    };
    match decoded {
        Payload::Gbz(g) => {
            let code = as_code(g.alert?.code)?;
            let record = match g.body {
                gbz::GbzBody::FutureDated(fd) => Some((fd.message_code, fd.originator_counter)),
                _ => None,
            };
            Some((code, record))
        }
        Payload::Dlms(dlms::Apdu::DataNotification(n)) => {
            let Data::Structure(members) = &n.body else {
                return None;
            };
            let code = match members.first() {
                Some(Data::LongUnsigned(c)) => as_code(*c)?,
                _ => return None,
            };
            let record = members.iter().skip(2).find_map(|m| match m {
                Data::OctetString(r) if r.len() >= 10 => {
                    let mc = u16::from_be_bytes([r[0], r[1]]);
                    let mut ctr = [0u8; 8];
                    ctr.copy_from_slice(&r[2..10]);
                    Some((mc, u64::from_be_bytes(ctr)))
                }
                _ => None,
            });
            Some((code, record))
        }
        // The ASN.1 credentials-update form: the code only, no counter.
        Payload::Asn1(_) => {
            let code = crate::routing::alert_code(bytes).and_then(as_code)?;
            Some((code, None))
        }
        Payload::Dlms(_) => None,
    }
}

/// The `FutureDatedDeviceAlertMessage` for an execution alert that reports on a remembered
/// future-dated request (to its requester alone); `None` when it is not one.
fn future_dated_outcome(
    responder: &Responder,
    future: &mut FutureDated,
    a: &DeviceAlert,
    now_ms: i64,
) -> Option<Vec<Signed>> {
    let (fd_code, record) = execution_alert(&a.bytes)?;
    let matched = record.and_then(|(_, counter)| future.take(a.device, counter));
    let Some((req, number, total)) = matched else {
        tracing::info!(device = %hex::eui_duis(&a.device), "a future-dated execution alert for no remembered request: sent as a device alert");
        return None;
    };
    let answer = Answer {
        request_id: Some(req.request_id),
        with_response_id: true,
        code: ResponseCode::I0,
        service: Some(req.service),
        payload: Some(ResponsePayload::FutureDatedDeviceAlertMessage(
            FutureDatedDeviceAlert {
                alert_code: fd_code,
                gbcs_payload: a.bytes.clone(),
                instruction_number: number,
                total_command_instructions: total,
            },
        )),
    };
    Some(match responder.signed(answer, now_ms) {
        Ok(body) => {
            count("future_dated");
            vec![(req.request_id.originator, body, Kind::DeviceAlert)]
        }
        Err(e) => {
            tracing::error!(error = %e, "a future-dated alert could not be signed");
            Vec::new()
        }
    })
}

/// One signed `DeviceAlertMessage` per recipient of `a`; `throttled` is the
/// (`ThrottledAlertSequenceId`, `ThrottledAlertCount`) of a throttle summary.
fn device_alert_messages(
    responder: &Responder,
    recipients: Option<&Recipients>,
    a: &DeviceAlert,
    code: u16,
    throttled: Option<(u32, u32)>,
    now_ms: i64,
) -> Vec<Signed> {
    let users = match recipients {
        Some(r) => r.for_device_alert(a, now_ms),
        None => vec![a.recipient],
    };
    if users.is_empty() {
        metrics::counter!(metric_name::ALERTS_DROPPED_TOTAL, "reason" => "no_recipient")
            .increment(1);
        tracing::warn!(device = %hex::eui_duis(&a.device), "a device alert with no User to receive it: dropped");
    }
    let Ok(date) = DateTime::new(&rfc3339_ms(now_ms)) else {
        return Vec::new();
    };
    users
        .into_iter()
        .filter_map(|user| {
            let response = Response::new(
                ResponseHeader {
                    request_id: None,
                    response_id: Some(RequestId {
                        originator: a.device,
                        target: user,
                        counter: a.counter,
                    }),
                    response_code: ResponseCode::I0,
                    response_date_time: date.clone(),
                },
                ResponseBody::DeviceAlertMessage(DeviceAlertMessage {
                    alert_code: code.to_be_bytes().to_vec(),
                    throttled_alert_sequence_id: throttled.map(|(id, _)| id),
                    throttled_alert_count: throttled.map(|(_, n)| n),
                    gbcs_payload: a.bytes.clone(),
                }),
            );
            sign(responder, user, &response, Kind::DeviceAlert)
        })
        .collect()
}

/// The messages for throttle summaries.
fn summary_messages(
    responder: &Responder,
    recipients: Option<&Recipients>,
    summaries: &[Summary],
    now_ms: i64,
) -> Vec<Signed> {
    summaries
        .iter()
        .flat_map(|s| {
            metrics::counter!(metric_name::ALERTS_THROTTLE_SUMMARIES_TOTAL).increment(1);
            tracing::info!(
                device = %hex::eui_duis(&s.alert.device),
                code = format_args!("{:04X}", s.code),
                sequence = s.sequence_id,
                count = s.count,
                "throttle window closed: one alert stands for those held back"
            );
            device_alert_messages(
                responder,
                recipients,
                &s.alert,
                s.code,
                Some((s.sequence_id, s.count)),
                now_ms,
            )
        })
        .collect()
}

/// The messages for one device alert: a `FutureDatedDeviceAlertMessage` to the requester
/// when it reports on a remembered future-dated request, else a `DeviceAlertMessage` to each
/// recipient. With an [`AlertGuard`] on `recipients`, the alert is first counted against its
/// hub's thresholds and throttled (see the module documentation): the result may then hold
/// the summary of a throttle window this alert closed, nothing for an alert held back, and
/// nothing for an alert quarantined.
pub fn device_alert(
    responder: &Responder,
    recipients: Option<&Recipients>,
    future: &mut FutureDated,
    a: &DeviceAlert,
    code: u16,
    now_ms: i64,
) -> Vec<Signed> {
    // A device the inventory puts behind another hub (or none), or does not hold, cannot
    // speak through this one: such an alert is a replay or a forgery routed through a hub it
    // does not belong to.
    match recipients.and_then(|r| r.behind_hub(&a.device, &a.hub)) {
        Some(Behind::Yes) | None => {}
        Some(Behind::Elsewhere) => {
            metrics::counter!(metric_name::ALERTS_DROPPED_TOTAL, "reason" => "not_behind_hub")
                .increment(1);
            tracing::warn!(device = %hex::eui_duis(&a.device), hub = %hex::eui_duis(&a.hub), "an alert from a device the inventory does not put behind this hub: dropped");
            return Vec::new();
        }
        Some(Behind::NotOnInventory) => {
            metrics::counter!(metric_name::ALERTS_DROPPED_TOTAL, "reason" => "not_on_inventory")
                .increment(1);
            tracing::warn!(device = %hex::eui_duis(&a.device), hub = %hex::eui_duis(&a.hub), "an alert from a device the inventory does not hold: dropped");
            return Vec::new();
        }
    }
    // An alert the gateway could not check (passed on under `Unverifiable::Forward`) goes to
    // its recipient alone (`Recipients::for_device_alert`). It is not matched to a
    // future-dated request (a forgery would take the real outcome's place), throttled or
    // quarantined.
    if !a.verified {
        return device_alert_messages(responder, recipients, a, code, None, now_ms);
    }
    let guard = recipients.and_then(|r| r.guard.as_deref());
    let breach = guard.and_then(|g| g.count_for_hub(&a.hub));
    let mut out = Vec::new();
    let own = match future_dated_outcome(responder, future, a, now_ms) {
        Some(answer) => answer,
        None => {
            let deliver = match guard {
                Some(g) => {
                    let (deliver, closed) = g.throttle(a, code);
                    out.extend(summary_messages(responder, recipients, &closed, now_ms));
                    deliver
                }
                None => true,
            };
            if !deliver {
                metrics::counter!(metric_name::ALERTS_THROTTLED_TOTAL).increment(1);
                return out;
            }
            device_alert_messages(responder, recipients, a, code, None, now_ms)
        }
    };
    match (guard, breach) {
        (Some(g), Some(b)) if !own.is_empty() => {
            if !g.quarantine(a, code, &b, &own, now_ms) {
                out.extend(own);
            }
        }
        _ => out.extend(own),
    }
    out
}

/// The DCC alert code of the Change of Supplier alerts (see the module documentation).
pub const CHANGE_OF_SUPPLIER_CODE: &str = "N42";

/// The `ChangeOfSupplier` DCC alerts for a finished SR 6.23 request `request_id` whose device
/// answered `response` (see the module documentation): one to the requester and one to each
/// supplier whose certificates the device replaced.
pub fn change_of_supplier(
    responder: &Responder,
    request_id: &RequestId,
    response: &[u8],
    now_ms: i64,
) -> Vec<Signed> {
    let Some(losing) = crate::cos::replaced_suppliers(response) else {
        tracing::info!(request = %request_id, "change of supplier: the device replaced no supplier credential; no alert");
        return Vec::new();
    };
    let mut users = vec![request_id.originator];
    for old in losing {
        if !users.contains(&old) {
            users.push(old);
        }
    }
    let Some(response) = dcc_alert_message(
        CHANGE_OF_SUPPLIER_CODE,
        &format!(
            "<sr:ChangeOfSupplier><sr:ChangeOfSupplierServiceRequestID>{request_id}</sr:ChangeOfSupplierServiceRequestID></sr:ChangeOfSupplier>"
        ),
        now_ms,
    ) else {
        return Vec::new();
    };
    users
        .into_iter()
        .filter_map(|user| sign(responder, user, &response, Kind::DccAlert))
        .collect()
}

/// `AD1` `PowerOutageEvent` DCC alerts for hubs whose SMWAN connection ended at `lost_ms`.
pub fn hubs_lost(
    responder: &Responder,
    recipients: Option<&Recipients>,
    hubs: &[[u8; 8]],
    lost_ms: i64,
    now_ms: i64,
) -> Vec<Signed> {
    let Some(recipients) = recipients else {
        return Vec::new();
    };
    let start = rfc3339_ms(lost_ms);
    let mut out = Vec::new();
    for hub in hubs {
        let users = recipients.for_power_outage(hub, now_ms);
        if users.is_empty() {
            tracing::info!(hub = %hex::eui_duis(hub), "hub connection lost; no electricity network operator registered to alert");
        }
        for (user, mpan) in users {
            let Some(response) = dcc_alert_message(
                "AD1",
                &format!(
                    "<sr:PowerOutageEvent><sr:CommsHubDeviceID>{}</sr:CommsHubDeviceID><sr:StartDateTime>{start}</sr:StartDateTime><sr:MPxN>{mpan}</sr:MPxN></sr:PowerOutageEvent>",
                    hex::eui_duis(hub),
                ),
                now_ms,
            ) else {
                continue;
            };
            if let Some(signed) = sign(responder, user, &response, Kind::DccAlert) {
                out.push(signed);
            }
        }
    }
    out
}

/// The DCC alert code of the `QuarantinedRequest` alert (see the module documentation).
pub const QUARANTINED_REQUEST_CODE: &str = "N24";

/// The `QuarantinedRequest` DCC alert for `user`, whose request `request_id` (DUIS text form)
/// was quarantined as `quarantine_id`; `None`, logged, when it cannot be built or signed.
pub fn quarantined_request(
    responder: &Responder,
    user: [u8; 8],
    request_id: &RequestId,
    quarantine_id: u64,
    now_ms: i64,
) -> Option<Signed> {
    let response = dcc_alert_message(
        QUARANTINED_REQUEST_CODE,
        &format!(
            "<sr:QuarantinedRequest><sr:ADDCCThresholdBreach><sr:RequestID>{request_id}</sr:RequestID><sr:QuarantineEventRef>{quarantine_id}</sr:QuarantineEventRef></sr:ADDCCThresholdBreach></sr:QuarantinedRequest>"
        ),
        now_ms,
    )?;
    sign(responder, user, &response, Kind::DccAlert)
}

/// A `DCCAlertMessage` with `code` whose `DCCAlert` holds `content` (elements with the `sr`
/// prefix of the DUIS namespace), dated `now_ms`; `None`, logged, when the code or the
/// content does not parse.
pub(crate) fn dcc_alert_message(code: &str, content: &str, now_ms: i64) -> Option<Response> {
    let (Ok(date), Some(alert_code)) = (
        DateTime::new(&rfc3339_ms(now_ms)),
        DccAlertCode::parse(code),
    ) else {
        tracing::error!(code, "a DCC alert could not be dated or coded");
        return None;
    };
    let xml = format!(
        "<sr:DCCAlert xmlns:sr=\"{}\">{content}</sr:DCCAlert>",
        hubgate_protocol::duis::NS_SR,
    );
    let dcc_alert = match Document::parse_str(&xml) {
        Ok(d) => d.root,
        Err(e) => {
            tracing::error!(error = %e, code, "a DCC alert could not be built");
            return None;
        }
    };
    Some(Response::new(
        ResponseHeader {
            request_id: None,
            response_id: None,
            response_code: ResponseCode::I0,
            response_date_time: date,
        },
        ResponseBody::DccAlertMessage(DccAlertMessage {
            dcc_alert_code: alert_code,
            throttled_alert_sequence_id: None,
            throttled_alert_count: None,
            dcc_alert,
        }),
    ))
}

/// A (device, alert code) pair whose identical alerts are throttled together.
type ThrottleKey = ([u8; 8], u16);

/// One open throttle window.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Window {
    start_ms: i64,
    held_back: u32,
    sequence_id: Option<u32>,
    last: Option<DeviceAlert>,
}

/// The durable copy of the open throttle windows: device ‖ alert code → [`Window::encode`].
const THROTTLE_WINDOWS: redb::TableDefinition<'static, &'static [u8; 10], &'static [u8]> =
    redb::TableDefinition::new("alerts.throttle_windows");

/// Version byte of a window record.
const WINDOW_RECORD_V1: u8 = 1;

fn throttle_key_bytes(key: ThrottleKey) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[..8].copy_from_slice(&key.0);
    k[8..].copy_from_slice(&key.1.to_be_bytes());
    k
}

fn throttle_key_of(bytes: &[u8; 10]) -> ThrottleKey {
    let mut device = [0u8; 8];
    device.copy_from_slice(&bytes[..8]);
    (device, u16::from_be_bytes([bytes[8], bytes[9]]))
}

/// Reads big-endian fields off a record, refusing a short one.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
}

impl Window {
    /// `1` ‖ start (i64) ‖ held back (u32) ‖ has sequence (u8) ‖ sequence (u32) ‖ has last
    /// (u8) ‖ [hub (8) ‖ recipient (8) ‖ counter (u64) ‖ message code (u16) ‖ the GBCS alert],
    /// all big-endian. The device is in the key.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.last.as_ref().map_or(0, |a| a.bytes.len()));
        out.push(WINDOW_RECORD_V1);
        out.extend_from_slice(&self.start_ms.to_be_bytes());
        out.extend_from_slice(&self.held_back.to_be_bytes());
        out.push(u8::from(self.sequence_id.is_some()));
        out.extend_from_slice(&self.sequence_id.unwrap_or(0).to_be_bytes());
        match &self.last {
            Some(a) => {
                out.push(1);
                out.extend_from_slice(&a.hub);
                out.extend_from_slice(&a.recipient);
                out.extend_from_slice(&a.counter.to_be_bytes());
                out.extend_from_slice(&a.message_code.to_be_bytes());
                out.extend_from_slice(&a.bytes);
            }
            None => out.push(0),
        }
        out
    }

    /// The window of `device` recorded in `bytes`; `None` when it is not a readable record.
    fn decode(device: [u8; 8], bytes: &[u8]) -> Option<Window> {
        let mut f = Fields(bytes);
        if f.take::<1>()? != [WINDOW_RECORD_V1] {
            return None;
        }
        let start_ms = i64::from_be_bytes(f.take()?);
        let held_back = u32::from_be_bytes(f.take()?);
        let has_sequence = f.take::<1>()?[0];
        let sequence = u32::from_be_bytes(f.take()?);
        let sequence_id = match has_sequence {
            0 => None,
            1 => Some(sequence),
            _ => return None,
        };
        let last = match f.take::<1>()?[0] {
            0 if f.0.is_empty() => None,
            1 => Some(DeviceAlert {
                hub: f.take()?,
                device,
                recipient: f.take()?,
                counter: u64::from_be_bytes(f.take()?),
                message_code: u16::from_be_bytes(f.take()?),
                bytes: f.0.to_vec(),
                // Only verified alerts are throttled (see `device_alert`).
                verified: true,
            }),
            _ => return None,
        };
        // A window that held alerts back knows the last one and its sequence ID.
        if held_back > 0 && (last.is_none() || sequence_id.is_none()) {
            return None;
        }
        Some(Window {
            start_ms,
            held_back,
            sequence_id,
            last,
        })
    }
}

/// A closed throttle window that held alerts back: one `DeviceAlertMessage` stands for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The last alert held back (its payload and counter are carried).
    pub alert: DeviceAlert,
    /// The alert code.
    pub code: u16,
    /// `ThrottledAlertSequenceId`.
    pub sequence_id: u32,
    /// `ThrottledAlertCount`: the alerts held back.
    pub count: u32,
}

/// A change to the durable copy of the throttle windows: the window's record now, or its
/// removal.
type ThrottleWrite = (ThrottleKey, Option<Vec<u8>>);

/// Who commits the removal of a window that closed with a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClosedBy {
    /// The response writer, whose batch carries the summary.
    Writer,
    /// The alert thread, which commits the summary itself.
    Timer,
}

/// Alert-storm throttling: one window per (device, alert code), bounded (see the module
/// documentation). Times are milliseconds on any clock that does not go back.
///
/// Every change is remembered by key until it is written ([`Throttle::take_writes`]): the
/// record a key has when it is taken is the window as it is then, so writes taken and
/// committed in order (inside the store's write transaction) leave the durable copy equal to
/// memory. The removal of a window the alert thread closed with a summary is held for the
/// alert thread, which commits it with the summary, so a crash never loses a summary whose
/// window is gone.
#[derive(Debug)]
pub struct Throttle {
    window_ms: i64,
    max_tracked: usize,
    next_sequence: u32,
    windows: HashMap<ThrottleKey, Window>,
    /// Open windows by start time: every window has exactly one entry, and since all windows
    /// are equally long, the front is the first to close.
    order: VecDeque<(ThrottleKey, i64)>,
    /// Keys whose durable record is behind memory.
    dirty: HashSet<ThrottleKey>,
    /// Keys of windows the alert thread closed with a summary not yet committed.
    closing: HashSet<ThrottleKey>,
}

impl Throttle {
    /// Windows of `window_ms` (`0`: no throttling), at most `max_tracked` open at once, with
    /// sequence IDs counting up from `first_sequence_id`.
    pub fn new(window_ms: u64, max_tracked: usize, first_sequence_id: u32) -> Throttle {
        Throttle {
            window_ms: i64::try_from(window_ms).unwrap_or(i64::MAX),
            max_tracked: max_tracked.max(1),
            next_sequence: first_sequence_id,
            windows: HashMap::new(),
            order: VecDeque::new(),
            dirty: HashSet::new(),
            closing: HashSet::new(),
        }
    }

    /// Whether alerts are throttled at all.
    pub fn enabled(&self) -> bool {
        self.window_ms > 0
    }

    /// Windows open now.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether no window is open.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    fn close_front(&mut self, out: &mut Vec<Summary>, by: ClosedBy) {
        let Some((key, start)) = self.order.pop_front() else {
            return;
        };
        if self.windows.get(&key).is_none_or(|w| w.start_ms != start) {
            return;
        }
        let Some(w) = self.windows.remove(&key) else {
            return;
        };
        match (w.last, w.sequence_id) {
            (Some(alert), Some(sequence_id)) => {
                out.push(Summary {
                    alert,
                    code: key.1,
                    sequence_id,
                    count: w.held_back,
                });
                match by {
                    ClosedBy::Writer => self.dirty.insert(key),
                    ClosedBy::Timer => self.closing.insert(key),
                };
            }
            _ => {
                self.dirty.insert(key);
            }
        }
    }

    fn expire_by(&mut self, now_ms: i64, by: ClosedBy) -> Vec<Summary> {
        let mut out = Vec::new();
        while let Some(&(_, start)) = self.order.front() {
            if start.saturating_add(self.window_ms) > now_ms {
                break;
            }
            self.close_front(&mut out, by);
        }
        out
    }

    /// Closes the windows that ended at or before `now_ms`; the summaries of those that held
    /// alerts back. For the alert thread: the removals of the windows with a summary are
    /// written only by [`Throttle::take_writes`] with `closing`, in the transaction that
    /// stores the summaries.
    pub fn expire(&mut self, now_ms: i64) -> Vec<Summary> {
        self.expire_by(now_ms, ClosedBy::Timer)
    }

    /// One alert `a` with `code` at `now_ms`: whether to deliver it now (`false`: held back),
    /// and the summaries of windows closed on the way (its own expired predecessor's, others
    /// that expired, the oldest closed to make room), which the caller delivers in the
    /// transaction that writes [`Throttle::take_writes`].
    pub fn observe(&mut self, a: &DeviceAlert, code: u16, now_ms: i64) -> (bool, Vec<Summary>) {
        if !self.enabled() {
            return (true, Vec::new());
        }
        let mut closed = self.expire_by(now_ms, ClosedBy::Writer);
        let key = (a.device, code);
        if let Some(w) = self.windows.get_mut(&key) {
            w.held_back = w.held_back.saturating_add(1);
            if w.sequence_id.is_none() {
                w.sequence_id = Some(self.next_sequence);
                self.next_sequence = self.next_sequence.wrapping_add(1);
            }
            w.last = Some(a.clone());
            self.dirty.insert(key);
            return (false, closed);
        }
        while self.windows.len() >= self.max_tracked && !self.order.is_empty() {
            self.close_front(&mut closed, ClosedBy::Writer);
        }
        self.windows.insert(
            key,
            Window {
                start_ms: now_ms,
                held_back: 0,
                sequence_id: None,
                last: None,
            },
        );
        self.order.push_back((key, now_ms));
        self.dirty.insert(key);
        (true, closed)
    }

    /// The records to write now for the keys changed since they were last taken: each
    /// window as it is now, or its removal. Without `closing` (the response writer), the
    /// windows the alert thread closed with a summary are left for it; with `closing` (the
    /// alert thread, with its summaries), they are included.
    fn take_writes(&mut self, closing: bool) -> Vec<ThrottleWrite> {
        let mut keys: Vec<ThrottleKey> = if closing {
            self.closing.drain().collect()
        } else {
            Vec::new()
        };
        let dirty: Vec<ThrottleKey> = self
            .dirty
            .iter()
            .filter(|k| closing || !self.closing.contains(*k))
            .copied()
            .collect();
        for k in &dirty {
            self.dirty.remove(k);
        }
        keys.extend(dirty);
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .map(|k| {
                let record = self.windows.get(&k).map(Window::encode);
                (k, record)
            })
            .collect()
    }

    /// Marks `keys` changed again: their writes were taken but not committed.
    fn not_written(&mut self, keys: impl IntoIterator<Item = ThrottleKey>) {
        self.dirty.extend(keys);
    }

    /// Opens again the windows a previous run left in the store, at the times they started
    /// (a start later than `now_ms`, from a clock that went back, counts as `now_ms`). A
    /// window whose time ran out closes at the next [`Throttle::expire`]. Beyond
    /// `max_tracked` the oldest close at once: their summaries.
    fn restore(&mut self, mut windows: Vec<(ThrottleKey, Window)>, now_ms: i64) -> Vec<Summary> {
        windows.sort_by_key(|(k, w)| (w.start_ms, *k));
        for (key, mut w) in windows {
            w.start_ms = w.start_ms.min(now_ms);
            if let Some(old) = self.windows.insert(key, w.clone()) {
                // One record per key: keep the order entry in step.
                self.order
                    .retain(|(k, s)| !(*k == key && *s == old.start_ms));
            }
            self.order.push_back((key, w.start_ms));
        }
        let mut closed = Vec::new();
        while self.windows.len() > self.max_tracked && !self.order.is_empty() {
            self.close_front(&mut closed, ClosedBy::Timer);
        }
        closed
    }
}

/// Writes `writes` inside `t`.
fn apply_throttle_writes(
    t: &redb::WriteTransaction,
    writes: &[ThrottleWrite],
) -> Result<(), crate::store::StoreError> {
    if writes.is_empty() {
        return Ok(());
    }
    let mut table = t.open_table(THROTTLE_WINDOWS)?;
    for (key, record) in writes {
        let k = throttle_key_bytes(*key);
        match record {
            Some(v) => {
                table.insert(&k, v.as_slice())?;
            }
            None => {
                table.remove(&k)?;
            }
        }
    }
    Ok(())
}

/// Stored throttle windows, and the keys of records that cannot be read.
type LoadedWindows = (Vec<(ThrottleKey, Window)>, Vec<ThrottleKey>);

/// The throttle windows in `store` (left by an earlier run); the keys of records that cannot
/// be read (logged), to be removed.
fn load_throttle_windows(store: &Store) -> Result<LoadedWindows, crate::store::StoreError> {
    use redb::ReadableTable as _;
    store.read(|t| {
        let table = match t.open_table(THROTTLE_WINDOWS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((Vec::new(), Vec::new())),
            Err(e) => return Err(crate::store::StoreError::from(e)),
        };
        let (mut windows, mut unreadable) = (Vec::new(), Vec::new());
        for item in table.iter()? {
            let (k, v) = item?;
            let key = throttle_key_of(k.value());
            match Window::decode(key.0, v.value()) {
                Some(w) => windows.push((key, w)),
                None => {
                    tracing::error!(
                        device = %hex::eui_duis(&key.0),
                        code = format_args!("{:04X}", key.1),
                        "a stored alert throttle window cannot be read; it is dropped"
                    );
                    unreadable.push(key);
                }
            }
        }
        Ok((windows, unreadable))
    })
}

/// The throttle windows one transaction of the response writer writes
/// ([`Recipients::write_throttle_in`]); [`ThrottleWritten::not_committed`] when that
/// transaction did not commit, so they are written by a later one.
#[derive(Debug, Default)]
pub struct ThrottleWritten {
    guard: Option<Arc<AlertGuard>>,
    keys: Vec<ThrottleKey>,
}

impl ThrottleWritten {
    /// The transaction that was to write these windows failed: they are written later.
    pub fn not_committed(self) {
        if let Some(g) = self.guard
            && !self.keys.is_empty()
        {
            g.locked().not_written(self.keys);
        }
    }
}

impl Recipients {
    /// Writes, inside `t` (the response writer's batch transaction), the throttle windows
    /// that changed since they were last written (none without an [`AlertGuard`]); `written`
    /// records them in case `t` does not commit.
    ///
    /// # Errors
    ///
    /// The store's.
    pub fn write_throttle_in(
        &self,
        t: &redb::WriteTransaction,
        written: &mut ThrottleWritten,
    ) -> Result<(), crate::store::StoreError> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        let writes = guard.locked().take_writes(false);
        written.guard = Some(Arc::clone(guard));
        written.keys.extend(writes.iter().map(|(k, _)| *k));
        apply_throttle_writes(t, &writes)
    }
}

/// Work for the alert thread.
enum Job {
    /// A request was quarantined: its User gets the `QuarantinedRequest` DCC alert.
    QuarantinedRequest {
        user: [u8; 8],
        request_id: RequestId,
        id: u64,
    },
}

/// Alert-storm throttling and the per-hub alert thresholds, shared by the response writer
/// (through [`Recipients::with_guard`]) and the alert thread, which closes throttle windows
/// on time and sends the `QuarantinedRequest` DCC alerts.
pub struct AlertGuard {
    throttle: Mutex<Throttle>,
    hub_alerts: Option<crate::anomaly::HubAlerts>,
    /// `anomaly.max_held_alerts`.
    max_held_alerts: u64,
    store: Arc<Store>,
    started: Instant,
    base_ms: i64,
    jobs: crossbeam_channel::Sender<Job>,
}

impl std::fmt::Debug for AlertGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertGuard").finish_non_exhaustive()
    }
}

/// What the alert thread needs to sign and send.
pub struct AlertOutput {
    /// Signs with the DSP key.
    pub responder: Arc<Responder>,
    /// Where messages go.
    pub delivery: Arc<Delivery>,
    /// Who receives device alerts (throttle summaries).
    pub recipients: Recipients,
    /// The wall clock for `ResponseDateTime`.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AlertOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertOutput").finish_non_exhaustive()
    }
}

impl AlertGuard {
    /// The guard `config` asks for (`alerts.*`, `anomaly.hub_alerts_*`), quarantining into
    /// `store`, and its thread (`hubgate-alerts`), which sends through `output`.
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub fn start(
        config: &crate::config::Config,
        store: Arc<Store>,
        output: AlertOutput,
    ) -> std::io::Result<Arc<AlertGuard>> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let base_ms = output.clock.now_ms();
        let first_sequence = u32::try_from(base_ms.div_euclid(1000).rem_euclid(1 << 32))
            .unwrap_or(1)
            .max(1);
        let window_ms = config.alerts.throttle_window_ms;
        let mut throttle = Throttle::new(
            window_ms,
            config.alerts.throttle_max_tracked,
            first_sequence,
        );
        // The windows open when the last run stopped (or was killed) go on; those whose time
        // ran out meanwhile close on the thread's first look, with their summaries.
        let restored = match load_throttle_windows(&store) {
            Ok((windows, unreadable)) => {
                if !windows.is_empty() {
                    tracing::info!(
                        windows = windows.len(),
                        "alert throttle windows restored from the last run"
                    );
                }
                throttle.not_written(unreadable);
                throttle.restore(windows, base_ms)
            }
            Err(e) => {
                tracing::error!(error = %e, "the stored alert throttle windows cannot be read");
                Vec::new()
            }
        };
        let guard = Arc::new(AlertGuard {
            throttle: Mutex::new(throttle),
            hub_alerts: crate::anomaly::HubAlerts::from_config(&config.anomaly),
            max_held_alerts: config.anomaly.max_held_alerts,
            store,
            started: Instant::now(),
            base_ms,
            jobs: tx,
        });
        let weak = Arc::downgrade(&guard);
        let tick = Duration::from_millis(if window_ms == 0 {
            1000
        } else {
            (window_ms / 4).clamp(50, 1000)
        });
        // The thread's own recipients carry no guard: no reference cycle.
        let mut output = output;
        output.recipients.guard = None;
        std::thread::Builder::new()
            .name("hubgate-alerts".into())
            .spawn(move || {
                let mut closed = restored;
                loop {
                    let Some(guard) = weak.upgrade() else { break };
                    closed.extend(guard.expire());
                    if !closed.is_empty() {
                        send_summaries(&output, &guard, &std::mem::take(&mut closed));
                    }
                    drop(guard);
                    match rx.recv_timeout(tick) {
                        Ok(job) => run_job(&output, job),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                    }
                }
            })?;
        Ok(guard)
    }

    /// Milliseconds on the monotonic clock (counted from the wall clock at start).
    fn mono_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.base_ms.saturating_add(elapsed)
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Throttles one alert (see [`Throttle::observe`]).
    fn throttle(&self, a: &DeviceAlert, code: u16) -> (bool, Vec<Summary>) {
        let now = self.mono_ms();
        self.locked().observe(a, code, now)
    }

    /// Closes the throttle windows that ended.
    fn expire(&self) -> Vec<Summary> {
        let now = self.mono_ms();
        self.locked().expire(now)
    }

    /// Counts one alert against `hub`'s thresholds; the breach, if any.
    fn count_for_hub(&self, hub: &[u8; 8]) -> Option<crate::anomaly::Breach> {
        self.hub_alerts.as_ref()?.check(hub, self.mono_ms())
    }

    /// Holds `messages` (alert `a`'s) in the quarantine, or drops them when it is full
    /// (`anomaly.max_held_alerts`); `false` when the store failed and they are to be delivered.
    fn quarantine(
        &self,
        a: &DeviceAlert,
        code: u16,
        breach: &crate::anomaly::Breach,
        messages: &[Signed],
        now_ms: i64,
    ) -> bool {
        let held = HeldAlert {
            kind: crate::anomaly::quarantine::ALERT_KIND.to_string(),
            id: 0,
            hub: hex::eui_duis(&a.hub),
            device: hex::eui_duis(&a.device),
            alert_code: format!("{code:04X}"),
            counter: a.counter,
            window: breach.window.to_string(),
            reason: breach.reason.clone(),
            at_ms: now_ms,
            messages: messages
                .iter()
                .map(|(user, body, kind)| HeldMessage::new(user, *kind, body))
                .collect(),
        };
        match crate::anomaly::hold_alert(&self.store, &held, self.max_held_alerts) {
            Ok(Some(_)) => true,
            Ok(None) => {
                metrics::counter!(metric_name::ALERTS_DROPPED_TOTAL, "reason" => "quarantine_full")
                    .increment(1);
                tracing::warn!(device = %held.device, hub = %held.hub, limit = self.max_held_alerts, "an alert over its hub's threshold found the quarantine full: dropped");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, device = %held.device, "an alert over its hub's threshold could not be quarantined: delivered");
                false
            }
        }
    }

    /// `held` (a request, now durable in the quarantine) gets its User's
    /// `QuarantinedRequest` DCC alert, sent on the alert thread.
    pub fn request_quarantined(&self, held: &crate::anomaly::Held) {
        let (Some(user), Ok(request_id)) = (held.user_eui(), held.request_id.parse::<RequestId>())
        else {
            tracing::error!(
                id = held.id,
                "a quarantined request with no User or RequestID: no DCC alert"
            );
            return;
        };
        let _ = self.jobs.send(Job::QuarantinedRequest {
            user,
            request_id,
            id: held.id,
        });
    }
}

fn run_job(output: &AlertOutput, job: Job) {
    match job {
        Job::QuarantinedRequest {
            user,
            request_id,
            id,
        } => {
            let now = output.clock.now_ms();
            if let Some(signed) = quarantined_request(&output.responder, user, &request_id, id, now)
            {
                submit(&output.delivery, vec![signed]);
            }
        }
    }
}

/// Sends the summaries of throttle windows the alert thread closed, in the transaction that
/// also writes the windows' removal (and any other window changed meanwhile); when that
/// transaction fails the summaries are lost (logged) and the windows are written later.
fn send_summaries(output: &AlertOutput, guard: &Arc<AlertGuard>, closed: &[Summary]) {
    let now = output.clock.now_ms();
    let messages = summary_messages(&output.responder, Some(&output.recipients), closed, now);
    let n = messages.len();
    let outgoing: Vec<Outgoing> = messages
        .into_iter()
        .map(|(user, body, kind)| Outgoing { user, body, kind })
        .collect();
    let mut written: Vec<ThrottleKey> = Vec::new();
    let result = output.delivery.submit_batch_with(outgoing, |t| {
        let writes = guard.locked().take_writes(true);
        written.extend(writes.iter().map(|(k, _)| *k));
        apply_throttle_writes(t, &writes)
    });
    match result {
        Ok(results) => {
            for r in results {
                if let Err(e) = r {
                    tracing::error!(error = %e, "a throttle summary could not be queued for delivery");
                }
            }
        }
        Err(e) => {
            guard.locked().not_written(written);
            tracing::error!(error = %e, messages = n, "throttle summaries could not be queued for delivery");
        }
    }
}

/// Hands signed messages to delivery, logging what it refuses.
fn submit(delivery: &Delivery, messages: Vec<Signed>) {
    if messages.is_empty() {
        return;
    }
    let outgoing: Vec<Outgoing> = messages
        .into_iter()
        .map(|(user, body, kind)| Outgoing { user, body, kind })
        .collect();
    let n = outgoing.len();
    match delivery.submit_batch(outgoing) {
        Ok(results) => {
            for r in results {
                if let Err(e) = r {
                    tracing::error!(error = %e, "an alert could not be queued for delivery");
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, messages = n, "alerts could not be queued for delivery")
        }
    }
}

#[cfg(test)]
mod tests {
    /// Each DCC alert type the gateway raises has a code of its own: the codes are
    /// judgements (see the module docs), but no two alert types may share one.
    #[test]
    fn every_dcc_alert_type_has_its_own_code() {
        use crate::schedules as s;
        let codes = [
            "AD1",
            super::CHANGE_OF_SUPPLIER_CODE,
            super::QUARANTINED_REQUEST_CODE,
            s::REMOVED_DEVICE_CODE,
            s::REMOVED_TENANCY_CODE,
            s::REMOVED_SUSPENDED_CODE,
            s::COMMAND_FAILURE_CODE,
            crate::firmware::FIRMWARE_TRANSFER_CODE,
            crate::firmware::DISTRIBUTION_FAILURE_CODE,
        ];
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len(), "{codes:?}");
    }

    use super::*;

    fn id(n: u64) -> RequestId {
        RequestId::new([1; 8], [2; 8], n)
    }

    #[test]
    fn the_inventory_says_which_hub_a_device_speaks_through() {
        use crate::inventory::import::{ImportOptions, import_csv};
        let dir = std::env::temp_dir().join(format!("hubgate-behind-hub-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir).expect("store"));
        let inventory = Arc::new(Inventory::open(Arc::clone(&store)).expect("inventory"));
        let csv = "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n\
             00-DB-55-00-00-00-00-00,CHF,Commissioned,106C,433100AC,,,EM1 1AA,1,\n\
             00-DB-55-00-00-00-00-01,ESME,Commissioned,EE01,010A030B,1900000000111,,EM1 1AA,1,00-DB-55-00-00-00-00-00\n\
             00-DB-56-00-00-00-00-00,CHF,Commissioned,106C,433100AC,,,EM1 1AB,2,\n";
        let report =
            import_csv(&inventory, csv.as_bytes(), ImportOptions::default()).expect("import");
        assert_eq!(report.imported, 3, "{report:?}");
        let supplier = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0, 0];
        let users = UserRegistry::new(vec![crate::users::User::new(
            supplier,
            "supplier",
            [hubgate_protocol::catalogue::Role::ImportSupplier],
        )])
        .expect("registry");
        let r = Recipients::new(
            inventory,
            Arc::new(RegistrationData::new()),
            Arc::new(users),
            [0x90, 0xB3, 0xD5, 0x1F, 0x40, 0, 0, 2],
        );
        let (hub, esme, other_hub) = (
            [0, 0xDB, 0x55, 0, 0, 0, 0, 0],
            [0, 0xDB, 0x55, 0, 0, 0, 0, 1],
            [0, 0xDB, 0x56, 0, 0, 0, 0, 0],
        );
        assert_eq!(r.behind_hub(&esme, &hub), Some(Behind::Yes));
        assert_eq!(
            r.behind_hub(&hub, &hub),
            Some(Behind::Yes),
            "the hub itself"
        );
        assert_eq!(r.behind_hub(&esme, &other_hub), Some(Behind::Elsewhere));
        assert_eq!(
            r.behind_hub(&other_hub, &hub),
            Some(Behind::Elsewhere),
            "another hub"
        );
        assert_eq!(
            r.behind_hub(&[0x77; 8], &hub),
            Some(Behind::NotOnInventory),
            "not on the inventory"
        );
        assert_eq!(
            r.behind_hub(&[0x77; 8], &[0x77; 8]),
            Some(Behind::NotOnInventory),
            "a hub not on the inventory"
        );

        // The same judgement in `device_alert`: an alert addressed to the supplier (a User)
        // reaches it from the ESME and from the hub itself, and from nowhere else.
        let responder = crate::ingress::respond::conformance_responder();
        let sent = |device: [u8; 8], through: [u8; 8]| {
            let a = DeviceAlert {
                hub: through,
                device,
                recipient: supplier,
                counter: 9,
                message_code: 0x1001,
                bytes: vec![0xDD, 0x00],
                verified: false,
            };
            device_alert(
                &responder,
                Some(&r),
                &mut FutureDated::default(),
                &a,
                0x8F1C,
                1_700_000_000_000,
            )
            .len()
        };
        assert_eq!(sent(esme, hub), 1, "behind its hub");
        assert_eq!(sent(hub, hub), 1, "the hub itself");
        assert_eq!(sent(esme, other_hub), 0, "through another hub");
        assert_eq!(sent([0x77; 8], hub), 0, "a device off the inventory");
        assert_eq!(sent([0x77; 8], [0x77; 8]), 0, "a hub off the inventory");
        drop(r);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_device_alert_reaches_its_recipient_only_when_that_is_a_user() {
        use crate::users::User;
        let supplier = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0, 0];
        let acb = [0x90, 0xB3, 0xD5, 0x1F, 0x40, 0, 0, 2];
        let dir =
            std::env::temp_dir().join(format!("hubgate-alert-recipients-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir).expect("store"));
        let users = UserRegistry::new(vec![User::new(
            supplier,
            "supplier",
            [hubgate_protocol::catalogue::Role::ImportSupplier],
        )])
        .expect("registry");
        let recipients = Recipients::new(
            Arc::new(Inventory::open(Arc::clone(&store)).expect("inventory")),
            Arc::new(RegistrationData::new()),
            Arc::new(users),
            acb,
        );
        let alert = |recipient| DeviceAlert {
            hub: [0, 0xDB, 0x55, 0, 0, 0, 0, 0],
            device: [0, 0xDB, 0x55, 0, 0, 0, 0, 1],
            recipient,
            counter: 7,
            message_code: 0x1001,
            bytes: Vec::new(),
            verified: true,
        };
        let now = 1_700_000_000_000;
        // No registration data: only the GBCS recipient can receive it.
        assert_eq!(
            recipients.for_device_alert(&alert(supplier), now),
            [supplier]
        );
        assert!(
            recipients.for_device_alert(&alert(acb), now).is_empty(),
            "the ACB"
        );
        assert!(
            recipients
                .for_device_alert(&alert([0x77; 8]), now)
                .is_empty(),
            "an EUI that is no User"
        );
        // One the gateway could not check: to its recipient alone, when a User.
        let unchecked = |recipient| DeviceAlert {
            verified: false,
            ..alert(recipient)
        };
        assert_eq!(
            recipients.for_device_alert(&unchecked(supplier), now),
            [supplier]
        );
        assert!(
            recipients
                .for_device_alert(&unchecked([0x77; 8]), now)
                .is_empty()
        );
        drop(recipients);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn service() -> (ServiceReference, ServiceReferenceVariant) {
        let r = hubgate_protocol::duis::model::header::RequestHeader::new(
            id(1),
            hubgate_protocol::duis::model::header::CommandVariant::SignedCommand,
            "1.1.1",
        )
        .expect("header");
        (r.service_reference, r.service_reference_variant)
    }

    #[test]
    fn future_dated_requests_are_numbered_and_forgotten_after_the_last_instruction() {
        let mut f = FutureDated::default();
        f.remember([3; 8], 7, id(7), service(), Some(2), Some(0x0015));
        let (_, n, t) = f.take([3; 8], 7).expect("first");
        assert_eq!((n, t), (1, 2));
        let (_, n, t) = f.take([3; 8], 7).expect("second");
        assert_eq!((n, t), (2, 2));
        assert!(f.take([3; 8], 7).is_none());
        assert!(f.take([4; 8], 7).is_none());
    }

    #[test]
    fn remembered_requests_survive_in_the_store() {
        let dir = std::env::temp_dir().join(format!("hubgate-future-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = crate::store::Store::open(&dir).expect("store");
        let mut f = FutureDated::default();
        f.remember([3; 8], 7, id(7), service(), Some(2), Some(0x0015));
        f.remember([3; 8], 8, id(8), service(), None, None);
        f.remember([5; 8], 9, id(9), service(), Some(1), Some(0x0015));
        let _ = f.take([3; 8], 7).expect("first of two");
        let _ = f.take([5; 8], 9).expect("the only one");
        let writes = f.drain_writes();
        assert!(f.drain_writes().is_empty());
        store
            .write(|t| FutureDated::apply_in(t, &writes))
            .expect("write");
        // A new run: what was remembered, with the instructions already seen.
        let mut back = FutureDated::load(&store).expect("load");
        assert_eq!(back.len(), 2);
        let (a, n, t) = back.take([3; 8], 7).expect("second of two");
        assert_eq!((a.request_id, n, t), (id(7), 2, 2));
        assert!(back.take([5; 8], 9).is_none());
        assert!(back.take([3; 8], 8).is_some());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut f = FutureDated::default();
        for c in 0..(MAX_FUTURE_DATED as u64 + 10) {
            f.remember([3; 8], c, id(c), service(), None, None);
        }
        assert_eq!(f.len(), MAX_FUTURE_DATED);
        assert!(f.take([3; 8], 0).is_none());
        let (_, n, t) = f.take([3; 8], MAX_FUTURE_DATED as u64 + 9).expect("newest");
        assert_eq!((n, t), (1, 1));
    }

    #[test]
    fn dropped_instructions_forget_every_users_requests_of_that_kind_for_that_device() {
        let mut f = FutureDated::default();
        let other_user = RequestId::new([7; 8], [2; 8], 20);
        f.remember([3; 8], 1, id(1), service(), Some(6), Some(0x0015));
        f.remember([3; 8], 2, id(2), service(), None, None);
        f.remember([3; 8], 3, id(3), service(), None, Some(0x0016));
        f.remember([4; 8], 4, id(4), service(), None, Some(0x0015));
        f.remember([3; 8], 5, other_user, service(), None, Some(0x0015));
        let _ = f.drain_writes();
        // Message code 0x0015 (and the record with no code, by its SRV), whoever sent it.
        let gone = f.drop_instructions([3; 8], service().1, 0x0015);
        assert_eq!(gone.len(), 3);
        assert!(gone.contains(&id(1)) && gone.contains(&id(2)) && gone.contains(&other_user));
        assert_eq!(f.len(), 2);
        let writes = f.drain_writes();
        assert_eq!(writes.len(), 3);
        assert!(writes.iter().all(|(_, v)| v.is_none()));
        assert!(f.take([3; 8], 1).is_none());
        assert!(f.take([3; 8], 2).is_none());
        assert!(f.take([3; 8], 5).is_none());
        assert!(f.take([3; 8], 3).is_some());
        assert!(f.take([4; 8], 4).is_some());
        assert!(f.drop_instructions([3; 8], service().1, 0x0015).is_empty());
    }

    #[test]
    fn records_without_a_message_code_still_read() {
        let a = Awaited {
            request_id: id(1),
            service: service(),
            total: Some(2),
            seen: 1,
            message_code: None,
        };
        let back = Awaited::decode(&a.encode()).expect("decode");
        assert_eq!(back.message_code, None);
        let coded = Awaited {
            message_code: Some(0x00A1),
            ..a
        };
        assert_eq!(
            Awaited::decode(&coded.encode()).and_then(|b| b.message_code),
            Some(0x00A1)
        );
    }

    fn alert(device: u8, counter: u64) -> DeviceAlert {
        DeviceAlert {
            hub: [9; 8],
            device: [device; 8],
            recipient: [2; 8],
            counter,
            message_code: 0x1000,
            bytes: vec![device, u8::try_from(counter).unwrap_or(0)],
            verified: true,
        }
    }

    #[test]
    fn identical_alerts_in_a_window_are_held_back_and_summed_up_when_it_closes() {
        let mut t = Throttle::new(1000, 100, 7);
        let t0 = 1_700_000_000_000;
        assert_eq!(t.observe(&alert(1, 1), 0x8F30, t0), (true, Vec::new()));
        for (i, c) in (2..=5).enumerate() {
            let (deliver, closed) = t.observe(&alert(1, c), 0x8F30, t0 + 100 * i as i64);
            assert!(!deliver, "alert {c} is held back");
            assert!(closed.is_empty());
        }
        // Another code, or another device, has its own window.
        assert!(t.observe(&alert(1, 6), 0x810E, t0 + 500).0);
        assert!(t.observe(&alert(3, 1), 0x8F30, t0 + 500).0);
        assert!(t.expire(t0 + 999).is_empty());
        let closed = t.expire(t0 + 1000);
        assert_eq!(
            closed,
            vec![Summary {
                alert: alert(1, 5),
                code: 0x8F30,
                sequence_id: 7,
                count: 4
            }]
        );
        // The others closed holding nothing back: no summary.
        assert!(t.expire(t0 + 1500).is_empty());
        assert!(t.is_empty());
        // A new window, with the next sequence ID.
        assert!(t.observe(&alert(1, 7), 0x8F30, t0 + 2000).0);
        assert!(!t.observe(&alert(1, 8), 0x8F30, t0 + 2001).0);
        assert_eq!(t.expire(t0 + 3000)[0].sequence_id, 8);
    }

    #[test]
    fn the_next_identical_alert_after_the_window_closes_it() {
        let mut t = Throttle::new(1000, 100, 1);
        let t0 = 5_000;
        assert!(t.observe(&alert(1, 1), 0x8F30, t0).0);
        assert!(!t.observe(&alert(1, 2), 0x8F30, t0 + 10).0);
        assert!(!t.observe(&alert(1, 3), 0x8F30, t0 + 20).0);
        let (deliver, closed) = t.observe(&alert(1, 4), 0x8F30, t0 + 1500);
        assert!(deliver, "it opens the next window");
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].count, closed[0].alert.counter), (2, 3));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn throttling_off_delivers_everything() {
        let mut t = Throttle::new(0, 100, 1);
        for c in 0..10 {
            assert_eq!(t.observe(&alert(1, c), 0x8F30, 0), (true, Vec::new()));
        }
        assert!(t.is_empty());
    }

    #[test]
    fn throttle_windows_are_bounded_and_the_oldest_closes_early() {
        let mut t = Throttle::new(60_000, 4, 1);
        assert!(t.observe(&alert(1, 1), 1, 0).0);
        assert!(!t.observe(&alert(1, 2), 1, 1).0);
        for d in 2..=4 {
            assert!(t.observe(&alert(d, 1), 1, 2).0);
        }
        assert_eq!(t.len(), 4);
        // A fifth key makes room: the oldest window closes now, with its summary.
        let (deliver, closed) = t.observe(&alert(5, 1), 1, 3);
        assert!(deliver);
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].alert.device, closed[0].count), ([1; 8], 1));
        assert_eq!(t.len(), 4);
        for d in 6..200 {
            t.observe(&alert(d, 1), 1, 4);
        }
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn window_records_read_back_and_garbage_is_refused() {
        let open = Window {
            start_ms: 1_700_000_000_123,
            held_back: 0,
            sequence_id: None,
            last: None,
        };
        assert_eq!(Window::decode([1; 8], &open.encode()), Some(open));
        let mut last = alert(1, 9);
        last.bytes = vec![0xDD, 0, 1, 2, 3];
        let held = Window {
            start_ms: -5,
            held_back: 4,
            sequence_id: Some(77),
            last: Some(last),
        };
        let bytes = held.encode();
        assert_eq!(Window::decode([1; 8], &bytes), Some(held));
        for cut in 0..26 {
            assert!(
                Window::decode([1; 8], &bytes[..cut]).is_none(),
                "cut at {cut}"
            );
        }
        assert!(Window::decode([1; 8], &[2]).is_none(), "unknown version");
        // Holding alerts back without the last one is not a window.
        let mut broken = open_record_with_count(3);
        assert!(Window::decode([1; 8], &broken).is_none());
        broken[0] = 9;
        assert!(Window::decode([1; 8], &broken).is_none());
    }

    fn open_record_with_count(n: u32) -> Vec<u8> {
        Window {
            start_ms: 0,
            held_back: n,
            sequence_id: None,
            last: None,
        }
        .encode()
    }

    #[test]
    fn the_writer_writes_what_changed_and_leaves_timer_closed_windows_to_the_alert_thread() {
        let mut t = Throttle::new(1000, 100, 5);
        assert!(t.observe(&alert(1, 1), 0x8F30, 0).0);
        assert!(!t.observe(&alert(1, 2), 0x8F30, 10).0);
        assert!(t.observe(&alert(2, 1), 0x8F30, 20).0);
        let writes = t.take_writes(false);
        assert_eq!(writes.len(), 2);
        assert!(writes.iter().all(|(_, r)| r.is_some()));
        assert!(t.take_writes(false).is_empty(), "nothing changed since");
        // The alert thread closes both: the one with a summary is removed only with it.
        let closed = t.expire(1020);
        assert_eq!(closed.len(), 1);
        let writer = t.take_writes(false);
        assert_eq!(writer, vec![(([2; 8], 0x8F30), None)]);
        let timer = t.take_writes(true);
        assert_eq!(timer, vec![(([1; 8], 0x8F30), None)]);
        // Not committed: written again by the next transaction.
        t.not_written(timer.iter().map(|(k, _)| *k));
        assert_eq!(t.take_writes(false), timer);
    }

    #[test]
    fn open_windows_survive_in_the_store_and_close_with_their_count() {
        let dir = std::env::temp_dir().join(format!("hubgate-throttle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = crate::store::Store::open(&dir).expect("store");
        let mut t = Throttle::new(1000, 100, 5);
        let t0 = 1_700_000_000_000;
        assert!(t.observe(&alert(1, 1), 0x8F30, t0).0);
        for c in 2..=5 {
            assert!(!t.observe(&alert(1, c), 0x8F30, t0 + c as i64).0);
        }
        assert!(t.observe(&alert(2, 1), 0x8F30, t0 + 10).0);
        let writes = t.take_writes(false);
        store
            .write(|tx| apply_throttle_writes(tx, &writes))
            .expect("write");
        // A new run, inside the window: still open, then closed with the count from before.
        let (windows, unreadable) = load_throttle_windows(&store).expect("load");
        assert!(unreadable.is_empty());
        assert_eq!(windows.len(), 2);
        let mut back = Throttle::new(1000, 100, 900);
        assert!(back.restore(windows.clone(), t0 + 500).is_empty());
        assert!(
            !back.observe(&alert(1, 6), 0x8F30, t0 + 600).0,
            "still throttled"
        );
        let closed = back.expire(t0 + 1000);
        assert_eq!(closed.len(), 1);
        assert_eq!(
            (
                closed[0].count,
                closed[0].sequence_id,
                closed[0].alert.counter
            ),
            (5, 5, 6)
        );
        // A run that starts after the windows ran out closes them on its first look.
        let mut late = Throttle::new(1000, 100, 900);
        assert!(late.restore(windows.clone(), t0 + 60_000).is_empty());
        let closed = late.expire(t0 + 60_000);
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].count, &closed[0].alert), (4, &alert(1, 5)));
        assert!(late.is_empty());
        // A clock that went back does not hold a window open for longer than one window.
        let mut back_in_time = Throttle::new(1000, 100, 900);
        assert!(
            back_in_time
                .restore(windows.clone(), t0 - 3_600_000)
                .is_empty()
        );
        assert_eq!(back_in_time.expire(t0 - 3_600_000 + 1000).len(), 1);
        // Beyond the bound the oldest close at once.
        let mut small = Throttle::new(1000, 1, 900);
        let over = small.restore(windows, t0 + 500);
        assert_eq!((over.len(), small.len()), (1, 1));
        assert_eq!(over[0].alert.device, [1; 8]);
        // The alert thread's transaction removes what closed; the other window is still
        // open in that run.
        let removed = back.take_writes(true);
        assert_eq!(removed, vec![(([1; 8], 0x8F30), None)]);
        store
            .write(|tx| apply_throttle_writes(tx, &removed))
            .expect("write");
        let (left, _) = load_throttle_windows(&store).expect("load");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, ([2; 8], 0x8F30));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn garbage_is_not_an_execution_alert() {
        assert!(execution_alert(&[]).is_none());
        assert!(execution_alert(&[0xDF, 0x09, 0x03, 0x00]).is_none());
        assert!(count_instructions(&[0xDD, 0x00]).is_none());
    }
}
