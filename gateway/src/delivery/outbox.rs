//! The durable part of delivery: the redb tables that hold every message from the moment it
//! is submitted until it is delivered or its User acknowledges it.
//!
//! | table | key | value |
//! |---|---|---|
//! | `delivery.outbox` | User ID ‖ message ID (big-endian) | a message waiting to be POSTed |
//! | `delivery.kept` | User ID ‖ pull sequence (big-endian) | a message kept for its User to pull |
//! | `delivery.held` | User ID | messages in both tables for that User (the per-User bound) |
//! | `delivery.sequence` | `"next"` | the next message ID / pull sequence |
//!
//! Message IDs and pull sequences come from one counter, so both only grow. A message that
//! moves from the outbox to the kept table gets a new number there: pull sequences are
//! handed out in the order messages become visible to the pull endpoint, which makes an
//! acknowledgement "through sequence N" safe (it can never remove a message the User has not
//! been able to see).
//!
//! A value is a 12-byte header — format version `1`, [`Kind`] code, kept reason code (`0`
//! while waiting), a zero byte, the submission time in milliseconds since the Unix epoch as
//! a big-endian i64 — followed by the message body.

use std::sync::Arc;

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::{KeptReason, Kind};
use crate::store::{Store, StoreError};

/// Messages waiting to be delivered.
const OUTBOX: TableDefinition<'static, &'static [u8; 16], &'static [u8]> =
    TableDefinition::new("delivery.outbox");
/// Messages kept for their User to pull.
const KEPT: TableDefinition<'static, &'static [u8; 16], &'static [u8]> =
    TableDefinition::new("delivery.kept");
/// Messages held per User, in both tables.
const HELD: TableDefinition<'static, &'static [u8; 8], u64> = TableDefinition::new("delivery.held");
/// The next message ID or pull sequence.
const SEQUENCE: TableDefinition<'static, &'static str, u64> =
    TableDefinition::new("delivery.sequence");
const NEXT: &str = "next";

const FORMAT: u8 = 1;
const HEADER: usize = 12;

/// A table key: User ID then a big-endian number.
pub(crate) type Key = [u8; 16];

/// The key of `user`'s message `n`.
pub(crate) fn key(user: [u8; 8], n: u64) -> Key {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&user);
    k[8..].copy_from_slice(&n.to_be_bytes());
    k
}

/// The User and number of a key.
pub(crate) fn split(k: &Key) -> ([u8; 8], u64) {
    let mut user = [0u8; 8];
    user.copy_from_slice(&k[..8]);
    let mut n = [0u8; 8];
    n.copy_from_slice(&k[8..]);
    (user, u64::from_be_bytes(n))
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The User it is for.
    pub user: [u8; 8],
    /// Its message ID (outbox) or pull sequence (kept).
    pub number: u64,
    /// What it is.
    pub kind: Kind,
    /// Why it is kept for pulling; `None` while it waits for delivery.
    pub reason: Option<KeptReason>,
    /// When it was submitted, in milliseconds since the Unix epoch.
    pub submitted_ms: i64,
    /// The signed DUIS XML.
    pub body: Vec<u8>,
}

fn encode(kind: Kind, reason: Option<KeptReason>, submitted_ms: i64, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + body.len());
    v.extend_from_slice(&[FORMAT, kind.code(), reason.map_or(0, KeptReason::code), 0]);
    v.extend_from_slice(&submitted_ms.to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn decode(k: &Key, v: &[u8]) -> Option<Stored> {
    let (header, body) = v.split_at_checked(HEADER)?;
    if header[0] != FORMAT || header[3] != 0 {
        return None;
    }
    let kind = Kind::from_code(header[1])?;
    let reason = match header[2] {
        0 => None,
        c => Some(KeptReason::from_code(c)?),
    };
    let mut ms = [0u8; 8];
    ms.copy_from_slice(&header[4..12]);
    let (user, number) = split(k);
    Some(Stored {
        user,
        number,
        kind,
        reason,
        submitted_ms: i64::from_be_bytes(ms),
        body: body.to_vec(),
    })
}

/// A message to store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct New<'a> {
    pub user: [u8; 8],
    pub kind: Kind,
    pub body: &'a [u8],
    /// `None`: waits for delivery in the outbox; `Some`: kept for pulling at once.
    pub keep: Option<KeptReason>,
}

