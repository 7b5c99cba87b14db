//! The SMWAN link end to end: a gateway listening for rigs over QUIC, and a separate
//! `hil-rig` process hosting an emulated premises. A signed read reaches the rig-hosted
//! meter and its Service Response arrives; with the rig killed the hub is unreachable (E20);
//! a restarted rig registers again (with the same device keys) and commands work again.
//!
//! Needs `curl` and the conformance data; builds the `hil-rig` binary if needed.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Gateway, SUPPLIER, Seeds, element_text, set_target};
use hubgate_protocol::gbcs::frame;

const TOKEN: &str = "smwan-link-pull-token-0123456789abcdef01";
const FIRST_EUI: &str = "00db560000000000";
const CHF: &str = "00-DB-56-00-00-00-00-00";
const ESME: &str = "00-DB-56-00-00-00-00-01";

/// The `hil-rig` binary, built next to `hubgate` (same profile) when missing or stale.
fn hil_rig() -> PathBuf {
    let hubgate = PathBuf::from(env!("CARGO_BIN_EXE_hubgate"));
    let dir = hubgate.parent().unwrap();
    let profile_release = dir.ends_with("release");
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args(["build", "-q", "-p", "hubgate-hil-rig", "--bin", "hil-rig"]);
    if profile_release {
        build.arg("--release");
    }
    let status = build.status().expect("running cargo to build hil-rig");
    assert!(status.success(), "building hil-rig failed");
    dir.join(format!("hil-rig{}", std::env::consts::EXE_SUFFIX))
}

/// A running rig, killed on drop.
struct Rig {
    child: Child,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hil-rig emulate` against `gw` and waits until it has registered its hub.
fn start_rig(bin: &Path, gw: &Gateway, smwan: &str, keys: &Path, log: &Path) -> Rig {
    let tls = gw.dir.join("data/tls");
    let clients = tls.join("clients");
    let mut certs: Vec<PathBuf> = std::fs::read_dir(&clients)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
        .collect();
    certs.sort();
    let cert = certs
        .first()
        .expect("a client certificate in data/tls/clients");
    let mut child = Command::new(bin)
        .args([
            "emulate",
            "--hubs",
            "1",
            "--first-eui",
            FIRST_EUI,
            "--gateway",
            smwan,
        ])
        .arg("--ca")
        .arg(tls.join("ca.pem"))
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(cert.with_extension("key"))
        .arg("--parties")
        .arg(gw.root.join("smki"))
        .arg("--keys-out")
        .arg(keys)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with("registered 1 hubs") => break,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the rig did not register:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
        }
    }
    Rig { child }
}

/// Waits for the next kept message for the supplier, acknowledges it and returns its XML.
fn next_message(gw: &Gateway) -> String {
    let auth = format!("Authorization: Bearer {TOKEN}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = gw.get("/api/v1/responses?limit=1", &[&auth]);
        assert!(status == 200 || status == 204, "{status}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if let Some(m) = v["messages"].as_array().and_then(|a| a.first()) {
            let seq = m["sequence"].as_u64().unwrap();
            let out = Command::new("curl")
                .args([
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-X",
                    "DELETE",
                ])
                .arg("--cacert")
                .arg(gw.dir.join("data/tls/ca.pem"))
                .args(["-H", &auth])
                .arg(format!("https://{}/api/v1/responses/{seq}", gw.addr))
                .output()
                .unwrap();
            let code = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(code == "200" || code == "204", "acknowledging: {code}");
            return m["xml"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no message arrived within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends a signed 4.1.1 to the rig's ESME: I99, then the Service Response's XML.
fn read_meter(gw: &Gateway) -> (String, String) {
    let request = set_target(
        &gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
        ESME,
    );
    let ack = gw.submit(&request, SUPPLIER);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    (ack.request_id, next_message(gw))
}

/// The response answers `request_id` with I0 and a GBCS payload from the rig's ESME.
fn assert_answered(xml: &str, request_id: &str) {
    assert_eq!(
        element_text(xml, "ResponseCode").as_deref(),
        Some("I0"),
        "{xml}"
    );
    assert_eq!(element_text(xml, "RequestID").as_deref(), Some(request_id));
    let payload = element_text(xml, "GBCSPayload").expect("a GBCSPayload");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .unwrap();
    let msg = frame::parse(&bytes).unwrap();
    assert_eq!(
        hubgate_protocol::hex::eui_duis(&msg.header.originator),
        ESME,
        "the response comes from the rig's meter"
    );
    let counter: u64 = request_id.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(msg.header.counter, counter, "response counter");
}

/// Waits until the gateway's log has `needle` at least `times` times.
fn wait_for_log(gw: &Gateway, needle: &str, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(gw.dir.join("stderr.log")).unwrap_or_default();
        if log.matches(needle).count() >= times {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway never logged {needle:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_rig_process_serves_its_hubs_over_quic_and_reconnects() {
    let bin = hil_rig();
    let work = std::env::temp_dir().join(format!("hubgate-it-smwan-rig-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let keys = work.join("keys");
    // The device certificates first: the gateway loads them at start.
    let out = Command::new(&bin)
        .args([
            "keys",
            "--hubs",
            "1",
            "--first-eui",
            FIRST_EUI,
            "--keys-out",
        ])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(keys.join("00db560000000001-ka.pem").is_file());

    let inventory = format!(
        "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n\
         {CHF},CHF,Commissioned,106C,433100AC,,,EM1 1AA,1,\n\
         {ESME},ESME,Commissioned,EE01,010A030B,1900000000777,,EM1 1AA,1,{CHF}\n"
    );
    let registration = format!(
        "mpxn,fuel,role,party,effective_from,effective_to\n1900000000777,electricity,IS,{SUPPLIER},2000-01-01,\n"
    );
    let keys_env = keys.to_string_lossy().to_string();
    let gw = Gateway::start(
        "smwan",
        Seeds {
            inventory: Some(&inventory),
            registration: Some(&registration),
            env: &[
                ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
                ("HUBGATE_EMULATION__HUBS", "0"),
                ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "5000"),
                ("HUBGATE_SMWAN__LISTEN", "127.0.0.1:0"),
                ("HUBGATE_SMWAN__DEVICE_KEYS", &keys_env),
            ],
            ..Seeds::default()
        },
    );
    let smwan = gw
        .startup
        .lines()
        .find_map(|l| l.strip_prefix("SMWAN listening on quic://"))
        .unwrap_or_else(|| panic!("no SMWAN listener:\n{}", gw.startup))
        .trim()
        .to_string();

    // The rig connects, registers its hub, and a read gets the meter's answer.
    let rig = start_rig(&bin, &gw, &smwan, &keys, &work.join("rig1.log"));
    let (id, xml) = read_meter(&gw);
    assert_answered(&xml, &id);

    // The rig dies: once the gateway notices, the hub is unreachable and commands end E20.
    drop(rig);
    wait_for_log(&gw, "SMWAN rig disconnected", 1);
    let (id, xml) = read_meter(&gw);
    assert_eq!(
        element_text(&xml, "ResponseCode").as_deref(),
        Some("E20"),
        "{xml}"
    );
    assert_eq!(
        element_text(&xml, "RequestID").as_deref(),
        Some(id.as_str())
    );
    assert!(element_text(&xml, "GBCSPayload").is_none(), "{xml}");

    // A new rig process with the same keys registers again, and reads work again.
    let rig = start_rig(&bin, &gw, &smwan, &keys, &work.join("rig2.log"));
    let (id, xml) = read_meter(&gw);
    assert_answered(&xml, &id);
    drop(rig);
    let _ = std::fs::remove_dir_all(&work);
}
