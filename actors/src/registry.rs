//! The hub registry: finds (or activates) the actor of a hub and hands it work, with bounds
//! checked before anything is queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix::{Actor, Addr};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use crate::Eui;
use crate::actor::{HubActor, Inspect, Passivate, Submit, UpdateDeviceLog};
use crate::command::Command;
use crate::config::RegistryConfig;
use crate::device_log::{DeviceLogEntry, DeviceLogUpdate};
use crate::error::{ControlError, DeliverError, StartError, SubmitError, SystemLimit};
use crate::link::{HubLink, Inbound};
use crate::outcome::OutcomeSink;
use crate::shards::Shards;
use crate::state::HubCounters;
use crate::state_store::StateStore;
use crate::stats::{Kind, RegistryStats, Scope, Stats};
use crate::verify::Verifier;

/// What the gateway plugs into the registry.
#[derive(Clone)]
pub struct Services {
    /// The way to the hubs.
    pub link: Arc<dyn HubLink>,
    /// Where outcomes and alerts go.
    pub sink: Arc<dyn OutcomeSink>,
    /// Where passivated hubs keep their state.
    pub store: Arc<dyn StateStore>,
    /// Checks responses and alerts.
    pub verifier: Verifier,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

/// A hub's state as its actor sees it, for diagnostics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSnapshot {
    /// The hub.
    pub hub: Eui,
    /// The device log copy.
    pub device_log: Vec<DeviceLogEntry>,
    /// Commands waiting to be sent.
    pub queued: usize,
    /// Commands sent and unanswered.
    pub in_flight: usize,
    /// Running totals (kept across passivations).
    pub counters: HubCounters,
}

/// What [`HubRegistry::shutdown`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Hubs that wrote their state and stopped.
    pub passivated: usize,
    /// Hubs still active at the end (their state could not be written).
    pub remaining: usize,
}

/// Messages waiting in one hub actor's mailbox, and its commands, counted before sending so
/// that every bound is checked synchronously.
#[derive(Debug, Default)]
pub(crate) struct SlotCounters {
    /// Commands accepted for the hub and not finished (mailbox, queue and in flight).
    pub(crate) admitted: AtomicUsize,
    /// Inbound messages in the mailbox.
    pub(crate) inbound: AtomicUsize,
    /// Control messages in the mailbox.
    pub(crate) control: AtomicUsize,
}

impl SlotCounters {
    pub(crate) fn quiet(&self, held: usize) -> bool {
        self.admitted.load(Ordering::Acquire) == held
            && self.inbound.load(Ordering::Acquire) == 0
            && self.control.load(Ordering::Acquire) == 0
    }
}

#[derive(Clone)]
pub(crate) struct Slot {
    pub(crate) addr: Addr<HubActor>,
    pub(crate) counters: Arc<SlotCounters>,
}

pub(crate) struct Inner {
    pub(crate) config: RegistryConfig,
    pub(crate) map: DashMap<Eui, Slot>,
    shards: Shards,
    pub(crate) services: Services,
    closing: AtomicBool,
    pub(crate) stats: Stats,
}

/// The registry of Communications Hub actors. Cheap to clone; every clone is the same
/// registry.
///
/// A hub's actor is created by the first message for it (a command, bytes from the hub, a
/// control call) on the arbiter its EUI hashes to, and stops after
/// [`RegistryConfig::idle_timeout`] without work, having written its state to the
/// [`StateStore`]. Every call checks its bounds before queueing and fails at once when they
/// are reached.
#[derive(Clone)]
pub struct HubRegistry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HubRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubRegistry")
            .field("active", &self.inner.map.len())
            .field("shards", &self.inner.shards)
            .finish()
    }
}

impl HubRegistry {
    /// Starts the arbiters and returns an empty registry. Inside a running actix system (the
    /// gateway's, or a test's) the arbiters join it; otherwise the registry starts a system of
    /// its own on a dedicated thread. Metric handles are taken from the recorder installed
    /// now.
    pub fn start(config: RegistryConfig, services: Services) -> Result<Self, StartError> {
        config.check().map_err(StartError::Config)?;
        let shards = Shards::start(config.shard_count())?;
        Ok(HubRegistry {
            inner: Arc::new(Inner {
                config,
                map: DashMap::new(),
                shards,
                services,
                closing: AtomicBool::new(false),
                stats: Stats::new(),
            }),
        })
    }

