//! The gateway's gRPC face: analysts' `Query` and `Export`, peers' `Fetch`, `Catalog`, and
//! the chain officers' `ProposeMembership` and `ChainMembers`. Results
//! leave as Arrow IPC frames through a small bounded channel, so a slow reader holds
//! the query back instead of filling memory.

use std::pin::Pin;
use std::sync::Arc;

use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use sluice_proto::Gateway as GatewayRpc;
use sluice_proto::v1::{self, result_frame::Frame};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use super::status::to_status;
use crate::context::RequestContext;
use crate::directory::publish::Publisher;
use crate::error::GatewayError;
use crate::export::Exporter;
use crate::home::Home;
use crate::identity::tls::caller_agency;
use crate::identity::users::{Session, Sessions};
use crate::ipc::FrameEncoder;
use crate::owner::Owner;
use crate::owner::sealed::FrameStream as SealedStream;
use crate::peer::Caller;
use sluice_core::{AgencyId, Purpose, QueryId};

/// The gRPC service of one gateway: its home planner, its owner, its analysts'
/// sessions, and its chain node.
#[derive(Debug, Clone)]
pub struct GatewayService {
    pub owner: Arc<Owner>,
    pub home: Arc<Home>,
    pub sessions: Arc<Sessions>,
    pub exporter: Arc<Exporter>,
    pub chain: Option<Arc<sluice_chain::ChainNode>>,
    /// Publishes the agency's catalog; `None` on a gateway without a chain.
    pub publisher: Option<Arc<Publisher>>,
}

impl GatewayService {
    fn chain_node(&self) -> Result<&sluice_chain::ChainNode, GatewayError> {
        self.chain.as_deref().ok_or_else(|| {
            GatewayError::BadRequest("this gateway runs unaudited: it has no chain node".into())
        })
    }
}

/// Refuses a session without the role that signs membership changes.
fn require_chain_officer(session: &Session) -> Result<(), GatewayError> {
    let role = crate::chain::CHAIN_OFFICER;
    if session.roles().iter().any(|r| r == role) {
        return Ok(());
    }
    tracing::warn!(principal = %session.principal(), "membership change refused: not a {role}");
    Err(GatewayError::Forbidden(format!(
        "`{}` may not sign membership changes: that takes the role `{role}`",
        session.principal()
    )))
}

fn internal(message: String) -> Status {
    to_status(&GatewayError::Internal(message))
}

type FrameStream = Pin<Box<dyn Stream<Item = Result<v1::ResultFrame, Status>> + Send>>;

