//! Transports between the rig and the meters and dongles wired to it.
//!
//! Every transport ends in the same narrow interface, [`Link`]: whole frames in, whole
//! frames out, and a [`LinkError`] whose [`LinkErrorKind`] says what went wrong in a way the
//! rig can act on (a closed port is an unplugged device; a timeout is a silent one; a
//! setting the port could not apply is a configuration error the operator must see).
//!
//! Byte streams (a serial port, a TCP socket to a meter simulator) sit below the framing
//! layers; the framings (HDLC, SLCAN lines, ISO-TP, ASH, ZNP MT) turn a stream into a
//! [`Link`]. Links are blocking with explicit timeouts: each port runs on a thread of its
//! own in the rig, which is what a serial port wants anyway, and it keeps the framing code
//! free of any runtime.
//!
//! | module | what |
//! |---|---|
//! | [`serial`] | serial ports (USB-serial adapters, PTYs): settings verified after applying them, port discovery |
//! | [`pty`] | PTYs and device nodes as plain files ([`pty::FileByteStream`]), for every framing |
//! | [`can`] | the CAN frame and bus types every CAN transport shares ([`can::CanFrame`], [`can::CanBus`]) |
//! | [`slcan`] | CAN over Lawicel ASCII (SLCAN) adapters |
//! | [`isotp`] | ISO 15765-2 segmentation over any CAN frame link |
//! | [`socketcan`] | Linux SocketCAN, where the kernel has CAN |
//! | [`hdlc`] | IEC 62056-46 HDLC framing and the DLMS/COSEM client and server on top |
//! | [`zigbee`] | ZCL codec for the Smart Energy clusters, TI Z-Stack ZNP and Silicon Labs EZSP (ASH) hosts |

pub mod can;
pub mod hdlc;
pub mod isotp;
pub mod pty;
pub mod serial;
pub mod slcan;
pub mod socketcan;
pub mod zigbee;

use std::fmt;
use std::time::{Duration, Instant};

/// What kind of failure a [`LinkError`] is; the rig's reaction depends only on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkErrorKind {
    /// The port or peer went away (unplugged, EOF, EIO on a PTY whose other side closed).
    Closed,
    /// Nothing arrived within the timeout.
    Timeout,
    /// Bytes arrived that do not form a valid frame (bad check sequence, bad escape, bad length).
    Framing,
    /// The peer answered with something the protocol does not allow at this point.
    Protocol,
    /// The port could not apply a requested setting (baud, parity, data or stop bits).
    Setting,
    /// The transport is not available on this machine (no kernel CAN, no such device).
    Unavailable,
    /// Any other I/O error.
    Io,
}

impl LinkErrorKind {
    /// A stable lower-case name, used as a metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Timeout => "timeout",
            Self::Framing => "framing",
            Self::Protocol => "protocol",
            Self::Setting => "setting",
            Self::Unavailable => "unavailable",
            Self::Io => "io",
        }
    }
}

/// A transport failure: a kind to act on and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkError {
    /// What kind of failure.
    pub kind: LinkErrorKind,
    /// What happened, naming the port and the setting or frame concerned.
    pub message: String,
}

impl LinkError {
    /// A new error of `kind`.
    pub fn new(kind: LinkErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Classifies an I/O error: EOF, EIO, broken pipe and the like become [`LinkErrorKind::Closed`],
    /// time-outs [`LinkErrorKind::Timeout`].
    #[must_use]
    pub fn from_io(context: &str, e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::TimedOut | K::WouldBlock => LinkErrorKind::Timeout,
            K::UnexpectedEof
            | K::BrokenPipe
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::NotFound => LinkErrorKind::Closed,
            _ if e.raw_os_error() == Some(5) => LinkErrorKind::Closed, // EIO: PTY peer closed
            _ => LinkErrorKind::Io,
        };
        Self::new(kind, format!("{context}: {e}"))
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.as_str())
    }
}

impl std::error::Error for LinkError {}

/// Frames in, frames out.
///
/// A frame is one protocol data unit of the link's framing: an HDLC information field, a
/// reassembled ISO-TP message, a ZNP MT frame, an EZSP frame. `recv` waits at most `timeout`
/// and returns [`LinkErrorKind::Timeout`] when nothing complete arrived; partial bytes are
/// kept for the next call.
pub trait Link: Send {
    /// Sends one frame.
    ///
    /// # Errors
    /// [`LinkErrorKind::Closed`] when the port went away, others as they happen.
    fn send(&mut self, frame: &[u8]) -> Result<(), LinkError>;

    /// Receives one frame, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`LinkErrorKind::Timeout`] when nothing complete arrived in time, others as they happen.
    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError>;

    /// The port or peer this link talks to, for logs and metric labels.
    fn name(&self) -> &str;
}

/// A byte stream under a framing layer: a serial port, a TCP connection to a meter or a
/// simulator. Framings own one and turn it into a [`Link`].
pub trait ByteStream: std::io::Read + std::io::Write + Send {
    /// Sets how long a `read` may block before failing with `TimedOut`/`WouldBlock`.
    ///
    /// # Errors
    /// When the stream cannot take the timeout.
    fn set_read_timeout(&mut self, timeout: Duration) -> Result<(), LinkError>;

    /// The port or peer, for logs and metric labels.
    fn name(&self) -> &str;
}

