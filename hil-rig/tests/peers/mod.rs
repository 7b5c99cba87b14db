//! Independent peers for the transport tests: the pinned Python environment (`.hil-venv`,
//! made by `scripts/hil-venv`), the peer scripts in the shared tools folder, socat PTY pairs,
//! and child processes that are killed when the test ends.
//!
//! When the environment or the peers are missing the tests say so and skip, except under
//! `CI=true`, where a missing peer is a failure.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The repository root.
#[must_use]
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn missing(what: &str) -> Option<PathBuf> {
    let msg = format!("{what} (run ./scripts/hil-venv, which ./scripts/test calls)");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    None
}

/// The Python interpreter of `.hil-venv` (or `HUBGATE_HIL_PYTHON`), or `None` (test skipped)
/// when it is absent.
#[must_use]
pub fn python() -> Option<PathBuf> {
    let p = std::env::var_os("HUBGATE_HIL_PYTHON")
        .map_or_else(|| repo().join(".hil-venv/bin/python"), PathBuf::from);
    if p.exists() {
        Some(p)
    } else {
        missing(&format!("no HIL Python environment at {}", p.display()))
    }
}

/// The shared peer scripts folder (`HUBGATE_HIL_PEERS`, default `../shared/tools/hil-peers`).
#[must_use]
pub fn peers_dir() -> Option<PathBuf> {
    let p = std::env::var_os("HUBGATE_HIL_PEERS")
        .map_or_else(|| repo().join("../shared/tools/hil-peers"), PathBuf::from);
    if p.is_dir() {
        Some(p)
    } else {
        missing(&format!("the HIL peers are missing at {}", p.display()))
    }
}

/// `socat`, or `None` (test skipped).
#[must_use]
pub fn socat() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("socat"))
                .find(|p| p.exists())
        })
        .or_else(|| missing("socat is not installed"))
}

/// A scratch directory unique to this test process and call.
#[must_use]
pub fn scratch(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "hubgate-hil-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
pub struct Peer {
    pub child: Child,
    pub stdout: Option<BufReader<ChildStdout>>,
}

impl Peer {
    /// Spawns `cmd` with stdout piped.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().map(BufReader::new);
        Self { child, stdout }
    }

    /// Reads stdout lines until one starts with `prefix` (within `timeout`), returning it.
    ///
    /// # Panics
    /// When the peer exits or the time runs out first.
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let out = self.stdout.as_mut().unwrap();
        let mut line = String::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "peer did not print '{prefix}…' in time"
            );
            line.clear();
            let n = out.read_line(&mut line).unwrap();
            assert!(n > 0, "peer exited before printing '{prefix}…'");
            if line.starts_with(prefix) {
                return line.trim_end().to_owned();
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A socat PTY pair with stable links `dir/a` and `dir/b`; socat is killed on drop.
#[derive(Debug)]
pub struct PtyPair {
    _socat: Peer,
    pub a: PathBuf,
    pub b: PathBuf,
}

impl PtyPair {
    /// Starts socat and waits until both links exist.
    #[must_use]
    pub fn start(dir: &Path) -> Option<Self> {
        let socat = socat()?;
        let (a, b) = (dir.join("a"), dir.join("b"));
        let mut cmd = Command::new(socat);
        cmd.arg("-d")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stdin(Stdio::null());
        let peer = Peer::spawn(cmd);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(a.exists() && b.exists()) {
            assert!(
                Instant::now() < deadline,
                "socat did not create {} and {}",
                a.display(),
                b.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self { _socat: peer, a, b })
    }
}
