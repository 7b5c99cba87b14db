//! `e2e`: the end-to-end benchmark. Signed DUIS requests in, GBCS commands to emulated
//! meters through the hub actors, signed Service Responses delivered back, measured with
//! `loadgen` and set against the bare cryptography the same traffic needs.
//!
//! For each worker-core count in `--cores` (default: all cores), one run:
//!
//! 1. starts `hubgate serve` (the release build beside this binary, or `--hubgate`) on a fresh
//!    data folder, pinned to cores `0..c` with `taskset`, with `--users` load-test Users and
//!    `--hubs` in-process emulated premises shared out among them
//!    (`emulation.suppliers = "load-test"`), delivering Service Responses to loadgen's
//!    HTTPS listener; loadgen (this process) is pinned to the remaining cores, or shares
//!    them all when none remain;
//! 2. **maximum**: a closed loop (`--depth` requests in flight per User) for `--seconds`:
//!    acknowledged Service Requests per second, and how many Service Responses came back;
//! 3. **crypto ceiling for the same mix**: the gateway counts every ECDSA verify and sign,
//!    ECDH, GMAC and payload cipher operation it performs (`hubgate_crypto_operations_total`,
//!    the emulated meters' own included, since they run in the gateway's process), so the
//!    closed loop gives the operations one request costs; a child process pinned to the same
//!    cores measures each bare aws-lc-rs operation's throughput there; the ceiling is the
//!    rate at which those cores could do nothing but that request's operations;
//! 4. **maximum sustained rate**: open loops bisecting below the closed loop's rate
//!    (`--search-steps`, `--open-seconds` each; a step that misses is run once more before
//!    its rate counts as not sustained);
//! 5. **latency**: open loops at 50 % and 80 % of the maximum for `--open-seconds` each:
//!    p99 of the acknowledgement and of the Service Response (from the intended send time,
//!    so a stall shows in full), whether the rate was kept and every response arrived;
//! 6. the gateway's resident memory (now and peak) from `/proc`, and which of its threads
//!    did the closed loop's work (`/proc/<pid>/task`): a thread near one full core is a
//!    serial limit that more cores will not lift; and the share of time the store's single
//!    writer was held (`hubgate_store_write_seconds`), the same kind of limit;
//! 7. with `--soak SECONDS`, the back-pressure soak: open loops at `--soak-load` percent
//!    (default 120) of capacity (the closed loop's acknowledged rate), with up to 1024
//!    requests in flight, `--soak-window` seconds each, with the
//!    gateway's RSS after each; the shed answers (`E44`, HTTP 503) by code, and whether every
//!    acknowledged request still got its Service Response; then an open loop at 50 % to show
//!    the gateway recovered by itself.
//!
//! Then it prints one table (and `--json`): the maximum sustained Service Requests per
//! second (the highest open-loop rate, found by bisection below the closed loop's
//! acknowledged rate, at which every send left on time, every Service Response came back
//! and p99s stayed under 500 ms for the acknowledgement and 1 s for the response), the
//! ceiling and their ratio; the gateway's CPU time per request against the bare operations'
//! (the ratio on the gateway's own CPU, which does not depend on how much of the machine the
//! load generator took); p99s at 50 % and 80 %; RSS; with several core counts, parallel
//! efficiency against the smallest (`rate(c) / (rate(c0) × c / c0)`).
//!
//! On a machine with few cores the load generator (which signs every request, as a User
//! does) competes with the gateway: pin them apart with `--cores` below the machine's count,
//! and read the ratio on gateway CPU.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey,
};
use hubgate_bench::cpu::{ThreadGroup, process_cpu_seconds, thread_cpu_seconds, thread_groups};
use hubgate_loadgen::report::Report;
use hubgate_loadgen::run::{self, RunOptions};
use hubgate_loadgen::scenario::Scenario;
use hubgate_loadgen::{targets, tls};
use serde_json::json;

/// mimalloc instead of the system allocator, as in the gateway binary: this process runs
/// `loadgen` on the cores the gateway is measured on, so its allocations are kept cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The operations counted by the gateway, in the order of its metric labels.
const OPS: [&str; 5] = ["ecdsa_verify", "ecdsa_sign", "ecdh", "gmac", "cipher"];

/// The default mix: loadgen's default DCC-like scenario (reads, prepayment, tariffs,
/// security, supply, inventory) restricted to the services the gateway builds commands for
/// and the emulated meters carry out. Left out: 4.17 and 6.13 (their gas forms are not
/// built), and the firmware, Display Message and 6.15.1 credential services.
const DEFAULT_MIX: &str = "4.8.1=24,4.6.1=16,4.1.1=12,4.18=4,2.2=13,1.1.1=4,1.6=1,4.11.1=1,6.11=2,\
     6.24.1=1,7.4=3,7.1=1,8.2=4";

#[derive(Debug)]
struct Args {
    hubgate: PathBuf,
    users: u32,
    hubs: u32,
    cores: Vec<usize>,
    seconds: f64,
    open_seconds: f64,
    search_steps: usize,
    depth: usize,
    mix: String,
    ceiling_seconds: f64,
    json: Option<PathBuf>,
    keep: bool,
    /// Soak: seconds of open-loop overload after the measurements (0: none).
    soak: f64,
    /// Soak load, percent of the maximum sustained rate.
    soak_load: f64,
    /// Soak window: one loadgen run, then a memory sample.
    soak_window: f64,
}

