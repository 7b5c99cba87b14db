//! Asynchronous delivery of Service Responses and Alerts to Users: a durable outbox, a
//! background sender that POSTs each message to its User's endpoint, and a pull endpoint for
//! what could not be delivered.
//!
//! # Guarantees
//!
//! - **Durable before acknowledged.** [`Delivery::submit`] returns only once the message is
//!   committed to the store (one fsync; [`Delivery::submit_batch`] stores many in one). A
//!   message that was submitted survives a crash or restart: it is then delivered or kept.
//! - **Never dropped silently.** A message is removed only when its User's endpoint answers
//!   2xx, or when the User acknowledges it after pulling it. When the User has no endpoint
//!   (`users.<id>.delivery_endpoint` and `delivery.default_endpoint` unset), or every
//!   attempt failed, the message is *kept*
//!   for the User to pull and counted in `hubgate_delivery_undelivered_total{reason}`.
//! - **Bounded.** At most `delivery.max_messages_per_user` messages are held per User
//!   (waiting or kept); beyond it [`Delivery::submit`] fails with [`SubmitError::Full`],
//!   which the caller turns into a DUIS error. Nothing is ever evicted to make room. At most
//!   `delivery.concurrency` attempts are in flight on each of the `delivery.threads` sender
//!   threads, holding at most that many bodies in memory; the senders' schedules keep only
//!   a 16-byte key and a due time per waiting message. Besides, bodies handed to the senders
//!   with their wake-up for a first attempt take at most 16 MiB in all
//!   ([`Settings::carry_bytes`]); beyond it a sender reads the message from the outbox.
//! - **At least once.** A message whose 2xx answer is lost (or that was in flight when the
//!   gateway stopped) is sent again. Every POST carries `HubGate-Message-ID: <id>`, the
//!   same on every attempt and across restarts, so a receiver can drop repeats. Messages for
//!   one User may arrive out of submission order when some are retried.
//!
//! # Delivery
//!
//! Each message is POSTed with `Content-Type: application/xml` to the User's endpoint
//! (`http://` or `https://`), redirects not followed: its own `users.<id>.delivery_endpoint`,
//! else `delivery.default_endpoint` (one receiver for many Users, such as a load generator's
//! listener), else none. A failed attempt — connection refused,
//! TLS failure, no answer within `delivery.timeout_ms`, or any non-2xx status — is retried
//! after `delivery.backoff_ms`, doubling for each further retry (at most an hour), up to
//! `delivery.retries` times; then the message is kept for pulling. A restart resumes every
//! waiting message with a fresh set of attempts.
//!
//! For `https://` endpoints the gateway trusts the CAs in `delivery.ca`, by default the local
//! TLS CA `<data_dir>/tls/ca.pem` **and nothing else** — no public web roots: a User's
//! endpoint must present a certificate issued by a CA the operator chose. The gateway
//! presents no client certificate.
//!
//! # Pulling kept messages
//!
//! See [`pull`]: `GET /api/v1/responses` gives the authenticated User its oldest kept
//! messages, each with a *pull sequence*; `POST /api/v1/responses/ack?through=N` (or
//! `DELETE /api/v1/responses/N` for one) removes them. A message becomes visible to the
//! pull endpoint with a sequence greater than every sequence handed out before, so
//! acknowledging "through N" never removes a message the User has not seen. The User is
//! identified by its mutual-TLS client certificate ([`identity`]) or by a bearer token
//! (`users.<id>.pull_token`).
//!
//! # Layout
//!
//! - [`outbox`]: the redb tables and their transactions.
//! - `sender`: the background threads that POST messages (actix's HTTP client, rustls with
//!   aws-lc-rs): a quarter of the cores, one to four, each sending the messages of its share
//!   of the Users.
//! - [`identity`]: the User behind a request (client certificate or bearer token).
//! - [`pull`]: the HTTP endpoints.

