//! What the tasks of one chain node share: its config and bootstrap membership
//! ([`NodeConfig`], [`Member`]), and [`Shared`], the Raft handle, store, keys, live roster
//! and peer clients that the committer, the cosigner and the peer service all use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use openraft::Raft;
use sluice_proto::chain_v1::chain_peer_client::ChainPeerClient;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, ServerTlsConfig};

use crate::checkpoint::{NoteSigner, NoteVerifier};
use crate::entry::MemberRole;
use crate::error::{Error, Result};
use crate::membership::{Roster, RosterMember};
use crate::raft::state_machine::SharedRoster;
use crate::raft::{NodeId, TypeConfig};
use crate::store::ChainStore;
use std::sync::Arc;

/// One agency's place in the chain cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The Raft node id, unique in the cluster.
    pub id: NodeId,
    /// The agency that runs the node; its key signs entries and checkpoints.
    pub agency: String,
    /// The node's chain address, `host:port`.
    pub addr: String,
}

/// The client TLS settings for reaching one agency's node.
pub type ClientTlsFor = Arc<dyn Fn(&str) -> ClientTlsConfig + Send + Sync>;
/// The agency a certificate (DER) names, if it names one.
pub type CertificateAgency = Arc<dyn Fn(&[u8]) -> Option<String> + Send + Sync>;

/// Mutual TLS between chain nodes. Each node presents its agency's certificate from the
/// federation CA; a peer is heard only if its certificate names the agency of the
/// member it claims to be.
#[derive(Clone)]
pub struct PeerTls {
    /// This node's server side; it must require client certificates.
    pub server: ServerTlsConfig,
    /// The client settings for reaching the node of an agency: its certificate must
    /// chain to the CA and name that agency.
    pub client_for: ClientTlsFor,
    /// The agency a peer's certificate (DER) names, if it names one.
    pub agency_of: CertificateAgency,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls").finish_non_exhaustive()
    }
}

/// How to run one chain node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id. A node whose id is not among the bootstrap `voters` or `learners`
    /// waits until a membership change on the chain adds it.
    pub id: NodeId,
    /// Where the Raft log and the chain are kept.
    pub data_dir: PathBuf,
    /// The agencies that vote when the chain starts (three to seven). Every node is
    /// given the same bootstrap membership; later changes come from the chain itself.
    pub voters: Vec<Member>,
    /// Agencies that replicate the chain without voting when it starts.
    pub learners: Vec<Member>,
    /// The checkpoint origin line, the chain's unique name.
    pub origin: String,
    /// How many voters must sign a checkpoint for it to count (k of n).
    pub checkpoint_quorum: usize,
    /// How often the leader publishes a checkpoint when the chain has grown.
    pub checkpoint_interval: Duration,
    /// Raft's heartbeat, which is also how long openraft lets one AppendEntries take
    /// (the follower's fsync included); elections time out after 3 to 6 heartbeats.
    pub heartbeat: Duration,
    /// How long an append waits for a leader or a peer before it fails.
    pub append_timeout: Duration,
    /// Raft log entries between snapshots; the log is purged behind each snapshot (one
    /// log entry carries up to 1,024 chain entries).
    pub snapshot_every: u64,
    /// Raft log entries kept behind the latest snapshot, so a follower that is only a
    /// little behind catches up from the log rather than by snapshot.
    pub logs_kept_after_snapshot: u64,
    /// How long sending and installing a snapshot may take; installing checks every
    /// signature of the entries it brings.
    pub snapshot_timeout: Duration,
    /// Mutual TLS with the other nodes; `None` is plaintext, for tests of the chain
    /// alone. A gateway always sets it.
    pub tls: Option<PeerTls>,
    /// Group-commit batches a node keeps in flight at once. More keeps Raft's pipeline
    /// full; fewer makes each batch larger, and the per-batch work (a Raft round, a
    /// state-machine write) is paid by more entries.
    pub batches_in_flight: usize,
}

/// Default for [`NodeConfig::batches_in_flight`]. Two keeps one batch replicating while
/// the next gathers; on two cores, with fsync on, 8 committed fewer entries per second at
/// 64 and 256 writers than 1 or 2 did (`sluice bench chain --in-flight`).
pub const DEFAULT_BATCHES_IN_FLIGHT: usize = 2;

impl NodeConfig {
    /// A config with the defaults for everything but the membership: a majority of voters
    /// cosign checkpoints, published every second; 100 ms heartbeats, so a lost leader is
    /// replaced within about a second (see [`ChainNode::start`](super::ChainNode::start));
    /// appends give up after 10 s; a snapshot every 10,000 Raft log entries, 1,000 kept.
    pub fn new(id: NodeId, data_dir: impl Into<PathBuf>, voters: Vec<Member>) -> Self {
        let quorum = voters.len() / 2 + 1;
        NodeConfig {
            id,
            data_dir: data_dir.into(),
            voters,
            learners: Vec::new(),
            origin: "sluice/chain".to_string(),
            checkpoint_quorum: quorum,
            checkpoint_interval: Duration::from_secs(1),
            heartbeat: Duration::from_millis(100),
            append_timeout: Duration::from_secs(10),
            snapshot_every: 10_000,
            logs_kept_after_snapshot: 1_000,
            snapshot_timeout: Duration::from_secs(60),
            tls: None,
            batches_in_flight: DEFAULT_BATCHES_IN_FLIGHT,
        }
    }

