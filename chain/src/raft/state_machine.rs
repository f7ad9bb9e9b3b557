//! The Raft state machine: verifies every signed entry of a committed request against the
//! trust bundle (one ZIP-215 batch per request) and appends it to the [`ChainStore`],
//! together with the last applied log id and membership, in one atomic write.
//!
//! A snapshot is the chain store itself: building one records only its size and the
//! latest cosigned checkpoint; sending one reads those entries back. Installing one checks
//! every new signature, that the snapshot extends this node's chain, and that its tree has
//! the root of a checkpoint cosigned by a quorum of voters, before anything is written.

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
use crate::checkpoint::{NoteVerifier, SignedCheckpoint};
use crate::entry::Digest;
use crate::error::{Error, Result};
use crate::merkle;
use crate::sign::{SignedEntry, TrustBundle, VerifiedEntry};
use crate::store::{ChainStore, Durability, KEY_CHECKPOINT};

type Entry = openraft::Entry<TypeConfig>;
type Membership = StoredMembership<NodeId, openraft::BasicNode>;
type Meta = SnapshotMeta<NodeId, openraft::BasicNode>;
/// Extra meta keys and values written with a chain commit.
type MetaWrites = Vec<(&'static [u8], Vec<u8>)>;

const KEY_LAST_APPLIED: &[u8] = b"sm_last_applied";
const KEY_MEMBERSHIP: &[u8] = b"sm_membership";
const KEY_SNAPSHOT: &[u8] = b"sm_snapshot";
/// Entries verified in one batch while installing a snapshot.
const INSTALL_BATCH: usize = 4096;

fn sm_read(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageIOError::read_state_machine(&e).into()
}

fn sm_write(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageIOError::write_state_machine(&e).into()
}

/// What a snapshot holds when sent: the applied state, every chain entry up to its size in
/// wire form, and the latest cosigned checkpoint at or below that size.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotBody {
    last_applied: Option<LogId<NodeId>>,
    membership: Membership,
    entries: Vec<Vec<u8>>,
    checkpoint: Option<String>,
}

/// What building a snapshot records: the chain is append-only, so its first `size`
/// entries are the snapshot's entries for as long as the chain lives.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotRecord {
    meta: Meta,
    size: u64,
    checkpoint: Option<String>,
}

/// The voters' checkpoint keys and quorum, against which an installed snapshot's root is
/// checked.
#[derive(Debug, Clone, Default)]
struct CheckpointRule {
    voters: Vec<NoteVerifier>,
    quorum: usize,
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
    checkpoints: Arc<CheckpointRule>,
}

impl ChainStateMachine {
    /// A state machine applying to `store`, checking signatures with `trust`.
    pub fn new(store: Arc<ChainStore>, trust: TrustBundle) -> Self {
        Self {
            store,
            trust: Arc::new(trust),
            signed_here: Arc::default(),
            checkpoints: Arc::default(),
        }
    }

