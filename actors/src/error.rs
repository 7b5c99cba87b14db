//! Errors returned synchronously by the registry.

use hubgate_protocol::hex;

use crate::Eui;
use crate::command::InvalidCommand;
use crate::device_log::DeviceLogError;

/// Which global bound was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemLimit {
    /// [`crate::RegistryConfig::max_active_hubs`]: no room to activate one more hub.
    ActiveHubs,
    /// [`crate::RegistryConfig::max_queued_commands`]: no room for one more command.
    QueuedCommands,
}

impl std::fmt::Display for SystemLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SystemLimit::ActiveHubs => "active hubs",
            SystemLimit::QueuedCommands => "queued commands",
        })
    }
}

/// Why [`crate::HubRegistry::submit`] did not accept a command. Nothing was queued; the
/// gateway answers the request with a DUIS error instead of waiting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The hub already holds as many commands as its queue allows.
    #[error("hub {} saturated", hex::eui(.hub))]
    Saturated {
        /// The hub.
        hub: Eui,
    },
    /// A gateway-wide bound was reached.
    #[error("system saturated: {limit} at limit")]
    SystemSaturated {
        /// Which bound.
        limit: SystemLimit,
    },
    /// The command's fields disagree with its bytes (the caller's fault).
    #[error("invalid command: {0}")]
    Invalid(#[from] InvalidCommand),
    /// The registry is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

impl SubmitError {
    /// True for a lack of capacity (worth retrying later), false otherwise.
    pub fn is_saturation(&self) -> bool {
        matches!(
            self,
            SubmitError::Saturated { .. } | SubmitError::SystemSaturated { .. }
        )
    }
}

/// Why [`crate::HubRegistry::deliver_from_hub`] dropped inbound bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    /// The hub has as many inbound messages waiting as it allows.
    #[error("hub {} inbound saturated", hex::eui(.hub))]
    Saturated {
        /// The hub.
        hub: Eui,
    },
    /// A gateway-wide bound was reached (the hub could not be activated).
    #[error("system saturated: {limit} at limit")]
    SystemSaturated {
        /// Which bound.
        limit: SystemLimit,
    },
    /// The registry is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

/// Why a control call (device log, inspection) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The hub has as many control messages waiting as it allows.
    #[error("hub {} saturated", hex::eui(.hub))]
    Saturated {
        /// The hub.
        hub: Eui,
    },
    /// A gateway-wide bound was reached (the hub could not be activated).
    #[error("system saturated: {limit} at limit")]
    SystemSaturated {
        /// Which bound.
        limit: SystemLimit,
    },
    /// The device log refused the update.
    #[error(transparent)]
    DeviceLog(#[from] DeviceLogError),
    /// The hub actor stopped before answering.
    #[error("hub actor stopped before answering")]
    Stopped,
    /// The registry is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

/// Why the registry could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An arbiter thread (or the registry's own actix system thread) could not be started.
    #[error("cannot start arbiter threads: {0}")]
    Threads(#[from] std::io::Error),
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}
