//! openraft's network over tonic: one lazily connected gRPC channel per peer, carrying
//! openraft's own request and response types as JSON inside [`RaftMessage`].
//!
//! Transport failures become `Unreachable` (openraft backs off and retries); an error the
//! peer's Raft returned comes back as a `RemoteError`.

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_proto::chain_v1::RaftMessage;
use sluice_proto::chain_v1::chain_peer_client::ChainPeerClient;
use tonic::transport::{Channel, ClientTlsConfig};

use super::shared::{PeerTls, peer_client};
use crate::raft::state_machine::SharedRoster;
use crate::raft::{NodeId, TypeConfig};

type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

/// Creates one [`PeerConnection`] per Raft peer. Only a member of the chain's roster is
/// sent anything, whatever Raft's own membership says.
#[derive(Debug, Clone)]
pub struct ChainNetwork {
    roster: SharedRoster,
    tls: Option<PeerTls>,
}

impl ChainNetwork {
    pub(crate) fn new(roster: SharedRoster, tls: Option<PeerTls>) -> Self {
        ChainNetwork { roster, tls }
    }

    /// The client TLS settings for node `id`, or why there is no client for it.
    fn client_tls(&self, id: NodeId) -> Result<Option<ClientTlsConfig>, String> {
        let roster = self
            .roster
            .read()
            .map_err(|_| "the roster lock is poisoned".to_string())?;
        let Some((agency, _)) = roster.roster().by_node(id) else {
            return Err(format!("node {id} is not a member of this chain"));
        };
        Ok(self.tls.as_ref().map(|tls| (tls.client_for)(agency)))
    }
}

impl RaftNetworkFactory<TypeConfig> for ChainNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        PeerConnection {
            target,
            addr: node.addr.clone(),
            client: self
                .client_tls(target)
                .and_then(|tls| peer_client(&node.addr, tls)),
        }
    }
}

/// The connection to one peer.
#[derive(Debug)]
pub struct PeerConnection {
    target: NodeId,
    addr: String,
    client: Result<ChainPeerClient<Channel>, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("peer {target} at {addr}: {reason}")]
struct TransportError {
    target: NodeId,
    addr: String,
    reason: String,
}

impl PeerConnection {
    fn transport<E: std::error::Error>(&self, reason: impl ToString) -> RpcError<E> {
        RPCError::Unreachable(Unreachable::new(&TransportError {
            target: self.target,
            addr: self.addr.clone(),
            reason: reason.to_string(),
        }))
    }

    fn decode_error<E: std::error::Error>(&self, reason: impl ToString) -> RpcError<E> {
        RPCError::Network(NetworkError::new(&TransportError {
            target: self.target,
            addr: self.addr.clone(),
            reason: reason.to_string(),
        }))
    }

    /// Sends `req` through `call` and decodes the peer's `Result<Resp, RaftError<E>>`.
    async fn call<Req, Resp, E, F, Fut>(
        &mut self,
        req: &Req,
        option: &RPCOption,
        call: F,
    ) -> Result<Resp, RpcError<E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
        F: FnOnce(ChainPeerClient<Channel>, RaftMessage) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<RaftMessage>, tonic::Status>>,
    {
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(e) => return Err(self.transport(e)),
        };
        let body = crate::raft::encode(req).map_err(|e| self.decode_error(e))?;
        let reply =
            match tokio::time::timeout(option.hard_ttl(), call(client, RaftMessage { body })).await
            {
                Err(_) => {
                    return Err(self.transport(format!(
                        "no answer within {} ms",
                        option.hard_ttl().as_millis()
                    )));
                }
                Ok(Err(status)) => return Err(self.transport(status.message())),
                Ok(Ok(reply)) => reply.into_inner(),
            };
        let result: Result<Resp, RaftError<NodeId, E>> =
            crate::raft::decode(&reply.body).map_err(|e| self.decode_error(e))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        self.call(&rpc, &option, |mut c, m| async move {
            c.append_entries(m).await
        })
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        self.call(&rpc, &option, |mut c, m| async move {
            c.install_snapshot(m).await
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcError> {
        self.call(&rpc, &option, |mut c, m| async move { c.vote(m).await })
            .await
    }
}
