//! Parquet files: one file, or a directory of `.parquet` files.
//!
//! The schema is read from the files' footers.
//!
//! | pushdown   | support |
//! |------------|---------|
//! | projection | **Exact**: only the requested columns' chunks are read. |
//! | filters    | **Inexact**: row groups (and pages) whose statistics cannot match are skipped; DataFusion filters the remaining rows above the scan. |
//! | limit      | **Exact** without filters (the scan stops early); otherwise applied after the filter. |

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;

use crate::connector::Connector;
use crate::error::Result;
use crate::listing::open_listing_table;

/// Reads a Parquet file or a directory of Parquet files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetConnector {
    path: PathBuf,
}

impl ParquetConnector {
    /// A connector for `path` (already resolved against the base directory).
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }
}

#[async_trait]
impl Connector for ParquetConnector {
    fn kind(&self) -> &'static str {
        "parquet"
    }

    async fn table_provider(&self) -> Result<Arc<dyn TableProvider>> {
        let format = ParquetFormat::default();
        open_listing_table(self.kind(), &self.path, Arc::new(format), &[".parquet"]).await
    }
}
