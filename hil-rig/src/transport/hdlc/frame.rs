//! HDLC frames as IEC 62056-46 uses them: frame format type 3, addresses, control field,
//! HCS/FCS, the SNRM/UA parameter block, and a deframer for a byte stream.
//!
//! Layout between the two `0x7E` flags:
//!
//! ```text
//! format(2) | destination address (1,2,4) | source address (1,2,4) | control(1)
//!           | [HCS(2) | information ...] | FCS(2)
//! ```
//!
//! The format field is `1010 S LLLLLLLLLLL`: type 3, the segmentation bit and an 11-bit
//! length counting every byte between the flags. HCS and FCS are CRC-16/X.25 sent low byte
//! first; the HCS only exists when there is an information field. Frame format type 3 has
//! no byte stuffing: the length field delimits the frame.

use super::super::{LinkError, LinkErrorKind};

/// The opening and closing flag.
pub const FLAG: u8 = 0x7E;
/// Largest frame length the 11-bit length field can carry.
pub const MAX_FRAME_LEN: usize = 0x7FF;
/// LLC header of a command (client to server).
pub const LLC_COMMAND: [u8; 3] = [0xE6, 0xE6, 0x00];
/// LLC header of a response (server to client).
pub const LLC_RESPONSE: [u8; 3] = [0xE6, 0xE7, 0x00];

/// CRC-16/X.25 (reflected polynomial 0x8408, init and final XOR 0xFFFF), the HCS and FCS.
///
/// Written out rather than taken from a CRC crate: it is one fixed polynomial in a dozen
/// lines, checked against the catalogue check value (`"123456789"` → `0x906E`) and against
/// frames captured from the independent peers (see the tests below).
#[must_use]
pub fn crc16_x25(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// An HDLC address: a client address (always one byte) or a server address of one, two or
/// four bytes holding the upper (logical) and lower (physical) HDLC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    /// Upper HDLC address: the logical device (server) or the client SAP.
    pub upper: u16,
    /// Lower HDLC address: the physical device; unused (0) in one-byte addresses.
    pub lower: u16,
    /// Encoded size: 1, 2 or 4 bytes.
    pub size: u8,
}

impl Address {
    /// A one-byte address (a client SAP, or a server addressed by its logical address only).
    #[must_use]
    pub fn one_byte(upper: u8) -> Self {
        Self {
            upper: u16::from(upper & 0x7F),
            lower: 0,
            size: 1,
        }
    }

    /// A server address with upper and lower parts: two bytes when both fit in 7 bits,
    /// four bytes otherwise (14 bits each).
    #[must_use]
    pub fn server(upper: u16, lower: u16) -> Self {
        let size = if upper < 0x80 && lower < 0x80 { 2 } else { 4 };
        Self {
            upper: upper & 0x3FFF,
            lower: lower & 0x3FFF,
            size,
        }
    }

    /// Appends the encoding (7 bits a byte, low bit set on the last byte).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (u, l) = (self.upper, self.lower);
        match self.size {
            1 => out.push(((u as u8 & 0x7F) << 1) | 1),
            2 => {
                out.push((u as u8 & 0x7F) << 1);
                out.push(((l as u8 & 0x7F) << 1) | 1);
            }
            _ => {
                out.push((((u >> 7) & 0x7F) as u8) << 1);
                out.push(((u & 0x7F) as u8) << 1);
                out.push((((l >> 7) & 0x7F) as u8) << 1);
                out.push((((l & 0x7F) as u8) << 1) | 1);
            }
        }
    }

    /// Decodes an address at the start of `b`, returning it and its size.
    fn decode(b: &[u8], which: &str) -> Result<(Self, usize), String> {
        let end = b
            .iter()
            .take(4)
            .position(|x| x & 1 == 1)
            .ok_or_else(|| format!("{which} address has no end bit within 4 bytes"))?;
        let s: Vec<u16> = b[..=end].iter().map(|x| u16::from(x >> 1)).collect();
        let a = match end + 1 {
            1 => Self {
                upper: s[0],
                lower: 0,
                size: 1,
            },
            2 => Self {
                upper: s[0],
                lower: s[1],
                size: 2,
            },
            4 => Self {
                upper: (s[0] << 7) | s[1],
                lower: (s[2] << 7) | s[3],
                size: 4,
            },
            n => return Err(format!("{which} address is {n} bytes (1, 2 or 4 allowed)")),
        };
        Ok((a, end + 1))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.size {
            1 => write!(f, "{}", self.upper),
            _ => write!(f, "{}/{}", self.upper, self.lower),
        }
    }
}

