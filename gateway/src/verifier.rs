//! The batched XML-DSig verifier pool.
//!
//! Signature checks (one ECDSA P-256 verification each, ≈ 55 µs) run on dedicated threads, not
//! on the HTTP workers, so a burst of requests cannot starve connection handling.
//!
//! How batches form: every pool thread blocks on one shared bounded queue (crossbeam MPMC).
//! When it wakes it takes the job that woke it and then drains whatever else is already
//! queued, up to `max_batch`, before it looks at the queue again. An idle pool therefore
//! handles each request as soon as it arrives — one hand-off from the HTTP worker to the
//! verifier thread that wakes, with no dispatcher in between and no timer waiting for a batch
//! to fill — while under load each wake-up serves many requests. Batch sizes and queue depth
//! are exported as metrics.
//!
//! No hop when idle: when nothing at all is being verified (no job queued, none running on a
//! pool thread, none inline), the calling HTTP worker verifies the document itself, saving the
//! wake-up of a verifier thread and the hand-back (tens of microseconds on a busy machine,
//! more than the rest of an idle request). One inline verification at a time is allowed; as
//! soon as a second request arrives while one is being verified, it goes to the pool, so under
//! load every check runs on the pool threads and the HTTP workers stay free for connections.
//! `inline_when_idle = false` sends every job to the pool.
//!
//! The queue is bounded: when it is full, [`VerifierPool::verify`] fails at once with
//! [`PoolError::Busy`], and the ingress answers with a DUIS error instead of growing memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use hubgate_protocol::duis::dsig::{self, CertResolver, DsigError, KeySource, Verified};
use hubgate_protocol::duis::xml::Document;

use crate::metric_name;

/// Sizing of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Verifier threads.
    pub threads: usize,
    /// Most jobs one thread takes per wake-up.
    pub max_batch: usize,
    /// Most jobs waiting; beyond it requests are refused.
    pub queue_capacity: usize,
    /// Verify on the caller's thread when the pool has nothing to do.
    pub inline_when_idle: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        PoolConfig {
            threads: cores,
            max_batch: 64,
            queue_capacity: 4096,
            inline_when_idle: true,
        }
    }
}

/// Why a document could not be handed to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The queue is full: the system is saturated.
    #[error("signature verification queue is full")]
    Busy,
    /// The pool has shut down.
    #[error("signature verifier pool has stopped")]
    Stopped,
}

/// The outcome of one job: the document back (so the caller reads the same tree) and the
/// verdict.
pub type Outcome = (Document, Result<Verified, DsigError>);

struct Job {
    doc: Document,
    reply: tokio::sync::oneshot::Sender<Outcome>,
}

/// Counters the pool keeps for reports and tests.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// Jobs verified.
    pub jobs: AtomicU64,
    /// Wake-ups that took at least one job.
    pub batches: AtomicU64,
    /// Largest batch seen.
    pub max_batch_seen: AtomicU64,
    /// Jobs refused with [`PoolError::Busy`].
    pub rejected: AtomicU64,
    /// Jobs verified on the caller's thread because the pool was idle.
    pub inline: AtomicU64,
}

/// The pool. Dropping it closes the queue; threads finish the queued jobs and exit.
pub struct VerifierPool {
    tx: Option<Sender<Job>>,
    depth: Arc<AtomicUsize>,
    /// Jobs being verified anywhere (queued, on a pool thread, or inline).
    busy: Arc<AtomicUsize>,
    resolver: Arc<dyn CertResolver + Send + Sync>,
    inline_when_idle: bool,
    stats: Arc<PoolStats>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for VerifierPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierPool")
            .field("threads", &self.threads.len())
            .field("queue_depth", &self.depth.load(Ordering::Relaxed))
            .finish()
    }
}

