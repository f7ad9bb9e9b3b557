//! The analyst's side of the wire: connect to a home gateway, send SQL with a request
//! context, and read the result stream. The CLI, the demo and the tests all use this.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::{Stream, StreamExt};
use sluice_proto::GatewayClient;
use sluice_proto::v1;
use tonic::transport::Channel;

use crate::catalog::AgencyCatalog;
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};
use crate::grpc::status::{Received, from_status};
use crate::ipc::MAX_MESSAGE_BYTES;
use crate::peer::remote::connect;
use crate::peer::stream::{BatchStream, decode_frames_with_schema};

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
    /// Agencies the gateway could not reach, with the reason.
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

    /// The error a failed call stands for: the gateway's own error keeps its variant.
    fn remote(&self, status: tonic::Status) -> GatewayError {
        match from_status(status) {
            Received::Gateway(e) => e,
            Received::Other { code, message } => GatewayError::Remote {
                address: self.address.clone(),
                code: format!("{code:?}"),
                message,
            },
            Received::Transport(s) => GatewayError::GatewayUnreachable {
                address: self.address.clone(),
                waited: self.idle,
                reason: s.message().to_string(),
            },
        }
    }

    /// Run `sql` at the gateway and stream the result, its schema first.
    pub async fn query(&self, ctx: &RequestContext, sql: &str) -> Result<ResultStream> {
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
        let relabel = move |e: GatewayError| match e {
            GatewayError::PeerError { code, message, .. } => GatewayError::Remote {
                address: address.clone(),
                code,
                message,
            },
            other => other,
        };
        let (schema, batches) =
            decode_frames_with_schema(self.address.clone(), resp.into_inner(), self.idle)
                .await
                .map_err(relabel.clone())?;
        Ok(ResultStream {
            schema,
            batches: Box::pin(batches.map(move |r| r.map_err(&relabel))),
        })
    }

    /// Run `sql` and collect every batch.
    pub async fn query_all(&self, ctx: &RequestContext, sql: &str) -> Result<Vec<RecordBatch>> {
        let mut stream = self.query(ctx, sql).await?;
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

/// A result as it arrives from a gateway: its schema, then its batches.
pub struct ResultStream {
    schema: SchemaRef,
    batches: BatchStream,
}

impl ResultStream {
    /// The result's columns, known before the first batch, even for no rows.
    pub fn schema(&self) -> SchemaRef {
        SchemaRef::clone(&self.schema)
    }
}

impl Stream for ResultStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.batches.as_mut().poll_next(cx)
    }
}
