//! Every reason the ingress refuses a request, in the order the checks run, and the DUIS
//! response code each one gets.
//!
//! | check (H4 order) | condition | code |
//! |---|---|---|
//! | 1 structure | body over the size limit, not UTF-8 XML, DOCTYPE/entities, not well-formed, not schema-conformant | `E31` |
//! | 1 structure | CommandVariant sent to the wrong web service path | `E13` |
//! | 1 structure | CommandVariant not allowed for the Service Reference Variant | `E12` |
//! | 2 signature | unsigned, placeholder or outside the DUIS XML-DSig profile, digest or signature does not verify | `E40` |
//! | 2 signature | signer unknown, certificate not a User XML-signing certificate, not valid now, or not the RequestID originator's | `E41` |
//! | 3 User | originator is not a known User | `E1` |
//! | 3 User | the User is suspended | `E3` |
//! | 3 User | no role of the User may send this SRV | `E2` |
//! | 4 counter | counter not strictly greater than the last one accepted from the originator | `E42` |
//! | 5 device | target device not in the Smart Metering Inventory | `E19` |
//! | 5 device | device type does not fit the SRV | `E11` |
//! | 5 device | device status does not allow the SRV | `E5` |
//! | 5 device | local delivery (CV 2/3/6/7) not allowed | `E17` |
//! | 6 registration | the User is not the registered party for the MPxN at the execution date | `E4` |
//! | 7 anomaly | a threshold quarantined the request | `E43` |
//! | — | the gateway is saturated (verification queue full, store write queue full) | `E44` |
//! | — | the store cannot write (disk full or another I/O error: the store is degraded, [`crate::store_health`]); refused before the signature check until a probe write succeeds, the reason names the database file | `E44` |
//! | — | a non-device service this gateway does not provide yet | `E100` |
//! | — | `PrecedingServiceRequestID` names no request the gateway knows for this User, or comes with `FirstInSequence` true ([`crate::sequencing`]) | `E46` |
//! | — | a cancellation (a DSP-pattern SRV with an `ExecutionDateTime` in the year 3000 or later) finds no request of the same User, device and SRV held for a future execution time ([`crate::cancellation`]) | `E47` |
//!
//! Not a refusal but a final answer, documented here with the codes: a DSP future-dated
//! request cancelled by its User before its execution time gets a Service Response `E48`
//! ([`crate::cancellation::CANCELLED_CODE`]) with no body.
//!
//! `E44` is "try later": it comes with HTTP 503 and nothing of the request is kept (its
//! counter is not spent), so the User may send it again unchanged.
//!
//! `E1`–`E5`, `E11`–`E13`, `E17` and `E19` carry their published DUIS meanings. The published
//! sources available to this project give no meaning for `E31`, `E40`–`E48` or `E100`; HubGate uses
//! them as above and documents the choice here and in the README.

use hubgate_protocol::duis::model::response::ResponseCode;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Check 1: not a well-formed, schema-conformant DUIS request within the limits.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// Check 1: the CommandVariant belongs to another web service.
    #[error("CommandVariant {cv} is not accepted on {path}")]
    WrongService {
        /// The CommandVariant.
        cv: u8,
        /// The path it arrived on.
        path: &'static str,
    },
    /// Check 1: the CommandVariant is not allowed for this SRV.
    #[error("CommandVariant {cv} is not allowed for SRV {srv}")]
    CommandVariant {
        /// The CommandVariant.
        cv: u8,
        /// The SRV.
        srv: String,
    },
    /// Check 2: the signature does not verify.
    #[error("signature: {0}")]
    Signature(String),
    /// Check 2: the signer's certificate is not acceptable.
    #[error("signing certificate: {0}")]
    Signer(String),
    /// Check 3: unknown User.
    #[error("unknown User {0}")]
    UnknownUser(String),
    /// Check 3: suspended User.
    #[error("User {0} is suspended")]
    UserSuspended(String),
    /// Check 3: role not permitted.
    #[error("no role of User {user} may send SRV {srv}")]
    RoleNotPermitted {
        /// The User ID.
        user: String,
        /// The SRV.
        srv: String,
    },
    /// Check 4: replayed or out-of-order counter.
    #[error("counter {counter} is not greater than the last accepted from {originator}")]
    Replay {
        /// The originator.
        originator: String,
        /// The counter received.
        counter: u64,
    },
    /// Check 5: unknown device.
    #[error("device {0} is not in the Smart Metering Inventory")]
    UnknownDevice(String),
    /// Check 5: device type does not fit the SRV.
    #[error("device type {device_type} does not fit SRV {srv}")]
    DeviceType {
        /// The device type.
        device_type: String,
        /// The SRV.
        srv: String,
    },
    /// Check 5: device status does not allow the SRV.
    #[error("device status {status} does not allow SRV {srv}")]
    DeviceStatus {
        /// The status.
        status: String,
        /// The SRV.
        srv: String,
    },
    /// Check 5: local delivery not allowed.
    #[error("local delivery is not allowed: {0}")]
    LocalDelivery(String),
    /// Check 6: registration data does not authorise the User.
    #[error("registration data: {0}")]
    NotRegistered(String),
    /// Check 7: quarantined by anomaly detection.
    #[error("quarantined: {0}")]
    Quarantined(String),
    /// The gateway cannot take the request now: saturated, or the store cannot write
    /// (degraded, [`crate::store_health`]); the reason says which.
    #[error("gateway busy: {0}")]
    Busy(String),
    /// A service (or the use case a request needs) this gateway does not provide; the
    /// reason names the SRV.
    #[error("not provided: {0}")]
    NotProvided(String),
    /// Request sequencing: the preceding request is unknown, or the header contradicts
    /// itself.
    #[error("sequencing: {0}")]
    Sequence(String),
    /// A cancellation of a DSP future-dated request found nothing held to cancel.
    #[error("nothing to cancel: {0}")]
    NothingToCancel(String),
}

