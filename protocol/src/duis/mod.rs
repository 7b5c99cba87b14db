//! DUIS: the XML interface between Users and the DCC (PROTOCOLS.md §1–3).
//!
//! - [`xml`]: strict, namespace-aware XML reader into a small tree (no DTD, no entities,
//!   bounded size and depth).
//! - [`c14n`]: inclusive and exclusive Canonical XML 1.0 (without comments) over that tree.
//! - [`dsig`]: the DUIS XML-DSig profile, sign and verify.

pub mod c14n;
pub mod dsig;
pub mod model;
pub mod reader;
pub mod writer;
pub mod xml;

/// Namespace of DUIS requests and responses (prefix `sr`).
pub const NS_SR: &str = "http://www.dccinterface.co.uk/ServiceUserGateway";
/// Namespace of the MMC/SMETS1 response-and-alert schema (prefix `ra`).
pub const NS_RA: &str = "http://www.dccinterface.co.uk/ResponseAndAlert";
/// XML-DSig namespace (prefix `ds`).
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XML Schema instance namespace (prefix `xsi`).
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
