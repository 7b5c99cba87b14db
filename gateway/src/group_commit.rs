//! Group commit: many small durable writes share one redb transaction and one fsync.
//!
//! An accepted request must be durable before it is acknowledged (its counter recorded, so a
//! restart cannot reopen a replay window). One redb commit per request would make the fsync
//! the limit of the whole gateway: a few thousand commits per second on a good disk, whatever
//! the cores. Instead a single committer thread takes the first write waiting, drains every
//! other write that has queued up meanwhile (up to `max_batch`), applies them in arrival order
//! inside one write transaction and commits once; then each writer is told its result. While
//! one commit is being flushed the next batch forms, so under load the fsync cost is shared
//! by the whole batch, and when idle a write commits at once (no timer).
//!
//! A fast disk defeats that sharing: when an fsync takes a fifth of a millisecond, only two
//! or three writes arrive during one, and each commit costs the committer (redb's page
//! bookkeeping, the kernel's flush) about as much CPU as verifying a signature. So when the
//! gateway is busy (the previous batch had more than one write, and the committer has not
//! waited as long as the delay for this one) it waits up to `delay` after the first write of
//! a batch for others to join it, as database group commit delays do. An idle gateway never
//! waits: a lone write, the first write after a lone one, and a write after a quiet spell of
//! at least the delay commit at once. The delay is `store_commit_delay_us` in the
//! configuration.
//!
//! Each write is a closure run inside the transaction: it can check and update several
//! tables atomically (the anti-replay counter and the Transform register, say). If a closure
//! fails, the transaction is rolled back and re-run without it, so one bad write never costs
//! the others their durability or their result. The queue is bounded: when it is full,
//! [`GroupCommit::submit`] fails with [`CommitError::Busy`] at once.
//!
//! Other writers can share the committer's fsync too: a writer that commits on its own
//! with [`redb::Durability::None`] (no fsync) and then waits on [`GroupCommit::barrier`]
//! is durable once the committer's next batch is, since redb makes a non-durable commit
//! durable with the next immediate one. The response writer stores each batch of answers
//! so ([`crate::routing`]); before, its own durable commit was a second fsync per cycle
//! on the store's single writer.
//!
//! When a commit fails with an I/O error (a full disk, say) nobody in the batch is
//! acknowledged and the store degrades ([`crate::store_health`]): from then on
//! [`GroupCommit::submit`] fails with [`CommitError::Unavailable`] at once, until the probe
//! thread that [`GroupCommit::start`] also starts finds that the store can write again.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use redb::WriteTransaction;

use crate::metric_name;
use crate::store::{Store, StoreError};
use crate::store_health::{Monitor, StoreHealth};

/// Why a write was not committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The write queue is full.
    #[error("the store's write queue is full")]
    Busy,
    /// The committer has stopped (shutting down).
    #[error("the store's committer has stopped")]
    Stopped,
    /// The store failed (the write itself, or the commit).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store is degraded after a failed write: nothing is written until a probe write
    /// succeeds ([`crate::store_health`]).
    #[error("{0}")]
    Unavailable(String),
}

type Apply = Box<dyn FnMut(&WriteTransaction) -> Result<(), StoreError> + Send>;
type Notify = Box<dyn FnOnce(Result<(), CommitError>) + Send>;

struct Job {
    apply: Apply,
    notify: Notify,
}

/// The committer. Dropping it lets the thread finish the queued writes and exit.
pub struct GroupCommit {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    health: Arc<StoreHealth>,
    /// The store's probe thread (recovery after a failed write).
    monitor: Option<Monitor>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Starts the committer thread for `store`: at most `queue_capacity` writes wait, at most
    /// `max_batch` share a transaction. Also starts the store's probe thread
    /// ([`crate::store_health::Monitor`]).
    ///
    /// # Errors
    ///
    /// When a thread cannot be started.
    pub fn start(
        store: Arc<Store>,
        queue_capacity: usize,
        max_batch: usize,
    ) -> std::io::Result<GroupCommit> {
        Self::start_with_delay(store, queue_capacity, max_batch, std::time::Duration::ZERO)
    }

