//! CAN over Lawicel ASCII ("SLCAN"): the line protocol of CANUSB, CANable, USBtin and most
//! other USB-CAN adapters. The [`CanFrame`]/[`CanBus`] types every CAN transport of the rig
//! shares live in [`super::can`] and are re-exported here.
//!
//! # What is implemented
//!
//! * The line codec ([`encode`], [`decode`]): `tiiiL…` and `TiiiiiiiiL…` data frames with
//!   standard 11-bit and extended 29-bit identifiers and 0–8 bytes, `riiiL`/`RiiiiiiiiL`
//!   remote frames, and the CAN FD lines `d`/`D` (no bit-rate switch) and `b`/`B` (with),
//!   whose length code 0–F maps to 0–64 bytes. A 4-digit timestamp after the data (adapters
//!   in `Z1` mode) is accepted and dropped. Anything malformed is a
//!   [`LinkErrorKind::Framing`] error quoting the line.
//! * The adapter driver [`Slcan`] over any [`ByteStream`] (a serial port, or a TCP bridge):
//!   the open sequence `C`, `Sn`, `O` (or `L` for listen-only), each followed by a short wait
//!   for the adapter's acknowledgement (CR, or BEL for "refused"). A refused bit rate is a
//!   [`LinkErrorKind::Setting`] error and a refused `O` a [`LinkErrorKind::Protocol`] error;
//!   a `C` refused because the channel was already closed, and silence (hosts and some
//!   adapters do not acknowledge), are fine. Receiving skips empty lines, BEL, transmit
//!   acknowledgements (`z`, `Z`) and any other non-frame line: the other end may be a host
//!   that sends its own open sequence (python-can sends `C`, `S6`, an empty line and `O`
//!   twice).
//! * [`CanBus`]: send a frame, receive a frame within a timeout. [`Slcan`] implements it.
//!
//! # Why the codec is written here
//!
//! The `slcan` crate (0.1) is tied to the old `serial-core` port trait and has no remote or
//! CAN FD frames; the rig needs the codec over any [`ByteStream`] (a serial port, or a TCP
//! bridge to a remote adapter) and the tolerance for host lines described above. The line
//! format is small and fully specified by the Lawicel documentation.
//!
//! # What is not implemented
//!
//! Adapter queries (`V`, `N`, `F` status flags), acceptance filters (`M`/`m`), the `s`
//! BTR register form and CAN FD data bit rates (`Yn`); error frames (SLCAN has no standard
//! line for them).
//!
//! # What the tests prove
//!
//! `tests/can_peers.rs` puts python-can's own `slcan` interface on the other end of a socat
//! PTY pair and exchanges standard, extended and remote frames in both directions; carries
//! multi-frame ISO-TP messages both ways; and has cantools decode a frame whose payload the
//! test encodes from `meter.dbc`. The unit tests below cover the codec edge cases.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{ByteStream, LinkError, LinkErrorKind, read_some};

pub use super::can::{CanBus, CanFrame, FD_LENGTHS, MAX_EXTENDED_ID, MAX_STANDARD_ID};

fn hex_upper(out: &mut Vec<u8>, v: u32, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (i * 4)) & 0xF) as usize]);
    }
}

/// Encodes `frame` as one SLCAN line, terminating `\r` included.
///
/// # Errors
/// [`LinkErrorKind::Framing`] when the frame is out of range ([`CanFrame::check`]).
pub fn encode(frame: &CanFrame) -> Result<Vec<u8>, LinkError> {
    frame.check()?;
    let mut out = Vec::with_capacity(11 + frame.data.len() * 2);
    let letter = match (frame.rtr, frame.fd, frame.brs, frame.extended) {
        (true, _, _, false) => b'r',
        (true, _, _, true) => b'R',
        (false, false, _, false) => b't',
        (false, false, _, true) => b'T',
        (false, true, false, false) => b'd',
        (false, true, false, true) => b'D',
        (false, true, true, false) => b'b',
        (false, true, true, true) => b'B',
    };
    out.push(letter);
    hex_upper(&mut out, frame.id, if frame.extended { 8 } else { 3 });
    let code = if frame.rtr {
        u32::from(frame.remote_len)
    } else if frame.fd {
        // check() made sure the length is in the table.
        FD_LENGTHS
            .iter()
            .position(|&n| n == frame.data.len())
            .map_or(0, |p| p as u32)
    } else {
        frame.data.len() as u32
    };
    hex_upper(&mut out, code, 1);
    for &b in &frame.data {
        hex_upper(&mut out, u32::from(b), 2);
    }
    out.push(b'\r');
    Ok(out)
}

