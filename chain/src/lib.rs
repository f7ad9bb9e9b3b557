//! sluice-chain: the audit chain that all agencies replicate and none can rewrite alone.
//!
//! - [`entry`]: [`Entry`], its typed [`Body`] per [`EntryKind`], and the canonical encoding.
//! - [`error`]: the one [`Error`] enum, split by [`Fault`].
//! - [`zip215`]: the one signature rule (ZIP-215 ed25519, single and batched) and the
//!   [`PublicKey`] check that refuses small-order and non-canonical keys.
//! - [`sign`]: ed25519 signatures over entries, the [`TrustBundle`] of agency keys, and the
//!   [`SignatureVerified`] proof token.
//! - [`bundle`]: evidence bundles (entry, signature, inclusion proof, cosigned checkpoint)
//!   and their offline check.
//! - [`trace`]: auditors' filtered queries over a store; [`render`] shows entries as JSON.
//! - [`directory`]: the federated catalog and access requests the entries make, under
//!   rules every replica applies, with ranked search.
//! - [`membership`]: the [`Roster`](membership::Roster) of member agencies, changed only by
//!   membership entries that a majority of the current voters signed alike.
//! - [`merkle`]: the RFC 6962/9162 Merkle tree, inclusion and consistency proofs.
//! - [`checkpoint`]: C2SP tlog checkpoints as signed notes, cosigned and valid at k of n.
//! - [`store`]: RocksDB storage of entries, leaf hashes and auditor indexes, with group
//!   commit and a full re-verification that names the first bad entry.
//! - [`node`]: a running chain node: the peer protocol over tonic, group commit, and
//!   cosigned checkpoints.
//! - [`raft`]: openraft 0.9 (storage v2) over RocksDB: the Raft log store and the state
//!   machine that re-verifies every signature before it applies an entry to the chain.
//!
//! Checks hand out proof tokens: [`TrustBundle::verify`] is the only way to get a
//! [`VerifiedEntry`] (carrying [`SignatureVerified`]), and [`ChainStore::append_batch`] takes
//! only those, so an unchecked entry cannot reach the store.
//!
//! ```
//! use sluice_chain::entry::{Body, ConsentRevocation};
//! use sluice_chain::{AgencySigner, Entry, TrustBundle, merkle};
//!
//! let bj = AgencySigner::from_seed("bj_hf", [1; 32])?;
//! let mut trust = TrustBundle::new();
//! trust.insert("bj_hf", bj.verifying_key())?;
//!
//! let entry = Entry {
//!     author: "bj_hf".into(),
//!     time_ms: 1_700_000_000_000,
//!     body: Body::ConsentRevoke(ConsentRevocation {
//!         consent_id: "c-1".into(),
//!         subject: "citizen-42".into(),
//!     }),
//! };
//! let verified = trust.verify(bj.sign(entry)?)?;
//!
//! // The Merkle leaf is the signed entry's wire form.
//! let leaf = merkle::leaf_hash(&verified.signed().to_bytes()?);
//! let leaves = [leaf, merkle::leaf_hash(b"another entry")];
//! let root = merkle::root(&leaves);
//! let proof = merkle::inclusion_proof(&leaves, 0)?;
//! merkle::verify_inclusion(0, 2, &leaf, &proof, &root)?;
//! # Ok::<(), sluice_chain::Error>(())
//! ```

#![warn(missing_docs)]

pub mod bundle;
pub mod checkpoint;
mod codec;
pub mod directory;
pub mod entry;
pub mod error;
pub mod membership;
pub mod merkle;
pub mod node;
pub mod raft;
pub mod render;
pub mod sign;
pub mod store;
pub mod trace;
pub mod zip215;

pub use bundle::{BundleVerified, EvidenceBundle};
pub use checkpoint::{Checkpoint, CheckpointVerified, NoteSigner, NoteVerifier, SignedCheckpoint};
pub use entry::{Body, Entry, EntryKind};
pub use error::{Error, Fault, MalformedKind, Result};
pub use merkle::{Hash, InclusionProof};
pub use node::{ChainNode, EntryCommitted, Member, NodeConfig, PeerTls};
pub use raft::log_store::RaftLogStore;
pub use raft::state_machine::ChainStateMachine;
pub use raft::{ChainRequest, ChainResponse, TypeConfig};
pub use sign::{AgencySigner, SignatureVerified, SignedEntry, TrustBundle, VerifiedEntry};
pub use store::{ChainStore, StoreVerified};
pub use trace::{Decision, TraceFilter, TraceHit};
pub use zip215::{KeyProblem, PublicKey};

#[cfg(test)]
mod parser_robustness {
    //! Mutated and random input to every parser of untrusted bytes: each must return a
    //! value or an error, never panic. (A stand-in until the fuzz targets exist.)
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn mutate(rng: &mut XorShift, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..=rng.below(4) {
            match rng.below(4) {
                0 if !v.is_empty() => {
                    let i = rng.below(v.len());
                    v[i] ^= 1 << rng.below(8);
                }
                1 => v.truncate(rng.below(v.len() + 1)),
                2 => {
                    let i = rng.below(v.len() + 1);
                    v.insert(i, rng.next() as u8);
                }
                _ => {
                    let i = rng.below(v.len() + 1);
                    v.splice(i..i, [0xff, 0xff, 0xff, 0xff]);
                }
            }
        }
        v
    }

    #[test]
    fn parsers_never_panic_on_mutated_input() {
        let bj = AgencySigner::from_seed("bj_hf", [1; 32]).unwrap();
        let entries: Vec<Vec<u8>> = entry::tests::one_of_each("bj_hf")
            .into_iter()
            .map(|e| bj.sign(e).unwrap().to_bytes().unwrap())
            .collect();
        let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        let proof = InclusionProof {
            index: 3,
            size: leaves.len() as u64,
            path: merkle::inclusion_proof(&leaves, 3).unwrap(),
        }
        .to_bytes()
        .unwrap();
        let leader = NoteSigner::from_seed("bj_hf", [1; 32]).unwrap();
        let note = SignedCheckpoint::sign(Checkpoint::new("o", 13, merkle::root(&leaves)), &leader)
            .unwrap()
            .to_note();

        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for round in 0..20_000 {
            let seed = &entries[round % entries.len()];
            let bytes = mutate(&mut rng, seed);
            let _ = SignedEntry::from_bytes(&bytes);
            let _ = Entry::from_bytes(bytes.get(4..).unwrap_or_default());
            let _ = InclusionProof::from_bytes(&mutate(&mut rng, &proof));
            let text = mutate(&mut rng, note.as_bytes());
            if let Ok(text) = std::str::from_utf8(&text) {
                let _ = SignedCheckpoint::parse(text);
            }
        }
    }
}
