//! Communications Hub actors: one actix actor per Communications Hub Function (CHF), holding
//! everything the DCC knows about that hub while it is busy, and nothing while it is not.
//!
//! The gateway hands each device command to [`HubRegistry::submit`]; the hub's actor queues
//! it, sends it to the device through a [`HubLink`] when the device is free, matches the
//! device's response, checks its MAC or signature and hands the [`Outcome`] (the response,
//! or `E20`/`E21`) to an [`OutcomeSink`]. Alerts from devices go to the same sink. This crate
//! performs no HTTP and no DUIS: it takes and returns GBCS bytes.
//!
//! # Threads and arbiters
//!
//! Hubs are sharded over a fixed set of actix arbiters ([`RegistryConfig::shards`], one per
//! core by default). An arbiter is one OS thread running a single-threaded event loop; a hub's
//! arbiter is chosen by hashing its EUI, so a hub's actor always runs on the same thread and
//! its state needs no lock. Responses are authenticated on that thread too, so MAC and
//! signature checks spread over all cores. When [`HubRegistry::start`] is called inside a
//! running actix system the arbiters join it; otherwise the registry starts a system of its
//! own on a dedicated thread.
//!
//! # Registry
//!
//! [`HubRegistry`] maps CHF EUIs to live actors in a sharded [`dashmap::DashMap`]. A lookup
//! takes one shard's read lock for the time it takes to bump an atomic counter and push the
//! message into the actor's mailbox; activation takes the shard's write lock for the time it
//! takes to create a mailbox. No lock is held while an actor runs.
//!
//! # Lifecycle
//!
//! - **Activation**: the first message for a hub (a command, bytes from the hub, a control
//!   call) creates its actor on its arbiter, which reads the hub's state from the
//!   [`StateStore`]: the HAN device log copy, alert counters, running totals, and any commands
//!   written by a shutdown.
//! - **Active**: the actor wraps one [`HubCore`], a state machine with no I/O. Handlers feed
//!   it (`handle_*`), then drain what it wants sent and delivered (`poll_*`), and arm one timer
//!   at its earliest deadline.
//! - **Passivation**: after [`RegistryConfig::idle_timeout`] with no work held, the actor
//!   writes its state to the store, removes itself from the registry under the shard lock
//!   (only if no message is on its way, which the registry's counters tell exactly) and stops.
//!   The next message activates a new actor that reads the state back. A failed write keeps
//!   the actor alive, so no state is lost. Memory therefore follows the number of busy hubs,
//!   not the number of hubs.
//! - **Shutdown**: [`HubRegistry::shutdown`] passivates every hub, including queued and
//!   in-flight commands, which resume when the hub is activated again.
//!
//! # Back-pressure
//!
//! Everything is bounded, and every bound is checked synchronously before anything is
//! queued, so callers get an error at once instead of memory growing:
//! - per hub: commands held (queued + in flight, [`HubLimits::queue_capacity`]) →
//!   [`SubmitError::Saturated`]; inbound and control messages waiting →
//!   [`DeliverError::Saturated`] / [`ControlError::Saturated`];
//! - per device and per hub: commands in flight ([`HubLimits::per_device`], 1 by default, as
//!   GBCS devices process one command at a time; [`HubLimits::per_hub`]); the rest wait in
//!   the hub's queue in submission order per device;
//! - globally: active hubs ([`RegistryConfig::max_active_hubs`]) and commands held
//!   ([`RegistryConfig::max_queued_commands`]) → [`SubmitError::SystemSaturated`].
//!
//! # Responses, timeouts and authentication
//!
//! A response is matched to the in-flight command with the same originator counter and
//! message code, sent to the response's originator by its recipient; one that matches nothing
//! is counted and dropped before any cryptography. A matching response is delivered only if
//! its MAC or device signature verifies ([`Verifier`], on the protocol crate and a key store
//! handed in); a failing one is counted and dropped and the command keeps waiting. At its
//! deadline a command still queued ends with `E20` (unable to communicate with the device)
//! and one sent ends with `E21` (no response from the device); a command the link refuses
//! ends with `E20` at once.
//!
//! Metrics are named in [`metric_name`]; [`HubRegistry::stats`] gives the same values as a
//! plain struct.

pub mod command;
pub mod config;
pub mod device_log;
pub mod error;
pub mod hub;
pub mod link;
pub mod metric_name;
pub mod outcome;
pub mod registry;
pub mod state;
pub mod state_store;
pub mod stats;
pub mod testkit;
pub mod verify;

mod actor;
mod shards;

pub use hubgate_protocol as protocol;

pub use command::{Command, InvalidCommand, ValidCommand};
pub use config::RegistryConfig;
pub use device_log::{DeviceLog, DeviceLogEntry, DeviceLogUpdate, DeviceType};
pub use error::{ControlError, DeliverError, StartError, SubmitError, SystemLimit};
pub use hub::{HubCore, HubLimits};
pub use link::{HanEndpoint, HubLink, InProcessLink, Inbound, LinkError, Outbound, Replier};
pub use outcome::{DeviceAlert, Failure, Outcome, OutcomeResult, OutcomeSink};
pub use registry::{HubRegistry, HubSnapshot, Services, ShutdownReport};
pub use state::{HubCounters, HubState};
pub use state_store::{MemoryStateStore, StateStore, StateStoreError};
pub use stats::RegistryStats;
pub use verify::{AuthFailure, Checked, Unverifiable, Verifier};

/// An EUI-64: the identity of a hub, a device or a party.
pub type Eui = [u8; 8];
