//! Shared set-up for the hub actor tests: a registry wired to scripted devices through the
//! in-process link, an in-memory state store and a collecting sink.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hubgate_actors::testkit::{Behaviour, CollectingSink, Keys, SUPPLIER, ScriptedDevices};
use hubgate_actors::{
    Command, Eui, HubRegistry, InProcessLink, MemoryStateStore, Outcome, RegistryConfig, Services,
    StateStore,
};

/// The conformance keys, loaded once per test binary.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys::load(&hubgate_protocol::conformance::require()).unwrap())
}

/// A hub EUI for tests (not a real CHF: hubs are only keys of the registry).
pub fn hub(n: u32) -> Eui {
    let b = n.to_be_bytes();
    [0x00, 0xdb, 0x12, 0x34, b[0], b[1], b[2], b[3]]
}

/// Device EUIs with key-agreement certificates in the test key store.
pub const DEVICES: [Eui; 4] = [
    hubgate_actors::testkit::ESME,
    hubgate_actors::testkit::GSME,
    hubgate_actors::testkit::GPF,
    hubgate_actors::testkit::PPMID,
];

/// Everything a test needs.
pub struct Rig {
    pub registry: HubRegistry,
    pub devices: Arc<ScriptedDevices>,
    pub sink: Arc<CollectingSink>,
    pub store: Arc<MemoryStateStore>,
    pub link: Arc<InProcessLink>,
}

/// Config for tests: two shards, short idle timeout.
pub fn config() -> RegistryConfig {
    RegistryConfig {
        shards: 2,
        idle_timeout: Duration::from_secs(30),
        ..RegistryConfig::default()
    }
}

/// A registry whose hubs all reach `devices` (behaving as `default`).
pub fn rig(config: RegistryConfig, default: Behaviour) -> Rig {
    let store = Arc::new(MemoryStateStore::new());
    rig_with_store(
        config,
        default,
        Arc::clone(&store) as Arc<dyn StateStore>,
        store,
    )
}

/// As [`rig`], with a given state store (`memory` is returned in the rig for inspection).
pub fn rig_with_store(
    config: RegistryConfig,
    default: Behaviour,
    store: Arc<dyn StateStore>,
    memory: Arc<MemoryStateStore>,
) -> Rig {
    let devices = ScriptedDevices::new(keys().clone(), default);
    let link = Arc::new(InProcessLink::with_fallback(devices.clone()));
    let sink = CollectingSink::new();
    let registry = HubRegistry::start(
        config,
        Services {
            link: link.clone(),
            sink: sink.clone(),
            store,
            verifier: keys().verifier(),
        },
    )
    .unwrap();
    Rig {
        registry,
        devices,
        sink,
        store: memory,
        link,
    }
}

/// A command from the test supplier, message code 0027 (ECS17b), due in `within`.
pub fn command(hub: Eui, device: Eui, counter: u64, within: Duration) -> Command {
    command_with_code(hub, device, counter, 0x0027, within)
}

/// A command with a given message code.
pub fn command_with_code(
    hub: Eui,
    device: Eui,
    counter: u64,
    message_code: u16,
    within: Duration,
) -> Command {
    let c = counter.to_be_bytes();
    let content = [0xd9, 0x20, c[5], c[6], c[7], 0x00, 0x01, 0x01];
    Command {
        request_ref: format!("{}:{counter}", hubgate_protocol::hex::eui(&device)),
        hub,
        device,
        message_code,
        counter,
        bytes: keys()
            .command(SUPPLIER, device, counter, message_code, &content)
            .unwrap(),
        deadline: Instant::now() + within,
    }
}

/// Waits up to `secs` seconds for `n` outcomes.
pub async fn outcomes(sink: &CollectingSink, n: usize, secs: u64) -> Vec<Outcome> {
    let ok = hubgate_actors::testkit::eventually(Duration::from_secs(secs), || {
        sink.outcome_count() >= n
    })
    .await;
    let got = sink.outcomes();
    assert!(ok, "expected {n} outcomes, got {}: {got:?}", got.len());
    got
}
