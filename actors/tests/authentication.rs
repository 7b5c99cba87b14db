#![allow(clippy::unwrap_used)]
//! Responses and alerts are delivered only when their MAC or device signature verifies.

mod common;

use std::time::Duration;

use common::{command, command_with_code, hub, keys, outcomes, rig};
use hubgate_actors::OutcomeResult;
use hubgate_actors::testkit::{Behaviour, ESME, GSME, SUPPLIER, access_response, eventually};
use hubgate_protocol::gbcs::frame::{self, LenForm};
use hubgate_protocol::gbcs::{Cra, GroupingHeader, OtherInfo, Supplementary};

fn rtds(path: &str) -> Vec<u8> {
    let p = hubgate_protocol::conformance::require()
        .join("gbcs/rtds")
        .join(path);
    hubgate_protocol::hex::decode(std::fs::read_to_string(p).unwrap().trim()).unwrap()
}

/// GCS04 success response: device-signed by the GSME, counter 1000, message code 006E.
const GCS04_RESPONSE: &str = "2.3_GCS04/GCS04_2.3_SUCCESS_RESPONSE_GBCS.HEX";
/// ECS08 future-dated success alert (8F66): device-signed by the ESME, counter 2010.
const ECS08_ALERT: &str =
    "2.1_ECS08/ECS08_2.1_8F66_FUTURE_DATED_SUCCESS_ALERT_MAX_METER_BALANCE_GBCS.HEX";

/// A response with a wrong MAC is counted and never delivered: the command times out.
#[actix::test]
async fn wrong_mac_response_is_rejected() {
    let rig = rig(common::config(), Behaviour::BadMac);
    rig.registry
        .submit(command(hub(1), ESME, 1, Duration::from_millis(200)))
        .unwrap();
    let got = outcomes(&rig.sink, 1, 5).await;
    assert_eq!(got[0].result.label(), "E21");
    let s = rig.registry.stats();
    assert_eq!((s.mac_failures, s.responses, s.unmatched), (1, 0, 0));
    rig.registry.shutdown().await;
}

/// A forged response arriving first does not end the command; the genuine one after it does.
#[actix::test]
async fn forged_response_does_not_preempt_the_genuine_one() {
    let rig = rig(
        common::config(),
        Behaviour::ForgedThenGenuine(Duration::from_millis(30)),
    );
    let c = command(hub(2), ESME, 5, Duration::from_secs(10));
    let genuine = keys().response_to(&c.bytes).unwrap();
    rig.registry.submit(c).unwrap();
    let got = outcomes(&rig.sink, 1, 5).await;
    match &got[0].result {
        OutcomeResult::Response { bytes, .. } => assert_eq!(bytes, &genuine),
        other => panic!("{other:?}"),
    }
    assert_eq!(rig.registry.stats().mac_failures, 1);
    rig.registry.shutdown().await;
}

/// A real device-signed response from the RTDS corpus is delivered; the same response with
/// one content byte changed is rejected on its signature.
#[actix::test]
async fn device_signed_response_verified_and_tampered_copy_rejected() {
    let rig = rig(common::config(), Behaviour::Silent);
    let genuine = rtds(GCS04_RESPONSE);
    let m = frame::parse(&genuine).unwrap();
    assert_eq!(
        (
            m.header.counter,
            m.header.other_info.message_code,
            m.header.originator
        ),
        (1000, 0x006e, GSME)
    );
    let content_at = m.regions.content.start;
    let mut tampered = genuine.clone();
    tampered[content_at + 3] ^= 0x01;

    rig.devices
        .script(GSME, [Behaviour::Answer(genuine.clone())]);
    rig.registry
        .submit(command_with_code(
            hub(3),
            GSME,
            1000,
            0x006e,
            Duration::from_secs(10),
        ))
        .unwrap();
    let got = outcomes(&rig.sink, 1, 5).await;
    match &got[0].result {
        OutcomeResult::Response { bytes, .. } => assert_eq!(bytes, &genuine),
        other => panic!("{other:?}"),
    }

    rig.devices.script(GSME, [Behaviour::Answer(tampered)]);
    rig.registry
        .submit(command_with_code(
            hub(4),
            GSME,
            1000,
            0x006e,
            Duration::from_millis(200),
        ))
        .unwrap();
    let got = outcomes(&rig.sink, 2, 5).await;
    assert_eq!(got[1].result.label(), "E21");
    let s = rig.registry.stats();
    assert_eq!((s.signature_failures, s.responses), (1, 1));
    rig.registry.shutdown().await;
}