const USAGE: &str = "usage: e2e [--hubgate PATH] [--users U] [--hubs H] [--cores 1,2,4,…] \
[--seconds S] [--open-seconds S] [--search-steps N] [--depth D] [--mix SRV=SHARE,…] [--ceiling-seconds S] \
[--json OUT] [--keep-data] [--soak SECONDS [--soak-load PERCENT] [--soak-window S]]\n       e2e --ceiling-only SECONDS THREADS   (internal: bare operation rates)";

/// The cores this process may use, read once before it pins itself to a subset.
fn available_cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

fn parse_args() -> Result<Args, String> {
    let exe = std::env::current_exe().map_err(|e| format!("locating this binary: {e}"))?;
    let mut a = Args {
        hubgate: exe.with_file_name("hubgate"),
        // Each User's requests go in order over its one connection (its counters must arrive
        // increasing), so a connection carries at most one request per acknowledgement
        // latency, a few hundred a second: with 16 Users a 16-core gateway waits on its
        // Users. 128 Users (eight premises each) keep any core count busy.
        users: 128,
        hubs: 1024,
        cores: vec![available_cores()],
        seconds: 10.0,
        open_seconds: 5.0,
        search_steps: 5,
        depth: 8,
        mix: DEFAULT_MIX.into(),
        ceiling_seconds: 1.0,
        json: None,
        keep: false,
        soak: 0.0,
        soak_load: 120.0,
        soak_window: 30.0,
    };
    let mut it = std::env::args().skip(1);
    fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
        v.parse()
            .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
    }
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--hubgate" => a.hubgate = PathBuf::from(value("--hubgate")?),
            "--users" => a.users = num("--users", &value("--users")?)?,
            "--hubs" => a.hubs = num("--hubs", &value("--hubs")?)?,
            "--cores" => {
                a.cores = value("--cores")?
                    .split(',')
                    .map(|c| num("--cores", c.trim()))
                    .collect::<Result<_, _>>()?;
            }
            "--seconds" => a.seconds = num("--seconds", &value("--seconds")?)?,
            "--open-seconds" => a.open_seconds = num("--open-seconds", &value("--open-seconds")?)?,
            "--depth" => a.depth = num("--depth", &value("--depth")?)?,
            "--search-steps" => a.search_steps = num("--search-steps", &value("--search-steps")?)?,
            "--mix" => a.mix = value("--mix")?,
            "--ceiling-seconds" => {
                a.ceiling_seconds = num("--ceiling-seconds", &value("--ceiling-seconds")?)?;
            }
            "--json" => a.json = Some(PathBuf::from(value("--json")?)),
            "--keep-data" => a.keep = true,
            "--soak" => a.soak = num("--soak", &value("--soak")?)?,
            "--soak-load" => a.soak_load = num("--soak-load", &value("--soak-load")?)?,
            "--soak-window" => a.soak_window = num("--soak-window", &value("--soak-window")?)?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let n = available_cores();
    if a.cores.is_empty() || a.cores.iter().any(|&c| c == 0 || c > n) {
        return Err(format!(
            "--cores: each count must be in 1..={n} (this machine's cores)"
        ));
    }
    if a.users == 0 || a.users > 65_535 || a.hubs < a.users || a.hubs > 4096 {
        return Err("--users must be in 1..=65535 and --hubs in users..=4096".into());
    }
    if a.soak < 0.0 || a.soak_load <= 0.0 || a.soak_window <= 0.0 {
        return Err("--soak must be 0 or more, --soak-load and --soak-window positive".into());
    }
    if a.depth == 0 || a.seconds <= 0.0 || a.open_seconds <= 0.0 {
        return Err("--depth, --seconds and --open-seconds must be positive".into());
    }
    if !a.hubgate.is_file() {
        return Err(format!(
            "{} not found: build it with `cargo build --release -p hubgate-gateway` or pass --hubgate",
            a.hubgate.display()
        ));
    }
    Ok(a)
}

/// `taskset` CPU list for cores `from..to`.
fn cpu_list(from: usize, to: usize) -> String {
    if to - from == 1 {
        from.to_string()
    } else {
        format!("{from}-{}", to - 1)
    }
}

/// The gateway process, stopped on drop.
struct Gateway {
    child: Child,
    url: String,
    metrics: String,
    data: PathBuf,
    startup: String,
    keep: bool,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.data);
        }
    }
}

