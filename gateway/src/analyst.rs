//! The analyst's side of the wire: connect to a home gateway, send SQL with a request
//! context, and read the result stream. The CLI, the demo and the tests all use this.

use std::time::Duration;

use arrow::array::RecordBatch;
use futures::{Stream, StreamExt};
use sluice_proto::GatewayClient;
use sluice_proto::v1;
use tonic::transport::Channel;

use crate::catalog::AgencyCatalog;
use crate::client::{MAX_MESSAGE_BYTES, connect, decode_frames};
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};

/// A connection to one gateway, as an analyst uses it.
#[derive(Debug, Clone)]
pub struct AnalystClient {
    address: String,
    client: GatewayClient<Channel>,
    idle: Duration,
}

/// Every catalog a gateway could gather, and the agencies it could not reach.
#[derive(Debug)]
pub struct CatalogListing {
    pub agencies: Vec<AgencyCatalog>,
    pub unreachable: Vec<(String, String)>,
}

impl AnalystClient {
    /// Connect to the gateway at `address` (`host:port`), waiting at most `timeout`.
    pub async fn connect(address: &str, timeout: Duration) -> Result<Self> {
        let channel =
            connect(address, timeout)
                .await
                .map_err(|reason| GatewayError::GatewayUnreachable {
                    address: address.to_string(),
                    waited: timeout,
                    reason,
                })?;
        Ok(AnalystClient {
            address: address.to_string(),
            client: GatewayClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            idle: Duration::from_secs(600),
        })
    }

    fn remote(&self, status: tonic::Status) -> GatewayError {
        GatewayError::Remote {
            address: self.address.clone(),
            code: format!("{:?}", status.code()),
            message: status.message().to_string(),
        }
    }

    /// Run `sql` at the gateway and stream the result batches.
    pub async fn query(
        &self,
        ctx: &RequestContext,
        sql: &str,
    ) -> Result<impl Stream<Item = Result<RecordBatch>> + Send + use<>> {
        let req = v1::QueryRequest {
            context: Some(ctx.to_proto()),
            sql: sql.to_string(),
        };
        let resp = self
            .client
            .clone()
            .query(req)
            .await
            .map_err(|s| self.remote(s))?;
        let address = self.address.clone();
        Ok(
            decode_frames(self.address.clone(), resp.into_inner(), self.idle).map(move |r| {
                r.map_err(|e| match e {
                    GatewayError::PeerError { message, .. } => GatewayError::Remote {
                        address: address.clone(),
                        code: "Aborted".into(),
                        message,
                    },
                    other => other,
                })
            }),
        )
    }

    /// Run `sql` and collect every batch.
    pub async fn query_all(&self, ctx: &RequestContext, sql: &str) -> Result<Vec<RecordBatch>> {
        let mut stream = Box::pin(self.query(ctx, sql).await?);
        let mut out = Vec::new();
        while let Some(b) = stream.next().await {
            out.push(b?);
        }
        Ok(out)
    }

    /// The gateway's own catalog, or with `include_peers` every agency's it can reach.
    pub async fn catalog(
        &self,
        ctx: &RequestContext,
        include_peers: bool,
    ) -> Result<CatalogListing> {
        let req = v1::CatalogRequest {
            context: Some(ctx.to_proto()),
            include_peers,
        };
        let resp = self
            .client
            .clone()
            .catalog(req)
            .await
            .map_err(|s| self.remote(s))?
            .into_inner();
        Ok(CatalogListing {
            agencies: resp
                .agencies
                .iter()
                .map(AgencyCatalog::from_proto)
                .collect::<Result<_>>()?,
            unreachable: resp
                .unreachable
                .into_iter()
                .map(|p| (p.agency, p.message))
                .collect(),
        })
    }
}
