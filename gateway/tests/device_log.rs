//! The HAN device log end to end: a real `hubgate serve` with two emulated premises, signed
//! DUIS requests over HTTPS, the Service Responses pulled from the supplier's pull endpoint.
//!
//! - 8.11 Add (CCS01) puts a device on the first hub's CHF Device Log, and 8.9 (CCS06) then
//!   lists it; 8.11 Remove (CCS02) takes it off, and 8.9 no longer lists it.
//! - 8.12.1 (CCS03) restores the first hub's log onto the second hub's CHF: the command
//!   carries the DCC's copy of the old CHF's log, which the first hub's actor kept from the
//!   CHF's answers and CS14 alerts (it starts empty, so what the second CHF lists afterwards
//!   can only come from that copy); 8.9 on the second hub then lists the first hub's devices
//!   and not its own.
//! - The copy survives passivation: with a short idle timeout the hub actors passivate
//!   between requests, and after the idle hubs passivated the gateway is killed and started
//!   again (the emulated meters come back fresh); a second restore then gives the same list.
//! - A restore naming an old CHF the inventory does not know is answered `E100`.
//!
//! Not covered here: 8.12.2 (GCS59) through the gateway (the RTDS test and the hil-rig test
//! cover its encoding and the emulated GPF); the GBCS oracle has no reference for the
//! derived CCS01–CCS03 encodings.
//!
//! Needs `curl` and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{Gateway, SUPPLIER, Seeds, element_text, pull_answer, set_target, set_text};
use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::dlms::Apdu;
use hubgate_protocol::gbcs::payload::{self, Payload};
use hubgate_protocol::gbcs::{Cra, frame};

const TOKEN: &str = "device-log-pull-token-0123456789abcdef0123";

/// The two emulated premises (`emulation.hubs = 2`).
const CHF_A: &str = "00-DB-55-00-00-00-00-00";
const ESME_A: &str = "00-DB-55-00-00-00-00-01";
const GSME_A: &str = "00-DB-55-00-00-00-00-02";
const PPMID_A: &str = "00-DB-55-00-00-00-00-04";
const IHD_A: &str = "00-DB-55-00-00-00-00-05";
const CHF_B: &str = "00-DB-55-00-00-00-00-10";
const ESME_B: &str = "00-DB-55-00-00-00-00-11";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
        ("HUBGATE_EMULATION__HUBS", "2"),
        ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "5000"),
        // Idle hub actors passivate (write their state, device log copy included) quickly.
        ("HUBGATE_ROUTING__HUB_IDLE_TIMEOUT_MS", "300"),
    ]
}

/// The template `file` from the supplier to `target`, with `edits` (element, text) applied.
fn request(gw: &Gateway, file: &str, target: &str, edits: &[(&str, &str)]) -> String {
    let mut xml = gw.template(file);
    let id = element_text(&xml, "RequestID").unwrap();
    let (_, rest) = id.split_once(':').unwrap();
    xml = xml.replace(&id, &format!("{SUPPLIER}:{rest}"));
    xml = set_target(&xml, target);
    for (name, value) in edits {
        xml = set_text(&xml, name, value);
    }
    xml
}

