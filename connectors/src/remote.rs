//! What the database connectors share: the connect timeout, how table names become
//! [`TableReference`]s, and how the table providers' errors become [`ConnectorError`]s.

use std::future::Future;
use std::time::Duration;

use datafusion::common::TableReference;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::Error as DbError;
use datafusion_table_providers::sql::sql_provider_datafusion::Error as SqlTableError;

use crate::dburl::DbUrl;
use crate::error::{ConnectorError, Result, chain_to_string};

/// How long connecting (including the first query) may take before we give up.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Await `fut`, giving up after [`CONNECT_TIMEOUT`] with
/// [`ConnectorError::ConnectionFailed`].
pub(crate) async fn within_timeout<T>(
    kind: &'static str,
    location: &str,
    fut: impl Future<Output = T>,
) -> Result<T> {
    tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .map_err(|_| ConnectorError::ConnectionFailed {
            kind,
            location: location.to_owned(),
            reason: format!("timed out after {}s", CONNECT_TIMEOUT.as_secs()),
        })
}

/// Run `connect` within [`CONNECT_TIMEOUT`], turning a failure into
/// [`ConnectorError::ConnectionFailed`] with the password scrubbed from the reason.
pub(crate) async fn connect_with_timeout<T, E>(
    kind: &'static str,
    url: &DbUrl,
    connect: impl Future<Output = std::result::Result<T, E>>,
) -> Result<T>
where
    E: std::error::Error + 'static,
{
    within_timeout(kind, &url.location(), connect)
        .await?
        .map_err(|e| connection_failed(kind, url, &e))
}

/// [`ConnectorError::ConnectionFailed`] for `error`, with the password scrubbed.
pub(crate) fn connection_failed(
    kind: &'static str,
    url: &DbUrl,
    error: &(dyn std::error::Error + 'static),
) -> ConnectorError {
    ConnectorError::ConnectionFailed {
        kind,
        location: url.location(),
        reason: url.redact(&chain_to_string(error)),
    }
}

/// Split `schema.table` on its one dot without changing case, for databases whose
/// identifiers are case-sensitive (MySQL on Linux, SQLite for quoting purposes).
pub(crate) fn verbatim_table_reference(kind: &'static str, table: &str) -> Result<TableReference> {
    let invalid = |reason: &str| ConnectorError::InvalidConfig {
        kind,
        reason: format!("table `{table}`: {reason}"),
    };
    if table.trim().is_empty() {
        return Err(invalid("the table name is empty"));
    }
    match table.split_once('.') {
        None => Ok(TableReference::bare(table)),
        Some((schema, name)) if !schema.is_empty() && !name.is_empty() && !name.contains('.') => {
            Ok(TableReference::partial(schema, name))
        }
        Some(_) => Err(invalid("expected `table` or `schema.table`")),
    }
}

/// Map an error from `SqlTable::new` (or a wrapper of it) to our error.
pub(crate) fn table_error(
    kind: &'static str,
    table: &str,
    url_or_path: &str,
    redact: impl Fn(&str) -> String,
    error: SqlTableError,
) -> ConnectorError {
    match error {
        SqlTableError::UnableToGetSchema {
            source: DbError::UndefinedTable { .. },
        } => ConnectorError::TableNotFound {
            kind,
            table: table.to_owned(),
            location: url_or_path.to_owned(),
        },
        SqlTableError::UnableToGetConnectionFromPool { .. } => ConnectorError::ConnectionFailed {
            kind,
            location: url_or_path.to_owned(),
            reason: redact(&chain_to_string(&error)),
        },
        other => ConnectorError::Schema {
            what: format!("table `{table}` in {kind} database {url_or_path}"),
            reason: redact(&chain_to_string(&other)),
        },
    }
}
