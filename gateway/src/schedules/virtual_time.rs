//! Virtual time for test runs: a clock that shows the instant written in a file.
//!
//! With `clock.follow_file` set, the gateway's clock is a [`PinnedClock`] that a thread moves
//! to the RFC 3339 instant held in that file whenever the file changes (it is read every
//! [`POLL`]). A test writes a new instant to move the whole gateway — schedules, ResponseDateTime,
//! registration dates — forward at once, without waiting for real time to pass. Until the
//! file holds a valid instant the clock stays at its starting value (`clock.pinned`, or the
//! system time at start). A value that does not parse is logged and ignored.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{PinnedClock, parse_rfc3339_ms};

/// How often the file is read.
pub const POLL: Duration = Duration::from_millis(20);

/// The instant in `path`, if it holds one.
pub fn read_instant(path: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_rfc3339_ms(text.trim())
}

/// A clock starting at `start_ms` (or at the file's instant, when it holds one) that
/// follows `path` from a background thread for the life of the process.
///
/// # Errors
///
/// When the thread cannot be started.
pub fn follow(path: PathBuf, start_ms: i64) -> std::io::Result<Arc<PinnedClock>> {
    let clock = Arc::new(PinnedClock::at(read_instant(&path).unwrap_or(start_ms)));
    let moved = Arc::clone(&clock);
    std::thread::Builder::new()
        .name("hubgate-virtual-clock".into())
        .spawn(move || {
            let mut last = String::new();
            loop {
                if let Ok(text) = std::fs::read_to_string(&path)
                    && text != last
                {
                    match parse_rfc3339_ms(text.trim()) {
                        Some(ms) => moved.set(ms),
                        None => {
                            tracing::warn!(file = %path.display(), "the virtual clock file holds no RFC 3339 instant");
                        }
                    }
                    last = text;
                }
                std::thread::sleep(POLL);
            }
        })?;
    Ok(clock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock as _;

    #[test]
    fn the_clock_follows_the_file() {
        let path = std::env::temp_dir().join(format!("hubgate-vclock-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let clock = follow(path.clone(), 5_000).unwrap();
        assert_eq!(clock.now_ms(), 5_000);
        std::fs::write(&path, "2030-01-02T00:00:01Z\n").unwrap();
        let want = parse_rfc3339_ms("2030-01-02T00:00:01Z").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while clock.now_ms() != want {
            assert!(
                std::time::Instant::now() < deadline,
                "the clock did not move"
            );
            std::thread::sleep(POLL);
        }
        std::fs::write(&path, "not a time").unwrap();
        std::thread::sleep(POLL * 5);
        assert_eq!(clock.now_ms(), want, "garbage leaves the clock where it is");
        let _ = std::fs::remove_file(&path);
    }
}
