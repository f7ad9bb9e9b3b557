//! The Raft log in RocksDB: entries by big-endian index, plus the vote, the commit point
//! and the last purged log id. Each write says what it makes durable before it returns.
//!
//! Appended entries are fsynced by a thread of the store's own ([`WalSyncer`]), so Raft's
//! core keeps replicating while the disk syncs, and appends that queue up meanwhile share
//! one fsync.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{LogId, OptionalSend, RaftLogReader, StorageIOError, Vote};
use rocksdb::{ColumnFamily, DB, Direction, IteratorMode, WriteBatch, WriteOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{NodeId, StorageError, TypeConfig};
use crate::error::{Error, Result};

type Entry = openraft::Entry<TypeConfig>;

/// Log entries by index.
pub const CF_LOGS: &str = "raft_logs";
/// Vote, commit point and last purged id.
pub const CF_RAFT_META: &str = "raft_meta";
/// Every column family the log store needs.
pub const LOG_COLUMN_FAMILIES: [&str; 2] = [CF_LOGS, CF_RAFT_META];

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// The Raft log store. Cloning shares the database (clones serve as log readers).
#[derive(Clone)]
pub struct RaftLogStore {
    db: Arc<DB>,
    syncer: Arc<WalSyncer>,
}

/// Reports appends as flushed once an fsync of the write-ahead log that follows their write
/// has returned. RocksDB writes its WAL in order, so one sync covers every write before it:
/// the thread drains whatever appends are waiting and syncs once for all of them.
struct WalSyncer {
    queue: Option<std::sync::mpsc::Sender<LogFlushed<TypeConfig>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WalSyncer {
    fn start(db: Arc<DB>) -> Result<Self> {
        let (queue, waiting) = std::sync::mpsc::channel::<LogFlushed<TypeConfig>>();
        let thread = std::thread::Builder::new()
            .name("raft-wal-sync".into())
            .spawn(move || {
                while let Ok(first) = waiting.recv() {
                    let mut flushed = vec![first];
                    flushed.extend(waiting.try_iter());
                    let synced = db.flush_wal(true);
                    for f in flushed {
                        let reported = synced
                            .as_ref()
                            .map(|_| ())
                            .map_err(|e| std::io::Error::other(e.to_string()));
                        f.log_io_completed(reported);
                    }
                }
            })
            .map_err(|source| Error::Io {
                what: "starting the raft log's sync thread".into(),
                source,
            })?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Reports `flushed` once the writes made so far are on disk, or as failed if the
    /// thread is gone: never not at all, which would stall Raft.
    fn after_sync(&self, flushed: LogFlushed<TypeConfig>) {
        let unsent = match &self.queue {
            Some(queue) => queue.send(flushed).err().map(|e| e.0),
            None => Some(flushed),
        };
        if let Some(flushed) = unsent {
            flushed.log_io_completed(Err(std::io::Error::other(
                "the raft log's sync thread stopped",
            )));
        }
    }
}

impl Drop for WalSyncer {
    /// Waits for the thread, which holds the database open: a node restarted on the same
    /// directory must find it closed.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Debug for RaftLogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftLogStore")
            .field("path", &self.db.path())
            .finish()
    }
}

fn read_err(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

fn write_err(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

fn missing(cf: &'static str) -> StorageError {
    read_err(Error::MissingColumnFamily(cf))
}

fn synced() -> WriteOptions {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    wo
}

impl RaftLogStore {
    /// Opens (or creates) the log store at `path`. An existing database lacking one of
    /// [`LOG_COLUMN_FAMILIES`] is refused with [`Error::MissingColumnFamily`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let db = Arc::new(crate::store::open_db(path.as_ref(), &LOG_COLUMN_FAMILIES)?);
        let syncer = Arc::new(WalSyncer::start(Arc::clone(&db))?);
        Ok(Self { db, syncer })
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StorageError> {
        self.db.cf_handle(name).ok_or_else(|| missing(name))
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let Some(bytes) = self
            .db
            .get_cf(self.cf(CF_RAFT_META)?, key)
            .map_err(read_err)?
        else {
            return Ok(None);
        };
        super::decode(&bytes).map(Some).map_err(read_err)
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError> {
        let bytes = super::encode(value).map_err(write_err)?;
        // Durability: synced; the vote, commit point and purge marker survive a crash once
        // this returns (Raft's safety needs the vote on disk before it answers).
        self.db
            .put_cf_opt(self.cf(CF_RAFT_META)?, key, bytes, &synced())
            .map_err(write_err)
    }
}

fn start_of(range: &impl RangeBounds<u64>) -> u64 {
    match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    }
}

impl RaftLogReader<TypeConfig> for RaftLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = start_of(&range).to_be_bytes();
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_LOGS)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(read_err)?;
            let key = <[u8; 8]>::try_from(&*k)
                .map_err(|_| read_err(Error::Inconsistent("raft log key is not 8 bytes".into())))?;
            if !range.contains(&u64::from_be_bytes(key)) {
                break;
            }
            out.push(super::decode(&v).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for RaftLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId<NodeId>> = self.get_meta(KEY_LAST_PURGED)?;
        let mut iter = self.db.iterator_cf(self.cf(CF_LOGS)?, IteratorMode::End);
        let last = match iter.next() {
            Some(item) => {
                let (_, v) = item.map_err(read_err)?;
                let e: Entry = super::decode(&v).map_err(read_err)?;
                Some(e.log_id)
            }
            None => None,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last.or(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.put_meta(KEY_VOTE, vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_meta(KEY_VOTE)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError> {
        // Durability: left to the next sync. A commit point lost in a crash is only an
        // older one, which the leader brings forward again; the WAL keeps writes in order,
        // so none survives without the entries it names.
        let bytes = super::encode(&committed).map_err(write_err)?;
        self.db
            .put_cf(self.cf(CF_RAFT_META)?, KEY_COMMITTED, bytes)
            .map_err(write_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError> {
        Ok(self
            .get_meta::<Option<LogId<NodeId>>>(KEY_COMMITTED)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let cf = self.cf(CF_LOGS)?;
        let mut batch = WriteBatch::default();
        for e in entries {
            let bytes = super::encode(&e).map_err(write_err)?;
            batch.put_cf(cf, e.log_id.index.to_be_bytes(), bytes);
        }
        // Durability: group commit. Every entry openraft hands us in this call goes to the
        // WAL in one write, readable once it returns; the flush is reported only after the
        // sync thread's next fsync, so openraft acknowledges nothing that a crash could lose.
        if let Err(e) = self.db.write_opt(batch, &WriteOptions::default()) {
            callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
            return Err(write_err(e));
        }
        self.syncer.after_sync(callback);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        let cf = self.cf(CF_LOGS)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf, log_id.index.to_be_bytes(), u64::MAX.to_be_bytes());
        batch.delete_cf(cf, u64::MAX.to_be_bytes());
        // Durability: synced, so conflicting entries cannot reappear after a crash.
        self.db.write_opt(batch, &synced()).map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        // Durability: record the purge point (synced) before deleting, so a crash between
        // the two leaves a log state that is still correct.
        self.put_meta(KEY_LAST_PURGED, &log_id)?;
        let cf = self.cf(CF_LOGS)?;
        let end = log_id.index.saturating_add(1).to_be_bytes();
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf, 0u64.to_be_bytes(), end);
        self.db
            .write_opt(batch, &WriteOptions::default())
            .map_err(write_err)
    }
}
