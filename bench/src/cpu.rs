//! CPU time of the calling thread and of whole processes, without `unsafe`.
//!
//! Linux exposes the time a thread has spent on a CPU, in nanoseconds, as the first field of
//! `/proc/thread-self/schedstat` (the scheduler's `sum_exec_runtime`, the same counter behind
//! `CLOCK_THREAD_CPUTIME_ID`). The kernel brings it up to date at scheduler ticks and context
//! switches, so a reading can lag by up to one tick (1–4 ms): negligible over the 200 ms and
//! longer spans measured here. Time the thread spent waiting for a CPU taken by another
//! process is not counted, which is the point on a shared machine.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

/// A reader of the current thread's CPU time. Create it on the thread it measures.
#[derive(Debug)]
pub struct ThreadCpuClock {
    file: File,
    buf: Vec<u8>,
}

impl ThreadCpuClock {
    /// Opens the clock of the calling thread; `None` where the kernel does not provide it.
    pub fn open() -> Option<Self> {
        let file = File::open("/proc/thread-self/schedstat").ok()?;
        let mut clock = ThreadCpuClock {
            file,
            buf: Vec::with_capacity(64),
        };
        clock.now().map(|_| clock)
    }

    /// CPU time used by the thread so far.
    pub fn now(&mut self) -> Option<Duration> {
        self.buf.clear();
        self.file.seek(SeekFrom::Start(0)).ok()?;
        self.file.read_to_end(&mut self.buf).ok()?;
        let text = std::str::from_utf8(&self.buf).ok()?;
        let ns: u64 = text.split_ascii_whitespace().next()?.parse().ok()?;
        Some(Duration::from_nanos(ns))
    }
}

/// User + system CPU seconds a process has used, from `/proc/<pid>/stat` (`"self"` for this
/// process; clock ticks of 1/100 s, the value on every Linux this runs on).
pub fn process_cpu_seconds(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = text.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_ascii_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
