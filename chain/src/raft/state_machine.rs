//! The Raft state machine: verifies every signed entry of a committed request against the
//! trust bundle (one ZIP-215 batch per request), applies membership entries to the chain's
//! [`Roster`], and appends the entries to the [`ChainStore`], together with the last
//! applied log id, the Raft membership and the roster, in one atomic write.
//!
//! A snapshot is the chain store itself: building one records only its size; sending one
//! reads those entries back, with the latest cosigned checkpoint (and, when that covers
//! more than the snapshot, a consistency proof from the snapshot's tree to it). Installing
//! one checks every new signature, that the snapshot extends this node's chain, and that
//! its tree agrees with a checkpoint cosigned by a quorum of voters, before anything is
//! written. A chain younger than its first checkpoint is installed on its signatures
//! alone; the next checkpoint this node receives is checked against it.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex, RwLock};

use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageIOError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::{ChainRequest, ChainResponse, NodeId, StorageError, TypeConfig};
use crate::checkpoint::{NoteVerifier, SignedCheckpoint};
use crate::directory::Directory;
use crate::entry::{Body, Digest};
use crate::error::{Error, Result};
use crate::membership::Roster;
use crate::merkle;
use crate::sign::{SignedEntry, TrustBundle, VerifiedEntry};
use crate::store::{ChainStore, Durability, KEY_CHECKPOINT};

type Entry = openraft::Entry<TypeConfig>;
type Membership = StoredMembership<NodeId, openraft::BasicNode>;
type Meta = SnapshotMeta<NodeId, openraft::BasicNode>;
/// Extra meta keys and values written with a chain commit.
type MetaWrites = Vec<(&'static [u8], Vec<u8>)>;
/// A request's fate: `Ok`, or refused at a position in the request, with the reason.
type Verdict<T> = Result<T, (u64, String)>;

const KEY_LAST_APPLIED: &[u8] = b"sm_last_applied";
const KEY_MEMBERSHIP: &[u8] = b"sm_membership";
const KEY_SNAPSHOT: &[u8] = b"sm_snapshot";
const KEY_ROSTER: &[u8] = b"sm_roster";
/// Entries verified in one batch while installing a snapshot.
const INSTALL_BATCH: usize = 4096;

fn sm_read(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageIOError::read_state_machine(&e).into()
}

fn sm_write(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageIOError::write_state_machine(&e).into()
}

/// What a snapshot holds when sent: the applied state, every chain entry up to its size in
/// wire form, the sender's latest cosigned checkpoint, and, if that checkpoint is larger
/// than the snapshot, the consistency proof from the snapshot's tree to the checkpoint's.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotBody {
    last_applied: Option<LogId<NodeId>>,
    membership: Membership,
    entries: Vec<Vec<u8>>,
    checkpoint: Option<String>,
    consistency: Vec<merkle::Hash>,
}

/// What building a snapshot records: the chain is append-only, so its first `size`
/// entries are the snapshot's entries for as long as the chain lives.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotRecord {
    meta: Meta,
    size: u64,
}

/// What checking a snapshot found: the entries to append, the roster they leave, and
/// the checkpoint to keep, if it covers no more than the snapshot.
struct CheckedSnapshot {
    fresh: Vec<VerifiedEntry>,
    live: LiveRoster,
    keep: Option<String>,
}

/// The checkpoint keys and quorum against which an installed snapshot's root is checked.
/// A state machine with a roster takes the roster's voters, at a quorum of at least a
/// majority of them; the fixed keys serve one without members (tests, benchmarks).
#[derive(Debug, Clone, Default)]
struct CheckpointRule {
    voters: Vec<NoteVerifier>,
    quorum: usize,
}

impl CheckpointRule {
    fn for_roster(&self, roster: &Roster) -> Result<(Vec<NoteVerifier>, usize)> {
        if roster.members().is_empty() {
            return Ok((self.voters.clone(), self.quorum));
        }
        Ok((roster.voter_keys()?, roster.checkpoint_quorum(self.quorum)))
    }
}

/// The roster and the trust bundle derived from it, which change together.
#[derive(Debug, Clone)]
pub struct LiveRoster {
    roster: Roster,
    trust: TrustBundle,
}

impl LiveRoster {
    fn new(roster: Roster) -> Result<Self> {
        let trust = roster.trust()?;
        Ok(LiveRoster { roster, trust })
    }

