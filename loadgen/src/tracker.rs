//! Matching asynchronous Service Responses and alerts to the requests that caused them.
//!
//! Every device request is registered when it is sent, under its originator and counter
//! (the RequestID of a Send Command repeats its Transform's, so one key follows a critical
//! request through both). When the gateway's answer is an acknowledgement (`I99`) the entry
//! waits for its Service Response; any other answer removes it. A message POSTed to the
//! listener is read as DUIS (the fields used, by [`answer::scan`]); its `RequestID` (or its
//! `ResponseID`, whose EUIs are swapped) finds the entry, and the latency from the request's
//! intended send time is recorded for its SRV, with whether it arrived within the SEC target
//! response time: 30 s for on-demand requests, 24 h from the execution time for future-dated
//! ones (Annex 5; DESIGN.md).
//!
//! Device and DCC alerts are counted by code. Their target is 60 s from the event; the event
//! time is taken as the alert's `ResponseDateTime` (when the DCC built the message), so the
//! figure covers delivery, not the device's own delay.
//!
//! The `HubGate-Message-ID` header identifies a message across delivery attempts: a repeat is
//! counted as a duplicate and not matched twice.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::answer;
use serde::Serialize;

use crate::stats::{Hist, Live, Quantiles};

/// SEC target for on-demand responses: 30 s.
pub const ON_DEMAND_TARGET_MS: i64 = 30_000;
/// SEC target for future-dated responses: 24 h after the execution time.
pub const FUTURE_DATED_TARGET_MS: i64 = 24 * 3600 * 1000;
/// SEC target for alerts: 60 s.
pub const ALERT_TARGET_MS: i64 = 60_000;
/// Most requests waiting for a response at once; beyond it new ones are counted as
/// untracked instead of growing memory without bound.
pub const MAX_PENDING: usize = 2_000_000;

type Key = (u64, u64);

fn key(originator: &[u8; 8], counter: u64) -> Key {
    (u64::from_be_bytes(*originator), counter)
}

#[derive(Debug, Clone)]
struct Pending {
    srv: Arc<str>,
    intended: Instant,
    deadline_ms: i64,
    acknowledged: bool,
}

/// Asynchronous results for one SRV.
#[derive(Debug, Clone, Default)]
pub struct AsyncSrv {
    /// Service Responses matched.
    pub received: u64,
    /// Of those, within the SEC target time.
    pub within_target: u64,
    /// From the request's intended send to the response's arrival.
    pub latency: Hist,
    /// Response codes.
    pub codes: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct Inner {
    pending: HashMap<Key, Pending>,
    seen: HashSet<String>,
    per_srv: BTreeMap<String, AsyncSrv>,
    kinds: BTreeMap<String, u64>,
    alerts: BTreeMap<String, u64>,
    alerts_within_target: u64,
    alert_latency: Hist,
    response_latency: Hist,
    unmatched: u64,
    duplicates: u64,
    unreadable: u64,
    untracked: u64,
}

/// What the listener should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Matched to a request.
    Matched,
    /// An alert.
    Alert,
    /// A Service Response for no request of this run.
    Unmatched,
    /// Seen before (same `HubGate-Message-ID`).
    Duplicate,
    /// Not a DUIS response.
    Unreadable,
}

/// The matcher, shared by the connection tasks and the listener.
#[derive(Debug, Default)]
pub struct Tracker {
    inner: Mutex<Inner>,
    live: Arc<Live>,
}

