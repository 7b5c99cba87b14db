//! From an accepted device Service Request to a GBCS command on its hub's actor, and from the
//! device's answer to a signed Service Response delivered to the User.
//!
//! ```text
//! pipeline (accepted, CV 1/3/5/6/7)
//!   └─ Router::route: build the Command
//!        CV 1, 3   transform + ACB MAC                      (hubgate_protocol::transform)
//!        6.23      the Change of Supplier party: transform, its signature, ACB MAC
//!                  (crate::cos); on success both suppliers get a DCC alert
//!        CV 5-7    the User's signed Pre-Command: signature checked with the User's DS
//!                  certificate, then the ACB MAC added
//!      └─ HubRegistry::submit (hub = the CHF the device is associated with)
//!           └─ hub actor → link → device → response / alert / timeout
//!                └─ ResponseSink (on the hub's arbiter thread: hand over, return)
//!                     └─ writer thread: Service Response (I0 with the GBCS response, or
//!                        E20/E21), or the alerts of [`crate::alerts`] (a DeviceAlertMessage
//!                        per registered supplier and network operator, a future-dated
//!                        outcome for its requester, DCC alerts when an SMWAN hub is lost),
//!                        signed with the DSP key
//!                        → Delivery::place_batch_with (made durable with the next group
//!                        commit), then pushed or kept for pulling
//! ```
//!
//! Device alerts reach the writer through a bounded queue ([`AlertQueue`],
//! `routing.alert_queue_capacity`): while it is full the SMWAN link holds back the alerts its
//! rigs send (back-pressure; command answers still pass) and a hub actor's thread waits at most
//! `routing.alert_queue_wait_ms`, then drops the alert and counts it. Service Responses do
//! not count against it and are never dropped: each answers a command the hub actors already
//! bound. The unit tests below cover the queue's bound and waits; `gateway/tests/alert_flood.rs`
//! floods a gateway with a queue of 8 from a rig and checks that the queue's high-water mark
//! is its capacity, that the SMWAN link paused, that every alert is delivered or counted as
//! dropped, that peak memory stays within a margin and that a read round-trips afterwards.
//!
//! A request naming a `PrecedingServiceRequestID` goes through [`crate::sequencing`] just
//! before its command would be submitted: it is sent, held until its predecessor succeeds, or
//! answered through the writer thread when its predecessor failed; the writer tells the
//! sequencer every final outcome.
//!
//! What a request still in flight needs for its answer (User, RequestID, SRV) is kept in
//! memory by request reference, bounded by the hub actors' own limits on commands held, and
//! durably in the write-ahead journal ([`crate::journal`]): the ingress pipeline journals the
//! [`Router::prepare`]d command in the transaction that acknowledges the request, the writer
//! removes the entry in the transaction that stores the answer, and [`Router::recover`] sends
//! what is left at the next start (in acceptance order, so each device's commands keep their
//! order; hub states give back no commands of their own, see [`strip_held_commands`]).
//!
//! DSP future-dated requests (a DSP-pattern SRV whose `ExecutionDateTime` is ahead) are held
//! by a timer thread until that time, then dispatched like any other. One whose execution
//! time is in the year 3000 or later is a cancellation ([`crate::cancellation`]): never held,
//! it takes the same User's held requests of the same SRV for the same device out of the
//! queue, and the writer answers them `E48` and the cancellation `I0` (`E47` when nothing
//! was held). The queue keeps an index from (User, device, SRV) to its keys in step with
//! every insert and removal, so a cancellation costs the requests it matches, not the size
//! of the queue (up to a million held), and holds the queue's lock only that long. A Device-pattern command that cancels the device's pending instructions makes
//! the writer forget the requests remembered for them. A held request's Service Response
//! counts against the 24 h future-dated target from the execution time. So does that of a
//! DSP schedule's execution ([`Router::route_scheduled`]), from its occurrence. A command's
//! execution time (Device pattern) is read from its GBCS payload once, when it is prepared
//! or recovered, not at each dispatch.
//!
//! A Service Response held by its hub's response thresholds
//! ([`crate::anomaly::HeldResponses`]) holds what goes with it: a 6.23's Change of Supplier
//! alerts are kept in the same quarantine record and reach both suppliers only if it is
//! released. The `QuarantinedRequest` alert announcing a held response goes to its requester
//! only when the User registry holds it: never to the ACB or another EUI that is not a User
//! (a DSP schedule execution's requester is the schedule's owner, a User, who is told).
//!
//! Unit tests here prove the alert queue's bound, the cancellation index (only the matching
//! requests are taken, in execution-time order; the index follows the deferred thread's
//! takes and empties with the queue), that a command's execution time is read for
//! Device-pattern requests only, whom a held response is announced to, and recovery of
//! cancellations from the journal.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hubgate_actors::{
    Command, DeviceAlert, HubRegistry, Outcome, OutcomeResult, OutcomeSink, SubmitError,
};
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::duis::model::Body;
use hubgate_protocol::duis::model::header::{RequestId, ServiceReference, ServiceReferenceVariant};
use hubgate_protocol::duis::model::request::Request;
use hubgate_protocol::duis::model::response::{Response, ResponseCode, ResponsePayload};
use hubgate_protocol::gbcs::auth::{self, SignatureVerdict};
use hubgate_protocol::gbcs::{frame, payload};
use hubgate_protocol::smki::{Store, Usage};
use hubgate_protocol::{hex, transform};

use crate::alerts::{self, FutureDated, Recipients};
use crate::clock::Clock;
use crate::delivery::{Delivery, Kind, Outgoing};
use crate::group_commit::GroupCommit;
use crate::ingress::codes::{Rejection, transform_refusal};
use crate::ingress::pipeline::{Accepted, DeviceFacts};
use crate::ingress::respond::{Answer, Responder};
use crate::inventory::model::{DeviceType, Eui};
use crate::inventory::{HubOf, Inventory};
use crate::journal::{self, Entry};
use crate::metric_name;
use crate::sequencing::{Failure, Sequencer, Sequencing, SequencingLimits};

/// A request waiting for its device's answer.
#[derive(Debug, Clone)]
pub struct Pending {
    request_id: RequestId,
    service: (ServiceReference, ServiceReferenceVariant),
    /// When the gateway took the request (clock milliseconds).
    accepted_ms: i64,
    /// Whether the device may run it later and report by a future-dated alert.
    future_datable: bool,
    /// Future-dated instructions in the command, where they can be counted.
    instructions: Option<u16>,
    /// Its entry in the write-ahead journal, removed with its answer.
    journal: Option<u64>,
    /// DSP future-dated: the execution time it was held for.
    not_before_ms: Option<i64>,
    /// The GBCS message code of its command.
    message_code: u16,
    /// Device pattern: its command cancels the device's pending instructions of the same
    /// message code ([`crate::cancellation`]).
    cancels: bool,
    /// Device pattern: its command carries an execution time ahead, so the device keeps it
    /// pending in place of any pending instruction of the same message code
    /// ([`crate::cancellation::command_defers`]).
    supersedes: bool,
    /// Device pattern: its command asks to be run now (an activation or start time of
    /// zeros), so the device raises no execution alert for it and it is not remembered.
    runs_now: bool,
    /// SR 9.1: the Customer Identification Number its command sets, returned to the User
    /// in the Service Response's `CINMessage`.
    cin: Option<String>,
}

/// SR 9.1 Request Customer Identification Number.
const CIN_SRV: &str = "9.1";

/// Requests in flight by request reference, shared by the [`Router`] and the
/// [`ResponseSink`].
pub type PendingTable = Arc<DashMap<String, Pending>>;

/// What the router needs.
pub struct RouterParts {
    /// The hub actors.
    pub registry: Arc<HubRegistry>,
    /// Keys: the ACB's private key-agreement key, the devices' key-agreement certificates,
    /// the Users' digital-signature certificates.
    pub keys: Arc<Store>,
    /// Shared secrets already derived.
    pub cache: Arc<DerivedKeyCache>,
    /// The Smart Metering Inventory (device → hub).
    pub inventory: Arc<Inventory>,
    /// The Access Control Broker's EUI.
    pub acb: [u8; 8],
    /// How long a device has to answer.
    pub timeout: Duration,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Requests in flight (the same table as the sink's).
    pub pending: PendingTable,
    /// The store holding the write-ahead journal ([`crate::journal`]).
    pub store: Arc<crate::store::Store>,
    /// The Users: whether a request's originator acts as a network operator
    /// ([`crate::users::User::acts_as_network_operator`]) chooses some use cases.
    pub users: Arc<crate::users::UserRegistry>,
}

impl std::fmt::Debug for RouterParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterParts")
            .field("acb", &hex::eui(&self.acb))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Routes accepted device requests to hub actors.
pub struct Router {
    parts: RouterParts,
    dcc_counter: AtomicU64,
    /// The Change of Supplier party that builds and signs SR 6.23 commands.
    cos: Option<Arc<crate::cos::CosParty>>,
    /// Request sequencing (`None`: requests naming a predecessor are refused).
    sequencing: Option<Sequencing>,
    /// The next journal key.
    journal_seq: AtomicU64,
    /// Requests held for their DSP future-dated execution time.
    deferred: Arc<Deferred>,
}

/// A device request ready to be sent: its journal entry, the command included.
#[derive(Debug, Clone)]
pub struct Prepared {
    key: u64,
    entry: Entry,
    /// Device pattern: the execution time its command carries, read once here
    /// ([`crate::cancellation::command_execution`]) and kept for every dispatch of it.
    execution: Option<crate::cancellation::Execution>,
}

impl Prepared {
    /// The journal entry `entry` under `key`, its command's execution time read (for a
    /// Device-pattern SRV only: nothing else keeps pending instructions).
    fn new(key: u64, entry: Entry) -> Prepared {
        let execution = if entry.future_datable {
            crate::cancellation::command_execution(&entry.command)
        } else {
            None
        };
        Prepared {
            key,
            entry,
            execution,
        }
    }

    /// The journal key and the encoded entry, for [`journal::insert_in`] in the transaction
    /// that acknowledges the request.
    pub fn journal_record(&self) -> (u64, Vec<u8>) {
        (self.key, self.entry.encode())
    }
}

/// What [`Router::recover`] found in the journal.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// Entries whose commands were handed to the hub actors (or held again).
    pub resent: usize,
    /// Entries answered at once with an error (their predecessor unknown, the hubs refused).
    pub answered: usize,
    /// Entries that could not be read (left in the journal, logged).
    pub unreadable: usize,
}

/// Requests held until their DSP future-dated execution time.
#[derive(Debug, Default)]
struct Deferred {
    queue: std::sync::Mutex<HeldQueue>,
    wake: std::sync::Condvar,
}

/// What a DSP cancellation matches held requests on ([`crate::cancellation::cancels_held`]):
/// the User (RequestID originator), the device and the SRV.
type MatchKey = ([u8; 8], [u8; 8], ServiceReferenceVariant);

fn match_key(e: &Entry) -> MatchKey {
    (e.request_id.originator, e.device, e.service.1)
}

