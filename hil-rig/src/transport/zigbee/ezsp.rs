//! EZSP (EmberZNet Serial Protocol, UG100) frames over [`ash`](super::ash).
//!
//! An EZSP frame is a sequence number, a frame control and a frame id, then parameters.
//! Until the host and the NCP agree on a protocol version, frames use the **legacy** layout
//! `seq fc id` (one byte each). The first command must be `version`: the host sends it in
//! the legacy layout, the NCP answers with its protocol version, and from protocol 8 on the
//! NCP expects the **extended** layout `seq fc_lo fc_hi id_lo id_hi` (frame format version 1
//! in `fc_hi`) at once, starting with a second `version` in that layout.
//!
//! [`EzspLink`] does that handshake ([`EzspLink::connect`]), then `echo` and `nop`, and
//! matches responses to commands by sequence number and frame id; callbacks that arrive
//! meanwhile are queued and returned by [`Link::recv`]. As a [`Link`], its frames are
//! whole EZSP frames (header and parameters) in the current layout; `send` carries one
//! in an acknowledged ASH DATA frame.
//!
//! [`params`] has encoders for what a host sends to bring a network up and talk to a
//! meter (`networkInit`, `formNetwork`, `sendUnicast`). They are checked byte for byte
//! against bellows' serialisation in the module tests, but no NCP firmware ran them here.
//!
//! Not implemented: callbacks' decoding, EZSP security (encrypted frames), the
//! configuration and policy commands, and protocols below 8 beyond the legacy layout.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::ash::AshHost;
use crate::transport::{ByteStream, Link, LinkError, LinkErrorKind};

/// Frame ids.
pub mod frame_id {
    /// `version`.
    pub const VERSION: u16 = 0x0000;
    /// `nop`.
    pub const NOP: u16 = 0x0005;
    /// `networkInit`.
    pub const NETWORK_INIT: u16 = 0x0017;
    /// `formNetwork`.
    pub const FORM_NETWORK: u16 = 0x001E;
    /// `sendUnicast`.
    pub const SEND_UNICAST: u16 = 0x0034;
    /// `invalidCommand` (sent by the NCP instead of a response).
    pub const INVALID_COMMAND: u16 = 0x0058;
    /// `echo`.
    pub const ECHO: u16 = 0x0081;
}

/// The EZSP frame layout in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFormat {
    /// `seq fc id` (protocols 4–7, and the first `version` of every protocol).
    Legacy,
    /// `seq fc_lo fc_hi id_lo id_hi` (protocol 8 and later).
    Extended,
}

/// An EZSP frame header and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EzspFrame {
    /// Sequence number.
    pub seq: u8,
    /// Frame control (low byte; the high byte of the extended layout is the format version).
    pub control: u8,
    /// Frame id.
    pub id: u16,
    /// Parameters.
    pub params: Vec<u8>,
}

impl EzspFrame {
    /// Bit 7 of the frame control: set in responses and callbacks.
    pub const RESPONSE: u8 = 0x80;
    /// Frame control bits 4–3: callback type (0 none, 1 synchronous, 2 asynchronous).
    pub const CALLBACK_MASK: u8 = 0x18;

    /// Encodes in `format`.
    ///
    /// # Errors
    /// [`LinkErrorKind::Framing`] for a frame id above 0xFF in the legacy layout.
    pub fn encode(&self, format: FrameFormat) -> Result<Vec<u8>, LinkError> {
        let mut v = vec![self.seq, self.control];
        match format {
            FrameFormat::Legacy => v.push(u8::try_from(self.id).map_err(|_| {
                LinkError::new(
                    LinkErrorKind::Framing,
                    format!(
                        "EZSP frame id 0x{:04x} does not fit the legacy layout",
                        self.id
                    ),
                )
            })?),
            FrameFormat::Extended => {
                v.push(0x01);
                v.extend_from_slice(&self.id.to_le_bytes());
            }
        }
        v.extend_from_slice(&self.params);
        Ok(v)
    }