impl Gateway {
    fn start(
        a: &Args,
        cores: usize,
        data: &Path,
        listener: &str,
        ca: &Path,
    ) -> Result<Self, String> {
        let mut cmd = if cores < available_cores() {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu_list(0, cores)]).arg(&a.hubgate);
            c
        } else {
            Command::new(&a.hubgate)
        };
        let mut child = cmd
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data.join("gw"))
            .env("HUBGATE_LOGGING__LEVEL", "warn")
            .env("HUBGATE_PKI__LOAD_TEST_USERS", a.users.to_string())
            .env("HUBGATE_EMULATION__HUBS", a.hubs.to_string())
            .env("HUBGATE_EMULATION__SUPPLIERS", "load-test")
            // Anomaly detection runs (its cost is measured) but never quarantines: the
            // benchmark sends far more per User than the default thresholds allow.
            .env("HUBGATE_ANOMALY__OVERRIDES", "*:*=-,-")
            .env(
                "HUBGATE_DELIVERY__DEFAULT_ENDPOINT",
                format!("https://{listener}/duis"),
            )
            .env("HUBGATE_DELIVERY__CA", ca)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", a.hubgate.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    // Keep draining so the gateway never blocks on a full pipe.
                    continue;
                }
            }
        });
        let (mut url, mut metrics, mut startup) = (None, None, String::new());
        let deadline = Instant::now() + Duration::from_secs(120);
        while url.is_none() || metrics.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .map_err(|_| format!("the gateway did not start within 120 s:\n{startup}"))?;
            if let Some(u) = line.strip_prefix("DUIS listening on ") {
                url = Some(u.trim().to_string());
            }
            if let Some(m) = line.strip_prefix("metrics listening on http://") {
                metrics = Some(m.trim().trim_end_matches("/metrics").to_string());
            }
            startup.push_str(&line);
            startup.push('\n');
        }
        Ok(Gateway {
            child,
            url: url.unwrap_or_default(),
            metrics: metrics.unwrap_or_default(),
            data: data.to_path_buf(),
            startup,
            keep: a.keep,
        })
    }

    /// The gateway's crypto operation counts.
    fn crypto_ops(&self) -> Result<BTreeMap<String, f64>, String> {
        let out = self.by_label("hubgate_crypto_operations_total", "op")?;
        if out.is_empty() {
            return Err("the gateway exports no hubgate_crypto_operations_total".into());
        }
        Ok(out)
    }

    /// Seconds the store's writer was waited for and held so far, by phase (`wait`, `held`).
    fn store_write_seconds(&self) -> Result<BTreeMap<String, f64>, String> {
        self.by_label("hubgate_store_write_seconds_sum", "phase")
    }

    /// The values of metric `name` from the gateway's `/metrics`, keyed by label `label`.
    fn by_label(&self, name: &str, label: &str) -> Result<BTreeMap<String, f64>, String> {
        let mut s = std::net::TcpStream::connect(&self.metrics)
            .map_err(|e| format!("metrics {}: {e}", self.metrics))?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n", self.metrics)
            .map_err(|e| e.to_string())?;
        let mut text = String::new();
        s.read_to_string(&mut text).map_err(|e| e.to_string())?;
        let mut out = BTreeMap::new();
        let prefix = format!("{name}{{");
        let key = format!("{label}=\"");
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(&prefix) else {
                continue;
            };
            let Some((labels, value)) = rest.split_once("} ") else {
                continue;
            };
            let Some(v) = labels
                .split(',')
                .find_map(|l| l.strip_prefix(&key))
                .map(|v| v.trim_end_matches('"').to_string())
            else {
                continue;
            };
            out.insert(v, value.trim().parse().unwrap_or(0.0));
        }
        Ok(out)
    }

    /// Resident and peak resident memory, MiB.
    fn rss_mib(&self) -> (f64, f64) {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib = |key: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
    }
}

