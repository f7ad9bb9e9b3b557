//! The Raft state machine: verifies every signed entry of a committed request against the
//! trust bundle and appends it to the [`ChainStore`], together with the last applied log id
//! and membership, in one synced write. Snapshots carry the whole chain.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageIOError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::{ChainRequest, ChainResponse, NodeId, StorageError, TypeConfig};
use crate::entry::Digest;
use crate::error::Result;
use crate::sign::{SignedEntry, TrustBundle, VerifiedEntry};
use crate::store::{ChainStore, Durability};

type Entry = openraft::Entry<TypeConfig>;
type Membership = StoredMembership<NodeId, openraft::BasicNode>;
type Meta = SnapshotMeta<NodeId, openraft::BasicNode>;
/// Extra meta keys and values written with a chain commit.
type MetaWrites = Vec<(&'static [u8], Vec<u8>)>;

const KEY_LAST_APPLIED: &[u8] = b"sm_last_applied";
const KEY_MEMBERSHIP: &[u8] = b"sm_membership";
const KEY_SNAPSHOT_META: &[u8] = b"sm_snapshot_meta";
const KEY_SNAPSHOT_DATA: &[u8] = b"sm_snapshot_data";

fn sm_read(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageIOError::read_state_machine(&e).into()
}

fn sm_write(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageIOError::write_state_machine(&e).into()
}

/// What a snapshot holds: the applied state and every chain entry in wire form.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotBody {
    last_applied: Option<LogId<NodeId>>,
    membership: Membership,
    entries: Vec<Vec<u8>>,
}

/// Most entries [`SignedHere`] remembers; past it, entries are checked as usual.
const SIGNED_HERE_MAX: usize = 16_384;

/// Entries this node signed itself through [`TrustBundle::sign_trusted`], by the SHA-256 of
/// their wire form. When one comes back through Raft, applying it skips the signature check
/// this node already vouched for; every other replica still checks it. Signature checks
/// are most of a replica's work per entry.
#[derive(Default)]
pub struct SignedHere {
    entries: Mutex<HashMap<Digest, VerifiedEntry>>,
}

impl std::fmt::Debug for SignedHere {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.entries.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("SignedHere").field("held", &held).finish()
    }
}

impl SignedHere {
    /// Remembers a vouched entry whose wire form is `wire`. Entries that are never applied
    /// here (the append failed) stay until the bound is reached, then nothing more is kept.
    pub fn remember(&self, wire: &[u8], entry: VerifiedEntry) {
        if let Ok(mut map) = self.entries.lock()
            && map.len() < SIGNED_HERE_MAX
        {
            map.insert(wire_digest(wire), entry);
        }
    }

    /// Takes back the entry whose wire form is exactly `wire`, if this node signed it.
    fn take(&self, wire: &[u8]) -> Option<VerifiedEntry> {
        let mut map = self.entries.lock().ok()?;
        if map.is_empty() {
            return None;
        }
        map.remove(&wire_digest(wire))
    }
}

fn wire_digest(wire: &[u8]) -> Digest {
    use sha2::Digest as _;
    sha2::Sha256::digest(wire).into()
}

/// The chain as a Raft state machine. Cloning shares the store.
#[derive(Debug, Clone)]
pub struct ChainStateMachine {
    store: Arc<ChainStore>,
    trust: Arc<TrustBundle>,
    signed_here: Arc<SignedHere>,
}

impl ChainStateMachine {
    /// A state machine applying to `store`, checking signatures with `trust`.
    pub fn new(store: Arc<ChainStore>, trust: TrustBundle) -> Self {
        Self {
            store,
            trust: Arc::new(trust),
            signed_here: Arc::default(),
        }
    }

    /// The chain store.
    pub fn store(&self) -> &Arc<ChainStore> {
        &self.store
    }

    /// Where this node's own appends are remembered, so applying them skips the check.
    pub fn signed_here(&self) -> Arc<SignedHere> {
        Arc::clone(&self.signed_here)
    }

