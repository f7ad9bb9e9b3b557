//! How a home gateway reaches the agencies that own data: [`AgencyClient`], implemented
//! by [`PeerClient`] (a peer gateway over gRPC) and [`LocalClient`] (this gateway's own
//! owner, in process, through the same owner-side checks as a peer's request).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{Stream, StreamExt, TryStreamExt};
use sluice_proto::GatewayClient;
use sluice_proto::v1::{self, result_frame::Frame};
use tokio::sync::OnceCell;
use tonic::transport::{Channel, Endpoint};

use crate::catalog::AgencyCatalog;
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};
use crate::ipc::FrameDecoder;
use crate::owner::Owner;

/// A connection to the gateway of an agency that owns data.
#[async_trait]
pub trait AgencyClient: Debug + Send + Sync {
    /// The agency this client reaches.
    fn agency(&self) -> &str;

    /// The agency's published catalog.
    async fn catalog(&self, ctx: &RequestContext) -> Result<AgencyCatalog>;

    /// Run `sql` at the owner and stream the result, conformed to `expected`.
    async fn fetch(
        &self,
        ctx: &RequestContext,
        sql: &str,
        expected: SchemaRef,
    ) -> Result<SendableRecordBatchStream>;
}

/// Counts what crosses from owners to this home gateway, per agency.
#[derive(Debug, Default)]
pub struct WireStats {
    per_agency: Mutex<BTreeMap<String, Arc<AgencyWireStats>>>,
}

/// Rows, batches and sub-queries received from one agency.
#[derive(Debug, Default)]
pub struct AgencyWireStats {
    pub rows: AtomicU64,
    pub batches: AtomicU64,
    pub sub_queries: AtomicU64,
}

impl WireStats {
    pub fn agency(&self, agency: &str) -> Arc<AgencyWireStats> {
        let mut map = self.per_agency.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(agency.to_string()).or_default())
    }

    /// Rows received from `agency` so far.
    pub fn rows_from(&self, agency: &str) -> u64 {
        self.agency(agency).rows.load(Ordering::Relaxed)
    }

    /// Sub-queries sent to `agency` so far.
    pub fn sub_queries_to(&self, agency: &str) -> u64 {
        self.agency(agency).sub_queries.load(Ordering::Relaxed)
    }

    /// Rows received from all agencies so far.
    pub fn total_rows(&self) -> u64 {
        let map = self.per_agency.lock().unwrap_or_else(|p| p.into_inner());
        map.values().map(|s| s.rows.load(Ordering::Relaxed)).sum()
    }
}

/// Make `batch` fit `expected`, column by column, casting where the owner chose a
/// different but compatible type.
pub fn conform(agency: &str, batch: RecordBatch, expected: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema_ref() == expected {
        return Ok(batch);
    }
    let bad = |message: String| GatewayError::BadPeerData {
        agency: agency.to_string(),
        message,
    };
    if batch.num_columns() != expected.fields().len() {
        return Err(bad(format!(
            "expected {} columns, got {}",
            expected.fields().len(),
            batch.num_columns()
        )));
    }
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (col, field) in batch.columns().iter().zip(expected.fields()) {
        if col.data_type() == field.data_type() {
            columns.push(Arc::clone(col));
        } else {
            let cast = arrow::compute::cast(col, field.data_type()).map_err(|e| {
                bad(format!(
                    "column `{}`: expected {}, got {}: {e}",
                    field.name(),
                    field.data_type(),
                    col.data_type()
                ))
            })?;
            columns.push(cast);
        }
    }
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::clone(expected), columns, &options)
        .map_err(|e| bad(e.to_string()))
}

/// Wrap a stream of batches from `agency` so it counts rows and conforms each batch.
fn counted(
    agency: &str,
    expected: SchemaRef,
    stats: Arc<AgencyWireStats>,
    inner: impl Stream<Item = Result<RecordBatch>> + Send + 'static,
) -> SendableRecordBatchStream {
    let agency = agency.to_string();
    let schema = Arc::clone(&expected);
    let stream = inner.map(move |item| {
        let batch = item?;
        stats
            .rows
            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        conform(&agency, batch, &expected)
    });
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        stream.map_err(GatewayError::into_datafusion),
    ))
}

/// This gateway's own owner, reached in process.
#[derive(Debug)]
pub struct LocalClient {
    owner: Arc<Owner>,
    stats: Arc<WireStats>,
}

impl LocalClient {
    pub fn new(owner: Arc<Owner>, stats: Arc<WireStats>) -> Self {
        LocalClient { owner, stats }
    }
}