/// The held requests, ordered by (execution time, journal key), with an index from
/// [`MatchKey`] to their queue keys kept in step on every insert and removal, so a
/// cancellation finds what it takes without looking at the rest of the queue.
#[derive(Debug, Default)]
struct HeldQueue {
    by_time: std::collections::BTreeMap<(i64, u64), Prepared>,
    by_match: HashMap<MatchKey, std::collections::BTreeSet<(i64, u64)>>,
}

impl HeldQueue {
    fn len(&self) -> usize {
        self.by_time.len()
    }

    /// Holds `prepared` under `at` (its execution time and journal key).
    fn insert(&mut self, at: (i64, u64), prepared: Prepared) {
        let key = match_key(&prepared.entry);
        self.by_match.entry(key).or_default().insert(at);
        // The same queue key held twice (journal keys are unique, so never): the older
        // request is replaced, and so is its place in the index.
        if let Some(old) = self.by_time.insert(at, prepared)
            && match_key(&old.entry) != key
        {
            self.unindex(&match_key(&old.entry), at);
        }
    }

    /// The key of the request due first.
    fn first(&self) -> Option<(i64, u64)> {
        self.by_time.first_key_value().map(|(k, _)| *k)
    }

    /// Takes the request held under `at` out of the queue and the index.
    fn remove(&mut self, at: (i64, u64)) -> Option<Prepared> {
        let p = self.by_time.remove(&at)?;
        self.unindex(&match_key(&p.entry), at);
        Some(p)
    }

    fn unindex(&mut self, key: &MatchKey, at: (i64, u64)) {
        if let Some(set) = self.by_match.get_mut(key) {
            set.remove(&at);
            if set.is_empty() {
                self.by_match.remove(key);
            }
        }
    }

    /// Takes out every held request the DSP cancellation `cancel` takes, in execution-time
    /// order; costs the number of held requests of the same User, device and SRV.
    fn take_cancelled(&mut self, cancel: &crate::cancellation::Matched) -> Vec<Prepared> {
        use crate::cancellation::{Matched, cancels_held};
        let key = (cancel.request_id.originator, cancel.device, cancel.srv);
        let Some(candidates) = self.by_match.get(&key) else {
            return Vec::new();
        };
        let taken: Vec<(i64, u64)> = candidates
            .iter()
            .filter(|at| {
                self.by_time
                    .get(at)
                    .is_some_and(|p| cancels_held(cancel, &Matched::of(&p.entry)))
            })
            .copied()
            .collect();
        taken.into_iter().filter_map(|at| self.remove(at)).collect()
    }
}

