//! RocksDB storage for the chain: signed entries, Merkle leaf hashes, and auditor indexes.
//!
//! Owns [`ChainStore`]: column families are checked at open, [`ChainStore::append_batch`]
//! commits many entries with one synced write (group commit), and [`ChainStore::verify`]
//! recomputes every signature and the tree and names the first bad entry.
//!
//! Column families (all keys of log positions are big-endian `u64`, so RocksDB order is log
//! order):
//! - `entries`: index -> [`SignedEntry`] wire bytes (the Merkle leaf data);
//! - `leaves`: index -> the 32-byte RFC 6962 leaf hash of that value;
//! - `nodes`: `level u8 || index u64` -> the hash of the perfect subtree of 2^level leaves
//!   starting at leaf `index << level` (level >= 1), written with the leaves that complete
//!   it, so a root or a proof at any size reads O(log n) hashes;
//! - `meta`: `size` -> the number of committed entries (`u64`);
//! - `by_agency`, `by_principal`, `by_dataset`: `u16 len || value || index` -> empty;
//! - the directory's view (`catalog`, `requests`, `requests_by_dataset`, see
//!   [`crate::directory`]): derived from the entries in the same writes, and rebuilt from
//!   them when missing.

use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;

use rocksdb::{
    ColumnFamily, DB, DBRecoveryMode, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};

use crate::checkpoint::CheckpointVerified;
use crate::directory::{self, Directory, ViewSource};
use crate::entry::{Entry, EntryKind};
use crate::error::{Error, Result};
use crate::merkle::{self, Frontier, Hash, InclusionProof};
use crate::sign::{SignedEntry, TrustBundle, VerifiedEntry};

/// Entry bytes by log index.
pub const CF_ENTRIES: &str = "entries";
/// Merkle leaf hashes by log index.
pub const CF_LEAVES: &str = "leaves";
/// Interior Merkle nodes: hashes of perfect subtrees by (level, index).
pub const CF_NODES: &str = "nodes";
/// Store metadata (the committed size).
pub const CF_META: &str = "meta";
/// Index: author agency -> log indexes.
pub const CF_BY_AGENCY: &str = "by_agency";
/// Index: principal -> log indexes.
pub const CF_BY_PRINCIPAL: &str = "by_principal";
/// Index: dataset -> log indexes.
pub const CF_BY_DATASET: &str = "by_dataset";
/// Index: purpose -> log indexes.
pub const CF_BY_PURPOSE: &str = "by_purpose";
/// Index: entry kind -> log indexes.
pub const CF_BY_KIND: &str = "by_kind";
/// Index: (entry time, log index), for time ranges.
pub const CF_BY_TIME: &str = "by_time";

/// Every column family the store needs, in creation order, the directory's view last.
pub const COLUMN_FAMILIES: [&str; 13] = [
    CF_ENTRIES,
    CF_LEAVES,
    CF_NODES,
    CF_META,
    CF_BY_AGENCY,
    CF_BY_PRINCIPAL,
    CF_BY_DATASET,
    CF_BY_PURPOSE,
    CF_BY_KIND,
    CF_BY_TIME,
    directory::CF_CATALOG,
    directory::CF_REQUESTS,
    directory::CF_REQUESTS_BY_DATASET,
];

/// The column families a store must already have: all but the derived views.
const REQUIRED_FAMILIES: [&str; 10] = [
    CF_ENTRIES,
    CF_LEAVES,
    CF_NODES,
    CF_META,
    CF_BY_AGENCY,
    CF_BY_PRINCIPAL,
    CF_BY_DATASET,
    CF_BY_PURPOSE,
    CF_BY_KIND,
    CF_BY_TIME,
];

const META_SIZE: &[u8] = b"size";
/// Meta key of the latest cosigned checkpoint a node keeps (a signed note).
pub(crate) const KEY_CHECKPOINT: &[u8] = b"checkpoint";

/// Proof that [`ChainStore::verify`] checked every stored entry, signature and leaf hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreVerified {
    size: u64,
    root: Hash,
}

impl StoreVerified {
    /// The number of entries checked.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The recomputed root over all of them.
    pub fn root(&self) -> Hash {
        self.root
    }
}

/// How a write to the store reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// fsync before returning.
    Synced,
    /// Left to the OS: the caller holds the same data in a synced log it can replay (the
    /// Raft state machine, whose committed log entries are re-applied after a crash).
    LogBacked,
}

/// The chain's entries, tree leaves and indexes in one RocksDB.
pub struct ChainStore {
    db: DB,
    /// The committed size. Held while appending so appends are serialised.
    size: Mutex<u64>,
    /// The tree's right edge at the committed size, read from the stored nodes on first
    /// use (O(log n)) and then carried forward by appends. Locked after `size`.
    frontier: Mutex<Option<Frontier>>,
    /// How many stored subtree hashes were read, to show proofs stay O(log n).
    node_reads: std::sync::atomic::AtomicU64,
    /// Bumped by each commit that changes the catalog, so a search index built from it
    /// knows when it is stale.
    pub(crate) catalog_generation: std::sync::atomic::AtomicU64,
    /// The search index over the live catalog, with the generation it was built at.
    pub(crate) search: Mutex<Option<(u64, std::sync::Arc<directory::search::SearchIndex>)>>,
}

fn node_key(level: u32, index: u64) -> Result<[u8; 9]> {
    let level = u8::try_from(level).map_err(|_| Error::Internal("tree level past 255"))?;
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&index.to_be_bytes());
    Ok(k)
}

/// The store's leaves and interior nodes as a [`merkle::Subtrees`] source.
struct StoredSubtrees<'a>(&'a ChainStore);