    /// The chain's members, as its entries made them.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The keys whose entries the chain accepts now.
    pub fn trust(&self) -> &TrustBundle {
        &self.trust
    }

    /// Applies the membership entry `entry`, if it is one; refreshes the trust bundle when
    /// a change takes effect.
    fn apply(&mut self, entry: &VerifiedEntry) -> std::result::Result<(), String> {
        let e = entry.signed().entry();
        let Body::Membership(change) = &e.body else {
            return Ok(());
        };
        let outcome = self
            .roster
            .apply(&e.author, change)
            .map_err(|r| r.to_string())?;
        if outcome == crate::membership::Outcome::Effective {
            self.trust = self.roster.trust().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// The live roster a node and its state machine share.
pub type SharedRoster = Arc<RwLock<LiveRoster>>;

/// Most entries [`SignedHere`] remembers; past it, entries are checked as usual.
const SIGNED_HERE_MAX: usize = 16_384;

/// Entries this node signed itself through [`TrustBundle::sign_trusted`], by the SHA-256 of
/// their wire form, with the key they were vouched under. When one comes back through
/// Raft, applying it skips the signature check this node already vouched for, if the chain
/// still trusts its author under that key; every other replica checks it as usual.
/// Signature checks are most of a replica's work per entry.
#[derive(Default)]
pub struct SignedHere {
    entries: Mutex<HashMap<Digest, (VerifiedEntry, [u8; 32])>>,
}

impl std::fmt::Debug for SignedHere {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.entries.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("SignedHere").field("held", &held).finish()
    }
}

impl SignedHere {
    /// Remembers an entry whose wire form is `wire`, vouched under `key`. Entries that
    /// are never applied here (the append failed) stay until the bound is reached, then
    /// nothing more is kept.
    pub fn remember(&self, wire: &[u8], entry: VerifiedEntry, key: &crate::zip215::PublicKey) {
        if let Ok(mut map) = self.entries.lock()
            && map.len() < SIGNED_HERE_MAX
        {
            map.insert(wire_digest(wire), (entry, key.to_bytes()));
        }
    }

    /// Takes back the entry whose wire form is exactly `wire`, if this node signed it
    /// under the key `trust` holds for its author.
    fn take(&self, wire: &[u8], trust: &TrustBundle) -> Option<VerifiedEntry> {
        let mut map = self.entries.lock().ok()?;
        if map.is_empty() {
            return None;
        }
        let (entry, key) = map.remove(&wire_digest(wire))?;
        let trusted = trust.get(&entry.signed().entry().author);
        trusted
            .is_some_and(|k| k.to_bytes() == key)
            .then_some(entry)
    }
}

fn wire_digest(wire: &[u8]) -> Digest {
    use sha2::Digest as _;
    sha2::Sha256::digest(wire).into()
}

/// The chain as a Raft state machine. Cloning shares the store and the membership.
#[derive(Debug, Clone)]
pub struct ChainStateMachine {
    store: Arc<ChainStore>,
    roster: SharedRoster,
    signed_here: Arc<SignedHere>,
    checkpoints: Arc<CheckpointRule>,
}

impl ChainStateMachine {
    /// A state machine applying to `store`, checking signatures with `trust`. It has no
    /// members, so it refuses every membership entry; see [`Self::with_roster`].
    pub fn new(store: Arc<ChainStore>, trust: TrustBundle) -> Self {
        Self {
            store,
            roster: Arc::new(RwLock::new(LiveRoster {
                roster: Roster::default(),
                trust,
            })),
            signed_here: Arc::default(),
            checkpoints: Arc::default(),
        }
    }

    /// Starts the chain's roster at `bootstrap`, unless the store already holds the roster
    /// its entries made, which then wins: after bootstrap the chain is the authority.
    pub fn with_roster(self, bootstrap: Roster) -> Result<Self> {
        let stored = self
            .store
            .get_meta(KEY_ROSTER)?
            .map(|b| serde_json::from_slice::<Roster>(&b))
            .transpose()
            .map_err(|e| Error::Inconsistent(format!("the stored roster: {e}")))?;
        let live = LiveRoster::new(stored.unwrap_or(bootstrap))?;
        *self
            .roster
            .write()
            .map_err(|_| Error::Internal("roster lock poisoned"))? = live;
        Ok(self)
    }

    /// The roster this state machine keeps up to date, shared with whoever holds it.
    pub fn roster(&self) -> SharedRoster {
        Arc::clone(&self.roster)
    }

    fn current(&self) -> Result<LiveRoster, StorageError> {
        self.roster
            .read()
            .map(|m| m.clone())
            .map_err(|_| sm_read(Error::Internal("roster lock poisoned")))
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
    ///
    /// Membership entries are applied to `live` in order; entries after one that took
    /// effect are checked against the trust it left. The directory's rules are applied
    /// to `dir` (see [`Self::check_directory`]), the request's first entry taking chain
    /// index `first`. Says whether `live` changed; on a refusal `live` and `dir` are as
    /// they were.
    fn verify_request(
        &self,
        req: &ChainRequest,
        live: &mut LiveRoster,
        dir: &mut Directory,
        first: u64,
    ) -> Result<Verdict<(Vec<VerifiedEntry>, bool)>, StorageError> {
        let verified = match self.verify_signatures(req, live) {
            Ok(v) => v,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let (out, scratch) = verified;
        if let Err(refusal) = self.check_directory(dir, &out, first)? {
            return Ok(Err(refusal));
        }
        let changed = scratch.is_some();
        if let Some(m) = scratch {
            *live = m;
        }
        Ok(Ok((out, changed)))
    }

    /// Applies the directory's rules to `entries`, the first at chain index `first`: a
    /// catalog entry about another agency's dataset, or an access decision by anyone but
    /// the dataset's owner, refuses the request on every replica alike.
    fn check_directory(
        &self,
        dir: &mut Directory,
        entries: &[VerifiedEntry],
        first: u64,
    ) -> Result<Verdict<()>, StorageError> {
        if !entries
            .iter()
            .any(|e| crate::directory::is_directory_kind(e.signed().entry().kind()))
        {
            return Ok(Ok(()));
        }
        let mut trial = dir.clone();
        for (pos, (index, e)) in (first..).zip(entries).enumerate() {
            let applied = trial
                .apply(self.store.as_ref(), e.signed().entry(), index)
                .map_err(sm_read)?;
            if let Err(refusal) = applied {
                return Ok(Err((pos as u64, refusal.to_string())));
            }
        }
        *dir = trial;
        Ok(Ok(()))
    }

    /// Verifies every entry's signature, applying membership entries to a copy of `live`
    /// (returned if any).
    fn verify_signatures(
        &self,
        req: &ChainRequest,
        live: &LiveRoster,
    ) -> Verdict<(Vec<VerifiedEntry>, Option<LiveRoster>)> {
        let mut out = Vec::with_capacity(req.entries.len());
        let mut scratch: Option<LiveRoster> = None;
        let mut start = 0;
        while start < req.entries.len() {
            let trust = &scratch.as_ref().unwrap_or(live).trust;
            let (verified, ends_at_membership) =
                self.verify_run(&req.entries[start..], start, trust)?;
            start += verified.len();
            if ends_at_membership {
                let m = scratch.get_or_insert_with(|| live.clone());
                if let Some(last) = verified.last() {
                    m.apply(last).map_err(|reason| (start as u64 - 1, reason))?;
                }
            }
            out.extend(verified);
        }
        Ok((out, scratch))
    }

    /// Verifies `entries` (at `offset` in their request) up to and including the first
    /// membership entry; says whether it stopped at one.
    fn verify_run(
        &self,
        entries: &[Vec<u8>],
        offset: usize,
        trust: &TrustBundle,
    ) -> Result<(Vec<VerifiedEntry>, bool), (u64, String)> {
        let mut out: Vec<Option<VerifiedEntry>> = Vec::with_capacity(entries.len());
        let mut to_check = Vec::new();
        let mut positions = Vec::new();
        let mut malformed = None;
        let mut at_membership = false;
        for (pos, bytes) in (offset..).zip(entries) {
            let is_membership = |e: &SignedEntry| matches!(e.entry().body, Body::Membership(_));
            if let Some(v) = self.signed_here.take(bytes, trust) {
                at_membership = is_membership(v.signed());
                out.push(Some(v));
            } else {
                match SignedEntry::from_bytes(bytes) {
                    Ok(s) => {
                        at_membership = is_membership(&s);
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
            if at_membership {
                break;
            }
        }
        let checked = trust.verify_batch(to_check).map_err(|(i, e)| {
            let pos = positions.get(i).copied().unwrap_or(offset + i) as u64;
            (pos, e.to_string())
        })?;
        if let Some(m) = malformed {
            return Err(m);
        }
        let mut checked = checked.into_iter();
        let out = out
            .into_iter()
            .map(|slot| match slot.or_else(|| checked.next()) {
                Some(v) => Ok(v),
                None => Err((0, "internal: a checked entry went missing".to_string())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((out, at_membership))
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
        // The latest checkpoint, even one larger than the snapshot: a snapshot built before
        // the first checkpoint of a young chain is then still checked against one.
        let latest = self.store.latest_checkpoint().map_err(sm_read)?;
        let (checkpoint, consistency) = match latest {
            Some(cp) if record.size > 0 => {
                let size = cp.checkpoint().size;
                let proof = if size > record.size {
                    self.store
                        .consistency_proof(record.size, size)
                        .map_err(sm_read)?
                } else {
                    Vec::new()
                };
                (Some(cp.to_note()), proof)
            }
            _ => (None, Vec::new()),
        };
        let body = SnapshotBody {
            last_applied: record.meta.last_log_id,
            membership: record.meta.last_membership.clone(),
            entries,
            checkpoint,
            consistency,
        };
        super::encode(&body).map_err(sm_write)
    }

    /// Commits entries and applied state to the store, and publishes the roster they
    /// leave (if it changed) under the roster's lock held across the write: whoever sees
    /// the new entries (the store's length) and then reads the roster sees it updated.
    fn commit(
        &self,
        entries: Vec<VerifiedEntry>,
        meta: &[(&[u8], Vec<u8>)],
        durability: Durability,
        live: Option<LiveRoster>,
    ) -> Result<(), StorageError> {
        let Some(live) = live else {
            return self
                .store
                .commit(entries, meta, durability)
                .map(|_| ())
                .map_err(sm_write);
        };
        let mut roster = self
            .roster
            .write()
            .map_err(|_| sm_write(Error::Internal("roster lock poisoned")))?;
        self.store
            .commit(entries, meta, durability)
            .map_err(sm_write)?;
        *roster = live;
        Ok(())
    }

    /// Checks a received snapshot against this node's chain, the roster and the checkpoint
    /// rule.
    fn check_snapshot(&self, body: &SnapshotBody) -> Result<CheckedSnapshot> {
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
        let mut live = self
            .roster
            .read()
            .map_err(|_| Error::Internal("roster lock poisoned"))?
            .clone();
        let checkpoint = match body.checkpoint.as_deref() {
            Some(note) if theirs > 0 => Some(SignedCheckpoint::parse(note)?),
            _ => None,
        };
        let cp_size = checkpoint.as_ref().map(|c| c.checkpoint().size);
        // A checkpoint inside the snapshot is checked against the voters as they were at
        // its size: this node's when it is no larger than this node's chain, else those
        // the snapshot's own entries make on the way. One past the snapshot is checked
        // against the voters the whole snapshot leaves.
        let mut voters_at_checkpoint = None;
        if cp_size.is_some_and(|size| size <= ours) {
            voters_at_checkpoint = Some(self.checkpoints.for_roster(&live.roster)?);
        }
        // Entries this node holds were checked when applied; every new one is checked now,
        // in runs that end at each membership entry (which may change the keys), and a bad
        // one is named by its chain index.
        let mut fresh = Vec::with_capacity(body.entries.len().saturating_sub(ours as usize));
        let mut index = ours;
        let new = &body.entries[ours as usize..];
        let mut at = 0;
        while at < new.len() {
            if cp_size == Some(index) {
                voters_at_checkpoint = Some(self.checkpoints.for_roster(&live.roster)?);
            }
            let end = (at + INSTALL_BATCH).min(new.len());
            let mut parsed = Vec::with_capacity(end - at);
            for (i, bytes) in (index..).zip(&new[at..end]) {
                let signed = SignedEntry::from_bytes(bytes).map_err(|e| e.at_entry(i))?;
                let membership = matches!(signed.entry().body, Body::Membership(_));
                parsed.push(signed);
                // The checkpoint's roster is the one in force once its entries are applied.
                if membership || cp_size == Some(i + 1) {
                    break;
                }
            }
            let verified = live
                .trust
                .verify_batch(parsed)
                .map_err(|(pos, e)| e.at_entry(index + pos as u64))?;
            if let Some(last) = verified.last() {
                let last_index = index + verified.len() as u64 - 1;
                live.apply(last).map_err(|reason| {
                    Error::Inconsistent(format!(
                        "the snapshot's membership entry {last_index} is refused: {reason}"
                    ))
                })?;
            }
            index += verified.len() as u64;
            at += verified.len();
            fresh.extend(verified);
        }
        if cp_size.is_some_and(|size| size >= theirs) && voters_at_checkpoint.is_none() {
            voters_at_checkpoint = Some(self.checkpoints.for_roster(&live.roster)?);
        }
        let Some(cp) = checkpoint else {
            if theirs > ours {
                tracing::warn!(
                    entries = theirs,
                    "installing a snapshot that no cosigned checkpoint covers yet (the chain is younger than its first checkpoint); the next checkpoint is checked against it"
                );
            }
            return Ok(CheckedSnapshot {
                fresh,
                live,
                keep: None,
            });
        };
        let (voters, quorum) =
            voters_at_checkpoint.ok_or(Error::Internal("no voters for the checkpoint"))?;
        if voters.is_empty() {
            return Err(Error::InvalidArgument(
                "this state machine has no voter keys to check a snapshot with".into(),
            ));
        }
        let verified = cp.verify(&voters, quorum)?;
        let checked = verified.checkpoint();
        let size = checked.size;
        if size <= theirs {
            let covered = leaves
                .get(..usize::try_from(size).map_err(|_| Error::Internal("size past usize"))?)
                .ok_or(Error::Internal("checkpoint past the snapshot"))?;
            if merkle::root(covered) != checked.root {
                return Err(Error::Inconsistent(format!(
                    "the snapshot's tree at size {size} differs from the cosigned checkpoint"
                )));
            }
        } else {
            merkle::verify_consistency(
                theirs,
                size,
                &body.consistency,
                &merkle::root(&leaves),
                &checked.root,
            )
            .map_err(|e| {
                Error::Inconsistent(format!(
                    "the snapshot's tree of {theirs} entries is not a prefix of the cosigned checkpoint at size {size}: {e}"
                ))
            })?;
        }
        Ok(CheckedSnapshot {
            fresh,
            live,
            keep: (size <= theirs).then(|| cp.to_note()),
        })
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
            .meta_at_tip(&[KEY_LAST_APPLIED, KEY_MEMBERSHIP])
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
        let mut live = self.current()?;
        let mut dir = Directory::default();
        let mut roster_changed = false;
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
                EntryPayload::Normal(req) => {
                    match self.verify_request(&req, &mut live, &mut dir, next)? {
                        Ok((verified, changed)) => {
                            roster_changed |= changed;
                            let count = verified.len() as u64;
                            let first = next;
                            next += count;
                            pending.extend(verified);
                            ChainResponse::Appended { first, count }
                        }
                        Err((position, reason)) => ChainResponse::Refused { position, reason },
                    }
                }
            };
            responses.push(resp);
        }
        let mut meta = Self::applied_meta(&last, &membership)?;
        if roster_changed {
            meta.push((
                KEY_ROSTER,
                serde_json::to_vec(&live.roster).map_err(sm_write)?,
            ));
        }
        // Durability: the entries, their leaves and indexes, and the new last-applied id,
        // membership and roster are one atomic write, so a crash never applies a request
        // twice. It is not synced: the entries are already on disk in a majority's Raft
        // logs, and a machine crash that loses this write leaves an earlier last-applied
        // id, from which openraft applies the same entries again.
        self.commit(
            pending,
            &meta,
            Durability::LogBacked,
            roster_changed.then_some(live),
        )?;
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
        let checked = self.check_snapshot(&body).map_err(sm_read)?;
        let mut extra = Self::applied_meta(&meta.last_log_id, &meta.last_membership)?;
        extra.push((
            KEY_ROSTER,
            serde_json::to_vec(&checked.live.roster).map_err(sm_write)?,
        ));
        let record = SnapshotRecord {
            meta: meta.clone(),
            size: body.entries.len() as u64,
        };
        extra.push((KEY_SNAPSHOT, serde_json::to_vec(&record).map_err(sm_write)?));
        // Keep whichever checkpoint is larger: this node's own, or the snapshot's (if it
        // covers no more than the chain this node now has).
        let kept = self
            .store
            .latest_checkpoint()
            .map_err(sm_read)?
            .map_or(0, |c| c.checkpoint().size);
        if let Some(note) = checked.keep
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
        self.commit(
            checked.fresh,
            &extra,
            Durability::Synced,
            Some(checked.live),
        )
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
