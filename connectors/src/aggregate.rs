//! GROUP BY computed by the database: [`AggregatePushdown`] is an optimizer rule that
//! replaces an aggregate over one database table with a scan of [`PushedAggregate`],
//! whose single `SELECT … GROUP BY` the database runs, so only the groups leave it.
//!
//! Only what the database computes exactly as DataFusion does is handed over, and the
//! rest of the plan is left alone:
//! - the filters below the aggregate must all be settled exactly by the database
//!   ([`crate::filters`]), with no row limit between them and the aggregate;
//! - group keys are bare columns (or constants, which stay in DataFusion) of integer,
//!   boolean or date type, or of text where the database compares text byte-wise;
//! - aggregates are `count(*)`, `count(column)`, `count(DISTINCT key)` of a column that
//!   could be a key, `sum` of an integer column (cast back to BIGINT, as DataFusion sums
//!   integers) and `min`/`max` of integers and dates, with no FILTER or ORDER BY. Text
//!   order follows collations, and floating-point sums follow the order of addition, so
//!   neither is pushed.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::error::Result;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{
    Aggregate, AggregateUDF, Expr, LogicalPlan, LogicalPlanBuilder, TableScan, TableType, cast, lit,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::unparser::Unparser;

use crate::filters::Pushdown;
use crate::source_table::{SourceScanExec, SourceTable, SqlSource};

/// The name under which a pushed aggregate's result is scanned.
const PUSHED: &str = "__sluice_pushed";

/// Hands each aggregate over one database table that the database computes exactly to
/// that database. The owner applies it to a judged plan just before running it
/// ([`push_aggregates`]), so that the disclosure policy and the audit record always see
/// the tables and columns the query reads.
#[derive(Debug, Default)]
pub struct AggregatePushdown;

/// `plan` with every aggregate that a database computes exactly handed to it.
pub fn push_aggregates(plan: LogicalPlan) -> Result<LogicalPlan> {
    let config = datafusion::optimizer::OptimizerContext::new();
    Ok(plan
        .transform_down(|node| AggregatePushdown.rewrite(node, &config))?
        .data)
}

