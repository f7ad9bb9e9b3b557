//! The extension point: a [`Connector`] turns one dataset's config into a DataFusion
//! `TableProvider`. Each kind of source implements it in a file of its own.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;

use crate::error::Result;

/// A source of rows for one dataset.
///
/// Implementations live one per file. The provider they return must push projections,
/// filters and limits into the source where it can, and say which it cannot through
/// `TableProvider::supports_filters_pushdown`.
#[async_trait]
pub trait Connector: Debug + Send + Sync {
    /// The connector kind, as in [`crate::ConnectorConfig::kind`].
    fn kind(&self) -> &'static str;

    /// Connect (or open the files) and return a provider for the dataset.
    async fn table_provider(&self) -> Result<Arc<dyn TableProvider>>;
}
