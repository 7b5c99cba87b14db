//! The HubGate gateway: the DCC User Gateway server and its state.
//!
//! - [`config`]: the typed configuration tree, its defaults and `HUBGATE_*` overrides.
//! - [`pki`]: the local test PKI created on first start (an SMKI-like CA, demo Users and the
//!   DSP XML-signing key) and loading of DCC Boxed-style key folders.
//! - [`users`]: DCC Users (User ID, roles, status, certificates).
//! - [`store`]: the embedded, crash-safe store; [`group_commit`] shares its fsyncs among
//!   concurrent writes.
//! - [`inventory`]: the Smart Metering Inventory, its lifecycle rules and the non-device
//!   services that act on it.
//! - [`delivery`]: the durable outbox that delivers responses and alerts to Users, and the
//!   pull endpoint for what could not be delivered.
//! - [`performance`]: the monthly SEC Code Performance Measures tally and its report.

pub mod alerts;
pub mod anomaly;
pub mod clock;
pub mod config;
pub mod cos;
pub mod delivery;
pub mod emulation;
pub mod group_commit;
pub mod ingress;
pub mod inventory;
pub mod metric_name;
pub mod performance;
pub mod pki;
pub mod registration;
pub mod routing;
pub mod sequencing;
pub mod smwan;
pub mod store;
pub mod users;
pub mod verifier;
