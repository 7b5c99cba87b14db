//! A flood of device alerts against a running `hubgate serve` whose alert queue holds only a
//! few (`routing.alert_queue_capacity` = 8):
//!
//! - an emulated premises (hil-rig's devices, keys and GBCS framing) in this test process is
//!   connected over the real SMWAN link (QUIC, mutual TLS); its meter raises device-signed
//!   alerts on demand, thousands at once, far faster than the response writer signs and
//!   stores them (throttling and the per-hub alert thresholds are off, so each one becomes a
//!   DeviceAlertMessage for the registered supplier);
//! - the queue never holds more than its capacity (the gateway's own high-water mark, which
//!   also shows the flood reached it), the SMWAN link paused reading
//!   (`hubgate_alerts_backpressure_total`), and every alert the rig sent is accounted for:
//!   delivered to the supplier or counted in `hubgate_alerts_dropped_total`;
//! - the gateway's peak resident memory (`VmHWM`) during the flood stays within a fixed
//!   margin of its resident memory before it, nothing panics, and right after the flood a
//!   signed read of the same meter round-trips (`I99`, then the meter's `I0` answer).
//!
//! Needs `curl` and the conformance data; Linux (`/proc`) for the memory figures.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Gateway, SUPPLIER, Seeds, element_text, metric_value, set_target};
use hubgate_hil_rig::Parties;
use hubgate_hil_rig::link::rig::{self, Connect, Hubs, Replies, Responder};
use hubgate_protocol::gbcs::frame;
use hubgate_protocol::hex;

const TOKEN: &str = "alert-flood-supplier-pull-token-0123456789ab";
const MPAN: &str = "1900000000888";
const FIRST: u64 = 0x00DB_5A00_0000_0000;
/// The alert queue's capacity: far below the flood.
const CAPACITY: usize = 8;
/// Alerts raised before the flood (warming every path up) and in it.
const WARM_UP: usize = 20;
const FLOOD: usize = 12_000;
/// Growth of peak resident memory allowed over the resident memory before the flood (as in
/// `overload.rs`: the store's page cache and allocator arenas may grow; an unbounded queue
/// of every alert with its signed messages would not fit).
const MEMORY_MARGIN_MIB: f64 = 96.0;

/// An emulated premises whose ESME raises `pending` alerts on the link's next tick.
struct FloodRig {
    hubs: Hubs,
    esme: [u8; 8],
    pending: AtomicUsize,
    raised: AtomicUsize,
    up: AtomicBool,
    codes: Mutex<u16>,
}

impl Responder for FloodRig {
    fn hub_euis(&self) -> Vec<[u8; 8]> {
        self.hubs.euis().to_vec()
    }

    fn command(&self, hub: [u8; 8], device: [u8; 8], command: &[u8], _: &Replies) -> Vec<Vec<u8>> {
        self.hubs.command(&hub, &device, command)
    }

    fn tick(&self) -> Vec<([u8; 8], Vec<u8>)> {
        let mut out = self.hubs.tick();
        let n = self.pending.swap(0, Ordering::SeqCst);
        let hub = self.hubs.euis()[0];
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut code = self.codes.lock().unwrap();
        for _ in 0..n {
            // Alert codes in turn, as a storm of different events would bring.
            *code = if *code >= 0x8F3F { 0x8F30 } else { *code + 1 };
            let bytes = self
                .hubs
                .with_device(&hub, &self.esme, |d| d.raise_alert(*code, true, now))
                .expect("the emulated ESME")
                .expect("the ESME raises the alert");
            out.push((hub, bytes));
        }
        self.raised.fetch_add(n, Ordering::SeqCst);
        out
    }

