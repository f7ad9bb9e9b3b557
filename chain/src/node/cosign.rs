//! Checkpoints between nodes: the leader signs the origin, size and root of its chain, the
//! other voters each check that root against their own copy before cosigning, and once k
//! voters have signed, every node keeps the checkpoint as its latest.

use std::sync::Arc;
use std::time::Duration;

use sluice_proto::chain_v1::{CosignRequest, PublishRequest};
use tokio::sync::watch;

use super::shared::{Shared, wait_for_size};
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::error::{Error, Result};

use crate::store::KEY_CHECKPOINT;
/// How long the leader waits for one voter's cosignature, and a voter for its own copy
/// of the chain to reach the checkpoint's size.
const COSIGN_TIMEOUT: Duration = Duration::from_secs(2);

/// The latest checkpoint this node keeps, re-verified at k of n.
pub(crate) fn latest(shared: &Shared) -> Result<Option<SignedCheckpoint>> {
    let Some(bytes) = shared.store.get_meta(KEY_CHECKPOINT)? else {
        return Ok(None);
    };
    let note =
        String::from_utf8(bytes).map_err(|_| Error::malformed("stored checkpoint", "not UTF-8"))?;
    let cp = SignedCheckpoint::parse(&note)?;
    let (voters, quorum) = shared.checkpoint_rule()?;
    cp.verify(&voters, quorum)?;
    Ok(Some(cp))
}

/// The size of the latest checkpoint this node kept. It was verified when kept; the
/// voters may have changed since, so it is not verified again.
fn kept_size(shared: &Shared) -> Result<u64> {
    Ok(shared
        .store
        .latest_checkpoint()?
        .map_or(0, |c| c.checkpoint().size))
}

/// On the leader, publishes a checkpoint every interval in which the chain grew.
pub(crate) async fn publish_checkpoints(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(shared.config.checkpoint_interval) => {}
        }
        if shared.raft.current_leader().await != Some(shared.id) {
            continue;
        }
        if let Err(e) = publish_once(&shared).await {
            tracing::warn!("publishing a chain checkpoint failed: {e}");
        }
    }
}

/// Signs, collects cosignatures for, and publishes a checkpoint of the current chain, if
/// it is larger than the latest one.
pub(crate) async fn publish_once(shared: &Shared) -> Result<Option<SignedCheckpoint>> {
    let (size, root) = shared.store.root()?;
    let known = kept_size(shared)?;
    if size == 0 || size <= known {
        return Ok(None);
    }
    if !shared.is_voter() {
        return Err(Error::InvalidArgument(
            "only a voter signs checkpoints".into(),
        ));
    }
    let mut cp = SignedCheckpoint::sign(
        Checkpoint::new(&shared.config.origin, size, root),
        &shared.note_signer,
    )?;
    let note = cp.to_note();

    let (voter_nodes, member_nodes) = shared.member_nodes()?;
    let asks = voter_nodes
        .iter()
        .filter(|id| **id != shared.id)
        .filter_map(|id| shared.peer(*id))
        .map(|(addr, mut client)| {
            let note = note.clone();
            async move {
                let call = client.cosign(CosignRequest { note });
                match tokio::time::timeout(COSIGN_TIMEOUT, call).await {
                    Ok(Ok(r)) => SignedCheckpoint::parse(&r.into_inner().note),
                    Ok(Err(s)) => Err(Error::Unavailable {
                        peer: addr,
                        reason: s.message().to_string(),
                    }),
                    Err(_) => Err(Error::Unavailable {
                        peer: addr,
                        reason: format!("no cosignature within {} ms", COSIGN_TIMEOUT.as_millis()),
                    }),
                }
            }
        });
    for reply in futures::future::join_all(asks).await {
        match reply {
            Ok(cosigned) => cp.merge(&cosigned)?,
            Err(e) => tracing::debug!("no cosignature: {e}"),
        }
    }
    let (voters, quorum) = shared.checkpoint_rule()?;
    cp.verify(&voters, quorum)?;
    accept(shared, &cp)?;

    let note = cp.to_note();
    let sends = member_nodes
        .iter()
        .filter(|id| **id != shared.id)
        .filter_map(|id| shared.peer(*id))
        .map(|(_, client)| {
            let (mut client, note) = (client, note.clone());
            async move {
                let _ =
                    tokio::time::timeout(COSIGN_TIMEOUT, client.publish(PublishRequest { note }))
                        .await;
            }
        });
    futures::future::join_all(sends).await;
    Ok(Some(cp))
}

