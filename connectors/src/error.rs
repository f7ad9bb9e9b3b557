//! The one error type of this crate.
//!
//! Variants are grouped by whose fault they are:
//!
//! * the **config's**: [`InvalidConfig`](ConnectorError::InvalidConfig),
//!   [`InvalidUrl`](ConnectorError::InvalidUrl);
//! * the **source's** (a file or database that is missing, unreachable or unreadable):
//!   [`NoSuchFile`](ConnectorError::NoSuchFile),
//!   [`NoDataFiles`](ConnectorError::NoDataFiles),
//!   [`ConnectionFailed`](ConnectorError::ConnectionFailed),
//!   [`TableNotFound`](ConnectorError::TableNotFound),
//!   [`Schema`](ConnectorError::Schema);
//! * **ours** (a broken invariant, please file a bug): [`Internal`](ConnectorError::Internal).
//!
//! Every message names the dataset's source: a file path, or a database's
//! `host:port/database` and table. URLs are shown without their password, and driver
//! messages are scrubbed of it, so errors are safe to log and to return to callers.

use std::path::PathBuf;

/// `Result` with [`ConnectorError`] as the default error.
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

/// Why a connector could not produce a table provider.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// A setting in the connector config is unusable, e.g. a multi-byte CSV delimiter.
    #[error("invalid {kind} connector config: {reason}")]
    InvalidConfig {
        /// The connector kind, as in `ConnectorConfig::kind`.
        kind: &'static str,
        reason: String,
    },

    /// A database URL could not be parsed. `url` has its password replaced by `***`.
    #[error("invalid {kind} url `{url}`: {reason}")]
    InvalidUrl {
        kind: &'static str,
        url: String,
        reason: String,
    },

    /// The file or directory named in the config does not exist.
    #[error("no such file: {}", path.display())]
    NoSuchFile {
        /// The path as resolved against the base directory.
        path: PathBuf,
    },

    /// A directory was given but holds no file of the expected kind.
    #[error("no {kind} files in directory {}", path.display())]
    NoDataFiles { kind: &'static str, path: PathBuf },

    /// The database could not be reached or refused the connection (unreachable host or
    /// port, failed authentication, unknown database).
    #[error("cannot connect to {kind} at {location}: {reason}")]
    ConnectionFailed {
        kind: &'static str,
        /// `host:port/database`, or a file path for SQLite. Never holds a password.
        location: String,
        reason: String,
    },

    /// The database is reachable but has no table or view of that name.
    #[error("table `{table}` not found in {kind} database {location}")]
    TableNotFound {
        kind: &'static str,
        table: String,
        location: String,
    },

    /// The source exists but its schema could not be read or inferred, e.g. a column type
    /// Arrow cannot represent, or a file that is not valid CSV/Parquet/JSON.
    #[error("cannot read the schema of {what}: {reason}")]
    Schema {
        /// The source: a file path, or ``table `t` in postgres database host:port/db``.
        what: String,
        reason: String,
    },

    /// A broken invariant inside this crate or a library it uses. Please file a bug.
    #[error("internal error in the {kind} connector, please file a bug: {reason}")]
    Internal { kind: &'static str, reason: String },
}

/// Flatten an error and its sources into one line, for the `reason` fields above.
pub(crate) fn chain_to_string(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        let text = one_line(&e.to_string());
        // Many drivers repeat their source's message in their own; skip the repeats.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Collapse the multi-line messages some drivers produce into one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_source() {
        let e = ConnectorError::NoSuchFile {
            path: PathBuf::from("data/x.csv"),
        };
        assert_eq!(e.to_string(), "no such file: data/x.csv");

        let e = ConnectorError::TableNotFound {
            kind: "sqlite",
            table: "foo".to_owned(),
            location: "data/x.db".to_owned(),
        };
        assert_eq!(
            e.to_string(),
            "table `foo` not found in sqlite database data/x.db"
        );

        let e = ConnectorError::ConnectionFailed {
            kind: "postgres",
            location: "127.0.0.1:5432/test".to_owned(),
            reason: "connection refused".to_owned(),
        };
        assert_eq!(
            e.to_string(),
            "cannot connect to postgres at 127.0.0.1:5432/test: connection refused"
        );
    }

    #[test]
    fn chains_are_flattened() {
        let inner = std::io::Error::other("line one\nline two");
        assert_eq!(chain_to_string(&inner), "line one line two");
    }
}
