//! GBCS messages (PROTOCOLS.md §4): the MAC wrapper (`DD`, general-ciphering), the grouping
//! header and signature (`DF`, general-signing), and the payload.
//!
//! [`frame::parse`] is zero-copy: a [`Message`] borrows the input and records the byte
//! [`Regions`] that are signed, MAC'd and so on, so cryptography works on slices of the
//! original buffer. [`Message::encode`] rebuilds the exact input bytes from the parsed form.

pub mod auth;
pub mod datetime;
pub mod frame;
pub mod message_codes;
pub mod payload;

pub use datetime::CosemDateTime;
pub use frame::{
    Cra, GbcsError, GroupingHeader, LenForm, Message, OtherInfo, Regions, SignatureField,
    Supplementary, parse,
};