#[async_trait]
impl AgencyClient for LocalClient {
    fn agency(&self) -> &str {
        self.owner.agency()
    }

    async fn catalog(&self, _ctx: &RequestContext) -> Result<AgencyCatalog> {
        Ok(self.owner.catalog())
    }

    async fn fetch(
        &self,
        ctx: &RequestContext,
        sql: &str,
        expected: SchemaRef,
    ) -> Result<SendableRecordBatchStream> {
        let stats = self.stats.agency(self.agency());
        stats.sub_queries.fetch_add(1, Ordering::Relaxed);
        let stream = self.owner.fetch(ctx.clone(), sql).await?;
        let stream = stream.map_err(GatewayError::from_datafusion);
        Ok(counted(self.agency(), expected, stats, stream))
    }
}

/// Timeouts for talking to a peer gateway.
#[derive(Debug, Clone, Copy)]
pub struct PeerTimeouts {
    /// Connecting and getting the first answer to a request.
    pub connect: Duration,
    /// The longest gap between two frames of a result stream.
    pub idle: Duration,
}

impl Default for PeerTimeouts {
    fn default() -> Self {
        PeerTimeouts {
            connect: crate::config::DEFAULT_PEER_TIMEOUT,
            idle: Duration::from_secs(300),
        }
    }
}

/// Largest gRPC message accepted; a frame holds one record batch.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// A peer agency's gateway, reached over gRPC.
#[derive(Debug)]
pub struct PeerClient {
    agency: String,
    address: String,
    timeouts: PeerTimeouts,
    channel: OnceCell<Channel>,
    stats: Arc<WireStats>,
}

impl PeerClient {
    pub fn new(agency: &str, address: &str, timeouts: PeerTimeouts, stats: Arc<WireStats>) -> Self {
        PeerClient {
            agency: agency.to_string(),
            address: address.to_string(),
            timeouts,
            channel: OnceCell::new(),
            stats,
        }
    }

    fn unreachable(&self, reason: String) -> GatewayError {
        GatewayError::PeerUnreachable {
            agency: self.agency.clone(),
            address: self.address.clone(),
            waited: self.timeouts.connect,
            reason,
        }
    }

    async fn client(&self) -> Result<GatewayClient<Channel>> {
        let channel = self
            .channel
            .get_or_try_init(|| connect(&self.address, self.timeouts.connect))
            .await
            .map_err(|e| self.unreachable(e))?;
        Ok(GatewayClient::new(channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    fn status_error(&self, status: tonic::Status) -> GatewayError {
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
                self.unreachable(status.message().to_string())
            }
            _ => peer_error(&self.agency, &status),
        }
    }
}

/// The error a peer's answer stands for: its policy's refusal stays a refusal, anything
/// else is the peer's error.
fn peer_error(agency: &str, status: &tonic::Status) -> GatewayError {
    let message = status.message();
    if status.code() == tonic::Code::PermissionDenied {
        // The refusing owner may be further away than the peer that answered.
        let (owner, message) = message
            .strip_prefix("refused by ")
            .and_then(|rest| rest.split_once("'s disclosure policy: "))
            .unwrap_or((agency, message));
        return GatewayError::Refused {
            agency: owner.to_string(),
            message: message.to_string(),
        };
    }
    GatewayError::PeerError {
        agency: agency.to_string(),
        message: message.to_string(),
    }
}

/// Open a channel to `address`, waiting at most `timeout`.
pub async fn connect(address: &str, timeout: Duration) -> std::result::Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| format!("bad address: {e}"))?
        .connect_timeout(timeout)
        .tcp_nodelay(true);
    match tokio::time::timeout(timeout, endpoint.connect()).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(e)) => Err(match std::error::Error::source(&e) {
            Some(src) => format!("{e}: {src}"),
            None => e.to_string(),
        }),
        Err(_) => Err("connection timed out".to_string()),
    }
}

#[async_trait]
impl AgencyClient for PeerClient {
    fn agency(&self) -> &str {
        &self.agency
    }

    async fn catalog(&self, ctx: &RequestContext) -> Result<AgencyCatalog> {
        let mut client = self.client().await?;
        let req = v1::CatalogRequest {
            context: Some(ctx.to_proto()),
            include_peers: false,
        };
        let resp = tokio::time::timeout(self.timeouts.connect, client.catalog(req))
            .await
            .map_err(|_| self.unreachable("no catalog answer in time".into()))?
            .map_err(|s| self.status_error(s))?
            .into_inner();
        let found = resp
            .agencies
            .iter()
            .find(|c| c.agency == self.agency)
            .ok_or_else(|| GatewayError::BadPeerData {
                agency: self.agency.clone(),
                message: "its catalog does not list its own agency".into(),
            })?;
        AgencyCatalog::from_proto(found)
    }