/// A response that is neither MAC'd nor signed is rejected even though it matches.
#[actix::test]
async fn unprotected_response_is_rejected() {
    let rig = rig(common::config(), Behaviour::Silent);
    let header = GroupingHeader {
        cra: Cra::Response,
        counter: 77,
        originator: ESME,
        recipient: SUPPLIER,
        date_time: None,
        other_info: OtherInfo {
            message_code: 0x0027,
            supplementary: Supplementary::None,
        },
    };
    let body = access_response(77);
    let bare = frame::encode_apdu(&header, &body, Some(None), LenForm::Short, LenForm::Short);
    rig.devices.script(ESME, [Behaviour::Answer(bare)]);
    rig.registry
        .submit(command(hub(5), ESME, 77, Duration::from_millis(150)))
        .unwrap();
    let got = outcomes(&rig.sink, 1, 5).await;
    assert_eq!(got[0].result.label(), "E21");
    assert_eq!(rig.registry.stats().other_auth_failures, 1);
    rig.registry.shutdown().await;
}

/// Alerts: a real device-signed RTDS alert is delivered once (its replay is dropped, a
/// tampered copy rejected); a MAC'd alert is delivered, and one with a bad MAC rejected.
#[actix::test]
async fn alerts_are_authenticated_before_delivery() {
    let rig = rig(common::config(), Behaviour::Respond);
    let h = hub(6);
    let signed = rtds(ECS08_ALERT);
    let mut tampered = signed.clone();
    let at = frame::parse(&signed).unwrap().regions.content.start + 5;
    tampered[at] ^= 0x10;
    rig.registry.deliver_from_hub(h, tampered).unwrap();
    rig.registry.deliver_from_hub(h, signed.clone()).unwrap();
    rig.registry.deliver_from_hub(h, signed.clone()).unwrap();

    let k = keys();
    let macd = |ctr| {
        k.device_message(
            Cra::Alert,
            GSME,
            SUPPLIER,
            ctr,
            0x1001,
            &hubgate_actors::testkit::alert_notification(ctr, 0x8f0a),
        )
        .unwrap()
    };
    let mut bad = macd(31);
    let n = bad.len();
    bad[n - 1] ^= 0x40;
    rig.registry.deliver_from_hub(h, bad).unwrap();
    rig.registry.deliver_from_hub(h, macd(30)).unwrap();

    assert!(eventually(Duration::from_secs(5), || rig.registry.stats().alerts == 2).await);
    assert!(
        eventually(Duration::from_secs(5), || {
            let s = rig.registry.stats();
            s.signature_failures + s.mac_failures + s.replays == 3
        })
        .await
    );
    let alerts = rig.sink.alerts();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].bytes, signed);
    assert_eq!(
        (
            alerts[0].device,
            alerts[0].counter,
            alerts[0].message_code,
            alerts[0].hub
        ),
        (ESME, 2010, 0x00cc, h)
    );
    assert_eq!((alerts[1].device, alerts[1].counter), (GSME, 30));
    let s = rig.registry.stats();
    assert_eq!((s.signature_failures, s.mac_failures, s.replays), (1, 1, 1));
    assert_eq!(rig.sink.outcome_count(), 0);
    rig.registry.shutdown().await;
}
