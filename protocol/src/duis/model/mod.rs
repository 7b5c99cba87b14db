//! The typed DUIS model: requests ([`Request`]), responses, acknowledgements and alerts
//! ([`Response`]), as defined by the DUIS V5.4 schema.
//!
//! - [`header`]: RequestID, CommandVariant, Service Reference (Variant), the request header.
//! - [`request`]: [`Request`] and its consistency check against the SRV catalogue.
//! - [`body`]: [`Body`], one typed variant per service element of the schema, and the types
//!   of their content (generated from the schema by `protocol/data/gen_model.py`).
//! - [`response`]: [`Response`] with `ResponseMessage`, `DeviceAlertMessage` and
//!   `DCCAlertMessage`.
//! - [`xsd`]: XML Schema simple values (dates, decimals, facets, enumerations).
//! - [`tables`]: schema enumerations kept as tables.
//!
//! Reading is in [`crate::duis::reader`], writing in [`crate::duis::writer`].

pub mod body;
pub mod header;
pub mod request;
pub mod response;
pub mod tables;
pub mod xsd;

pub use body::Body;
pub use header::{
    CommandVariant, RequestHeader, RequestId, RequestIdError, ServiceReference,
    ServiceReferenceVariant,
};
pub use request::{ConsistencyError, Request};
pub use response::{
    DccAlertCode, DccAlertMessage, DeviceAlertMessage, FutureDatedAlertCode,
    FutureDatedDeviceAlert, Response, ResponseBody, ResponseCode, ResponseHeader, ResponseMessage,
    ResponsePayload,
};
pub use xsd::{Date, DateTime, Decimal, Time};
