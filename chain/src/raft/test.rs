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
    let mut sm = ChainStateMachine::new(Arc::clone(&chain), trust());
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
            count: 10
        }
    );
    assert_eq!(chain.len().unwrap(), 13);
    chain.verify(&trust()).unwrap();
    let (last, _) = rt.block_on(sm.applied_state()).unwrap();
    assert_eq!(last.map(|l| l.index), Some(3));
}

#[test]
fn entries_signed_here_skip_the_check_but_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Arc::new(ChainStore::open(dir.path().join("chain")).unwrap());
    let mut sm = ChainStateMachine::new(Arc::clone(&chain), trust());
    let here = sm.signed_here();
    let entries = one_of_each("bj_hf");
    let mut wires = Vec::new();
    for e in entries.iter().take(3) {
        let vouched = trust().sign_trusted(&signer(), e.clone()).unwrap();
        let wire = vouched.signed().to_bytes().unwrap();
        here.remember(&wire, vouched);
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

#[test]
fn snapshot_carries_the_chain_and_forged_snapshots_are_refused() {
    use openraft::RaftSnapshotBuilder;
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut sm1 = ChainStateMachine::new(
        Arc::new(ChainStore::open(dir.path().join("a")).unwrap()),
        trust(),
    );
    rt.block_on(sm1.apply([normal(1, signed_bytes(&signer()))]))
        .unwrap();
    let snap = rt.block_on(sm1.build_snapshot()).unwrap();
    let data = snap.snapshot.into_inner();

    let chain2 = Arc::new(ChainStore::open(dir.path().join("b")).unwrap());
    let mut sm2 = ChainStateMachine::new(Arc::clone(&chain2), trust());
    rt.block_on(sm2.install_snapshot(&snap.meta, Box::new(std::io::Cursor::new(data.clone()))))
        .unwrap();
    assert_eq!(chain2.len().unwrap(), 13);
    assert_eq!(
        chain2.verify(&trust()).unwrap().root(),
        sm1.store().verify(&trust()).unwrap().root()
    );
    let (last, _) = rt.block_on(sm2.applied_state()).unwrap();
    assert_eq!(last.map(|l| l.index), Some(1));
    assert!(rt.block_on(sm2.get_current_snapshot()).unwrap().is_some());

    // A snapshot whose entries are signed with the wrong key is refused, and the installed
    // chain is left as it was.
    let forger = AgencySigner::from_seed("bj_hf", [9; 32]).unwrap();
    let mut sm3 = ChainStateMachine::new(
        Arc::new(ChainStore::open(dir.path().join("c")).unwrap()),
        trust(),
    );
    rt.block_on(sm3.apply([normal(1, signed_bytes(&forger))]))
        .unwrap();
    assert_eq!(sm3.store().len().unwrap(), 0);
    let mut trusting_forger = TrustBundle::new();
    trusting_forger
        .insert("bj_hf", forger.verifying_key())
        .unwrap();
    let mut sm4 = ChainStateMachine::new(
        Arc::new(ChainStore::open(dir.path().join("d")).unwrap()),
        trusting_forger,
    );
    rt.block_on(sm4.apply([normal(1, signed_bytes(&forger))]))
        .unwrap();
    let forged = rt.block_on(sm4.build_snapshot()).unwrap();
    let res = rt.block_on(sm2.install_snapshot(&forged.meta, forged.snapshot));
    assert!(res.is_err());
    assert_eq!(chain2.len().unwrap(), 13);
    chain2.verify(&trust()).unwrap();
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