/// Bare aws-lc-rs operations per second of CPU, summed over `threads` threads (so `threads`
/// fully available cores), each run for `seconds`:
/// ECDSA P-256 verify and sign of a 600-byte message (a canonical SignedInfo's size),
/// P-256 ECDH, a GMAC (AES-128-GCM tag over 200 bytes of AAD) and an AES-128-GCM seal of 100
/// bytes (a payload block).
fn bare_rates(threads: usize, seconds: f64) -> Result<BTreeMap<String, f64>, String> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| "generating a P-256 key")?;
    let pair = Arc::new(
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|_| "loading the P-256 key")?,
    );
    let msg = vec![0x5a_u8; 600];
    let sig = pair.sign(&rng, &msg).map_err(|_| "signing")?;
    let public = Arc::new(
        ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
            .map_err(|_| "parsing the public key")?,
    );
    let peer = pair.public_key().as_ref().to_vec();
    let aes = Arc::new(LessSafeKey::new(
        UnboundKey::new(&AES_128_GCM, &[7u8; 16]).map_err(|_| "AES key")?,
    ));
    let dur = Duration::from_secs_f64(seconds);
    let mut out = BTreeMap::new();
    for op in OPS {
        let total: f64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (pair, public, aes, msg, sig, peer) = (
                        Arc::clone(&pair),
                        Arc::clone(&public),
                        Arc::clone(&aes),
                        msg.clone(),
                        sig.as_ref().to_vec(),
                        peer.clone(),
                    );
                    s.spawn(move || {
                        let rng = SystemRandom::new();
                        let mut clock = hubgate_bench::cpu::ThreadCpuClock::open();
                        let cpu0 = clock.as_mut().and_then(|c| c.now());
                        let start = Instant::now();
                        let mut n = 0u64;
                        while start.elapsed() < dur {
                            for _ in 0..8 {
                                let ok = match op {
                                    "ecdsa_verify" => public.verify_sig(&msg, &sig).is_ok(),
                                    "ecdsa_sign" => pair.sign(&rng, &msg).is_ok(),
                                    "ecdh" => EphemeralPrivateKey::generate(&ECDH_P256, &rng)
                                        .ok()
                                        .and_then(|k| {
                                            agreement::agree_ephemeral(
                                                k,
                                                UnparsedPublicKey::new(&ECDH_P256, &peer),
                                                (),
                                                |z| Ok(z[0]),
                                            )
                                            .ok()
                                        })
                                        .is_some(),
                                    "gmac" => {
                                        let mut empty = Vec::new();
                                        aes.seal_in_place_separate_tag(
                                            Nonce::assume_unique_for_key([1u8; 12]),
                                            Aad::from(&msg[..200]),
                                            &mut empty,
                                        )
                                        .is_ok()
                                    }
                                    _ => {
                                        let mut block = msg[..100].to_vec();
                                        aes.seal_in_place_separate_tag(
                                            Nonce::assume_unique_for_key([1u8; 12]),
                                            Aad::from([0x31u8]),
                                            &mut block,
                                        )
                                        .is_ok()
                                    }
                                };
                                n += u64::from(ok);
                            }
                        }
                        // Operations per second of this thread's own CPU time (wall time where
                        // the kernel gives no thread clock): a shared machine's other work
                        // does not lower it.
                        let busy = match (cpu0, clock.as_mut().and_then(|c| c.now())) {
                            (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
                            _ => start.elapsed().as_secs_f64(),
                        };
                        n as f64 / busy.max(1e-9)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0.0))
                .sum::<f64>()
        });
        out.insert(op.to_string(), total);
    }
    Ok(out)
}

/// Runs [`bare_rates`] in a child pinned to cores `0..cores`, so it measures exactly the
/// cores the gateway had.
fn pinned_bare_rates(cores: usize, seconds: f64) -> Result<BTreeMap<String, f64>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new("taskset")
        .args(["-c", &cpu_list(0, cores)])
        .arg(exe)
        .args(["--ceiling-only", &seconds.to_string(), &cores.to_string()])
        .output()
        .map_err(|e| format!("taskset: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "measuring the bare operations failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("bare operation rates: {e}"))
}

/// Pins every thread of this process to cores `from..to` (new threads inherit it).
fn pin_self(from: usize, to: usize) -> Result<(), String> {
    let status = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &cpu_list(from, to),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("taskset could not pin the load generator".into())
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn mix_toml(mix: &str) -> Result<String, String> {
    let mut out = String::from("[mix]\n");
    for part in mix.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (srv, share) = part
            .split_once('=')
            .ok_or_else(|| format!("--mix: {part:?} is not SRV=SHARE"))?;
        let share: f64 = share
            .parse()
            .map_err(|_| format!("--mix: {share:?} is not a number"))?;
        out += &format!("\"{}\" = {share}\n", srv.trim());
    }
    Ok(out)
}

/// One loadgen run against the gateway.
fn loadgen(
    rt: &tokio::runtime::Runtime,
    gw: &Gateway,
    dir: &Path,
    listener: &str,
    a: &Args,
    load: &str,
    name: &str,
) -> Result<Report, String> {
    let d = gw.data.display();
    let text = format!(
        "name = \"{name}\"\nseed = 1\n\n[gateway]\nurl = \"{}\"\nca = \"{d}/gw/tls/ca.pem\"\n\n\
         [users]\nkind = \"local\"\ndir = \"{d}/gw\"\ncount = {}\n\n\
         [targets]\ninventory = \"{}/inventory.csv\"\nregistration = \"{}/registration.csv\"\n\n\
         [load]\n{load}\nanswer_wait_s = 30.0\n\n\
         [listener]\naddress = \"{listener}\"\ndrain_s = 10.0\n\n\
         [report]\ndir = \"{}\"\n\n{}",
        gw.url,
        a.users,
        dir.display(),
        dir.display(),
        gw.data.join("report").display(),
        mix_toml(&a.mix)?
    );
    let scenario = Scenario::parse(&text, name).map_err(|e| e.to_string())?;
    let prepared = run::prepare(scenario)?;
    rt.block_on(run::run(prepared, RunOptions { progress: false }))
}

/// The `[load]` lines of an open loop at `rate` for `--open-seconds`.
fn open_loop(a: &Args, rate: f64) -> String {
    format!(
        "mode = \"open\"\nduration_s = {}\nprofile = {{ kind = \"constant\", rate = {rate} }}\ndepth = {}",
        a.open_seconds,
        a.depth.max(64)
    )
}

