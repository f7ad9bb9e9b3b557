//! Partial aggregation across agencies: a GROUP BY over a UNION ALL of several agencies'
//! datasets becomes a GROUP BY per branch, which each owner runs, then a final GROUP BY
//! at home over the partial results. Only aggregated rows cross the wire.
//!
//! `COUNT`, `SUM`, `MIN`, `MAX` and `AVG` (of non-decimal numbers) split this way;
//! anything else (DISTINCT, FILTER, ordered or other aggregates, grouping sets) is left
//! alone and aggregated at home.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchemaRef};
use datafusion::error::Result as DfResult;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::{cast, Aggregate, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

/// Apply the split everywhere it fits in `plan`.
pub fn push_aggregates_through_union(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    plan.transform_up(|node| {
        let LogicalPlan::Aggregate(agg) = &node else {
            return Ok(Transformed::no(node));
        };
        match split(agg)? {
            Some(new) => Ok(Transformed::yes(new)),
            None => Ok(Transformed::no(node)),
        }
    })
    .map(|t| t.data)
}

fn ucol(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

fn split(agg: &Aggregate) -> DfResult<Option<LogicalPlan>> {
    let mut input = agg.input.as_ref();
    while let LogicalPlan::SubqueryAlias(alias) = input {
        input = alias.input.as_ref();
    }
    let LogicalPlan::Union(union) = input else {
        return Ok(None);
    };
    if union.inputs.len() < 2 || agg.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
        return Ok(None);
    }
    let in_schema: DFSchemaRef = Arc::clone(agg.input.schema());

    let mut splits = Vec::with_capacity(agg.aggr_expr.len());
    for e in &agg.aggr_expr {
        let inner = match e {
            Expr::Alias(a) => a.expr.as_ref(),
            other => other,
        };
        let Expr::AggregateFunction(f) = inner else {
            return Ok(None);
        };
        let p = &f.params;
        if p.distinct || p.filter.is_some() || !p.order_by.is_empty() || p.args.len() != 1 {
            return Ok(None);
        }
        let kind = match f.func.name() {
            "count" => Split::Count,
            "sum" => Split::Sum,
            "min" => Split::Min,
            "max" => Split::Max,
            "avg" => Split::Avg,
            _ => return Ok(None),
        };
        let arg = p.args[0].clone();
        if kind == Split::Avg {
            let t = arg.get_type(in_schema.as_ref())?;
            if matches!(t, DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..)) || !t.is_numeric() {
                return Ok(None);
            }
        }
        splits.push((kind, arg));
    }

    // Rewrite expressions over the union's columns into expressions over `__u<i>`,
    // which each branch provides under the same names.
    let to_branch = |e: &Expr| -> DfResult<Expr> {
        e.clone()
            .transform(|x| match x {
                Expr::Column(c) => {
                    let i = in_schema.index_of_column(&c)?;
                    Ok(Transformed::yes(ucol(&format!("__u{i}"))))
                }
                other => Ok(Transformed::no(other)),
            })
            .map(|t| t.data)
    };
    let groups = agg
        .group_expr
        .iter()
        .enumerate()
        .map(|(j, g)| Ok(to_branch(g)?.alias(format!("__g{j}"))))
        .collect::<DfResult<Vec<_>>>()?;
    let mut partial_aggs = Vec::new();
    for (k, (kind, arg)) in splits.iter().enumerate() {
        let a = to_branch(arg)?;
        let name = format!("__a{k}");
        match kind {
            Split::Count => partial_aggs.push(count(a).alias(name)),
            Split::Sum => partial_aggs.push(sum(a).alias(name)),
            Split::Min => partial_aggs.push(min(a).alias(name)),
            Split::Max => partial_aggs.push(max(a).alias(name)),
            Split::Avg => {
                partial_aggs.push(sum(cast(a.clone(), DataType::Float64)).alias(name));
                partial_aggs.push(count(a).alias(format!("__a{k}n")));
            }
        }
    }

    let mut union_builder: Option<LogicalPlanBuilder> = None;
    for branch in &union.inputs {
        let renamed = branch
            .schema()
            .iter()
            .enumerate()
            .map(|(i, (q, f))| Expr::Column(Column::new(q.cloned(), f.name())).alias(format!("__u{i}")))
            .collect::<Vec<_>>();
        let partial = LogicalPlanBuilder::from(branch.as_ref().clone())
            .project(renamed)?
            .aggregate(groups.clone(), partial_aggs.clone())?
            .build()?;
        union_builder = Some(match union_builder {
            None => LogicalPlanBuilder::from(partial),
            Some(b) => b.union(partial)?,
        });
    }
    let Some(union_builder) = union_builder else {
        return Ok(None);
    };

    let final_groups = (0..groups.len()).map(|j| ucol(&format!("__g{j}"))).collect::<Vec<_>>();
    let mut final_aggs = Vec::new();
    for (k, (kind, _)) in splits.iter().enumerate() {
        let a = ucol(&format!("__a{k}"));
        let name = format!("__f{k}");
        match kind {
            Split::Count | Split::Sum => final_aggs.push(sum(a).alias(name)),
            Split::Min => final_aggs.push(min(a).alias(name)),
            Split::Max => final_aggs.push(max(a).alias(name)),
            Split::Avg => {
                final_aggs.push(sum(a).alias(name));
                final_aggs.push(sum(ucol(&format!("__a{k}n"))).alias(format!("__f{k}n")));
            }
        }
    }
    let ngroups = groups.len();
    let outputs = agg
        .schema
        .iter()
        .enumerate()
        .map(|(idx, (q, f))| {
            let e = if idx < ngroups {
                ucol(&format!("__g{idx}"))
            } else {
                let k = idx - ngroups;
                match splits.get(k).map(|s| s.0) {
                    Some(Split::Avg) => {
                        ucol(&format!("__f{k}")) / cast(ucol(&format!("__f{k}n")), DataType::Float64)
                    }
                    Some(Split::Count) => datafusion::functions::expr_fn::coalesce(vec![
                        ucol(&format!("__f{k}")),
                        Expr::Literal(datafusion::scalar::ScalarValue::Int64(Some(0)), None),
                    ]),
                    _ => ucol(&format!("__f{k}")),
                }
            };
            cast(e, f.data_type().clone()).alias_qualified(q.cloned(), f.name())
        })
        .collect::<Vec<_>>();
    let plan = union_builder
        .aggregate(final_groups, final_aggs)?
        .project(outputs)?
        .build()?;
    Ok(Some(plan))
}
