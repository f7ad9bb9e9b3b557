//! The owner side: the gateway as judge of its own datasets. It opens the agency's
//! connectors and answers each SQL it receives, from a peer or from its own analysts,
//! by planning that SQL itself, as untrusted input, against its own datasets only.
//!
//! One request moves through explicit states ([`state`]): [`Owner::plan`] yields a
//! [`Planned`] query, [`Owner::judge`] applies the disclosure policy ([`disclosure`])
//! and yields a [`Judged`] one, recording it on the audit chain ([`audit`]) yields a
//! [`Logged`] one, and only that runs. [`Owner::fetch`] walks the whole path; the
//! recording and running steps are private to this module.

pub mod audit;
mod disclosure;
pub mod sealed;
pub mod state;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::displayable;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use sluice_core::{AgencyId, CATALOG};

use self::audit::{Audit, Receipt};
use self::disclosure::Disclosure;
pub use self::state::{Authenticated, Judged, Logged, Planned, Recipient};
use crate::budget::QueryLimits;
use crate::catalog::{AgencyCatalog, DatasetInfo};
use crate::config::{DatasetConfig, GatewayConfig};
use crate::context::RequestContext;
use crate::directory::drift::{DriftWatch, Watched};
use crate::error::{GatewayError, Result};
use crate::identity::envelope::Verifier;
use crate::intake;

