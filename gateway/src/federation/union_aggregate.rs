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
use datafusion::logical_expr::{
    Aggregate, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, Projection, cast,
};

use super::branch::onto_branch;

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

/// A decomposable aggregate function, as used for partial and final steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partial {
    Count,
    Sum,
    Min,
    Max,
}

impl Partial {
    fn call(self, arg: Expr) -> Expr {
        match self {
            Partial::Count => count(arg),
            Partial::Sum => sum(arg),
            Partial::Min => min(arg),
            Partial::Max => max(arg),
        }
    }
}

/// How one original aggregate is read from the final aggregates (by index).
enum Output {
    One(usize),
    /// AVG: a final sum divided by a final count.
    Ratio(usize, usize),
}

/// The name of the partial `f(arg)`, adding it if new.
fn intern(partials: &mut Vec<(Partial, Expr)>, f: Partial, arg: Expr) -> String {
    let i = match partials.iter().position(|(g, a)| *g == f && *a == arg) {
        Some(i) => i,
        None => {
            partials.push((f, arg));
            partials.len() - 1
        }
    };
    format!("__p{i}")
}

/// The index of the final `f(partial)`, adding it if new.
fn intern_final(finals: &mut Vec<(Partial, String)>, f: Partial, partial: String) -> usize {
    match finals.iter().position(|(g, p)| *g == f && *p == partial) {
        Some(i) => i,
        None => {
            finals.push((f, partial));
            finals.len() - 1
        }
    }
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
    if union.inputs.len() < 2
        || agg
            .group_expr
            .iter()
            .any(|e| matches!(e, Expr::GroupingSet(_)))
    {
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
        let mut arg = p.args[0].clone();
        if kind == Split::Avg {
            // AVG's argument arrives coerced to Float64: `avg(CAST(x AS Float64))`. For an
            // integer `x`, sum and count `x` itself, so the sum stays exact, widened as
            // DataFusion widens a SUM's argument (SUM takes no narrower integer): then a
            // SUM and an AVG of one column share their partial sum, and the owner does
            // not see two sums it names alike (a cast does not show in a name). Only that
            // one coercion goes: a cast the user wrote (`AVG(CAST(rate * 4 AS INTEGER))`)
            // is part of the value averaged and must stay.
            if let Expr::Cast(c) = &arg
                && c.field.data_type() == &DataType::Float64
            {
                let inner = c.expr.as_ref().clone();
                match inner.get_type(in_schema.as_ref())? {
                    DataType::Int64 | DataType::UInt64 => arg = inner,
                    DataType::Int8 | DataType::Int16 | DataType::Int32 => {
                        arg = cast(inner, DataType::Int64)
                    }
                    DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => {
                        arg = cast(inner, DataType::UInt64)
                    }
                    _ => {}
                }
            }
            let t = arg.get_type(in_schema.as_ref())?;
            if matches!(
                t,
                DataType::Decimal32(..)
                    | DataType::Decimal64(..)
                    | DataType::Decimal128(..)
                    | DataType::Decimal256(..)
            ) || !t.is_numeric()
            {
                return Ok(None);
            }
        }
        splits.push((kind, arg));
    }

    // The partial aggregates each branch computes, named `__p<i>`, and the final ones
    // over them, named `__f<i>`. Both lists are de-duplicated, because two aggregates
    // with the same expression would clash in DataFusion's schema (AVG and SUM of one
    // column share a partial SUM).
    let mut partials: Vec<(Partial, Expr)> = Vec::new();
    let mut finals: Vec<(Partial, String)> = Vec::new();
    let mut outputs_of: Vec<Output> = Vec::new();
    for (kind, arg) in &splits {
        let mut part = |f: Partial| intern(&mut partials, f, arg.clone());
        let out = match kind {
            Split::Count => Output::One(intern_final(
                &mut finals,
                Partial::Sum,
                part(Partial::Count),
            )),
            Split::Sum => Output::One(intern_final(&mut finals, Partial::Sum, part(Partial::Sum))),
            Split::Min => Output::One(intern_final(&mut finals, Partial::Min, part(Partial::Min))),
            Split::Max => Output::One(intern_final(&mut finals, Partial::Max, part(Partial::Max))),
            Split::Avg => {
                let s = part(Partial::Sum);
                let c = part(Partial::Count);
                Output::Ratio(
                    intern_final(&mut finals, Partial::Sum, s),
                    intern_final(&mut finals, Partial::Sum, c),
                )
            }
        };
        outputs_of.push(out);
    }

    // Each branch aggregates its own columns: the union's column `i` is the branch's
    // column `i`, so expressions are rewritten position by position.
    let mut union_builder: Option<LogicalPlanBuilder> = None;
    for branch in &union.inputs {
        let branch_schema = Arc::clone(branch.schema());
        let to_branch = |e: &Expr| onto_branch(e, &in_schema, &branch_schema);
        let groups = agg
            .group_expr
            .iter()
            .enumerate()
            .map(|(j, g)| Ok(to_branch(g)?.alias(format!("__g{j}"))))
            .collect::<DfResult<Vec<_>>>()?;
        let aggs = partials
            .iter()
            .enumerate()
            .map(|(i, (f, arg))| Ok(f.call(to_branch(arg)?).alias(format!("__p{i}"))))
            .collect::<DfResult<Vec<_>>>()?;
        let partial = LogicalPlanBuilder::from(branch.as_ref().clone())
            .aggregate(groups, aggs)?
            .build()?;
        union_builder = Some(match union_builder {
            None => LogicalPlanBuilder::from(partial),
            Some(b) => b.union(partial)?,
        });
    }
    let Some(union_builder) = union_builder else {
        return Ok(None);
    };

    let ngroups = agg.group_expr.len();
    let final_groups = (0..ngroups)
        .map(|j| ucol(&format!("__g{j}")))
        .collect::<Vec<_>>();
    let final_aggs = finals
        .iter()
        .enumerate()
        .map(|(i, (f, input))| f.call(ucol(input)).alias(format!("__f{i}")))
        .collect::<Vec<_>>();
    let outputs = agg
        .schema
        .iter()
        .enumerate()
        .map(|(idx, (q, field))| {
            let e = match idx.checked_sub(ngroups).and_then(|k| outputs_of.get(k)) {
                None => ucol(&format!("__g{idx}")),
                Some(Output::One(f)) => ucol(&format!("__f{f}")),
                Some(Output::Ratio(s, c)) => {
                    cast(ucol(&format!("__f{s}")), DataType::Float64)
                        / cast(ucol(&format!("__f{c}")), DataType::Float64)
                }
            };
            cast(e, field.data_type().clone()).alias_qualified(q.cloned(), field.name())
        })
        .collect::<Vec<_>>();
    let final_agg = union_builder.aggregate(final_groups, final_aggs)?.build()?;
    // The aggregate's own schema, not one derived from `outputs`: a group key `CAST(u.k
    // AS …)` is named `u.k` unqualified beside the column `k` of `u`, which the schema
    // tells apart but a projection's name check does not.
    let plan =
        Projection::try_new_with_schema(outputs, Arc::new(final_agg), Arc::clone(&agg.schema))?;
    Ok(Some(LogicalPlan::Projection(plan)))
}
