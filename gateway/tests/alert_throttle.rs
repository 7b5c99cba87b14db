//! Alert-storm throttling and the alert thresholds per hub, end to end against a running
//! `hubgate serve`:
//!
//! - an emulated premises (hil-rig's devices, keys and GBCS framing) is connected over the
//!   real SMWAN link (QUIC, mutual TLS) from this test process; its meter raises alerts on
//!   demand (`Device::raise_alert`, device-signed), which the gateway authenticates like
//!   any alert and fans out to the supplier and network operator registered for the
//!   premises, who pull them over HTTPS;
//! - a burst of identical alerts reaches each User as the first alert at once and, when
//!   the throttle window closes, one alert carrying `ThrottledAlertSequenceId` and
//!   `ThrottledAlertCount` (the number held back) with the last one's payload; a different
//!   alert code in the same burst is not held back; an alert after the window is delivered
//!   at once again;
//! - alerts from one hub over its per-minute threshold are not delivered but held in the
//!   quarantine, listed by the admin API and `hubgate quarantine list`; one released from
//!   the command line is then delivered to both Users, one deleted through the API never is.
//!
//! Every delivered alert checked here is validated by the independent XML checker (lxml
//! against the DUIS XSD, and the DSP signature).
//!
//! Needs `curl`, `python3` with lxml and cryptography, and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::admin::{QUARANTINE_PATH, quarantine_cli};
use common::{Gateway, NETWORK_OPERATOR, SUPPLIER, Seeds, element_text, metric_value};
use hubgate_hil_rig::Parties;
use hubgate_hil_rig::link::rig::{self, Connect, Hubs, Replies, Responder};
use hubgate_protocol::gbcs::frame;
use hubgate_protocol::hex;

const SUPPLIER_TOKEN: &str = "throttle-supplier-pull-token-0123456789abcdef";
const OPERATOR_TOKEN: &str = "throttle-operator-pull-token-0123456789abcdef";
const ADMIN: &str = "throttle-test-admin-token-0123456789abcdefgh";
const MPAN: &str = "1900000000777";

/// An emulated premises whose devices also raise the alerts queued by the test, on the
/// link's next tick (every second).
struct AlertingRig {
    hubs: Hubs,
    queue: Mutex<Vec<([u8; 8], u16)>>,
    up: AtomicBool,
}

impl Responder for AlertingRig {
    fn hub_euis(&self) -> Vec<[u8; 8]> {
        self.hubs.euis().to_vec()
    }

    fn command(&self, hub: [u8; 8], device: [u8; 8], command: &[u8], _: &Replies) -> Vec<Vec<u8>> {
        self.hubs.command(&hub, &device, command)
    }

    fn tick(&self) -> Vec<([u8; 8], Vec<u8>)> {
        let mut out = self.hubs.tick();
        let queued: Vec<_> = std::mem::take(&mut *self.queue.lock().unwrap());
        let hub = self.hubs.euis()[0];
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        for (device, code) in queued {
            let bytes = self
                .hubs
                .with_device(&hub, &device, |d| d.raise_alert(code, true, now))
                .expect("an emulated device")
                .expect("the device raises the alert");
            out.push((hub, bytes));
        }
        out
    }