    /// The roster the chain starts from, with keys from `trust`.
    pub(crate) fn bootstrap_roster(&self, trust: &crate::TrustBundle) -> Result<Roster> {
        fn members(ms: &[Member]) -> impl Iterator<Item = (NodeId, &str, &str)> {
            ms.iter()
                .map(|m| (m.id, m.agency.as_str(), m.addr.as_str()))
        }
        Roster::bootstrap(members(&self.voters), members(&self.learners), trust)
    }

    /// Whether this node votes in the bootstrap membership, and so initializes Raft.
    pub(crate) fn is_bootstrap_voter(&self) -> bool {
        self.voters.iter().any(|m| m.id == self.id)
    }

    pub(crate) fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        if self.voters.is_empty() {
            return bad("a chain needs at least one voter".into());
        }
        let mut ids = BTreeSet::new();
        for m in self.voters.iter().chain(&self.learners) {
            if !ids.insert(m.id) {
                return bad(format!("node id {} appears twice in the membership", m.id));
            }
        }
        if self.checkpoint_quorum == 0 || self.checkpoint_quorum > self.voters.len() {
            return bad(format!(
                "checkpoint quorum {} must be between 1 and the {} voters",
                self.checkpoint_quorum,
                self.voters.len()
            ));
        }
        Ok(())
    }
}

/// What the tasks of one node share.
pub(crate) struct Shared {
    pub(crate) id: NodeId,
    pub(crate) raft: Raft<TypeConfig>,
    pub(crate) store: Arc<ChainStore>,
    pub(crate) config: NodeConfig,
    /// This agency's checkpoint key; it signs only while the roster has it voting.
    pub(crate) note_signer: NoteSigner,
    /// The chain's members as its entries made them, kept by the state machine.
    pub(crate) roster: SharedRoster,
    /// A lazily connected client per member, by node id, with the address it was made for.
    pub(crate) peers: Mutex<BTreeMap<NodeId, (String, ChainPeerClient<Channel>)>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// `f` of the chain's members now, read in place: peers' messages ask on every call.
    pub(crate) fn with_roster<T>(&self, f: impl FnOnce(&Roster) -> T) -> Result<T> {
        self.roster
            .read()
            .map(|l| f(l.roster()))
            .map_err(|_| Error::Internal("roster lock poisoned"))
    }

    /// The chain's members now.
    pub(crate) fn roster(&self) -> Result<Roster> {
        self.with_roster(Roster::clone)
    }

    /// The member that runs node `id`, and its agency.
    pub(crate) fn member(&self, id: NodeId) -> Option<(String, RosterMember)> {
        self.with_roster(|r| {
            r.by_node(id)
                .map(|(agency, m)| (agency.to_string(), m.clone()))
        })
        .ok()
        .flatten()
    }

    /// The address of node `id` and a client for it, if it is a member.
    pub(crate) fn peer(&self, id: NodeId) -> Option<(String, ChainPeerClient<Channel>)> {
        let (agency, member) = self.member(id)?;
        let mut peers = self.peers.lock().ok()?;
        if let Some((addr, client)) = peers.get(&id)
            && addr == &member.addr
        {
            return Some((addr.clone(), client.clone()));
        }
        let tls = self.config.tls.as_ref().map(|t| (t.client_for)(&agency));
        match peer_client(&member.addr, tls) {
            Ok(client) => {
                peers.insert(id, (member.addr.clone(), client.clone()));
                Some((member.addr, client))
            }
            Err(e) => {
                tracing::warn!(node = id, "no client for chain node: {e}");
                None
            }
        }
    }

    /// Whether this node votes now.
    pub(crate) fn is_voter(&self) -> bool {
        self.member(self.id)
            .is_some_and(|(_, m)| m.role == MemberRole::Voter)
    }

    /// The voters' checkpoint keys and how many must sign: the configured quorum, but at
    /// least a majority of the voters the roster has now.
    pub(crate) fn checkpoint_rule(&self) -> Result<(Vec<NoteVerifier>, usize)> {
        self.with_roster(|r| {
            Ok((
                r.voter_keys()?,
                r.checkpoint_quorum(self.config.checkpoint_quorum),
            ))
        })?
    }

    /// The node ids of the voters, and of every member, now.
    pub(crate) fn member_nodes(&self) -> Result<(BTreeSet<NodeId>, BTreeSet<NodeId>)> {
        self.with_roster(|r| {
            let all = r.members().values().map(|m| m.node).collect();
            (r.voter_nodes().collect(), all)
        })
    }
}

/// How long a connection attempt to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A lazily connected client for the peer at `addr` (`host:port`), over mutual TLS when
/// `tls` is set.
pub(crate) fn peer_client(
    addr: &str,
    tls: Option<ClientTlsConfig>,
) -> Result<ChainPeerClient<Channel>, String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| format!("bad peer address `{addr}`: {e}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| format!("TLS settings for `{addr}`: {e}"))?;
    }
    Ok(ChainPeerClient::new(endpoint.connect_lazy())
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX))
}

pub(crate) async fn wait_for_size(shared: &Shared, size: u64, timeout: Duration) -> Result<()> {
    let mut metrics = shared.raft.metrics();
    let wait = async {
        loop {
            if shared.store.len()? >= size {
                return Ok(());
            }
            if metrics.changed().await.is_err() {
                return Err(Error::Raft("the node stopped".into()));
            }
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .map_err(|_| Error::Unavailable {
            peer: format!("node {}", shared.id),
            reason: format!(
                "did not reach {size} entries within {} ms",
                timeout.as_millis()
            ),
        })?
}