/// The control field. Sequence numbers are modulo 8; `pf` is the poll/final bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Information frame.
    I {
        /// Send sequence number N(S).
        ns: u8,
        /// Receive sequence number N(R).
        nr: u8,
        /// Poll/final.
        pf: bool,
    },
    /// Receive ready.
    Rr {
        /// N(R).
        nr: u8,
        /// Poll/final.
        pf: bool,
    },
    /// Receive not ready.
    Rnr {
        /// N(R).
        nr: u8,
        /// Poll/final.
        pf: bool,
    },
    /// Set normal response mode (connect).
    Snrm,
    /// Disconnect.
    Disc,
    /// Unnumbered acknowledge.
    Ua,
    /// Disconnected mode.
    Dm,
    /// Frame reject.
    Frmr,
    /// Unnumbered information.
    Ui,
}

impl Control {
    /// The control byte; unnumbered frames always carry P/F set, as DLMS sends them.
    #[must_use]
    pub fn to_byte(self) -> u8 {
        let pf = |b: bool| if b { 0x10 } else { 0 };
        match self {
            Self::I { ns, nr, pf: p } => ((nr & 7) << 5) | pf(p) | ((ns & 7) << 1),
            Self::Rr { nr, pf: p } => ((nr & 7) << 5) | pf(p) | 0x01,
            Self::Rnr { nr, pf: p } => ((nr & 7) << 5) | pf(p) | 0x05,
            Self::Snrm => 0x93,
            Self::Disc => 0x53,
            Self::Ua => 0x73,
            Self::Dm => 0x1F,
            Self::Frmr => 0x97,
            Self::Ui => 0x13,
        }
    }

    /// Decodes a control byte.
    ///
    /// # Errors
    /// A message naming the byte when it is no frame type DLMS uses.
    pub fn from_byte(b: u8) -> Result<Self, String> {
        let pf = b & 0x10 != 0;
        let nr = b >> 5;
        if b & 1 == 0 {
            return Ok(Self::I {
                ns: (b >> 1) & 7,
                nr,
                pf,
            });
        }
        match b & 0x0F {
            0x01 => return Ok(Self::Rr { nr, pf }),
            0x05 => return Ok(Self::Rnr { nr, pf }),
            _ => {}
        }
        Ok(match b & 0xEF {
            0x83 => Self::Snrm,
            0x43 => Self::Disc,
            0x63 => Self::Ua,
            0x0F => Self::Dm,
            0x87 => Self::Frmr,
            0x03 => Self::Ui,
            _ => return Err(format!("control field 0x{b:02X} is no HDLC frame type")),
        })
    }

    /// A short name for messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::I { .. } => "I",
            Self::Rr { .. } => "RR",
            Self::Rnr { .. } => "RNR",
            Self::Snrm => "SNRM",
            Self::Disc => "DISC",
            Self::Ua => "UA",
            Self::Dm => "DM",
            Self::Frmr => "FRMR",
            Self::Ui => "UI",
        }
    }
}

/// One HDLC frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The segmentation bit: more segments of this information field follow.
    pub segmented: bool,
    /// Destination address.
    pub dest: Address,
    /// Source address.
    pub src: Address,
    /// Control field.
    pub control: Control,
    /// Information field (may be empty).
    pub info: Vec<u8>,
}

impl Frame {
    /// Encodes the frame with both flags.
    ///
    /// # Errors
    /// [`LinkErrorKind::Framing`] when the frame would exceed the 11-bit length.
    pub fn encode(&self) -> Result<Vec<u8>, LinkError> {
        let mut body = vec![0, 0];
        self.dest.encode(&mut body);
        self.src.encode(&mut body);
        body.push(self.control.to_byte());
        let header_len = body.len();
        let len = header_len
            + 2
            + if self.info.is_empty() {
                0
            } else {
                2 + self.info.len()
            };
        if len > MAX_FRAME_LEN {
            return Err(LinkError::new(
                LinkErrorKind::Framing,
                format!("HDLC frame of {len} bytes exceeds the 11-bit length field"),
            ));
        }
        let format = 0xA000 | if self.segmented { 0x0800 } else { 0 } | len as u16;
        body[..2].copy_from_slice(&format.to_be_bytes());
        if !self.info.is_empty() {
            let hcs = crc16_x25(&body);
            body.extend_from_slice(&hcs.to_le_bytes());
            body.extend_from_slice(&self.info);
        }
        let fcs = crc16_x25(&body);
        body.extend_from_slice(&fcs.to_le_bytes());
        let mut out = Vec::with_capacity(body.len() + 2);
        out.push(FLAG);
        out.extend_from_slice(&body);
        out.push(FLAG);
        Ok(out)
    }

