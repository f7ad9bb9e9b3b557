//! openraft's storage conformance suite against the RocksDB log store and chain state
//! machine, plus chain-specific apply tests.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::testing::{StoreBuilder, Suite};
use openraft::{EntryPayload, LogId, StorageIOError};

use super::log_store::RaftLogStore;
use super::state_machine::ChainStateMachine;
use super::{ChainRequest, ChainResponse, StorageError, TypeConfig};
use crate::entry::tests::one_of_each;
use crate::membership::Roster;
use crate::sign::{AgencySigner, TrustBundle};
use crate::store::ChainStore;

fn signer() -> AgencySigner {
    AgencySigner::from_seed("bj_hf", [1; 32]).unwrap()
}

fn trust() -> TrustBundle {
    let mut t = TrustBundle::new();
    t.insert("bj_hf", signer().verifying_key()).unwrap();
    t
}

/// A state machine over `store` whose roster has bj_hf as its one voter, so the
/// membership entry among [`one_of_each`] takes effect.
fn with_bj_voting(store: Arc<ChainStore>, trust: TrustBundle) -> ChainStateMachine {
    let roster = Roster::bootstrap([(1, "bj_hf", "127.0.0.1:1")], [], &trust).unwrap();
    ChainStateMachine::new(store, trust)
        .with_roster(roster)
        .unwrap()
}

struct Builder;

impl StoreBuilder<TypeConfig, RaftLogStore, ChainStateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, RaftLogStore, ChainStateMachine), StorageError> {
        let io = |e: crate::Error| -> StorageError { StorageIOError::write(&e).into() };
        let dir = tempfile::tempdir()
            .map_err(|e| -> StorageError { StorageIOError::write(&e).into() })?;
        let log = RaftLogStore::open(dir.path().join("raft")).map_err(io)?;
        let chain = ChainStore::open(dir.path().join("chain")).map_err(io)?;
        let sm = ChainStateMachine::new(Arc::new(chain), trust());
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).unwrap();
}

fn normal(index: u64, entries: Vec<Vec<u8>>) -> openraft::Entry<TypeConfig> {
    openraft::Entry {
        log_id: LogId::new(openraft::CommittedLeaderId::new(1, 0), index),
        payload: EntryPayload::Normal(ChainRequest { entries }),
    }
}

#[test]
fn apply_verifies_signatures_and_appends_to_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Arc::new(ChainStore::open(dir.path().join("chain")).unwrap());
    let mut sm = with_bj_voting(Arc::clone(&chain), trust());
    let good: Vec<Vec<u8>> = one_of_each("bj_hf")
        .into_iter()
        .map(|e| signer().sign(e).unwrap().to_bytes().unwrap())
        .collect();
    // An entry claiming bj_hf but signed with another key.
    let forger = AgencySigner::from_seed("bj_hf", [9; 32]).unwrap();
    let forged = forger
        .sign(one_of_each("bj_hf").remove(0))
        .unwrap()
        .to_bytes()
        .unwrap();
    let mut mixed = good[..2].to_vec();
    mixed.push(forged);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = rt
        .block_on(sm.apply([
            normal(1, good[..3].to_vec()),
            normal(2, mixed),
            normal(3, good[3..].to_vec()),
        ]))
        .unwrap();
    assert_eq!(out[0], ChainResponse::Appended { first: 0, count: 3 });
    assert!(matches!(
        &out[1],
        ChainResponse::Refused { position: 2, .. }
    ));
    assert_eq!(
        out[2],
        ChainResponse::Appended {
            first: 3,
            count: 13
        }
    );
    assert_eq!(chain.len().unwrap(), 16);
    chain.verify(&trust()).unwrap();
    let (last, _) = rt.block_on(sm.applied_state()).unwrap();
    assert_eq!(last.map(|l| l.index), Some(3));
}