pub mod identity;
pub mod outbox;
pub mod pull;
mod sender;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::clock::Clock;
use crate::config::Config;
use crate::metric_name;
use crate::store::{Store, StoreError};
use outbox::{New, Outbox, OutboxError, Placed};

/// What a message is. Only used for labels and for the pull endpoint's `kind` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A Service Response.
    Response,
    /// A Device Alert.
    DeviceAlert,
    /// A DCC Alert.
    DccAlert,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::Response, Kind::DeviceAlert, Kind::DccAlert];

    /// Label for metrics and the pull endpoint.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Response => "response",
            Kind::DeviceAlert => "device_alert",
            Kind::DccAlert => "dcc_alert",
        }
    }

    fn code(self) -> u8 {
        match self {
            Kind::Response => 1,
            Kind::DeviceAlert => 2,
            Kind::DccAlert => 3,
        }
    }

    fn from_code(c: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == c)
    }
}

/// Why a message is kept for its User to pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeptReason {
    /// The User has no delivery endpoint.
    NoEndpoint,
    /// Every delivery attempt failed.
    RetriesExhausted,
}

impl KeptReason {
    /// Label for metrics and the pull endpoint.
    pub fn label(self) -> &'static str {
        match self {
            KeptReason::NoEndpoint => "no_endpoint",
            KeptReason::RetriesExhausted => "retries_exhausted",
        }
    }

    fn code(self) -> u8 {
        match self {
            KeptReason::NoEndpoint => 1,
            KeptReason::RetriesExhausted => 2,
        }
    }

    fn from_code(c: u8) -> Option<KeptReason> {
        [KeptReason::NoEndpoint, KeptReason::RetriesExhausted]
            .into_iter()
            .find(|r| r.code() == c)
    }
}

/// Messages stored by [`Delivery::place_batch_with`] that the senders have not been told
/// of yet.
#[derive(Debug)]
#[must_use = "the senders learn of the messages only from `release`"]
pub struct PlacedBatch {
    results: Vec<Result<Receipt, SubmitError>>,
    /// The outbox messages, for their Users' sender threads, with their bodies when the
    /// carry budget allowed.
    wake: Vec<([u8; 8], u64, Option<sender::Carried>)>,
    /// The kinds of the messages kept for pulling.
    kept: Vec<Kind>,
    /// Committed durably already (asked for, or because a message was kept for pulling).
    durable: bool,
    /// [`Store::reopens`] when the batch was placed. Should the store be reopened before
    /// release, it has gone back to its last durable commit, which may not hold the batch:
    /// the carried bodies are then dropped, and the senders read the outbox as for any
    /// message.
    reopens: u64,
}

impl PlacedBatch {
    /// Whether the commit that stored the batch was durable. A batch asked for with
    /// [`redb::Durability::None`] is committed durably anyway when it keeps a message for
    /// pulling: the pull endpoint reads the store directly, and must not hand out what a
    /// crash could still undo.
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// Tells the sender threads of the outbox messages (call it once the commit that stored
    /// them is durable) and gives each message's result, in input order. A batch whose
    /// commit could not be made durable is dropped instead: nobody is told, and its requests
    /// are answered from the journal at the next start.
    pub fn release(self, delivery: &Delivery) -> Vec<Result<Receipt, SubmitError>> {
        for kind in &self.kept {
            delivery.counters.kept(*kind, KeptReason::NoEndpoint, 1);
        }
        let kept = self.kept.len() as u64;
        let queued = self.wake.len() as u64;
        let reopened = delivery.outbox.store().reopens() != self.reopens;
        for (user, id, carried) in self.wake {
            let carried = carried.filter(|_| !reopened);
            let Some(wake) = delivery.wake.get(shard_of(&user, delivery.wake.len())) else {
                continue;
            };
            if wake.send((outbox::key(user, id), carried)).is_err() {
                // Only if its sender thread died: the message stays in the outbox and is
                // sent on the next start (the body, dropped, gives its bytes back).
                tracing::error!("delivery: a sender is not running; message {id} waits");
            }
        }
        delivery
            .counters
            .submitted
            .fetch_add(queued + kept, Ordering::Relaxed);
        delivery.counters.shift((queued, 0), (kept, 0));
        self.results
    }
}

