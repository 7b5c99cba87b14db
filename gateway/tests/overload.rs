//! Back-pressure under real overload: `hubgate serve` with emulated meters and deliberately
//! small queue bounds (one signature verifier thread with a queue of one, a store write queue
//! of four, two commands held per hub) is driven for several seconds by many client threads,
//! each a load-test User of its own (each User's counters must rise, so one ordered stream per
//! User) sending signed 4.1.1 reads back to back over HTTPS keep-alive connections, far more
//! than those bounds let through.
//!
//! Proves:
//! - the gateway sheds: some requests are refused with `E44` and HTTP 503 (nothing of them
//!   kept), and the number the clients saw equals the gateway's own count of refusals by the
//!   verification and store write queues (`hubgate_verifier_rejected_total` +
//!   `hubgate_store_commit_refused_total`); an `E44` with HTTP 200 (accepted, hub full) is
//!   counted apart;
//! - nothing acknowledged is lost: every request acknowledged `I99` gets exactly one Service
//!   Response, drained through the pull API, and no request that was not acknowledged gets
//!   one;
//! - memory stays bounded: the gateway's peak resident memory (`VmHWM` from `/proc`) during
//!   the burst stays within a fixed margin of its resident memory before it;
//! - it recovers by itself: right after the burst, with no restart, `/ready` answers 200 and a
//!   normal request is acknowledged and answered `I0` by its meter.
//!
//! The bounds are far below the defaults so that a test machine's clients exceed them; with
//! the default bounds the same clients are all served. Minutes-long runs at 120 % of capacity
//! (memory per window, lost work) are `bench`'s `e2e --soak`, not this test.
//!
//! Needs `curl` (the pull API through the shared harness) and the conformance data (the 4.1.1
//! template).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Answer, Gateway, Seeds, element_text, set_text};
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::duis::dsig;
use hubgate_protocol::smki::Certificate;

/// Client threads, one load-test User each, each User supplying one emulated premises.
const USERS: usize = 12;
/// How long the clients send.
const BURST: Duration = Duration::from_secs(6);
/// The most the gateway's resident memory may rise above its level before the burst.
const MEMORY_MARGIN_MIB: f64 = 96.0;
const TEMPLATE: &str = "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML";

/// The pull token of load-test User `k` (from 0).
fn token(k: usize) -> String {
    format!("overload-pull-token-{k:04}-0123456789abcdefghij")
}

/// User ID (`90-B3-D5-1F-50-00-hi-lo`) and local PKI folder name of load-test User `k`
/// (from 0).
fn user(k: usize) -> (String, String) {
    let i = k + 1;
    (
        format!("90-B3-D5-1F-50-00-{:02X}-{:02X}", i >> 8, i & 0xff),
        format!("load-{i:05}"),
    )
}

/// The ESME of emulated premises `k`: premises are shared out among the load-test Users in
/// order, one each here.
fn esme(k: usize) -> String {
    let eui = (hubgate_gateway::emulation::FIRST_EUI + 16 * k as u64 + 1).to_be_bytes();
    hubgate_protocol::hex::eui_duis(&eui)
}

fn start() -> Gateway {
    let mut env: Vec<(String, String)> = [
        ("HUBGATE_PKI__LOAD_TEST_USERS", USERS.to_string()),
        ("HUBGATE_EMULATION__SUPPLIERS", "load-test".into()),
        ("HUBGATE_EMULATION__HUBS", USERS.to_string()),
        // The thresholds would quarantine a burst like this one.
        ("HUBGATE_ANOMALY__OVERRIDES", "*:*=-,-".into()),
        ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "5000".into()),
        // The small bounds under test.
        ("HUBGATE_VERIFIER_POOL__THREADS", "1".into()),
        ("HUBGATE_VERIFIER_POOL__QUEUE_CAPACITY", "1".into()),
        ("HUBGATE_VERIFIER_POOL__INLINE_WHEN_IDLE", "false".into()),
        ("HUBGATE_STORE_WRITE_QUEUE", "4".into()),
        ("HUBGATE_ROUTING__HUB_QUEUE_CAPACITY", "2".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for k in 0..USERS {
        let compact: String = user(k).0.chars().filter(|c| *c != '-').collect();
        env.push((format!("HUBGATE_USERS__{compact}__PULL_TOKEN"), token(k)));
    }
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Gateway::start_local_pki(
        "overload",
        Seeds {
            env: &pairs,
            ..Seeds::default()
        },
    )
}

/// Resident and peak resident memory of process `pid`, MiB.
fn memory(pid: u32) -> (f64, f64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// Every sample of the Prometheus metric `name` (any labels) in `text`, summed.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        .filter_map(|rest| rest.rsplit(' ').next())
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum()
}

/// The rustls client configuration trusting the gateway's local TLS CA only.
fn tls_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read_to_string(ca).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    let mut b64 = String::new();
    let mut inside = false;
    for line in pem.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            inside = true;
            b64.clear();
        } else if line.starts_with("-----END CERTIFICATE") {
            inside = false;
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .unwrap();
            roots
                .add(rustls::pki_types::CertificateDer::from(der))
                .unwrap();
        } else if inside {
            b64.push_str(line.trim());
        }
    }
    assert!(!roots.is_empty(), "no certificate in {}", ca.display());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// One client's HTTPS/1.1 keep-alive connection to the gateway, opened again when the
