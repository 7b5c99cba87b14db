//! Registry configuration: a typed tree with documented defaults.

use std::time::Duration;

use crate::hub::HubLimits;

/// How the registry runs its hubs. [`RegistryConfig::default`] documents every default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Arbiter threads hubs are spread over. `0` (the default) means one per available core.
    pub shards: usize,
    /// A hub with no command, no pending message and no activity for this long writes its
    /// state to the store and stops. Default 60 s.
    pub idle_timeout: Duration,
    /// Per-hub bounds: commands held (default 64), in flight per device (default 1) and per
    /// hub (default 8).
    pub limits: HubLimits,
    /// Inbound messages (responses, alerts) waiting for one hub's actor. Default 64.
    pub inbound_capacity: usize,
    /// Control messages (device log updates, inspections) waiting for one hub's actor.
    /// Default 16.
    pub control_capacity: usize,
    /// Hubs active at once across the registry. Default 250 000.
    pub max_active_hubs: usize,
    /// Commands held (queued or in flight) across the registry. Default 1 000 000.
    pub max_queued_commands: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            shards: 0,
            idle_timeout: Duration::from_secs(60),
            limits: HubLimits::default(),
            inbound_capacity: 64,
            control_capacity: 16,
            max_active_hubs: 250_000,
            max_queued_commands: 1_000_000,
        }
    }
}

impl RegistryConfig {
    /// The number of arbiters to start.
    pub fn shard_count(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.idle_timeout.is_zero() {
            return Err("idle_timeout must be above zero");
        }
        if self.limits.queue_capacity == 0
            || self.limits.per_device == 0
            || self.limits.per_hub == 0
        {
            return Err("hub limits must be above zero");
        }
        if self.inbound_capacity == 0 || self.control_capacity == 0 {
            return Err("inbound and control capacities must be above zero");
        }
        if self.max_active_hubs == 0 || self.max_queued_commands == 0 {
            return Err("global limits must be above zero");
        }
        Ok(())
    }
}
