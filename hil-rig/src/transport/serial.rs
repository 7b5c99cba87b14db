//! Serial ports: USB-serial adapters, on-board UARTs and pseudo-terminals.
//!
//! # What is implemented
//!
//! * [`SerialSettings`]: baud rate, data bits (5–8), parity (none/even/odd), stop bits (1/2),
//!   flow control (none/software/hardware) and the read timeout, deserialisable from the
//!   rig's configuration (defaults 9600 8N1, no flow control, 1 s).
//! * [`SerialPort::open`] opens any tty path through the `serialport` crate (built without
//!   its `libudev` feature, so the rig needs no system library) and then **reads the
//!   settings back**: the Linux PTY driver, and some USB adapters, accept a parity or
//!   data-bits change without an error and keep their old setting. A setting that did not
//!   stick is a [`LinkErrorKind::Setting`] error naming the port, the setting, the value
//!   asked for and the value read back. The baud rate may differ by up to 2 % (drivers
//!   round to what their clock divider can do, and a UART tolerates that much).
//! * [`SerialPort`] is a [`ByteStream`]: the framings (HDLC, SLCAN, ASH, MT) run on it. A
//!   port whose device went away (unplugged adapter, PTY whose master closed) fails reads
//!   and writes with [`LinkErrorKind::Closed`] (through [`LinkError::from_io`]).
//! * Reopening: [`SerialPort::reopen`] and [`reopen`] try the same path with the same
//!   settings again, following a [`Backoff`], until the device is back or the caller's time
//!   is up.
//! * Discovery: [`list_ports`] returns what the system shows as serial ports with their kind
//!   and, for USB adapters, vendor and product ids, manufacturer, product and serial number.
//!   Without libudev, `serialport::available_ports` scans `/sys/class/tty` and reads the USB
//!   descriptors (`idVendor`, `idProduct`, `manufacturer`, `product`, `serial`) from sysfs
//!   itself, so nothing is read by hand here. PTYs have no sysfs device and are not listed;
//!   the operator names them in the configuration.
//!
//! # What is not implemented
//!
//! Modem lines (DTR/RTS/CTS/DCD), break, and parity/framing error reporting: the rig's meters
//! do not need them, and PTYs cannot model them (`ioctl(TIOCM*)` fails with ENOTTY there).
//! Baud timing is not checked: a PTY accepts any rate and delivers at memory speed.
//!
//! # What the tests prove
//!
//! `tests/serial_peers.rs` exchanges framed bytes with an independent pyserial peer over a
//! socat PTY pair, including bytes a cooked tty would mangle (XON/XOFF, CR/LF, ^C, 0xFF);
//! shows that opening a PTY with even parity or 7 data bits is refused with a `Setting`
//! error naming the port and the setting while 8N1 works; reopens a port after its device
//! vanished and came back at the same path; and runs [`list_ports`] and `hil-rig ports`.

use std::fmt;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ByteStream, LinkError, LinkErrorKind};

/// Parity bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// No parity bit.
    #[default]
    None,
    /// Even parity (8E1 meters, 7E1 for IEC 62056-21).
    Even,
    /// Odd parity.
    Odd,
}

impl fmt::Display for Parity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::Even => "Even",
            Self::Odd => "Odd",
        })
    }
}

/// Flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    /// None.
    #[default]
    None,
    /// XON/XOFF in the data stream.
    Software,
    /// RTS/CTS lines.
    Hardware,
}

impl fmt::Display for FlowControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::Software => "Software",
            Self::Hardware => "Hardware",
        })
    }
}

/// How to set up a serial port. Deserialises from the rig configuration, e.g.
/// `{ "baud": 9600, "data_bits": 7, "parity": "even" }`; missing fields take the defaults
/// (9600 8N1, no flow control, 1000 ms read timeout, 2000 ms write timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SerialSettings {
    /// Bits per second.
    pub baud: u32,
    /// Data bits per character, 5 to 8.
    pub data_bits: u8,
    /// Parity bit.
    pub parity: Parity,
    /// Stop bits, 1 or 2.
    pub stop_bits: u8,
    /// Flow control.
    pub flow_control: FlowControl,
    /// How long a read waits for the first byte, in milliseconds (framings change it per
    /// call through [`ByteStream::set_read_timeout`]).
    pub read_timeout_ms: u64,
    /// How long a write may wait for room in the output buffer, in milliseconds (a port
    /// whose flow control holds it back longer fails with [`LinkErrorKind::Timeout`]).
    pub write_timeout_ms: u64,
}

