//! A background sender: one thread running its own actix system for its share of the Users
//! (the delivery starts one to four of them), which keeps a schedule of their waiting
//! messages (key and due time), starts at most `concurrency` attempts at once, and
//! settles finished attempts in batches (one store transaction for all that finished
//! together).
//!
//! A message's first attempt normally sends the body handed over with its wake-up
//! ([`Carried`]), which saves reading back from the outbox what was written there a moment
//! before. Those bodies are bounded in total ([`super::Settings::carry_bytes`]); a message
//! woken without one, a retry, and every message resumed at start are read from the outbox.
//! Either way the bytes sent are the ones stored: only this sender removes its Users'
//! messages from the outbox (when settling an attempt, or moving one to the kept table), a
//! message is woken once, and a batch released after the store was reopened (which may have
//! undone it) carries no bodies.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use awc::http::Uri;
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;

use super::outbox::{self, Key, Outbox, Stored};
use super::{Counters, DeliveryError, KeptReason};
use crate::clock::Clock;
use crate::metric_name;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Delivered messages are removed from the outbox in batches: each removal is a store
/// transaction of its own otherwise, which under load costs more CPU than the HTTP POST,
/// and the store has one writer for the whole gateway (acknowledgements wait for it too).
/// A removal waits at most this long (the latency metric is taken when the attempt ends,
/// not when it is recorded, so the wait does not show in it). At a few thousand messages a
/// second, 20 ms gathers some sixty removals per transaction. What the wait costs: the
/// `pending` figures lag by as much, and a crash within it sends those messages again (with
/// the same message ID, as after any crash between an attempt and its settlement)...
const SETTLE_DELAY: Duration = Duration::from_millis(20);
/// ...or until this many attempts have finished. (A failure is recorded at once: it must
/// be rescheduled.)
const SETTLE_BATCH: usize = 256;

/// The header that identifies a message across attempts and restarts.
pub(super) const MESSAGE_ID_HEADER: &str = "HubGate-Message-ID";

/// Checks and parses each endpoint.
pub(super) fn parse_endpoints(
    endpoints: &HashMap<[u8; 8], String>,
) -> Result<HashMap<[u8; 8], Uri>, DeliveryError> {
    let mut out = HashMap::with_capacity(endpoints.len());
    for (user, url) in endpoints {
        let uri = parse_endpoint(url).map_err(|reason| DeliveryError::Endpoint {
            user: hubgate_protocol::hex::eui_duis(user),
            reason,
        })?;
        out.insert(*user, uri);
    }
    Ok(out)
}

