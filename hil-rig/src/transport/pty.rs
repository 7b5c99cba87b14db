//! PTYs and device nodes opened as plain files: the one byte stream the HDLC, ZNP, ASH
//! and SLCAN framings use when the rig talks to a pseudo-terminal (a `socat` pair, a peer
//! that made its own with `openpty`) or to a device node whose line settings are already
//! right.
//!
//! # What is implemented
//!
//! [`FileByteStream`]: open read/write, non-blocking, without becoming the controlling
//! terminal; reads wait in `poll(2)` up to the read timeout, writes up to a write timeout
//! (2 s). A PTY whose other side has closed reads as EIO, which [`LinkError::from_io`] turns
//! into [`LinkErrorKind::Closed`] (an unplugged device).
//!
//! # What is not implemented
//!
//! Line settings: the stream applies none (no baud rate, parity, raw mode). PTYs made with
//! `raw,echo=0` or `cfmakeraw` need none; a real serial port whose settings matter is opened
//! with [`super::serial::SerialPort`] instead, which applies them and reads them back.
//!
//! # Why this is written here
//!
//! The standard library has no read timeout for files, and the serial-port crate insists on
//! applying (and locking) settings; `poll(2)` through `nix`'s safe wrapper is all that is
//! missing, a few lines.
//!
//! # What the tests prove
//!
//! `tests/dlms_peers.rs` runs the DLMS client and server over it against the gurux meter
//! simulator and clients on PTYs; `tests/zigbee_peers.rs` runs the ZNP and EZSP hosts over it
//! against the fake dongles built on zigpy-znp's and bellows' frame codecs.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{ByteStream, LinkError, LinkErrorKind};

/// A device node or PTY opened as a plain file, as a [`ByteStream`].
///
/// The file is opened non-blocking; a `read` that finds nothing waits in `poll(2)` (nix's
/// safe wrapper) until bytes arrive or the read timeout passes, because the standard
/// library has no read timeout for files. Serial settings are left as they are: PTYs made
/// by `socat … raw,echo=0` or by `openpty` + `cfmakeraw` are already raw. For a USB dongle
/// whose baud rate must be set, use the serial-port stream instead.
#[derive(Debug)]
pub struct FileByteStream {
    file: std::fs::File,
    name: String,
    read_timeout: Duration,
    write_timeout: Duration,
}

impl FileByteStream {
    /// Opens `path` for reading and writing, non-blocking, without making it the
    /// controlling terminal.
    ///
    /// # Errors
    /// [`LinkErrorKind::Unavailable`] when the path does not exist or cannot be opened.
    pub fn open(path: &Path) -> Result<Self, LinkError> {
        use std::os::unix::fs::OpenOptionsExt;
        let name = path.display().to_string();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
            .open(path)
            .map_err(|e| LinkError::new(LinkErrorKind::Unavailable, format!("{name}: {e}")))?;
        Ok(Self {
            file,
            name,
            read_timeout: Duration::from_millis(100),
            write_timeout: Duration::from_secs(2),
        })
    }

    /// Waits until the file is readable (or writable) or `deadline` passes; `false` on
    /// timeout.
    fn wait(&self, writable: bool, deadline: Instant) -> std::io::Result<bool> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        // Round up so that a sub-millisecond remainder still waits.
        let ms = u16::try_from(left.as_millis() + 1).unwrap_or(u16::MAX);
        let flags = if writable {
            PollFlags::POLLOUT
        } else {
            PollFlags::POLLIN
        };
        let mut fds = [PollFd::new(self.file.as_fd(), flags)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) => Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => Ok(true),
            Err(e) => Err(std::io::Error::from(e)),
        }
    }
}

impl Read for FileByteStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let deadline = Instant::now() + self.read_timeout;
        loop {
            match self.file.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if !self.wait(false, deadline)? && Instant::now() >= deadline {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no bytes within the read timeout",
                        ));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

impl Write for FileByteStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let deadline = Instant::now() + self.write_timeout;
        loop {
            match self.file.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if !self.wait(true, deadline)? && Instant::now() >= deadline {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the port did not take the bytes within the write timeout",
                        ));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl ByteStream for FileByteStream {
    fn set_read_timeout(&mut self, timeout: Duration) -> Result<(), LinkError> {
        self.read_timeout = timeout;
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }
}
