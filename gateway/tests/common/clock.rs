//! Time for the tests: the real clock in Unix seconds, UTC days, and the virtual clock a
//! gateway follows (`clock.follow_file`: a file holding an RFC 3339 instant that the gateway
//! polls every 20 ms), so that tests can move a running gateway's time.

use std::path::PathBuf;
use std::time::Duration;

use super::rfc3339;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// The real time now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the system clock is after 1970")
        .as_secs() as i64
}

/// Midnight UTC today (real time), in Unix seconds.
pub fn midnight_today() -> i64 {
    let now = unix_now();
    now - now.rem_euclid(DAY)
}

/// The `xs:date` (`YYYY-MM-DD`, UTC) of `unix` seconds.
pub fn date(unix: i64) -> String {
    rfc3339(unix)[..10].to_string()
}

/// The file a gateway's clock follows, removed on drop. Pass [`VirtualClock::path`] as
/// `HUBGATE_CLOCK__FOLLOW_FILE`.
pub struct VirtualClock {
    file: PathBuf,
}

impl VirtualClock {
    /// A clock file showing `start` (Unix seconds); `name` keeps the files of parallel tests
    /// apart.
    pub fn new(name: &str, start: i64) -> VirtualClock {
        let file =
            std::env::temp_dir().join(format!("hubgate-clock-{name}-{}", std::process::id()));
        std::fs::write(&file, rfc3339(start)).expect("writing the clock file");
        VirtualClock { file }
    }

    /// Writes `unix` seconds to the file (a stopped gateway reads it at its next start).
    pub fn write(&self, unix: i64) {
        std::fs::write(&self.file, rfc3339(unix)).expect("writing the clock file");
    }

    /// Moves a running gateway's clock to `unix` seconds and waits until it shows it (the
    /// file is polled every 20 ms: 300 ms is ample).
    pub fn set(&self, unix: i64) {
        self.write(unix);
        std::thread::sleep(Duration::from_millis(300));
    }

    /// The file's path, for `HUBGATE_CLOCK__FOLLOW_FILE`.
    pub fn path(&self) -> String {
        self.file.to_string_lossy().to_string()
    }
}

impl Drop for VirtualClock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}
