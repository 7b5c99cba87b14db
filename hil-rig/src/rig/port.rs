//! Ports: one thread per port, fed through a bounded queue, with timeouts on every read and
//! reopening with back-off.
//!
//! A port thread owns its connection (a bridged device's [`Link`] or an adapter's
//! [`MeterSource`]) and takes one command at a time from a queue of [`QUEUE`] entries; a
//! command that finds the queue full is not answered (counted as `port_busy`). Nothing the
//! link task does waits on a port.
//!
//! When the connection fails mid-command (a read gives [`LinkErrorKind::Closed`]: the
//! device was unplugged, the simulator killed), the command is **not answered** (the
//! gateway's hub actor times it out and the User gets E20/E21), a WARN line names the port
//! and the device, `hubgate_rig_port_errors_total{kind="closed"}` counts it and
//! `hubgate_rig_port_up` drops to 0. The thread then tries to open the port again with
//! back-off (250 ms doubling to 10 s), also while no command comes, and counts
//! `hubgate_rig_port_reconnects_total` when it is back. A command arriving while the port is
//! down is not answered either (`port_down`).
//!
//! Bridged framing: each GBCS frame travels as a big-endian `u32` length and then that many
//! bytes (at most [`crate::link::MAX_FRAME`]), over TCP or a serial line: [`LengthPrefixed`].
//! It is the SMWAN link's own framing minus the type byte, so the same tooling reads both;
//! it is written here because it is a dozen lines over any [`ByteStream`], and the async
//! codecs that exist (`tokio-util`) do not fit a blocking port thread.
//!
//! On CAN ports (`slcan`, `socketcan`) a GBCS frame is one ISO-TP message
//! ([`IsoTpLink`]) on the configured identifiers; the SLCAN adapter's serial line is counted
//! in `hubgate_rig_port_bytes_total`, a SocketCAN interface has no byte stream to count.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use hubgate_protocol::hex;
use metrics::{Counter, Gauge, Histogram};

use super::config::{MeterConfig, Mode, PortAddr};
use super::metrics as m;
use super::modes;
use crate::link::rig::{Hubs, Replies};
use crate::link::{Eui, MAX_FRAME};
use crate::transport::isotp::{IsoTpConfig, IsoTpLink};
use crate::transport::slcan::{Slcan, SlcanConfig};
use crate::transport::{
    ByteStream, Link, LinkError, LinkErrorKind, MeterSource, TcpByteStream, read_some,
};

