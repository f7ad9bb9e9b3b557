//! Sluice connectors: turn a dataset's `[connector]` config into a DataFusion
//! [`TableProvider`], with filters, projections and limits pushed into the source.
//!
//! Each kind of source is one file implementing [`Connector`]. The gateway only calls
//! [`open`]; it never needs to know which kind of source a dataset lives in.
//!
//! | kind      | module      | reads through                                   |
//! |-----------|-------------|-------------------------------------------------|
//! | `csv`     | [`csv`]     | DataFusion `ListingTable` + `CsvFormat`         |
//! | `parquet` | [`parquet`] | DataFusion `ListingTable` + `ParquetFormat`     |
//! | `ndjson`  | [`ndjson`]  | DataFusion `ListingTable` + `JsonFormat`        |
//! | `postgres`| [`postgres`]| `datafusion-table-providers` `SqlTable`         |
//! | `mysql`   | [`mysql`]   | `datafusion-table-providers` `MySQLTable`       |
//! | `sqlite`  | [`sqlite`]  | `datafusion-table-providers` `SQLiteTable`      |
//!
//! Each module's documentation says which pushdowns are Exact, Inexact or Unsupported.
//! The three database connectors wrap their table in [`source_table::SourceTable`], which
//! hands the database a filter only as far as [`filters`] trusts its SQL to mean what
//! DataFusion means, and [`aggregate`] hands a GROUP BY over one such table to its
//! database where the database computes it exactly.
//! Errors are one enum, [`ConnectorError`]; its messages name the source and never hold
//! a password.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use serde::{Deserialize, Serialize};

pub mod aggregate;
mod connector;
pub mod csv;
mod dburl;
mod error;
pub mod filters;
mod listing;
pub mod mysql;
pub mod ndjson;
pub mod parquet;
pub mod postgres;
mod remote;
pub mod source_table;
pub mod sqlite;

pub use crate::csv::CsvConnector;
pub use crate::mysql::MysqlConnector;
pub use crate::ndjson::NdjsonConnector;
pub use crate::parquet::ParquetConnector;
pub use crate::postgres::PostgresConnector;
pub use crate::sqlite::SqliteConnector;
pub use connector::Connector;
pub use error::{ConnectorError, Result};

/// Where a dataset's rows live. Deserialised from the `connector` table of a dataset in
/// the gateway config, tagged by `kind`.
///
/// ```toml
/// [datasets.connector]
/// kind = "postgres"
/// url = "postgresql://postgres@127.0.0.1:5432/test"
/// table = "public.contributions"
/// ```
///
/// Its `Debug` output shows database URLs with the password replaced by `***`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ConnectorConfig {
    /// A CSV file, or a directory of CSV files with the same columns.
    Csv {
        path: PathBuf,
        /// Whether the first line holds column names. Defaults to true.
        #[serde(default = "default_true")]
        has_header: bool,
        /// Field delimiter. Defaults to `,`.
        #[serde(default = "default_delimiter")]
        delimiter: char,
    },
    /// A Parquet file, or a directory of Parquet files.
    Parquet { path: PathBuf },
    /// A newline-delimited JSON file, or a directory of them.
    Ndjson { path: PathBuf },
    /// A PostgreSQL table or view.
    Postgres {
        /// `postgresql://user[:password]@host:port/database`
        url: String,
        /// Table or view name, optionally schema-qualified (`public.persons`).
        table: String,
    },
    /// A MySQL or MariaDB table or view.
    Mysql {
        /// `mysql://user[:password]@host:port/database`
        url: String,
        table: String,
    },
    /// A table or view in an SQLite database file.
    Sqlite { path: PathBuf, table: String },
}

impl Debug for ConnectorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectorConfig::Csv {
                path,
                has_header,
                delimiter,
            } => f
                .debug_struct("Csv")
                .field("path", path)
                .field("has_header", has_header)
                .field("delimiter", delimiter)
                .finish(),
            ConnectorConfig::Parquet { path } => {
                f.debug_struct("Parquet").field("path", path).finish()
            }
            ConnectorConfig::Ndjson { path } => {
                f.debug_struct("Ndjson").field("path", path).finish()
            }
            ConnectorConfig::Postgres { url, table } => f
                .debug_struct("Postgres")
                .field("url", &dburl::redact_url(url))
                .field("table", table)
                .finish(),
            ConnectorConfig::Mysql { url, table } => f
                .debug_struct("Mysql")
                .field("url", &dburl::redact_url(url))
                .field("table", table)
                .finish(),
            ConnectorConfig::Sqlite { path, table } => f
                .debug_struct("Sqlite")
                .field("path", path)
                .field("table", table)
                .finish(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_delimiter() -> char {
    ','
}

impl ConnectorConfig {
    /// The `kind` tag, as written in config files.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorConfig::Csv { .. } => "csv",
            ConnectorConfig::Parquet { .. } => "parquet",
            ConnectorConfig::Ndjson { .. } => "ndjson",
            ConnectorConfig::Postgres { .. } => "postgres",
            ConnectorConfig::Mysql { .. } => "mysql",
            ConnectorConfig::Sqlite { .. } => "sqlite",
        }
    }
}

/// Open the source described by `config`. Relative file paths are resolved against
/// `base_dir`, which is normally the directory of the config file.
pub async fn open(config: &ConnectorConfig, base_dir: &Path) -> Result<Arc<dyn TableProvider>> {
    connector_for(config, base_dir).table_provider().await
}

/// The [`Connector`] for `config`, without connecting yet. Relative file paths are
/// resolved against `base_dir`.
pub fn connector_for(config: &ConnectorConfig, base_dir: &Path) -> Box<dyn Connector> {
    match config {
        ConnectorConfig::Csv {
            path,
            has_header,
            delimiter,
        } => Box::new(CsvConnector::new(
            resolve(base_dir, path),
            *has_header,
            *delimiter,
        )),
        ConnectorConfig::Parquet { path } => {
            Box::new(ParquetConnector::new(resolve(base_dir, path)))
        }
        ConnectorConfig::Ndjson { path } => Box::new(NdjsonConnector::new(resolve(base_dir, path))),
        ConnectorConfig::Postgres { url, table } => Box::new(PostgresConnector::new(url, table)),
        ConnectorConfig::Mysql { url, table } => Box::new(MysqlConnector::new(url, table)),
        ConnectorConfig::Sqlite { path, table } => {
            Box::new(SqliteConnector::new(resolve(base_dir, path), table))
        }
    }
}

/// `path` if it is absolute, else `base_dir/path`.
fn resolve(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}