/// What one core count gave.
#[derive(Debug, Default)]
struct Outcome {
    cores: usize,
    loadgen_cores: String,
    max_rate: f64,
    closed_rate: f64,
    responses_matched: u64,
    responses_outstanding: u64,
    ops_per_request: BTreeMap<String, f64>,
    bare: BTreeMap<String, f64>,
    ceiling: f64,
    gateway_cpu_cores: f64,
    /// Gateway CPU time per acknowledged request in the closed loop, µs.
    gateway_cpu_us: f64,
    /// CPU time of the request's bare operations, µs.
    crypto_cpu_us: f64,
    /// loadgen's CPU time per request sent in the closed loop, µs.
    loadgen_cpu_us: Option<f64>,
    at_50: Option<Report>,
    at_80: Option<Report>,
    rss_mib: (f64, f64),
    codes: BTreeMap<String, u64>,
    /// The gateway's threads in the closed loop, busiest group first.
    threads: Vec<ThreadGroup>,
    /// In the closed loop: the share of time the store's single writer was held, and the
    /// writer-seconds per second spent waiting for it (summed over the waiting threads).
    store_writer: (f64, f64),
    soak: Vec<SoakWindow>,
    /// After the soak: an open loop at 50 % of the maximum, kept?
    soak_recovered: Option<bool>,
}

/// One window of the soak.
#[derive(Debug, Default)]
struct SoakWindow {
    rate: f64,
    sent: u64,
    acknowledged: u64,
    /// Synchronous answers by code (the shed ones among them).
    codes: BTreeMap<String, u64>,
    /// Acknowledged requests whose Service Response came back / never came back.
    responses_matched: u64,
    responses_outstanding: u64,
    /// Requests the load generator could not send on time (in flight limit).
    not_sent: u64,
    /// Requests sent that got no synchronous answer in time.
    unanswered: u64,
    rss_mib: f64,
}

