//! Linux SocketCAN: CAN interfaces the kernel drives (`can0` on a PCAN or CANable with
//! candleLight firmware, `vcan0` for tests, `slcan0` attached with `slcand`).
//!
//! # What is implemented
//!
//! [`SocketCan`], a raw CAN socket bound to one interface through the `socketcan` crate, as a
//! [`CanBus`](super::can::CanBus): classic data and remote frames with 11- and 29-bit identifiers. Error frames
//! the kernel reports are skipped. On a kernel without CAN (no `can` module: opening fails
//! with "Address family not supported" or, before that, "No such device") opening returns
//! [`LinkErrorKind::Unavailable`](super::LinkErrorKind::Unavailable) with a message that says so in plain words; a missing
//! interface on a kernel that has CAN is `Unavailable` too, naming the interface.
//!
//! [`check_kernel`] tells "no CAN in this kernel" (which `hil-rig run` refuses at start)
//! from "no such interface yet" (which its port threads retry).
//!
//! # What is not implemented
//!
//! CAN FD sockets, filters, bringing interfaces up or setting bit rates (that is the
//! operator's `ip link` job, and needs CAP_NET_ADMIN), hardware timestamps. On systems other
//! than Linux this module is empty.
//!
//! # What the tests prove
//!
//! `tests/can_peers.rs` opens `vcan0`: where the kernel has no CAN it checks that the error
//! is `Unavailable` with the plain message and skips, printing `skipped: …`; where `vcan0`
//! exists it exchanges standard, extended and remote frames between two sockets and carries
//! an ISO-TP message across.

#[cfg(target_os = "linux")]
pub use linux::{SocketCan, check_kernel};

/// Fails with [`LinkErrorKind::Unavailable`](super::LinkErrorKind::Unavailable) ("SocketCAN
/// exists only on Linux") on systems other than Linux.
///
/// # Errors
/// Always.
#[cfg(not(target_os = "linux"))]
pub fn check_kernel(interface: &str) -> Result<(), super::LinkError> {
    Err(super::LinkError::new(
        super::LinkErrorKind::Unavailable,
        format!("SocketCAN exists only on Linux (interface {interface})"),
    ))
}

#[cfg(target_os = "linux")]
mod linux {
    use std::time::Duration;

    use socketcan::{CanFrame as SockFrame, EmbeddedFrame, ExtendedId, Id, Socket, StandardId};

    use crate::transport::can::{CanBus, CanFrame};
    use crate::transport::{LinkError, LinkErrorKind};

    /// A raw CAN socket bound to one interface.
    #[derive(Debug)]
    pub struct SocketCan {
        socket: socketcan::CanSocket,
        name: String,
    }

    const ENODEV: i32 = 19;
    const EAFNOSUPPORT: i32 = 97;

    fn kernel_has_can() -> bool {
        // The CAN core registers /proc/net/can when it loads.
        std::path::Path::new("/proc/net/can").exists()
    }

    /// The kernel has no CAN at all (as opposed to: no such interface yet).
    fn no_kernel_can(e: &std::io::Error) -> bool {
        match e.raw_os_error() {
            Some(EAFNOSUPPORT) => true,
            Some(ENODEV) => !kernel_has_can(),
            _ => false,
        }
    }

    /// Checks that this kernel has CAN, trying to open `ifname`: the error says "this
    /// kernel has no CAN support" when it has none. A missing interface on a kernel with CAN
    /// is not an error here (a USB-CAN adapter may be plugged in later).
    ///
    /// # Errors
    /// [`LinkErrorKind::Unavailable`] when the kernel has no CAN.
    pub fn check_kernel(ifname: &str) -> Result<(), LinkError> {
        match socketcan::CanSocket::open(ifname) {
            Ok(_) => Ok(()),
            Err(e) if no_kernel_can(&e) => Err(open_error(ifname, &e)),
            Err(_) => Ok(()),
        }
    }

    fn open_error(ifname: &str, e: &std::io::Error) -> LinkError {
        match e.raw_os_error() {
            Some(EAFNOSUPPORT) => LinkError::new(
                LinkErrorKind::Unavailable,
                format!("this kernel has no CAN support (opening {ifname}: {e})"),
            ),
            Some(ENODEV) if !kernel_has_can() => LinkError::new(
                LinkErrorKind::Unavailable,
                format!("this kernel has no CAN support (no /proc/net/can; opening {ifname}: {e})"),
            ),
            Some(ENODEV) => LinkError::new(
                LinkErrorKind::Unavailable,
                format!("no CAN interface {ifname} on this machine ({e})"),
            ),
            _ => LinkError::from_io(&format!("socketcan:{ifname}"), e),
        }
    }

    impl SocketCan {
        /// Opens a raw CAN socket on interface `ifname` (which must be up).
        ///
        /// # Errors
        /// [`LinkErrorKind::Unavailable`] when the kernel has no CAN or no such interface.
        pub fn open(ifname: &str) -> Result<Self, LinkError> {
            let socket = socketcan::CanSocket::open(ifname).map_err(|e| open_error(ifname, &e))?;
            Ok(Self {
                socket,
                name: format!("socketcan:{ifname}"),
            })
        }
    }

    fn to_socket_frame(f: &CanFrame) -> Option<SockFrame> {
        let id: Id = if f.extended {
            ExtendedId::new(f.id)?.into()
        } else {
            StandardId::new(u16::try_from(f.id).ok()?)?.into()
        };
        if f.rtr {
            SockFrame::new_remote(id, usize::from(f.remote_len))
        } else {
            SockFrame::new(id, &f.data)
        }
    }

    impl CanBus for SocketCan {
        fn send_frame(&mut self, frame: &CanFrame) -> Result<(), LinkError> {
            frame.check()?;
            if frame.fd {
                return Err(LinkError::new(
                    LinkErrorKind::Framing,
                    format!("{}: CAN FD frames are not supported here", self.name),
                ));
            }
            let Some(f) = to_socket_frame(frame) else {
                return Err(LinkError::new(
                    LinkErrorKind::Framing,
                    format!("{}: cannot build frame {frame}", self.name),
                ));
            };
            self.socket
                .write_frame(&f)
                .map_err(|e| LinkError::from_io(&self.name, &e))
        }

        fn recv_frame(&mut self, timeout: Duration) -> Result<CanFrame, LinkError> {
            let deadline = std::time::Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let f = self
                    .socket
                    .read_frame_timeout(left)
                    .map_err(|e| LinkError::from_io(&self.name, &e))?;
                let (id, extended) = match f.id() {
                    Id::Standard(s) => (u32::from(s.as_raw()), false),
                    Id::Extended(x) => (x.as_raw(), true),
                };
                match f {
                    SockFrame::Data(_) => {
                        return Ok(CanFrame {
                            id,
                            extended,
                            data: f.data().to_vec(),
                            ..CanFrame::default()
                        });
                    }
                    SockFrame::Remote(_) => {
                        return Ok(CanFrame::remote(id, extended, f.dlc() as u8));
                    }
                    SockFrame::Error(_) => {
                        tracing::debug!(bus = %self.name, "skipped CAN error frame");
                    }
                }
            }
        }

        fn name(&self) -> &str {
            &self.name
        }
    }
}