    /// Decodes the bytes between the flags (format field to FCS).
    ///
    /// # Errors
    /// A message naming the field that is wrong.
    pub fn decode(body: &[u8]) -> Result<Self, String> {
        if body.len() < 7 {
            return Err(format!("HDLC frame of {} bytes is too short", body.len()));
        }
        let format = u16::from_be_bytes([body[0], body[1]]);
        if format >> 12 != 0xA {
            return Err(format!(
                "format field 0x{format:04X} is not frame format type 3"
            ));
        }
        let len = usize::from(format & 0x7FF);
        if len != body.len() {
            return Err(format!(
                "format field says {len} bytes but the frame has {}",
                body.len()
            ));
        }
        let fcs = u16::from_le_bytes([body[len - 2], body[len - 1]]);
        if crc16_x25(&body[..len - 2]) != fcs {
            return Err(format!("bad FCS 0x{fcs:04X}"));
        }
        let (dest, n1) = Address::decode(&body[2..], "destination")?;
        let (src, n2) = Address::decode(&body[2 + n1..], "source")?;
        let c = 2 + n1 + n2;
        if c >= len - 2 {
            return Err("HDLC frame ends before its control field".into());
        }
        let control = Control::from_byte(body[c])?;
        let info = if c + 1 == len - 2 {
            Vec::new()
        } else {
            if c + 3 > len - 2 {
                return Err("HDLC frame has a truncated HCS".into());
            }
            let hcs = u16::from_le_bytes([body[c + 1], body[c + 2]]);
            if crc16_x25(&body[..=c]) != hcs {
                return Err(format!("bad HCS 0x{hcs:04X}"));
            }
            body[c + 3..len - 2].to_vec()
        };
        Ok(Self {
            segmented: format & 0x0800 != 0,
            dest,
            src,
            control,
            info,
        })
    }
}

/// Takes the next frame out of `buf`, a buffer of received bytes.
///
/// Returns `None` when no complete frame is buffered yet. Noise before an opening flag is
/// dropped; a shared flag (the closing flag of one frame opening the next) is accepted.
/// A bad frame is removed from the buffer and reported, so the next call resynchronises.
pub fn take_frame(buf: &mut Vec<u8>) -> Option<Result<Frame, String>> {
    let start = buf.iter().position(|&b| b == FLAG)?;
    buf.drain(..start);
    while buf.len() >= 2 && buf[1] == FLAG {
        buf.remove(0);
    }
    if buf.len() < 3 {
        return None;
    }
    let format = u16::from_be_bytes([buf[1], buf[2]]);
    if format >> 12 != 0xA {
        buf.remove(0);
        return Some(Err(format!(
            "format field 0x{format:04X} after a flag is not frame format type 3"
        )));
    }
    let len = usize::from(format & 0x7FF);
    if len < 7 {
        buf.remove(0);
        return Some(Err(format!("frame length {len} is too short")));
    }
    if buf.len() < len + 2 {
        return None;
    }
    if buf[len + 1] != FLAG {
        buf.remove(0);
        return Some(Err(format!(
            "no closing flag after the {len} bytes the format field announced"
        )));
    }
    let result = Frame::decode(&buf[1..=len]);
    // Keep the closing flag: it may open the next frame.
    buf.drain(..=len);
    Some(result)
}

/// HDLC parameters negotiated by SNRM/UA, from the point of view of the side sending them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HdlcParams {
    /// Largest information field this side transmits.
    pub max_info_tx: u16,
    /// Largest information field this side receives.
    pub max_info_rx: u16,
    /// Window size for transmission.
    pub window_tx: u32,
    /// Window size for reception.
    pub window_rx: u32,
}

impl Default for HdlcParams {
    /// The IEC 62056-46 defaults that apply when a SNRM or UA carries no parameters.
    fn default() -> Self {
        Self {
            max_info_tx: 128,
            max_info_rx: 128,
            window_tx: 1,
            window_rx: 1,
        }
    }
}

