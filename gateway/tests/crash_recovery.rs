//! Nothing acknowledged is lost: `hubgate serve` with emulated meters takes signed device
//! requests from several client threads while the test kills it with SIGKILL at random
//! moments, several times, and starts it again on the same data directory. At the end every
//! request the gateway acknowledged (`I99`) must have exactly one Service Response among the
//! messages kept for the User: none lost, none answered twice.
//!
//! The requests in flight at a kill are recovered from the write-ahead journal
//! (`gateway/src/journal.rs`); the answers are in the durable outbox. A request whose
//! acknowledgement never reached the client (killed mid-request) may still be answered: it
//! counts as answered without acknowledgement, not as an error.
//!
//! The emulated meters record every command they receive (`emulation.record_dir`, one folder
//! per gateway process): a GBCS counter may reach its device twice only for a request the
//! restarted gateway sent again from its journal, so the repeats are at most the journal's
//! resent count.
//!
//! The client threads share one User, whose counters must rise: a request overtaken by one
//! with a higher counter is refused `E42` (anti-replay) and was never acknowledged.
//!
//! Needs `curl` and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::{Answer, Gateway, SUPPLIER, Seeds, element_text, set_text};
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::duis::dsig;
use hubgate_protocol::smki::Certificate;

const TOKEN: &str = "crash-recovery-pull-token-0123456789abcdef";
/// Emulated premises; requests go round their ESMEs.
const HUBS: u64 = 8;
/// Client threads sending at once.
const CLIENTS: usize = 4;
/// SIGKILLs under load.
const KILLS: usize = 4;

/// The settings of gateway process `run`, whose meters record into `record/<run>`.
fn env(record: &Path, run: usize) -> Vec<(&'static str, String)> {
    vec![
        ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN.into()),
        ("HUBGATE_EMULATION__HUBS", HUBS.to_string()),
        ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "5000".into()),
        // The thresholds would quarantine a burst like this one.
        ("HUBGATE_ANOMALY__OVERRIDES", "*:*=-,-".into()),
        (
            "HUBGATE_EMULATION__RECORD_DIR",
            record.join(run.to_string()).display().to_string(),
        ),
    ]
}

fn seeds<'a>(env: &'a [(&'a str, &'a str)]) -> Seeds<'a> {
    Seeds {
        env,
        ..Seeds::default()
    }
}

/// How many of the commands the meters recorded repeat a (device, counter) seen before.
fn repeated_commands(record: &Path) -> (usize, usize) {
    let mut seen = HashSet::new();
    let (mut total, mut repeats) = (0, 0);
    for run in std::fs::read_dir(record).unwrap() {
        let messages = run.unwrap().path().join("messages");
        for f in std::fs::read_dir(&messages).unwrap() {
            let path = f.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.ends_with("_COMMAND_GBCS.HEX") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let bytes = hubgate_protocol::hex::decode(text.trim()).unwrap();
            let msg = hubgate_protocol::gbcs::frame::parse(&bytes).unwrap();
            total += 1;
            if !seen.insert((msg.header.recipient, msg.header.counter)) {
                repeats += 1;
            }
        }
    }
    (total, repeats)
}

