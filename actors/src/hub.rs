//! The Communications Hub state machine, without I/O, threads or clocks.
//!
//! [`HubCore`] owns what one hub's actor owns: the HAN device log copy, the command queue,
//! the commands in flight, the alert counters and running totals. Its `handle_*` methods take
//! the current time and an input (a command, bytes from the hub, a tick); the caller then
//! drains what the core wants done with [`HubCore::poll_transmit`] (commands to send),
//! [`HubCore::poll_event`] (outcomes, alerts, drops) and [`HubCore::poll_timeout`] (when to
//! call [`HubCore::handle_timeout`] next). The actor is a thin driver around it, and tests run
//! it on a virtual clock.
//!
//! Rules:
//! - Commands leave in submission order per device; at most `per_device` are in flight per
//!   device and `per_hub` per hub. A command that cannot be sent yet waits in the queue, and
//!   later commands for other devices may overtake it.
//! - A response matches the first in-flight command with the same originator counter and
//!   message code, sent to the response's originator by the response's recipient. Anything
//!   else is counted and dropped, before any cryptography is spent on it.
//! - A matching response is delivered only if its MAC and/or signature verify; otherwise it
//!   is counted and dropped and the command stays in flight (a forged response cannot end a
//!   command).
//! - At its deadline a queued command ends with `E20`, an in-flight one with `E21`.
//! - Alerts are authenticated, checked against the device's last alert counter (replays are
//!   dropped) and handed on.
//! - The device log copy follows the hub's CHF Device Log: a CCS01 / CCS02 / CCS03 command to
//!   the CHF remembers, while in flight, the change it carries
//!   ([`hubgate_protocol::transform::chf_log_change`]); an authentic response reporting
//!   success applies it. An authentic CS14 alert from the CHF replaces the copy with the
//!   whitelist it carries (which also covers a change whose command was in flight when the
//!   hub passivated: in-flight changes are not persisted). The copy is persisted with the
//!   rest of the hub state.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hubgate_protocol::gbcs::{self, Cra, GroupingHeader};
use hubgate_protocol::transform::{self, LogChange};

use crate::Eui;
use crate::command::{Command, ValidCommand};
use crate::device_log::{DeviceLog, DeviceLogEntry, DeviceLogError, DeviceLogUpdate, DeviceType};
use crate::link::LinkError;
use crate::outcome::{DeviceAlert, Failure, Outcome, OutcomeResult};
use crate::state::{HubCounters, HubState, SavedCommand, SavedInFlight};
use crate::verify::{AuthFailure, Checked, Verifier};

/// Most devices whose last alert counter a hub remembers.
pub const MAX_ALERT_COUNTERS: usize = 64;

/// Per-hub bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubLimits {
    /// Most commands a hub holds, queued and in flight together.
    pub queue_capacity: usize,
    /// Most commands in flight to one device (GBCS devices process one at a time).
    pub per_device: usize,
    /// Most commands in flight through the hub.
    pub per_hub: usize,
}

impl Default for HubLimits {
    fn default() -> Self {
        HubLimits {
            queue_capacity: 64,
            per_device: 1,
            per_hub: 8,
        }
    }
}

/// Identifies a command handed to the link, for [`HubCore::handle_send_failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandId(u64);

/// A command the core wants sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Its identifier.
    pub id: CommandId,
    /// The target device.
    pub device: Eui,
    /// The GBCS command.
    pub bytes: Vec<u8>,
}

/// Where a command was when it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Still waiting in the queue.
    Queued,
    /// Handed to the link.
    InFlight,
}

/// Why an inbound message was dropped without authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A response matching no command in flight (late, duplicated or forged).
    Unmatched,
    /// Not a GBCS message.
    Malformed,
    /// A command (CRA 1), which devices do not send to the DCC.
    Command,
    /// An authentic alert whose counter is not above the device's last one.
    Replay,
}

impl DropReason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Unmatched => "unmatched",
            DropReason::Malformed => "malformed",
            DropReason::Command => "command",
            DropReason::Replay => "replay",
        }
    }
}

/// Something the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A command finished: give the outcome to the sink.
    Finished {
        /// The outcome.
        outcome: Outcome,
        /// Where the command was.
        stage: Stage,
    },
    /// An authentic alert: give it to the sink.
    Alert(DeviceAlert),
    /// An inbound message failed authentication and was dropped.
    Rejected(AuthFailure),
    /// An inbound message was dropped without authentication.
    Dropped(DropReason),
}

/// What [`HubCore::restore`] brought back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Commands back in the queue.
    pub queued: usize,
    /// Commands back in flight.
    pub in_flight: usize,
    /// Saved commands that no longer validate (dropped).
    pub invalid: usize,
}

struct Queued {
    command: Command,
    originator: Eui,
}

struct InFlight {
    id: CommandId,
    request_ref: String,
    device: Eui,
    originator: Eui,
    message_code: u16,
    counter: u64,
    deadline: Instant,
    sent_at: Instant,
    /// For a CHF device-log command: what it does to the CHF Device Log if it succeeds.
    log_change: Option<LogChange>,
}

