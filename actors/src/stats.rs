//! Exact counters of the registry ([`RegistryStats`]) and the metric handles, looked up once.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

use crate::hub::DropReason;
use crate::metric_name as m;
use crate::verify::AuthFailure;

/// A snapshot of the registry's counters and gauges (the same values the metrics carry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryStats {
    /// Hub actors alive.
    pub active_hubs: usize,
    /// Commands accepted and not yet finished (queued or in flight).
    pub admitted_commands: usize,
    /// Commands in flight.
    pub in_flight_commands: usize,
    /// Hub actors started.
    pub activations: u64,
    /// Hub actors passivated.
    pub passivations: u64,
    /// Commands answered by an authentic response.
    pub responses: u64,
    /// Commands ended with `E20`.
    pub e20: u64,
    /// Commands ended with `E21`.
    pub e21: u64,
    /// Commands the link refused (included in `e20`).
    pub link_failures: u64,
    /// Responses and alerts whose MAC did not verify.
    pub mac_failures: u64,
    /// Responses and alerts whose signature did not verify.
    pub signature_failures: u64,
    /// Responses and alerts rejected for other authentication reasons (unprotected, no key).
    pub other_auth_failures: u64,
    /// Responses matching no command in flight.
    pub unmatched: u64,
    /// Inbound messages that were not GBCS responses or alerts.
    pub malformed: u64,
    /// Authentic alerts whose counter did not advance.
    pub replays: u64,
    /// Alerts handed to the sink.
    pub alerts: u64,
    /// Submissions refused because a hub was full.
    pub saturated_hub: u64,
    /// Submissions refused because a global bound was reached.
    pub saturated_system: u64,
    /// Inbound messages refused because a hub's inbound bound was reached.
    pub inbound_refused: u64,
    /// State store failures.
    pub state_store_failures: u64,
}

/// Where a refusal happened.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    Hub,
    System,
}

/// What was refused.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Command,
    Inbound,
    Control,
}

#[derive(Debug, Default)]
pub(crate) struct Cells {
    pub(crate) active: AtomicUsize,
    pub(crate) admitted: AtomicUsize,
    pub(crate) in_flight: AtomicUsize,
    activations: AtomicU64,
    passivations: AtomicU64,
    responses: AtomicU64,
    e20: AtomicU64,
    e21: AtomicU64,
    link_failures: AtomicU64,
    mac: AtomicU64,
    signature: AtomicU64,
    other_auth: AtomicU64,
    unmatched: AtomicU64,
    malformed: AtomicU64,
    replays: AtomicU64,
    alerts: AtomicU64,
    saturated_hub: AtomicU64,
    saturated_system: AtomicU64,
    inbound_refused: AtomicU64,
    store_failures: AtomicU64,
}