/// A transform's refusal of a request: not provided; its message names the SRV already.
pub fn transform_refusal(e: hubgate_protocol::transform::TransformError) -> Rejection {
    Rejection::NotProvided(e.to_string())
}

impl Rejection {
    /// The DUIS response code for this rejection.
    pub fn code(&self) -> ResponseCode {
        let code = match self {
            Rejection::Malformed(_) => "E31",
            Rejection::WrongService { .. } => "E13",
            Rejection::CommandVariant { .. } => "E12",
            Rejection::Signature(_) => "E40",
            Rejection::Signer(_) => "E41",
            Rejection::UnknownUser(_) => "E1",
            Rejection::UserSuspended(_) => "E3",
            Rejection::RoleNotPermitted { .. } => "E2",
            Rejection::Replay { .. } => "E42",
            Rejection::UnknownDevice(_) => "E19",
            Rejection::DeviceType { .. } => "E11",
            Rejection::DeviceStatus { .. } => "E5",
            Rejection::LocalDelivery(_) => "E17",
            Rejection::NotRegistered(_) => "E4",
            Rejection::Quarantined(_) => "E43",
            Rejection::Busy(_) => "E44",
            Rejection::NotProvided(_) => "E100",
            Rejection::Sequence(_) => "E46",
            Rejection::NothingToCancel(_) => "E47",
        };
        // Every code above is in the schema's enumeration (a unit test checks it).
        ResponseCode::parse(code).unwrap_or(ResponseCode::I99)
    }

    /// The check (1–7) that produced this rejection; 0 for capacity refusals.
    pub fn check(&self) -> u8 {
        match self {
            Rejection::Malformed(_)
            | Rejection::WrongService { .. }
            | Rejection::CommandVariant { .. } => 1,
            Rejection::Signature(_) | Rejection::Signer(_) => 2,
            Rejection::UnknownUser(_)
            | Rejection::UserSuspended(_)
            | Rejection::RoleNotPermitted { .. } => 3,
            Rejection::Replay { .. } => 4,
            Rejection::UnknownDevice(_)
            | Rejection::DeviceType { .. }
            | Rejection::DeviceStatus { .. }
            | Rejection::LocalDelivery(_) => 5,
            Rejection::NotRegistered(_) => 6,
            Rejection::Quarantined(_) => 7,
            Rejection::Busy(_)
            | Rejection::NotProvided(_)
            | Rejection::Sequence(_)
            | Rejection::NothingToCancel(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_in_the_schema() {
        let all = [
            Rejection::Malformed(String::new()),
            Rejection::WrongService { cv: 1, path: "" },
            Rejection::CommandVariant {
                cv: 1,
                srv: String::new(),
            },
            Rejection::Signature(String::new()),
            Rejection::Signer(String::new()),
            Rejection::UnknownUser(String::new()),
            Rejection::UserSuspended(String::new()),
            Rejection::RoleNotPermitted {
                user: String::new(),
                srv: String::new(),
            },
            Rejection::Replay {
                originator: String::new(),
                counter: 0,
            },
            Rejection::UnknownDevice(String::new()),
            Rejection::DeviceType {
                device_type: String::new(),
                srv: String::new(),
            },
            Rejection::DeviceStatus {
                status: String::new(),
                srv: String::new(),
            },
            Rejection::LocalDelivery(String::new()),
            Rejection::NotRegistered(String::new()),
            Rejection::Quarantined(String::new()),
            Rejection::Busy(String::new()),
            Rejection::NotProvided(String::new()),
            Rejection::Sequence(String::new()),
            Rejection::NothingToCancel(String::new()),
        ];
        let mut seen = std::collections::HashSet::new();
        for r in &all {
            let c = r.code();
            assert_ne!(c, ResponseCode::I99, "{r:?} has no schema code");
            assert!(seen.insert(c.to_string()), "{r:?}: code {c} used twice");
        }
    }
}
