//! The home side: where an analyst's SQL is planned across agencies. It resolves
//! `<agency>.<dataset>` names against the federated catalog, pushes what each owner can
//! run alone to that owner, and finishes joins and final aggregation here.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemoryCatalogProviderList};
use datafusion::execution::{SendableRecordBatchStream, SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{ExecutionPlan, displayable};
use futures::future::join_all;
use sluice_core::{AgencyId, CATALOG};

use crate::budget::QueryLimits;
use crate::catalog::AgencyCatalog;
use crate::error::{GatewayError, Result};
use crate::federation::pushdown::{Federator, SubQuery};
use crate::federation::schema::AgencySchema;
use crate::federation::union_aggregate::push_aggregates_through_union;
use crate::federation::union_topk::push_top_n_through_union;
use crate::intake;
use crate::peer::{AgencyClient, Caller, WireStats};

/// The federated planner of one gateway.
#[derive(Debug)]
pub struct Home {
    agency: AgencyId,
    clients: BTreeMap<AgencyId, Arc<dyn AgencyClient>>,
    schemas: BTreeMap<AgencyId, Arc<AgencySchema>>,
    catalogs: Arc<MemoryCatalogProviderList>,
    stats: Arc<WireStats>,
    limits: QueryLimits,
}

/// A query planned across agencies, ready to run.
#[derive(Debug)]
pub struct FederatedPlan {
    pub logical: LogicalPlan,
    pub physical: Arc<dyn ExecutionPlan>,
    pub sub_queries: Vec<SubQuery>,
    state: SessionState,
}

impl FederatedPlan {
    /// The physical plan as text, sub-queries and their SQL included.
    pub fn display(&self) -> String {
        displayable(self.physical.as_ref()).indent(true).to_string()
    }
}

impl Home {
    /// `clients` holds one client per agency, this gateway's own included. Datasets are
    /// resolved from `directory`, this gateway's copy of the chain, or, on a gateway
    /// that runs unaudited, from the owners' own catalogs.
    pub fn new(
        agency: &AgencyId,
        clients: Vec<Arc<dyn AgencyClient>>,
        stats: Arc<WireStats>,
        directory: Option<Arc<sluice_chain::ChainStore>>,
    ) -> Result<Self> {
        let catalog = Arc::new(MemoryCatalogProvider::new());
        let mut schemas = BTreeMap::new();
        let mut by_agency = BTreeMap::new();
        for c in clients {
            let schema = Arc::new(AgencySchema::new(Arc::clone(&c), agency, directory.clone()));
            catalog.register_schema(c.agency().as_str(), Arc::clone(&schema) as _)?;
            schemas.insert(c.agency().clone(), schema);
            by_agency.insert(c.agency().clone(), c);
        }
        let catalogs = Arc::new(MemoryCatalogProviderList::new());
        datafusion::catalog::CatalogProviderList::register_catalog(
            catalogs.as_ref(),
            CATALOG.into(),
            catalog,
        );
        Ok(Home {
            agency: agency.clone(),
            clients: by_agency,
            schemas,
            catalogs,
            stats,
            limits: QueryLimits::default(),
        })
    }

    /// What one query may use at this gateway; [`QueryLimits::default`] until set.
    pub fn with_limits(mut self, limits: QueryLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn agency(&self) -> &AgencyId {
        &self.agency
    }

    /// What crossed the wire from each owner to this gateway.
    pub fn stats(&self) -> &Arc<WireStats> {
        &self.stats
    }

    fn session(&self, caller: &Caller) -> SessionState {
        let config = crate::intake::session_config()
            .with_information_schema(false)
            .with_default_catalog_and_schema(CATALOG, self.agency.as_str())
            // The catalogs are shared by every query; building a session must not replace them.
            .with_create_default_catalog_and_schema(false)
            .with_extension(Arc::new(caller.clone()));
        SessionStateBuilder::new()
            .with_config(config)
            .with_catalog_list(Arc::clone(&self.catalogs) as _)
            .with_default_features()
            .build()
    }

    /// Check every table the SQL names, so an unknown agency or dataset gets its own
    /// error, and fetch the catalogs the query needs.
    async fn resolve(&self, query: &intake::ParsedQuery) -> Result<()> {
        for d in &query.tables {
            let schema =
                self.schemas
                    .get(d.agency())
                    .ok_or_else(|| GatewayError::UnknownAgency {
                        agency: d.agency().to_string(),
                        known: self.schemas.keys().map(ToString::to_string).collect(),
                    })?;
            schema.dataset(d.dataset().as_str()).await?;
        }
        Ok(())
    }

    /// Plan `sql` across agencies for `caller` without running it.
    pub async fn plan(&self, caller: &Caller, sql: &str) -> Result<FederatedPlan> {
        let state = self.session(caller);
        let query = intake::parse(&state, sql)?;
        self.resolve(&query).await?;
        let plan = intake::plan(&state, query).await?;
        let optimized = state
            .optimize(&plan)
            .map_err(GatewayError::from_datafusion)?;
        intake::check_decorrelated(&optimized)?;
        let split = push_aggregates_through_union(optimized)
            .and_then(push_top_n_through_union)
            .map_err(GatewayError::from_datafusion)?;
        let mut federator = Federator::new(&state, caller, &self.clients);
        let logical = federator
            .federate(split)
            .await
            .map_err(GatewayError::from_datafusion)?;
        let sub_queries = federator.sub_queries().to_vec();
        let physical = state
            .query_planner()
            .create_physical_plan(&logical, &state)
            .await
            .map_err(GatewayError::from_datafusion)?;
        Ok(FederatedPlan {
            logical,
            physical,
            sub_queries,
            state,
        })
    }

    /// Plan and run `sql` for `caller`, streaming the result.
    pub async fn query(&self, caller: &Caller, sql: &str) -> Result<SendableRecordBatchStream> {
        let plan = self.plan(caller, sql).await?;
        let ctx = &caller.ctx;
        tracing::info!(
            query_id = %ctx.query_id,
            principal = %ctx.principal,
            purpose = %ctx.purpose,
            sub_queries = plan.sub_queries.len(),
            "federated query planned"
        );
        self.limits
            .execute(plan.physical, &plan.state)
            .map_err(GatewayError::from_datafusion)
    }

    /// Every agency's catalog, as far as it can be reached. Unreachable agencies are
    /// reported beside the catalogs, not as a failure of the whole listing.
    pub async fn catalogs(&self) -> (Vec<AgencyCatalog>, Vec<(AgencyId, GatewayError)>) {
        let results = join_all(self.schemas.iter().map(|(agency, schema)| async move {
            let r = schema.datasets(None).await;
            (agency.clone(), r)
        }))
        .await;
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for (agency, r) in results {
            match r {
                Ok(map) => ok.push(AgencyCatalog {
                    agency,
                    datasets: map.into_values().collect(),
                }),
                Err(e) => failed.push((agency, e)),
            }
        }
        (ok, failed)
    }
}
