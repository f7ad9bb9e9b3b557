//! A running chain node: the Raft member that an agency's gateway embeds. It serves the
//! peer protocol over tonic, appends this agency's entries with group commit, and (as
//! leader) publishes cosigned checkpoints.
//!
//! [`ChainNode::append`] returns only once the entry is committed, with an
//! [`EntryCommitted`] token; the gateway releases data only after it holds one.

mod commit;
mod cosign;
pub mod network;
mod service;
mod shared;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, ChangeMembers, Raft, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::checkpoint::{NoteSigner, NoteVerifier, SignedCheckpoint};
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::membership::Roster;
use crate::raft::NodeId;
use crate::raft::state_machine::SignedHere;
use crate::sign::{AgencySigner, SignedEntry, TrustBundle};
use crate::store::ChainStore;
use crate::{ChainStateMachine, RaftLogStore};

pub use commit::EntryCommitted;
pub use shared::{DEFAULT_BATCHES_IN_FLIGHT, Member, NodeConfig, PeerTls};
use shared::{Shared, wait_for_size};

/// A running chain node. Dropping it does not stop it: call [`ChainNode::shutdown`].
#[derive(Debug)]
pub struct ChainNode {
    shared: Arc<Shared>,
    signer: AgencySigner,
    trust: TrustBundle,
    signed_here: Arc<SignedHere>,
    committer: commit::Committer,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl ChainNode {
    /// Opens the node's stores under `config.data_dir`, serves the peer protocol on
    /// `listener`, and joins the cluster: bootstrap voters initialize it (the same
    /// membership on every voter, so running this on each is safe), and the leader adds
    /// every other member of the chain's roster as a learner.
    ///
    /// `signer` is this agency's key; `trust` holds at least the keys of the bootstrap
    /// members (the roster starts with those) and this agency's own.
    pub async fn start(
        config: NodeConfig,
        signer: AgencySigner,
        trust: TrustBundle,
        listener: TcpListener,
    ) -> Result<ChainNode> {
        config.check()?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            what: "reading the chain listener's address".into(),
            source,
        })?;
        let io = |what: &str| {
            let what = format!("{what} {}", config.data_dir.display());
            move |source| Error::Io { what, source }
        };
        std::fs::create_dir_all(&config.data_dir).map_err(io("creating"))?;
        let log = RaftLogStore::open(config.data_dir.join("raft"))?;
        let store = Arc::new(ChainStore::open(config.data_dir.join("chain"))?);

        let bootstrap = config.bootstrap_roster(&trust)?;
        if !config
            .voters
            .iter()
            .chain(&config.learners)
            .any(|m| m.id == config.id)
        {
            tracing::info!(
                node = config.id,
                agency = signer.agency(),
                "this chain node is not in the bootstrap membership; it waits until a membership change on the chain adds it"
            );
        }
        let note_signer = NoteSigner::from_seed(signer.agency(), signer.seed())?;

