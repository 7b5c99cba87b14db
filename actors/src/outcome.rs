//! What hub actors hand back to the gateway: the outcome of each command, and device alerts.

use std::time::Duration;

use crate::Eui;

/// How a command ended. Exactly one outcome is produced for every accepted command (a hub
/// passivated by [`crate::HubRegistry::shutdown`] produces it after its reactivation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// [`crate::Command::request_ref`].
    pub request_ref: String,
    /// The Communications Hub.
    pub hub: Eui,
    /// The device the command was for.
    pub device: Eui,
    /// GBCS message code of the command.
    pub message_code: u16,
    /// GBCS originator counter of the command.
    pub counter: u64,
    /// The response, or why there is none.
    pub result: OutcomeResult,
}

/// The device's response or the failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeResult {
    /// The device's response, authenticated (MAC and/or signature) and matched by counter,
    /// message code and parties. The bytes are the complete GBCS message as received.
    Response {
        /// The GBCS response.
        bytes: Vec<u8>,
        /// From handing the command to the link to receiving the response.
        round_trip: Duration,
    },
    /// No response: see [`Failure::response_code`].
    Failed(Failure),
}

/// Why a command ended without a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The link refused the command (hub unreachable, transport down): `E20`.
    Unreachable(String),
    /// The deadline passed before the command could be sent (the device was busy with
    /// earlier commands): `E20`.
    NotSent,
    /// The command was sent and no authentic matching response came before the deadline:
    /// `E21`.
    NoResponse,
}

impl Failure {
    /// The DUIS response code: `E20` "unable to communicate with the device" when the command
    /// never reached the device, `E21` "no response from the device" when it did.
    pub fn response_code(&self) -> &'static str {
        match self {
            Failure::Unreachable(_) | Failure::NotSent => "E20",
            Failure::NoResponse => "E21",
        }
    }
}

impl OutcomeResult {
    /// `response`, or the DUIS code of the failure (the metric label).
    pub fn label(&self) -> &'static str {
        match self {
            OutcomeResult::Response { .. } => "response",
            OutcomeResult::Failed(f) => f.response_code(),
        }
    }
}

/// An alert from a device behind a hub (GBCS CRA flag 3): authenticated, or passed on for
/// its recipient to check (see [`DeviceAlert::verified`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAlert {
    /// The Communications Hub it came through.
    pub hub: Eui,
    /// The device that raised it (GBCS originator).
    pub device: Eui,
    /// The party it is addressed to (GBCS recipient): a User or the ACB.
    pub recipient: Eui,
    /// The device's originator counter.
    pub counter: u64,
    /// GBCS message code (e.g. `1000`/`1001` generic alerts, `00CC` future-dated outcome).
    pub message_code: u16,
    /// The complete GBCS alert as received.
    pub bytes: Vec<u8>,
    /// Whether its protection verified with keys the gateway holds; `false` when it was
    /// passed on unchecked for its recipient to check ([`crate::Unverifiable::Forward`]).
    pub verified: bool,
}

/// Where outcomes and alerts go: the gateway's durable delivery to Users.
///
/// Called on the hub's arbiter thread, so implementations must return quickly (hand the value
/// to a queue or a durable log) and must not call back into the registry synchronously in a
/// way that waits for a hub actor.
pub trait OutcomeSink: Send + Sync + 'static {
    /// A command finished.
    fn outcome(&self, outcome: Outcome);
    /// A device raised an alert.
    fn alert(&self, alert: DeviceAlert);
}