    /// Decodes in `format`.
    ///
    /// # Errors
    /// [`LinkErrorKind::Framing`] for a frame shorter than its header or an unknown
    /// extended frame format version.
    pub fn decode(b: &[u8], format: FrameFormat) -> Result<Self, LinkError> {
        let short = || {
            LinkError::new(
                LinkErrorKind::Framing,
                format!(
                    "EZSP frame of {} bytes is shorter than its {format:?} header",
                    b.len()
                ),
            )
        };
        match format {
            FrameFormat::Legacy => match b {
                [seq, control, id, params @ ..] => Ok(Self {
                    seq: *seq,
                    control: *control,
                    id: u16::from(*id),
                    params: params.to_vec(),
                }),
                _ => Err(short()),
            },
            FrameFormat::Extended => match b {
                [seq, control, hi, id_lo, id_hi, params @ ..] => {
                    if hi & 0x03 != 0x01 {
                        return Err(LinkError::new(
                            LinkErrorKind::Framing,
                            format!(
                                "EZSP frame control high byte 0x{hi:02x}: frame format version is not 1"
                            ),
                        ));
                    }
                    Ok(Self {
                        seq: *seq,
                        control: *control,
                        id: u16::from_le_bytes([*id_lo, *id_hi]),
                        params: params.to_vec(),
                    })
                }
                _ => Err(short()),
            },
        }
    }
}

/// The answer to `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EzspVersion {
    /// EZSP protocol version.
    pub protocol: u8,
    /// Stack type (2 = mesh).
    pub stack_type: u8,
    /// Stack version, one nibble per digit (0x6A70 = 6.10.7.0).
    pub stack_version: u16,
}

/// Encoders for the parameters of network commands.
pub mod params {
    /// `EmberNetworkParameters`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct NetworkParameters {
        /// Extended PAN id.
        pub extended_pan_id: u64,
        /// PAN id.
        pub pan_id: u16,
        /// Radio power, dBm.
        pub radio_tx_power: i8,
        /// Channel (11–26).
        pub radio_channel: u8,
        /// Join method (0 MAC association).
        pub join_method: u8,
        /// Network manager node id.
        pub nwk_manager_id: u16,
        /// Network update id.
        pub nwk_update_id: u8,
        /// Channel mask (bit n = channel n).
        pub channels: u32,
    }

    /// `EmberApsFrame`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ApsFrame {
        /// Profile (0x0109 Smart Energy).
        pub profile_id: u16,
        /// Cluster.
        pub cluster_id: u16,
        /// Source endpoint.
        pub source_endpoint: u8,
        /// Destination endpoint.
        pub destination_endpoint: u8,
        /// `EmberApsOption` bits (0x0040 retry, 0x0100 enable route discovery, …).
        pub options: u16,
        /// Group id.
        pub group_id: u16,
        /// APS sequence.
        pub sequence: u8,
    }

    /// `networkInit(EmberNetworkInitStruct { bitmask })`.
    #[must_use]
    pub fn network_init(bitmask: u16) -> Vec<u8> {
        bitmask.to_le_bytes().to_vec()
    }

    /// `formNetwork(parameters)`.
    #[must_use]
    pub fn form_network(p: &NetworkParameters) -> Vec<u8> {
        let mut v = Vec::with_capacity(20);
        v.extend_from_slice(&p.extended_pan_id.to_le_bytes());
        v.extend_from_slice(&p.pan_id.to_le_bytes());
        v.extend_from_slice(&p.radio_tx_power.to_le_bytes());
        v.push(p.radio_channel);
        v.push(p.join_method);
        v.extend_from_slice(&p.nwk_manager_id.to_le_bytes());
        v.push(p.nwk_update_id);
        v.extend_from_slice(&p.channels.to_le_bytes());
        v
    }

    /// `sendUnicast(type=direct, destination, apsFrame, messageTag, message)`; `None`
    /// when the message is over 255 bytes.
    #[must_use]
    pub fn send_unicast(
        destination: u16,
        aps: &ApsFrame,
        tag: u8,
        message: &[u8],
    ) -> Option<Vec<u8>> {
        let len = u8::try_from(message.len()).ok()?;
        let mut v = vec![0x00]; // EMBER_OUTGOING_DIRECT
        v.extend_from_slice(&destination.to_le_bytes());
        v.extend_from_slice(&aps.profile_id.to_le_bytes());
        v.extend_from_slice(&aps.cluster_id.to_le_bytes());
        v.push(aps.source_endpoint);
        v.push(aps.destination_endpoint);
        v.extend_from_slice(&aps.options.to_le_bytes());
        v.extend_from_slice(&aps.group_id.to_le_bytes());
        v.push(aps.sequence);
        v.push(tag);
        v.push(len);
        v.extend_from_slice(message);
        Some(v)
    }
}

/// An EmberZNet NCP over ASH.
#[derive(Debug)]
pub struct EzspLink<S: ByteStream> {
    ash: AshHost<S>,
    format: FrameFormat,
    seq: u8,
    protocol: Option<u8>,
    callbacks: VecDeque<Vec<u8>>,
    name: String,
}

