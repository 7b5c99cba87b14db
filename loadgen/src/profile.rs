//! Rate profiles of the open loop: when each request is meant to be sent.
//!
//! A profile is a list of [`Segment`]s, each with a rate that changes linearly from its start
//! to its end (constant when both are equal). Request `n` (from 0) is due at the instant where
//! the integral of the rate reaches `n`, so a constant rate `r` gives `n / r`, a step profile
//! switches rate exactly at the step boundaries, and a ramp spaces requests ever closer
//! together. The times are offsets from the start of the run; the driver sleeps until each,
//! and latency is measured from it (not from when the request actually left), so a stall on
//! either side shows in full.

use std::time::Duration;

/// A stretch of the profile with a linearly changing rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Length of the segment, in seconds.
    pub seconds: f64,
    /// Rate at its start, requests per second.
    pub from: f64,
    /// Rate at its end, requests per second.
    pub to: f64,
}

impl Segment {
    /// Requests due in this segment (the integral of the rate over it).
    pub fn requests(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.seconds
    }

    /// Seconds into the segment at which the integral of the rate reaches `n`
    /// (`0 <= n <= requests()`).
    fn time_of(&self, n: f64) -> f64 {
        let slope = (self.to - self.from) / self.seconds;
        if slope.abs() < 1e-12 {
            return if self.from > 0.0 { n / self.from } else { 0.0 };
        }
        // from·t + slope·t²/2 = n
        let disc = (self.from * self.from + 2.0 * slope * n).max(0.0);
        ((disc.sqrt() - self.from) / slope).clamp(0.0, self.seconds)
    }
}

/// A whole profile: segments one after the other.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    segments: Vec<Segment>,
}

impl Profile {
    /// A profile from segments; those with no length or a negative rate are dropped.
    pub fn new(segments: Vec<Segment>) -> Profile {
        Profile {
            segments: segments
                .into_iter()
                .filter(|s| s.seconds > 0.0 && s.from >= 0.0 && s.to >= 0.0)
                .collect(),
        }
    }

    /// A constant rate for `seconds`.
    pub fn constant(rate: f64, seconds: f64) -> Profile {
        Profile::new(vec![Segment {
            seconds,
            from: rate,
            to: rate,
        }])
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Total length in seconds.
    pub fn seconds(&self) -> f64 {
        self.segments.iter().map(|s| s.seconds).sum()
    }

    /// Requests the whole profile asks for (rounded down).
    pub fn total_requests(&self) -> u64 {
        let total: f64 = self.segments.iter().map(Segment::requests).sum();
        // Guard against rounding just below an integer.
        (total + 1e-9).floor() as u64
    }

    /// Mean requested rate, requests per second.
    pub fn mean_rate(&self) -> f64 {
        let s = self.seconds();
        if s > 0.0 {
            self.segments.iter().map(Segment::requests).sum::<f64>() / s
        } else {
            0.0
        }
    }

    /// Highest requested rate.
    pub fn peak_rate(&self) -> f64 {
        self.segments
            .iter()
            .map(|s| s.from.max(s.to))
            .fold(0.0, f64::max)
    }

    /// The requested rate `t` seconds into the profile (0 outside it).
    pub fn rate_at(&self, t: f64) -> f64 {
        let mut start = 0.0;
        for s in &self.segments {
            if t < start + s.seconds {
                let f = (t - start) / s.seconds;
                return s.from + (s.to - s.from) * f;
            }
            start += s.seconds;
        }
        0.0
    }

    /// A cursor yielding each request's due offset in order.
    pub fn schedule(&self) -> Schedule<'_> {
        Schedule {
            profile: self,
            segment: 0,
            segment_start: 0.0,
            before: 0.0,
            next: 0,
            total: self.total_requests(),
        }
    }
}

/// Due offsets of a profile's requests, in order (see [`Profile::schedule`]).
#[derive(Debug, Clone)]
pub struct Schedule<'a> {
    profile: &'a Profile,
    segment: usize,
    segment_start: f64,
    /// Requests in the segments before the current one.
    before: f64,
    next: u64,
    total: u64,
}

impl Iterator for Schedule<'_> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.next >= self.total {
            return None;
        }
        let n = self.next as f64;
        loop {
            let seg = self.profile.segments.get(self.segment)?;
            let in_seg = seg.requests();
            if n < self.before + in_seg || self.segment + 1 == self.profile.segments.len() {
                let t = self.segment_start + seg.time_of((n - self.before).min(in_seg));
                self.next += 1;
                return Some(Duration::from_secs_f64(t.max(0.0)));
            }
            self.before += in_seg;
            self.segment_start += seg.seconds;
            self.segment += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn constant_rate_spaces_requests_evenly() {
        let p = Profile::constant(4.0, 2.0);
        let times: Vec<f64> = p.schedule().map(|d| d.as_secs_f64()).collect();
        assert_eq!(times.len(), 8);
        for (i, t) in times.iter().enumerate() {
            assert!(close(*t, i as f64 * 0.25), "{i}: {t}");
        }
    }

    #[test]
    fn steps_switch_rate_at_their_boundaries() {
        let p = Profile::new(vec![
            Segment {
                seconds: 1.0,
                from: 2.0,
                to: 2.0,
            },
            Segment {
                seconds: 1.0,
                from: 4.0,
                to: 4.0,
            },
        ]);
        let times: Vec<f64> = p.schedule().map(|d| d.as_secs_f64()).collect();
        let want = [0.0, 0.5, 1.0, 1.25, 1.5, 1.75];
        assert_eq!(times.len(), want.len());
        for (t, w) in times.iter().zip(want) {
            assert!(close(*t, w), "{times:?}");
        }
        assert!(close(p.mean_rate(), 3.0));
        assert!(close(p.peak_rate(), 4.0));
    }

    #[test]
    fn ramp_follows_the_integral_of_the_rate() {
        // 0 → 10/s over 2 s: 10 requests, the n-th at sqrt(2n·2/10).
        let p = Profile::new(vec![Segment {
            seconds: 2.0,
            from: 0.0,
            to: 10.0,
        }]);
        let times: Vec<f64> = p.schedule().map(|d| d.as_secs_f64()).collect();
        assert_eq!(times.len(), 10);
        for (n, t) in times.iter().enumerate() {
            let want = (n as f64 * 0.4).sqrt();
            assert!(close(*t, want), "{n}: {t} vs {want}");
        }
        assert!(close(p.rate_at(1.0), 5.0));
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }
}