    /// As [`GroupCommit::start`], and while busy a batch waits up to `delay` after its first
    /// write for more writes (see the module documentation).
    ///
    /// # Errors
    ///
    /// When a thread cannot be started.
    pub fn start_with_delay(
        store: Arc<Store>,
        queue_capacity: usize,
        max_batch: usize,
        delay: std::time::Duration,
    ) -> std::io::Result<GroupCommit> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(queue_capacity.max(1));
        let max_batch = max_batch.max(1);
        let health = Arc::clone(store.health());
        let monitor = Monitor::start(Arc::clone(&store))?;
        let thread = std::thread::Builder::new()
            .name("hubgate-commit".into())
            .spawn(move || run(&store, &rx, max_batch, delay))?;
        Ok(GroupCommit {
            tx: Some(tx),
            thread: Some(thread),
            health,
            monitor: Some(monitor),
        })
    }

    /// Runs `f` inside a shared write transaction and waits until that transaction is
    /// durable. `f` may run more than once (when another write in its batch fails, the batch
    /// is re-run without it), so it must only act through the transaction.
    ///
    /// # Errors
    ///
    /// [`CommitError::Busy`] when the queue is full, [`CommitError::Stopped`] when shutting
    /// down, [`CommitError::Unavailable`] at once while the store is degraded (and when the
    /// commit fails with an I/O error), [`CommitError::Store`] when `f` or the commit fails
    /// otherwise (nothing of `f` is kept).
    pub async fn submit<R, F>(&self, mut f: F) -> Result<R, CommitError>
    where
        R: Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<R, StoreError> + Send + 'static,
    {
        let slot: Arc<std::sync::Mutex<Option<R>>> = Arc::new(std::sync::Mutex::new(None));
        let writer = Arc::clone(&slot);
        let (done, wait) = tokio::sync::oneshot::channel();
        let job = Job {
            apply: Box::new(move |t| {
                let r = f(t)?;
                if let Ok(mut s) = writer.lock() {
                    *s = Some(r);
                }
                Ok(())
            }),
            notify: Box::new(move |r| {
                let _ = done.send(r);
            }),
        };
        self.enqueue(job).inspect_err(|e| {
            if matches!(e, CommitError::Busy) {
                metrics::counter!(metric_name::STORE_COMMIT_REFUSED_TOTAL).increment(1);
            }
        })?;
        wait.await.map_err(|_| CommitError::Stopped)??;
        let value = slot.lock().ok().and_then(|mut s| s.take());
        value.ok_or(CommitError::Stopped)
    }

    /// Blocks until a durable commit that began after this call has finished: every write
    /// committed before the call with [`redb::Durability::None`] is then on disk, since redb
    /// makes a non-durable commit durable with the next immediate one. The barrier joins the
    /// committer's next batch, so it shares that batch's fsync with the requests being
    /// acknowledged instead of paying one of its own. It blocks: for plain threads (the
    /// response writer), never inside an async task.
    ///
    /// # Errors
    ///
    /// [`CommitError::Busy`] when the queue is full (the caller commits durably itself
    /// then), [`CommitError::Stopped`], [`CommitError::Unavailable`] while the store is
    /// degraded or when the commit fails.
    pub fn barrier(&self) -> Result<(), CommitError> {
        let (done, wait) = crossbeam_channel::bounded(1);
        self.enqueue(Job {
            apply: Box::new(|_| Ok(())),
            notify: Box::new(move |r| {
                let _ = done.send(r);
            }),
        })?;
        wait.recv().map_err(|_| CommitError::Stopped)?
    }

    /// Queues `job` for the committer: refused at once while the store is degraded, when
    /// the queue is full ([`CommitError::Busy`]) or once stopped.
    fn enqueue(&self, job: Job) -> Result<(), CommitError> {
        if let Some(reason) = self.health.refusal() {
            return Err(CommitError::Unavailable(reason));
        }
        let tx = self.tx.as_ref().ok_or(CommitError::Stopped)?;
        tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => CommitError::Busy,
            TrySendError::Disconnected(_) => CommitError::Stopped,
        })
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        drop(self.monitor.take());
    }
}

fn run(store: &Store, rx: &Receiver<Job>, max_batch: usize, delay: std::time::Duration) {
    let batch_size = metrics::histogram!(metric_name::STORE_COMMIT_BATCH_WRITES);
    let commit_time = metrics::histogram!(metric_name::STORE_COMMIT_SECONDS);
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    let mut busy = false;
    while next_batch(rx, &mut batch, max_batch, delay, &mut busy) {
        batch_size.record(batch.len() as f64);
        let started = std::time::Instant::now();
        commit_batch(store, &mut batch);
        commit_time.record(started.elapsed().as_secs_f64());
    }
}