/// Metric handles plus the exact cells behind [`RegistryStats`].
#[derive(Debug)]
pub(crate) struct Stats {
    pub(crate) cells: Cells,
    active: Gauge,
    queued: Gauge,
    in_flight: Gauge,
    depth: Histogram,
    outcome_response: Counter,
    outcome_e20: Counter,
    outcome_e21: Counter,
    timeout_e20: Counter,
    timeout_e21: Counter,
    round_trip: Histogram,
    auth: [Counter; 5],
    dropped: [Counter; 4],
    alerts: Counter,
    saturated: [Counter; 6],
    activations: Counter,
    passivations_idle: Counter,
    passivations_shutdown: Counter,
    link_failures: Counter,
    store_get: Counter,
    store_put: Counter,
    store_decode: Counter,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    /// Looks every handle up in the recorder installed now.
    pub(crate) fn new() -> Self {
        let auth = |kind: &'static str| counter!(m::AUTH_FAILURES_TOTAL, "kind" => kind);
        let dropped = |reason: &'static str| counter!(m::DROPPED_TOTAL, "reason" => reason);
        let sat = |scope: &'static str, kind: &'static str| counter!(m::SATURATED_TOTAL, "scope" => scope, "kind" => kind);
        Stats {
            cells: Cells::default(),
            active: gauge!(m::ACTIVE_HUBS),
            queued: gauge!(m::QUEUED_COMMANDS),
            in_flight: gauge!(m::IN_FLIGHT_COMMANDS),
            depth: histogram!(m::HUB_QUEUE_DEPTH_COMMANDS),
            outcome_response: counter!(m::COMMANDS_TOTAL, "outcome" => "response"),
            outcome_e20: counter!(m::COMMANDS_TOTAL, "outcome" => "E20"),
            outcome_e21: counter!(m::COMMANDS_TOTAL, "outcome" => "E21"),
            timeout_e20: counter!(m::TIMEOUTS_TOTAL, "code" => "E20"),
            timeout_e21: counter!(m::TIMEOUTS_TOTAL, "code" => "E21"),
            round_trip: histogram!(m::ROUND_TRIP_SECONDS),
            auth: [
                auth(AuthFailure::Mac.label()),
                auth(AuthFailure::Signature.label()),
                auth(AuthFailure::Unprotected.label()),
                auth(AuthFailure::NoKey.label()),
                auth(AuthFailure::Internal.label()),
            ],
            dropped: [
                dropped(DropReason::Unmatched.label()),
                dropped(DropReason::Malformed.label()),
                dropped(DropReason::Command.label()),
                dropped(DropReason::Replay.label()),
            ],
            alerts: counter!(m::ALERTS_TOTAL),
            saturated: [
                sat("hub", "command"),
                sat("hub", "inbound"),
                sat("hub", "control"),
                sat("system", "command"),
                sat("system", "inbound"),
                sat("system", "control"),
            ],
            activations: counter!(m::ACTIVATIONS_TOTAL),
            passivations_idle: counter!(m::PASSIVATIONS_TOTAL, "reason" => "idle"),
            passivations_shutdown: counter!(m::PASSIVATIONS_TOTAL, "reason" => "shutdown"),
            link_failures: counter!(m::LINK_FAILURES_TOTAL),
            store_get: counter!(m::STATE_STORE_FAILURES_TOTAL, "op" => "get"),
            store_put: counter!(m::STATE_STORE_FAILURES_TOTAL, "op" => "put"),
            store_decode: counter!(m::STATE_STORE_FAILURES_TOTAL, "op" => "decode"),
        }
    }

    pub(crate) fn snapshot(&self) -> RegistryStats {
        let c = &self.cells;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RegistryStats {
            active_hubs: c.active.load(Ordering::Relaxed),
            admitted_commands: c.admitted.load(Ordering::Relaxed),
            in_flight_commands: c.in_flight.load(Ordering::Relaxed),
            activations: l(&c.activations),
            passivations: l(&c.passivations),
            responses: l(&c.responses),
            e20: l(&c.e20),
            e21: l(&c.e21),
            link_failures: l(&c.link_failures),
            mac_failures: l(&c.mac),
            signature_failures: l(&c.signature),
            other_auth_failures: l(&c.other_auth),
            unmatched: l(&c.unmatched),
            malformed: l(&c.malformed),
            replays: l(&c.replays),
            alerts: l(&c.alerts),
            saturated_hub: l(&c.saturated_hub),
            saturated_system: l(&c.saturated_system),
            inbound_refused: l(&c.inbound_refused),
            state_store_failures: l(&c.store_failures),
        }
    }

    pub(crate) fn activated(&self) {
        bump(&self.cells.activations);
        self.active.increment(1.0);
        self.activations.increment(1);
    }

    /// The active count itself is taken by the registry before activation.
    pub(crate) fn passivated(&self, shutdown: bool) {
        self.cells.active.fetch_sub(1, Ordering::AcqRel);
        bump(&self.cells.passivations);
        self.active.decrement(1.0);
        if shutdown {
            self.passivations_shutdown.increment(1);
        } else {
            self.passivations_idle.increment(1);
        }
    }