/// Most requests held for a future execution time (each is small; the journal holds them
/// durably in any case).
const MAX_DEFERRED: usize = 1_000_000;

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("pending", &self.parts.pending.len())
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router.
    ///
    /// # Errors
    ///
    /// When the journal cannot be read.
    pub fn new(parts: RouterParts) -> Result<Router, crate::store::StoreError> {
        // The DCC's own originator counter (commands the ACB sends on a User's behalf) only
        // has to increase: it starts from the clock in microseconds.
        let start = u64::try_from(parts.clock.now_ms()).unwrap_or(0) * 1000;
        let next = journal::next_key(&parts.store)?;
        Ok(Router {
            parts,
            dcc_counter: AtomicU64::new(start),
            cos: None,
            sequencing: None,
            journal_seq: AtomicU64::new(next),
            deferred: Arc::new(Deferred::default()),
        })
    }

    /// Starts the thread that sends DSP future-dated requests at their execution time.
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub fn start_deferred(self: &Arc<Router>) -> std::io::Result<()> {
        metrics::gauge!(metric_name::ROUTING_DEFERRED).set(self.deferred() as f64);
        let router = Arc::downgrade(self);
        let deferred = Arc::clone(&self.deferred);
        std::thread::Builder::new()
            .name("hubgate-deferred".into())
            .spawn(move || run_deferred(&router, &deferred))?;
        Ok(())
    }

    /// Requests held for a DSP future-dated execution time.
    pub fn deferred(&self) -> usize {
        self.deferred.queue.lock().map_or(0, |q| q.len())
    }

    /// This router with request sequencing (see [`ResponseSink::sequencing`]); released
    /// requests go to this router's hub actors.
    pub fn with_sequencing(mut self, sequencing: Sequencing) -> Router {
        sequencing
            .sequencer()
            .serve(Arc::clone(&self.parts.registry), self.parts.timeout);
        self.sequencing = Some(sequencing);
        self
    }

    /// Hands SR 6.23 requests to `cos`, the Change of Supplier party ([`crate::cos`]).
    pub fn with_cos_party(mut self, cos: Arc<crate::cos::CosParty>) -> Router {
        self.cos = Some(cos);
        self
    }

    /// Requests awaiting their device's answer.
    pub fn in_flight(&self) -> usize {
        self.parts.pending.len()
    }

    /// Builds the GBCS command of an accepted device request, journals it durably and hands
    /// it to the hub's actor. `Err` is the DUIS refusal (the request is then not in flight and
    /// not journaled). Blocks for one store commit: the ingress pipeline instead journals
    /// [`Router::prepare`]d requests in the transaction that acknowledges them and calls
    /// [`Router::dispatch`].
    pub fn route(&self, accepted: &Accepted) -> Result<(), Rejection> {
        let prepared = self.prepare(&accepted.request, accepted.device.as_ref())?;
        self.journal_and_dispatch(&prepared)
    }

    /// [`Router::route`] for an execution of DSP schedule `schedule_id` whose occurrence fell
    /// at `at_ms` ([`crate::schedules`]): the schedule ID travels in the journal entry, so an
    /// execution recovered after a restart is still answered as the schedule's, and the
    /// occurrence is its execution time, so its Service Response counts against the 24 h
    /// target from then, like a DSP future-dated request's. `at_ms` is not in the future:
    /// the command goes out at once.
    pub fn route_scheduled(
        &self,
        accepted: &Accepted,
        schedule_id: u64,
        at_ms: i64,
    ) -> Result<(), Rejection> {
        let mut prepared = self.prepare(&accepted.request, accepted.device.as_ref())?;
        prepared.entry.schedule_id = Some(schedule_id);
        prepared.entry.not_before_ms = Some(at_ms.min(prepared.entry.accepted_ms));
        self.journal_and_dispatch(&prepared)
    }

    /// Journals `prepared` (one store commit), then dispatches it; a refused dispatch takes
    /// its journal entry out again.
    fn journal_and_dispatch(&self, prepared: &Prepared) -> Result<(), Rejection> {
        self.parts
            .store
            .write(|t| {
                let (key, record) = prepared.journal_record();
                journal::insert_in(t, key, &record)
            })
            .map_err(|e| Rejection::Busy(format!("journal: {e}")))?;
        self.dispatch(prepared)
            .inspect_err(|_| self.forget(prepared))
    }

    /// How long a device has to answer (`routing.response_timeout_ms`).
    pub fn timeout(&self) -> Duration {
        self.parts.timeout
    }

    /// Builds the command of an accepted device request and its journal entry; nothing is
    /// sent or stored yet.
    ///
    /// # Errors
    ///
    /// The DUIS refusal: no hub for the device, a command that cannot be built.
    pub fn prepare(
        &self,
        request: &Request,
        device_facts: Option<&DeviceFacts>,
    ) -> Result<Prepared, Rejection> {
        let h = &request.header;
        let srv = h.service_reference_variant.to_string();
        let device = h.request_id.target;
        let hub = self.hub_of(&device)?;
        let bytes = self.command_bytes(request, device_facts, &srv)?;
        let parsed = frame::parse(&bytes)
            .map_err(|e| Rejection::NotProvided(format!("SRV {srv}: built command: {e}")))?;
        let message_code = parsed.header.other_info.message_code;
        let counter = parsed.header.counter;
        let future_datable = alerts::device_future_datable(&srv);
        let instructions = if future_datable {
            alerts::count_instructions(&bytes)
        } else {
            None
        };
        let now = self.parts.clock.now_ms();
        Ok(Prepared::new(
            self.journal_seq.fetch_add(1, Ordering::Relaxed),
            Entry {
                request_id: h.request_id,
                service: (h.service_reference, h.service_reference_variant),
                preceding: h.preceding_request_id,
                first_in_sequence: h.first_in_sequence,
                accepted_ms: now,
                not_before_ms: dsp_execution_time(request, &srv).filter(|t| *t > now),
                future_datable,
                instructions,
                hub,
                device,
                message_code,
                counter,
                command: bytes,
                schedule_id: None,
            },
        ))
    }

    /// Hands a prepared (and journaled) request to its hub's actor, or holds it for its DSP
    /// future-dated execution time or its predecessor.
    ///
    /// # Errors
    ///
    /// The DUIS refusal (sequencing refused, hubs saturated); the request is then not in
    /// flight, and the caller removes its journal entry ([`Router::forget`]).
    pub fn dispatch(&self, prepared: &Prepared) -> Result<(), Rejection> {
        self.dispatch_inner(prepared, false)
    }

    /// Removes the journal entry of a request that [`Router::dispatch`] refused.
    pub fn forget(&self, prepared: &Prepared) {
        let key = prepared.key;
        if let Err(e) = self.parts.store.write(|t| journal::remove_in(t, &[key])) {
            tracing::error!(key, error = %e, "a refused request stays in the journal");
        }
    }

    /// Sends again every request in the journal, in acceptance order: the requests that were
    /// acknowledged but not answered when the gateway stopped. Call once, at start, before
    /// any request is accepted, with the journal as [`journal::read_all`] read it then.
    pub fn recover(&self, journal: Vec<journal::ReadBack>) -> Recovery {
        let mut report = Recovery::default();
        let mut entries = Vec::new();
        for (key, entry) in journal {
            match entry {
                Ok(e) => entries.push((key, e)),
                Err(e) => {
                    report.unreadable += 1;
                    tracing::error!(key, error = %e, "a journal entry cannot be read; it stays in the journal");
                }
            }
        }
        let cancelled = cancellations_in_journal(&entries);
        for (key, entry) in entries {
            let entry = Entry {
                command: self.remac(&entry.command, &entry.device),
                ..entry
            };
            let prepared = Prepared::new(key, entry);
            if let Some(code) = cancelled.get(&key) {
                // Answered as when the cancellation first ran; never sent.
                self.track(&prepared);
                self.answer_failed(&prepared.entry.request_id.to_string(), *code);
                report.answered += 1;
                continue;
            }
            match self.dispatch_inner(&prepared, true) {
                Ok(()) => report.resent += 1,
                Err(_) => report.answered += 1,
            }
        }
        if report != Recovery::default() {
            tracing::warn!(
                resent = report.resent,
                answered = report.answered,
                unreadable = report.unreadable,
                "requests acknowledged before the last stop recovered from the journal"
            );
        }
        report
    }

    /// A journaled command MAC'd again with the device's key-agreement certificate as the key
    /// store holds it now. For a device whose certificate did not change this gives the same
    /// bytes (the MAC is deterministic: same keys, same counter); for one whose certificate
    /// was replaced meanwhile (an emulated meter gets fresh keys at every start) it gives the
    /// command the device can now check. Same APDU, same counter. Unchanged when it is not
    /// ACB-MAC'd or cannot be re-MAC'd.
    fn remac(&self, command: &[u8], device: &[u8; 8]) -> Vec<u8> {
        let Ok(msg) = frame::parse(command) else {
            return command.to_vec();
        };
        if !msg.is_mac_wrapped() {
            return command.to_vec();
        }
        let acb = self
            .parts
            .keys
            .private_keys(&self.parts.acb, Usage::KeyAgreement)
            .find_map(|e| e.agreement_key());
        let peer = self
            .parts
            .keys
            .public_keys(device, Usage::KeyAgreement)
            .next();
        let (Some(acb), Some(peer)) = (acb, peer) else {
            return command.to_vec();
        };
        let apdu = msg.apdu();
        auth::mac_wrap(apdu, acb, peer.peer_key(), &self.parts.cache)
            .unwrap_or_else(|_| command.to_vec())
    }

    /// Registers `prepared` as a request in flight, so that its answer (from its device or
    /// from the gateway) finds its User, its journal entry and its future-dated facts.
    fn track(&self, prepared: &Prepared) {
        use crate::cancellation::Execution;
        let e = &prepared.entry;
        // Read once when the request was prepared (or recovered), not at every dispatch.
        let execution = prepared.execution.filter(|_| e.future_datable);
        self.parts.pending.insert(
            e.request_id.to_string(),
            Pending {
                request_id: e.request_id,
                service: e.service,
                accepted_ms: e.accepted_ms,
                future_datable: e.future_datable,
                instructions: e.instructions,
                journal: Some(prepared.key),
                not_before_ms: e.not_before_ms,
                message_code: e.message_code,
                cancels: execution == Some(Execution::Cancel),
                supersedes: execution.is_some_and(|x| x.defers(self.parts.clock.now_ms())),
                runs_now: execution == Some(Execution::Now),
                // Read back from the command as sent (and journaled): the User is told the
                // number the meter was given, after a restart too.
                cin: (e.service.1.as_str() == CIN_SRV)
                    .then(|| transform::cin_in_command(&e.command))
                    .flatten(),
            },
        );
    }

    /// [`Router::dispatch`]; when `recovering`, a refusal is answered through the response
    /// writer (the User was acknowledged long ago) and still returned, for counting.
    fn dispatch_inner(&self, prepared: &Prepared, recovering: bool) -> Result<(), Rejection> {
        let e = &prepared.entry;
        let request_ref = e.request_id.to_string();
        self.track(prepared);
        let refused = |r: Rejection| {
            if recovering {
                self.answer_failed(&request_ref, r.code());
            } else {
                self.parts.pending.remove(&request_ref);
            }
            r
        };
        // DSP pattern, execution time in the year 3000 or later: a cancellation, never held.
        if e.not_before_ms
            .is_some_and(crate::cancellation::is_cancellation_time)
        {
            return self.cancel_held(prepared).map_err(refused);
        }
        if let Some(at) = e.not_before_ms
            && at > self.parts.clock.now_ms()
        {
            let mut q =
                self.deferred.queue.lock().map_err(|_| {
                    refused(Rejection::Busy("the future-dated queue failed".into()))
                })?;
            if q.len() >= MAX_DEFERRED {
                return Err(refused(Rejection::Busy(format!(
                    "{MAX_DEFERRED} future-dated requests are already held"
                ))));
            }
            q.insert((at, prepared.key), prepared.clone());
            self.deferred.wake.notify_one();
            metrics::gauge!(metric_name::ROUTING_DEFERRED).set(q.len() as f64);
            return Ok(());
        }
        let command = Command {
            request_ref: request_ref.clone(),
            hub: e.hub,
            device: e.device,
            message_code: e.message_code,
            counter: e.counter,
            bytes: e.command.clone(),
            deadline: Instant::now() + self.parts.timeout,
        };
        // Request sequencing: send now, hold, or answer through the writer thread.
        let sequenced = match &self.sequencing {
            Some(s) => s.admit_parts(e.request_id, e.preceding, e.first_in_sequence, command),
            None if e.preceding.is_some() => Err(Rejection::Sequence(
                "request sequencing is not enabled on this gateway".into(),
            )),
            None => Ok(Some(command)),
        };
        let command = match sequenced {
            Ok(Some(command)) => command,
            Ok(None) => return Ok(()),
            Err(r) => return Err(refused(r)),
        };
        if let Err(err) = self.parts.registry.submit(command) {
            if let Some(s) = &self.sequencing {
                s.not_sent(&e.request_id);
            }
            let srv = e.service.1.as_str();
            return Err(refused(match err {
                SubmitError::Invalid(i) => Rejection::NotProvided(format!("SRV {srv}: {i}")),
                other => Rejection::Busy(other.to_string()),
            }));
        }
        metrics::counter!(metric_name::ROUTING_COMMANDS_TOTAL).increment(1);
        Ok(())
    }

    /// A DSP cancellation ([`crate::cancellation`]): takes the held requests it names out of
    /// the deferred queue and has the response writer answer them (`E48`) and the
    /// cancellation (`I0`, no body), removing their journal entries with the answers.
    /// `Err(NothingToCancel)` when nothing held matches (the queue is unchanged).
    fn cancel_held(&self, prepared: &Prepared) -> Result<(), Rejection> {
        use crate::cancellation::{Matched, cancelled_code};
        let Some(sequencing) = &self.sequencing else {
            return Err(Rejection::NotProvided(
                "cancellation needs the response writer".into(),
            ));
        };
        let cancel = Matched::of(&prepared.entry);
        let taken: Vec<Prepared> = {
            let mut q = self
                .deferred
                .queue
                .lock()
                .map_err(|_| Rejection::Busy("the future-dated queue failed".into()))?;
            let taken = q.take_cancelled(&cancel);
            metrics::gauge!(metric_name::ROUTING_DEFERRED).set(q.len() as f64);
            taken
        };
        if taken.is_empty() {
            return Err(Rejection::NothingToCancel(format!(
                "no {} request of {} for {} is held for a future execution time",
                cancel.srv,
                hex::eui_duis(&cancel.request_id.originator),
                hex::eui_duis(&cancel.device)
            )));
        }
        crate::cancellation::count("dsp", taken.len());
        let mut answers: Vec<Failure> = taken
            .iter()
            .map(|p| Failure {
                request_ref: p.entry.request_id.to_string(),
                code: cancelled_code(),
            })
            .collect();
        tracing::info!(
            cancellation = %cancel.request_id,
            cancelled = taken.len(),
            "DSP future-dated requests cancelled"
        );
        answers.push(Failure {
            request_ref: cancel.request_id.to_string(),
            code: ResponseCode::I0,
        });
        sequencing.answer(answers);
        Ok(())
    }

    /// Answers a request in flight with `code` through the response writer.
    fn answer_failed(&self, request_ref: &str, code: ResponseCode) {
        let failure = Failure {
            request_ref: request_ref.to_string(),
            code,
        };
        match &self.sequencing {
            Some(s) => s.answer(vec![failure]),
            None => tracing::error!(
                request = %request_ref,
                code = %code,
                "no response writer to answer a recovered request"
            ),
        }
    }

    /// The Communications Hub Function a device is reached through: the device itself for a
    /// CHF, else the first CHF up its chain of associations.
    fn hub_of(&self, device: &[u8; 8]) -> Result<[u8; 8], Rejection> {
        match self
            .parts
            .inventory
            .hub_of(&Eui(*device))
            .map_err(|e| Rejection::Busy(format!("inventory: {e}")))?
        {
            HubOf::Hub(hub) => Ok(hub.0),
            HubOf::Missing(id) => Err(Rejection::UnknownDevice(id.to_string())),
            HubOf::NoHub => Err(Rejection::NotProvided(format!(
                "no Communications Hub is associated with {}",
                hex::eui_duis(device)
            ))),
        }
    }

    fn command_bytes(
        &self,
        request: &Request,
        facts: Option<&DeviceFacts>,
        srv: &str,
    ) -> Result<Vec<u8>, Rejection> {
        let not_provided =
            |e: &dyn std::fmt::Display| Rejection::NotProvided(format!("SRV {srv}: {e}"));
        if request.is_signed_pre_command() {
            let Body::SignedPreCommand(spc) = &request.body else {
                return Err(Rejection::Malformed(
                    "SignedPreCommand body expected".into(),
                ));
            };
            return self.wrap_signed(&spc.gbcs_payload, &request.header.request_id, srv);
        }
        let now = transform::UtcDateTime::from_unix(self.parts.clock.now_ms().div_euclid(1000));
        let requester = self.parts.users.get(&request.header.request_id.originator);
        let mut ctx = facts
            .and_then(|f| f.transform_context(self.parts.acb, now, requester))
            .ok_or_else(|| not_provided(&"the target takes no GBCS commands"))?;
        ctx.dcc_counter = Some(self.dcc_counter.fetch_add(1, Ordering::Relaxed));
        ctx.join_peer = self.join_peer(request, srv)?;
        ctx.device_log = self.device_log_copy(request, srv)?;
        // SR 9.1: the DCC draws the new Customer Identification Number.
        if srv == CIN_SRV {
            ctx.cin = Some(transform::random_cin().map_err(transform_refusal)?);
        }
        // SR 6.23: the Change of Supplier party builds and signs the command.
        if srv == crate::cos::SRV
            && let Some(cos) = &self.cos
        {
            let mpxns = facts.map_or(&[][..], |f| f.mpxns.as_slice());
            return cos
                .command(request, ctx, mpxns, &self.parts.keys, &self.parts.cache)
                .map_err(|e| not_provided(&e));
        }
        let out = transform::transform(request, &ctx).map_err(transform_refusal)?;
        out.command(&self.parts.keys, &self.parts.cache)
            .map_err(transform_refusal)
    }

    /// For a Join (SRV 8.7.1 / 8.7.2), what its command carries about the other device: its
    /// type from the inventory and its key-agreement certificate from the key store (method
    /// C carries it); `None` for other requests.
    ///
    /// # Errors
    ///
    /// [`Rejection::NotProvided`] when the other device is not on the inventory or is of a
    /// type no join command names; [`Rejection::Malformed`] for an `OtherDeviceID` that is
    /// not an EUI-64; [`Rejection::Busy`] when the inventory cannot be read.
    pub fn join_peer(
        &self,
        request: &hubgate_protocol::duis::model::request::Request,
        srv: &str,
    ) -> Result<Option<transform::JoinPeer>, Rejection> {
        let (Body::JoinServiceCritical(b) | Body::JoinServiceNonCritical(b)) = &request.body else {
            return Ok(None);
        };
        let not_provided =
            |e: &dyn std::fmt::Display| Rejection::NotProvided(format!("SRV {srv}: {e}"));
        let eui = hex::parse_eui(&b.other_device_id).ok_or_else(|| {
            Rejection::Malformed(format!("{srv}: OtherDeviceID is not an EUI-64"))
        })?;
        let other = self
            .parts
            .inventory
            .get(&Eui(eui))
            .map_err(|e| Rejection::Busy(format!("inventory: {e}")))?
            .ok_or_else(|| {
                not_provided(&format_args!(
                    "the other device {} is not in the Smart Metering Inventory",
                    hex::eui_duis(&eui)
                ))
            })?;
        let device_type = match other.device_type {
            DeviceType::Esme => transform::JoinDeviceType::Esme,
            DeviceType::Gsme => transform::JoinDeviceType::Gsme,
            DeviceType::Ppmid => transform::JoinDeviceType::Ppmid,
            DeviceType::Ihd | DeviceType::Cad => transform::JoinDeviceType::Type2,
            t @ (DeviceType::Gpf | DeviceType::Chf | DeviceType::Hcalcs) => {
                return Err(not_provided(&format_args!(
                    "the other device {} is a {t:?}: no join command is known for it",
                    hex::eui_duis(&eui)
                )));
            }
        };
        let certificate = self
            .parts
            .keys
            .public_keys(&eui, Usage::KeyAgreement)
            .find_map(|e| e.certificate().map(|c| c.der().to_vec()));
        Ok(Some(transform::JoinPeer {
            eui,
            device_type,
            certificate,
        }))
    }

    /// For a restore (SRV 8.12.1 / 8.12.2), the DCC's copy of the old device's log that its
    /// command carries: the device log copy of the old CHF's hub actor (for an old GPF, of the
    /// hub the inventory associates it with), kept by that actor from the CHF's answers and
    /// CS14 alerts; `None` for other requests. Each entry gets the GBCS device type of its
    /// inventory type; a GPF log takes the GSME, PPMID and Type 2 entries only. Waits for
    /// the hub actor's answer (a few milliseconds; restores are rare).
    ///
    /// # Errors
    ///
    /// [`Rejection::Malformed`] for an old device ID that is not an EUI-64;
    /// [`Rejection::NotProvided`] when no hub is known for it; [`Rejection::Busy`] when the
    /// hub actor does not answer.
    pub fn device_log_copy(
        &self,
        request: &Request,
        srv: &str,
    ) -> Result<Option<Vec<transform::LogEntry>>, Rejection> {
        let (old, gpf) = match &request.body {
            Body::RestoreHANDeviceLog(b) => (&b.old_chfid, false),
            Body::RestoreGPFDeviceLog(b) => (&b.old_gpfid, true),
            _ => return Ok(None),
        };
        let old = hex::parse_eui(old).ok_or_else(|| {
            Rejection::Malformed(format!("{srv}: the old device ID is not an EUI-64"))
        })?;
        let hub = self
            .hub_of(&old)
            .map_err(|e| Rejection::NotProvided(format!("SRV {srv}: the old device: {e}")))?;
        let copy = self
            .parts
            .registry
            .device_log_blocking(hub, Duration::from_secs(5))
            .map_err(|e| Rejection::Busy(format!("{srv}: the DCC's device log copy: {e}")))?;
        let code = |eui: &[u8; 8]| {
            let d = self.parts.inventory.get(&Eui(*eui)).ok().flatten()?;
            let t = match d.device_type {
                DeviceType::Esme => transform::JoinDeviceType::Esme,
                DeviceType::Gsme => transform::JoinDeviceType::Gsme,
                DeviceType::Ppmid => transform::JoinDeviceType::Ppmid,
                DeviceType::Ihd | DeviceType::Cad => transform::JoinDeviceType::Type2,
                DeviceType::Gpf | DeviceType::Chf | DeviceType::Hcalcs => return None,
            };
            u8::try_from(t.code()).ok()
        };
        Ok(Some(
            copy.iter()
                .map(|e| transform::LogEntry {
                    eui: e.device,
                    device_type: code(&e.device),
                })
                .filter(|e| !gpf || e.device_type.is_some_and(|c| c != 0))
                .collect(),
        ))
    }

    /// A Signed Pre-Command from the User: it must come from the RequestID's originator, be
    /// addressed as the request says, carry the RequestID's counter and a message code of the
    /// SRV's use cases, and verify with the User's digital-signature certificate; the ACB
    /// then MAC-wraps it.
    fn wrap_signed(&self, signed: &[u8], id: &RequestId, srv: &str) -> Result<Vec<u8>, Rejection> {
        let refuse = |why: String| Rejection::Signature(format!("{srv} Signed Pre-Command: {why}"));
        let msg = frame::parse(signed).map_err(|e| refuse(e.to_string()))?;
        let h = &msg.header;
        if h.originator != id.originator || h.recipient != id.target || h.counter != id.counter {
            return Err(refuse(format!(
                "from {} to {} with counter {}, the RequestID says {}, {} and {}",
                hex::eui_duis(&h.originator),
                hex::eui_duis(&h.recipient),
                h.counter,
                hex::eui_duis(&id.originator),
                hex::eui_duis(&id.target),
                id.counter
            )));
        }
        let code = h.other_info.message_code;
        let known: Vec<u16> = hubgate_protocol::catalogue::Catalogue::get()
            .srv(srv)
            .map(|s| s.message_codes().collect())
            .unwrap_or_default();
        if !known.is_empty() && !known.contains(&code) {
            return Err(refuse(format!(
                "message code 0x{code:04X} is not one of SRV {srv}'s use cases"
            )));
        }
        match auth::verify_signature(&msg, &self.parts.keys) {
            SignatureVerdict::Verified { .. } => {}
            other => return Err(refuse(format!("signature {other:?}"))),
        }
        let acb = self
            .parts
            .keys
            .private_keys(&self.parts.acb, Usage::KeyAgreement)
            .find_map(|e| e.agreement_key())
            .ok_or_else(|| Rejection::NotProvided("no ACB key-agreement key".into()))?;
        let device = self
            .parts
            .keys
            .public_keys(&id.target, Usage::KeyAgreement)
            .next()
            .ok_or_else(|| {
                Rejection::NotProvided(format!(
                    "no key-agreement certificate for {}",
                    hex::eui_duis(&id.target)
                ))
            })?;
        auth::mac_wrap(signed, acb, device.peer_key(), &self.parts.cache)
            .map_err(|e| refuse(e.to_string()))
    }
}