impl OptimizerRule for AggregatePushdown {
    fn name(&self) -> &str {
        "sluice_aggregate_pushdown"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = &plan else {
            return Ok(Transformed::no(plan));
        };
        match pushed(aggregate)? {
            Some(replacement) => Ok(Transformed::yes(replacement)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

/// One output of the aggregate: a column of the database's answer, or a constant key.
#[derive(Debug, Clone)]
enum Output {
    Pushed(usize),
    Constant(ScalarValue),
}

/// `aggregate` as a scan of its result from the database followed by a projection that
/// restores its schema, or `None` where the database would not compute it exactly.
fn pushed(aggregate: &Aggregate) -> Result<Option<LogicalPlan>> {
    let Some(input) = Input::of(aggregate.input.as_ref()) else {
        return Ok(None);
    };
    let scan = input.scan;
    if scan.fetch.is_some() {
        return Ok(None);
    }
    let Ok(provider) = source_as_provider(&scan.source) else {
        return Ok(None);
    };
    let Some(table) = provider.as_ref().downcast_ref::<SourceTable>() else {
        return Ok(None);
    };
    let Some(sql) = table.sql() else {
        return Ok(None);
    };
    let filters: Vec<Expr> = scan
        .filters
        .iter()
        .map(unqualified)
        .collect::<Result<_>>()?;
    if !table.settles(&filters)? {
        return Ok(None);
    }

    // Keys, then measures, each computed once however often the aggregate names it, with
    // the type the aggregate gives it.
    let mut keys: Vec<Expr> = Vec::new();
    let mut key_types = Vec::new();
    let mut outputs = Vec::new();
    let mut constant_keys = false;
    for (i, key) in aggregate.group_expr.iter().enumerate() {
        let data_type = aggregate.schema.field(i).data_type();
        match input.inline(key)? {
            Some(Expr::Literal(value, _)) if value.data_type() == *data_type => {
                constant_keys = true;
                outputs.push(Output::Constant(value));
            }
            Some(Expr::Column(c)) if groupable(table, &c.name) => {
                let key = Expr::Column(Column::new_unqualified(c.name));
                let at = match keys.iter().position(|k| *k == key) {
                    Some(at) => at,
                    None => {
                        keys.push(key);
                        key_types.push(data_type.clone());
                        keys.len() - 1
                    }
                };
                outputs.push(Output::Pushed(at));
            }
            _ => return Ok(None),
        }
    }
    let mut measures: Vec<Measure> = Vec::new();
    for (i, e) in aggregate.aggr_expr.iter().enumerate() {
        let data_type = aggregate
            .schema
            .field(aggregate.group_expr.len() + i)
            .data_type();
        let Some(inlined) = input.inline(e)? else {
            return Ok(None);
        };
        let Some((expr, as_bigint)) = measure(table, inlined) else {
            return Ok(None);
        };
        if as_bigint && data_type != &DataType::Int64 {
            return Ok(None);
        }
        let m = Measure {
            expr,
            as_bigint,
            data_type: data_type.clone(),
        };
        let at = match measures.iter().position(|n| *n == m) {
            Some(at) => at,
            None => {
                measures.push(m);
                measures.len() - 1
            }
        };
        outputs.push(Output::Pushed(keys.len() + at));
    }
    // Grouping by constants alone yields no group over no rows, where an aggregate with
    // no GROUP BY yields one; the database is asked to keep only groups with rows.
    let nonempty = constant_keys && keys.is_empty();

    let fields = key_types
        .iter()
        .chain(measures.iter().map(|m| &m.data_type))
        .enumerate()
        .map(|(i, t)| Field::new(format!("c{i}"), t.clone(), true))
        .collect::<Vec<_>>();
    let pushed = PushedAggregate {
        sql: Arc::clone(sql),
        what: table.what().to_owned(),
        source_schema: table.source_schema(),
        filters,
        keys,
        measures,
        nonempty,
        schema: Arc::new(Schema::new(fields)),
    };
    // What the unparser cannot write stays with DataFusion.
    if pushed
        .statement(&(0..pushed.schema.fields().len()).collect::<Vec<_>>())
        .is_err()
    {
        return Ok(None);
    }

    let restored = outputs
        .iter()
        .zip(aggregate.schema.iter())
        .map(|(output, (qualifier, field))| {
            let e = match output {
                Output::Pushed(j) => Expr::Column(Column::new(Some(PUSHED), format!("c{j}"))),
                Output::Constant(v) => lit(v.clone()),
            };
            e.alias_qualified(qualifier.cloned(), field.name())
        })
        .collect::<Vec<_>>();
    let plan = LogicalPlanBuilder::scan(PUSHED, provider_as_source(Arc::new(pushed)), None)?
        .project(restored)?
        .build()?;
    Ok(Some(plan))
}

/// The aggregate's input: a table scan, maybe under a projection.
struct Input<'a> {
    scan: &'a TableScan,
    projection: Option<&'a datafusion::logical_expr::Projection>,
}

impl<'a> Input<'a> {
    fn of(plan: &'a LogicalPlan) -> Option<Self> {
        match plan {
            LogicalPlan::TableScan(scan) => Some(Input {
                scan,
                projection: None,
            }),
            LogicalPlan::Projection(p) => match p.input.as_ref() {
                LogicalPlan::TableScan(scan) => Some(Input {
                    scan,
                    projection: Some(p),
                }),
                _ => None,
            },
            _ => None,
        }
    }

    /// `e` over the table's own columns: the projection's expressions put in for its
    /// columns, aliases removed. `None` if a column is not the scan's.
    fn inline(&self, e: &Expr) -> Result<Option<Expr>> {
        let mut unknown = false;
        let inlined = e
            .clone()
            .unalias()
            .transform(|e| match e {
                Expr::Column(c) => {
                    let replacement = match self.projection {
                        Some(p) => match p.schema.maybe_index_of_column(&c) {
                            Some(i) => p.expr[i].clone().unalias(),
                            None => {
                                unknown = true;
                                Expr::Column(c)
                            }
                        },
                        None => Expr::Column(c),
                    };
                    Ok(Transformed::yes(replacement))
                }
                other => Ok(Transformed::no(other)),
            })?
            .data;
        if unknown {
            return Ok(None);
        }
        let mut foreign = false;
        inlined.apply(|e| {
            if let Expr::Column(c) = e
                && !self.scan.projected_schema.has_column(c)
            {
                foreign = true;
            }
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        })?;
        Ok((!foreign).then_some(inlined))
    }
}

/// Whether the database groups values of column `name` exactly as DataFusion does.
fn groupable(table: &SourceTable, name: &str) -> bool {
    match table.unparsed_type(name) {
        Some(t) if exact_order_type(t) || t == &DataType::Boolean => true,
        Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
            table.rules().text_equality == Pushdown::Exact
        }
        _ => false,
    }
}

/// Integers and dates: compared and ordered the same way everywhere.
fn exact_order_type(t: &DataType) -> bool {
    t.is_integer() || t == &DataType::Date32
}

/// `e` as an aggregate the database computes exactly, over unqualified columns, and
/// whether its result must be cast back to BIGINT.
fn measure(table: &SourceTable, e: Expr) -> Option<(Expr, bool)> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = e else {
        return None;
    };
    if params.filter.is_some()
        || !params.order_by.is_empty()
        || params.null_treatment.is_some()
        || params.args.len() != 1
    {
        return None;
    }
    // Distinct values are counted alike wherever equality is (the small-group rule of a
    // disclosure policy counts distinct subjects this way).
    let distinct = params.distinct;
    if distinct {
        match (func.name(), &params.args[0]) {
            ("count", Expr::Column(c)) if groupable(table, &c.name) => {}
            _ => return None,
        }
    }
    let column_type = |arg: &Expr| match arg {
        Expr::Column(c) => table
            .unparsed_type(&c.name)
            .cloned()
            .map(|t| (c.name.clone(), t)),
        _ => None,
    };
    let arg = &params.args[0];
    let (arg, as_bigint) = match func.name() {
        "count" => match arg {
            Expr::Literal(v, _) if !v.is_null() => (lit(1i64), false),
            other => {
                let (name, _) = column_type(other)?;
                (Expr::Column(Column::new_unqualified(name)), false)
            }
        },
        "sum" => {
            // DataFusion widens the argument to BIGINT first; the database sums integers
            // exactly whatever their width.
            let arg = match arg {
                Expr::Cast(c) if c.field.data_type() == &DataType::Int64 => c.expr.as_ref(),
                other => other,
            };
            let (name, t) = column_type(arg)?;
            if !t.is_signed_integer() {
                return None;
            }
            (Expr::Column(Column::new_unqualified(name)), true)
        }
        "min" | "max" => {
            let (name, t) = column_type(arg)?;
            if !exact_order_type(&t) {
                return None;
            }
            (Expr::Column(Column::new_unqualified(name)), false)
        }
        _ => return None,
    };
    let func = if func.name() == "count" {
        count_udaf()
    } else {
        func
    };
    Some((aggregate_of(func, arg, distinct), as_bigint))
}

fn aggregate_of(func: Arc<AggregateUDF>, arg: Expr, distinct: bool) -> Expr {
    Expr::AggregateFunction(AggregateFunction::new_udf(
        func,
        vec![arg],
        distinct,
        None,
        vec![],
        None,
    ))
}

/// `count(*)` as [`measure`] writes it.
fn count_rows() -> Expr {
    aggregate_of(count_udaf(), lit(1i64), false)
}

/// `e` with every column reference stripped of its table, as the database names it.
fn unqualified(e: &Expr) -> Result<Expr> {
    Ok(e.clone()
        .transform(|e| match e {
            Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                c.name,
            )))),
            other => Ok(Transformed::no(other)),
        })?
        .data)
}

