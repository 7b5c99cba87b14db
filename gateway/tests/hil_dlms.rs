//! A lab DLMS meter read end to end through the HIL rig: a signed DUIS 4.1.1 (ECS17b, read
//! instantaneous import registers) from the supplier goes through the gateway, over the
//! SMWAN link (QUIC) to a `hil-rig run` process whose hub's ESME is an **adapter** device in
//! front of the gurux DLMS/COSEM meter simulator on a PTY (the rig opens the PTY through its
//! serial transport and speaks HDLC to it). The User gets a signed Service Response whose
//! GBCS payload, decrypted with the supplier's key and decoded with the protocol crate's
//! payload decoder, carries the simulator's energy register value; the rig's `/metrics`
//! shows the meter read on that port.
//!
//! What this proves and does not: the gateway's whole device path against the rig's GBCS
//! side (the adapter identity's MAC, signature and encryption), carrying a value read from
//! an independent DLMS implementation over a serial line; not the meter's own GBCS security
//! (a DLMS lab meter has none).
//!
//! Needs `curl`, the conformance data, and the HIL peers (the `.hil-venv` Python environment
//! and `../shared/tools/hil-peers`, see `scripts/hil-venv`); without the peers the test says
//! so and passes, except under `CI=true`. Builds the `hil-rig` binary if needed.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Gateway, SUPPLIER, element_text, set_target};
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::gbcs::auth::{self, BlockOutcome};
use hubgate_protocol::gbcs::frame;
use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::smki::Store;

const TOKEN: &str = "hil-dlms-pull-token-0123456789abcdef0123";
const FIRST_EUI: &str = "00db590000000000";
const CHF: &str = "00-DB-59-00-00-00-00-00";
const ESME: &str = "00-DB-59-00-00-00-00-01";
/// The simulator's active energy register starts here and counts each read of it.
const SIM_ENERGY_START: u32 = 123_456;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The HIL peers (Python environment and the shared peer scripts), or `None` (skipped)
/// outside CI.
fn hil_peers() -> Option<(PathBuf, PathBuf)> {
    let python = std::env::var_os("HUBGATE_HIL_PYTHON")
        .map_or_else(|| repo().join(".hil-venv/bin/python"), PathBuf::from);
    let peers = std::env::var_os("HUBGATE_HIL_PEERS")
        .map_or_else(|| repo().join("../shared/tools/hil-peers"), PathBuf::from);
    if python.exists() && peers.join("dlms/meter_sim.py").exists() {
        return Some((python, peers));
    }
    let msg = format!(
        "the HIL peers are missing ({} / {}; run ./scripts/hil-venv)",
        python.display(),
        peers.display()
    );
    assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "{msg}");
    eprintln!("skipped: {msg}");
    None
}

/// A child process killed on drop, with its stdout lines on a channel.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(mut cmd: Command, log: &Path) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proc { child, lines }
    }

    /// The first line starting with `prefix` within 30 s.
    fn wait_line(&mut self, prefix: &str, log: &Path) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line {prefix:?}:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                ),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for the next kept message for the supplier, acknowledges it and returns its XML.
fn next_message(gw: &Gateway) -> String {
    common::next_message(gw, TOKEN, Duration::from_secs(30))
}