/// The DSP cancellations ([`crate::cancellation`]) found in the journal at a start, with the
/// held requests they took: the answer each is owed (`E48` for a request taken, `I0` for its
/// cancellation), by journal key. A request counts as taken by a later cancellation of the
/// same User, device and SRV when its execution time was still ahead when the cancellation
/// was accepted (it was held then). Answering these directly, instead of replaying the
/// journal in order, keeps a restart after the held request's time from sending it.
fn cancellations_in_journal(entries: &[(u64, Entry)]) -> HashMap<u64, ResponseCode> {
    use crate::cancellation::{Matched, cancelled_code, cancels_held};
    let mut owed = HashMap::new();
    for (ck, c) in entries {
        let cancel = Matched::of(c);
        if !cancel.cancellation {
            continue;
        }
        let mut took = false;
        for (k, e) in entries.iter().take_while(|(k, _)| k < ck) {
            if !owed.contains_key(k)
                && cancels_held(&cancel, &Matched::of(e))
                && e.not_before_ms.is_some_and(|t| t > c.accepted_ms)
            {
                owed.insert(*k, cancelled_code());
                took = true;
            }
        }
        if took {
            owed.insert(*ck, ResponseCode::I0);
        }
    }
    owed
}

/// Hub actors' passivated state in the gateway's store (table `routing.hub_state`), so a
/// hub's device log copy, counters and persisted commands survive passivation and restarts.
#[derive(Debug)]
pub struct HubStateStore {
    store: Arc<crate::store::Store>,
}

/// Hub EUI → the hub actor's serialised state.
const HUB_STATE: redb::TableDefinition<'static, &'static [u8; 8], &'static [u8]> =
    redb::TableDefinition::new("routing.hub_state");

impl HubStateStore {
    /// The state table in `store`.
    pub fn new(store: Arc<crate::store::Store>) -> HubStateStore {
        HubStateStore { store }
    }
}

impl hubgate_actors::StateStore for HubStateStore {
    fn get(&self, hub: &[u8; 8]) -> Result<Option<Vec<u8>>, hubgate_actors::StateStoreError> {
        self.store
            .get(HUB_STATE, hub)
            .map_err(hubgate_actors::StateStoreError::new)
    }

    fn put(&self, hub: &[u8; 8], state: &[u8]) -> Result<(), hubgate_actors::StateStoreError> {
        self.store
            .put(HUB_STATE, hub, state)
            .map_err(hubgate_actors::StateStoreError::new)
    }
}

/// Empties the command queues that hub states were stored with (at a graceful stop hub
/// actors persist what they hold). The journal holds every one of those requests and
/// [`Router::recover`] sends them again, so a command must not also come back from the hub
/// state: call this once at start, before the hub actors run. Returns the hubs changed.
///
/// # Errors
///
/// The store's.
pub fn strip_held_commands(store: &crate::store::Store) -> Result<usize, crate::store::StoreError> {
    use redb::ReadableTable;
    store.write(|t| {
        let mut table = t.open_table(HUB_STATE)?;
        let mut changed = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            if let Ok(mut state) = hubgate_actors::HubState::decode(v.value())
                && (!state.queued.is_empty() || !state.in_flight.is_empty())
            {
                state.queued.clear();
                state.in_flight.clear();
                changed.push((*k.value(), state.encode()));
            }
        }
        for (hub, bytes) in &changed {
            table.insert(hub, bytes.as_slice())?;
        }
        Ok(changed.len())
    })
}

/// Something for the writer thread.
enum Event {
    Outcome(Outcome),
    /// An alert and when the gateway received it (clock milliseconds).
    Alert(DeviceAlert, i64),
    /// Hubs whose SMWAN connection ended, and when (clock milliseconds).
    HubsLost(Vec<[u8; 8]>, i64),
    /// Requests that will not be sent (request sequencing).
    NotSent(Vec<Failure>),
}

/// A message of the response writer's batch: signed already (alerts), or a Service
/// Response written but still to be signed.
enum Draft {
    Signed(alerts::Signed),
    /// Its model is made on the writer's thread in event order, so the responder's answer
    /// hooks (DSP schedules, firmware activation) see the answers in the order they came;
    /// only the signing, which has no side effects, may run on another thread.
    Model {
        user: [u8; 8],
        response: Box<Response>,
    },
    /// Its signing failed (logged): nothing to send.
    Dropped,
}

impl Draft {
    /// The unsigned Service Response of `answer` for `user`; `None` (logged) when it cannot
    /// be built.
    fn model(responder: &Responder, user: [u8; 8], answer: Answer, now_ms: i64) -> Option<Draft> {
        match responder.model(answer, now_ms) {
            Ok(response) => Some(Draft::Model {
                user,
                response: Box::new(response),
            }),
            Err(e) => {
                tracing::error!(error = %e, "a Service Response could not be built");
                None
            }
        }
    }

    fn sign(&mut self, responder: &Responder) {
        if let Draft::Model { user, response } = self {
            *self = match responder.sign_response(response) {
                Ok(body) => Draft::Signed((*user, body, Kind::Response)),
                Err(e) => {
                    tracing::error!(error = %e, "a Service Response could not be signed");
                    Draft::Dropped
                }
            };
        }
    }

    fn into_signed(self) -> Option<alerts::Signed> {
        match self {
            Draft::Signed(s) => Some(s),
            Draft::Model { .. } | Draft::Dropped => None,
        }
    }
}