/// Sends `xml` as the supplier, expects `I99`, and returns the Service Response's GBCS
/// response (checked: from `target`, a response, success code `I0`).
fn run(gw: &Gateway, xml: &str, target: &str) -> Vec<u8> {
    let ack = gw.submit(xml, SUPPLIER);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let answer = pull_answer(gw, TOKEN, &ack.request_id, Duration::from_secs(20));
    assert_eq!(
        element_text(&answer, "ResponseCode").as_deref(),
        Some("I0"),
        "{answer}"
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(element_text(&answer, "GBCSPayload").unwrap().trim())
        .unwrap();
    let msg = frame::parse(&bytes).unwrap();
    assert_eq!(msg.header.cra, Cra::Response);
    assert_eq!(
        hubgate_protocol::hex::eui_duis(&msg.header.originator),
        target
    );
    bytes
}

/// The action / get results of a DLMS response, and its first data value's device EUIs
/// (for a CCS06 read: the devices of the CHF Device Log).
fn dlms(bytes: &[u8]) -> (Vec<u8>, Vec<String>) {
    let msg = frame::parse(bytes).unwrap();
    let Payload::Dlms(Apdu::AccessResponse(r)) = payload::decode(msg.content).unwrap() else {
        panic!("not a DLMS access-response");
    };
    let results = r.specifications.iter().map(|s| s.result()).collect();
    let devices = match r.data.first() {
        Some(Data::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Data::Structure(m) => match m.first() {
                    Some(Data::OctetString(e)) => Some(hubgate_protocol::hex::eui_duis(
                        &<[u8; 8]>::try_from(*e).ok()?,
                    )),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    (results, devices)
}

fn read_log(gw: &Gateway, chf: &str) -> Vec<String> {
    let xml = request(gw, "CCS06_8.9_SUCCESS_REQUEST_DUIS.XML", chf, &[]);
    let (results, devices) = dlms(&run(gw, &xml, chf));
    assert_eq!(results, [0]);
    devices
}

fn update(gw: &Gateway, chf: &str, file: &str, device: &str) {
    let xml = request(gw, file, chf, &[("DeviceID", device)]);
    let (results, _) = dlms(&run(gw, &xml, chf));
    assert_eq!(results, [0], "{file}");
}

fn restore(gw: &Gateway, chf: &str, old: &str) {
    let xml = request(
        gw,
        "CCS03_8.12.1_SUCCESS_REQUEST_DUIS.XML",
        chf,
        &[("OldCHFID", old)],
    );
    let (results, _) = dlms(&run(gw, &xml, chf));
    assert_eq!(results, [0]);
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn update_read_remove_and_restore_the_han_device_log() {
    let env = env();
    let gw = Gateway::start(
        "device-log",
        Seeds {
            env: &env,
            ..Seeds::default()
        },
    );
    let own_a = sorted(vec![ESME_A.into(), GSME_A.into(), PPMID_A.into()]);
    assert_eq!(sorted(read_log(&gw, CHF_A)), own_a);

    // 8.11 Add, then 8.9 lists the device; 8.11 Remove, then it is gone.
    update(&gw, CHF_A, "CCS01_8.11_SUCCESS_REQUEST_DUIS.XML", IHD_A);
    assert!(read_log(&gw, CHF_A).contains(&IHD_A.to_string()));
    update(&gw, CHF_A, "CCS02_8.11_SUCCESS_REQUEST_DUIS.XML", IHD_A);
    assert_eq!(sorted(read_log(&gw, CHF_A)), own_a);
    update(&gw, CHF_A, "CCS01_8.11_SUCCESS_REQUEST_DUIS.XML", IHD_A);
    let with_ihd = sorted(vec![
        ESME_A.into(),
        GSME_A.into(),
        PPMID_A.into(),
        IHD_A.into(),
    ]);
    assert_eq!(sorted(read_log(&gw, CHF_A)), with_ihd);

    // 8.12.1 restores the DCC's copy of the first hub's log onto the second hub's CHF.
    assert!(read_log(&gw, CHF_B).contains(&ESME_B.to_string()));
    restore(&gw, CHF_B, CHF_A);
    assert_eq!(sorted(read_log(&gw, CHF_B)), with_ihd);

    // An old CHF the inventory does not know: refused at once.
    let xml = request(
        &gw,
        "CCS03_8.12.1_SUCCESS_REQUEST_DUIS.XML",
        CHF_B,
        &[("OldCHFID", "00-DB-55-00-00-00-0F-00")],
    );
    let ack = gw.submit(&xml, SUPPLIER);
    assert_eq!(ack.code, "E100", "{}", ack.xml);

    // The hub actors passivate when idle; the gateway is then killed (no graceful stop) and
    // started again: the emulated CHFs come back with their own whitelists, and the copy
    // kept in the first hub's passivated state restores the same list.
    std::thread::sleep(Duration::from_secs(2));
    let gw = gw.restart(Seeds {
        env: &env,
        ..Seeds::default()
    });
    // The anti-replay counters the gateway kept: sign above them.
    gw.advance_counter(1_000);
    assert!(read_log(&gw, CHF_B).contains(&ESME_B.to_string()));
    restore(&gw, CHF_B, CHF_A);
    assert_eq!(sorted(read_log(&gw, CHF_B)), with_ihd);
}