/// Commands a port holds before refusing more.
pub const QUEUE: usize = 16;
/// First delay before reopening a lost port.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(250);
/// Longest delay between reopening attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long an idle bridged port waits for an unsolicited frame (an alert) per poll.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// A byte stream whose traffic is counted in `hubgate_rig_port_bytes_total`.
struct Counted {
    inner: Box<dyn ByteStream>,
    bytes_in: Counter,
    bytes_out: Counter,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes_in.increment(n as u64);
        Ok(n)
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes_out.increment(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl ByteStream for Counted {
    fn set_read_timeout(&mut self, timeout: Duration) -> Result<(), LinkError> {
        self.inner.set_read_timeout(timeout)
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
}

/// Opens the byte stream of `addr` (connect timeout `timeout`, at most 5 s), counting its
/// bytes under the port label `label`.
///
/// # Errors
/// As the transport fails to open.
pub fn open_stream(
    addr: &PortAddr,
    label: &str,
    timeout: Duration,
) -> Result<Box<dyn ByteStream>, LinkError> {
    let inner: Box<dyn ByteStream> = match addr {
        PortAddr::Tcp(a) => Box::new(TcpByteStream::connect(
            a,
            timeout.min(Duration::from_secs(5)),
        )?),
        PortAddr::Serial(s) | PortAddr::Slcan { serial: s, .. } => Box::new(
            crate::transport::serial::SerialPort::open(&s.path.to_string_lossy(), &s.settings)?,
        ),
        PortAddr::SocketCan { interface, .. } => {
            return Err(LinkError::new(
                LinkErrorKind::Unavailable,
                format!("socketcan:{interface} is a CAN interface, not a byte stream"),
            ));
        }
    };
    let counter = |direction: &'static str| metrics::counter!(m::PORT_BYTES_TOTAL, "port" => label.to_string(), "direction" => direction);
    Ok(Box::new(Counted {
        inner,
        bytes_in: counter("in"),
        bytes_out: counter("out"),
    }))
}

/// GBCS frames as a big-endian `u32` length and the bytes, over any [`ByteStream`].
pub struct LengthPrefixed {
    stream: Box<dyn ByteStream>,
    buf: Vec<u8>,
    name: String,
}

impl std::fmt::Debug for LengthPrefixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LengthPrefixed")
            .field("name", &self.name)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl LengthPrefixed {
    /// Frames `stream`.
    #[must_use]
    pub fn new(stream: Box<dyn ByteStream>) -> Self {
        let name = stream.name().to_string();
        Self {
            stream,
            buf: Vec::new(),
            name,
        }
    }

    /// A whole frame from the buffer, if there is one.
    fn take(&mut self) -> Result<Option<Vec<u8>>, LinkError> {
        let Some(head) = self.buf.get(..4) else {
            return Ok(None);
        };
        let n = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if n == 0 || n > MAX_FRAME {
            self.buf.clear();
            return Err(LinkError::new(
                LinkErrorKind::Framing,
                format!(
                    "{}: frame length {n} out of range (1..={MAX_FRAME})",
                    self.name
                ),
            ));
        }
        if self.buf.len() < 4 + n {
            return Ok(None);
        }
        let frame = self.buf[4..4 + n].to_vec();
        self.buf.drain(..4 + n);
        Ok(Some(frame))
    }
}

impl Link for LengthPrefixed {
    fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        if frame.is_empty() || frame.len() > MAX_FRAME {
            return Err(LinkError::new(
                LinkErrorKind::Framing,
                format!(
                    "{}: cannot send a frame of {} bytes (1..={MAX_FRAME})",
                    self.name,
                    frame.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(4 + frame.len());
        out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        out.extend_from_slice(frame);
        self.stream
            .write_all(&out)
            .and_then(|()| self.stream.flush())
            .map_err(|e| LinkError::from_io(&format!("{}: writing", self.name), &e))
    }

    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(f) = self.take()? {
                return Ok(f);
            }
            match read_some(&mut *self.stream, &mut chunk, deadline, &self.name)? {
                Some(n) => self.buf.extend_from_slice(&chunk[..n]),
                None => {
                    return Err(LinkError::new(
                        LinkErrorKind::Timeout,
                        format!("{}: no whole frame within {timeout:?}", self.name),
                    ));
                }
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// What a port thread talks to once open.
pub enum Conn {
    /// A bridged device.
    Link(Box<dyn Link>),
    /// A lab meter behind an adapter device.
    Meter(Box<dyn MeterSource>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conn::Link(l) => write!(f, "Link({})", l.name()),
            Conn::Meter(m) => write!(f, "Meter({})", m.name()),
        }
    }
}

/// Opens a port's connection; called again after each loss.
pub type Opener = Box<dyn FnMut() -> Result<Conn, LinkError> + Send>;

/// The opener for a device: its stream and framing (bridged) or meter protocol (adapter).
#[must_use]
pub fn opener(
    addr: PortAddr,
    label: String,
    meter: Option<MeterConfig>,
    timeout: Duration,
) -> Opener {
    Box::new(move || match (&addr, &meter) {
        (PortAddr::Slcan { bitrate, isotp, .. }, _) => {
            let stream = open_stream(&addr, &label, timeout)?;
            let bus = Slcan::open(
                stream,
                &SlcanConfig {
                    bitrate: *bitrate,
                    ..SlcanConfig::default()
                },
            )?;
            Ok(Conn::Link(Box::new(IsoTpLink::new(bus, *isotp))))
        }
        (PortAddr::SocketCan { interface, isotp }, _) => open_socketcan(interface, isotp),
        (_, None) => {
            let stream = open_stream(&addr, &label, timeout)?;
            Ok(Conn::Link(Box::new(LengthPrefixed::new(stream))))
        }
        (_, Some(mc)) => {
            let stream = open_stream(&addr, &label, timeout)?;
            modes::open_meter(stream, mc, timeout).map(Conn::Meter)
        }
    })
}

#[cfg(target_os = "linux")]
fn open_socketcan(interface: &str, isotp: &IsoTpConfig) -> Result<Conn, LinkError> {
    let bus = crate::transport::socketcan::SocketCan::open(interface)?;
    Ok(Conn::Link(Box::new(IsoTpLink::new(bus, *isotp))))
}

#[cfg(not(target_os = "linux"))]
fn open_socketcan(interface: &str, _isotp: &IsoTpConfig) -> Result<Conn, LinkError> {
    Err(crate::transport::socketcan::check_kernel(interface)
        .err()
        .unwrap_or_else(|| LinkError::new(LinkErrorKind::Unavailable, "no SocketCAN here")))
}

/// A boxed stream is a stream: the framings that are generic over [`ByteStream`] (SLCAN,
/// ZNP) take the counted, boxed streams the rig opens.
impl<S: ByteStream + ?Sized> ByteStream for Box<S> {
    fn set_read_timeout(&mut self, timeout: Duration) -> Result<(), LinkError> {
        (**self).set_read_timeout(timeout)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
}

/// A command for the device behind a port.
#[derive(Debug)]
pub struct Job {
    /// The GBCS command.
    pub command: Vec<u8>,
    /// Where the answers go.
    pub replies: Replies,
}

/// Why a port did not take a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its queue is full.
    Busy,
    /// Its thread has ended.
    Gone,
}

/// The link task's end of a port.
#[derive(Debug)]
pub struct PortHandle {
    /// The port's label (its TCP address or serial path).
    pub name: String,
    /// The device's mode.
    pub mode: Mode,
    tx: SyncSender<Job>,
}

impl PortHandle {
    /// Queues a command without waiting.
    ///
    /// # Errors
    /// [`Refused`] when the queue is full or the thread is gone.
    pub fn submit(&self, job: Job) -> Result<(), Refused> {
        self.tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => Refused::Busy,
            TrySendError::Disconnected(_) => Refused::Gone,
        })
    }
}

/// What a port thread serves.
pub struct PortSpec {
    /// Port label.
    pub name: String,
    /// The hub the device is behind.
    pub hub: Eui,
    /// The device.
    pub device: Eui,
    /// Bridged or adapter.
    pub mode: Mode,
    /// Time allowed per command (bridged) or meter read (adapter).
    pub timeout: Duration,
    /// Opens the connection.
    pub opener: Opener,
    /// The emulated devices (adapter mode answers with the hub's identity).
    pub hubs: Arc<Hubs>,
}

impl std::fmt::Debug for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortSpec")
            .field("name", &self.name)
            .field("device", &hex::eui(&self.device))
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Starts the thread of a port.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn(spec: PortSpec) -> std::io::Result<PortHandle> {
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    let handle = PortHandle {
        name: spec.name.clone(),
        mode: spec.mode,
        tx,
    };
    std::thread::Builder::new()
        .name(format!("port {}", spec.name))
        .spawn(move || Worker::new(spec).run(&rx))?;
    Ok(handle)
}

struct PortMetrics {
    up: Gauge,
    reconnects: Counter,
    frames_in: Counter,
    frames_out: Counter,
    round_trip: Histogram,
    reads_ok: Counter,
    reads_error: Counter,
    answers: Counter,
    errors: HashMap<LinkErrorKind, Counter>,
    unanswered: HashMap<&'static str, Counter>,
    port: String,
    hub: String,
}

impl PortMetrics {
    fn new(port: &str, hub: &Eui) -> Self {
        let p = port.to_string();
        let hub = hex::eui(hub);
        Self {
            up: metrics::gauge!(m::PORT_UP, "port" => p.clone()),
            reconnects: metrics::counter!(m::PORT_RECONNECTS_TOTAL, "port" => p.clone()),
            frames_in: metrics::counter!(m::PORT_FRAMES_TOTAL, "port" => p.clone(), "direction" => "in"),
            frames_out: metrics::counter!(m::PORT_FRAMES_TOTAL, "port" => p.clone(), "direction" => "out"),
            round_trip: metrics::histogram!(m::PORT_ROUND_TRIP_SECONDS, "port" => p.clone()),
            reads_ok: metrics::counter!(m::PORT_METER_READS_TOTAL, "port" => p.clone(), "outcome" => "ok"),
            reads_error: metrics::counter!(m::PORT_METER_READS_TOTAL, "port" => p.clone(), "outcome" => "error"),
            answers: metrics::counter!(m::HUB_ANSWERS_TOTAL, "hub" => hub.clone()),
            errors: HashMap::new(),
            unanswered: HashMap::new(),
            port: p,
            hub,
        }
    }

    fn error(&mut self, kind: LinkErrorKind) {
        let port = self.port.clone();
        self.errors
            .entry(kind)
            .or_insert_with(
                || metrics::counter!(m::PORT_ERRORS_TOTAL, "port" => port, "kind" => kind.as_str()),
            )
            .increment(1);
    }

    fn unanswered(&mut self, reason: &'static str) {
        let hub = self.hub.clone();
        self.unanswered
            .entry(reason)
            .or_insert_with(
                || metrics::counter!(m::HUB_UNANSWERED_TOTAL, "hub" => hub, "reason" => reason),
            )
            .increment(1);
    }
}

struct Worker {
    spec: PortSpec,
    conn: Option<Conn>,
    /// When to try opening next (while `conn` is `None`).
    next_open: Instant,
    backoff: Duration,
    /// The port was open once and then lost (the next open is a reconnection).
    lost: bool,
    /// Failed opens since the last success (the first is logged at WARN).
    failed_opens: u32,
    /// Where unsolicited frames of a bridged device go: the latest command's session.
    replies: Option<Replies>,
    metrics: PortMetrics,
    device: String,
}

impl Worker {
    fn new(spec: PortSpec) -> Self {
        let metrics = PortMetrics::new(&spec.name, &spec.hub);
        metrics.up.set(0.0);
        let device = hex::eui(&spec.device);
        Self {
            spec,
            conn: None,
            next_open: Instant::now(),
            backoff: BACKOFF_FIRST,
            lost: false,
            failed_opens: 0,
            replies: None,
            metrics,
            device,
        }
    }

    fn run(mut self, rx: &Receiver<Job>) {
        loop {
            if self.conn.is_none() && Instant::now() >= self.next_open {
                self.try_open();
            }
            let wait = match (&self.conn, self.spec.mode) {
                (Some(_), Mode::Bridged) => Duration::ZERO,
                (Some(_), _) => Duration::from_secs(1),
                (None, _) => self
                    .next_open
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(10)),
            };
            let job = if wait.is_zero() {
                match rx.try_recv() {
                    Ok(j) => Some(j),
                    Err(std::sync::mpsc::TryRecvError::Empty) => None,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                }
            } else {
                match rx.recv_timeout(wait) {
                    Ok(j) => Some(j),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            match job {
                Some(job) => self.handle(job),
                None => self.idle(),
            }
        }
    }

    fn try_open(&mut self) {
        match (self.spec.opener)() {
            Ok(conn) => {
                self.conn = Some(conn);
                self.metrics.up.set(1.0);
                self.backoff = BACKOFF_FIRST;
                if self.lost {
                    self.metrics.reconnects.increment(1);
                    tracing::warn!(port = %self.spec.name, device = %self.device, "port reopened");
                } else {
                    tracing::info!(port = %self.spec.name, device = %self.device, "port open");
                }
                self.failed_opens = 0;
            }
            Err(e) => {
                self.metrics.error(e.kind);
                if self.failed_opens == 0 {
                    tracing::warn!(port = %self.spec.name, device = %self.device, error = %e,
                        "port cannot be opened; retrying with back-off");
                } else {
                    tracing::debug!(port = %self.spec.name, error = %e, "port still unavailable");
                }
                self.failed_opens += 1;
                self.next_open = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }

    /// Drops the connection after `e` and schedules reopening. `mid_command`: a command
    /// was in progress (and is not answered).
    fn lose(&mut self, e: &LinkError, mid_command: bool) {
        self.metrics.error(e.kind);
        self.conn = None;
        self.metrics.up.set(0.0);
        self.lost = true;
        self.failed_opens = 0;
        self.backoff = BACKOFF_FIRST;
        self.next_open = Instant::now() + BACKOFF_FIRST;
        let what = match (e.kind, mid_command) {
            (LinkErrorKind::Closed, true) => {
                "port closed mid-command (device unplugged?); command not answered, reopening with back-off"
            }
            (LinkErrorKind::Closed, false) => {
                "port closed (device unplugged?); reopening with back-off"
            }
            (_, true) => "port failed mid-command; command not answered, reopening with back-off",
            (_, false) => "port failed; reopening with back-off",
        };
        tracing::warn!(port = %self.spec.name, device = %self.device, error = %e, "{what}");
    }

    fn handle(&mut self, job: Job) {
        if self.conn.is_none() {
            // One immediate attempt, so that a device plugged back in answers at once.
            if Instant::now() >= self.next_open {
                self.try_open();
            }
            if self.conn.is_none() {
                self.metrics.unanswered("port_down");
                tracing::warn!(port = %self.spec.name, device = %self.device,
                    "port is down; command not answered");
                return;
            }
        }
        match self.spec.mode {
            Mode::Bridged => self.bridged(job),
            _ => self.adapter(job),
        }
    }

    fn send_answer(&mut self, replies: &Replies, bytes: Vec<u8>) {
        if replies.send_blocking(self.spec.hub, bytes) {
            self.metrics.answers.increment(1);
        } else {
            tracing::info!(port = %self.spec.name, "answer dropped: the gateway link it belongs to has ended");
        }
    }

    fn bridged(&mut self, job: Job) {
        let Some(Conn::Link(link)) = self.conn.as_mut() else {
            return;
        };
        let started = Instant::now();
        let sent = link.send(&job.command);
        let answer = sent.and_then(|()| {
            self.metrics.frames_out.increment(1);
            link.recv(self.spec.timeout)
        });
        self.replies = Some(job.replies.clone());
        match answer {
            Ok(frame) => {
                self.metrics.frames_in.increment(1);
                self.metrics
                    .round_trip
                    .record(started.elapsed().as_secs_f64());
                self.send_answer(&job.replies, frame);
            }
            Err(e) if e.kind == LinkErrorKind::Timeout => {
                // A silent device: the link stays up; a late answer is forwarded when it comes.
                self.metrics.error(e.kind);
                self.metrics.unanswered("port_error");
                tracing::warn!(port = %self.spec.name, device = %self.device, error = %e,
                    "no answer in time; command not answered");
            }
            Err(e) => {
                self.metrics.unanswered("port_error");
                self.lose(&e, true);
            }
        }
    }

    fn adapter(&mut self, job: Job) {
        let Some(Conn::Meter(meter)) = self.conn.as_mut() else {
            return;
        };
        let started = Instant::now();
        match meter.read() {
            Ok(readings) => {
                self.metrics.reads_ok.increment(1);
                self.metrics
                    .round_trip
                    .record(started.elapsed().as_secs_f64());
                let answers = modes::answer_adapter(
                    &self.spec.hubs,
                    self.spec.hub,
                    self.spec.device,
                    &readings,
                    &job.command,
                );
                if answers.is_empty() {
                    self.metrics.unanswered("discarded");
                }
                for a in answers {
                    self.send_answer(&job.replies, a);
                }
            }
            Err(e) => {
                self.metrics.reads_error.increment(1);
                self.metrics.unanswered("port_error");
                self.lose(&e, true);
            }
        }
    }

    /// Between commands: forward what a bridged device sends on its own (alerts, late
    /// answers) and notice when it goes away.
    fn idle(&mut self) {
        let Some(Conn::Link(link)) = self.conn.as_mut() else {
            return;
        };
        match link.recv(IDLE_POLL) {
            Ok(frame) => {
                self.metrics.frames_in.increment(1);
                match self.replies.clone() {
                    Some(r) if !r.is_closed() => self.send_answer(&r, frame),
                    _ => tracing::info!(port = %self.spec.name, device = %self.device,
                        "frame from the device while no gateway link is up; dropped"),
                }
            }
            Err(e) if e.kind == LinkErrorKind::Timeout => {}
            Err(e) => self.lose(&e, false),
        }
    }
}