/// The datasets of one agency, and the engine that answers queries over them.
pub struct Owner {
    agency: AgencyId,
    datasets: BTreeMap<String, DatasetInfo>,
    /// What the config declares about each dataset, for its record in the directory.
    declared: Vec<DatasetConfig>,
    /// Sources whose schema drifted from what this owner serves and published.
    drift: Arc<DriftWatch>,
    ctx: SessionContext,
    audit: Audit,
    disclosure: Disclosure,
    /// Checks peers' requests; `None` on an owner that only explains.
    verifier: Option<Verifier>,
    /// What one query may use.
    limits: QueryLimits,
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owner")
            .field("agency", &self.agency)
            .field("datasets", &self.datasets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Owner {
    /// Open every dataset's connector and check each against its published schema.
    /// Decisions are recorded through `audit`; peers' requests are checked by
    /// `verifier` (with `None`, the owner answers only its own gateway and explains).
    pub async fn open(
        config: &GatewayConfig,
        audit: Audit,
        verifier: Option<Verifier>,
    ) -> Result<Self> {
        let agency = config.agency.clone();
        let ctx = SessionContext::new_with_config(
            crate::intake::session_config()
                .with_information_schema(false)
                .with_default_catalog_and_schema(CATALOG, agency.as_str()),
        );
        let catalog = ctx
            .catalog(CATALOG)
            .ok_or_else(|| GatewayError::Internal("the default catalog is missing".into()))?;
        catalog.register_schema(agency.as_str(), Arc::new(MemorySchemaProvider::new()))?;

        let mut datasets = BTreeMap::new();
        for d in &config.datasets {
            let provider = sluice_connectors::open(&d.connector, &config.base_dir)
                .await
                .map_err(|source| GatewayError::Connector {
                    dataset: format!("{agency}.{}", d.name),
                    source: Arc::new(source),
                })?;
            check_published_schema(&agency, d, provider.as_ref())?;
            let info = DatasetInfo {
                agency: agency.clone(),
                name: d.name.clone(),
                title: d.title.clone(),
                description: d.description.clone(),
                schema: provider.schema(),
            };
            ctx.register_table(
                TableReference::partial(agency.as_str(), d.name.as_str()),
                provider,
            )?;
            datasets.insert(d.name.to_string(), info);
        }
        let disclosure = Disclosure::open(&agency, &config.policy, &datasets)?;
        Ok(Owner {
            agency,
            datasets,
            declared: config.datasets.clone(),
            drift: Arc::default(),
            ctx,
            audit,
            disclosure,
            verifier,
            limits: config.limits,
        })
    }

    pub fn agency(&self) -> &AgencyId {
        &self.agency
    }

    /// This agency's published catalog.
    pub fn catalog(&self) -> AgencyCatalog {
        AgencyCatalog {
            agency: self.agency.clone(),
            datasets: self.datasets.values().cloned().collect(),
        }
    }

    /// Each dataset this owner serves, by name, with the schema its source was opened
    /// with.
    pub fn served(&self) -> BTreeMap<String, arrow::datatypes::SchemaRef> {
        self.datasets
            .iter()
            .map(|(name, info)| (name.clone(), Arc::clone(&info.schema)))
            .collect()
    }

    /// The sources a drift watch reads again, and what drift it reports to.
    pub fn watched(&self) -> (Arc<DriftWatch>, Vec<Watched>) {
        let sources = self
            .declared
            .iter()
            .filter_map(|d| {
                let info = self.datasets.get(d.name.as_str())?;
                Some(Watched {
                    dataset: format!("{}.{}", self.agency, d.name),
                    config: d.clone(),
                    served: Arc::clone(&info.schema),
                })
            })
            .collect();
        (Arc::clone(&self.drift), sources)
    }

    /// The chain node this owner records on, unless it runs unaudited.
    pub fn chain(&self) -> Option<&Arc<sluice_chain::ChainNode>> {
        self.audit.node()
    }

    /// The digest of the policy in force, if the agency has one.
    pub fn policy_digest(&self) -> Option<String> {
        self.disclosure.digest()
    }

    /// Check a peer gateway's request: its TLS client certificate named `caller`, and its
    /// envelope must be signed by that agency, fresh and not replayed, for this SQL. A
    /// refusal of a caller with a certificate is recorded on the chain (repeats from one
    /// agency folded per interval); one without a certificate is refused unrecorded.
    pub async fn authenticate(
        &self,
        caller: Option<AgencyId>,
        signed: Option<&sluice_proto::v1::SignedRequest>,
        sql: &str,
    ) -> Result<Authenticated> {
        let Some(caller) = caller else {
            return Err(GatewayError::Unauthenticated(
                "a peer request needs a TLS client certificate from the federation CA".into(),
            ));
        };
        let Some(verifier) = &self.verifier else {
            return Err(GatewayError::Unauthenticated(
                "this gateway trusts no peers".into(),
            ));
        };
        match verifier.verify(&caller, signed, sql, crate::identity::envelope::now_ms()) {
            Ok(v) => Ok(Authenticated::from_peer(v)),
            Err(e) => {
                self.audit.unauthenticated(&caller, &e.to_string()).await;
                Err(e)
            }
        }
    }

    /// Parse and plan `sql` as untrusted input: it must be one read-only query over this
    /// agency's own datasets.
    pub async fn plan(&self, auth: Authenticated, sql: &str) -> Result<Planned> {
        // The recipient was settled by `fetch` or `fetch_sealed`, which took `auth`.
        let Authenticated { ctx, roles, .. } = auth;
        let state = self.ctx.state();
        let query = intake::parse(&state, sql)?;
        for d in &query.tables {
            if d.agency() != &self.agency {
                return Err(GatewayError::UnknownDataset {
                    agency: d.agency().to_string(),
                    dataset: d.dataset().to_string(),
                    published: vec![format!(
                        "nothing here: this gateway serves `{}`",
                        self.agency
                    )],
                });
            }
            if !self.datasets.contains_key(d.dataset().as_str()) {
                return Err(GatewayError::UnknownDataset {
                    agency: d.agency().to_string(),
                    dataset: d.dataset().to_string(),
                    published: self.datasets.keys().cloned().collect(),
                });
            }
        }
        let datasets = query.tables.clone();
        if let Some(node) = self.audit.node() {
            for d in &datasets {
                if let Some(info) = self.datasets.get(d.dataset().as_str()) {
                    self.drift.check(d, &info.schema, node.store())?;
                }
            }
        }
        let plan = intake::plan(&state, query).await?;
        Ok(Planned {
            ctx,
            roles,
            plan,
            datasets,
        })
    }

    /// Apply this agency's disclosure policy to a planned query, with the access grants
    /// its data officers approved on the chain for the query's principal and purpose.
    pub fn judge(&self, planned: Planned) -> Result<Judged> {
        let grants = match self.audit.node() {
            Some(node) => crate::directory::access::grants_for(
                node.store(),
                &planned.ctx,
                &planned.datasets,
                crate::identity::envelope::now_ms(),
            )?,
            None => Vec::new(),
        };
        let verdict = self.disclosure.judge(
            &self.agency,
            &self.ctx.state(),
            &planned.ctx,
            &planned.roles,
            grants,
            &planned.plan,
        )?;
        Ok(Judged {
            planned,
            plan: verdict.plan,
            columns: verdict.columns,
            reason: verdict.reason,
            decision: verdict.decision,
            cites: verdict.cites,
        })
    }

    /// Record an allowed access on the chain and wait until it is committed.
    async fn log(&self, judged: Judged) -> Result<Logged> {
        let Judged {
            planned,
            plan,
            columns,
            reason,
            cites,
            ..
        } = judged;
        let datasets = planned.datasets.iter().map(ToString::to_string).collect();
        let protected = columns
            .iter()
            .filter(|c| c.level != "plain")
            .map(|c| format!("{}.{}", c.dataset, c.column))
            .collect();
        let receipt = self
            .audit
            .allowed(&planned.ctx, datasets, columns, reason, cites)
            .await?;
        Ok(Logged {
            ctx: planned.ctx,
            plan,
            datasets: planned.datasets,
            receipt,
            protected,
        })
    }

    /// Run a logged query and stream its result as batches; the stream's end records
    /// the completion.
    async fn execute(&self, logged: Logged) -> Result<SendableRecordBatchStream> {
        let query_id = logged.ctx.query_id.to_string();
        let (receipt, stream) = self.run(logged).await?;
        self.audit.deliver(&receipt, &query_id, stream)
    }

    /// Run a logged query and stream its result as frames sealed for `reply_to`; the
    /// completion, with the sealed stream's digest, is recorded when the last frame
    /// leaves.
    async fn execute_sealed(
        &self,
        logged: Logged,
        reply_to: &crate::seal::PublicKey,
    ) -> Result<sealed::FrameStream> {
        let query_id = logged.ctx.query_id.to_string();
        let (receipt, batches) = self.run(logged).await?;
        let completion = self.audit.completion(&receipt, &query_id);
        sealed::frames(batches, reply_to, &query_id, completion)
    }

    /// Start a logged query. Where it reads protected columns, the text of a failure
    /// is kept for the chain and the caller is told only whose data failed.
    async fn run(&self, logged: Logged) -> Result<(Receipt, SendableRecordBatchStream)> {
        let Logged {
            ctx,
            plan,
            datasets,
            receipt,
            protected,
        } = logged;
        let names = datasets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let withhold = Withhold {
            agency: self.agency.to_string(),
            datasets: names.clone(),
            columns: protected,
            ctx,
            audit: self.audit.clone(),
        };
        let started = async {
            let state = self.ctx.state();
            let physical = state
                .create_physical_plan(&self.for_execution(plan)?)
                .await?;
            self.limits.execute(physical, &state)
        };
        let stream = match started.await {
            Ok(s) => s,
            Err(e) => return Err(withhold.error(e).await),
        };
        let schema = stream.schema();
        // Read errors surface mid-stream; name the datasets so the analyst knows whose
        // data failed, and nothing more where the query reads protected columns.
        let stream = stream.map_err(move |e| withhold.stream_error(e, &names));
        Ok((
            receipt,
            Box::pin(RecordBatchStreamAdapter::new(schema, stream)),
        ))
    }

    /// Plan, judge and log `sql` for `auth`; a refusal is recorded on the chain.
    async fn admit(&self, auth: Authenticated, sql: &str) -> Result<Logged> {
        let ctx = auth.ctx.clone();
        let started = std::time::Instant::now();
        let judged = match self.plan(auth, sql).await {
            Ok(planned) => self.judge(planned),
            Err(e) => Err(e),
        };
        match judged {
            Ok(j) => {
                let judged_after = started.elapsed();
                let logged = self.log(j).await;
                tracing::debug!(
                    query_id = %ctx.query_id,
                    plan_and_judge_us = judged_after.as_micros() as u64,
                    access_commit_us = (started.elapsed() - judged_after).as_micros() as u64,
                    "admitted"
                );
                logged
            }
            Err(e) => {
                self.audit.refused(&ctx, Vec::new(), e.to_string()).await;
                Err(e)
            }
        }
    }

    /// Answer `sql` for this gateway's own home planner: plan it, judge it by the policy,
    /// record the decision on the audit chain, and only once that entry is committed
    /// start the query. The stream's end records the completion: rows, bytes and digest.
    pub async fn fetch(&self, auth: Authenticated, sql: &str) -> Result<SendableRecordBatchStream> {
        if !matches!(auth.recipient, Recipient::Local) {
            return Err(GatewayError::Internal(
                "a peer's request must be answered sealed".into(),
            ));
        }
        let logged = self.admit(auth, sql).await?;
        self.execute(logged).await
    }

    /// Answer a peer's `sql` as frames sealed for the peer. The completion entry carries
    /// the digest of the sealed stream, so the owner can later prove what it delivered.
    pub async fn fetch_sealed(
        &self,
        auth: Authenticated,
        sql: &str,
    ) -> Result<sealed::FrameStream> {
        let Recipient::Peer { reply_to, .. } = auth.recipient.clone() else {
            return Err(GatewayError::Internal(
                "an in-process request is answered as batches".into(),
            ));
        };
        let logged = self.admit(auth, sql).await?;
        self.execute_sealed(logged, &reply_to).await
    }

    /// What `sluice policy explain` prints: the level, rule and mask of each column, the
    /// injected filters, the suppressions and the rewritten SQL. A refused query is the
    /// refusal, with every column and rule. Nothing is run and nothing is recorded.
    pub async fn explain(&self, ctx: RequestContext, sql: &str) -> Result<String> {
        let judged = self.judge(self.plan(Self::offline(ctx), sql).await?)?;
        Ok(match judged.decision() {
            Some(d) => d.explain(),
            None => judged.reason().to_string(),
        })
    }

    /// The physical plan `sql` would run for `ctx`, as text: with the policy's rewrite,
    /// or (`judged = false`) as asked, for measuring what the policy adds. Planning
    /// only: nothing runs and nothing is recorded.
    pub async fn describe(&self, ctx: RequestContext, sql: &str, judged: bool) -> Result<String> {
        let planned = self.plan(Self::offline(ctx), sql).await?;
        if judged {
            let judged = self.judge(planned)?;
            self.physical_text(&judged.plan).await
        } else {
            self.physical_text(&planned.plan).await
        }
    }

    /// The state explain and describe plan from: they only ever render text, so the
    /// context needs no proof.
    fn offline(ctx: RequestContext) -> Authenticated {
        Authenticated {
            ctx,
            roles: Vec::new(),
            recipient: Recipient::Local,
        }
    }

    /// A judged plan as it runs: optimized, with each aggregate that a database computes
    /// exactly handed to it. Only here, after the policy and the record have seen the
    /// tables and columns the query reads.
    fn for_execution(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
    ) -> datafusion::error::Result<datafusion::logical_expr::LogicalPlan> {
        let optimized = self.ctx.state().optimize(&plan)?;
        crate::intake::check_decorrelated(&optimized)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        sluice_connectors::aggregate::push_aggregates(optimized)
    }

    async fn physical_text(&self, plan: &datafusion::logical_expr::LogicalPlan) -> Result<String> {
        let plan = self
            .for_execution(plan.clone())
            .map_err(GatewayError::from_datafusion)?;
        let physical = self
            .ctx
            .state()
            .create_physical_plan(&plan)
            .await
            .map_err(GatewayError::from_datafusion)?;
        Ok(displayable(physical.as_ref()).indent(true).to_string())
    }
}

/// How an owner reports a failure of a query it allowed. Every such failure goes on the
/// chain with its detail, so the access entry is always followed by its outcome. The
/// text of a DataFusion error can quote the value that caused it (a cast of a text
/// column, a regex built from a value, a parquet file's statistics), so where the query
/// reads protected columns the caller learns only which datasets and columns failed.
struct Withhold {
    agency: String,
    datasets: String,
    columns: Vec<String>,
    ctx: RequestContext,
    audit: audit::Audit,
}

impl Withhold {
    fn withheld(&self) -> GatewayError {
        GatewayError::Withheld {
            agency: self.agency.clone(),
            datasets: self.datasets.clone(),
            columns: self.columns.join(", "),
            query_id: self.ctx.query_id.to_string(),
        }
    }

    /// A failure before the first batch: recorded, then reported.
    async fn error(&self, e: datafusion::error::DataFusionError) -> GatewayError {
        self.audit.failed(&self.ctx, e.to_string()).await;
        if self.columns.is_empty() {
            return GatewayError::from_datafusion(e);
        }
        self.withheld()
    }

    /// A failure mid-stream.
    fn stream_error(
        &self,
        e: datafusion::error::DataFusionError,
        names: &str,
    ) -> datafusion::error::DataFusionError {
        let audit = self.audit.clone();
        let ctx = self.ctx.clone();
        let detail = e.to_string();
        // The stream's poll is not async; the record follows on the runtime.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { audit.failed(&ctx, detail).await });
        }
        if self.columns.is_empty() {
            return datafusion::error::DataFusionError::Context(
                format!("reading {names}"),
                Box::new(e),
            );
        }
        self.withheld().into_datafusion()
    }
}

fn check_published_schema(
    agency: &AgencyId,
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
        let published: DataType = c.data_type.parse().map_err(|_| {
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
