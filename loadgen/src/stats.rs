//! What the run measured: per-SRV counters and HDR latency histograms, kept by each User's
//! connection task and merged at the end, and live counters for the progress bar.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency recorded: 48 hours (future-dated responses may take 24 h and more), in
/// microseconds; longer values are recorded as this.
pub const MAX_LATENCY_US: u64 = 48 * 3600 * 1_000_000;

/// Values a [`Hist`] keeps as a plain list before it moves them into an HDR histogram.
const SMALL: usize = 512;

/// A latency histogram in microseconds (3 significant digits).
///
/// Every User's connection keeps one or two per SRV, and a run starts fresh ones, so an
/// empty or nearly empty histogram must cost next to nothing: a full-range HDR histogram
/// (1 µs to 48 h at 3 digits) is about 230 KiB of zeroed counters, and 128 Users × a dozen
/// SRVs of those made page faults a seventh of the load generator's CPU. So the first
/// values are kept as a list and only a histogram that grows past [`SMALL`] values becomes
/// an HDR histogram, which then sizes itself to the largest value it has seen. The
/// quantiles are those of an HDR histogram either way.
#[derive(Debug, Clone)]
pub struct Hist(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Small(Vec<u64>),
    Hdr(Box<Histogram<u64>>),
}

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

/// An empty HDR histogram that grows to the largest value recorded.
fn hdr() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 2, 3)
        .expect("1 to 2 µs with 3 significant digits are valid bounds");
    h.auto(true);
    h
}

impl Hist {
    /// An empty histogram.
    pub fn new() -> Hist {
        Hist(Repr::Small(Vec::new()))
    }

    /// Records one latency.
    pub fn record_us(&mut self, us: u64) {
        let us = us.clamp(1, MAX_LATENCY_US);
        match &mut self.0 {
            Repr::Small(v) if v.len() < SMALL => v.push(us),
            Repr::Small(_) => {
                let h = self.promote();
                let _ = h.record(us);
            }
            Repr::Hdr(h) => {
                let _ = h.record(us);
            }
        }
    }

    /// Moves the values into an HDR histogram (once) and returns it.
    fn promote(&mut self) -> &mut Histogram<u64> {
        if let Repr::Small(v) = &self.0 {
            let mut h = hdr();
            for &us in v {
                let _ = h.record(us);
            }
            self.0 = Repr::Hdr(Box::new(h));
        }
        match &mut self.0 {
            Repr::Hdr(h) => h,
            Repr::Small(_) => unreachable!("promoted just above"),
        }
    }

    /// Records a duration.
    pub fn record(&mut self, d: std::time::Duration) {
        self.record_us(u64::try_from(d.as_micros()).unwrap_or(MAX_LATENCY_US));
    }

    /// Adds another histogram's values.
    pub fn merge(&mut self, other: &Hist) {
        match &other.0 {
            Repr::Small(v) => {
                for &us in v {
                    self.record_us(us);
                }
            }
            Repr::Hdr(o) => {
                let _ = self.promote().add(o.as_ref());
            }
        }
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        match &self.0 {
            Repr::Small(v) => v.len() as u64,
            Repr::Hdr(h) => h.len(),
        }
    }

    /// The summary for reports (`None` when empty).
    pub fn quantiles(&self) -> Option<Quantiles> {
        if self.count() == 0 {
            return None;
        }
        let built;
        let h = match &self.0 {
            Repr::Hdr(h) => h.as_ref(),
            Repr::Small(v) => {
                let mut h = hdr();
                for &us in v {
                    let _ = h.record(us);
                }
                built = h;
                &built
            }
        };
        Some(quantiles_of(h))
    }
}