    fn link_state(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

/// A premises at `first` (hub; its ESME is the next EUI), a gateway that holds it in its
/// inventory with the supplier and network operator registered, and the rig connected.
struct Setup {
    /// `None` only while the gateway is being restarted.
    gw: Option<Gateway>,
    rig: Arc<AlertingRig>,
    chf: String,
    esme: [u8; 8],
    _runtime: tokio::runtime::Runtime,
    work: std::path::PathBuf,
    /// What the gateway was started with: inventory, registration, environment.
    seeds: (String, String, Vec<(String, String)>),
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

impl Setup {
    fn start(name: &str, first: u64, env: &[(&str, &str)]) -> Setup {
        let work =
            std::env::temp_dir().join(format!("hubgate-it-{name}-rigwork-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        let keys = work.join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        let identities = rig::load_or_generate(&keys, 1, first).unwrap();
        let chf = hex::eui_duis(&first.to_be_bytes());
        let esme = (first + 1).to_be_bytes();
        let inventory = format!(
            "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n\
             {chf},CHF,Commissioned,106C,433100AC,,,EM1 1AA,1,\n\
             {},ESME,Commissioned,EE01,010A030B,{MPAN},,EM1 1AA,1,{chf}\n",
            hex::eui_duis(&esme)
        );
        let registration = format!(
            "mpxn,fuel,role,party,effective_from,effective_to\n\
             {MPAN},electricity,IS,{SUPPLIER},2000-01-01,\n\
             {MPAN},electricity,ED,{NETWORK_OPERATOR},2000-01-01,\n"
        );
        let keys_env = keys.to_string_lossy().to_string();
        let mut all_env: Vec<(&str, &str)> = vec![
            (
                "HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN",
                SUPPLIER_TOKEN,
            ),
            (
                "HUBGATE_USERS__90B3D51F30020000__PULL_TOKEN",
                OPERATOR_TOKEN,
            ),
            ("HUBGATE_EMULATION__HUBS", "0"),
            ("HUBGATE_SMWAN__LISTEN", "127.0.0.1:0"),
            ("HUBGATE_SMWAN__DEVICE_KEYS", keys_env.as_str()),
            ("HUBGATE_ANOMALY__ADMIN_TOKEN", ADMIN),
        ];
        all_env.extend_from_slice(env);
        let owned_env: Vec<(String, String)> = all_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let gw = Gateway::start(
            name,
            Seeds {
                inventory: Some(&inventory),
                registration: Some(&registration),
                env: &all_env,
                ..Seeds::default()
            },
        );
        let smwan: SocketAddr = gw
            .startup
            .lines()
            .find_map(|l| l.strip_prefix("SMWAN listening on quic://"))
            .unwrap_or_else(|| panic!("no SMWAN listener:\n{}", gw.startup))
            .trim()
            .parse()
            .unwrap();

        let mut parties = hubgate_protocol::smki::Store::new();
        parties.load_dir(&gw.root.join("smki")).unwrap();
        let hubs = Hubs::build(identities, &parties, Parties::RTDS).unwrap();
        let rig = Arc::new(AlertingRig {
            hubs,
            queue: Mutex::new(Vec::new()),
            up: AtomicBool::new(false),
        });
        let (cert, key) = common::rig::rig_cert(&gw, "any");
        let connect = Connect {
            gateway: smwan,
            server_name: smwan.ip().to_string(),
            ca: gw.dir.join("data/tls/ca.pem"),
            cert,
            key,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let responder: Arc<dyn Responder> = rig.clone();
        runtime.spawn(rig::run_with(connect, responder));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !rig.up.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "the rig did not register its hub"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Setup {
            gw: Some(gw),
            rig,
            chf,
            esme,
            _runtime: runtime,
            work,
            seeds: (inventory, registration, owned_env),
        }
    }

    fn gw(&self) -> &Gateway {
        self.gw.as_ref().expect("a running gateway")
    }

    /// Kills the gateway (SIGKILL: nothing is flushed or closed in order), leaves it down
    /// for `down_for`, and starts it again on the same data directory with the same seeds.
    /// The rig keeps trying the old SMWAN port: the restarted gateway has no rig connected.
    fn kill_and_restart(&mut self, down_for: Duration) {
        let dir = self
            .gw
            .take()
            .expect("a running gateway")
            .stop_keeping_data();
        std::thread::sleep(down_for);
        let env: Vec<(&str, &str)> = self
            .seeds
            .2
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.gw = Some(Gateway::start_in(
            dir,
            Seeds {
                inventory: Some(&self.seeds.0),
                registration: Some(&self.seeds.1),
                env: &env,
                ..Seeds::default()
            },
        ));
    }

    /// Queues alerts `codes` from the ESME; the rig sends them together on its next tick.
    fn raise(&self, codes: &[u16]) {
        self.rig
            .queue
            .lock()
            .unwrap()
            .extend(codes.iter().map(|c| (self.esme, *c)));
    }
}

/// The device alerts kept for the User with pull `token`: (sequence, XML), oldest first.
fn alerts_kept(gw: &Gateway, token: &str) -> Vec<(u64, String)> {
    common::pull::kept_messages(gw, token)
        .into_iter()
        .filter(|(_, x)| x.contains("<sr:DeviceAlertMessage>"))
        .collect()
}

/// Waits up to `wait` until the User with pull `token` has at least `n` device alerts kept;
/// returns them all (XML), oldest first.
fn wait_for_alerts(gw: &Gateway, token: &str, n: usize, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    loop {
        let all = alerts_kept(gw, token);
        if all.len() >= n {
            return all.into_iter().map(|(_, x)| x).collect();
        }
        assert!(
            Instant::now() < deadline,
            "{} device alerts, not {n}, within {wait:?}: {all:#?}",
            all.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Removes every message kept for the User with pull `token`.
fn clear(gw: &Gateway, token: &str) {
    let auth = format!("Authorization: Bearer {token}");
    for (seq, _) in alerts_kept(gw, token) {
        let code = gw.remove_message(&auth, seq);
        assert!(code == "200" || code == "204", "removing {seq}: {code}");
    }
}

fn code_of(xml: &str) -> String {
    element_text(xml, "AlertCode").unwrap()
}

/// The GBCS originator counter of the alert a message carries.
fn gbcs_counter(xml: &str) -> u64 {
    let payload = base64::engine::general_purpose::STANDARD
        .decode(element_text(xml, "GBCSPayload").unwrap())
        .unwrap();
    frame::parse(&payload).unwrap().header.counter
}

#[test]
fn a_burst_of_identical_alerts_is_delivered_once_then_summed_up_when_the_window_closes() {
    let s = Setup::start(
        "throttle",
        0x00DB_5800_0000_0000,
        &[("HUBGATE_ALERTS__THROTTLE_WINDOW_MS", "3000")],
    );
    let gw = s.gw();
    // Five identical alerts and one with another code, in one burst.
    s.raise(&[0x8F30, 0x8F30, 0x810E, 0x8F30, 0x8F30, 0x8F30]);
    let started = Instant::now();
    for (token, user, name) in [
        (SUPPLIER_TOKEN, SUPPLIER, "supplier"),
        (OPERATOR_TOKEN, NETWORK_OPERATOR, "operator"),
    ] {
        // At once: the first 8F30 and the 810E; the summary follows the window.
        let all = wait_for_alerts(gw, token, 3, Duration::from_secs(20));
        let throttled: Vec<&String> = all
            .iter()
            .filter(|x| x.contains("<sr:ThrottledAlertCount>"))
            .collect();
        let plain: Vec<&String> = all
            .iter()
            .filter(|x| !x.contains("<sr:ThrottledAlertCount>"))
            .collect();
        assert_eq!(throttled.len(), 1, "{name}: {all:#?}");
        let mut codes: Vec<String> = plain.iter().map(|x| code_of(x)).collect();
        codes.sort();
        assert_eq!(codes, ["810E", "8F30"], "{name}: {all:#?}");
        let first = plain.iter().find(|x| code_of(x) == "8F30").unwrap();
        assert!(
            !first.contains("ThrottledAlertSequenceId"),
            "{name}: {first}"
        );
        let summary = throttled[0];
        assert_eq!(code_of(summary), "8F30", "{name}: {summary}");
        assert_eq!(
            element_text(summary, "ThrottledAlertCount").as_deref(),
            Some("4"),
            "{name}: the four alerts held back: {summary}"
        );
        let sequence: u32 = element_text(summary, "ThrottledAlertSequenceId")
            .unwrap()
            .parse()
            .unwrap();
        assert!(sequence > 0, "{summary}");
        // It carries the last alert held back: the highest counter of the burst.
        let counters = (gbcs_counter(first), gbcs_counter(summary));
        assert!(counters.1 > counters.0, "{name}: {counters:?}");
        let response_id = element_text(summary, "ResponseID").unwrap();
        assert_eq!(
            response_id,
            format!("{}:{user}:{}", hex::eui_duis(&s.esme), counters.1),
            "{name}"
        );
        // Schema order (AlertCode, ThrottledAlertSequenceId, ThrottledAlertCount,
        // GBCSPayload) and the DSP signature, by the independent checker.
        common::oracle::xml_oracle(gw, summary, &format!("throttle-summary-{name}"));
        common::oracle::xml_oracle(gw, first, &format!("throttle-first-{name}"));
    }
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the summary came before the window closed"
    );
    let m = gw.metrics_text();
    assert_eq!(
        metric_value(&m, "hubgate_alerts_throttled_total", ""),
        4.0,
        "{m}"
    );
    assert_eq!(
        metric_value(&m, "hubgate_alerts_throttle_summaries_total", ""),
        1.0,
        "{m}"
    );

    // After the window, the same alert again opens a new window: delivered at once.
    clear(gw, SUPPLIER_TOKEN);
    s.raise(&[0x8F30]);
    let again = wait_for_alerts(gw, SUPPLIER_TOKEN, 1, Duration::from_secs(10));
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(code_of(&again[0]), "8F30");
    assert!(!again[0].contains("Throttled"), "{}", again[0]);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        alerts_kept(gw, SUPPLIER_TOKEN).len(),
        1,
        "a lone alert gets no summary"
    );
}

#[test]
fn alerts_over_the_hub_threshold_are_quarantined_then_released_or_deleted() {
    let s = Setup::start(
        "hub-alerts",
        0x00DB_5900_0000_0000,
        &[
            ("HUBGATE_ALERTS__THROTTLE_WINDOW_MS", "0"),
            ("HUBGATE_ANOMALY__HUB_ALERTS_PER_MINUTE", "3"),
        ],
    );
    let gw = s.gw();
    s.raise(&[0x8F01, 0x8F02, 0x8F03, 0x8F04, 0x8F05]);
    // The first three reach both Users; the fourth and fifth are held.
    let deadline = Instant::now() + Duration::from_secs(20);
    let list = loop {
        let (status, body) = gw.call("GET", QUARANTINE_PATH, Some(ADMIN));
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let held = v["held"].as_array().unwrap().clone();
        if held.len() >= 2 {
            assert_eq!(v["count"], 2, "{body}");
            break held;
        }
        assert!(Instant::now() < deadline, "nothing quarantined: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for token in [SUPPLIER_TOKEN, OPERATOR_TOKEN] {
        let got = wait_for_alerts(gw, token, 3, Duration::from_secs(10));
        let codes: Vec<String> = got.iter().map(|x| code_of(x)).collect();
        assert_eq!(codes, ["8F01", "8F02", "8F03"], "{got:#?}");
    }
    let esme = hex::eui_duis(&s.esme);
    for (h, code) in list.iter().zip(["8F04", "8F05"]) {
        assert_eq!(h["kind"], "alert", "{h}");
        assert_eq!(h["hub"], s.chf.as_str(), "{h}");
        assert_eq!(h["device"], esme.as_str(), "{h}");
        assert_eq!(h["alert_code"], code, "{h}");
        assert_eq!(h["window"], "minute", "{h}");
        assert_eq!(h["messages"], 2, "{h}");
        assert_eq!(
            h["recipients"],
            serde_json::json!([SUPPLIER, NETWORK_OPERATOR]),
            "{h}"
        );
        assert!(
            h["reason"].as_str().unwrap().contains("threshold of 3"),
            "{h}"
        );
    }
    let ids: Vec<u64> = list.iter().map(|h| h["id"].as_u64().unwrap()).collect();
    // One held alert in full: its signed messages, one per User.
    let (status, body) = gw.call("GET", &format!("{QUARANTINE_PATH}/{}", ids[0]), Some(ADMIN));
    assert_eq!(status, 200, "{body}");
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    let held_xml = detail["messages"][0]["xml"].as_str().unwrap();
    assert_eq!(code_of(held_xml), "8F04", "{held_xml}");

    // The command line lists them.
    let token_file = gw.dir.join("admin-token");
    std::fs::write(&token_file, format!("{ADMIN}\n")).unwrap();
    let (code, out) = quarantine_cli(gw, &token_file, &["list"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{esme}:8F04:")) && out.contains(&format!("{esme}:8F05:")),
        "{out}"
    );
    // Nothing held was delivered.
    std::thread::sleep(Duration::from_millis(500));
    for token in [SUPPLIER_TOKEN, OPERATOR_TOKEN] {
        assert_eq!(alerts_kept(gw, token).len(), 3);
        clear(gw, token);
    }

    // Released from the command line: both Users get it, signed and schema-valid.
    let (code, out) = quarantine_cli(gw, &token_file, &["release", &ids[0].to_string()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"outcome\":\"delivered\""), "{out}");
    for (token, user) in [
        (SUPPLIER_TOKEN, SUPPLIER),
        (OPERATOR_TOKEN, NETWORK_OPERATOR),
    ] {
        let got = wait_for_alerts(gw, token, 1, Duration::from_secs(10));
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(code_of(&got[0]), "8F04");
        assert!(
            element_text(&got[0], "ResponseID")
                .unwrap()
                .starts_with(&format!("{esme}:{user}:")),
            "{}",
            got[0]
        );
        common::oracle::xml_oracle(gw, &got[0], "released-alert");
    }
    // Released once only.
    let (status, _) = gw.call(
        "POST",
        &format!("{QUARANTINE_PATH}/{}/release", ids[0]),
        Some(ADMIN),
    );
    assert_eq!(status, 404);

    // Deleted through the API: gone, and never delivered.
    let (status, body) = gw.call(
        "DELETE",
        &format!("{QUARANTINE_PATH}/{}", ids[1]),
        Some(ADMIN),
    );
    assert_eq!(status, 200, "{body}");
    let (_, body) = gw.call("GET", QUARANTINE_PATH, Some(ADMIN));
    assert!(body.contains("\"count\":0"), "{body}");
    std::thread::sleep(Duration::from_secs(1));
    for token in [SUPPLIER_TOKEN, OPERATOR_TOKEN] {
        let codes: Vec<String> = alerts_kept(gw, token)
            .iter()
            .map(|(_, x)| code_of(x))
            .collect();
        assert_eq!(codes, ["8F04"], "the deleted alert was delivered");
    }

    let m = gw.metrics_text();
    assert_eq!(
        metric_value(&m, "hubgate_quarantine_alerts_total", "window=\"minute\""),
        2.0,
        "{m}"
    );
    assert_eq!(
        metric_value(
            &m,
            "hubgate_quarantine_outcomes_total",
            "outcome=\"released\""
        ),
        1.0
    );
    assert_eq!(
        metric_value(
            &m,
            "hubgate_quarantine_outcomes_total",
            "outcome=\"deleted\""
        ),
        1.0
    );
    assert_eq!(
        metric_value(&m, "hubgate_quarantine_held_messages", ""),
        0.0
    );
}

/// Raises five identical alerts and waits until the gateway has delivered the first and
/// held back the other four (and the batch holding them is committed).
fn raise_five_and_wait_held_back(s: &Setup) -> Instant {
    let gw = s.gw();
    s.raise(&[0x8F30; 5]);
    let raised = Instant::now();
    for token in [SUPPLIER_TOKEN, OPERATOR_TOKEN] {
        let first = wait_for_alerts(gw, token, 1, Duration::from_secs(20));
        assert!(!first[0].contains("Throttled"), "{}", first[0]);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = gw.metrics_text();
        if metric_value(&m, "hubgate_alerts_throttled_total", "") >= 4.0 {
            assert_eq!(metric_value(&m, "hubgate_alerts_throttled_total", ""), 4.0);
            break;
        }
        assert!(Instant::now() < deadline, "four alerts not held back: {m}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The window is written in the transaction of the batch that held the alerts back,
    // right after they were counted.
    std::thread::sleep(Duration::from_millis(500));
    raised
}

/// After a restart each User has the first alert (kept from before) and exactly one
/// summary with `ThrottledAlertCount` 4 carrying the last alert held back; nothing else.
fn assert_one_summary_of_four(s: &Setup) {
    let gw = s.gw();
    for (token, user, name) in [
        (SUPPLIER_TOKEN, SUPPLIER, "supplier"),
        (OPERATOR_TOKEN, NETWORK_OPERATOR, "operator"),
    ] {
        let all = wait_for_alerts(gw, token, 2, Duration::from_secs(30));
        assert_eq!(all.len(), 2, "{name}: {all:#?}");
        let summaries: Vec<&String> = all
            .iter()
            .filter(|x| x.contains("<sr:ThrottledAlertCount>"))
            .collect();
        assert_eq!(summaries.len(), 1, "{name}: {all:#?}");
        let summary = summaries[0];
        assert_eq!(code_of(summary), "8F30");
        assert_eq!(
            element_text(summary, "ThrottledAlertCount").as_deref(),
            Some("4"),
            "{name}: the four held back before the crash: {summary}"
        );
        let first = all.iter().find(|x| !x.contains("Throttled")).unwrap();
        let counters = (gbcs_counter(first), gbcs_counter(summary));
        assert!(counters.1 > counters.0, "{name}: {counters:?}");
        assert_eq!(
            element_text(summary, "ResponseID").unwrap(),
            format!("{}:{user}:{}", hex::eui_duis(&s.esme), counters.1),
            "{name}"
        );
        common::oracle::xml_oracle(gw, summary, &format!("throttle-restart-{name}"));
    }
    // No second summary follows.
    std::thread::sleep(Duration::from_secs(3));
    for token in [SUPPLIER_TOKEN, OPERATOR_TOKEN] {
        assert_eq!(alerts_kept(gw, token).len(), 2, "a summary came twice");
    }
    let m = gw.metrics_text();
    assert_eq!(
        metric_value(&m, "hubgate_alerts_throttle_summaries_total", ""),
        1.0,
        "{m}"
    );
}

#[test]
fn a_throttle_window_open_at_a_crash_closes_after_the_restart_with_its_count() {
    let window = Duration::from_secs(10);
    let mut s = Setup::start(
        "throttle-restart",
        0x00DB_5B00_0000_0000,
        &[("HUBGATE_ALERTS__THROTTLE_WINDOW_MS", "10000")],
    );
    let raised = raise_five_and_wait_held_back(&s);
    // Killed inside the window and started again at once.
    s.kill_and_restart(Duration::ZERO);
    assert!(
        raised.elapsed() < window,
        "the restart took longer than the window: {:?}",
        raised.elapsed()
    );
    // The summary waits for the window to close.
    let gw = s.gw();
    while raised.elapsed() + Duration::from_millis(500) < window {
        for token in [SUPPLIER_TOKEN, OPERATOR_TOKEN] {
            assert!(
                alerts_kept(gw, token)
                    .iter()
                    .all(|(_, x)| !x.contains("<sr:ThrottledAlertCount>")),
                "a summary before the window closed ({:?} after the burst)",
                raised.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_one_summary_of_four(&s);
}

#[test]
fn a_throttle_window_that_ran_out_while_the_gateway_was_down_closes_at_start() {
    let mut s = Setup::start(
        "throttle-down",
        0x00DB_5C00_0000_0000,
        &[("HUBGATE_ALERTS__THROTTLE_WINDOW_MS", "3000")],
    );
    let raised = raise_five_and_wait_held_back(&s);
    // Down until the window has long run out.
    let down_for = Duration::from_secs(4).saturating_sub(raised.elapsed());
    s.kill_and_restart(down_for + Duration::from_secs(1));
    // Closed at start (the alert thread's first look), not a window later.
    for token in [SUPPLIER_TOKEN, OPERATOR_TOKEN] {
        wait_for_alerts(s.gw(), token, 2, Duration::from_secs(2));
    }
    assert_one_summary_of_four(&s);
}
