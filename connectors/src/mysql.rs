//! MySQL and MariaDB tables and views, through `datafusion-table-providers`' `MySQLTable`
//! (a [`SqlTable`](datafusion_table_providers::sql::sql_provider_datafusion::SqlTable)
//! with the MySQL dialect): each scan becomes one `SELECT` sent to the server.
//!
//! The URL is `mysql://user[:password]@host[:port]/database[?sslmode=…]`; `sslmode` is
//! `disabled`, `required` or `preferred`. Without it, TLS is tried first and plain TCP
//! is used if the server does not offer TLS, as MySQL's own clients do. The table may be
//! qualified with a database (`other_db.persons`); its case is kept as written. Column
//! types come from `SHOW COLUMNS`, so a view works like a table.
//!
//! | pushdown   | support |
//! |------------|---------|
//! | projection | **Exact**: the `SELECT` list holds only the requested columns. |
//! | filters    | **Exact** for comparisons of numbers and dates, `IS NULL`, and `AND`/`OR`/`NOT` of those; **Inexact** for text `=`, `IN` and `LIKE`, which MariaDB's case- and trailing-space-insensitive collations answer for a superset of the rows, re-checked by DataFusion ([`crate::filters`], `FilterRules::MYSQL`). **Unsupported** for the rest (text `<>` and order, timestamps, functions, arithmetic: MariaDB's `/` is not integer division), which DataFusion evaluates above the scan. |
//! | limit      | **Exact**: `LIMIT n` is appended when every filter was pushed exactly. |
//! | aggregate  | `count`, integer `sum`, integer and date `min`/`max`, grouped by integer, date or boolean columns ([`crate::aggregate`]); never by text, which the collations fold. |
//!
//! A filter the server would answer by its own semantics (with the usual `*_ci`
//! collations, text comparisons there ignore case) is never trusted to it alone.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::sql::unparser::dialect::MySqlDialect;
use datafusion_table_providers::mysql::DynMySQLConnectionPool;
use datafusion_table_providers::mysql::sql_table::MySQLTable;
use datafusion_table_providers::sql::db_connection_pool::mysqlpool::{
    Error as PoolError, MySQLConnectionPool,
};
use datafusion_table_providers::util::secrets::to_secret_map;
use mysql_async::DriverError;

use crate::connector::Connector;
use crate::dburl::{DbUrl, redact_url};
use crate::error::{ConnectorError, Result};
use crate::filters::FilterRules;
use crate::remote::{
    connect_with_timeout, connection_failed, table_error, verbatim_table_reference, within_timeout,
};
use crate::source_table::{PooledSql, SourceTable};

const KIND: &str = "mysql";

/// URL query parameters passed on to the connection pool.
const PASSED_PARAMS: &[&str] = &["sslmode", "sslrootcert"];

/// Reads one MySQL or MariaDB table or view.
#[derive(Clone, PartialEq, Eq)]
pub struct MysqlConnector {
    url: String,
    table: String,
}

impl fmt::Debug for MysqlConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlConnector")
            .field("url", &redact_url(&self.url))
            .field("table", &self.table)
            .finish()
    }
}

impl MysqlConnector {
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
        let url = DbUrl::parse(&self.url, &["mysql", "mariadb"], 3306).map_err(|e| invalid(e.0))?;
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

    fn pool_params(url: &DbUrl, sslmode: &str) -> HashMap<String, String> {
        let mut params: HashMap<String, String> = HashMap::new();
        params.insert("host".to_owned(), url.host.clone());
        params.insert("tcp_port".to_owned(), url.port.to_string());
        if let Some(user) = &url.user {
            params.insert("user".to_owned(), user.clone());
        }
        if let Some(db) = &url.database {
            params.insert("db".to_owned(), db.clone());
        }
        if let Some(password) = &url.password {
            params.insert("pass".to_owned(), password.clone());
        }
        params.insert("sslmode".to_owned(), sslmode.to_owned());
        if let Some(cert) = url.param("sslrootcert") {
            params.insert("sslrootcert".to_owned(), cert.to_owned());
        }
        params
    }

    async fn connect(url: &DbUrl) -> Result<MySQLConnectionPool> {
        if let Some(sslmode) = url.param("sslmode") {
            let params = to_secret_map(Self::pool_params(url, sslmode));
            return connect_with_timeout(KIND, url, MySQLConnectionPool::new(params)).await;
        }
        let params = to_secret_map(Self::pool_params(url, "preferred"));
        let first = within_timeout(KIND, &url.location(), MySQLConnectionPool::new(params)).await?;
        match first {
            Ok(pool) => Ok(pool),
            Err(PoolError::MySQLConnectionError {
                source: mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer),
            }) => {
                tracing::debug!(location = %url.location(), "server offers no TLS, connecting without");
                let params = to_secret_map(Self::pool_params(url, "disabled"));
                connect_with_timeout(KIND, url, MySQLConnectionPool::new(params)).await
            }
            Err(e) => Err(connection_failed(KIND, url, &e)),
        }
    }
}

#[async_trait]
impl Connector for MysqlConnector {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn table_provider(&self) -> Result<Arc<dyn TableProvider>> {
        let url = self.parse_url()?;
        let table_ref = verbatim_table_reference(KIND, &self.table)?;
        let location = url.location();

        tracing::debug!(%location, table = %self.table, "connecting to mysql");
        let pool = Arc::new(Self::connect(&url).await?);
        let sql = PooledSql::new(
            Arc::clone(&pool) as Arc<DynMySQLConnectionPool>,
            Arc::new(MySqlDialect {}),
            table_ref.clone(),
        );
        let table = within_timeout(KIND, &location, MySQLTable::new(&pool, table_ref))
            .await?
            .map_err(|e| table_error(KIND, &self.table, &location, |s| url.redact(s), e))?;
        Ok(Arc::new(
            SourceTable::new(
                Arc::new(table),
                FilterRules::MYSQL,
                format!("{KIND} table `{}` at {location}", self.table),
            )
            .with_sql(Arc::new(sql)),
        ))
    }
}