fn hex_value(field: &[u8]) -> Option<u32> {
    if field.is_empty() {
        return None;
    }
    field.iter().try_fold(0u32, |acc, &c| {
        let d = (c as char).to_digit(16)?;
        Some((acc << 4) | d)
    })
}

/// True when `line` starts with a frame letter (`t T r R d D b B`).
#[must_use]
pub fn is_frame_line(line: &[u8]) -> bool {
    matches!(
        line.first(),
        Some(b't' | b'T' | b'r' | b'R' | b'd' | b'D' | b'b' | b'B')
    )
}

/// Decodes one SLCAN frame line (without its `\r`).
///
/// # Errors
/// [`LinkErrorKind::Framing`] quoting the line when it is not a well-formed frame.
pub fn decode(line: &[u8]) -> Result<CanFrame, LinkError> {
    let shown = String::from_utf8_lossy(line);
    let bad = |why: &str| {
        Err(LinkError::new(
            LinkErrorKind::Framing,
            format!("SLCAN line {shown:?}: {why}"),
        ))
    };
    let Some(&letter) = line.first() else {
        return bad("empty line");
    };
    let (extended, rtr, fd, brs) = match letter {
        b't' => (false, false, false, false),
        b'T' => (true, false, false, false),
        b'r' => (false, true, false, false),
        b'R' => (true, true, false, false),
        b'd' => (false, false, true, false),
        b'D' => (true, false, true, false),
        b'b' => (false, false, true, true),
        b'B' => (true, false, true, true),
        _ => return bad("not a frame line"),
    };
    let id_len = if extended { 8 } else { 3 };
    let Some(id_field) = line.get(1..=id_len) else {
        return bad("too short for the identifier");
    };
    let Some(id) = hex_value(id_field) else {
        return bad("identifier is not hex");
    };
    let Some(code) = line.get(1 + id_len..2 + id_len).and_then(hex_value) else {
        return bad("missing or non-hex length code");
    };
    let len = if fd {
        FD_LENGTHS[code as usize]
    } else if code > 8 {
        return bad("length code above 8");
    } else {
        code as usize
    };
    let rest = &line[2 + id_len..];
    let data_chars = if rtr { 0 } else { len * 2 };
    let Some(data_field) = rest.get(..data_chars) else {
        return bad(&format!("{len} data bytes announced, fewer present"));
    };
    let mut data = Vec::with_capacity(len);
    for pair in data_field.chunks(2) {
        match hex_value(pair) {
            Some(b) => data.push(b as u8),
            None => return bad("data is not hex"),
        }
    }
    let tail = &rest[data_chars..];
    if !(tail.is_empty() || (tail.len() == 4 && hex_value(tail).is_some())) {
        return bad("unexpected characters after the data");
    }
    let frame = CanFrame {
        id,
        extended,
        rtr,
        data,
        remote_len: if rtr { code as u8 } else { 0 },
        fd,
        brs,
    };
    if let Err(e) = frame.check() {
        return bad(&e.message);
    }
    Ok(frame)
}

/// The `Sn` command for a nominal bit rate (bits per second).
///
/// # Errors
/// [`LinkErrorKind::Setting`] for a rate with no `Sn` code.
pub fn bitrate_command(bitrate: u32) -> Result<&'static str, LinkError> {
    // The Lawicel table; S7 is 800 kbit/s on the original CANUSB and 750 kbit/s on several
    // later adapters (and in python-can), so both rates map to it.
    Ok(match bitrate {
        10_000 => "S0",
        20_000 => "S1",
        50_000 => "S2",
        100_000 => "S3",
        125_000 => "S4",
        250_000 => "S5",
        500_000 => "S6",
        750_000 | 800_000 => "S7",
        1_000_000 => "S8",
        other => {
            return Err(LinkError::new(
                LinkErrorKind::Setting,
                format!(
                    "SLCAN has no bit rate {other}: use 10k, 20k, 50k, 100k, 125k, 250k, 500k, 750k/800k or 1M"
                ),
            ));
        }
    })
}

/// How to open an SLCAN adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlcanConfig {
    /// Nominal bit rate, bits per second (see [`bitrate_command`]).
    pub bitrate: u32,
    /// Open with `L` (listen only, no acknowledgements on the bus) instead of `O`.
    pub listen_only: bool,
    /// How long to wait for the adapter to acknowledge each open command.
    pub ack_wait: Duration,
}

impl Default for SlcanConfig {
    /// 500 kbit/s, normal mode, 100 ms per acknowledgement.
    fn default() -> Self {
        Self {
            bitrate: 500_000,
            listen_only: false,
            ack_wait: Duration::from_millis(100),
        }
    }
}

/// What the adapter answered to a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    Ok,
    Refused,
    Silent,
}

/// Longest line accepted: a CAN FD extended frame with 64 bytes and a timestamp is 143.
const MAX_LINE: usize = 160;