    fn meta_json<T: for<'de> Deserialize<'de>>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        match self.store.get_meta(key).map_err(sm_read)? {
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(sm_read),
            None => Ok(None),
        }
    }

    fn applied(&self) -> Result<(Option<LogId<NodeId>>, Membership), StorageError> {
        let last = self
            .meta_json::<Option<LogId<NodeId>>>(KEY_LAST_APPLIED)?
            .flatten();
        let membership = self.meta_json(KEY_MEMBERSHIP)?.unwrap_or_default();
        Ok((last, membership))
    }

    /// Verifies every entry of a request; the first bad one refuses it. The checks run
    /// inline: handing chunks to the blocking pool was measured slower (smaller Raft
    /// batches, more thread switches) on the two-core benchmark machine.
    fn verify_request(&self, req: &ChainRequest) -> Result<Vec<VerifiedEntry>, (u64, String)> {
        let mut out = Vec::with_capacity(req.entries.len());
        for (pos, bytes) in (0u64..).zip(&req.entries) {
            let verified = match self.signed_here.take(bytes) {
                Some(v) => v,
                None => SignedEntry::from_bytes(bytes)
                    .and_then(|s| self.trust.verify(s))
                    .map_err(|e| (pos, e.to_string()))?,
            };
            out.push(verified);
        }
        Ok(out)
    }

    fn applied_meta(
        last: &Option<LogId<NodeId>>,
        membership: &Membership,
    ) -> Result<MetaWrites, StorageError> {
        Ok(vec![
            (
                KEY_LAST_APPLIED,
                serde_json::to_vec(last).map_err(sm_write)?,
            ),
            (
                KEY_MEMBERSHIP,
                serde_json::to_vec(membership).map_err(sm_write)?,
            ),
        ])
    }
}

impl RaftSnapshotBuilder<TypeConfig> for ChainStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (last_applied, membership) = self.applied()?;
        let size = self.store.len().map_err(sm_read)?;
        let mut entries = Vec::new();
        for i in 0..size {
            entries.push(self.store.get_bytes(i).map_err(sm_read)?);
        }
        let snapshot_id = match &last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, size),
            None => format!("none-{size}"),
        };
        let meta = Meta {
            last_log_id: last_applied,
            last_membership: membership.clone(),
            snapshot_id,
        };
        let body = SnapshotBody {
            last_applied,
            membership,
            entries,
        };
        let data = serde_json::to_vec(&body).map_err(sm_write)?;
        let meta_bytes = serde_json::to_vec(&meta).map_err(sm_write)?;
        self.store
            .put_meta(&[
                (KEY_SNAPSHOT_META, meta_bytes),
                (KEY_SNAPSHOT_DATA, data.clone()),
            ])
            .map_err(sm_write)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for ChainStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId<NodeId>>, Membership), StorageError> {
        self.applied()
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ChainResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let (mut last, mut membership) = self.applied()?;
        let mut next = self.store.len().map_err(sm_read)?;
        let mut pending = Vec::new();
        let mut responses = Vec::new();
        for e in entries {
            last = Some(e.log_id);
            let resp = match e.payload {
                EntryPayload::Blank => ChainResponse::Nothing,
                EntryPayload::Membership(m) => {
                    membership = StoredMembership::new(Some(e.log_id), m);
                    ChainResponse::Nothing
                }
                EntryPayload::Normal(req) => match self.verify_request(&req) {
                    Ok(verified) => {
                        let count = verified.len() as u64;
                        let first = next;
                        next += count;
                        pending.extend(verified);
                        ChainResponse::Appended { first, count }
                    }
                    Err((position, reason)) => ChainResponse::Refused { position, reason },
                },
            };
            responses.push(resp);
        }
        let meta = Self::applied_meta(&last, &membership)?;
        // Durability: the entries, their leaves and indexes, and the new last-applied id and
        // membership are one atomic write, so a crash never applies a request twice. It is
        // not synced: the entries are already on disk in a majority's Raft logs, and a
        // machine crash that loses this write leaves an earlier last-applied id, from which
        // openraft applies the same entries again.
        self.store
            .commit(pending, &meta, Durability::LogBacked)
            .map_err(sm_write)?;
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let body: SnapshotBody = serde_json::from_slice(&data).map_err(sm_read)?;
        let mut verified = Vec::with_capacity(body.entries.len());
        for (i, bytes) in (0u64..).zip(&body.entries) {
            let v = SignedEntry::from_bytes(bytes)
                .and_then(|s| self.trust.verify(s))
                .map_err(|e| sm_read(e.at_entry(i)))?;
            verified.push(v);
        }
        let mut extra = Self::applied_meta(&meta.last_log_id, &meta.last_membership)?;
        extra.push((
            KEY_SNAPSHOT_META,
            serde_json::to_vec(meta).map_err(sm_write)?,
        ));
        extra.push((KEY_SNAPSHOT_DATA, data));
        // Durability: the old chain is replaced by the snapshot's in one synced write.
        self.store.replace_all(verified, &extra).map_err(sm_write)?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(meta) = self.meta_json::<Meta>(KEY_SNAPSHOT_META)? else {
            return Ok(None);
        };
        let data = self
            .store
            .get_meta(KEY_SNAPSHOT_DATA)
            .map_err(sm_read)?
            .unwrap_or_default();
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
