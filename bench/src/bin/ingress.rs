//! `ingress`: how many signed DUIS requests `hubgate serve` acknowledges per second over
//! HTTPS with keep-alive, against what the bare cryptography allows on the same cores.
//!
//! One run does, in order:
//!
//! 1. starts `hubgate serve` (release build next to this binary, or `--hubgate`) on a fresh
//!    data directory with its local test PKI and `--users` load-test Users (default 32), each
//!    with a hub, an ESME and a GSME of its own in the inventory and registered as their
//!    supplier, so every request is valid;
//! 2. measures the **ceiling**: bare aws-lc-rs ECDSA P-256 verify + sign pairs per second
//!    (the two operations every acknowledged request needs: the User's signature checked, the
//!    DSP's signature made), on as many threads as there are cores;
//! 3. signs the requests up front (so signing does not compete with the gateway), alternating
//!    4.1.1 Read Instantaneous Import Registers (to the User's ESME) and 8.2 Read Inventory,
//!    counters strictly increasing per User;
//! 4. **closed loop**: one keep-alive HTTPS connection per User with up to `--depth` requests
//!    pipelined on it (HTTP/1.1 answers come back in order, so the counters the gateway sees
//!    stay in order per User): acknowledged requests per second;
//! 5. **open loop** at a fraction (`--fraction`, default 0.5) of that rate for
//!    `--open-seconds`: each request has an intended send time, and its latency is measured
//!    from that time, so a stall of the gateway shows up in full (no coordinated omission);
//!    p50/p90/p99/p99.9/max of the acknowledgement latency.
//!
//! The gateway runs with `routing.enabled = false`: device requests are acknowledged after
//! the Section H4 checks and not sent to meters, so what is measured is the ingress (TLS,
//! HTTP, XML, signature, checks, durable counter, signed acknowledgement) and nothing else.
//!
//! CPU time of the gateway and of this client are reported for each phase, since both share
//! the machine. The HTTP/1.1 client is written here on top of tokio-rustls because pipelining
//! (several requests in flight on one connection, answers matched in order) is what keeps the
//! per-User counters ordered at depth, and the common client crates do not pipeline.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey,
};
use hdrhistogram::Histogram;
use hubgate_bench::cpu::process_cpu_seconds;
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::duis::dsig;
use hubgate_protocol::smki::Certificate;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::mpsc;

/// mimalloc instead of the system allocator, as in the gateway binary: the client shares the
/// machine with the gateway it measures, so its allocations are kept cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One load-test User of the run and its premises: a hub, an ESME and a GSME of its own,
/// with the User registered as import supplier and gas supplier.
struct UserPlan {
    index: u32,
}

impl UserPlan {
    fn name(&self) -> String {
        format!("load-{:05}", self.index)
    }
    fn id(&self) -> String {
        let [_, _, hi, lo] = self.index.to_be_bytes();
        format!("90-B3-D5-1F-50-00-{hi:02X}-{lo:02X}")
    }
    fn device(&self, last: u8) -> String {
        let [_, _, hi, lo] = self.index.to_be_bytes();
        format!("00-DB-12-34-{hi:02X}-{lo:02X}-00-{last:02X}")
    }
    fn esme(&self) -> String {
        self.device(0xA0)
    }
    fn gsme(&self) -> String {
        self.device(0xA1)
    }
    fn chf(&self) -> String {
        self.device(0xA2)
    }
    fn mpan(&self) -> String {
        format!("11{:011}", self.index)
    }
    fn mprn(&self) -> String {
        format!("10{:08}", self.index)
    }
}

fn plans(users: u32) -> Vec<UserPlan> {
    (1..=users).map(|index| UserPlan { index }).collect()
}

fn inventory(plans: &[UserPlan]) -> String {
    let mut s = String::from(
        "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n",
    );
    for p in plans {
        let chf = p.chf();
        s += &format!(
            "{chf},CHF,Commissioned,106C,433100AC,,,M22 0RR,{},\n",
            p.index
        );
        s += &format!(
            "{},ESME,Commissioned,AB01,010A030B,{},,M22 0RR,{},{chf}\n",
            p.esme(),
            p.mpan(),
            p.index
        );
        s += &format!(
            "{},GSME,Commissioned,AB01,020A030B,{},,M22 0RR,{},{chf}\n",
            p.gsme(),
            p.mprn(),
            p.index
        );
    }
    s
}