impl merkle::Subtrees for StoredSubtrees<'_> {
    fn perfect(&self, level: u32, index: u64) -> Result<Hash> {
        let store = self.0;
        store
            .node_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (cf, key) = if level == 0 {
            (store.cf(CF_LEAVES)?, index.to_be_bytes().to_vec())
        } else {
            (store.cf(CF_NODES)?, node_key(level, index)?.to_vec())
        };
        let v = store.db.get_cf(cf, key)?.ok_or_else(|| {
            Error::Inconsistent(format!(
                "tree node at level {level}, index {index} is missing"
            ))
        })?;
        Hash::try_from(v.as_slice()).map_err(|_| {
            Error::Inconsistent(format!(
                "tree node at level {level}, index {index} is not 32 bytes"
            ))
        })
    }
}

impl std::fmt::Debug for ChainStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainStore")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

fn index_key(value: &str, index: u64) -> Result<Vec<u8>> {
    let mut k = index_prefix(value)?;
    k.extend_from_slice(&index.to_be_bytes());
    Ok(k)
}

fn index_prefix(value: &str) -> Result<Vec<u8>> {
    let len = u16::try_from(value.len())
        .map_err(|_| Error::InvalidArgument(format!("index value of {} bytes", value.len())))?;
    let mut k = Vec::with_capacity(2 + value.len() + 8);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(value.as_bytes());
    Ok(k)
}