    /// Requires installed snapshots to match a checkpoint signed by `quorum` of `voters`.
    /// Without it, a snapshot carrying entries is refused.
    pub fn with_checkpoint_rule(mut self, voters: Vec<NoteVerifier>, quorum: usize) -> Self {
        self.checkpoints = Arc::new(CheckpointRule { voters, quorum });
        self
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

    /// Verifies every entry of a request (one Raft batch); the first bad one refuses it.
    /// Entries this node signed itself are taken as they are; the rest are checked with
    /// one ZIP-215 batch verification, which falls back to single checks only to name a
    /// bad entry. The checks run inline: handing chunks to the blocking pool was measured
    /// slower (smaller Raft batches, more thread switches) on the two-core machine.
    fn verify_request(&self, req: &ChainRequest) -> Result<Vec<VerifiedEntry>, (u64, String)> {
        let mut out: Vec<Option<VerifiedEntry>> = Vec::with_capacity(req.entries.len());
        let mut to_check = Vec::new();
        let mut positions = Vec::new();
        let mut malformed = None;
        for (pos, bytes) in req.entries.iter().enumerate() {
            if let Some(v) = self.signed_here.take(bytes) {
                out.push(Some(v));
                continue;
            }
            match SignedEntry::from_bytes(bytes) {
                Ok(s) => {
                    to_check.push(s);
                    positions.push(pos);
                    out.push(None);
                }
                Err(e) => {
                    // Nothing after a malformed entry can be refused earlier than it.
                    malformed = Some((pos as u64, e.to_string()));
                    break;
                }
            }
        }
        let checked = self.trust.verify_batch(to_check).map_err(|(i, e)| {
            let pos = positions.get(i).copied().unwrap_or(i) as u64;
            (pos, e.to_string())
        })?;
        if let Some(m) = malformed {
            return Err(m);
        }
        let mut checked = checked.into_iter();
        out.into_iter()
            .map(|slot| match slot.or_else(|| checked.next()) {
                Some(v) => Ok(v),
                None => Err((0, "internal: a checked entry went missing".to_string())),
            })
            .collect()
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

impl ChainStateMachine {
    /// The snapshot's entries and checkpoint, read back from the store.
    fn snapshot_data(&self, record: &SnapshotRecord) -> Result<Vec<u8>, StorageError> {
        let mut entries = Vec::with_capacity(usize::try_from(record.size).unwrap_or(0));
        for item in self.store.scan(0).map_err(sm_read)? {
            let (index, bytes) = item.map_err(sm_read)?;
            if index >= record.size {
                break;
            }
            entries.push(bytes);
        }
        if entries.len() as u64 != record.size {
            return Err(sm_read(Error::Inconsistent(format!(
                "snapshot of {} entries, the store has {}",
                record.size,
                entries.len()
            ))));
        }
        let body = SnapshotBody {
            last_applied: record.meta.last_log_id,
            membership: record.meta.last_membership.clone(),
            entries,
            checkpoint: record.checkpoint.clone(),
        };
        super::encode(&body).map_err(sm_write)
    }

    /// Checks a received snapshot against this node's chain, the trust bundle and the
    /// checkpoint rule; returns the entries to append after this node's own.
    fn check_snapshot(&self, body: &SnapshotBody) -> Result<Vec<VerifiedEntry>> {
        let ours = self.store.len()?;
        let theirs = body.entries.len() as u64;
        let leaves: Vec<merkle::Hash> = body.entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        // What this node has applied is settled: a snapshot must extend it, never rewrite it.
        if theirs < ours {
            return Err(Error::Inconsistent(format!(
                "a snapshot of {theirs} entries would shorten this chain of {ours}"
            )));
        }
        let prefix = leaves
            .get(..usize::try_from(ours).map_err(|_| Error::Internal("size past usize"))?)
            .ok_or(Error::Internal("snapshot prefix past its end"))?;
        if merkle::root(prefix) != self.store.root_at(ours)? {
            return Err(Error::Inconsistent(format!(
                "the snapshot's first {ours} entries differ from this node's chain"
            )));
        }
        if theirs > 0 {
            let note = body.checkpoint.as_deref().ok_or_else(|| {
                Error::Inconsistent("the snapshot carries no cosigned checkpoint".into())
            })?;
            let rule = &self.checkpoints;
            if rule.voters.is_empty() {
                return Err(Error::InvalidArgument(
                    "this state machine has no voter keys to check a snapshot with".into(),
                ));
            }
            let verified = SignedCheckpoint::parse(note)?.verify(&rule.voters, rule.quorum)?;
            let cp = verified.checkpoint();
            let covered = leaves
                .get(..usize::try_from(cp.size).map_err(|_| Error::Internal("size past usize"))?)
                .ok_or_else(|| {
                    Error::Inconsistent(format!(
                        "the checkpoint covers {} entries, the snapshot holds {theirs}",
                        cp.size
                    ))
                })?;
            if merkle::root(covered) != cp.root {
                return Err(Error::Inconsistent(format!(
                    "the snapshot's tree at size {} differs from the cosigned checkpoint",
                    cp.size
                )));
            }
        }
        // Entries this node holds were checked when applied; every new one is checked now,
        // in batches, and a bad one is named by its chain index.
        let mut out = Vec::with_capacity(body.entries.len().saturating_sub(ours as usize));
        let mut index = ours;
        for chunk in body.entries[ours as usize..].chunks(INSTALL_BATCH) {
            let mut parsed = Vec::with_capacity(chunk.len());
            for (i, bytes) in (index..).zip(chunk) {
                parsed.push(SignedEntry::from_bytes(bytes).map_err(|e| e.at_entry(i))?);
            }
            let verified = self
                .trust
                .verify_batch(parsed)
                .map_err(|(pos, e)| e.at_entry(index + pos as u64))?;
            index += verified.len() as u64;
            out.extend(verified);
        }
        Ok(out)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for ChainStateMachine {
    /// Records the snapshot; its data is read back from the store when it is sent
    /// ([`RaftStateMachine::get_current_snapshot`]), since openraft keeps only the meta of
    /// a snapshot it has just built. The returned data is therefore empty.
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        // Openraft builds snapshots beside `apply`: the size and the applied state must come
        // from the same commit.
        let (size, values) = self
            .store
            .meta_at_tip(&[KEY_LAST_APPLIED, KEY_MEMBERSHIP, KEY_CHECKPOINT])
            .map_err(sm_read)?;
        let json = |v: &Option<Vec<u8>>| -> Result<Option<serde_json::Value>, StorageError> {
            v.as_deref()
                .map(serde_json::from_slice)
                .transpose()
                .map_err(sm_read)
        };
        let last_applied: Option<LogId<NodeId>> = match json(&values[0])? {
            Some(v) => serde_json::from_value(v).map_err(sm_read)?,
            None => None,
        };
        let membership: Membership = match json(&values[1])? {
            Some(v) => serde_json::from_value(v).map_err(sm_read)?,
            None => Membership::default(),
        };
        // The checkpoint this node kept matches its chain and is never past its size.
        let checkpoint = match &values[2] {
            Some(b) => Some(String::from_utf8(b.clone()).map_err(sm_read)?),
            None => None,
        };
        let snapshot_id = match &last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, size),
            None => format!("none-{size}"),
        };
        let meta = Meta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        let record = SnapshotRecord {
            meta: meta.clone(),
            size,
            checkpoint,
        };
        let bytes = serde_json::to_vec(&record).map_err(sm_write)?;
        self.store
            .put_meta(&[(KEY_SNAPSHOT, bytes)])
            .map_err(sm_write)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(Vec::new())),
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
        let body: SnapshotBody = super::decode(&data).map_err(sm_read)?;
        let fresh = self.check_snapshot(&body).map_err(sm_read)?;
        let mut extra = Self::applied_meta(&meta.last_log_id, &meta.last_membership)?;
        let record = SnapshotRecord {
            meta: meta.clone(),
            size: body.entries.len() as u64,
            checkpoint: body.checkpoint.clone(),
        };
        extra.push((KEY_SNAPSHOT, serde_json::to_vec(&record).map_err(sm_write)?));
        // Keep whichever checkpoint is larger: this node's own, or the snapshot's.
        let kept = self
            .store
            .latest_checkpoint()
            .map_err(sm_read)?
            .map_or(0, |c| c.checkpoint().size);
        if let Some(note) = body.checkpoint
            && SignedCheckpoint::parse(&note)
                .map_err(sm_read)?
                .checkpoint()
                .size
                > kept
        {
            extra.push((KEY_CHECKPOINT, note.into_bytes()));
        }
        // Durability: the new entries, the applied state and the snapshot record are one
        // synced write; a crash leaves the chain as it was or with the whole snapshot.
        self.store
            .commit(fresh, &extra, Durability::Synced)
            .map_err(sm_write)?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(record) = self.meta_json::<SnapshotRecord>(KEY_SNAPSHOT)? else {
            return Ok(None);
        };
        let data = self.snapshot_data(&record)?;
        Ok(Some(Snapshot {
            meta: record.meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
