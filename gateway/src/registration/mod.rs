//! Registration Data: who is registered for each metering point, and the H4 check built on it.
//!
//! Registration Data Providers (the electricity and gas registration systems, SEC Section E)
//! tell the DCC, for each MPAN and MPRN, who the registered supplier(s), the network operator
//! and the supplier's agent are, each from an effective date. Before a **non-critical**
//! Service Request is accepted, the gateway checks that the sending User holds the right
//! relationship to the device's MPxN at the execution date (failure: DUIS response `E4`).
//! Critical requests skip this check: the device itself holds the credentials of the only
//! party it will obey.
//!
//! # Which User Role needs which registration
//!
//! | User Role | passes when the User ID is, on the date checked, … | fuel |
//! |---|---|---|
//! | `IS` import supplier | the registered import supplier (`import_supplier`) of the MPAN | electricity |
//! | `ES` export supplier | the registered export supplier (`export_supplier`) of the MPAN | electricity |
//! | `GS` gas supplier | the registered supplier (`gas_supplier`) of the MPRN | gas |
//! | `ED` electricity distributor | the network operator (`electricity_distributor`) of the MPAN | electricity |
//! | `GT` gas transporter | the network operator (`gas_transporter`) of the MPRN | gas |
//! | `RSA` registered supplier agent | the supplier agent (`supplier_agent`) of the MPxN | either |
//! | `OU` other user | — no registration relationship is needed; always passes | either |
//!
//! A role whose fuel differs from the MPxN's (an MPAN is 13 digits, an MPRN 6 to 10) never
//! passes. When a User offers several roles, one passing role is enough. Change of Supplier
//! (SR 6.23) uses [`RegistrationData::will_be_supplier`]: the gaining supplier must be, or
//! be about to become, the registered import supplier (MPAN) or gas supplier (MPRN) on the
//! execution date.
//!
//! # Dates
//!
//! Both `effective_from` and `effective_to` are **inclusive**: a record covers every day
//! from its first to its last day. On a change of supplier the losing supplier's record
//! ends the day before the gaining supplier's starts, so on the change-over day only the
//! gaining supplier passes, and on the day before only the losing one. An absent
//! `effective_to` is open-ended. For each MPxN and role, the record in force on a date is
//! the one with the latest `effective_from` not after that date, if it has not ended: a new
//! registration ends the previous one even when the previous one was left open. Dates are GB
//! calendar days; [`Date::gb_from_unix_ms`] turns a DUIS execution date-time into one.
//!
//! # Loading and refreshing
//!
//! [`RegistrationData::ingest`] reads a CSV or JSON body ([`Format`]), rejects malformed rows
//! with their line number and a reason naming the field, applies the valid rows as a full
//! refresh of the fuel(s) the body carries and returns a [`RefreshReport`] of what was added, removed and modified. The new
//! data is swapped in whole: a reader sees the data before or after a refresh, never a mix.
//! [`RegistrationData::apply`] applies a batch of [`Change`]s the same way. The endpoint
//! that receives pushes authenticates the provider with a [`BearerToken`].
//!
//! The index lives in memory. [`RegistrationData::records`] and [`RefreshReport::changes`]
//! give what a store needs; [`persist`] keeps them in a redb table of its own.
//!
//! Not done here: scoping a push to the sending provider's own metering points (a refresh is
//! scoped by fuel only, so two electricity providers would each replace the other's MPANs),
//! incremental pushes over the endpoint, and metrics.

mod auth;
mod authorise;
mod date;
mod index;
mod ingest;
mod mpxn;
pub mod persist;
mod record;
mod report;

pub use auth::{AuthError, BearerToken};
pub use authorise::{NotRegistered, Reason};
pub use date::{Date, DateError};
pub use index::{Limits, LoadError, RegistrationData, Snapshot};
pub use ingest::{Format, IngestError, Parsed, RowError, RowProblem, parse};
pub use mpxn::{Fuel, Mpxn, MpxnError};
pub use record::{Field, PartyRole, RecordError, RecordKey, Registration, TextRecord};
pub use report::{Change, Modified, RefreshReport, RefreshSummary};
