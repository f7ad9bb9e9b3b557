//! The part the file connectors share: a DataFusion [`ListingTable`] over one file or a
//! directory of files, with the schema inferred from the data.
//!
//! What a `ListingTable` pushes down, whatever the format:
//!
//! * **Projection: Exact.** Only the requested columns are decoded (for Parquet, only
//!   their column chunks are read).
//! * **Filters: Inexact.** DataFusion keeps a `FilterExec` above the scan. The scan uses
//!   the predicates where the format allows (Parquet prunes row groups and pages with
//!   statistics); CSV and NDJSON read every row.
//! * **Limit: Exact when no filter remains above the scan** (the scan stops after `limit`
//!   rows); with a filter, DataFusion applies the limit after filtering.

use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;

use crate::error::{ConnectorError, Result, chain_to_string};

/// Open `path` (a file, or a directory of files) as a table in `format`.
///
/// A single file is read whatever its name. In a directory, only files ending in one of
/// `extensions` are read: the first extension in the list that any file has is used, so
/// `[".ndjson", ".jsonl", ".json"]` reads the `.ndjson` files if there are any.
pub(crate) async fn open_listing_table(
    kind: &'static str,
    path: &Path,
    format: Arc<dyn FileFormat>,
    extensions: &[&str],
) -> Result<Arc<dyn TableProvider>> {
    let metadata = match tokio::fs::metadata(path).await {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConnectorError::NoSuchFile {
                path: path.to_path_buf(),
            });
        }
        Err(e) => {
            return Err(ConnectorError::Schema {
                what: path.display().to_string(),
                reason: chain_to_string(&e),
            });
        }
    };

    let Some(path_str) = path.to_str() else {
        return Err(ConnectorError::InvalidConfig {
            kind,
            reason: format!("path {} is not valid UTF-8", path.display()),
        });
    };
    if path_str.contains(['*', '?', '[']) {
        // ListingTableUrl would read these as a glob, not as the path the config names.
        return Err(ConnectorError::InvalidConfig {
            kind,
            reason: format!("path {path_str} contains a glob character (`*`, `?` or `[`)"),
        });
    }

    let (url, extension) = if metadata.is_dir() {
        let extension =
            pick_extension(path, extensions)
                .await?
                .ok_or_else(|| ConnectorError::NoDataFiles {
                    kind,
                    path: path.to_path_buf(),
                })?;
        let dir = if path_str.ends_with('/') {
            path_str.to_owned()
        } else {
            format!("{path_str}/")
        };
        (parse_url(kind, &dir)?, extension)
    } else {
        (parse_url(kind, path_str)?, String::new())
    };

    let options = ListingOptions::new(format).with_file_extension(extension);
    let ctx = SessionContext::new();
    let state = ctx.state();
    let schema = options
        .infer_schema(&state, &url)
        .await
        .map_err(|e| ConnectorError::Schema {
            what: path.display().to_string(),
            reason: chain_to_string(&e),
        })?;
    tracing::debug!(kind, path = %path.display(), %schema, "inferred file schema");

    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    let table = ListingTable::try_new(config).map_err(|e| ConnectorError::Internal {
        kind,
        reason: chain_to_string(&e),
    })?;
    Ok(Arc::new(table))
}

fn parse_url(kind: &'static str, path: &str) -> Result<ListingTableUrl> {
    ListingTableUrl::parse(path).map_err(|e| ConnectorError::InvalidConfig {
        kind,
        reason: format!("path {path}: {}", chain_to_string(&e)),
    })
}

/// The first of `extensions` that a regular file directly in `dir` ends with.
async fn pick_extension(dir: &Path, extensions: &[&str]) -> Result<Option<String>> {
    let read_error = |e: std::io::Error| ConnectorError::Schema {
        what: dir.display().to_string(),
        reason: chain_to_string(&e),
    };
    let mut names = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await.map_err(read_error)?;
    while let Some(entry) = entries.next_entry().await.map_err(read_error)? {
        let is_file = entry.file_type().await.map_err(read_error)?.is_file();
        if is_file && let Some(name) = entry.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    Ok(extensions
        .iter()
        .find(|ext| names.iter().any(|name| name.ends_with(*ext)))
        .map(|ext| (*ext).to_owned()))
}
