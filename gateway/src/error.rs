//! The gateway's one error type. Variants are split by whose fault it is: the caller
//! (bad SQL, unknown names, bad config, a policy refusal), a peer (unreachable,
//! disconnected, bad data), or ours (`Internal`, a broken invariant worth a bug report).
//! Errors cross the wire as fields ([`crate::grpc::status`]), never as text to re-parse.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::error::DataFusionError;
use sluice_connectors::ConnectorError;

/// Result type of the gateway library.
pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

/// Everything that can go wrong in a gateway, with enough context to act on it.
///
/// It is `Clone`, so an error that passed through DataFusion's shared plans comes back
/// whole; sources that are not `Clone` are held in an `Arc`.
#[derive(Debug, Clone, thiserror::Error)]
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
        source: Arc<std::io::Error>,
    },

    /// The config has no `[chain]` section. A gateway that cannot record accesses does
    /// not serve.
    #[error(
        "{}: there is no [chain] section, and a gateway that cannot record its accesses does not serve; configure the agency's chain node, or write `[chain]` `none = true` to run unaudited (tests and benchmarks only)",
        file.display()
    )]
    NoChain { file: PathBuf },

    /// The config has no `[identity]` section, so the gateway can neither prove who it
    /// is nor check who calls it.
    #[error(
        "{}: there is no [identity] section; create the agency's keys with `sluice init` and name them, the federation CA and the trust directory there",
        file.display()
    )]
    NoIdentity { file: PathBuf },

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

    /// The statement is larger or nests deeper than a gateway handles
    /// ([`crate::intake::Limits`]). The caller's fault; nothing was planned.
    #[error(
        "the statement has {found} {what}, and a gateway accepts at most {limit}; write a long list of alternatives as `IN (...)`, or split the query"
    )]
    TooLarge {
        what: &'static str,
        found: usize,
        limit: usize,
    },

    /// The statement builds lists, structs or maps whose types would be too large or
    /// too deep to plan ([`crate::intake::Limits`]). The caller's fault; nothing was
    /// planned.
    #[error(
        "the statement has {found} {what}, and a gateway accepts at most {limit}; build fewer or flatter lists, structs and maps"
    )]
    TypeTooLarge {
        what: &'static str,
        found: usize,
        limit: usize,
    },

    /// The query needed more memory or time than a gateway gives one query
    /// ([`crate::budget::QueryLimits`]), and was stopped.
    #[error("{0}")]
    OverBudget(String),

    /// The query may build a value longer than a gateway builds
    /// ([`sluice_policy::growth`]). The caller's fault; nothing ran.
    #[error("{0}")]
    TooLong(String),

    /// A query that reads protected columns failed while planning or running. Its
    /// detail could hold a protected value, so it is withheld from the caller and
    /// recorded on the owner's audit chain for the query id.
    #[error(
        "the query failed at {agency} while reading {datasets}; the detail is withheld because the query reads protected columns ({columns}), and is recorded on {agency}'s audit chain for query {query_id}"
    )]
    Withheld {
        agency: String,
        datasets: String,
        columns: String,
        query_id: String,
    },

    /// The statement is not a read-only query.
    #[error("only read-only queries are accepted: {0}")]
    NotAQuery(String),

    /// A peer could not be reached: the connection was refused or timed out.
    #[error("peer `{agency}` at {address}: {reason}")]
    PeerUnreachable {
        agency: String,
        address: String,
        /// How long the gateway was prepared to wait.
        waited: Duration,
        /// What happened, e.g. "connection refused" or "no answer within 5.0s".
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

    /// A peer answered with an error of its own that has no more specific variant.
    #[error("peer `{agency}` failed the sub-query ({code}): {message}")]
    PeerError {
        agency: String,
        code: String,
        message: String,
    },

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
        source: Arc<ConnectorError>,
    },

    /// A failure inside query planning or execution.
    #[error("{0}")]
    DataFusion(Arc<DataFusionError>),

    /// The analyst's home gateway failed in a way that has no more specific variant.
    #[error("gateway at {address} ({code}): {message}")]
    Remote {
        address: String,
        code: String,
        message: String,
    },

    /// The analyst's home gateway could not be reached.
    #[error("gateway at {address}: {reason}")]
    GatewayUnreachable {
        address: String,
        waited: Duration,
        reason: String,
    },

    /// The agency's policy files could not be loaded.
    #[error("policy: {0}")]
    PolicyLoad(String),

    /// The owning agency's disclosure policy refused the query.
    #[error("{0}")]
    Refused(Box<Refusal>),

    /// The access could not be recorded on the audit chain, so no data was released.
    #[error("audit chain: {0}; no data was released")]
    Audit(String),

    /// The audit chain node could not start, or an auditor's command failed.
    #[error("audit chain: {0}")]
    Chain(Arc<sluice_chain::Error>),

    /// A key file could not be read or is malformed.
    #[error("key file {}: {message}", file.display())]
    KeyFile { file: PathBuf, message: String },

    /// A certificate could not be made, read or accepted.
    #[error("certificate: {0}")]
    Certificate(String),

    /// The caller did not prove who it is: no or a wrong client certificate, bad
    /// credentials, a bad request signature, a replayed or stale request.
    #[error("not authenticated: {0}")]
    Unauthenticated(String),

    /// The caller proved who it is, but its roles do not allow what it asked.
    #[error("not allowed: {0}")]
    Forbidden(String),

    /// The gateway could not listen or serve.
    #[error("transport: {0}")]
    Transport(String),

    /// A broken invariant inside the gateway: a bug, please report it.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

