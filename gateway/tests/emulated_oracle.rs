//! End to end over HTTPS with the emulated meters, checked by programs we did not write: the
//! gateway records every GBCS message its emulated devices are sent or produce, with the keys
//! needed to check them (`emulation.record_dir`), and the independent GBCS oracle
//! (`tools/oracle/gbcs_oracle.py`) verifies every signature and MAC in the recording; device
//! alerts reach the User they are addressed to as signed DUIS alerts.
//!
//! Needs `curl`, `python3` with lxml and cryptography (installed by `scripts/test`).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Gateway, SUPPLIER, Seeds, element_text, next_message, set_target, set_text, unb64};
use hubgate_protocol::gbcs::frame;

const TOKEN: &str = "emulated-oracle-pull-token-0123456789abcdef";
/// The first emulated premises: hub `…00`, ESME `…01`.
const ESME: &str = "00-DB-55-00-00-00-00-01";

/// A gateway with one emulated premises recording its GBCS traffic in `<dir>/record`.
fn start(name: &str) -> (Gateway, PathBuf) {
    let record =
        std::env::temp_dir().join(format!("hubgate-it-{name}-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&record);
    let record_env = record.to_string_lossy().to_string();
    let gw = Gateway::start(
        name,
        Seeds {
            env: &[
                ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
                ("HUBGATE_EMULATION__HUBS", "1"),
                ("HUBGATE_EMULATION__RECORD_DIR", &record_env),
                ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "3000"),
            ],
            ..Seeds::default()
        },
    );
    (gw, record)
}

/// The GBCS payload of a Service Response with code I0 to `request_id`.
fn gbcs_response(xml: &str, request_id: &str) -> Vec<u8> {
    assert_eq!(
        element_text(xml, "ResponseCode").as_deref(),
        Some("I0"),
        "{xml}"
    );
    assert_eq!(element_text(xml, "RequestID").as_deref(), Some(request_id));
    unb64(&element_text(xml, "GBCSPayload").expect("a GBCSPayload"))
}

/// One row of the oracle's per-file results.
#[derive(Debug)]
struct Checked {
    path: String,
    kind: String,
    signature: String,
    mac: String,
    note: String,
}

/// Runs the GBCS oracle over the recorded messages with only the recorded key folder (no
/// DCC Boxed keystore.json): its exit status and its per-file results.
fn gbcs_oracle(gw: &Gateway, record: &Path) -> (bool, String, Vec<Checked>) {
    let empty_json = gw.dir.join("no-keystore.json");
    std::fs::write(&empty_json, "{}").unwrap();
    let csv = gw.dir.join("oracle.csv");
    let out = Command::new("python3")
        .arg(gw.root.join("../tools/oracle/gbcs_oracle.py"))
        .arg(&gw.root)
        .arg("--dir")
        .arg(record.join("messages"))
        .arg("--keystore")
        .arg(record.join("keys"))
        .arg("--keystore-json")
        .arg(&empty_json)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).unwrap_or_default();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows = lines
        .map(|l| {
            let f = split_csv(l);
            Checked {
                path: f[col("path")].clone(),
                kind: f[col("kind")].clone(),
                signature: f[col("signature_result")].clone(),
                mac: f[col("mac_result")].clone(),
                note: f[col("note")].clone(),
            }
        })
        .collect();
    (out.status.success(), report, rows)
}

/// A CSV line's fields (quotes as Python's csv module writes them).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

