#![allow(clippy::unwrap_used)]
//! Every bound answers synchronously with a clear error instead of queueing more.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{DEVICES, command, hub, keys, outcomes, rig};
use hubgate_actors::testkit::{Behaviour, CollectingSink, ESME, GSME, ScriptedDevices, eventually};
use hubgate_actors::{
    DeliverError, DeviceAlert, HubLimits, HubRegistry, InProcessLink, InvalidCommand,
    MemoryStateStore, Outcome, OutcomeSink, RegistryConfig, Services, SubmitError, SystemLimit,
};

/// A full hub refuses the next command with `Saturated { hub }`; other hubs are unaffected,
/// and the hub takes commands again once its queue drains.
#[actix::test]
async fn full_hub_queue_is_saturated() {
    let config = RegistryConfig {
        limits: HubLimits {
            queue_capacity: 4,
            per_device: 1,
            per_hub: 2,
        },
        ..common::config()
    };
    let rig = rig(config, Behaviour::Silent);
    let h = hub(1);
    for c in 1..=4 {
        rig.registry
            .submit(command(
                h,
                DEVICES[(c % 2) as usize],
                c,
                Duration::from_millis(200),
            ))
            .unwrap();
    }
    assert_eq!(
        rig.registry
            .submit(command(h, DEVICES[0], 5, Duration::from_millis(200))),
        Err(SubmitError::Saturated { hub: h })
    );
    rig.registry
        .submit(command(hub(2), DEVICES[0], 6, Duration::from_millis(200)))
        .unwrap();
    let s = rig.registry.stats();
    assert_eq!((s.saturated_hub, s.admitted_commands), (1, 5));
    outcomes(&rig.sink, 5, 5).await;
    rig.registry
        .submit(command(h, DEVICES[0], 7, Duration::from_millis(100)))
        .unwrap();
    outcomes(&rig.sink, 6, 5).await;
    rig.registry.shutdown().await;
}

/// The global bound on held commands gives `SystemSaturated` before any hub is activated.
#[actix::test]
async fn global_command_limit_is_system_saturation() {
    let config = RegistryConfig {
        max_queued_commands: 6,
        ..common::config()
    };
    let rig = rig(config, Behaviour::Silent);
    for n in 1..=6 {
        rig.registry
            .submit(command(hub(n), ESME, n as u64, Duration::from_millis(200)))
            .unwrap();
    }
    assert_eq!(
        rig.registry
            .submit(command(hub(7), ESME, 7, Duration::from_millis(200))),
        Err(SubmitError::SystemSaturated {
            limit: SystemLimit::QueuedCommands
        })
    );
    assert!(!rig.registry.is_active(&hub(7)));
    assert_eq!(rig.registry.stats().saturated_system, 1);
    outcomes(&rig.sink, 6, 5).await;
    rig.registry
        .submit(command(hub(7), ESME, 8, Duration::from_millis(100)))
        .unwrap();
    outcomes(&rig.sink, 7, 5).await;
    rig.registry.shutdown().await;
}

/// The global bound on active hubs refuses a new hub, not an active one, until a hub
/// passivates.
#[actix::test]
async fn active_hub_limit_is_system_saturation() {
    let config = RegistryConfig {
        max_active_hubs: 3,
        idle_timeout: Duration::from_millis(100),
        ..common::config()
    };
    let rig = rig(config, Behaviour::Respond);
    for n in 1..=3 {
        rig.registry
            .submit(command(hub(n), ESME, n as u64, Duration::from_secs(5)))
            .unwrap();
    }
    assert_eq!(
        rig.registry
            .submit(command(hub(4), ESME, 4, Duration::from_secs(5))),
        Err(SubmitError::SystemSaturated {
            limit: SystemLimit::ActiveHubs
        })
    );
    assert_eq!(
        rig.registry.deliver_from_hub(hub(4), vec![0xdf]),
        Err(DeliverError::SystemSaturated {
            limit: SystemLimit::ActiveHubs
        })
    );
    rig.registry
        .submit(command(hub(1), GSME, 5, Duration::from_secs(5)))
        .unwrap();
    assert_eq!(rig.registry.stats().active_hubs, 3);
    outcomes(&rig.sink, 4, 5).await;
    assert!(eventually(Duration::from_secs(5), || rig.registry.active_hubs() == 0).await);
    rig.registry
        .submit(command(hub(4), ESME, 6, Duration::from_secs(5)))
        .unwrap();
    outcomes(&rig.sink, 5, 5).await;
    rig.registry.shutdown().await;
}