/// gateway closes it.
struct Client {
    tls: Arc<rustls::ClientConfig>,
    addr: String,
    conn: Option<Tls>,
}

impl Client {
    fn new(tls: Arc<rustls::ClientConfig>, addr: &str) -> Client {
        Client {
            tls,
            addr: addr.to_string(),
            conn: None,
        }
    }

    fn connect(&self) -> Result<Tls, String> {
        let tcp = TcpStream::connect(&self.addr).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let ip: std::net::IpAddr = self
            .addr
            .rsplit_once(':')
            .and_then(|(h, _)| h.parse().ok())
            .ok_or_else(|| format!("not an IP address: {}", self.addr))?;
        let conn = rustls::ClientConnection::new(
            Arc::clone(&self.tls),
            rustls::pki_types::ServerName::IpAddress(ip.into()),
        )
        .map_err(|e| e.to_string())?;
        Ok(rustls::StreamOwned::new(conn, tcp))
    }

    /// POSTs `body` (DUIS XML) to `path`: the HTTP status and the answer's body. Tries a
    /// fresh connection once when the kept one fails before an answer.
    fn post(&mut self, path: &str, body: &[u8]) -> Result<(u16, String), String> {
        for attempt in 0..2 {
            let mut conn = match self.conn.take() {
                Some(c) => c,
                None => self.connect()?,
            };
            match exchange(&mut conn, path, body) {
                Ok((status, answer, keep)) => {
                    if keep {
                        self.conn = Some(conn);
                    }
                    return Ok((status, answer));
                }
                Err(e) if attempt == 1 => return Err(e),
                Err(_) => {}
            }
        }
        Err("unreachable".into())
    }
}

/// One request and its answer on `conn`; whether the connection may be used again.
fn exchange(conn: &mut Tls, path: &str, body: &[u8]) -> Result<(u16, String, bool), String> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())
        .and_then(|()| conn.write_all(body))
        .and_then(|()| conn.flush())
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before an answer".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {head}"))?;
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let keep = header("connection:").is_none_or(|v| v != "close");
    let mut rest = buf[end..].to_vec();
    let mut read_more = |rest: &mut Vec<u8>| -> Result<(), String> {
        let n = conn.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed in an answer".into());
        }
        rest.extend_from_slice(&chunk[..n]);
        Ok(())
    };
    let body = if let Some(len) = header("content-length:") {
        let len: usize = len.parse().map_err(|_| format!("content-length {len}"))?;
        while rest.len() < len {
            read_more(&mut rest)?;
        }
        rest.truncate(len);
        rest
    } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        let mut out = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                read_more(&mut rest)?;
            };
            let size_text = String::from_utf8_lossy(&rest[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("chunk size {size_text:?}"))?;
            while rest.len() < line_end + 2 + size + 2 {
                read_more(&mut rest)?;
            }
            out.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break out;
            }
        }
    } else {
        return Err(format!("an answer without a length: {head}"));
    };
    Ok((status, String::from_utf8_lossy(&body).to_string(), keep))
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    acknowledged: HashSet<String>,
    /// `E44` with HTTP 503: shed before anything was kept.
    shed: u64,
    /// `E44` with HTTP 200: accepted (counter spent) but its hub held as many commands as
    /// it may.
    hub_full: u64,
    /// Any other answer, by code (or HTTP status when not a DUIS answer).
    other: BTreeMap<String, u64>,
    /// Requests with no answer at all.
    failed: u64,
    sent: u64,
}

/// User `k`'s signing key and certificate from the gateway's local PKI.
fn credentials(gw: &Gateway, k: usize) -> (SigningKey, Certificate) {
    let dir = gw.dir.join("data/pki/users").join(user(k).1);
    let key =
        SigningKey::from_pem_or_der(&std::fs::read(dir.join("xml-sign.key")).unwrap()).unwrap();
    let cert = Certificate::from_pem(&std::fs::read(dir.join("xml-sign.pem")).unwrap()).unwrap();
    (key, cert)
}