/// Waits for the next item of `rx` and adds it to `batch` with those that join it (see
/// [`batch_deadline`] and [`gather`]); `busy` carries whether the last batch held more than
/// one item from one call to the next. `false` once `rx` is closed and empty. Used by the
/// committer and by the response writer ([`crate::routing`]).
pub(crate) fn next_batch<T>(
    rx: &Receiver<T>,
    batch: &mut Vec<T>,
    max_batch: usize,
    delay: std::time::Duration,
    busy: &mut bool,
) -> bool {
    let waited = std::time::Instant::now();
    let Ok(first) = rx.recv() else {
        return false;
    };
    let deadline = batch_deadline(*busy, waited, delay);
    batch.push(first);
    gather(rx, batch, max_batch, deadline);
    *busy = batch.len() > 1;
    true
}

/// Until when a batch whose first item has just arrived may wait for more: `None` (take only
/// what already waits) unless the writer was `busy` (its last batch had more than one item)
/// and this item came within `delay` of the writer starting to wait for it (after a quiet
/// spell as long as the delay the gateway is idle). `waited` is when the wait began.
fn batch_deadline(
    busy: bool,
    waited: std::time::Instant,
    delay: std::time::Duration,
) -> Option<std::time::Instant> {
    let now = std::time::Instant::now();
    (busy && !delay.is_zero() && now.duration_since(waited) < delay).then_some(now + delay)
}

/// Adds the items waiting in `rx` to `batch`, up to `max_batch`; with a `deadline`, also
/// those that arrive before it.
fn gather<T>(
    rx: &Receiver<T>,
    batch: &mut Vec<T>,
    max_batch: usize,
    deadline: Option<std::time::Instant>,
) {
    while batch.len() < max_batch {
        let next = match deadline {
            Some(d) => rx.recv_deadline(d).ok(),
            None => rx.try_recv().ok(),
        };
        match next {
            Some(job) => batch.push(job),
            None => break,
        }
    }
}

