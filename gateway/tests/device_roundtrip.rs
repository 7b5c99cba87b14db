//! Device Service Requests end to end: a signed DUIS request goes in over HTTPS, the gateway
//! builds the GBCS command, a hub actor carries it to an emulated meter (which checks the MAC
//! or signature and the counter like a GBCS device), and the device's answer comes back as a
//! signed Service Response that the User fetches from the pull endpoint. Answers are checked
//! with programs we did not write (lxml against the DUIS XSD, the XML-DSig oracle).
//!
//! Needs `curl`, `python3` with lxml and cryptography (installed by `scripts/test`).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{Answer, Gateway, SUPPLIER, element_text, next_message, set_target};
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::gbcs::{auth, frame};

const TOKEN: &str = "device-roundtrip-pull-token-0123456789abcdef";
/// The first emulated premises: hub `…00`, ESME `…01`.
const ESME: &str = "00-DB-55-00-00-00-00-01";

/// An ESME on the inventory behind the emulated hub, with no emulated meter: nothing answers.
/// (An RTDS ESME: its certificate comes with `--device-keys`, so its commands can be MAC'd.)
const SILENT: &str = "00-DB-12-34-56-78-90-A0";

fn start(name: &str) -> Gateway {
    common::start_with_silent_esme(
        name,
        SILENT,
        &[
            ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
            ("HUBGATE_EMULATION__HUBS", "1"),
            ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "3000"),
            // No hub response limits: answers pass straight through the response writer
            // (gateway/tests/response_quarantine.rs covers the limits).
            ("HUBGATE_ANOMALY__HUB_RESPONSES_PER_MINUTE", "0"),
            ("HUBGATE_ANOMALY__HUB_RESPONSES_PER_HOUR", "0"),
        ],
    )
}

/// The GBCS payload of a Service Response, checked to answer `request_id`'s command.
fn gbcs_response(xml: &str, request_id: &str) -> Vec<u8> {
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
    let counter: u64 = request_id.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(msg.header.counter, counter, "response counter");
    assert_eq!(
        hubgate_protocol::hex::eui_duis(&msg.header.originator),
        ESME,
        "the response comes from the meter"
    );
    bytes
}

#[test]
fn a_read_reaches_the_meter_and_its_answer_comes_back() {
    let gw = start("read");
    let request = set_target(
        &gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
        ESME,
    );
    let ack: Answer = gw.submit(&request, SUPPLIER);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let xml = next_message(&gw, TOKEN, Duration::from_secs(20));
    let bytes = gbcs_response(&xml, &ack.request_id);
    // A read's response is MAC'd (DD) by the device, not signed.
    assert_eq!(bytes[0], 0xDD, "a MAC'd response");
    common::oracle::xml_oracle(&gw, &xml, "read-response");
}

