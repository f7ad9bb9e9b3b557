//! The owner side: the gateway as judge of its own datasets. It opens the agency's
//! connectors, and answers each SQL it receives, from a peer or from its own analysts,
//! by planning that SQL itself, as untrusted input, against its own datasets only.
//!
//! The path of one request is explicit: [`Owner::plan`] yields a [`Planned`] query,
//! [`Owner::judge`] applies the agency's disclosure policy to it, the decision is
//! recorded on the audit chain, and only then [`Owner::execute`] runs the judged plan.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::TryStreamExt;
use sluice_policy::{PolicyConfig, ReloadingPolicy, Request};

use crate::audit::{Audit, ColumnUse, scanned_columns};
use crate::catalog::{AgencyCatalog, DatasetInfo, split_table_ref};
use crate::config::{DatasetConfig, GatewayConfig, PolicyFilesConfig};
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};

/// The catalog name datasets are registered under, at owners and homes alike:
/// `sluice.<agency>.<dataset>`, usually written `<agency>.<dataset>`.
pub const CATALOG: &str = "sluice";

/// The datasets of one agency, and the engine that answers queries over them.
pub struct Owner {
    agency: String,
    datasets: BTreeMap<String, DatasetInfo>,
    ctx: SessionContext,
    audit: Audit,
    policy: Option<ReloadingPolicy>,
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owner")
            .field("agency", &self.agency)
            .field("datasets", &self.datasets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A query the owner has parsed and planned against its own datasets, not yet run.
#[derive(Debug)]
pub struct Planned {
    pub ctx: RequestContext,
    pub plan: LogicalPlan,
    /// The datasets the query reads, by name.
    pub datasets: Vec<String>,
}

impl Owner {
    /// Open every dataset's connector and check each against its published schema.
    /// Decisions are recorded through `audit`.
    pub async fn open(config: &GatewayConfig, audit: Audit) -> Result<Self> {
        let ctx = SessionContext::new_with_config(
            SessionConfig::new()
                .with_information_schema(false)
                .with_default_catalog_and_schema(CATALOG, &config.agency),
        );
        let catalog = ctx
            .catalog(CATALOG)
            .ok_or_else(|| GatewayError::Internal("the default catalog is missing".into()))?;
        catalog.register_schema(&config.agency, Arc::new(MemorySchemaProvider::new()))?;

        let mut datasets = BTreeMap::new();
        for d in &config.datasets {
            let provider = sluice_connectors::open(&d.connector, &config.base_dir)
                .await
                .map_err(|source| GatewayError::Connector {
                    dataset: format!("{}.{}", config.agency, d.name),
                    source,
                })?;
            check_published_schema(&config.agency, d, provider.as_ref())?;
            let info = DatasetInfo {
                agency: config.agency.clone(),
                name: d.name.clone(),
                title: d.title.clone(),
                description: d.description.clone(),
                schema: provider.schema(),
            };
            ctx.register_table(
                TableReference::partial(config.agency.as_str(), d.name.as_str()),
                provider,
            )?;
            datasets.insert(d.name.clone(), info);
        }
        let policy = match &config.policy {
            Some(p) => Some(open_policy(&config.agency, p, &datasets)?),
            None => {
                tracing::warn!(
                    agency = %config.agency,
                    "no [policy] section: every published column is released plain"
                );
                None
            }
        };
        Ok(Owner {
            agency: config.agency.clone(),
            datasets,
            ctx,
            audit,
            policy,
        })
    }

    pub fn agency(&self) -> &str {
        &self.agency
    }

    /// This agency's published catalog.
    pub fn catalog(&self) -> AgencyCatalog {
        AgencyCatalog {
            agency: self.agency.clone(),
            datasets: self.datasets.values().cloned().collect(),
        }
    }

    /// Parse and plan `sql` as untrusted input: it must be one read-only query over this
    /// agency's own datasets.
    pub async fn plan(&self, ctx: RequestContext, sql: &str) -> Result<Planned> {
        let state = self.ctx.state();
        let stmt = state
            .sql_to_statement(sql, &state.config().options().sql_parser.dialect)
            .map_err(|e| GatewayError::Sql(e.to_string()))?;
        crate::home::check_is_query(&stmt)?;
        let refs = state
            .resolve_table_references(&stmt)
            .map_err(|e| GatewayError::Sql(e.to_string()))?;
        let mut read = Vec::new();
        for r in refs {
            let (agency, dataset) = split_table_ref(&r)?;
            let (agency, dataset) = (agency.to_string(), dataset.to_string());
            if agency != self.agency {
                return Err(GatewayError::UnknownDataset {
                    agency,
                    dataset,
                    published: vec![format!(
                        "nothing here: this gateway serves `{}`",
                        self.agency
                    )],
                });
            }
            if !self.datasets.contains_key(&dataset) {
                return Err(GatewayError::UnknownDataset {
                    agency,
                    dataset,
                    published: self.datasets.keys().cloned().collect(),
                });
            }
            if !read.contains(&dataset) {
                read.push(dataset);
            }
        }
        let plan = state
            .statement_to_plan(stmt)
            .await
            .map_err(GatewayError::from_datafusion)?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| GatewayError::NotAQuery(e.to_string()))?;
        Ok(Planned {
            ctx,
            plan,
            datasets: read,
        })
    }

    /// Run a planned query and stream its result.
    pub async fn execute(&self, planned: Planned) -> Result<SendableRecordBatchStream> {
        let df = self
            .ctx
            .execute_logical_plan(planned.plan)
            .await
            .map_err(GatewayError::from_datafusion)?;
        let stream = df
            .execute_stream()
            .await
            .map_err(GatewayError::from_datafusion)?;
        let schema = stream.schema();
        let datasets = planned.datasets.join(", ");
        let agency = self.agency.clone();
        // Read errors surface mid-stream; name the datasets so the analyst knows whose data failed.
        let stream = stream.map_err(move |e| {
            datafusion::error::DataFusionError::Context(
                format!("reading {agency} dataset(s) {datasets}"),
                Box::new(e),
            )
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    /// Apply this agency's disclosure policy to a planned query: the plan to run instead,
    /// each column read with the level it got, and the reason to record.
    pub fn judge(&self, planned: &Planned) -> Result<Judged> {
        let Some(policy) = &self.policy else {
            // Optimized, the scans list only the columns the query really reads.
            let plan = self
                .ctx
                .state()
                .optimize(&planned.plan)
                .map_err(GatewayError::from_datafusion)?;
            let columns = scanned_columns(&plan)
                .into_iter()
                .map(|(dataset, column)| ColumnUse {
                    dataset,
                    column,
                    level: "plain".into(),
                })
                .collect();
            return Ok(Judged {
                plan,
                columns,
                reason: "no disclosure policy is configured: every published column is plain"
                    .into(),
                decision: None,
            });
        };
        if let Some(e) = policy.last_error() {
            tracing::error!(agency = %self.agency, error = %e, "policy file rejected; the last good policy stays in force");
        }
        let ctx = &planned.ctx;
        let request = Request::new(&ctx.principal.to_string(), Some(ctx.purpose.as_str()))
            .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
        let decided = policy.decide(&planned.plan, &request).map_err(|e| {
            let message = match e.refusal() {
                Some(r) => r.explain(),
                None => e.to_string(),
            };
            GatewayError::Refused {
                agency: self.agency.clone(),
                message,
            }
        })?;
        let d = &decided.decision;
        let columns = d
            .columns
            .iter()
            .map(|c| ColumnUse {
                dataset: if c.dataset.contains('.') {
                    c.dataset.clone()
                } else {
                    format!("{}.{}", self.agency, c.dataset)
                },
                column: c.column.clone(),
                level: c.level.to_string(),
            })
            .collect();
        let mut reason = format!("allowed by policy {}", short(&d.policy_digest));
        for f in &d.row_filters {
            reason.push_str(&format!("; row filter on {}: {}", f.dataset, f.predicate));
        }
        for s in &d.suppressions {
            reason.push_str(&format!("; groups under {} rows suppressed", s.k));
        }
        Ok(Judged {
            plan: decided.plan,
            columns,
            reason,
            decision: Some(decided.decision),
        })
    }

    /// What `sluice policy explain` prints: the level, rule and mask of each column, the
    /// injected filters, the suppressions and the rewritten SQL; or the refusal.
    pub async fn explain(&self, ctx: RequestContext, sql: &str) -> Result<String> {
        let planned = self.plan(ctx, sql).await?;
        let judged = self.judge(&planned)?;
        Ok(match &judged.decision {
            Some(d) => d.explain(),
            None => judged.reason,
        })
    }

    /// Optimize `plan` and turn it into a physical plan, as running it would.
    pub async fn physical_plan(
        &self,
        plan: &LogicalPlan,
    ) -> Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.ctx
            .state()
            .create_physical_plan(plan)
            .await
            .map_err(GatewayError::from_datafusion)
    }

    /// The digest of the policy in force, if the agency has one.
    pub fn policy_digest(&self) -> Option<String> {
        self.policy.as_ref().map(ReloadingPolicy::digest)
    }

    /// Answer `sql` for `ctx`: plan it, judge it by the policy, record the decision on the
    /// audit chain, and only once that entry is committed start the query. A refusal is
    /// recorded too. The stream's end records the completion: rows, bytes and digest.
    pub async fn fetch(&self, ctx: RequestContext, sql: &str) -> Result<SendableRecordBatchStream> {
        let judged = match self.plan(ctx.clone(), sql).await {
            Ok(planned) => self.judge(&planned).map(|j| (planned, j)),
            Err(e) => Err(e),
        };
        let (mut planned, judged) = match judged {
            Ok(p) => p,
            Err(e) => {
                self.audit.refused(&ctx, Vec::new(), e.to_string()).await;
                return Err(e);
            }
        };
        let datasets = planned
            .datasets
            .iter()
            .map(|d| format!("{}.{d}", self.agency))
            .collect();
        self.audit
            .allowed(&ctx, datasets, judged.columns, judged.reason)
            .await?;
        planned.plan = judged.plan;
        let query_id = planned.ctx.query_id.clone();
        let stream = self.execute(planned).await?;
        self.audit.deliver(&query_id, stream)
    }
}

/// A query judged by the policy: the plan to run, the columns and levels to record, and
/// why it was allowed.
#[derive(Debug)]
pub struct Judged {
    pub plan: LogicalPlan,
    pub columns: Vec<ColumnUse>,
    pub reason: String,
    /// The policy's decision, when a policy decided. Rendering it (with the rewritten SQL)
    /// costs more than deciding, so it is left to [`Owner::explain`].
    pub decision: Option<sluice_policy::Decision>,
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

fn open_policy(
    agency: &str,
    files: &PolicyFilesConfig,
    datasets: &BTreeMap<String, DatasetInfo>,
) -> Result<ReloadingPolicy> {
    let secret = crate::audit::read_key_file(&files.secret_file)?;
    let schemas = datasets
        .iter()
        .map(|(name, info)| (name.clone(), SchemaRef::clone(&info.schema)))
        .collect();
    let mut config = PolicyConfig::new(agency, secret.to_vec(), schemas);
    for (dataset, columns) in &files.keys {
        config = config.with_key(dataset, columns.iter().cloned());
    }
    ReloadingPolicy::open(config, &files.model, &files.rules)
        .map_err(|e| GatewayError::PolicyLoad(e.to_string()))
}

fn check_published_schema(
    agency: &str,
    d: &DatasetConfig,
    provider: &dyn TableProvider,
) -> Result<()> {
    let Some(columns) = &d.columns else {
        return Ok(());
    };
    let actual = provider.schema();
    for c in columns {
        let mismatch = |actual: String| GatewayError::SchemaMismatch {
            dataset: format!("{agency}.{}", d.name),
            column: c.name.clone(),
            published: c.data_type.clone(),
            actual,
        };
        let field = actual
            .field_with_name(&c.name)
            .map_err(|_| mismatch("no such column".to_string()))?;
        let published: arrow::datatypes::DataType = c.data_type.parse().map_err(|_| {
            mismatch(format!(
                "{} (the published type does not parse)",
                field.data_type()
            ))
        })?;
        if field.data_type() != &published {
            return Err(mismatch(field.data_type().to_string()));
        }
    }
    Ok(())
}
