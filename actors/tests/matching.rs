#![allow(clippy::unwrap_used)]
//! Responses are matched to commands by counter, message code and parties; anything else is
//! counted and dropped.

mod common;

use std::time::Duration;

use common::{command, hub, outcomes, rig};
use hubgate_actors::testkit::{Behaviour, ESME, GSME, eventually};

/// Authentic responses carrying the wrong counter or the wrong message code match nothing:
/// counted as unmatched, never delivered, and the commands end with E21.
#[actix::test]
async fn unmatched_responses_are_counted_and_dropped() {
    let rig = rig(common::config(), Behaviour::Silent);
    rig.devices.script(ESME, [Behaviour::WrongCounter]);
    rig.devices.script(GSME, [Behaviour::WrongMessageCode]);
    rig.registry
        .submit(command(hub(1), ESME, 40, Duration::from_millis(200)))
        .unwrap();
    rig.registry
        .submit(command(hub(1), GSME, 41, Duration::from_millis(200)))
        .unwrap();
    let got = outcomes(&rig.sink, 2, 5).await;
    assert!(got.iter().all(|o| o.result.label() == "E21"), "{got:?}");
    let s = rig.registry.stats();
    assert_eq!((s.unmatched, s.responses, s.mac_failures), (2, 0, 0));
    rig.registry.shutdown().await;
}

/// Bytes that are not GBCS, and commands sent back by a hub, are dropped as malformed;
/// a response for a hub that has nothing in flight is unmatched.
#[actix::test]
async fn garbage_and_strays_are_dropped() {
    let rig = rig(common::config(), Behaviour::Respond);
    let h = hub(2);
    let stray_cmd = command(h, ESME, 9, Duration::from_secs(1)).bytes;
    let stray_resp = common::keys().response_to(&stray_cmd).unwrap();
    rig.registry.deliver_from_hub(h, vec![0xdf, 0x09]).unwrap();
    rig.registry.deliver_from_hub(h, Vec::new()).unwrap();
    rig.registry.deliver_from_hub(h, stray_cmd).unwrap();
    rig.registry.deliver_from_hub(h, stray_resp).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || {
            let s = rig.registry.stats();
            s.malformed == 3 && s.unmatched == 1
        })
        .await,
        "{:?}",
        rig.registry.stats()
    );
    assert_eq!(rig.sink.outcome_count() + rig.sink.alerts().len(), 0);
    let snap = rig.registry.inspect(h).await.unwrap();
    assert_eq!((snap.counters.malformed, snap.counters.unmatched), (3, 1));
    rig.registry.shutdown().await;
}
