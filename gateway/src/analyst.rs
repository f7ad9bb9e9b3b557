//! The analyst's side of the wire: connect to the home gateway over TLS (it must show
//! its agency's certificate from the federation CA), log in once for a session token,
//! send SQL with a purpose, and read the result stream. The CLI, the demo and the tests
//! all use this. The principal is never sent: the gateway takes it from the session.

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
use crate::error::{GatewayError, Result};
use crate::grpc::status::{Received, from_status};
use crate::identity::tls::analyst_client;
use crate::ipc::MAX_MESSAGE_BYTES;
use crate::peer::remote::connect;
use crate::peer::stream::{BatchStream, Wrapping, open};
use sluice_core::{AgencyId, Purpose, QueryId};

/// A connection to one gateway, as an analyst uses it.
#[derive(Clone)]
pub struct AnalystClient {
    address: String,
    client: GatewayClient<Channel>,
    idle: Duration,
    token: Option<String>,
}

impl std::fmt::Debug for AnalystClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalystClient")
            .field("address", &self.address)
            .field("logged_in", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

/// Every catalog a gateway could gather, and the agencies it could not reach.
#[derive(Debug)]
pub struct CatalogListing {
    pub agencies: Vec<AgencyCatalog>,
    /// Agencies the gateway could not reach, with the reason.
    pub unreachable: Vec<(String, String)>,
}

impl AnalystClient {
    /// Connect to `home`'s gateway at `address` (`host:port`), checking its certificate
    /// against the federation CA (`ca_pem`), waiting at most `timeout`.
    pub async fn connect(
        address: &str,
        home: &AgencyId,
        ca_pem: &str,
        timeout: Duration,
    ) -> Result<Self> {
        let channel = connect(address, analyst_client(ca_pem, home), timeout)
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
            token: None,
        })
    }

    /// Log in as `principal` with `password`; later calls carry the session token.
    /// Returns the token, for `SLUICE_TOKEN`.
    pub async fn login(&mut self, principal: &str, password: &str) -> Result<String> {
        let resp = self
            .client
            .clone()
            .login(v1::LoginRequest {
                principal: principal.to_string(),
                password: password.to_string(),
            })
            .await
            .map_err(|s| self.remote(s))?
            .into_inner();
        self.token = Some(resp.token.clone());
        Ok(resp.token)
    }

    /// Use a session token from an earlier login.
    /// The session token this client presents, if logged in.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn with_token(mut self, token: String) -> Self {
        self.token = Some(token);
        self
    }

    fn request<T>(&self, message: T) -> Result<tonic::Request<T>> {
        let mut req = tonic::Request::new(message);
        if let Some(token) = &self.token {
            let value = format!("Bearer {token}").parse().map_err(|_| {
                GatewayError::BadRequest("the session token is not valid header text".into())
            })?;
            req.metadata_mut().insert("authorization", value);
        }
        Ok(req)
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

    /// Run `sql` at the gateway for `purpose` and stream the result, its schema first.
    pub async fn query(&self, purpose: &Purpose, sql: &str) -> Result<ResultStream> {
        self.query_with_id(purpose, &QueryId::new(), sql).await
    }

    /// As [`Self::query`], under a query id of the caller's choosing (the chain's
    /// entries for the query carry it, so an auditor can find them).
    pub async fn query_with_id(
        &self,
        purpose: &Purpose,
        query_id: &QueryId,
        sql: &str,
    ) -> Result<ResultStream> {
        let req = self.request(v1::QueryRequest {
            context: Some(v1::RequestContext {
                principal: String::new(),
                purpose: purpose.to_string(),
                query_id: query_id.to_string(),
            }),
            sql: sql.to_string(),
        })?;
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
        let (schema, batches) = open(
            self.address.clone(),
            resp.into_inner(),
            self.idle,
            Wrapping::Plain,
        )
        .await
        .map_err(relabel.clone())?;
        Ok(ResultStream {
            schema,
            batches: Box::pin(batches.map(move |r| r.map_err(&relabel))),
        })
    }

    /// Run `sql` for `purpose` and seal the result into an export file for `recipient`.
    pub async fn export(
        &self,
        purpose: &Purpose,
        recipient: &AgencyId,
        sql: &str,
    ) -> Result<v1::ExportResponse> {
        let req = self.request(v1::ExportRequest {
            context: Some(v1::RequestContext {
                principal: String::new(),
                purpose: purpose.to_string(),
                query_id: QueryId::new().to_string(),
            }),
            sql: sql.to_string(),
            recipient: recipient.to_string(),
        })?;
        Ok(self
            .client
            .clone()
            .export(req)
            .await
            .map_err(|s| self.remote(s))?
            .into_inner())
    }

    /// Run `sql` and collect every batch.
    pub async fn query_all(&self, purpose: &Purpose, sql: &str) -> Result<Vec<RecordBatch>> {
        let mut stream = self.query(purpose, sql).await?;
        let mut out = Vec::new();
        while let Some(b) = stream.next().await {
            out.push(b?);
        }
        Ok(out)
    }

    /// The gateway's own catalog, or with `include_peers` every agency's it can reach.
    pub async fn catalog(&self, include_peers: bool) -> Result<CatalogListing> {
        let req = self.request(v1::CatalogRequest {
            context: None,
            include_peers,
        })?;
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

    /// Signs a change of the chain's members in the gateway's agency's name; the session
    /// must have the `chain_officer` role.
    pub async fn propose_membership(
        &self,
        change: v1::MembershipRequest,
    ) -> Result<v1::MembershipResponse> {
        self.call(
            change,
            |mut c, r| async move { c.propose_membership(r).await },
        )
        .await
    }

    /// The chain's members and pending changes, as the gateway's node has applied them.
    pub async fn chain_members(&self) -> Result<v1::ChainMembersResponse> {
        self.call(v1::ChainMembersRequest {}, |mut c, r| async move {
            c.chain_members(r).await
        })
        .await
    }

    /// One unary call: `message`, with the session token, through `rpc`.
    async fn call<T, R, F, Fut>(&self, message: T, rpc: F) -> Result<R>
    where
        F: FnOnce(GatewayClient<Channel>, tonic::Request<T>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<tonic::Response<R>, tonic::Status>>,
    {
        let req = self.request(message)?;
        Ok(rpc(self.client.clone(), req)
            .await
            .map_err(|s| self.remote(s))?
            .into_inner())
    }

    /// A question to the directory, as the gateway's copy of the chain answers it.
    pub async fn directory(&self, ask: v1::DirectoryRequest) -> Result<v1::DirectoryResponse> {
        self.call(ask, |mut c, r| async move { c.directory(r).await })
            .await
    }

    /// Publishes the agency's catalog; the session must have the `data_officer` role.
    pub async fn publish_catalog(&self) -> Result<v1::PublishResponse> {
        self.call(v1::PublishRequest {}, |mut c, r| async move {
            c.publish_catalog(r).await
        })
        .await
    }

    /// Files an access request for a conditional dataset, in the session's name.
    pub async fn request_access(&self, ask: v1::AccessAsk) -> Result<v1::AccessReceipt> {
        self.call(ask, |mut c, r| async move { c.request_access(r).await })
            .await
    }

    /// Approves or denies a request to the agency; the session must have the
    /// `data_officer` role.
    pub async fn decide_access(&self, decide: v1::AccessDecide) -> Result<v1::AccessReceipt> {
        self.call(decide, |mut c, r| async move { c.decide_access(r).await })
            .await
    }

    /// Access requests: the session's own, or (`to_my_agency`) those to its agency.
    pub async fn list_access(&self, list: v1::AccessListRequest) -> Result<v1::AccessListResponse> {
        self.call(list, |mut c, r| async move { c.list_access(r).await })
            .await
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
