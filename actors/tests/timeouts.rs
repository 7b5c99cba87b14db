#![allow(clippy::unwrap_used)]
//! Commands that get no response end with the right DUIS code at their deadline.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{DEVICES, command, hub, outcomes, rig};
use hubgate_actors::testkit::{Behaviour, CollectingSink, ScriptedDevices, eventually};
use hubgate_actors::{
    Failure, HubRegistry, InProcessLink, MemoryStateStore, OutcomeResult, Services,
};

/// A device that never answers: its command ends with E21 at the deadline, and the command
/// queued behind it (whose deadline is earlier) ends with E20 without ever being sent.
#[actix::test]
async fn silent_device_gives_e21_and_the_command_behind_it_e20() {
    let rig = rig(common::config(), Behaviour::Silent);
    let h = hub(1);
    let start = Instant::now();
    rig.registry
        .submit(command(h, DEVICES[0], 1, Duration::from_millis(400)))
        .unwrap();
    rig.registry
        .submit(command(h, DEVICES[0], 2, Duration::from_millis(150)))
        .unwrap();
    let first = outcomes(&rig.sink, 1, 5).await;
    assert_eq!(first[0].counter, 2);
    assert_eq!(first[0].result, OutcomeResult::Failed(Failure::NotSent));
    assert_eq!(first[0].result.label(), "E20");
    assert!(start.elapsed() >= Duration::from_millis(150));
    let both = outcomes(&rig.sink, 2, 5).await;
    assert_eq!(both[1].counter, 1);
    assert_eq!(both[1].result, OutcomeResult::Failed(Failure::NoResponse));
    assert_eq!(both[1].result.label(), "E21");
    assert!(start.elapsed() >= Duration::from_millis(400));
    // Only the first command reached the device.
    let received = rig.devices.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].counter, 1);
    let s = rig.registry.stats();
    assert_eq!((s.e20, s.e21, s.responses), (1, 1, 0));
    assert_eq!((s.admitted_commands, s.in_flight_commands), (0, 0));
    rig.registry.shutdown().await;
}

/// A response arriving after its command timed out is counted as unmatched and dropped.
#[actix::test]
async fn late_response_after_e21_is_dropped() {
    let rig = rig(
        common::config(),
        Behaviour::RespondAfter(Duration::from_millis(250)),
    );
    let h = hub(2);
    rig.registry
        .submit(command(h, DEVICES[1], 10, Duration::from_millis(80)))
        .unwrap();
    let got = outcomes(&rig.sink, 1, 5).await;
    assert_eq!(got[0].result.label(), "E21");
    assert!(
        eventually(Duration::from_secs(5), || rig.registry.stats().unmatched
            == 1)
        .await
    );
    assert_eq!(rig.sink.outcome_count(), 1);
    assert_eq!(rig.registry.stats().responses, 0);
    rig.registry.shutdown().await;
}

/// A hub the link cannot reach, and a device whose link refuses the command: both E20 at
/// once, long before the deadline.
#[actix::test]
async fn unreachable_hub_and_refused_command_give_e20_at_once() {
    let keys = common::keys();
    let devices = ScriptedDevices::new(keys.clone(), Behaviour::Respond);
    let link = Arc::new(InProcessLink::new());
    let attached = hub(3);
    link.attach(attached, devices.clone());
    let sink = CollectingSink::new();
    let registry = HubRegistry::start(
        common::config(),
        Services {
            link,
            sink: sink.clone(),
            store: Arc::new(MemoryStateStore::new()),
            verifier: keys.verifier(),
        },
    )
    .unwrap();
    let start = Instant::now();
    registry
        .submit(command(hub(4), DEVICES[0], 1, Duration::from_secs(30)))
        .unwrap();
    devices.script(DEVICES[0], [Behaviour::Refuse]);
    registry
        .submit(command(attached, DEVICES[0], 2, Duration::from_secs(30)))
        .unwrap();
    registry
        .submit(command(attached, DEVICES[0], 3, Duration::from_secs(30)))
        .unwrap();
    let got = outcomes(&sink, 3, 5).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    let by_counter = |c| got.iter().find(|o| o.counter == c).unwrap();
    assert_eq!(
        by_counter(1).result,
        OutcomeResult::Failed(Failure::Unreachable(format!(
            "hub {} unreachable",
            hubgate_protocol::hex::eui(&hub(4))
        )))
    );
    assert_eq!(by_counter(2).result.label(), "E20");
    // The refusal freed the device: the next command went through.
    assert_eq!(by_counter(3).result.label(), "response");
    let s = registry.stats();
    assert_eq!((s.e20, s.link_failures, s.responses), (2, 2, 1));
    registry.shutdown().await;
}