/// A query refused by an owner's disclosure policy: the columns it would have needed
/// more of, each with the level it needed, the level granted and the rule that granted
/// it, or a reason when no single column is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The agency whose policy refused.
    pub agency: String,
    /// `<agency>/<user>` of the request.
    pub principal: String,
    /// The request's purpose.
    pub purpose: String,
    /// Each refused use of a column.
    pub columns: Vec<RefusedColumn>,
    /// Why, when the refusal is not about particular columns (an unsupported construct,
    /// no purpose, no policy at all).
    pub reason: Option<String>,
}

/// One refused use of one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedColumn {
    /// The dataset, e.g. `loans`.
    pub dataset: String,
    /// The column, e.g. `amount`.
    pub column: String,
    /// The level the use needs, e.g. `plain`.
    pub needed: String,
    /// The level granted, e.g. `aggregate`.
    pub granted: String,
    /// The rule that granted it (`file:line`), or `None` when no rule names the column.
    pub rule: Option<String>,
    /// How the query uses the column, e.g. "in the result".
    pub usage: String,
    /// A hint, e.g. a rule that would grant more for another purpose.
    pub note: Option<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused by {}'s disclosure policy for {} (purpose {})",
            self.agency, self.principal, self.purpose
        )?;
        if let Some(r) = &self.reason {
            write!(f, ": {r}")?;
        }
        for (i, c) in self.columns.iter().enumerate() {
            f.write_str(if i == 0 && self.reason.is_none() {
                ": "
            } else {
                "; "
            })?;
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for RefusedColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column {}.{} is used {}, which needs level {}; granted {} by ",
            self.dataset, self.column, self.usage, self.needed, self.granted
        )?;
        match &self.rule {
            Some(r) => write!(f, "rule {r}")?,
            None => f.write_str("no rule (anything not named is denied)")?,
        }
        if let Some(n) = &self.note {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

impl From<DataFusionError> for GatewayError {
    fn from(e: DataFusionError) -> Self {
        GatewayError::from_datafusion(e)
    }
}

impl From<sluice_core::IdError> for GatewayError {
    fn from(e: sluice_core::IdError) -> Self {
        GatewayError::BadRequest(e.to_string())
    }
}

impl From<sluice_chain::Error> for GatewayError {
    fn from(e: sluice_chain::Error) -> Self {
        GatewayError::Chain(Arc::new(e))
    }
}

impl GatewayError {
    /// Wrap this error so it can travel through DataFusion's execution machinery and be
    /// recovered intact by [`GatewayError::from_datafusion`].
    pub fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }

    /// Recover a [`GatewayError`] that went through DataFusion, unwrapping the layers of
    /// context DataFusion adds on the way. Planning errors become [`GatewayError::Sql`];
    /// anything else keeps its DataFusion cause.
    pub fn from_datafusion(err: DataFusionError) -> Self {
        match find_gateway_error(&err) {
            Some(g) => g.clone(),
            None => match &err {
                DataFusionError::SQL(..)
                | DataFusionError::Plan(_)
                | DataFusionError::SchemaError(..) => {
                    GatewayError::Sql(strip_df_prefix(&err.to_string()))
                }
                _ => match innermost(&err) {
                    e @ (DataFusionError::SQL(..)
                    | DataFusionError::Plan(_)
                    | DataFusionError::SchemaError(..)) => {
                        GatewayError::Sql(strip_df_prefix(&e.to_string()))
                    }
                    e @ DataFusionError::ResourcesExhausted(_) => {
                        GatewayError::OverBudget(format!(
                            "the query needs more memory than a gateway gives one query: {}",
                            strip_df_prefix(&e.to_string())
                        ))
                    }
                    _ => GatewayError::DataFusion(Arc::new(err)),
                },
            },
        }
    }

    /// The refusal, if this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            GatewayError::Refused(r) => Some(r),
            _ => None,
        }
    }
}