/// An SLCAN adapter on a byte stream.
#[derive(Debug)]
pub struct Slcan<S: ByteStream> {
    stream: S,
    name: String,
    /// Bytes read but not yet split into lines.
    buf: Vec<u8>,
    /// Frames that arrived while waiting for an acknowledgement.
    pending: VecDeque<CanFrame>,
    refused: u64,
}

impl<S: ByteStream> Slcan<S> {
    /// Wraps a stream whose adapter is already open (or a peer that needs no open
    /// sequence); sends nothing.
    pub fn attach(stream: S) -> Self {
        let name = format!("slcan:{}", stream.name());
        Self {
            stream,
            name,
            buf: Vec::new(),
            pending: VecDeque::new(),
            refused: 0,
        }
    }

    /// Opens the adapter: `C` (close, in case it was left open), `Sn`, then `O` or `L`.
    ///
    /// # Errors
    /// [`LinkErrorKind::Setting`] when the bit rate has no code or the adapter refuses it,
    /// [`LinkErrorKind::Protocol`] when it refuses to open, I/O errors as they happen.
    pub fn open(stream: S, config: &SlcanConfig) -> Result<Self, LinkError> {
        let bitrate = bitrate_command(config.bitrate)?;
        let mut bus = Self::attach(stream);
        bus.command("C", config.ack_wait)?;
        if bus.command(bitrate, config.ack_wait)? == Ack::Refused {
            return Err(LinkError::new(
                LinkErrorKind::Setting,
                format!(
                    "{}: the adapter refused bit rate {} ({bitrate})",
                    bus.name, config.bitrate
                ),
            ));
        }
        let open = if config.listen_only { "L" } else { "O" };
        if bus.command(open, config.ack_wait)? == Ack::Refused {
            return Err(LinkError::new(
                LinkErrorKind::Protocol,
                format!(
                    "{}: the adapter refused to open the channel ({open})",
                    bus.name
                ),
            ));
        }
        Ok(bus)
    }

    /// Closes the channel (`C`), leaving the adapter idle.
    ///
    /// # Errors
    /// I/O errors as they happen.
    pub fn close(&mut self) -> Result<(), LinkError> {
        self.write_line(b"C\r")
    }

    /// How many BEL (error) answers arrived outside the open sequence, e.g. for frames the
    /// adapter could not queue.
    #[must_use]
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Gives the stream back.
    pub fn into_inner(self) -> S {
        self.stream
    }

    fn write_line(&mut self, line: &[u8]) -> Result<(), LinkError> {
        self.stream
            .write_all(line)
            .and_then(|()| self.stream.flush())
            .map_err(|e| LinkError::from_io(&self.name, &e))
    }

    /// Sends `cmd` and waits up to `wait` for CR or BEL, queueing frames that arrive.
    fn command(&mut self, cmd: &str, wait: Duration) -> Result<Ack, LinkError> {
        let mut line = cmd.as_bytes().to_vec();
        line.push(b'\r');
        self.write_line(&line)?;
        let deadline = Instant::now() + wait;
        loop {
            let line = match self.read_line(deadline) {
                Ok(l) => l,
                Err(e) if e.kind == LinkErrorKind::Timeout => return Ok(Ack::Silent),
                Err(e) => return Err(e),
            };
            match line.as_slice() {
                [b'\r'] => return Ok(Ack::Ok),
                [0x07] => {
                    tracing::debug!(port = %self.name, cmd, "adapter answered BEL");
                    return Ok(Ack::Refused);
                }
                l if is_frame_line(l) => {
                    if let Ok(f) = decode(&l[..l.len() - 1]) {
                        self.pending.push_back(f);
                    }
                }
                _ => {}
            }
        }
    }

    /// Reads one line, terminator (CR or BEL) included, by `deadline`.
    fn read_line(&mut self, deadline: Instant) -> Result<Vec<u8>, LinkError> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\r' || b == 0x07) {
                return Ok(self.buf.drain(..=end).collect());
            }
            if self.buf.len() > MAX_LINE {
                let shown = String::from_utf8_lossy(&self.buf[..32]).into_owned();
                self.buf.clear();
                return Err(LinkError::new(
                    LinkErrorKind::Framing,
                    format!(
                        "{}: line longer than {MAX_LINE} characters without CR (starts {shown:?})",
                        self.name
                    ),
                ));
            }
            let mut chunk = [0u8; 256];
            match read_some(&mut self.stream, &mut chunk, deadline, &self.name)? {
                Some(n) => self.buf.extend_from_slice(&chunk[..n]),
                None => {
                    return Err(LinkError::new(
                        LinkErrorKind::Timeout,
                        format!("{}: no complete line in time", self.name),
                    ));
                }
            }
        }
    }
}

