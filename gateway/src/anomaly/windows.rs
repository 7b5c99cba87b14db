//! Sliding-window request counts per (User, SRV), in bounded memory.
//!
//! Each key has two rings of 12 buckets: the minute window in 5-second buckets and the hour
//! window in 5-minute buckets. A count is the sum of the buckets of the last 12 bucket
//! periods, the current one included, so the window slides in steps of one bucket (it spans
//! between 55 and 60 seconds, or 55 and 60 minutes, of the past). One key takes about
//! 200 bytes.
//!
//! The keys are spread over 16 shards, each a mutex-guarded map holding at most
//! `max_tracked / 16` keys. When a shard is full, keys idle for over an hour (whose windows
//! are empty) are dropped first; if none is, the least recently used key is dropped and its
//! counts are lost: that key then starts again from zero (it may be let through where it
//! would have been quarantined — the cap errs on the side of serving Users).

use std::collections::HashMap;
use std::sync::Mutex;

const BUCKETS: usize = 12;
const MINUTE_BUCKET_MS: i64 = 5_000;
const HOUR_BUCKET_MS: i64 = 300_000;
const SHARDS: usize = 16;

#[derive(Debug, Clone, Copy, Default)]
struct Ring {
    periods: [i64; BUCKETS],
    counts: [u64; BUCKETS],
}

impl Ring {
    /// Adds one request in `period`; the count over the last `BUCKETS` periods.
    fn add(&mut self, period: i64) -> u64 {
        let i = usize::try_from(period.rem_euclid(BUCKETS as i64)).unwrap_or(0);
        if self.periods[i] != period {
            self.periods[i] = period;
            self.counts[i] = 0;
        }
        self.counts[i] = self.counts[i].saturating_add(1);
        self.periods
            .iter()
            .zip(self.counts)
            .filter(|(p, _)| (0..BUCKETS as i64).contains(&(period - **p)))
            .map(|(_, c)| c)
            .sum()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    minute: Ring,
    hour: Ring,
    last_ms: i64,
}

/// The counts after a request was added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Requests in the sliding minute, this one included.
    pub minute: u64,
    /// Requests in the sliding hour, this one included.
    pub hour: u64,
}

type Key = ([u8; 8], Box<str>);

/// The windows of every tracked (User, SRV).
#[derive(Debug)]
pub struct Windows {
    shards: Vec<Mutex<HashMap<Key, Entry>>>,
    per_shard: usize,
}

impl Windows {
    /// Windows for at most `max_tracked` keys (at least one per shard).
    pub fn new(max_tracked: usize) -> Windows {
        Windows {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (max_tracked / SHARDS).max(1),
        }
    }

    fn shard(&self, user: &[u8; 8], srv: &str) -> &Mutex<HashMap<Key, Entry>> {
        use std::hash::{Hash as _, Hasher as _};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        user.hash(&mut h);
        srv.hash(&mut h);
        let i = usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0);
        &self.shards[i]
    }

    /// Counts one request of `user` for `srv` at `now_ms`.
    pub fn add(&self, user: &[u8; 8], srv: &str, now_ms: i64) -> Counts {
        let mut map = self
            .shard(user, srv)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key: Key = (*user, srv.into());
        if !map.contains_key(&key) && map.len() >= self.per_shard {
            map.retain(|_, e| now_ms - e.last_ms < BUCKETS as i64 * HOUR_BUCKET_MS);
            if map.len() >= self.per_shard {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, e)| e.last_ms)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    map.remove(&k);
                }
            }
        }
        let e = map.entry(key).or_default();
        e.last_ms = e.last_ms.max(now_ms);
        Counts {
            minute: e.minute.add(now_ms.div_euclid(MINUTE_BUCKET_MS)),
            hour: e.hour.add(now_ms.div_euclid(HOUR_BUCKET_MS)),
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: [u8; 8] = [1; 8];

    #[test]
    fn counts_slide_with_the_buckets() {
        let w = Windows::new(1000);
        let t0 = 1_700_000_000_000;
        assert_eq!(w.add(&U, "4.1.1", t0).minute, 1);
        assert_eq!(w.add(&U, "4.1.1", t0 + 1_000).minute, 2);
        assert_eq!(w.add(&U, "8.2", t0 + 1_000).minute, 1, "per SRV");
        assert_eq!(w.add(&[2; 8], "4.1.1", t0).minute, 1, "per User");
        // A minute on, the first two have left the minute window but not the hour's.
        let c = w.add(&U, "4.1.1", t0 + 61_000);
        assert_eq!(c, Counts { minute: 1, hour: 3 });
        let c = w.add(&U, "4.1.1", t0 + 3_700_000);
        assert_eq!(c, Counts { minute: 1, hour: 1 });
    }

    #[test]
    fn memory_is_bounded() {
        let w = Windows::new(32);
        let t0 = 1_700_000_000_000;
        for i in 0..10_000u32 {
            let mut u = [0u8; 8];
            u[..4].copy_from_slice(&i.to_be_bytes());
            w.add(&u, "4.1.1", t0 + i64::from(i));
        }
        assert!(w.len() <= 32, "{}", w.len());
        // The most recent key is still counted.
        let mut u = [0u8; 8];
        u[..4].copy_from_slice(&9_999u32.to_be_bytes());
        assert_eq!(w.add(&u, "4.1.1", t0 + 10_000).minute, 2);
    }
}
