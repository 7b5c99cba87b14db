//! A GBCS command on its way to a device through its Communications Hub.

use std::time::Instant;

use hubgate_protocol::gbcs::{self, Cra, GbcsError};
use hubgate_protocol::hex;

use crate::Eui;

/// A command for one device behind one Communications Hub, as the gateway hands it over.
///
/// `counter` and `message_code` are the GBCS originator counter and message code of `bytes`;
/// the device's response carries the same two values, which is how it is matched back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The gateway's reference for the request, returned unchanged in the [`crate::Outcome`].
    pub request_ref: String,
    /// EUI-64 of the Communications Hub Function the device is reached through.
    pub hub: Eui,
    /// EUI-64 of the target device (the GBCS recipient).
    pub device: Eui,
    /// GBCS message code (use case) of the command.
    pub message_code: u16,
    /// GBCS originator counter of the command.
    pub counter: u64,
    /// The complete GBCS command as it goes on the wire (`DD…` or `DF…`).
    pub bytes: Vec<u8>,
    /// When the command must have its response; after that it ends with `E20` (never sent) or
    /// `E21` (sent, no response).
    pub deadline: Instant,
}

/// Why a [`Command`] was not accepted: its fields disagree with its bytes. This is the
/// caller's fault, never the device's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCommand {
    /// The bytes are not a GBCS message.
    #[error("not a GBCS message: {0}")]
    Frame(#[from] GbcsError),
    /// The bytes are a response or an alert.
    #[error("not a command: the CRA flag says {0}")]
    NotACommand(&'static str),
    /// The originator counter in the bytes differs from [`Command::counter`].
    #[error("counter {declared} given, the command carries {found}")]
    Counter {
        /// The value in the [`Command`].
        declared: u64,
        /// The value in the bytes.
        found: u64,
    },
    /// The message code in the bytes differs from [`Command::message_code`].
    #[error("message code {declared:04X} given, the command carries {found:04X}")]
    MessageCode {
        /// The value in the [`Command`].
        declared: u16,
        /// The value in the bytes.
        found: u16,
    },
    /// The recipient in the bytes is not [`Command::device`].
    #[error("device {declared} given, the command is addressed to {found}")]
    Recipient {
        /// The device named in the [`Command`].
        declared: String,
        /// The recipient in the bytes.
        found: String,
    },
    /// The request reference is longer than [`MAX_REQUEST_REF_LEN`] bytes.
    #[error("request reference of {0} bytes (at most {MAX_REQUEST_REF_LEN})")]
    RequestRef(usize),
}

/// Longest accepted [`Command::request_ref`], in bytes (a DUIS RequestID is at most about 60).
pub const MAX_REQUEST_REF_LEN: usize = 256;

/// A [`Command`] whose bytes were parsed and agree with its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCommand {
    command: Command,
    originator: Eui,
}

impl Command {
    /// Parses the bytes and checks that they are a command with the declared counter, message
    /// code and recipient. Costs one zero-copy parse, no cryptography.
    pub fn validate(self) -> Result<ValidCommand, InvalidCommand> {
        if self.request_ref.len() > MAX_REQUEST_REF_LEN {
            return Err(InvalidCommand::RequestRef(self.request_ref.len()));
        }
        let msg = gbcs::parse(&self.bytes)?;
        let h = &msg.header;
        if h.cra != Cra::Command {
            return Err(InvalidCommand::NotACommand(h.cra.name()));
        }
        if h.counter != self.counter {
            return Err(InvalidCommand::Counter {
                declared: self.counter,
                found: h.counter,
            });
        }
        if h.other_info.message_code != self.message_code {
            return Err(InvalidCommand::MessageCode {
                declared: self.message_code,
                found: h.other_info.message_code,
            });
        }
        if h.recipient != self.device {
            return Err(InvalidCommand::Recipient {
                declared: hex::eui(&self.device),
                found: hex::eui(&h.recipient),
            });
        }
        let originator = h.originator;
        Ok(ValidCommand {
            command: self,
            originator,
        })
    }
}

impl ValidCommand {
    /// The command.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// The GBCS originator of the command: the party the device's response is addressed to.
    pub fn originator(&self) -> Eui {
        self.originator
    }

    /// The command, giving up the check.
    pub fn into_command(self) -> Command {
        self.command
    }
}