impl<S: ByteStream> EzspLink<S> {
    /// A host on `stream`; call [`Self::connect`] first.
    pub fn new(stream: S) -> Self {
        let ash = AshHost::new(stream);
        let name = format!("ezsp:{}", ash.name().trim_start_matches("ash:"));
        Self {
            ash,
            format: FrameFormat::Legacy,
            seq: 0,
            protocol: None,
            callbacks: VecDeque::new(),
            name,
        }
    }

    /// The ASH layer (timers, retransmission counters).
    pub fn ash_mut(&mut self) -> &mut AshHost<S> {
        &mut self.ash
    }

    /// The frame layout in use.
    #[must_use]
    pub fn format(&self) -> FrameFormat {
        self.format
    }

    /// The protocol version agreed by [`Self::connect`].
    #[must_use]
    pub fn protocol(&self) -> Option<u8> {
        self.protocol
    }

    /// Resets the NCP (ASH RST → RSTACK) and negotiates the protocol: `version(4)` in the
    /// legacy layout, then, for protocol 8 and later, `version(p)` again in the extended
    /// layout. Returns the version the NCP reported last.
    ///
    /// # Errors
    /// [`LinkErrorKind::Timeout`] without answers; [`LinkErrorKind::Protocol`] when the NCP
    /// reports a protocol below 4 or changes its mind.
    pub fn connect(&mut self, timeout: Duration) -> Result<EzspVersion, LinkError> {
        let (_, reset_code) = self.ash.reset(timeout)?;
        tracing::debug!(port = %self.name, reset_code, "NCP reset");
        self.format = FrameFormat::Legacy;
        self.protocol = None;
        self.callbacks.clear();
        let first = self.version(4, timeout)?;
        if first.protocol < 4 {
            return Err(self.err(
                LinkErrorKind::Protocol,
                format!("NCP speaks EZSP protocol {}, below 4", first.protocol),
            ));
        }
        let last = if first.protocol == 4 {
            first
        } else {
            if first.protocol >= 8 {
                self.format = FrameFormat::Extended;
            }
            let again = self.version(first.protocol, timeout)?;
            if again.protocol != first.protocol {
                return Err(self.err(
                    LinkErrorKind::Protocol,
                    format!(
                        "NCP answered protocol {} and then {}",
                        first.protocol, again.protocol
                    ),
                ));
            }
            again
        };
        self.protocol = Some(last.protocol);
        Ok(last)
    }

    /// `version(desired)` in the current layout.
    ///
    /// # Errors
    /// As [`Self::command`]; [`LinkErrorKind::Protocol`] for a short answer.
    pub fn version(&mut self, desired: u8, timeout: Duration) -> Result<EzspVersion, LinkError> {
        let r = self.command(frame_id::VERSION, &[desired], timeout)?;
        match r.params[..] {
            [protocol, stack_type, lo, hi, ..] => Ok(EzspVersion {
                protocol,
                stack_type,
                stack_version: u16::from_le_bytes([lo, hi]),
            }),
            _ => Err(self.err(
                LinkErrorKind::Protocol,
                format!("version response too short: {:02x?}", r.params),
            )),
        }
    }

    /// `echo(data)`: the NCP returns the bytes.
    ///
    /// # Errors
    /// As [`Self::command`]; [`LinkErrorKind::Protocol`] for a malformed answer.
    pub fn echo(&mut self, data: &[u8], timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let len = u8::try_from(data.len())
            .map_err(|_| self.err(LinkErrorKind::Framing, "echo: more than 255 bytes"))?;
        let mut p = vec![len];
        p.extend_from_slice(data);
        let r = self.command(frame_id::ECHO, &p, timeout)?;
        match r.params.split_first() {
            Some((&n, rest)) if usize::from(n) == rest.len() => Ok(rest.to_vec()),
            _ => Err(self.err(
                LinkErrorKind::Protocol,
                format!(
                    "echo response is not a length-prefixed byte string: {:02x?}",
                    r.params
                ),
            )),
        }
    }

    /// `nop`.
    ///
    /// # Errors
    /// As [`Self::command`].
    pub fn nop(&mut self, timeout: Duration) -> Result<(), LinkError> {
        self.command(frame_id::NOP, &[], timeout).map(|_| ())
    }

