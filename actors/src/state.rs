//! A hub's persisted state and its byte encoding.
//!
//! Written to the [`crate::StateStore`] when a hub actor passivates and read back when it is
//! activated again. Deadlines are stored as Unix milliseconds, since monotonic instants mean
//! nothing to another process.
//!
//! Layout (all integers big-endian): magic `HGH` ‖ version `01` ‖ hub(8) ‖ counters (8 × u64)
//! ‖ device log (u8 n, n × (eui(8) ‖ type(1))) ‖ alert counters (u16 n, n × (eui(8) ‖ u64))
//! ‖ queued (u16 n, n × command) ‖ in flight (u16 n, n × in-flight) where command = ref ‖
//! device(8) ‖ code(u16) ‖ counter(u64) ‖ deadline(i64 ms) ‖ u32 len ‖ bytes, in-flight = ref
//! ‖ device(8) ‖ originator(8) ‖ code(u16) ‖ counter(u64) ‖ deadline(i64 ms), and ref = u16 len
//! ‖ UTF-8.

use crate::Eui;
use crate::command::MAX_REQUEST_REF_LEN;
use crate::device_log::{
    DeviceLog, DeviceLogEntry, DeviceLogUpdate, DeviceType, MAX_DEVICE_LOG_ENTRIES,
};

const MAGIC: &[u8; 3] = b"HGH";
const VERSION: u8 = 1;
/// Largest command accepted back from storage (GBCS messages are at most a few KiB).
const MAX_COMMAND_LEN: usize = 1 << 20;

/// Running totals of what happened at one hub, kept across passivations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubCounters {
    /// Commands accepted.
    pub accepted: u64,
    /// Commands answered by an authentic response.
    pub responses: u64,
    /// Commands ended with `E20`.
    pub e20: u64,
    /// Commands ended with `E21`.
    pub e21: u64,
    /// Responses and alerts rejected by authentication.
    pub auth_failures: u64,
    /// Responses that matched no command in flight.
    pub unmatched: u64,
    /// Inbound messages that were not GBCS responses or alerts, or replayed alerts.
    pub malformed: u64,
    /// Authentic alerts handed on.
    pub alerts: u64,
}

impl HubCounters {
    fn to_array(self) -> [u64; 8] {
        [
            self.accepted,
            self.responses,
            self.e20,
            self.e21,
            self.auth_failures,
            self.unmatched,
            self.malformed,
            self.alerts,
        ]
    }

    fn from_array(a: [u64; 8]) -> Self {
        HubCounters {
            accepted: a[0],
            responses: a[1],
            e20: a[2],
            e21: a[3],
            auth_failures: a[4],
            unmatched: a[5],
            malformed: a[6],
            alerts: a[7],
        }
    }
}

/// A command that was waiting to be sent when its hub passivated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCommand {
    /// The gateway's reference.
    pub request_ref: String,
    /// Target device.
    pub device: Eui,
    /// GBCS message code.
    pub message_code: u16,
    /// GBCS originator counter.
    pub counter: u64,
    /// Deadline, Unix milliseconds.
    pub deadline_unix_ms: i64,
    /// The GBCS command.
    pub bytes: Vec<u8>,
}

/// A command that had been sent and was waiting for its response when its hub passivated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedInFlight {
    /// The gateway's reference.
    pub request_ref: String,
    /// Target device.
    pub device: Eui,
    /// The command's originator, to whom the response is addressed.
    pub originator: Eui,
    /// GBCS message code.
    pub message_code: u16,
    /// GBCS originator counter.
    pub counter: u64,
    /// Deadline, Unix milliseconds.
    pub deadline_unix_ms: i64,
}

/// Everything a hub actor keeps across passivation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubState {
    /// The hub the state belongs to.
    pub hub: Eui,
    /// Running totals.
    pub counters: HubCounters,
    /// The HAN device log copy.
    pub device_log: DeviceLog,
    /// Highest authentic alert counter seen per device (alert replay protection).
    pub alert_counters: Vec<(Eui, u64)>,
    /// Commands not yet sent.
    pub queued: Vec<SavedCommand>,
    /// Commands sent and unanswered.
    pub in_flight: Vec<SavedInFlight>,
}