/// A 4.1.1 read from User `k` to its ESME with RequestID counter `counter`, signed.
fn request(
    template: &str,
    k: usize,
    counter: u64,
    key: &SigningKey,
    cert: &Certificate,
) -> Vec<u8> {
    let id = format!("{}:{}:{counter}", user(k).0, esme(k));
    let xml = set_text(template, "RequestID", &id);
    dsig::sign_with_certificate(xml.as_bytes(), key, cert).unwrap()
}

/// Every message kept for User `k`, acknowledged as read: Service Responses by RequestID.
fn drain(gw: &Gateway, k: usize, answers: &mut BTreeMap<String, Vec<String>>) -> usize {
    let auth = format!("Authorization: Bearer {}", token(k));
    let mut read = 0;
    loop {
        let (status, body) = gw.get("/api/v1/responses?limit=200", &[&auth]);
        assert!(status == 200 || status == 204, "{status}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let messages = v["messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            return read;
        }
        let mut last = None;
        for m in &messages {
            let xml = m["xml"].as_str().unwrap_or_default();
            last = m["sequence"].as_u64().or(last);
            if let Some(id) = element_text(xml, "RequestID") {
                let code = element_text(xml, "ResponseCode").unwrap_or_default();
                answers.entry(id).or_default().push(code);
            }
        }
        read += messages.len();
        let seq = last.unwrap();
        let (status, body) = gw.post_with(
            &format!("/api/v1/responses/ack?through={seq}"),
            &["-H", &auth],
            b"",
        );
        assert_eq!(status, 200, "{body}");
    }
}