#[test]
fn entries_signed_here_skip_the_check_but_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Arc::new(ChainStore::open(dir.path().join("chain")).unwrap());
    let mut sm = with_bj_voting(Arc::clone(&chain), trust());
    let here = sm.signed_here();
    let entries = one_of_each("bj_hf");
    let mut wires = Vec::new();
    for e in entries.iter().take(3) {
        let vouched = trust().sign_trusted(&signer(), e.clone()).unwrap();
        let wire = vouched.signed().to_bytes().unwrap();
        here.remember(&wire, vouched, &signer().verifying_key());
        wires.push(wire);
    }
    // The same entry as the third, in another key's signature: remembering the genuine one
    // must not let the forgery through.
    let forger = AgencySigner::from_seed("bj_hf", [9; 32]).unwrap();
    let forged = forger.sign(entries[2].clone()).unwrap().to_bytes().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = rt
        .block_on(sm.apply([
            normal(1, vec![wires[0].clone(), forged]),
            normal(2, wires.clone()),
        ]))
        .unwrap();
    assert!(matches!(
        &out[0],
        ChainResponse::Refused { position: 1, .. }
    ));
    assert_eq!(out[1], ChainResponse::Appended { first: 0, count: 3 });
    // What was applied from memory is byte for byte what was signed, and verifies.
    for (i, wire) in (0u64..).zip(&wires) {
        assert_eq!(&chain.get_bytes(i).unwrap(), wire);
    }
    chain.verify(&trust()).unwrap();
}

fn signed_bytes(signer: &AgencySigner) -> Vec<Vec<u8>> {
    one_of_each(signer.agency())
        .into_iter()
        .map(|e| signer.sign(e).unwrap().to_bytes().unwrap())
        .collect()
}

fn note_signer() -> crate::checkpoint::NoteSigner {
    crate::checkpoint::NoteSigner::from_seed("bj_hf", [1; 32]).unwrap()
}

/// A state machine whose snapshots must match a checkpoint signed by bj_hf (k = 1 of 1).
fn checked_sm(dir: &std::path::Path, name: &str, trust: TrustBundle) -> ChainStateMachine {
    with_bj_voting(Arc::new(ChainStore::open(dir.join(name)).unwrap()), trust)
        .with_checkpoint_rule(vec![note_signer().verifier()], 1)
}

/// Keeps a checkpoint of `sm`'s chain at `size`, signed by `signer`, as a node would.
fn keep_checkpoint(sm: &ChainStateMachine, size: u64, signer: &crate::checkpoint::NoteSigner) {
    use crate::checkpoint::{Checkpoint, SignedCheckpoint};
    let root = sm.store().root_at(size).unwrap();
    let cp = SignedCheckpoint::sign(Checkpoint::new("sluice/test", size, root), signer).unwrap();
    sm.store()
        .put_meta(&[(crate::store::KEY_CHECKPOINT, cp.to_note().into_bytes())])
        .unwrap();
}

fn current_snapshot(
    rt: &tokio::runtime::Runtime,
    sm: &mut ChainStateMachine,
) -> openraft::Snapshot<TypeConfig> {
    use openraft::RaftSnapshotBuilder;
    rt.block_on(sm.build_snapshot()).unwrap();
    rt.block_on(sm.get_current_snapshot()).unwrap().unwrap()
}

