#![allow(clippy::unwrap_used)]
//! Per-device ordering and in-flight limits under concurrent submitters.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{DEVICES, command, hub, outcomes, rig};
use hubgate_actors::testkit::Behaviour;
use hubgate_actors::{Eui, HubLimits, OutcomeResult, RegistryConfig, SubmitError};

const PER_DEVICE: u64 = 25;

/// Four submitter threads (one per device) feed four hubs at once; devices answer after a
/// short delay. Every device receives its commands, and every outcome arrives, in submission
/// order; no device ever holds two commands; no hub more than its limit.
#[actix::test]
async fn per_device_order_under_concurrent_submitters() {
    let config = RegistryConfig {
        limits: HubLimits {
            queue_capacity: 16,
            per_device: 1,
            per_hub: 3,
        },
        ..common::config()
    };
    let rig = rig(config, Behaviour::RespondAfter(Duration::from_millis(1)));
    let hubs: Vec<Eui> = (0..4).map(hub).collect();
    let mut threads = Vec::new();
    for device in DEVICES {
        let registry = rig.registry.clone();
        let hubs = hubs.clone();
        threads.push(std::thread::spawn(move || {
            let mut saturated = 0;
            for counter in 1..=PER_DEVICE {
                for h in &hubs {
                    let mut c = command(*h, device, counter, Duration::from_secs(20));
                    loop {
                        match registry.submit(c) {
                            Ok(()) => break,
                            Err(SubmitError::Saturated { hub }) => {
                                assert_eq!(&hub, h);
                                saturated += 1;
                                std::thread::sleep(Duration::from_millis(1));
                                c = command(*h, device, counter, Duration::from_secs(20));
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            }
            saturated
        }));
    }
    let total = (DEVICES.len() * 4) as u64 * PER_DEVICE;
    let got = outcomes(&rig.sink, total as usize, 40).await;
    let saturated: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();

    let mut per_device: HashMap<(Eui, Eui), Vec<u64>> = HashMap::new();
    for o in &got {
        assert!(matches!(o.result, OutcomeResult::Response { .. }), "{o:?}");
        per_device
            .entry((o.hub, o.device))
            .or_default()
            .push(o.counter);
    }
    let expected: Vec<u64> = (1..=PER_DEVICE).collect();
    assert_eq!(per_device.len(), 16);
    for (k, counters) in &per_device {
        assert_eq!(counters, &expected, "outcome order for {k:?}");
    }
    let mut received: HashMap<(Eui, Eui), Vec<u64>> = HashMap::new();
    for r in rig.devices.received() {
        received
            .entry((r.hub, r.device))
            .or_default()
            .push(r.counter);
    }
    for (k, counters) in &received {
        assert_eq!(counters, &expected, "arrival order at {k:?}");
    }
    assert_eq!(rig.devices.max_busy_per_device(), 1);
    assert!(rig.devices.max_busy_per_hub() <= 3);
    let stats = rig.registry.stats();
    assert_eq!(stats.responses, total);
    assert_eq!(stats.saturated_hub as usize, saturated);
    assert_eq!((stats.admitted_commands, stats.in_flight_commands), (0, 0));
    rig.registry.shutdown().await;
}

/// With two commands allowed per device and three per hub, slow devices see exactly those
/// limits reached and never exceeded.
#[actix::test]
async fn in_flight_limits_are_reached_and_never_exceeded() {
    let config = RegistryConfig {
        limits: HubLimits {
            queue_capacity: 64,
            per_device: 2,
            per_hub: 3,
        },
        ..common::config()
    };
    let rig = rig(config, Behaviour::RespondAfter(Duration::from_millis(20)));
    let h = hub(7);
    for counter in 1..=10 {
        for device in &DEVICES[..2] {
            rig.registry
                .submit(command(h, *device, counter, Duration::from_secs(20)))
                .unwrap();
        }
    }
    let got = outcomes(&rig.sink, 20, 20).await;
    assert!(got.iter().all(|o| o.result.label() == "response"));
    assert_eq!(rig.devices.max_busy_per_device(), 2);
    assert_eq!(rig.devices.max_busy_per_hub(), 3);
    for device in &DEVICES[..2] {
        let sent: Vec<u64> = rig
            .devices
            .received()
            .iter()
            .filter(|r| &r.device == device)
            .map(|r| r.counter)
            .collect();
        assert_eq!(sent, (1..=10).collect::<Vec<_>>());
    }
    rig.registry.shutdown().await;
}
