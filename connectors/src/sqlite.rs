//! A table or view in an SQLite database file, through `datafusion-table-providers`'
//! `SQLiteTable` (a [`SqlTable`](datafusion_table_providers::sql::sql_provider_datafusion::SqlTable)
//! with the SQLite dialect): each scan becomes one `SELECT` run on the file.
//!
//! The file is opened read-only and must exist; it is never created or modified.
//!
//! Column types come from the declared types, by SQLite's affinity rules: `INT…` is
//! `Int64`; `CHAR`, `CLOB`, `TEXT` are `Utf8`; `BLOB` is `Binary`; `REAL`, `FLOA…`,
//! `DOUB…`, `NUMERIC`, `DECIMAL` are `Float64`; `BOOL…` is `Boolean`. SQLite has no date or
//! time storage class and keeps such values as text, but a column declared `DATE` is
//! `Date32`, and one declared `DATETIME` or `TIMESTAMP` is `Timestamp(µs)`: the text is
//! parsed as it is read ([`crate::source_table`]), and a value that does not parse fails the
//! query naming the column. Filters on those columns are evaluated by DataFusion, never
//! by SQLite, which would compare text. A view column without a declared type (an
//! expression) takes the type of its first non-NULL value.
//!
//! | pushdown   | support |
//! |------------|---------|
//! | projection | **Exact**: the `SELECT` list holds only the requested columns. |
//! | filters    | **Exact** for comparisons of numbers, `IS NULL`, and `AND`/`OR`/`NOT` of those; **Inexact** for text `=`, `IN` and `LIKE` (a column may be `COLLATE NOCASE`, and `LIKE` ignores ASCII case), re-checked by DataFusion ([`crate::filters`], `FilterRules::SQLITE`). **Unsupported** for the rest, dates and timestamps among them (SQLite would compare their text), which DataFusion evaluates above the scan. |
//! | limit      | **Exact**: `LIMIT n` is appended when every filter was pushed exactly. |
//! | aggregate  | `count`, integer `sum`, integer `min`/`max`, grouped by integer or boolean columns ([`crate::aggregate`]); never over dates, which SQLite holds as text. |

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::sql::unparser::dialect::SqliteDialect;
use datafusion_table_providers::sql::db_connection_pool::sqlitepool::SqliteConnectionPool;
use datafusion_table_providers::sql::db_connection_pool::{JoinPushDown, Mode};
use datafusion_table_providers::sqlite::DynSqliteConnectionPool;
use datafusion_table_providers::sqlite::sql_table::SQLiteTable;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::connector::Connector;
use crate::error::{ConnectorError, Result, chain_to_string};
use crate::filters::FilterRules;
use crate::remote::verbatim_table_reference;
use crate::source_table::{PooledSql, SourceTable};

const KIND: &str = "sqlite";

/// How long a query waits for a lock held by a writer before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads one table or view of an SQLite database file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConnector {
    path: PathBuf,
    table: String,
}

impl SqliteConnector {
    /// A connector for `table` in the database file at `path` (already resolved against
    /// the base directory).
    pub fn new(path: PathBuf, table: impl Into<String>) -> Self {
        Self {
            path,
            table: table.into(),
        }
    }
}

#[async_trait]
impl Connector for SqliteConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn table_provider(&self) -> Result<Arc<dyn TableProvider>> {
        let table_ref = verbatim_table_reference(KIND, &self.table)?;
        let path = match tokio::fs::canonicalize(&self.path).await {
            Ok(path) => path,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConnectorError::NoSuchFile {
                    path: self.path.clone(),
                });
            }
            Err(e) => return Err(self.connection_failed(chain_to_string(&e))),
        };
        if path.is_dir() {
            return Err(ConnectorError::InvalidConfig {
                kind: KIND,
                reason: format!("{} is a directory, not an SQLite file", self.path.display()),
            });
        }
        let uri = read_only_uri(&path);

        let schema = {
            let uri = uri.clone();
            let table_ref = table_ref.clone();
            tokio::task::spawn_blocking(move || read_schema(&uri, &table_ref))
                .await
                .map_err(|e| ConnectorError::Internal {
                    kind: KIND,
                    reason: chain_to_string(&e),
                })?
        };
        let schema = match schema {
            Ok(Some(schema)) => schema,
            Ok(None) => {
                return Err(ConnectorError::TableNotFound {
                    kind: KIND,
                    table: self.table.clone(),
                    location: self.path.display().to_string(),
                });
            }
            Err(SchemaError::Open(e)) => return Err(self.connection_failed(chain_to_string(&e))),
            Err(SchemaError::Query(e)) => {
                return Err(ConnectorError::Schema {
                    what: format!(
                        "table `{}` in sqlite database {}",
                        self.table,
                        self.path.display()
                    ),
                    reason: chain_to_string(&e),
                });
            }
        };
        tracing::debug!(path = %self.path.display(), table = %self.table, %schema, "sqlite schema");

        let pool = SqliteConnectionPool::new(
            &uri,
            Mode::File,
            JoinPushDown::AllowedFor(path.display().to_string()),
            Vec::new(),
            BUSY_TIMEOUT,
        )
        .await
        .map_err(|e| self.connection_failed(chain_to_string(e.as_ref())))?;
        let pool: Arc<DynSqliteConnectionPool> = Arc::new(pool);
        // SQLite returns dates as the text it stores; it is read as text and parsed here.
        let text = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Date32 | DataType::Timestamp(..) => {
                        Field::new(f.name(), DataType::Utf8, true)
                    }
                    _ => f.as_ref().clone(),
                })
                .collect::<Vec<_>>(),
        ));
        let sql = PooledSql::new(
            Arc::clone(&pool),
            Arc::new(SqliteDialect {}),
            table_ref.clone(),
        );
        let source = Arc::new(SQLiteTable::new_with_schema(&pool, text, table_ref));
        Ok(Arc::new(
            SourceTable::typed(
                source,
                schema,
                FilterRules::SQLITE,
                format!("sqlite table `{}` in {}", self.table, self.path.display()),
            )
            .with_sql(Arc::new(sql)),
        ))
    }
}

