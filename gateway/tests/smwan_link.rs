//! The SMWAN link end to end: a gateway listening for rigs over QUIC, and a separate
//! `hil-rig` process hosting an emulated premises. A signed read reaches the rig-hosted
//! meter and its Service Response arrives; with the rig killed the hub is unreachable (E20);
//! a rig with the certificate of another CSP region registers no hub, one with a User's
//! client certificate is turned away; a restarted rig with its region's certificate registers
//! again (with the same device keys) and commands work again; a rig whose hub the inventory
//! does not hold registers no hub.
//!
//! Needs `curl` and the conformance data; builds the `hil-rig` binary if needed.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Gateway, SUPPLIER, element_text, set_target};
use hubgate_protocol::gbcs::frame;

const TOKEN: &str = "smwan-link-pull-token-0123456789abcdef01";
const FIRST_EUI: &str = "00db560000000000";
const CHF: &str = "00-DB-56-00-00-00-00-00";
const ESME: &str = "00-DB-56-00-00-00-00-01";

/// Waits for the next kept message for the supplier, acknowledges it and returns its XML.
fn next_message(gw: &Gateway) -> String {
    common::next_message(gw, TOKEN, Duration::from_secs(20))
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
    let bin = common::rig::hil_rig();
    let work = std::env::temp_dir().join(format!("hubgate-it-smwan-rig-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let keys = work.join("keys");
    // The device certificates first: the gateway loads them at start.
    common::rig::device_keys(&bin, FIRST_EUI, &keys);
    assert!(keys.join("00db560000000001-ka.pem").is_file());

    let (gw, smwan) = common::rig::start_smwan_gateway(
        "smwan",
        TOKEN,
        (CHF, ESME, "1900000000777"),
        "5000",
        &keys,
    );

    // The rig connects, registers its hub, and a read gets the meter's answer.
    let rig = common::rig::start_rig(
        &bin,
        &gw,
        FIRST_EUI,
        &smwan,
        (&keys, &work.join("rig1.log")),
        Duration::from_secs(30),
    );
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

    // A rig with the certificate of another CSP region cannot take the hub (North in the
    // inventory): its registration takes none, and the hub stays unreachable.
    let central = common::rig::spawn_rig_as(
        &bin,
        &gw,
        FIRST_EUI,
        &smwan,
        (&keys, &work.join("rig-central.log")),
        common::rig::rig_cert(&gw, "central"),
    );
    central.wait_for(
        "registered 0 hubs",
        &work.join("rig-central.log"),
        Duration::from_secs(30),
    );
    wait_for_log(&gw, "outside the CSP region of the rig's certificate", 1);
    let (_, xml) = read_meter(&gw);
    assert_eq!(
        element_text(&xml, "ResponseCode").as_deref(),
        Some("E20"),
        "{xml}"
    );
    drop(central);

    // A User's client certificate, though issued by the same CA, is not a rig certificate:
    // the connection is closed before it can register anything.
    let user = common::rig::spawn_rig_as(
        &bin,
        &gw,
        FIRST_EUI,
        &smwan,
        (&keys, &work.join("rig-user.log")),
        common::rig::user_client_cert(&gw),
    );
    wait_for_log(&gw, "not an SMWAN rig certificate", 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(work.join("rig-user.log"))
        .unwrap_or_default()
        .contains("not an SMWAN rig certificate")
    {
        assert!(Instant::now() < deadline, "the rig was not told why");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(user);

    // A new rig process with the same keys and the North certificate registers the hub
    // again, and reads work again.
    let rig = common::rig::spawn_rig_as(
        &bin,
        &gw,
        FIRST_EUI,
        &smwan,
        (&keys, &work.join("rig2.log")),
        common::rig::rig_cert(&gw, "north"),
    );
    rig.wait_registered(&work.join("rig2.log"), Duration::from_secs(30));
    let (id, xml) = read_meter(&gw);
    assert_answered(&xml, &id);

    // A rig whose hub the inventory does not hold: its registration takes no hub.
    let stranger = common::rig::spawn_rig(
        &bin,
        &gw,
        "00db5e0000000000",
        &smwan,
        (&work.join("keys-stranger"), &work.join("rig3.log")),
    );
    stranger.wait_for(
        "registered 0 hubs",
        &work.join("rig3.log"),
        Duration::from_secs(30),
    );
    wait_for_log(&gw, "not Communications Hubs of the inventory", 1);
    // The first rig's hub is still served.
    let (id, xml) = read_meter(&gw);
    assert_answered(&xml, &id);
    drop(stranger);
    drop(rig);
    let _ = std::fs::remove_dir_all(&work);
}
