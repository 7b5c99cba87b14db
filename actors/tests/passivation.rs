#![allow(clippy::unwrap_used)]
//! Idle hubs write their state and stop; the next message brings them back with it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{DEVICES, command, hub, keys, outcomes, rig, rig_with_store};
use hubgate_actors::testkit::{Behaviour, ESME, GSME, SUPPLIER, alert_notification, eventually};
use hubgate_actors::{
    DeviceLogEntry, DeviceLogUpdate, DeviceType, Eui, HubState, MemoryStateStore, RegistryConfig,
    StateStore, StateStoreError,
};
use hubgate_protocol::gbcs::Cra;

fn quick() -> RegistryConfig {
    RegistryConfig {
        idle_timeout: Duration::from_millis(100),
        ..common::config()
    }
}

/// Device log, counters and alert counters survive passivation and come back on the next
/// message; the actor count goes to zero in between.
#[actix::test]
async fn passivation_then_reactivation_restores_state() {
    let rig = rig(quick(), Behaviour::Respond);
    let h = hub(1);
    let log = vec![
        DeviceLogEntry {
            device: ESME,
            device_type: DeviceType::Esme,
        },
        DeviceLogEntry {
            device: GSME,
            device_type: DeviceType::Gsme,
        },
    ];
    for e in &log {
        rig.registry
            .update_device_log(h, DeviceLogUpdate::Add(*e))
            .await
            .unwrap();
    }
    rig.registry
        .submit(command(h, ESME, 1, Duration::from_secs(5)))
        .unwrap();
    rig.registry
        .submit(command(h, GSME, 2, Duration::from_secs(5)))
        .unwrap();
    let alert = keys()
        .device_message(
            Cra::Alert,
            ESME,
            SUPPLIER,
            500,
            0x1001,
            &alert_notification(500, 0x8f0a),
        )
        .unwrap();
    rig.registry.deliver_from_hub(h, alert.clone()).unwrap();
    outcomes(&rig.sink, 2, 5).await;
    assert!(rig.registry.is_active(&h));

    assert!(eventually(Duration::from_secs(5), || rig.registry.active_hubs() == 0).await);
    let s = rig.registry.stats();
    assert_eq!((s.active_hubs, s.activations, s.passivations), (0, 1, 1));
    let stored = HubState::decode(&rig.store.get(&h).unwrap().unwrap()).unwrap();
    assert_eq!(stored.device_log.entries(), log.as_slice());
    assert_eq!(stored.counters.responses, 2);
    assert_eq!(stored.alert_counters, vec![(ESME, 500)]);

    // Reactivated by an inspection: everything is back.
    let snap = rig.registry.inspect(h).await.unwrap();
    assert_eq!(snap.device_log, log);
    assert_eq!((snap.counters.accepted, snap.counters.responses), (2, 2));
    assert_eq!(snap.counters.alerts, 1);
    assert_eq!(rig.registry.stats().activations, 2);
    // The alert counter came back too: the same alert is now a replay.
    rig.registry.deliver_from_hub(h, alert).unwrap();
    assert!(eventually(Duration::from_secs(5), || rig.registry.stats().replays == 1).await);
    assert_eq!(rig.sink.alerts().len(), 1);
    // And it passivates again.
    assert!(eventually(Duration::from_secs(5), || rig.registry.active_hubs() == 0).await);
    assert_eq!(rig.registry.stats().passivations, 2);
    rig.registry.shutdown().await;
}

/// A hub holding commands does not passivate, however long it waits for a response.
#[actix::test]
async fn a_hub_with_work_stays_active() {
    let rig = rig(quick(), Behaviour::Silent);
    let h = hub(2);
    rig.registry
        .submit(command(h, ESME, 1, Duration::from_millis(600)))
        .unwrap();
    actix::clock::sleep(Duration::from_millis(400)).await;
    assert!(
        rig.registry.is_active(&h),
        "passivated with a command in flight"
    );
    outcomes(&rig.sink, 1, 5).await;
    assert!(eventually(Duration::from_secs(5), || !rig.registry.is_active(&h)).await);
    rig.registry.shutdown().await;
}

