//! SR 11.1 Update Firmware end to end on a real `hubgate serve` with one emulated premises,
//! requests signed by the ZAZ1 supplier over HTTPS, answers checked against the DUIS XSD and
//! the DSP signature by the independent checker:
//!
//! - 11.1 naming the emulated ESME and a device the inventory does not know is answered
//!   `W110101` with the unknown device in `InvalidDeviceIDList`; the image reaches the meter
//!   through its hub and the supplier receives a `CommsHubAlert` with `FileTransferSuccess`;
//!   11.3 (CS06, Transform then Signed Pre-Command) naming the image's SHA-256 activates it
//!   and 11.2 (ECS52) reads the new version; the performance report counts one firmware
//!   request within its 5-day target.
//!   The activation's CS06 response records the new version in the inventory (8.2 reads
//!   it), so a second 11.1 with that version lists the meter in
//!   `NotApplicableFirmwareDeviceIDList`.
//! - A gateway killed with SIGKILL in the middle of a paced distribution finishes it after
//!   its restart (the alert arrives only then).
//! - A meter hosted by a separate `hil-rig` process over the SMWAN link (QUIC) receives the
//!   image in link-sized chunks: the completion alert arrives, 11.3 activates it on the rig's
//!   meter and 11.2 reads the new version from there.
//! - A meter whose hub is in the inventory but behind no emulated hub and no rig ends in a
//!   `FirmwareDistributionFailure` DCC alert (XSD-valid, DSP-signed) naming the request and
//!   the meter, and the request is timed in the `firmware` category.
//! - Two 11.1 for one meter sent together: never both accepted for it (the second is listed
//!   in `OtherRequestInProgressList`, or refused as a replay when its counter lost the race);
//!   an 11.1 quarantined by a threshold and released is checked, stored and distributed like
//!   an accepted one (I99, then its completion alert).
//! - A `FirmwareVersion` within the XSD but not even-length hex of 2 to 8 characters, or
//!   more than 10 000 devices in `DeviceIDList`, is refused `E31`; a valid request after them
//!   is distributed.
//! - With room for one message per User, a second completion alert refused by the outbox
//!   leaves that distribution open; once the first alert is pulled, the periodic scan sends
//!   the device again and its alert arrives, and only then is the distribution counted.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::admin::{QUARANTINE_PATH, quarantine_held};
use common::oracle::xml_oracle;
use common::{
    Answer, Gateway, SUPPLIER, Seeds, element_text, metric_value, pull_answer, set_target,
};
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::gbcs::auth;

const TOKEN: &str = "firmware-pull-token-0123456789abcdef0123";
const CHF: &str = "00-DB-55-00-00-00-00-00";
const ESME: &str = "00-DB-55-00-00-00-00-01";
const UNKNOWN: &str = "00-DB-99-99-99-99-99-99";
const VERSION: &str = "00000002";

fn start(name: &str, extra: &[(&str, &str)]) -> Gateway {
    let mut env: Vec<(&str, &str)> = vec![
        ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
        ("HUBGATE_EMULATION__HUBS", "1"),
        ("HUBGATE_LOG_LEVEL", "info"),
    ];
    env.extend_from_slice(extra);
    Gateway::start(
        name,
        Seeds {
            env: &env,
            ..Seeds::default()
        },
    )
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap()
}

/// The 11.1 template with `devices` and `image`.
fn update_firmware(gw: &Gateway, devices: &str, image: &[u8]) -> String {
    let xml = gw.template("11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML");
    let xml = common::set_text(&xml, "DeviceIDList", devices);
    let xml = common::set_text(&xml, "FirmwareVersion", VERSION);
    common::set_text(&xml, "FirmwareImage", &b64(image))
}

