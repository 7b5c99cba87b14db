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
    stat_name_and_cpu_seconds(&text).map(|(_, seconds)| seconds)
}

/// The name and user + system CPU seconds in the text of a `/proc/…/stat` file:
/// `pid (name) state …`, where the name may hold spaces and parentheses.
fn stat_name_and_cpu_seconds(text: &str) -> Option<(&str, f64)> {
    let (open, close) = (text.find('(')?, text.rfind(')')?);
    let f: Vec<&str> = text.get(close + 1..)?.split_ascii_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((text.get(open + 1..close)?, (utime + stime) / 100.0))
}

/// CPU seconds (user + system) each thread of process `pid` has used, by thread ID, with the
/// thread's name, from `/proc/<pid>/task/*/stat`. Threads that end between the directory
/// listing and the read are left out.
pub fn thread_cpu_seconds(pid: &str) -> std::collections::BTreeMap<u64, (String, f64)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((name, seconds)) = stat_name_and_cpu_seconds(&text) {
            out.insert(tid, (name.to_string(), seconds));
        }
    }
    out
}

/// Threads that did the work between two [`thread_cpu_seconds`] readings `seconds` apart,
/// grouped by name with any trailing number dropped (`hubgate-sign-3` counts as
/// `hubgate-sign`): each group's name, its threads, the cores it used together and the
/// cores its busiest thread used, busiest group first. A group whose busiest thread is near
/// one core is a serial limit.
pub fn thread_groups(
    before: &std::collections::BTreeMap<u64, (String, f64)>,
    after: &std::collections::BTreeMap<u64, (String, f64)>,
    seconds: f64,
) -> Vec<ThreadGroup> {
    let mut groups: std::collections::BTreeMap<String, ThreadGroup> =
        std::collections::BTreeMap::new();
    for (tid, (name, t1)) in after {
        let t0 = before.get(tid).map_or(0.0, |(_, t)| *t);
        let cores = (t1 - t0).max(0.0) / seconds.max(1e-9);
        let base = name
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches(['-', ':', ' '])
            .to_string();
        let g = groups.entry(base.clone()).or_insert_with(|| ThreadGroup {
            name: base,
            threads: 0,
            cores: 0.0,
            busiest: 0.0,
        });
        g.threads += 1;
        g.cores += cores;
        g.busiest = g.busiest.max(cores);
    }
    let mut v: Vec<ThreadGroup> = groups.into_values().collect();
    v.sort_by(|a, b| b.cores.total_cmp(&a.cores));
    v
}

/// See [`thread_groups`].
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadGroup {
    /// The threads' name without its number (Linux keeps the first 15 bytes of a name).
    pub name: String,
    /// How many threads.
    pub threads: usize,
    /// Cores used by them together.
    pub cores: f64,
    /// Cores used by the busiest one.
    pub busiest: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spinning_thread_shows_up_by_name() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let spinner = std::thread::Builder::new()
            .name("cpu-test-7".into())
            .spawn(move || {
                let mut x = 0u64;
                while !flag.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            })
            .expect("spinning thread");
        let before = thread_cpu_seconds("self");
        std::thread::sleep(Duration::from_millis(500));
        let after = thread_cpu_seconds("self");
        stop.store(true, Ordering::Relaxed);
        spinner.join().expect("spinner");
        let groups = thread_groups(&before, &after, 0.5);
        let g = groups
            .iter()
            .find(|g| g.name == "cpu-test")
            .expect("the spinning thread, its number dropped");
        assert_eq!(g.threads, 1);
        assert!(g.cores > 0.0 && g.busiest == g.cores, "{g:?}");
    }

    #[test]
    fn groups_drop_thread_numbers_and_find_the_busiest() {
        let t = |n: &str, s: f64| (n.to_string(), s);
        let before = [(1, t("hubgate-sign-0", 1.0)), (2, t("hubgate-sign-1", 2.0))]
            .into_iter()
            .collect();
        let after = [
            (1, t("hubgate-sign-0", 3.0)),
            (2, t("hubgate-sign-1", 3.0)),
            (3, t("hubgate-commit", 0.5)),
        ]
        .into_iter()
        .collect();
        let g = thread_groups(&before, &after, 2.0);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].name, "hubgate-sign");
        assert_eq!(g[0].threads, 2);
        assert!((g[0].cores - 1.5).abs() < 1e-9);
        assert!((g[0].busiest - 1.0).abs() < 1e-9);
        assert_eq!(g[1].name, "hubgate-commit");
        assert!((g[1].cores - 0.25).abs() < 1e-9);
    }
}