/// What one event of the writer's batch answers.
struct Group {
    drafts: Vec<Draft>,
    /// Set when the first draft is a device's Service Response, counted against its hub's
    /// thresholds with the others travelling with it; and whether its requester is a User
    /// to be told when it is held.
    screen: Option<(crate::anomaly::Answered, bool)>,
}

impl Group {
    fn plain(drafts: Vec<Draft>) -> Group {
        Group {
            drafts,
            screen: None,
        }
    }

    fn signed(messages: Vec<alerts::Signed>) -> Group {
        Group::plain(messages.into_iter().map(Draft::Signed).collect())
    }

    /// The messages to deliver, once signed: those of a held Service Response stay with
    /// `held`.
    fn screened(
        self,
        held: &mut crate::anomaly::HeldResponses<'_>,
        now_ms: i64,
    ) -> Vec<alerts::Signed> {
        let mut drafts = self.drafts.into_iter();
        match self.screen {
            Some((answered, tell)) => {
                let first = drafts.next().and_then(Draft::into_signed);
                let also: Vec<alerts::Signed> = drafts.filter_map(Draft::into_signed).collect();
                match first {
                    Some(m) => held.screen_with(&answered, m, also, tell, now_ms),
                    None => also,
                }
            }
            None => drafts.filter_map(Draft::into_signed).collect(),
        }
    }
}

/// Batches with fewer Service Responses to sign than this are signed in the writer's thread.
const PARALLEL_SIGNING_FROM: usize = 4;
/// Most threads signing one batch's Service Responses.
const MAX_SIGNING_THREADS: usize = 8;

/// Signs a batch's Service Responses. Signing (the canonical XML, its digest and an ECDSA
/// signature) is most of the response writer's work per answer; everything else it does
/// must stay in order on its one thread, so under load that thread would cap the gateway
/// at one core's worth of signatures. Large batches are therefore signed on a small pool
/// (`hubgate-sign-*`, half the cores, at most [`MAX_SIGNING_THREADS`]) while the writer
/// waits; small ones in the writer itself, without a thread hop. Below four cores there is
/// no pool.
struct Signer {
    pool: Option<rayon::ThreadPool>,
}

impl Signer {
    fn new() -> Signer {
        Signer::with_threads(
            (std::thread::available_parallelism().map_or(1, std::num::NonZero::get) / 2)
                .clamp(1, MAX_SIGNING_THREADS),
        )
    }

    /// A signer with a pool of `threads` (none for one).
    fn with_threads(threads: usize) -> Signer {
        let pool = (threads > 1)
            .then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("hubgate-sign-{i}"))
                    .build()
                    .map_err(|e| {
                        tracing::warn!(error = %e, "no signing pool: Service Responses are signed by the response writer alone");
                    })
                    .ok()
            })
            .flatten();
        Signer { pool }
    }

    fn sign(&self, responder: &Responder, groups: &mut [Group]) {
        let mut todo: Vec<&mut Draft> = groups
            .iter_mut()
            .flat_map(|g| g.drafts.iter_mut())
            .filter(|d| matches!(d, Draft::Model { .. }))
            .collect();
        match &self.pool {
            Some(pool) if todo.len() >= PARALLEL_SIGNING_FROM => pool.install(|| {
                use rayon::iter::{IntoParallelRefMutIterator as _, ParallelIterator as _};
                todo.par_iter_mut().for_each(|d| d.sign(responder));
            }),
            _ => todo.into_iter().for_each(|d| d.sign(responder)),
        }
    }
}

/// Most answers written in one outbox transaction.
const MAX_SINK_BATCH: usize = 256;

/// SEC target response times (SEC Annex 5; DESIGN.md): on-demand Service Responses within
/// 30 s of the request, device alerts within 60 s of their arrival.
pub const TARGET_ON_DEMAND_MS: i64 = 30_000;
/// See [`TARGET_ON_DEMAND_MS`].
pub const TARGET_ALERT_MS: i64 = 60_000;
/// DSP future-dated Service Responses within 24 h of their execution time.
pub const TARGET_FUTURE_DATED_MS: i64 = 24 * 3_600_000;
/// Firmware (11.1 Update Firmware) Service Responses within 5 days.
pub const TARGET_FIRMWARE_MS: i64 = 5 * 24 * 3_600_000;
/// The SRV whose answers count against the firmware target.
const FIRMWARE_SRV: &str = "11.1";

/// Counts an answer against its SEC target response time.
fn target_time(category: &'static str, elapsed_ms: i64, target_ms: i64) {
    let within = if elapsed_ms <= target_ms {
        "true"
    } else {
        "false"
    };
    metrics::counter!(metric_name::TARGET_TIME_TOTAL, "category" => category, "within" => within)
        .increment(1);
    // The monthly Code Performance Measures tally (in memory, flushed in batches).
    crate::performance::record(category, elapsed_ms);
}

/// Receives outcomes and alerts on the hub arbiter threads and hands them to one writer
/// thread, which signs the DUIS message and submits it for delivery.
pub struct ResponseSink {
    tx: crossbeam_channel::Sender<Event>,
    clock: Arc<dyn Clock>,
    sequencer: Arc<Sequencer>,
    /// The bound on device alerts waiting for the writer.
    alerts: Arc<AlertQueue>,
    /// Most time a hub actor's thread waits for room in a full alert queue.
    alert_wait: Duration,
    /// When the last warning about dropped alerts was logged (monotonic ms since `started`).
    dropped_warned_ms: AtomicU64,
    started: Instant,
    /// How long (µs) a batch of answers waits for more while the writer is busy.
    batch_delay_us: Arc<AtomicU64>,
    /// The store's committer, once shared ([`ResponseSink::with_group_commit`]).
    commits: Arc<std::sync::OnceLock<Arc<GroupCommit>>>,
}

/// The bound on device alerts waiting for the response writer
/// (`routing.alert_queue_capacity`).
///
/// Alerts travel on the writer's one event queue with everything else, so the writer sees
/// a command's answer and the alerts its device raised after it in the order they came; this
/// counts the alerts on it and refuses more than the capacity. What waits for room, and
/// what happens when it does not come, depends on the producer:
///
/// * the SMWAN link (async) holds a rig's alerts back while the queue is full
///   ([`AlertQueue::has_room`]; `crate::smwan`) until QUIC flow control holds the rig back;
///   that look reserves nothing, so an alert it lets through may still meet a full queue and
///   the hub actor's wait below;
/// * a hub actor's thread (synchronous, serving other hubs too) waits at most
///   `routing.alert_queue_wait_ms` for room, then drops the alert, counted in
///   `hubgate_alerts_dropped_total{reason="queue_full"}` and logged (a warning at most once a
///   second). An alert is not an acknowledged request; its loss under such overload is
///   allowed, but never silent.
///
/// Service Responses, the answers of requests not sent and lost-hub events do not count
/// here: each stands for a command the hub actors already bound (`routing.hub_queue_capacity`
/// per hub and the gateway-wide limits), or for one rig connection's end, and an answer to an
/// acknowledged request is never dropped.
#[derive(Debug)]
pub struct AlertQueue {
    capacity: AtomicUsize,
    queued: AtomicUsize,
    peak: AtomicUsize,
    lock: std::sync::Mutex<()>,
    room: std::sync::Condvar,
}

impl AlertQueue {
    /// Alerts waiting at most (`routing.alert_queue_capacity` default).
    pub const DEFAULT_CAPACITY: usize = 4096;
    /// A hub actor's longest wait for room (`routing.alert_queue_wait_ms` default).
    pub const DEFAULT_WAIT: Duration = Duration::from_millis(100);

    fn new(capacity: usize) -> AlertQueue {
        AlertQueue {
            capacity: AtomicUsize::new(capacity.max(1)),
            queued: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            lock: std::sync::Mutex::new(()),
            room: std::sync::Condvar::new(),
        }
    }

    /// The most alerts it holds.
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Alerts waiting now.
    pub fn len(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether no alert is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most alerts that waited at once since start.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Whether another alert fits now.
    pub fn has_room(&self) -> bool {
        self.len() < self.capacity()
    }

    /// Takes a place for one alert, if there is one.
    fn try_reserve(&self) -> bool {
        let capacity = self.capacity();
        let taken = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q < capacity).then_some(q + 1)
            });
        match taken {
            Ok(before) => {
                self.peak.fetch_max(before + 1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Takes a place for one alert, waiting up to `wait` for one; `false` when none came.
    fn reserve_within(&self, wait: Duration) -> bool {
        if self.try_reserve() {
            return true;
        }
        metrics::counter!(metric_name::ALERTS_BACKPRESSURE_TOTAL, "at" => "hub").increment(1);
        let deadline = Instant::now() + wait;
        let mut guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if self.try_reserve() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = match self.room.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// `n` alerts left the queue: their places are free.
    fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.queued.fetch_sub(n, Ordering::AcqRel);
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.room.notify_all();
    }

    /// Publishes the depth and the peak.
    fn publish(&self) {
        metrics::gauge!(metric_name::ROUTING_ALERT_QUEUE_MESSAGES).set(self.len() as f64);
        metrics::gauge!(metric_name::ROUTING_ALERT_QUEUE_PEAK_MESSAGES).set(self.peak() as f64);
    }
}

impl std::fmt::Debug for ResponseSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseSink").finish_non_exhaustive()
    }
}

/// What the response writer uses beyond the pending table, the signer, delivery and the
/// clock, each optional ([`ResponseSink::start`] uses none).
#[derive(Default)]
struct Writing {
    /// Device alerts fanned out to registered Users, DCC alerts for lost hubs.
    recipients: Option<Recipients>,
    /// The per-hub Service Response thresholds.
    hub_responses: Option<crate::anomaly::HubResponses>,
    /// The Users: who may be told of a held response.
    users: Option<Arc<crate::users::UserRegistry>>,
}

/// Tells the response writer that hubs went away (a rig's SMWAN connection ended), so it
/// raises the DCC alerts for them.
#[derive(Clone)]
pub struct HubEvents {
    tx: crossbeam_channel::Sender<Event>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for HubEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubEvents").finish_non_exhaustive()
    }
}

impl HubEvents {
    /// `hubs` are no longer reachable, as of now.
    pub fn hubs_lost(&self, hubs: Vec<[u8; 8]>) {
        if !hubs.is_empty() {
            let _ = self.tx.send(Event::HubsLost(hubs, self.clock.now_ms()));
        }
    }
}