#[test]
fn a_critical_command_goes_through_transform_signature_and_send() {
    let gw = start("critical");
    // CV 4: the Pre-Command.
    let transform = set_target(&gw.template("ECS42_7.1_SUCCESS_REQUEST_DUIS.XML"), ESME);
    let pre = gw.submit(&transform, SUPPLIER);
    assert_eq!(pre.code, "I0", "{}", pre.xml);
    let precommand = base64::engine::general_purpose::STANDARD
        .decode(element_text(&pre.xml, "GBCSPayload").unwrap().trim())
        .unwrap();
    // The User signs it with its GBCS digital-signature key.
    let key = SigningKey::from_pem_or_der(
        &std::fs::read(gw.root.join("smki/Z1-supplier-ds.key")).unwrap(),
    )
    .unwrap();
    let signed = auth::sign_precommand(&precommand, &key).unwrap();
    // CV 5: the Signed Pre-Command under the same RequestID.
    let srv = element_text(&transform, "ServiceReferenceVariant").unwrap();
    let sr = element_text(&transform, "ServiceReference").unwrap();
    let send = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <sr:Request xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\" schemaVersion=\"5.4\">\
         <sr:Header><sr:RequestID>{}</sr:RequestID><sr:CommandVariant>5</sr:CommandVariant>\
         <sr:ServiceReference>{sr}</sr:ServiceReference>\
         <sr:ServiceReferenceVariant>{srv}</sr:ServiceReferenceVariant></sr:Header>\
         <sr:Body><sr:SignedPreCommand><sr:GBCSPayload>{}</sr:GBCSPayload></sr:SignedPreCommand></sr:Body>\
         </sr:Request>",
        pre.request_id,
        base64::engine::general_purpose::STANDARD.encode(&signed)
    );
    let body = gw.sign_with(&send, SUPPLIER, None);
    let (http, text) = gw.post("/api/v1/serviceS", &body);
    let ack = Answer::parse(http, &text);
    assert_eq!(ack.code, "I99", "{text}");
    let xml = next_message(&gw, TOKEN, Duration::from_secs(20));
    let bytes = gbcs_response(&xml, &pre.request_id);
    // A signed command gets a device-signed response (DF with a signature).
    let msg = frame::parse(&bytes).unwrap();
    assert!(!msg.is_mac_wrapped(), "a signed response, not a MAC'd one");
    assert!(
        matches!(msg.signature, frame::SignatureField::Present(_)),
        "the device signed its response"
    );
    common::oracle::xml_oracle(&gw, &xml, "critical-response");

    // The same Signed Pre-Command again: its RequestID is spent.
    let (_, text) = gw.post("/api/v1/serviceS", &body);
    assert_eq!(Answer::parse(200, &text).code, "E42", "{text}");

    // A Signed Pre-Command whose signature does not verify is refused, not sent.
    let pre2 = gw.submit(&transform, SUPPLIER);
    assert_eq!(pre2.code, "I0");
    let mut forged = auth::sign_precommand(
        &base64::engine::general_purpose::STANDARD
            .decode(element_text(&pre2.xml, "GBCSPayload").unwrap().trim())
            .unwrap(),
        &key,
    )
    .unwrap();
    let n = forged.len();
    forged[n - 1] ^= 1;
    let send2 = send.replace(&pre.request_id, &pre2.request_id).replace(
        &base64::engine::general_purpose::STANDARD.encode(&signed),
        &base64::engine::general_purpose::STANDARD.encode(&forged),
    );
    let (_, text) = gw.post("/api/v1/serviceS", &gw.sign_with(&send2, SUPPLIER, None));
    assert_eq!(Answer::parse(200, &text).code, "E40", "{text}");

    // A Transform for one device cannot be spent by a Signed Pre-Command naming another
    // under the same originator and counter: the Transform is kept under its whole RequestID.
    let pre3 = gw.submit(&transform, SUPPLIER);
    assert_eq!(pre3.code, "I0", "{}", pre3.xml);
    let signed3 = auth::sign_precommand(
        &base64::engine::general_purpose::STANDARD
            .decode(element_text(&pre3.xml, "GBCSPayload").unwrap().trim())
            .unwrap(),
        &key,
    )
    .unwrap();
    let elsewhere = pre3.request_id.replace(ESME, SILENT);
    assert_ne!(elsewhere, pre3.request_id);
    let send3 = send.replace(&pre.request_id, &elsewhere).replace(
        &base64::engine::general_purpose::STANDARD.encode(&signed),
        &base64::engine::general_purpose::STANDARD.encode(&signed3),
    );
    let (_, text) = gw.post("/api/v1/serviceS", &gw.sign_with(&send3, SUPPLIER, None));
    assert_eq!(Answer::parse(200, &text).code, "E42", "{text}");
    // Under its own RequestID it is still taken.
    let send3 = send3.replace(&elsewhere, &pre3.request_id);
    let (_, text) = gw.post("/api/v1/serviceS", &gw.sign_with(&send3, SUPPLIER, None));
    assert_eq!(Answer::parse(200, &text).code, "I99", "{text}");
}

#[test]
fn a_device_that_never_answers_gives_the_user_e21() {
    let gw = start("silent");
    // The ESME is on the inventory behind the emulated hub, but no meter is there to answer.
    let request = set_target(
        &gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
        SILENT,
    );
    let ack = gw.submit(&request, SUPPLIER);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let xml = next_message(&gw, TOKEN, Duration::from_secs(20));
    assert_eq!(
        element_text(&xml, "ResponseCode").as_deref(),
        Some("E21"),
        "{xml}"
    );
    assert_eq!(
        element_text(&xml, "RequestID"),
        Some(ack.request_id.clone())
    );
    assert!(element_text(&xml, "GBCSPayload").is_none(), "{xml}");
    common::oracle::xml_oracle(&gw, &xml, "timeout-response");
    let metrics = gw.metrics_text();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("hubgate_actors_") && l.contains("E21") && !l.ends_with(" 0")),
        "no E21 timeout counted:\n{metrics}"
    );
}
