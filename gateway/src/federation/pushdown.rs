//! The federation rewrite: cut an optimized logical plan into the largest sub-plans that
//! one agency can run alone, turn each into SQL, and replace it by a scan of that SQL at
//! its owner. What cannot be written as SQL is split further, down to single dataset
//! scans, so a query never fails for want of pushdown.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, DFSchemaRef, JoinType, NullEquality, TableReference};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::error::Result as DfResult;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{
    Distinct, Expr, Limit, LogicalPlan, LogicalPlanBuilder, Projection, SkipType, Union, lit,
};
use datafusion::sql::unparser::Unparser;

use sluice_core::AgencyId;

use super::exec::RemoteQueryTable;
use super::schema::RemoteDataset;
use super::sql_expr::{expr_can_push, normalize_expr_for_sql};
use crate::peer::AgencyClient;
use crate::peer::Caller;

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
    caller: &'a Caller,
    clients: &'a BTreeMap<AgencyId, Arc<dyn AgencyClient>>,
    sub_queries: Vec<SubQuery>,
}

impl<'a> Federator<'a> {
    pub fn new(
        state: &'a SessionState,
        caller: &'a Caller,
        clients: &'a BTreeMap<AgencyId, Arc<dyn AgencyClient>>,
    ) -> Self {
        Federator {
            state,
            caller,
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
            && let Some((sql, wire)) = self.to_sql(&plan).await?
        {
            return self.remote_scan(&plan, &agency, sql, &wire);
        }
        let inputs = plan.inputs();
        if inputs.is_empty() {
            return Ok(plan);
        }
        let mut new_inputs = Vec::with_capacity(inputs.len());
        for input in inputs {
            new_inputs.push(Box::pin(self.federate(input.clone())).await?);
        }
        // DataFusion's `with_new_exprs` panics on DISTINCT ON with an ORDER BY
        // (it does not accept the sort expressions `expressions()` returns).
        if let LogicalPlan::Distinct(datafusion::logical_expr::Distinct::On(on)) = &plan
            && let Some(input) = new_inputs.first()
        {
            return Ok(LogicalPlan::Distinct(
                datafusion::logical_expr::Distinct::On(
                    datafusion::logical_expr::DistinctOn::try_new(
                        on.on_expr.clone(),
                        on.select_expr.clone(),
                        on.sort_expr.clone(),
                        Arc::new(input.clone()),
                    )?,
                ),
            ));
        }
        // The inputs' schemas changed (remote columns are all nullable). A union keeps
        // the schema it was built with, even through `recompute_schema`: build it anew.
        if let LogicalPlan::Union(_) = &plan {
            return Ok(LogicalPlan::Union(Union::try_new(
                new_inputs.into_iter().map(Arc::new).collect(),
            )?));
        }
        plan.with_new_exprs(plan.expressions(), new_inputs)?
            .recompute_schema()
    }

    /// Turn a sub-plan into SQL, and check the SQL means the same by planning it again:
    /// it must plan, and produce the same column types. `None` if either fails. Also
    /// returns the schema of what the owner sends back, which for a sub-plan that needs
    /// no column at all (`COUNT(*)` over it, a side of a `CROSS JOIN`) is one constant
    /// column: a result without columns cannot say how many rows it has in SQL.
    async fn to_sql(&self, plan: &LogicalPlan) -> DfResult<Option<(String, DFSchemaRef)>> {
        let normalized = normalize_for_sql(plan.clone())?;
        // A projection on top fixes the column order; without it the unparser may list an
        // aggregate's columns in another order than the plan's schema.
        let wrapped = if plan.schema().fields().is_empty() {
            let one = lit(1i64).alias(ROW_MARKER);
            LogicalPlan::Projection(Projection::try_new(vec![one], Arc::new(normalized))?)
        } else {
            match normalized {
                LogicalPlan::Projection(_) => normalized,
                other => {
                    let columns = other
                        .schema()
                        .columns()
                        .into_iter()
                        .map(Expr::Column)
                        .collect::<Vec<_>>();
                    LogicalPlan::Projection(Projection::try_new(columns, Arc::new(other))?)
                }
            }
        };
        // Printing the unparsed statement recurses once per level with no guard
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
                return Ok(None);
            }
        };
        let checked = match crate::intake::parse(self.state, &sql) {
            Ok(query) => crate::intake::plan(self.state, query)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match checked {
            Ok(check) if same_types(check.schema(), wrapped.schema()) => {
                Ok(Some((sql, Arc::clone(wrapped.schema()))))
            }
            Ok(check) => {
                tracing::debug!(%sql, expected = %wrapped.schema(), got = %check.schema(), "sub-query SQL changes the column types; pushing less");
                Ok(None)
            }
            Err(e) => {
                tracing::debug!(%sql, error = %e, "sub-query SQL does not plan again; pushing less");
                Ok(None)
            }
        }
    }