#[test]
fn every_recorded_message_of_an_end_to_end_run_passes_the_gbcs_oracle() {
    let (gw, record) = start("oracle");
    for dir in ["keys", "messages"] {
        assert!(
            record.join(dir).is_dir(),
            "no {dir} folder in the recording"
        );
    }
    let keys = record.join("keys");
    for f in [
        "00db550000000001-ds.pem",
        "00db550000000001-ka.pem",
        "90b3d51f30010000-ds.pem",
        "90b3d51f30000002-ka.pem",
    ] {
        assert!(keys.join(f).is_file(), "{f} missing from the key folder");
    }

    // Reads (MAC'd commands from the ACB, MAC'd responses).
    let mut expected = 0;
    for (template, target) in [
        ("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML", ESME),
        ("ECS20b_4.4.2_SINGLE_SUCCESS_REQUEST_DUIS.XML", ESME),
    ] {
        let request = set_target(&gw.template(template), target);
        let ack = gw.submit(&request, SUPPLIER);
        assert_eq!(ack.code, "I99", "{template}: {}", ack.xml);
        let xml = next_message(&gw, TOKEN, Duration::from_secs(20));
        let bytes = gbcs_response(&xml, &ack.request_id);
        assert_eq!(bytes[0], 0xDD, "{template}: a MAC'd response");
        expected += 2;
    }
    // A critical command: the supplier's signature inside the ACB's MAC, a signed response.
    let request = set_target(&gw.template("ECS42_7.1_SUCCESS_REQUEST_DUIS.XML"), ESME);
    let (ack, request_id) =
        common::critical::send_critical(&gw, &request, SUPPLIER, "Z1-supplier-ds.key");
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let xml = next_message(&gw, TOKEN, Duration::from_secs(20));
    let bytes = gbcs_response(&xml, &request_id);
    let msg = frame::parse(&bytes).unwrap();
    assert!(matches!(msg.signature, frame::SignatureField::Present(_)));
    expected += 2;

    let (ok, report, rows) = gbcs_oracle(&gw, &record);
    assert!(ok, "the GBCS oracle reports failures:\n{report}");
    assert!(
        rows.len() >= expected,
        "{} messages recorded, {expected} expected:\n{report}",
        rows.len()
    );
    let kinds = |k: &str| rows.iter().filter(|r| r.kind == k).count();
    assert_eq!(kinds("COMMAND"), expected / 2, "{rows:#?}");
    assert_eq!(kinds("RESPONSE"), expected / 2, "{rows:#?}");
    for r in &rows {
        // Every message is authenticated by the oracle itself: a valid MAC or a verified
        // signature, and nothing that failed or could not be checked.
        assert!(
            r.mac == "valid" || r.signature == "verified",
            "{} not authenticated by the oracle: {r:?}",
            r.path
        );
        for v in [&r.mac, &r.signature] {
            assert!(
                !matches!(v.as_str(), "invalid" | "failed" | "no-key"),
                "{}: {r:?}",
                r.path
            );
        }
    }
    // The critical command carries the supplier's signature and the ACB's MAC.
    let critical: Vec<&Checked> = rows
        .iter()
        .filter(|r| r.path.contains("_COMMAND_") && r.signature == "verified")
        .collect();
    assert_eq!(critical.len(), 1, "{rows:#?}");
    assert_eq!(critical[0].mac, "valid", "{:?}", critical[0]);
    assert!(critical[0].note.is_empty(), "{:?}", critical[0]);
    let _ = std::fs::remove_dir_all(&record);
}

#[test]
fn a_future_dated_tariff_raises_an_alert_that_reaches_the_supplier() {
    let (gw, record) = start("alert");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let template = gw.template("ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML");
    let request = set_text(
        &set_target(&template, ESME),
        "ExecutionDateTime",
        &common::rfc3339(now + 4),
    );
    let (ack, request_id) =
        common::critical::send_critical(&gw, &request, SUPPLIER, "Z1-supplier-ds.key");
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    // First the device's response (the command is accepted and held), then the alert when
    // the execution time has passed.
    let xml = next_message(&gw, TOKEN, Duration::from_secs(20));
    gbcs_response(&xml, &request_id);
    let alert = next_message(&gw, TOKEN, Duration::from_secs(20));
    common::oracle::xml_oracle(&gw, &alert, "future-dated-alert");
    let payload = unb64(&element_text(&alert, "GBCSPayload").expect("a GBCS alert"));
    let msg = frame::parse(&payload).unwrap();
    assert_eq!(
        hubgate_protocol::hex::eui_duis(&msg.header.originator),
        ESME,
        "{alert}"
    );
    assert_eq!(
        hubgate_protocol::hex::eui_duis(&msg.header.recipient),
        SUPPLIER,
        "{alert}"
    );
    assert_eq!(
        element_text(&alert, "FutureDatedAlertCode").as_deref(),
        Some("8F66"),
        "the future-dated success alert code: {alert}"
    );
    // The alert repeats the tariff command's counter: the User can tie it to its request.
    let counter: u64 = request_id.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        payload.windows(8).any(|w| w == counter.to_be_bytes()),
        "the alert does not carry the command's counter {counter}"
    );
    let (ok, report, rows) = gbcs_oracle(&gw, &record);
    assert!(ok, "{report}");
    assert!(rows.iter().any(|r| r.kind == "ALERT"), "{rows:#?}");
    let _ = std::fs::remove_dir_all(&record);
}