/// The first [`GatewayError`] wrapped anywhere in `err`'s layers.
fn find_gateway_error(err: &DataFusionError) -> Option<&GatewayError> {
    let mut cur = err;
    loop {
        match cur {
            DataFusionError::External(e) => {
                if let Some(g) = e.downcast_ref::<GatewayError>() {
                    return Some(g);
                }
                return e
                    .downcast_ref::<DataFusionError>()
                    .and_then(find_gateway_error);
            }
            DataFusionError::Context(_, inner) => cur = inner,
            DataFusionError::Shared(inner) => cur = inner,
            DataFusionError::Diagnostic(_, inner) => cur = inner,
            DataFusionError::ArrowError(arrow_err, _) => {
                let arrow::error::ArrowError::ExternalError(e) = arrow_err.as_ref() else {
                    return None;
                };
                if let Some(g) = e.downcast_ref::<GatewayError>() {
                    return Some(g);
                }
                cur = e.downcast_ref::<DataFusionError>()?;
            }
            _ => return None,
        }
    }
}

/// The error under DataFusion's context and sharing layers.
fn innermost(err: &DataFusionError) -> &DataFusionError {
    let mut cur = err;
    loop {
        match cur {
            DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
                cur = inner
            }
            DataFusionError::Shared(inner) => cur = inner,
            _ => return cur,
        }
    }
}

/// DataFusion prefixes its messages with the variant name ("Error during planning: ").
/// The analyst only needs the substance.
fn strip_df_prefix(msg: &str) -> String {
    for prefix in [
        "Error during planning: ",
        "SQL error: ",
        "Schema error: ",
        "Resources exhausted: ",
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    msg.to_string()
}

/// 1-based line and column of a byte offset, for errors that point into a file.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn gateway_errors_survive_datafusion_layers() {
        let original = GatewayError::PeerDisconnected {
            agency: "sh_hf".into(),
            batches: 2,
            rows: 10,
            reason: "reset".into(),
        };
        let wrapped = DataFusionError::Context(
            "reading".into(),
            Box::new(DataFusionError::Shared(Arc::new(
                original.clone().into_datafusion(),
            ))),
        );
        let back = GatewayError::from_datafusion(wrapped);
        assert!(
            matches!(&back, GatewayError::PeerDisconnected { agency, rows: 10, .. } if agency == "sh_hf"),
            "{back:?}"
        );
    }

    #[test]
    fn internal_faults_keep_their_cause() {
        let e = GatewayError::from_datafusion(DataFusionError::Execution("disk on fire".into()));
        assert!(matches!(e, GatewayError::DataFusion(_)), "{e:?}");
        assert!(e.to_string().contains("disk on fire"), "{e}");
        assert!(!e.to_string().contains("please report"), "{e}");
    }

    #[test]
    fn planning_errors_are_bad_sql() {
        let e = GatewayError::from_datafusion(DataFusionError::Context(
            "x".into(),
            Box::new(DataFusionError::Plan("no column z".into())),
        ));
        assert!(
            matches!(&e, GatewayError::Sql(m) if m == "no column z"),
            "{e:?}"
        );
    }
}
