//! The gateway's one error type. Variants are split by whose fault it is: the caller
//! (bad SQL, unknown names, bad config), a peer (unreachable, disconnected, bad data),
//! or ours (`Internal`, a broken invariant worth a bug report).

use std::path::PathBuf;
use std::time::Duration;

use datafusion::error::DataFusionError;
use sluice_connectors::ConnectorError;

/// Result type of the gateway library.
pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

/// Everything that can go wrong in a gateway, with enough context to act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// A config file could not be read or is invalid. `line` and `column` are 1-based.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Config {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    /// A config file could not be opened at all.
    #[error("cannot read config {}: {source}", file.display())]
    ConfigIo {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The SQL does not parse or does not plan.
    #[error("bad SQL: {0}")]
    Sql(String),

    /// The SQL names an agency nobody knows.
    #[error("unknown agency `{agency}` (known agencies: {})", known.join(", "))]
    UnknownAgency { agency: String, known: Vec<String> },

    /// The SQL names a dataset its agency does not publish.
    #[error("unknown dataset `{agency}.{dataset}` (`{agency}` publishes: {})", published.join(", "))]
    UnknownDataset {
        agency: String,
        dataset: String,
        published: Vec<String>,
    },

    /// A table reference that is not of the form `<agency>.<dataset>`.
    #[error("table `{0}` must be named `<agency>.<dataset>`")]
    UnqualifiedTable(String),

    /// A principal that is not `<agency>/<user>`, or another malformed request field.
    #[error("bad request: {0}")]
    BadRequest(String),

    /// The statement is not a read-only query.
    #[error("only read-only queries are accepted: {0}")]
    NotAQuery(String),

    /// A peer did not answer within the timeout.
    #[error(
        "peer `{agency}` at {address} did not answer within {:.1?}: {reason}",
        waited
    )]
    PeerUnreachable {
        agency: String,
        address: String,
        waited: Duration,
        reason: String,
    },

    /// A peer's result stream ended without its closing summary.
    #[error(
        "peer `{agency}` disconnected mid-stream after {batches} batches ({rows} rows): {reason}"
    )]
    PeerDisconnected {
        agency: String,
        batches: u64,
        rows: u64,
        reason: String,
    },

    /// A peer answered with an error of its own.
    #[error("peer `{agency}` refused the sub-query: {message}")]
    PeerError { agency: String, message: String },

    /// A peer sent bytes that are not a valid Arrow IPC stream, or rows of the wrong shape.
    #[error("peer `{agency}` sent a malformed result: {message}")]
    BadPeerData { agency: String, message: String },

    /// The data of a dataset does not match the schema its config publishes.
    #[error(
        "dataset `{dataset}`: column `{column}` is published as {published} but the data has {actual}"
    )]
    SchemaMismatch {
        dataset: String,
        column: String,
        published: String,
        actual: String,
    },

    /// A dataset's source could not be opened or read.
    #[error("dataset `{dataset}`: {source}")]
    Connector {
        dataset: String,
        #[source]
        source: ConnectorError,
    },

    /// A failure inside query planning or execution.
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),

    /// The analyst's home gateway refused the query or failed while answering it.
    #[error("{message}")]
    Remote {
        address: String,
        code: String,
        message: String,
    },

    /// The analyst's home gateway could not be reached.
    #[error("gateway at {address} did not answer within {:.1?}: {reason}", waited)]
    GatewayUnreachable {
        address: String,
        waited: Duration,
        reason: String,
    },

    /// The agency's policy files could not be loaded.
    #[error("policy: {0}")]
    PolicyLoad(String),

    /// The owning agency's disclosure policy refused the query. The message names each
    /// column, the level the query needed, the level granted and the rule.
    #[error("refused by {agency}'s disclosure policy: {message}")]
    Refused { agency: String, message: String },

    /// The access could not be recorded on the audit chain, so no data was released.
    #[error("audit chain: {0}; no data was released")]
    Audit(String),

    /// The audit chain node could not start, or an auditor's command failed.
    #[error("audit chain: {0}")]
    Chain(#[from] sluice_chain::Error),

    /// A key file could not be read or is malformed.
    #[error("key file {file}: {message}")]
    KeyFile {
        file: std::path::PathBuf,
        message: String,
    },

    /// The gateway could not listen or serve.
    #[error("transport: {0}")]
    Transport(String),

    /// A broken invariant inside the gateway: a bug, please report it.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl GatewayError {
    /// Wrap this error so it can travel through DataFusion's execution machinery and be
    /// recovered intact by [`GatewayError::from_datafusion`].
    pub fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }

    /// Recover a [`GatewayError`] that went through DataFusion, unwrapping the layers of
    /// context DataFusion adds on the way.
    pub fn from_datafusion(err: DataFusionError) -> Self {
        let mut cur = &err;
        loop {
            match cur {
                DataFusionError::External(e) => {
                    if let Some(g) = e.downcast_ref::<GatewayError>() {
                        return g.clone_shallow();
                    }
                    break;
                }
                DataFusionError::Context(_, inner) => cur = inner,
                DataFusionError::Shared(inner) => cur = inner,
                DataFusionError::ArrowError(arrow_err, _) => {
                    if let arrow::error::ArrowError::ExternalError(e) = arrow_err.as_ref() {
                        if let Some(g) = e.downcast_ref::<GatewayError>() {
                            return g.clone_shallow();
                        }
                        if let Some(d) = e.downcast_ref::<DataFusionError>() {
                            cur = d;
                            continue;
                        }
                    }
                    break;
                }
                DataFusionError::SQL(..)
                | DataFusionError::Plan(_)
                | DataFusionError::SchemaError(..) => {
                    return GatewayError::Sql(strip_df_prefix(&cur.to_string()));
                }
                _ => break,
            }
        }
        GatewayError::DataFusion(err)
    }

    /// A copy of the variants that can be copied; the rest become their message.
    fn clone_shallow(&self) -> Self {
        match self {
            GatewayError::PeerUnreachable {
                agency,
                address,
                waited,
                reason,
            } => GatewayError::PeerUnreachable {
                agency: agency.clone(),
                address: address.clone(),
                waited: *waited,
                reason: reason.clone(),
            },
            GatewayError::PeerDisconnected {
                agency,
                batches,
                rows,
                reason,
            } => GatewayError::PeerDisconnected {
                agency: agency.clone(),
                batches: *batches,
                rows: *rows,
                reason: reason.clone(),
            },
            GatewayError::PeerError { agency, message } => GatewayError::PeerError {
                agency: agency.clone(),
                message: message.clone(),
            },
            GatewayError::BadPeerData { agency, message } => GatewayError::BadPeerData {
                agency: agency.clone(),
                message: message.clone(),
            },
            GatewayError::SchemaMismatch {
                dataset,
                column,
                published,
                actual,
            } => GatewayError::SchemaMismatch {
                dataset: dataset.clone(),
                column: column.clone(),
                published: published.clone(),
                actual: actual.clone(),
            },
            GatewayError::UnknownAgency { agency, known } => GatewayError::UnknownAgency {
                agency: agency.clone(),
                known: known.clone(),
            },
            GatewayError::UnknownDataset {
                agency,
                dataset,
                published,
            } => GatewayError::UnknownDataset {
                agency: agency.clone(),
                dataset: dataset.clone(),
                published: published.clone(),
            },
            GatewayError::Sql(m) => GatewayError::Sql(m.clone()),
            GatewayError::BadRequest(m) => GatewayError::BadRequest(m.clone()),
            GatewayError::NotAQuery(m) => GatewayError::NotAQuery(m.clone()),
            GatewayError::Refused { agency, message } => GatewayError::Refused {
                agency: agency.clone(),
                message: message.clone(),
            },
            GatewayError::Audit(m) => GatewayError::Audit(m.clone()),
            other => GatewayError::Internal(other.to_string()),
        }
    }
}

/// DataFusion prefixes its messages with the variant name ("Error during planning: ").
/// The analyst only needs the substance.
fn strip_df_prefix(msg: &str) -> String {
    for prefix in ["Error during planning: ", "SQL error: ", "Schema error: "] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    msg.to_string()
}
