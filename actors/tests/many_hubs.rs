#![allow(clippy::unwrap_used)]
//! Many hubs cost memory only while active.

mod common;

use std::time::Duration;

use common::{DEVICES, command, hub, outcomes, rig};
use hubgate_actors::testkit::{Behaviour, eventually};
use hubgate_actors::{HubState, RegistryConfig, StateStore};

const HUBS: u32 = 50_000;

/// 50 000 hubs each get one command and answer it; once idle, every actor passivates: the
/// registry is empty, the counters are back to zero, and what remains is one small state
/// record per hub in the store.
#[actix::test]
async fn fifty_thousand_hubs_touched_once_all_passivate() {
    let config = RegistryConfig {
        idle_timeout: Duration::from_millis(300),
        ..common::config()
    };
    let rig = rig(config, Behaviour::Respond);
    for n in 0..HUBS {
        let device = DEVICES[(n % 4) as usize];
        rig.registry
            .submit(command(
                hub(n),
                device,
                u64::from(n) + 1,
                Duration::from_secs(60),
            ))
            .unwrap();
    }
    let got = outcomes(&rig.sink, HUBS as usize, 50).await;
    assert!(got.iter().all(|o| o.result.label() == "response"));
    assert!(
        eventually(Duration::from_secs(30), || rig.registry.active_hubs() == 0).await,
        "still active: {}",
        rig.registry.active_hubs()
    );
    let s = rig.registry.stats();
    assert_eq!(s.active_hubs, 0);
    assert_eq!(
        (s.activations, s.passivations),
        (u64::from(HUBS), u64::from(HUBS))
    );
    assert_eq!((s.admitted_commands, s.in_flight_commands), (0, 0));
    assert_eq!(s.responses, u64::from(HUBS));
    assert_eq!(rig.store.len(), HUBS as usize);
    let per_hub = rig.store.bytes() / HUBS as usize;
    assert!(per_hub <= 100, "{per_hub} bytes of state per idle hub");
    let one = HubState::decode(&rig.store.get(&hub(123)).unwrap().unwrap()).unwrap();
    assert_eq!((one.counters.accepted, one.counters.responses), (1, 1));
    assert!(one.queued.is_empty() && one.in_flight.is_empty());
    rig.registry.shutdown().await;
}