/// A voter's answer to a cosign request: it checks the leader's signature and that the
/// checkpoint's root is the root of its own chain at that size, then adds its signature.
pub(crate) async fn cosign(shared: &Shared, note: &str) -> Result<String> {
    if !shared.is_voter() {
        return Err(Error::InvalidArgument("this node is not a voter".into()));
    }
    let mut cp = SignedCheckpoint::parse(note)?;
    let (voters, _) = shared.checkpoint_rule()?;
    cp.verify(&voters, 1)?;
    check_against_own_chain(shared, cp.checkpoint(), COSIGN_TIMEOUT).await?;
    cp.cosign(&shared.note_signer);
    Ok(cp.to_note())
}

/// A node's answer to a published checkpoint: keep it if it verifies at k of n, matches
/// this node's chain as far as it goes, and is newer than the one it has.
pub(crate) async fn receive(shared: &Shared, note: &str) -> Result<()> {
    let cp = SignedCheckpoint::parse(note)?;
    let (voters, quorum) = shared.checkpoint_rule()?;
    cp.verify(&voters, quorum)?;
    check_against_own_chain(shared, cp.checkpoint(), COSIGN_TIMEOUT).await?;
    accept(shared, &cp)
}

async fn check_against_own_chain(shared: &Shared, cp: &Checkpoint, wait: Duration) -> Result<()> {
    if cp.origin != shared.config.origin {
        return Err(Error::InvalidArgument(format!(
            "checkpoint is for `{}`, this chain is `{}`",
            cp.origin, shared.config.origin
        )));
    }
    wait_for_size(shared, cp.size, wait).await?;
    let ours = shared.store.root_at(cp.size)?;
    if ours != cp.root {
        return Err(Error::Inconsistent(format!(
            "checkpoint root at size {} differs from this node's chain",
            cp.size
        )));
    }
    Ok(())
}

fn accept(shared: &Shared, cp: &SignedCheckpoint) -> Result<()> {
    let known = kept_size(shared)?;
    if cp.checkpoint().size > known {
        shared
            .store
            .put_meta(&[(KEY_CHECKPOINT, cp.to_note().into_bytes())])?;
    }
    Ok(())
}

impl crate::store::ChainStore {
    /// Keeps `note` as this store's latest checkpoint if it is larger than the one kept.
    /// Its signatures must have been checked (the [`CheckpointVerified`] it came with),
    /// and its root must be this chain's at its size.
    pub fn keep_checkpoint(
        &self,
        note: &SignedCheckpoint,
        verified: &crate::checkpoint::CheckpointVerified,
    ) -> Result<()> {
        let cp = note.checkpoint();
        if verified.checkpoint() != cp {
            return Err(Error::InvalidArgument(
                "the verified checkpoint is not this note's".into(),
            ));
        }
        if self.root_at(cp.size)? != cp.root {
            return Err(Error::Inconsistent(format!(
                "checkpoint root at size {} differs from this chain",
                cp.size
            )));
        }
        let known = self.latest_checkpoint()?.map_or(0, |c| c.checkpoint().size);
        if cp.size > known {
            self.put_meta(&[(KEY_CHECKPOINT, note.to_note().into_bytes())])?;
        }
        Ok(())
    }

    /// The latest cosigned checkpoint a node kept in this store, parsed but not verified
    /// (auditors verify it against their own trust bundle).
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        let Some(bytes) = self.get_meta(KEY_CHECKPOINT)? else {
            return Ok(None);
        };
        let note = String::from_utf8(bytes)
            .map_err(|_| Error::malformed("stored checkpoint", "not UTF-8"))?;
        SignedCheckpoint::parse(&note).map(Some)
    }
}