    /// Hands a command to its hub's actor.
    ///
    /// Returns at once: `Ok` when the command is queued (its [`crate::Outcome`] follows
    /// through the sink), [`SubmitError::Saturated`] when the hub holds
    /// [`crate::HubLimits::queue_capacity`] commands, [`SubmitError::SystemSaturated`] when a
    /// global bound is reached, [`SubmitError::Invalid`] when the command's fields disagree
    /// with its bytes.
    pub fn submit(&self, command: Command) -> Result<(), SubmitError> {
        let inner = &self.inner;
        if inner.closing.load(Ordering::Acquire) {
            return Err(SubmitError::ShuttingDown);
        }
        let hub = command.hub;
        let command = command.validate()?;
        let cells = &inner.stats.cells;
        if cells.admitted.fetch_add(1, Ordering::AcqRel) >= inner.config.max_queued_commands {
            cells.admitted.fetch_sub(1, Ordering::AcqRel);
            inner.stats.saturated(Scope::System, Kind::Command);
            return Err(SubmitError::SystemSaturated {
                limit: SystemLimit::QueuedCommands,
            });
        }
        let capacity = inner.config.limits.queue_capacity;
        let sent = inner.with_slot(hub, |slot| {
            let held = slot.counters.admitted.fetch_add(1, Ordering::AcqRel);
            if held >= capacity {
                slot.counters.admitted.fetch_sub(1, Ordering::AcqRel);
                return Err(held);
            }
            slot.addr.do_send(Submit(command));
            Ok(held)
        });
        match sent {
            Ok(Ok(depth)) => {
                inner.stats.admitted(depth);
                Ok(())
            }
            Ok(Err(_)) => {
                cells.admitted.fetch_sub(1, Ordering::AcqRel);
                inner.stats.saturated(Scope::Hub, Kind::Command);
                Err(SubmitError::Saturated { hub })
            }
            Err(limit) => {
                cells.admitted.fetch_sub(1, Ordering::AcqRel);
                inner.stats.saturated(Scope::System, Kind::Command);
                Err(SubmitError::SystemSaturated { limit })
            }
        }
    }

    /// Hands GBCS bytes received from `hub` (a response or an alert) to its actor, activating
    /// it if needed. What the actor does with them (match, authenticate, deliver, or count and
    /// drop) shows in the sink and the stats.
    pub fn deliver_from_hub(&self, hub: Eui, bytes: Vec<u8>) -> Result<(), DeliverError> {
        self.inner.deliver(hub, bytes)
    }

    /// A handle a [`HubLink`] (or anything else) can keep to deliver from hubs.
    pub fn inbound(&self) -> Inbound {
        Inbound::new(Arc::clone(&self.inner))
    }

    /// Applies a change to a hub's device log copy.
    pub async fn update_device_log(
        &self,
        hub: Eui,
        update: DeviceLogUpdate,
    ) -> Result<(), ControlError> {
        let request = self
            .inner
            .control(hub, |addr| addr.send(UpdateDeviceLog(update)))?;
        request.await.map_err(|_| ControlError::Stopped)??;
        Ok(())
    }

    /// A hub's state (activating it if needed): device log copy, queue, counters.
    pub async fn inspect(&self, hub: Eui) -> Result<HubSnapshot, ControlError> {
        let request = self.inner.control(hub, |addr| addr.send(Inspect))?;
        request.await.map_err(|_| ControlError::Stopped)
    }

    /// Activates a hub without giving it work: after a restart, hubs with commands persisted
    /// by [`HubRegistry::shutdown`] resume them once activated.
    pub fn activate(&self, hub: Eui) -> Result<(), SystemLimit> {
        self.inner.with_slot(hub, |_| ())
    }

    /// Whether `hub` has a live actor now.
    pub fn is_active(&self, hub: &Eui) -> bool {
        self.inner.map.contains_key(hub)
    }

    /// Number of live hub actors.
    pub fn active_hubs(&self) -> usize {
        self.inner.map.len()
    }

    /// Number of arbiter threads.
    pub fn shard_count(&self) -> usize {
        self.inner.shards.len()
    }

    /// Exact counters and gauges.
    pub fn stats(&self) -> RegistryStats {
        self.inner.stats.snapshot()
    }

