//! Communications Hub actors.
//!
//! This crate will hold one actor per Communications Hub Function, the registry that shards
//! hubs over arbiters and passivates idle ones. It performs no HTTP. It currently exports only
//! the protocol crate it builds on; the actors themselves arrive with the routing core.

pub use hubgate_protocol as protocol;