#[test]
fn overload_is_shed_with_e44_nothing_acknowledged_is_lost_and_the_gateway_recovers() {
    let gw = start();
    let template = gw.template(TEMPLATE);
    let tls = tls_config(&gw.dir.join("data/tls/ca.pem"));

    // Before the burst: one request per User, so every hub actor is up and the caches warm;
    // then the resident memory this level of work needs.
    let mut answers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut warm_ids = HashSet::new();
    for k in 0..USERS {
        let (key, cert) = credentials(&gw, k);
        let mut client = Client::new(Arc::clone(&tls), &gw.addr);
        let (http, text) = client
            .post("/api/v1/serviceS", &request(&template, k, 10, &key, &cert))
            .unwrap();
        let a = Answer::parse(http, &text);
        assert_eq!(a.code, "I99", "User {k} before the burst: {text}");
        warm_ids.insert(a.request_id);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !warm_ids.iter().all(|id| answers.contains_key(id)) {
        assert!(
            Instant::now() < deadline,
            "the warm-up requests were not answered"
        );
        for k in 0..USERS {
            drain(&gw, k, &mut answers);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    answers.clear();
    let (rss_before, _) = memory(gw.pid());

    // The burst: every User sends back to back on its own connection.
    let started = Instant::now();
    let clients: Vec<_> = (0..USERS)
        .map(|k| {
            let (key, cert) = credentials(&gw, k);
            let (tls, addr, template) = (Arc::clone(&tls), gw.addr.clone(), template.clone());
            std::thread::spawn(move || {
                let mut client = Client::new(tls, &addr);
                let mut tally = Tally::default();
                let mut counter = 100;
                while started.elapsed() < BURST {
                    counter += 1;
                    let body = request(&template, k, counter, &key, &cert);
                    tally.sent += 1;
                    match client.post("/api/v1/serviceS", &body) {
                        Ok((http, text)) => {
                            let a = Answer::parse(http, &text);
                            match (a.code.as_str(), http) {
                                ("I99", 200) => {
                                    tally.acknowledged.insert(a.request_id);
                                }
                                ("E44", 503) => tally.shed += 1,
                                ("E44", 200) => tally.hub_full += 1,
                                ("", _) => {
                                    *tally.other.entry(format!("HTTP {http}")).or_default() += 1
                                }
                                (code, _) => {
                                    *tally
                                        .other
                                        .entry(format!("{code} (HTTP {http})"))
                                        .or_default() += 1;
                                }
                            }
                        }
                        Err(_) => tally.failed += 1,
                    }
                }
                tally
            })
        })
        .collect();
    // Memory while the burst runs.
    let mut rss_during: f64 = 0.0;
    while started.elapsed() < BURST {
        rss_during = rss_during.max(memory(gw.pid()).0);
        std::thread::sleep(Duration::from_millis(200));
    }
    let tallies: Vec<Tally> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let elapsed = started.elapsed().as_secs_f64();
    let (rss_after, peak) = memory(gw.pid());

    let sent: u64 = tallies.iter().map(|t| t.sent).sum();
    let shed: u64 = tallies.iter().map(|t| t.shed).sum();
    let hub_full: u64 = tallies.iter().map(|t| t.hub_full).sum();
    let failed: u64 = tallies.iter().map(|t| t.failed).sum();
    let acknowledged: HashSet<String> = tallies
        .iter()
        .flat_map(|t| t.acknowledged.iter().cloned())
        .collect();
    let mut other: BTreeMap<String, u64> = BTreeMap::new();
    for t in &tallies {
        for (c, n) in &t.other {
            *other.entry(c.clone()).or_default() += n;
        }
    }
    println!(
        "burst: {sent} requests in {elapsed:.1} s ({:.0}/s) from {USERS} Users: {} acknowledged, \
         {shed} shed (E44, HTTP 503), {hub_full} E44 with HTTP 200 (hub full), other {other:?}, \
         {failed} without an answer",
        sent as f64 / elapsed,
        acknowledged.len(),
    );
    println!(
        "gateway memory: {rss_before:.0} MiB before, {rss_during:.0} MiB at most while sampled, \
         {rss_after:.0} MiB after, peak {peak:.0} MiB"
    );

    // Shed, with the documented code, and counted by the gateway as the clients saw it.
    assert!(shed > 0, "nothing was shed: the bounds were not reached");
    assert!(
        acknowledged.len() >= USERS,
        "the gateway should still serve while shedding: {} acknowledged",
        acknowledged.len()
    );
    assert_eq!(failed, 0, "requests without an answer");
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    let metrics = gw.metrics_text();
    let refused = metric_sum(&metrics, "hubgate_verifier_rejected_total")
        + metric_sum(&metrics, "hubgate_store_commit_refused_total");
    assert_eq!(
        refused, shed as f64,
        "the gateway's own count of requests refused by its queues"
    );

    // Bounded memory.
    assert!(
        peak - rss_before < MEMORY_MARGIN_MIB,
        "resident memory rose from {rss_before:.0} MiB to a peak of {peak:.0} MiB"
    );

    // Recovered by itself: ready, and a normal request goes through, right away.
    let (status, body) = gw.get("/ready", &[]);
    assert_eq!(status, 200, "/ready after the burst: {body}");
    let (key, cert) = credentials(&gw, 0);
    let mut client = Client::new(Arc::clone(&tls), &gw.addr);
    let (http, text) = client
        .post(
            "/api/v1/serviceS",
            &request(&template, 0, 1_000_000, &key, &cert),
        )
        .unwrap();
    let after = Answer::parse(http, &text);
    assert_eq!(
        (after.code.as_str(), http),
        ("I99", 200),
        "after the burst: {text}"
    );

    // Drain: exactly one Service Response per acknowledged request, none for the others.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for k in 0..USERS {
            drain(&gw, k, &mut answers);
        }
        let missing = acknowledged
            .iter()
            .chain(std::iter::once(&after.request_id))
            .filter(|id| !answers.contains_key(*id))
            .count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} acknowledged requests still unanswered after 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Late duplicates would arrive after the last answer: one more look.
    std::thread::sleep(Duration::from_millis(500));
    for k in 0..USERS {
        drain(&gw, k, &mut answers);
    }
    let duplicated: Vec<_> = answers.iter().filter(|(_, c)| c.len() > 1).collect();
    assert!(
        duplicated.is_empty(),
        "answered more than once: {duplicated:?}"
    );
    let unacknowledged: Vec<_> = answers
        .keys()
        .filter(|id| !acknowledged.contains(*id) && **id != after.request_id)
        .collect();
    assert!(
        unacknowledged.is_empty(),
        "Service Responses to requests never acknowledged: {unacknowledged:?}"
    );
    let mut codes: BTreeMap<&str, u64> = BTreeMap::new();
    for c in answers.values().flatten() {
        *codes.entry(c.as_str()).or_default() += 1;
    }
    println!("Service Responses: {codes:?}");
    assert_eq!(
        answers[&after.request_id],
        vec!["I0".to_string()],
        "the request after the burst reached its meter"
    );
    // The meters answered the acknowledged reads (no E20/E21 from a stuck hub).
    assert_eq!(
        codes.get("I0").copied().unwrap_or(0),
        answers.len() as u64,
        "codes {codes:?}"
    );
}
