//! The outcome of the registration-data check (H4) when it fails.

use hubgate_protocol::catalogue::Role;

use super::date::Date;
use super::mpxn::{Fuel, MpxnError};

/// The User does not hold the registration relationship that the request needs.
///
/// The peer is told only DUIS response code [`NotRegistered::RESPONSE_CODE`] (`E4`: User Role
/// not authorised for this Device at the required date/time); the [`Reason`] is for the
/// gateway's logs. It never names another party, so it can be logged or returned without
/// disclosing who is registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not authorised by registration data: {reason}")]
pub struct NotRegistered {
    /// Why.
    pub reason: Reason,
}

impl NotRegistered {
    /// The DUIS response code for a failed registration-data check.
    pub const RESPONSE_CODE: &'static str = "E4";

    /// The DUIS response code for this failure (always `E4`).
    pub fn response_code(&self) -> &'static str {
        Self::RESPONSE_CODE
    }
}

impl From<Reason> for NotRegistered {
    fn from(reason: Reason) -> NotRegistered {
        NotRegistered { reason }
    }
}

/// Why the registration-data check failed.
///
/// When the User offers several roles, the reason reported is that of the first role that
/// applies to the MPxN's fuel; [`Reason::WrongFuel`] only when none does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// The MPxN in the request is not a well-formed MPAN core or MPRN.
    #[error("MPxN {0}")]
    InvalidMpxn(MpxnError),
    /// No User Role was offered.
    #[error("no User Role given")]
    NoRole,
    /// The registration data holds nothing at all for this MPxN.
    #[error("no registration data for the MPxN")]
    UnknownMpxn,
    /// None of the offered roles exists for the MPxN's fuel (for example `GS` for an MPAN).
    #[error("role {} does not apply to {fuel} metering points", role.code())]
    WrongFuel {
        /// The first role offered.
        role: Role,
        /// The MPxN's fuel.
        fuel: Fuel,
    },
    /// Nobody holds the relationship the role needs on that date.
    #[error("no party holds the relationship for role {} on {at}", role.code())]
    Vacant {
        /// The role checked.
        role: Role,
        /// The date checked.
        at: Date,
    },
    /// Another party holds the relationship the role needs on that date.
    #[error("the User does not hold the relationship for role {} on {at}", role.code())]
    OtherParty {
        /// The role checked.
        role: Role,
        /// The date checked.
        at: Date,
    },
}