/// The number in the gateway's start-up line `journal: N acknowledged requests sent again`.
fn resent(startup: &str) -> usize {
    startup
        .lines()
        .find_map(|l| l.strip_prefix("journal: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The ESME of emulated premises `i` (each premises takes 16 EUIs from 00-DB-55-00-…).
fn esme(i: u64) -> String {
    let eui = (0x00db_5500_0000_0000u64 + 16 * i + 1).to_be_bytes();
    hubgate_protocol::hex::eui_duis(&eui)
}

/// Where the clients send: the gateway's address while it runs, `None` while it restarts.
struct Target {
    addr: RwLock<Option<String>>,
    ca: PathBuf,
}

/// POSTs a signed request; `None` when the gateway is not there (killed, restarting).
fn post(addr: &str, ca: &Path, body: &[u8]) -> Option<(u16, String)> {
    let mut child = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args(["-H", "Content-Type: application/xml", "--data-binary", "@-"])
        .args(["-w", "\n%{http_code}"])
        .arg(format!("https://{addr}/api/v1/serviceS"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl is needed for the end-to-end tests");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(body);
    }
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (answer, status) = text.rsplit_once('\n')?;
    Some((status.trim().parse().ok()?, answer.to_string()))
}

/// What the clients saw.
#[derive(Default)]
struct Ledger {
    acknowledged: HashSet<String>,
    /// Other synchronous answers, by code (refusals while the store was busy, say).
    other: BTreeMap<String, u64>,
    /// Requests with no answer (the gateway died under them).
    unanswered: u64,
}

/// A small xorshift generator: the kill moments, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn every_acknowledged_request_gets_exactly_one_answer_across_sigkills() {
    let record = std::env::temp_dir().join(format!("hubgate-crash-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&record);
    let owned = env(&record, 0);
    let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut gw = Gateway::start("crash", seeds(&pairs));
    let mut resent_total = 0;
    let template = gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML");
    let smki = gw.root.join("smki");
    let compact: String = SUPPLIER.chars().filter(|c| *c != '-').collect();
    let key = SigningKey::from_pem_or_der(
        &std::fs::read(smki.join(format!("xml-sign-{compact}-ds.key"))).unwrap(),
    )
    .unwrap();
    let cert = Certificate::from_pem(
        &std::fs::read(smki.join(format!("xml-sign-{compact}-ds.pem"))).unwrap(),
    )
    .unwrap();
    let key = Arc::new(key);
    let cert = Arc::new(cert);

    let target = Arc::new(Target {
        addr: RwLock::new(Some(gw.addr.clone())),
        ca: gw.dir.join("data/tls/ca.pem"),
    });
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    // RequestID counters: strictly increasing across the restarts.
    let counter = Arc::new(AtomicU64::new(1_000));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (target, ledger, stop, counter) = (
                Arc::clone(&target),
                Arc::clone(&ledger),
                Arc::clone(&stop),
                Arc::clone(&counter),
            );
            let (key, cert, template) = (Arc::clone(&key), Arc::clone(&cert), template.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Some(addr) = target.addr.read().unwrap().clone() else {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let id = format!("{SUPPLIER}:{}:{n}", esme(n % HUBS));
                    let xml = set_text(&template, "RequestID", &id);
                    let body = dsig::sign_with_certificate(xml.as_bytes(), &key, &cert).unwrap();
                    let answer = post(&addr, &target.ca, &body);
                    let mut l = ledger.lock().unwrap();
                    match answer {
                        Some((http, text)) => {
                            let a = Answer::parse(http, &text);
                            if a.code == "I99" {
                                assert_eq!(
                                    a.request_id, id,
                                    "an acknowledgement of another request"
                                );
                                l.acknowledged.insert(id);
                            } else {
                                let code = if a.code.is_empty() {
                                    format!("HTTP {http}")
                                } else {
                                    a.code
                                };
                                *l.other.entry(code).or_default() += 1;
                            }
                        }
                        None => l.unanswered += 1,
                    }
                }
            })
        })
        .collect();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill moments from seed {seed}");
    let mut rng = Rng(seed);
    for kill in 1..=KILLS {
        let wait = Duration::from_millis(1_000 + rng.next() % 2_500);
        std::thread::sleep(wait);
        let acked = ledger.lock().unwrap().acknowledged.len();
        println!("kill {kill} after {wait:?} of load ({acked} acknowledged so far)");
        *target.addr.write().unwrap() = None;
        // SIGKILL, then a fresh process on the same data directory.
        let owned = env(&record, kill);
        let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        gw = gw.restart(seeds(&pairs));
        resent_total += resent(&gw.startup);
        *target.addr.write().unwrap() = Some(gw.addr.clone());
    }
    std::thread::sleep(Duration::from_millis(1_500));
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    assert!(
        ledger.acknowledged.len() >= 20,
        "too little load to mean anything: {} acknowledged, other answers {:?}, {} unanswered",
        ledger.acknowledged.len(),
        ledger.other,
        ledger.unanswered
    );

    // Drain: every Service Response kept for the supplier, acknowledged as it is read.
    let auth = format!("Authorization: Bearer {TOKEN}");
    let mut answers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, body) = gw.get("/api/v1/responses?limit=200", &[&auth]);
        assert!(status == 200 || status == 204, "{status}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let messages = v["messages"].as_array().cloned().unwrap_or_default();
        let mut last = None;
        for m in &messages {
            let xml = m["xml"].as_str().unwrap_or_default();
            last = m["sequence"].as_u64().or(last);
            if let Some(id) = element_text(xml, "RequestID") {
                let code = element_text(xml, "ResponseCode").unwrap_or_default();
                answers.entry(id).or_default().push(code);
            }
        }
        if let Some(seq) = last {
            let (status, body) = gw.post_with(
                &format!("/api/v1/responses/ack?through={seq}"),
                &["-H", &auth],
                b"",
            );
            assert_eq!(status, 200, "{body}");
        }
        let missing = ledger
            .acknowledged
            .iter()
            .filter(|id| !answers.contains_key(*id))
            .count();
        if missing == 0 && messages.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} acknowledged requests still unanswered after 90 s"
        );
        if messages.is_empty() {
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    let lost: Vec<&String> = ledger
        .acknowledged
        .iter()
        .filter(|id| !answers.contains_key(*id))
        .collect();
    let duplicated: Vec<(&String, &Vec<String>)> = answers
        .iter()
        .filter(|(_, codes)| codes.len() > 1)
        .collect();
    let completed = ledger
        .acknowledged
        .iter()
        .filter(|id| answers.get(*id).is_some_and(|c| c.len() == 1))
        .count();
    let mut codes: BTreeMap<&str, u64> = BTreeMap::new();
    for c in answers.values().flatten() {
        *codes.entry(c.as_str()).or_default() += 1;
    }
    let unacknowledged_answered = answers
        .keys()
        .filter(|id| !ledger.acknowledged.contains(*id))
        .count();
    println!(
        "{} acknowledged, {completed} completed, {} lost, {} duplicated; Service Response codes {codes:?}; \
         {unacknowledged_answered} answered without an acknowledgement reaching the client; \
         other synchronous answers {:?}; {} requests cut off by a kill",
        ledger.acknowledged.len(),
        lost.len(),
        duplicated.len(),
        ledger.other,
        ledger.unanswered
    );
    let (commands, repeats) = repeated_commands(&record);
    println!(
        "meters received {commands} commands, {repeats} repeating a counter; {resent_total} sent again from the journal"
    );
    let _ = std::fs::remove_dir_all(&record);
    assert!(
        repeats <= resent_total,
        "{repeats} commands repeated a counter, only {resent_total} were sent again from the journal"
    );
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert!(
        duplicated.is_empty(),
        "answered more than once: {duplicated:?}"
    );
    assert_eq!(completed, ledger.acknowledged.len());
    // The recovered requests went to the meters: most answers are the meters' I0.
    assert!(
        codes.get("I0").copied().unwrap_or(0) * 2 > answers.len() as u64,
        "codes {codes:?}"
    );
}