/// Where a submitted message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Waiting for delivery to the User's endpoint, under this message ID (the value of the
    /// `HubGate-Message-ID` header).
    Queued(u64),
    /// Kept for the User to pull (it has no endpoint), under this pull sequence.
    Kept(u64),
}

/// Why a message was not accepted. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The User already has the most messages allowed held (`delivery.max_messages_per_user`):
    /// it must pull and acknowledge, or its endpoint must come back, before more are taken.
    #[error("User {user} already has {held} messages waiting or kept (the most allowed)")]
    Full {
        /// The User, DUIS-formatted.
        user: String,
        /// Messages held for it.
        held: u64,
    },
    /// The body is not UTF-8 (DUIS XML always is; the pull endpoint returns it as text).
    #[error("message body is not UTF-8")]
    NotUtf8,
    /// The store failed (our fault).
    #[error("storing the message: {0}")]
    Store(#[from] OutboxError),
}

/// Why delivery could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// A User's endpoint is not a usable URL.
    #[error("users.{user}.delivery_endpoint: {reason}")]
    Endpoint {
        /// The User, DUIS-formatted.
        user: String,
        /// What is wrong.
        reason: String,
    },
    /// The CA file for `https://` endpoints could not be read.
    #[error("delivery CA {path}: {reason}")]
    Ca {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS client configuration was refused.
    #[error("delivery TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The store failed.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// A sender thread could not be started.
    #[error("starting a delivery thread: {0}")]
    Thread(std::io::Error),
}

impl From<StoreError> for DeliveryError {
    fn from(e: StoreError) -> Self {
        DeliveryError::Outbox(OutboxError::Store(e))
    }
}

/// How delivery behaves; [`Settings::from_config`] reads it from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Further attempts after a failed one.
    pub retries: u32,
    /// Wait before the first retry; doubles for each further one (at most an hour).
    pub backoff: Duration,
    /// Time allowed for one attempt.
    pub timeout: Duration,
    /// Attempts in flight at once on each sender thread.
    pub concurrency: usize,
    /// Sender threads (`0`: a quarter of the cores, one to four).
    pub threads: usize,
    /// Most messages held per User.
    pub max_messages_per_user: u64,
    /// Each User's endpoint (`http://` or `https://` URL).
    pub endpoints: HashMap<[u8; 8], String>,
    /// The endpoint of Users without one in `endpoints` (`None`: they pull).
    pub default_endpoint: Option<String>,
    /// CA certificates trusted for `https://` endpoints.
    pub trust: Vec<CertificateDer<'static>>,
    /// Most bytes of message bodies handed to the senders in memory, with their wake-up, for
    /// the first attempt; beyond it (a backlog) a sender reads each message from the outbox.
    pub carry_bytes: usize,
}

/// [`Settings::carry_bytes`] from the configuration: enough for about ten thousand typical
/// answers in flight, a bound on the memory a slow receiver can make the senders hold.
pub const CARRY_BYTES: usize = 16 << 20;

impl Settings {
    /// The settings `config` gives. The CA file (`delivery.ca`, else
    /// `<data_dir>/tls/ca.pem`) is read only when some User has an `https://` endpoint.
    ///
    /// # Errors
    ///
    /// [`DeliveryError::Ca`] when that file cannot be read or holds no certificate.
    pub fn from_config(config: &Config) -> Result<Settings, DeliveryError> {
        let mut endpoints = HashMap::new();
        for (id, o) in &config.users {
            if let (Some(eui), Some(url)) =
                (hubgate_protocol::hex::parse_eui(id), &o.delivery_endpoint)
            {
                endpoints.insert(eui, url.clone());
            }
        }
        let default_endpoint = config.delivery.default_endpoint.clone();
        let ca = config.delivery_ca_path();
        let trust = if endpoints
            .values()
            .chain(&default_endpoint)
            .any(|u| u.starts_with("https://"))
        {
            load_trust(&ca)?
        } else {
            Vec::new()
        };
        Ok(Settings {
            retries: config.delivery.retries,
            backoff: Duration::from_millis(config.delivery.backoff_ms),
            timeout: Duration::from_millis(config.delivery.timeout_ms),
            concurrency: config.delivery.concurrency.max(1),
            threads: config.delivery.threads,
            max_messages_per_user: config.delivery.max_messages_per_user.max(1),
            endpoints,
            default_endpoint,
            trust,
            carry_bytes: CARRY_BYTES,
        })
    }
}

