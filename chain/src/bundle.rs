//! Evidence bundles: one entry, its signature, its inclusion proof and a cosigned
//! checkpoint, in one JSON file that anyone holding the agencies' public keys can check
//! offline with [`EvidenceBundle::verify`].
//!
//! The readable `summary` is not trusted: [`EvidenceBundle::verify`] renders the signed
//! entry again and refuses a bundle whose summary says anything else.

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
    /// The readable summary the bundle carries, if any; it must be exactly the rendering of
    /// the signed entry.
    pub summary: Option<serde_json::Value>,
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
    /// A readable rendering of the entry, for people; verification refuses a bundle whose
    /// summary is not the rendering of the signed entry.
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
        let entry = store.get_bytes(index)?;
        let summary = Some(crate::render::entry_json(
            index,
            &SignedEntry::from_bytes(&entry)?,
        ));
        Ok(EvidenceBundle {
            index,
            entry,
            proof: store.inclusion_proof(index, size)?,
            checkpoint: checkpoint.to_note(),
            summary,
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
            summary: (!json.summary.is_null()).then_some(json.summary),
        })
    }

    /// Checks, with only the agencies' public keys: the entry's signature by its author;
    /// the checkpoint's signatures, at least `k` of them by distinct trusted agencies; and
    /// the inclusion proof from the entry's leaf hash to the checkpoint's root.
    pub fn verify(&self, trust: &TrustBundle, k: usize) -> Result<BundleVerified> {
        let signed = SignedEntry::from_bytes(&self.entry)?;
        let entry = trust.verify(signed)?;
        if let Some(summary) = &self.summary {
            let signed_text = crate::render::entry_json(self.index, entry.signed());
            if let Some((path, said, signed)) = first_difference("summary", summary, &signed_text) {
                return Err(Error::UnsignedText { path, said, signed });
            }
        }

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

/// The first place, as a JSON path, where `said` differs from `signed`, with both values.
fn first_difference(
    path: &str,
    said: &serde_json::Value,
    signed: &serde_json::Value,
) -> Option<(String, String, String)> {
    use serde_json::Value;
    match (said, signed) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (x, y) = (a.get(k), b.get(k));
                let sub = format!("{path}.{k}");
                match (x, y) {
                    (Some(x), Some(y)) => first_difference(&sub, x, y),
                    (x, y) => Some((sub, show(x), show(y))),
                }
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(&format!("{path}[{i}]"), x, y)),
        (a, b) if a == b => None,
        (a, b) => Some((path.to_owned(), a.to_string(), b.to_string())),
    }
}

fn show(v: Option<&serde_json::Value>) -> String {
    v.map_or_else(|| "nothing".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::checkpoint::{Checkpoint, NoteSigner};
    use crate::entry::{AccessCompletion, Body, Entry};
    use crate::sign::AgencySigner;

    fn bundle() -> (EvidenceBundle, TrustBundle, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = ChainStore::open(dir.path().join("chain")).unwrap();
        let sh = AgencySigner::from_seed("sh_hf", [2; 32]).unwrap();
        let bj = AgencySigner::from_seed("bj_hf", [1; 32]).unwrap();
        let mut trust = TrustBundle::new();
        trust.insert("sh_hf", sh.verifying_key()).unwrap();
        trust.insert("bj_hf", bj.verifying_key()).unwrap();
        let entries = (0..5)
            .map(|i| {
                let e = Entry {
                    author: "sh_hf".into(),
                    time_ms: 1_700_000_000_000 + i,
                    body: Body::AccessCompleted(AccessCompletion {
                        query_id: format!("q{i}"),
                        rows: 22,
                        bytes: 4096,
                        digest: [7; 32],
                    }),
                };
                trust.verify(sh.sign(e).unwrap()).unwrap()
            })
            .collect();
        store.append_batch(entries).unwrap();
        let (size, root) = store.root().unwrap();
        let cp = Checkpoint::new("sluice/test", size, root);
        let mut sc =
            SignedCheckpoint::sign(cp, &NoteSigner::from_seed("sh_hf", [2; 32]).unwrap()).unwrap();
        sc.cosign(&NoteSigner::from_seed("bj_hf", [1; 32]).unwrap());
        (EvidenceBundle::build(&store, 3, &sc).unwrap(), trust, dir)
    }

    #[test]
    fn a_bundle_whose_summary_disagrees_with_the_signed_entry_is_refused() {
        let (b, trust, _dir) = bundle();
        let text = b.to_json().unwrap();
        EvidenceBundle::from_json(&text)
            .unwrap()
            .verify(&trust, 2)
            .unwrap();
        // An auditor's edit: rows 22 -> 2200 in the readable summary only.
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["summary"]["body"]["rows"] = serde_json::json!(2200);
        let edited = EvidenceBundle::from_json(&json.to_string()).unwrap();
        match edited.verify(&trust, 2).unwrap_err() {
            Error::UnsignedText { path, said, signed } => {
                assert_eq!(path, "summary.body.rows");
                assert_eq!((said.as_str(), signed.as_str()), ("2200", "22"));
            }
            other => panic!("wrong error: {other}"),
        }
        // An added field is refused too; a bundle without a summary says nothing unsigned.
        let mut added = json.clone();
        added["summary"] = serde_json::from_str(&text)
            .map(|v: serde_json::Value| v["summary"].clone())
            .unwrap();
        added["summary"]["note"] = serde_json::json!("approved by the court");
        assert!(matches!(
            EvidenceBundle::from_json(&added.to_string()).unwrap().verify(&trust, 2),
            Err(Error::UnsignedText { path, .. }) if path == "summary.note"
        ));
        let mut bare = json;
        bare.as_object_mut().unwrap().remove("summary");
        EvidenceBundle::from_json(&bare.to_string())
            .unwrap()
            .verify(&trust, 2)
            .unwrap();
    }
}
