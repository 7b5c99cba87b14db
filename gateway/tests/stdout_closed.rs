//! The gateway keeps serving, and stops cleanly, when nobody reads its standard output any
//! more: the process that started it (a benchmark driver, a supervisor that went away)
//! closed the pipe after the start-up lines. Writing the later lines ("hubgate: stopped")
//! to a closed pipe must not turn a graceful stop into a panic.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_closed_stdout_neither_stops_the_gateway_nor_spoils_its_graceful_stop() {
    let dir = std::env::temp_dir().join(format!("hubgate-stdout-closed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A file, not a pipe: nothing must block on a log nobody drains while the test waits.
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("HUBGATE_EMULATION__HUBS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut duis, mut metrics) = (None, None);
    while duis.is_none() || metrics.is_none() {
        let line = lines
            .next()
            .expect("the gateway ended before it listened")
            .unwrap();
        if let Some(a) = line.strip_prefix("DUIS listening on ") {
            duis = Some(a.trim().to_string());
        }
        if let Some(a) = line.strip_prefix("metrics listening on ") {
            metrics = Some(a.trim().trim_end_matches("/metrics").to_string());
        }
    }
    // Nobody reads standard output from here on.
    drop(lines);

    let status_of = |url: String| {
        let out = Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(url)
            .output()
            .expect("curl is needed for this test");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(status_of(format!("{}/health", duis.unwrap())), "200");
    assert_eq!(status_of(format!("{}/metrics", metrics.unwrap())), "200");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit within 60 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(dir.join("stderr.log")).unwrap();
    assert!(
        status.success(),
        "exit {status} after SIGTERM with stdout closed:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
