//! Why a device did not answer a command.

use hubgate_protocol::gbcs::GbcsError;

/// A command the device refused, or a failure on our side.
///
/// Every variant except [`DeviceError::Internal`] describes the *sender's* fault. In all
/// cases the command was not executed and the device sends nothing back (GBCS has a device
/// discard a command that fails parsing, addressing, MAC, signature or counter checks); the
/// refusal is recorded in the device's security log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The bytes are not a GBCS message.
    #[error("not a GBCS message: {0}")]
    Malformed(#[from] GbcsError),
    /// A response or alert was sent to the device.
    #[error("not a command (CRA flag {0})")]
    NotACommand(u8),
    /// The grouping header names another recipient.
    #[error("addressed to {to}, not to this device {me}")]
    NotAddressedToMe {
        /// The recipient in the header.
        to: String,
        /// This device.
        me: String,
    },
    /// The command is neither MAC-wrapped nor signed, so nothing authenticates it.
    #[error("unauthenticated command: no MAC wrapper and no signature")]
    Unauthenticated,
    /// The device holds no credential for the party that must have protected the command.
    #[error("no {usage} credential held for remote party {party}")]
    UnknownRemoteParty {
        /// The party's EUI.
        party: String,
        /// `ds` or `ka`.
        usage: &'static str,
    },
    /// The MAC does not verify.
    #[error("MAC does not verify")]
    MacInvalid,
    /// The signature does not verify with the originator's credential.
    #[error("signature does not verify with the credential held for {0}")]
    SignatureInvalid(String),
    /// A critical command arrived without a signature.
    #[error("critical use case {0:#06x} requires a remote party signature")]
    SignatureRequired(u16),
    /// A critical command signed by a party whose role may not send that use case.
    #[error("critical use case {code:#06x} may not be signed by {party} in role {role}")]
    SignerRole {
        /// Message code.
        code: u16,
        /// The signing party.
        party: String,
        /// Its trust role.
        role: u8,
    },
    /// The originator counter is not greater than the last one accepted from that party.
    #[error("replay: counter {got} from {party} is not greater than {last}")]
    Replay {
        /// The remote party.
        party: String,
        /// Last accepted counter.
        last: u64,
        /// Counter of this command.
        got: u64,
    },
    /// The device does not implement this use case.
    #[error("use case {0:#06x} is not implemented by this emulated device")]
    Unsupported(u16),
    /// The payload does not have the layout of the use case.
    #[error("payload does not match use case {code:#06x}: {detail}")]
    BadPayload {
        /// Message code.
        code: u16,
        /// What is wrong.
        detail: String,
    },
    /// Our own failure (crypto library, inconsistent state).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl DeviceError {
    /// True when the sender is at fault; false for [`DeviceError::Internal`].
    pub fn is_sender_fault(&self) -> bool {
        !matches!(self, DeviceError::Internal(_))
    }

    /// A short stable name, as written to the security log.
    pub fn kind(&self) -> &'static str {
        match self {
            DeviceError::Malformed(_) => "malformed",
            DeviceError::NotACommand(_) => "not-a-command",
            DeviceError::NotAddressedToMe { .. } => "not-addressed-to-me",
            DeviceError::Unauthenticated => "unauthenticated",
            DeviceError::UnknownRemoteParty { .. } => "unknown-remote-party",
            DeviceError::MacInvalid => "mac-invalid",
            DeviceError::SignatureInvalid(_) => "signature-invalid",
            DeviceError::SignatureRequired(_) => "signature-required",
            DeviceError::SignerRole { .. } => "signer-role",
            DeviceError::Replay { .. } => "replay",
            DeviceError::Unsupported(_) => "unsupported",
            DeviceError::BadPayload { .. } => "bad-payload",
            DeviceError::Internal(_) => "internal",
        }
    }
}

/// Shorthand for a payload error.
pub(crate) fn bad(code: u16, detail: impl Into<String>) -> DeviceError {
    DeviceError::BadPayload {
        code,
        detail: detail.into(),
    }
}
