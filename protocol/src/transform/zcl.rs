//! Building GBZ payloads (ZigBee Smart Energy commands, PROTOCOLS.md §4.6) for the
//! transform: one ZCL command per component, sequence numbers counting from 0, control bit
//! `0x01` on the last component (set by the encoder in [`crate::gbcs::payload::gbz`]).

use crate::gbcs::payload::gbz::{Component, ComponentBody, Gbz, GbzBody, ZclHeader};

/// ZCL frame control: a cluster-specific command, client to server.
pub(crate) const CLUSTER_SPECIFIC: u8 = 0x01;
/// ZCL frame control: a cluster-specific command with "disable default response".
pub(crate) const CLUSTER_SPECIFIC_NO_DEFAULT_RESPONSE: u8 = 0x09;
/// ZCL frame control: a profile-wide (global) command.
pub(crate) const GLOBAL: u8 = 0x00;
/// Global command: Read Attributes.
pub(crate) const READ_ATTRIBUTES: u8 = 0x00;

/// ZigBee cluster IDs GBCS uses.
pub(crate) mod cluster {
    /// Basic.
    pub(crate) const BASIC: u16 = 0x0000;
    /// Price.
    pub(crate) const PRICE: u16 = 0x0700;
    /// Metering.
    pub(crate) const METERING: u16 = 0x0702;
    /// Messaging.
    pub(crate) const MESSAGING: u16 = 0x0703;
    /// Prepayment.
    pub(crate) const PREPAYMENT: u16 = 0x0705;
    /// Calendar.
    pub(crate) const CALENDAR: u16 = 0x0707;
    /// Device Management.
    pub(crate) const DEVICE_MANAGEMENT: u16 = 0x0708;
    /// Events.
    pub(crate) const EVENTS: u16 = 0x0709;
}

/// ZigBee event log IDs.
pub(crate) mod log {
    /// The general event log.
    pub(crate) const EVENT: u8 = 0x03;
    /// The security event log.
    pub(crate) const SECURITY: u8 = 0x04;
}

/// One ZCL command to carry in a GBZ component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command {
    /// Cluster ID.
    pub(crate) cluster: u16,
    /// ZCL frame control.
    pub(crate) frame_control: u8,
    /// ZCL command ID.
    pub(crate) command: u8,
    /// From-date-time (ZigBee UTC), for log reads that give a start time.
    pub(crate) from_date_time: Option<u32>,
    /// The ZCL payload.
    pub(crate) payload: Vec<u8>,
}

impl Command {
    /// A cluster-specific client-to-server command.
    pub(crate) fn cluster(cluster: u16, command: u8, payload: Vec<u8>) -> Self {
        Command {
            cluster,
            frame_control: CLUSTER_SPECIFIC,
            command,
            from_date_time: None,
            payload,
        }
    }

    /// Read Attributes of `cluster`: the attribute IDs, little-endian.
    pub(crate) fn read_attributes(cluster: u16, attributes: &[u16]) -> Self {
        let mut payload = Vec::with_capacity(attributes.len() * 2);
        for a in attributes {
            payload.extend_from_slice(&a.to_le_bytes());
        }
        Command {
            cluster,
            frame_control: GLOBAL,
            command: READ_ATTRIBUTES,
            from_date_time: None,
            payload,
        }
    }

    /// The same command with a from-date-time.
    pub(crate) fn from(mut self, t: u32) -> Self {
        self.from_date_time = Some(t);
        self
    }

    /// The same command with another frame control.
    pub(crate) fn frame_control(mut self, fc: u8) -> Self {
        self.frame_control = fc;
        self
    }
}

/// The GBZ payload carrying `commands` (at most 255), sequence numbers 0, 1, ….
pub(crate) fn encode(commands: &[Command]) -> Vec<u8> {
    let components = commands
        .iter()
        .enumerate()
        .map(|(i, c)| Component {
            cluster_id: c.cluster,
            from_date_time: c.from_date_time,
            zcl: ZclHeader {
                frame_control: c.frame_control,
                manufacturer_code: None,
                sequence_number: u8::try_from(i).unwrap_or(u8::MAX),
                command_id: c.command,
            },
            body: ComponentBody::Plain(&c.payload),
        })
        .collect();
    let mut out = Vec::new();
    Gbz {
        alert: None,
        body: GbzBody::Components(components),
    }
    .encode(&mut out);
    out
}

/// Little-endian ZCL field writer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Fields(pub(crate) Vec<u8>);

impl Fields {
    /// An empty payload.
    pub(crate) fn new() -> Self {
        Fields::default()
    }

    /// An 8-bit field.
    pub(crate) fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }

    /// A 16-bit field.
    pub(crate) fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A 24-bit field (the low three bytes of `v`).
    pub(crate) fn u24(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes()[..3]);
        self
    }

    /// A 32-bit field.
    pub(crate) fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A 48-bit field (the low six bytes of `v`).
    pub(crate) fn u48(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes()[..6]);
        self
    }

    /// A ZCL octet or character string: a length byte and the bytes (at most 254).
    pub(crate) fn string(mut self, v: &[u8]) -> Self {
        let n = v.len().min(254);
        self.0.push(n as u8);
        self.0.extend_from_slice(&v[..n]);
        self
    }

    /// The bytes.
    pub(crate) fn done(self) -> Vec<u8> {
        self.0
    }
}
