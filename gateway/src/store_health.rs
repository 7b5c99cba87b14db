//! Store health: what the gateway does when the store cannot write (disk full, an I/O error),
//! and how it gets back by itself.
//!
//! # Behaviour
//!
//! - **Detection.** Every write through [`Store::write`] (the group committer's shared
//!   commits, the outbox, hub state, the inventory…) is watched: when redb reports an I/O
//!   error (`ENOSPC` or any other), or that an earlier I/O error left its handle unusable, the
//!   store becomes *degraded*. A WARN log names the database file and the cause, the gauge
//!   `hubgate_store_degraded` goes to 1 and `hubgate_store_write_failures_total` counts it.
//! - **Refusal.** While degraded, [`Store::write`] refuses every write at once without touching
//!   the file, [`crate::group_commit::GroupCommit::submit`] answers
//!   [`crate::group_commit::CommitError::Unavailable`] at once, the ingress refuses new DUIS
//!   requests with `E44` (HTTP 503, "try later"; the table is in [`crate::ingress::codes`])
//!   and a reason naming the store, and `GET /ready` answers 503. Nothing already committed is
//!   touched: a failed redb commit keeps none of its transaction and the file still holds
//!   the last committed one.
//! - **Reads keep working.** redb 2.6 marks its `Database` handle as failed after any I/O
//!   error: from then on every write, and every read that misses redb's page cache, fails with
//!   `PreviousIo` ("close and re-open the database"), even after space returns. The store
//!   therefore reopens the file (the [`Store`] keeps its handle behind a lock so that it can
//!   be swapped) as soon as the probe thread runs. Reopening only rewrites pages the file
//!   already has (redb's repair of the allocator state), which works on a full disk, so
//!   what is durable — kept responses for the pull endpoint, the inventory, counters — is
//!   served again while writes are still refused.
//! - **Recovery.** A probe thread ([`Monitor`], started with the group committer) wakes when
//!   the store degrades and tries, after 250 ms and then with a doubling back-off of at most
//!   5 s: reopen the file if its handle failed; write and fsync a 64 KiB probe file
//!   beside it (and remove it); commit one small value to the `store.health` table. When the
//!   commit succeeds the store is healthy again: writes and new requests are accepted,
//!   `/ready` answers 200, the gauge goes back to 0 and a WARN log says for how long it was
//!   degraded. `hubgate_store_probes_total{outcome}` counts the attempts (`failed`,
//!   `recovered`). A failed probe commit fails the redb handle again, so the probe reopens
//!   it at once to keep reads working.
//!
//! # Not covered
//!
//! - A read error inside a read transaction (a bad sector under a committed page) is returned
//!   to the reader but does not degrade the store; only failed writes and failed handles do.
//! - Modules that take the redb handle ([`Store::db`]) and manage their own transactions are
//!   not watched; their failures degrade the store only once the next watched write sees
//!   the failed handle.
//! - Answers from devices to requests accepted before the failure, and alerts, that arrive
//!   while the store is degraded cannot be stored (counted by routing as lost answers);
//!   alerts are lost, while the requests stay in the write-ahead journal
//!   ([`crate::journal`]) and are sent again at the next start.
//! - There is no free-space watermark: the store degrades on the first failed write, not
//!   before.
//! - The probe thread starts with the group committer, that is with `hubgate serve`; a
//!   [`Store`] used without one (the command-line tools) stays degraded after a failed
//!   write until [`Store::try_recover`] is called.
//!
//! # Tests
//!
//! `gateway/tests/disk_full.rs` runs a real `hubgate serve` on a small tmpfs, fills the
//! filesystem, and shows that new requests get `E44` with the store named in the log, that
//! `/ready` answers 503 and the gauge is 1, that responses kept before the disk filled are
//! still pulled, and that once the filler is removed the gateway accepts and stores again
//! without a restart. The unit tests here check the state changes and the refusal text.
//!
//! [`Store`]: crate::store::Store
//! [`Store::write`]: crate::store::Store::write
//! [`Store::db`]: crate::store::Store::db
//! [`Store::try_recover`]: crate::store::Store::try_recover

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::metric_name;
use crate::store::Store;

/// First wait before a probe after the store degrades.
pub const FIRST_PROBE: Duration = Duration::from_millis(250);
/// Longest wait between probes.
pub const MAX_PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// Bytes the probe writes and fsyncs beside the database file before it tries a commit.
pub const PROBE_FILE_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
struct State {
    /// Why the store is degraded (`None`: healthy).
    cause: Option<String>,
    /// Since when.
    since: Option<Instant>,
    /// The probe thread is to stop.
    stop: bool,
}

/// Whether the store can write, shared by the store, the group committer, the ingress and
/// the probe thread.
#[derive(Debug)]
pub struct StoreHealth {
    /// The database file, for log lines and refusals.
    file: PathBuf,
    /// Fast-path copy of `state.cause.is_some()`.
    degraded: AtomicBool,
    /// The redb handle saw an I/O error and must be reopened before it is used again.
    failed_handle: AtomicBool,
    state: Mutex<State>,
    wake: Condvar,
}

