//! Silicon Labs ASH: the asynchronous serial host protocol that carries EZSP frames
//! between a host and an EmberZNet NCP (UG101).
//!
//! A frame on the wire is `control data… crc_hi crc_lo 0x7E`. The CRC is CRC-CCITT
//! (polynomial 0x1021, initial value 0xFFFF) over control and data, sent big-endian. Before
//! the flag, every reserved byte (0x7E flag, 0x7D escape, 0x11 XON, 0x13 XOFF, 0x18
//! substitute, 0x1A cancel) is escaped as `7D (b ^ 0x20)`. The data field of DATA frames is
//! XORed with a pseudo-random sequence (an LFSR seeded with 0x42: shift right, XOR 0xB8
//! when the bit shifted out was 1) so that long runs of reserved bytes cannot occur.
//!
//! | control | frame | data |
//! |---|---|---|
//! | `0 fff r aaa` | DATA: frame number, retransmit flag, ack number | an EZSP frame (randomised) |
//! | `100 0 n aaa` | ACK: not-ready flag, ack number | — |
//! | `101 0 n aaa` | NAK | — |
//! | `C0` | RST | — |
//! | `C1` | RSTACK | version (2), reset code |
//! | `C2` | ERROR | version (2), error code |
//!
//! [`AshHost`] resets the NCP (cancel byte, RST, wait for RSTACK), then sends DATA frames
//! one at a time (a window of one): each waits for its acknowledgement, piggy-backed on a
//! DATA frame from the NCP or in an ACK, and is retransmitted with the retransmit flag when
//! none comes within `t_rx_ack` or a NAK arrives, up to [`AshHost::max_retransmissions`]
//! times. Received DATA frames are accepted in order and acknowledged with an ACK;
//! out-of-order ones are NAKed, duplicates re-acknowledged, and frames with a bad CRC
//! NAKed. An ERROR frame or an unexpected RSTACK (the NCP reset itself) is a
//! [`LinkErrorKind::Protocol`] error that requires a new [`AshHost::reset`].
//!
//! Not implemented: windows above one frame, the adaptive `t_rx_ack` estimate (a fixed
//! timeout is used), XON/XOFF software flow control (XON/XOFF bytes received are ignored),
//! and the host's not-ready flag. ASH is written here because no Rust crate implements it;
//! bellows' ASH codec produced the test vectors and drives the fake NCP of the tests.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{read_some, write_all};
use crate::transport::{ByteStream, LinkError, LinkErrorKind};

/// End of frame.
pub const FLAG: u8 = 0x7E;
/// Escape.
pub const ESCAPE: u8 = 0x7D;
/// XON.
pub const XON: u8 = 0x11;
/// XOFF.
pub const XOFF: u8 = 0x13;
/// Substitute: replaces a byte received with an error; the frame is discarded.
pub const SUBSTITUTE: u8 = 0x18;
/// Cancel: discards the frame in progress.
pub const CANCEL: u8 = 0x1A;

const RESERVED: [u8; 6] = [FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL];

/// CRC-CCITT (polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR).
#[must_use]
pub fn crc_ccitt(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// XORs `data` with the ASH pseudo-random sequence (the operation is its own inverse).
#[must_use]
pub fn randomize(data: &[u8]) -> Vec<u8> {
    let mut rand: u8 = 0x42;
    data.iter()
        .map(|&b| {
            let out = b ^ rand;
            rand = if rand & 1 == 0 {
                rand >> 1
            } else {
                (rand >> 1) ^ 0xB8
            };
            out
        })
        .collect()
}

/// Escapes reserved bytes.
#[must_use]
pub fn stuff(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 4);
    for &b in bytes {
        if RESERVED.contains(&b) {
            out.push(ESCAPE);
            out.push(b ^ 0x20);
        } else {
            out.push(b);
        }
    }
    out
}

