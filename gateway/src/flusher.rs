//! A thread that writes in-memory counts to the store every interval, and once more when it
//! is stopped: shared by the performance tally ([`crate::performance`]) and the demand counts
//! ([`crate::demand`]), which count per answer or request in memory so that no request costs
//! a store write of its own.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::store::StoreError;

/// Counts that can be written to the store.
pub trait Flush: Send + Sync + 'static {
    /// What the counts are, for logs ("the performance tally").
    const WHAT: &'static str;

    /// Writes what was counted since the last flush; the number of entries written.
    ///
    /// # Errors
    ///
    /// [`StoreError`]: the counts are kept for the next flush.
    fn flush(&self) -> Result<usize, StoreError>;
}

/// The thread that flushes a `T` every interval, and once more when stopped (by
/// [`Flusher::stop`] or on drop).
pub struct Flusher<T: Flush> {
    target: Arc<T>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
    stopped: AtomicBool,
}

impl<T: Flush> fmt::Debug for Flusher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flusher")
            .field("what", &T::WHAT)
            .finish_non_exhaustive()
    }
}

fn log_failure<T: Flush>(target: &T) {
    if let Err(e) = target.flush() {
        tracing::error!(error = %e, "writing {}", T::WHAT);
    }
}

impl<T: Flush> Flusher<T> {
    /// Starts a thread named `name` flushing `target` every `interval` (at least 10 ms),
    /// and at once when `at_start`.
    ///
    /// # Errors
    ///
    /// When the thread cannot be started.
    pub fn spawn(
        target: Arc<T>,
        name: &str,
        interval: Duration,
        at_start: bool,
    ) -> std::io::Result<Flusher<T>> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (t, s) = (Arc::clone(&target), Arc::clone(&stop));
        let interval = interval.max(Duration::from_millis(10));
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                if at_start {
                    log_failure(&*t);
                }
                let (lock, cv) = &*s;
                let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
                while !*stopped {
                    let (guard, _) = cv
                        .wait_timeout(stopped, interval)
                        .unwrap_or_else(PoisonError::into_inner);
                    stopped = guard;
                    if *stopped {
                        // The last flush is the stopper's.
                        break;
                    }
                    log_failure(&*t);
                }
            })?;
        Ok(Flusher {
            target,
            stop,
            thread: Some(thread),
            stopped: AtomicBool::new(false),
        })
    }

    /// Stops the thread and flushes a last time; the number of entries written then.
    ///
    /// # Errors
    ///
    /// [`StoreError`] from the last flush.
    pub fn stop(mut self) -> Result<usize, StoreError> {
        self.halt();
        self.target.flush()
    }

    fn halt(&mut self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<T: Flush> Drop for Flusher<T> {
    /// Stops the thread and flushes what is left (errors are logged).
    fn drop(&mut self) {
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        self.halt();
        log_failure(&*self.target);
    }
}