/// Checks and parses one endpoint: an `http://` or `https://` URL with a host.
pub(super) fn parse_endpoint(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("{url:?} is not an http:// or https:// URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    Ok(uri)
}

/// The rustls client configuration: aws-lc-rs, the given CAs only, HTTP/1.1.
pub(super) fn tls_config(
    trust: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, DeliveryError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in trust {
        roots.add(c.clone())?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The wait before retry number `retry` (1 for the first): `backoff` doubled `retry - 1`
/// times, at most [`MAX_BACKOFF`].
pub(super) fn backoff_for(backoff: Duration, retry: u32) -> Duration {
    let factor = 1u32 << retry.saturating_sub(1).min(20);
    backoff.saturating_mul(factor).min(MAX_BACKOFF)
}

/// A waiting message in the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: Instant,
    key: Key,
    /// Attempts already made in this run.
    attempts: u32,
}

/// Why an attempt failed.
#[derive(Debug)]
enum Failure {
    Status(u16),
    Timeout,
    Connect(String),
    Transport(String),
}

impl Failure {
    fn label(&self) -> &'static str {
        match self {
            Failure::Status(_) => "status",
            Failure::Timeout => "timeout",
            Failure::Connect(_) => "connect",
            Failure::Transport(_) => "transport",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(s) => write!(f, "HTTP status {s}"),
            Failure::Timeout => f.write_str("no answer in time"),
            Failure::Connect(e) => write!(f, "cannot connect: {e}"),
            Failure::Transport(e) => write!(f, "{e}"),
        }
    }
}

/// What wakes a sender: a message placed in the outbox, with its body when carried.
pub(super) type Wake = (Key, Option<Carried>);

/// A message's body handed to its sender in memory, counted against the carry budget until
/// the sender takes it or it is dropped (a batch never released, a sender that stopped).
#[derive(Debug)]
pub(super) struct Carried {
    budget: Arc<AtomicUsize>,
    /// What it counts for: the body's allocation and the sender's bookkeeping for it.
    reserved: usize,
    kind: super::Kind,
    submitted_ms: i64,
    body: Vec<u8>,
}

/// What a carried body costs besides its bytes (its place in the sender's map).
const CARRY_OVERHEAD: usize = 64;

impl Carried {
    /// Carries `body` if `budget` (bytes carried now) stays within `limit` with it.
    pub(super) fn reserve(
        budget: &Arc<AtomicUsize>,
        limit: usize,
        kind: super::Kind,
        submitted_ms: i64,
        body: Vec<u8>,
    ) -> Option<Carried> {
        let reserved = body.capacity().saturating_add(CARRY_OVERHEAD);
        budget
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(reserved).filter(|total| *total <= limit)
            })
            .ok()?;
        Some(Carried {
            budget: Arc::clone(budget),
            reserved,
            kind,
            submitted_ms,
            body,
        })
    }

    /// The message it carries; what it counted for goes back to the budget.
    fn take(mut self, key: &Key) -> Stored {
        let body = std::mem::take(&mut self.body);
        self.budget
            .fetch_sub(std::mem::take(&mut self.reserved), Ordering::AcqRel);
        let (user, number) = outbox::split(key);
        Stored {
            user,
            number,
            kind: self.kind,
            reason: None,
            submitted_ms: self.submitted_ms,
            body,
        }
    }
}

impl Drop for Carried {
    fn drop(&mut self) {
        self.budget.fetch_sub(self.reserved, Ordering::AcqRel);
    }
}

/// A finished attempt.
struct Outcome {
    due: Due,
    kind: super::Kind,
    submitted_ms: i64,
    /// When the attempt ended, in milliseconds since the Unix epoch.
    finished_ms: i64,
    result: Result<(), Failure>,
}

/// The sender's state, moved onto its thread.
pub(super) struct Sender {
    pub outbox: Arc<Outbox>,
    pub endpoints: HashMap<[u8; 8], Uri>,
    /// For Users without their own endpoint.
    pub default_endpoint: Option<Uri>,
    pub tls: Arc<rustls::ClientConfig>,
    pub retries: u32,
    pub backoff: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
    pub counters: Arc<Counters>,
    pub clock: Arc<dyn Clock>,
}

impl Sender {
    /// Runs until `wake` is closed, starting with the messages in `resume`.
    pub fn run(self, resume: Vec<Key>, wake: UnboundedReceiver<Wake>) {
        actix_web::rt::System::new().block_on(self.serve(resume, wake));
    }