/// A command whose fields disagree with its bytes is refused as the caller's error.
#[actix::test]
async fn inconsistent_commands_are_invalid() {
    let rig = rig(common::config(), Behaviour::Respond);
    let good = command(hub(1), ESME, 10, Duration::from_secs(5));
    let mut c = good.clone();
    c.counter = 11;
    assert!(matches!(
        rig.registry.submit(c),
        Err(SubmitError::Invalid(InvalidCommand::Counter {
            declared: 11,
            found: 10
        }))
    ));
    let mut c = good.clone();
    c.device = GSME;
    assert!(matches!(
        rig.registry.submit(c),
        Err(SubmitError::Invalid(InvalidCommand::Recipient { .. }))
    ));
    let mut c = good.clone();
    c.message_code = 0x0028;
    assert!(matches!(
        rig.registry.submit(c),
        Err(SubmitError::Invalid(InvalidCommand::MessageCode { .. }))
    ));
    let mut c = good.clone();
    c.bytes = keys().response_to(&good.bytes).unwrap();
    assert!(matches!(
        rig.registry.submit(c),
        Err(SubmitError::Invalid(InvalidCommand::NotACommand(
            "response"
        )))
    ));
    let mut c = good.clone();
    c.bytes.truncate(20);
    assert!(matches!(
        rig.registry.submit(c),
        Err(SubmitError::Invalid(InvalidCommand::Frame(_)))
    ));
    assert_eq!(
        rig.registry.active_hubs(),
        0,
        "nothing activated for invalid commands"
    );
    rig.registry.submit(good).unwrap();
    outcomes(&rig.sink, 1, 5).await;
    rig.registry.shutdown().await;
}

/// A sink that holds the hub's thread until opened.
#[derive(Default)]
struct GateSink {
    inner: CollectingSink,
    entered: AtomicBool,
    open: Mutex<bool>,
    cv: Condvar,
}

impl GateSink {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

impl OutcomeSink for GateSink {
    fn outcome(&self, outcome: Outcome) {
        self.entered.store(true, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
        self.inner.outcome(outcome);
    }

    fn alert(&self, alert: DeviceAlert) {
        self.inner.alert(alert);
    }
}

/// While a hub's actor is busy, inbound messages for it pile up only to the inbound bound;
/// the next is refused with `Saturated { hub }`, and the mailbox drains once the actor runs.
#[actix::test]
async fn inbound_mailbox_is_bounded() {
    let devices = ScriptedDevices::new(keys().clone(), Behaviour::Respond);
    let sink = Arc::new(GateSink::default());
    let registry = HubRegistry::start(
        RegistryConfig {
            inbound_capacity: 4,
            ..common::config()
        },
        Services {
            link: Arc::new(InProcessLink::with_fallback(devices)),
            sink: sink.clone(),
            store: Arc::new(MemoryStateStore::new()),
            verifier: keys().verifier(),
        },
    )
    .unwrap();
    let h = hub(9);
    // The response's outcome blocks the actor inside the sink.
    registry
        .submit(command(h, ESME, 1, Duration::from_secs(5)))
        .unwrap();
    let stray = keys()
        .response_to(&command(h, ESME, 99, Duration::from_secs(5)).bytes)
        .unwrap();
    // Wait until the actor is stuck in the sink; then fill the inbound bound.
    assert!(
        eventually(Duration::from_secs(5), || sink
            .entered
            .load(Ordering::SeqCst))
        .await
    );
    let mut accepted = 0;
    let mut refused = None;
    for _ in 0..10 {
        match registry.deliver_from_hub(h, stray.clone()) {
            Ok(()) => accepted += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert_eq!(accepted, 4);
    assert_eq!(refused, Some(DeliverError::Saturated { hub: h }));
    assert_eq!(registry.stats().inbound_refused, 1);
    sink.open();
    assert!(eventually(Duration::from_secs(5), || registry.stats().unmatched == 4).await);
    assert_eq!(sink.inner.outcome_count(), 1);
    registry.deliver_from_hub(h, stray).unwrap();
    registry.shutdown().await;
}