/// Waits for the next DCC alert kept for the supplier whose body holds `element`.
fn dcc_alert(gw: &Gateway, element: &str, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let xml = common::next_message(gw, TOKEN, left.max(Duration::from_millis(200)));
        if xml.contains(&format!("sr:{element}")) {
            return xml;
        }
        assert!(Instant::now() < deadline, "no {element} alert");
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

/// A template with the RTDS ESME replaced by the emulated one.
fn to_esme(gw: &Gateway, file: &str) -> String {
    let xml = gw.template(file);
    set_target(&xml.replace("00-DB-12-34-56-78-90-A0", ESME), ESME)
}

/// Sends a critical request: Transform (CV 4), then the Pre-Command signed by the supplier
/// as CV 5; the acknowledgement of the latter and the RequestID.
fn send_critical(gw: &Gateway, xml: &str) -> (Answer, String) {
    let first = gw.submit(xml, SUPPLIER);
    assert_eq!(first.code, "I0", "{}", first.xml);
    let precommand = unb64(&element_text(&first.xml, "GBCSPayload").unwrap());
    let key = SigningKey::from_pem_or_der(
        &std::fs::read(gw.root.join("smki/Z1-supplier-ds.key")).unwrap(),
    )
    .unwrap();
    let signed = auth::sign_precommand(&precommand, &key).unwrap();
    let cv5 = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <sr:Request xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\" schemaVersion=\"5.4\">\
         <sr:Header><sr:RequestID>{}</sr:RequestID><sr:CommandVariant>5</sr:CommandVariant>\
         <sr:ServiceReference>11.3</sr:ServiceReference><sr:ServiceReferenceVariant>11.3</sr:ServiceReferenceVariant></sr:Header>\
         <sr:Body><sr:SignedPreCommand><sr:GBCSPayload>{}</sr:GBCSPayload></sr:SignedPreCommand></sr:Body></sr:Request>",
        first.request_id,
        b64(&signed)
    );
    let body = gw.sign_with(&cv5, SUPPLIER, None);
    let (http, text) = gw.post("/api/v1/serviceS", &body);
    (Answer::parse(http, &text), first.request_id)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn metrics_get(gw: &Gateway, path: &str) -> String {
    let base = gw.metrics.trim_end_matches("/metrics");
    let out = Command::new("curl")
        .args(["-sS"])
        .arg(format!("{base}{path}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Asserts that the first `name` element of `xml` holds `expected` (the document shown if not).
#[track_caller]
fn assert_element(xml: &str, name: &str, expected: &str) {
    assert_eq!(element_text(xml, name).as_deref(), Some(expected), "{xml}");
}

#[test]
fn update_firmware_is_distributed_alerted_activated_and_timed() {
    let gw = start("firmware-e2e", &[]);
    let image = unb64(
        &element_text(
            &gw.template("11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML"),
            "FirmwareImage",
        )
        .unwrap(),
    );
    // 11.1 for the ESME and an unknown device.
    let ack = gw.submit(
        &update_firmware(&gw, &format!("{ESME},{UNKNOWN}"), &image),
        SUPPLIER,
    );
    assert_eq!(ack.http, 200);
    assert_eq!(ack.code, "W110101", "{}", ack.xml);
    let warning = ack.payload("DSPUpdateFirmwareWarning").expect("a warning");
    let invalid = warning
        .child_elements()
        .find(|e| e.local == "InvalidDeviceIDList")
        .expect("InvalidDeviceIDList");
    assert_eq!(invalid.text(), UNKNOWN);
    assert!(!ack.xml.contains(ESME), "the ESME passed: {}", ack.xml);
    xml_oracle(&gw, &ack.xml, "ack-11.1");

    // The completion alert reaches the supplier.
    let alert = dcc_alert(&gw, "CommsHubAlert", Duration::from_secs(20));
    xml_oracle(&gw, &alert, "comms-hub-alert");
    assert_element(&alert, "CommsHubDeviceID", CHF);
    assert_element(&alert, "OtherDeviceID", ESME);
    assert_element(&alert, "TransferResponseCode", "FileTransferSuccess");
    assert_element(&alert, "UpdateFirmwareRequestID", ack.request_id.as_str());
    assert_element(&alert, "FirmwareVersion", VERSION);

    // A wrong hash does not activate anything: result 1.
    let mut cs06 = to_esme(&gw, "CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML");
    let wrong = common::set_text(&cs06, "FirmwareHash", &"11".repeat(32));
    let (ack_wrong, id_wrong) = send_critical(&gw, &wrong);
    assert_eq!(ack_wrong.code, "I99", "{}", ack_wrong.xml);
    let resp = pull_answer(&gw, TOKEN, &id_wrong, Duration::from_secs(20));
    let gbcs = unb64(&element_text(&resp, "GBCSPayload").unwrap());
    assert!(
        contains(&gbcs, &[0x30, 0x09, 0x02, 0x01, 0x01, 0x04, 0x04]),
        "{gbcs:02X?}"
    );

    // 11.3 with the image's SHA-256 activates it.
    let hash = hubgate_protocol::hex::encode(&sha256(&image));
    cs06 = common::set_text(&cs06, "FirmwareHash", &hash);
    let (ack3, id3) = send_critical(&gw, &cs06);
    assert_eq!(ack3.code, "I99", "{}", ack3.xml);
    let resp = pull_answer(&gw, TOKEN, &id3, Duration::from_secs(20));
    xml_oracle(&gw, &resp, "activate");
    assert_element(&resp, "ResponseCode", "I0");
    let gbcs = unb64(&element_text(&resp, "GBCSPayload").unwrap());
    assert!(
        contains(
            &gbcs,
            &[0x30, 0x09, 0x02, 0x01, 0x00, 0x04, 0x04, 0, 0, 0, 2]
        ),
        "{gbcs:02X?}"
    );

    // 11.2 reads the new version.
    let read = to_esme(&gw, "ECS52_11.2_SUCCESS_REQUEST_DUIS.XML");
    let ack2 = gw.submit(&read, SUPPLIER);
    assert_eq!(ack2.code, "I99", "{}", ack2.xml);
    let resp = pull_answer(&gw, TOKEN, &ack2.request_id, Duration::from_secs(20));
    assert_element(&resp, "ResponseCode", "I0");
    let gbcs = unb64(&element_text(&resp, "GBCSPayload").unwrap());
    assert!(contains(&gbcs, &[0x09, 0x04, 0, 0, 0, 2]), "{gbcs:02X?}");

    // The activation recorded the version in the inventory: 8.2 reads it, and the same
    // version again is not applicable.
    let inventory = common::set_text(
        &gw.template("8.2_READ_INVENTORY_REQUEST_DUIS.XML"),
        "DeviceID",
        ESME,
    );
    let read_inv = gw.submit(&inventory, SUPPLIER);
    assert_eq!(read_inv.code, "I0", "{}", read_inv.xml);
    assert_eq!(
        element_text(&read_inv.xml, "DeviceFirmwareVersion").as_deref(),
        Some(VERSION),
        "{}",
        read_inv.xml
    );
    let again = gw.submit(&update_firmware(&gw, ESME, &image), SUPPLIER);
    assert_eq!(again.code, "W110101", "{}", again.xml);
    assert_eq!(
        element_text(&again.xml, "NotApplicableFirmwareDeviceIDList").as_deref(),
        Some(ESME),
        "{}",
        again.xml
    );

    // One firmware request within its target.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: serde_json::Value =
            serde_json::from_str(&metrics_get(&gw, "/api/v1/reports/performance")).unwrap();
        let row = v["measures"]
            .as_array()
            .and_then(|m| m.iter().find(|r| r["category"] == "firmware"))
            .cloned()
            .unwrap();
        if row["answers"] == 1 {
            assert_eq!(row["within_target"], 1, "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "firmware not counted: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_distribution_killed_midway_resumes_after_restart() {
    let env = [
        ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
        ("HUBGATE_EMULATION__HUBS", "1"),
        ("HUBGATE_LOG_LEVEL", "info"),
        ("HUBGATE_FIRMWARE__CHUNK_BYTES", "1024"),
        ("HUBGATE_FIRMWARE__CHUNK_PAUSE_MS", "100"),
    ];
    let gw = start("firmware-kill", &env[3..]);
    let image: Vec<u8> = (0..60_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let ack = gw.submit(&update_firmware(&gw, ESME, &image), SUPPLIER);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    // Some chunks are through, not all.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sent = metric_value(&gw.metrics_text(), "hubgate_firmware_chunks_total", "");
        if sent >= 3.0 {
            assert!(sent < 50.0, "the distribution is nearly done: {sent}");
            break;
        }
        assert!(Instant::now() < deadline, "no chunk sent");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = gw.get(
        "/api/v1/responses?limit=10",
        &[&format!("Authorization: Bearer {TOKEN}")],
    );
    assert!(
        !body.contains("CommsHubAlert"),
        "alert before the kill: {status} {body}"
    );
    // SIGKILL, then the same data directory.
    let gw = gw.restart(Seeds {
        env: &env,
        ..Seeds::default()
    });
    gw.advance_counter(1000);
    assert!(
        gw.log().contains("firmware distributions resumed"),
        "{}",
        gw.log()
    );
    let alert = dcc_alert(&gw, "CommsHubAlert", Duration::from_secs(60));
    assert_element(&alert, "TransferResponseCode", "FileTransferSuccess");
    assert_element(&alert, "UpdateFirmwareRequestID", ack.request_id.as_str());
    // The meter rebuilt at the restart holds the whole image: 11.3 with its hash activates it.
    let cs06 = common::set_text(
        &to_esme(&gw, "CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"),
        "FirmwareHash",
        &hubgate_protocol::hex::encode(&sha256(&image)),
    );
    let (ack3, id3) = send_critical(&gw, &cs06);
    assert_eq!(ack3.code, "I99", "{}", ack3.xml);
    let resp = pull_answer(&gw, TOKEN, &id3, Duration::from_secs(20));
    let gbcs = unb64(&element_text(&resp, "GBCSPayload").unwrap());
    assert!(
        contains(&gbcs, &[0x02, 0x01, 0x00, 0x04, 0x04, 0, 0, 0, 2]),
        "{gbcs:02X?}"
    );
}

/// Waits until the performance report counts `n` firmware answers; asserts they are all
/// within target.
fn firmware_timed(gw: &Gateway, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: serde_json::Value =
            serde_json::from_str(&metrics_get(gw, "/api/v1/reports/performance")).unwrap();
        let row = v["measures"]
            .as_array()
            .and_then(|m| m.iter().find(|r| r["category"] == "firmware"))
            .cloned()
            .unwrap();
        if row["answers"] == n {
            assert_eq!(row["within_target"], n, "{v}");
            return;
        }
        assert!(Instant::now() < deadline, "firmware not counted: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_meter_behind_a_hil_rig_process_gets_its_image_over_the_smwan_link() {
    const RIG_FIRST_EUI: &str = "00db570000000000";
    const RIG_CHF: &str = "00-DB-57-00-00-00-00-00";
    const RIG_ESME: &str = "00-DB-57-00-00-00-00-01";
    let bin = common::rig::hil_rig();
    let work = std::env::temp_dir().join(format!("hubgate-it-fw-rig-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let keys = work.join("keys");
    common::rig::device_keys(&bin, RIG_FIRST_EUI, &keys);
    let (gw, smwan) = common::rig::start_smwan_gateway(
        "firmware-rig",
        TOKEN,
        (RIG_CHF, RIG_ESME, "1900000000778"),
        "10000",
        &keys,
    );
    let _rig = common::rig::start_rig(
        &bin,
        &gw,
        RIG_FIRST_EUI,
        &smwan,
        (&keys, &work.join("rig.log")),
        Duration::from_secs(30),
    );
    // Larger than one link chunk, so the hub's answers drive the offsets.
    let image: Vec<u8> = (0..150_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let ack = gw.submit(&update_firmware(&gw, RIG_ESME, &image), SUPPLIER);
    assert_eq!(ack.code, "I99", "{}", ack.xml);

    let alert = dcc_alert(&gw, "CommsHubAlert", Duration::from_secs(30));
    xml_oracle(&gw, &alert, "rig-comms-hub-alert");
    assert_element(&alert, "CommsHubDeviceID", RIG_CHF);
    assert_element(&alert, "OtherDeviceID", RIG_ESME);
    assert_element(&alert, "TransferResponseCode", "FileTransferSuccess");
    assert_element(&alert, "UpdateFirmwareRequestID", ack.request_id.as_str());
    // The hub asked for the next offset at least twice before the image was whole.
    let chunks = metric_value(&gw.metrics_text(), "hubgate_firmware_chunks_total", "");
    assert!(chunks >= 2.0, "{chunks}");

    // 11.3 with the image's SHA-256 activates it on the rig's meter.
    let retarget = |file: &str| {
        let xml = gw.template(file);
        set_target(&xml.replace("00-DB-12-34-56-78-90-A0", RIG_ESME), RIG_ESME)
    };
    let cs06 = common::set_text(
        &retarget("CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"),
        "FirmwareHash",
        &hubgate_protocol::hex::encode(&sha256(&image)),
    );
    let (ack3, id3) = send_critical(&gw, &cs06);
    assert_eq!(ack3.code, "I99", "{}", ack3.xml);
    let resp = pull_answer(&gw, TOKEN, &id3, Duration::from_secs(20));
    assert_element(&resp, "ResponseCode", "I0");
    let gbcs = unb64(&element_text(&resp, "GBCSPayload").unwrap());
    assert!(
        contains(&gbcs, &[0x02, 0x01, 0x00, 0x04, 0x04, 0, 0, 0, 2]),
        "{gbcs:02X?}"
    );
    let msg = hubgate_protocol::gbcs::frame::parse(&gbcs).unwrap();
    assert_eq!(
        hubgate_protocol::hex::eui_duis(&msg.header.originator),
        RIG_ESME,
        "the activation answer comes from the rig's meter"
    );

    // 11.2 reads the new version from the rig's meter.
    let ack2 = gw.submit(&retarget("ECS52_11.2_SUCCESS_REQUEST_DUIS.XML"), SUPPLIER);
    assert_eq!(ack2.code, "I99", "{}", ack2.xml);
    let resp = pull_answer(&gw, TOKEN, &ack2.request_id, Duration::from_secs(20));
    assert_element(&resp, "ResponseCode", "I0");
    let gbcs = unb64(&element_text(&resp, "GBCSPayload").unwrap());
    assert!(contains(&gbcs, &[0x09, 0x04, 0, 0, 0, 2]), "{gbcs:02X?}");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_meter_whose_hub_cannot_be_reached_ends_in_a_distribution_failure_alert() {
    const LOST_CHF: &str = "00-DB-58-00-00-00-00-00";
    const LOST_ESME: &str = "00-DB-58-00-00-00-00-01";
    const MPAN: &str = "1900000000779";
    let inventory = format!(
        "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n\
         {LOST_CHF},CHF,Commissioned,106C,433100AC,,,EM1 1AA,1,\n\
         {LOST_ESME},ESME,Commissioned,EE01,010A030B,{MPAN},,EM1 1AA,1,{LOST_CHF}\n"
    );
    let registration = format!(
        "mpxn,fuel,role,party,effective_from,effective_to\n{MPAN},electricity,IS,{SUPPLIER},2000-01-01,\n"
    );
    let gw = Gateway::start(
        "firmware-unreachable",
        Seeds {
            inventory: Some(&inventory),
            registration: Some(&registration),
            env: &[
                ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
                ("HUBGATE_EMULATION__HUBS", "1"),
            ],
            ..Seeds::default()
        },
    );
    let image = vec![0x5a; 5000];
    let ack = gw.submit(&update_firmware(&gw, LOST_ESME, &image), SUPPLIER);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    // The hub is retried for about 12 s (a rig reconnecting would be back by then).
    let alert = dcc_alert(&gw, "FirmwareDistributionFailure", Duration::from_secs(40));
    xml_oracle(&gw, &alert, "distribution-failure");
    assert_element(&alert, "UpdateFirmwareRequestID", ack.request_id.as_str());
    assert_element(&alert, "MeterIDs", LOST_ESME);
    assert!(!alert.contains("CommsHubAlert"), "{alert}");
    firmware_timed(&gw, 1);
}

const ADMIN: &str = "firmware-test-admin-token-0123456789abcdef";

#[test]
fn requests_sent_together_are_not_both_accepted_and_a_released_one_is_distributed() {
    let gw = start(
        "firmware-race",
        &[
            ("HUBGATE_FIRMWARE__CHUNK_BYTES", "1024"),
            ("HUBGATE_FIRMWARE__CHUNK_PAUSE_MS", "20"),
            (
                "HUBGATE_ANOMALY__OVERRIDES",
                "90-B3-D5-1F-30-01-00-00:11.1=2,-",
            ),
            ("HUBGATE_ANOMALY__ADMIN_TOKEN", ADMIN),
        ],
    );
    // Long enough (60 chunks, 20 ms apart) to be in progress while both are checked.
    let image: Vec<u8> = (0..60_000u32).map(|i| (i * 5 % 256) as u8).collect();
    let bodies: Vec<Vec<u8>> = (0..2)
        .map(|_| gw.sign(&update_firmware(&gw, ESME, &image), SUPPLIER))
        .collect();
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|b| {
                let gw = &gw;
                s.spawn(move || {
                    let (http, text) = gw.post("/api/v1/serviceD", b);
                    Answer::parse(http, &text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Never both accepted for the meter. The one checked second lists it as in progress;
    // the one whose counter lost the race is refused as a replay (E42) — possibly after its
    // claim made the other list the meter as in progress, so that neither distributes.
    let accepted: Vec<&Answer> = answers.iter().filter(|a| a.code == "I99").collect();
    assert!(accepted.len() <= 1, "{answers:#?}");
    for a in answers.iter().filter(|a| a.code != "I99") {
        match a.code.as_str() {
            "W110101" => assert_eq!(
                element_text(&a.xml, "OtherRequestInProgressList").as_deref(),
                Some(ESME),
                "{}",
                a.xml
            ),
            "E42" => {}
            code => panic!("unexpected {code}: {}", a.xml),
        }
    }
    if accepted.is_empty() {
        let mut codes: Vec<&str> = answers.iter().map(|a| a.code.as_str()).collect();
        codes.sort_unstable();
        assert_eq!(codes, ["E42", "W110101"], "{answers:#?}");
    } else {
        let first = dcc_alert(&gw, "CommsHubAlert", Duration::from_secs(30));
        assert_element(
            &first,
            "UpdateFirmwareRequestID",
            accepted[0].request_id.as_str(),
        );
    }
    // A request refused as a replay may or may not have been counted by the threshold
    // (check 7 comes before its counter lost): requests naming only an unknown device
    // (nothing distributed) fill the window; one held already is deleted.
    for _ in answers.iter().filter(|a| a.code == "E42") {
        let filler = gw.submit(&update_firmware(&gw, UNKNOWN, &image), SUPPLIER);
        if filler.code == "E43" {
            for h in quarantine_held(&gw, ADMIN) {
                let id = h["id"].as_u64().unwrap();
                let (status, body) =
                    gw.call("DELETE", &format!("{QUARANTINE_PATH}/{id}"), Some(ADMIN));
                assert_eq!(status, 200, "{body}");
            }
            break;
        }
        assert_eq!(filler.code, "W110101", "{}", filler.xml);
    }
    // A third 11.1 within the minute breaches the threshold and is held.
    let held = gw.submit(&update_firmware(&gw, ESME, &image), SUPPLIER);
    assert_eq!(held.code, "E43", "{}", held.xml);
    let list = quarantine_held(&gw, ADMIN);
    assert_eq!(list.len(), 1, "{list:?}");
    let id = list[0]["id"].as_u64().unwrap();
    let (status, body) = gw.call(
        "POST",
        &format!("{QUARANTINE_PATH}/{id}/release"),
        Some(ADMIN),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["outcome"], "answered", "{body}");
    assert_eq!(v["code"], "I99", "{body}");
    // Its answer (after the QuarantinedRequest DCC alert naming it), then its own
    // completion alert.
    let answer = loop {
        let xml = pull_answer(&gw, TOKEN, &held.request_id, Duration::from_secs(20));
        if !xml.contains("sr:DCCAlertMessage") {
            break xml;
        }
    };
    assert_element(&answer, "ResponseCode", "I99");
    let alert = dcc_alert(&gw, "CommsHubAlert", Duration::from_secs(30));
    assert_element(&alert, "UpdateFirmwareRequestID", held.request_id.as_str());
    assert_element(&alert, "TransferResponseCode", "FileTransferSuccess");
}

#[test]
fn a_version_that_is_not_short_even_hex_or_too_many_devices_is_refused_as_malformed() {
    let gw = start("firmware-malformed", &[]);
    let image = vec![0x3c; 2048];
    // Within the XSD (1 to 8 characters), but not the hex the inventory records.
    for version in ["GG", "ABC", "0000000", "A&amp;B&lt;"] {
        let xml = common::set_text(
            &update_firmware(&gw, ESME, &image),
            "FirmwareVersion",
            version,
        );
        let ack = gw.submit(&xml, SUPPLIER);
        assert_eq!(ack.code, "E31", "{version}: {}", ack.xml);
    }
    // More devices than one request may name (the XSD allows about 50 000).
    let many: Vec<String> = (0..=10_000u32)
        .map(|i| {
            let b = i.to_be_bytes();
            format!(
                "00-DB-99-99-{:02X}-{:02X}-{:02X}-{:02X}",
                b[0], b[1], b[2], b[3]
            )
        })
        .collect();
    let ack = gw.submit(&update_firmware(&gw, &many.join(","), &image), SUPPLIER);
    assert_eq!(ack.code, "E31", "{}", ack.xml);
    // Nothing was distributed, and a valid request still is.
    let ack = gw.submit(&update_firmware(&gw, ESME, &image), SUPPLIER);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let alert = dcc_alert(&gw, "CommsHubAlert", Duration::from_secs(20));
    assert_element(&alert, "UpdateFirmwareRequestID", ack.request_id.as_str());
}

fn distributions(gw: &Gateway) -> f64 {
    metric_value(
        &gw.metrics_text(),
        "hubgate_firmware_distributions_total",
        "",
    )
}

#[test]
fn an_alert_the_outbox_refuses_leaves_the_device_open_and_is_sent_once_there_is_room() {
    // Room for one message per User: the second completion alert is refused until the
    // supplier pulls the first.
    let gw = start(
        "firmware-refused",
        &[("HUBGATE_DELIVERY__MAX_MESSAGES_PER_USER", "1")],
    );
    let image = vec![0x7e; 3000];
    let first = gw.submit(&update_firmware(&gw, ESME, &image), SUPPLIER);
    assert_eq!(first.code, "I99", "{}", first.xml);
    let deadline = Instant::now() + Duration::from_secs(20);
    while distributions(&gw) < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the first distribution did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = gw.submit(&update_firmware(&gw, ESME, &image), SUPPLIER);
    assert_eq!(second.code, "I99", "{}", second.xml);
    // Its alert cannot be queued: the distribution stays open.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(distributions(&gw), 1.0, "finished without its alert");
    let alert = dcc_alert(&gw, "CommsHubAlert", Duration::from_secs(10));
    assert_element(&alert, "UpdateFirmwareRequestID", first.request_id.as_str());
    // Room again: the next scan sends the device again and queues its alert.
    let alert = dcc_alert(&gw, "CommsHubAlert", Duration::from_secs(30));
    xml_oracle(&gw, &alert, "comms-hub-alert-after-refusal");
    assert_element(
        &alert,
        "UpdateFirmwareRequestID",
        second.request_id.as_str(),
    );
    assert_element(&alert, "TransferResponseCode", "FileTransferSuccess");
    let deadline = Instant::now() + Duration::from_secs(10);
    while distributions(&gw) < 2.0 {
        assert!(
            Instant::now() < deadline,
            "the second distribution did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