/// One Communications Hub's state machine. See the module documentation.
pub struct HubCore {
    hub: Eui,
    limits: HubLimits,
    next_id: u64,
    queue: VecDeque<Queued>,
    in_flight: Vec<InFlight>,
    log: DeviceLog,
    alert_counters: Vec<(Eui, u64)>,
    counters: HubCounters,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl std::fmt::Debug for HubCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubCore")
            .field("hub", &hubgate_protocol::hex::eui(&self.hub))
            .field("queued", &self.queue.len())
            .field("in_flight", &self.in_flight.len())
            .field("counters", &self.counters)
            .finish()
    }
}

impl HubCore {
    /// A hub with nothing known about it.
    pub fn new(hub: Eui, limits: HubLimits) -> Self {
        HubCore {
            hub,
            limits: HubLimits {
                queue_capacity: limits.queue_capacity.max(1),
                per_device: limits.per_device.max(1),
                per_hub: limits.per_hub.max(1),
            },
            next_id: 0,
            queue: VecDeque::new(),
            in_flight: Vec::new(),
            log: DeviceLog::default(),
            alert_counters: Vec::new(),
            counters: HubCounters::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// A hub brought back from its persisted state. Deadlines are converted from wall-clock
    /// time (`wall` is the wall-clock reading taken at `now`); commands whose deadline passed
    /// while the hub was passivated end at the next [`HubCore::handle_timeout`].
    pub fn restore(
        state: HubState,
        limits: HubLimits,
        now: Instant,
        wall: SystemTime,
    ) -> (Self, Restored) {
        let mut core = HubCore::new(state.hub, limits);
        core.counters = state.counters;
        core.log = state.device_log;
        core.alert_counters = state.alert_counters;
        core.alert_counters.truncate(MAX_ALERT_COUNTERS);
        let mut report = Restored::default();
        let wall_ms = unix_ms(wall);
        for f in state.in_flight {
            let id = core.fresh_id();
            core.in_flight.push(InFlight {
                id,
                request_ref: f.request_ref,
                device: f.device,
                originator: f.originator,
                message_code: f.message_code,
                counter: f.counter,
                deadline: instant_at(now, wall_ms, f.deadline_unix_ms),
                sent_at: now,
                log_change: None,
            });
            report.in_flight += 1;
        }
        for c in state.queued {
            let command = Command {
                request_ref: c.request_ref,
                hub: state.hub,
                device: c.device,
                message_code: c.message_code,
                counter: c.counter,
                bytes: c.bytes,
                deadline: instant_at(now, wall_ms, c.deadline_unix_ms),
            };
            match command.validate() {
                Ok(v) => {
                    core.queue.push_back(Queued {
                        originator: v.originator(),
                        command: v.into_command(),
                    });
                    report.queued += 1;
                }
                Err(_) => report.invalid += 1,
            }
        }
        (core, report)
    }

    /// The persisted form of this hub, queue and in-flight commands included, with deadlines
    /// as wall-clock time (`wall` is the wall-clock reading taken at `now`).
    pub fn snapshot(&self, now: Instant, wall: SystemTime) -> HubState {
        let wall_ms = unix_ms(wall);
        HubState {
            hub: self.hub,
            counters: self.counters,
            device_log: self.log.clone(),
            alert_counters: self.alert_counters.clone(),
            queued: self
                .queue
                .iter()
                .map(|q| SavedCommand {
                    request_ref: q.command.request_ref.clone(),
                    device: q.command.device,
                    message_code: q.command.message_code,
                    counter: q.command.counter,
                    deadline_unix_ms: wall_ms_at(now, wall_ms, q.command.deadline),
                    bytes: q.command.bytes.clone(),
                })
                .collect(),
            in_flight: self
                .in_flight
                .iter()
                .map(|f| SavedInFlight {
                    request_ref: f.request_ref.clone(),
                    device: f.device,
                    originator: f.originator,
                    message_code: f.message_code,
                    counter: f.counter,
                    deadline_unix_ms: wall_ms_at(now, wall_ms, f.deadline),
                })
                .collect(),
        }
    }

    /// The hub's EUI.
    pub fn hub(&self) -> Eui {
        self.hub
    }

    /// The device log copy.
    pub fn device_log(&self) -> &DeviceLog {
        &self.log
    }

    /// Running totals.
    pub fn counters(&self) -> HubCounters {
        self.counters
    }

    /// Commands waiting to be sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Commands sent and unanswered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// True when the hub holds no command and has nothing left to hand out.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
            && self.in_flight.is_empty()
            && self.transmits.is_empty()
            && self.events.is_empty()
    }

    /// Accepts a command. A hub already holding [`HubLimits::queue_capacity`] commands ends
    /// it at once with `E20` (the registry refuses such submissions before they get here).
    pub fn handle_submit(&mut self, now: Instant, command: ValidCommand) {
        self.counters.accepted += 1;
        let originator = command.originator();
        let command = command.into_command();
        if self.queue.len() + self.in_flight.len() >= self.limits.queue_capacity {
            self.finish_queued(command, Failure::NotSent);
            return;
        }
        self.queue.push_back(Queued {
            command,
            originator,
        });
        self.handle_timeout(now);
    }

    /// Handles bytes received from the hub: a response or an alert.
    pub fn handle_inbound(&mut self, now: Instant, bytes: Vec<u8>, verifier: &Verifier) {
        let msg = match gbcs::parse(&bytes) {
            Ok(m) => m,
            Err(_) => return self.drop_inbound(DropReason::Malformed),
        };
        match msg.header.cra {
            Cra::Command => self.drop_inbound(DropReason::Command),
            Cra::Response => {
                let Some(i) = self.match_response(&msg.header) else {
                    return self.drop_inbound(DropReason::Unmatched);
                };
                let checked = match verifier.check(&msg) {
                    Ok(c) => c,
                    Err(f) => return self.reject(f),
                };
                let f = self.in_flight.remove(i);
                // Only what this gateway verified changes its copy of the device log.
                if checked == Checked::Verified
                    && let Some(change) = &f.log_change
                    && transform::chf_log_succeeded(&bytes)
                {
                    self.apply_log_change(change);
                }
                self.counters.responses += 1;
                let round_trip = now.saturating_duration_since(f.sent_at);
                self.events.push_back(Event::Finished {
                    outcome: Outcome {
                        request_ref: f.request_ref,
                        hub: self.hub,
                        device: f.device,
                        message_code: f.message_code,
                        counter: f.counter,
                        result: OutcomeResult::Response { bytes, round_trip },
                    },
                    stage: Stage::InFlight,
                });
                self.handle_timeout(now);
            }
            Cra::Alert => {
                let checked = match verifier.check(&msg) {
                    Ok(c) => c,
                    Err(f) => return self.reject(f),
                };
                let (device, recipient, counter, message_code) = (
                    msg.header.originator,
                    msg.header.recipient,
                    msg.header.counter,
                    msg.header.other_info.message_code,
                );
                let verified = checked == Checked::Verified;
                // An alert passed on unchecked changes nothing here: not the replay
                // counters (a forged counter would shut out the device's real alerts), not
                // the device log copy. Its recipient checks it, replays included.
                if verified {
                    if !self.advance_alert_counter(device, counter) {
                        return self.drop_inbound(DropReason::Replay);
                    }
                    if device == self.hub
                        && let Some(whitelist) = transform::chf_log_alert(&bytes)
                    {
                        self.apply_log_change(&LogChange::Replace(whitelist));
                    }
                }
                self.counters.alerts += 1;
                self.events.push_back(Event::Alert(DeviceAlert {
                    hub: self.hub,
                    device,
                    recipient,
                    counter,
                    message_code,
                    bytes,
                    verified,
                }));
            }
        }
    }

    /// The link refused command `id`: it ends with `E20`.
    pub fn handle_send_failed(&mut self, now: Instant, id: CommandId, error: &LinkError) {
        if let Some(i) = self.in_flight.iter().position(|f| f.id == id) {
            let f = self.in_flight.remove(i);
            self.finish_in_flight(f, Failure::Unreachable(error.to_string()));
        }
        self.handle_timeout(now);
    }

    /// Ends commands whose deadline has passed and sends what can be sent.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.queue.len() {
            if self.queue[i].command.deadline <= now {
                if let Some(q) = self.queue.remove(i) {
                    self.finish_queued(q.command, Failure::NotSent);
                }
            } else {
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].deadline <= now {
                let f = self.in_flight.remove(i);
                self.finish_in_flight(f, Failure::NoResponse);
            } else {
                i += 1;
            }
        }
        self.dispatch(now);
    }

    /// Applies a change to the device log copy.
    pub fn apply_device_log(&mut self, update: DeviceLogUpdate) -> Result<(), DeviceLogError> {
        self.log.apply(update)
    }

    /// Applies what the CHF reported: devices whose type the copy does not know yet are
    /// recorded as [`DeviceType::Unknown`]. A change that would overfill the copy leaves it
    /// as it was.
    fn apply_log_change(&mut self, change: &LogChange) {
        let entry = |device: &Eui| DeviceLogEntry {
            device: *device,
            device_type: DeviceType::Unknown,
        };
        let mut log = self.log.clone();
        let applied = match change {
            LogChange::Add(devices) => devices
                .iter()
                .try_for_each(|d| log.apply(DeviceLogUpdate::Add(entry(d)))),
            LogChange::Remove(devices) => devices
                .iter()
                .try_for_each(|d| log.apply(DeviceLogUpdate::Remove(*d))),
            LogChange::Replace(devices) => log.apply(DeviceLogUpdate::Replace(
                devices.iter().map(entry).collect(),
            )),
        };
        if applied.is_ok() {
            self.log = log;
        }
    }

    /// The next command to hand to the link.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event to act on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`HubCore::handle_timeout`] must be called next: the earliest deadline held.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let q = self.queue.iter().map(|q| q.command.deadline);
        let f = self.in_flight.iter().map(|f| f.deadline);
        q.chain(f).min()
    }

    fn fresh_id(&mut self) -> CommandId {
        self.next_id += 1;
        CommandId(self.next_id)
    }

    fn dispatch(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.queue.len() && self.in_flight.len() < self.limits.per_hub {
            let device = self.queue[i].command.device;
            let busy = self.in_flight.iter().filter(|f| f.device == device).count();
            if busy >= self.limits.per_device {
                // Later commands for this device stay behind this one.
                i += 1;
                continue;
            }
            let Some(q) = self.queue.remove(i) else {
                break;
            };
            let id = self.fresh_id();
            let c = q.command;
            let log_change = (c.device == self.hub
                && transform::CHF_LOG_CODES.contains(&c.message_code))
            .then(|| transform::chf_log_change(&c.bytes))
            .flatten();
            self.in_flight.push(InFlight {
                id,
                request_ref: c.request_ref,
                device: c.device,
                originator: q.originator,
                message_code: c.message_code,
                counter: c.counter,
                deadline: c.deadline,
                sent_at: now,
                log_change,
            });
            self.transmits.push_back(Transmit {
                id,
                device: c.device,
                bytes: c.bytes,
            });
        }
    }

    fn match_response(&self, h: &GroupingHeader<'_>) -> Option<usize> {
        self.in_flight.iter().position(|f| {
            f.counter == h.counter
                && f.message_code == h.other_info.message_code
                && f.device == h.originator
                && f.originator == h.recipient
        })
    }

    /// Records an alert counter; false when it does not advance (a replay).
    fn advance_alert_counter(&mut self, device: Eui, counter: u64) -> bool {
        match self.alert_counters.iter_mut().find(|(d, _)| *d == device) {
            Some((_, last)) if counter <= *last => false,
            Some((_, last)) => {
                *last = counter;
                true
            }
            None => {
                if self.alert_counters.len() >= MAX_ALERT_COUNTERS {
                    // Forget the device seen longest ago rather than grow.
                    self.alert_counters.remove(0);
                }
                self.alert_counters.push((device, counter));
                true
            }
        }
    }

    fn finish_queued(&mut self, c: Command, failure: Failure) {
        self.count_failure(&failure);
        self.events.push_back(Event::Finished {
            outcome: Outcome {
                request_ref: c.request_ref,
                hub: self.hub,
                device: c.device,
                message_code: c.message_code,
                counter: c.counter,
                result: OutcomeResult::Failed(failure),
            },
            stage: Stage::Queued,
        });
    }

    fn finish_in_flight(&mut self, f: InFlight, failure: Failure) {
        self.count_failure(&failure);
        self.events.push_back(Event::Finished {
            outcome: Outcome {
                request_ref: f.request_ref,
                hub: self.hub,
                device: f.device,
                message_code: f.message_code,
                counter: f.counter,
                result: OutcomeResult::Failed(failure),
            },
            stage: Stage::InFlight,
        });
    }

    fn count_failure(&mut self, failure: &Failure) {
        match failure.response_code() {
            "E21" => self.counters.e21 += 1,
            _ => self.counters.e20 += 1,
        }
    }

    fn drop_inbound(&mut self, reason: DropReason) {
        match reason {
            DropReason::Unmatched => self.counters.unmatched += 1,
            _ => self.counters.malformed += 1,
        }
        self.events.push_back(Event::Dropped(reason));
    }

    fn reject(&mut self, failure: AuthFailure) {
        self.counters.auth_failures += 1;
        self.events.push_back(Event::Rejected(failure));
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The monotonic instant of wall-clock `target_ms`, given that `now` is `wall_ms`.
fn instant_at(now: Instant, wall_ms: i64, target_ms: i64) -> Instant {
    let delta = target_ms.saturating_sub(wall_ms);
    if delta <= 0 {
        return now;
    }
    let ahead = Duration::from_millis(delta.unsigned_abs());
    now.checked_add(ahead)
        .unwrap_or(now + Duration::from_secs(86_400 * 365))
}

/// The wall-clock milliseconds of `at`, given that `now` is `wall_ms`.
fn wall_ms_at(now: Instant, wall_ms: i64, at: Instant) -> i64 {
    if at >= now {
        let ahead = i64::try_from(at.duration_since(now).as_millis()).unwrap_or(i64::MAX);
        wall_ms.saturating_add(ahead)
    } else {
        let behind = i64::try_from(now.duration_since(at).as_millis()).unwrap_or(i64::MAX);
        wall_ms.saturating_sub(behind)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;
    use std::sync::OnceLock;

    use super::*;
    use crate::testkit::{self, ESME, GSME, Keys, PPMID, SUPPLIER};

    fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| Keys::load(&hubgate_protocol::conformance::require()).unwrap())
    }

    fn command(device: Eui, counter: u64, deadline: Instant) -> ValidCommand {
        Command {
            request_ref: format!("ref-{counter}"),
            hub: testkit::CHF,
            device,
            message_code: 0x0027,
            counter,
            bytes: keys()
                .command(SUPPLIER, device, counter, 0x0027, &[0xd9, 0x20, 0, 0, 1])
                .unwrap(),
            deadline,
        }
        .validate()
        .unwrap()
    }

    fn response(device: Eui, counter: u64) -> Vec<u8> {
        keys()
            .device_message(
                Cra::Response,
                device,
                SUPPLIER,
                counter,
                0x0027,
                &testkit::access_response(counter),
            )
            .unwrap()
    }

    fn sent(core: &mut HubCore) -> Vec<(Eui, u64)> {
        std::iter::from_fn(|| core.poll_transmit())
            .map(|t| {
                let m = gbcs::parse(&t.bytes).unwrap();
                assert_eq!(m.header.recipient, t.device);
                (t.device, m.header.counter)
            })
            .collect()
    }

    fn events(core: &mut HubCore) -> Vec<Event> {
        std::iter::from_fn(|| core.poll_event()).collect()
    }

    fn finished(ev: &[Event]) -> Vec<(u64, &'static str, Stage)> {
        ev.iter()
            .filter_map(|e| match e {
                Event::Finished { outcome, stage } => {
                    Some((outcome.counter, outcome.result.label(), *stage))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_command_per_device_in_order_and_a_hub_limit() {
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(30);
        let limits = HubLimits {
            queue_capacity: 16,
            per_device: 1,
            per_hub: 2,
        };
        let mut core = HubCore::new(testkit::CHF, limits);
        for (d, c) in [(ESME, 1), (ESME, 2), (GSME, 3), (PPMID, 4), (GSME, 5)] {
            core.handle_submit(t0, command(d, c, far));
        }
        // ESME 2 waits behind ESME 1; GSME 3 fills the hub.
        assert_eq!(sent(&mut core), vec![(ESME, 1), (GSME, 3)]);
        assert_eq!((core.queued(), core.in_flight()), (3, 2));
        let v = keys().verifier();
        core.handle_inbound(t0, response(GSME, 3), &v);
        assert_eq!(
            finished(&events(&mut core)),
            vec![(3, "response", Stage::InFlight)]
        );
        // The first queued command whose device is free goes next: ESME 2 is still blocked.
        assert_eq!(sent(&mut core), vec![(PPMID, 4)]);
        core.handle_inbound(t0, response(ESME, 1), &v);
        events(&mut core);
        assert_eq!(sent(&mut core), vec![(ESME, 2)]);
        core.handle_inbound(t0, response(PPMID, 4), &v);
        events(&mut core);
        assert_eq!(sent(&mut core), vec![(GSME, 5)]);
        assert_eq!(core.counters().responses, 3);
        assert!(!core.is_idle());
    }

    #[test]
    fn deadlines_end_queued_commands_with_e20_and_sent_ones_with_e21() {
        let t0 = Instant::now();
        let mut core = HubCore::new(testkit::CHF, HubLimits::default());
        core.handle_submit(t0, command(ESME, 1, t0 + Duration::from_secs(10)));
        core.handle_submit(t0, command(ESME, 2, t0 + Duration::from_secs(5)));
        assert_eq!(sent(&mut core), vec![(ESME, 1)]);
        assert_eq!(core.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        core.handle_timeout(t0 + Duration::from_millis(4999));
        assert!(events(&mut core).is_empty());
        core.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(
            finished(&events(&mut core)),
            vec![(2, "E20", Stage::Queued)]
        );
        assert_eq!(core.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        core.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(
            finished(&events(&mut core)),
            vec![(1, "E21", Stage::InFlight)]
        );
        assert!(core.is_idle());
        assert_eq!(core.poll_timeout(), None);
        // The late response matches nothing now.
        core.handle_inbound(
            t0 + Duration::from_secs(11),
            response(ESME, 1),
            &keys().verifier(),
        );
        assert_eq!(
            events(&mut core),
            vec![Event::Dropped(DropReason::Unmatched)]
        );
        let c = core.counters();
        assert_eq!((c.e20, c.e21, c.unmatched, c.accepted), (1, 1, 1, 2));
        // A command whose deadline has already passed never leaves.
        core.handle_submit(t0 + Duration::from_secs(20), command(GSME, 3, t0));
        assert!(sent(&mut core).is_empty());
        assert_eq!(
            finished(&events(&mut core)),
            vec![(3, "E20", Stage::Queued)]
        );
    }

    #[test]
    fn link_refusal_is_e20_and_frees_the_device() {
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(30);
        let mut core = HubCore::new(testkit::CHF, HubLimits::default());
        core.handle_submit(t0, command(ESME, 1, far));
        core.handle_submit(t0, command(ESME, 2, far));
        let t = core.poll_transmit().unwrap();
        core.handle_send_failed(t0, t.id, &LinkError::Unreachable("x".into()));
        let ev = events(&mut core);
        assert_eq!(finished(&ev), vec![(1, "E20", Stage::InFlight)]);
        match &ev[0] {
            Event::Finished { outcome, .. } => assert_eq!(
                outcome.result,
                OutcomeResult::Failed(Failure::Unreachable("hub x unreachable".into()))
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(sent(&mut core), vec![(ESME, 2)]);
    }

    #[test]
    fn only_an_authentic_response_from_the_right_parties_ends_a_command() {
        let t0 = Instant::now();
        let mut core = HubCore::new(testkit::CHF, HubLimits::default());
        core.handle_submit(t0, command(ESME, 7, t0 + Duration::from_secs(30)));
        sent(&mut core);
        let v = keys().verifier();
        let k = keys();
        let body = testkit::access_response(7);
        let unmatched = [
            k.device_message(Cra::Response, ESME, SUPPLIER, 8, 0x0027, &body)
                .unwrap(),
            k.device_message(Cra::Response, ESME, SUPPLIER, 7, 0x0028, &body)
                .unwrap(),
            k.device_message(Cra::Response, GSME, SUPPLIER, 7, 0x0027, &body)
                .unwrap(),
            k.device_message(
                Cra::Response,
                ESME,
                testkit::NETWORK_OPERATOR,
                7,
                0x0027,
                &body,
            )
            .unwrap(),
        ];
        for m in unmatched {
            core.handle_inbound(t0, m, &v);
            assert_eq!(
                events(&mut core),
                vec![Event::Dropped(DropReason::Unmatched)]
            );
        }
        core.handle_inbound(t0, vec![0xdd, 0x00], &v);
        assert_eq!(
            events(&mut core),
            vec![Event::Dropped(DropReason::Malformed)]
        );
        let cmd = k.command(SUPPLIER, ESME, 9, 0x0027, &[1]).unwrap();
        core.handle_inbound(t0, cmd, &v);
        assert_eq!(events(&mut core), vec![Event::Dropped(DropReason::Command)]);
        let mut forged = response(ESME, 7);
        let n = forged.len();
        forged[n - 1] ^= 1;
        core.handle_inbound(t0, forged, &v);
        assert_eq!(events(&mut core), vec![Event::Rejected(AuthFailure::Mac)]);
        assert_eq!(
            core.in_flight(),
            1,
            "a forged response does not end the command"
        );
        let genuine = response(ESME, 7);
        core.handle_inbound(t0 + Duration::from_millis(250), genuine.clone(), &v);
        match events(&mut core).as_slice() {
            [
                Event::Finished {
                    outcome,
                    stage: Stage::InFlight,
                },
            ] => {
                assert_eq!(outcome.request_ref, "ref-7");
                assert_eq!(
                    outcome.result,
                    OutcomeResult::Response {
                        bytes: genuine,
                        round_trip: Duration::from_millis(250)
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        let c = core.counters();
        assert_eq!(
            (c.unmatched, c.malformed, c.auth_failures, c.responses),
            (4, 2, 1, 1)
        );
    }

    #[test]
    fn alerts_are_authenticated_and_replays_dropped() {
        let t0 = Instant::now();
        let mut core = HubCore::new(testkit::CHF, HubLimits::default());
        let v = keys().verifier();
        let alert = |ctr| {
            keys()
                .device_message(
                    Cra::Alert,
                    ESME,
                    SUPPLIER,
                    ctr,
                    0x1001,
                    &testkit::alert_notification(ctr, 0x8f0a),
                )
                .unwrap()
        };
        core.handle_inbound(t0, alert(100), &v);
        match events(&mut core).as_slice() {
            [Event::Alert(a)] => {
                assert_eq!(
                    (a.device, a.recipient, a.counter, a.message_code),
                    (ESME, SUPPLIER, 100, 0x1001)
                );
                assert_eq!(a.bytes, alert(100));
            }
            other => panic!("{other:?}"),
        }
        core.handle_inbound(t0, alert(100), &v);
        assert_eq!(events(&mut core), vec![Event::Dropped(DropReason::Replay)]);
        let mut forged = alert(101);
        let n = forged.len();
        forged[n - 3] ^= 4;
        core.handle_inbound(t0, forged, &v);
        assert_eq!(events(&mut core), vec![Event::Rejected(AuthFailure::Mac)]);
        // The forged alert did not move the counter: the genuine 101 still passes.
        core.handle_inbound(t0, alert(101), &v);
        assert!(matches!(events(&mut core).as_slice(), [Event::Alert(_)]));
        assert_eq!(core.counters().alerts, 2);
    }

    #[test]
    fn snapshot_and_restore_keep_queue_in_flight_log_and_counters() {
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let mut core = HubCore::new(testkit::CHF, HubLimits::default());
        core.apply_device_log(DeviceLogUpdate::Add(crate::DeviceLogEntry {
            device: ESME,
            device_type: crate::DeviceType::Esme,
        }))
        .unwrap();
        core.handle_submit(t0, command(ESME, 1, t0 + Duration::from_secs(30)));
        core.handle_submit(t0, command(ESME, 2, t0 + Duration::from_secs(40)));
        sent(&mut core);
        let state = core.snapshot(t0, wall);
        assert_eq!(state.queued.len(), 1);
        assert_eq!(state.in_flight.len(), 1);
        let state = HubState::decode(&state.encode()).unwrap();
        // Restored 10 s later: deadlines keep their wall-clock time.
        let t1 = t0 + Duration::from_secs(100);
        let (mut back, report) = HubCore::restore(
            state,
            HubLimits::default(),
            t1,
            wall + Duration::from_secs(10),
        );
        assert_eq!(
            report,
            Restored {
                queued: 1,
                in_flight: 1,
                invalid: 0
            }
        );
        assert_eq!(back.device_log().entries().len(), 1);
        assert_eq!(back.counters().accepted, 2);
        assert_eq!(back.poll_timeout(), Some(t1 + Duration::from_secs(20)));
        // The restored in-flight command still takes its response.
        back.handle_inbound(t1, response(ESME, 1), &keys().verifier());
        assert_eq!(
            finished(&events(&mut back)),
            vec![(1, "response", Stage::InFlight)]
        );
        assert_eq!(sent(&mut back), vec![(ESME, 2)]);
        back.handle_timeout(t1 + Duration::from_secs(30));
        assert_eq!(
            finished(&events(&mut back)),
            vec![(2, "E21", Stage::InFlight)]
        );
    }

    /// A DLMS payload of the device-log tests.
    fn dlms(apdu: hubgate_protocol::gbcs::payload::dlms::Apdu<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        apdu.encode(&mut out);
        out
    }

    /// A CHF device-log command from the ACB: `method` of the CHF Device Log with `data`.
    fn chf_log_command(
        code: u16,
        counter: u64,
        method: i8,
        data: hubgate_protocol::gbcs::payload::data::Data<'_>,
    ) -> ValidCommand {
        use hubgate_protocol::gbcs::payload::dlms::{
            AccessRequest, AccessRequestSpec, Apdu, CosemDescriptor, LongInvokeId, Obis,
        };
        let content = dlms(Apdu::AccessRequest(AccessRequest {
            invoke_id: LongInvokeId::for_counter(counter),
            date_time: None,
            specifications: vec![AccessRequestSpec::Action(CosemDescriptor {
                class_id: 104,
                instance_id: Obis([0, 0, 30, 3, 0, 255]),
                id: method,
            })],
            data: vec![data],
        }));
        Command {
            request_ref: format!("log-{counter}"),
            hub: testkit::CHF,
            device: testkit::CHF,
            message_code: code,
            counter,
            bytes: keys()
                .command(testkit::ACB, testkit::CHF, counter, code, &content)
                .unwrap(),
            deadline: Instant::now() + Duration::from_secs(30),
        }
        .validate()
        .unwrap()
    }

    /// The CHF's answer to a device-log command: one action result.
    fn chf_log_response(code: u16, counter: u64, result: u8) -> Vec<u8> {
        use hubgate_protocol::gbcs::payload::data::Data;
        use hubgate_protocol::gbcs::payload::dlms::{
            AccessResponse, AccessResponseSpec, ActionResult, Apdu, LongInvokeId,
        };
        let body = dlms(Apdu::AccessResponse(AccessResponse {
            invoke_id: LongInvokeId::for_counter(counter),
            date_time: None,
            request_specifications: None,
            data: vec![Data::Null],
            specifications: vec![AccessResponseSpec::Action(ActionResult(result))],
        }));
        keys()
            .device_message(
                Cra::Response,
                testkit::CHF,
                testkit::ACB,
                counter,
                code,
                &body,
            )
            .unwrap()
    }

    /// A CS14 alert from `device` carrying the whitelist `devices`.
    fn cs14(device: Eui, counter: u64, devices: &[Eui]) -> Vec<u8> {
        use hubgate_protocol::gbcs::payload::data::Data;
        use hubgate_protocol::gbcs::payload::dlms::{Apdu, DataNotification, LongInvokeId};
        let time = [0x07, 0xdf, 1, 1, 0xff, 0, 0, 0, 0, 0x80, 0, 0xff];
        let pan = [0, 1, 2, 3, 4, 5, 6, 7];
        let body = dlms(Apdu::DataNotification(DataNotification {
            invoke_id: LongInvokeId::for_counter(counter),
            date_time: None,
            body: Data::Structure(vec![
                Data::LongUnsigned(0x8f12),
                Data::OctetString(&time),
                Data::Structure(vec![
                    Data::OctetString(&time),
                    Data::OctetString(&pan),
                    Data::Array(
                        devices
                            .iter()
                            .map(|d| {
                                Data::Structure(vec![Data::OctetString(d), Data::OctetString(&[])])
                            })
                            .collect(),
                    ),
                ]),
            ]),
        }));
        keys()
            .device_message(Cra::Alert, device, testkit::ACB, counter, 0x0018, &body)
            .unwrap()
    }

    fn log_of(core: &HubCore) -> Vec<(Eui, crate::DeviceType)> {
        core.device_log()
            .entries()
            .iter()
            .map(|e| (e.device, e.device_type))
            .collect()
    }

    #[test]
    fn device_log_copy_follows_chf_commands_and_cs14_and_survives_passivation() {
        use crate::DeviceType::{Esme, Unknown};
        use hubgate_protocol::gbcs::payload::data::Data;
        let t0 = Instant::now();
        let v = keys().verifier();
        let mut core = HubCore::new(testkit::CHF, HubLimits::default());
        core.apply_device_log(DeviceLogUpdate::Add(crate::DeviceLogEntry {
            device: GSME,
            device_type: crate::DeviceType::Gsme,
        }))
        .unwrap();
        // CCS01 adds the ESME once the CHF answers with success.
        let key = *b"0123456789ABCDEF";
        core.handle_submit(
            t0,
            chf_log_command(
                0x0001,
                5001,
                1,
                Data::Structure(vec![
                    Data::OctetString(&ESME),
                    Data::OctetString(&key),
                    Data::LongUnsigned(90),
                ]),
            ),
        );
        assert_eq!(sent(&mut core), vec![(testkit::CHF, 5001)]);
        assert_eq!(log_of(&core).len(), 1, "nothing changes before the answer");
        core.handle_inbound(t0, chf_log_response(0x0001, 5001, 0), &v);
        assert_eq!(
            finished(&events(&mut core)),
            vec![(5001, "response", Stage::InFlight)]
        );
        assert_eq!(
            log_of(&core),
            vec![(GSME, crate::DeviceType::Gsme), (ESME, Unknown)]
        );
        // A CCS02 the CHF refuses (hardware-fault) changes nothing; one it accepts removes.
        core.handle_submit(
            t0,
            chf_log_command(0x0002, 5002, 2, Data::OctetString(&GSME)),
        );
        sent(&mut core);
        core.handle_inbound(t0, chf_log_response(0x0002, 5002, 1), &v);
        events(&mut core);
        assert_eq!(log_of(&core).len(), 2);
        core.handle_submit(
            t0,
            chf_log_command(0x0002, 5003, 2, Data::OctetString(&GSME)),
        );
        sent(&mut core);
        // A forged answer is rejected and does not apply the change.
        let mut forged = chf_log_response(0x0002, 5003, 0);
        let n = forged.len();
        forged[n - 1] ^= 1;
        core.handle_inbound(t0, forged, &v);
        assert_eq!(events(&mut core), vec![Event::Rejected(AuthFailure::Mac)]);
        assert_eq!(log_of(&core).len(), 2);
        core.handle_inbound(t0, chf_log_response(0x0002, 5003, 0), &v);
        events(&mut core);
        assert_eq!(log_of(&core), vec![(ESME, Unknown)]);
        // A CS14 alert from the CHF replaces the copy (known types are kept); one from
        // another device does not.
        core.apply_device_log(DeviceLogUpdate::Add(crate::DeviceLogEntry {
            device: ESME,
            device_type: Esme,
        }))
        .unwrap();
        core.handle_inbound(t0, cs14(ESME, 900, &[PPMID]), &v);
        assert!(matches!(events(&mut core).as_slice(), [Event::Alert(_)]));
        assert_eq!(log_of(&core), vec![(ESME, Esme)]);
        core.handle_inbound(t0, cs14(testkit::CHF, 901, &[PPMID, ESME]), &v);
        assert!(matches!(events(&mut core).as_slice(), [Event::Alert(_)]));
        assert_eq!(log_of(&core), vec![(PPMID, Unknown), (ESME, Esme)]);
        // The copy is persisted with the hub state and comes back after passivation.
        let wall = SystemTime::now();
        let state = HubState::decode(&core.snapshot(t0, wall).encode()).unwrap();
        let (back, _) = HubCore::restore(state, HubLimits::default(), t0, wall);
        assert_eq!(log_of(&back), vec![(PPMID, Unknown), (ESME, Esme)]);
    }

    /// Random submissions, responses, refusals and clock steps against the rules: limits
    /// hold, each device's commands leave in submission order, and every command ends once.
    #[test]
    fn random_action_sequences_keep_the_rules() {
        let devices = [ESME, GSME, PPMID, testkit::GPF];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let v = keys().verifier();
        for round in 0..20 {
            let limits = HubLimits {
                queue_capacity: 1 + rand(12) as usize,
                per_device: 1 + rand(2) as usize,
                per_hub: 1 + rand(4) as usize,
            };
            let t0 = Instant::now();
            let mut now = t0;
            let mut core = HubCore::new(testkit::CHF, limits);
            let mut submitted: HashMap<Eui, Vec<u64>> = HashMap::new();
            let mut transmitted: HashMap<Eui, Vec<u64>> = HashMap::new();
            let mut open: Vec<(Eui, u64, CommandId)> = Vec::new();
            let mut ended: HashMap<u64, usize> = HashMap::new();
            let mut counter = 1000 * round;
            for _ in 0..120 {
                match rand(10) {
                    0..=3 => {
                        counter += 1;
                        let d = devices[rand(4) as usize];
                        let deadline = now + Duration::from_millis(50 + rand(400));
                        submitted.entry(d).or_default().push(counter);
                        core.handle_submit(now, command(d, counter, deadline));
                    }
                    4..=6 if !open.is_empty() => {
                        let (d, c, _) = open.remove(rand(open.len() as u64) as usize);
                        core.handle_inbound(now, response(d, c), &v);
                    }
                    7 if !open.is_empty() => {
                        let (_, _, id) = open.remove(rand(open.len() as u64) as usize);
                        core.handle_send_failed(now, id, &LinkError::Refused("r".into()));
                    }
                    _ => {
                        now += Duration::from_millis(rand(120));
                        core.handle_timeout(now);
                    }
                }
                while let Some(t) = core.poll_transmit() {
                    let c = gbcs::parse(&t.bytes).unwrap().header.counter;
                    transmitted.entry(t.device).or_default().push(c);
                    open.push((t.device, c, t.id));
                }
                for e in events(&mut core) {
                    if let Event::Finished { outcome, .. } = e {
                        *ended.entry(outcome.counter).or_default() += 1;
                        open.retain(|(_, c, _)| *c != outcome.counter);
                    }
                }
                assert!(core.in_flight() <= limits.per_hub);
                for d in devices {
                    let busy = core.in_flight.iter().filter(|f| f.device == d).count();
                    assert!(busy <= limits.per_device);
                }
                assert!(core.queued() + core.in_flight() <= limits.queue_capacity);
            }
            core.handle_timeout(now + Duration::from_secs(10));
            for e in events(&mut core) {
                if let Event::Finished { outcome, .. } = e {
                    *ended.entry(outcome.counter).or_default() += 1;
                }
            }
            assert!(core.is_idle());
            for (d, sent) in &transmitted {
                let order: Vec<u64> = submitted[d]
                    .iter()
                    .copied()
                    .filter(|c| sent.contains(c))
                    .collect();
                assert_eq!(&order, sent, "device order, round {round}");
            }
            let total: usize = submitted.values().map(Vec::len).sum();
            assert_eq!(ended.len(), total, "every command ends, round {round}");
            assert!(ended.values().all(|&n| n == 1), "once, round {round}");
        }
    }
}