/// Reads every certificate in a PEM file.
///
/// # Errors
///
/// [`DeliveryError::Ca`].
pub fn load_trust(path: &Path) -> Result<Vec<CertificateDer<'static>>, DeliveryError> {
    crate::ingress::tls::load_certs(path).map_err(|e| DeliveryError::Ca {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Counts of what delivery did since it started (the same events as the metrics, for this
/// instance only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages accepted by [`Delivery::submit`].
    pub submitted: u64,
    /// Messages refused because their User was full.
    pub refused: u64,
    /// Messages delivered (2xx).
    pub delivered: u64,
    /// Failed attempts.
    pub failed_attempts: u64,
    /// Failed attempts followed by a retry.
    pub retries: u64,
    /// Messages kept because their User has no endpoint.
    pub kept_no_endpoint: u64,
    /// Messages kept because every attempt failed.
    pub kept_retries_exhausted: u64,
    /// Kept messages acknowledged by their User.
    pub acknowledged: u64,
    /// Messages waiting for delivery now.
    pub pending: u64,
    /// Messages kept for pulling now.
    pub backlog: u64,
    /// First attempts that sent the body handed over in memory instead of reading the
    /// message back from the outbox.
    pub carried: u64,
}

/// The counters behind [`Stats`], shared with the sender threads.
#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicU64,
    refused: AtomicU64,
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    retries: AtomicU64,
    kept_no_endpoint: AtomicU64,
    kept_retries_exhausted: AtomicU64,
    acknowledged: AtomicU64,
    pending: AtomicU64,
    backlog: AtomicU64,
    carried: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            submitted: g(&self.submitted),
            refused: g(&self.refused),
            delivered: g(&self.delivered),
            failed_attempts: g(&self.failed_attempts),
            retries: g(&self.retries),
            kept_no_endpoint: g(&self.kept_no_endpoint),
            kept_retries_exhausted: g(&self.kept_retries_exhausted),
            acknowledged: g(&self.acknowledged),
            pending: g(&self.pending),
            carried: g(&self.carried),
            backlog: g(&self.backlog),
        }
    }

    /// Adds `up` and removes `down` from a gauge counter, and publishes both gauges.
    fn shift(&self, pending: (u64, u64), backlog: (u64, u64)) {
        let apply = |a: &AtomicU64, (up, down): (u64, u64)| {
            let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_add(up).saturating_sub(down))
            });
        };
        apply(&self.pending, pending);
        apply(&self.backlog, backlog);
        self.publish();
    }

    fn publish(&self) {
        let f = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        metrics::gauge!(metric_name::DELIVERY_PENDING_MESSAGES).set(f(&self.pending));
        metrics::gauge!(metric_name::DELIVERY_BACKLOG_MESSAGES).set(f(&self.backlog));
    }

    fn kept(&self, kind: Kind, reason: KeptReason, n: u64) {
        match reason {
            KeptReason::NoEndpoint => &self.kept_no_endpoint,
            KeptReason::RetriesExhausted => &self.kept_retries_exhausted,
        }
        .fetch_add(n, Ordering::Relaxed);
        metrics::counter!(
            metric_name::DELIVERY_UNDELIVERED_TOTAL,
            "kind" => kind.label(),
            "reason" => reason.label()
        )
        .increment(n);
    }
}