    /// Stops accepting work, passivates every hub (its queue and in-flight commands are
    /// written to the store with everything else) and stops the arbiters. Hubs whose state
    /// cannot be written are retried for about a second and then reported as remaining.
    pub async fn shutdown(&self) -> ShutdownReport {
        let inner = &self.inner;
        inner.closing.store(true, Ordering::Release);
        let mut report = ShutdownReport::default();
        for _ in 0..100 {
            let slots: Vec<Slot> = inner.map.iter().map(|e| e.value().clone()).collect();
            if slots.is_empty() {
                break;
            }
            let mut requests = Vec::with_capacity(slots.len());
            for slot in &slots {
                slot.counters.control.fetch_add(1, Ordering::AcqRel);
                requests.push(slot.addr.send(Passivate));
            }
            for r in requests {
                if let Ok(true) = r.await {
                    report.passivated += 1;
                }
            }
            if inner.map.is_empty() {
                break;
            }
            actix::clock::sleep(Duration::from_millis(10)).await;
        }
        report.remaining = inner.map.len();
        inner.shards.stop();
        report
    }
}

impl Inner {
    /// Runs `f` on the slot of `hub`, activating its actor first if it has none. `f` runs
    /// under the map's shard lock, which is what makes passivation safe: an actor removes
    /// itself only under the same lock, and only when its counters say nothing is on its way.
    pub(crate) fn with_slot<R>(
        self: &Arc<Self>,
        hub: Eui,
        f: impl FnOnce(&Slot) -> R,
    ) -> Result<R, SystemLimit> {
        if let Some(slot) = self.map.get(&hub) {
            return Ok(f(&slot));
        }
        let active = &self.stats.cells.active;
        if active.fetch_add(1, Ordering::AcqRel) >= self.config.max_active_hubs {
            active.fetch_sub(1, Ordering::AcqRel);
            return Err(SystemLimit::ActiveHubs);
        }
        match self.map.entry(hub) {
            Entry::Occupied(e) => {
                active.fetch_sub(1, Ordering::AcqRel);
                Ok(f(e.get()))
            }
            Entry::Vacant(v) => {
                let counters = Arc::new(SlotCounters::default());
                let inner = Arc::clone(self);
                let for_actor = Arc::clone(&counters);
                let addr = HubActor::start_in_arbiter(self.shards.for_hub(&hub), move |ctx| {
                    HubActor::activate(hub, inner, for_actor, ctx)
                });
                self.stats.activated();
                let slot = v.insert(Slot { addr, counters });
                Ok(f(&slot))
            }
        }
    }

    pub(crate) fn deliver(self: &Arc<Self>, hub: Eui, bytes: Vec<u8>) -> Result<(), DeliverError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(DeliverError::ShuttingDown);
        }
        let capacity = self.config.inbound_capacity;
        let sent = self.with_slot(hub, |slot| {
            if slot.counters.inbound.fetch_add(1, Ordering::AcqRel) >= capacity {
                slot.counters.inbound.fetch_sub(1, Ordering::AcqRel);
                return false;
            }
            slot.addr.do_send(crate::actor::FromHub(bytes));
            true
        });
        match sent {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.stats.saturated(Scope::Hub, Kind::Inbound);
                Err(DeliverError::Saturated { hub })
            }
            Err(limit) => {
                self.stats.saturated(Scope::System, Kind::Inbound);
                Err(DeliverError::SystemSaturated { limit })
            }
        }
    }

    fn control<R>(
        self: &Arc<Self>,
        hub: Eui,
        send: impl FnOnce(&Addr<HubActor>) -> R,
    ) -> Result<R, ControlError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(ControlError::ShuttingDown);
        }
        let capacity = self.config.control_capacity;
        let sent = self.with_slot(hub, |slot| {
            if slot.counters.control.fetch_add(1, Ordering::AcqRel) >= capacity {
                slot.counters.control.fetch_sub(1, Ordering::AcqRel);
                return None;
            }
            Some(send(&slot.addr))
        });
        match sent {
            Ok(Some(r)) => Ok(r),
            Ok(None) => {
                self.stats.saturated(Scope::Hub, Kind::Control);
                Err(ControlError::Saturated { hub })
            }
            Err(limit) => {
                self.stats.saturated(Scope::System, Kind::Control);
                Err(ControlError::SystemSaturated { limit })
            }
        }
    }
}
