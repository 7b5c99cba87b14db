//! Alerts to Users, end to end over HTTPS against a running `hubgate serve`:
//!
//! - a future-dated tariff's execution alert (8F66) from an emulated meter reaches the
//!   supplier that sent the request as a `FutureDatedDeviceAlertMessage` carrying the
//!   request's RequestID, and nobody else;
//! - the same across a SIGKILL and restart of the gateway between the device's acceptance
//!   and its execution (a `hil-rig` process hosts the meter, so the meter keeps the pending
//!   tariff): the gateway remembered the request durably and the outcome still reaches the
//!   supplier as its `FutureDatedDeviceAlertMessage`, and the network operator gets nothing;
//!   (device alerts to every registered party are covered by `alert_throttle.rs`);
//! - when the `hil-rig` process hosting a hub dies, the network operator registered for the
//!   premises receives an `AD1` `PowerOutageEvent` DCC alert naming the hub and the MPAN.
//!
//! Every message is checked by the independent XML checker (`tools/oracle/xmldsig_oracle.py`:
//! lxml against the DUIS XSD, and the DSP signature).
//!
//! Needs `curl`, `python3` with lxml and cryptography (installed by `scripts/test`), and the
//! conformance data; builds the `hil-rig` binary if needed.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::clock::unix_now;
use common::pull::{kept_messages, take_message};
use common::{
    Answer, Gateway, NETWORK_OPERATOR, SUPPLIER, Seeds, element_text, metric_value, set_target,
    set_text, unb64,
};
use hubgate_protocol::gbcs::frame;
use hubgate_protocol::hex;

const SUPPLIER_TOKEN: &str = "alerts-supplier-pull-token-0123456789abcdef";
const OPERATOR_TOKEN: &str = "alerts-operator-pull-token-0123456789abcdef";
/// The first in-process emulated premises: ESME `…01`.
const EMULATED_ESME: &str = "00-DB-55-00-00-00-00-01";
/// The rig's premises.
const RIG_FIRST_EUI: &str = "00db570000000000";
const RIG_CHF: &str = "00-DB-57-00-00-00-00-00";
const RIG_ESME: &str = "00-DB-57-00-00-00-00-01";
const RIG_MPAN: &str = "1900000000888";

/// A future-dated ECS01a tariff for `target` executing at `at` (Unix seconds), sent as the
/// supplier: CV 4 for the Pre-Command, signed with the supplier's GBCS key, then CV 5. The
/// CV 5 acknowledgement and the RequestID.
fn send_future_tariff(gw: &Gateway, target: &str, at: i64) -> (Answer, String) {
    let template = gw.template("ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_REQUEST_DUIS.XML");
    let request = set_text(
        &set_target(&template, target),
        "ExecutionDateTime",
        &common::rfc3339(at),
    );
    common::critical::send_as_supplier(gw, &request)
}

/// Whether `xml` has the element `<sr:name>`.
fn has(xml: &str, name: &str) -> bool {
    xml.contains(&format!("<sr:{name}>")) || xml.contains(&format!("<sr:{name} "))
}

