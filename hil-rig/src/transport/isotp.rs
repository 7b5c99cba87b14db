//! ISO 15765-2 (ISO-TP) segmentation over any [`CanBus`]: messages longer than one CAN frame,
//! such as a GBCS message, cross the bus as a first frame and consecutive frames, paced by
//! the receiver's flow control.
//!
//! # What is implemented
//!
//! * Normal addressing with one transmit and one receive identifier (11- or 29-bit), classic
//!   CAN frames of 8 bytes.
//! * Single frames (1–7 bytes), first frame + consecutive frames with the 12-bit length (up to
//!   4095 bytes) and, above that, the 32-bit length escape (`10 00` + 4 length bytes), up to
//!   [`IsoTpConfig::max_message`] on receipt.
//! * Flow control both ways. As sender: waits for each flow control within N_Bs, honours the
//!   receiver's block size and STmin (milliseconds, and 100–900 µs for `F1`–`F9`; reserved
//!   values count as 127 ms, as the standard says), accepts up to
//!   [`IsoTpConfig::max_wait_frames`] WAIT frames, and fails on OVERFLOW. As receiver: sends
//!   CTS with the configured block size and STmin after the first frame and after each
//!   block, and OVERFLOW for a message above the limit.
//! * Optional padding of every frame to 8 bytes with a fill byte.
//! * Errors: no flow control within N_Bs, or no consecutive frame within N_Cr, is
//!   [`LinkErrorKind::Timeout`]; a wrong sequence number, a length that does not match the
//!   frame, or a new message starting in the middle of one is [`LinkErrorKind::Framing`]; a
//!   flow-control OVERFLOW, too many WAITs, or a message above the limit is
//!   [`LinkErrorKind::Protocol`]. Each message names the identifiers and the byte counts.
//! * [`IsoTpLink`] implements [`Link`]: one frame of the link is one whole message.
//!
//! # Why this is written here
//!
//! `socketcan-isotp` drives the Linux kernel's ISO-TP sockets, so it needs kernel CAN and
//! cannot run over an SLCAN adapter; the rig needs ISO-TP over any [`CanBus`], user space.
//!
//! # What is not implemented
//!
//! Extended and mixed addressing (an address byte before the PCI), functional addressing,
//! CAN FD frame sizes (the escape single frame is accepted on receipt, nothing larger than 8
//! bytes is sent), and full duplex: while sending, frames on the receive identifier other than
//! flow control are ignored, and stray consecutive or flow-control frames are ignored while
//! idle, as the standard asks.
//!
//! # What the tests prove
//!
//! The unit tests below run sender and receiver against each other over an in-memory bus
//! (all length classes, block sizes, STmin pacing, every error). `tests/can_peers.rs` moves a
//! 300-byte message from Rust to a Python ISO-TP receiver speaking through python-can's
//! `slcan` interface, and back, with block sizes and STmin in both directions, and a message
//! above 4095 bytes with the 32-bit escape.

use std::time::{Duration, Instant};

use super::can::{CanBus, CanFrame};
use super::{Link, LinkError, LinkErrorKind};

/// Settings of one ISO-TP channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoTpConfig {
    /// Identifier this side sends on (data, and flow control for received messages).
    pub tx_id: u32,
    /// Identifier this side receives on.
    pub rx_id: u32,
    /// Both identifiers are 29-bit.
    pub extended: bool,
    /// Pad every frame to 8 bytes with this byte (`None`: frames are as long as needed).
    pub padding: Option<u8>,
    /// Block size asked of senders: consecutive frames between flow controls (0 = all).
    pub block_size: u8,
    /// Gap asked of senders between consecutive frames (rounded to the encodable values).
    pub st_min: Duration,
    /// N_Bs: how long to wait for a flow control after a first frame or a block.
    pub n_bs: Duration,
    /// N_Cr: how long to wait for the next consecutive frame.
    pub n_cr: Duration,
    /// Longest message accepted on receipt; longer ones get an OVERFLOW flow control.
    pub max_message: usize,
    /// How many WAIT flow controls in a row a sender accepts.
    pub max_wait_frames: u8,
}

