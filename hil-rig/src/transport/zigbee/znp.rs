//! TI Z-Stack ZNP host: Monitor and Test (MT) frames over a UART.
//!
//! An MT frame is `FE len cmd0 cmd1 data… fcs`: start of frame 0xFE, the length of `data`
//! (0–250), `cmd0` = type (bits 7–5: POLL 0, SREQ 1, AREQ 2, SRSP 3) and subsystem (bits
//! 4–0: SYS 1, AF 4, ZDO 5, UTIL 7, …), `cmd1` = command id, and an XOR of every byte from
//! `len` to the end of `data`. A synchronous request (SREQ) is answered by exactly one
//! synchronous response (SRSP) with the same subsystem and id, or by an RPC error SRSP
//! (`60 00`) when the dongle does not know the command; asynchronous frames (AREQ:
//! callbacks such as `AF_INCOMING_MSG`) can arrive at any time.
//!
//! [`ZnpLink`] is the host: it sends SREQs and waits for their SRSP with a timeout, queues
//! the AREQs that arrive meanwhile, and offers SYS.Ping, SYS.Version, SYS.ResetReq
//! (waiting for SYS.ResetInd), ZDO.StartupFromApp, AF.Register and AF.DataRequest, so that
//! a host can bring a coordinator up on the Smart Energy endpoint and send ZCL frames; and
//! [`AfIncomingMsg`] decodes the callback that carries a ZCL frame from a meter.
//!
//! As a [`Link`], a ZnpLink's frames are MT frames **without** the `FE len … fcs`
//! envelope: `cmd0 cmd1 data…` ([`MtCommand::to_link_bytes`]). `send` adds the envelope;
//! `recv` returns queued AREQs first, then whatever frame arrives next.
//!
//! Not implemented: the serial bootloader handshake of CC2652 sticks (the host can write
//! the 0xEF skip byte itself with [`ZnpLink::send_raw`]), NVRAM, network formation
//! parameters (channel, PAN, keys), and ZDO requests. The MT framing is written here
//! because no Rust crate implements it; zigpy-znp's frame codec is the test oracle.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::zcl::{ZclError, ZclFrame};
use super::{read_some, write_all};
use crate::transport::{ByteStream, Link, LinkError, LinkErrorKind};

/// Start-of-frame byte.
pub const SOF: u8 = 0xFE;
/// The largest `data` field Z-Stack accepts.
pub const MAX_DATA: usize = 250;

/// MT subsystems.
pub mod subsystem {
    /// RPC errors.
    pub const RPC_ERROR: u8 = 0x00;
    /// System.
    pub const SYS: u8 = 0x01;
    /// MAC.
    pub const MAC: u8 = 0x02;
    /// Network.
    pub const NWK: u8 = 0x03;
    /// Application framework.
    pub const AF: u8 = 0x04;
    /// ZigBee device objects.
    pub const ZDO: u8 = 0x05;
    /// Simple API.
    pub const SAPI: u8 = 0x06;
    /// Utilities.
    pub const UTIL: u8 = 0x07;
    /// Application interface.
    pub const APP: u8 = 0x09;
    /// Application configuration.
    pub const APP_CNF: u8 = 0x0F;
}

/// MT command type (bits 7–5 of `cmd0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MtType {
    /// Poll.
    Poll,
    /// Synchronous request.
    Sreq,
    /// Asynchronous request / callback.
    Areq,
    /// Synchronous response.
    Srsp,
}

impl MtType {
    fn bits(self) -> u8 {
        match self {
            Self::Poll => 0,
            Self::Sreq => 1,
            Self::Areq => 2,
            Self::Srsp => 3,
        }
    }
}

/// One MT command: type, subsystem, id and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtCommand {
    /// Type.
    pub kind: MtType,
    /// Subsystem (5 bits).
    pub subsystem: u8,
    /// Command id (`cmd1`).
    pub id: u8,
    /// Data.
    pub data: Vec<u8>,
}

