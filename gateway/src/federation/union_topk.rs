//! Top-N across agencies: an `ORDER BY … LIMIT n` over a UNION ALL of several agencies'
//! datasets asks each branch for its own top n first, so each owner sends at most n rows
//! instead of all of them. The final sort and limit still run at home.

use std::sync::Arc;

use datafusion::common::DFSchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{LogicalPlan, Sort, SortExpr, SubqueryAlias, Union};

use super::branch::onto_branch;

/// Apply the rewrite everywhere it fits in `plan`.
pub fn push_top_n_through_union(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    plan.transform_down(|node| {
        let LogicalPlan::Sort(sort) = &node else {
            return Ok(Transformed::no(node));
        };
        match rewrite(sort)? {
            Some(new) => Ok(Transformed::yes(new)),
            None => Ok(Transformed::no(node)),
        }
    })
    .map(|t| t.data)
}

/// The rewritten sort, if `sort` has a fetch and a UNION ALL under it (aliases allowed).
fn rewrite(sort: &Sort) -> DfResult<Option<LogicalPlan>> {
    let Some(fetch) = sort.fetch else {
        return Ok(None);
    };
    // Sort keys name the columns of the sort's input; under aliases the union has the
    // same columns by position.
    let keys_schema: DFSchemaRef = Arc::clone(sort.input.schema());
    let mut aliases = Vec::new();
    let mut input = sort.input.as_ref();
    while let LogicalPlan::SubqueryAlias(a) = input {
        aliases.push(a.alias.clone());
        input = a.input.as_ref();
    }
    let LogicalPlan::Union(union) = input else {
        return Ok(None);
    };
    if union.inputs.len() < 2 || already_limited(union, fetch) {
        return Ok(None);
    }
    let mut inputs = Vec::with_capacity(union.inputs.len());
    for branch in &union.inputs {
        let branch_schema = branch.schema();
        // Sort keys name the union's columns; each branch has the same columns by position.
        let exprs = sort
            .expr
            .iter()
            .map(|s| {
                let e = onto_branch(&s.expr, &keys_schema, branch_schema)?;
                Ok(SortExpr::new(e, s.asc, s.nulls_first))
            })
            .collect::<DfResult<Vec<_>>>()?;
        inputs.push(Arc::new(LogicalPlan::Sort(Sort {
            expr: exprs,
            input: Arc::clone(branch),
            fetch: Some(fetch),
        })));
    }
    let mut new_input = LogicalPlan::Union(Union::try_new_with_loose_types(inputs)?);
    for alias in aliases.into_iter().rev() {
        new_input = LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(new_input), alias)?);
    }
    Ok(Some(LogicalPlan::Sort(Sort {
        expr: sort.expr.clone(),
        input: Arc::new(new_input),
        fetch: Some(fetch),
    })))
}

/// Whether every branch already carries this limit, so the rewrite is not applied twice.
fn already_limited(union: &Union, fetch: usize) -> bool {
    union
        .inputs
        .iter()
        .all(|b| matches!(b.as_ref(), LogicalPlan::Sort(s) if s.fetch.is_some_and(|f| f <= fetch)))
}
