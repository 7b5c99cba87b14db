//! The HubGate gateway: the DCC User Gateway server and its state.
//!
//! - [`config`]: the typed configuration tree, its defaults and `HUBGATE_*` overrides.
//! - [`pki`]: the local test PKI created on first start (an SMKI-like CA, demo Users and the
//!   DSP XML-signing key) and loading of DCC Boxed-style key folders.
//! - [`users`]: DCC Users (User ID, roles, status, certificates).
//! - [`store`]: the embedded, crash-safe store; [`group_commit`] shares its fsyncs among
//!   concurrent writes; [`store_health`] refuses new requests while the store cannot write
//!   (disk full) and brings it back when it can.
//! - [`inventory`]: the Smart Metering Inventory, its lifecycle rules and the non-device
//!   services that act on it.
//! - [`journal`]: the write-ahead journal of acknowledged device requests, replayed after a
//!   crash by [`routing::Router::recover`].
//! - [`delivery`]: the durable outbox that delivers responses and alerts to Users, and the
//!   pull endpoint for what could not be delivered.
//! - [`schedules`]: DSP schedules (SR 5.1–5.3), their runner and their removal.
//! - [`cancellation`]: cancelling future-dated requests (an `ExecutionDateTime` in the year
//!   3000 or later), held by the gateway (DSP pattern) or by the device (Device pattern).
//! - [`performance`]: the monthly SEC Code Performance Measures tally and its report.
//! - [`demand`]: Service Requests per User and month, the Annex 5 Table 5.3 Monthly Service
//!   Metrics, Users' forecasts and the 110 % report.

pub mod alerts;
pub mod anomaly;
pub mod cancellation;
pub mod clock;
pub mod config;
pub mod cos;
pub mod delivery;
pub mod demand;
pub mod emulation;
pub mod firmware;
pub mod flusher;
pub mod group_commit;
pub mod ingress;
pub mod inventory;
pub mod journal;
pub mod metric_name;
pub mod performance;
pub mod pki;
pub mod registration;
pub mod routing;
pub mod schedules;
pub mod sequencing;
pub mod smwan;
pub mod store;
pub mod store_health;
pub mod users;
pub mod verifier;

/// `println!` that ignores a standard output nobody reads any more: the gateway's work never
/// depends on its start-up lines being read, and a closed pipe (the process that started it
/// went away) must not make it panic, least of all in the middle of a graceful stop.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
