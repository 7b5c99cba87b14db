//! [`InventoryError`]: the peer's fault ([`RuleError`], answered with a DUIS response code)
//! kept apart from ours (the store, a corrupt record).

use hubgate_protocol::duis::model::ResponseCode;

use crate::inventory::rules::{InventoryService, RuleError};
use crate::store::StoreError;

/// Why an inventory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The request breaks a rule of the inventory: the requester's fault, answered with
    /// [`RuleError::response_code`].
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// The store failed: our fault.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record cannot be read back: our fault.
    #[error("inventory record {key} is corrupt: {reason}")]
    Corrupt {
        /// The record's key, as text.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl InventoryError {
    /// True when the requester caused it ([`InventoryError::Rule`]).
    pub fn is_peer_fault(&self) -> bool {
        matches!(self, InventoryError::Rule(_))
    }

    /// The DUIS response code for a [`InventoryError::Rule`] in `service`; `None` for our own
    /// faults (the caller answers those as internal failures).
    pub fn response_code(&self, service: InventoryService) -> Option<ResponseCode> {
        match self {
            InventoryError::Rule(r) => Some(r.response_code(service)),
            InventoryError::Store(_) | InventoryError::Corrupt { .. } => None,
        }
    }
}

impl From<redb::TableError> for InventoryError {
    fn from(e: redb::TableError) -> Self {
        InventoryError::Store(e.into())
    }
}

impl From<redb::StorageError> for InventoryError {
    fn from(e: redb::StorageError) -> Self {
        InventoryError::Store(e.into())
    }
}
