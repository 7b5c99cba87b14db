//! Reproducible random choices: a small seeded generator, weighted choice (the SRV mix) and
//! a Zipf-skewed rank (hot hubs).
//!
//! The same scenario seed gives the same sequence of SRVs and targets, so two runs against two
//! gateway builds send the same traffic.

/// SplitMix64: fast, statistically sound for load shaping, and seedable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform index in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// Choice among items with fixed weights (cumulative table, binary search).
#[derive(Debug, Clone)]
pub struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    /// From non-negative weights; `None` if none is positive.
    pub fn new(weights: &[f64]) -> Option<Weighted> {
        let mut total = 0.0;
        let cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                total += if w.is_finite() && *w > 0.0 { *w } else { 0.0 };
                total
            })
            .collect();
        (total > 0.0).then_some(Weighted { cumulative })
    }

    /// An index, with probability proportional to its weight.
    pub fn pick(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.unit() * total;
        let i = self.cumulative.partition_point(|c| *c <= x);
        i.min(self.cumulative.len().saturating_sub(1))
    }
}

/// How targets are chosen among a User's devices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Skew {
    /// Every device equally often.
    Uniform,
    /// Rank `k` (from 1) with probability proportional to `1 / k^exponent`: the first
    /// devices in inventory order are the hot ones.
    Zipf {
        /// The exponent `s` (1.0 is the classic Zipf law).
        exponent: f64,
    },
}

/// A sampler of ranks `0..n` under a [`Skew`].
#[derive(Debug, Clone)]
pub enum RankSampler {
    /// Uniform over `n`.
    Uniform(usize),
    /// Zipf: a cumulative table.
    Table(Weighted),
}

impl RankSampler {
    /// A sampler over `n` ranks (`n > 0`).
    pub fn new(n: usize, skew: Skew) -> RankSampler {
        match skew {
            Skew::Uniform => RankSampler::Uniform(n.max(1)),
            Skew::Zipf { exponent } => {
                let w: Vec<f64> = (1..=n.max(1))
                    .map(|k| 1.0 / (k as f64).powf(exponent))
                    .collect();
                Weighted::new(&w).map_or(RankSampler::Uniform(n.max(1)), RankSampler::Table)
            }
        }
    }

    /// A rank.
    pub fn pick(&self, rng: &mut Rng) -> usize {
        match self {
            RankSampler::Uniform(n) => rng.below(*n),
            RankSampler::Table(w) => w.pick(rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_choice_follows_the_weights() {
        let w = Weighted::new(&[1.0, 0.0, 3.0]).unwrap();
        let mut rng = Rng::new(7);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[w.pick(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        let ratio = f64::from(counts[2]) / f64::from(counts[0]);
        assert!((2.8..3.2).contains(&ratio), "{counts:?}");
        assert!(Weighted::new(&[0.0, -1.0, f64::NAN]).is_none());
    }

    #[test]
    fn zipf_makes_the_first_ranks_hot() {
        let s = RankSampler::new(100, Skew::Zipf { exponent: 1.0 });
        let mut rng = Rng::new(1);
        let mut counts = vec![0u32; 100];
        for _ in 0..100_000 {
            counts[s.pick(&mut rng)] += 1;
        }
        // H(100) ≈ 5.187: rank 1 gets ≈ 19.3 %, rank 2 half of that.
        let first = f64::from(counts[0]) / 100_000.0;
        assert!((0.18..0.21).contains(&first), "{first}");
        let ratio = f64::from(counts[0]) / f64::from(counts[1]);
        assert!((1.8..2.2).contains(&ratio), "{ratio}");
        let u = RankSampler::new(10, Skew::Uniform);
        let mut c = [0u32; 10];
        for _ in 0..10_000 {
            c[u.pick(&mut rng)] += 1;
        }
        assert!(c.iter().all(|n| (800..1200).contains(n)), "{c:?}");
    }

    #[test]
    fn same_seed_same_sequence() {
        let a: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let mut r = Rng::new(42);
        assert!(a.iter().all(|v| *v == r.next_u64()));
    }
}
