//! Hub actors that passivate and a gateway that restarts: a real `hubgate serve` with one
//! emulated premises and a short `routing.hub_idle_timeout_ms`, so that the hub actor writes
//! its state to the gateway's store and stops between requests.
//!
//! What the test proves: commands to the hub's devices work across passivations and across
//! a restart of the gateway (the hub actor is activated again from the store), the HAN
//! device log read (8.9, CCS06 to the hub) answers I0 before and after with the hub's joined
//! devices, and the state the hub actor keeps in `routing.hub_state` (read back with the
//! gateway's own [`HubStateStore`] once the gateway is stopped) carries its running totals
//! from before the restart into the state written after it.
//!
//! What it does not cover: the DCC's copy of the device log, which only 8.11 / 8.12.1
//! commands to the CHF and its CS14 alerts change (none are sent here, so the persisted copy
//! is checked to be empty; `device_log.rs` shows the copy changing and surviving
//! passivation). The CCS06 answers come from the emulated hub itself, which the gateway
//! rebuilds (new keys, the same Device IDs and joined devices) on every start. A method B
//! join of a device off the inventory is refused with E100 (asserted below).
//!
//! Needs `curl` and the conformance data.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Gateway, SUPPLIER, Seeds, element_text, metric_value, pull_answer, set_target};
use hubgate_actors::{HubState, StateStore as _};
use hubgate_gateway::routing::HubStateStore;
use hubgate_gateway::store::Store;
use hubgate_protocol::gbcs::{Cra, frame, message_codes};

const TOKEN: &str = "restart-hubs-pull-token-0123456789abcdef01";
const CHF: &str = "00-DB-55-00-00-00-00-00";
const ESME: &str = "00-DB-55-00-00-00-00-01";
const HUB: [u8; 8] = [0x00, 0xdb, 0x55, 0, 0, 0, 0, 0];

const ENV: &[(&str, &str)] = &[
    ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
    ("HUBGATE_EMULATION__HUBS", "1"),
    ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "3000"),
    ("HUBGATE_ROUTING__HUB_IDLE_TIMEOUT_MS", "300"),
];

/// Sends `template` to `target` as the supplier; the Service Response must be I0 with a GBCS
/// response of `use_case` from `target`. Returns the GBCS response.
fn answered(gw: &Gateway, template: &str, target: &str, use_case: &str) -> Vec<u8> {
    let request = set_target(&gw.template(template), target);
    let ack = gw.submit(&request, SUPPLIER);
    assert_eq!(ack.code, "I99", "{template}: {}", ack.xml);
    let xml = pull_answer(gw, TOKEN, &ack.request_id, Duration::from_secs(20));
    assert_eq!(
        element_text(&xml, "ResponseCode").as_deref(),
        Some("I0"),
        "{template}: {xml}"
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(element_text(&xml, "GBCSPayload").unwrap().trim())
        .unwrap();
    let msg = frame::parse(&bytes).unwrap();
    assert_eq!(msg.header.cra, Cra::Response);
    assert_eq!(
        hubgate_protocol::hex::eui_duis(&msg.header.originator),
        target
    );
    assert_eq!(
        Some(msg.header.other_info.message_code),
        message_codes::code_of(use_case),
        "{template}"
    );
    bytes
}

/// Waits until the hub actor has passivated (for idleness) at least `times` times since
/// the gateway started and no hub actor is alive.
fn wait_passivated(gw: &Gateway, times: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = gw.metrics_text();
        let idle = metric_value(&m, "hubgate_actors_passivations_total", "reason=\"idle\"");
        let active = metric_value(&m, "hubgate_actors_active_hubs", "");
        if idle >= times && active == 0.0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the hub did not passivate (idle passivations {idle}, active hubs {active}):\n{m}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The hub's state as the gateway stored it.
fn stored_state(data: &std::path::Path) -> HubState {
    let store = Arc::new(Store::open(data).unwrap());
    let bytes = HubStateStore::new(store)
        .get(&HUB)
        .unwrap()
        .expect("the hub's state is in the store");
    HubState::decode(&bytes).unwrap()
}

#[test]
fn passivated_hubs_come_back_with_their_state_after_a_restart() {
    let gw = Gateway::start(
        "restart-hubs",
        Seeds {
            env: ENV,
            ..Seeds::default()
        },
    );

    // A join naming a device off the inventory is refused.
    let template = "CS03B_8.7.2_SUCCESS_REQUEST_DUIS.XML";
    let ack = gw.submit(
        &set_target(&gw.template(template), "00-DB-55-00-00-00-00-02"),
        SUPPLIER,
    );
    assert_eq!(ack.code, "E100", "{template}: {}", ack.xml);

    // Commands before the restart, with the hub passivating between them.
    answered(
        &gw,
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        ESME,
        "ECS17b",
    );
    wait_passivated(&gw, 1.0);
    answered(
        &gw,
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        ESME,
        "ECS17b",
    );
    let log_before = answered(&gw, "CCS06_8.9_SUCCESS_REQUEST_DUIS.XML", CHF, "CCS06");
    wait_passivated(&gw, 2.0);
    let m = gw.metrics_text();
    let activations = metric_value(&m, "hubgate_actors_activations_total", "");
    assert!(activations >= 2.0, "the hub was activated again:\n{m}");

    // Restart: the hub state is in the store, written by the last passivation.
    let gw = gw.restart(Seeds {
        env: ENV,
        ..Seeds::default()
    });
    gw.advance_counter(1_000);
    let log_after = answered(&gw, "CCS06_8.9_SUCCESS_REQUEST_DUIS.XML", CHF, "CCS06");
    // The emulated hub is rebuilt with the same joined devices: the same log (the DLMS
    // answer after its tag and invoke ID, which follows the command's counter), naming the
    // devices on the hub's first HAN: the premises' ESME, GSME and PPMID.
    let log = |b: &[u8]| frame::parse(b).unwrap().content[5..].to_vec();
    // The entries carry the time the rebuilt hub joined its devices (it moves on across a
    // restart), so the device lists are compared, not the bytes.
    let devices = |b: &[u8]| -> Vec<[u8; 8]> {
        log(b)
            .windows(10)
            .filter(|w| w[0] == 0x09 && w[1] == 0x08 && w[2..4] == [0x00, 0xdb])
            .map(|w| w[2..10].try_into().unwrap())
            .collect()
    };
    assert_eq!(devices(&log_before), devices(&log_after));
    assert_eq!(devices(&log_after).len(), 3, "{:?}", log(&log_after));
    for last in [1u8, 2, 4] {
        let eui = [0x00, 0xdb, 0x55, 0, 0, 0, 0, last];
        assert!(
            log(&log_after).windows(8).any(|w| w == eui),
            "device …{last:02X} is not in the hub's device log"
        );
    }
    answered(
        &gw,
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        ESME,
        "ECS17b",
    );
    wait_passivated(&gw, 1.0);

    // The state written after the restart carries the totals from before it: 3 responses
    // before, 2 after.
    let data = gw.stop_keeping_data();
    let state = stored_state(&data.join("data"));
    let _ = std::fs::remove_dir_all(&data);
    assert_eq!(state.hub, HUB);
    assert_eq!(state.counters.responses, 5, "{state:?}");
    assert_eq!(state.counters.accepted, 5, "{state:?}");
    assert!(
        state.queued.is_empty() && state.in_flight.is_empty(),
        "{state:?}"
    );
    // No command or alert here changes the DCC's copy of the device log (see the module
    // documentation): it is stored as the actor held it.
    assert!(state.device_log.entries().is_empty(), "{state:?}");
}
