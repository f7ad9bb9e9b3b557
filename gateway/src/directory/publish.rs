//! Publishing: each dataset's record is built from what the config declares and the
//! schema its source serves, then synced to the chain, at start and on `sluice catalog
//! publish` (which reads the config again). A new dataset is published, a
//! changed one gets its next version, an unchanged one appends nothing, and one the
//! gateway no longer serves is withdrawn with a tombstone.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{Schema, SchemaRef};
use sluice_chain::ChainNode;
use sluice_chain::entry::{Body, CatalogColumn, CatalogRecord, CatalogWithdrawal, Classification};
use sluice_core::AgencyId;

use super::append_applied;
use crate::config::{ColumnConfig, DatasetConfig, GatewayConfig};
use crate::error::{GatewayError, Result};

/// The record `d` publishes, serving `schema`, at `version`. Columns the config does not
/// declare are classified `internal`.
pub fn record_of(
    agency: &AgencyId,
    d: &DatasetConfig,
    schema: &Schema,
    version: u64,
) -> CatalogRecord {
    let declared = d.columns.as_deref().unwrap_or_default();
    CatalogRecord {
        dataset: format!("{agency}.{}", d.name),
        version,
        title: d.title.clone(),
        description: d.description.clone(),
        keywords: d.keywords.clone(),
        department: d.department.clone(),
        legal_basis: d.legal_basis.clone(),
        columns: columns_of(schema, declared),
        sharing: d.sharing,
        update_frequency: d.update_frequency.clone(),
        row_count: d.row_count,
        last_update: d.last_update.clone(),
        contact: d.contact.clone(),
    }
}

/// The columns `schema` publishes, each classified as `declared` says (`internal` where
/// it says nothing).
pub fn columns_of(schema: &Schema, declared: &[ColumnConfig]) -> Vec<CatalogColumn> {
    schema
        .fields()
        .iter()
        .map(|f| CatalogColumn {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            nullable: f.is_nullable(),
            classification: declared
                .iter()
                .find(|c| &c.name == f.name())
                .map_or(Classification::Internal, |c| c.classification),
        })
        .collect()
}

/// What one sync appended, by dataset (`<agency>.<dataset>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    pub published: Vec<String>,
    pub changed: Vec<String>,
    pub withdrawn: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Makes the chain's catalog say what `agency` serves: `records` (their versions are
/// assigned here). Returns once every appended entry is applied on `node`.
pub async fn sync(
    node: &ChainNode,
    agency: &AgencyId,
    records: Vec<CatalogRecord>,
) -> Result<PublishReport> {
    let mut report = PublishReport::default();
    let mut bodies = Vec::new();
    {
        let store = node.store();
        let dir = store.directory();
        for mut desired in records {
            let state = dir.state(&desired.dataset)?;
            let current = dir.dataset(&desired.dataset)?;
            desired.version = state.as_ref().map_or(0, |s| s.version) + 1;
            match current {
                Some(p) if p.record.same_content(&desired) => {
                    report.unchanged.push(desired.dataset);
                }
                Some(_) => {
                    report.changed.push(desired.dataset.clone());
                    bodies.push(Body::CatalogChange(desired));
                }
                None => {
                    report.published.push(desired.dataset.clone());
                    bodies.push(Body::CatalogPublish(desired));
                }
            }
        }
        let served: Vec<String> = report
            .published
            .iter()
            .chain(&report.changed)
            .chain(&report.unchanged)
            .cloned()
            .collect();
        for p in dir.datasets(Some(agency.as_str()))? {
            if !served.contains(&p.record.dataset) {
                report.withdrawn.push(p.record.dataset.clone());
                bodies.push(Body::CatalogWithdraw(CatalogWithdrawal {
                    dataset: p.record.dataset,
                    version: p.record.version,
                    reason: format!("no longer served by the gateway of `{agency}`"),
                }));
            }
        }
    }
    // Concurrent appends share one group commit.
    let appended = futures::future::join_all(bodies.into_iter().map(|b| append_applied(node, b)));
    for r in appended.await {
        r?;
    }
    for d in report
        .published
        .iter()
        .chain(&report.changed)
        .chain(&report.withdrawn)
    {
        tracing::info!(dataset = %d, "catalog record appended");
    }
    Ok(report)
}

/// One agency's publisher: syncs the records of what its owner serves to the chain,
/// one sync at a time (two at once would race for the same version).
#[derive(Debug)]
pub struct Publisher {
    node: Arc<ChainNode>,
    agency: AgencyId,
    /// The config file, read again by each sync, so an edited title, description or
    /// classification is published without a restart.
    config_file: PathBuf,
    /// Each served dataset's schema, by name, as its source was opened.
    served: BTreeMap<String, SchemaRef>,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Publisher {
    /// Publishes what `agency`'s owner serves (`served`: each dataset's schema by name),
    /// described as `config_file` declares it, on `node`'s chain.
    pub fn new(
        node: Arc<ChainNode>,
        agency: AgencyId,
        config_file: PathBuf,
        served: BTreeMap<String, SchemaRef>,
    ) -> Self {
        Publisher {
            node,
            agency,
            config_file,
            served,
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    /// The records the config declares now, for the datasets the owner serves. A dataset
    /// the config no longer declares is left out, and so withdrawn; one it newly declares
    /// needs a restart, which opens its source.
    fn records(&self) -> Result<Vec<CatalogRecord>> {
        let config = GatewayConfig::load(&self.config_file)?;
        let mut out = Vec::new();
        for d in &config.datasets {
            let schema = self.served.get(d.name.as_str()).ok_or_else(|| {
                GatewayError::BadRequest(format!(
                    "{}: dataset `{}` is new; restart the gateway so it opens its source, which publishes it",
                    self.config_file.display(),
                    d.name
                ))
            })?;
            out.push(record_of(&self.agency, d, schema, 0));
        }
        Ok(out)
    }

    /// [`sync`] the records the config declares now.
    pub async fn publish(&self) -> Result<PublishReport> {
        let _turn = self.one_at_a_time.lock().await;
        sync(&self.node, &self.agency, self.records()?).await
    }

    /// [`Self::publish`] at a gateway's start: the chain may have no leader yet (its
    /// other agencies start too), so it is tried again, waiting longer each time, for as
    /// long as `give_up` allows. A refusal by the chain's rules is not tried again.
    pub async fn at_start(&self, give_up: Duration) {
        let started = std::time::Instant::now();
        let mut wait = Duration::from_millis(200);
        loop {
            match self.publish().await {
                Ok(report) => {
                    tracing::info!(
                        published = report.published.len(),
                        changed = report.changed.len(),
                        withdrawn = report.withdrawn.len(),
                        unchanged = report.unchanged.len(),
                        "catalog synced with the chain"
                    );
                    return;
                }
                Err(
                    e @ (GatewayError::BadRequest(_)
                    | GatewayError::Config { .. }
                    | GatewayError::ConfigIo { .. }),
                ) => {
                    tracing::error!(error = %e, "this agency's catalog was not published; fix it and run `sluice catalog publish`");
                    return;
                }
                Err(e) if started.elapsed() + wait < give_up => {
                    tracing::info!(error = %e, retry_in_ms = wait.as_millis() as u64, "catalog not published yet");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        waited_s = started.elapsed().as_secs(),
                        "gave up publishing the catalog; run `sluice catalog publish` once the chain has a leader"
                    );
                    return;
                }
            }
        }
    }
}