impl MtCommand {
    /// A new command.
    #[must_use]
    pub fn new(kind: MtType, subsystem: u8, id: u8, data: Vec<u8>) -> Self {
        Self {
            kind,
            subsystem: subsystem & 0x1F,
            id,
            data,
        }
    }

    /// `cmd0`: type and subsystem.
    #[must_use]
    pub fn cmd0(&self) -> u8 {
        (self.kind.bits() << 5) | (self.subsystem & 0x1F)
    }

    /// `cmd0 cmd1 data…` (the [`Link`] frame form).
    #[must_use]
    pub fn to_link_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(2 + self.data.len());
        v.push(self.cmd0());
        v.push(self.id);
        v.extend_from_slice(&self.data);
        v
    }

    /// Parses `cmd0 cmd1 data…`.
    ///
    /// # Errors
    /// [`LinkErrorKind::Framing`] when shorter than two bytes or the type is reserved.
    pub fn from_link_bytes(b: &[u8]) -> Result<Self, LinkError> {
        if b.len() < 2 {
            return Err(LinkError::new(
                LinkErrorKind::Framing,
                format!("MT command of {} bytes: needs cmd0 and cmd1", b.len()),
            ));
        }
        let kind = match b[0] >> 5 {
            0 => MtType::Poll,
            1 => MtType::Sreq,
            2 => MtType::Areq,
            3 => MtType::Srsp,
            t => {
                return Err(LinkError::new(
                    LinkErrorKind::Framing,
                    format!("MT cmd0 0x{:02x}: reserved command type {t}", b[0]),
                ));
            }
        };
        Ok(Self {
            kind,
            subsystem: b[0] & 0x1F,
            id: b[1],
            data: b[2..].to_vec(),
        })
    }

    /// The whole frame: `FE len cmd0 cmd1 data… fcs`.
    ///
    /// # Errors
    /// [`LinkErrorKind::Framing`] when `data` is over [`MAX_DATA`] bytes.
    pub fn encode_frame(&self) -> Result<Vec<u8>, LinkError> {
        if self.data.len() > MAX_DATA {
            return Err(LinkError::new(
                LinkErrorKind::Framing,
                format!(
                    "MT command {:02x} {:02x}: {} data bytes, at most {MAX_DATA}",
                    self.cmd0(),
                    self.id,
                    self.data.len()
                ),
            ));
        }
        let mut f = Vec::with_capacity(5 + self.data.len());
        f.push(SOF);
        f.push(u8::try_from(self.data.len()).unwrap_or(u8::MAX));
        f.push(self.cmd0());
        f.push(self.id);
        f.extend_from_slice(&self.data);
        f.push(fcs(&f[1..]));
        Ok(f)
    }
}

/// The frame check sequence: XOR of `len`, `cmd0`, `cmd1` and `data`.
#[must_use]
pub fn fcs(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |a, b| a ^ b)
}

/// Splits a byte stream into MT frames.
#[derive(Debug, Default)]
pub struct MtDecoder {
    buf: Vec<u8>,
}

impl MtDecoder {
    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame: `None` when more bytes are needed, `Some(Err)` for a frame
    /// with a bad FCS or a reserved type (the decoder skips its start byte and resyncs).
    /// Bytes before a start-of-frame are dropped.
    pub fn next_frame(&mut self) -> Option<Result<MtCommand, LinkError>> {
        let start = match self.buf.iter().position(|&b| b == SOF) {
            Some(i) => i,
            None => {
                self.buf.clear();
                return None;
            }
        };
        self.buf.drain(..start);
        if self.buf.len() < 2 {
            return None;
        }
        let len = usize::from(self.buf[1]);
        let total = len + 5;
        if self.buf.len() < total {
            return None;
        }
        let expected = fcs(&self.buf[1..total - 1]);
        let got = self.buf[total - 1];
        if expected != got {
            let head = format!("{:02x?}", &self.buf[..total.min(8)]);
            self.buf.drain(..1);
            return Some(Err(LinkError::new(
                LinkErrorKind::Framing,
                format!("MT frame {head}…: FCS 0x{got:02x}, expected 0x{expected:02x}"),
            )));
        }
        let cmd = MtCommand::from_link_bytes(&self.buf[2..total - 1]);
        self.buf.drain(..total);
        Some(cmd)
    }
}

