//! The owner's audit trail on the chain: every query it answers or refuses becomes an
//! access entry, committed before any data leaves, and every answered query ends with a
//! completion entry carrying the rows, the bytes and the digest of what was delivered.
//!
//! The digest is SHA-256 over the Arrow IPC stream of the delivered batches (the schema
//! message, then each non-empty batch), which is exactly what [`crate::ipc::FrameEncoder`]
//! puts on the wire, so a receiver can recompute it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::StreamWriter;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use sluice_chain::entry::{AccessCompletion, AccessDecision, Body, ColumnLevel, ExportRecord};
use sluice_chain::{ChainNode, Entry, EntryCommitted};

use std::collections::HashMap;

use sluice_core::AgencyId;

use crate::context::RequestContext;
use crate::error::{GatewayError, Result};

/// Where an owner records its decisions: its agency's chain node, or, by an explicit
/// choice for tests and benchmarks, nowhere.
#[derive(Debug, Clone)]
pub struct Audit {
    node: Option<Arc<ChainNode>>,
    folds: Arc<std::sync::Mutex<HashMap<AgencyId, Fold>>>,
}

/// How long repeated refusals of one agency's requests fold into one entry.
pub const FOLD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Refusals of one agency within the current interval.
#[derive(Debug)]
struct Fold {
    started: std::time::Instant,
    folded: u64,
}

/// The proof that an allowed access may release data: its entry is committed on the
/// chain, or the gateway was deliberately started unaudited.
#[derive(Debug)]
pub enum Receipt {
    /// The access entry is committed by a majority of the voting agencies.
    Committed(EntryCommitted),
    /// Nothing is recorded: `[chain] none = true`.
    Unaudited(Unaudited),
}

/// The token an unaudited gateway's accesses carry instead of a committed entry. Only an
/// [`Audit`] made by [`Audit::unaudited`] hands it out.
#[derive(Debug)]
pub struct Unaudited(());

/// One column a query reads and the level it was released at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnUse {
    /// `<agency>.<dataset>`.
    pub dataset: String,
    pub column: String,
    pub level: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

impl Audit {
    /// Records on `node`'s chain.
    pub fn on_chain(node: Arc<ChainNode>) -> Self {
        Audit {
            node: Some(node),
            folds: Arc::default(),
        }
    }

    /// Records nothing, and says so in every access's [`Receipt`]. For tests and
    /// benchmarks: a gateway in use records every access.
    pub fn unaudited() -> Self {
        Audit {
            node: None,
            folds: Arc::default(),
        }
    }

    /// The chain node, unless unaudited.
    pub fn node(&self) -> Option<&Arc<ChainNode>> {
        self.node.as_ref()
    }

    async fn append(node: &ChainNode, body: Body) -> Result<EntryCommitted> {
        let entry = Entry {
            author: node.agency().to_string(),
            time_ms: now_ms(),
            body,
        };
        node.append(entry)
            .await
            .map_err(|e| GatewayError::Audit(e.to_string()))
    }

    /// Records an allowed access and returns once it is committed. No data may be
    /// released without the receipt.
    pub(super) async fn allowed(
        &self,
        ctx: &RequestContext,
        datasets: Vec<String>,
        columns: Vec<ColumnUse>,
        reason: String,
        cites: Vec<u64>,
    ) -> Result<Receipt> {
        let Some(node) = &self.node else {
            return Ok(Receipt::Unaudited(Unaudited(())));
        };
        let mut decided = decision(ctx, datasets, columns, reason);
        decided.cites = cites;
        let body = Body::AccessAllowed(decided);
        Self::append(node, body).await.map(Receipt::Committed)
    }

    /// Records an export and returns its entry's index once committed; `None` when
    /// unaudited.
    pub async fn exported(&self, record: ExportRecord) -> Result<Option<u64>> {
        let Some(node) = &self.node else {
            return Ok(None);
        };
        Self::append(node, Body::Export(record))
            .await
            .map(|c| Some(c.index()))
    }

    /// Records a refusal. The caller still gets the refusal if the chain is down; the
    /// failure to record it is logged.
    pub(super) async fn refused(
        &self,
        ctx: &RequestContext,
        datasets: Vec<String>,
        reason: String,
    ) {
        let Some(node) = &self.node else {
            return;
        };
        let body = Body::AccessRefused(decision(ctx, datasets, Vec::new(), reason));
        if let Err(e) = Self::append(node, body).await {
            tracing::error!(query_id = %ctx.query_id, error = %e, "could not record a refusal");
        }
    }