impl ResponseSink {
    /// Starts the writer thread; device alerts go to their GBCS recipient only and no DCC
    /// alert is raised (see [`ResponseSink::start_with_recipients`]).
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub fn start(
        pending: PendingTable,
        responder: Arc<Responder>,
        delivery: Arc<Delivery>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<ResponseSink> {
        Self::start_inner(pending, responder, delivery, clock, Writing::default())
    }

    /// Starts the writer thread, with device alerts fanned out to the Users the
    /// registration data names for the device and DCC alerts raised for lost hubs
    /// ([`crate::alerts`]).
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub fn start_with_recipients(
        pending: PendingTable,
        responder: Arc<Responder>,
        delivery: Arc<Delivery>,
        clock: Arc<dyn Clock>,
        recipients: Recipients,
    ) -> std::io::Result<ResponseSink> {
        let writing = Writing {
            recipients: Some(recipients),
            ..Writing::default()
        };
        Self::start_inner(pending, responder, delivery, clock, writing)
    }

    /// [`ResponseSink::start_with_recipients`], with the devices' Service Responses counted
    /// per hub against `hub_responses` ([`crate::anomaly::HubResponses`]): one over a limit
    /// is held in the quarantine, in the transaction that removes its request's journal
    /// entry, with the Change of Supplier alerts of a 6.23 (delivered with it on release),
    /// and its requester gets a `QuarantinedRequest` DCC alert when `users` knows it as a
    /// User (never the ACB or another EUI that is not one).
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub fn start_with_hub_responses(
        pending: PendingTable,
        responder: Arc<Responder>,
        delivery: Arc<Delivery>,
        clock: Arc<dyn Clock>,
        recipients: Recipients,
        hub_responses: Option<crate::anomaly::HubResponses>,
        users: Arc<crate::users::UserRegistry>,
    ) -> std::io::Result<ResponseSink> {
        let writing = Writing {
            recipients: Some(recipients),
            hub_responses,
            users: Some(users),
        };
        Self::start_inner(pending, responder, delivery, clock, writing)
    }

    /// This writer with at most `capacity` device alerts waiting (at least 1), a hub actor's
    /// thread waiting at most `wait` for room before it drops one ([`AlertQueue`]).
    #[must_use]
    pub fn with_alert_queue(mut self, capacity: usize, wait: Duration) -> ResponseSink {
        self.alerts
            .capacity
            .store(capacity.max(1), Ordering::Relaxed);
        self.alert_wait = wait;
        self
    }

    /// While busy (its last batch held more than one answer), the writer lets a batch grow
    /// for up to `delay` after its first answer, so more answers share one store commit
    /// (`store_commit_delay_us`, as for the store's committer). Zero by default.
    #[must_use]
    pub fn with_batch_delay(self, delay: Duration) -> ResponseSink {
        self.batch_delay_us.store(
            u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self
    }

    /// Shares the store's committer with this writer: each batch of answers is then
    /// committed without an fsync of its own and made durable by the committer's next
    /// batch ([`GroupCommit::barrier`]), so the answers and the requests being acknowledged
    /// meanwhile share one fsync instead of taking the store's single writer for two. The
    /// senders learn of the answers only after that. Without it (or when the committer's
    /// queue is full) each batch is committed durably on its own.
    #[must_use]
    pub fn with_group_commit(self, commits: Arc<GroupCommit>) -> ResponseSink {
        let _ = self.commits.set(commits);
        self
    }

    /// The bound on device alerts waiting for this writer, for producers that can wait
    /// without blocking a thread (the SMWAN link, `crate::smwan::SmwanLink::pace_alerts`).
    pub fn alert_queue(&self) -> Arc<AlertQueue> {
        Arc::clone(&self.alerts)
    }

    /// An alert dropped for want of room: counted, and logged at most once a second.
    fn dropped(&self, alert: &DeviceAlert) {
        metrics::counter!(metric_name::ALERTS_DROPPED_TOTAL, "reason" => "queue_full").increment(1);
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.dropped_warned_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 1000)
            && self
                .dropped_warned_ms
                .compare_exchange(last, now.max(1), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                hub = %hex::eui_duis(&alert.hub),
                device = %hex::eui_duis(&alert.device),
                capacity = self.alerts.capacity(),
                "the alert queue stayed full: device alert dropped (counted in hubgate_alerts_dropped_total)"
            );
        }
    }

    /// Request sequencing for the [`Router`] ([`Router::with_sequencing`]): this writer
    /// tells it every final outcome and answers the requests it will not send.
    pub fn sequencing(&self) -> Sequencing {
        let tx = self.tx.clone();
        Sequencing::new(Arc::clone(&self.sequencer), move |failures| {
            let _ = tx.send(Event::NotSent(failures));
        })
    }

    /// A handle for reporting hubs that went away (see [`HubEvents`]).
    pub fn hub_events(&self) -> HubEvents {
        HubEvents {
            tx: self.tx.clone(),
            clock: Arc::clone(&self.clock),
        }
    }

    fn start_inner(
        pending: PendingTable,
        responder: Arc<Responder>,
        delivery: Arc<Delivery>,
        clock: Arc<dyn Clock>,
        writing: Writing,
    ) -> std::io::Result<ResponseSink> {
        let Writing {
            recipients,
            hub_responses,
            users,
        } = writing;
        // Unbounded on purpose: every event stands for a command the hub actors already
        // bounded, and dropping one would lose an acknowledged request's answer.
        // Device alerts on it are bounded by the AlertQueue.
        let (tx, rx) = crossbeam_channel::unbounded::<Event>();
        let batch_delay_us = Arc::new(AtomicU64::new(0));
        let writer_delay = Arc::clone(&batch_delay_us);
        let commits: Arc<std::sync::OnceLock<Arc<GroupCommit>>> = Arc::default();
        let writer_commits = Arc::clone(&commits);
        let alerts = Arc::new(AlertQueue::new(AlertQueue::DEFAULT_CAPACITY));
        let writer_alerts = Arc::clone(&alerts);
        let sink_clock = Arc::clone(&clock);
        let sequencer = Arc::new(Sequencer::new(SequencingLimits::default()));
        let sink_sequencer = Arc::clone(&sequencer);
        std::thread::Builder::new()
            .name("hubgate-responses".into())
            .spawn(move || {
                // Future-dated requests awaiting their execution alerts: only this thread
                // touches them.
                let mut future = FutureDated::load(delivery.store()).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "the remembered future-dated requests cannot be read");
                    FutureDated::default()
                });
                // Events that queued up while the last batch was written go out together:
                // one outbox transaction for the whole batch, made durable by the store's
                // committer when it is shared (one fsync with the acknowledgements), else
                // by a durable commit of its own. While
                // busy (the last batch had more than one event) a batch waits up to
                // `batch_delay` for more, as the store's committer does.
                let mut busy = false;
                let signer = Signer::new();
                loop {
                    let delay = Duration::from_micros(writer_delay.load(Ordering::Relaxed));
                    let mut batch = Vec::with_capacity(16);
                    if !crate::group_commit::next_batch(
                        &rx,
                        &mut batch,
                        MAX_SINK_BATCH,
                        delay,
                        &mut busy,
                    ) {
                        break;
                    }
                    // The alerts taken free their places in the bounded alert queue.
                    writer_alerts.release(
                        batch.iter().filter(|e| matches!(e, Event::Alert(..))).count(),
                    );
                    writer_alerts.publish();
                    let now = clock.now_ms();
                    // Journal entries of the requests answered in this batch: removed in the
                    // transaction that stores their answers.
                    let mut answered: Vec<u64> = Vec::new();
                    // Service Responses over their hub's threshold: held, not delivered.
                    let mut held = crate::anomaly::HeldResponses::new(hub_responses.as_ref());
                    // First, in order, what each event answers: Service Responses still to
                    // be signed, alerts signed already. Then the Service Responses are signed
                    // (in parallel when there are many: signing is most of this thread's work,
                    // and the rest must stay in order here). Then each is screened against
                    // its hub's thresholds, still in order.
                    let mut groups: Vec<Group> = Vec::with_capacity(batch.len());
                    for event in batch {
                        match event {
                            Event::Outcome(o) => {
                                // SR 6.23 done: both suppliers are alerted (with its Service
                                // Response: held with it when it is held).
                                let cos = cos_outcome(&pending, &o)
                                    .map(|(id, bytes)| alerts::change_of_supplier(&responder, &id, &bytes, now))
                                    .unwrap_or_default();
                                let request_ref = o.request_ref.clone();
                                let succeeded = matches!(o.result, OutcomeResult::Response { .. });
                                // A device's answer counts against its hub's thresholds.
                                let answered_by = pending
                                    .get(&o.request_ref)
                                    .filter(|_| succeeded)
                                    .map(|p| crate::anomaly::Answered {
                                        hub: o.hub,
                                        device: o.device,
                                        request_id: p.request_id,
                                        srv: p.service.1.to_string(),
                                    });
                                let also = cos.into_iter().map(Draft::Signed);
                                groups.push(
                                    match response(&pending, &responder, &mut future, o, now, &mut answered) {
                                        Some(m) => {
                                            let screen = answered_by.map(|a| {
                                                let tell = is_user(users.as_deref(), &a.request_id.originator);
                                                (a, tell)
                                            });
                                            Group {
                                                drafts: std::iter::once(m).chain(also).collect(),
                                                screen,
                                            }
                                        }
                                        None => Group::plain(also.collect()),
                                    },
                                );
                                // After the predecessor's answer: its dependants sent or failed.
                                let failures = sequencer.finished_ref(&request_ref, succeeded);
                                groups.extend(
                                    failures
                                        .iter()
                                        .filter_map(|f| not_sent(&pending, &responder, f, now, &mut answered))
                                        .map(|d| Group::plain(vec![d])),
                                );
                            }
                            Event::NotSent(failures) => groups.extend(
                                failures
                                    .iter()
                                    .filter_map(|f| not_sent(&pending, &responder, f, now, &mut answered))
                                    .map(|d| Group::plain(vec![d])),
                            ),
                            Event::Alert(a, received) => {
                                target_time("alert", now - received, TARGET_ALERT_MS);
                                let code = alert_code(&a.bytes).unwrap_or(a.message_code);
                                groups.push(Group::signed(alerts::device_alert(
                                    &responder,
                                    recipients.as_ref(),
                                    &mut future,
                                    &a,
                                    code,
                                    now,
                                )));
                            }
                            Event::HubsLost(hubs, at) => {
                                target_time("alert", now - at, TARGET_ALERT_MS);
                                groups.push(Group::signed(alerts::hubs_lost(
                                    &responder,
                                    recipients.as_ref(),
                                    &hubs,
                                    at,
                                    now,
                                )));
                            }
                        }
                    }
                    signer.sign(&responder, &mut groups);
                    let outgoing: Vec<Outgoing> = groups
                        .into_iter()
                        .flat_map(|g| g.screened(&mut held, now))
                        .map(|(user, body, kind)| Outgoing { user, body, kind })
                        .collect();
                    let kinds: Vec<(Kind, [u8; 8])> =
                        outgoing.iter().map(|o| (o.kind, o.user)).collect();
                    let remembered = future.drain_writes();
                    // Throttle windows changed by this batch's alerts are written with it.
                    let mut throttle = alerts::ThrottleWritten::default();
                    // With the store's committer shared, no fsync here: the committer's
                    // next batch makes this durable (and the senders hear of it only then).
                    let shared = writer_commits.get();
                    let durability = match shared {
                        Some(_) => redb::Durability::None,
                        None => redb::Durability::Immediate,
                    };
                    let result = delivery.place_batch_with(outgoing, durability, |t| {
                        journal::remove_in(t, &answered)?;
                        held.hold_in(t)?;
                        FutureDated::apply_in(t, &remembered)?;
                        match &recipients {
                            Some(r) => r.write_throttle_in(t, &mut throttle),
                            None => Ok(()),
                        }
                    });
                    // Not durable after all (the store failed): treated as a failed commit.
                    // Nobody is told; the journal still holds the requests (the store's
                    // recovery goes back to its last durable commit), so they are answered
                    // at the next start.
                    let result = result.and_then(|placed| match shared {
                        Some(commits) if !placed.is_durable() => {
                            make_durable(commits, delivery.store()).map(|()| placed)
                        }
                        _ => Ok(placed),
                    });
                    if result.is_err() {
                        throttle.not_committed();
                    }
                    match result {
                        Ok(placed) => {
                            let results = placed.release(&delivery);
                            held.held(&responder, &delivery, now);
                            for (r, (kind, user)) in results.into_iter().zip(kinds) {
                                match r {
                                    Ok(_) => metrics::counter!(metric_name::ROUTING_ANSWERS_TOTAL, "kind" => kind.label())
                                        .increment(1),
                                    Err(e) => {
                                        tracing::error!(user = %hex::eui_duis(&user), error = %e, "an answer could not be queued for delivery");
                                        metrics::counter!(metric_name::ROUTING_ANSWERS_LOST_TOTAL).increment(1);
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, answers = kinds.len(), "answers could not be queued for delivery");
                            metrics::counter!(metric_name::ROUTING_ANSWERS_LOST_TOTAL)
                                .increment(kinds.len() as u64);
                        }
                    }
                }
            })?;
        Ok(ResponseSink {
            tx,
            clock: sink_clock,
            sequencer: sink_sequencer,
            alerts,
            alert_wait: AlertQueue::DEFAULT_WAIT,
            dropped_warned_ms: AtomicU64::new(0),
            started: Instant::now(),
            batch_delay_us,
            commits,
        })
    }
}

