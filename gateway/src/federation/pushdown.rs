//! The federation rewrite: cut an optimized logical plan into the largest sub-plans that
//! one agency can run alone, turn each into SQL, and replace it by a scan of that SQL at
//! its owner. What cannot be written as SQL is split further, down to single dataset
//! scans, so a query never fails for want of pushdown.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, TableReference};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::error::Result as DfResult;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Projection};
use datafusion::sql::unparser::Unparser;

use sluice_core::AgencyId;

use super::exec::RemoteQueryTable;
use super::schema::RemoteDataset;
use crate::context::RequestContext;
use crate::peer::AgencyClient;

/// One SQL sub-query the rewrite sent to an owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubQuery {
    pub agency: String,
    pub query_id: String,
    pub sql: String,
}

/// Which agencies a sub-plan reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owners {
    /// No datasets at all (`VALUES`, `SELECT 1`).
    None,
    /// Exactly one agency, and every node could run there.
    One(AgencyId),
    /// Several agencies, or a node that must run at home.
    Many,
}

impl Owners {
    fn add(&mut self, agency: &AgencyId) {
        *self = match std::mem::replace(self, Owners::Many) {
            Owners::None => Owners::One(agency.clone()),
            Owners::One(a) if &a == agency => Owners::One(a),
            _ => Owners::Many,
        }
    }
}

/// Rewrites one query's plan; collects the sub-queries it creates.
pub struct Federator<'a> {
    state: &'a SessionState,
    ctx: &'a RequestContext,
    clients: &'a BTreeMap<AgencyId, Arc<dyn AgencyClient>>,
    sub_queries: Vec<SubQuery>,
}

impl<'a> Federator<'a> {
    pub fn new(
        state: &'a SessionState,
        ctx: &'a RequestContext,
        clients: &'a BTreeMap<AgencyId, Arc<dyn AgencyClient>>,
    ) -> Self {
        Federator {
            state,
            ctx,
            clients,
            sub_queries: Vec::new(),
        }
    }

    /// The sub-queries created so far.
    pub fn sub_queries(&self) -> &[SubQuery] {
        &self.sub_queries
    }

    /// Replace every maximal single-agency sub-plan of `plan` by a remote SQL scan.
    pub async fn federate(&mut self, plan: LogicalPlan) -> DfResult<LogicalPlan> {
        if let Owners::One(agency) = owners(&plan)?
            && let Some(sql) = self.to_sql(&plan).await
        {
            return self.remote_scan(&plan, &agency, sql);
        }
        let inputs = plan.inputs();
        if inputs.is_empty() {
            return Ok(plan);
        }
        let mut new_inputs = Vec::with_capacity(inputs.len());
        for input in inputs {
            new_inputs.push(Box::pin(self.federate(input.clone())).await?);
        }
        // Issue 10: DataFusion's `with_new_exprs` panics on DISTINCT ON with an ORDER BY
        // (it does not accept the sort expressions `expressions()` returns).
        if let LogicalPlan::Distinct(datafusion::logical_expr::Distinct::On(on)) = &plan
            && let Some(input) = new_inputs.first()
        {
            return datafusion::logical_expr::DistinctOn::try_new(
                on.on_expr.clone(),
                on.select_expr.clone(),
                on.sort_expr.clone(),
                Arc::new(input.clone()),
            )
            .map(|d| LogicalPlan::Distinct(datafusion::logical_expr::Distinct::On(d)));
        }
        plan.with_new_exprs(plan.expressions(), new_inputs)
    }

