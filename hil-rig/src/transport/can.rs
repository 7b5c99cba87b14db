//! The CAN frame and bus types every CAN transport of the rig shares: SLCAN adapters
//! ([`super::slcan`]), Linux SocketCAN ([`super::socketcan`]) and ISO-TP ([`super::isotp`]) on
//! top of either.
//!
//! # What is implemented
//!
//! [`CanFrame`] (classic and CAN FD data frames, remote frames, 11- and 29-bit identifiers)
//! with a range check and candump-style display, and the [`CanBus`] trait: send a frame,
//! receive one within a timeout.
//!
//! # What is not implemented
//!
//! Error frames (no transport of the rig passes them up) and bus statistics.
//!
//! # What the tests prove
//!
//! The frame checks are exercised by the SLCAN codec tests and by `tests/can_peers.rs`, where
//! python-can's `slcan` interface exchanges every frame form with the rig.

use std::fmt;
use std::time::Duration;

use super::{LinkError, LinkErrorKind};

/// Largest 11-bit identifier.
pub const MAX_STANDARD_ID: u32 = 0x7FF;
/// Largest 29-bit identifier.
pub const MAX_EXTENDED_ID: u32 = 0x1FFF_FFFF;
/// CAN FD data lengths by length code.
pub const FD_LENGTHS: [usize; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];

/// One CAN (or CAN FD) frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CanFrame {
    /// The identifier: 11 bits, or 29 bits when `extended`.
    pub id: u32,
    /// 29-bit identifier.
    pub extended: bool,
    /// Remote (request) frame: no data, `remote_len` says how many bytes are asked for.
    pub rtr: bool,
    /// The payload: 0–8 bytes, or one of [`FD_LENGTHS`] for CAN FD; empty for remote frames.
    pub data: Vec<u8>,
    /// For a remote frame, the length code asked for (0–8); otherwise unused.
    pub remote_len: u8,
    /// CAN FD frame.
    pub fd: bool,
    /// CAN FD bit-rate switch.
    pub brs: bool,
}

impl CanFrame {
    /// A classic data frame with an 11-bit identifier.
    #[must_use]
    pub fn new(id: u32, data: &[u8]) -> Self {
        Self {
            id,
            data: data.to_vec(),
            ..Self::default()
        }
    }

    /// A classic data frame with a 29-bit identifier.
    #[must_use]
    pub fn new_extended(id: u32, data: &[u8]) -> Self {
        Self {
            id,
            extended: true,
            data: data.to_vec(),
            ..Self::default()
        }
    }

    /// A remote frame asking for `len` bytes.
    #[must_use]
    pub fn remote(id: u32, extended: bool, len: u8) -> Self {
        Self {
            id,
            extended,
            rtr: true,
            remote_len: len,
            ..Self::default()
        }
    }

    /// A CAN FD data frame.
    #[must_use]
    pub fn new_fd(id: u32, extended: bool, data: &[u8], brs: bool) -> Self {
        Self {
            id,
            extended,
            data: data.to_vec(),
            fd: true,
            brs,
            ..Self::default()
        }
    }

    /// Checks identifier range and length.
    ///
    /// # Errors
    /// A [`LinkErrorKind::Framing`] error saying what is out of range.
    pub fn check(&self) -> Result<(), LinkError> {
        let bad = |m: String| Err(LinkError::new(LinkErrorKind::Framing, m));
        let max = if self.extended {
            MAX_EXTENDED_ID
        } else {
            MAX_STANDARD_ID
        };
        if self.id > max {
            return bad(format!(
                "CAN id {:#X} does not fit {} bits",
                self.id,
                if self.extended { 29 } else { 11 }
            ));
        }
        if self.rtr {
            if self.fd {
                return bad("CAN FD has no remote frames".to_owned());
            }
            if !self.data.is_empty() || self.remote_len > 8 {
                return bad(format!(
                    "remote frame {:#X}: no data and a length of 0-8 allowed",
                    self.id
                ));
            }
        } else if self.fd {
            if !FD_LENGTHS.contains(&self.data.len()) {
                return bad(format!(
                    "CAN FD frame {:#X}: {} bytes is not a CAN FD length",
                    self.id,
                    self.data.len()
                ));
            }
        } else if self.data.len() > 8 {
            return bad(format!(
                "CAN frame {:#X}: {} bytes (at most 8)",
                self.id,
                self.data.len()
            ));
        }
        Ok(())
    }
}

impl fmt::Display for CanFrame {
    /// candump style: `123#0102`, `18FF50E5#…`, `7FF#R2`, `123##1…` for CAN FD.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.extended {
            write!(f, "{:08X}#", self.id)?;
        } else {
            write!(f, "{:03X}#", self.id)?;
        }
        if self.rtr {
            return write!(f, "R{}", self.remote_len);
        }
        if self.fd {
            write!(f, "#{}", if self.brs { 1 } else { 0 })?;
        }
        for b in &self.data {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// A CAN bus the rig can put frames on and take frames from.
pub trait CanBus: Send {
    /// Sends one frame.
    ///
    /// # Errors
    /// [`LinkErrorKind::Framing`] for a frame that cannot be sent (id or length out of
    /// range), [`LinkErrorKind::Closed`] when the adapter went away, others as they happen.
    fn send_frame(&mut self, frame: &CanFrame) -> Result<(), LinkError>;

    /// Receives one frame, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`LinkErrorKind::Timeout`] when no frame arrived in time, [`LinkErrorKind::Framing`]
    /// for a malformed frame (which is consumed), others as they happen.
    fn recv_frame(&mut self, timeout: Duration) -> Result<CanFrame, LinkError>;

    /// The bus, for logs and metric labels.
    fn name(&self) -> &str;
}

impl<B: CanBus + ?Sized> CanBus for Box<B> {
    fn send_frame(&mut self, frame: &CanFrame) -> Result<(), LinkError> {
        (**self).send_frame(frame)
    }
    fn recv_frame(&mut self, timeout: Duration) -> Result<CanFrame, LinkError> {
        (**self).recv_frame(timeout)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
}
