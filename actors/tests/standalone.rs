#![allow(clippy::unwrap_used)]
//! A registry started outside any actix system runs one of its own.

mod common;

use std::time::{Duration, Instant};

use common::{DEVICES, command, hub, rig};
use hubgate_actors::RegistryConfig;
use hubgate_actors::testkit::Behaviour;

/// From a plain thread: start, submit to many hubs spread over three arbiters, collect the
/// outcomes, shut down on an ordinary tokio runtime.
#[test]
fn registry_without_a_surrounding_actix_system() {
    assert!(actix::System::try_current().is_none());
    let config = RegistryConfig {
        shards: 3,
        ..common::config()
    };
    let rig = rig(config, Behaviour::Respond);
    assert_eq!(rig.registry.shard_count(), 3);
    for n in 0..300u32 {
        rig.registry
            .submit(command(
                hub(n),
                DEVICES[(n % 4) as usize],
                u64::from(n),
                Duration::from_secs(10),
            ))
            .unwrap();
    }
    let end = Instant::now() + Duration::from_secs(20);
    while rig.sink.outcome_count() < 300 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(rig.sink.outcome_count(), 300);
    assert!(
        rig.sink
            .outcomes()
            .iter()
            .all(|o| o.result.label() == "response")
    );
    assert_eq!(rig.registry.active_hubs(), 300);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(rig.registry.shutdown());
    assert_eq!((report.passivated, report.remaining), (300, 0));
    assert_eq!(rig.store.len(), 300);
}