impl IsoTpConfig {
    /// Normal addressing on 11-bit `tx_id`/`rx_id`, no padding, block size 0, STmin 0,
    /// N_Bs = N_Cr = 1 s, messages up to 1 MiB, up to 10 WAITs.
    #[must_use]
    pub fn new(tx_id: u32, rx_id: u32) -> Self {
        Self {
            tx_id,
            rx_id,
            extended: false,
            padding: None,
            block_size: 0,
            st_min: Duration::ZERO,
            n_bs: Duration::from_secs(1),
            n_cr: Duration::from_secs(1),
            max_message: 1 << 20,
            max_wait_frames: 10,
        }
    }
}

/// The STmin byte for a gap: whole milliseconds up to 127, or `F1`–`F9` for 100–900 µs.
#[must_use]
pub fn st_min_byte(gap: Duration) -> u8 {
    let micros = gap.as_micros();
    if micros == 0 {
        0
    } else if micros < 1000 {
        // 100 µs steps, rounded up so the gap is never shorter than asked.
        0xF0 + micros.div_ceil(100).clamp(1, 9) as u8
    } else {
        micros.div_ceil(1000).min(127) as u8
    }
}

/// The gap an STmin byte asks for; reserved values count as 127 ms.
#[must_use]
pub fn st_min_duration(byte: u8) -> Duration {
    match byte {
        0..=0x7F => Duration::from_millis(u64::from(byte)),
        0xF1..=0xF9 => Duration::from_micros(u64::from(byte - 0xF0) * 100),
        _ => Duration::from_millis(127),
    }
}

const PCI_SF: u8 = 0;
const PCI_FF: u8 = 1;
const PCI_CF: u8 = 2;
const PCI_FC: u8 = 3;
const FS_CTS: u8 = 0;
const FS_WAIT: u8 = 1;
const FS_OVERFLOW: u8 = 2;

/// An ISO-TP channel on a CAN bus; [`Link`] frames are whole messages.
#[derive(Debug)]
pub struct IsoTpLink<B: CanBus> {
    bus: B,
    config: IsoTpConfig,
    name: String,
}