    /// Records why an allowed query failed, with the full detail the caller did not
    /// get. The chain's completion entry has no field for a failure, so it is an access
    /// refusal of the same query id whose reason says so.
    pub(super) async fn failed(&self, ctx: &RequestContext, detail: String) {
        self.refused(
            ctx,
            Vec::new(),
            format!("failed while running, after it was allowed: {detail}"),
        )
        .await;
    }

    /// Records the refusal of a request from `caller`'s gateway that did not prove
    /// itself (bad signature, replay, stale time). The first refusal of an interval is
    /// recorded at once; later ones in the same interval are counted and recorded as
    /// one entry when it ends, so a flood cannot flood the chain.
    pub(super) async fn unauthenticated(&self, caller: &AgencyId, reason: &str) {
        let Some(node) = &self.node else {
            return;
        };
        let first = {
            let mut folds = self.folds.lock().unwrap_or_else(|p| p.into_inner());
            match folds.get_mut(caller) {
                Some(f) if f.started.elapsed() < FOLD_INTERVAL => {
                    f.folded += 1;
                    if f.folded == 1 {
                        self.flush_later(caller.clone(), f.started + FOLD_INTERVAL);
                    }
                    false
                }
                _ => {
                    folds.insert(
                        caller.clone(),
                        Fold {
                            started: std::time::Instant::now(),
                            folded: 0,
                        },
                    );
                    true
                }
            }
        };
        if first {
            let body = unauthenticated_body(caller, format!("refused: {reason}"));
            if let Err(e) = Self::append(node, body).await {
                tracing::error!(%caller, error = %e, "could not record a refusal");
            }
        }
    }

    fn flush_later(&self, caller: AgencyId, at: std::time::Instant) {
        let (Some(node), folds) = (self.node.clone(), Arc::clone(&self.folds)) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let folded = {
                let mut f = folds.lock().unwrap_or_else(|p| p.into_inner());
                f.remove(&caller).map(|f| f.folded).unwrap_or(0)
            };
            if folded > 0 {
                let body = unauthenticated_body(
                    &caller,
                    format!(
                        "refused {folded} more requests in {} s, folded into this entry",
                        FOLD_INTERVAL.as_secs()
                    ),
                );
                if let Err(e) = Self::append(&node, body).await {
                    tracing::error!(%caller, error = %e, "could not record folded refusals");
                }
            }
        });
    }

    /// The completion of a sealed delivery, recorded when it is finished or dropped;
    /// `None` when unaudited.
    pub(super) fn completion(&self, receipt: &Receipt, query_id: &str) -> Option<Completion> {
        match (receipt, &self.node) {
            (Receipt::Committed(_), Some(node)) => Some(Completion {
                node: Arc::clone(node),
                query_id: query_id.to_string(),
                rows: 0,
                bytes: 0,
                digest: [0; 32],
                done: false,
            }),
            _ => None,
        }
    }

    /// Wraps `stream` so that its end appends the completion entry for `query_id`. If
    /// the completion cannot be recorded the stream ends with that error.
    pub(super) fn deliver(
        &self,
        receipt: &Receipt,
        query_id: &str,
        stream: SendableRecordBatchStream,
    ) -> Result<SendableRecordBatchStream> {
        let node = match (receipt, &self.node) {
            (Receipt::Committed(_), Some(node)) => node,
            (Receipt::Unaudited(_), None) => return Ok(stream),
            _ => {
                return Err(GatewayError::Internal(
                    "an access receipt from another audit mode".into(),
                ));
            }
        };
        let schema = stream.schema();
        let tally = Tally::new(Arc::clone(node), query_id.to_string(), &schema)?;
        let s =
            futures::stream::unfold((stream, Some(tally)), |(mut inner, mut tally)| async move {
                let t = tally.as_mut()?;
                match inner.next().await {
                    Some(Ok(batch)) => {
                        let item = t.add(&batch).map(|()| batch);
                        Some((item, (inner, tally)))
                    }
                    Some(Err(e)) => {
                        if let Some(t) = tally.take() {
                            t.complete().await.ok();
                        }
                        Some((Err(e), (inner, tally)))
                    }
                    None => {
                        let t = tally.take()?;
                        match t.complete().await {
                            Ok(()) => None,
                            Err(e) => Some((Err(e.into_datafusion()), (inner, tally))),
                        }
                    }
                }
            });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, s)))
    }
}