/// Why stored bytes are not a hub state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The bytes end early.
    #[error("truncated at offset {0}")]
    Truncated(usize),
    /// Not written by this crate.
    #[error("bad magic or unsupported version")]
    Format,
    /// A value is out of range.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes remain after the state.
    #[error("{0} trailing byte(s)")]
    Trailing(usize),
}

impl HubState {
    /// Encodes the state.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            96 + self.alert_counters.len() * 16
                + self
                    .queued
                    .iter()
                    .map(|c| 40 + c.request_ref.len() + c.bytes.len())
                    .sum::<usize>()
                + self.in_flight.len() * 64,
        );
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.hub);
        for v in self.counters.to_array() {
            out.extend_from_slice(&v.to_be_bytes());
        }
        let log = self.device_log.entries();
        out.push(log.len().min(MAX_DEVICE_LOG_ENTRIES) as u8);
        for e in log.iter().take(MAX_DEVICE_LOG_ENTRIES) {
            out.extend_from_slice(&e.device);
            out.push(e.device_type.code());
        }
        let alerts = &self.alert_counters[..self.alert_counters.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(alerts.len() as u16).to_be_bytes());
        for (eui, ctr) in alerts {
            out.extend_from_slice(eui);
            out.extend_from_slice(&ctr.to_be_bytes());
        }
        let queued = &self.queued[..self.queued.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(queued.len() as u16).to_be_bytes());
        for c in queued {
            put_ref(&mut out, &c.request_ref);
            out.extend_from_slice(&c.device);
            out.extend_from_slice(&c.message_code.to_be_bytes());
            out.extend_from_slice(&c.counter.to_be_bytes());
            out.extend_from_slice(&c.deadline_unix_ms.to_be_bytes());
            out.extend_from_slice(&(c.bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&c.bytes);
        }
        let in_flight = &self.in_flight[..self.in_flight.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(in_flight.len() as u16).to_be_bytes());
        for f in in_flight {
            put_ref(&mut out, &f.request_ref);
            out.extend_from_slice(&f.device);
            out.extend_from_slice(&f.originator);
            out.extend_from_slice(&f.message_code.to_be_bytes());
            out.extend_from_slice(&f.counter.to_be_bytes());
            out.extend_from_slice(&f.deadline_unix_ms.to_be_bytes());
        }
        out
    }

    /// Decodes bytes written by [`HubState::encode`]. Never panics, whatever the input.
    pub fn decode(bytes: &[u8]) -> Result<HubState, StateError> {
        let mut r = Reader { buf: bytes, pos: 0 };
        if r.take(3)? != MAGIC || r.u8()? != VERSION {
            return Err(StateError::Format);
        }
        let hub = r.eui()?;
        let mut counters = [0u64; 8];
        for c in &mut counters {
            *c = r.u64()?;
        }
        let n = r.u8()? as usize;
        if n > MAX_DEVICE_LOG_ENTRIES {
            return Err(StateError::Invalid("device log length"));
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            entries.push(DeviceLogEntry {
                device: r.eui()?,
                device_type: DeviceType::from_code(r.u8()?),
            });
        }
        let mut device_log = DeviceLog::default();
        device_log
            .apply(DeviceLogUpdate::Replace(entries))
            .map_err(|_| StateError::Invalid("device log"))?;
        let n = r.u16()? as usize;
        let mut alert_counters = Vec::with_capacity(n.min(r.remaining() / 16));
        for _ in 0..n {
            alert_counters.push((r.eui()?, r.u64()?));
        }
        let n = r.u16()? as usize;
        let mut queued = Vec::with_capacity(n.min(r.remaining() / 32));
        for _ in 0..n {
            let request_ref = r.request_ref()?;
            let device = r.eui()?;
            let message_code = r.u16()?;
            let counter = r.u64()?;
            let deadline_unix_ms = r.i64()?;
            let len = r.u32()? as usize;
            if len > MAX_COMMAND_LEN {
                return Err(StateError::Invalid("command length"));
            }
            let bytes = r.take(len)?.to_vec();
            queued.push(SavedCommand {
                request_ref,
                device,
                message_code,
                counter,
                deadline_unix_ms,
                bytes,
            });
        }
        let n = r.u16()? as usize;
        let mut in_flight = Vec::with_capacity(n.min(r.remaining() / 36));
        for _ in 0..n {
            in_flight.push(SavedInFlight {
                request_ref: r.request_ref()?,
                device: r.eui()?,
                originator: r.eui()?,
                message_code: r.u16()?,
                counter: r.u64()?,
                deadline_unix_ms: r.i64()?,
            });
        }
        if r.remaining() != 0 {
            return Err(StateError::Trailing(r.remaining()));
        }
        Ok(HubState {
            hub,
            counters: HubCounters::from_array(counters),
            device_log,
            alert_counters,
            queued,
            in_flight,
        })
    }
}

