//! A peer agency's gateway as an [`AgencyClient`], over gRPC. One channel per peer is
//! opened on first use and reused by every later query.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::execution::SendableRecordBatchStream;
use sluice_core::AgencyId;
use sluice_proto::GatewayClient;
use sluice_proto::v1;
use tokio::sync::OnceCell;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::stream::{Wrapping, open};
use super::{AgencyClient, Caller, WireStats, counted, peer_error};
use crate::catalog::AgencyCatalog;
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};
use crate::identity::agency::AgencyKeys;
use crate::identity::envelope;
use crate::ipc::MAX_MESSAGE_BYTES;

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

/// A peer agency's gateway, reached over gRPC.
#[derive(Debug)]
pub struct PeerClient {
    agency: AgencyId,
    address: String,
    timeouts: PeerTimeouts,
    tls: ClientTlsConfig,
    keys: Arc<AgencyKeys>,
    channel: OnceCell<Channel>,
    stats: Arc<WireStats>,
}

impl PeerClient {
    /// A client of `agency`'s gateway at `address`, over mutual TLS (`tls`), signing
    /// requests with this agency's `keys`.
    pub fn new(
        agency: &AgencyId,
        address: &str,
        timeouts: PeerTimeouts,
        tls: ClientTlsConfig,
        keys: Arc<AgencyKeys>,
        stats: Arc<WireStats>,
    ) -> Self {
        PeerClient {
            agency: agency.clone(),
            address: address.to_string(),
            timeouts,
            tls,
            keys,
            channel: OnceCell::new(),
            stats,
        }
    }

    fn unreachable(&self, reason: String) -> GatewayError {
        GatewayError::PeerUnreachable {
            agency: self.agency.to_string(),
            address: self.address.clone(),
            waited: self.timeouts.connect,
            reason,
        }
    }

    async fn client(&self) -> Result<GatewayClient<Channel>> {
        let channel = self
            .channel
            .get_or_try_init(|| connect(&self.address, self.tls.clone(), self.timeouts.connect))
            .await
            .map_err(|e| self.unreachable(e))?;
        Ok(GatewayClient::new(channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// The error a failed call stands for.
    fn status_error(&self, status: tonic::Status) -> GatewayError {
        peer_error(self.agency.as_str(), status, |reason| {
            self.unreachable(reason)
        })
    }
}

/// Open a channel to `address`, waiting at most `timeout`. The error says what
/// happened: a refused connection is not a timeout.
pub async fn connect(
    address: &str,
    tls: ClientTlsConfig,
    timeout: Duration,
) -> std::result::Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("https://{address}"))
        .map_err(|e| format!("bad address: {e}"))?
        .tls_config(tls)
        .map_err(|e| format!("TLS settings: {e}"))?
        .connect_timeout(timeout)
        .tcp_nodelay(true);
    match tokio::time::timeout(timeout, endpoint.connect()).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(e)) => {
            let mut reason = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(src) = cur {
                reason.push_str(&format!(": {src}"));
                cur = src.source();
            }
            Err(reason)
        }
        Err(_) => Err(format!("no connection within {timeout:.1?}")),
    }
}

#[async_trait]
impl AgencyClient for PeerClient {
    fn agency(&self) -> &AgencyId {
        &self.agency
    }

    async fn catalog(&self, ctx: &RequestContext) -> Result<AgencyCatalog> {
        let mut client = self.client().await?;
        let req = v1::CatalogRequest {
            context: Some(ctx.to_proto()),
            include_peers: false,
        };
        let waited = self.timeouts.connect;
        let resp = tokio::time::timeout(waited, client.catalog(req))
            .await
            .map_err(|_| self.unreachable(format!("no catalog answer within {waited:.1?}")))?
            .map_err(|s| self.status_error(s))?
            .into_inner();
        let found = resp
            .agencies
            .iter()
            .find(|c| c.agency == self.agency.as_str())
            .ok_or_else(|| GatewayError::BadPeerData {
                agency: self.agency.to_string(),
                message: "its catalog does not list its own agency".into(),
            })?;
        AgencyCatalog::from_proto(found)
    }

    async fn fetch(
        &self,
        caller: &Caller,
        sql: &str,
        expected: SchemaRef,
    ) -> Result<SendableRecordBatchStream> {
        let stats = self.stats.agency(self.agency.as_str());
        stats.sub_queries.fetch_add(1, Ordering::Relaxed);
        let mut client = self.client().await?;
        let req = v1::FetchRequest {
            request: Some(envelope::sign(
                &self.keys,
                &caller.ctx,
                caller.session.roles(),
                sql,
            )?),
            sql: sql.to_string(),
        };
        let waited = self.timeouts.connect;
        let resp = tokio::time::timeout(waited, client.fetch(req))
            .await
            .map_err(|_| {
                self.unreachable(format!("no answer to the sub-query within {waited:.1?}"))
            })?
            .map_err(|s| self.status_error(s))?;
        let wrapping = Wrapping::Sealed {
            keys: Arc::clone(&self.keys),
            query_id: caller.ctx.query_id.to_string(),
        };
        let (_, batches) = open(
            self.agency.to_string(),
            resp.into_inner(),
            self.timeouts.idle,
            wrapping,
        )
        .await?;
        Ok(counted(self.agency.as_str(), expected, stats, batches))
    }
}