    /// Turn a sub-plan into SQL, and check the SQL means the same by planning it again:
    /// it must plan, and produce the same column types. `None` if either fails.
    async fn to_sql(&self, plan: &LogicalPlan) -> Option<String> {
        // A projection on top fixes the column order; without it the unparser may list an
        // aggregate's columns in another order than the plan's schema.
        let wrapped = match plan {
            LogicalPlan::Projection(_) => plan.clone(),
            _ => {
                let columns = plan
                    .schema()
                    .columns()
                    .into_iter()
                    .map(Expr::Column)
                    .collect::<Vec<_>>();
                match Projection::try_new(columns, Arc::new(plan.clone())) {
                    Ok(p) => LogicalPlan::Projection(p),
                    Err(_) => return None,
                }
            }
        };
        // Issue 10: printing the unparsed statement recurses once per level with no guard
        // (every operator is written in parentheses), so it runs, and the statement is
        // dropped, on a stack of its own; the check below goes through the intake, which
        // bounds and rebalances what it parses, as the owner will.
        let unparsed = crate::intake::on_generated_sql_stack(|| {
            Unparser::default()
                .plan_to_sql(&wrapped)
                .map(|stmt| stmt.to_string())
        });
        let sql = match unparsed {
            Ok(sql) => sql,
            Err(e) => {
                tracing::debug!(node = plan.display().to_string(), error = %e, "cannot write this sub-plan as SQL; pushing less");
                return None;
            }
        };
        let checked = match crate::intake::parse(self.state, &sql) {
            Ok(query) => crate::intake::plan(self.state, query)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match checked {
            Ok(check) if same_types(check.schema(), plan.schema()) => Some(sql),
            Ok(check) => {
                tracing::debug!(%sql, expected = %plan.schema(), got = %check.schema(), "sub-query SQL changes the column types; pushing less");
                None
            }
            Err(e) => {
                tracing::debug!(%sql, error = %e, "sub-query SQL does not plan again; pushing less");
                None
            }
        }
    }

    fn remote_scan(
        &mut self,
        plan: &LogicalPlan,
        agency: &AgencyId,
        sql: String,
    ) -> DfResult<LogicalPlan> {
        let client = self.clients.get(agency).ok_or_else(|| {
            datafusion::error::DataFusionError::Plan(format!("unknown agency `{agency}`"))
        })?;
        let n = self.sub_queries.len() + 1;
        let ctx = self.ctx.sub_query(n);
        self.sub_queries.push(SubQuery {
            agency: agency.to_string(),
            query_id: ctx.query_id.to_string(),
            sql: sql.clone(),
        });
        let schema: SchemaRef = Arc::new(Schema::new(
            plan.schema()
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| Field::new(format!("c{i}"), f.data_type().clone(), f.is_nullable()))
                .collect::<Vec<_>>(),
        ));
        let table = RemoteQueryTable {
            client: Arc::clone(client),
            ctx,
            sql,
            schema,
        };
        let name = TableReference::bare(format!("{agency}_subquery_{n}"));
        let scan =
            LogicalPlanBuilder::scan(name.clone(), provider_as_source(Arc::new(table)), None)?
                .build()?;
        // Give the columns back the names and qualifiers the plan above expects.
        let exprs = plan
            .schema()
            .iter()
            .enumerate()
            .map(|(i, (qualifier, field))| {
                Expr::Column(Column::new(Some(name.clone()), format!("c{i}")))
                    .alias_qualified(qualifier.cloned(), field.name())
            })
            .collect::<Vec<_>>();
        Ok(LogicalPlan::Projection(Projection::try_new(
            exprs,
            Arc::new(scan),
        )?))
    }
}

fn same_types(a: &DFSchema, b: &DFSchema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields())
            .all(|(x, y)| x.data_type() == y.data_type())
}

/// The agency owning every dataset under `plan`, if there is one and every node can be
/// sent there.
fn owners(plan: &LogicalPlan) -> DfResult<Owners> {
    let mut owners = Owners::None;
    plan.apply(|node| {
        if !can_push(node) {
            owners = Owners::Many;
            return Ok(TreeNodeRecursion::Stop);
        }
        if let LogicalPlan::TableScan(scan) = node {
            let provider = source_as_provider(&scan.source)?;
            match (provider.as_ref() as &dyn std::any::Any).downcast_ref::<RemoteDataset>() {
                Some(remote) => owners.add(remote.agency()),
                None => owners = Owners::Many,
            }
        }
        Ok(if owners == Owners::Many {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    Ok(owners)
}

/// Nodes an owner can run as SQL. Subquery expressions stay home: they may reach other
/// agencies, and the scans inside them are federated on their own.
fn can_push(node: &LogicalPlan) -> bool {
    let kind_ok = matches!(
        node,
        LogicalPlan::Projection(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::Aggregate(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::Join(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::TableScan(_)
            | LogicalPlan::Union(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Distinct(_)
            | LogicalPlan::Values(_)
            | LogicalPlan::EmptyRelation(_)
    );
    kind_ok
        && node.expressions().iter().all(|e| {
            !e.exists(|x| {
                Ok(matches!(
                    x,
                    Expr::ScalarSubquery(_)
                        | Expr::Exists(_)
                        | Expr::InSubquery(_)
                        | Expr::OuterReferenceColumn(..)
                ))
            })
            .unwrap_or(true)
        })
}