#[test]
fn snapshot_is_the_chain_and_is_checked_before_it_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut sm1 = checked_sm(dir.path(), "a", trust());
    rt.block_on(sm1.apply([normal(1, signed_bytes(&signer()))]))
        .unwrap();
    keep_checkpoint(&sm1, 10, &note_signer());
    // Entries applied after the snapshot was built are not in it.
    use openraft::RaftSnapshotBuilder;
    rt.block_on(sm1.build_snapshot()).unwrap();
    rt.block_on(sm1.apply([normal(2, signed_bytes(&signer())[..2].to_vec())]))
        .unwrap();
    let snap = rt.block_on(sm1.get_current_snapshot()).unwrap().unwrap();
    let data = snap.snapshot.into_inner();

    let mut sm2 = checked_sm(dir.path(), "b", trust());
    rt.block_on(sm2.install_snapshot(&snap.meta, Box::new(std::io::Cursor::new(data.clone()))))
        .unwrap();
    let chain2 = Arc::clone(sm2.store());
    assert_eq!(chain2.len().unwrap(), 16);
    assert_eq!(
        chain2.root_at(15).unwrap(),
        sm1.store().root_at(15).unwrap()
    );
    chain2.verify(&trust()).unwrap();
    assert_eq!(
        chain2
            .latest_checkpoint()
            .unwrap()
            .unwrap()
            .checkpoint()
            .size,
        10
    );
    let (last, _) = rt.block_on(sm2.applied_state()).unwrap();
    assert_eq!(last.map(|l| l.index), Some(1));
    // The installed snapshot is what this node now serves.
    let served = rt.block_on(sm2.get_current_snapshot()).unwrap().unwrap();
    assert_eq!(served.snapshot.into_inner(), data);
    // A node can catch up again from a larger snapshot that extends its chain.
    let bigger = current_snapshot(&rt, &mut sm1);
    rt.block_on(sm2.install_snapshot(&bigger.meta, bigger.snapshot))
        .unwrap();
    assert_eq!(chain2.len().unwrap(), 18);

    // A chain signed by an impostor key the installer does not trust: named at entry 0.
    let forger = AgencySigner::from_seed("bj_hf", [9; 32]).unwrap();
    let mut trusting_forger = TrustBundle::new();
    trusting_forger
        .insert("bj_hf", forger.verifying_key())
        .unwrap();
    let mut sm3 = checked_sm(dir.path(), "c", trusting_forger);
    rt.block_on(sm3.apply([normal(1, signed_bytes(&forger))]))
        .unwrap();
    keep_checkpoint(&sm3, 13, &note_signer());
    let forged = current_snapshot(&rt, &mut sm3);
    let mut sm4 = checked_sm(dir.path(), "d", trust());
    let err = rt
        .block_on(sm4.install_snapshot(&forged.meta, forged.snapshot))
        .unwrap_err();
    assert!(err.to_string().contains("entry 0 is bad"), "{err}");
    assert_eq!(sm4.store().len().unwrap(), 0);

    // Good signatures, but the checkpoint is signed by a key outside the voters.
    let mut sm5 = checked_sm(dir.path(), "e", trust());
    rt.block_on(sm5.apply([normal(1, signed_bytes(&signer()))]))
        .unwrap();
    let stranger = crate::checkpoint::NoteSigner::from_seed("bj_hf", [7; 32]).unwrap();
    keep_checkpoint(&sm5, 13, &stranger);
    let uncosigned = current_snapshot(&rt, &mut sm5);
    let err = rt
        .block_on(sm4.install_snapshot(&uncosigned.meta, uncosigned.snapshot))
        .unwrap_err();
    assert!(err.to_string().contains("valid signatures"), "{err}");
    assert_eq!(sm4.store().len().unwrap(), 0);

    // A cosigned checkpoint whose root is not the snapshot's tree.
    {
        use crate::checkpoint::{Checkpoint, SignedCheckpoint};
        let cp =
            SignedCheckpoint::sign(Checkpoint::new("sluice/test", 13, [3; 32]), &note_signer())
                .unwrap();
        sm5.store()
            .put_meta(&[(crate::store::KEY_CHECKPOINT, cp.to_note().into_bytes())])
            .unwrap();
    }
    let wrong_root = current_snapshot(&rt, &mut sm5);
    let err = rt
        .block_on(sm4.install_snapshot(&wrong_root.meta, wrong_root.snapshot))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("differs from the cosigned checkpoint"),
        "{err}"
    );

    // A snapshot that rewrites what this node already applied is refused: sm2 holds
    // bj_hf's entries, sm6 the same count with two of them swapped.
    let mut sm6 = checked_sm(dir.path(), "f", trust());
    let mut reordered = signed_bytes(&signer());
    reordered.swap(0, 1);
    reordered.extend(signed_bytes(&signer())[..2].to_vec());
    rt.block_on(sm6.apply([normal(1, reordered)])).unwrap();
    keep_checkpoint(&sm6, 18, &note_signer());
    let rewrite = current_snapshot(&rt, &mut sm6);
    let err = rt
        .block_on(sm2.install_snapshot(&rewrite.meta, rewrite.snapshot))
        .unwrap_err();
    assert!(
        err.to_string().contains("differ from this node's chain"),
        "{err}"
    );
    assert_eq!(chain2.len().unwrap(), 18);
    chain2.verify(&trust()).unwrap();
}

