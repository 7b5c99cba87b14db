#![allow(clippy::unwrap_used)]
//! The registry reports through the `metrics` facade under the names of `metric_name`.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{command, hub, keys, outcomes, rig};
use hubgate_actors::metric_name as m;
use hubgate_actors::testkit::{Behaviour, ESME, GSME, eventually};
use hubgate_actors::{HubLimits, RegistryConfig};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

/// One value per metric key; counters and gauges as f64 bits, histograms as a sample count.
#[derive(Default)]
struct Cell(AtomicU64);

impl Cell {
    fn add(&self, d: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                Some((f64::from_bits(b) + d).to_bits())
            });
    }
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::SeqCst))
    }
}

impl CounterFn for Cell {
    fn increment(&self, v: u64) {
        self.add(v as f64);
    }
    fn absolute(&self, v: u64) {
        self.0.store((v as f64).to_bits(), Ordering::SeqCst);
    }
}

impl GaugeFn for Cell {
    fn increment(&self, v: f64) {
        self.add(v);
    }
    fn decrement(&self, v: f64) {
        self.add(-v);
    }
    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::SeqCst);
    }
}

impl HistogramFn for Cell {
    fn record(&self, _v: f64) {
        self.add(1.0);
    }
}

#[derive(Default)]
struct Capture {
    cells: Mutex<BTreeMap<String, Arc<Cell>>>,
}

impl Capture {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        let mut name = key.name().to_string();
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        if !labels.is_empty() {
            name = format!("{name}{{{}}}", labels.join(","));
        }
        self.cells.lock().unwrap().entry(name).or_default().clone()
    }

    fn value(&self, name: &str) -> f64 {
        self.cells
            .lock()
            .unwrap()
            .get(name)
            .map_or(f64::NAN, |c| c.get())
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.cell(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.cell(key))
    }
}

/// A response, an E21, a MAC failure, an unmatched response and a refusal show in the
/// metrics, and the gauges return to zero once the hub passivates.
#[actix::test]
async fn outcomes_failures_and_gauges_are_reported() {
    let capture = Arc::new(Capture::default());
    let config = RegistryConfig {
        idle_timeout: Duration::from_millis(100),
        limits: HubLimits {
            queue_capacity: 2,
            ..HubLimits::default()
        },
        ..common::config()
    };
    let rig = metrics::with_local_recorder(capture.as_ref(), || rig(config, Behaviour::Respond));
    let h = hub(1);
    // The ESME answers only after the third command has been tried: until then both
    // commands are held, so the hub's queue is full whatever the scheduling.
    rig.devices
        .script(ESME, [Behaviour::RespondAfter(Duration::from_millis(300))]);
    rig.devices.script(GSME, [Behaviour::BadMac]);
    rig.registry
        .submit(command(h, ESME, 1, Duration::from_secs(5)))
        .unwrap();
    rig.registry
        .submit(command(h, GSME, 2, Duration::from_millis(200)))
        .unwrap();
    assert!(
        rig.registry
            .submit(command(h, GSME, 3, Duration::from_secs(5)))
            .is_err()
    );
    let stray = keys()
        .response_to(&command(h, ESME, 50, Duration::from_secs(5)).bytes)
        .unwrap();
    rig.registry.deliver_from_hub(h, stray).unwrap();
    outcomes(&rig.sink, 2, 5).await;
    assert!(eventually(Duration::from_secs(5), || rig.registry.active_hubs() == 0).await);
    assert!(
        eventually(Duration::from_secs(5), || capture.value(m::ACTIVE_HUBS)
            == 0.0)
        .await
    );

    let v = |name: &str| capture.value(name);
    assert_eq!(
        v(&format!("{}{{outcome=response}}", m::COMMANDS_TOTAL)),
        1.0
    );
    assert_eq!(v(&format!("{}{{outcome=E21}}", m::COMMANDS_TOTAL)), 1.0);
    assert_eq!(v(&format!("{}{{code=E21}}", m::TIMEOUTS_TOTAL)), 1.0);
    assert_eq!(v(&format!("{}{{code=E20}}", m::TIMEOUTS_TOTAL)), 0.0);
    assert_eq!(v(&format!("{}{{kind=mac}}", m::AUTH_FAILURES_TOTAL)), 1.0);
    assert_eq!(v(&format!("{}{{reason=unmatched}}", m::DROPPED_TOTAL)), 1.0);
    assert_eq!(
        v(&format!("{}{{kind=command,scope=hub}}", m::SATURATED_TOTAL)),
        1.0
    );
    assert_eq!(v(m::ACTIVATIONS_TOTAL), 1.0);
    assert_eq!(v(&format!("{}{{reason=idle}}", m::PASSIVATIONS_TOTAL)), 1.0);
    assert_eq!(v(m::ROUND_TRIP_SECONDS), 1.0);
    assert_eq!(v(m::HUB_QUEUE_DEPTH_COMMANDS), 2.0);
    assert_eq!(v(m::QUEUED_COMMANDS), 0.0);
    assert_eq!(v(m::IN_FLIGHT_COMMANDS), 0.0);
    assert_eq!(v(m::ACTIVE_HUBS), 0.0);
    // Every name registered is one of the listed names.
    for key in capture.cells.lock().unwrap().keys() {
        let name = key.split('{').next().unwrap();
        assert!(m::ALL.contains(&name), "{name} not in metric_name::ALL");
    }
    rig.registry.shutdown().await;
}