impl<S: ByteStream> CanBus for Slcan<S> {
    fn send_frame(&mut self, frame: &CanFrame) -> Result<(), LinkError> {
        let line = encode(frame).map_err(|e| {
            LinkError::new(e.kind, format!("{}: sending: {}", self.name, e.message))
        })?;
        self.write_line(&line)
    }

    fn recv_frame(&mut self, timeout: Duration) -> Result<CanFrame, LinkError> {
        if let Some(f) = self.pending.pop_front() {
            return Ok(f);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.read_line(deadline)?;
            let body = &line[..line.len() - 1];
            if line.last() == Some(&0x07) {
                // BEL ends an error answer (to a frame the adapter could not send); a
                // stray one is harmless.
                self.refused += 1;
                continue;
            }
            if is_frame_line(body) {
                return decode(body)
                    .map_err(|e| LinkError::new(e.kind, format!("{}: {}", self.name, e.message)));
            }
            // Empty lines, transmit acks (z, Z), status answers and a host's own commands.
            if !body.is_empty() {
                tracing::trace!(port = %self.name, line = %String::from_utf8_lossy(body), "skipped SLCAN line");
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Opens a serial SLCAN adapter at `path` (the serial settings hardly matter for USB CDC
/// adapters; 115200 8N1 suits the FTDI-based ones).
///
/// # Errors
/// As [`super::serial::SerialPort::open`] and [`Slcan::open`].
pub fn open_port(
    path: &str,
    serial: &super::serial::SerialSettings,
    config: &SlcanConfig,
) -> Result<Slcan<super::serial::SerialPort>, LinkError> {
    let port = super::serial::SerialPort::open(path, serial)?;
    Slcan::open(port, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(f: &CanFrame) -> String {
        String::from_utf8(encode(f).unwrap()).unwrap()
    }

    #[test]
    fn encodes_the_lawicel_forms() {
        assert_eq!(line(&CanFrame::new(0x7DF, &[2, 1, 0x0C])), "t7DF302010C\r");
        assert_eq!(
            line(&CanFrame::new_extended(0x18FF50E5, &[0xAB])),
            "T18FF50E51AB\r"
        );
        assert_eq!(line(&CanFrame::remote(0x7FF, false, 2)), "r7FF2\r");
        assert_eq!(line(&CanFrame::remote(0x1, true, 0)), "R000000010\r");
        assert_eq!(line(&CanFrame::new(0, &[])), "t0000\r");
        assert_eq!(
            line(&CanFrame::new_fd(0x123, false, &[0x11; 12], true)),
            format!("b1239{}\r", "11".repeat(12))
        );
        assert_eq!(
            line(&CanFrame::new_fd(0x1, true, &[], false)),
            "D000000010\r"
        );
    }

    #[test]
    fn decodes_what_it_encodes_and_timestamps() {
        for f in [
            CanFrame::new(0x123, &[1, 2, 3, 4, 5, 6, 7, 8]),
            CanFrame::new_extended(MAX_EXTENDED_ID, &[]),
            CanFrame::remote(0x10, true, 8),
            CanFrame::new_fd(0x7FF, true, &[0xEE; 64], false),
        ] {
            let l = encode(&f).unwrap();
            assert_eq!(decode(&l[..l.len() - 1]).unwrap(), f);
        }
        let f = decode(b"t1232AABB1F2E").unwrap();
        assert_eq!(f, CanFrame::new(0x123, &[0xAA, 0xBB]));
        assert_eq!(decode(b"t1230").unwrap().data, Vec::<u8>::new());
        assert_eq!(decode(b"t12328aff").unwrap().data, vec![0x8A, 0xFF]);
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in [
            &b"t12"[..],
            b"t1239",
            b"t12G1AA",
            b"t1232AA",
            b"t1231AAB",
            b"t8001AA",
            b"T200000001AA",
            b"r1239",
            b"t1231ZZ",
            b"x",
            b"",
        ] {
            let e = decode(bad).unwrap_err();
            assert_eq!(e.kind, LinkErrorKind::Framing, "{bad:?}");
            assert!(e.message.starts_with("SLCAN line"), "{e}");
        }
        assert!(encode(&CanFrame::new(0x800, &[])).is_err());
        assert!(encode(&CanFrame::new(0x1, &[0; 9])).is_err());
        assert!(encode(&CanFrame::new_fd(0x1, false, &[0; 9], false)).is_err());
    }

    #[test]
    fn bitrates() {
        assert_eq!(bitrate_command(500_000).unwrap(), "S6");
        assert_eq!(
            bitrate_command(33_333).unwrap_err().kind,
            LinkErrorKind::Setting
        );
    }
}