fn registration(plans: &[UserPlan]) -> String {
    let mut s = String::from("mpxn,fuel,role,party,effective_from,effective_to\n");
    for p in plans {
        s += &format!("{},electricity,IS,{},2000-01-01,\n", p.mpan(), p.id());
        s += &format!("{},gas,GS,{},2000-01-01,\n", p.mprn(), p.id());
    }
    s
}

#[derive(Debug)]
struct Args {
    hubgate: PathBuf,
    users: u32,
    requests: usize,
    depth: usize,
    open_seconds: f64,
    fraction: f64,
    ceiling_seconds: f64,
    json: Option<PathBuf>,
    keep: bool,
}

const USAGE: &str = "usage: ingress [--hubgate PATH] [--users U] [--requests N] [--depth D] \
[--open-seconds S] [--fraction F] [--ceiling-seconds S] [--json OUT] [--keep-data]";

fn parse_args() -> Result<Args, String> {
    let exe = std::env::current_exe().map_err(|e| format!("locating this binary: {e}"))?;
    let mut a = Args {
        hubgate: exe.with_file_name("hubgate"),
        users: 32,
        requests: 40_000,
        depth: 32,
        open_seconds: 5.0,
        fraction: 0.5,
        ceiling_seconds: 2.0,
        json: None,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
        }
        match flag.as_str() {
            "--hubgate" => a.hubgate = PathBuf::from(value("--hubgate")?),
            "--users" => a.users = num("--users", value("--users")?)?,
            "--requests" => a.requests = num("--requests", value("--requests")?)?,
            "--depth" => a.depth = num("--depth", value("--depth")?)?,
            "--open-seconds" => a.open_seconds = num("--open-seconds", value("--open-seconds")?)?,
            "--fraction" => a.fraction = num("--fraction", value("--fraction")?)?,
            "--ceiling-seconds" => {
                a.ceiling_seconds = num("--ceiling-seconds", value("--ceiling-seconds")?)?;
            }
            "--json" => a.json = Some(PathBuf::from(value("--json")?)),
            "--keep-data" => a.keep = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if a.requests == 0 || a.depth == 0 || a.users == 0 || a.users > 65_535 {
        return Err("--requests and --depth must be positive, --users in 1..=65535".into());
    }
    if !(a.fraction > 0.0 && a.fraction <= 1.0) {
        return Err("--fraction must be in (0, 1]".into());
    }
    if !a.hubgate.is_file() {
        return Err(format!(
            "{} not found: build it with `cargo build --release -p hubgate-gateway` or pass --hubgate",
            a.hubgate.display()
        ));
    }
    Ok(a)
}

/// The gateway process, stopped on drop.
struct Gateway {
    child: Child,
    addr: String,
    metrics: Option<String>,
    data: PathBuf,
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
    fn start(hubgate: &Path, keep: bool, plans: &[UserPlan]) -> Result<Gateway, String> {
        let data =
            std::env::temp_dir().join(format!("hubgate-ingress-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        let inv = data.join("inventory.csv");
        let reg = data.join("registration.csv");
        std::fs::write(&inv, inventory(plans)).map_err(|e| e.to_string())?;
        std::fs::write(&reg, registration(plans)).map_err(|e| e.to_string())?;
        let mut child = Command::new(hubgate)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data.join("gw"))
            .arg("--inventory")
            .arg(&inv)
            .arg("--registration")
            .arg(&reg)
            .env("HUBGATE_LOGGING__LEVEL", "warn")
            .env("HUBGATE_PKI__LOAD_TEST_USERS", plans.len().to_string())
            // The ingress alone: device requests are acknowledged after the H4 checks and not
            // sent (the end-to-end path, with meters, is measured by loadgen).
            .env("HUBGATE_ROUTING__ENABLED", "false")
            // Anomaly detection runs (its cost is measured) but never quarantines: the
            // benchmark sends far more per User than the default thresholds allow.
            .env("HUBGATE_ANOMALY__OVERRIDES", "*:*=-,-")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", hubgate.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("DUIS listening on https://") {
                    let _ = tx.send((true, a.to_string()));
                }
                if let Some(a) = line.strip_prefix("metrics listening on http://") {
                    let _ = tx.send((false, a.trim_end_matches("/metrics").to_string()));
                }
            }
        });
        let (mut addr, mut metrics) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while addr.is_none() || metrics.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((true, a)) => addr = Some(a),
                Ok((false, m)) => metrics = Some(m),
                Err(_) => break,
            }
        }
        let addr = addr.ok_or_else(|| {
            "the gateway did not print its listening address within 60 s".to_string()
        })?;
        Ok(Gateway {
            child,
            addr,
            metrics,
            data,
            keep,
        })
    }

    fn dir(&self) -> PathBuf {
        self.data.join("gw")
    }

    /// Mean seconds per ingress stage, from the gateway's Prometheus endpoint.
    fn stage_means(&self) -> Vec<(String, f64)> {
        use std::io::{Read as _, Write as _};
        let Some(addr) = &self.metrics else {
            return Vec::new();
        };
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            return Vec::new();
        };
        let _ = write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        let mut sums = std::collections::BTreeMap::<String, (f64, f64)>::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("hubgate_ingress_stage_seconds_") else {
                continue;
            };
            let (kind, rest) = rest.split_once('{').unwrap_or(("", ""));
            let Some((labels, value)) = rest.split_once("} ") else {
                continue;
            };
            let Some(stage) = labels
                .split(',')
                .find_map(|l| l.strip_prefix("stage=\""))
                .map(|v| v.trim_end_matches('"').to_string())
            else {
                continue;
            };
            let v: f64 = value.trim().parse().unwrap_or(0.0);
            let e = sums.entry(stage).or_default();
            match kind {
                "sum" => e.0 += v,
                "count" => e.1 += v,
                _ => {}
            }
        }
        sums.into_iter()
            .filter(|(_, (_, n))| *n > 0.0)
            .map(|(k, (s, n))| (k, s / n))
            .collect()
    }

    /// CPU seconds (user + system) the gateway has used so far.
    fn cpu_seconds(&self) -> Option<f64> {
        process_cpu_seconds(&self.child.id().to_string())
    }
}

