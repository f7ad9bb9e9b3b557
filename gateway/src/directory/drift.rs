//! Schema drift: a source whose schema no longer matches what its record on the chain
//! says. Analysts' gateways plan against the published record, so an owner that served
//! something else would answer a different question than the one planned. The owner
//! reads each source's schema again at an interval, compares what it serves with the
//! published record on every query, and refuses a drifted dataset with the column at
//! fault; the refusal is recorded on the chain like any other.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arrow::datatypes::Schema;
use sluice_chain::ChainStore;
use sluice_chain::entry::CatalogColumn;
use sluice_core::DatasetRef;

use crate::config::DatasetConfig;
use crate::error::{GatewayError, Result};

/// The first difference between a published record's columns and a served schema.
pub fn difference(
    dataset: &str,
    published: &[CatalogColumn],
    served: &Schema,
) -> Option<GatewayError> {
    let mismatch = |column: &str, published: String, actual: String| {
        Some(GatewayError::SchemaMismatch {
            dataset: dataset.to_string(),
            column: column.to_string(),
            published,
            actual,
        })
    };
    for c in published {
        match served.field_with_name(&c.name) {
            Err(_) => return mismatch(&c.name, c.data_type.clone(), "no such column".into()),
            Ok(f) if f.data_type().to_string() != c.data_type => {
                return mismatch(&c.name, c.data_type.clone(), f.data_type().to_string());
            }
            Ok(_) => {}
        }
    }
    for f in served.fields() {
        if !published.iter().any(|c| &c.name == f.name()) {
            return mismatch(
                f.name(),
                "nothing (not in the published record)".into(),
                f.data_type().to_string(),
            );
        }
    }
    None
}

/// What an owner knows about its sources' schemas.
#[derive(Debug, Default)]
pub struct DriftWatch {
    /// Datasets (`<agency>.<dataset>`) whose source no longer serves what was opened.
    drifted: RwLock<BTreeMap<String, GatewayError>>,
}

impl DriftWatch {
    /// Refuses `dataset` if it was withdrawn from the catalog, if its source drifted from
    /// what the owner serves, or if what the owner serves (`served`) differs from its
    /// published record in `store`. A dataset never published is left to the planner,
    /// which cannot name it.
    pub fn check(&self, dataset: &DatasetRef, served: &Schema, store: &ChainStore) -> Result<()> {
        let name = dataset.to_string();
        if let Some(e) = self
            .drifted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
        {
            return Err(e.clone());
        }
        let dir = store.directory();
        if let Some(state) = dir.state(&name)?
            && state.withdrawn
        {
            return Err(GatewayError::BadRequest(format!(
                "`{name}` was withdrawn from the catalog (chain entry {}); its owner no longer answers for it",
                state.index
            )));
        }
        if let Some(p) = dir.dataset(&name)?
            && let Some(e) = difference(&name, &p.record.columns, served)
        {
            return Err(e);
        }
        Ok(())
    }

    fn set(&self, dataset: String, drift: Option<GatewayError>) {
        let mut map = self.drifted.write().unwrap_or_else(|p| p.into_inner());
        match drift {
            Some(e) => {
                if !map.contains_key(&dataset) {
                    tracing::warn!(%dataset, error = %e, "the source's schema drifted; queries of it are refused until the gateway restarts with it published again");
                }
                map.insert(dataset, e);
            }
            None => {
                if map.remove(&dataset).is_some() {
                    tracing::info!(%dataset, "the source serves its published schema again");
                }
            }
        }
    }
}

/// One dataset a watch reads again: its name, its source and the schema it was opened
/// with.
#[derive(Debug, Clone)]
pub struct Watched {
    pub dataset: String,
    pub config: DatasetConfig,
    pub served: Arc<Schema>,
}

/// Reads every source's schema again every `every`, for as long as the gateway runs.
pub async fn watch_forever(
    watch: Arc<DriftWatch>,
    sources: Vec<Watched>,
    base_dir: PathBuf,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        for w in &sources {
            let drift = match sluice_connectors::open(&w.config.connector, &base_dir).await {
                Ok(provider) => {
                    let now = provider.schema();
                    let published = super::publish::columns_of(&w.served, &[]);
                    difference(&w.dataset, &published, &now)
                }
                // An unreachable source fails the queries that read it, with its own
                // error; it is not a drift.
                Err(e) => {
                    tracing::debug!(dataset = %w.dataset, error = %e, "could not read the source's schema");
                    None
                }
            };
            watch.set(w.dataset.clone(), drift);
        }
    }
}