fn one(a: &Args, cores: usize) -> Result<Outcome, String> {
    let n = available_cores();
    let loadgen_cores = if cores < n {
        cpu_list(cores, n)
    } else {
        cpu_list(0, n)
    };
    if cores < n {
        pin_self(cores, n)?;
    } else {
        pin_self(0, n)?;
    }
    let data = std::env::temp_dir().join(format!("hubgate-e2e-{}-{cores}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(data.join("report")).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let listener = format!("127.0.0.1:{port}");
    let addr = listener.parse().map_err(|e| format!("{e}"))?;
    let id = tls::ensure_identity(&data.join("report"), addr)?;
    let ca = id.ca.ok_or("no listener CA")?;
    eprintln!("e2e: {cores} gateway core(s), loadgen on {loadgen_cores}: starting the gateway");
    let gw = Gateway::start(a, cores, &data, &listener, &ca)?;
    let (supplier, premises) = targets::parse_emulated(&gw.startup);
    let tdir = data.join("targets");
    targets::write_emulated(&tdir, supplier, &premises).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;

    // A short warm-up (connections, caches, hub actors activated), not measured.
    let _ = loadgen(
        &rt,
        &gw,
        &tdir,
        &listener,
        a,
        "mode = \"closed\"\nduration_s = 2.0\ndepth = 2",
        "warm-up",
    )?;

    eprintln!("e2e: closed loop for {} s", a.seconds);
    let ops0 = gw.crypto_ops()?;
    let gw_pid = gw.child.id().to_string();
    let cpu0 = process_cpu_seconds(&gw_pid).unwrap_or(0.0);
    let threads0 = (thread_cpu_seconds(&gw_pid), Instant::now());
    let store0 = gw.store_write_seconds().unwrap_or_default();
    let closed = loadgen(
        &rt,
        &gw,
        &tdir,
        &listener,
        a,
        &format!(
            "mode = \"closed\"\nduration_s = {}\ndepth = {}",
            a.seconds, a.depth
        ),
        "maximum",
    )?;
    let ops1 = gw.crypto_ops()?;
    let cpu1 = process_cpu_seconds(&gw_pid).unwrap_or(0.0);
    let loop_seconds = threads0.1.elapsed().as_secs_f64();
    let threads = thread_groups(&threads0.0, &thread_cpu_seconds(&gw_pid), loop_seconds);
    let store1 = gw.store_write_seconds().unwrap_or_default();
    let store_share = |phase: &str| {
        (store1.get(phase).copied().unwrap_or(0.0) - store0.get(phase).copied().unwrap_or(0.0))
            / loop_seconds.max(1e-9)
    };
    let store_writer = (store_share("held"), store_share("wait"));
    let requests = closed.acknowledged.max(1) as f64;
    let ops_per_request: BTreeMap<String, f64> = OPS
        .iter()
        .map(|op| {
            let d = ops1.get(*op).copied().unwrap_or(0.0) - ops0.get(*op).copied().unwrap_or(0.0);
            ((*op).to_string(), d / requests)
        })
        .collect();
    eprintln!(
        "e2e: measuring bare operations on cores {}",
        cpu_list(0, cores)
    );
    let bare = pinned_bare_rates(cores, a.ceiling_seconds)?;
    let seconds_per_request: f64 = ops_per_request
        .iter()
        .map(|(op, n)| n / bare.get(op).copied().unwrap_or(f64::INFINITY))
        .sum();
    let ceiling = if seconds_per_request > 0.0 {
        1.0 / seconds_per_request
    } else {
        0.0
    };
    let asynchronous = closed.asynchronous.clone().unwrap_or_default_summary();
    // The highest open-loop rate the gateway sustains: every send on time, every Service
    // Response back, p99 of the acknowledgement within 500 ms and of the response within 1 s
    // (a backlog that grows shows up as responses seconds late). Bisection between 0 and the
    // closed loop's acknowledged rate (which counts acknowledgements only, so it can run
    // ahead of the responses).
    let (mut lo, mut hi) = (0.0_f64, closed.acknowledged_rate.max(1.0));
    let mut rate = hi * 0.7;
    // A step that misses is run once more before the rate counts as not sustained: on a
    // shared machine one burst of late sends (a neighbour's job) would otherwise halve the
    // result. A rate the gateway cannot hold fails both runs.
    for step in 0..a.search_steps {
        let mut sustained = false;
        for attempt in 0..2 {
            let label = match attempt {
                0 => format!("search-{}", step + 1),
                _ => format!("search-{}-again", step + 1),
            };
            eprintln!(
                "e2e: search {}{}: open loop at {rate:.0}/s",
                step + 1,
                if attempt == 0 { "" } else { " (again)" }
            );
            let r = loadgen(&rt, &gw, &tdir, &listener, a, &open_loop(a, rate), &label)?;
            match shortfall(&r) {
                None => {
                    sustained = true;
                    break;
                }
                Some(why) => eprintln!("e2e: search {}: not sustained: {why}", step + 1),
            }
        }
        if sustained {
            lo = rate;
        } else {
            hi = rate;
        }
        rate = (lo + hi) / 2.0;
    }
    let max_rate = lo;
    let mut out = Outcome {
        cores,
        loadgen_cores,
        max_rate,
        closed_rate: closed.acknowledged_rate,
        responses_matched: asynchronous.0,
        responses_outstanding: asynchronous.1,
        ops_per_request,
        bare,
        ceiling,
        gateway_cpu_cores: (cpu1 - cpu0) / closed.send_seconds.max(1e-9),
        gateway_cpu_us: (cpu1 - cpu0) / requests * 1e6,
        crypto_cpu_us: seconds_per_request * cores as f64 * 1e6,
        loadgen_cpu_us: closed.cpu.as_ref().and_then(|c| c.us_per_request),
        codes: closed.codes.clone(),
        threads,
        store_writer,
        ..Outcome::default()
    };
    for (fraction, slot) in [(0.5, &mut out.at_50), (0.8, &mut out.at_80)] {
        let rate = (max_rate * fraction).max(1.0);
        eprintln!(
            "e2e: open loop at {rate:.0}/s ({:.0} % of the maximum)",
            fraction * 100.0
        );
        *slot = Some(loadgen(
            &rt,
            &gw,
            &tdir,
            &listener,
            a,
            &open_loop(a, rate),
            &format!("open-{}", (fraction * 100.0) as u32),
        )?);
    }
    out.rss_mib = gw.rss_mib();
    if a.soak > 0.0 {
        // Capacity: the most the gateway acknowledged (the closed loop), not the
        // latency-bounded sustained rate, so that the soak is a real overload.
        let capacity = closed.acknowledged_rate.max(max_rate);
        let rate = (capacity * a.soak_load / 100.0).max(1.0);
        let windows = (a.soak / a.soak_window).ceil().max(1.0) as usize;
        for w in 0..windows {
            eprintln!(
                "e2e: soak window {}/{windows}: open loop at {rate:.0}/s ({:.0} % of capacity) for {} s",
                w + 1,
                a.soak_load,
                a.soak_window
            );
            let load = format!(
                "mode = \"open\"\nduration_s = {}\nprofile = {{ kind = \"constant\", rate = {rate} }}\ndepth = {}",
                a.soak_window,
                // Enough in flight for the overload to reach the gateway's own bounds.
                a.depth.max(1024)
            );
            let r = loadgen(
                &rt,
                &gw,
                &tdir,
                &listener,
                a,
                &load,
                &format!("soak-{}", w + 1),
            )?;
            let (matched, outstanding) = r.asynchronous.clone().unwrap_or_default_summary();
            out.soak.push(SoakWindow {
                rate,
                sent: r.sent,
                acknowledged: r.acknowledged,
                codes: r.codes.clone(),
                responses_matched: matched,
                responses_outstanding: outstanding,
                not_sent: r.not_sent,
                unanswered: r.lost,
                rss_mib: gw.rss_mib().0,
            });
        }
        let rate = (max_rate * 0.5).max(1.0);
        eprintln!("e2e: after the soak: open loop at {rate:.0}/s (50 % of the maximum)");
        let r = loadgen(
            &rt,
            &gw,
            &tdir,
            &listener,
            a,
            &open_loop(a, rate),
            "soak-after",
        )?;
        out.soak_recovered = Some(shortfall(&r).is_none());
        out.rss_mib = gw.rss_mib();
    }
    Ok(out)
}

/// (matched, outstanding) of an asynchronous summary.
trait Matched {
    fn unwrap_or_default_summary(self) -> (u64, u64);
}

impl Matched for Option<hubgate_loadgen::tracker::AsyncSummary> {
    fn unwrap_or_default_summary(self) -> (u64, u64) {
        self.map_or((0, 0), |s| (s.matched, s.outstanding))
    }
}

/// Why an open-loop run did not keep up (sends on time, every response back, p99 within
/// bounds), or `None` when it did.
fn shortfall(r: &Report) -> Option<String> {
    let mut why = Vec::new();
    if !r.kept_rate {
        why.push(format!(
            "sends late ({})",
            r.rate_note
                .as_deref()
                .unwrap_or("the requested rate was not kept")
        ));
    }
    if r.lost > 0 || r.not_sent > 0 {
        why.push(format!("{} lost, {} not sent", r.lost, r.not_sent));
    }
    match r.ack_latency.as_ref() {
        Some(q) if q.p99_ms <= 500.0 => {}
        Some(q) => why.push(format!("p99 acknowledgement {:.0} ms", q.p99_ms)),
        None => why.push("no acknowledgement".into()),
    }
    match r.asynchronous.as_ref() {
        None => why.push("no Service Responses tracked".into()),
        Some(s) => {
            if s.outstanding > 0 {
                why.push(format!("{} Service Responses outstanding", s.outstanding));
            }
            if let Some(q) = s.response_latency.as_ref().filter(|q| q.p99_ms > 1000.0) {
                why.push(format!("p99 Service Response {:.0} ms", q.p99_ms));
            }
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn p99(r: &Option<Report>) -> (Option<f64>, Option<f64>, bool) {
    let Some(r) = r else {
        return (None, None, false);
    };
    let ack = r.ack_latency.as_ref().map(|q| q.p99_ms);
    let resp = r
        .asynchronous
        .as_ref()
        .and_then(|s| s.response_latency.as_ref())
        .map(|q| q.p99_ms);
    let all_back = r.asynchronous.as_ref().is_some_and(|s| s.outstanding == 0);
    (ack, resp, r.kept_rate && all_back)
}

/// The six busiest thread groups, `name ×threads cores/busiest`.
fn busiest_threads(groups: &[ThreadGroup]) -> String {
    groups
        .iter()
        .take(6)
        .map(|g| format!("{} ×{} {:.2}/{:.2}", g.name, g.threads, g.cores, g.busiest))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1}"))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--ceiling-only") {
        let seconds: f64 = argv.get(2).and_then(|s| s.parse().ok()).unwrap_or(1.0);
        let threads: usize = argv.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
        return match bare_rates(threads, seconds) {
            Ok(r) => {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("e2e: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("e2e: {e}");
            return ExitCode::from(2);
        }
    };
    let mut results = Vec::new();
    for &c in &a.cores {
        match one(&a, c) {
            Ok(o) => {
                // As each count finishes, so that a run cut short still shows it.
                eprintln!(
                    "e2e: {c} core(s): {:.0} SR/s sustained, {:.0} acknowledged/s closed loop, gateway on {:.2} cores, {:.0} µs CPU per request; store writer held {:.2}, waited for {:.2}; threads: {}",
                    o.max_rate,
                    o.closed_rate,
                    o.gateway_cpu_cores,
                    o.gateway_cpu_us,
                    o.store_writer.0,
                    o.store_writer.1,
                    busiest_threads(&o.threads)
                );
                results.push(o);
            }
            Err(e) => {
                eprintln!("e2e: {c} core(s): {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let base = results.first().map(|o| (o.cores, o.max_rate));
    println!(
        "\nEnd to end: {} Users, {} emulated premises, mix {}\n",
        a.users, a.hubs, a.mix
    );
    println!(
        "| gateway cores | loadgen cores | SR/s (max sustained) | closed-loop acks/s | crypto ceiling SR/s | ratio | gateway CPU (cores) | gateway / crypto CPU per request (µs) | ratio on gateway CPU | loadgen CPU per request (µs) | p99 ack / response @50 % (ms) | p99 ack / response @80 % (ms) | kept @80 % | RSS now / peak (MiB) | parallel efficiency |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---|---|---|---|---:|");
    let mut rows = Vec::new();
    for o in &results {
        let (a50, r50, _) = p99(&o.at_50);
        let (a80, r80, kept80) = p99(&o.at_80);
        let eff = base.map(|(c0, r0)| o.max_rate / (r0 * o.cores as f64 / c0 as f64));
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} / {:.0} | {:.2} | {} | {} / {} | {} / {} | {} | {:.0} / {:.0} | {} |",
            o.cores,
            o.loadgen_cores,
            o.max_rate,
            o.closed_rate,
            o.ceiling,
            o.max_rate / o.ceiling.max(1e-9),
            o.gateway_cpu_cores,
            o.gateway_cpu_us,
            o.crypto_cpu_us,
            o.crypto_cpu_us / o.gateway_cpu_us.max(1e-9),
            o.loadgen_cpu_us
                .map_or_else(|| "–".into(), |us| format!("{us:.0}")),
            fmt_ms(a50),
            fmt_ms(r50),
            fmt_ms(a80),
            fmt_ms(r80),
            if kept80 { "yes" } else { "no" },
            o.rss_mib.0,
            o.rss_mib.1,
            eff.map_or_else(|| "–".into(), |e| format!("{e:.2}")),
        );
        rows.push(json!({
            "gateway_cores": o.cores,
            "loadgen_cores": o.loadgen_cores,
            "max_rate": o.max_rate,
            "closed_loop_ack_rate": o.closed_rate,
            "closed_loop_codes": o.codes,
            "responses_matched": o.responses_matched,
            "responses_outstanding": o.responses_outstanding,
            "ops_per_request": o.ops_per_request,
            "bare_ops_per_second": o.bare,
            "crypto_ceiling": o.ceiling,
            "ratio": o.max_rate / o.ceiling.max(1e-9),
            "gateway_cpu_cores": o.gateway_cpu_cores,
            "gateway_cpu_us_per_request": o.gateway_cpu_us,
            "crypto_cpu_us_per_request": o.crypto_cpu_us,
            "ratio_on_gateway_cpu": o.crypto_cpu_us / o.gateway_cpu_us.max(1e-9),
            "loadgen_cpu_us_per_request": o.loadgen_cpu_us,
            "p99_ack_ms_50": a50, "p99_response_ms_50": r50,
            "p99_ack_ms_80": a80, "p99_response_ms_80": r80,
            "kept_80": kept80,
            "rss_mib": o.rss_mib.0, "peak_rss_mib": o.rss_mib.1,
            "parallel_efficiency": eff,
            "open_50": o.at_50, "open_80": o.at_80,
            "store_writer_held_share": o.store_writer.0,
            "store_writer_waiting": o.store_writer.1,
            "threads": o.threads.iter().map(|g| json!({
                "name": g.name, "threads": g.threads, "cores": g.cores, "busiest_thread_cores": g.busiest,
            })).collect::<Vec<_>>(),
        }));
    }
    println!();
    for o in &results {
        let per: Vec<String> = o
            .ops_per_request
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect();
        let bare: Vec<String> = o
            .bare
            .iter()
            .map(|(k, v)| format!("{k} {v:.0}/s"))
            .collect();
        println!(
            "{} core(s): operations per request: {}; bare on those cores: {}; closed loop answers {:?}; Service Responses back {} (outstanding {})",
            o.cores,
            per.join(", "),
            bare.join(", "),
            o.codes,
            o.responses_matched,
            o.responses_outstanding
        );
        println!(
            "{} core(s): gateway threads in the closed loop (cores together / busiest thread): {}; the store's single writer held {:.0} % of the time, waited for by {:.2} writers on average",
            o.cores,
            busiest_threads(&o.threads),
            o.store_writer.0 * 100.0,
            o.store_writer.1
        );
    }
    for o in results.iter().filter(|o| !o.soak.is_empty()) {
        println!(
            "\nSoak, {} gateway core(s), {:.0} % of capacity (the closed loop's acknowledged rate), {} s windows:\n",
            o.cores, a.soak_load, a.soak_window
        );
        println!(
            "| window | rate/s | sent | acknowledged | shed / other answers | Service Responses back | acknowledged, no response | not sent (loadgen limit) | no answer by the window's end | RSS after (MiB) |"
        );
        println!("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|");
        for (i, w) in o.soak.iter().enumerate() {
            let other: Vec<String> = w
                .codes
                .iter()
                .filter(|(c, _)| !c.ends_with(" I99") && !c.ends_with(" I0"))
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            println!(
                "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
                i + 1,
                w.rate,
                w.sent,
                w.acknowledged,
                if other.is_empty() {
                    "–".into()
                } else {
                    other.join(", ")
                },
                w.responses_matched,
                w.responses_outstanding,
                w.not_sent,
                w.unanswered,
                w.rss_mib
            );
        }
        let lost: u64 = o.soak.iter().map(|w| w.responses_outstanding).sum();
        let (first, last) = (
            o.soak.first().map_or(0.0, |w| w.rss_mib),
            o.soak.last().map_or(0.0, |w| w.rss_mib),
        );
        println!(
            "\nacknowledged with no Service Response: {lost}; RSS first → last window {first:.0} → {last:.0} MiB; \
             at 50 % afterwards: {}",
            match o.soak_recovered {
                Some(true) => "sustained (recovered)",
                Some(false) => "NOT sustained",
                None => "–",
            }
        );
    }
    if let Some(path) = &a.json {
        let soaks: Vec<_> = results
            .iter()
            .map(|o| {
                let windows: Vec<_> = o
                    .soak
                    .iter()
                    .map(|w| {
                        json!({
                            "rate": w.rate, "sent": w.sent, "acknowledged": w.acknowledged,
                            "codes": w.codes, "responses_matched": w.responses_matched,
                            "responses_outstanding": w.responses_outstanding,
                            "not_sent": w.not_sent, "unanswered": w.unanswered,
                            "rss_mib": w.rss_mib,
                        })
                    })
                    .collect();
                json!({ "cores": o.cores, "windows": windows, "recovered": o.soak_recovered })
            })
            .collect();
        let doc =
            json!({ "users": a.users, "hubs": a.hubs, "mix": a.mix, "runs": rows, "soak": soaks });
        if let Err(e) = std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap_or_default()) {
            eprintln!("e2e: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
