//! CSV files: one file, or a directory of `.csv` (or `.tsv`) files with the same columns.
//!
//! The schema is inferred from the first rows of the files.
//!
//! | pushdown   | support |
//! |------------|---------|
//! | projection | **Exact**: only the requested columns are decoded. |
//! | filters    | **Inexact**: every row is read; DataFusion filters above the scan. |
//! | limit      | **Exact** without filters (the scan stops early); otherwise applied after the filter. |

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::csv::CsvFormat;

use crate::connector::Connector;
use crate::error::{ConnectorError, Result};
use crate::listing::open_listing_table;

/// Reads a CSV file or a directory of CSV files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvConnector {
    path: PathBuf,
    has_header: bool,
    delimiter: char,
}

impl CsvConnector {
    /// A connector for `path` (already resolved against the base directory).
    pub fn new(path: PathBuf, has_header: bool, delimiter: char) -> Self {
        Self {
            path,
            has_header,
            delimiter,
        }
    }
}

#[async_trait]
impl Connector for CsvConnector {
    fn kind(&self) -> &'static str {
        "csv"
    }

    async fn table_provider(&self) -> Result<Arc<dyn TableProvider>> {
        let delimiter = u8::try_from(self.delimiter)
            .ok()
            .filter(|d| d.is_ascii() && *d != b'\n' && *d != b'\r' && *d != b'"')
            .ok_or_else(|| ConnectorError::InvalidConfig {
                kind: self.kind(),
                reason: format!(
                    "delimiter {:?} must be a single ASCII character other than a quote or newline",
                    self.delimiter
                ),
            })?;
        let format = CsvFormat::default()
            .with_has_header(self.has_header)
            .with_delimiter(delimiter);
        open_listing_table(self.kind(), &self.path, Arc::new(format), &[".csv", ".tsv"]).await
    }
}