impl Tracker {
    /// A tracker that also counts deliveries in `live`.
    pub fn new(live: Arc<Live>) -> Tracker {
        Tracker {
            inner: Mutex::default(),
            live,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves counters that are still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a device request about to be sent. `deadline_ms` is the wall-clock instant
    /// (Unix ms) by which its response is due under the SEC target.
    pub fn expect(
        &self,
        originator: &[u8; 8],
        counter: u64,
        srv: Arc<str>,
        intended: Instant,
        deadline_ms: i64,
    ) {
        let mut g = self.lock();
        if g.pending.len() >= MAX_PENDING {
            g.untracked += 1;
            return;
        }
        g.pending.insert(
            key(originator, counter),
            Pending {
                srv,
                intended,
                deadline_ms,
                acknowledged: false,
            },
        );
    }

    /// The request was acknowledged: its response is now awaited.
    pub fn acknowledged(&self, originator: &[u8; 8], counter: u64) {
        if let Some(p) = self.lock().pending.get_mut(&key(originator, counter)) {
            p.acknowledged = true;
        }
    }

    /// The request was refused or answered in full: no response will follow.
    pub fn forget(&self, originator: &[u8; 8], counter: u64) {
        self.lock().pending.remove(&key(originator, counter));
    }

    /// Takes one message POSTed to the listener.
    pub fn deliver(&self, message_id: Option<&str>, body: &[u8], now_ms: i64) -> Outcome {
        let now = Instant::now();
        let response = answer::scan(body);
        let mut g = self.lock();
        if let Some(id) = message_id
            && !g.seen.insert(id.to_string())
        {
            g.duplicates += 1;
            return Outcome::Duplicate;
        }
        Live::bump(&self.live.delivered);
        let Ok(response) = response else {
            g.unreadable += 1;
            return Outcome::Unreadable;
        };
        *g.kinds
            .entry(response.kind.as_str().to_string())
            .or_default() += 1;
        // Only device and DCC alerts carry an alert code.
        if let Some(code) = response.alert_code {
            *g.alerts.entry(code).or_default() += 1;
            if let Some(at) = crate::time::parse_rfc3339_ms(&response.response_date_time) {
                let late = now_ms.saturating_sub(at).max(0);
                g.alert_latency
                    .record_us(u64::try_from(late).unwrap_or(0).saturating_mul(1000));
                if late <= ALERT_TARGET_MS {
                    g.alerts_within_target += 1;
                }
            }
            return Outcome::Alert;
        }
        let code = response.response_code.to_string();
        let k = response
            .request_id
            .map(|id| key(&id.originator, id.counter))
            .or_else(|| response.response_id.map(|id| key(&id.target, id.counter)));
        let Some(pending) = k.and_then(|k| g.pending.remove(&k)) else {
            g.unmatched += 1;
            return Outcome::Unmatched;
        };
        let latency = now.saturating_duration_since(pending.intended);
        g.response_latency.record(latency);
        let entry = g.per_srv.entry(pending.srv.to_string()).or_default();
        entry.received += 1;
        entry.latency.record(latency);
        if now_ms <= pending.deadline_ms {
            entry.within_target += 1;
        }
        *entry.codes.entry(code).or_default() += 1;
        Outcome::Matched
    }

    /// The summary: per-SRV results, requests still waiting, alerts and oddities.
    pub fn summary(&self) -> AsyncSummary {
        let g = self.lock();
        let mut outstanding: BTreeMap<String, u64> = BTreeMap::new();
        for p in g.pending.values().filter(|p| p.acknowledged) {
            *outstanding.entry(p.srv.to_string()).or_default() += 1;
        }
        let mut per_srv = BTreeMap::new();
        let names: HashSet<&String> = g.per_srv.keys().chain(outstanding.keys()).collect();
        for srv in names {
            let a = g.per_srv.get(srv).cloned().unwrap_or_default();
            per_srv.insert(
                srv.clone(),
                AsyncSrvSummary {
                    received: a.received,
                    within_target: a.within_target,
                    within_target_share: share(a.within_target, a.received),
                    outstanding: outstanding.get(srv).copied().unwrap_or(0),
                    latency: a.latency.quantiles(),
                    codes: a.codes,
                },
            );
        }
        let alerts_total: u64 = g.alerts.values().sum();
        AsyncSummary {
            received: g.kinds.values().sum::<u64>() + g.unreadable,
            kinds: g.kinds.clone(),
            matched: per_srv.values().map(|s| s.received).sum(),
            outstanding: outstanding.values().sum(),
            unmatched: g.unmatched,
            duplicates: g.duplicates,
            unreadable: g.unreadable,
            untracked: g.untracked,
            alerts: g.alerts.clone(),
            alerts_within_target: g.alerts_within_target,
            alerts_within_target_share: share(g.alerts_within_target, alerts_total),
            alert_latency: g.alert_latency.quantiles(),
            response_latency: g.response_latency.quantiles(),
            per_srv,
        }
    }

    /// Requests acknowledged and still waiting for their response.
    pub fn outstanding(&self) -> usize {
        self.lock()
            .pending
            .values()
            .filter(|p| p.acknowledged)
            .count()
    }
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Asynchronous results for one SRV, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AsyncSrvSummary {
    /// Service Responses matched.
    pub received: u64,
    /// Of those, within the SEC target time.
    pub within_target: u64,
    /// `within_target / received`.
    pub within_target_share: Option<f64>,
    /// Acknowledged requests whose response had not arrived when the run ended.
    pub outstanding: u64,
    /// Latency from the intended send.
    pub latency: Option<Quantiles>,
    /// Response codes of the Service Responses.
    pub codes: BTreeMap<String, u64>,
}

/// Everything the listener saw.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AsyncSummary {
    /// Messages received (duplicates excluded).
    pub received: u64,
    /// By kind: `response`, `future_dated_alert`, `device_alert`, `dcc_alert`.
    pub kinds: BTreeMap<String, u64>,
    /// Service Responses matched to a request.
    pub matched: u64,
    /// Acknowledged requests still waiting for a response at the end.
    pub outstanding: u64,
    /// Service Responses for no request of this run.
    pub unmatched: u64,
    /// Repeats of a message already received.
    pub duplicates: u64,
    /// Bodies that are not DUIS responses.
    pub unreadable: u64,
    /// Requests not tracked because too many were waiting.
    pub untracked: u64,
    /// Alerts by code (device alert codes in hex, DCC alert codes as written).
    pub alerts: BTreeMap<String, u64>,
    /// Alerts delivered within 60 s of their `ResponseDateTime`.
    pub alerts_within_target: u64,
    /// Their share.
    pub alerts_within_target_share: Option<f64>,
    /// Alert delivery latency (from `ResponseDateTime`).
    pub alert_latency: Option<Quantiles>,
    /// Latency of every matched Service Response, from its request's intended send.
    #[serde(default)]
    pub response_latency: Option<Quantiles>,
    /// Per SRV.
    pub per_srv: BTreeMap<String, AsyncSrvSummary>,
}
