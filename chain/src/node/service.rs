//! The peer protocol's server side: openraft's RPCs handed to the local Raft, forwarded
//! appends, and checkpoint cosigning and publishing.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_proto::chain_v1::chain_peer_server::{ChainPeer, ChainPeerServer};
use sluice_proto::chain_v1::submit_response::Outcome;
use sluice_proto::chain_v1::{
    Appended, CosignRequest, CosignResponse, PublishRequest, PublishResponse, RaftMessage, Refused,
    SubmitRequest, SubmitResponse,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::shared::Shared;
use super::{commit, cosign};
use crate::error::Error;
use crate::raft::{ChainRequest, ChainResponse, NodeId};

struct PeerService {
    shared: Arc<Shared>,
}

/// Serves the peer protocol on `listener` until `stopped` turns true.
pub(crate) fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let shared_tls = shared.config.tls.clone();
    let service = ChainPeerServer::new(PeerService { shared })
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    let tls = shared_tls.clone();
    tokio::spawn(async move {
        // The builder's `tcp_nodelay` does not reach sockets from a listener of our own;
        // without it, Nagle and delayed ACKs hold small Raft replies for ~40 ms.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            builder = match builder.tls_config(tls.server) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("chain peer server: TLS settings: {e}");
                    return;
                }
            };
        }
        let res = builder
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stopped.changed().await;
            })
            .await;
        if let Err(e) = res {
            tracing::error!("chain peer server stopped: {e}");
        }
    })
}

fn decode<T: DeserializeOwned>(m: &RaftMessage) -> Result<T, Status> {
    crate::raft::decode(&m.body)
        .map_err(|e| Status::invalid_argument(format!("malformed raft message: {e}")))
}

fn encode<T: Serialize>(v: &T) -> Result<Response<RaftMessage>, Status> {
    let body = crate::raft::encode(v).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(RaftMessage { body }))
}

fn status(e: Error) -> Status {
    match e.fault() {
        crate::Fault::Caller => Status::invalid_argument(e.to_string()),
        crate::Fault::Data => Status::failed_precondition(e.to_string()),
        crate::Fault::Cluster => Status::unavailable(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

impl PeerService {
    /// Under mutual TLS, the agency the caller's certificate names, which must run a
    /// node of this chain; without TLS (tests of the chain alone) everyone is heard.
    fn peer_agency<T>(&self, req: &Request<T>) -> Result<Option<String>, Status> {
        let Some(tls) = &self.shared.config.tls else {
            return Ok(None);
        };
        let Some(agency) = req
            .peer_certs()
            .and_then(|certs| certs.first().and_then(|c| (tls.agency_of)(c.as_ref())))
        else {
            return refuse(Status::unauthenticated(
                "a chain peer needs a TLS client certificate from the federation CA that names its agency",
            ));
        };
        let member = self
            .shared
            .with_roster(|r| r.members().contains_key(&agency))
            .map_err(|e| Status::internal(e.to_string()))?;
        if !member {
            return refuse(Status::permission_denied(format!(
                "`{agency}` runs no node of this chain"
            )));
        }
        Ok(Some(agency))
    }

    /// Checks that a Raft message speaking for node `claimed` comes from that node's
    /// agency.
    fn check_claim(&self, agency: &Option<String>, claimed: Option<NodeId>) -> Result<(), Status> {
        let (Some(agency), Some(id)) = (agency, claimed) else {
            return Ok(());
        };
        match self.shared.member(id) {
            Some((holder, _)) if &holder == agency => Ok(()),
            Some((holder, _)) => refuse(Status::permission_denied(format!(
                "`{agency}`'s certificate cannot speak for chain node {id}, which is `{holder}`'s"
            ))),
            None => refuse(Status::permission_denied(format!(
                "chain node {id}, claimed by `{agency}`, is not a member of this chain"
            ))),
        }
    }
}

fn refuse<T>(status: Status) -> Result<T, Status> {
    tracing::warn!(reason = status.message(), "chain peer refused");
    Err(status)
}

#[tonic::async_trait]
impl ChainPeer for PeerService {
    async fn append_entries(
        &self,
        req: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let agency = self.peer_agency(&req)?;
        let rpc: openraft::raft::AppendEntriesRequest<crate::TypeConfig> = decode(req.get_ref())?;
        self.check_claim(&agency, rpc.vote.leader_id().voted_for())?;
        encode(&self.shared.raft.append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let agency = self.peer_agency(&req)?;
        let rpc: openraft::raft::VoteRequest<NodeId> = decode(req.get_ref())?;
        self.check_claim(&agency, rpc.vote.leader_id().voted_for())?;
        encode(&self.shared.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        req: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let agency = self.peer_agency(&req)?;
        let rpc: openraft::raft::InstallSnapshotRequest<crate::TypeConfig> = decode(req.get_ref())?;
        self.check_claim(&agency, rpc.vote.leader_id().voted_for())?;
        encode(&self.shared.raft.install_snapshot(rpc).await)
    }

    async fn submit(
        &self,
        req: Request<SubmitRequest>,
    ) -> Result<Response<SubmitResponse>, Status> {
        self.peer_agency(&req)?;
        let entries = req.into_inner().entries;
        if entries.is_empty() {
            return Err(Status::invalid_argument("no entries to append"));
        }
        let outcome = match commit::submit_as_leader(&self.shared, ChainRequest { entries }).await?
        {
            ChainResponse::Appended { first, count } => {
                Outcome::Appended(Appended { first, count })
            }
            ChainResponse::Refused { position, reason } => {
                Outcome::Refused(Refused { position, reason })
            }
            ChainResponse::Nothing => return Err(Status::internal("nothing was appended")),
        };
        Ok(Response::new(SubmitResponse {
            outcome: Some(outcome),
        }))
    }

    async fn cosign(
        &self,
        req: Request<CosignRequest>,
    ) -> Result<Response<CosignResponse>, Status> {
        self.peer_agency(&req)?;
        let note = cosign::cosign(&self.shared, &req.into_inner().note)
            .await
            .map_err(status)?;
        Ok(Response::new(CosignResponse { note }))
    }

    async fn publish(
        &self,
        req: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        self.peer_agency(&req)?;
        cosign::receive(&self.shared, &req.into_inner().note)
            .await
            .map_err(status)?;
        Ok(Response::new(PublishResponse {}))
    }
}