impl Default for SerialSettings {
    fn default() -> Self {
        Self {
            baud: 9600,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
            flow_control: FlowControl::None,
            read_timeout_ms: 1000,
            write_timeout_ms: 2000,
        }
    }
}

impl SerialSettings {
    /// 8N1 at `baud`, the other fields at their defaults.
    #[must_use]
    pub fn baud(baud: u32) -> Self {
        Self {
            baud,
            ..Self::default()
        }
    }
}

impl fmt::Display for SerialSettings {
    /// `9600 8N1`, `300 7E1 xon/xoff`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.parity {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        };
        write!(f, "{} {}{}{}", self.baud, self.data_bits, p, self.stop_bits)?;
        match self.flow_control {
            FlowControl::None => Ok(()),
            FlowControl::Software => f.write_str(" xon/xoff"),
            FlowControl::Hardware => f.write_str(" rts/cts"),
        }
    }
}

fn setting_error(path: &str, message: String) -> LinkError {
    LinkError::new(LinkErrorKind::Setting, format!("port {path}: {message}"))
}

/// "port X did not apply …": a setting the port took without an error but did not keep.
fn not_applied(path: &str, message: String) -> LinkError {
    LinkError::new(LinkErrorKind::Setting, format!("port {path} {message}"))
}

fn data_bits(path: &str, n: u8) -> Result<serialport::DataBits, LinkError> {
    use serialport::DataBits as D;
    Ok(match n {
        5 => D::Five,
        6 => D::Six,
        7 => D::Seven,
        8 => D::Eight,
        other => {
            return Err(setting_error(
                path,
                format!("data bits {other} is not one of 5, 6, 7, 8"),
            ));
        }
    })
}

fn data_bits_count(d: serialport::DataBits) -> u8 {
    use serialport::DataBits as D;
    match d {
        D::Five => 5,
        D::Six => 6,
        D::Seven => 7,
        D::Eight => 8,
    }
}

fn stop_bits(path: &str, n: u8) -> Result<serialport::StopBits, LinkError> {
    match n {
        1 => Ok(serialport::StopBits::One),
        2 => Ok(serialport::StopBits::Two),
        other => Err(setting_error(
            path,
            format!("stop bits {other} is not 1 or 2"),
        )),
    }
}

fn stop_bits_count(s: serialport::StopBits) -> u8 {
    match s {
        serialport::StopBits::One => 1,
        serialport::StopBits::Two => 2,
    }
}

fn to_parity(p: Parity) -> serialport::Parity {
    match p {
        Parity::None => serialport::Parity::None,
        Parity::Even => serialport::Parity::Even,
        Parity::Odd => serialport::Parity::Odd,
    }
}

fn from_parity(p: serialport::Parity) -> Parity {
    match p {
        serialport::Parity::None => Parity::None,
        serialport::Parity::Even => Parity::Even,
        serialport::Parity::Odd => Parity::Odd,
    }
}

fn to_flow(f: FlowControl) -> serialport::FlowControl {
    match f {
        FlowControl::None => serialport::FlowControl::None,
        FlowControl::Software => serialport::FlowControl::Software,
        FlowControl::Hardware => serialport::FlowControl::Hardware,
    }
}

fn from_flow(f: serialport::FlowControl) -> FlowControl {
    match f {
        serialport::FlowControl::None => FlowControl::None,
        serialport::FlowControl::Software => FlowControl::Software,
        serialport::FlowControl::Hardware => FlowControl::Hardware,
    }
}

/// Maps an error from opening a port: a missing or busy device is `Unavailable` (the rig
/// retries), a rejected setting is `Setting`.
fn open_error(path: &str, e: &serialport::Error) -> LinkError {
    use serialport::ErrorKind as K;
    let kind = match e.kind() {
        K::NoDevice => LinkErrorKind::Unavailable,
        K::InvalidInput => LinkErrorKind::Setting,
        K::Io(std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) => {
            LinkErrorKind::Unavailable
        }
        K::Io(_) | K::Unknown => LinkErrorKind::Io,
    };
    LinkError::new(kind, format!("opening port {path}: {e}"))
}