impl<B: CanBus> IsoTpLink<B> {
    /// A channel on `bus` with `config`.
    pub fn new(bus: B, config: IsoTpConfig) -> Self {
        let name = format!("isotp:{}:{:X}>{:X}", bus.name(), config.tx_id, config.rx_id);
        Self { bus, config, name }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &IsoTpConfig {
        &self.config
    }

    /// The bus underneath.
    pub fn bus_mut(&mut self) -> &mut B {
        &mut self.bus
    }

    /// Gives the bus back.
    pub fn into_inner(self) -> B {
        self.bus
    }

    fn err(&self, kind: LinkErrorKind, message: impl std::fmt::Display) -> LinkError {
        LinkError::new(kind, format!("{}: {message}", self.name))
    }

    fn put(&mut self, mut data: Vec<u8>) -> Result<(), LinkError> {
        if let Some(fill) = self.config.padding {
            data.resize(8, fill);
        }
        let frame = CanFrame {
            id: self.config.tx_id,
            extended: self.config.extended,
            data,
            ..CanFrame::default()
        };
        self.bus.send_frame(&frame)
    }

    fn is_ours(&self, f: &CanFrame) -> bool {
        f.id == self.config.rx_id && f.extended == self.config.extended && !f.rtr
    }

    /// Receives the next frame on the receive identifier by `deadline`; `None` on time-out.
    fn next_ours(&mut self, deadline: Instant) -> Result<Option<CanFrame>, LinkError> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            match self.bus.recv_frame(deadline - now) {
                Ok(f) if self.is_ours(&f) && !f.data.is_empty() => return Ok(Some(f)),
                Ok(_) => {}
                Err(e) if e.kind == LinkErrorKind::Timeout => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    fn flow_control(&mut self, status: u8) -> Result<(), LinkError> {
        let fc = vec![
            (PCI_FC << 4) | status,
            self.config.block_size,
            st_min_byte(self.config.st_min),
        ];
        self.put(fc)
    }

    /// Waits for a CTS flow control; returns its block size and STmin.
    fn await_cts(&mut self, total: usize, sent: usize) -> Result<(u8, Duration), LinkError> {
        let mut waits = 0u8;
        let mut deadline = Instant::now() + self.config.n_bs;
        loop {
            let Some(f) = self.next_ours(deadline)? else {
                return Err(self.err(
                    LinkErrorKind::Timeout,
                    format!(
                        "no flow control within N_Bs ({} ms) after {sent} of {total} bytes",
                        self.config.n_bs.as_millis()
                    ),
                ));
            };
            if f.data[0] >> 4 != PCI_FC {
                // Half duplex: a message from the other side while we send is dropped.
                continue;
            }
            if f.data.len() < 3 {
                return Err(self.err(
                    LinkErrorKind::Framing,
                    format!("flow control frame of {} bytes (needs 3)", f.data.len()),
                ));
            }
            match f.data[0] & 0x0F {
                FS_CTS => return Ok((f.data[1], st_min_duration(f.data[2]))),
                FS_WAIT => {
                    waits += 1;
                    if waits > self.config.max_wait_frames {
                        return Err(self.err(
                            LinkErrorKind::Protocol,
                            format!(
                                "receiver sent more than {} WAIT flow controls",
                                self.config.max_wait_frames
                            ),
                        ));
                    }
                    deadline = Instant::now() + self.config.n_bs;
                }
                FS_OVERFLOW => {
                    return Err(self.err(
                        LinkErrorKind::Protocol,
                        format!("receiver refused a message of {total} bytes (overflow)"),
                    ));
                }
                other => {
                    return Err(self.err(
                        LinkErrorKind::Framing,
                        format!("flow control with invalid flow status {other}"),
                    ));
                }
            }
        }
    }

    fn send_message(&mut self, msg: &[u8]) -> Result<(), LinkError> {
        let total = msg.len();
        if total == 0 {
            return Err(self.err(LinkErrorKind::Framing, "an empty message cannot be sent"));
        }
        let Ok(total32) = u32::try_from(total) else {
            return Err(self.err(
                LinkErrorKind::Framing,
                format!("a message of {total} bytes is beyond ISO-TP's 32-bit length"),
            ));
        };
        if total <= 7 {
            let mut sf = vec![total as u8];
            sf.extend_from_slice(msg);
            return self.put(sf);
        }
        let mut pos = if total <= 0xFFF {
            let mut ff = vec![0x10 | (total >> 8) as u8, total as u8];
            ff.extend_from_slice(&msg[..6]);
            self.put(ff)?;
            6
        } else {
            let mut ff = vec![0x10, 0x00];
            ff.extend_from_slice(&total32.to_be_bytes());
            ff.extend_from_slice(&msg[..2]);
            self.put(ff)?;
            2
        };
        let mut sn = 1u8;
        let mut last_cf: Option<Instant> = None;
        loop {
            let (block_size, st_min) = self.await_cts(total, pos)?;
            let mut in_block = 0u8;
            loop {
                if let Some(at) = last_cf {
                    let due = at + st_min;
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
                let end = (pos + 7).min(total);
                let mut cf = vec![(PCI_CF << 4) | sn];
                cf.extend_from_slice(&msg[pos..end]);
                self.put(cf)?;
                last_cf = Some(Instant::now());
                pos = end;
                sn = (sn + 1) & 0x0F;
                in_block = in_block.wrapping_add(1);
                if pos >= total {
                    return Ok(());
                }
                if block_size != 0 && in_block == block_size {
                    break;
                }
            }
        }
    }

    fn recv_message(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(f) = self.next_ours(deadline)? else {
                return Err(self.err(
                    LinkErrorKind::Timeout,
                    format!("no message within {} ms", timeout.as_millis()),
                ));
            };
            let d = &f.data;
            match d[0] >> 4 {
                PCI_SF => {
                    let (len, start) = match d[0] & 0x0F {
                        0 if d.len() > 8 => (usize::from(d[1]), 2),
                        0 => {
                            return Err(
                                self.err(LinkErrorKind::Framing, "single frame of length 0")
                            );
                        }
                        n => (usize::from(n), 1),
                    };
                    if len == 0 || start + len > d.len() {
                        return Err(self.err(
                            LinkErrorKind::Framing,
                            format!(
                                "single frame announces {len} bytes but carries {}",
                                d.len().saturating_sub(start)
                            ),
                        ));
                    }
                    return Ok(d[start..start + len].to_vec());
                }
                PCI_FF => {
                    let frame = f.clone();
                    return self.receive_segmented(&frame);
                }
                // Stray consecutive or flow-control frames: ignored while idle.
                PCI_CF | PCI_FC => {}
                other => {
                    return Err(self.err(
                        LinkErrorKind::Framing,
                        format!("frame with unknown PCI type {other:X}: {f}"),
                    ));
                }
            }
        }
    }

    fn receive_segmented(&mut self, ff: &CanFrame) -> Result<Vec<u8>, LinkError> {
        let d = &ff.data;
        if d.len() < 8 {
            return Err(self.err(
                LinkErrorKind::Framing,
                format!("first frame of {} bytes (must be 8)", d.len()),
            ));
        }
        let short = (usize::from(d[0] & 0x0F) << 8) | usize::from(d[1]);
        let (total, start) = if short != 0 {
            (short, 2)
        } else {
            let long = u32::from_be_bytes([d[2], d[3], d[4], d[5]]);
            (usize::try_from(long).unwrap_or(usize::MAX), 6)
        };
        let floor = if start == 2 { 8 } else { 0x1000 };
        if total < floor {
            return Err(self.err(
                LinkErrorKind::Framing,
                format!("first frame announces {total} bytes, below the {floor} its form needs"),
            ));
        }
        if total > self.config.max_message {
            self.flow_control(FS_OVERFLOW)?;
            return Err(self.err(
                LinkErrorKind::Protocol,
                format!(
                    "a message of {total} bytes exceeds the limit of {}; sent overflow",
                    self.config.max_message
                ),
            ));
        }
        let mut buf = Vec::with_capacity(total);
        buf.extend_from_slice(&d[start..]);
        self.flow_control(FS_CTS)?;
        let mut expected = 1u8;
        let mut in_block = 0u8;
        while buf.len() < total {
            let Some(cf) = self.next_ours(Instant::now() + self.config.n_cr)? else {
                return Err(self.err(
                    LinkErrorKind::Timeout,
                    format!(
                        "no consecutive frame within N_Cr ({} ms) after {} of {total} bytes",
                        self.config.n_cr.as_millis(),
                        buf.len()
                    ),
                ));
            };
            let c = &cf.data;
            match c[0] >> 4 {
                PCI_CF => {}
                PCI_FC => continue,
                _ => {
                    return Err(self.err(
                        LinkErrorKind::Framing,
                        format!(
                            "a new message started after {} of {total} bytes: {cf}",
                            buf.len()
                        ),
                    ));
                }
            }
            let sn = c[0] & 0x0F;
            if sn != expected {
                return Err(self.err(
                    LinkErrorKind::Framing,
                    format!(
                        "wrong sequence number: expected {expected}, got {sn} after {} of {total} bytes",
                        buf.len()
                    ),
                ));
            }
            let want = (total - buf.len()).min(7);
            if c.len() - 1 < want {
                return Err(self.err(
                    LinkErrorKind::Framing,
                    format!(
                        "consecutive frame {sn} carries {} bytes, {want} expected",
                        c.len() - 1
                    ),
                ));
            }
            buf.extend_from_slice(&c[1..=want]);
            expected = (expected + 1) & 0x0F;
            in_block = in_block.wrapping_add(1);
            if self.config.block_size != 0
                && in_block == self.config.block_size
                && buf.len() < total
            {
                in_block = 0;
                self.flow_control(FS_CTS)?;
            }
        }
        Ok(buf)
    }
}

impl<B: CanBus> Link for IsoTpLink<B> {
    fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        self.send_message(frame)
    }

    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        self.recv_message(timeout)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};