/// Where a stored message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// In the outbox under this message ID.
    Outbox(u64),
    /// In the kept table under this pull sequence.
    Kept(u64),
    /// Not stored: the User already holds this many messages, the most allowed.
    Full(u64),
}

/// What [`Outbox::settle`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Settled {
    /// Delivered messages removed.
    pub removed: Vec<Key>,
    /// Messages moved to the kept table: their outbox key and kept message.
    pub kept: Vec<(Key, Stored)>,
}

/// A page of kept messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Page {
    /// The oldest kept messages, in pull-sequence order.
    pub messages: Vec<Stored>,
    /// Whether more messages follow.
    pub more: bool,
}

/// Why the outbox failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value is not a message this version can read.
    #[error("delivery table {table}: entry for User {user} number {number} cannot be decoded")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The User, as hex.
        user: String,
        /// The message ID or pull sequence.
        number: u64,
    },
    /// Something that cannot happen did.
    #[error("delivery: internal error: {0}")]
    Internal(&'static str),
}

fn corrupt(table: &'static str, k: &Key) -> OutboxError {
    let (user, number) = split(k);
    OutboxError::Corrupt {
        table,
        user: hubgate_protocol::hex::eui_duis(&user),
        number,
    }
}

fn store_err(e: impl Into<StoreError>) -> OutboxError {
    OutboxError::Store(e.into())
}

macro_rules! redb_into_outbox {
    ($($t:ty),*) => {
        $(impl From<$t> for OutboxError {
            fn from(e: $t) -> Self {
                store_err(e)
            }
        })*
    };
}

redb_into_outbox!(redb::TableError, redb::StorageError);

/// The delivery tables of a [`Store`], with the per-User bound.
#[derive(Debug)]
pub(crate) struct Outbox {
    store: Arc<Store>,
    max_per_user: u64,
}

impl Outbox {
    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Opens (creating) the tables.
    pub fn open(store: Arc<Store>, max_per_user: u64) -> Result<Outbox, OutboxError> {
        store.write(|tx| {
            tx.open_table(OUTBOX).map_err(store_err)?;
            tx.open_table(KEPT).map_err(store_err)?;
            tx.open_table(HELD).map_err(store_err)?;
            tx.open_table(SEQUENCE).map_err(store_err)?;
            Ok::<_, OutboxError>(())
        })?;
        Ok(Outbox {
            store,
            max_per_user,
        })
    }