/// Reads the settings back from an open port and fails on the first one that did not stick.
fn verify(
    path: &str,
    port: &dyn serialport::SerialPort,
    want: &SerialSettings,
) -> Result<(), LinkError> {
    let read = |what: &str, e: serialport::Error| {
        LinkError::new(
            LinkErrorKind::Io,
            format!("port {path}: reading back {what}: {e}"),
        )
    };
    let parity = from_parity(port.parity().map_err(|e| read("parity", e))?);
    if parity != want.parity {
        return Err(not_applied(
            path,
            format!(
                "did not apply parity {} (reads back {parity}): PTYs and some adapters cannot do parity",
                want.parity
            ),
        ));
    }
    let bits = data_bits_count(port.data_bits().map_err(|e| read("data bits", e))?);
    if bits != want.data_bits {
        return Err(not_applied(
            path,
            format!(
                "did not apply data bits {} (reads back {bits}): PTYs and some adapters only do 8 data bits",
                want.data_bits
            ),
        ));
    }
    let stop = stop_bits_count(port.stop_bits().map_err(|e| read("stop bits", e))?);
    if stop != want.stop_bits {
        return Err(not_applied(
            path,
            format!(
                "did not apply stop bits {} (reads back {stop})",
                want.stop_bits
            ),
        ));
    }
    let flow = from_flow(port.flow_control().map_err(|e| read("flow control", e))?);
    if flow != want.flow_control {
        return Err(not_applied(
            path,
            format!(
                "did not apply flow control {} (reads back {flow})",
                want.flow_control
            ),
        ));
    }
    let baud = port.baud_rate().map_err(|e| read("baud rate", e))?;
    let off = u64::from(baud.abs_diff(want.baud)) * 100;
    if off > u64::from(want.baud) * 2 {
        return Err(not_applied(
            path,
            format!(
                "did not apply baud {} (reads back {baud}): the adapter cannot make this rate",
                want.baud
            ),
        ));
    }
    Ok(())
}

/// An open serial port, verified to run at its [`SerialSettings`].
pub struct SerialPort {
    /// `None` only between a failed [`SerialPort::reopen`] attempt and the next one.
    port: Option<Box<dyn serialport::SerialPort>>,
    path: String,
    settings: SerialSettings,
    /// serialport has one timeout for reads and writes; reads use this one, writes
    /// `settings.write_timeout_ms`, so that a framing's short read timeout does not make a
    /// write into a full buffer fail.
    read_timeout: Duration,
}

impl fmt::Debug for SerialPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerialPort")
            .field("path", &self.path)
            .field("settings", &self.settings)
            .field("open", &self.port.is_some())
            .finish()
    }
}

fn open_port(
    path: &str,
    settings: &SerialSettings,
) -> Result<Box<dyn serialport::SerialPort>, LinkError> {
    if settings.baud == 0 {
        return Err(setting_error(path, "baud 0 is not a rate".to_owned()));
    }
    let builder = serialport::new(path, settings.baud)
        .data_bits(data_bits(path, settings.data_bits)?)
        .stop_bits(stop_bits(path, settings.stop_bits)?)
        .parity(to_parity(settings.parity))
        .flow_control(to_flow(settings.flow_control))
        .timeout(Duration::from_millis(settings.read_timeout_ms.max(1)));
    let port = builder.open().map_err(|e| open_error(path, &e))?;
    verify(path, port.as_ref(), settings)?;
    Ok(port)
}

impl SerialPort {
    /// Opens `path` (a device such as `/dev/ttyUSB0`, or a PTY or a link to one) with
    /// `settings`, then reads the settings back.
    ///
    /// # Errors
    /// [`LinkErrorKind::Unavailable`] when the port does not exist, is held by another
    /// process or may not be opened; [`LinkErrorKind::Setting`] when a setting is out of
    /// range or the port did not apply it.
    pub fn open(path: &str, settings: &SerialSettings) -> Result<Self, LinkError> {
        let port = open_port(path, settings)?;
        Ok(Self {
            port: Some(port),
            path: path.to_owned(),
            settings: *settings,
            read_timeout: Duration::from_millis(settings.read_timeout_ms.max(1)),
        })
    }