impl VerifierPool {
    /// Starts the threads. Signers are looked up by KeyInfo serial in `resolver`.
    pub fn start(
        config: PoolConfig,
        resolver: Arc<dyn CertResolver + Send + Sync>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(config.queue_capacity.max(1));
        let depth = Arc::new(AtomicUsize::new(0));
        let busy = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(PoolStats::default());
        let mut threads = Vec::new();
        for i in 0..config.threads.max(1) {
            let rx = rx.clone();
            let resolver = Arc::clone(&resolver);
            let counts = Counts {
                depth: Arc::clone(&depth),
                busy: Arc::clone(&busy),
                stats: Arc::clone(&stats),
            };
            let max_batch = config.max_batch.max(1);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("hubgate-verify-{i}"))
                    .spawn(move || run(&rx, resolver.as_ref(), &counts, max_batch))?,
            );
        }
        Ok(VerifierPool {
            tx: Some(tx),
            depth,
            busy,
            resolver,
            inline_when_idle: config.inline_when_idle,
            stats,
            threads,
        })
    }

    /// Verifies a parsed DUIS document's signature: inline when the pool is idle, else on a
    /// pool thread.
    pub async fn verify(&self, doc: Document) -> Result<Outcome, PoolError> {
        let tx = self.tx.as_ref().ok_or(PoolError::Stopped)?;
        if self.inline_when_idle
            && self
                .busy
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let verdict =
                dsig::verify_document(&doc, KeySource::KeyInfo(self.resolver.as_ref()), false);
            self.busy.fetch_sub(1, Ordering::AcqRel);
            self.stats.inline.fetch_add(1, Ordering::Relaxed);
            self.stats.jobs.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(metric_name::VERIFIER_JOBS_TOTAL, "path" => "inline").increment(1);
            return Ok((doc, verdict));
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.depth.fetch_add(1, Ordering::Relaxed);
        self.busy.fetch_add(1, Ordering::AcqRel);
        match tx.try_send(Job { doc, reply }) {
            Ok(()) => {}
            Err(e) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                self.busy.fetch_sub(1, Ordering::AcqRel);
                return Err(match e {
                    TrySendError::Full(_) => {
                        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!(metric_name::VERIFIER_REJECTED_TOTAL).increment(1);
                        PoolError::Busy
                    }
                    TrySendError::Disconnected(_) => PoolError::Stopped,
                });
            }
        }
        metrics::gauge!(metric_name::VERIFIER_QUEUE_DEPTH_JOBS)
            .set(self.depth.load(Ordering::Relaxed) as f64);
        rx.await.map_err(|_| PoolError::Stopped)
    }

    /// Jobs waiting now.
    pub fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// The pool's counters.
    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }
}