#[test]
fn a_signed_4_1_1_reads_a_dlms_meter_behind_an_adapter_device() {
    let Some((python, peers)) = hil_peers() else {
        return;
    };
    let bin = common::rig::hil_rig();
    let work = std::env::temp_dir().join(format!("hubgate-it-hil-dlms-rig-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();

    // The lab meter: gurux's DLMS server on a PTY.
    let pty = work.join("meter-tty");
    let mut sim_cmd = Command::new(&python);
    sim_cmd
        .arg(peers.join("dlms/meter_sim.py"))
        .arg("--pty")
        .arg(&pty);
    let mut sim = Proc::spawn(sim_cmd, &work.join("meter_sim.log"));
    sim.wait_line("ready", &work.join("meter_sim.log"));

    // Device certificates first: the gateway loads them at start.
    let keys = work.join("keys");
    common::rig::device_keys(&bin, FIRST_EUI, &keys);

    let (gw, smwan) = common::rig::start_smwan_gateway(
        "hil-dlms",
        TOKEN,
        (CHF, ESME, "1900000000888"),
        "15000",
        &keys,
    );

    // The rig file: one hub whose ESME is an adapter for the meter on the PTY.
    let (cert, key) = common::rig::rig_cert(&gw, "any");
    let rig_toml = format!(
        r#"keys_out = "{keys}"

[gateway]
address = "{smwan}"
ca = "{ca}"
cert = "{cert}"
key = "{key}"

[trust]
parties = ["{smki}"]

[[hubs]]
eui = "{FIRST_EUI}"

[[hubs.devices]]
slot = "esme"
mode = "adapter"
port = {{ serial = "{pty}", baud = 9600 }}
meter = {{ protocol = "dlms", client_address = 16, server_address = 1 }}
timeout_ms = 5000
"#,
        keys = keys.display(),
        ca = gw.dir.join("data/tls/ca.pem").display(),
        cert = cert.display(),
        key = key.display(),
        smki = gw.root.join("smki").display(),
        pty = pty.display(),
    );
    let config = work.join("rig.toml");
    std::fs::write(&config, rig_toml).unwrap();
    let rig_log = work.join("rig.log");
    let mut rig_cmd = Command::new(&bin);
    rig_cmd
        .args(["run", "--config"])
        .arg(&config)
        .args(["--metrics-listen", "127.0.0.1:0"])
        .env("HIL_RIG_LOG", "info");
    let mut rig = Proc::spawn(rig_cmd, &rig_log);
    let metrics_url = rig
        .wait_line("metrics listening on ", &rig_log)
        .trim_start_matches("metrics listening on ")
        .to_string();
    rig.wait_line("registered 1 hubs", &rig_log);

    // The supplier reads the instantaneous import registers of the rig's ESME.
    let request = set_target(
        &gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
        ESME,
    );
    let ack = gw.submit(&request, SUPPLIER);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let xml = next_message(&gw);
    assert_eq!(
        element_text(&xml, "ResponseCode").as_deref(),
        Some("I0"),
        "{xml}\nrig log:\n{}",
        std::fs::read_to_string(&rig_log).unwrap_or_default()
    );
    assert_eq!(
        element_text(&xml, "RequestID").as_deref(),
        Some(ack.request_id.as_str())
    );
    assert!(
        xml.contains("SignatureValue>"),
        "a signed Service Response: {xml}"
    );

    // Its GBCS payload: a response from the ESME carrying the meter's energy register.
    let payload = element_text(&xml, "GBCSPayload").expect("a GBCSPayload");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .unwrap();
    let msg = frame::parse(&bytes).unwrap();
    assert_eq!(
        hubgate_protocol::hex::eui_duis(&msg.header.originator),
        ESME
    );
    let mut store = Store::load_conformance(&gw.root).unwrap();
    store.load_dir(&keys).unwrap();
    let blocks = auth::decrypt_blocks(&msg, &store, &DerivedKeyCache::default()).unwrap();
    let plaintext = match blocks.first().map(|b| &b.outcome) {
        Some(BlockOutcome::Decrypted { plaintext, .. }) => plaintext.clone(),
        other => panic!("the response's registers do not decrypt: {other:?}"),
    };
    let data = Data::decode(&plaintext).unwrap();
    // The read registers: the instantaneous import registers structure, whose first
    // member is the active import energy (Wh).
    let Data::Structure(reads) = &data else {
        panic!("{data:?}")
    };
    let Some(Data::Structure(registers)) = reads.first() else {
        panic!("{data:?}")
    };
    // The rig reads the meter once for this command: the simulator's first read.
    assert_eq!(
        registers.first(),
        Some(&Data::DoubleLongUnsigned(SIM_ENERGY_START + 1)),
        "{data:?}"
    );

    // The rig counted the meter read on the PTY port.
    let out = Command::new("curl")
        .args(["-sS", &metrics_url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let port = pty.display().to_string();
    let read_ok = text.lines().any(|l| {
        l.starts_with("hubgate_rig_port_meter_reads_total{")
            && l.contains(&format!("port=\"{port}\""))
            && l.contains("outcome=\"ok\"")
            && l.ends_with(" 1")
    });
    assert!(read_ok, "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("hubgate_rig_port_up{")
            && l.contains(&port)
            && l.ends_with(" 1")),
        "{text}"
    );
    drop(rig);
    drop(sim);
    let _ = std::fs::remove_dir_all(&work);
}
