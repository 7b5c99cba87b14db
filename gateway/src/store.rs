//! The embedded, crash-safe store: one [redb] database file, `<data_dir>/hubgate.redb`.
//!
//! # Why redb
//!
//! - **Pure Rust**, no C toolchain, no `unsafe` of ours; it builds wherever the gateway builds.
//! - **ACID**: copy-on-write B-trees; a commit writes new pages and then flips the root with
//!   an fsync ([`redb::Durability::Immediate`], the default), so after a crash the file holds
//!   exactly the last committed transaction. Readers see a consistent snapshot and never block
//!   the writer; write transactions are serialised, which makes check-then-write sequences
//!   (the anti-replay counter, the inventory rules) atomic without extra locking.
//! - **One file, no background threads**: nothing to tune or to shut down, and a test can open,
//!   drop and reopen it.
//!
//! fjall was considered: an LSM tree, better for write-heavy append logs (many small writes,
//! fewer fsyncs per write), but heavier (background flush and compaction threads, a folder of
//! segment files, more tuning). The gateway's store holds mostly point-read state (inventory,
//! users, counters, registration data); if the durable response queue outgrows redb it can move
//! to a log engine without touching the other tables.
//!
//! # Tables
//!
//! Every module defines its own tables as `const` [`TableDefinition`]s named
//! `"<module>.<table>"`, so names never collide. The generic helpers here ([`Store::get`],
//! [`Store::put`], [`Store::get_json`], …) work on any table whose values are bytes; a module
//! with richer needs (indexes, multi-table transactions) uses [`Store::write`] /
//! [`Store::read`] and opens its tables inside one transaction. A table that was never written
//! reads as empty.
//!
//! | table | key | value | owner |
//! |---|---|---|---|
//! | [`COUNTERS`] `store.counters` | originator EUI (8 bytes) | last accepted counter | anti-replay ([`Store::counter_accept`]) |
//! | `inventory.devices` | device EUI | JSON device record | [`crate::inventory`] |
//! | `inventory.index` (multimap) | kind byte + key | device EUI | [`crate::inventory`] |
//!
//! Values are serde JSON where a helper encodes them ([`Store::put_json`]): readable with any
//! redb tool, tolerant of added optional fields.
//!
//! # When writes fail
//!
//! A write whose transaction cannot begin or commit because of an I/O error (a full disk,
//! say) degrades the store ([`crate::store_health`]): later writes are refused at once with
//! [`StoreError::Unavailable`] until a probe write succeeds. redb 2.6 leaves its `Database`
//! unusable after an I/O error (every later write, and every read that misses its cache,
//! fails with `PreviousIo`), so the store keeps the handle behind a lock and reopens the
//! file ([`Store::try_recover`]); what was committed before is read again from the file.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, Key, ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store_health::{PROBE_FILE_BYTES, StoreHealth};

/// Name of the database file inside the data folder.
pub const FILE_NAME: &str = "hubgate.redb";

/// Last accepted counter per originator (User or device EUI), for anti-replay.
pub const COUNTERS: TableDefinition<'static, &'static [u8; 8], u64> =
    TableDefinition::new("store.counters");

/// The probe's table: one value, the time of the last probe write (ms since the epoch).
const HEALTH: TableDefinition<'static, &'static str, u64> = TableDefinition::new("store.health");

/// How long a reopen waits for transactions still using the failed handle to end.
const REOPEN_WAIT: Duration = Duration::from_secs(2);

/// A table keyed by bytes holding bytes: the shape the generic helpers use.
pub type BytesTable = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// A table keyed by text holding bytes.
pub type StrTable = TableDefinition<'static, &'static str, &'static [u8]>;

