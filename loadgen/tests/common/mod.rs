//! A real `hubgate serve` for loadgen's end-to-end tests: started on free ports with its local
//! test PKI, `users` load-test Users and a generated inventory and registration file, and
//! killed (its folder removed) on drop.
//!
//! Which devices the tests address depends on the gateway. One that routes device requests
//! to hubs needs the devices' key-agreement certificates to build a command, and has them
//! only for the meters it emulates itself (it lists them at start: "premises N: hub …, ESME
//! … (MPAN …)", trusting the demo import supplier). When such premises are listed
//! (`targets::parse_emulated`), the scenario sends as the supplier they trust to their hubs
//! and ESMEs; otherwise as the load-test Users to the generated premises.
//!
//! The binary is the workspace's debug `hubgate`. `CARGO_BIN_EXE_hubgate` exists only for
//! the gateway's own tests, so it is found under the target folder (`CARGO_TARGET_DIR`, else
//! `target/` beside this crate), after `cargo build -p hubgate-gateway --bin hubgate` has
//! brought it up to date (a no-op when it is); `HUBGATE_BIN` names another binary instead.

// Each test file that includes this module uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hubgate_loadgen::targets;

/// The `hubgate` binary, built once per test process.
pub fn hubgate_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("HUBGATE_BIN") {
            return PathBuf::from(p);
        }
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|t| {
                if t.is_relative() {
                    manifest.join("..").join(t)
                } else {
                    t
                }
            })
            .unwrap_or_else(|| manifest.join("../target"));
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "hubgate-gateway", "--bin", "hubgate"])
            .current_dir(manifest.join(".."))
            .status()
            .expect("running cargo to build hubgate");
        assert!(status.success(), "cargo build -p hubgate-gateway failed");
        let bin = target.join("debug").join("hubgate");
        assert!(bin.is_file(), "{} is missing", bin.display());
        bin
    })
    .clone()
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A running gateway.
pub struct Gateway {
    child: Child,
    /// `https://127.0.0.1:port`.
    pub url: String,
    /// The test's folder (`data/`, `targets/`, `report/`).
    pub dir: PathBuf,
    /// What the gateway printed before it listened.
    pub startup: String,
    /// Load-test Users it was started with.
    pub users: u32,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
            eprintln!("gateway stderr:\n{log}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Gateway {
    /// Starts a gateway with `users` load-test Users, `premises` premises each, and the
    /// extra environment `env`.
    pub fn start(name: &str, users: u32, premises: u32, env: &[(&str, String)]) -> Gateway {
        let dir = std::env::temp_dir().join(format!("loadgen-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ids: Vec<[u8; 8]> = (1..=users).map(targets::load_test_user_id).collect();
        let g = targets::generate(&dir.join("targets"), &ids, premises).unwrap();
        let mut cmd = Command::new(hubgate_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .arg("--inventory")
            .arg(&g.inventory)
            .arg("--registration")
            .arg(&g.registration)
            .env("HUBGATE_LOG_LEVEL", "warn")
            .env("HUBGATE_PKI__LOAD_TEST_USERS", users.to_string());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut url = None;
        let mut seen = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen += &line;
            seen.push('\n');
            if let Some(a) = line.strip_prefix("DUIS listening on ") {
                url = Some(a.trim().to_string());
                break;
            }
            assert!(Instant::now() < deadline, "gateway did not start:\n{seen}");
        }
        let Some(url) = url else {
            let err = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
            let _ = child.kill();
            let _ = child.wait();
            panic!("gateway exited before listening:\n{seen}\n{err}");
        };
        // Keep reading what it prints, so that it never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Gateway {
            child,
            url,
            dir,
            startup: seen,
            users,
        }
    }

    /// The `[users]` and `[targets]` tables: the emulated premises and their supplier when
    /// there are some, else the load-test Users and the generated premises.
    fn senders_and_targets(&self) -> String {
        let d = self.dir.display();
        let (supplier, premises) = targets::parse_emulated(&self.startup);
        let Some(supplier) = supplier.filter(|_| !premises.is_empty()) else {
            return format!(
                "[users]\nkind = \"local\"\ndir = \"{d}/data\"\ncount = {}\n\n\
                 [targets]\ninventory = \"{d}/targets/inventory.csv\"\n\
                 registration = \"{d}/targets/registration.csv\"\n\
                 skew = {{ kind = \"zipf\", exponent = 1.0 }}\n\n",
                self.users
            );
        };
        targets::write_emulated(&self.dir.join("emulated"), Some(supplier), &premises).unwrap();
        format!(
            "[users]\nkind = \"local\"\ndir = \"{d}/data\"\nnames = [\"{}\"]\n\n\
             [targets]\ninventory = \"{d}/emulated/inventory.csv\"\n\
             registration = \"{d}/emulated/registration.csv\"\n\n",
            hubgate_protocol::hex::eui_duis(&supplier)
        )
    }

    /// A scenario for this gateway: its load-test Users, the generated targets, `load` (the
    /// `[load]` table's lines), `listener` (the `[listener]` table's lines, or none) and the
    /// mix.
    pub fn scenario(&self, load: &str, listener: Option<&str>, mix: &[(&str, f64)]) -> String {
        let d = self.dir.display();
        let mut s = format!(
            "name = \"it\"\nseed = 7\n\n[gateway]\nurl = \"{}\"\nca = \"{d}/data/tls/ca.pem\"\n\n\
             {}[load]\n{load}\n\n[report]\ndir = \"{d}/report\"\n\n",
            self.url,
            self.senders_and_targets()
        );
        if let Some(l) = listener {
            s += &format!("[listener]\n{l}\n\n");
        }
        s += "[mix]\n";
        for (srv, share) in mix {
            s += &format!("\"{srv}\" = {share}\n");
        }
        s
    }
}

impl Gateway {
    /// As [`Gateway::start`], delivering Service Responses and alerts to a loadgen listener on
    /// a free port, whose TLS identity is made first (the gateway reads the CA it trusts at
    /// start) and put in the test's `report/` folder, where the run finds and reuses it.
    /// Returns the gateway and the listener's port.
    pub fn start_delivering(
        name: &str,
        users: u32,
        premises: u32,
        env: &[(&str, String)],
    ) -> (Gateway, u16) {
        let port = free_port();
        let tmp = std::env::temp_dir().join(format!("loadgen-it-{name}-ca-{}", std::process::id()));
        let id = hubgate_loadgen::tls::ensure_identity(
            &tmp,
            format!("127.0.0.1:{port}").parse().unwrap(),
        )
        .unwrap();
        let mut all = vec![
            (
                "HUBGATE_DELIVERY__DEFAULT_ENDPOINT",
                format!("https://127.0.0.1:{port}/duis"),
            ),
            (
                "HUBGATE_DELIVERY__CA",
                id.ca.clone().unwrap().display().to_string(),
            ),
        ];
        all.extend(env.iter().cloned());
        let gw = Gateway::start(name, users, premises, &all);
        std::fs::create_dir_all(gw.dir.join("report")).unwrap();
        for f in ["listener.pem", "listener.key", "listener-ca.pem"] {
            std::fs::copy(tmp.join(f), gw.dir.join("report").join(f)).unwrap();
        }
        let _ = std::fs::remove_dir_all(&tmp);
        (gw, port)
    }
}

/// Runs a scenario given as TOML text to its end (no progress bar) and returns its report.
pub fn run_scenario(text: &str) -> hubgate_loadgen::report::Report {
    let scenario = hubgate_loadgen::scenario::Scenario::parse(text, "test scenario").unwrap();
    let prepared = hubgate_loadgen::run::prepare(scenario).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(hubgate_loadgen::run::run(
        prepared,
        hubgate_loadgen::run::RunOptions { progress: false },
    ))
    .unwrap()
}