    /// Two ends of an in-memory bus; each end receives what the other sends.
    #[derive(Debug)]
    struct MemBus {
        tx: Sender<CanFrame>,
        rx: Receiver<CanFrame>,
        log: Sender<(Instant, CanFrame)>,
    }

    impl CanBus for MemBus {
        fn send_frame(&mut self, frame: &CanFrame) -> Result<(), LinkError> {
            frame.check()?;
            let _ = self.log.send((Instant::now(), frame.clone()));
            self.tx
                .send(frame.clone())
                .map_err(|_| LinkError::new(LinkErrorKind::Closed, "mem: other end gone"))
        }
        fn recv_frame(&mut self, timeout: Duration) -> Result<CanFrame, LinkError> {
            self.rx.recv_timeout(timeout).map_err(|e| match e {
                RecvTimeoutError::Timeout => LinkError::new(LinkErrorKind::Timeout, "mem"),
                RecvTimeoutError::Disconnected => LinkError::new(LinkErrorKind::Closed, "mem"),
            })
        }
        fn name(&self) -> &str {
            "mem"
        }
    }

    type Log = Receiver<(Instant, CanFrame)>;

    fn pair() -> (MemBus, MemBus, Log) {
        let (a_tx, b_rx) = channel();
        let (b_tx, a_rx) = channel();
        let (log, log_rx) = channel();
        (
            MemBus {
                tx: a_tx,
                rx: a_rx,
                log: log.clone(),
            },
            MemBus {
                tx: b_tx,
                rx: b_rx,
                log,
            },
            log_rx,
        )
    }