/// A snapshot built before the checkpoint it is sent with is checked through a consistency
/// proof from its tree to the checkpoint's; a chain younger than its first checkpoint is
/// installed on its signatures alone. Neither may stop the installing node.
#[test]
fn a_snapshot_smaller_than_its_checkpoint_is_checked_by_consistency() {
    use crate::checkpoint::{Checkpoint, SignedCheckpoint};
    use openraft::RaftSnapshotBuilder;
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    // No checkpoint yet: installed, and nothing is kept as one.
    let mut young = checked_sm(dir.path(), "young", trust());
    rt.block_on(young.apply([normal(1, signed_bytes(&signer()))]))
        .unwrap();
    let snap = current_snapshot(&rt, &mut young);
    let mut sm = checked_sm(dir.path(), "fresh", trust());
    rt.block_on(sm.install_snapshot(&snap.meta, snap.snapshot))
        .unwrap();
    assert_eq!(sm.store().len().unwrap(), 16);
    assert!(sm.store().latest_checkpoint().unwrap().is_none());

    // Built at 16 entries, sent once a checkpoint at 18 exists.
    let mut sm1 = checked_sm(dir.path(), "a", trust());
    rt.block_on(sm1.apply([normal(1, signed_bytes(&signer()))]))
        .unwrap();
    rt.block_on(sm1.build_snapshot()).unwrap();
    rt.block_on(sm1.apply([normal(2, signed_bytes(&signer())[..2].to_vec())]))
        .unwrap();
    keep_checkpoint(&sm1, 18, &note_signer());
    let snap = rt.block_on(sm1.get_current_snapshot()).unwrap().unwrap();
    let mut sm2 = checked_sm(dir.path(), "b", trust());
    rt.block_on(sm2.install_snapshot(&snap.meta, snap.snapshot))
        .unwrap();
    assert_eq!(sm2.store().len().unwrap(), 16);
    assert_eq!(
        sm2.store().root_at(16).unwrap(),
        sm1.store().root_at(16).unwrap()
    );
    assert!(
        sm2.store().latest_checkpoint().unwrap().is_none(),
        "a checkpoint past the installed chain is not kept"
    );

    // A checkpoint at 18 whose tree does not extend the snapshot's.
    let forged =
        SignedCheckpoint::sign(Checkpoint::new("sluice/test", 18, [3; 32]), &note_signer())
            .unwrap();
    sm1.store()
        .put_meta(&[(crate::store::KEY_CHECKPOINT, forged.to_note().into_bytes())])
        .unwrap();
    let snap = rt.block_on(sm1.get_current_snapshot()).unwrap().unwrap();
    let mut sm3 = checked_sm(dir.path(), "c", trust());
    let err = rt
        .block_on(sm3.install_snapshot(&snap.meta, snap.snapshot))
        .unwrap_err();
    assert!(err.to_string().contains("is not a prefix"), "{err}");
    assert_eq!(sm3.store().len().unwrap(), 0);
}

/// One forged signature among a thousand entries of one Raft batch: the batch check
/// fails, the fallback names exactly that entry, and nothing of the request is applied.
#[test]
fn one_bad_signature_in_a_raft_batch_of_a_thousand_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Arc::new(ChainStore::open(dir.path().join("chain")).unwrap());
    let mut sm = ChainStateMachine::new(Arc::clone(&chain), trust());
    let template = one_of_each("bj_hf").remove(2);
    let mut wires: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            let mut e = template.clone();
            e.time_ms = i;
            signer().sign(e).unwrap().to_bytes().unwrap()
        })
        .collect();
    let last = wires[613].len() - 1;
    wires[613][last] ^= 0x20;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = rt.block_on(sm.apply([normal(1, wires.clone())])).unwrap();
    match &out[0] {
        ChainResponse::Refused { position, reason } => {
            assert_eq!(*position, 613);
            assert!(reason.contains("bj_hf"), "{reason}");
        }
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(chain.len().unwrap(), 0);
    wires.remove(613);
    let out = rt.block_on(sm.apply([normal(2, wires)])).unwrap();
    assert_eq!(
        out[0],
        ChainResponse::Appended {
            first: 0,
            count: 999
        }
    );
}