    async fn serve(self, resume: Vec<Key>, mut wake: UnboundedReceiver<Wake>) {
        let client = awc::Client::builder()
            .connector(
                awc::Connector::new()
                    .rustls_0_23(Arc::clone(&self.tls))
                    .timeout(self.timeout)
                    .handshake_timeout(self.timeout)
                    .limit(self.concurrency),
            )
            .disable_redirects()
            .timeout(self.timeout)
            .finish();
        let now = Instant::now();
        let mut schedule: BinaryHeap<Reverse<Due>> = resume
            .into_iter()
            .map(|key| {
                Reverse(Due {
                    at: now,
                    key,
                    attempts: 0,
                })
            })
            .collect();
        let mut running: JoinSet<Outcome> = JoinSet::new();
        // Bodies handed over with their wake-up, until their first attempt starts.
        let mut carried: HashMap<Key, Carried> = HashMap::new();
        // Finished attempts not yet recorded, and when they must be at the latest.
        let mut unsettled: Vec<Outcome> = Vec::new();
        let mut settle_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let mut to_keep = Vec::new();
            while running.len() < self.concurrency {
                let Some(Reverse(due)) = schedule.peek().copied() else {
                    break;
                };
                if due.at > now {
                    break;
                }
                schedule.pop();
                let body = carried.remove(&due.key);
                if carried.is_empty() && carried.capacity() > 1024 {
                    // After a burst: give the map's memory back.
                    carried.shrink_to_fit();
                }
                if let Some(keep) = self.start(&client, &mut running, &mut schedule, due, body) {
                    to_keep.push(keep);
                }
            }
            if !to_keep.is_empty() {
                self.settle(Vec::new(), to_keep, &mut schedule);
                continue;
            }
            let next = schedule.peek().map(|Reverse(d)| d.at);
            let can_start = running.len() < self.concurrency;
            tokio::select! {
                woken = wake.recv() => match woken {
                    Some(first) => {
                        let at = Instant::now();
                        let mut next = Some(first);
                        while let Some((key, body)) = next {
                            if let Some(body) = body {
                                // A key is woken once; should it come twice, one body is kept
                                // (the other, dropped, gives its bytes back).
                                carried.insert(key, body);
                            }
                            schedule.push(Reverse(Due { at, key, attempts: 0 }));
                            next = wake.try_recv().ok();
                        }
                    }
                    None => break,
                },
                Some(done) = running.join_next(), if !running.is_empty() => {
                    let mut finished = vec![done];
                    while let Some(more) = running.try_join_next() {
                        finished.push(more);
                    }
                    unsettled.extend(finished.into_iter().filter_map(|r| {
                        r.map_err(|e| tracing::error!("delivery attempt task: {e}"))
                            .ok()
                    }));
                    let at = *settle_at.get_or_insert_with(|| Instant::now() + SETTLE_DELAY);
                    // Recorded together: at once when a failure needs rescheduling, when
                    // the batch is full or its time is up. Not when nothing else is in
                    // flight: with a few attempts per sender thread that happens between
                    // most messages under load, and each settle would be a transaction.
                    if unsettled.len() >= SETTLE_BATCH
                        || unsettled.iter().any(|o| o.result.is_err())
                        || Instant::now() >= at
                    {
                        settle_at = None;
                        self.settle(std::mem::take(&mut unsettled), Vec::new(), &mut schedule);
                    }
                }
                () = sleep_until(settle_at), if settle_at.is_some() => {
                    settle_at = None;
                    self.settle(std::mem::take(&mut unsettled), Vec::new(), &mut schedule);
                }
                () = sleep_until(next), if can_start && next.is_some() => {}
            }
        }
        if !unsettled.is_empty() {
            self.settle(unsettled, Vec::new(), &mut schedule);
        }
        running.abort_all();
    }

    /// Starts an attempt for `due`; returns it instead when its User has no endpoint now.
    fn start(
        &self,
        client: &awc::Client,
        running: &mut JoinSet<Outcome>,
        schedule: &mut BinaryHeap<Reverse<Due>>,
        due: Due,
        carried: Option<Carried>,
    ) -> Option<(Key, KeptReason)> {
        let read = match carried {
            Some(c) => {
                self.counters.carried.fetch_add(1, Ordering::Relaxed);
                Ok(Some(c.take(&due.key)))
            }
            None => self.outbox.pending(&due.key),
        };
        let message = match read {
            Ok(Some(m)) => m,
            Ok(None) => return None,
            Err(e @ outbox::OutboxError::Corrupt { .. }) => {
                // Left in the outbox (and counted as waiting) for an operator to look at.
                tracing::error!("delivery: {e}; not sent");
                return None;
            }
            Err(e) => {
                let (user, id) = outbox::split(&due.key);
                tracing::error!(
                    user = %hubgate_protocol::hex::eui_duis(&user),
                    id,
                    "delivery: reading the message: {e:#}; trying again later"
                );
                schedule.push(Reverse(Due {
                    at: Instant::now() + backoff_for(self.backoff, due.attempts + 1),
                    ..due
                }));
                return None;
            }
        };
        let Some(uri) = self
            .endpoints
            .get(&message.user)
            .or(self.default_endpoint.as_ref())
        else {
            // The configuration changed since the message was queued.
            return Some((due.key, KeptReason::NoEndpoint));
        };
        let request = client
            .post(uri.clone())
            .insert_header((awc::http::header::CONTENT_TYPE, "application/xml"))
            .insert_header((MESSAGE_ID_HEADER, message.number.to_string()))
            .timeout(self.timeout);
        let Stored {
            kind,
            submitted_ms,
            body,
            ..
        } = message;
        let clock = Arc::clone(&self.clock);
        running.spawn_local(async move {
            let result = match request.send_body(body).await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(Failure::Status(response.status().as_u16())),
                Err(awc::error::SendRequestError::Timeout) => Err(Failure::Timeout),
                Err(awc::error::SendRequestError::Connect(e)) => {
                    Err(Failure::Connect(e.to_string()))
                }
                Err(e) => Err(Failure::Transport(e.to_string())),
            };
            Outcome {
                due,
                kind,
                submitted_ms,
                finished_ms: clock.now_ms(),
                result,
            }
        });
        None
    }

    /// Records finished attempts (and messages to keep without an attempt) in one store
    /// transaction, and reschedules failures that have retries left.
    fn settle(
        &self,
        outcomes: Vec<Outcome>,
        mut keep: Vec<(Key, KeptReason)>,
        schedule: &mut BinaryHeap<Reverse<Due>>,
    ) {
        let now = Instant::now();
        let mut delivered = Vec::new();
        let mut retry = Vec::new();
        for o in &outcomes {
            let (user, id) = outbox::split(&o.due.key);
            match &o.result {
                Ok(()) => delivered.push(o.due.key),
                Err(failure) => {
                    self.counters
                        .failed_attempts
                        .fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(
                        metric_name::DELIVERY_FAILED_ATTEMPTS_TOTAL,
                        "reason" => failure.label()
                    )
                    .increment(1);
                    let attempts = o.due.attempts + 1;
                    if attempts <= self.retries {
                        let wait = backoff_for(self.backoff, attempts);
                        tracing::debug!(
                            user = %hubgate_protocol::hex::eui_duis(&user),
                            id,
                            attempt = attempts,
                            "delivery failed: {failure}; retrying in {wait:?}"
                        );
                        retry.push(Due {
                            at: now + wait,
                            key: o.due.key,
                            attempts,
                        });
                    } else {
                        tracing::warn!(
                            user = %hubgate_protocol::hex::eui_duis(&user),
                            id,
                            attempts,
                            "delivery failed: {failure}; kept for the User to pull"
                        );
                        keep.push((o.due.key, KeptReason::RetriesExhausted));
                    }
                }
            }
        }
        if !retry.is_empty() {
            let n = u64::try_from(retry.len()).unwrap_or(u64::MAX);
            self.counters.retries.fetch_add(n, Ordering::Relaxed);
            metrics::counter!(metric_name::DELIVERY_RETRIES_TOTAL).increment(n);
            schedule.extend(retry.into_iter().map(Reverse));
        }
        if delivered.is_empty() && keep.is_empty() {
            return;
        }
        match self.outbox.settle(&delivered, &keep) {
            Ok(settled) => {
                let removed: std::collections::HashSet<Key> =
                    settled.removed.iter().copied().collect();
                for o in outcomes
                    .iter()
                    .filter(|o| o.result.is_ok() && removed.contains(&o.due.key))
                {
                    metrics::counter!(
                        metric_name::DELIVERY_DELIVERED_TOTAL,
                        "kind" => o.kind.label()
                    )
                    .increment(1);
                    let seconds =
                        o.finished_ms.saturating_sub(o.submitted_ms).max(0) as f64 / 1000.0;
                    metrics::histogram!(metric_name::DELIVERY_LATENCY_SECONDS).record(seconds);
                }
                let n_removed = u64::try_from(settled.removed.len()).unwrap_or(u64::MAX);
                let n_kept = u64::try_from(settled.kept.len()).unwrap_or(u64::MAX);
                self.counters
                    .delivered
                    .fetch_add(n_removed, Ordering::Relaxed);
                for (_, s) in &settled.kept {
                    self.counters
                        .kept(s.kind, s.reason.unwrap_or(KeptReason::RetriesExhausted), 1);
                }
                self.counters.shift((0, n_removed + n_kept), (n_kept, 0));
            }
            Err(e) => {
                // Everything stays in the outbox; try to record it again shortly. A delivered
                // message may then be sent twice, which the message ID lets receivers spot.
                tracing::error!("delivery: recording outcomes: {e:#}; retrying");
                let at = now + self.backoff.max(Duration::from_millis(100));
                for k in delivered
                    .into_iter()
                    .chain(keep.into_iter().map(|(k, _)| k))
                {
                    schedule.push(Reverse(Due {
                        at,
                        key: k,
                        attempts: self.retries,
                    }));
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carried_bodies_stay_within_the_budget_and_give_it_back() {
        let budget = Arc::new(AtomicUsize::new(0));
        let body = |n: usize| {
            let mut v = Vec::with_capacity(n);
            v.resize(n, b'x');
            v
        };
        let limit = 10 + 2 * CARRY_OVERHEAD;
        let carry =
            |n: usize| Carried::reserve(&budget, limit, super::super::Kind::Response, 7, body(n));
        let a = carry(6).expect("fits");
        assert!(carry(5).is_none(), "6 + 5 bytes are over the limit");
        let b = carry(4).expect("6 + 4 bytes fit");
        assert_eq!(budget.load(Ordering::Acquire), limit);
        assert!(carry(0).is_none(), "an empty body still counts");
        let key = outbox::key([1; 8], 42);
        let m = a.take(&key);
        assert_eq!((m.user, m.number, m.submitted_ms), ([1; 8], 42, 7));
        assert_eq!(m.body, vec![b'x'; 6]);
        assert_eq!(budget.load(Ordering::Acquire), 4 + CARRY_OVERHEAD);
        drop(b);
        assert_eq!(
            budget.load(Ordering::Acquire),
            0,
            "a dropped body gives its bytes back"
        );
        let mut spare = Vec::with_capacity(limit);
        spare.push(1u8);
        assert!(
            Carried::reserve(&budget, limit, super::super::Kind::Response, 7, spare).is_none(),
            "counted by its allocation, not its length"
        );
        assert_eq!(budget.load(Ordering::Acquire), 0);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Duration::from_millis(500);
        assert_eq!(backoff_for(b, 1), Duration::from_millis(500));
        assert_eq!(backoff_for(b, 2), Duration::from_millis(1000));
        assert_eq!(backoff_for(b, 4), Duration::from_millis(4000));
        assert_eq!(backoff_for(b, 40), MAX_BACKOFF);
        assert_eq!(backoff_for(Duration::MAX, 3), MAX_BACKOFF);
    }

    #[test]
    fn endpoints_must_be_http_urls_with_a_host() {
        let user = [1u8; 8];
        for (url, ok) in [
            ("https://supplier.example:8443/duis", true),
            ("http://127.0.0.1:9000/", true),
            ("ftp://supplier.example/", false),
            ("not a url", false),
            ("/relative", false),
        ] {
            let m = HashMap::from([(user, url.to_string())]);
            assert_eq!(parse_endpoints(&m).is_ok(), ok, "{url}");
        }
    }
}