    fn link_state(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

/// (VmRSS, VmHWM) of process `pid` in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// Device alerts the gateway signed for Users, and those it dropped.
fn accounted(gw: &Gateway) -> (f64, f64, String) {
    let m = gw.metrics_text();
    (
        metric_value(&m, "hubgate_alerts_total", "kind=\"device\""),
        metric_value(&m, "hubgate_alerts_dropped_total", "reason=\"queue_full\""),
        m,
    )
}

/// Waits until every one of `sent` alerts is delivered or counted as dropped; the metrics
/// text then.
fn wait_accounted(gw: &Gateway, sent: usize, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let (delivered, dropped, m) = accounted(gw);
        if delivered + dropped >= sent as f64 {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} alerts delivered and {dropped} dropped of {sent} within {wait:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_flood_of_alerts_is_held_back_by_a_small_bounded_queue_and_the_gateway_recovers() {
    let work =
        std::env::temp_dir().join(format!("hubgate-it-alert-flood-rig-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let keys = work.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let identities = rig::load_or_generate(&keys, 1, FIRST).unwrap();
    let chf = hex::eui_duis(&FIRST.to_be_bytes());
    let esme = (FIRST + 1).to_be_bytes();
    let esme_id = hex::eui_duis(&esme);
    let inventory = format!(
        "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n\
         {chf},CHF,Commissioned,106C,433100AC,,,EM1 1AA,1,\n\
         {esme_id},ESME,Commissioned,EE01,010A030B,{MPAN},,EM1 1AA,1,{chf}\n"
    );
    let registration = format!(
        "mpxn,fuel,role,party,effective_from,effective_to\n{MPAN},electricity,IS,{SUPPLIER},2000-01-01,\n"
    );
    let keys_env = keys.to_string_lossy().to_string();
    let capacity = CAPACITY.to_string();
    let gw = Gateway::start(
        "alert-flood",
        Seeds {
            inventory: Some(&inventory),
            registration: Some(&registration),
            env: &[
                ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
                ("HUBGATE_EMULATION__HUBS", "0"),
                ("HUBGATE_SMWAN__LISTEN", "127.0.0.1:0"),
                ("HUBGATE_SMWAN__DEVICE_KEYS", keys_env.as_str()),
                ("HUBGATE_ROUTING__ALERT_QUEUE_CAPACITY", capacity.as_str()),
                ("HUBGATE_ALERTS__THROTTLE_WINDOW_MS", "0"),
                ("HUBGATE_ANOMALY__HUB_ALERTS_PER_MINUTE", "0"),
                ("HUBGATE_ANOMALY__HUB_ALERTS_PER_HOUR", "0"),
            ],
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
    let rig_state = Arc::new(FloodRig {
        hubs: Hubs::build(identities, &parties, Parties::RTDS).unwrap(),
        esme,
        pending: AtomicUsize::new(0),
        raised: AtomicUsize::new(0),
        up: AtomicBool::new(false),
        codes: Mutex::new(0x8F30),
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
    let responder: Arc<dyn Responder> = rig_state.clone();
    runtime.spawn(rig::run_with(connect, responder));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rig_state.up.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the rig did not register its hub"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Warm-up: a few alerts, all delivered.
    rig_state.pending.store(WARM_UP, Ordering::SeqCst);
    wait_accounted(&gw, WARM_UP, Duration::from_secs(30));
    let (rss_before, _) = memory_mib(gw.pid());

    // The flood: all raised on one tick, sent back to back over the link.
    rig_state.pending.store(FLOOD, Ordering::SeqCst);
    let started = Instant::now();
    let sent = WARM_UP + FLOOD;
    let m = wait_accounted(&gw, sent, Duration::from_secs(240));
    let took = started.elapsed();
    assert_eq!(rig_state.raised.load(Ordering::SeqCst), sent);
    let (_, peak) = memory_mib(gw.pid());
    let (delivered, dropped, _) = accounted(&gw);
    let dropped = dropped + 0.0;
    eprintln!(
        "flood of {FLOOD} alerts: {took:?}; delivered {delivered}, dropped {dropped}; \
         resident {rss_before:.1} MiB before, peak {peak:.1} MiB"
    );

    // Every alert accounted for exactly once: delivered or dropped (and counted).
    assert_eq!(delivered + dropped, sent as f64, "{m}");
    // The queue held at most its capacity, and the flood filled it.
    let high_water = metric_value(&m, "hubgate_routing_alert_queue_peak_messages", "");
    assert_eq!(
        high_water, CAPACITY as f64,
        "the alert queue's high-water mark: {m}"
    );
    // The SMWAN link stopped reading while the queue was full.
    let paused = metric_value(&m, "hubgate_alerts_backpressure_total", "at=\"smwan\"");
    assert!(paused > 0.0, "the SMWAN link never paused: {m}");
    assert!(
        peak - rss_before < MEMORY_MARGIN_MIB,
        "peak resident memory {peak:.1} MiB against {rss_before:.1} MiB before the flood"
    );
    // Nothing waits once the flood is through.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric_value(
        &gw.metrics_text(),
        "hubgate_routing_alert_queue_messages",
        "",
    ) != 0.0
    {
        assert!(Instant::now() < deadline, "alerts still queued");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = gw.log();
    assert!(!log.contains("panicked"), "{log}");

    // The supplier's kept alerts are acknowledged; a normal read then round-trips.
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, body) = gw.post_with(
        "/api/v1/responses/ack?through=1000000000000",
        &["-H", &auth],
        b"",
    );
    assert!(status == 200 || status == 204, "{status}: {body}");
    let request = set_target(
        &gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
        &esme_id,
    );
    let ack = gw.submit(&request, SUPPLIER);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let xml = common::pull_answer(&gw, TOKEN, &ack.request_id, Duration::from_secs(30));
    assert_eq!(
        element_text(&xml, "ResponseCode").as_deref(),
        Some("I0"),
        "{xml}"
    );
    let payload = base64::engine::general_purpose::STANDARD
        .decode(element_text(&xml, "GBCSPayload").unwrap().trim())
        .unwrap();
    assert_eq!(
        frame::parse(&payload).unwrap().header.originator,
        esme,
        "the answer comes from the rig's meter"
    );
    drop(gw);
    drop(runtime);
    let _ = std::fs::remove_dir_all(&work);
}