    /// Sends command `id` with `params` and waits for its response (same sequence number
    /// and frame id). Callbacks that arrive first are queued.
    ///
    /// # Errors
    /// [`LinkErrorKind::Protocol`] when the NCP answers `invalidCommand`;
    /// [`LinkErrorKind::Timeout`] when no response arrives in time; ASH errors as they come.
    pub fn command(
        &mut self,
        id: u16,
        params: &[u8],
        timeout: Duration,
    ) -> Result<EzspFrame, LinkError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let frame = EzspFrame {
            seq,
            control: 0x00,
            id,
            params: params.to_vec(),
        }
        .encode(self.format)?;
        self.ash.send_data(&frame)?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let raw = self.ash.recv_data(left).map_err(|e| {
                if e.kind == LinkErrorKind::Timeout {
                    self.err(
                        LinkErrorKind::Timeout,
                        format!(
                            "no response to EZSP frame 0x{id:04x} (seq {seq}) within {timeout:?}"
                        ),
                    )
                } else {
                    e
                }
            })?;
            let r = EzspFrame::decode(&raw, self.format)?;
            let is_callback = r.control & EzspFrame::CALLBACK_MASK != 0;
            if r.seq == seq && !is_callback {
                if r.id == frame_id::INVALID_COMMAND {
                    return Err(self.err(
                        LinkErrorKind::Protocol,
                        format!(
                            "NCP rejected EZSP frame 0x{id:04x}: invalidCommand, status 0x{:02x}",
                            r.params.first().copied().unwrap_or_default()
                        ),
                    ));
                }
                if r.id == id {
                    if r.control & EzspFrame::RESPONSE == 0 {
                        return Err(self.err(
                            LinkErrorKind::Protocol,
                            format!("answer to 0x{id:04x} is not marked as a response"),
                        ));
                    }
                    return Ok(r);
                }
            }
            tracing::debug!(port = %self.name, frame = ?r, "queued EZSP frame (callback)");
            self.callbacks.push_back(raw);
        }
    }

    fn err(&self, kind: LinkErrorKind, msg: impl std::fmt::Display) -> LinkError {
        LinkError::new(kind, format!("{}: {msg}", self.name))
    }
}

impl<S: ByteStream> Link for EzspLink<S> {
    /// Sends a whole EZSP frame (in the current layout) in an acknowledged DATA frame.
    fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        self.ash.send_data(frame)
    }

    /// The next EZSP frame from the NCP, queued callbacks first.
    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        if let Some(f) = self.callbacks.pop_front() {
            return Ok(f);
        }
        self.ash.recv_data(timeout)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::params::*;
    use super::*;
    use crate::transport::testing::hex;

    #[test]
    fn headers_in_both_layouts() {
        let f = EzspFrame {
            seq: 1,
            control: 0,
            id: frame_id::ECHO,
            params: vec![2, 0xAA, 0xBB],
        };
        assert_eq!(
            f.encode(FrameFormat::Legacy).unwrap(),
            [1, 0, 0x81, 2, 0xAA, 0xBB]
        );
        let ext = f.encode(FrameFormat::Extended).unwrap();
        assert_eq!(ext, [1, 0, 1, 0x81, 0, 2, 0xAA, 0xBB]);
        assert_eq!(EzspFrame::decode(&ext, FrameFormat::Extended).unwrap(), f);
        assert!(EzspFrame::decode(&[1, 0x80], FrameFormat::Legacy).is_err());
        assert!(EzspFrame::decode(&[1, 0x80, 0x00, 0x81, 0], FrameFormat::Extended).is_err());
        let wide = EzspFrame { id: 0x0100, ..f };
        assert!(wide.encode(FrameFormat::Legacy).is_err());
    }

    /// Expected parameters serialised by bellows 1.2.1 (`bellows.ezsp.v8.commands`
    /// schemas and `bellows.types`).
    #[test]
    fn network_encoders_match_bellows_serialisation() {
        assert_eq!(network_init(0x0001), hex("0100"));
        let p = NetworkParameters {
            extended_pan_id: 0x0011_2233_4455_6677,
            pan_id: 0x1A62,
            radio_tx_power: 8,
            radio_channel: 15,
            join_method: 0,
            nwk_manager_id: 0,
            nwk_update_id: 0,
            channels: (1 << 11) | (1 << 15) | (1 << 20) | (1 << 25),
        };
        assert_eq!(
            form_network(&p),
            hex("7766554433221100621a080f0000000000881002")
        );
        let aps = ApsFrame {
            profile_id: 0x0109,
            cluster_id: 0x0702,
            source_endpoint: 1,
            destination_endpoint: 1,
            options: 0x0140,
            group_id: 0,
            sequence: 7,
        };
        assert_eq!(
            send_unicast(0x1234, &aps, 0x2A, &hex("0011000000")).unwrap(),
            hex("00341209010207010140010000072a050011000000")
        );
        assert!(send_unicast(0, &aps, 0, &[0; 256]).is_none());
    }
}
