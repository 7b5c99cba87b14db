//! The Smart Metering Inventory: every device enrolled, or to be enrolled, in a Smart Metering
//! System, its status, and its associations; the rules that govern them; and the non-device
//! services that act on it.
//!
//! - [`model`]: the [`Device`] record and the schema's enumerations.
//! - [`rules`]: the lifecycle, the commissioning rules, enrolment, and the mapping of each
//!   refusal to a DUIS response code. The only place a status changes.
//! - [`db`]: [`Inventory`], the inventory kept in the [`crate::store::Store`] with its
//!   indexes (MPxN, UPRN, premises, associations).
//! - [`view`]: [`InventoryView`], the lookups the rules use.
//! - [`services`]: 8.2 Read Inventory, 8.3 Decommission Device, 8.4 Update Inventory,
//!   8.14.x Communications Hub Status Update, 12.2 Device Pre-notification, and
//!   [`services::handle`] to dispatch a DUIS body.
//! - [`wan_matrix`]: 12.1 Request WAN Matrix and its coverage table.
//! - [`dsp`]: the `DSPInventory` / `DSPWANMatrix` XML the DUIS writer emits.
//! - [`import`]: bulk import of CSV / JSON inventory files; [`csv_lines`] keeps CSV line
//!   numbers right around comments.
//! - [`error`]: the error type, [`InventoryError`].
//!
//! Not here: who may call a service (User Roles, eligibility — the ingress), the device
//! services that commission or join devices (they call [`Inventory::change_status`] and
//! [`Inventory::associate`]), the Certified Products List.

pub mod csv_lines;
pub mod db;
pub mod dsp;
pub mod error;
pub mod import;
pub mod model;
pub mod rules;
pub mod services;
pub mod view;
pub mod wan_matrix;

pub use db::{HubOf, Inventory, InventorySnapshot, InventoryTxn};
pub use error::InventoryError;
pub use model::{Device, DeviceStatus, DeviceType, Eui};
pub use rules::{InventoryService, RuleError, StatusChange};
pub use services::{ServiceOutcome, handle};
pub use view::InventoryView;
pub use wan_matrix::WanMatrix;