    /// The path the port was opened with.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The settings the port runs at.
    #[must_use]
    pub fn settings(&self) -> &SerialSettings {
        &self.settings
    }

    /// Closes the port and opens the same path with the same settings again, retrying as
    /// `backoff` says until it works or `give_up` has passed. Call it after reads or writes
    /// failed with [`LinkErrorKind::Closed`] (an adapter unplugged and plugged back in).
    ///
    /// # Errors
    /// The last open error when the time ran out; the port stays closed (reads and writes
    /// fail with [`LinkErrorKind::Closed`]) until a later call succeeds.
    pub fn reopen(&mut self, backoff: &mut Backoff, give_up: Duration) -> Result<(), LinkError> {
        // Close first: the old descriptor holds the exclusive lock when the device is
        // still there.
        self.port = None;
        let mut port = reopen_port(&self.path, &self.settings, backoff, give_up)?;
        port.set_timeout(self.read_timeout)
            .map_err(|e| LinkError::new(LinkErrorKind::Io, format!("{}: {e}", self.path)))?;
        self.port = Some(port);
        Ok(())
    }

    fn port(&mut self) -> std::io::Result<&mut Box<dyn serialport::SerialPort>> {
        self.port.as_mut().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "the port is closed until it is reopened",
            )
        })
    }
}

fn reopen_port(
    path: &str,
    settings: &SerialSettings,
    backoff: &mut Backoff,
    give_up: Duration,
) -> Result<Box<dyn serialport::SerialPort>, LinkError> {
    let deadline = Instant::now() + give_up;
    loop {
        match open_port(path, settings) {
            Ok(port) => {
                backoff.reset();
                return Ok(port);
            }
            // A setting the port refuses will not get better by waiting.
            Err(e) if e.kind == LinkErrorKind::Setting => return Err(e),
            Err(e) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(e);
                }
                std::thread::sleep(backoff.next_delay().min(deadline - now));
            }
        }
    }
}

/// Opens `path` with `settings`, retrying as `backoff` says until it works or `give_up` has
/// passed: the function the rig calls when a port went away.
///
/// # Errors
/// The last open error when the time ran out, or at once a [`LinkErrorKind::Setting`] error.
pub fn reopen(
    path: &str,
    settings: &SerialSettings,
    backoff: &mut Backoff,
    give_up: Duration,
) -> Result<SerialPort, LinkError> {
    let port = reopen_port(path, settings, backoff, give_up)?;
    Ok(SerialPort {
        port: Some(port),
        path: path.to_owned(),
        settings: *settings,
        read_timeout: Duration::from_millis(settings.read_timeout_ms.max(1)),
    })
}

/// Exponential back-off between reopen attempts: `first`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `first` and doubles up to `max`.
    #[must_use]
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            next: first,
            max: max.max(first),
        }
    }

    /// The delay before the next attempt; each call doubles the following one.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// Back to `first` (after a success).
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

impl Default for Backoff {
    /// 100 ms doubling to 5 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

/// serialport reports EIO/ENODEV/ENXIO (a tty whose device went away) as an error of kind
/// `Other`, with only the errno text left; turn those into `BrokenPipe` so that
/// [`LinkError::from_io`] classifies them as [`LinkErrorKind::Closed`].
fn gone(e: std::io::Error) -> std::io::Error {
    const GONE: [&str; 3] = ["I/O error", "No such device", "No such device or address"];
    if e.kind() == std::io::ErrorKind::Other && GONE.contains(&e.to_string().as_str()) {
        std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            format!("{e}: the device went away"),
        )
    } else {
        e
    }
}

impl Read for SerialPort {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.port()?.read(buf).map_err(gone)
    }
}

impl SerialPort {
    /// Runs a write-side operation under the write timeout, then restores the read timeout.
    fn writing<T>(
        &mut self,
        op: impl FnOnce(&mut dyn serialport::SerialPort) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let write_timeout = Duration::from_millis(self.settings.write_timeout_ms.max(1));
        let read_timeout = self.read_timeout;
        let port = self.port()?;
        port.set_timeout(write_timeout)?;
        let result = op(port.as_mut()).map_err(gone);
        port.set_timeout(read_timeout)?;
        result
    }
}

impl Write for SerialPort {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writing(|p| p.write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writing(|p| p.flush())
    }
}