/// Reads whatever bytes arrive before `deadline` (at least one), for the framing layers;
/// `name` labels the errors.
///
/// Returns `Ok(None)` when the deadline passed with nothing read; read timeouts and
/// interruptions before it are waited out.
///
/// # Errors
/// [`LinkErrorKind::Closed`] at the end of the stream; other I/O errors as
/// [`LinkError::from_io`] maps them.
pub(crate) fn read_some<S: ByteStream + ?Sized>(
    stream: &mut S,
    buf: &mut [u8],
    deadline: Instant,
    name: &str,
) -> Result<Option<usize>, LinkError> {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        stream.set_read_timeout(deadline - now)?;
        match stream.read(buf) {
            Ok(0) => {
                return Err(LinkError::new(
                    LinkErrorKind::Closed,
                    format!("{name}: end of stream"),
                ));
            }
            Ok(n) => return Ok(Some(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(LinkError::from_io(name, &e)),
        }
    }
}

/// A TCP connection as a [`ByteStream`] (meters and simulators reachable over IP, and
/// serial-to-TCP bridges such as `socat`).
#[derive(Debug)]
pub struct TcpByteStream {
    stream: std::net::TcpStream,
    name: String,
}

impl TcpByteStream {
    /// Connects to `addr` within `timeout`.
    ///
    /// # Errors
    /// [`LinkErrorKind::Unavailable`] when the address does not resolve or nothing listens.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Self, LinkError> {
        use std::net::ToSocketAddrs;
        let resolved = addr
            .to_socket_addrs()
            .map_err(|e| LinkError::new(LinkErrorKind::Unavailable, format!("{addr}: {e}")))?
            .next()
            .ok_or_else(|| {
                LinkError::new(LinkErrorKind::Unavailable, format!("{addr}: no address"))
            })?;
        let stream = std::net::TcpStream::connect_timeout(&resolved, timeout).map_err(|e| {
            LinkError::new(LinkErrorKind::Unavailable, format!("tcp://{addr}: {e}"))
        })?;
        let _ = stream.set_nodelay(true);
        Ok(Self {
            stream,
            name: format!("tcp://{addr}"),
        })
    }
}

impl TcpByteStream {
    /// Wraps a connection accepted by a listener (the rig's DLMS server side), named after
    /// the peer's address.
    #[must_use]
    pub fn accepted(stream: std::net::TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        let name = stream
            .peer_addr()
            .map_or_else(|_| "tcp://?".to_owned(), |a| format!("tcp://{a}"));
        Self { stream, name }
    }
}

impl std::io::Read for TcpByteStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stream.read(buf)
    }
}

impl std::io::Write for TcpByteStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

impl ByteStream for TcpByteStream {
    fn set_read_timeout(&mut self, timeout: Duration) -> Result<(), LinkError> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(|e| LinkError::from_io(&self.name, &e))
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Readings of a lab meter that the rig presents behind a GBCS identity (adapter mode).
/// Each field is `None` when the meter does not provide it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterReadings {
    /// Active energy import register, Wh (OBIS 1.0.1.8.0.255, ZCL CurrentSummationDelivered).
    pub import_active_energy_wh: Option<u64>,
    /// Active energy export register, Wh (OBIS 1.0.2.8.0.255, ZCL CurrentSummationReceived).
    pub export_active_energy_wh: Option<u64>,
    /// Instantaneous active power import, W (OBIS 1.0.1.7.0.255, ZCL InstantaneousDemand).
    pub active_power_w: Option<i64>,
    /// Voltage, tenths of a volt (OBIS 1.0.32.7.0.255).
    pub voltage_decivolts: Option<i64>,
    /// The meter's own identifier (DLMS logical device name, ZCL Basic model or serial).
    pub identifier: Option<String>,
}

/// A lab meter the rig reads (a DLMS/COSEM meter over HDLC, a ZigBee meter through a
/// dongle): the source of an adapter-mode device's values.
pub trait MeterSource: Send {
    /// Reads the meter now.
    ///
    /// # Errors
    /// As the transport fails: [`LinkErrorKind::Closed`] when the meter was unplugged,
    /// [`LinkErrorKind::Timeout`] when it did not answer.
    fn read(&mut self) -> Result<MeterReadings, LinkError>;

    /// The meter, for logs and metric labels.
    fn name(&self) -> &str;
}

#[cfg(test)]
pub(crate) mod testing {
    //! Inputs for the codec tests: hex vectors, deterministic pseudo-random bytes, and every
    //! prefix of a valid frame (the decoders must answer each with a value or an error).

    /// The bytes of a hex test vector.
    ///
    /// # Panics
    /// On a malformed vector (a test bug).
    #[allow(clippy::unwrap_used)]
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        hubgate_protocol::hex::decode(s).unwrap()
    }

    /// A xorshift64 generator: the same pseudo-random inputs on every run.
    pub(crate) struct XorShift(pub u64);

    impl XorShift {
        /// The next state.
        pub(crate) fn next_u64(&mut self) -> u64 {
            let x = &mut self.0;
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *x
        }
    }

    /// Calls `decode` on every prefix of every sample, the empty one and the whole included.
    pub(crate) fn each_prefix(samples: &[Vec<u8>], mut decode: impl FnMut(&[u8])) {
        for b in samples {
            for n in 0..=b.len() {
                decode(&b[..n]);
            }
        }
    }
}