/// SYS.Version response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZnpVersion {
    /// Transport protocol revision.
    pub transport_rev: u8,
    /// Product id (0 Z-Stack 1.2, 1 Z-Stack 3.x, 2 Z-Stack 3.0.x).
    pub product_id: u8,
    /// Major release.
    pub major: u8,
    /// Minor release.
    pub minor: u8,
    /// Maintenance release.
    pub maint: u8,
    /// Firmware build (code revision), sent by newer firmware only.
    pub code_revision: Option<u32>,
}

/// `AF_INCOMING_MSG` (AREQ 0x44 0x81): an APS data frame received by an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfIncomingMsg {
    /// Group id (0 when unicast).
    pub group_id: u16,
    /// Cluster id.
    pub cluster_id: u16,
    /// Source network address.
    pub src_addr: u16,
    /// Source endpoint.
    pub src_endpoint: u8,
    /// Destination endpoint.
    pub dst_endpoint: u8,
    /// Broadcast flag.
    pub was_broadcast: bool,
    /// Link quality.
    pub lqi: u8,
    /// APS security used.
    pub security_use: bool,
    /// Timestamp (MAC symbol counter).
    pub timestamp: u32,
    /// Transaction sequence number.
    pub tsn: u8,
    /// The APS payload (a ZCL frame on ZCL endpoints).
    pub data: Vec<u8>,
    /// MAC source address of the last hop.
    pub mac_src_addr: u16,
    /// Radius left.
    pub radius: u8,
}

impl AfIncomingMsg {
    /// Decodes the data of an `AF_INCOMING_MSG` callback.
    ///
    /// # Errors
    /// [`LinkErrorKind::Framing`] naming the field when the data is truncated.
    pub fn decode(data: &[u8]) -> Result<Self, LinkError> {
        let short = |what: &str| {
            LinkError::new(
                LinkErrorKind::Framing,
                format!(
                    "AF_INCOMING_MSG of {} bytes: truncated at {what}",
                    data.len()
                ),
            )
        };
        let u16_at = |i: usize, what: &str| {
            data.get(i..i + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .ok_or_else(|| short(what))
        };
        let u8_at = |i: usize, what: &str| data.get(i).copied().ok_or_else(|| short(what));
        let len = usize::from(u8_at(16, "Len")?);
        let payload = data
            .get(17..17 + len)
            .ok_or_else(|| short("Data"))?
            .to_vec();
        let tail = 17 + len;
        Ok(Self {
            group_id: u16_at(0, "GroupId")?,
            cluster_id: u16_at(2, "ClusterId")?,
            src_addr: u16_at(4, "SrcAddr")?,
            src_endpoint: u8_at(6, "SrcEndpoint")?,
            dst_endpoint: u8_at(7, "DstEndpoint")?,
            was_broadcast: u8_at(8, "WasBroadcast")? != 0,
            lqi: u8_at(9, "LinkQuality")?,
            security_use: u8_at(10, "SecurityUse")? != 0,
            timestamp: data
                .get(11..15)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| short("TimeStamp"))?,
            tsn: u8_at(15, "TransSeqNum")?,
            data: payload,
            mac_src_addr: u16_at(tail, "MacSrcAddr")?,
            radius: u8_at(tail + 2, "MsgResultRadius")?,
        })
    }

    /// Decodes the payload as a ZCL frame of the message's cluster.
    ///
    /// # Errors
    /// As [`ZclFrame::decode`].
    pub fn zcl(&self) -> Result<ZclFrame, ZclError> {
        ZclFrame::decode(self.cluster_id, &self.data)
    }
}

/// AF.Register: an endpoint with its simple descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRegistration {
    /// Endpoint number (1–240).
    pub endpoint: u8,
    /// Application profile (0x0109 Smart Energy).
    pub profile_id: u16,
    /// Device id.
    pub device_id: u16,
    /// Device version.
    pub device_version: u8,
    /// Input (server) clusters.
    pub input_clusters: Vec<u16>,
    /// Output (client) clusters.
    pub output_clusters: Vec<u16>,
}