#[test]
fn a_future_dated_outcome_reaches_its_requester_with_the_request_reference() {
    let gw = Gateway::start(
        "alerts-fd",
        Seeds {
            env: &[
                (
                    "HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN",
                    SUPPLIER_TOKEN,
                ),
                (
                    "HUBGATE_USERS__90B3D51F30020000__PULL_TOKEN",
                    OPERATOR_TOKEN,
                ),
                ("HUBGATE_EMULATION__HUBS", "1"),
                ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "3000"),
            ],
            ..Seeds::default()
        },
    );
    let (ack, request_id) = send_future_tariff(&gw, EMULATED_ESME, unix_now() + 4);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    // The device's immediate response first…
    let response = take_message(&gw, SUPPLIER_TOKEN, Duration::from_secs(20), |x| {
        has(x, "GBCSPayload") && !has(x, "FutureDatedDeviceAlertMessage")
    });
    assert_eq!(
        element_text(&response, "RequestID").as_deref(),
        Some(request_id.as_str())
    );
    // …then, after the execution time, the outcome tied to the request.
    let alert = take_message(&gw, SUPPLIER_TOKEN, Duration::from_secs(30), |x| {
        has(x, "FutureDatedDeviceAlertMessage")
    });
    common::oracle::xml_oracle(&gw, &alert, "future-dated-outcome");
    assert_eq!(
        element_text(&alert, "RequestID").as_deref(),
        Some(request_id.as_str()),
        "the outcome carries the request's reference: {alert}"
    );
    assert_eq!(
        element_text(&alert, "ServiceReferenceVariant").as_deref(),
        Some("1.1.1"),
        "{alert}"
    );
    assert_eq!(
        element_text(&alert, "FutureDatedAlertCode").as_deref(),
        Some("8F66"),
        "{alert}"
    );
    let number: u16 = element_text(&alert, "InstructionNumber")
        .unwrap()
        .parse()
        .unwrap();
    let total: u16 = element_text(&alert, "TotalCommandInstructions")
        .unwrap()
        .parse()
        .unwrap();
    assert!(number >= 1 && number <= total, "{number} of {total}");
    let payload = unb64(&element_text(&alert, "GBCSPayload").unwrap());
    let msg = frame::parse(&payload).unwrap();
    assert_eq!(hex::eui_duis(&msg.header.originator), EMULATED_ESME);
    // A future-dated outcome answers the requester only: the network operator has nothing.
    std::thread::sleep(Duration::from_millis(500));
    let operator = kept_messages(&gw, OPERATOR_TOKEN);
    assert!(
        operator.is_empty(),
        "the network operator received: {operator:#?}"
    );
    let metrics = gw.metrics_text();
    assert!(
        metric_value(&metrics, "hubgate_alerts_total", "kind=\"future_dated\"") >= 1.0,
        "{metrics}"
    );
}