    /// Stores `items` in one durable transaction; each is placed or refused on its own.
    #[cfg(test)]
    pub fn submit(&self, items: &[New<'_>], now_ms: i64) -> Result<Vec<Placed>, OutboxError> {
        self.submit_with(items, now_ms, redb::Durability::Immediate, |_| Ok(()))
    }

    /// Stores `items` in one transaction committed with `durability`, which also runs
    /// `also`; each item is placed or refused on its own.
    pub fn submit_with(
        &self,
        items: &[New<'_>],
        now_ms: i64,
        durability: redb::Durability,
        also: impl FnOnce(&WriteTransaction) -> Result<(), StoreError>,
    ) -> Result<Vec<Placed>, OutboxError> {
        self.store.write_with(durability, |tx| {
            also(tx).map_err(OutboxError::Store)?;
            let mut out = Vec::with_capacity(items.len());
            let mut seq = tx.open_table(SEQUENCE)?;
            let mut next = seq.get(NEXT)?.map_or(1, |v| v.value());
            let mut held = tx.open_table(HELD)?;
            let mut outbox = tx.open_table(OUTBOX)?;
            let mut kept = tx.open_table(KEPT)?;
            for item in items {
                let count = held.get(&item.user)?.map_or(0, |v| v.value());
                if count >= self.max_per_user {
                    out.push(Placed::Full(count));
                    continue;
                }
                let n = next;
                next += 1;
                let value = encode(item.kind, item.keep, now_ms, item.body);
                match item.keep {
                    None => {
                        outbox.insert(&key(item.user, n), value.as_slice())?;
                        out.push(Placed::Outbox(n));
                    }
                    Some(_) => {
                        kept.insert(&key(item.user, n), value.as_slice())?;
                        out.push(Placed::Kept(n));
                    }
                }
                held.insert(&item.user, count + 1)?;
            }
            seq.insert(NEXT, next)?;
            Ok(out)
        })
    }

    /// Every outbox key, oldest first within each User.
    pub fn pending_keys(&self) -> Result<Vec<Key>, OutboxError> {
        self.store.read(|tx| {
            let t = tx.open_table(OUTBOX)?;
            let mut keys = Vec::new();
            for entry in t.iter()? {
                keys.push(*entry?.0.value());
            }
            Ok(keys)
        })
    }

    /// The outbox message under `k`, if it is still there.
    pub fn pending(&self, k: &Key) -> Result<Option<Stored>, OutboxError> {
        self.store.read(|tx| {
            let t = tx.open_table(OUTBOX)?;
            match t.get(k)? {
                None => Ok(None),
                Some(v) => decode(k, v.value())
                    .map(Some)
                    .ok_or_else(|| corrupt("delivery.outbox", k)),
            }
        })
    }

    /// In one transaction: removes the `delivered` outbox messages and moves the `keep` ones
    /// to the kept table (with new pull sequences). Keys no longer in the outbox are skipped.
    pub fn settle(
        &self,
        delivered: &[Key],
        keep: &[(Key, KeptReason)],
    ) -> Result<Settled, OutboxError> {
        // Without an fsync of its own: the settlement is made durable by the next immediate
        // commit (the next batch of accepted requests or answers). A crash before that only
        // undoes it — the messages are still in the outbox and are delivered again, with the
        // same `HubGate-Message-ID` for the receiver to recognise.
        self.store.write_with(redb::Durability::None, |tx| {
            let mut settled = Settled::default();
            let mut outbox = tx.open_table(OUTBOX)?;
            let mut removed_per_user: Vec<[u8; 8]> = Vec::new();
            for k in delivered {
                if outbox.remove(k)?.is_some() {
                    settled.removed.push(*k);
                    removed_per_user.push(split(k).0);
                }
            }
            let mut seq = tx.open_table(SEQUENCE)?;
            let mut next = seq.get(NEXT)?.map_or(1, |v| v.value());
            let mut kept = tx.open_table(KEPT)?;
            for (k, reason) in keep {
                let Some(value) = outbox.remove(k)?.map(|v| v.value().to_vec()) else {
                    continue;
                };
                let old = decode(k, &value).ok_or_else(|| corrupt("delivery.outbox", k))?;
                let n = next;
                next += 1;
                let new_key = key(old.user, n);
                kept.insert(
                    &new_key,
                    encode(old.kind, Some(*reason), old.submitted_ms, &old.body).as_slice(),
                )?;
                settled.kept.push((
                    *k,
                    Stored {
                        number: n,
                        reason: Some(*reason),
                        ..old
                    },
                ));
            }
            seq.insert(NEXT, next)?;
            release(tx, &removed_per_user)?;
            Ok(settled)
        })
    }

    /// Up to `limit` of `user`'s oldest kept messages, stopping before `max_bytes` of
    /// bodies (but always at least one message when there is one).
    pub fn page(&self, user: [u8; 8], limit: usize, max_bytes: usize) -> Result<Page, OutboxError> {
        self.store.read(|tx| {
            let t = tx.open_table(KEPT)?;
            let mut page = Page::default();
            let mut bytes = 0usize;
            let (lo, hi) = (key(user, 0), key(user, u64::MAX));
            for entry in t.range::<&Key>(&lo..=&hi)? {
                let (k, v) = entry?;
                let k = *k.value();
                let v = v.value();
                let body_len = v.len().saturating_sub(HEADER);
                if page.messages.len() >= limit
                    || (!page.messages.is_empty() && bytes.saturating_add(body_len) > max_bytes)
                {
                    page.more = true;
                    break;
                }
                bytes = bytes.saturating_add(body_len);
                page.messages
                    .push(decode(&k, v).ok_or_else(|| corrupt("delivery.kept", &k))?);
            }
            Ok(page)
        })
    }

    /// Removes `user`'s kept messages with pull sequence `first..=last`; returns how many.
    pub fn acknowledge(&self, user: [u8; 8], first: u64, last: u64) -> Result<u64, OutboxError> {
        if first > last {
            return Ok(0);
        }
        self.store.write(|tx| {
            let mut t = tx.open_table(KEPT)?;
            let (lo, hi) = (key(user, first), key(user, last));
            let keys: Vec<Key> = t
                .range::<&Key>(&lo..=&hi)?
                .map(|e| e.map(|(k, _)| *k.value()))
                .collect::<Result<_, _>>()?;
            for k in &keys {
                t.remove(k)?;
            }
            drop(t);
            release(tx, &vec![user; keys.len()])?;
            Ok(u64::try_from(keys.len()).unwrap_or(u64::MAX))
        })
    }

    /// Messages in the outbox and in the kept table.
    pub fn counts(&self) -> Result<(u64, u64), OutboxError> {
        self.store.read(|tx| {
            let outbox = tx.open_table(OUTBOX)?.len()?;
            let kept = tx.open_table(KEPT)?.len()?;
            Ok((outbox, kept))
        })
    }

    /// Messages held for `user`.
    pub fn held(&self, user: [u8; 8]) -> Result<u64, OutboxError> {
        self.store.read(|tx| {
            let t = tx.open_table(HELD)?;
            Ok(t.get(&user)?.map_or(0, |v| v.value()))
        })
    }
}

/// Lowers the held count of each User listed (once per listing).
fn release(tx: &WriteTransaction, users: &[[u8; 8]]) -> Result<(), OutboxError> {
    if users.is_empty() {
        return Ok(());
    }
    let mut held = tx.open_table(HELD)?;
    for user in users {
        let count = held.get(user)?.map_or(0, |v| v.value());
        if count <= 1 {
            held.remove(user)?;
        } else {
            held.insert(user, count - 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x01, 0, 0];
    const B: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x02, 0, 0];

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hubgate-outbox-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn new(user: [u8; 8], body: &[u8], keep: Option<KeptReason>) -> New<'_> {
        New {
            user,
            kind: Kind::Response,
            body,
            keep,
        }
    }

    #[test]
    fn records_round_trip_and_bad_ones_are_refused() {
        let v = encode(
            Kind::DccAlert,
            Some(KeptReason::RetriesExhausted),
            -5,
            b"<x/>",
        );
        let k = key(A, 7);
        let s = decode(&k, &v).unwrap();
        assert_eq!(
            s,
            Stored {
                user: A,
                number: 7,
                kind: Kind::DccAlert,
                reason: Some(KeptReason::RetriesExhausted),
                submitted_ms: -5,
                body: b"<x/>".to_vec(),
            }
        );
        assert_eq!(decode(&k, &v[..HEADER - 1]), None, "short header");
        let mut bad = v.clone();
        bad[0] = 2;
        assert_eq!(decode(&k, &bad), None, "unknown format");
        let mut bad = v.clone();
        bad[1] = 99;
        assert_eq!(decode(&k, &bad), None, "unknown kind");
        let mut bad = v;
        bad[2] = 99;
        assert_eq!(decode(&k, &bad), None, "unknown reason");
        assert_eq!(split(&key(B, u64::MAX)), (B, u64::MAX));
    }

    #[test]
    fn the_per_user_bound_refuses_and_acknowledging_frees_room() {
        let dir = temp_dir("bound");
        let store = Arc::new(Store::open(&dir).unwrap());
        let outbox = Outbox::open(Arc::clone(&store), 2).unwrap();
        let keep = Some(KeptReason::NoEndpoint);
        let placed = outbox
            .submit(
                &[
                    new(A, b"1", keep),
                    new(A, b"2", None),
                    new(A, b"3", keep),
                    new(B, b"4", keep),
                ],
                1000,
            )
            .unwrap();
        assert_eq!(
            placed,
            [
                Placed::Kept(1),
                Placed::Outbox(2),
                Placed::Full(2),
                Placed::Kept(3)
            ]
        );
        assert_eq!(outbox.held(A).unwrap(), 2);
        assert_eq!(outbox.counts().unwrap(), (1, 2));
        // Nothing was evicted: A's first message is still there.
        let page = outbox.page(A, 10, usize::MAX).unwrap();
        assert_eq!(page.messages.len(), 1);
        assert_eq!(page.messages[0].body, b"1");
        assert_eq!(page.messages[0].submitted_ms, 1000);
        assert!(!page.more);
        // Acknowledging another User's range removes nothing of A's.
        assert_eq!(outbox.acknowledge(B, 0, 1).unwrap(), 0);
        assert_eq!(outbox.acknowledge(A, 0, 1).unwrap(), 1);
        assert_eq!(outbox.held(A).unwrap(), 1);
        assert_eq!(
            outbox.submit(&[new(A, b"5", keep)], 0).unwrap(),
            [Placed::Kept(4)]
        );
        drop(outbox);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn settling_moves_to_kept_with_a_later_sequence_and_survives_reopen() {
        let dir = temp_dir("settle");
        {
            let store = Arc::new(Store::open(&dir).unwrap());
            let outbox = Outbox::open(Arc::clone(&store), 10).unwrap();
            outbox
                .submit(
                    &[
                        new(A, b"p1", None),
                        new(A, b"p2", None),
                        new(A, b"p3", None),
                    ],
                    5,
                )
                .unwrap();
            assert_eq!(
                outbox.pending_keys().unwrap(),
                [key(A, 1), key(A, 2), key(A, 3)]
            );
            let s = outbox
                .settle(
                    &[key(A, 1), key(A, 99)],
                    &[(key(A, 2), KeptReason::RetriesExhausted)],
                )
                .unwrap();
            assert_eq!(s.removed, [key(A, 1)], "an unknown key is skipped");
            assert_eq!(s.kept.len(), 1);
            assert_eq!(s.kept[0].1.number, 4, "kept under a new, later sequence");
            assert_eq!(outbox.held(A).unwrap(), 2);
        }
        let store = Arc::new(Store::open(&dir).unwrap());
        let outbox = Outbox::open(Arc::clone(&store), 10).unwrap();
        assert_eq!(outbox.pending_keys().unwrap(), [key(A, 3)]);
        assert_eq!(outbox.pending(&key(A, 3)).unwrap().unwrap().body, b"p3");
        let page = outbox.page(A, 10, 0).unwrap();
        assert_eq!(
            page.messages.len(),
            1,
            "at least one message despite max_bytes"
        );
        assert_eq!(page.messages[0].number, 4);
        assert_eq!(page.messages[0].reason, Some(KeptReason::RetriesExhausted));
        assert_eq!(page.messages[0].submitted_ms, 5);
        assert_eq!(
            outbox.submit(&[new(A, b"n", None)], 0).unwrap(),
            [Placed::Outbox(5)],
            "the sequence survives a reopen"
        );
        drop(outbox);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pages_are_bounded_by_count_and_bytes() {
        let dir = temp_dir("page");
        let store = Arc::new(Store::open(&dir).unwrap());
        let outbox = Outbox::open(Arc::clone(&store), 100).unwrap();
        let bodies: Vec<Vec<u8>> = (0..5).map(|i| vec![b'a' + i; 10]).collect();
        let items: Vec<New<'_>> = bodies
            .iter()
            .map(|b| new(A, b, Some(KeptReason::NoEndpoint)))
            .collect();
        outbox.submit(&items, 0).unwrap();
        let p = outbox.page(A, 2, usize::MAX).unwrap();
        assert_eq!((p.messages.len(), p.more), (2, true));
        let p = outbox.page(A, 10, 35).unwrap();
        assert_eq!((p.messages.len(), p.more), (3, true));
        let p = outbox.page(A, 10, 50).unwrap();
        assert_eq!((p.messages.len(), p.more), (5, false));
        assert_eq!(outbox.page(B, 10, 50).unwrap(), Page::default());
        drop(outbox);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