/// Makes the response writer's last (non-durable) commit durable: through the committer's
/// next batch, or with a durable commit of its own when the committer cannot take it.
///
/// # Errors
///
/// The store's, when neither commit succeeds (the store is degraded: its recovery goes
/// back to the last durable commit, without this batch).
fn make_durable(
    commits: &GroupCommit,
    store: &crate::store::Store,
) -> Result<(), crate::delivery::outbox::OutboxError> {
    let Err(e) = commits.barrier() else {
        return Ok(());
    };
    if !matches!(e, crate::group_commit::CommitError::Busy) {
        tracing::warn!(error = %e, "the store's committer did not take the answers' barrier; committing them on their own");
    }
    store
        .write(|_| Ok::<(), crate::store::StoreError>(()))
        .map_err(crate::delivery::outbox::OutboxError::Store)
}

impl OutcomeSink for ResponseSink {
    fn outcome(&self, outcome: Outcome) {
        let _ = self.tx.send(Event::Outcome(outcome));
    }

    fn alert(&self, alert: DeviceAlert) {
        if !self.alerts.reserve_within(self.alert_wait) {
            self.dropped(&alert);
            return;
        }
        if self
            .tx
            .send(Event::Alert(alert, self.clock.now_ms()))
            .is_err()
        {
            // The writer is gone (shutting down): nothing will take it.
            self.alerts.release(1);
        }
    }
}

/// The Service Response for a finished command: I0 with the device's GBCS response, or the
/// timeout code.
fn response(
    pending: &PendingTable,
    responder: &Responder,
    future: &mut FutureDated,
    outcome: Outcome,
    now_ms: i64,
    answered: &mut Vec<u64>,
) -> Option<Draft> {
    let Some((_, p)) = pending.remove(&outcome.request_ref) else {
        // A duplicate reply, or a reply to a command answered already: delivered once.
        tracing::warn!(request = %outcome.request_ref, "an outcome for no request in flight");
        return None;
    };
    answered.extend(p.journal);
    match p.not_before_ms {
        // DSP future-dated: the target runs from the execution time it named.
        Some(at) => target_time("future_dated", now_ms - at, TARGET_FUTURE_DATED_MS),
        // Device future-dated requests are answered when the device runs them, by alert;
        // what comes back here is the immediate answer, due within the on-demand target.
        None if p.service.1.as_str() == FIRMWARE_SRV => {
            target_time("firmware", now_ms - p.accepted_ms, TARGET_FIRMWARE_MS);
        }
        None => target_time("on_demand", now_ms - p.accepted_ms, TARGET_ON_DEMAND_MS),
    }
    let (code, payload) = match outcome.result {
        OutcomeResult::Response { bytes, .. } => {
            // A cancellation the device carried out: the instructions it dropped raise no
            // alert, so their requests are forgotten (crate::cancellation).
            if p.cancels {
                if crate::cancellation::response_succeeded(&bytes) {
                    let gone =
                        future.drop_instructions(outcome.device, p.service.1, p.message_code);
                    crate::cancellation::forgotten("device", outcome.device, &gone);
                }
            } else if p.future_datable && !p.runs_now {
                // A newer future-dated command the device took replaces its pending
                // instruction of the same message code: the older requests are forgotten.
                if p.supersedes && crate::cancellation::response_succeeded(&bytes) {
                    let gone =
                        future.drop_instructions(outcome.device, p.service.1, p.message_code);
                    crate::cancellation::forgotten("superseded", outcome.device, &gone);
                }
                // The device accepted a command it may run later: its execution alert will
                // carry the command's counter.
                future.remember(
                    outcome.device,
                    outcome.counter,
                    p.request_id,
                    p.service,
                    p.instructions,
                    Some(p.message_code),
                );
            }
            // The CIN only once the meter's answer shows it took it: anything else is
            // passed on as it came.
            let payload = match p.cin {
                Some(cin) if transform::cin_taken(&bytes) => ResponsePayload::CinMessage {
                    gbcs_payload: bytes,
                    customer_identification_number: cin,
                },
                _ => ResponsePayload::GbcsPayload(bytes),
            };
            (ResponseCode::I0, Some(payload))
        }
        OutcomeResult::Failed(f) => (
            ResponseCode::parse(f.response_code()).unwrap_or(ResponseCode::I0),
            None,
        ),
    };
    let answer = Answer {
        request_id: Some(p.request_id),
        with_response_id: true,
        code,
        service: Some(p.service),
        payload,
    };
    Draft::model(responder, p.request_id.originator, answer, now_ms)
}

/// Whether `eui` is a User of this gateway, to be told that its request's Service Response is
/// held: not when no Users are known, and never the ACB, a DCC party or any other EUI that
/// the User registry does not hold.
fn is_user(users: Option<&crate::users::UserRegistry>, eui: &[u8; 8]) -> bool {
    users.is_some_and(|u| u.get(eui).is_some())
}

/// The RequestID and the device's response of a finished SR 6.23 request, for the Change
/// of Supplier alerts ([`alerts::change_of_supplier`]).
fn cos_outcome(pending: &PendingTable, outcome: &Outcome) -> Option<(RequestId, Vec<u8>)> {
    let p = pending.get(&outcome.request_ref)?;
    if p.service.1.as_str() != crate::cos::SRV {
        return None;
    }
    match &outcome.result {
        OutcomeResult::Response { bytes, .. } => Some((p.request_id, bytes.clone())),
        OutcomeResult::Failed(_) => None,
    }
}

/// The Service Response of a request that will not be sent (request sequencing).
fn not_sent(
    pending: &PendingTable,
    responder: &Responder,
    failure: &Failure,
    now_ms: i64,
    answered: &mut Vec<u64>,
) -> Option<Draft> {
    let Some((_, p)) = pending.remove(&failure.request_ref) else {
        tracing::warn!(request = %failure.request_ref, "a request not sent is not in flight");
        return None;
    };
    answered.extend(p.journal);
    let answer = Answer {
        request_id: Some(p.request_id),
        with_response_id: true,
        code: failure.code,
        service: Some(p.service),
        payload: None,
    };
    Draft::model(responder, p.request_id.originator, answer, now_ms)
}

/// The alert code inside a GBCS alert's payload (GBZ or DLMS), when it can be read.
pub(crate) fn alert_code(bytes: &[u8]) -> Option<u16> {
    let msg = frame::parse(bytes).ok()?;
    let content = msg.content;
    let decoded = payload::decode_with(content, payload::Context::for_message(&msg)).ok()?;
    find_alert_code(&decoded.to_json())
}

fn find_alert_code(v: &serde_json::Value) -> Option<u16> {
    match v {
        serde_json::Value::Object(m) => m
            .get("alert_code")
            .and_then(|c| c.as_str())
            .and_then(|s| u16::from_str_radix(s, 16).ok())
            .or_else(|| m.values().find_map(find_alert_code)),
        serde_json::Value::Array(a) => a.iter().find_map(find_alert_code),
        _ => None,
    }
}

/// The execution time of a request whose SRV follows the DSP future-dated pattern (the DCC
/// holds it and sends it then, PROTOCOLS.md §1.6); `None` for other requests.
fn dsp_execution_time(request: &Request, srv: &str) -> Option<i64> {
    use hubgate_protocol::catalogue::{Catalogue, FutureDatedPattern};
    let pattern = Catalogue::get().srv(srv)?.future_dated;
    if pattern != FutureDatedPattern::Dsp || request.is_signed_pre_command() {
        return None;
    }
    request
        .body
        .execution_date_time()
        .and_then(|d| crate::clock::parse_rfc3339_ms(d.as_str()))
}

/// Longest wait between looks at the clock (it may be a test clock set from outside).
const DEFERRED_POLL: Duration = Duration::from_millis(200);

/// The thread holding DSP future-dated requests: each is dispatched when the clock reaches
/// its execution time; it ends when the router is dropped.
fn run_deferred(router: &std::sync::Weak<Router>, deferred: &Deferred) {
    loop {
        let Some(r) = router.upgrade() else {
            return;
        };
        let now = r.parts.clock.now_ms();
        let due = {
            let Ok(mut q) = deferred.queue.lock() else {
                return;
            };
            match q.first() {
                Some(k) if k.0 <= now => q.remove(k),
                next => {
                    let wait = next.map_or(DEFERRED_POLL, |(at, _)| {
                        Duration::from_millis(u64::try_from(at - now).unwrap_or(0))
                            .min(DEFERRED_POLL)
                    });
                    drop(r);
                    let _ = deferred.wake.wait_timeout(q, wait);
                    continue;
                }
            }
        };
        if let Some(p) = due {
            metrics::gauge!(metric_name::ROUTING_DEFERRED).set(r.deferred() as f64);
            // Acknowledged long ago: a refusal now is answered through the writer.
            let _ = r.dispatch_inner(&p, true);
        }
    }
}

#[cfg(test)]
mod alert_queue_tests {
    use super::*;

