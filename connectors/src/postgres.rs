//! PostgreSQL tables and views, through `datafusion-table-providers`' [`SqlTable`] with
//! the PostgreSQL dialect: each scan becomes one `SELECT` sent to the server.
//!
//! The URL is `postgresql://user[:password]@host[:port]/database[?sslmode=…]`; `sslmode`
//! is `disable`, `prefer` (the default), `require`, `verify-ca` or `verify-full`. The table
//! may be schema-qualified (`public.persons`); unquoted names are folded to lower case, as
//! PostgreSQL does. The column types come from the catalog, so a view works like a table.
//!
//! | pushdown   | support |
//! |------------|---------|
//! | projection | **Exact**: the `SELECT` list holds only the requested columns. |
//! | filters    | **Exact** for comparisons of numbers and dates, text `=`, `<>`, `IN` and `LIKE` with a plain pattern, `IS NULL`, and `AND`/`OR`/`NOT` of those ([`crate::filters`], `FilterRules::POSTGRES`): they go into the `WHERE` clause and DataFusion does not re-check them. **Unsupported** for the rest (text order, which follows the database's collation; timestamps; functions; arithmetic), which DataFusion evaluates above the scan. |
//! | limit      | **Exact**: `LIMIT n` is appended when every filter was pushed exactly. |
//! | aggregate  | `count`, integer `sum`, integer and date `min`/`max`, grouped by integer, date, boolean or text columns ([`crate::aggregate`]). |

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::sql::unparser::dialect::PostgreSqlDialect;
use datafusion_table_providers::postgres::DynPostgresConnectionPool;
use datafusion_table_providers::sql::db_connection_pool::postgrespool::PostgresConnectionPool;
use datafusion_table_providers::sql::sql_provider_datafusion::SqlTable;
use datafusion_table_providers::util::secrets::to_secret_map;

use crate::connector::Connector;
use crate::dburl::{DbUrl, redact_url};
use crate::error::{ConnectorError, Result};
use crate::filters::FilterRules;
use crate::remote::{connect_with_timeout, table_error, within_timeout};
use crate::source_table::{PooledSql, SourceTable};

const KIND: &str = "postgres";

/// URL query parameters passed on to the connection pool.
const PASSED_PARAMS: &[&str] = &["sslmode", "sslrootcert", "application_name", "options"];

/// Reads one PostgreSQL table or view.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConnector {
    url: String,
    table: String,
}

impl fmt::Debug for PostgresConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConnector")
            .field("url", &redact_url(&self.url))
            .field("table", &self.table)
            .finish()
    }
}

impl PostgresConnector {
    /// A connector for `table` in the database at `url`.
    pub fn new(url: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            table: table.into(),
        }
    }

    fn parse_url(&self) -> Result<DbUrl> {
        let invalid = |reason: String| ConnectorError::InvalidUrl {
            kind: KIND,
            url: redact_url(&self.url),
            reason,
        };
        let url =
            DbUrl::parse(&self.url, &["postgresql", "postgres"], 5432).map_err(|e| invalid(e.0))?;
        if url.user.is_none() {
            return Err(invalid("missing user name".to_owned()));
        }
        if let Some((key, _)) = url
            .params
            .iter()
            .find(|(k, _)| !PASSED_PARAMS.contains(&k.as_str()))
        {
            return Err(invalid(format!(
                "unknown parameter `{key}`, expected one of: {}",
                PASSED_PARAMS.join(", ")
            )));
        }
        Ok(url)
    }

    fn table_reference(&self) -> Result<TableReference> {
        if self.table.trim().is_empty() {
            return Err(ConnectorError::InvalidConfig {
                kind: KIND,
                reason: "the table name is empty".to_owned(),
            });
        }
        Ok(TableReference::parse_str(&self.table))
    }
}

#[async_trait]
impl Connector for PostgresConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn table_provider(&self) -> Result<Arc<dyn TableProvider>> {
        let url = self.parse_url()?;
        let table_ref = self.table_reference()?;
        let location = url.location();

        let mut params: HashMap<String, String> = HashMap::new();
        params.insert("host".to_owned(), url.host.clone());
        params.insert("port".to_owned(), url.port.to_string());
        if let Some(user) = &url.user {
            params.insert("user".to_owned(), user.clone());
        }
        if let Some(db) = &url.database {
            params.insert("db".to_owned(), db.clone());
        }
        if let Some(password) = &url.password {
            params.insert("pass".to_owned(), password.clone());
        }
        params.insert(
            "sslmode".to_owned(),
            url.param("sslmode").unwrap_or("prefer").to_owned(),
        );
        for key in PASSED_PARAMS.iter().filter(|k| **k != "sslmode") {
            if let Some(value) = url.param(key) {
                params.insert((*key).to_owned(), value.to_owned());
            }
        }

        tracing::debug!(%location, table = %self.table, "connecting to postgres");
        let pool = connect_with_timeout(
            KIND,
            &url,
            PostgresConnectionPool::new(to_secret_map(params)),
        )
        .await?;
        let pool: Arc<DynPostgresConnectionPool> = Arc::new(pool);

        let sql = PooledSql::new(
            Arc::clone(&pool),
            Arc::new(PostgreSqlDialect {}),
            table_ref.clone(),
        );
        let table = within_timeout(KIND, &location, SqlTable::new(KIND, &pool, table_ref))
            .await?
            .map_err(|e| table_error(KIND, &self.table, &location, |s| url.redact(s), e))?
            .with_dialect(Arc::new(PostgreSqlDialect {}));
        Ok(Arc::new(
            SourceTable::new(
                Arc::new(table),
                FilterRules::POSTGRES,
                format!("{KIND} table `{}` at {location}", self.table),
            )
            .with_sql(Arc::new(sql)),
        ))
    }
}