impl HubState {
    /// Folds `other` (a state of the same hub written by an earlier incarnation that could
    /// not be read at activation) into this one: counters are added, the device log is kept
    /// if this one has entries and taken from `other` otherwise, alert counters keep the
    /// highest per device, and `other`'s commands are appended.
    pub fn absorb(&mut self, other: HubState) {
        let mut a = self.counters.to_array();
        for (x, y) in a.iter_mut().zip(other.counters.to_array()) {
            *x = x.saturating_add(y);
        }
        self.counters = HubCounters::from_array(a);
        if self.device_log.entries().is_empty() {
            self.device_log = other.device_log;
        }
        for (eui, ctr) in other.alert_counters {
            match self.alert_counters.iter_mut().find(|(e, _)| *e == eui) {
                Some((_, c)) => *c = (*c).max(ctr),
                None => self.alert_counters.push((eui, ctr)),
            }
        }
        self.queued.extend(other.queued);
        self.in_flight.extend(other.in_flight);
    }
}

fn put_ref(out: &mut Vec<u8>, s: &str) {
    // Request references are bounded when a command is validated.
    let b = &s.as_bytes()[..s.len().min(MAX_REQUEST_REF_LEN)];
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StateError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(StateError::Truncated(self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StateError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, StateError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, StateError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, StateError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, StateError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, StateError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn eui(&mut self) -> Result<Eui, StateError> {
        self.array()
    }

    fn request_ref(&mut self) -> Result<String, StateError> {
        let len = self.u16()? as usize;
        if len > MAX_REQUEST_REF_LEN {
            return Err(StateError::Invalid("request reference length"));
        }
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| StateError::Invalid("request reference"))
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> HubState {
        let mut device_log = DeviceLog::default();
        device_log
            .apply(DeviceLogUpdate::Add(DeviceLogEntry {
                device: [0, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa0],
                device_type: DeviceType::Esme,
            }))
            .unwrap();
        HubState {
            hub: [0, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa2],
            counters: HubCounters {
                accepted: 9,
                responses: 5,
                e20: 1,
                e21: 2,
                auth_failures: 3,
                unmatched: 4,
                malformed: 6,
                alerts: 7,
            },
            device_log,
            alert_counters: vec![([1; 8], 2010)],
            queued: vec![SavedCommand {
                request_ref: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1001".into(),
                device: [2; 8],
                message_code: 0x0027,
                counter: 1001,
                deadline_unix_ms: 1_700_000_000_123,
                bytes: vec![0xdf, 1, 2, 3],
            }],
            in_flight: vec![SavedInFlight {
                request_ref: "r2".into(),
                device: [3; 8],
                originator: [4; 8],
                message_code: 0x0019,
                counter: 1000,
                deadline_unix_ms: -5,
            }],
        }
    }

    #[test]
    fn round_trips() {
        let s = sample();
        let bytes = s.encode();
        assert_eq!(HubState::decode(&bytes).unwrap(), s);
        let empty = HubState::default();
        let b = empty.encode();
        assert_eq!(b.len(), 3 + 1 + 8 + 64 + 1 + 2 + 2 + 2);
        assert_eq!(HubState::decode(&b).unwrap(), empty);
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(HubState::decode(&bytes[..n]).is_err(), "prefix {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(HubState::decode(&longer), Err(StateError::Trailing(1)));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = HubState::decode(&b);
        }
        let mut wrong = bytes.clone();
        wrong[3] = 2;
        assert_eq!(HubState::decode(&wrong), Err(StateError::Format));
    }
}