fn time_key(time_ms: u64, index: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&time_ms.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

fn synced() -> WriteOptions {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    wo
}

fn decode_index(key: &[u8]) -> Result<u64> {
    let arr = <[u8; 8]>::try_from(key)
        .map_err(|_| Error::Inconsistent(format!("key of {} bytes, not 8", key.len())))?;
    Ok(u64::from_be_bytes(arr))
}

/// Opens the RocksDB at `path` with `required` column families, creating the database (and
/// them) if nothing is there yet. An existing database that lacks one of them is refused
/// with [`Error::MissingColumnFamily`]; extra column families are opened and left alone.
pub(crate) fn open_db(path: &Path, required: &[&'static str]) -> Result<DB> {
    open_db_deriving(path, required, &[]).map(|(db, _)| db)
}

/// As [`open_db`], and creates the `derived` column families an existing database lacks
/// (views the caller rebuilds); says whether it created any.
fn open_db_deriving(
    path: &Path,
    required: &[&'static str],
    derived: &[&'static str],
) -> Result<(DB, bool)> {
    let mut opts = Options::default();
    // After a crash, recover every whole write batch up to the first damaged one, so an
    // unsynced write is either all there or not at all (see [`Durability::LogBacked`]).
    opts.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
    let db = if path.join("CURRENT").exists() {
        let existing = DB::list_cf(&opts, path)?;
        if let Some(missing) = required
            .iter()
            .find(|cf| !existing.iter().any(|e| e == *cf))
        {
            return Err(Error::MissingColumnFamily(missing));
        }
        let absent: Vec<&str> = derived
            .iter()
            .copied()
            .filter(|cf| !existing.iter().any(|e| e == cf))
            .collect();
        let mut db = DB::open_cf(&opts, path, existing)?;
        for cf in &absent {
            db.create_cf(cf, &Options::default())?;
        }
        (db, !absent.is_empty())
    } else {
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let all = required.iter().chain(derived).copied();
        (DB::open_cf(&opts, path, all)?, false)
    };
    for cf in required.iter().chain(derived) {
        if db.0.cf_handle(cf).is_none() {
            return Err(Error::MissingColumnFamily(cf));
        }
    }
    Ok(db)
}

impl ChainStore {
    /// Opens the store at `path`, creating it with every column family if no database is
    /// there. An existing database that lacks one of [`COLUMN_FAMILIES`] is refused with
    /// [`Error::MissingColumnFamily`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let fresh = !path.join("CURRENT").exists();
        let (db, views_created) =
            open_db_deriving(path, &REQUIRED_FAMILIES, &directory::VIEW_FAMILIES)?;
        let store = Self {
            db,
            size: Mutex::new(0),
            frontier: Mutex::new(None),
            node_reads: Default::default(),
            catalog_generation: Default::default(),
            search: Mutex::new(None),
        };
        let size = match store.db.get_cf(store.cf(CF_META)?, META_SIZE)? {
            Some(v) => u64::from_be_bytes(
                <[u8; 8]>::try_from(v.as_slice())
                    .map_err(|_| Error::Inconsistent("meta size is not 8 bytes".into()))?,
            ),
            None if fresh => {
                // Durability: synced, so a crash right after creation still leaves a store
                // that says "size 0" rather than one with no size at all.
                store.db.put_cf_opt(
                    store.cf(CF_META)?,
                    META_SIZE,
                    0u64.to_be_bytes(),
                    &synced(),
                )?;
                0
            }
            None => return Err(Error::Inconsistent("meta size is missing".into())),
        };
        *store.lock()? = size;
        if views_created {
            tracing::info!(
                entries = size,
                "building the directory's view from the chain"
            );
            store.rebuild_directory()?;
        }
        Ok(store)
    }

    /// Opens an existing store read-only, as auditors do. It may be opened while the node
    /// that owns it runs; it shows the chain as it was at open.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.join("CURRENT").exists() {
            return Err(Error::InvalidArgument(format!(
                "{} holds no chain store",
                path.display()
            )));
        }
        let db = DB::open_cf_for_read_only(&Options::default(), path, COLUMN_FAMILIES, false)?;
        let store = Self {
            db,
            size: Mutex::new(0),
            frontier: Mutex::new(None),
            node_reads: Default::default(),
            catalog_generation: Default::default(),
            search: Mutex::new(None),
        };
        let size = store
            .db
            .get_cf(store.cf(CF_META)?, META_SIZE)?
            .ok_or_else(|| Error::Inconsistent("meta size is missing".into()))?;
        let size = u64::from_be_bytes(
            <[u8; 8]>::try_from(size.as_slice())
                .map_err(|_| Error::Inconsistent("meta size is not 8 bytes".into()))?,
        );
        *store.lock()? = size;
        Ok(store)
    }

    /// Every entry in log order, from `start`, as `(index, wire bytes)`.
    pub fn scan(&self, start: u64) -> Result<impl Iterator<Item = Result<(u64, Vec<u8>)>> + '_> {
        let size = self.len()?;
        let key = start.to_be_bytes();
        let iter = self.db.iterator_cf(
            self.cf(CF_ENTRIES)?,
            IteratorMode::From(&key, Direction::Forward),
        );
        Ok(iter.map_while(move |item| match item {
            Err(e) => Some(Err(e.into())),
            Ok((k, v)) => match decode_index(&k) {
                Err(e) => Some(Err(e)),
                Ok(index) => (index < size).then(|| Ok((index, v.to_vec()))),
            },
        }))
    }

    pub(crate) fn cf(&self, name: &'static str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or(Error::MissingColumnFamily(name))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, u64>> {
        self.size
            .lock()
            .map_err(|_| Error::Internal("chain store lock poisoned by a panic"))
    }

    /// The number of committed entries.
    pub fn len(&self) -> Result<u64> {
        Ok(*self.lock()?)
    }

    /// Whether the store has no entries.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Appends one verified entry; returns its index. See [`Self::append_batch`].
    pub fn append(&self, entry: VerifiedEntry) -> Result<u64> {
        Ok(self.append_batch(vec![entry])?.start)
    }

    /// Appends entries whose signatures were verified, in order, in one `WriteBatch` with one
    /// fsync (group commit). Returns their index range. On error nothing was written.
    pub fn append_batch(&self, entries: Vec<VerifiedEntry>) -> Result<Range<u64>> {
        self.commit(entries, &[], Durability::Synced)
    }

    /// Appends `entries` and writes the extra `meta` keys (e.g. the Raft state machine's
    /// last applied id) in the same atomic batch.
    pub(crate) fn commit(
        &self,
        entries: Vec<VerifiedEntry>,
        meta: &[(&[u8], Vec<u8>)],
        durability: Durability,
    ) -> Result<Range<u64>> {
        let mut size = self.lock()?;
        let start = *size;
        if entries.is_empty() && meta.is_empty() {
            return Ok(start..start);
        }
        let mut batch = WriteBatch::default();
        let mut frontier = self.tip_frontier(start)?;
        let end = self.put_entries(&mut batch, start, &entries, &mut frontier)?;
        self.put_extra_meta(&mut batch, meta)?;
        // Durability: the whole batch (entries, leaves, indexes, the new size and any extra
        // meta) goes to the WAL in one atomic write. Synced, every entry survives a crash
        // when this returns; otherwise a machine crash may drop whole batches from the end
        // (never part of one), which Raft re-applies from its synced log.
        let options = match durability {
            Durability::Synced => synced(),
            Durability::LogBacked => WriteOptions::default(),
        };
        self.db.write_opt(batch, &options)?;
        *size = end;
        *self.frontier()? = Some(frontier);
        Ok(start..end)
    }

    /// The committed size together with meta keys written with the same commits, read
    /// under the append lock so the two agree (a commit writes both in one batch).
    pub(crate) fn meta_at_tip(&self, keys: &[&[u8]]) -> Result<(u64, Vec<Option<Vec<u8>>>)> {
        let size = self.lock()?;
        let cf = self.cf(CF_META)?;
        let values = keys
            .iter()
            .map(|k| self.db.get_cf(cf, k).map_err(Error::from))
            .collect::<Result<Vec<_>>>()?;
        Ok((*size, values))
    }

    /// Reads an extra meta key written by [`Self::commit`] or [`Self::put_meta`].
    pub(crate) fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(CF_META)?, key)?)
    }

    /// Writes extra meta keys on their own.
    pub(crate) fn put_meta(&self, meta: &[(&[u8], Vec<u8>)]) -> Result<()> {
        let _size = self.lock()?;
        let mut batch = WriteBatch::default();
        self.put_extra_meta(&mut batch, meta)?;
        // Durability: synced, like every other write of the store.
        self.db.write_opt(batch, &synced())?;
        Ok(())
    }

    fn put_extra_meta(&self, batch: &mut WriteBatch, meta: &[(&[u8], Vec<u8>)]) -> Result<()> {
        let cf = self.cf(CF_META)?;
        for (k, v) in meta {
            if *k == META_SIZE {
                return Err(Error::Internal("extra meta would overwrite the chain size"));
            }
            batch.put_cf(cf, k, v);
        }
        Ok(())
    }

    /// The frontier at the committed size `size` (the caller holds the size lock).
    fn tip_frontier(&self, size: u64) -> Result<Frontier> {
        if let Some(f) = self.frontier()?.as_ref()
            && f.size() == size
        {
            return Ok(f.clone());
        }
        Frontier::from_subtrees(&StoredSubtrees(self), size)
    }

    /// Adds `entries` at `start..` (entries, leaves, the interior nodes they complete,
    /// indexes, new size) to `batch`, pushing their leaves onto `frontier`, which must be
    /// the frontier at `start`.
    fn put_entries(
        &self,
        batch: &mut WriteBatch,
        start: u64,
        entries: &[VerifiedEntry],
        frontier: &mut Frontier,
    ) -> Result<u64> {
        if frontier.size() != start {
            return Err(Error::Internal("appending past a frontier of another size"));
        }
        let cf_nodes = self.cf(CF_NODES)?;
        let end = start
            .checked_add(entries.len() as u64)
            .ok_or(Error::Internal("log index overflow"))?;
        let (cf_entries, cf_leaves, cf_meta) =
            (self.cf(CF_ENTRIES)?, self.cf(CF_LEAVES)?, self.cf(CF_META)?);
        let (cf_agency, cf_principal, cf_dataset) = (
            self.cf(CF_BY_AGENCY)?,
            self.cf(CF_BY_PRINCIPAL)?,
            self.cf(CF_BY_DATASET)?,
        );
        let (cf_purpose, cf_kind, cf_time) = (
            self.cf(CF_BY_PURPOSE)?,
            self.cf(CF_BY_KIND)?,
            self.cf(CF_BY_TIME)?,
        );
        let mut dir = Directory::default();
        for (index, verified) in (start..end).zip(entries) {
            let signed = verified.signed();
            let bytes = signed.to_bytes()?;
            let key = index.to_be_bytes();
            let leaf = merkle::leaf_hash(&bytes);
            batch.put_cf(cf_leaves, key, leaf);
            let mut node_err = None;
            frontier.push_with(leaf, |level, index, hash| match node_key(level, index) {
                Ok(k) => batch.put_cf(cf_nodes, k, hash),
                Err(e) => node_err = Some(e),
            });
            if let Some(e) = node_err {
                return Err(e);
            }
            batch.put_cf(cf_entries, key, bytes);
            let entry = signed.entry();
            batch.put_cf(cf_agency, index_key(&entry.author, index)?, b"");
            if let Some(p) = entry.principal() {
                batch.put_cf(cf_principal, index_key(p, index)?, b"");
            }
            for d in entry.datasets() {
                batch.put_cf(cf_dataset, index_key(d, index)?, b"");
            }
            if let Some(p) = entry.purpose() {
                batch.put_cf(cf_purpose, index_key(p, index)?, b"");
            }
            batch.put_cf(cf_kind, index_key(entry.kind().name(), index)?, b"");
            batch.put_cf(cf_time, time_key(entry.time_ms, index), b"");
            // An entry the directory's rules refuse never passes a replica's state
            // machine; one that arrives otherwise (a test's raw append) changes no view.
            match dir.apply(self, entry, index)? {
                Ok(concerns) => {
                    if let Some(d) = concerns.dataset {
                        batch.put_cf(cf_dataset, index_key(&d, index)?, b"");
                    }
                    if let Some(p) = concerns.principal {
                        batch.put_cf(cf_principal, index_key(&p, index)?, b"");
                    }
                }
                Err(refusal) => {
                    tracing::warn!(index, %refusal, "the directory ignores an entry its rules refuse");
                }
            }
        }
        let mut catalog_changed = false;
        for (cf, key, value) in dir.writes() {
            catalog_changed |= cf == directory::CF_CATALOG;
            batch.put_cf(self.cf(cf)?, key, value);
        }
        if catalog_changed {
            self.catalog_generation
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        batch.put_cf(cf_meta, META_SIZE, end.to_be_bytes());
        Ok(end)
    }

    /// Empties the directory's view and applies every entry to it again, in log order.
    pub fn rebuild_directory(&self) -> Result<()> {
        let size = self.lock()?;
        for cf in directory::VIEW_FAMILIES {
            let handle = self.cf(cf)?;
            let mut batch = WriteBatch::default();
            for item in self.db.iterator_cf(handle, IteratorMode::Start) {
                let (k, _) = item?;
                batch.delete_cf(handle, k);
            }
            self.db.write_opt(batch, &synced())?;
        }
        let mut dir = Directory::default();
        let iter = self
            .db
            .iterator_cf(self.cf(CF_ENTRIES)?, IteratorMode::Start);
        for item in iter {
            let (k, v) = item?;
            let index = decode_index(&k)?;
            if index >= *size {
                break;
            }
            let signed = SignedEntry::from_bytes(&v).map_err(|e| e.at_entry(index))?;
            if let Err(refusal) = dir.apply(self, signed.entry(), index)? {
                tracing::warn!(index, %refusal, "the directory ignores an entry its rules refuse");
            }
        }
        let mut batch = WriteBatch::default();
        for (cf, key, value) in dir.writes() {
            batch.put_cf(self.cf(cf)?, key, value);
        }
        // Durability: synced; the view is derived, but a half-written one must not look whole.
        self.db.write_opt(batch, &synced())?;
        self.catalog_generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// The raw wire bytes of entry `index`.
    pub fn get_bytes(&self, index: u64) -> Result<Vec<u8>> {
        let size = self.len()?;
        if index >= size {
            return Err(Error::OutOfRange { index, size });
        }
        self.db
            .get_cf(self.cf(CF_ENTRIES)?, index.to_be_bytes())?
            .ok_or_else(|| Error::Inconsistent("committed entry is missing".into()).at_entry(index))
    }

    /// Entry `index`, parsed (not re-verified).
    pub fn get(&self, index: u64) -> Result<SignedEntry> {
        SignedEntry::from_bytes(&self.get_bytes(index)?).map_err(|e| e.at_entry(index))
    }

    /// The stored leaf hashes of the first `size` entries.
    pub fn leaf_hashes(&self, size: u64) -> Result<Vec<Hash>> {
        let len = self.len()?;
        if size > len {
            return Err(Error::OutOfRange {
                index: size,
                size: len,
            });
        }
        let mut out = Vec::new();
        let iter = self
            .db
            .iterator_cf(self.cf(CF_LEAVES)?, IteratorMode::Start);
        for item in iter {
            let expected = out.len() as u64;
            if expected == size {
                break;
            }
            let (k, v) = item?;
            let index = decode_index(&k)?;
            if index != expected {
                return Err(Error::Inconsistent("leaf hash is missing".into()).at_entry(expected));
            }
            let h = Hash::try_from(&*v).map_err(|_| {
                Error::Inconsistent("stored leaf hash is not 32 bytes".into()).at_entry(index)
            })?;
            out.push(h);
        }
        if (out.len() as u64) < size {
            return Err(
                Error::Inconsistent("leaf hash is missing".into()).at_entry(out.len() as u64)
            );
        }
        Ok(out)
    }

    /// The tree root over the first `size` entries, from at most one stored hash per set
    /// bit of `size` (the kept frontier at the committed size).
    pub fn root_at(&self, size: u64) -> Result<Hash> {
        let len = self.lock()?;
        if size > *len {
            return Err(Error::OutOfRange {
                index: size,
                size: *len,
            });
        }
        if size == *len
            && let Some(f) = self.frontier()?.as_ref()
            && f.size() == size
        {
            return Ok(f.root());
        }
        drop(len);
        merkle::root_from(&StoredSubtrees(self), size)
    }

    /// How many stored tree hashes this store has read so far (roots and proofs).
    pub fn node_reads(&self) -> u64 {
        self.node_reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn frontier(&self) -> Result<std::sync::MutexGuard<'_, Option<Frontier>>> {
        self.frontier
            .lock()
            .map_err(|_| Error::Internal("chain store lock poisoned by a panic"))
    }

    /// The current size and root.
    pub fn root(&self) -> Result<(u64, Hash)> {
        let size = self.len()?;
        Ok((size, self.root_at(size)?))
    }

    /// The inclusion proof of entry `index` in the tree of the first `size` entries.
    /// O(log n) stored hashes are read, whatever the sizes.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<InclusionProof> {
        self.check_size(size)?;
        Ok(InclusionProof {
            index,
            size,
            path: merkle::inclusion_proof_from(&StoredSubtrees(self), index, size)?,
        })
    }

    fn check_size(&self, size: u64) -> Result<()> {
        let len = self.len()?;
        if size > len {
            return Err(Error::OutOfRange {
                index: size,
                size: len,
            });
        }
        Ok(())
    }

    /// The consistency proof from the tree of `old_size` entries to that of `new_size`.
    /// O(log n) stored hashes are read.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>> {
        self.check_size(new_size)?;
        merkle::consistency_proof_from(&StoredSubtrees(self), old_size, new_size)
    }

    fn lookup(&self, cf: &'static str, value: &str) -> Result<Vec<u64>> {
        let prefix = index_prefix(value)?;
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(cf)?,
            IteratorMode::From(&prefix, Direction::Forward),
        );
        for item in iter {
            let (k, _) = item?;
            let Some(rest) = k.strip_prefix(prefix.as_slice()) else {
                break;
            };
            out.push(decode_index(rest)?);
        }
        Ok(out)
    }

    /// Indexes of entries written by `agency`, in log order.
    pub fn by_agency(&self, agency: &str) -> Result<Vec<u64>> {
        self.lookup(CF_BY_AGENCY, agency)
    }

    /// Indexes of entries about `principal`, in log order.
    pub fn by_principal(&self, principal: &str) -> Result<Vec<u64>> {
        self.lookup(CF_BY_PRINCIPAL, principal)
    }

    /// Indexes of entries about `dataset`, in log order.
    pub fn by_dataset(&self, dataset: &str) -> Result<Vec<u64>> {
        self.lookup(CF_BY_DATASET, dataset)
    }

    /// Indexes of entries made for `purpose`, in log order.
    pub fn by_purpose(&self, purpose: &str) -> Result<Vec<u64>> {
        self.lookup(CF_BY_PURPOSE, purpose)
    }

    /// Indexes of entries of `kind`, in log order.
    pub fn by_kind(&self, kind: EntryKind) -> Result<Vec<u64>> {
        self.lookup(CF_BY_KIND, kind.name())
    }

    /// Indexes of entries whose time is in `from_ms..to_ms`, in log order. Each agency's
    /// clock stamps its own entries, so times are not sorted along the log.
    pub fn by_time(&self, from_ms: u64, to_ms: u64) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        if from_ms >= to_ms {
            return Ok(out);
        }
        let start = time_key(from_ms, 0);
        let iter = self.db.iterator_cf(
            self.cf(CF_BY_TIME)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            let (k, _) = item?;
            let (time, index) = k.split_at_checked(8).ok_or_else(|| {
                Error::Inconsistent(format!("time index key of {} bytes", k.len()))
            })?;
            if decode_index(time)? >= to_ms {
                break;
            }
            out.push(decode_index(index)?);
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Recomputes everything from the stored bytes: each entry must parse, its signature must
    /// verify under its author's key in `trust`, its stored leaf hash must match, and there
    /// must be no gaps or extra entries. The first failure is returned as
    /// [`Error::BadEntry`] naming that index.
    pub fn verify(&self, trust: &TrustBundle) -> Result<StoreVerified> {
        let size = self.len()?;
        let leaves_cf = self.cf(CF_LEAVES)?;
        let nodes_cf = self.cf(CF_NODES)?;
        // The tree is recomputed from the entries alone; every stored interior node must
        // equal the recomputed one, or proofs served from them would not verify.
        let mut frontier = Frontier::new();
        let iter = self
            .db
            .iterator_cf(self.cf(CF_ENTRIES)?, IteratorMode::Start);
        for item in iter {
            let expected = frontier.size();
            let (k, v) = item?;
            let index = decode_index(&k).map_err(|e| e.at_entry(expected))?;
            if index != expected {
                let why = if expected >= size {
                    "entry past the committed size"
                } else {
                    "entry is missing"
                };
                return Err(Error::Inconsistent(why.into()).at_entry(expected));
            }
            if index >= size {
                return Err(
                    Error::Inconsistent("entry past the committed size".into()).at_entry(index)
                );
            }
            let signed = SignedEntry::from_bytes(&v).map_err(|e| e.at_entry(index))?;
            trust.check(&signed).map_err(|e| e.at_entry(index))?;
            let leaf = merkle::leaf_hash(&v);
            let stored = self.db.get_cf(leaves_cf, k)?;
            if stored.as_deref() != Some(leaf.as_slice()) {
                return Err(Error::Inconsistent(
                    "stored leaf hash does not match the entry".into(),
                )
                .at_entry(index));
            }
            let mut bad_node = None;
            let mut read_err = None;
            frontier.push_with(leaf, |level, node, hash| {
                if bad_node.is_some() || read_err.is_some() {
                    return;
                }
                let stored = node_key(level, node)
                    .and_then(|key| self.db.get_cf(nodes_cf, key).map_err(Error::from));
                match stored {
                    Ok(s) if s.as_deref() == Some(hash.as_slice()) => {}
                    Ok(_) => bad_node = Some((level, node)),
                    Err(e) => read_err = Some(e),
                }
            });
            if let Some(e) = read_err {
                return Err(e);
            }
            if let Some((level, node)) = bad_node {
                return Err(Error::Inconsistent(format!(
                    "stored tree node at level {level}, index {node} (ending at this entry) \
                     does not match the entries"
                ))
                .at_entry(index));
            }
        }
        if frontier.size() < size {
            return Err(Error::Inconsistent("entry is missing".into()).at_entry(frontier.size()));
        }
        Ok(StoreVerified {
            size,
            root: frontier.root(),
        })
    }

    /// [`Self::verify`], then checks that the tree over the checkpoint's first `size`
    /// entries has the checkpoint's (cosigned) root: a store that was rewritten consistently
    /// by someone holding the keys still fails here.
    pub fn verify_against(
        &self,
        trust: &TrustBundle,
        checkpoint: &CheckpointVerified,
    ) -> Result<StoreVerified> {
        let verified = self.verify(trust)?;
        let cp = checkpoint.checkpoint();
        if cp.size > verified.size {
            return Err(Error::Inconsistent(format!(
                "checkpoint covers {} entries but the store has {}",
                cp.size, verified.size
            )));
        }
        if self.root_at(cp.size)? != cp.root {
            return Err(Error::Inconsistent(format!(
                "root of the first {} entries differs from the cosigned checkpoint",
                cp.size
            )));
        }
        Ok(verified)
    }
}

