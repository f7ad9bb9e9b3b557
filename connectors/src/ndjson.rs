//! Newline-delimited JSON: one file, or a directory of `.ndjson`, `.jsonl` or `.json`
//! files (the first of those extensions present in the directory is read).
//!
//! The schema is inferred from the first records of the files.
//!
//! | pushdown   | support |
//! |------------|---------|
//! | projection | **Exact**: only the requested fields are decoded into columns. |
//! | filters    | **Inexact**: every record is read; DataFusion filters above the scan. |
//! | limit      | **Exact** without filters (the scan stops early); otherwise applied after the filter. |

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::json::JsonFormat;

use crate::connector::Connector;
use crate::error::Result;
use crate::listing::open_listing_table;

/// Reads a newline-delimited JSON file or a directory of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdjsonConnector {
    path: PathBuf,
}

impl NdjsonConnector {
    /// A connector for `path` (already resolved against the base directory).
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }
}

#[async_trait]
impl Connector for NdjsonConnector {
    fn kind(&self) -> &'static str {
        "ndjson"
    }

    async fn table_provider(&self) -> Result<Arc<dyn TableProvider>> {
        let format = JsonFormat::default().with_newline_delimited(true);
        open_listing_table(
            self.kind(),
            &self.path,
            Arc::new(format),
            &[".ndjson", ".jsonl", ".json"],
        )
        .await
    }
}
