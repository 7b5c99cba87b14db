//! HubGate protocol core: everything the gateway, the rig and the load generator share about
//! GBCS and DUIS, with no I/O.
//!
//! What it does:
//! - [`gbcs`]: zero-copy parser and byte-identical encoder for GBCS MAC-wrapped (`DD`) and
//!   signed (`DF`) messages, payload structure (DLMS, GBZ, ASN.1), message-code table.
//! - [`crypto`]: ECDSA P-256 (raw r‖s), ECDH + the GBCS KDF, 12-byte GMAC, payload
//!   encryption, a cache of derived keys; all on aws-lc-rs.
//! - [`smki`]: a certificate and key store indexed by certificate content (EUI, usage, role,
//!   serial).
//! - [`duis`]: the DUIS request/response model, a strict XML reader, a schema-conformant
//!   writer, canonical XML and XML-DSig.
//! - [`catalogue`]: every Service Reference Variant with its attributes.
//! - [`correlate`]: checks that a Pre-Command carries what a signed request asked for.
//! - [`transform`]: turns a DUIS Service Request into its GBCS Pre-Command or Command.
//!
//! What it does not do: sockets, files (beyond loading a key store from a folder given by the
//! caller), threads, clocks. Callers pass bytes and the current time in.

pub mod catalogue;
pub mod conformance;
pub mod correlate;
pub mod crypto;
pub mod duis;
pub mod gbcs;
pub mod hex;
pub mod smki;
pub mod transform;

/// Version of this crate, for banners and reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