/// Shutdown writes queued and in-flight commands; a new registry on the same store resumes
/// them: the in-flight one takes its response, the queued ones are sent and answered.
#[actix::test]
async fn shutdown_persists_commands_that_resume_after_restart() {
    let store = Arc::new(MemoryStateStore::new());
    let first = rig_with_store(
        common::config(),
        Behaviour::Silent,
        store.clone(),
        store.clone(),
    );
    let h = hub(3);
    let commands: Vec<_> = (1..=3)
        .map(|c| command(h, DEVICES[0], c, Duration::from_secs(20)))
        .collect();
    for c in &commands {
        first.registry.submit(c.clone()).unwrap();
    }
    assert!(
        eventually(Duration::from_secs(5), || first.devices.received().len()
            == 1)
        .await
    );
    let report = first.registry.shutdown().await;
    assert_eq!((report.passivated, report.remaining), (1, 0));
    assert_eq!(
        first.registry.submit(commands[0].clone()),
        Err(hubgate_actors::SubmitError::ShuttingDown)
    );
    let stored = HubState::decode(&store.get(&h).unwrap().unwrap()).unwrap();
    assert_eq!((stored.queued.len(), stored.in_flight.len()), (2, 1));
    assert_eq!(first.sink.outcome_count(), 0);
    let s = first.registry.stats();
    assert_eq!(
        (s.admitted_commands, s.in_flight_commands, s.active_hubs),
        (0, 0, 0)
    );

    let second = rig_with_store(common::config(), Behaviour::Respond, store.clone(), store);
    // The device answers the command it received before the restart.
    let late = keys().response_to(&commands[0].bytes).unwrap();
    second.registry.deliver_from_hub(h, late).unwrap();
    let got = outcomes(&second.sink, 3, 5).await;
    let counters: Vec<u64> = got.iter().map(|o| o.counter).collect();
    assert_eq!(counters, vec![1, 2, 3]);
    assert!(got.iter().all(|o| o.result.label() == "response"));
    let received: Vec<u64> = second
        .devices
        .received()
        .iter()
        .map(|r| r.counter)
        .collect();
    assert_eq!(received, vec![2, 3]);
    let s = second.registry.stats();
    assert_eq!((s.admitted_commands, s.in_flight_commands), (0, 0));
    second.registry.shutdown().await;
}

/// A store that fails writes (or reads) while told to.
struct FlakyStore {
    inner: MemoryStateStore,
    failing: AtomicBool,
    failing_reads: AtomicBool,
}

impl StateStore for FlakyStore {
    fn get(&self, hub: &Eui) -> Result<Option<Vec<u8>>, StateStoreError> {
        if self.failing_reads.load(Ordering::SeqCst) {
            return Err(StateStoreError::new("I/O error"));
        }
        self.inner.get(hub)
    }

    fn put(&self, hub: &Eui, state: &[u8]) -> Result<(), StateStoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StateStoreError::new("disk full"));
        }
        self.inner.put(hub, state)
    }
}

/// When the state cannot be written, the hub stays active (nothing is lost) and passivates
/// once the store works again.
#[actix::test]
async fn failed_state_write_keeps_the_hub_active() {
    let flaky = Arc::new(FlakyStore {
        inner: MemoryStateStore::new(),
        failing: AtomicBool::new(true),
        failing_reads: AtomicBool::new(false),
    });
    let rig = rig_with_store(
        quick(),
        Behaviour::Respond,
        flaky.clone(),
        Arc::new(MemoryStateStore::new()),
    );
    let h = hub(4);
    rig.registry
        .update_device_log(
            h,
            DeviceLogUpdate::Add(DeviceLogEntry {
                device: GSME,
                device_type: DeviceType::Gsme,
            }),
        )
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || rig
            .registry
            .stats()
            .state_store_failures
            >= 2)
        .await
    );
    assert!(rig.registry.is_active(&h));
    flaky.failing.store(false, Ordering::SeqCst);
    assert!(eventually(Duration::from_secs(5), || !rig.registry.is_active(&h)).await);
    let stored = HubState::decode(&flaky.inner.get(&h).unwrap().unwrap()).unwrap();
    assert_eq!(stored.device_log.entries().len(), 1);
    rig.registry.shutdown().await;
}

/// When the stored state cannot be read at activation, the hub works without it, never
/// writes over it, and merges it in once it can be read.
#[actix::test]
async fn unreadable_state_is_merged_later_never_overwritten() {
    let flaky = Arc::new(FlakyStore {
        inner: MemoryStateStore::new(),
        failing: AtomicBool::new(false),
        failing_reads: AtomicBool::new(true),
    });
    let h = hub(5);
    let mut earlier = HubState {
        hub: h,
        ..HubState::default()
    };
    earlier
        .device_log
        .apply(DeviceLogUpdate::Add(DeviceLogEntry {
            device: ESME,
            device_type: DeviceType::Esme,
        }))
        .unwrap();
    earlier.counters.accepted = 40;
    earlier.counters.responses = 39;
    flaky.inner.put(&h, &earlier.encode()).unwrap();

    let rig = rig_with_store(
        quick(),
        Behaviour::Respond,
        flaky.clone(),
        Arc::new(MemoryStateStore::new()),
    );
    rig.registry
        .submit(command(h, GSME, 1, Duration::from_secs(5)))
        .unwrap();
    outcomes(&rig.sink, 1, 5).await;
    actix::clock::sleep(Duration::from_millis(300)).await;
    assert!(
        rig.registry.is_active(&h),
        "passivated over an unread state"
    );
    assert_eq!(
        HubState::decode(&flaky.inner.get(&h).unwrap().unwrap()).unwrap(),
        earlier
    );
    flaky.failing_reads.store(false, Ordering::SeqCst);
    assert!(eventually(Duration::from_secs(5), || !rig.registry.is_active(&h)).await);
    let merged = HubState::decode(&flaky.inner.get(&h).unwrap().unwrap()).unwrap();
    assert_eq!(merged.device_log, earlier.device_log);
    assert_eq!(
        (merged.counters.accepted, merged.counters.responses),
        (41, 40)
    );
    rig.registry.shutdown().await;
}