fn self_cpu_seconds() -> Option<f64> {
    process_cpu_seconds("self")
}

/// Bare ECDSA P-256 verify + sign pairs per second on `threads` threads.
fn ceiling(threads: usize, seconds: f64) -> Result<f64, String> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| "generating a P-256 key")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| "loading the P-256 key")?;
    // A SignedInfo is about 600 bytes canonical.
    let msg = vec![0x5a_u8; 600];
    let sig = pair.sign(&rng, &msg).map_err(|_| "signing")?;
    let public = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
        .map_err(|_| "parsing the public key")?;
    let pair = Arc::new(pair);
    let public = Arc::new(public);
    let dur = Duration::from_secs_f64(seconds);
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (pair, public, msg, sig) =
                    (Arc::clone(&pair), Arc::clone(&public), msg.clone(), sig);
                s.spawn(move || {
                    let rng = SystemRandom::new();
                    let start = Instant::now();
                    let mut n = 0u64;
                    while start.elapsed() < dur {
                        for _ in 0..16 {
                            let ok = public.verify_sig(&msg, sig.as_ref()).is_ok();
                            let s = pair.sign(&rng, &msg);
                            if ok && s.is_ok() {
                                n += 1;
                            }
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    Ok(total as f64 / seconds)
}

/// The signed requests of one User, in counter order.
fn sign_requests(
    conformance: &Path,
    gw_dir: &Path,
    user: &UserPlan,
    first_counter: u64,
    count: usize,
) -> Result<Vec<Vec<u8>>, String> {
    let templates = conformance.join("duis/templates");
    let read = |name: &str| {
        std::fs::read_to_string(templates.join(name))
            .map_err(|e| format!("{}: {e}", templates.join(name).display()))
    };
    let read_411 = read("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML")?;
    let read_inventory = read("8.2_READ_INVENTORY_REQUEST_DUIS.XML")?
        .replace("00-DB-12-34-56-78-90-A2", &user.esme());
    let dir = gw_dir.join("pki/users").join(user.name());
    let key = SigningKey::from_pem_or_der(
        &std::fs::read(dir.join("xml-sign.key")).map_err(|e| format!("{}: {e}", dir.display()))?,
    )
    .map_err(|e| format!("{}: {e}", dir.display()))?;
    let cert = Certificate::from_pem(
        &std::fs::read(dir.join("xml-sign.pem")).map_err(|e| format!("{}: {e}", dir.display()))?,
    )
    .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let counter = first_counter + i as u64;
        let (template, target) = if i % 2 == 0 {
            (&read_411, user.esme())
        } else {
            (&read_inventory, "90-B3-D5-1F-30-00-00-02".to_string())
        };
        let doc = with_request_id(template, &format!("{}:{target}:{counter}", user.id()))?;
        out.push(
            dsig::sign_with_certificate(doc.as_bytes(), &key, &cert).map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}

fn with_request_id(template: &str, id: &str) -> Result<String, String> {
    let start = template
        .find("<sr:RequestID>")
        .ok_or("template without sr:RequestID")?
        + "<sr:RequestID>".len();
    let end = start
        + template[start..]
            .find("</sr:RequestID>")
            .ok_or("template without </sr:RequestID>")?;
    Ok(format!("{}{id}{}", &template[..start], &template[end..]))
}

fn http_request(host: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn response_code(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let Some(start) = text.find("ResponseCode>") else {
        return format!("no DUIS code ({} bytes)", body.len());
    };
    let rest = &text[start + "ResponseCode>".len()..];
    rest.split('<').next().unwrap_or("").to_string()
}

/// Results of one phase.
#[derive(Debug, Default)]
struct Phase {
    sent: u64,
    acknowledged: u64,
    codes: std::collections::BTreeMap<String, u64>,
    seconds: f64,
    latency: Option<Histogram<u64>>,
    gateway_cpu: Option<f64>,
    client_cpu: Option<f64>,
    behind: u64,
}

fn tls_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for item in pem::parse_many(&pem).map_err(|e| e.to_string())? {
        if item.tag() == "CERTIFICATE" {
            roots
                .add(rustls::pki_types::CertificateDer::from(
                    item.contents().to_vec(),
                ))
                .map_err(|e| e.to_string())?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(addr: &str, tls: &Arc<rustls::ClientConfig>) -> Result<Tls, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost")
        .map_err(|e| e.to_string())?
        .to_owned();
    tokio_rustls::TlsConnector::from(Arc::clone(tls))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {addr}: {e}"))
}

/// Pacing of one connection: closed loop (as fast as `depth` allows) or open loop (one
/// request every `interval`, from `start`).
#[derive(Clone, Copy)]
enum Pace {
    Closed,
    Open { start: Instant, interval: Duration },
}

struct ConnResult {
    codes: Vec<(u16, String)>,
    latencies_us: Vec<u64>,
    behind: u64,
}

/// Sends `requests` on one connection with at most `depth` unanswered.
async fn drive(
    stream: Tls,
    host: String,
    requests: Vec<Vec<u8>>,
    depth: usize,
    pace: Pace,
) -> Result<ConnResult, String> {
    let (rd, mut wr) = tokio::io::split(stream);
    let n = requests.len();
    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    let permits = Arc::new(tokio::sync::Semaphore::new(depth));
    let writer_permits = Arc::clone(&permits);
    let writer = tokio::spawn(async move {
        let mut behind = 0u64;
        for (i, body) in requests.into_iter().enumerate() {
            let intended = match pace {
                Pace::Closed => None,
                Pace::Open { start, interval } => {
                    let at = start + interval * i as u32;
                    tokio::time::sleep_until(at.into()).await;
                    Some(at)
                }
            };
            let permit = writer_permits
                .acquire()
                .await
                .map_err(|_| "semaphore closed".to_string())?;
            permit.forget();
            let now = Instant::now();
            if intended.is_some_and(|at| now.duration_since(at) > Duration::from_millis(1)) {
                behind += 1;
            }
            let _ = tx.send(intended.unwrap_or(now));
            let path = if i % 2 == 0 {
                "/api/v1/serviceS"
            } else {
                "/api/v1/serviceD"
            };
            wr.write_all(&http_request(&host, path, &body))
                .await
                .map_err(|e| format!("sending: {e}"))?;
            wr.flush().await.map_err(|e| e.to_string())?;
        }
        Ok::<_, String>((wr, behind))
    });
    // loadgen's reader of pipelined, Content-Length framed HTTP/1.1 answers.
    let mut reader = hubgate_loadgen::client::AnswerReader::new(rd);
    let mut codes = Vec::with_capacity(n);
    let mut latencies_us = Vec::with_capacity(n);
    for _ in 0..n {
        let answer = reader.next().await?;
        let sent = rx.recv().await.ok_or("writer stopped early")?;
        latencies_us.push(sent.elapsed().as_micros() as u64);
        permits.add_permits(1);
        codes.push((answer.status, response_code(&answer.body)));
    }
    let (_wr, behind) = writer.await.map_err(|e| e.to_string())??;
    Ok(ConnResult {
        codes,
        latencies_us,
        behind,
    })
}

async fn run_phase(
    gw: &Gateway,
    tls: &Arc<rustls::ClientConfig>,
    per_user: Vec<Vec<Vec<u8>>>,
    depth: usize,
    rate: Option<f64>,
) -> Result<Phase, String> {
    let mut streams = Vec::new();
    for _ in &per_user {
        streams.push(connect(&gw.addr, tls).await?);
    }
    let users = per_user.len();
    let sent: usize = per_user.iter().map(Vec::len).sum();
    let gw_cpu0 = gw.cpu_seconds();
    let me_cpu0 = self_cpu_seconds();
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::new();
    for (u, (stream, reqs)) in streams.into_iter().zip(per_user).enumerate() {
        let pace = match rate {
            None => Pace::Closed,
            Some(r) => {
                // Users are staggered so the sends interleave evenly.
                let interval = Duration::from_secs_f64(users as f64 / r);
                Pace::Open {
                    start: start + interval * u as u32 / users as u32,
                    interval,
                }
            }
        };
        tasks.push(tokio::spawn(drive(
            stream,
            gw.addr.clone(),
            reqs,
            depth,
            pace,
        )));
    }
    let mut phase = Phase {
        sent: sent as u64,
        ..Phase::default()
    };
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    for t in tasks {
        let r = t.await.map_err(|e| e.to_string())??;
        phase.behind += r.behind;
        for (status, code) in r.codes {
            if status == 200 && (code == "I99" || code == "I0") {
                phase.acknowledged += 1;
            }
            *phase.codes.entry(format!("{status} {code}")).or_default() += 1;
        }
        for l in r.latencies_us {
            let _ = hist.record(l.max(1));
        }
    }
    phase.seconds = t0.elapsed().as_secs_f64();
    phase.gateway_cpu = gw.cpu_seconds().zip(gw_cpu0).map(|(a, b)| a - b);
    phase.client_cpu = self_cpu_seconds().zip(me_cpu0).map(|(a, b)| a - b);
    phase.latency = Some(hist);
    Ok(phase)
}

fn sign_all(
    conformance: &Path,
    gw_dir: &Path,
    plans: &[UserPlan],
    first_counter: u64,
    per_user: usize,
) -> Result<Vec<Vec<Vec<u8>>>, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = plans.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = plans
            .chunks(chunk)
            .map(|group| {
                s.spawn(move || {
                    group
                        .iter()
                        .map(|u| sign_requests(conformance, gw_dir, u, first_counter, per_user))
                        .collect::<Result<Vec<_>, String>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(plans.len());
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| "signing thread panicked".to_string())??,
            );
        }
        Ok(out)
    })
}

fn quantiles(h: &Histogram<u64>) -> serde_json::Value {
    json!({
        "p50_us": h.value_at_quantile(0.50),
        "p90_us": h.value_at_quantile(0.90),
        "p99_us": h.value_at_quantile(0.99),
        "p99_9_us": h.value_at_quantile(0.999),
        "max_us": h.max(),
        "mean_us": h.mean(),
    })
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let conformance = hubgate_protocol::conformance::root().ok_or(
        "the conformance corpus (../shared/conformance) was not found; set HUBGATE_CONFORMANCE",
    )?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {cores} cores; gateway {}", args.hubgate.display());
    let plans = plans(args.users);
    let gw = Gateway::start(&args.hubgate, args.keep, &plans)?;
    println!("gateway listening on https://{}", gw.addr);
    let tls = tls_config(&gw.dir().join("tls/ca.pem"))?;

    println!("ceiling: bare ECDSA P-256 verify + sign on {cores} threads…");
    let ceiling = ceiling(cores, args.ceiling_seconds)?;

    let per_user = args.requests.div_ceil(plans.len());
    println!(
        "signing {} requests from {} Users…",
        per_user * plans.len(),
        plans.len()
    );
    let closed_reqs = sign_all(&conformance, &gw.dir(), &plans, 1, per_user)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;

    println!(
        "closed loop: depth {} per connection, {} connections…",
        args.depth,
        plans.len()
    );
    let closed = rt.block_on(run_phase(&gw, &tls, closed_reqs, args.depth, None))?;
    let max_rate = closed.acknowledged as f64 / closed.seconds;

    let open_rate = max_rate * args.fraction;
    let open_n = ((open_rate * args.open_seconds) as usize)
        .div_ceil(plans.len())
        .max(1);
    println!(
        "signing {} requests for the open loop…",
        open_n * plans.len()
    );
    let open_reqs = sign_all(&conformance, &gw.dir(), &plans, 1 + per_user as u64, open_n)?;
    println!(
        "open loop at {open_rate:.0}/s for {:.1} s…",
        args.open_seconds
    );
    let open = rt.block_on(run_phase(&gw, &tls, open_reqs, 4096, Some(open_rate)))?;

    let ratio = max_rate / ceiling;
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| requests (closed loop) | {} sent, {} acknowledged |",
        closed.sent, closed.acknowledged
    );
    println!("| acknowledged per second | {max_rate:.0} |");
    println!("| ceiling: bare verify+sign pairs per second ({cores} threads) | {ceiling:.0} |");
    println!("| ratio | {ratio:.3} (goal ≥ 0.6) |");
    if let (Some(g), Some(c)) = (closed.gateway_cpu, closed.client_cpu) {
        println!(
            "| CPU in closed loop: gateway / client | {:.0} µs / {:.0} µs per request ({:.2} / {:.2} cores) |",
            g * 1e6 / closed.sent as f64,
            c * 1e6 / closed.sent as f64,
            g / closed.seconds,
            c / closed.seconds
        );
        println!(
            "| ratio, gateway CPU only (ceiling per core × cores the gateway used) | {:.3} |",
            max_rate / (ceiling / cores as f64 * (g / closed.seconds))
        );
    }
    if let Some(h) = &open.latency {
        println!(
            "| open loop | {:.0}/s offered, {} acknowledged of {}, {} sends late by > 1 ms |",
            open_rate, open.acknowledged, open.sent, open.behind
        );
        println!(
            "| acknowledgement latency at {:.0} % of max | p50 {} · p90 {} · p99 {} · p99.9 {} · max {} |",
            args.fraction * 100.0,
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.9)),
            ms(h.value_at_quantile(0.99)),
            ms(h.value_at_quantile(0.999)),
            ms(h.max())
        );
    }
    let stages = gw.stage_means();
    if !stages.is_empty() {
        let list: Vec<String> = stages
            .iter()
            .map(|(k, v)| format!("{k} {:.1} µs", v * 1e6))
            .collect();
        println!(
            "| gateway stage means (both phases) | {} |",
            list.join(" · ")
        );
    }
    println!("| response codes (closed) | {:?} |", closed.codes);
    println!("| response codes (open) | {:?} |", open.codes);
    if let Some(path) = &args.json {
        let phase = |p: &Phase| {
            json!({
                "sent": p.sent, "acknowledged": p.acknowledged, "seconds": p.seconds,
                "codes": p.codes, "gateway_cpu_s": p.gateway_cpu, "client_cpu_s": p.client_cpu,
                "late_sends": p.behind,
                "latency": p.latency.as_ref().map(quantiles),
            })
        };
        let v = json!({
            "cores": cores,
            "users": plans.len(),
            "ceiling_pairs_per_s": ceiling,
            "acknowledged_per_s": max_rate,
            "ratio": ratio,
            "depth": args.depth,
            "closed": phase(&closed),
            "stage_means_s": stages.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "open": { "rate": open_rate, "fraction": args.fraction, "result": phase(&open) },
        });
        std::fs::write(path, serde_json::to_string_pretty(&v).unwrap_or_default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("\nJSON written to {}", path.display());
    }
    if closed.acknowledged != closed.sent || open.acknowledged != open.sent {
        return Err("some requests were not acknowledged (see the response codes)".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingress: {e}");
            ExitCode::FAILURE
        }
    }
}
