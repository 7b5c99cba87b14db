//! The write-ahead journal of accepted device requests: what the gateway has promised a User
//! an answer for.
//!
//! A device Service Request the gateway sends (CommandVariant 1, 3, 5, 6, 7) is written here,
//! with the exact GBCS command it will send, **in the same store transaction that spends its
//! counter** — the one the acknowledgement waits for (the group commit of
//! [`crate::group_commit`]). Its entry is removed in the same transaction that puts its final
//! answer (Service Response, or error response) in the delivery outbox
//! ([`crate::delivery::Delivery::place_batch_with`], made durable with the store committer's
//! next batch before anyone is told of the answer). So at every instant an acknowledged
//! request is in exactly one durable place: the journal or the outbox.
//!
//! After a crash, [`crate::routing::Router::recover`] reads the journal in acceptance order
//! and sends every entry's command again — the same bytes, hence the same GBCS counter. That
//! is the one case a command may reach a device twice with one counter: its reply had not
//! been made durable before the crash (it was lost, or never sent). A device that did run it
//! refuses the repeat (GBCS replay protection), and the User then gets the timeout code; a
//! reply arriving twice matches at most one command in flight and is delivered once.
//! Entries held for a DSP future-dated execution time wait again for that time. An entry
//! of a DSP schedule's execution carries the schedule's `DSPScheduleID`, so the execution
//! recovered after a restart is still answered as the schedule's (`DSPScheduledMessage`, and
//! the `CommandFailure` DCC alert when it fails; see [`crate::schedules`]).
//!
//! | table | key | value |
//! |---|---|---|
//! | `routing.journal` | acceptance sequence (u64) | an [`Entry`], encoded as below |
//!
//! Encoding (integers big-endian): version `1` ‖ flags (bit 0 future-datable, bit 1
//! instructions present, bit 2 not-before present, bit 3 preceding present, bit 4
//! FirstInSequence present, bit 5 FirstInSequence value, bit 6 DSP schedule ID present) ‖
//! accepted ms (i64) ‖ not-before ms (i64) ‖ instructions (u16) ‖ hub (8) ‖ device (8) ‖
//! message code (u16) ‖ counter (u64) ‖ then length-prefixed (u16) UTF-8: RequestID, Service
//! Reference, Service Reference Variant, PrecedingServiceRequestID ‖ u32 length ‖ command
//! bytes ‖ when bit 6 is set, the DSP schedule ID (u64).
//!
//! The schedule ID was added without a new version: an entry without one is byte for byte
//! what earlier gateways wrote, so a journal left by one is read unchanged (its entries have
//! no schedule ID), and the ID is a trailing field that an earlier reader, which ignores what
//! follows the command, would skip.
//!
//! Tests: the round-trip and damage cases below, and an entry in the bytes an earlier
//! gateway wrote; `gateway/tests/crash_recovery.rs` kills a loaded gateway with SIGKILL
//! several times and checks that every acknowledged request got exactly one final answer;
//! `gateway/tests/schedules_restart.rs` kills one while a scheduled execution is in flight
//! and checks that its recovered answer still carries the schedule ID.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use hubgate_protocol::duis::model::header::{RequestId, ServiceReference, ServiceReferenceVariant};

use crate::store::{Store, StoreError};

/// Acceptance sequence → encoded [`Entry`].
pub const JOURNAL: TableDefinition<'static, u64, &'static [u8]> =
    TableDefinition::new("routing.journal");

const VERSION: u8 = 1;
/// Largest command read back (GBCS messages are at most a few KiB).
const MAX_COMMAND: usize = 1 << 20;

/// An accepted device request and the command it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The request's RequestID.
    pub request_id: RequestId,
    /// Its Service Reference and Variant.
    pub service: (ServiceReference, ServiceReferenceVariant),
    /// `PrecedingServiceRequestID`, when it names one.
    pub preceding: Option<RequestId>,
    /// `FirstInSequence`, when given.
    pub first_in_sequence: Option<bool>,
    /// When the gateway accepted it (clock milliseconds).
    pub accepted_ms: i64,
    /// DSP future-dated pattern: not sent before this time (clock milliseconds).
    pub not_before_ms: Option<i64>,
    /// Whether the device may run it later and report by a future-dated alert.
    pub future_datable: bool,
    /// Future-dated instructions in the command, where they can be counted.
    pub instructions: Option<u16>,
    /// The Communications Hub Function it goes through.
    pub hub: [u8; 8],
    /// The target device.
    pub device: [u8; 8],
    /// The GBCS message code.
    pub message_code: u16,
    /// The GBCS originator counter.
    pub counter: u64,
    /// The GBCS command, MAC'd or signed, exactly as sent.
    pub command: Vec<u8>,
    /// The `DSPScheduleID` of the DSP schedule this request is an execution of.
    pub schedule_id: Option<u64>,
}