/// The report's summary of a histogram in microseconds.
fn quantiles_of(h: &Histogram<u64>) -> Quantiles {
    let ms = |us: u64| us as f64 / 1000.0;
    Quantiles {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p99_9_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
        mean_ms: h.mean() / 1000.0,
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Quantiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p99_9_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// Synchronous results for one SRV.
#[derive(Debug, Clone, Default)]
pub struct SrvStats {
    /// Requests sent (a critical SRV's Transform and Send Command requests both count).
    pub sent: u64,
    /// Requests answered (any HTTP status).
    pub answered: u64,
    /// Answered `I0` or `I99` with HTTP 200.
    pub acknowledged: u64,
    /// Answers by `HTTP-status code` (`200 I99`, `200 E42`, `503 E44`, `400 -`).
    pub codes: BTreeMap<String, u64>,
    /// Time from the intended send to the answer, for every answer.
    pub ack: Hist,
    /// Transform requests (CommandVariant 4) sent.
    pub transforms: u64,
    /// Pre-Commands received for them.
    pub precommands: u64,
    /// Signed Pre-Commands (CommandVariant 5) sent.
    pub signed_sent: u64,
    /// Signed Pre-Commands acknowledged.
    pub signed_acknowledged: u64,
    /// Pre-Commands that could not be signed or sent on (no DS key, not a Pre-Command).
    pub signing_failures: u64,
    /// Time from the Transform's intended send to the Send Command's acknowledgement.
    pub critical_loop: Hist,
}

impl SrvStats {
    /// Adds another's counts and histograms.
    pub fn merge(&mut self, o: &SrvStats) {
        self.sent += o.sent;
        self.answered += o.answered;
        self.acknowledged += o.acknowledged;
        for (k, v) in &o.codes {
            *self.codes.entry(k.clone()).or_default() += v;
        }
        self.ack.merge(&o.ack);
        self.transforms += o.transforms;
        self.precommands += o.precommands;
        self.signed_sent += o.signed_sent;
        self.signed_acknowledged += o.signed_acknowledged;
        self.signing_failures += o.signing_failures;
        self.critical_loop.merge(&o.critical_loop);
    }
}

/// What one User's connection (or the whole run, once merged) measured.
#[derive(Debug, Clone, Default)]
pub struct ConnStats {
    /// Per SRV.
    pub per_srv: BTreeMap<String, SrvStats>,
    /// Sends later than `load.late_ms` after their intended time.
    pub late_sends: u64,
    /// Sends later than `load.late_ms` only because the User held them back while its own
    /// critical command to the device was open (not in `late_sends`).
    pub late_held: u64,
    /// The latest send, in microseconds after its intended time, not counting the time its
    /// User held it back.
    pub max_late_us: u64,
    /// How late each send was (microseconds), not counting the time its User held it back.
    pub lateness: Hist,
    /// Requests that could not be built or signed.
    pub build_failures: u64,
    /// Requests lost with their connection (sent, never answered).
    pub lost: u64,
    /// Requests never sent because the connection failed or the run ended first.
    pub not_sent: u64,
    /// Connection failures, by message.
    pub connection_errors: BTreeMap<String, u64>,
    /// When the last request was written.
    pub last_send: Option<std::time::Instant>,
}

impl ConnStats {
    /// The entry for `srv`.
    pub fn srv(&mut self, srv: &str) -> &mut SrvStats {
        if !self.per_srv.contains_key(srv) {
            self.per_srv.insert(srv.to_string(), SrvStats::default());
        }
        self.per_srv
            .get_mut(srv)
            .expect("the entry was inserted just above")
    }

    /// Adds another's.
    pub fn merge(&mut self, o: &ConnStats) {
        for (k, v) in &o.per_srv {
            self.srv(k).merge(v);
        }
        self.late_sends += o.late_sends;
        self.late_held += o.late_held;
        self.max_late_us = self.max_late_us.max(o.max_late_us);
        self.lateness.merge(&o.lateness);
        self.build_failures += o.build_failures;
        self.lost += o.lost;
        self.not_sent += o.not_sent;
        for (k, v) in &o.connection_errors {
            *self.connection_errors.entry(k.clone()).or_default() += v;
        }
        self.last_send = match (self.last_send, o.last_send) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Counters the progress bar reads while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    /// Requests written.
    pub sent: AtomicU64,
    /// Answers `I0`/`I99`.
    pub acknowledged: AtomicU64,
    /// Other answers, and requests lost or not built.
    pub errors: AtomicU64,
    /// Late sends.
    pub late: AtomicU64,
    /// Asynchronous messages received by the listener.
    pub delivered: AtomicU64,
}

impl Live {
    /// Adds one to a counter.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quantiles of a full-range HDR histogram holding `values`.
    fn reference(values: &[u64]) -> Quantiles {
        let mut h = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3).unwrap();
        for &v in values {
            h.record(v.clamp(1, MAX_LATENCY_US)).unwrap();
        }
        quantiles_of(&h)
    }

    /// Latencies spread from microseconds to hours, deterministic.
    fn latencies(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let scale = 1u64 << ((x >> 59) as u32 + 1);
                (x >> 20) % scale + 1
            })
            .collect()
    }

    #[test]
    fn empty_has_no_quantiles() {
        let h = Hist::new();
        assert_eq!(h.count(), 0);
        assert!(h.quantiles().is_none());
    }

    #[test]
    fn small_and_large_histograms_report_what_a_full_range_histogram_does() {
        for n in [1, 7, SMALL, SMALL + 1, 20 * SMALL] {
            let values = latencies(n, n as u64);
            let mut h = Hist::new();
            for &v in &values {
                h.record_us(v);
            }
            assert_eq!(h.count(), n as u64);
            assert_eq!(h.quantiles().unwrap(), reference(&values), "{n} values");
        }
    }

    #[test]
    fn merging_any_mix_of_small_and_promoted_keeps_every_value() {
        let a = latencies(100, 1);
        let b = latencies(3 * SMALL, 2);
        let c = latencies(SMALL, 3);
        let mut total = Hist::new();
        for part in [&a, &b, &c] {
            let mut h = Hist::new();
            for &v in part.iter() {
                h.record_us(v);
            }
            total.merge(&h);
        }
        let all: Vec<u64> = a.iter().chain(&b).chain(&c).copied().collect();
        assert_eq!(total.count(), all.len() as u64);
        assert_eq!(total.quantiles().unwrap(), reference(&all));
    }

    #[test]
    fn values_beyond_the_range_are_recorded_as_its_end() {
        let mut h = Hist::new();
        h.record_us(0);
        h.record(std::time::Duration::from_secs(100 * 3600));
        let q = h.quantiles().unwrap();
        assert_eq!(q.count, 2);
        assert_eq!(q.max_ms, reference(&[MAX_LATENCY_US]).max_ms);
        assert_eq!(q.p50_ms, 0.001);
    }
}