    async fn fetch(
        &self,
        ctx: &RequestContext,
        sql: &str,
        expected: SchemaRef,
    ) -> Result<SendableRecordBatchStream> {
        let stats = self.stats.agency(&self.agency);
        stats.sub_queries.fetch_add(1, Ordering::Relaxed);
        let mut client = self.client().await?;
        let req = v1::FetchRequest {
            context: Some(ctx.to_proto()),
            sql: sql.to_string(),
        };
        let resp = tokio::time::timeout(self.timeouts.connect, client.fetch(req))
            .await
            .map_err(|_| self.unreachable("no answer to the sub-query in time".into()))?
            .map_err(|s| self.status_error(s))?;
        let frames = decode_frames(self.agency.clone(), resp.into_inner(), self.timeouts.idle);
        Ok(counted(&self.agency, expected, stats, frames))
    }
}

/// Turn a stream of [`v1::ResultFrame`]s into record batches. The stream must end with a
/// summary frame that matches what arrived; anything else is a disconnect.
pub fn decode_frames(
    agency: String,
    mut frames: tonic::Streaming<v1::ResultFrame>,
    idle: Duration,
) -> Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>> {
    Box::pin(async_stream_like(move |tx| async move {
        let mut decoder = FrameDecoder::new();
        let (mut rows, mut batches) = (0u64, 0u64);
        let disconnected = |rows, batches, reason: String| GatewayError::PeerDisconnected {
            agency: agency.clone(),
            batches,
            rows,
            reason,
        };
        loop {
            let next = match tokio::time::timeout(idle, frames.message()).await {
                Err(_) => Err(disconnected(rows, batches, format!("no data for {idle:?}"))),
                Ok(Err(status)) => Err(if is_transport_failure(&status) {
                    disconnected(rows, batches, status.message().to_string())
                } else {
                    peer_error(&agency, &status)
                }),
                Ok(Ok(None)) => Err(disconnected(
                    rows,
                    batches,
                    "the stream ended without its summary".into(),
                )),
                Ok(Ok(Some(frame))) => Ok(frame),
            };
            let frame = match next {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            match frame.frame {
                Some(Frame::Ipc(bytes)) => match decoder.push(bytes) {
                    Ok(decoded) => {
                        for b in decoded {
                            rows += b.num_rows() as u64;
                            batches += 1;
                            if tx.send(Ok(b)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx
                            .send(Err(GatewayError::BadPeerData {
                                agency: agency.clone(),
                                message: e.to_string(),
                            }))
                            .await;
                        return;
                    }
                },
                Some(Frame::End(summary)) => {
                    let result = if let Err(e) = decoder.finish() {
                        Err(GatewayError::BadPeerData {
                            agency: agency.clone(),
                            message: format!("the result stream is incomplete: {e}"),
                        })
                    } else if summary.rows != rows || summary.batches != batches {
                        Err(GatewayError::BadPeerData {
                            agency: agency.clone(),
                            message: format!(
                                "the summary says {} rows in {} batches, but {rows} rows in {batches} batches arrived",
                                summary.rows, summary.batches
                            ),
                        })
                    } else {
                        return;
                    };
                    let _ = tx.send(result).await;
                    return;
                }
                None => {
                    let _ = tx
                        .send(Err(GatewayError::BadPeerData {
                            agency: agency.clone(),
                            message: "an empty frame".into(),
                        }))
                        .await;
                    return;
                }
            }
        }
    }))
}

/// Whether a status mid-stream means the connection broke, rather than the peer
/// reporting an error of its own. Gateways never send these codes themselves.
fn is_transport_failure(status: &tonic::Status) -> bool {
    match status.code() {
        tonic::Code::Unknown | tonic::Code::Unavailable | tonic::Code::Cancelled => true,
        tonic::Code::Internal => {
            let m = status.message();
            m.contains("h2")
                || m.contains("connection")
                || m.contains("transport")
                || m.contains("body")
        }
        _ => false,
    }
}

/// A minimal generator: run `f` with a sender, and yield what it sends. The channel holds
/// one item, so a slow consumer holds the producer back and memory stays bounded.
fn async_stream_like<T, F, Fut>(f: F) -> impl Stream<Item = T> + Send
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(f(tx));
    let guard = AbortOnDrop(task);
    tokio_stream::wrappers::ReceiverStream::new(rx).map(move |item| {
        let _keep = &guard;
        item
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
