//! Moving expressions from a UNION's output onto one of its branches. A union's column
//! `i` is each branch's column `i`, so column references are rewritten by position.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;

/// Rewrite `expr`, written over `union_side` (the union's schema, or an alias of it),
/// into the same expression over `branch`.
pub fn onto_branch(expr: &Expr, union_side: &DFSchema, branch: &DFSchema) -> DfResult<Expr> {
    expr.clone()
        .transform(|x| match x {
            Expr::Column(c) => {
                let i = union_side.index_of_column(&c)?;
                let (q, f) = branch.qualified_field(i);
                Ok(Transformed::yes(Expr::Column(Column::new(
                    q.cloned(),
                    f.name(),
                ))))
            }
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
}