/// Stream `batches` as frames. The channel holds two frames: the query runs only as
/// fast as the caller reads.
fn frames(mut batches: SendableRecordBatchStream, what: String) -> FrameStream {
    let (tx, rx) = mpsc::channel::<Result<v1::ResultFrame, Status>>(2);
    tokio::spawn(async move {
        let ipc = |bytes: Vec<u8>| v1::ResultFrame {
            frame: Some(Frame::Ipc(bytes)),
        };
        let schema = batches.schema();
        let mut enc = match FrameEncoder::new(&schema) {
            Ok(e) => e,
            Err(e) => {
                let _ = tx
                    .send(Err(internal(format!("encoding the result: {e}"))))
                    .await;
                return;
            }
        };
        let (mut rows, mut count, mut bytes) = (0u64, 0u64, 0u64);
        let first = enc.take();
        bytes += first.len() as u64;
        if tx.send(Ok(ipc(first))).await.is_err() {
            return;
        }
        while let Some(item) = batches.next().await {
            let batch = match item {
                Ok(b) => b,
                Err(e) => {
                    let e = GatewayError::from_datafusion(e);
                    if matches!(e, GatewayError::Refused { .. }) {
                        tracing::info!(%what, error = %e, "query refused by a policy");
                    } else {
                        tracing::warn!(%what, error = %e, "query failed mid-stream");
                    }
                    let _ = tx.send(Err(to_status(&e))).await;
                    return;
                }
            };
            if batch.num_rows() == 0 {
                continue;
            }
            if let Err(e) = enc.write(&batch) {
                let _ = tx
                    .send(Err(internal(format!("encoding the result: {e}"))))
                    .await;
                return;
            }
            let frame = enc.take();
            rows += batch.num_rows() as u64;
            count += 1;
            bytes += frame.len() as u64;
            if tx.send(Ok(ipc(frame))).await.is_err() {
                tracing::debug!(%what, "caller went away");
                return;
            }
        }
        if let Err(e) = enc.finish() {
            let _ = tx
                .send(Err(internal(format!("encoding the result: {e}"))))
                .await;
            return;
        }
        let last = enc.take();
        bytes += last.len() as u64;
        if tx.send(Ok(ipc(last))).await.is_err() {
            return;
        }
        tracing::info!(%what, rows, batches = count, bytes, "result delivered");
        let _ = tx
            .send(Ok(v1::ResultFrame {
                frame: Some(Frame::End(v1::ResultSummary {
                    rows,
                    batches: count,
                    bytes,
                })),
            }))
            .await;
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// The session a call's `authorization: Bearer <token>` metadata stands for.
fn session_of<T>(sessions: &Sessions, request: &Request<T>) -> Result<Session, GatewayError> {
    let header = request
        .metadata()
        .get("authorization")
        .ok_or_else(|| {
            GatewayError::Unauthenticated(
                "no credentials: log in with `sluice login` and pass the session token".into(),
            )
        })?
        .to_str()
        .map_err(|_| {
            GatewayError::Unauthenticated("the authorization header is not text".into())
        })?;
    let token = header.strip_prefix("Bearer ").ok_or_else(|| {
        GatewayError::Unauthenticated("the authorization header is not `Bearer <token>`".into())
    })?;
    sessions.resolve(token)
}

/// Sealed frames to the wire, through a two-frame channel: the query runs only as fast
/// as the peer reads.
fn sealed_frames(mut frames: SealedStream, what: String) -> FrameStream {
    let (tx, rx) = mpsc::channel::<Result<v1::ResultFrame, Status>>(2);
    tokio::spawn(async move {
        while let Some(item) = frames.next().await {
            let failed = item.is_err();
            if let Err(e) = &item {
                tracing::info!(%what, error = %e, "sub-query failed mid-stream");
            }
            if tx.send(item.map_err(|e| to_status(&e))).await.is_err() {
                tracing::debug!(%what, "caller went away");
                return;
            }
            if failed {
                return;
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

#[tonic::async_trait]
impl GatewayRpc for GatewayService {
    type QueryStream = FrameStream;
    type FetchStream = FrameStream;

    async fn login(
        &self,
        request: Request<v1::LoginRequest>,
    ) -> Result<Response<v1::LoginResponse>, Status> {
        let req = request.into_inner();
        match self.sessions.login(&req.principal, &req.password) {
            Ok((token, session)) => Ok(Response::new(v1::LoginResponse {
                token,
                expires_ms: session.expires_ms(),
            })),
            Err(e) => {
                tracing::info!(error = %e, "login refused");
                Err(to_status(&e))
            }
        }
    }

    async fn query(
        &self,
        request: Request<v1::QueryRequest>,
    ) -> Result<Response<Self::QueryStream>, Status> {
        let session = session_of(&self.sessions, &request).map_err(|e| to_status(&e))?;
        let req = request.into_inner();
        let caller = caller_for(session, req.context.as_ref()).map_err(|e| to_status(&e))?;
        let what = format!("query {}", caller.ctx.query_id);
        match self.home.query(&caller, &req.sql).await {
            Ok(stream) => Ok(Response::new(frames(stream, what))),
            Err(e) => {
                tracing::info!(query_id = %caller.ctx.query_id, error = %e, "query refused");
                Err(to_status(&e))
            }
        }
    }

    async fn fetch(
        &self,
        request: Request<v1::FetchRequest>,
    ) -> Result<Response<Self::FetchStream>, Status> {
        let caller = caller_agency(&request).map_err(|e| to_status(&e))?;
        let req = request.into_inner();
        let auth = self
            .owner
            .authenticate(caller, req.request.as_ref(), &req.sql)
            .await
            .map_err(|e| {
                tracing::info!(error = %e, "sub-query not authenticated");
                to_status(&e)
            })?;
        let query_id = auth.context().query_id.clone();
        match self.owner.fetch_sealed(auth, &req.sql).await {
            Ok(stream) => Ok(Response::new(sealed_frames(
                stream,
                format!("sub-query {query_id}"),
            ))),
            Err(e) => {
                tracing::info!(%query_id, error = %e, "sub-query refused");
                Err(to_status(&e))
            }
        }
    }

    async fn export(
        &self,
        request: Request<v1::ExportRequest>,
    ) -> Result<Response<v1::ExportResponse>, Status> {
        let session = session_of(&self.sessions, &request).map_err(|e| to_status(&e))?;
        let req = request.into_inner();
        let caller = caller_for(session, req.context.as_ref()).map_err(|e| to_status(&e))?;
        let recipient =
            AgencyId::parse(&req.recipient).map_err(|e| to_status(&GatewayError::from(e)))?;
        match self
            .exporter
            .export(&self.home, &caller, &req.sql, &recipient)
            .await
        {
            Ok(file) => Ok(Response::new(v1::ExportResponse {
                file: file.bytes,
                rows: file.rows,
                entry: file.entry,
            })),
            Err(e) => {
                tracing::info!(query_id = %caller.ctx.query_id, error = %e, "export refused");
                Err(to_status(&e))
            }
        }
    }

    async fn catalog(
        &self,
        request: Request<v1::CatalogRequest>,
    ) -> Result<Response<v1::CatalogResponse>, Status> {
        // Peers show their certificate; analysts their session.
        let peer = caller_agency(&request).map_err(|e| to_status(&e))?;
        if peer.is_none() {
            session_of(&self.sessions, &request).map_err(|e| to_status(&e))?;
        }
        let req = request.into_inner();
        let mut resp = v1::CatalogResponse::default();
        if req.include_peers {
            let (catalogs, failed) = self.home.catalogs().await;
            for c in catalogs {
                resp.agencies.push(c.to_proto().map_err(|e| to_status(&e))?);
            }
            for (agency, e) in failed {
                resp.unreachable.push(v1::PeerError {
                    agency: agency.to_string(),
                    message: e.to_string(),
                });
            }
        } else {
            resp.agencies
                .push(self.owner.catalog().to_proto().map_err(|e| to_status(&e))?);
        }
        Ok(Response::new(resp))
    }

    async fn propose_membership(
        &self,
        request: Request<v1::MembershipRequest>,
    ) -> Result<Response<v1::MembershipResponse>, Status> {
        let session = session_of(&self.sessions, &request).map_err(|e| to_status(&e))?;
        require_chain_officer(&session).map_err(|e| to_status(&e))?;
        let node = self.chain_node().map_err(|e| to_status(&e))?;
        let req = request.into_inner();
        match crate::chain::propose_membership(node, &req).await {
            Ok(resp) => {
                tracing::info!(
                    principal = %session.principal(),
                    agency = %req.agency,
                    action = req.action,
                    effective = resp.effective,
                    "membership change signed"
                );
                Ok(Response::new(resp))
            }
            Err(e) => {
                tracing::info!(principal = %session.principal(), error = %e, "membership change refused");
                Err(to_status(&e))
            }
        }
    }

    async fn chain_members(
        &self,
        request: Request<v1::ChainMembersRequest>,
    ) -> Result<Response<v1::ChainMembersResponse>, Status> {
        // Any of the agency's users may read the roster.
        session_of(&self.sessions, &request).map_err(|e| to_status(&e))?;
        let node = self.chain_node().map_err(|e| to_status(&e))?;
        let roster = node.roster().map_err(|e| to_status(&e.into()))?;
        Ok(Response::new(crate::chain::chain_members(&roster)))
    }

    async fn directory(
        &self,
        request: Request<v1::DirectoryRequest>,
    ) -> Result<Response<v1::DirectoryResponse>, Status> {
        // The catalog is for the agency's users; peers read their own copy of the chain.
        session_of(&self.sessions, &request).map_err(|e| to_status(&e))?;
        let node = self.chain_node().map_err(|e| to_status(&e))?;
        crate::directory::read::answer(node.store(), request.get_ref())
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }

    async fn publish_catalog(
        &self,
        request: Request<v1::PublishRequest>,
    ) -> Result<Response<v1::PublishResponse>, Status> {
        let session = session_of(&self.sessions, &request).map_err(|e| to_status(&e))?;
        crate::directory::require_data_officer(&session, "publish the catalog")
            .map_err(|e| to_status(&e))?;
        let publisher = self.publisher.as_ref().ok_or_else(|| {
            to_status(&GatewayError::BadRequest(
                "this gateway runs unaudited: it has no chain to publish on".into(),
            ))
        })?;
        let report = publisher.publish().await.map_err(|e| to_status(&e))?;
        tracing::info!(principal = %session.principal(), ?report, "catalog published");
        Ok(Response::new(v1::PublishResponse {
            published: report.published,
            changed: report.changed,
            withdrawn: report.withdrawn,
            unchanged: report.unchanged,
        }))
    }

    async fn request_access(
        &self,
        request: Request<v1::AccessAsk>,
    ) -> Result<Response<v1::AccessReceipt>, Status> {
        let session = session_of(&self.sessions, &request).map_err(|e| to_status(&e))?;
        let node = self.chain_node().map_err(|e| to_status(&e))?;
        crate::directory::access::request(node, session.principal(), request.get_ref())
            .await
            .map(Response::new)
            .map_err(|e| {
                tracing::info!(principal = %session.principal(), error = %e, "access request refused");
                to_status(&e)
            })
    }

    async fn decide_access(
        &self,
        request: Request<v1::AccessDecide>,
    ) -> Result<Response<v1::AccessReceipt>, Status> {
        let session = session_of(&self.sessions, &request).map_err(|e| to_status(&e))?;
        crate::directory::require_data_officer(&session, "decide on access requests")
            .map_err(|e| to_status(&e))?;
        let node = self.chain_node().map_err(|e| to_status(&e))?;
        crate::directory::access::decide(node, session.principal(), request.get_ref())
            .await
            .map(Response::new)
            .map_err(|e| {
                tracing::info!(principal = %session.principal(), error = %e, "access decision refused");
                to_status(&e)
            })
    }

    async fn list_access(
        &self,
        request: Request<v1::AccessListRequest>,
    ) -> Result<Response<v1::AccessListResponse>, Status> {
        let session = session_of(&self.sessions, &request).map_err(|e| to_status(&e))?;
        if request.get_ref().to_my_agency {
            crate::directory::require_data_officer(&session, "list the agency's access requests")
                .map_err(|e| to_status(&e))?;
        }
        let node = self.chain_node().map_err(|e| to_status(&e))?;
        crate::directory::access::list(node.store(), session.principal(), request.get_ref())
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }
}

/// The caller of an analyst's query: the principal comes from the session, never from
/// the request; the request names the purpose and, optionally, the query id.
fn caller_for(session: Session, ctx: Option<&v1::RequestContext>) -> Result<Caller, GatewayError> {
    let ctx =
        ctx.ok_or_else(|| GatewayError::BadRequest("the request carries no context".into()))?;
    if !ctx.principal.is_empty() {
        return Err(GatewayError::BadRequest(format!(
            "the request sets principal `{}`; the principal comes from your credentials, leave it empty",
            ctx.principal
        )));
    }
    let purpose = Purpose::parse(&ctx.purpose)?;
    let query_id = if ctx.query_id.is_empty() {
        QueryId::new()
    } else {
        QueryId::parse(&ctx.query_id)?
    };
    Ok(Caller {
        ctx: RequestContext {
            principal: session.principal().clone(),
            purpose,
            query_id,
        },
        session,
    })
}