/// Why a journal value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end early.
    #[error("journal entry truncated at offset {0}")]
    Truncated(usize),
    /// Not an entry this version writes.
    #[error("journal entry has unsupported version {0}")]
    Version(u8),
    /// A field does not parse.
    #[error("journal entry field {0} is invalid")]
    Field(&'static str),
}

impl Entry {
    /// The encoded form.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(96 + self.command.len());
        let mut flags = 0u8;
        flags |= u8::from(self.future_datable);
        flags |= u8::from(self.instructions.is_some()) << 1;
        flags |= u8::from(self.not_before_ms.is_some()) << 2;
        flags |= u8::from(self.preceding.is_some()) << 3;
        flags |= u8::from(self.first_in_sequence.is_some()) << 4;
        flags |= u8::from(self.first_in_sequence == Some(true)) << 5;
        flags |= u8::from(self.schedule_id.is_some()) << 6;
        v.push(VERSION);
        v.push(flags);
        v.extend_from_slice(&self.accepted_ms.to_be_bytes());
        v.extend_from_slice(&self.not_before_ms.unwrap_or(0).to_be_bytes());
        v.extend_from_slice(&self.instructions.unwrap_or(0).to_be_bytes());
        v.extend_from_slice(&self.hub);
        v.extend_from_slice(&self.device);
        v.extend_from_slice(&self.message_code.to_be_bytes());
        v.extend_from_slice(&self.counter.to_be_bytes());
        let texts = [
            self.request_id.to_string(),
            self.service.0.as_str().to_string(),
            self.service.1.as_str().to_string(),
            self.preceding.map(|p| p.to_string()).unwrap_or_default(),
        ];
        for t in &texts {
            // RequestIDs and service references are short; a longer text cannot occur.
            let len = u16::try_from(t.len()).unwrap_or(u16::MAX);
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(&t.as_bytes()[..usize::from(len)]);
        }
        let len = u32::try_from(self.command.len()).unwrap_or(u32::MAX);
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&self.command);
        if let Some(id) = self.schedule_id {
            v.extend_from_slice(&id.to_be_bytes());
        }
        v
    }

    /// Reads an encoded entry.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] for bytes this module did not write.
    pub fn decode(b: &[u8]) -> Result<Entry, DecodeError> {
        let mut r = Reader { b, at: 0 };
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let flags = r.u8()?;
        let accepted_ms = i64::from_be_bytes(r.array()?);
        let not_before = i64::from_be_bytes(r.array()?);
        let instructions = u16::from_be_bytes(r.array()?);
        let hub = r.array()?;
        let device = r.array()?;
        let message_code = u16::from_be_bytes(r.array()?);
        let counter = u64::from_be_bytes(r.array()?);
        let request_id =
            RequestId::parse(r.text()?).map_err(|_| DecodeError::Field("RequestID"))?;
        let sr =
            ServiceReference::parse(r.text()?).ok_or(DecodeError::Field("ServiceReference"))?;
        let srv = ServiceReferenceVariant::parse(r.text()?)
            .ok_or(DecodeError::Field("ServiceReferenceVariant"))?;
        let preceding = match r.text()? {
            "" => None,
            s => Some(
                RequestId::parse(s).map_err(|_| DecodeError::Field("PrecedingServiceRequestID"))?,
            ),
        };
        let len = usize::try_from(u32::from_be_bytes(r.array()?))
            .map_err(|_| DecodeError::Field("command length"))?;
        if len > MAX_COMMAND {
            return Err(DecodeError::Field("command length"));
        }
        let command = r.take(len)?.to_vec();
        let schedule_id = if flags & 64 != 0 {
            Some(u64::from_be_bytes(r.array()?))
        } else {
            None
        };
        Ok(Entry {
            request_id,
            service: (sr, srv),
            preceding: (flags & 8 != 0).then_some(preceding).flatten(),
            first_in_sequence: (flags & 16 != 0).then_some(flags & 32 != 0),
            accepted_ms,
            not_before_ms: (flags & 4 != 0).then_some(not_before),
            future_datable: flags & 1 != 0,
            instructions: (flags & 2 != 0).then_some(instructions),
            hub,
            device,
            message_code,
            counter,
            command,
            schedule_id,
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or(DecodeError::Truncated(self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn text(&mut self) -> Result<&'a str, DecodeError> {
        let len = u16::from_be_bytes(self.array()?);
        std::str::from_utf8(self.take(usize::from(len))?).map_err(|_| DecodeError::Field("text"))
    }
}

/// Writes entry `key` inside `t`.
///
/// # Errors
///
/// The store's.
pub fn insert_in(t: &WriteTransaction, key: u64, encoded: &[u8]) -> Result<(), StoreError> {
    t.open_table(JOURNAL)?.insert(key, encoded)?;
    Ok(())
}

/// Removes entries `keys` inside `t` (absent ones are ignored).
///
/// # Errors
///
/// The store's.
pub fn remove_in(t: &WriteTransaction, keys: &[u64]) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut table = t.open_table(JOURNAL)?;
    for k in keys {
        table.remove(*k)?;
    }
    Ok(())
}

/// A journal entry as read back: its key, and the entry or why it cannot be read.
pub type ReadBack = (u64, Result<Entry, DecodeError>);

/// Every entry in acceptance order, with the ones that cannot be read reported as errors.
///
/// # Errors
///
/// The store's.
pub fn read_all(store: &Store) -> Result<Vec<ReadBack>, StoreError> {
    store.read(|t| {
        let table = match t.open_table(JOURNAL) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::from(e)),
        };
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push((k.value(), Entry::decode(v.value())));
        }
        Ok(out)
    })
}