impl SqliteConnector {
    fn connection_failed(&self, reason: String) -> ConnectorError {
        ConnectorError::ConnectionFailed {
            kind: KIND,
            location: self.path.display().to_string(),
            reason,
        }
    }
}

enum SchemaError {
    /// The file could not be opened as an SQLite database.
    Open(rusqlite::Error),
    /// The catalog or data could not be read.
    Query(rusqlite::Error),
}

/// `file:` URI opening `path` read-only, so the file is never created or changed.
fn read_only_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/._-~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?mode=ro");
    uri
}

/// The Arrow schema of `table`, or `None` if the database has no such table or view.
fn read_schema(
    uri: &str,
    table: &TableReference,
) -> std::result::Result<Option<SchemaRef>, SchemaError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(uri, flags).map_err(SchemaError::Open)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(SchemaError::Open)?;
    // Reading the catalog is the first access to the file: "file is not a database"
    // shows up here.
    let schema_name = table.schema().unwrap_or("main");
    let mut stmt = conn
        .prepare("SELECT name, type FROM pragma_table_info(?1, ?2) ORDER BY cid")
        .map_err(SchemaError::Open)?;
    let columns = stmt
        .query_map([table.table(), schema_name], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(ref f, _)
                if f.code == rusqlite::ErrorCode::NotADatabase =>
            {
                SchemaError::Open(e)
            }
            e => SchemaError::Query(e),
        })?;
    if columns.is_empty() {
        return Ok(None);
    }

    let from = format!("{}.{}", quote(schema_name), quote(table.table()));
    let mut fields = Vec::with_capacity(columns.len());
    for (name, declared) in columns {
        let data_type = match declared_type(&declared) {
            Some(data_type) => data_type,
            None => {
                let column = quote(&name);
                let storage: Option<String> = conn
                    .query_row(
                        &format!(
                            "SELECT typeof({column}) FROM {from} WHERE {column} IS NOT NULL LIMIT 1"
                        ),
                        [],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(SchemaError::Query)?;
                storage_type(storage.as_deref())
            }
        };
        fields.push(Field::new(name, data_type, true));
    }
    Ok(Some(Arc::new(Schema::new(fields))))
}

/// The Arrow type for a declared column type, by SQLite's affinity rules
/// (<https://www.sqlite.org/datatype3.html#determination_of_column_affinity>), or `None`
/// if nothing is declared.
fn declared_type(declared: &str) -> Option<DataType> {
    let t = declared.to_ascii_uppercase();
    if t.trim().is_empty() {
        return None;
    }
    let data_type = if t.contains("INT") {
        DataType::Int64
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        DataType::Utf8
    } else if t.contains("BLOB") {
        DataType::Binary
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        DataType::Float64
    } else if t.contains("BOOL") {
        DataType::Boolean
    } else if t.contains("TIME") {
        DataType::Timestamp(TimeUnit::Microsecond, None)
    } else if t.contains("DATE") {
        DataType::Date32
    } else {
        // NUMERIC affinity: NUMERIC, DECIMAL(p,s), and anything else.
        DataType::Float64
    };
    Some(data_type)
}

/// The Arrow type for a value's storage class (`typeof()`), `Utf8` when unknown.
fn storage_type(storage: Option<&str>) -> DataType {
    match storage {
        Some("integer") => DataType::Int64,
        Some("real") => DataType::Float64,
        Some("blob") => DataType::Binary,
        _ => DataType::Utf8,
    }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_rules() {
        assert_eq!(declared_type("INTEGER"), Some(DataType::Int64));
        assert_eq!(declared_type("bigint"), Some(DataType::Int64));
        assert_eq!(declared_type("VARCHAR(20)"), Some(DataType::Utf8));
        assert_eq!(declared_type("DOUBLE PRECISION"), Some(DataType::Float64));
        assert_eq!(declared_type("DECIMAL(10,2)"), Some(DataType::Float64));
        assert_eq!(declared_type("BOOLEAN"), Some(DataType::Boolean));
        assert_eq!(declared_type("DATE"), Some(DataType::Date32));
        let micros = Some(DataType::Timestamp(TimeUnit::Microsecond, None));
        assert_eq!(declared_type("TIMESTAMP"), micros);
        assert_eq!(declared_type("DATETIME"), micros);
        assert_eq!(declared_type("BLOB"), Some(DataType::Binary));
        assert_eq!(declared_type(""), None);
    }

    #[test]
    fn uri_escapes_special_characters() {
        assert_eq!(
            read_only_uri(Path::new("/tmp/a b?#%.db")),
            "file:/tmp/a%20b%3F%23%25.db?mode=ro"
        );
    }
}
