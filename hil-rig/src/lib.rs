//! Hardware-in-the-loop rig.
//!
//! Transports (serial, SLCAN, SocketCAN, ZigBee dongles), meter emulators and the SMWAN link
//! server live here. Nothing is implemented yet beyond re-exporting the protocol core.

pub use hubgate_protocol as protocol;