    fn remote_scan(
        &mut self,
        plan: &LogicalPlan,
        agency: &AgencyId,
        sql: String,
        wire: &DFSchema,
    ) -> DfResult<LogicalPlan> {
        let client = self.clients.get(agency).ok_or_else(|| {
            datafusion::error::DataFusionError::Plan(format!("unknown agency `{agency}`"))
        })?;
        let n = self.sub_queries.len() + 1;
        let caller = Caller {
            session: self.caller.session.clone(),
            ctx: self.caller.ctx.sub_query(n),
        };
        self.sub_queries.push(SubQuery {
            agency: agency.to_string(),
            query_id: caller.ctx.query_id.to_string(),
            sql: sql.clone(),
        });
        // Every column may hold NULLs, whatever the published schema says: the owner's
        // policy may null a column (a `null` mask, a denied column), and a database
        // column is nullable unless declared otherwise.
        let schema: SchemaRef = Arc::new(Schema::new(
            wire.fields()
                .iter()
                .enumerate()
                .map(|(i, f)| Field::new(format!("c{i}"), f.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let table = RemoteQueryTable {
            client: Arc::clone(client),
            caller,
            sql,
            schema,
        };
        let name = TableReference::bare(format!("{agency}_subquery_{n}"));
        let scan =
            LogicalPlanBuilder::scan(name.clone(), provider_as_source(Arc::new(table)), None)?
                .build()?;
        // Give the columns back the names and qualifiers the plan above expects (none,
        // when the owner only sent the row marker).
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

/// The one column a sub-query that needs no column sends, so its rows can be counted.
const ROW_MARKER: &str = "__sluice_row";

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

/// Nodes an owner can run as SQL, written so that the SQL means what the plan means.
///
/// DataFusion's unparser writes some nodes and expressions as SQL that plans again, with
/// the same column types, but means something else. Those stay at home, and the
/// federator pushes their inputs instead:
/// - semi, anti and mark joins become `EXISTS`, which loses the NULL semantics of
///   `NOT IN` (null-aware anti joins), the NULL equality of `INTERSECT` and `EXCEPT`, and
///   the filters of the subquery side; joins with NULL-equal keys lose their equality;
/// - `LIMIT … OFFSET …` over a sort with a fetch is written with the skip added to the
///   limit, so the owner returns `n + m` rows;
/// - `DISTINCT ON` and ordered aggregates (`array_agg(x ORDER BY y)`,
///   `first_value(x ORDER BY y)`) lose their ordering, and `IGNORE NULLS` is dropped;
/// - `SIMILAR TO` with an escape character is written as `LIKE` (without one it is
///   rewritten as the regular-expression match DataFusion evaluates it as; see
///   [`normalize_for_sql`]);
/// - a union whose branch holds a sort, a limit or another union: the unparser writes
///   the branch's `ORDER BY`, `LIMIT` or `UNION` (distinct) onto the statement around
///   the union, so it would apply to every branch, or not plan at all (see
///   [`branch_shares_the_statement`]).
///
/// Subquery expressions stay home too: they may reach other agencies, and the scans
/// inside them are federated on their own.
fn can_push(node: &LogicalPlan) -> bool {
    let kind_ok = match node {
        LogicalPlan::Projection(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::Aggregate(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::TableScan(_)
        | LogicalPlan::Window(_)
        | LogicalPlan::Distinct(Distinct::All(_))
        | LogicalPlan::Values(_)
        | LogicalPlan::EmptyRelation(_) => true,
        LogicalPlan::Limit(limit) => limit_without_offset(limit),
        LogicalPlan::Union(union) => !union.inputs.iter().any(|b| branch_shares_the_statement(b)),
        LogicalPlan::Join(join) => {
            matches!(
                join.join_type,
                JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full
            ) && join.null_equality == NullEquality::NullEqualsNothing
                && !join.null_aware
        }
        _ => false,
    };
    kind_ok && node.expressions().iter().all(expr_can_push)
}

/// Whether a union branch holds a node that DataFusion's unparser writes as a clause of
/// the whole statement rather than of the branch's own `SELECT`. A branch is unparsed
/// with the statement's query builder, so its sort, limit or nested union ends up on
/// the union itself. Conservatively, any such node anywhere in the branch counts; the
/// federator then sends each branch as its own statement.
fn branch_shares_the_statement(branch: &LogicalPlan) -> bool {
    branch
        .exists(|node| {
            Ok(matches!(
                node,
                LogicalPlan::Sort(_) | LogicalPlan::Limit(_) | LogicalPlan::Union(_)
            ))
        })
        .unwrap_or(true)
}

/// Whether a limit skips nothing, so that its SQL is a plain `LIMIT n`.
fn limit_without_offset(limit: &Limit) -> bool {
    matches!(limit.get_skip_type(), Ok(SkipType::Literal(0)))
}

/// Rewrite what the unparser would write wrongly into an equivalent it writes right,
/// everywhere in `plan` (see [`normalize_expr_for_sql`]).
fn normalize_for_sql(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    plan.transform_up(|node| node.map_expressions(normalize_expr_for_sql))
        .map(|t| t.data)
}