/// One aggregate the database computes.
#[derive(Debug, Clone, PartialEq)]
struct Measure {
    expr: Expr,
    /// Cast back to BIGINT, as DataFusion sums integers.
    as_bigint: bool,
    data_type: DataType,
}

/// The result of one aggregate, computed by the database that holds its table.
pub struct PushedAggregate {
    sql: Arc<dyn SqlSource>,
    what: String,
    /// The table's columns as the database holds them, for the unparser.
    source_schema: SchemaRef,
    filters: Vec<Expr>,
    keys: Vec<Expr>,
    measures: Vec<Measure>,
    /// Keep only groups that have rows.
    nonempty: bool,
    /// Keys, then measures, named `c0`, `c1`, ….
    schema: SchemaRef,
}

impl fmt::Debug for PushedAggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushedAggregate")
            .field("what", &self.what)
            .field("keys", &self.keys)
            .field("measures", &self.measures)
            .finish_non_exhaustive()
    }
}

impl PushedAggregate {
    /// The `SELECT` that yields the outputs `columns`, in the database's dialect.
    fn statement(&self, columns: &[usize]) -> Result<String> {
        let table = Arc::new(EmptySource(Arc::clone(&self.source_schema)));
        let mut measures: Vec<Expr> = self.measures.iter().map(|m| m.expr.clone()).collect();
        // The column that counts a group's rows, for HAVING.
        let mut rows_at = None;
        if self.nonempty {
            let rows = count_rows();
            rows_at = Some(match measures.iter().position(|m| *m == rows) {
                Some(at) => self.keys.len() + at,
                None => {
                    measures.push(rows);
                    self.keys.len() + measures.len() - 1
                }
            });
        }
        let grouped = LogicalPlanBuilder::scan_with_filters(
            self.sql.table().clone(),
            provider_as_source(table),
            None,
            self.filters.clone(),
        )?
        .aggregate(self.keys.clone(), measures)?
        .build()?;
        let out: Vec<Expr> = grouped
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        let mut builder = LogicalPlanBuilder::from(grouped);
        if let Some(at) = rows_at {
            builder = builder.having(out[at].clone().gt(lit(0i64)))?;
        }
        let selected = columns
            .iter()
            .map(|&i| {
                let e = out[i].clone();
                let e = match i.checked_sub(self.keys.len()) {
                    Some(m) if self.measures[m].as_bigint => cast(e, DataType::Int64),
                    _ => e,
                };
                e.alias(format!("c{i}"))
            })
            .collect::<Vec<_>>();
        let plan = builder.project(selected)?.build()?;
        Ok(Unparser::new(self.sql.dialect())
            .plan_to_sql(&plan)?
            .to_string())
    }
}

#[async_trait]
impl TableProvider for PushedAggregate {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let all: Vec<usize> = (0..self.schema.fields().len()).collect();
        let wanted = projection.unwrap_or(&all);
        // A statement needs one column; with none wanted, it still counts the groups.
        let asked = if wanted.is_empty() { &all[..1] } else { wanted };
        let statement = self.statement(asked)?;
        tracing::debug!(table = %self.what, %statement, "aggregate pushed to the database");
        let answer = Arc::new(self.schema.project(asked)?);
        let input = self.sql.run(statement, &answer)?;
        Ok(Arc::new(SourceScanExec::new(
            input,
            Arc::new(self.schema.project(wanted)?),
            self.what.clone(),
        )))
    }
}

/// A table that only has a schema: what the unparser needs to write a `FROM`.
#[derive(Debug)]
struct EmptySource(SchemaRef);

#[async_trait]
impl TableProvider for EmptySource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.0)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(datafusion::error::DataFusionError::Internal(
            "a statement's table is only written, never scanned".into(),
        ))
    }
}
