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
use datafusion::common::tree_node::TreeNode;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use sluice_chain::entry::{AccessCompletion, AccessDecision, Body, ColumnLevel};
use sluice_chain::{ChainNode, Entry, EntryCommitted};

use crate::context::RequestContext;
use crate::error::{GatewayError, Result};

/// Where an owner records its decisions. Without a chain node nothing is recorded; the
/// gateway says so at start.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    node: Option<Arc<ChainNode>>,
}

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
        Audit { node: Some(node) }
    }

    /// Records nothing.
    pub fn disabled() -> Self {
        Audit { node: None }
    }

    pub fn node(&self) -> Option<&Arc<ChainNode>> {
        self.node.as_ref()
    }

    async fn append(&self, body: Body) -> Result<Option<EntryCommitted>> {
        let Some(node) = &self.node else {
            return Ok(None);
        };
        let entry = Entry {
            author: node.agency().to_string(),
            time_ms: now_ms(),
            body,
        };
        node.append(entry)
            .await
            .map(Some)
            .map_err(|e| GatewayError::Audit(e.to_string()))
    }

    /// Records an allowed access and returns once it is committed. No data may be
    /// released before this returns `Ok`.
    pub async fn allowed(
        &self,
        ctx: &RequestContext,
        datasets: Vec<String>,
        columns: Vec<ColumnUse>,
        reason: String,
    ) -> Result<Option<EntryCommitted>> {
        self.append(Body::AccessAllowed(decision(
            ctx, datasets, columns, reason,
        )))
        .await
    }

    /// Records a refusal. The caller still gets the refusal if the chain is down; the
    /// failure to record it is logged.
    pub async fn refused(&self, ctx: &RequestContext, datasets: Vec<String>, reason: String) {
        let body = Body::AccessRefused(decision(ctx, datasets, Vec::new(), reason));
        if let Err(e) = self.append(body).await {
            tracing::error!(query_id = %ctx.query_id, error = %e, "could not record a refusal");
        }
    }

    /// Wraps `stream` so that its end appends the completion entry for `query_id`. If
    /// the completion cannot be recorded the stream ends with that error.
    pub fn deliver(
        &self,
        query_id: &str,
        stream: SendableRecordBatchStream,
    ) -> Result<SendableRecordBatchStream> {
        let Some(node) = &self.node else {
            return Ok(stream);
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

fn decision(
    ctx: &RequestContext,
    datasets: Vec<String>,
    columns: Vec<ColumnUse>,
    reason: String,
) -> AccessDecision {
    AccessDecision {
        query_id: ctx.query_id.clone(),
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
        consents: Vec::new(),
    }
}

/// The columns each table scan of `plan` reads, as `(dataset, column)`; a scan of
/// `<agency>.<dataset>` reports `<agency>.<dataset>`.
pub fn scanned_columns(plan: &LogicalPlan) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let dataset = scan.table_name.to_string();
            for f in scan.projected_schema.fields() {
                let pair = (dataset.clone(), f.name().clone());
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    out
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

/// Reads a key file: the base64 of a 32-byte ed25519 seed. The key never reaches a log;
/// errors name the file only.
pub fn read_key_file(path: &std::path::Path) -> Result<[u8; 32]> {
    use base64::Engine as _;
    let bad = |message: String| GatewayError::KeyFile {
        file: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| bad("not the base64 of a 32-byte ed25519 seed".into()))
}

/// Writes a key file for `seed`, readable by its owner only.
pub fn write_key_file(path: &std::path::Path, seed: &[u8; 32]) -> Result<()> {
    use base64::Engine as _;
    let bad = |e: std::io::Error| GatewayError::KeyFile {
        file: path.to_path_buf(),
        message: e.to_string(),
    };
    let text = format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(seed)
    );
    std::fs::write(path, text).map_err(bad)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bad)?;
    }
    Ok(())
}

/// The trust bundle a chain config names: every member's public key.
pub fn trust_bundle(config: &crate::config::ChainConfig) -> Result<sluice_chain::TrustBundle> {
    let mut trust = sluice_chain::TrustBundle::new();
    for m in &config.members {
        trust.insert_bytes(&m.agency, &m.public_key)?;
    }
    Ok(trust)
}

/// Starts this gateway's chain node as its `[chain]` section says.
pub async fn start_chain_node(
    agency: &str,
    config: &crate::config::ChainConfig,
) -> Result<Arc<ChainNode>> {
    use sluice_chain::{AgencySigner, Member, NodeConfig};
    let seed = read_key_file(&config.key_file)?;
    let signer = AgencySigner::from_seed(agency, seed)?;
    let own = config
        .members
        .iter()
        .find(|m| m.id == config.node_id)
        .ok_or_else(|| GatewayError::Internal("the chain config lost its own node".into()))?;
    if signer.verifying_key().to_bytes() != own.public_key {
        return Err(GatewayError::KeyFile {
            file: config.key_file.clone(),
            message: format!(
                "this key's public half is not the public_key the chain members list for `{agency}`"
            ),
        });
    }
    let member = |m: &crate::config::ChainMemberConfig| Member {
        id: m.id,
        agency: m.agency.clone(),
        addr: m.address.clone(),
    };
    let voters = config
        .members
        .iter()
        .filter(|m| m.voter)
        .map(member)
        .collect();
    let mut node_config = NodeConfig::new(config.node_id, &config.data_dir, voters);
    node_config.learners = config
        .members
        .iter()
        .filter(|m| !m.voter)
        .map(member)
        .collect();
    node_config.origin = config.origin.clone();
    node_config.append_timeout = config.append_timeout;
    if let Some(k) = config.checkpoint_quorum {
        node_config.checkpoint_quorum = k;
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| GatewayError::Transport(format!("chain listen {}: {e}", config.listen)))?;
    let node = ChainNode::start(node_config, signer, trust_bundle(config)?, listener).await?;
    Ok(Arc::new(node))
}