/// A message for [`Delivery::submit_batch`].
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The User it is for.
    pub user: [u8; 8],
    /// The signed DUIS XML.
    pub body: Vec<u8>,
    /// What it is.
    pub kind: Kind,
}

/// A kept message, as the pull endpoint gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptMessage {
    /// The pull sequence, to acknowledge it with.
    pub sequence: u64,
    /// What it is.
    pub kind: Kind,
    /// Why it was kept.
    pub reason: KeptReason,
    /// When it was submitted, in milliseconds since the Unix epoch.
    pub submitted_ms: i64,
    /// The signed DUIS XML.
    pub body: Vec<u8>,
}

/// The outbox and its senders. Dropping it stops the senders (messages in flight stay in the
/// outbox and are sent again on the next start).
pub struct Delivery {
    outbox: Arc<Outbox>,
    endpoints: Arc<HashMap<[u8; 8], String>>,
    default_endpoint: Option<String>,
    clock: Arc<dyn Clock>,
    counters: Arc<Counters>,
    /// One sender thread per entry; a User's messages always go to the same one.
    wake: Vec<tokio::sync::mpsc::UnboundedSender<sender::Wake>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Bytes of bodies handed to the senders and not yet taken by an attempt.
    carried: Arc<AtomicUsize>,
    /// Most of them at once ([`Settings::carry_bytes`]).
    carry_bytes: usize,
}

/// Sender threads when `delivery.threads` is 0: a quarter of the cores, one to four. One
/// thread (its own TLS client and event loop) sends about twenty thousand messages a second
/// on a 16-core Xeon; more let delivery keep up with a gateway on many cores.
fn sender_threads() -> usize {
    (std::thread::available_parallelism().map_or(1, std::num::NonZero::get) / 4).clamp(1, 4)
}