        // Losing the leader costs the election timeout plus openraft's leader lease (a
        // voter refuses to vote while it heard from a leader within election_timeout_max),
        // about 2 x max in the worst case. At 3-6 heartbeats of 100 ms that is ~0.6-1.2 s,
        // which appends ride out (they wait `append_timeout` for a leader). Shorter would
        // let a loaded two-core machine miss heartbeats and hold needless elections.
        let raft_config = openraft::Config {
            cluster_name: config.origin.clone(),
            heartbeat_interval: millis(config.heartbeat),
            election_timeout_min: millis(config.heartbeat) * 3,
            election_timeout_max: millis(config.heartbeat) * 6,
            // The chain store is the snapshot: the Raft log behind it is purged, and a node
            // far behind (or new) installs the chain and verifies it.
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every.max(1)),
            max_in_snapshot_log_to_keep: config.logs_kept_after_snapshot,
            replication_lag_threshold: config
                .snapshot_every
                .max(config.logs_kept_after_snapshot)
                .saturating_add(1),
            install_snapshot_timeout: millis(config.snapshot_timeout),
            max_payload_entries: 256,
            ..Default::default()
        }
        .validate()
        .map_err(|e| Error::InvalidArgument(format!("raft config: {e}")))?;
        // Snapshots are checked against the roster's voters; the state machine keeps the
        // roster, which the network, the peer service and the cosigner read.
        let sm = ChainStateMachine::new(Arc::clone(&store), trust.clone())
            .with_checkpoint_rule(Vec::new(), config.checkpoint_quorum)
            .with_roster(bootstrap)?;
        let signed_here = sm.signed_here();
        let roster = sm.roster();
        let raft = Raft::new(
            config.id,
            Arc::new(raft_config),
            network::ChainNetwork::new(Arc::clone(&roster), config.tls.clone()),
            log,
            sm,
        )
        .await
        .map_err(|e| Error::Raft(e.to_string()))?;

        let shared = Arc::new(Shared {
            id: config.id,
            raft,
            store,
            config,
            note_signer,
            roster,
            peers: std::sync::Mutex::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let mut tasks = vec![service::serve(
            Arc::clone(&shared),
            listener,
            stopped.clone(),
        )];

        if shared.config.is_bootstrap_voter()
            && !shared.raft.is_initialized().await.map_err(raft_err)?
        {
            let voters: BTreeMap<NodeId, BasicNode> = shared
                .config
                .voters
                .iter()
                .map(|m| (m.id, BasicNode::new(&m.addr)))
                .collect();
            // Another voter may have initialized first; that is the same cluster.
            if let Err(e) = shared.raft.initialize(voters).await {
                tracing::debug!("chain already initialized: {e}");
            }
        }
        tasks.push(tokio::spawn(follow_roster(
            Arc::clone(&shared),
            stopped.clone(),
        )));
        tasks.push(tokio::spawn(cosign::publish_checkpoints(
            Arc::clone(&shared),
            stopped.clone(),
        )));
        let committer = commit::Committer::start(Arc::clone(&shared));
        Ok(ChainNode {
            shared,
            signer,
            trust,
            signed_here,
            committer,
            addr,
            stop,
            tasks: std::sync::Mutex::new(tasks),
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.shared.id
    }

    /// The address the peer protocol listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// This node's copy of the chain.
    pub fn store(&self) -> &Arc<ChainStore> {
        &self.shared.store
    }

    /// The agency whose key signs this node's entries.
    pub fn agency(&self) -> &str {
        self.signer.agency()
    }

    /// Signs `entry` with this agency's key and appends it; returns once it is committed.
    /// Concurrent appends share Raft log writes and fsyncs (group commit).
    pub async fn append(&self, entry: Entry) -> Result<EntryCommitted> {
        let vouched = self.trust.sign_trusted(&self.signer, entry)?;
        let wire = vouched.signed().to_bytes()?;
        self.signed_here
            .remember(&wire, vouched, &self.signer.verifying_key());
        self.committer.submit(wire).await
    }

    /// Appends an entry signed elsewhere. Every replica re-verifies its signature, so an
    /// entry signed in another agency's name is refused with [`Error::Refused`].
    pub async fn append_signed(&self, signed: SignedEntry) -> Result<EntryCommitted> {
        self.committer.submit(signed.to_bytes()?).await
    }

    /// The current leader, if one is known.
    pub async fn leader(&self) -> Option<NodeId> {
        self.shared.raft.current_leader().await
    }

    /// Waits until a leader is known, for at most `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId> {
        let mut metrics = self.shared.raft.metrics();
        let wait = async {
            loop {
                if let Some(l) = metrics.borrow().current_leader {
                    return Ok(l);
                }
                if metrics.changed().await.is_err() {
                    return Err(Error::Raft("the node stopped".into()));
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::NoLeader { waited: timeout })?
    }

    /// Waits until this node has applied at least `size` entries, for at most `timeout`.
    pub async fn wait_for_size(&self, size: u64, timeout: Duration) -> Result<()> {
        wait_for_size(&self.shared, size, timeout).await
    }

    /// The latest checkpoint this node holds, verified at k of n voter signatures.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        cosign::latest(&self.shared)
    }

    /// The last Raft log index covered by this node's snapshot, if it has one (built here
    /// or installed from the leader).
    pub fn snapshot_index(&self) -> Option<u64> {
        self.shared
            .raft
            .metrics()
            .borrow()
            .snapshot
            .map(|l| l.index)
    }

    /// The first Raft log index this node still holds (everything before it was purged
    /// behind a snapshot), if any was purged.
    pub fn purged_index(&self) -> Option<u64> {
        self.shared.raft.metrics().borrow().purged.map(|l| l.index)
    }

    /// The public keys of the voters now, which sign checkpoints.
    pub fn voter_keys(&self) -> Result<Vec<NoteVerifier>> {
        Ok(self.shared.checkpoint_rule()?.0)
    }

    /// The chain's members as this node has applied its entries.
    pub fn roster(&self) -> Result<Roster> {
        self.shared.roster()
    }

    /// The node ids Raft counts as voters now, as this node knows them.
    pub fn raft_voters(&self) -> BTreeSet<NodeId> {
        self.shared
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// Stops serving, stops Raft, and waits for the node's tasks to end. What was
    /// committed stays on disk. Calling it again does nothing.
    pub async fn shutdown(&self) -> Result<()> {
        let tasks = match self.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return Err(Error::Internal("chain node task list poisoned")),
        };
        if tasks.is_empty() {
            return Ok(());
        }
        let _ = self.stop.send(true);
        self.committer.stop().await;
        let res = self.shared.raft.shutdown().await;
        for t in tasks {
            let _ = t.await;
        }
        res.map_err(|e| Error::Raft(format!("shutting down: {e}")))
    }
}

fn raft_err(e: impl std::fmt::Display) -> Error {
    Error::Raft(e.to_string())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// On the leader, makes Raft's membership follow the chain's roster: members the chain
/// added become Raft learners, the roster's voters become Raft's voters, and nodes the
/// chain removed leave Raft. Raft itself never decides who is a member.
async fn follow_roster(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    loop {
        if shared.raft.current_leader().await == Some(shared.id)
            && let Err(e) = follow_once(&shared).await
        {
            tracing::warn!("changing the chain's Raft membership failed: {e}");
        }
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

async fn follow_once(shared: &Shared) -> Result<()> {
    let raft_membership = || Arc::clone(&shared.raft.metrics().borrow().membership_config);
    let current = raft_membership();
    if current.membership().get_joint_config().len() > 1 {
        // A change is under way; openraft finishes it before the next.
        return Ok(());
    }
    let roster = shared.roster()?;
    for m in roster.members().values() {
        if current.membership().get_node(&m.node).is_none() {
            shared
                .raft
                .add_learner(m.node, BasicNode::new(&m.addr), false)
                .await
                .map_err(raft_err)?;
        }
    }
    let (voters, members) = shared.member_nodes()?;
    let raft_voters: BTreeSet<NodeId> = raft_membership().membership().voter_ids().collect();
    if !voters.is_empty() && voters != raft_voters {
        tracing::info!(?voters, was = ?raft_voters, "the chain's voters changed");
        shared
            .raft
            .change_membership(ChangeMembers::ReplaceAllVoters(voters), true)
            .await
            .map_err(raft_err)?;
    }
    let gone: BTreeSet<NodeId> = raft_membership()
        .membership()
        .nodes()
        .map(|(id, _)| *id)
        .filter(|id| !members.contains(id))
        .collect();
    if !gone.is_empty() {
        tracing::info!(?gone, "chain nodes left");
        shared
            .raft
            .change_membership(ChangeMembers::RemoveNodes(gone), false)
            .await
            .map_err(raft_err)?;
    }
    Ok(())
}