    fn message(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 256) as u8).collect()
    }

    fn round_trip(
        n: usize,
        sender: IsoTpConfig,
        receiver: IsoTpConfig,
    ) -> Vec<(Instant, CanFrame)> {
        let (a, b, log) = pair();
        let msg = message(n);
        let mut rx = IsoTpLink::new(b, receiver);
        let t = std::thread::spawn(move || rx.recv(Duration::from_secs(5)));
        let mut tx = IsoTpLink::new(a, sender);
        tx.send(&msg).unwrap();
        let got = t.join().unwrap().unwrap();
        assert_eq!(got, msg, "{n} bytes");
        log.try_iter().collect()
    }

    #[test]
    fn all_length_classes_cross() {
        for n in [1, 7, 8, 13, 14, 300, 4095, 4096, 5000] {
            let frames = round_trip(
                n,
                IsoTpConfig::new(0x7E0, 0x7E8),
                IsoTpConfig::new(0x7E8, 0x7E0),
            );
            let first = &frames[0].1;
            if n <= 7 {
                assert_eq!(first.data[0] as usize, n);
                assert_eq!(frames.len(), 1);
            } else if n <= 4095 {
                assert_eq!(first.data[0] >> 4, 1);
                assert_eq!(
                    ((first.data[0] as usize & 0xF) << 8) | first.data[1] as usize,
                    n
                );
            } else {
                assert_eq!(&first.data[..6], &[0x10, 0, 0, 0, (n >> 8) as u8, n as u8]);
            }
        }
    }

    #[test]
    fn block_size_stmin_and_padding_are_honoured() {
        let mut s = IsoTpConfig::new(0x18DA_F110, 0x18DA_10F1);
        s.extended = true;
        s.padding = Some(0xCC);
        let mut r = IsoTpConfig::new(0x18DA_10F1, 0x18DA_F110);
        r.extended = true;
        r.block_size = 3;
        r.st_min = Duration::from_millis(4);
        let frames = round_trip(100, s, r);
        // FF + 14 CFs from the sender; FCs after the FF and after every 3 CFs but the last.
        let cfs: Vec<_> = frames.iter().filter(|(_, f)| f.data[0] >> 4 == 2).collect();
        let fcs: Vec<_> = frames.iter().filter(|(_, f)| f.data[0] >> 4 == 3).collect();
        assert_eq!(cfs.len(), 14);
        assert_eq!(fcs.len(), 5);
        assert!(fcs.iter().all(|(_, f)| f.data == [0x30, 3, 4]));
        assert!(cfs.iter().all(|(_, f)| f.data.len() == 8 && f.extended));
        assert_eq!(cfs.last().unwrap().1.data[4..], [0xCC; 4]);
        for w in cfs.windows(2) {
            assert!(
                w[1].0 - w[0].0 >= Duration::from_millis(4),
                "STmin not honoured"
            );
        }
    }

    #[test]
    fn st_min_encoding() {
        assert_eq!(st_min_byte(Duration::from_micros(250)), 0xF3);
        assert_eq!(st_min_byte(Duration::from_millis(5)), 5);
        assert_eq!(st_min_byte(Duration::from_secs(1)), 127);
        assert_eq!(st_min_duration(0xF3), Duration::from_micros(300));
        assert_eq!(st_min_duration(0x80), Duration::from_millis(127));
    }

    fn raw_sender(frames: Vec<Vec<u8>>, cfg: IsoTpConfig) -> Result<Vec<u8>, LinkError> {
        let (a, b, _log) = pair();
        let mut rx = IsoTpLink::new(b, cfg);
        for d in frames {
            a.tx.send(CanFrame::new(0x7E0, &d)).unwrap();
        }
        let r = rx.recv(Duration::from_millis(200));
        drop(a);
        r
    }

    #[test]
    fn receive_errors() {
        let mut cfg = IsoTpConfig::new(0x7E8, 0x7E0);
        cfg.n_cr = Duration::from_millis(50);
        let ff = vec![0x10, 20, 1, 2, 3, 4, 5, 6];
        let e = raw_sender(vec![ff.clone(), vec![0x22, 0, 0, 0, 0, 0, 0, 0]], cfg).unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Framing);
        assert!(e.message.contains("expected 1, got 2"), "{e}");
        let e = raw_sender(vec![ff.clone(), vec![0x21, 0, 0, 0, 0, 0, 0, 0]], cfg).unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Timeout);
        assert!(
            e.message.contains("N_Cr") && e.message.contains("13 of 20"),
            "{e}"
        );
        let e = raw_sender(vec![vec![0x05, 1, 2]], cfg).unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Framing, "{e}");
        let e = raw_sender(vec![vec![0x10, 5, 1, 2, 3, 4, 5, 6]], cfg).unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Framing, "{e}");
        let e = raw_sender(vec![ff.clone(), vec![0x02, 1, 2]], cfg).unwrap_err();
        assert!(e.message.contains("new message started"), "{e}");
        let mut small = cfg;
        small.max_message = 10;
        let e = raw_sender(vec![ff], small).unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Protocol, "{e}");
        // A stray CF while idle is ignored; the single frame after it is the message.
        assert_eq!(
            raw_sender(vec![vec![0x21, 9], vec![0x02, 7, 8]], cfg).unwrap(),
            [7, 8]
        );
    }

    #[test]
    fn send_errors() {
        let mut cfg = IsoTpConfig::new(0x7E0, 0x7E8);
        cfg.n_bs = Duration::from_millis(50);
        let (a, b, _log) = pair();
        let mut tx = IsoTpLink::new(a, cfg);
        let e = tx.send(&message(20)).unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Timeout);
        assert!(e.message.contains("N_Bs"), "{e}");
        b.tx.send(CanFrame::new(0x7E8, &[0x32, 0, 0])).unwrap();
        let e = tx.send(&message(20)).unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Protocol);
        assert!(e.message.contains("overflow"), "{e}");
        assert_eq!(tx.send(&[]).unwrap_err().kind, LinkErrorKind::Framing);
        for _ in 0..12 {
            b.tx.send(CanFrame::new(0x7E8, &[0x31, 0, 0])).unwrap();
        }
        let e = tx.send(&message(20)).unwrap_err();
        assert!(e.message.contains("WAIT"), "{e}");
    }
}