/// The key after the last entry (1 for an empty journal).
///
/// # Errors
///
/// The store's.
pub fn next_key(store: &Store) -> Result<u64, StoreError> {
    store.read(|t| {
        let table = match t.open_table(JOURNAL) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(1),
            Err(e) => return Err(StoreError::from(e)),
        };
        Ok(table.last()?.map_or(1, |(k, _)| k.value() + 1))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A journal entry with every field set (a 4.1.1 held until 2027).
    pub(crate) fn entry() -> Entry {
        Entry {
            request_id: RequestId::parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000")
                .expect("id"),
            service: (
                ServiceReference::parse("4.1").expect("sr"),
                ServiceReferenceVariant::parse("4.1.1").expect("srv"),
            ),
            preceding: Some(
                RequestId::parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:999")
                    .expect("id"),
            ),
            first_in_sequence: Some(false),
            accepted_ms: 1_700_000_000_123,
            not_before_ms: Some(1_800_000_000_000),
            future_datable: true,
            instructions: Some(3),
            hub: [1, 2, 3, 4, 5, 6, 7, 8],
            device: [0, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa0],
            message_code: 0x0018,
            counter: 1000,
            command: vec![0xdd, 0, 0, 0, 0, 0, 0, 0x45, 0xde, 0xad],
            schedule_id: Some(42),
        }
    }

    #[test]
    fn entries_round_trip_with_and_without_optional_fields() {
        let e = entry();
        assert_eq!(Entry::decode(&e.encode()), Ok(e.clone()));
        let bare = Entry {
            preceding: None,
            first_in_sequence: None,
            not_before_ms: None,
            future_datable: false,
            instructions: None,
            schedule_id: None,
            ..e
        };
        assert_eq!(Entry::decode(&bare.encode()), Ok(bare));
    }

    /// What a gateway wrote before entries carried a schedule ID: the bare entry above.
    const EARLIER: &str = "01000000018bcfe5687b00000000000000000000010203040506070800db1234567890a0001800000000000003e8003439302d42332d44352d31462d33302d30312d30302d30303a30302d44422d31322d33342d35362d37382d39302d41303a313030300003342e310005342e312e3100000000000add00000000000045dead";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn entries_written_before_schedule_ids_still_decode() {
        let old = unhex(EARLIER);
        let decoded = Entry::decode(&old).expect("an earlier entry decodes");
        assert_eq!(decoded.schedule_id, None);
        assert_eq!(decoded.counter, 1000);
        assert_eq!(decoded.service.1.as_str(), "4.1.1");
        assert_eq!(decoded.command, entry().command);
        // Without a schedule ID the encoding is the earlier one, byte for byte.
        assert_eq!(decoded.encode(), old);
        // With one, it is the earlier encoding with bit 6 set and the ID appended.
        let tagged = Entry {
            schedule_id: Some(7),
            ..decoded
        }
        .encode();
        assert_eq!(tagged[1], old[1] | 64);
        assert_eq!(&tagged[2..old.len()], &old[2..]);
        assert_eq!(&tagged[old.len()..], &7u64.to_be_bytes());
        assert_eq!(Entry::decode(&tagged).expect("tagged").schedule_id, Some(7));
    }

    #[test]
    fn damaged_entries_are_errors_not_panics() {
        let bytes = entry().encode();
        for cut in 0..bytes.len() {
            assert!(Entry::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut other = bytes.clone();
        other[0] = 9;
        assert_eq!(Entry::decode(&other), Err(DecodeError::Version(9)));
    }

    #[test]
    fn the_store_keeps_entries_in_acceptance_order_until_removed() {
        let dir = std::env::temp_dir().join(format!("hubgate-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).expect("store");
        assert_eq!(next_key(&store).expect("next"), 1);
        let e = entry().encode();
        store
            .write(|t| {
                insert_in(t, 7, &e)?;
                insert_in(t, 3, &e)?;
                Ok::<_, StoreError>(())
            })
            .expect("write");
        let all = read_all(&store).expect("read");
        assert_eq!(all.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![3, 7]);
        assert_eq!(next_key(&store).expect("next"), 8);
        store.write(|t| remove_in(t, &[3, 42])).expect("remove");
        assert_eq!(read_all(&store).expect("read").len(), 1);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
