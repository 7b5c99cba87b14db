//! The Communications Hub actor: a thin actix driver around one [`HubCore`].
//!
//! Each handler feeds the core (`handle_*`), then [`HubActor::drive`] drains what the core
//! wants done: commands to the link, outcomes and alerts to the sink, counters to the stats,
//! and one timer armed at the core's next deadline. A second timer checks for idleness and
//! passivates the actor.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use actix::{Actor, AsyncContext, Context, Handler, Message, MessageResult, SpawnHandle};
use hubgate_protocol::hex;

use crate::Eui;
use crate::command::ValidCommand;
use crate::device_log::{DeviceLogError, DeviceLogUpdate};
use crate::hub::{Event, HubCore, Stage};
use crate::link::{Inbound, Outbound};
use crate::outcome::OutcomeResult;
use crate::registry::{HubSnapshot, Inner, SlotCounters};
use crate::state::HubState;

/// A command for the hub.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Submit(pub(crate) ValidCommand);

/// Bytes received from the hub.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FromHub(pub(crate) Vec<u8>);

/// A device log change.
#[derive(Message)]
#[rtype(result = "Result<(), DeviceLogError>")]
pub(crate) struct UpdateDeviceLog(pub(crate) DeviceLogUpdate);

/// A request for a [`HubSnapshot`].
#[derive(Message)]
#[rtype(result = "HubSnapshot")]
pub(crate) struct Inspect;

/// Write the state and stop, whatever is held (shutdown).
#[derive(Message)]
#[rtype(result = "bool")]
pub(crate) struct Passivate;

/// The actor of one Communications Hub.
pub(crate) struct HubActor {
    core: HubCore,
    inner: Arc<Inner>,
    inbound: Inbound,
    slot: Arc<SlotCounters>,
    last_activity: Instant,
    deadline_timer: Option<(Instant, SpawnHandle)>,
    stored: Stored,
}

/// Whether the hub's stored state has been read into the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// Not yet (the store failed at activation): it must be read and merged before this
    /// actor may write its own state over it.
    Unread,
    /// Read (or there was none).
    Merged,
}

impl HubActor {
    /// Builds the actor on its arbiter thread, restoring the hub's stored state.
    pub(crate) fn activate(
        hub: Eui,
        inner: Arc<Inner>,
        slot: Arc<SlotCounters>,
        ctx: &mut Context<Self>,
    ) -> Self {
        let c = &inner.config;
        // Every message is counted (and bounded) by the registry before it is sent.
        ctx.set_mailbox_capacity(
            c.limits.queue_capacity + c.inbound_capacity + c.control_capacity + 1,
        );
        let mut actor = HubActor {
            core: HubCore::new(hub, c.limits),
            inbound: Inbound::new(Arc::clone(&inner)),
            inner,
            slot,
            last_activity: Instant::now(),
            deadline_timer: None,
            stored: Stored::Unread,
        };
        actor.read_stored_state();
        actor
    }

    /// Reads the stored state, if not read yet, and merges it into the core. False when the
    /// store cannot be read.
    fn read_stored_state(&mut self) -> bool {
        if self.stored == Stored::Merged {
            return true;
        }
        let hub = self.core.hub();
        let stored = match self.inner.services.store.get(&hub) {
            Ok(s) => s,
            Err(e) => {
                self.inner.stats.store_failure("get");
                tracing::warn!(hub = %hex::eui(&hub), "cannot read hub state: {e:#}");
                return false;
            }
        };
        self.stored = Stored::Merged;
        let Some(bytes) = stored else {
            return true;
        };
        let state = match HubState::decode(&bytes) {
            Ok(s) if s.hub == hub => s,
            Ok(_) | Err(_) => {
                self.inner.stats.store_failure("decode");
                tracing::error!(hub = %hex::eui(&hub), "stored hub state is unreadable; starting afresh");
                return true;
            }
        };
        // A fresh core contributes nothing; one that ran while the store could not be read
        // keeps its own work alongside the stored one.
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut merged = self.core.snapshot(now, wall);
        merged.absorb(state);
        let (q0, f0) = (self.core.queued(), self.core.in_flight());
        let (core, restored) = HubCore::restore(merged, self.inner.config.limits, now, wall);
        self.core = core;
        if restored.invalid > 0 {
            self.inner.stats.store_failure("decode");
        }
        let dq = self.core.queued().saturating_sub(q0);
        let df = self.core.in_flight().saturating_sub(f0);
        if dq + df > 0 {
            self.slot.admitted.fetch_add(dq + df, Ordering::AcqRel);
            self.inner.stats.held(dq, df, true);
        }
        true
    }