/// Removes escapes.
///
/// # Errors
/// [`LinkErrorKind::Framing`] when the frame ends with an escape byte.
pub fn unstuff(bytes: &[u8]) -> Result<Vec<u8>, LinkError> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut it = bytes.iter();
    while let Some(&b) = it.next() {
        if b == ESCAPE {
            match it.next() {
                Some(&n) => out.push(n ^ 0x20),
                None => {
                    return Err(LinkError::new(
                        LinkErrorKind::Framing,
                        "ASH frame ends with an escape byte",
                    ));
                }
            }
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

/// An ASH frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AshFrame {
    /// DATA: `payload` is the EZSP frame (not randomised).
    Data {
        /// Frame number (0–7).
        frm_num: u8,
        /// Retransmission flag.
        re_tx: bool,
        /// Acknowledges frames up to `ack_num - 1`.
        ack_num: u8,
        /// The EZSP frame.
        payload: Vec<u8>,
    },
    /// ACK.
    Ack {
        /// Next frame number expected.
        ack_num: u8,
        /// Sender not ready.
        not_ready: bool,
    },
    /// NAK.
    Nak {
        /// Next frame number expected.
        ack_num: u8,
        /// Sender not ready.
        not_ready: bool,
    },
    /// RST (host → NCP).
    Rst,
    /// RSTACK (NCP → host).
    RstAck {
        /// ASH version (2).
        version: u8,
        /// Reset reason.
        reset_code: u8,
    },
    /// ERROR (NCP → host).
    Error {
        /// ASH version (2).
        version: u8,
        /// Error code.
        code: u8,
    },
}

impl AshFrame {
    /// Control byte and data (data randomised for DATA frames), without CRC.
    fn body(&self) -> Vec<u8> {
        match self {
            Self::Data {
                frm_num,
                re_tx,
                ack_num,
                payload,
            } => {
                let mut v = vec![((frm_num & 7) << 4) | (u8::from(*re_tx) << 3) | (ack_num & 7)];
                v.extend(randomize(payload));
                v
            }
            Self::Ack { ack_num, not_ready } => {
                vec![0x80 | (u8::from(*not_ready) << 3) | (ack_num & 7)]
            }
            Self::Nak { ack_num, not_ready } => {
                vec![0xA0 | (u8::from(*not_ready) << 3) | (ack_num & 7)]
            }
            Self::Rst => vec![0xC0],
            Self::RstAck {
                version,
                reset_code,
            } => vec![0xC1, *version, *reset_code],
            Self::Error { version, code } => vec![0xC2, *version, *code],
        }
    }

    /// The frame as sent: stuffed, with CRC and flag.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut body = self.body();
        let crc = crc_ccitt(&body);
        body.extend_from_slice(&crc.to_be_bytes());
        let mut out = stuff(&body);
        out.push(FLAG);
        out
    }

    /// Decodes an unstuffed frame (control, data, CRC; no flag).
    ///
    /// # Errors
    /// [`LinkErrorKind::Framing`] for a bad CRC, a short frame or an unknown control byte.
    pub fn decode(raw: &[u8]) -> Result<Self, LinkError> {
        if raw.len() < 3 {
            return Err(LinkError::new(
                LinkErrorKind::Framing,
                format!("ASH frame of {} bytes: {raw:02x?}", raw.len()),
            ));
        }
        let (body, crc) = raw.split_at(raw.len() - 2);
        let got = u16::from_be_bytes([crc[0], crc[1]]);
        let want = crc_ccitt(body);
        if got != want {
            return Err(LinkError::new(
                LinkErrorKind::Framing,
                format!(
                    "ASH frame with control 0x{:02x}: CRC 0x{got:04x}, expected 0x{want:04x}",
                    body[0]
                ),
            ));
        }
        let c = body[0];
        let data = &body[1..];
        let fixed = |n: usize, what: &str| {
            if data.len() == n {
                Ok(())
            } else {
                Err(LinkError::new(
                    LinkErrorKind::Framing,
                    format!(
                        "ASH {what} frame with {} data bytes, expected {n}",
                        data.len()
                    ),
                ))
            }
        };
        Ok(match c {
            _ if c & 0x80 == 0 => {
                if data.is_empty() {
                    return Err(LinkError::new(
                        LinkErrorKind::Framing,
                        "ASH DATA frame without data",
                    ));
                }
                Self::Data {
                    frm_num: (c >> 4) & 7,
                    re_tx: c & 0x08 != 0,
                    ack_num: c & 7,
                    payload: randomize(data),
                }
            }
            _ if c & 0xE0 == 0x80 => {
                fixed(0, "ACK")?;
                Self::Ack {
                    ack_num: c & 7,
                    not_ready: c & 0x08 != 0,
                }
            }
            _ if c & 0xE0 == 0xA0 => {
                fixed(0, "NAK")?;
                Self::Nak {
                    ack_num: c & 7,
                    not_ready: c & 0x08 != 0,
                }
            }
            0xC0 => {
                fixed(0, "RST")?;
                Self::Rst
            }
            0xC1 => {
                fixed(2, "RSTACK")?;
                Self::RstAck {
                    version: data[0],
                    reset_code: data[1],
                }
            }
            0xC2 => {
                fixed(2, "ERROR")?;
                Self::Error {
                    version: data[0],
                    code: data[1],
                }
            }
            _ => {
                return Err(LinkError::new(
                    LinkErrorKind::Framing,
                    format!("ASH control byte 0x{c:02x} is reserved"),
                ));
            }
        })
    }
}