    pub(crate) fn admitted(&self, depth_before: usize) {
        self.queued.increment(1.0);
        self.depth.record(depth_before as f64);
    }

    /// Commands that came back from a persisted state, or left with one.
    pub(crate) fn held(&self, queued: usize, in_flight: usize, added: bool) {
        let c = &self.cells;
        let (q, f) = (queued as f64, in_flight as f64);
        if added {
            c.admitted.fetch_add(queued + in_flight, Ordering::AcqRel);
            c.in_flight.fetch_add(in_flight, Ordering::AcqRel);
            self.queued.increment(q);
            self.in_flight.increment(f);
        } else {
            c.admitted.fetch_sub(queued + in_flight, Ordering::AcqRel);
            c.in_flight.fetch_sub(in_flight, Ordering::AcqRel);
            self.queued.decrement(q);
            self.in_flight.decrement(f);
        }
    }

    pub(crate) fn dispatched(&self) {
        self.cells.in_flight.fetch_add(1, Ordering::AcqRel);
        self.queued.decrement(1.0);
        self.in_flight.increment(1.0);
    }

    /// A command finished; `in_flight` tells where it was.
    pub(crate) fn finished(&self, label: &str, in_flight: bool) {
        let c = &self.cells;
        c.admitted.fetch_sub(1, Ordering::AcqRel);
        if in_flight {
            c.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.in_flight.decrement(1.0);
        } else {
            self.queued.decrement(1.0);
        }
        match label {
            "response" => {
                bump(&c.responses);
                self.outcome_response.increment(1);
            }
            "E21" => {
                bump(&c.e21);
                self.outcome_e21.increment(1);
                self.timeout_e21.increment(1);
            }
            _ => {
                bump(&c.e20);
                self.outcome_e20.increment(1);
                self.timeout_e20.increment(1);
            }
        }
    }

    pub(crate) fn round_trip(&self, seconds: f64) {
        self.round_trip.record(seconds);
    }

    pub(crate) fn link_failure(&self) {
        bump(&self.cells.link_failures);
        self.link_failures.increment(1);
    }

    pub(crate) fn rejected(&self, f: AuthFailure) {
        let c = &self.cells;
        let (cell, i) = match f {
            AuthFailure::Mac => (&c.mac, 0),
            AuthFailure::Signature => (&c.signature, 1),
            AuthFailure::Unprotected => (&c.other_auth, 2),
            AuthFailure::NoKey => (&c.other_auth, 3),
            AuthFailure::Internal => (&c.other_auth, 4),
        };
        bump(cell);
        self.auth[i].increment(1);
    }

    pub(crate) fn dropped(&self, r: DropReason) {
        let c = &self.cells;
        let (cell, i) = match r {
            DropReason::Unmatched => (&c.unmatched, 0),
            DropReason::Malformed => (&c.malformed, 1),
            DropReason::Command => (&c.malformed, 2),
            DropReason::Replay => (&c.replays, 3),
        };
        bump(cell);
        self.dropped[i].increment(1);
    }

    pub(crate) fn alert(&self) {
        bump(&self.cells.alerts);
        self.alerts.increment(1);
    }

    pub(crate) fn saturated(&self, scope: Scope, kind: Kind) {
        let c = &self.cells;
        match (scope, kind) {
            (_, Kind::Inbound) => bump(&c.inbound_refused),
            (Scope::Hub, _) => bump(&c.saturated_hub),
            (Scope::System, _) => bump(&c.saturated_system),
        }
        let i = match scope {
            Scope::Hub => 0,
            Scope::System => 3,
        } + match kind {
            Kind::Command => 0,
            Kind::Inbound => 1,
            Kind::Control => 2,
        };
        self.saturated[i].increment(1);
    }

    pub(crate) fn store_failure(&self, op: &str) {
        bump(&self.cells.store_failures);
        match op {
            "get" => self.store_get.increment(1),
            "put" => self.store_put.increment(1),
            _ => self.store_decode.increment(1),
        }
    }
}
