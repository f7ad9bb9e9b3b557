//! How a home gateway reaches the agencies that own data: [`AgencyClient`], implemented
//! by [`remote::PeerClient`] (a peer gateway over gRPC) and [`local::LocalClient`] (this
//! gateway's own owner, in process, through the same owner-side checks as a peer's
//! request). [`stream`] reads result frames back into record batches.

pub mod local;
pub mod remote;
pub mod stream;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{Stream, StreamExt, TryStreamExt};
use sluice_core::AgencyId;

use crate::catalog::AgencyCatalog;
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};
use crate::grpc::status::{Received, from_status};
use crate::identity::users::Session;

/// A connection to the gateway of an agency that owns data.
#[async_trait]
pub trait AgencyClient: Debug + Send + Sync {
    /// The agency this client reaches.
    fn agency(&self) -> &AgencyId;

    /// The agency's published catalog.
    async fn catalog(&self, ctx: &RequestContext) -> Result<AgencyCatalog>;

    /// Run `sql` at the owner for `caller` and stream the result, conformed to
    /// `expected`.
    async fn fetch(
        &self,
        caller: &Caller,
        sql: &str,
        expected: SchemaRef,
    ) -> Result<SendableRecordBatchStream>;
}

/// Who a sub-query runs for: the analyst's session at this gateway, whose principal and
/// roles the owner is told, and the sub-query's own context.
#[derive(Debug, Clone)]
pub struct Caller {
    pub session: Session,
    pub ctx: RequestContext,
}

impl Caller {
    /// A new query by `session`'s user for `purpose`.
    pub fn new(session: Session, purpose: sluice_core::Purpose) -> Self {
        let ctx = RequestContext::new(session.principal().clone(), purpose);
        Caller { session, ctx }
    }
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
pub fn counted(
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

/// The error a peer's failed call stands for: the peer's own error keeps its variant, a
/// transport failure is `transport(reason)`.
pub fn peer_error(
    agency: &str,
    status: tonic::Status,
    transport: impl FnOnce(String) -> GatewayError,
) -> GatewayError {
    match from_status(status) {
        Received::Gateway(e) => e,
        Received::Other { code, message } => GatewayError::PeerError {
            agency: agency.to_string(),
            code: format!("{code:?}"),
            message,
        },
        Received::Transport(s) => transport(describe_transport(&s)),
    }
}

/// A transport failure in words: tonic's message plus its cause.
fn describe_transport(status: &tonic::Status) -> String {
    match std::error::Error::source(status) {
        Some(src) => format!("{}: {src}", status.message()),
        None => status.message().to_string(),
    }
}