impl HdlcParams {
    /// The parameter block (format identifier 0x81, group 0x80, then parameters 5 to 8).
    /// Lengths go in one byte when they fit, else two; windows in four bytes.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut g = Vec::new();
        for (id, v) in [(5u8, self.max_info_tx), (6, self.max_info_rx)] {
            g.push(id);
            if let Ok(b) = u8::try_from(v) {
                g.extend_from_slice(&[1, b]);
            } else {
                g.push(2);
                g.extend_from_slice(&v.to_be_bytes());
            }
        }
        for (id, v) in [(7u8, self.window_tx), (8, self.window_rx)] {
            g.extend_from_slice(&[id, 4]);
            g.extend_from_slice(&v.to_be_bytes());
        }
        let mut out = vec![0x81, 0x80, g.len() as u8];
        out.extend_from_slice(&g);
        out
    }

    /// Parses a parameter block; an empty block means the defaults. Parameters not present
    /// keep their defaults; unknown parameters are skipped.
    ///
    /// # Errors
    /// A message naming the field that is malformed.
    pub fn decode(info: &[u8]) -> Result<Self, String> {
        let mut p = Self::default();
        if info.is_empty() {
            return Ok(p);
        }
        if info.len() < 3 || info[0] != 0x81 || info[1] != 0x80 {
            return Err("HDLC parameter block does not start with 81 80".into());
        }
        let glen = usize::from(info[2]);
        if info.len() != 3 + glen {
            return Err(format!(
                "HDLC parameter group length {glen} but {} bytes follow",
                info.len() - 3
            ));
        }
        let mut rest = &info[3..];
        while !rest.is_empty() {
            if rest.len() < 2 || rest.len() < 2 + usize::from(rest[1]) {
                return Err("HDLC parameter truncated".into());
            }
            let (id, n) = (rest[0], usize::from(rest[1]));
            let val = &rest[2..2 + n];
            if n > 4 || (n == 0 && (5..=8).contains(&id)) {
                return Err(format!("HDLC parameter {id} has length {n}"));
            }
            let v = val.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b));
            let as_len =
                || u16::try_from(v).map_err(|_| format!("HDLC parameter {id} value {v} too large"));
            match id {
                5 => p.max_info_tx = as_len()?,
                6 => p.max_info_rx = as_len()?,
                7 => p.window_tx = v,
                8 => p.window_rx = v,
                _ => {}
            }
            rest = &rest[2 + n..];
        }
        Ok(p)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::transport::testing::hex;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16_x25(b"123456789"), 0x906E);
    }

    #[test]
    fn snrm_and_ua_match_captured_frames() {
        // SNRM client 16 -> server 1, as the gurux and dlms-cosem clients send it.
        let snrm = Frame {
            segmented: false,
            dest: Address::one_byte(1),
            src: Address::one_byte(16),
            control: Control::Snrm,
            info: vec![],
        };
        assert_eq!(snrm.encode().unwrap(), hex("7ea0070321930f017e"));
        // UA with parameters from the gurux server.
        let ua = hex("7ea01e210373c37a818012050180060180070400000001080400000001533b7e");
        let mut buf = ua.clone();
        let f = take_frame(&mut buf).unwrap().unwrap();
        assert_eq!(f.control, Control::Ua);
        assert_eq!((f.dest.upper, f.src.upper), (16, 1));
        let p = HdlcParams::decode(&f.info).unwrap();
        assert_eq!(p, HdlcParams::default());
        assert_eq!(p.encode(), f.info);
        assert_eq!(f.encode().unwrap(), ua);
    }

    #[test]
    fn i_frame_with_llc_round_trips() {
        let raw = hex("7ea0190321326fd8e6e600c001c1000100002a0000ff020012807e");
        let mut buf = raw.clone();
        let f = take_frame(&mut buf).unwrap().unwrap();
        assert_eq!(
            f.control,
            Control::I {
                ns: 1,
                nr: 1,
                pf: true
            }
        );
        assert_eq!(&f.info[..3], &LLC_COMMAND);
        assert_eq!(f.encode().unwrap(), raw);
    }

    #[test]
    fn four_byte_server_address_round_trips() {
        let a = Address::server(1, 0x3FFF);
        assert_eq!(a.size, 4);
        let mut v = Vec::new();
        a.encode(&mut v);
        assert_eq!(v, vec![0x00, 0x02, 0xFE, 0xFF]);
        let (b, n) = Address::decode(&v, "x").unwrap();
        assert_eq!((b, n), (a, 4));
        let two = Address::server(1, 17);
        let mut v = Vec::new();
        two.encode(&mut v);
        assert_eq!(v, vec![0x02, 0x23]);
    }

    #[test]
    fn bad_bytes_are_errors_and_the_deframer_resyncs() {
        let mut good = hex("7ea0070321930f017e");
        let mut bad = good.clone();
        bad[6] ^= 0xFF; // corrupt the FCS
        let mut buf = vec![0x00, 0x11];
        buf.extend_from_slice(&bad);
        buf.append(&mut good);
        let e = take_frame(&mut buf).unwrap().unwrap_err();
        assert!(e.contains("FCS"), "{e}");
        let f = take_frame(&mut buf).unwrap().unwrap();
        assert_eq!(f.control, Control::Snrm);
        assert!(take_frame(&mut buf).is_none());
        assert!(HdlcParams::decode(&[0x81, 0x80, 5, 5, 1]).is_err());
        assert!(Control::from_byte(0xFF).is_err());
    }
}