/// The directory reads the stored view and entries directly: it runs inside a commit,
/// which holds the size lock.
impl ViewSource for ChainStore {
    fn stored(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(cf)?, key)?)
    }

    fn stored_entry(&self, index: u64) -> Result<Option<Entry>> {
        let Some(bytes) = self.db.get_cf(self.cf(CF_ENTRIES)?, index.to_be_bytes())? else {
            return Ok(None);
        };
        let signed = SignedEntry::from_bytes(&bytes).map_err(|e| e.at_entry(index))?;
        Ok(Some(signed.entry().clone()))
    }
}

impl ChainStore {
    /// Every `(key, value)` of column family `cf` whose key starts with `prefix`.
    pub(crate) fn view_prefix(
        &self,
        cf: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let iter = self
            .db
            .iterator_cf(self.cf(cf)?, IteratorMode::From(prefix, Direction::Forward));
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::checkpoint::{Checkpoint, NoteSigner, SignedCheckpoint};
    use crate::entry::tests::one_of_each;
    use crate::sign::AgencySigner;

    struct Fixture {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        bj: AgencySigner,
        sh: AgencySigner,
        trust: TrustBundle,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain");
        let bj = AgencySigner::from_seed("bj_hf", [1; 32]).unwrap();
        let sh = AgencySigner::from_seed("sh_hf", [2; 32]).unwrap();
        let mut trust = TrustBundle::new();
        trust.insert("bj_hf", bj.verifying_key()).unwrap();
        trust.insert("sh_hf", sh.verifying_key()).unwrap();
        Fixture {
            _dir: dir,
            path,
            bj,
            sh,
            trust,
        }
    }

    /// 32 verified entries: every kind from bj_hf, then every kind from sh_hf.
    fn entries(f: &Fixture) -> Vec<VerifiedEntry> {
        let mut out = Vec::new();
        for (signer, author) in [(&f.bj, "bj_hf"), (&f.sh, "sh_hf")] {
            for e in one_of_each(author) {
                out.push(f.trust.verify(signer.sign(e).unwrap()).unwrap());
            }
        }
        out
    }

    fn raw_db(path: &Path) -> DB {
        let opts = Options::default();
        let cfs = DB::list_cf(&opts, path).unwrap();
        DB::open_cf(&opts, path, cfs).unwrap()
    }

    #[test]
    fn root_kept_at_the_tip_matches_a_pass_over_the_leaves() {
        let f = fixture();
        let all = entries(&f);
        let store = ChainStore::open(&f.path).unwrap();
        let full_pass =
            |store: &ChainStore, size: u64| merkle::root(&store.leaf_hashes(size).unwrap());
        assert_eq!(store.root().unwrap(), (0, merkle::empty_root()));
        // Built on first use, then carried forward by appends of every batch size.
        for (n, chunk) in (1..).zip(all.chunks(3)) {
            store.append_batch(chunk.to_vec()).unwrap();
            let (size, root) = store.root().unwrap();
            assert_eq!(root, full_pass(&store, size), "after {n} batches");
            if size > 2 {
                // An earlier size still gets its own root.
                assert_eq!(
                    store.root_at(size - 2).unwrap(),
                    full_pass(&store, size - 2)
                );
            }
        }
        let (size, root) = store.root().unwrap();
        drop(store);
        let reopened = ChainStore::open(&f.path).unwrap();
        assert_eq!(reopened.root().unwrap(), (size, root));
        // After reopening, the edge is read back from the stored nodes and carried on.
        reopened.append_batch(all[..5].to_vec()).unwrap();
        let (size, root) = reopened.root().unwrap();
        assert_eq!(root, full_pass(&reopened, size));
    }

    #[test]
    fn append_batch_persists_and_reopens() {
        let f = fixture();
        let all = entries(&f);
        {
            let store = ChainStore::open(&f.path).unwrap();
            assert!(store.is_empty().unwrap());
            assert_eq!(store.append_batch(all[..20].to_vec()).unwrap(), 0..20);
            assert_eq!(store.append(all[20].clone()).unwrap(), 20);
            assert_eq!(store.append_batch(all[21..].to_vec()).unwrap(), 21..32);
            assert_eq!(store.append_batch(vec![]).unwrap(), 32..32);
        }
        let store = ChainStore::open(&f.path).unwrap();
        assert_eq!(store.len().unwrap(), 32);
        for (i, v) in all.iter().enumerate() {
            assert_eq!(&store.get(i as u64).unwrap(), v.signed());
        }
        assert!(matches!(
            store.get(32).unwrap_err(),
            Error::OutOfRange {
                index: 32,
                size: 32
            }
        ));
        let verified = store.verify(&f.trust).unwrap();
        assert_eq!(verified.size(), 32);
        assert_eq!(store.root().unwrap(), (32, verified.root()));
    }

    #[test]
    fn root_and_proofs_match_the_merkle_module() {
        let f = fixture();
        let all = entries(&f);
        let store = ChainStore::open(&f.path).unwrap();
        store.append_batch(all.clone()).unwrap();
        let leaves: Vec<Hash> = all
            .iter()
            .map(|v| merkle::leaf_hash(&v.signed().to_bytes().unwrap()))
            .collect();
        for size in [1u64, 7, 16, 32] {
            let root = store.root_at(size).unwrap();
            assert_eq!(root, merkle::root(&leaves[..size as usize]));
            for index in 0..size {
                let p = store.inclusion_proof(index, size).unwrap();
                p.verify(&leaves[index as usize], &root).unwrap();
            }
            let old = size / 2;
            let c = store.consistency_proof(old, size).unwrap();
            merkle::verify_consistency(old, size, &c, &store.root_at(old).unwrap(), &root).unwrap();
        }
        assert!(matches!(
            store.root_at(33).unwrap_err(),
            Error::OutOfRange { index: 33, .. }
        ));
    }

    /// Roots and proofs at every old size come from the stored interior nodes, agree with a
    /// full recomputation over the leaves, and read O(log n) hashes; after reopening too.
    #[test]
    fn proofs_at_any_size_read_log_n_stored_hashes() {
        let f = fixture();
        let template = one_of_each("bj_hf").remove(2);
        let all: Vec<VerifiedEntry> = (0..300)
            .map(|i| {
                let mut e = template.clone();
                e.time_ms = i;
                f.trust.verify(f.bj.sign(e).unwrap()).unwrap()
            })
            .collect();
        {
            let store = ChainStore::open(&f.path).unwrap();
            // Batches of uneven sizes, so subtrees complete across batch boundaries.
            let mut at = 0;
            for n in [1usize, 2, 5, 64, 3, 100, 125] {
                store.append_batch(all[at..at + n].to_vec()).unwrap();
                at += n;
            }
            assert_eq!(at, 300);
        }
        let store = ChainStore::open(&f.path).unwrap();
        let leaves = store.leaf_hashes(300).unwrap();
        let log2 = |n: u64| 64 - n.leading_zeros() as u64;
        for size in (1..=300u64).step_by(7).chain([256, 299, 300]) {
            let tree = &leaves[..size as usize];
            let before = store.node_reads();
            let root = store.root_at(size).unwrap();
            assert!(store.node_reads() - before <= log2(size) + 1);
            assert_eq!(root, merkle::root(tree), "root at {size}");
            for index in (0..size).step_by(11).chain([size - 1]) {
                let before = store.node_reads();
                let p = store.inclusion_proof(index, size).unwrap();
                assert!(store.node_reads() - before <= 2 * log2(size) + 2);
                assert_eq!(p.path, merkle::inclusion_proof(tree, index).unwrap());
                p.verify(&leaves[index as usize], &root).unwrap();
            }
            for old in (0..=size).step_by(13).chain([size / 2]) {
                let before = store.node_reads();
                let c = store.consistency_proof(old, size).unwrap();
                assert!(store.node_reads() - before <= 4 * log2(size) + 4);
                assert_eq!(c, merkle::consistency_proof(tree, old).unwrap());
            }
        }
    }

    #[test]
    fn verify_names_the_entry_whose_interior_node_was_changed() {
        let f = fixture();
        {
            let store = ChainStore::open(&f.path).unwrap();
            store.append_batch(entries(&f)).unwrap();
        }
        {
            // The subtree of leaves 8..12 (level 2, index 2) is completed by entry 11.
            let db = raw_db(&f.path);
            let cf = db.cf_handle(CF_NODES).unwrap();
            db.put_cf(cf, node_key(2, 2).unwrap(), [0u8; 32]).unwrap();
        }
        let store = ChainStore::open(&f.path).unwrap();
        let err = store.verify(&f.trust).unwrap_err();
        assert!(
            matches!(&err, Error::BadEntry { index: 11, source }
                if matches!(**source, Error::Inconsistent(_))),
            "{err}"
        );
    }

    #[test]
    fn indexes_find_entries_by_agency_principal_and_dataset() {
        let f = fixture();
        let store = ChainStore::open(&f.path).unwrap();
        store.append_batch(entries(&f)).unwrap();
        assert_eq!(
            store.by_agency("bj_hf").unwrap(),
            (0..16).collect::<Vec<_>>()
        );
        assert_eq!(
            store.by_agency("sh_hf").unwrap(),
            (16..32).collect::<Vec<_>>()
        );
        // "bj_h" is a prefix of "bj_hf" but must not match it.
        assert!(store.by_agency("bj_h").unwrap().is_empty());
        // Access decisions and requests name the principal; approvals, denials and
        // expiries concern their request's.
        assert_eq!(
            store.by_principal("sh_hf/bob").unwrap(),
            vec![0, 1, 16, 17, 21, 22, 23, 24, 31]
        );
        assert_eq!(
            store.by_dataset("bj_hf.contributions").unwrap(),
            vec![0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 15]
        );
        assert!(store.by_dataset("nope").unwrap().is_empty());
    }

    fn flip_entry_byte(path: &Path, index: u64, at: usize) {
        let db = raw_db(path);
        let cf = db.cf_handle(CF_ENTRIES).unwrap();
        let mut v = db.get_cf(cf, index.to_be_bytes()).unwrap().unwrap();
        let at = at.min(v.len() - 1);
        v[at] ^= 0x01;
        db.put_cf(cf, index.to_be_bytes(), v).unwrap();
    }

    #[test]
    fn verify_names_the_first_entry_with_a_flipped_byte() {
        // A byte in the body (bad signature), in the signature, and in a length prefix
        // (does not parse): each time verify names exactly that entry.
        for at in [30, usize::MAX, 2] {
            let f = fixture();
            {
                let store = ChainStore::open(&f.path).unwrap();
                store.append_batch(entries(&f)).unwrap();
            }
            flip_entry_byte(&f.path, 17, at);
            flip_entry_byte(&f.path, 21, at);
            let store = ChainStore::open(&f.path).unwrap();
            let err = store.verify(&f.trust).unwrap_err();
            assert!(
                matches!(&err, Error::BadEntry { index: 17, source }
                    if matches!(**source, Error::BadSignature { .. } | Error::Malformed { .. })),
                "flip at {at}: {err}"
            );
            assert_eq!(err.fault(), crate::Fault::Data);
        }
    }

    #[test]
    fn verify_names_an_entry_whose_leaf_hash_was_changed() {
        let f = fixture();
        {
            let store = ChainStore::open(&f.path).unwrap();
            store.append_batch(entries(&f)).unwrap();
        }
        {
            let db = raw_db(&f.path);
            let cf = db.cf_handle(CF_LEAVES).unwrap();
            db.put_cf(cf, 5u64.to_be_bytes(), [0u8; 32]).unwrap();
        }
        let store = ChainStore::open(&f.path).unwrap();
        let err = store.verify(&f.trust).unwrap_err();
        assert!(matches!(
            &err,
            Error::BadEntry { index: 5, source } if matches!(**source, Error::Inconsistent(_))
        ));
    }

    #[test]
    fn verify_names_a_deleted_entry_and_an_untrusted_author() {
        let f = fixture();
        {
            let store = ChainStore::open(&f.path).unwrap();
            store.append_batch(entries(&f)).unwrap();
        }
        {
            let db = raw_db(&f.path);
            db.delete_cf(db.cf_handle(CF_ENTRIES).unwrap(), 9u64.to_be_bytes())
                .unwrap();
        }
        let store = ChainStore::open(&f.path).unwrap();
        assert!(matches!(
            store.verify(&f.trust).unwrap_err(),
            Error::BadEntry { index: 9, .. }
        ));
        // Without sh_hf's key, the first sh_hf entry (16) is the first unverifiable one,
        // but entry 9 is still missing first.
        let mut only_bj = TrustBundle::new();
        only_bj.insert("bj_hf", f.bj.verifying_key()).unwrap();
        assert!(matches!(
            store.verify(&only_bj).unwrap_err(),
            Error::BadEntry { index: 9, .. }
        ));
    }

    #[test]
    fn verify_refuses_entries_from_an_agency_outside_the_bundle() {
        let f = fixture();
        let store = ChainStore::open(&f.path).unwrap();
        store.append_batch(entries(&f)).unwrap();
        let mut only_bj = TrustBundle::new();
        only_bj.insert("bj_hf", f.bj.verifying_key()).unwrap();
        let err = store.verify(&only_bj).unwrap_err();
        assert!(matches!(
            &err,
            Error::BadEntry { index: 16, source }
                if matches!(&**source, Error::UnknownAgency { agency } if agency == "sh_hf")
        ));
    }

    #[test]
    fn verify_against_a_cosigned_checkpoint() {
        let f = fixture();
        let store = ChainStore::open(&f.path).unwrap();
        let all = entries(&f);
        store.append_batch(all[..10].to_vec()).unwrap();
        let leader = NoteSigner::from_seed("bj_hf", [1; 32]).unwrap();
        let witness = NoteSigner::from_seed("sh_hf", [2; 32]).unwrap();
        let verifiers = [leader.verifier(), witness.verifier()];
        let (size, root) = store.root().unwrap();
        let mut sc =
            SignedCheckpoint::sign(Checkpoint::new("sluice/test", size, root), &leader).unwrap();
        sc.cosign(&witness);
        let cp = sc.verify(&verifiers, 2).unwrap();
        store.append_batch(all[10..].to_vec()).unwrap();
        store.verify_against(&f.trust, &cp).unwrap();

        // A checkpoint over a different history fails even though every signature is good.
        let other =
            SignedCheckpoint::sign(Checkpoint::new("sluice/test", size, [0; 32]), &leader).unwrap();
        let other = other.verify(&verifiers, 1).unwrap();
        assert!(matches!(
            store.verify_against(&f.trust, &other).unwrap_err(),
            Error::Inconsistent(_)
        ));
    }

    #[test]
    fn missing_column_family_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("partial");
        {
            let mut opts = Options::default();
            opts.create_if_missing(true);
            opts.create_missing_column_families(true);
            DB::open_cf(&opts, &path, [CF_ENTRIES, CF_META]).unwrap();
        }
        let err = ChainStore::open(&path).unwrap_err();
        assert!(matches!(err, Error::MissingColumnFamily(CF_LEAVES)));
        assert_eq!(err.fault(), crate::Fault::Storage);
    }

    #[test]
    fn many_entries_in_one_group_commit() {
        let f = fixture();
        let store = ChainStore::open(&f.path).unwrap();
        let template = one_of_each("bj_hf").remove(2);
        let batch: Vec<VerifiedEntry> = (0..500)
            .map(|i| {
                let mut e = template.clone();
                e.time_ms = i;
                f.trust.verify(f.bj.sign(e).unwrap()).unwrap()
            })
            .collect();
        assert_eq!(store.append_batch(batch).unwrap(), 0..500);
        assert_eq!(store.verify(&f.trust).unwrap().size(), 500);
        assert_eq!(store.by_agency("bj_hf").unwrap().len(), 500);
    }
}
