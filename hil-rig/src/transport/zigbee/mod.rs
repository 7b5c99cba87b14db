//! ZigBee coordinator dongles: the ZCL codec for the Smart Energy clusters and the two
//! serial protocols that USB ZigBee dongles speak to their host.
//!
//! | module | what |
//! |---|---|
//! | [`zcl`] | ZCL frames as they travel over the air (and inside the dongle protocols): header, the general commands, the ZCL data types, and the Basic, Time, Metering, Price, Prepayment and Messaging tables a rig needs to read a meter |
//! | [`znp`] | TI Z-Stack ZNP "MT" frames over UART and a host ([`znp::ZnpLink`]) doing SREQ → SRSP with a timeout, queueing AREQ callbacks, and decoding `AF_INCOMING_MSG` into ZCL |
//! | [`ash`] | Silicon Labs ASH (the UART framing under EZSP): flags, byte stuffing, CRC-CCITT, data randomisation, RST/RSTACK/DATA/ACK/NAK/ERROR, acknowledgement and retransmission |
//! | [`ezsp`] | EZSP frames on top of ASH ([`ezsp::EzspLink`]): the `version` handshake (legacy frame, then the extended v8+ frame), `echo`, `nop`, and encoders for `networkInit`, `formNetwork`, `sendUnicast` |
//!
//! Both dongle hosts own a [`ByteStream`]; for a PTY or a device node the rig uses
//! [`FileByteStream`] (from [`super::pty`], re-exported here), which opens the path as a
//! plain non-blocking file. The serial
//! settings of a real USB dongle (baud rate, flow control) are applied by the serial-port
//! stream of [`super::serial`], which any of these hosts accepts in its place.
//!
//! # What is not implemented
//!
//! Forming or joining a network end to end, ZDO device discovery, APS acknowledgements,
//! source routing, ZigBee security (install codes, CBKE), EZSP callbacks beyond queueing
//! them, ASH windows larger than one frame, and ZNP NVRAM. The encoders for the network
//! commands exist and are checked byte for byte, but no real dongle firmware was available
//! to run them against.
//!
//! # What the tests prove
//!
//! `hil-rig/tests/zigbee_peers.rs` checks the ZCL codec against zigpy (every shared vector,
//! plus frames zigpy encodes live: general commands on all six clusters, many data types,
//! both directions, manufacturer-specific frames, Metering GetProfile and other cluster
//! commands), and runs both hosts against fake dongles whose frames are produced by
//! zigpy-znp's and bellows' own frame codecs. The fakes' behaviour (which answer to give) is
//! ours; the byte formats are the libraries'. The module tests cover what the fakes cannot
//! show: bad check sequences, truncated and random input, ASH retransmission and NAKs.

pub mod ash;
pub mod ezsp;
pub mod meter;
pub mod zcl;
pub mod znp;

pub use super::pty::FileByteStream;

pub(crate) use super::read_some;
use super::{ByteStream, LinkError};

/// Writes all of `bytes` and flushes.
pub(crate) fn write_all<S: ByteStream + ?Sized>(
    stream: &mut S,
    bytes: &[u8],
) -> Result<(), LinkError> {
    stream
        .write_all(bytes)
        .and_then(|()| stream.flush())
        .map_err(|e| LinkError::from_io(stream.name(), &e))
}

#[cfg(test)]
pub(crate) mod testing {
    //! An in-memory [`ByteStream`] for the framing tests: bytes written by the host go to
    //! a closure playing the device, whose answers are read back.

    use super::{ByteStream, LinkError};
    use std::collections::VecDeque;
    use std::time::Duration;

    /// The device side: gets every write, returns the bytes to send back.
    pub type Device = Box<dyn FnMut(&[u8]) -> Vec<u8> + Send>;

    pub struct MemStream {
        pub device: Device,
        pub inbound: VecDeque<u8>,
        pub written: Vec<u8>,
    }

    impl std::fmt::Debug for MemStream {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("MemStream").finish_non_exhaustive()
        }
    }

    impl MemStream {
        pub fn new(device: Device) -> Self {
            Self {
                device,
                inbound: VecDeque::new(),
                written: Vec::new(),
            }
        }
    }

    impl std::io::Read for MemStream {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.inbound.is_empty() {
                std::thread::sleep(Duration::from_millis(1));
                return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "empty"));
            }
            let n = buf.len().min(self.inbound.len());
            for b in buf.iter_mut().take(n) {
                *b = self.inbound.pop_front().unwrap_or_default();
            }
            Ok(n)
        }
    }

    impl std::io::Write for MemStream {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written.extend_from_slice(buf);
            let answer = (self.device)(buf);
            self.inbound.extend(answer);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl ByteStream for MemStream {
        fn set_read_timeout(&mut self, _timeout: Duration) -> Result<(), LinkError> {
            Ok(())
        }
        fn name(&self) -> &str {
            "mem"
        }
    }
}