impl StoreHealth {
    /// A healthy store writing `file`.
    pub fn new(file: PathBuf) -> StoreHealth {
        StoreHealth {
            file,
            degraded: AtomicBool::new(false),
            failed_handle: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the store is degraded (writes and new requests refused).
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    /// The reason new requests are refused while the store is degraded; `None` when healthy.
    pub fn refusal(&self) -> Option<String> {
        if !self.is_degraded() {
            return None;
        }
        let cause = self.lock().cause.clone()?;
        Some(format!(
            "store degraded: {} cannot be written ({cause}); new requests are refused until a probe write succeeds",
            self.file.display()
        ))
    }

    /// Records a failed write or a failed handle: the store degrades (once: later failures
    /// while degraded only count) and the probe thread wakes.
    pub fn write_failed(&self, cause: &str) {
        self.failed_handle.store(true, Ordering::Release);
        metrics::counter!(metric_name::STORE_WRITE_FAILURES_TOTAL).increment(1);
        let mut state = self.lock();
        if state.cause.is_none() {
            state.cause = Some(cause.to_string());
            state.since = Some(Instant::now());
            self.degraded.store(true, Ordering::Release);
            metrics::gauge!(metric_name::STORE_DEGRADED).set(1.0);
            tracing::warn!(
                store = %self.file.display(),
                cause,
                "store degraded: writes fail; new requests are refused (E44) and /ready reports not ready until a probe write succeeds; stored data is still served"
            );
        }
        drop(state);
        self.wake.notify_all();
    }

    /// Whether the redb handle must be reopened before use.
    pub fn handle_failed(&self) -> bool {
        self.failed_handle.load(Ordering::Acquire)
    }

    /// The redb handle was reopened.
    pub fn handle_reopened(&self) {
        self.failed_handle.store(false, Ordering::Release);
    }

    /// A probe write succeeded: the store is healthy again.
    pub fn recovered(&self) {
        let mut state = self.lock();
        let Some(cause) = state.cause.take() else {
            return;
        };
        let seconds = state
            .since
            .take()
            .map_or(0.0, |s| s.elapsed().as_secs_f64());
        self.degraded.store(false, Ordering::Release);
        drop(state);
        metrics::gauge!(metric_name::STORE_DEGRADED).set(0.0);
        tracing::warn!(
            store = %self.file.display(),
            previous_cause = %cause,
            degraded_seconds = format!("{seconds:.1}"),
            "store recovered: a probe write succeeded; requests are accepted again"
        );
    }

    /// Blocks until the store degrades or [`StoreHealth::stop`] is called; false on stop.
    fn wait_degraded(&self) -> bool {
        let state = self.lock();
        let state = self
            .wake
            .wait_while(state, |s| s.cause.is_none() && !s.stop)
            .unwrap_or_else(PoisonError::into_inner);
        !state.stop
    }

    /// Sleeps `d` unless stopped first; false on stop.
    fn pause(&self, d: Duration) -> bool {
        let state = self.lock();
        let (state, _) = self
            .wake
            .wait_timeout_while(state, d, |s| !s.stop)
            .unwrap_or_else(PoisonError::into_inner);
        !state.stop
    }

    /// Tells the probe thread to finish.
    fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }
}

/// The probe thread: idle while the store is healthy; while it is degraded, tries
/// [`Store::try_recover`] with back-off until it succeeds. Dropping it stops the thread.
#[derive(Debug)]
pub struct Monitor {
    health: Arc<StoreHealth>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Starts the probe thread for `store`.
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub fn start(store: Arc<Store>) -> std::io::Result<Monitor> {
        let health = Arc::clone(store.health());
        let thread = std::thread::Builder::new()
            .name("hubgate-store-probe".into())
            .spawn(move || probe_loop(&store))?;
        Ok(Monitor {
            health,
            thread: Some(thread),
        })
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.health.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn probe_loop(store: &Store) {
    let health = Arc::clone(store.health());
    let failed = metrics::counter!(metric_name::STORE_PROBES_TOTAL, "outcome" => "failed");
    let recovered = metrics::counter!(metric_name::STORE_PROBES_TOTAL, "outcome" => "recovered");
    while health.wait_degraded() {
        let mut delay = FIRST_PROBE;
        while health.is_degraded() {
            if !health.pause(delay) {
                return;
            }
            match store.try_recover() {
                Ok(()) => recovered.increment(1),
                Err(e) => {
                    failed.increment(1);
                    tracing::debug!(error = %e, next_in_ms = delay.as_millis(), "store probe failed");
                    delay = (delay * 2).min(MAX_PROBE_INTERVAL);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrades_once_names_the_store_and_recovers() {
        let h = StoreHealth::new(PathBuf::from("/data/hubgate.redb"));
        assert!(!h.is_degraded());
        assert_eq!(h.refusal(), None);
        h.write_failed("I/O error: No space left on device (os error 28)");
        h.write_failed("Previous I/O error occurred");
        assert!(h.is_degraded());
        assert!(h.handle_failed());
        let r = h.refusal().unwrap();
        assert!(r.contains("/data/hubgate.redb"), "{r}");
        assert!(r.contains("No space left"), "the first cause is kept: {r}");
        h.handle_reopened();
        assert!(!h.handle_failed());
        assert!(h.is_degraded(), "reopening is not recovering");
        h.recovered();
        assert!(!h.is_degraded());
        assert_eq!(h.refusal(), None);
    }

    #[test]
    fn the_probe_thread_stops_when_dropped() {
        let dir = std::env::temp_dir().join(format!("hubgate-health-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir).unwrap());
        let m = Monitor::start(Arc::clone(&store)).unwrap();
        // A degraded store on a healthy disk recovers by the first probe.
        store.health().write_failed("test");
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.health().is_degraded() {
            assert!(Instant::now() < deadline, "no recovery");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!store.health().handle_failed(), "the handle was reopened");
        store.put(TEST, b"k".as_slice(), b"v").unwrap();
        assert_eq!(
            store.get(TEST, b"k".as_slice()).unwrap(),
            Some(b"v".to_vec())
        );
        drop(m);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    const TEST: crate::store::BytesTable = redb::TableDefinition::new("test.health");
}