/// The sender thread of `user`'s messages, so that they keep their order among themselves.
fn shard_of(user: &[u8; 8], shards: usize) -> usize {
    // Users of one organisation differ in a byte or two: every bit of the EUI is mixed into
    // every bit of the hash (the 64-bit finaliser of MurmurHash3) before taking the rest.
    let mut h = u64::from_be_bytes(*user);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    usize::try_from(h % shards.max(1) as u64).unwrap_or(0)
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("endpoints", &self.endpoints.len())
            .field("stats", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// The store the outbox is in.
    pub fn store(&self) -> &Arc<Store> {
        self.outbox.store()
    }

    /// Opens the outbox in `store` and starts the sender threads, which first resume every
    /// message left waiting by a previous run.
    ///
    /// # Errors
    ///
    /// [`DeliveryError`]: an endpoint that is not a URL, a TLS configuration rustls refuses,
    /// the store, or the thread.
    pub fn start(
        store: Arc<Store>,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Delivery, DeliveryError> {
        let endpoints = sender::parse_endpoints(&settings.endpoints)?;
        let default_endpoint = settings
            .default_endpoint
            .as_deref()
            .map(|url| {
                sender::parse_endpoint(url).map_err(|reason| DeliveryError::Endpoint {
                    user: "delivery.default_endpoint (any User)".into(),
                    reason,
                })
            })
            .transpose()?;
        let tls = sender::tls_config(&settings.trust)?;
        let outbox = Arc::new(Outbox::open(store, settings.max_messages_per_user)?);
        let (pending, backlog) = outbox.counts()?;
        let counters = Arc::new(Counters::default());
        counters.shift((pending, 0), (backlog, 0));
        let resume = outbox.pending_keys()?;
        if !resume.is_empty() {
            tracing::info!(pending = resume.len(), "delivery resumes waiting messages");
        }
        let shards = match settings.threads {
            0 => sender_threads(),
            n => n,
        };
        let mut resume_of: Vec<Vec<outbox::Key>> = vec![Vec::new(); shards];
        for key in resume {
            resume_of[shard_of(&outbox::split(&key).0, shards)].push(key);
        }
        let mut wake = Vec::with_capacity(shards);
        let mut threads = Vec::with_capacity(shards);
        let carried = Arc::new(AtomicUsize::new(0));
        for (i, resume) in resume_of.into_iter().enumerate() {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let runner = sender::Sender {
                outbox: Arc::clone(&outbox),
                endpoints: endpoints.clone(),
                default_endpoint: default_endpoint.clone(),
                tls: Arc::clone(&tls),
                retries: settings.retries,
                backoff: settings.backoff,
                timeout: settings.timeout,
                concurrency: settings.concurrency.max(1),
                counters: Arc::clone(&counters),
                clock: Arc::clone(&clock),
            };
            match std::thread::Builder::new()
                .name(format!("hubgate-delivery-{i}"))
                .spawn(move || runner.run(resume, rx))
            {
                Ok(t) => threads.push(t),
                Err(e) => {
                    // Closing their channels stops the threads already started.
                    drop(wake);
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(DeliveryError::Thread(e));
                }
            }
            wake.push(tx);
        }
        Ok(Delivery {
            outbox,
            endpoints: Arc::new(settings.endpoints),
            default_endpoint: settings.default_endpoint,
            clock,
            counters,
            wake,
            threads,
            carried,
            carry_bytes: settings.carry_bytes,
        })
    }

    /// Stores one message durably, then (if its User has an endpoint) hands it to its sender.
    /// Blocks for one store commit: call it from a blocking context, or batch with
    /// [`Delivery::submit_batch`].
    ///
    /// # Errors
    ///
    /// [`SubmitError`]; nothing is stored then.
    pub fn submit(&self, user: [u8; 8], body: Vec<u8>, kind: Kind) -> Result<Receipt, SubmitError> {
        self.submit_batch(vec![Outgoing { user, body, kind }])
            .map_err(SubmitError::Store)?
            .pop()
            .unwrap_or(Err(SubmitError::Store(OutboxError::Internal(
                "no result for a submitted message",
            ))))
    }

    /// Stores many messages in one durable transaction; each is accepted or refused on its
    /// own, in input order.
    ///
    /// # Errors
    ///
    /// [`OutboxError`] when the store fails: nothing is stored then.
    pub fn submit_batch(
        &self,
        messages: Vec<Outgoing>,
    ) -> Result<Vec<Result<Receipt, SubmitError>>, OutboxError> {
        self.submit_batch_with(messages, |_| Ok(()))
    }

    /// As [`Delivery::submit_batch`], with `also` run inside the same transaction: what it
    /// writes is durable exactly when the messages are (the journal entries of the requests
    /// these messages answer are removed this way, see [`crate::journal`]).
    ///
    /// # Errors
    ///
    /// [`OutboxError`] when the store (or `also`) fails: nothing is stored then.
    pub fn submit_batch_with(
        &self,
        messages: Vec<Outgoing>,
        also: impl FnOnce(&redb::WriteTransaction) -> Result<(), crate::store::StoreError>,
    ) -> Result<Vec<Result<Receipt, SubmitError>>, OutboxError> {
        Ok(self
            .place_batch_with(messages, redb::Durability::Immediate, also)?
            .release(self))
    }

    /// Stores the messages as [`Delivery::submit_batch_with`] does, committed with
    /// `durability` (durably whatever that says when a message is kept for pulling, see
    /// [`PlacedBatch::is_durable`]), without telling the senders yet: [`PlacedBatch::release`]
    /// does that once the caller has made the commit durable (with
    /// [`crate::group_commit::GroupCommit::barrier`] after a [`redb::Durability::None`]
    /// commit), so that nothing is delivered that a crash could still undo.
    ///
    /// # Errors
    ///
    /// [`OutboxError`] when the store (or `also`) fails: nothing is stored then.
    pub fn place_batch_with(
        &self,
        messages: Vec<Outgoing>,
        durability: redb::Durability,
        also: impl FnOnce(&redb::WriteTransaction) -> Result<(), crate::store::StoreError>,
    ) -> Result<PlacedBatch, OutboxError> {
        let utf8: Vec<bool> = messages
            .iter()
            .map(|m| std::str::from_utf8(&m.body).is_ok())
            .collect();
        let items: Vec<New<'_>> = messages
            .iter()
            .zip(&utf8)
            .filter(|(_, ok)| **ok)
            .map(|(m, _)| New {
                user: m.user,
                kind: m.kind,
                body: &m.body,
                keep: (!self.has_endpoint(&m.user)).then_some(KeptReason::NoEndpoint),
            })
            .collect();
        let durability = if items.iter().any(|i| i.keep.is_some()) {
            redb::Durability::Immediate
        } else {
            durability
        };
        let submitted_ms = self.clock.now_ms();
        let reopens = self.outbox.store().reopens();
        let placed = self
            .outbox
            .submit_with(&items, submitted_ms, durability, also)?;
        drop(items);
        let mut placed = placed.into_iter();
        let mut batch = PlacedBatch {
            results: Vec::with_capacity(messages.len()),
            wake: Vec::new(),
            kept: Vec::new(),
            durable: !matches!(durability, redb::Durability::None),
            reopens,
        };
        for (m, ok) in messages.into_iter().zip(utf8) {
            if !ok {
                batch.results.push(Err(SubmitError::NotUtf8));
                continue;
            }
            let result = match placed.next() {
                Some(Placed::Outbox(id)) => {
                    let carried = sender::Carried::reserve(
                        &self.carried,
                        self.carry_bytes,
                        m.kind,
                        submitted_ms,
                        m.body,
                    );
                    batch.wake.push((m.user, id, carried));
                    Ok(Receipt::Queued(id))
                }
                Some(Placed::Kept(seq)) => {
                    batch.kept.push(m.kind);
                    Ok(Receipt::Kept(seq))
                }
                Some(Placed::Full(held)) => {
                    self.counters.refused.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(metric_name::DELIVERY_REFUSED_TOTAL).increment(1);
                    Err(SubmitError::Full {
                        user: hubgate_protocol::hex::eui_duis(&m.user),
                        held,
                    })
                }
                None => Err(SubmitError::Store(OutboxError::Internal(
                    "fewer results than messages",
                ))),
            };
            batch.results.push(result);
        }
        Ok(batch)
    }

    /// Up to `limit` of `user`'s oldest kept messages, stopping before `max_bytes` of bodies
    /// (but giving at least one when there is one); and whether more follow.
    ///
    /// # Errors
    ///
    /// [`OutboxError`].
    pub fn pull(
        &self,
        user: [u8; 8],
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<KeptMessage>, bool), OutboxError> {
        let page = self.outbox.page(user, limit, max_bytes)?;
        let messages = page
            .messages
            .into_iter()
            .map(|s| KeptMessage {
                sequence: s.number,
                kind: s.kind,
                reason: s.reason.unwrap_or(KeptReason::NoEndpoint),
                submitted_ms: s.submitted_ms,
                body: s.body,
            })
            .collect();
        Ok((messages, page.more))
    }

    /// Removes `user`'s kept messages with pull sequence up to `through`; returns how many.
    ///
    /// # Errors
    ///
    /// [`OutboxError`].
    pub fn acknowledge_through(&self, user: [u8; 8], through: u64) -> Result<u64, OutboxError> {
        let n = self.outbox.acknowledge(user, 0, through)?;
        self.acknowledged(n);
        Ok(n)
    }

    /// Removes `user`'s kept message `sequence`; whether it was there.
    ///
    /// # Errors
    ///
    /// [`OutboxError`].
    pub fn acknowledge(&self, user: [u8; 8], sequence: u64) -> Result<bool, OutboxError> {
        let n = self.outbox.acknowledge(user, sequence, sequence)?;
        self.acknowledged(n);
        Ok(n > 0)
    }

    fn acknowledged(&self, n: u64) {
        if n > 0 {
            self.counters.acknowledged.fetch_add(n, Ordering::Relaxed);
            metrics::counter!(metric_name::DELIVERY_ACKNOWLEDGED_TOTAL).increment(n);
            self.counters.shift((0, 0), (0, n));
        }
    }

    /// Messages held for `user` (waiting or kept).
    ///
    /// # Errors
    ///
    /// [`OutboxError`].
    pub fn held(&self, user: [u8; 8]) -> Result<u64, OutboxError> {
        self.outbox.held(user)
    }

    /// What this instance did so far.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Whether `user` has a delivery endpoint (its own, or the default one).
    pub fn has_endpoint(&self, user: &[u8; 8]) -> bool {
        self.default_endpoint.is_some() || self.endpoints.contains_key(user)
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        // Closing the channels stops the senders; attempts in flight are abandoned (their
        // messages are still in the outbox).
        self.wake.clear();
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("a delivery thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_keeps_one_sender_thread_and_every_thread_gets_users() {
        let users: Vec<[u8; 8]> = (0..64u8)
            .map(|i| [0x90, 0xb3, 0xd5, 0x1f, 0x30, i, 0x00, 0x00])
            .collect();
        for shards in 1..=4 {
            let mut seen = vec![0usize; shards];
            for u in &users {
                let s = shard_of(u, shards);
                assert!(s < shards);
                assert_eq!(s, shard_of(u, shards), "stable");
                seen[s] += 1;
            }
            // Users of one organisation differ in one byte only: each thread still gets a
            // share.
            assert!(
                seen.iter().all(|&n| n >= 64 / shards / 3),
                "{shards}: {seen:?}"
            );
        }
        assert_eq!(shard_of(&users[0], 0), 0, "no threads: no division by zero");
    }

    #[test]
    fn codes_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        assert_eq!(Kind::from_code(0), None);
        for r in [KeptReason::NoEndpoint, KeptReason::RetriesExhausted] {
            assert_eq!(KeptReason::from_code(r.code()), Some(r));
        }
        assert_eq!(KeptReason::from_code(0), None);
    }

    #[test]
    fn settings_read_endpoints_and_the_ca_only_when_needed() {
        let mut config = Config {
            data_dir: std::env::temp_dir()
                .join(format!("hubgate-delivery-settings-{}", std::process::id())),
            ..Config::default()
        };
        config.users.insert(
            "90-B3-D5-1F-40-01-00-00".into(),
            crate::config::UserOverride {
                delivery_endpoint: Some("http://127.0.0.1:9/in".into()),
                ..Default::default()
            },
        );
        let s = Settings::from_config(&config).unwrap();
        assert_eq!(
            s.endpoints.get(&[0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x01, 0, 0]),
            Some(&"http://127.0.0.1:9/in".to_string())
        );
        assert!(s.trust.is_empty(), "no https endpoint: no CA read");
        config.users.insert(
            "90-B3-D5-1F-40-02-00-00".into(),
            crate::config::UserOverride {
                delivery_endpoint: Some("https://127.0.0.1:9/in".into()),
                ..Default::default()
            },
        );
        let e = Settings::from_config(&config).unwrap_err();
        assert!(
            matches!(&e, DeliveryError::Ca { path, .. } if path.ends_with("ca.pem")),
            "{e}"
        );
    }

    #[test]
    fn the_default_endpoint_serves_users_without_their_own() {
        let mut config = Config {
            data_dir: std::env::temp_dir()
                .join(format!("hubgate-delivery-default-{}", std::process::id())),
            ..Config::default()
        };
        config.delivery.default_endpoint = Some("http://127.0.0.1:9/all".into());
        let s = Settings::from_config(&config).unwrap();
        assert_eq!(
            s.default_endpoint.as_deref(),
            Some("http://127.0.0.1:9/all")
        );
        assert!(s.trust.is_empty(), "an http default endpoint needs no CA");
        config.delivery.default_endpoint = Some("https://127.0.0.1:9/all".into());
        let e = Settings::from_config(&config).unwrap_err();
        assert!(matches!(e, DeliveryError::Ca { .. }), "{e}");
    }
}