impl Drop for VerifierPool {
    fn drop(&mut self) {
        self.tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The shared counters a pool thread updates.
struct Counts {
    depth: Arc<AtomicUsize>,
    busy: Arc<AtomicUsize>,
    stats: Arc<PoolStats>,
}

fn run(rx: &Receiver<Job>, resolver: &dyn CertResolver, counts: &Counts, max_batch: usize) {
    let Counts { depth, busy, stats } = counts;
    let pooled = metrics::counter!(metric_name::VERIFIER_JOBS_TOTAL, "path" => "pool");
    let batch_size = metrics::histogram!(metric_name::VERIFIER_BATCH_JOBS);
    let queue_depth = metrics::gauge!(metric_name::VERIFIER_QUEUE_DEPTH_JOBS);
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let n = batch.len();
        let left = depth.fetch_sub(n, Ordering::Relaxed).saturating_sub(n);
        queue_depth.set(left as f64);
        batch_size.record(n as f64);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.jobs.fetch_add(n as u64, Ordering::Relaxed);
        stats.max_batch_seen.fetch_max(n as u64, Ordering::Relaxed);
        for job in batch.drain(..) {
            let verdict = dsig::verify_document(&job.doc, KeySource::KeyInfo(resolver), false);
            busy.fetch_sub(1, Ordering::AcqRel);
            pooled.increment(1);
            // The requester may have gone away (client disconnected); nothing to do then.
            let _ = job.reply.send((job.doc, verdict));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubgate_protocol::crypto::SigningKey;
    use hubgate_protocol::duis::xml;
    use hubgate_protocol::smki::{Certificate, Store};

    fn signed_template() -> (Vec<u8>, Store) {
        let root = hubgate_protocol::conformance::require();
        let smki = root.join("smki");
        let key = SigningKey::from_pem_or_der(
            &std::fs::read(smki.join("xml-sign-90B3D51F30010000-ds.key")).unwrap(),
        )
        .unwrap();
        let cert = Certificate::from_pem(
            &std::fs::read(smki.join("xml-sign-90B3D51F30010000-ds.pem")).unwrap(),
        )
        .unwrap();
        let doc =
            std::fs::read(root.join("duis/templates/ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"))
                .unwrap();
        let signed = dsig::sign_with_certificate(&doc, &key, &cert).unwrap();
        let mut store = Store::new();
        store.load_dir(&smki).unwrap();
        (signed, store)
    }

    #[test]
    fn verifies_on_pool_threads_and_forms_batches_under_load() {
        let (signed, store) = signed_template();
        let pool = VerifierPool::start(
            PoolConfig {
                threads: 1,
                max_batch: 16,
                queue_capacity: 1024,
                inline_when_idle: false,
            },
            Arc::new(store),
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut tampered = String::from_utf8(signed.clone()).unwrap();
        tampered = tampered.replacen(":1000<", ":1001<", 1);
        rt.block_on(async {
            // One at a time: each is its own batch of one.
            let (_, v) = pool
                .verify(xml::parse(&signed, &Default::default()).unwrap())
                .await
                .unwrap();
            assert!(v.is_ok());
            let (_, v) = pool
                .verify(xml::parse(tampered.as_bytes(), &Default::default()).unwrap())
                .await
                .unwrap();
            assert!(matches!(v, Err(DsigError::DigestMismatch)), "{v:?}");
            // Many at once: batches form.
            let futs: Vec<_> = (0..200)
                .map(|_| pool.verify(xml::parse(&signed, &Default::default()).unwrap()))
                .collect();
            for r in futures_join(futs).await {
                assert_eq!(r, Ok(()));
            }
        });
        assert_eq!(pool.stats().jobs.load(Ordering::Relaxed), 202);
        assert!(
            pool.stats().max_batch_seen.load(Ordering::Relaxed) > 1,
            "no batch formed under load"
        );
        assert_eq!(pool.queue_depth(), 0);
    }

    #[test]
    fn a_full_queue_refuses_instead_of_growing() {
        let (signed, store) = signed_template();
        let pool = VerifierPool::start(
            PoolConfig {
                threads: 1,
                max_batch: 1,
                queue_capacity: 2,
                inline_when_idle: false,
            },
            Arc::new(store),
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let doc = xml::parse(&signed, &Default::default()).unwrap();
            // Futures are lazy, so poll them all in one join to enqueue together.
            let futs: Vec<_> = (0..64).map(|_| pool.verify(doc.clone())).collect();
            let mut busy = 0;
            for r in futures_join(futs).await {
                if r == Err(PoolError::Busy) {
                    busy += 1;
                }
            }
            assert!(busy > 0, "a queue of 2 accepted 64 jobs at once");
        });
        assert!(pool.stats().rejected.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn idle_checks_run_inline_and_concurrent_ones_go_to_the_pool() {
        let (signed, store) = signed_template();
        let pool = Arc::new(
            VerifierPool::start(
                PoolConfig {
                    threads: 2,
                    max_batch: 16,
                    queue_capacity: 4096,
                    inline_when_idle: true,
                },
                Arc::new(store),
            )
            .unwrap(),
        );
        let block_on = |f| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(f)
        };
        // Idle: the caller verifies, no pool thread wakes.
        let (_, v) =
            block_on(pool.verify(xml::parse(&signed, &Default::default()).unwrap())).unwrap();
        assert!(v.is_ok());
        assert_eq!(pool.stats().inline.load(Ordering::Relaxed), 1);
        assert_eq!(pool.stats().batches.load(Ordering::Relaxed), 0);
        // Several callers at once: only one may verify inline at a time; the rest queue.
        let doc = xml::parse(&signed, &Default::default()).unwrap();
        std::thread::scope(|s| {
            for _ in 0..6 {
                let pool = Arc::clone(&pool);
                let doc = doc.clone();
                s.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    for _ in 0..40 {
                        let (_, v) = rt.block_on(pool.verify(doc.clone())).unwrap();
                        assert!(v.is_ok());
                    }
                });
            }
        });
        let stats = pool.stats();
        assert_eq!(stats.jobs.load(Ordering::Relaxed), 241);
        assert!(
            stats.batches.load(Ordering::Relaxed) > 0,
            "concurrent checks never reached the pool"
        );
        assert_eq!(pool.queue_depth(), 0);
        assert_eq!(pool.busy.load(Ordering::Relaxed), 0);
    }

    /// Polls all futures concurrently (each enqueues on its first poll).
    async fn futures_join<F: std::future::Future<Output = Result<Outcome, PoolError>>>(
        futs: Vec<F>,
    ) -> Vec<Result<(), PoolError>> {
        // Ok(()) means the job ran and its signature verified.
        let mut set = Vec::new();
        let mut pinned: Vec<_> = futs.into_iter().map(Box::pin).collect();
        // First poll of every future enqueues its job (or fails with Busy).
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut done: Vec<Option<Result<(), PoolError>>> = vec![None; pinned.len()];
        for (i, f) in pinned.iter_mut().enumerate() {
            if let std::task::Poll::Ready(r) = f.as_mut().poll(&mut cx) {
                done[i] = Some(r.map(|o| assert!(o.1.is_ok(), "{:?}", o.1)));
            }
        }
        for (i, f) in pinned.into_iter().enumerate() {
            match done[i].take() {
                Some(r) => set.push(r),
                None => set.push(f.await.map(|o| assert!(o.1.is_ok(), "{:?}", o.1))),
            }
        }
        set
    }
}