impl EndpointRegistration {
    /// The SREQ data.
    ///
    /// # Errors
    /// [`LinkErrorKind::Framing`] with more than 255 clusters in a list.
    pub fn encode(&self) -> Result<Vec<u8>, LinkError> {
        let mut d = vec![self.endpoint];
        d.extend_from_slice(&self.profile_id.to_le_bytes());
        d.extend_from_slice(&self.device_id.to_le_bytes());
        d.push(self.device_version);
        d.push(0); // latency: none
        for list in [&self.input_clusters, &self.output_clusters] {
            d.push(u8::try_from(list.len()).map_err(|_| {
                LinkError::new(
                    LinkErrorKind::Framing,
                    "AF.Register: more than 255 clusters",
                )
            })?);
            for c in list {
                d.extend_from_slice(&c.to_le_bytes());
            }
        }
        Ok(d)
    }
}

/// AF.DataRequest: send an APS frame to an endpoint of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRequest {
    /// Destination network address.
    pub dst_addr: u16,
    /// Destination endpoint.
    pub dst_endpoint: u8,
    /// Source endpoint (registered with AF.Register).
    pub src_endpoint: u8,
    /// Cluster id.
    pub cluster_id: u16,
    /// Transaction id, echoed by AF_DATA_CONFIRM.
    pub trans_id: u8,
    /// Options (0x10 APS ack, 0x40 APS security).
    pub options: u8,
    /// Radius.
    pub radius: u8,
    /// Payload (a ZCL frame).
    pub data: Vec<u8>,
}

impl DataRequest {
    /// The SREQ data.
    ///
    /// # Errors
    /// [`LinkErrorKind::Framing`] when the payload is over 240 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, LinkError> {
        let len = u8::try_from(self.data.len())
            .ok()
            .filter(|&n| n <= 240)
            .ok_or_else(|| {
                LinkError::new(
                    LinkErrorKind::Framing,
                    format!(
                        "AF.DataRequest: {} payload bytes, at most 240",
                        self.data.len()
                    ),
                )
            })?;
        let mut d = Vec::with_capacity(10 + self.data.len());
        d.extend_from_slice(&self.dst_addr.to_le_bytes());
        d.push(self.dst_endpoint);
        d.push(self.src_endpoint);
        d.extend_from_slice(&self.cluster_id.to_le_bytes());
        d.push(self.trans_id);
        d.push(self.options);
        d.push(self.radius);
        d.push(len);
        d.extend_from_slice(&self.data);
        Ok(d)
    }
}

/// Command ids used by the host.
pub mod cmd {
    /// SYS.ResetReq (AREQ).
    pub const SYS_RESET_REQ: u8 = 0x00;
    /// SYS.Ping (SREQ).
    pub const SYS_PING: u8 = 0x01;
    /// SYS.Version (SREQ).
    pub const SYS_VERSION: u8 = 0x02;
    /// SYS.ResetInd (AREQ callback).
    pub const SYS_RESET_IND: u8 = 0x80;
    /// AF.Register (SREQ).
    pub const AF_REGISTER: u8 = 0x00;
    /// AF.DataRequest (SREQ).
    pub const AF_DATA_REQUEST: u8 = 0x01;
    /// AF.DataConfirm (AREQ callback).
    pub const AF_DATA_CONFIRM: u8 = 0x80;
    /// AF.IncomingMsg (AREQ callback).
    pub const AF_INCOMING_MSG: u8 = 0x81;
    /// ZDO.StartupFromApp (SREQ).
    pub const ZDO_STARTUP_FROM_APP: u8 = 0x40;
}

/// The most AREQs (indications) a [`ZnpLink`] keeps while waiting for something else.
pub const MAX_QUEUED_AREQS: usize = 256;

/// A Z-Stack ZNP dongle on a byte stream.
#[derive(Debug)]
pub struct ZnpLink<S: ByteStream> {
    stream: S,
    decoder: MtDecoder,
    areqs: VecDeque<MtCommand>,
    name: String,
}

