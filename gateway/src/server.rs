//! The gateway's gRPC face: analysts' `Query`, peers' `Fetch`, and `Catalog`. Results
//! leave as Arrow IPC frames through a small bounded channel, so a slow reader holds
//! the query back instead of filling memory.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use sluice_proto::v1::{self, result_frame::Frame};
use sluice_proto::{Gateway as GatewayRpc, GatewayServer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::audit::Audit;
use crate::client::{
    AgencyClient, LocalClient, MAX_MESSAGE_BYTES, PeerClient, PeerTimeouts, WireStats,
};
use crate::config::GatewayConfig;
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};
use crate::home::Home;
use crate::ipc::FrameEncoder;
use crate::owner::Owner;

/// A gateway: the owner of this agency's datasets and the home planner for its analysts.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub owner: Arc<Owner>,
    pub home: Arc<Home>,
    /// This gateway's audit chain node, if its config has a `[chain]` section.
    pub chain: Option<Arc<sluice_chain::ChainNode>>,
}

impl Gateway {
    /// Open the datasets and set up clients for the peers. Does not listen yet.
    pub async fn open(config: &GatewayConfig) -> Result<Self> {
        let chain = match &config.chain {
            Some(c) => Some(crate::audit::start_chain_node(&config.agency, c).await?),
            None => {
                tracing::warn!(
                    agency = %config.agency,
                    "no [chain] section: accesses are not recorded on an audit chain"
                );
                None
            }
        };
        let audit = match &chain {
            Some(node) => Audit::on_chain(Arc::clone(node)),
            None => Audit::disabled(),
        };
        let owner = Arc::new(Owner::open(config, audit).await?);
        let stats = Arc::new(WireStats::default());
        let timeouts = PeerTimeouts {
            connect: config.peer_timeout,
            ..PeerTimeouts::default()
        };
        let mut clients: Vec<Arc<dyn AgencyClient>> = vec![Arc::new(LocalClient::new(
            Arc::clone(&owner),
            Arc::clone(&stats),
        ))];
        for p in &config.peers {
            clients.push(Arc::new(PeerClient::new(
                &p.agency,
                &p.address,
                timeouts,
                Arc::clone(&stats),
            )));
        }
        let home = Arc::new(Home::new(&config.agency, clients, stats)?);
        Ok(Gateway { owner, home, chain })
    }

    /// Serve on `listener` until `shutdown` fires.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let svc = GatewayServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        // The builder's `tcp_nodelay` does not reach sockets from a listener of our own;
        // without it, Nagle and delayed ACKs hold small replies for ~40 ms.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| GatewayError::Transport(e.to_string()))
    }
}

/// A gateway serving in the background, stopped when dropped or by [`Self::stop`].
#[derive(Debug)]
pub struct RunningGateway {
    pub gateway: Gateway,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl RunningGateway {
    /// Open a gateway and start serving it on `listener`.
    pub async fn start(config: &GatewayConfig, listener: TcpListener) -> Result<Self> {
        let gateway = Gateway::open(config).await?;
        let addr = listener
            .local_addr()
            .map_err(|e| GatewayError::Transport(e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(gateway.clone().serve(listener, async {
            let _ = rx.await;
        }));
        Ok(RunningGateway {
            gateway,
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// Stop serving and wait for the server to wind down.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let served = match self.task.take() {
            Some(t) => t.await.map_err(|e| GatewayError::Internal(e.to_string()))?,
            None => Ok(()),
        };
        if let Some(node) = &self.gateway.chain {
            node.shutdown().await?;
        }
        served
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// How a [`GatewayError`] travels to a gRPC caller.
pub fn to_status(e: &GatewayError) -> Status {
    let msg = e.to_string();
    match e {
        GatewayError::Sql(_)
        | GatewayError::BadRequest(_)
        | GatewayError::NotAQuery(_)
        | GatewayError::UnqualifiedTable(_) => Status::invalid_argument(msg),
        GatewayError::UnknownAgency { .. } | GatewayError::UnknownDataset { .. } => {
            Status::not_found(msg)
        }
        GatewayError::PeerUnreachable { .. }
        | GatewayError::PeerDisconnected { .. }
        | GatewayError::PeerError { .. } => Status::failed_precondition(msg),
        GatewayError::Audit(_) => Status::aborted(msg),
        GatewayError::Refused { .. } => Status::permission_denied(msg),
        GatewayError::SchemaMismatch { .. } | GatewayError::BadPeerData { .. } => {
            Status::data_loss(msg)
        }
        _ => Status::internal(msg),
    }
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
                let _ = tx.send(Err(Status::internal(e.to_string()))).await;
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
                let _ = tx.send(Err(Status::internal(e.to_string()))).await;
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
            let _ = tx.send(Err(Status::internal(e.to_string()))).await;
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

#[tonic::async_trait]
impl GatewayRpc for Gateway {
    type QueryStream = FrameStream;
    type FetchStream = FrameStream;

    async fn query(
        &self,
        request: Request<v1::QueryRequest>,
    ) -> Result<Response<Self::QueryStream>, Status> {
        let req = request.into_inner();
        let ctx = RequestContext::from_proto(req.context.as_ref()).map_err(|e| to_status(&e))?;
        let what = format!("query {}", ctx.query_id);
        match self.home.query(&ctx, &req.sql).await {
            Ok(stream) => Ok(Response::new(frames(stream, what))),
            Err(e) => {
                tracing::info!(query_id = %ctx.query_id, error = %e, "query refused");
                Err(to_status(&e))
            }
        }
    }

    async fn fetch(
        &self,
        request: Request<v1::FetchRequest>,
    ) -> Result<Response<Self::FetchStream>, Status> {
        let req = request.into_inner();
        let ctx = RequestContext::from_proto(req.context.as_ref()).map_err(|e| to_status(&e))?;
        let what = format!("sub-query {}", ctx.query_id);
        match self.owner.fetch(ctx.clone(), &req.sql).await {
            Ok(stream) => Ok(Response::new(frames(stream, what))),
            Err(e) => {
                tracing::info!(query_id = %ctx.query_id, error = %e, "sub-query refused");
                Err(to_status(&e))
            }
        }
    }

    async fn catalog(
        &self,
        request: Request<v1::CatalogRequest>,
    ) -> Result<Response<v1::CatalogResponse>, Status> {
        let req = request.into_inner();
        RequestContext::from_proto(req.context.as_ref()).map_err(|e| to_status(&e))?;
        let mut resp = v1::CatalogResponse::default();
        if req.include_peers {
            let (catalogs, failed) = self.home.catalogs().await;
            for c in catalogs {
                resp.agencies.push(c.to_proto().map_err(|e| to_status(&e))?);
            }
            for (agency, e) in failed {
                resp.unreachable.push(v1::PeerError {
                    agency,
                    message: e.to_string(),
                });
            }
        } else {
            resp.agencies
                .push(self.owner.catalog().to_proto().map_err(|e| to_status(&e))?);
        }
        Ok(Response::new(resp))
    }
}