impl ByteStream for SerialPort {
    fn set_read_timeout(&mut self, timeout: Duration) -> Result<(), LinkError> {
        self.read_timeout = timeout.max(Duration::from_millis(1));
        let (path, t) = (self.path.clone(), self.read_timeout);
        self.port()
            .map_err(|e| LinkError::from_io(&path, &e))?
            .set_timeout(t)
            .map_err(|e| LinkError::new(LinkErrorKind::Io, format!("{path}: {e}")))
    }
    fn name(&self) -> &str {
        &self.path
    }
}

/// How a serial port is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortKind {
    /// A USB-serial adapter or a USB CDC device.
    Usb,
    /// A PCI(e) UART.
    Pci,
    /// A Bluetooth RFCOMM port.
    Bluetooth,
    /// Anything else the system lists (on-board UARTs, platform devices).
    Unknown,
}

impl fmt::Display for PortKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Usb => "usb",
            Self::Pci => "pci",
            Self::Bluetooth => "bluetooth",
            Self::Unknown => "unknown",
        })
    }
}

/// The USB descriptors of an adapter, as far as the device reports them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UsbInfo {
    /// Vendor id.
    pub vid: u16,
    /// Product id.
    pub pid: u16,
    /// Manufacturer string.
    pub manufacturer: Option<String>,
    /// Product string.
    pub product: Option<String>,
    /// Serial number string (tells two identical adapters apart).
    pub serial_number: Option<String>,
}

/// A serial port the system lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PortInfo {
    /// The device path, e.g. `/dev/ttyUSB0`.
    pub name: String,
    /// How it is attached.
    pub kind: PortKind,
    /// USB descriptors, for USB ports.
    pub usb: Option<UsbInfo>,
}

/// The serial ports the system shows, sorted by path.
///
/// # Errors
/// [`LinkErrorKind::Io`] when the system's list cannot be read.
pub fn list_ports() -> Result<Vec<PortInfo>, LinkError> {
    // serialport's sysfs scan panics when /sys/class/tty is missing (minimal containers);
    // such a system has no ports to list.
    #[cfg(target_os = "linux")]
    if !std::path::Path::new("/sys/class/tty").is_dir() {
        return Ok(Vec::new());
    }
    let ports = serialport::available_ports()
        .map_err(|e| LinkError::new(LinkErrorKind::Io, format!("listing serial ports: {e}")))?;
    let mut out: Vec<PortInfo> = ports
        .into_iter()
        .map(|p| {
            let (kind, usb) = match p.port_type {
                serialport::SerialPortType::UsbPort(u) => (
                    PortKind::Usb,
                    Some(UsbInfo {
                        vid: u.vid,
                        pid: u.pid,
                        manufacturer: u.manufacturer,
                        product: u.product,
                        serial_number: u.serial_number,
                    }),
                ),
                serialport::SerialPortType::PciPort => (PortKind::Pci, None),
                serialport::SerialPortType::BluetoothPort => (PortKind::Bluetooth, None),
                serialport::SerialPortType::Unknown => (PortKind::Unknown, None),
            };
            PortInfo {
                name: p.port_name,
                kind,
                usb,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_and_deserialise() {
        let d = SerialSettings::default();
        assert_eq!(d.to_string(), "9600 8N1");
        let s: SerialSettings =
            serde_json::from_str(r#"{"baud":300,"data_bits":7,"parity":"even"}"#).unwrap();
        assert_eq!(s.to_string(), "300 7E1");
        assert_eq!(s.read_timeout_ms, 1000);
        assert!(serde_json::from_str::<SerialSettings>(r#"{"parity":"mark"}"#).is_err());
        assert!(serde_json::from_str::<SerialSettings>(r#"{"bauds":1}"#).is_err());
    }

    #[test]
    fn out_of_range_settings_are_setting_errors() {
        let s = SerialSettings {
            data_bits: 9,
            ..SerialSettings::default()
        };
        let e = SerialPort::open("/dev/null-no-such-port", &s).unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Setting);
        assert!(e.message.contains("data bits 9"), "{e}");
        let e = SerialPort::open("/dev/null-no-such-port", &SerialSettings::default()).unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Unavailable, "{e}");
    }

    #[test]
    fn backoff_doubles_to_max() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(35));
        let d: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(d, [10, 20, 35, 35]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(10));
    }
}