impl<S: ByteStream> ZnpLink<S> {
    /// A host on `stream`.
    pub fn new(stream: S) -> Self {
        let name = format!("znp:{}", stream.name());
        Self {
            stream,
            decoder: MtDecoder::default(),
            areqs: VecDeque::new(),
            name,
        }
    }

    /// The stream, for closing it or reading its settings.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Writes raw bytes (e.g. the 0xEF bootloader-skip byte of CC2652 sticks).
    ///
    /// # Errors
    /// As the stream fails.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        write_all(&mut self.stream, bytes)
    }

    /// Sends one MT command.
    ///
    /// # Errors
    /// As the stream fails; [`LinkErrorKind::Framing`] for over-long data.
    pub fn send_command(&mut self, cmd: &MtCommand) -> Result<(), LinkError> {
        let frame = cmd.encode_frame()?;
        tracing::trace!(port = %self.name, frame = ?frame, "MT TX");
        write_all(&mut self.stream, &frame)
    }

    /// Reads the next MT command from the stream (not the AREQ queue) before `deadline`.
    fn read_command(&mut self, deadline: Instant) -> Result<MtCommand, LinkError> {
        let mut buf = [0u8; 256];
        loop {
            if let Some(r) = self.decoder.next_frame() {
                return r
                    .map_err(|e| LinkError::new(e.kind, format!("{}: {}", self.name, e.message)));
            }
            match read_some(&mut self.stream, &mut buf, deadline, &self.name)? {
                Some(n) => self.decoder.push(&buf[..n]),
                None => {
                    return Err(LinkError::new(
                        LinkErrorKind::Timeout,
                        format!("{}: no MT frame in time", self.name),
                    ));
                }
            }
        }
    }

    /// Sends an SREQ and waits for its SRSP; AREQs that arrive meanwhile are queued.
    ///
    /// # Errors
    /// [`LinkErrorKind::Timeout`] without an answer, [`LinkErrorKind::Protocol`] when the
    /// dongle answers with an RPC error (unknown command) or is not an SREQ.
    pub fn sreq(
        &mut self,
        subsystem: u8,
        id: u8,
        data: Vec<u8>,
        timeout: Duration,
    ) -> Result<MtCommand, LinkError> {
        let req = MtCommand::new(MtType::Sreq, subsystem, id, data);
        self.send_command(&req)?;
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.read_until(deadline, || {
                format!(
                    "no SRSP to SREQ {:02x} {:02x} within {timeout:?}",
                    req.cmd0(),
                    id
                )
            })?;
            match c.kind {
                MtType::Areq => self.queue_areq(c),
                MtType::Srsp if c.subsystem == subsystem && c.id == id => return Ok(c),
                MtType::Srsp
                    if c.subsystem == subsystem::RPC_ERROR
                        && c.id == 0
                        && c.data.get(1..3) == Some(&[req.cmd0(), id][..]) =>
                {
                    return Err(LinkError::new(
                        LinkErrorKind::Protocol,
                        format!(
                            "{}: the dongle rejected SREQ {:02x} {:02x} with RPC error 0x{:02x}",
                            self.name,
                            req.cmd0(),
                            id,
                            c.data.first().copied().unwrap_or_default()
                        ),
                    ));
                }
                _ => {
                    tracing::warn!(port = %self.name, cmd = ?c, "unexpected MT frame while waiting for an SRSP");
                }
            }
        }
    }

    /// Waits for the next AREQ (from the queue first) matching `subsystem`/`id`; others
    /// stay queued.
    ///
    /// # Errors
    /// [`LinkErrorKind::Timeout`] when none arrives in time.
    pub fn wait_areq(
        &mut self,
        subsystem: u8,
        id: u8,
        timeout: Duration,
    ) -> Result<MtCommand, LinkError> {
        if let Some(c) = self
            .areqs
            .iter()
            .position(|c| c.subsystem == subsystem && c.id == id)
            .and_then(|i| self.areqs.remove(i))
        {
            return Ok(c);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.read_until(deadline, || {
                format!("no AREQ {subsystem:02x}/{id:02x} within {timeout:?}")
            })?;
            if c.kind == MtType::Areq {
                if c.subsystem == subsystem && c.id == id {
                    return Ok(c);
                }
                self.queue_areq(c);
            }
        }
    }

    /// Keeps an AREQ that arrived while waiting for something else, for a later
    /// [`Self::wait_areq`] or the next `recv`. At most [`MAX_QUEUED_AREQS`] are kept: a
    /// dongle that floods indications while nobody reads them loses the oldest.
    fn queue_areq(&mut self, c: MtCommand) {
        if self.areqs.len() >= MAX_QUEUED_AREQS {
            self.areqs.pop_front();
            tracing::warn!(
                port = %self.name,
                "more than {MAX_QUEUED_AREQS} unread AREQs: the oldest is dropped"
            );
        }
        self.areqs.push_back(c);
    }

    /// SYS.Ping: the capabilities bitmap (which MT subsystems the firmware has).
    ///
    /// # Errors
    /// As [`Self::sreq`]; [`LinkErrorKind::Protocol`] for a short answer.
    pub fn ping(&mut self, timeout: Duration) -> Result<u16, LinkError> {
        let r = self.sreq(subsystem::SYS, cmd::SYS_PING, Vec::new(), timeout)?;
        match r.data[..] {
            [lo, hi, ..] => Ok(u16::from_le_bytes([lo, hi])),
            _ => Err(self.short("SYS.Ping response", &r.data)),
        }
    }

    /// SYS.Version.
    ///
    /// # Errors
    /// As [`Self::sreq`]; [`LinkErrorKind::Protocol`] for a short answer.
    pub fn version(&mut self, timeout: Duration) -> Result<ZnpVersion, LinkError> {
        let r = self.sreq(subsystem::SYS, cmd::SYS_VERSION, Vec::new(), timeout)?;
        let d = &r.data;
        if d.len() < 5 {
            return Err(self.short("SYS.Version response", d));
        }
        Ok(ZnpVersion {
            transport_rev: d[0],
            product_id: d[1],
            major: d[2],
            minor: d[3],
            maint: d[4],
            code_revision: d
                .get(5..9)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        })
    }

    /// SYS.ResetReq (soft or hard) and wait for SYS.ResetInd; returns its reason code.
    ///
    /// # Errors
    /// [`LinkErrorKind::Timeout`] when the dongle does not come back.
    pub fn reset(&mut self, soft: bool, timeout: Duration) -> Result<u8, LinkError> {
        self.areqs
            .retain(|c| !(c.subsystem == subsystem::SYS && c.id == cmd::SYS_RESET_IND));
        self.send_command(&MtCommand::new(
            MtType::Areq,
            subsystem::SYS,
            cmd::SYS_RESET_REQ,
            vec![u8::from(soft)],
        ))?;
        let ind = self.wait_areq(subsystem::SYS, cmd::SYS_RESET_IND, timeout)?;
        self.first_byte("SYS.ResetInd", &ind.data)
    }

    /// ZDO.StartupFromApp: start the network stack; returns the state code (0 restored,
    /// 1 new network, 2 leave and not started).
    ///
    /// # Errors
    /// As [`Self::sreq`].
    pub fn startup_from_app(&mut self, delay_ms: u16, timeout: Duration) -> Result<u8, LinkError> {
        self.sreq_status(
            subsystem::ZDO,
            cmd::ZDO_STARTUP_FROM_APP,
            delay_ms.to_le_bytes().to_vec(),
            timeout,
            "ZDO.StartupFromApp response",
        )
    }

    /// AF.Register; returns the status (0 success).
    ///
    /// # Errors
    /// As [`Self::sreq`].
    pub fn af_register(
        &mut self,
        reg: &EndpointRegistration,
        timeout: Duration,
    ) -> Result<u8, LinkError> {
        self.sreq_status(
            subsystem::AF,
            cmd::AF_REGISTER,
            reg.encode()?,
            timeout,
            "AF.Register response",
        )
    }

    /// AF.DataRequest; returns the SRSP status (0 = accepted; delivery is confirmed later
    /// by an AF.DataConfirm AREQ).
    ///
    /// # Errors
    /// As [`Self::sreq`].
    pub fn af_data_request(
        &mut self,
        req: &DataRequest,
        timeout: Duration,
    ) -> Result<u8, LinkError> {
        self.sreq_status(
            subsystem::AF,
            cmd::AF_DATA_REQUEST,
            req.encode()?,
            timeout,
            "AF.DataRequest response",
        )
    }

    /// Waits for the next `AF_INCOMING_MSG` callback and decodes it.
    ///
    /// # Errors
    /// [`LinkErrorKind::Timeout`] when none arrives; [`LinkErrorKind::Framing`] when it is
    /// malformed.
    pub fn next_incoming_msg(&mut self, timeout: Duration) -> Result<AfIncomingMsg, LinkError> {
        let c = self.wait_areq(subsystem::AF, cmd::AF_INCOMING_MSG, timeout)?;
        AfIncomingMsg::decode(&c.data)
            .map_err(|e| LinkError::new(e.kind, format!("{}: {}", self.name, e.message)))
    }

    /// Reads the next well-formed MT command before `deadline`, dropping bad frames; on a
    /// timeout the error names the port and `awaited()`.
    fn read_until(
        &mut self,
        deadline: Instant,
        awaited: impl FnOnce() -> String,
    ) -> Result<MtCommand, LinkError> {
        loop {
            match self.read_command(deadline) {
                Ok(c) => return Ok(c),
                Err(e) if e.kind == LinkErrorKind::Framing => {
                    tracing::warn!(port = %self.name, error = %e, "dropping a bad MT frame");
                }
                Err(e) if e.kind == LinkErrorKind::Timeout => {
                    return Err(LinkError::new(
                        LinkErrorKind::Timeout,
                        format!("{}: {}", self.name, awaited()),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends an SREQ whose SRSP starts with a status byte and returns that byte.
    fn sreq_status(
        &mut self,
        subsystem: u8,
        id: u8,
        data: Vec<u8>,
        timeout: Duration,
        what: &str,
    ) -> Result<u8, LinkError> {
        let r = self.sreq(subsystem, id, data, timeout)?;
        self.first_byte(what, &r.data)
    }

    /// The first byte of `data` (a status or reason code); a Protocol error naming `what`
    /// when `data` is empty.
    fn first_byte(&self, what: &str, data: &[u8]) -> Result<u8, LinkError> {
        data.first().copied().ok_or_else(|| self.short(what, data))
    }

    fn short(&self, what: &str, data: &[u8]) -> LinkError {
        LinkError::new(
            LinkErrorKind::Protocol,
            format!(
                "{}: {what} too short ({} bytes: {data:02x?})",
                self.name,
                data.len()
            ),
        )
    }
}

impl<S: ByteStream> Link for ZnpLink<S> {
    /// Sends `cmd0 cmd1 data…` as one MT frame.
    fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        let cmd = MtCommand::from_link_bytes(frame)?;
        self.send_command(&cmd)
    }

    /// Returns the next MT command as `cmd0 cmd1 data…`, queued AREQs first.
    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        if let Some(c) = self.areqs.pop_front() {
            return Ok(c.to_link_bytes());
        }
        let deadline = Instant::now() + timeout;
        self.read_command(deadline).map(|c| c.to_link_bytes())
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::testing::MemStream;
    use super::*;
    use crate::transport::testing::{XorShift, each_prefix};

    #[test]
    fn ping_frame_matches_the_mt_layout() {
        let f = MtCommand::new(MtType::Sreq, subsystem::SYS, cmd::SYS_PING, vec![])
            .encode_frame()
            .unwrap();
        assert_eq!(f, [0xFE, 0x00, 0x21, 0x01, 0x20]);
        let mut d = MtDecoder::default();
        d.push(&[0xEF, 0x00, 0xFE, 0x02, 0x61, 0x01, 0x59, 0x00, 0x3B, 0xFE]);
        let c = d.next_frame().unwrap().unwrap();
        assert_eq!(
            (c.kind, c.subsystem, c.id, &c.data[..]),
            (MtType::Srsp, 1, 1, &[0x59, 0][..])
        );
        assert!(d.next_frame().is_none());
    }

    #[test]
    fn bad_fcs_is_a_framing_error_and_the_decoder_resyncs() {
        let mut d = MtDecoder::default();
        d.push(&[
            0xFE, 0x02, 0x61, 0x01, 0x59, 0x00, 0x3C, 0xFE, 0x00, 0x21, 0x01, 0x20,
        ]);
        let e = d.next_frame().unwrap().unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Framing);
        assert!(e.message.contains("FCS"), "{e}");
        let c = d.next_frame().unwrap().unwrap();
        assert_eq!((c.kind, c.id), (MtType::Sreq, cmd::SYS_PING));
    }

    #[test]
    fn rpc_error_is_a_protocol_error_and_areqs_are_queued() {
        let dev = Box::new(|w: &[u8]| {
            let mut out = Vec::new();
            // a callback first, then the RPC error for the request
            out.extend(
                MtCommand::new(
                    MtType::Areq,
                    subsystem::SYS,
                    cmd::SYS_RESET_IND,
                    vec![2, 2, 1, 2, 7, 1],
                )
                .encode_frame()
                .unwrap(),
            );
            out.extend(
                MtCommand::new(MtType::Srsp, subsystem::RPC_ERROR, 0, vec![2, w[2], w[3]])
                    .encode_frame()
                    .unwrap(),
            );
            out
        });
        let mut link = ZnpLink::new(MemStream::new(dev));
        let e = link
            .startup_from_app(0, Duration::from_millis(200))
            .unwrap_err();
        assert_eq!(e.kind, LinkErrorKind::Protocol);
        assert!(e.message.contains("RPC error 0x02"), "{e}");
        let ind = link
            .wait_areq(
                subsystem::SYS,
                cmd::SYS_RESET_IND,
                Duration::from_millis(10),
            )
            .unwrap();
        assert_eq!(ind.data[0], 2);
    }

    #[test]
    fn encoders_lay_out_af_register_and_data_request() {
        let reg = EndpointRegistration {
            endpoint: 1,
            profile_id: 0x0109,
            device_id: 0x0500,
            device_version: 0,
            input_clusters: vec![0x0000, 0x000A],
            output_clusters: vec![0x0702],
        };
        assert_eq!(
            reg.encode().unwrap(),
            [
                1, 0x09, 0x01, 0x00, 0x05, 0, 0, 2, 0, 0, 0x0A, 0, 1, 0x02, 0x07
            ]
        );
        let req = DataRequest {
            dst_addr: 0x1234,
            dst_endpoint: 1,
            src_endpoint: 1,
            cluster_id: 0x0702,
            trans_id: 9,
            options: 0,
            radius: 30,
            data: vec![0x00, 0x11, 0x00, 0x00, 0x00],
        };
        assert_eq!(
            req.encode().unwrap(),
            [
                0x34, 0x12, 1, 1, 0x02, 0x07, 9, 0, 30, 5, 0x00, 0x11, 0x00, 0x00, 0x00
            ]
        );
    }

    #[test]
    fn random_bytes_never_panic_the_decoders() {
        let mut d = MtDecoder::default();
        let mut rng = XorShift(0xC0FF_EE11);
        for i in 0..50_000u32 {
            let b = rng.next_u64().to_le_bytes()[3];
            // bias towards start-of-frame bytes so that frames get attempted
            d.push(&[if i % 7 == 0 { SOF } else { b }]);
            while d.next_frame().is_some() {}
        }
        let data: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        each_prefix(&[data], |b| {
            let _ = AfIncomingMsg::decode(b);
        });
    }

    #[test]
    fn truncated_incoming_msg_names_the_field() {
        let e = AfIncomingMsg::decode(&[0; 17]).unwrap_err();
        assert!(e.message.contains("MacSrcAddr"), "{e}");
        let e = AfIncomingMsg::decode(&[0; 5]).unwrap_err();
        assert!(e.message.contains("truncated"), "{e}");
    }
}
