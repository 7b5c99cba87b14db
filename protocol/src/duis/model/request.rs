//! A DUIS Service Request: header, typed body, and the enveloped signature kept aside.

use crate::catalogue::Catalogue;
use crate::duis::model::Body;
use crate::duis::model::header::{CommandVariant, RequestHeader};
use crate::duis::model::xsd::Decimal;
use crate::duis::reader::{self, DuisError, ReadError};
use crate::duis::writer;
use crate::duis::xml::{Document, Element, Limits};

/// The schema version written on new messages.
pub const SCHEMA_VERSION: &str = "5.4";

/// An `sr:Request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The `schemaVersion` attribute (an `xs:decimal`, `5.4` for the bundled schema).
    pub schema_version: Decimal,
    /// `sr:Header`.
    pub header: RequestHeader,
    /// The service element of `sr:Body`.
    pub body: Body,
    /// The enveloped `ds:Signature`, as read (`None` when absent or not yet signed).
    pub signature: Option<Element>,
}

/// How a request's header, body and the catalogue disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyError {
    /// The SRV is not in the catalogue.
    #[error("SRV {0} is not in the catalogue")]
    UnknownSrv(String),
    /// The Service Reference is not the SRV's.
    #[error("ServiceReference {found} does not match SRV {srv} (expected {expected})")]
    ServiceReference {
        /// The SRV.
        srv: String,
        /// The catalogue's Service Reference.
        expected: String,
        /// The header's.
        found: String,
    },
    /// The CommandVariant is not allowed for the SRV.
    #[error("CommandVariant {cv} is not allowed for SRV {srv}")]
    CommandVariant {
        /// The SRV.
        srv: String,
        /// The CommandVariant.
        cv: u8,
    },
    /// The body element does not belong to the SRV (or to the CommandVariant).
    #[error("body element {element} does not carry SRV {srv} with CommandVariant {cv}")]
    BodyElement {
        /// The SRV.
        srv: String,
        /// The body element.
        element: String,
        /// The CommandVariant.
        cv: u8,
    },
}

impl Request {
    /// A new, unsigned request with `schemaVersion` 5.4.
    pub fn new(header: RequestHeader, body: Body) -> Request {
        Request {
            schema_version: schema_version(),
            header,
            body,
            signature: None,
        }
    }

    /// Reads a request from a parsed document.
    ///
    /// # Errors
    ///
    /// As [`reader::read_request`].
    pub fn from_document(doc: &Document) -> Result<Request, ReadError> {
        reader::read_request(doc)
    }

    /// Parses and reads a request.
    ///
    /// # Errors
    ///
    /// As [`reader::parse_request`].
    pub fn parse(xml: &[u8], limits: &Limits) -> Result<Request, DuisError> {
        reader::parse_request(xml, limits)
    }

    /// Writes the request as a compact XML document (see [`writer::write_request`]).
    pub fn to_xml(&self) -> String {
        writer::write_request(self)
    }

    /// Checks the header and body against the SRV catalogue: the Service Reference belongs
    /// to the SRV, the CommandVariant is allowed, and the body element is the SRV's (or
    /// `SignedPreCommand` for CommandVariant 5/6/7).
    ///
    /// # Errors
    ///
    /// The first [`ConsistencyError`] found.
    pub fn check_consistency(&self) -> Result<(), ConsistencyError> {
        let srv_name = self.header.service_reference_variant.as_str();
        let srv = Catalogue::get()
            .srv(srv_name)
            .ok_or_else(|| ConsistencyError::UnknownSrv(srv_name.to_owned()))?;
        if srv.service_reference != self.header.service_reference.as_str() {
            return Err(ConsistencyError::ServiceReference {
                srv: srv.srv.clone(),
                expected: srv.service_reference.clone(),
                found: self.header.service_reference.as_str().to_owned(),
            });
        }
        let cv = self.header.command_variant.as_u8();
        if !srv.allows_command_variant(cv) {
            return Err(ConsistencyError::CommandVariant {
                srv: srv.srv.clone(),
                cv,
            });
        }
        let element = self.body.element_name();
        if !srv.accepts_body(element, cv) {
            return Err(ConsistencyError::BodyElement {
                srv: srv.srv.clone(),
                element: element.to_owned(),
                cv,
            });
        }
        Ok(())
    }

    /// Whether this is a Signed Pre-Command (CommandVariant 5, 6 or 7).
    pub fn is_signed_pre_command(&self) -> bool {
        self.header.command_variant.is_signed_pre_command()
    }

    /// The CommandVariant.
    pub fn command_variant(&self) -> CommandVariant {
        self.header.command_variant
    }
}

/// `5.4` as a [`Decimal`].
pub fn schema_version() -> Decimal {
    Decimal::from_trusted(SCHEMA_VERSION)
}