    #[test]
    fn the_alert_queue_holds_its_capacity_and_a_blocked_producer_gives_up_in_time() {
        let q = AlertQueue::new(2);
        assert!(q.try_reserve() && q.try_reserve());
        assert!(!q.has_room());
        let started = Instant::now();
        assert!(
            !q.reserve_within(Duration::from_millis(50)),
            "full: no place"
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!((q.len(), q.peak()), (2, 2));
        q.release(2);
        assert!(q.is_empty() && q.has_room());
        assert_eq!(q.peak(), 2, "the high-water mark stays");
    }

    #[test]
    fn a_waiting_producer_gets_the_place_the_writer_frees() {
        let q = Arc::new(AlertQueue::new(1));
        assert!(q.try_reserve());
        let writer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                q.release(1);
            })
        };
        assert!(q.reserve_within(Duration::from_secs(10)));
        writer.join().expect("writer");
        assert_eq!(q.len(), 1);
        // Capacity 0 is taken as 1.
        assert_eq!(AlertQueue::new(0).capacity(), 1);
    }
}

#[cfg(test)]
mod recovery_tests {
    use super::*;
    use crate::journal::tests::entry;

    const HOUR_MS: i64 = 3_600_000;
    /// 3000-12-31T00:00:00Z, the DUIS cancellation date.
    const CANCEL_MS: i64 = 32_535_129_600_000;

    fn at(counter: u64, accepted_ms: i64, not_before_ms: Option<i64>) -> Entry {
        let mut e = entry();
        e.request_id.counter = counter;
        e.preceding = None;
        e.first_in_sequence = None;
        e.schedule_id = None;
        e.accepted_ms = accepted_ms;
        e.not_before_ms = not_before_ms;
        e
    }

    #[test]
    fn a_cancellation_in_the_journal_takes_the_requests_it_found_held() {
        let t = 1_800_000_000_000;
        let held = at(1, t, Some(t + HOUR_MS));
        let due_before = at(2, t, Some(t + 10));
        let cancel = at(3, t + 1_000, Some(CANCEL_MS));
        let later = at(4, t + 2_000, Some(t + HOUR_MS));
        let mut other_srv = at(5, t, Some(t + HOUR_MS));
        other_srv.service.1 = ServiceReferenceVariant::parse("4.1.2").unwrap();
        let entries: Vec<(u64, Entry)> = vec![
            (10, held),
            (11, due_before),
            (12, other_srv),
            (13, cancel),
            (14, later),
        ];
        let owed = cancellations_in_journal(&entries);
        // The read held past the cancellation's acceptance is taken; the one already due
        // then (it had been sent), another SRV's and a later one are not.
        assert_eq!(owed.get(&10), Some(&crate::cancellation::cancelled_code()));
        assert_eq!(owed.get(&13), Some(&ResponseCode::I0));
        assert_eq!(owed.len(), 2, "{owed:?}");
        // A cancellation that took nothing is left to be replayed (and refused there).
        let lone = vec![(13, at(3, t, Some(CANCEL_MS)))];
        assert!(cancellations_in_journal(&lone).is_empty());
    }
}

#[cfg(test)]
mod held_queue_tests {
    use super::*;
    use crate::cancellation::{Matched, cancellation_from_ms};
    use crate::journal::tests::entry;

    /// A held 4.1.1 from `user` to `device`, due at `at`, under journal key `key`.
    fn held(user: u8, device: u8, key: u64, at: i64) -> Prepared {
        let mut e = entry();
        e.request_id = RequestId::new([user; 8], [device; 8], key);
        e.device = [device; 8];
        e.preceding = None;
        e.not_before_ms = Some(at);
        Prepared::new(key, e)
    }

    fn cancellation(user: u8, device: u8, key: u64) -> Matched {
        Matched::of(&held(user, device, key, cancellation_from_ms() + 1).entry)
    }

    fn indexed(q: &HeldQueue) -> usize {
        q.by_match
            .values()
            .map(std::collections::BTreeSet::len)
            .sum()
    }

    #[test]
    fn a_cancellation_takes_only_its_matches_and_the_index_follows_every_removal() {
        let mut q = HeldQueue::default();
        // Many held requests of other Users for the same device: never looked at.
        for k in 0..10_000u64 {
            q.insert((1_000 + i64::try_from(k).unwrap(), k), held(9, 2, k, 1_000));
        }
        q.insert((5_000, 20_001), held(1, 2, 20_001, 5_000));
        q.insert((500, 20_002), held(1, 2, 20_002, 500));
        q.insert((600, 20_003), held(1, 3, 20_003, 600));
        assert_eq!((q.len(), indexed(&q)), (10_003, 10_003));

        // The deferred thread takes the first due: the index loses it too.
        let first = q.first().expect("a first");
        assert_eq!(first, (500, 20_002));
        assert!(q.remove(first).is_some());
        assert_eq!(indexed(&q), q.len());

        // User 1's cancellation for device 2: only its one request still held.
        let taken = q.take_cancelled(&cancellation(1, 2, 30_000));
        let keys: Vec<u64> = taken.iter().map(|p| p.key).collect();
        assert_eq!(keys, vec![20_001]);
        assert_eq!((q.len(), indexed(&q)), (10_001, 10_001));
        // Nothing left for it, and the taken request never comes due.
        assert!(q.take_cancelled(&cancellation(1, 2, 30_001)).is_empty());
        assert!(q.by_time.values().all(|p| p.key != 20_001));

        // Every one of user 9's, in execution-time order.
        let taken = q.take_cancelled(&cancellation(9, 2, 30_002));
        assert_eq!(taken.len(), 10_000);
        assert!(taken.windows(2).all(|w| w[0].key < w[1].key));
        assert_eq!((q.len(), indexed(&q)), (1, 1));
        assert_eq!(q.by_match.len(), 1, "no empty index sets are kept");
    }

    #[test]
    fn the_execution_time_is_read_once_for_device_pattern_requests_only() {
        // The journal test entry's command is not a readable GBCS command.
        assert_eq!(held(1, 2, 1, 0).execution, None);
        let mut e = entry();
        let command = {
            let root = hubgate_protocol::conformance::require();
            let text = std::fs::read_to_string(root.join(
                "gbcs/rtds/1.1.1_GCS01a/GCS01a_1.1.1_CANCELLATION_BLOCK_SUCCESS_COMMAND_GBCS.HEX",
            ))
            .expect("RTDS vector");
            hex::decode(text.trim()).expect("hex")
        };
        e.command = command;
        assert_eq!(
            Prepared::new(1, e.clone()).execution,
            Some(crate::cancellation::Execution::Cancel)
        );
        e.future_datable = false;
        assert_eq!(Prepared::new(1, e).execution, None);
    }

    #[test]
    fn only_users_are_told_of_held_responses() {
        use crate::users::{User, UserRegistry};
        let supplier = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0, 0];
        let acb = [0x90, 0xB3, 0xD5, 0x1F, 0x40, 0, 0, 2];
        let users = UserRegistry::new(vec![User::new(
            supplier,
            "supplier",
            [hubgate_protocol::catalogue::Role::ImportSupplier],
        )])
        .expect("registry");
        assert!(is_user(Some(&users), &supplier));
        assert!(!is_user(Some(&users), &acb), "the ACB is not a User");
        assert!(!is_user(None, &supplier), "no registry: nobody is told");
    }
}

#[cfg(test)]
mod signing_tests {
    use super::*;
    use hubgate_protocol::duis::dsig;

    fn responder_and_store() -> (Responder, Store) {
        let mut store = Store::new();
        store
            .load_dir(&hubgate_protocol::conformance::require().join("smki"))
            .unwrap();
        (crate::ingress::respond::conformance_responder(), store)
    }

    /// Service Responses to sign, one group each, and a signed alert between them.
    fn batch(responder: &Responder, n: u64) -> Vec<Group> {
        let user = [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x01, 0x00, 0x00];
        let answer = |counter: u64| Answer {
            request_id: Some(RequestId::new(
                user,
                [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa0],
                counter,
            )),
            with_response_id: true,
            code: ResponseCode::I0,
            service: Some((
                ServiceReference::parse("4.1").unwrap(),
                ServiceReferenceVariant::parse("4.1.1").unwrap(),
            )),
            payload: Some(ResponsePayload::GbcsPayload(vec![0xDD, 0x00, 0x3C])),
        };
        let mut groups: Vec<Group> = (0..n)
            .map(|i| {
                Group::plain(vec![
                    Draft::model(responder, user, answer(1000 + i), 1_700_000_000_000).unwrap(),
                ])
            })
            .collect();
        let alert = responder.signed(answer(5000), 1_700_000_000_000).unwrap();
        groups.insert(2, Group::signed(vec![(user, alert, Kind::DccAlert)]));
        groups
    }

    fn counters_in_order(out: &[alerts::Signed]) -> Vec<u64> {
        out.iter()
            .map(|(_, body, _)| {
                let text = String::from_utf8_lossy(body);
                let at = text.find("<sr:RequestID>").unwrap() + "<sr:RequestID>".len();
                let id = &text[at..at + text[at..].find('<').unwrap()];
                id.rsplit(':').next().unwrap().parse().unwrap()
            })
            .collect()
    }

    /// On a pool or in the writer's thread, every Service Response comes out signed (and
    /// verifies), in the batch's order, with the alert where it was.
    #[test]
    fn a_batch_is_signed_in_order_on_a_pool_and_without_one() {
        let (responder, store) = responder_and_store();
        for threads in [3, 1] {
            let signer = Signer::with_threads(threads);
            assert_eq!(signer.pool.is_some(), threads > 1);
            let mut groups = batch(&responder, 12);
            signer.sign(&responder, &mut groups);
            let mut held = crate::anomaly::HeldResponses::new(None);
            let out: Vec<alerts::Signed> = groups
                .into_iter()
                .flat_map(|g| g.screened(&mut held, 1_700_000_000_000))
                .collect();
            assert_eq!(out.len(), 13, "{threads} threads");
            let mut expected: Vec<u64> = (1000..1012).collect();
            expected.insert(2, 5000);
            assert_eq!(counters_in_order(&out), expected, "{threads} threads");
            for (_, body, kind) in &out {
                dsig::verify(body, &store).unwrap();
                assert!(matches!(kind, Kind::Response | Kind::DccAlert));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use super::make_durable;
    use crate::group_commit::GroupCommit;
    use crate::store::{Store, StoreError};

    const T: redb::TableDefinition<'static, &'static [u8], &'static [u8]> =
        redb::TableDefinition::new("test.answers");

    /// The response writer's non-durable commit is made durable through the committer; on a
    /// store that failed in between, neither the barrier nor a commit of its own succeeds, and
    /// the writer is told so (it then releases nothing).
    #[test]
    fn answers_are_made_durable_unless_the_store_failed_after_their_commit() {
        let dir =
            std::env::temp_dir().join(format!("hubgate-routing-durable-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir).unwrap());
        let commits = GroupCommit::start(Arc::clone(&store), 16, 16).unwrap();
        let place = |v: &[u8]| {
            store.write_with(redb::Durability::None, |tx| {
                tx.open_table(T)?.insert(b"k".as_slice(), v)?;
                Ok::<(), StoreError>(())
            })
        };
        place(b"1").unwrap();
        make_durable(&commits, &store).unwrap();

        place(b"2").unwrap();
        store.health().write_failed("I/O error: test");
        let e = make_durable(&commits, &store).unwrap_err();
        assert!(
            matches!(
                e,
                crate::delivery::outbox::OutboxError::Store(StoreError::Unavailable(_))
            ),
            "{e:?}"
        );
        drop(commits);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