/// A UDP port free at the moment (the SMWAN listener must keep its port across a restart).
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_future_dated_outcome_survives_a_restart_and_a_lost_hub_raises_a_dcc_alert() {
    let bin = common::rig::hil_rig();
    let work =
        std::env::temp_dir().join(format!("hubgate-it-alerts-rigwork-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let keys = work.join("keys");
    common::rig::device_keys(&bin, RIG_FIRST_EUI, &keys);

    let inventory = format!(
        "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n\
         {RIG_CHF},CHF,Commissioned,106C,433100AC,,,EM1 1AA,1,\n\
         {RIG_ESME},ESME,Commissioned,EE01,010A030B,{RIG_MPAN},,EM1 1AA,1,{RIG_CHF}\n"
    );
    let registration = format!(
        "mpxn,fuel,role,party,effective_from,effective_to\n\
         {RIG_MPAN},electricity,IS,{SUPPLIER},2000-01-01,\n\
         {RIG_MPAN},electricity,ED,{NETWORK_OPERATOR},2000-01-01,\n"
    );
    let smwan = format!("127.0.0.1:{}", free_udp_port());
    let keys_env = keys.to_string_lossy().to_string();
    let env = [
        (
            "HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN",
            SUPPLIER_TOKEN,
        ),
        (
            "HUBGATE_USERS__90B3D51F30020000__PULL_TOKEN",
            OPERATOR_TOKEN,
        ),
        ("HUBGATE_EMULATION__HUBS", "0"),
        ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "5000"),
        ("HUBGATE_SMWAN__LISTEN", smwan.as_str()),
        ("HUBGATE_SMWAN__DEVICE_KEYS", keys_env.as_str()),
    ];
    let seeds = Seeds {
        inventory: Some(&inventory),
        registration: Some(&registration),
        env: &env,
        ..Seeds::default()
    };
    let gw = Gateway::start("alerts-rig", seeds);
    assert!(
        gw.startup
            .contains(&format!("SMWAN listening on quic://{smwan}")),
        "{}",
        gw.startup
    );
    let rig_log = work.join("rig.log");
    let rig = common::rig::start_rig(
        &bin,
        &gw,
        RIG_FIRST_EUI,
        &smwan,
        (&keys, &rig_log),
        Duration::from_secs(40),
    );

    // A future-dated tariff to the rig's meter; the gateway is killed and restarted before
    // it runs: the execution alert is still tied to the request.
    let at = unix_now() + 25;
    let (ack, request_id) = send_future_tariff(&gw, RIG_ESME, at);
    assert_eq!(ack.code, "I99", "{}", ack.xml);
    let response = take_message(&gw, SUPPLIER_TOKEN, Duration::from_secs(20), |x| {
        element_text(x, "RequestID").as_deref() == Some(request_id.as_str())
    });
    assert_eq!(
        element_text(&response, "ResponseCode").as_deref(),
        Some("I0"),
        "{response}"
    );
    let gw = gw.restart(seeds);
    rig.wait_registered(&rig_log, Duration::from_secs(40));

    // The outcome reaches the supplier as its FutureDatedDeviceAlertMessage.
    let wait = Duration::from_secs((at - unix_now()).max(0) as u64 + 30);
    let alert = take_message(&gw, SUPPLIER_TOKEN, wait, |x| {
        has(x, "FutureDatedDeviceAlertMessage")
    });
    common::oracle::xml_oracle(&gw, &alert, "future-dated-after-restart");
    assert_eq!(
        element_text(&alert, "RequestID").as_deref(),
        Some(request_id.as_str()),
        "the outcome carries the request's reference after the restart: {alert}"
    );
    assert_eq!(
        element_text(&alert, "FutureDatedAlertCode").as_deref(),
        Some("8F66"),
        "{alert}"
    );
    let payload = unb64(&element_text(&alert, "GBCSPayload").unwrap());
    let msg = frame::parse(&payload).unwrap();
    assert_eq!(hex::eui_duis(&msg.header.originator), RIG_ESME);
    // …and to nobody else: the network operator has no device alert for it.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        kept_messages(&gw, OPERATOR_TOKEN)
            .iter()
            .all(|(_, x)| !has(x, "DeviceAlertMessage") && !has(x, "FutureDatedDeviceAlertMessage")),
        "the network operator got the outcome of the supplier's request"
    );

    // The rig dies: the network operator gets a power outage alert for the hub, once.
    drop(rig);
    let dcc = take_message(&gw, OPERATOR_TOKEN, Duration::from_secs(30), |x| {
        has(x, "DCCAlertMessage")
    });
    common::oracle::xml_oracle(&gw, &dcc, "dcc-alert");
    assert_eq!(element_text(&dcc, "DCCAlertCode").as_deref(), Some("AD1"));
    assert_eq!(
        element_text(&dcc, "CommsHubDeviceID").as_deref(),
        Some(RIG_CHF)
    );
    assert_eq!(element_text(&dcc, "MPxN").as_deref(), Some(RIG_MPAN));
    assert!(element_text(&dcc, "StartDateTime").is_some(), "{dcc}");
    std::thread::sleep(Duration::from_secs(1));
    let more: Vec<_> = kept_messages(&gw, OPERATOR_TOKEN)
        .into_iter()
        .filter(|(_, x)| has(x, "DCCAlertMessage"))
        .collect();
    assert!(
        more.is_empty(),
        "a second DCC alert for one hub event: {more:#?}"
    );
    // A power outage is for the network operator: the supplier gets no DCC alert.
    let supplier_dcc: Vec<_> = kept_messages(&gw, SUPPLIER_TOKEN)
        .into_iter()
        .filter(|(_, x)| has(x, "DCCAlertMessage"))
        .collect();
    assert!(supplier_dcc.is_empty(), "{supplier_dcc:#?}");
    let metrics = gw.metrics_text();
    assert!(metric_value(&metrics, "hubgate_alerts_total", "kind=\"future_dated\"") >= 1.0);

    assert!(metric_value(&metrics, "hubgate_alerts_total", "kind=\"dcc\"") >= 1.0);
    drop(gw);
    let _ = std::fs::remove_dir_all(&work);
}