#[test]
fn vote_and_log_survive_reopen() {
    use openraft::storage::RaftLogStorage;
    use openraft::{RaftLogReader, Vote};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft");
    let rt = tokio::runtime::Runtime::new().unwrap();
    {
        let mut log = RaftLogStore::open(&path).unwrap();
        rt.block_on(log.save_vote(&Vote::new(3, 1))).unwrap();
    }
    let mut log = RaftLogStore::open(&path).unwrap();
    assert_eq!(rt.block_on(log.read_vote()).unwrap(), Some(Vote::new(3, 1)));
    let entries = rt.block_on(log.try_get_log_entries(0..10)).unwrap();
    assert!(entries.is_empty());
}

#[test]
fn log_store_refuses_a_database_missing_a_column_family() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft");
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        rocksdb::DB::open_cf(&opts, &path, [super::log_store::CF_LOGS]).unwrap();
    }
    assert!(matches!(
        RaftLogStore::open(&path).unwrap_err(),
        crate::Error::MissingColumnFamily(super::log_store::CF_RAFT_META)
    ));
}

/// The directory's rules refuse a request at the entry that breaks them, on every
/// replica alike, and see what earlier requests of the same apply made: a record about
/// another agency's dataset, and a decision by anyone but the dataset's owner.
#[test]
fn the_directory_refuses_another_agencys_record_and_decision() {
    use crate::entry::tests::catalog_record;
    use crate::entry::{AccessApproval, AccessRequest, Body, ColumnAccess, Entry};
    let sh = AgencySigner::from_seed("sh_hf", [2; 32]).unwrap();
    let mut trust = trust();
    trust.insert("sh_hf", sh.verifying_key()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chain = Arc::new(ChainStore::open(dir.path().join("chain")).unwrap());
    let mut sm = ChainStateMachine::new(Arc::clone(&chain), trust);
    let wire = |s: &AgencySigner, body: Body| {
        s.sign(Entry {
            author: s.agency().into(),
            time_ms: 1_700_000_000_000,
            body,
        })
        .unwrap()
        .to_bytes()
        .unwrap()
    };
    let request = Body::AccessRequest(AccessRequest {
        request_id: "sh_hf-1".into(),
        principal: "sh_hf/bob".into(),
        dataset: "bj_hf.contributions".into(),
        columns: vec![ColumnAccess {
            column: "amount".into(),
            level: "aggregate".into(),
        }],
        purpose: "audit".into(),
        until_ms: 1_800_000_000_000,
        justification: "audit".into(),
    });
    let approval = Body::AccessApprove(AccessApproval {
        request_id: "sh_hf-1".into(),
        approver: "sh_hf/bob".into(),
        columns: vec![ColumnAccess {
            column: "amount".into(),
            level: "aggregate".into(),
        }],
        valid_from_ms: 1,
        valid_until_ms: 2,
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = rt
        .block_on(sm.apply([
            normal(
                1,
                vec![
                    wire(
                        &signer(),
                        Body::CatalogPublish(catalog_record("bj_hf.contributions", 1)),
                    ),
                    wire(&sh, request),
                ],
            ),
            // sh_hf rewrites bj_hf's record: refused at its position.
            normal(
                2,
                vec![
                    wire(
                        &signer(),
                        Body::CatalogChange(catalog_record("bj_hf.contributions", 2)),
                    ),
                    wire(
                        &sh,
                        Body::CatalogChange(catalog_record("bj_hf.contributions", 3)),
                    ),
                ],
            ),
            // sh_hf approves its own request to bj_hf's dataset: refused.
            normal(3, vec![wire(&sh, approval)]),
        ]))
        .unwrap();
    assert_eq!(out[0], ChainResponse::Appended { first: 0, count: 2 });
    match &out[1] {
        ChainResponse::Refused { position, reason } => {
            assert_eq!(*position, 1);
            assert!(reason.contains("only `bj_hf` may"), "{reason}");
        }
        other => panic!("not refused: {other:?}"),
    }
    match &out[2] {
        ChainResponse::Refused { position, reason } => {
            assert_eq!(*position, 0);
            assert!(reason.contains("only `bj_hf` may"), "{reason}");
        }
        other => panic!("not refused: {other:?}"),
    }
    // The refused request left nothing: not even its first, valid entry.
    assert_eq!(chain.len().unwrap(), 2);
    assert_eq!(
        chain
            .directory()
            .dataset("bj_hf.contributions")
            .unwrap()
            .unwrap()
            .record
            .version,
        1
    );
}