/// Why the store failed. Always our fault (disk, corruption, a bug), never the peer's.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data folder could not be created.
    #[error("cannot create data folder {path}: {source}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database file could not be opened or created.
    #[error("cannot open store {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<redb::DatabaseError>,
    },
    /// A transaction, table or commit failed.
    #[error("store: {0}")]
    Redb(#[from] Box<redb::Error>),
    /// A stored value could not be decoded.
    #[error("value in table {table} cannot be decoded: {source}")]
    Decode {
        /// The table.
        table: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// A value could not be encoded.
    #[error("value for table {table} cannot be encoded: {source}")]
    Encode {
        /// The table.
        table: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// A write's own check refused it (nothing of it was kept).
    #[error("write refused: {0}")]
    Refused(String),
    /// A shared commit failed (see [`crate::group_commit`]); nothing of the batch was kept.
    #[error("store commit failed: {0}")]
    Commit(String),
    /// The store is degraded (an earlier write failed) or its file could not be reopened:
    /// nothing was written ([`crate::store_health`]).
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// The I/O failure behind this error, if it is one: an I/O error from the file, or redb
    /// refusing a handle that saw one.
    pub fn io_failure(&self) -> Option<String> {
        match self {
            StoreError::Redb(e) => match e.as_ref() {
                redb::Error::Io(io) => Some(format!("I/O error: {io}")),
                redb::Error::PreviousIo => {
                    Some("an earlier I/O error left the database handle unusable".to_string())
                }
                _ => None,
            },
            _ => None,
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {
        $(impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Redb(Box::new(redb::Error::from(e)))
            }
        })*
    };
}

from_redb!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The embedded store.
#[derive(Debug)]
pub struct Store {
    /// The redb handle; swapped for a fresh one after an I/O error ([`Store::try_recover`]);
    /// `None` only when a reopen failed.
    db: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
    health: Arc<StoreHealth>,
    /// redb's page cache, in bytes.
    cache_bytes: usize,
    /// How many times the handle was reopened ([`Store::reopens`]).
    reopens: std::sync::atomic::AtomicU64,
}

/// redb's page cache unless configured (`store_cache_mib`): bounded, so the gateway's memory
/// stays flat while the file grows (redb's own default is 1 GiB); the operating system's page
/// cache keeps the rest of the file close at hand.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// Opens (creating) the database at `path` with a page cache of `cache_bytes`.
fn create_db(path: &Path, cache_bytes: usize) -> Result<Database, redb::DatabaseError> {
    redb::Builder::new()
        .set_cache_size(cache_bytes)
        .create(path)
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/hubgate.redb`, creating `data_dir` too.
    ///
    /// # Errors
    ///
    /// [`StoreError::CreateDir`] or [`StoreError::Open`] (for example, another process holds
    /// the file).
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        Store::open_file(&data_dir.join(FILE_NAME))
    }

    /// As [`Store::open`], with a page cache of `cache_bytes` instead of
    /// [`DEFAULT_CACHE_BYTES`].
    ///
    /// # Errors
    ///
    /// As [`Store::open`].
    pub fn open_with_cache(data_dir: &Path, cache_bytes: usize) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        Store::open_file_with_cache(&data_dir.join(FILE_NAME), cache_bytes)
    }

    /// Opens (creating if needed) the database file at `path`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Open`].
    pub fn open_file(path: &Path) -> Result<Store, StoreError> {
        Store::open_file_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    fn open_file_with_cache(path: &Path, cache_bytes: usize) -> Result<Store, StoreError> {
        let db = create_db(path, cache_bytes).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        let store = Store {
            db: RwLock::new(Some(Arc::new(db))),
            path: path.to_owned(),
            health: Arc::new(StoreHealth::new(path.to_owned())),
            cache_bytes,
            reopens: std::sync::atomic::AtomicU64::new(0),
        };
        store.write(|tx| {
            tx.open_table(COUNTERS)?;
            Ok::<_, StoreError>(())
        })?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The redb database, for modules that manage their own transactions. Hold it only for
    /// the transaction: after an I/O error the store swaps it for a fresh handle.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the file could not be reopened after an I/O error.
    pub fn db(&self) -> Result<Arc<Database>, StoreError> {
        self.db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                StoreError::Unavailable(format!(
                    "{} could not be reopened after an I/O error",
                    self.path.display()
                ))
            })
    }

    /// Whether the store can write ([`crate::store_health`]).
    pub fn health(&self) -> &Arc<StoreHealth> {
        &self.health
    }

    /// Passes `e` through, degrading the store when it is an I/O failure.
    fn watch(&self, e: StoreError) -> StoreError {
        if let Some(cause) = e.io_failure() {
            self.health.write_failed(&cause);
        }
        e
    }

    /// Runs `f` in a write transaction and commits (durably) if it returns `Ok`; on `Err`
    /// nothing it wrote is kept. While the store is degraded the write is refused before
    /// anything is done.
    ///
    /// # Errors
    ///
    /// What `f` returns, [`StoreError::Unavailable`] while degraded, or a [`StoreError`]
    /// from beginning or committing (an I/O error there degrades the store).
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, E>,
    ) -> Result<T, E> {
        self.write_with(redb::Durability::Immediate, f)
    }

    /// As [`Store::write`], committed with `durability`. With [`redb::Durability::None`] the
    /// commit skips the fsync: it becomes durable with the next immediate commit of any
    /// writer (the gateway makes several per second under load) and a crash before that
    /// loses it. Only for writes whose loss is harmless — the removal of a message already
    /// delivered, say, which at worst is delivered again — or for a writer that then waits
    /// for [`crate::group_commit::GroupCommit::barrier`] before anything depends on the
    /// write (the response writer's batches of answers).
    ///
    /// # Errors
    ///
    /// As [`Store::write`].
    pub fn write_with<T, E: From<StoreError>>(
        &self,
        durability: redb::Durability,
        f: impl FnOnce(&WriteTransaction) -> Result<T, E>,
    ) -> Result<T, E> {
        if let Some(reason) = self.health.refusal() {
            return Err(StoreError::Unavailable(reason).into());
        }
        let db = self.db()?;
        // redb has one writer at a time: `begin_write` waits for it.
        let asked = std::time::Instant::now();
        let mut tx = db
            .begin_write()
            .map_err(|e| self.watch(StoreError::from(e)))?;
        let began = std::time::Instant::now();
        metrics::histogram!(crate::metric_name::STORE_WRITE_SECONDS, "phase" => "wait")
            .record(began.duration_since(asked).as_secs_f64());
        tx.set_durability(durability);
        let result = match f(&tx) {
            Ok(v) => tx
                .commit()
                .map(|()| v)
                .map_err(|e| self.watch(StoreError::from(e)).into()),
            Err(e) => {
                // Dropping an uncommitted transaction also discards it; abort says so.
                let _ = tx.abort();
                Err(e)
            }
        };
        metrics::histogram!(crate::metric_name::STORE_WRITE_SECONDS, "phase" => "held")
            .record(began.elapsed().as_secs_f64());
        result
    }

    /// Runs `f` on a consistent read snapshot (also while the store is degraded).
    ///
    /// # Errors
    ///
    /// What `f` returns, or a [`StoreError`] from beginning the transaction.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, E>,
    ) -> Result<T, E> {
        let db = self.db()?;
        let tx = db
            .begin_read()
            .map_err(|e| self.watch(StoreError::from(e)))?;
        f(&tx)
    }

    /// How many times the handle has been reopened after an I/O error. What a reopened
    /// handle shows may differ from what the old one showed (a commit whose fsync failed can
    /// still have reached the disk), so a cache of the store's contents starts again when
    /// this changes.
    pub fn reopens(&self) -> u64 {
        self.reopens.load(std::sync::atomic::Ordering::Acquire)
    }

    /// One recovery attempt of a degraded store ([`crate::store_health`]): reopens the file
    /// if the handle saw an I/O error, writes and fsyncs a probe file beside it, then commits
    /// one small value. On success the store is healthy again.
    ///
    /// # Errors
    ///
    /// Why the attempt failed; the store stays degraded (and readable when the reopen
    /// worked).
    pub fn try_recover(&self) -> Result<(), StoreError> {
        if self.health.handle_failed() {
            self.reopen()?;
        }
        self.probe_file()
            .map_err(|e| StoreError::Unavailable(format!("probe file: {e}")))?;
        let committed = self.db().and_then(|db| {
            let tx = db.begin_write()?;
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            tx.open_table(HEALTH)?.insert("probe", now_ms)?;
            tx.commit()?;
            Ok(())
        });
        match committed {
            Ok(()) => {
                self.health.recovered();
                Ok(())
            }
            Err(e) => {
                if let Some(cause) = e.io_failure() {
                    // The failed commit left the handle unusable: reopen at once so that
                    // reads keep working until the next attempt.
                    self.health.write_failed(&cause);
                    if self.reopen().is_ok() {
                        tracing::debug!("store reopened after a failed probe");
                    }
                }
                Err(e)
            }
        }
    }

    /// Writes [`PROBE_FILE_BYTES`] to a file beside the database, fsyncs and removes it.
    fn probe_file(&self) -> std::io::Result<()> {
        let mut probe = self.path.clone().into_os_string();
        probe.push(".probe");
        let probe = PathBuf::from(probe);
        let written = std::fs::File::create(&probe).and_then(|mut f| {
            f.write_all(&[0u8; PROBE_FILE_BYTES])?;
            f.sync_all()
        });
        let removed = std::fs::remove_file(&probe);
        written.and(removed)
    }

    /// Closes the redb handle and opens the file again (redb repairs what a failed commit
    /// left behind). Waits up to [`REOPEN_WAIT`] for transactions still holding the old
    /// handle; if the file cannot be opened, the old handle is kept when it still exists.
    fn reopen(&self) -> Result<(), StoreError> {
        let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
        let old = slot.take().map(|db| Arc::downgrade(&db));
        let deadline = Instant::now() + REOPEN_WAIT;
        loop {
            match create_db(&self.path, self.cache_bytes) {
                Ok(db) => {
                    *slot = Some(Arc::new(db));
                    self.reopens
                        .fetch_add(1, std::sync::atomic::Ordering::Release);
                    self.health.handle_reopened();
                    tracing::info!(store = %self.path.display(), "store reopened");
                    return Ok(());
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                    // A transaction still holds the old handle; it ends shortly.
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(source) => {
                    *slot = old.and_then(|w| w.upgrade());
                    return Err(StoreError::Open {
                        path: self.path.clone(),
                        source: Box::new(source),
                    });
                }
            }
        }
    }

    /// Creates `table` if it does not exist yet.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn ensure_table<K: Key + 'static>(
        &self,
        table: TableDefinition<'_, K, &'static [u8]>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.open_table(table)?;
            Ok(())
        })
    }

    /// The value stored under `key`, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn get<'k, K: Key + 'static>(
        &self,
        table: TableDefinition<'_, K, &'static [u8]>,
        key: K::SelfType<'k>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|tx| {
            let t = match tx.open_table(table) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(t.get(key)?.map(|v| v.value().to_vec()))
        })
    }

    /// Stores `value` under `key` (one durable transaction).
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn put<'k, K: Key + 'static>(
        &self,
        table: TableDefinition<'_, K, &'static [u8]>,
        key: K::SelfType<'k>,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.open_table(table)?.insert(key, value)?;
            Ok(())
        })
    }

    /// Removes `key`; true if it was there.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn remove<'k, K: Key + 'static>(
        &self,
        table: TableDefinition<'_, K, &'static [u8]>,
        key: K::SelfType<'k>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| Ok(tx.open_table(table)?.remove(key)?.is_some()))
    }

    /// The JSON value stored under `key`, decoded.
    ///
    /// # Errors
    ///
    /// [`StoreError`], [`StoreError::Decode`] when the stored bytes are not a `T`.
    pub fn get_json<'k, K: Key + 'static, T: DeserializeOwned>(
        &self,
        table: TableDefinition<'_, K, &'static [u8]>,
        key: K::SelfType<'k>,
    ) -> Result<Option<T>, StoreError> {
        let name = table.to_string();
        match self.get(table, key)? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| StoreError::Decode {
                        table: name,
                        source,
                    })
            }
        }
    }

    /// Stores `value` as JSON under `key`.
    ///
    /// # Errors
    ///
    /// [`StoreError`], [`StoreError::Encode`].
    pub fn put_json<'k, K: Key + 'static, T: Serialize>(
        &self,
        table: TableDefinition<'_, K, &'static [u8]>,
        key: K::SelfType<'k>,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|source| StoreError::Encode {
            table: table.to_string(),
            source,
        })?;
        self.put(table, key, &bytes)
    }

    /// Anti-replay: accepts `counter` from `originator` only if it is strictly greater than
    /// the last one accepted from it (any counter is accepted from a new originator), and
    /// records it durably before returning `true`. Check and update are one transaction, so
    /// two concurrent calls with the same counter cannot both succeed.
    ///
    /// # Errors
    ///
    /// [`StoreError`]; nothing is recorded then.
    pub fn counter_accept(&self, originator: [u8; 8], counter: u64) -> Result<bool, StoreError> {
        Ok(self
            .counter_accept_batch(&[(originator, counter)])?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// [`Store::counter_accept`] for a batch, in one transaction (one fsync): verdicts in
    /// input order. Items are checked in order, so a repeated originator must have increasing
    /// counters within the batch too.
    ///
    /// # Errors
    ///
    /// [`StoreError`]; nothing is recorded then.
    pub fn counter_accept_batch(&self, items: &[([u8; 8], u64)]) -> Result<Vec<bool>, StoreError> {
        self.write(|tx| {
            items
                .iter()
                .map(|(originator, counter)| Store::counter_accept_in(tx, *originator, *counter))
                .collect()
        })
    }

    /// [`Store::counter_accept`] inside a caller's write transaction (for a write that must
    /// be atomic with other tables, or shared through [`crate::group_commit`]).
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn counter_accept_in(
        tx: &WriteTransaction,
        originator: [u8; 8],
        counter: u64,
    ) -> Result<bool, StoreError> {
        let mut t = tx.open_table(COUNTERS)?;
        let last = t.get(&originator)?.map(|v| v.value());
        let ok = last.is_none_or(|l| counter > l);
        if ok {
            t.insert(&originator, counter)?;
        }
        Ok(ok)
    }

    /// The last counter accepted from `originator`, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    pub fn counter_last(&self, originator: [u8; 8]) -> Result<Option<u64>, StoreError> {
        self.read(|tx| {
            let t = tx.open_table(COUNTERS)?;
            Ok(t.get(&originator)?.map(|v| v.value()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: BytesTable = TableDefinition::new("test.bytes");
    const S: StrTable = TableDefinition::new("test.str");

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hubgate-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn counters_must_strictly_increase_and_survive_reopen() {
        let dir = temp_dir("counter");
        let a = [1u8; 8];
        let b = [2u8; 8];
        {
            let s = Store::open(&dir).unwrap();
            assert!(s.counter_accept(a, 10).unwrap());
            assert!(
                !s.counter_accept(a, 10).unwrap(),
                "equal counter is a replay"
            );
            assert!(!s.counter_accept(a, 9).unwrap());
            assert!(s.counter_accept(a, 11).unwrap());
            assert!(s.counter_accept(b, 0).unwrap(), "new originator");
            assert_eq!(
                s.counter_accept_batch(&[(b, 5), (b, 5), (b, 6), (a, 1)])
                    .unwrap(),
                vec![true, false, true, false]
            );
        }
        let s = Store::open(&dir).unwrap();
        assert_eq!(s.counter_last(a).unwrap(), Some(11));
        assert_eq!(s.counter_last(b).unwrap(), Some(6));
        assert_eq!(s.counter_last([3u8; 8]).unwrap(), None);
        assert!(!s.counter_accept(a, 11).unwrap());
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_degraded_store_refuses_writes_serves_reads_and_reopens() {
        let dir = temp_dir("degraded");
        let s = Store::open(&dir).unwrap();
        s.put(T, b"k".as_slice(), b"v").unwrap();
        s.health().write_failed("I/O error: test");
        assert!(matches!(
            s.put(T, b"x".as_slice(), b"y"),
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(s.get(T, b"k".as_slice()).unwrap(), Some(b"v".to_vec()));
        // The handle is reopened (the old one is still held here: the reopen waits for it
        // and keeps it when it does not go).
        let held = s.db().unwrap();
        assert!(matches!(s.try_recover(), Err(StoreError::Open { .. })));
        assert!(s.health().is_degraded());
        drop(held);
        s.try_recover().unwrap();
        assert!(!s.health().is_degraded());
        assert!(!s.health().handle_failed());
        s.put(T, b"x".as_slice(), b"y").unwrap();
        assert_eq!(s.get(T, b"k".as_slice()).unwrap(), Some(b"v".to_vec()));
        assert_eq!(s.get(T, b"x".as_slice()).unwrap(), Some(b"y".to_vec()));
        assert!(
            !dir.join("hubgate.redb.probe").exists(),
            "the probe file is removed"
        );
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn generic_tables_and_failed_writes_roll_back() {
        let dir = temp_dir("generic");
        let s = Store::open(&dir).unwrap();
        assert_eq!(
            s.get(T, b"k".as_slice()).unwrap(),
            None,
            "unknown table is empty"
        );
        s.put(T, b"k".as_slice(), b"v").unwrap();
        s.put_json(S, "j", &vec![1, 2, 3]).unwrap();
        assert_eq!(s.get(T, b"k".as_slice()).unwrap(), Some(b"v".to_vec()));
        assert_eq!(
            s.get_json::<_, Vec<u32>>(S, "j").unwrap(),
            Some(vec![1, 2, 3])
        );
        assert!(matches!(
            s.get_json::<_, String>(S, "j"),
            Err(StoreError::Decode { .. })
        ));
        let r: Result<(), StoreError> = s.write(|tx| {
            tx.open_table(T)?.insert(b"x".as_slice(), b"y".as_slice())?;
            Err(StoreError::Decode {
                table: "test".into(),
                source: serde_json::from_str::<u8>("x").unwrap_err(),
            })
        });
        assert!(r.is_err());
        assert_eq!(s.get(T, b"x".as_slice()).unwrap(), None, "rolled back");
        assert!(s.remove(T, b"k".as_slice()).unwrap());
        assert!(!s.remove(T, b"k".as_slice()).unwrap());
        assert_eq!(s.path(), dir.join(FILE_NAME));
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