/// Splits a byte stream into ASH frames.
#[derive(Debug, Default)]
pub struct AshDecoder {
    buf: Vec<u8>,
    /// A substitute byte was seen: discard up to the next flag.
    discarding: bool,
    frames: VecDeque<Result<AshFrame, LinkError>>,
}

impl AshDecoder {
    /// Adds received bytes; complete frames become available from [`Self::next_frame`].
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                FLAG => {
                    if self.discarding {
                        self.discarding = false;
                        self.frames.push_back(Err(LinkError::new(
                            LinkErrorKind::Framing,
                            "ASH frame with a substitute byte (receive error) discarded",
                        )));
                    } else if !self.buf.is_empty() {
                        self.frames
                            .push_back(unstuff(&self.buf).and_then(|raw| AshFrame::decode(&raw)));
                    }
                    self.buf.clear();
                }
                CANCEL => {
                    self.buf.clear();
                    self.discarding = false;
                }
                SUBSTITUTE => self.discarding = true,
                XON | XOFF => {}
                _ if self.buf.len() > 512 => {
                    // No valid frame is that long: drop it rather than grow without bound.
                    self.buf.clear();
                    self.discarding = true;
                }
                _ => self.buf.push(b),
            }
        }
    }

    /// The next complete frame (or framing error), if any.
    pub fn next_frame(&mut self) -> Option<Result<AshFrame, LinkError>> {
        self.frames.pop_front()
    }
}

/// What a received frame meant for the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    Nothing,
    /// Acknowledges our frames up to this number - 1.
    Ack(u8),
    /// Asks for a retransmission.
    Nak,
}

/// RSTACK reset reasons seen most often.
pub mod reset_code {
    /// Power on.
    pub const POWER_ON: u8 = 0x02;
    /// Software reset (after an RST).
    pub const SOFTWARE: u8 = 0x0B;
}

/// The host side of an ASH connection.
#[derive(Debug)]
pub struct AshHost<S: ByteStream> {
    stream: S,
    decoder: AshDecoder,
    name: String,
    /// Frame number of our next DATA frame.
    tx_seq: u8,
    /// Frame number we expect next from the NCP.
    rx_seq: u8,
    /// DATA payloads received in order, not yet taken.
    received: VecDeque<Vec<u8>>,
    /// How long to wait for an acknowledgement before retransmitting.
    pub t_rx_ack: Duration,
    /// How many times a DATA frame is retransmitted before giving up.
    pub max_retransmissions: u32,
    /// Number of DATA frames retransmitted so far (for tests and metrics).
    pub retransmissions: u64,
    connected: bool,
}

impl<S: ByteStream> AshHost<S> {
    /// A host on `stream`; call [`Self::reset`] before sending.
    pub fn new(stream: S) -> Self {
        let name = format!("ash:{}", stream.name());
        Self {
            stream,
            decoder: AshDecoder::default(),
            name,
            tx_seq: 0,
            rx_seq: 0,
            received: VecDeque::new(),
            t_rx_ack: Duration::from_millis(1600),
            max_retransmissions: 3,
            retransmissions: 0,
            connected: false,
        }
    }