/// Commits the batch, excluding writes that fail (each failed write is told its error and
/// the rest are re-applied in a fresh transaction).
fn commit_batch(store: &Store, batch: &mut Vec<Job>) {
    /// Why a batch transaction was abandoned.
    enum Abandon {
        /// Write `.0` failed with `.1`.
        Write(usize, StoreError),
        /// The store itself failed.
        Store(StoreError),
    }
    impl From<StoreError> for Abandon {
        fn from(e: StoreError) -> Self {
            Abandon::Store(e)
        }
    }
    loop {
        let result = store.write(|t| {
            for (i, job) in batch.iter_mut().enumerate() {
                (job.apply)(t).map_err(|e| Abandon::Write(i, e))?;
            }
            Ok::<(), Abandon>(())
        });
        match result {
            Ok(()) => {
                for job in batch.drain(..) {
                    (job.notify)(Ok(()));
                }
                return;
            }
            Err(Abandon::Write(i, e)) => {
                let job = batch.remove(i);
                (job.notify)(Err(CommitError::Store(e)));
                if batch.is_empty() {
                    return;
                }
            }
            Err(Abandon::Store(e)) => {
                // Beginning or committing failed: nobody's write is durable. An I/O failure
                // has degraded the store (the refusal names it).
                let refusal = store.health().refusal();
                let msg = e.to_string();
                for job in batch.drain(..) {
                    (job.notify)(Err(match &refusal {
                        Some(r) => CommitError::Unavailable(r.clone()),
                        None => CommitError::Store(StoreError::Commit(msg.clone())),
                    }));
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableTable as _, ReadableTableMetadata as _, TableDefinition};

    const T: TableDefinition<'static, u64, u64> = TableDefinition::new("test.group_commit");

    fn temp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hubgate-gc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Set in the child process of the barrier test: the store folder, and whether to wait
    /// for a barrier before dying.
    const CHILD_DIR: &str = "HUBGATE_GC_BARRIER_CHILD_DIR";
    const CHILD_BARRIER: &str = "HUBGATE_GC_BARRIER_CHILD_BARRIER";
    /// The child's exit code after its write.
    const CHILD_EXIT: i32 = 77;

    /// Runs only as the child of `a_barrier_makes_earlier_non_durable_commits_survive_a_crash`:
    /// writes with `Durability::None`, waits for a barrier when asked, then exits without
    /// running any destructor (as a crash would).
    #[test]
    fn barrier_child() {
        let Ok(dir) = std::env::var(CHILD_DIR) else {
            return;
        };
        let store = Arc::new(Store::open(std::path::Path::new(&dir)).unwrap());
        let gc = GroupCommit::start(Arc::clone(&store), 16, 16).unwrap();
        store
            .write_with(redb::Durability::None, |t| {
                t.open_table(T)?.insert(1, 42)?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        if std::env::var(CHILD_BARRIER).is_ok() {
            gc.barrier().unwrap();
        }
        // Exits without running a destructor (the store is not closed), as a crash would,
        // with a code of its own; `abort` would do the same but may leave a core file.
        std::process::exit(CHILD_EXIT);
    }

    #[test]
    fn a_barrier_makes_earlier_non_durable_commits_survive_a_crash() {
        for barrier in [true, false] {
            let dir = temp(&format!("barrier-{barrier}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut child = std::process::Command::new(std::env::current_exe().unwrap());
            child
                .args([
                    "--exact",
                    "group_commit::tests::barrier_child",
                    "--nocapture",
                ])
                .env(CHILD_DIR, &dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            if barrier {
                child.env(CHILD_BARRIER, "1");
            }
            let status = child.status().unwrap();
            assert_eq!(
                status.code(),
                Some(CHILD_EXIT),
                "the child exits after its write: {status:?}"
            );
            let store = Store::open(&dir).unwrap();
            let value = store
                .read(|t| match t.open_table(T) {
                    Ok(table) => Ok(table.get(1)?.map(|v| v.value())),
                    Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
                    Err(e) => Err(StoreError::from(e)),
                })
                .unwrap();
            if barrier {
                assert_eq!(value, Some(42), "written before the barrier: durable");
            } else {
                assert_eq!(value, None, "no durable commit followed: lost in the crash");
            }
            drop(store);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn a_barrier_returns_after_a_commit_and_fails_once_stopped() {
        let dir = temp("barrier-batch");
        let store = Arc::new(Store::open(&dir).unwrap());
        let gc = GroupCommit::start(Arc::clone(&store), 16, 16).unwrap();
        gc.barrier().unwrap();
        let mut gc = gc;
        gc.tx = None;
        assert!(matches!(gc.barrier(), Err(CommitError::Stopped)));
        drop(gc);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_writes_share_commits_and_all_are_durable() {
        let dir = temp("share");
        let store = Arc::new(Store::open(&dir).unwrap());
        let gc = Arc::new(GroupCommit::start(Arc::clone(&store), 1024, 256).unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..500u64 {
                let gc = Arc::clone(&gc);
                tasks.push(tokio::spawn(async move {
                    gc.submit(move |t| {
                        let mut tab = t.open_table(T)?;
                        tab.insert(i, i * 10)?;
                        Ok(i)
                    })
                    .await
                }));
            }
            for (i, t) in tasks.into_iter().enumerate() {
                assert_eq!(t.await.unwrap().unwrap(), i as u64);
            }
        });
        drop(gc);
        drop(store);
        // Reopened: every acknowledged write is there.
        let store = Store::open(&dir).unwrap();
        let n = store
            .read(|t| {
                let tab = t.open_table(T)?;
                Ok::<_, StoreError>(tab.len()?)
            })
            .unwrap();
        assert_eq!(n, 500);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_degraded_store_refuses_at_once_until_the_probe_recovers_it() {
        let dir = temp("degraded");
        let store = Arc::new(Store::open(&dir).unwrap());
        let gc = GroupCommit::start(Arc::clone(&store), 16, 16).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let put = |k: u64| {
            rt.block_on(gc.submit(move |t| {
                t.open_table(T)?.insert(k, k)?;
                Ok(())
            }))
        };
        put(1).unwrap();
        store.health().write_failed("I/O error: test");
        match put(2) {
            Err(CommitError::Unavailable(r)) => {
                assert!(r.contains("hubgate.redb"), "{r}");
            }
            other => panic!("{other:?}"),
        }
        // The disk is fine: the first probe (after 250 ms) reopens the file and recovers.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while store.health().is_degraded() {
            assert!(std::time::Instant::now() < deadline, "no recovery");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        put(3).unwrap();
        let keys: Vec<u64> = store
            .read(|t| {
                let tab = t.open_table(T)?;
                let mut v = Vec::new();
                for e in tab.iter()? {
                    v.push(e?.0.value());
                }
                Ok::<_, StoreError>(v)
            })
            .unwrap();
        assert_eq!(keys, vec![1, 3], "the refused write left nothing");
        drop(gc);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn gathering_takes_what_waits_and_with_a_deadline_what_arrives_before_it() {
        let (tx, rx) = crossbeam_channel::unbounded::<u32>();
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        let mut batch = vec![];
        gather(&rx, &mut batch, 2, None);
        assert_eq!(batch, vec![0, 1], "at most max_batch");
        batch.clear();
        gather(&rx, &mut batch, 10, None);
        assert_eq!(batch, vec![2], "no deadline: only what already waits");
        // With a deadline, items sent meanwhile join the batch; one sent after it does not.
        let sender = std::thread::spawn(move || {
            for i in 10..13 {
                std::thread::sleep(std::time::Duration::from_millis(20));
                tx.send(i).unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(1500));
            tx.send(99).unwrap();
        });
        batch.clear();
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(800);
        gather(&rx, &mut batch, 10, Some(deadline));
        assert_eq!(batch, vec![10, 11, 12]);
        assert!(
            std::time::Instant::now() >= deadline,
            "waited until the deadline"
        );
        // A full batch stops waiting at once.
        let mut full = vec![7];
        let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
        gather(&rx, &mut full, 1, Some(far));
        assert_eq!(full, vec![7]);
        sender.join().unwrap();
        assert_eq!(rx.try_recv().ok(), Some(99));
    }

    #[test]
    fn an_idle_committer_never_waits_for_the_delay() {
        let dir = temp("idle");
        let store = Arc::new(Store::open(&dir).unwrap());
        let gc = GroupCommit::start_with_delay(
            Arc::clone(&store),
            16,
            16,
            std::time::Duration::from_secs(30),
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // One write at a time: each batch holds one write, so none waits the 30 s.
        let started = std::time::Instant::now();
        for k in 0..5u64 {
            rt.block_on(gc.submit(move |t| {
                t.open_table(T)?.insert(k, k)?;
                Ok(())
            }))
            .unwrap();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "lone writes waited for the delay"
        );
        drop(gc);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_busy_committer_lets_a_batch_wait_for_a_later_write() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = temp("busy");
        let store = Arc::new(Store::open(&dir).unwrap());
        let gc = Arc::new(
            GroupCommit::start_with_delay(
                Arc::clone(&store),
                64,
                64,
                std::time::Duration::from_millis(400),
            )
            .unwrap(),
        );
        // Submits one write (whose closure holds the committer `hold_ms`) from a thread of its
        // own; the thread returns what `then` says once the write is durable.
        fn put<R: Send + 'static>(
            gc: &Arc<GroupCommit>,
            k: u64,
            hold_ms: u64,
            then: impl FnOnce() -> R + Send + 'static,
        ) -> std::thread::JoinHandle<R> {
            let gc = Arc::clone(gc);
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(gc.submit(move |t| {
                    std::thread::sleep(std::time::Duration::from_millis(hold_ms));
                    t.open_table(T)?.insert(k, k)?;
                    Ok(())
                }))
                .unwrap();
                then()
            })
        }
        // A slow write holds the committer while two more queue up: they commit together,
        // so the committer is busy afterwards.
        let slow = put(&gc, 1, 150, || ());
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (a, b) = (put(&gc, 2, 0, || ()), put(&gc, 3, 0, || ()));
        for t in [slow, a, b] {
            t.join().unwrap();
        }
        // Busy: a write waits for company, so one sent 100 ms later shares its commit and the
        // first is only durable after the second was submitted.
        let second_sent = Arc::new(AtomicBool::new(false));
        let sent = Arc::clone(&second_sent);
        let first = put(&gc, 4, 0, move || sent.load(Ordering::SeqCst));
        std::thread::sleep(std::time::Duration::from_millis(100));
        second_sent.store(true, Ordering::SeqCst);
        put(&gc, 5, 0, || ()).join().unwrap();
        assert!(
            first.join().unwrap(),
            "the first write was committed before the second arrived"
        );
        drop(gc);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failing_write_does_not_take_the_batch_down() {
        let dir = temp("fail");
        let store = Arc::new(Store::open(&dir).unwrap());
        let gc = Arc::new(GroupCommit::start(Arc::clone(&store), 1024, 256).unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let results = rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..100u64 {
                let gc = Arc::clone(&gc);
                tasks.push(tokio::spawn(async move {
                    gc.submit(move |t| {
                        let mut tab = t.open_table(T)?;
                        tab.insert(i, i)?;
                        if i % 7 == 0 {
                            return Err(StoreError::Refused(format!("{i} is a multiple of 7")));
                        }
                        Ok(())
                    })
                    .await
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap().is_ok());
            }
            out
        });
        for (i, ok) in results.iter().enumerate() {
            assert_eq!(*ok, i % 7 != 0, "write {i}");
        }
        // The failed writes left nothing behind, the others are all there.
        let keys: Vec<u64> = store
            .read(|t| {
                let tab = t.open_table(T)?;
                let mut v = Vec::new();
                for e in tab.iter()? {
                    v.push(e?.0.value());
                }
                Ok::<_, StoreError>(v)
            })
            .unwrap();
        let expected: Vec<u64> = (0..100).filter(|i| i % 7 != 0).collect();
        assert_eq!(keys, expected);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
