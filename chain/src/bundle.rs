//! Evidence bundles: one entry, its signature, its inclusion proof and a cosigned
//! checkpoint, in one JSON file that anyone holding the agencies' public keys can check
//! offline with [`EvidenceBundle::verify`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{NoteVerifier, SignedCheckpoint};
use crate::error::{Error, Result};
use crate::merkle::{self, InclusionProof};
use crate::sign::{SignedEntry, TrustBundle, VerifiedEntry};
use crate::store::ChainStore;

const BUNDLE_VERSION: u32 = 1;

/// The evidence for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceBundle {
    /// The entry's chain index.
    pub index: u64,
    /// The signed entry in wire form: the Merkle leaf data.
    pub entry: Vec<u8>,
    /// The inclusion proof of the entry in the checkpoint's tree.
    pub proof: InclusionProof,
    /// The checkpoint as a signed note, cosigned by the voters.
    pub checkpoint: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleJson {
    version: u32,
    index: u64,
    /// base64 of the signed entry's wire form.
    entry: String,
    /// base64 of the inclusion proof's wire form.
    inclusion_proof: String,
    checkpoint: String,
    /// A readable rendering of the entry, for people; it is not checked.
    #[serde(default)]
    summary: serde_json::Value,
}

/// What [`EvidenceBundle::verify`] established.
#[derive(Debug)]
pub struct BundleVerified {
    /// The entry, its signature checked.
    pub entry: VerifiedEntry,
    /// The index it holds in the chain.
    pub index: u64,
    /// The size of the checkpointed tree that includes it.
    pub tree_size: u64,
    /// The voters whose checkpoint signatures verified.
    pub cosigners: Vec<String>,
}

impl EvidenceBundle {
    /// Builds the bundle for entry `index` from `store`, proved against `checkpoint`, which
    /// must cover the entry and match the store's tree at its size.
    pub fn build(store: &ChainStore, index: u64, checkpoint: &SignedCheckpoint) -> Result<Self> {
        let size = checkpoint.checkpoint().size;
        if index >= size {
            return Err(Error::InvalidArgument(format!(
                "entry {index} is not covered by the latest checkpoint (size {size}); \
                 wait for the next checkpoint"
            )));
        }
        if store.root_at(size)? != checkpoint.checkpoint().root {
            return Err(Error::Inconsistent(format!(
                "the store's root at size {size} differs from the checkpoint's"
            )));
        }
        Ok(EvidenceBundle {
            index,
            entry: store.get_bytes(index)?,
            proof: store.inclusion_proof(index, size)?,
            checkpoint: checkpoint.to_note(),
        })
    }

    /// The bundle as pretty JSON, with a readable summary of the entry.
    pub fn to_json(&self) -> Result<String> {
        let summary = SignedEntry::from_bytes(&self.entry)
            .map(|s| crate::render::entry_json(self.index, &s))
            .unwrap_or(serde_json::Value::Null);
        let json = BundleJson {
            version: BUNDLE_VERSION,
            index: self.index,
            entry: B64.encode(&self.entry),
            inclusion_proof: B64.encode(self.proof.to_bytes()?),
            checkpoint: self.checkpoint.clone(),
            summary,
        };
        serde_json::to_string_pretty(&json)
            .map_err(|e| Error::malformed("evidence bundle", e.to_string()))
    }

    /// Parses a bundle; nothing is checked until [`Self::verify`].
    pub fn from_json(text: &str) -> Result<Self> {
        let bad = |why: String| Error::malformed("evidence bundle", why);
        let json: BundleJson = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if json.version != BUNDLE_VERSION {
            return Err(bad(format!("unknown version {}", json.version)));
        }
        let entry = B64
            .decode(&json.entry)
            .map_err(|e| bad(format!("entry is not base64: {e}")))?;
        let proof = B64
            .decode(&json.inclusion_proof)
            .map_err(|e| bad(format!("inclusion_proof is not base64: {e}")))?;
        Ok(EvidenceBundle {
            index: json.index,
            entry,
            proof: InclusionProof::from_bytes(&proof)?,
            checkpoint: json.checkpoint,
        })
    }

    /// Checks, with only the agencies' public keys: the entry's signature by its author;
    /// the checkpoint's signatures, at least `k` of them by distinct trusted agencies; and
    /// the inclusion proof from the entry's leaf hash to the checkpoint's root.
    pub fn verify(&self, trust: &TrustBundle, k: usize) -> Result<BundleVerified> {
        let signed = SignedEntry::from_bytes(&self.entry)?;
        let entry = trust.verify(signed)?;

        let cp = SignedCheckpoint::parse(&self.checkpoint)?;
        let verifiers = trust
            .iter()
            .map(|(agency, key)| NoteVerifier::new(agency, *key))
            .collect::<Result<Vec<_>>>()?;
        let verified = cp.verify(&verifiers, k)?;

        let c = verified.checkpoint();
        if self.proof.index != self.index || self.proof.size != c.size {
            return Err(Error::BadProof(
                "the proof is not for this entry's index or the checkpoint's size",
            ));
        }
        self.proof
            .verify(&merkle::leaf_hash(&self.entry), &c.root)?;
        Ok(BundleVerified {
            entry,
            index: self.index,
            tree_size: c.size,
            cosigners: verified.signers().to_vec(),
        })
    }
}