    /// Hands out everything the core produced and re-arms the deadline timer.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.core.poll_transmit() {
                progressed = true;
                self.inner.stats.dispatched();
                let out = Outbound {
                    hub: self.core.hub(),
                    device: t.device,
                    bytes: t.bytes,
                };
                if let Err(e) = self.inner.services.link.send(out, &self.inbound) {
                    self.inner.stats.link_failure();
                    tracing::debug!(hub = %hex::eui(&self.core.hub()), "link refused a command: {e}");
                    self.core.handle_send_failed(Instant::now(), t.id, &e);
                }
            }
            while let Some(event) = self.core.poll_event() {
                progressed = true;
                self.emit(event);
            }
            if !progressed {
                break;
            }
        }
        self.arm_deadline_timer(ctx);
    }

    fn emit(&mut self, event: Event) {
        let stats = &self.inner.stats;
        match event {
            Event::Finished { outcome, stage } => {
                self.slot.admitted.fetch_sub(1, Ordering::AcqRel);
                stats.finished(outcome.result.label(), stage == Stage::InFlight);
                if let OutcomeResult::Response { round_trip, .. } = &outcome.result {
                    stats.round_trip(round_trip.as_secs_f64());
                }
                self.inner.services.sink.outcome(outcome);
            }
            Event::Alert(alert) => {
                stats.alert();
                self.inner.services.sink.alert(alert);
            }
            Event::Rejected(f) => {
                stats.rejected(f);
                tracing::debug!(hub = %hex::eui(&self.core.hub()), "inbound message rejected: {f}");
            }
            Event::Dropped(r) => stats.dropped(r),
        }
    }

    fn arm_deadline_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(next) = self.core.poll_timeout() else {
            return;
        };
        if let Some((at, _)) = &self.deadline_timer
            && *at <= next
        {
            // An earlier (or the same) wake-up is already armed.
            return;
        }
        if let Some((_, h)) = self.deadline_timer.take() {
            ctx.cancel_future(h);
        }
        let delay = next.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(delay, |act, ctx| {
            act.deadline_timer = None;
            act.core.handle_timeout(Instant::now());
            act.drive(ctx);
        });
        self.deadline_timer = Some((next, handle));
    }

    fn arm_idle_check(&mut self, ctx: &mut Context<Self>) {
        let timeout = self.inner.config.idle_timeout;
        let idle_for = self.last_activity.elapsed();
        let wait = timeout.checked_sub(idle_for).unwrap_or(timeout);
        ctx.run_later(wait, |act, ctx| act.idle_check(ctx));
    }

    fn idle_check(&mut self, ctx: &mut Context<Self>) {
        if self.stored == Stored::Unread && self.read_stored_state() {
            // Stored commands may have come back.
            self.core.handle_timeout(Instant::now());
            self.drive(ctx);
        }
        if self.last_activity.elapsed() >= self.inner.config.idle_timeout
            && self.passivate(ctx, false)
        {
            return;
        }
        self.arm_idle_check(ctx);
    }

    /// Writes the state and, if nothing is on its way to this actor, removes it from the
    /// registry and stops it. With `shutdown`, held commands are written too; otherwise the
    /// hub must hold none.
    fn passivate(&mut self, ctx: &mut Context<Self>, shutdown: bool) -> bool {
        if !self.read_stored_state() {
            return false;
        }
        let held = self.core.queued() + self.core.in_flight();
        if !shutdown && !self.core.is_idle() {
            return false;
        }
        if !self.slot.quiet(held) {
            return false;
        }
        let hub = self.core.hub();
        let state = self.core.snapshot(Instant::now(), SystemTime::now());
        if let Err(e) = self.inner.services.store.put(&hub, &state.encode()) {
            self.inner.stats.store_failure("put");
            tracing::warn!(hub = %hex::eui(&hub), "cannot write hub state, staying active: {e:#}");
            return false;
        }
        let me = &self.slot;
        let removed = self
            .inner
            .map
            .remove_if(&hub, |_, s| Arc::ptr_eq(&s.counters, me) && me.quiet(held));
        if removed.is_none() {
            // Work arrived after the checks; the state written is superseded later.
            return false;
        }
        if held > 0 {
            self.inner
                .stats
                .held(self.core.queued(), self.core.in_flight(), false);
        }
        self.inner.stats.passivated(shutdown);
        if let Some((_, h)) = self.deadline_timer.take() {
            ctx.cancel_future(h);
        }
        actix::ActorContext::stop(ctx);
        true
    }

    fn touch(&mut self) {
        self.last_activity = Instant::now();
    }
}

impl Actor for HubActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Restored commands whose deadline passed while passivated end now.
        self.core.handle_timeout(Instant::now());
        self.drive(ctx);
        self.arm_idle_check(ctx);
    }
}

impl Handler<Submit> for HubActor {
    type Result = ();

    fn handle(&mut self, msg: Submit, ctx: &mut Self::Context) {
        self.touch();
        self.core.handle_submit(Instant::now(), msg.0);
        self.drive(ctx);
    }
}

impl Handler<FromHub> for HubActor {
    type Result = ();

    fn handle(&mut self, msg: FromHub, ctx: &mut Self::Context) {
        self.slot.inbound.fetch_sub(1, Ordering::AcqRel);
        self.touch();
        self.core
            .handle_inbound(Instant::now(), msg.0, &self.inner.services.verifier);
        self.drive(ctx);
    }
}

impl Handler<UpdateDeviceLog> for HubActor {
    type Result = Result<(), DeviceLogError>;

    fn handle(&mut self, msg: UpdateDeviceLog, _ctx: &mut Self::Context) -> Self::Result {
        self.slot.control.fetch_sub(1, Ordering::AcqRel);
        self.touch();
        self.core.apply_device_log(msg.0)
    }
}

impl Handler<Inspect> for HubActor {
    type Result = MessageResult<Inspect>;

    fn handle(&mut self, _msg: Inspect, _ctx: &mut Self::Context) -> Self::Result {
        self.slot.control.fetch_sub(1, Ordering::AcqRel);
        self.touch();
        MessageResult(HubSnapshot {
            hub: self.core.hub(),
            device_log: self.core.device_log().entries().to_vec(),
            queued: self.core.queued(),
            in_flight: self.core.in_flight(),
            counters: self.core.counters(),
        })
    }
}

impl Handler<Passivate> for HubActor {
    type Result = bool;

    fn handle(&mut self, _msg: Passivate, ctx: &mut Self::Context) -> bool {
        self.slot.control.fetch_sub(1, Ordering::AcqRel);
        self.passivate(ctx, true)
    }
}