    /// The port name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    fn err(&self, kind: LinkErrorKind, msg: impl std::fmt::Display) -> LinkError {
        LinkError::new(kind, format!("{}: {msg}", self.name))
    }

    fn write_frame(&mut self, f: &AshFrame) -> Result<(), LinkError> {
        let bytes = f.encode();
        tracing::trace!(port = %self.name, frame = ?f, "ASH TX");
        write_all(&mut self.stream, &bytes)
    }

    /// The next frame from the NCP, or `None` at the deadline. Framing errors come back
    /// as `Some(Err)` so the caller can NAK.
    fn read_frame(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<Result<AshFrame, LinkError>>, LinkError> {
        let mut buf = [0u8; 256];
        loop {
            if let Some(f) = self.decoder.next_frame() {
                return Ok(Some(f));
            }
            match read_some(&mut self.stream, &mut buf, deadline, &self.name)? {
                Some(n) => self.decoder.push(&buf[..n]),
                None => return Ok(None),
            }
        }
    }

    /// Resets the NCP: cancel byte, RST, and wait for RSTACK. Returns the RSTACK
    /// (version and reset code).
    ///
    /// # Errors
    /// [`LinkErrorKind::Timeout`] without an RSTACK; [`LinkErrorKind::Protocol`] for an
    /// ASH version other than 2.
    pub fn reset(&mut self, timeout: Duration) -> Result<(u8, u8), LinkError> {
        self.connected = false;
        self.decoder = AshDecoder::default();
        self.received.clear();
        let mut bytes = vec![CANCEL];
        bytes.extend(AshFrame::Rst.encode());
        write_all(&mut self.stream, &bytes)?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.read_frame(deadline)? {
                None => {
                    return Err(self.err(
                        LinkErrorKind::Timeout,
                        format!("no RSTACK within {timeout:?}"),
                    ));
                }
                Some(Ok(AshFrame::RstAck {
                    version,
                    reset_code,
                })) => {
                    if version != 2 {
                        return Err(self.err(
                            LinkErrorKind::Protocol,
                            format!("RSTACK with ASH version {version}, expected 2"),
                        ));
                    }
                    self.tx_seq = 0;
                    self.rx_seq = 0;
                    self.connected = true;
                    return Ok((version, reset_code));
                }
                Some(other) => {
                    tracing::debug!(port = %self.name, frame = ?other, "ignored while waiting for RSTACK");
                }
            }
        }
    }

    /// Handles one received frame: takes DATA in order, answers with ACK or NAK.
    fn handle(&mut self, f: Result<AshFrame, LinkError>) -> Result<Handled, LinkError> {
        match f {
            Err(e) => {
                tracing::debug!(port = %self.name, error = %e, "bad ASH frame, sending NAK");
                let nak = AshFrame::Nak {
                    ack_num: self.rx_seq,
                    not_ready: false,
                };
                self.write_frame(&nak)?;
                Ok(Handled::Nothing)
            }
            Ok(AshFrame::Data {
                frm_num,
                re_tx,
                ack_num,
                payload,
            }) => {
                if frm_num == self.rx_seq {
                    self.rx_seq = (self.rx_seq + 1) & 7;
                    self.received.push_back(payload);
                    let ack = AshFrame::Ack {
                        ack_num: self.rx_seq,
                        not_ready: false,
                    };
                    self.write_frame(&ack)?;
                } else if re_tx && ((frm_num + 1) & 7) == self.rx_seq {
                    // A retransmission of the frame we already took: our ACK was lost.
                    let ack = AshFrame::Ack {
                        ack_num: self.rx_seq,
                        not_ready: false,
                    };
                    self.write_frame(&ack)?;
                } else {
                    let nak = AshFrame::Nak {
                        ack_num: self.rx_seq,
                        not_ready: false,
                    };
                    self.write_frame(&nak)?;
                }
                Ok(Handled::Ack(ack_num))
            }
            Ok(AshFrame::Ack { ack_num, .. }) => Ok(Handled::Ack(ack_num)),
            Ok(AshFrame::Nak { .. }) => Ok(Handled::Nak),
            Ok(AshFrame::RstAck { reset_code, .. }) => {
                self.connected = false;
                Err(self.err(
                    LinkErrorKind::Protocol,
                    format!("the NCP reset itself (RSTACK, reset code 0x{reset_code:02x})"),
                ))
            }
            Ok(AshFrame::Error { code, .. }) => {
                self.connected = false;
                Err(self.err(
                    LinkErrorKind::Protocol,
                    format!("the NCP entered the failed state (ERROR, code 0x{code:02x})"),
                ))
            }
            Ok(AshFrame::Rst) => Err(self.err(LinkErrorKind::Protocol, "RST from the NCP side")),
        }
    }

    /// Sends one EZSP frame in a DATA frame and waits for its acknowledgement,
    /// retransmitting on NAK or timeout.
    ///
    /// # Errors
    /// [`LinkErrorKind::Protocol`] before [`Self::reset`] or when the NCP resets or fails;
    /// [`LinkErrorKind::Timeout`] when no acknowledgement came after the retransmissions.
    pub fn send_data(&mut self, payload: &[u8]) -> Result<(), LinkError> {
        if !self.connected {
            return Err(self.err(
                LinkErrorKind::Protocol,
                "not connected: reset the NCP first",
            ));
        }
        if payload.is_empty() || payload.len() > 128 {
            return Err(self.err(
                LinkErrorKind::Framing,
                format!("EZSP frame of {} bytes: must be 1 to 128", payload.len()),
            ));
        }
        let frm_num = self.tx_seq;
        let want_ack = (frm_num + 1) & 7;
        let mut attempt = 0u32;
        loop {
            let f = AshFrame::Data {
                frm_num,
                re_tx: attempt > 0,
                ack_num: self.rx_seq,
                payload: payload.to_vec(),
            };
            self.write_frame(&f)?;
            let deadline = Instant::now() + self.t_rx_ack;
            let mut nak = false;
            while let Some(frame) = self.read_frame(deadline)? {
                match self.handle(frame)? {
                    Handled::Ack(ack) if ack == want_ack => {
                        self.tx_seq = want_ack;
                        return Ok(());
                    }
                    Handled::Nak => {
                        nak = true;
                        break;
                    }
                    Handled::Ack(_) | Handled::Nothing => {}
                }
            }
            attempt += 1;
            if attempt > self.max_retransmissions {
                return Err(self.err(
                    LinkErrorKind::Timeout,
                    format!(
                        "DATA frame {frm_num} not acknowledged after {} retransmissions",
                        self.max_retransmissions
                    ),
                ));
            }
            self.retransmissions += 1;
            tracing::debug!(port = %self.name, frm_num, nak, attempt, "retransmitting ASH DATA frame");
        }
    }

    /// The next EZSP frame received from the NCP, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`LinkErrorKind::Timeout`] when none arrives; [`LinkErrorKind::Protocol`] when the
    /// NCP resets or fails.
    pub fn recv_data(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) = self.received.pop_front() {
                return Ok(p);
            }
            let Some(frame) = self.read_frame(deadline)? else {
                return Err(self.err(
                    LinkErrorKind::Timeout,
                    format!("no DATA frame within {timeout:?}"),
                ));
            };
            // An ACK or NAK while nothing is outstanding needs no action.
            self.handle(frame)?;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::testing::MemStream;
    use super::*;
    use crate::transport::testing::hex;
    use std::sync::{Arc, Mutex};

    /// Vectors produced by bellows 1.2.1's `ash` module (RstFrame, RStackFrame, DataFrame,
    /// AckFrame, NakFrame with `AshProtocol._stuff_bytes`).
    #[test]
    fn frames_match_bellows_vectors() {
        assert_eq!(
            [&[CANCEL][..], &AshFrame::Rst.encode()].concat(),
            hex("1ac038bc7e")
        );
        assert_eq!(
            AshFrame::RstAck {
                version: 2,
                reset_code: reset_code::SOFTWARE
            }
            .encode(),
            hex("c1020b0a527e")
        );
        let version = AshFrame::Data {
            frm_num: 0,
            re_tx: false,
            ack_num: 0,
            payload: vec![0, 0, 0, 4],
        };
        assert_eq!(version.encode(), hex("004221a850ed2c7e"));
        let mut echo = vec![1, 0, 1, 0x81, 0, 9];
        echo.extend_from_slice(b"meter-hil");
        let echo = AshFrame::Data {
            frm_num: 3,
            re_tx: true,
            ack_num: 5,
            payload: echo,
        };
        assert_eq!(echo.encode(), hex("3d4321a9d52a1cdf3ce02f57873dfb250c127e"));
        assert_eq!(
            AshFrame::Ack {
                ack_num: 1,
                not_ready: false
            }
            .encode(),
            hex("8160597e")
        );
        assert_eq!(
            AshFrame::Nak {
                ack_num: 6,
                not_ready: false
            }
            .encode(),
            hex("a634dc7e")
        );
        assert_eq!(randomize(&[0; 8]), hex("4221a8542a15b259"));

        let mut d = AshDecoder::default();
        d.push(&hex("1ac038bc7e3d4321a9d52a1cdf3ce02f57873dfb250c127e"));
        assert_eq!(d.next_frame().unwrap().unwrap(), AshFrame::Rst);
        assert_eq!(d.next_frame().unwrap().unwrap(), echo);
    }

    #[test]
    fn stuffing_round_trips_every_reserved_byte() {
        let data = [0x7E, 0x7D, 0x11, 0x13, 0x18, 0x1A, 0x00, 0xFF];
        let s = stuff(&data);
        assert!(
            !s.iter()
                .any(|b| [FLAG, XON, XOFF, SUBSTITUTE, CANCEL].contains(b))
        );
        assert_eq!(unstuff(&s).unwrap(), data);
        assert!(unstuff(&[0x01, ESCAPE]).is_err());
    }

    #[test]
    fn bad_crc_cancel_and_substitute() {
        let mut d = AshDecoder::default();
        d.push(&hex("c038bd7e")); // CRC off by one
        let e = d.next_frame().unwrap().unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Framing);
        assert!(e.message.contains("CRC"), "{e}");
        d.push(&hex("c11a8160597e")); // cancel drops the half frame before it
        assert_eq!(
            d.next_frame().unwrap().unwrap(),
            AshFrame::Ack {
                ack_num: 1,
                not_ready: false
            }
        );
        d.push(&hex("81186059")); // substitute: discarded at the flag
        d.push(&[FLAG]);
        assert!(d.next_frame().unwrap().is_err());
        assert!(d.next_frame().is_none());
        // random bytes never panic
        let mut x: u32 = 12345;
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            d.push(&[x.to_le_bytes()[2]]);
            while d.next_frame().is_some() {}
        }
    }

    /// An NCP that drops the first DATA frame it gets, NAKs the second, and answers the
    /// third (a retransmission) with a piggy-backed acknowledgement.
    #[test]
    fn data_is_retransmitted_after_a_timeout_and_a_nak() {
        let seen: Arc<Mutex<Vec<AshFrame>>> = Arc::default();
        let log = Arc::clone(&seen);
        let mut decoder = AshDecoder::default();
        let mut data_frames = 0;
        let dev = Box::new(move |w: &[u8]| {
            decoder.push(w);
            let mut out = Vec::new();
            while let Some(Ok(f)) = decoder.next_frame() {
                log.lock().unwrap().push(f.clone());
                match f {
                    AshFrame::Rst => out.extend(
                        AshFrame::RstAck {
                            version: 2,
                            reset_code: reset_code::SOFTWARE,
                        }
                        .encode(),
                    ),
                    AshFrame::Data {
                        frm_num, payload, ..
                    } => {
                        data_frames += 1;
                        match data_frames {
                            1 => {}
                            2 => out.extend(
                                AshFrame::Nak {
                                    ack_num: frm_num,
                                    not_ready: false,
                                }
                                .encode(),
                            ),
                            _ => out.extend(
                                AshFrame::Data {
                                    frm_num: 0,
                                    re_tx: false,
                                    ack_num: (frm_num + 1) & 7,
                                    payload,
                                }
                                .encode(),
                            ),
                        }
                    }
                    _ => {}
                }
            }
            out
        });
        let mut host = AshHost::new(MemStream::new(dev));
        host.t_rx_ack = Duration::from_millis(30);
        host.reset(Duration::from_millis(100)).unwrap();
        host.send_data(&[7, 0, 5]).unwrap();
        assert_eq!(host.retransmissions, 2);
        assert_eq!(
            host.recv_data(Duration::from_millis(10)).unwrap(),
            [7, 0, 5]
        );
        let seen = seen.lock().unwrap();
        let flags: Vec<bool> = seen
            .iter()
            .filter_map(|f| match f {
                AshFrame::Data { re_tx, .. } => Some(*re_tx),
                _ => None,
            })
            .collect();
        assert_eq!(flags, [false, true, true]);
        // the host acknowledged the NCP's DATA frame
        assert_eq!(
            seen.last(),
            Some(&AshFrame::Ack {
                ack_num: 1,
                not_ready: false
            })
        );
    }

    #[test]
    fn silent_ncp_times_out_and_error_frame_is_a_protocol_error() {
        let dev = Box::new(|w: &[u8]| {
            if w.contains(&0xC0) {
                AshFrame::RstAck {
                    version: 2,
                    reset_code: 2,
                }
                .encode()
            } else {
                AshFrame::Error {
                    version: 2,
                    code: 0x51,
                }
                .encode()
            }
        });
        let mut host = AshHost::new(MemStream::new(dev));
        assert_eq!(
            host.send_data(&[1]).unwrap_err().kind,
            LinkErrorKind::Protocol
        );
        host.reset(Duration::from_millis(100)).unwrap();
        let e = host.send_data(&[1, 2]).unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Protocol);
        assert!(e.message.contains("ERROR, code 0x51"), "{e}");

        let mut quiet = AshHost::new(MemStream::new(Box::new(|_: &[u8]| Vec::new())));
        assert_eq!(
            quiet.reset(Duration::from_millis(20)).unwrap_err().kind,
            LinkErrorKind::Timeout
        );
    }
}
