//! The home side: where an analyst's SQL is planned across agencies. It resolves
//! `<agency>.<dataset>` names against the federated catalog, pushes what each owner can
//! run alone to that owner, and finishes joins and final aggregation here.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemoryCatalogProviderList};
use datafusion::execution::{SendableRecordBatchStream, SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{ExecutionPlan, displayable};
use datafusion::prelude::{SQLOptions, SessionConfig};
use futures::future::join_all;

use crate::catalog::{AgencyCatalog, split_table_ref};
use crate::client::{AgencyClient, WireStats};
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};
use crate::federation::{
    AgencySchema, Federator, SubQuery, push_aggregates_through_union, push_top_n_through_union,
};
use crate::owner::CATALOG;

/// The federated planner of one gateway.
#[derive(Debug)]
pub struct Home {
    agency: String,
    clients: BTreeMap<String, Arc<dyn AgencyClient>>,
    schemas: BTreeMap<String, Arc<AgencySchema>>,
    catalogs: Arc<MemoryCatalogProviderList>,
    stats: Arc<WireStats>,
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
    /// `clients` holds one client per agency, this gateway's own included.
    pub fn new(
        agency: &str,
        clients: Vec<Arc<dyn AgencyClient>>,
        stats: Arc<WireStats>,
    ) -> Result<Self> {
        let catalog = Arc::new(MemoryCatalogProvider::new());
        let mut schemas = BTreeMap::new();
        let mut by_agency = BTreeMap::new();
        for c in clients {
            let schema = Arc::new(AgencySchema::new(Arc::clone(&c), agency));
            catalog.register_schema(c.agency(), Arc::clone(&schema) as _)?;
            schemas.insert(c.agency().to_string(), schema);
            by_agency.insert(c.agency().to_string(), c);
        }
        let catalogs = Arc::new(MemoryCatalogProviderList::new());
        datafusion::catalog::CatalogProviderList::register_catalog(
            catalogs.as_ref(),
            CATALOG.into(),
            catalog,
        );
        Ok(Home {
            agency: agency.to_string(),
            clients: by_agency,
            schemas,
            catalogs,
            stats,
        })
    }

    pub fn agency(&self) -> &str {
        &self.agency
    }

    /// What crossed the wire from each owner to this gateway.
    pub fn stats(&self) -> &Arc<WireStats> {
        &self.stats
    }

    fn session(&self, ctx: &RequestContext) -> SessionState {
        let config = SessionConfig::new()
            .with_information_schema(false)
            .with_default_catalog_and_schema(CATALOG, &self.agency)
            // The catalogs are shared by every query; building a session must not replace them.
            .with_create_default_catalog_and_schema(false)
            .with_extension(Arc::new(ctx.clone()));
        SessionStateBuilder::new()
            .with_config(config)
            .with_catalog_list(Arc::clone(&self.catalogs) as _)
            .with_default_features()
            .build()
    }

    /// Check every table the SQL names, so an unknown agency or dataset gets its own
    /// error, and fetch the catalogs the query needs.
    async fn resolve(
        &self,
        state: &SessionState,
        stmt: &datafusion::sql::parser::Statement,
    ) -> Result<()> {
        let refs = state
            .resolve_table_references(stmt)
            .map_err(|e| GatewayError::Sql(e.to_string()))?;
        for r in refs {
            let (agency, dataset) = split_table_ref(&r)?;
            let schema = self
                .schemas
                .get(agency)
                .ok_or_else(|| GatewayError::UnknownAgency {
                    agency: agency.to_string(),
                    known: self.schemas.keys().cloned().collect(),
                })?;
            schema.dataset(dataset).await?;
        }
        Ok(())
    }

    /// Plan `sql` across agencies without running it.
    pub async fn plan(&self, ctx: &RequestContext, sql: &str) -> Result<FederatedPlan> {
        let state = self.session(ctx);
        let stmt = state
            .sql_to_statement(sql, &state.config().options().sql_parser.dialect)
            .map_err(|e| GatewayError::Sql(e.to_string()))?;
        check_is_query(&stmt)?;
        self.resolve(&state, &stmt).await?;
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
        let optimized = state
            .optimize(&plan)
            .map_err(GatewayError::from_datafusion)?;
        let split = push_aggregates_through_union(optimized)
            .and_then(push_top_n_through_union)
            .map_err(GatewayError::from_datafusion)?;
        let mut federator = Federator::new(&state, ctx, &self.clients);
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

    /// Plan and run `sql`, streaming the result.
    pub async fn query(
        &self,
        ctx: &RequestContext,
        sql: &str,
    ) -> Result<SendableRecordBatchStream> {
        let plan = self.plan(ctx, sql).await?;
        tracing::info!(
            query_id = %ctx.query_id,
            principal = %ctx.principal,
            purpose = %ctx.purpose,
            sub_queries = plan.sub_queries.len(),
            "federated query planned"
        );
        datafusion::physical_plan::execute_stream(plan.physical, plan.state.task_ctx())
            .map_err(GatewayError::from_datafusion)
    }

    /// Every agency's catalog, as far as it can be reached. Unreachable agencies are
    /// reported beside the catalogs, not as a failure of the whole listing.
    pub async fn catalogs(&self) -> (Vec<AgencyCatalog>, Vec<(String, GatewayError)>) {
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

/// Only a plain query may run: no DDL, DML, `SET`, `COPY` or `EXPLAIN ANALYZE` side doors.
pub fn check_is_query(stmt: &datafusion::sql::parser::Statement) -> Result<()> {
    use datafusion::sql::parser::Statement as DfStatement;
    use datafusion::sql::sqlparser::ast::Statement;
    match stmt {
        DfStatement::Statement(s) if matches!(s.as_ref(), Statement::Query(_)) => Ok(()),
        other => {
            let text = other.to_string();
            let head: String = text
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ");
            Err(GatewayError::NotAQuery(format!(
                "`{head} …` is not a SELECT"
            )))
        }
    }
}
