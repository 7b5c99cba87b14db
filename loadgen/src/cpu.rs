//! CPU time of this process (user + system), from `/proc/self/stat`, to report what the load
//! generator itself cost next to what it measured.

/// User + system CPU seconds used by this process so far (`None` where `/proc` is missing).
/// The kernel counts in clock ticks of 1/100 s on every Linux this runs on.
pub fn process_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = text.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_ascii_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_grows_with_work() {
        let Some(a) = super::process_seconds() else {
            return;
        };
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed().as_millis() < 150 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let b = super::process_seconds().unwrap_or(0.0);
        assert!(b >= a + 0.05, "{a} → {b}");
    }
}
