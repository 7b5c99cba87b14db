//! Where passivated hubs keep their state: a byte store keyed by hub EUI.

use dashmap::DashMap;

use crate::Eui;

/// A failure of the backing store (I/O, full disk, closed database).
#[derive(Debug, thiserror::Error)]
#[error("state store: {message}")]
pub struct StateStoreError {
    message: String,
}

impl StateStoreError {
    /// An error with a description of what failed.
    pub fn new(message: impl std::fmt::Display) -> Self {
        StateStoreError {
            message: message.to_string(),
        }
    }
}

/// Persistent state of passivated hubs, keyed by CHF EUI (the gateway backs it with its
/// embedded store).
///
/// Called on the hub's arbiter thread when the hub activates (`get`) and passivates (`put`);
/// implementations should be quick and must be safe to call from several threads at once. A
/// `put` that fails keeps the hub active, so no state is lost; it is retried at the next idle
/// check.
pub trait StateStore: Send + Sync + 'static {
    /// The state last written for `hub`, if any.
    fn get(&self, hub: &Eui) -> Result<Option<Vec<u8>>, StateStoreError>;
    /// Replaces the state of `hub`.
    fn put(&self, hub: &Eui, state: &[u8]) -> Result<(), StateStoreError>;
}

/// An in-memory [`StateStore`], for tests and for runs that need no persistence.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    states: DashMap<Eui, Vec<u8>>,
}

impl MemoryStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of hubs with a stored state.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// True when no state is stored.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Total bytes of stored state.
    pub fn bytes(&self) -> usize {
        self.states.iter().map(|e| e.value().len()).sum()
    }
}

impl StateStore for MemoryStateStore {
    fn get(&self, hub: &Eui) -> Result<Option<Vec<u8>>, StateStoreError> {
        Ok(self.states.get(hub).map(|v| v.value().clone()))
    }

    fn put(&self, hub: &Eui, state: &[u8]) -> Result<(), StateStoreError> {
        self.states.insert(*hub, state.to_vec());
        Ok(())
    }
}