fn unauthenticated_body(caller: &AgencyId, what: String) -> Body {
    Body::AccessRefused(AccessDecision {
        query_id: sluice_core::QueryId::new().to_string(),
        principal: format!("{caller}/gateway"),
        purpose: "authentication".into(),
        datasets: Vec::new(),
        columns: Vec::new(),
        reason: format!("unauthenticated request from {caller}'s gateway: {what}"),
        cites: Vec::new(),
    })
}

/// What a sealed delivery has sent so far; recorded as its completion entry when
/// [`Completion::finish`] is called, or, if the delivery stops early, when dropped.
#[derive(Debug)]
pub struct Completion {
    node: Arc<ChainNode>,
    query_id: String,
    rows: u64,
    bytes: u64,
    digest: [u8; 32],
    done: bool,
}

impl Completion {
    /// What has been delivered so far.
    pub fn update(&mut self, rows: u64, bytes: u64, digest: [u8; 32]) {
        (self.rows, self.bytes, self.digest) = (rows, bytes, digest);
    }

    fn entry(&self) -> Entry {
        Entry {
            author: self.node.agency().to_string(),
            time_ms: now_ms(),
            body: Body::AccessCompleted(AccessCompletion {
                query_id: self.query_id.clone(),
                rows: self.rows,
                bytes: self.bytes,
                digest: self.digest,
            }),
        }
    }

    /// Records the completion and waits until it is committed.
    pub async fn finish(mut self) -> Result<()> {
        self.done = true;
        self.node
            .append(self.entry())
            .await
            .map(|_| ())
            .map_err(|e| GatewayError::Audit(format!("recording the completion: {e}")))
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (node, entry) = (Arc::clone(&self.node), self.entry());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = node.append(entry).await {
                    tracing::error!(error = %e, "could not record a partial delivery");
                }
            });
        }
    }
}

fn decision(
    ctx: &RequestContext,
    datasets: Vec<String>,
    columns: Vec<ColumnUse>,
    reason: String,
) -> AccessDecision {
    AccessDecision {
        query_id: ctx.query_id.to_string(),
        principal: ctx.principal.to_string(),
        purpose: ctx.purpose.to_string(),
        datasets,
        columns: columns
            .into_iter()
            .map(|c| ColumnLevel {
                dataset: c.dataset,
                column: c.column,
                level: c.level,
            })
            .collect(),
        reason,
        cites: Vec::new(),
    }
}

/// SHA-256 and byte count of everything written to it.
#[derive(Default)]
struct HashSink {
    hasher: Sha256,
    bytes: u64,
}

impl std::io::Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one query has delivered so far. If it is dropped before [`Tally::complete`] (the
/// caller went away), it still records what was delivered.
struct Tally {
    node: Arc<ChainNode>,
    query_id: String,
    writer: Option<StreamWriter<HashSink>>,
    rows: u64,
}

impl Tally {
    fn new(node: Arc<ChainNode>, query_id: String, schema: &SchemaRef) -> Result<Self> {
        let writer = StreamWriter::try_new(HashSink::default(), schema)
            .map_err(|e| GatewayError::Internal(format!("digest writer: {e}")))?;
        Ok(Tally {
            node,
            query_id,
            writer: Some(writer),
            rows: 0,
        })
    }

    fn add(&mut self, batch: &arrow::array::RecordBatch) -> Result<(), DataFusionError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as u64;
        match &mut self.writer {
            Some(w) => w.write(batch).map_err(DataFusionError::from),
            None => Ok(()),
        }
    }

    fn completion(&mut self) -> Option<Entry> {
        let writer = self.writer.take()?;
        let sink = writer.into_inner().ok()?;
        Some(Entry {
            author: self.node.agency().to_string(),
            time_ms: now_ms(),
            body: Body::AccessCompleted(AccessCompletion {
                query_id: std::mem::take(&mut self.query_id),
                rows: self.rows,
                bytes: sink.bytes,
                digest: sink.hasher.finalize().into(),
            }),
        })
    }

    async fn complete(mut self) -> Result<()> {
        let Some(entry) = self.completion() else {
            return Ok(());
        };
        self.node
            .append(entry)
            .await
            .map(|_| ())
            .map_err(|e| GatewayError::Audit(format!("recording the completion: {e}")))
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        let Some(entry) = self.completion() else {
            return;
        };
        let node = Arc::clone(&self.node);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = node.append(entry).await {
                    tracing::error!(error = %e, "could not record a partial delivery");
                }
            });
        }
    }
}
