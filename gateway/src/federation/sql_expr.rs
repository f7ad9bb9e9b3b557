//! Which expressions the unparser writes as SQL of the same meaning, and rewrites of
//! those it would write wrongly: shared by the pushdown and the remote table scans.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

/// Whether the unparser writes `expr` as SQL with the same meaning (see `pushdown::can_push`).
pub(crate) fn expr_can_push(expr: &Expr) -> bool {
    !expr
        .exists(|x| {
            Ok(match x {
                Expr::ScalarSubquery(_)
                | Expr::Exists(_)
                | Expr::InSubquery(_)
                | Expr::SetComparison(_)
                | Expr::OuterReferenceColumn(..)
                | Expr::Placeholder(_) => true,
                Expr::SimilarTo(like) => like.escape_char.is_some(),
                Expr::AggregateFunction(f) => {
                    !f.params.order_by.is_empty() || f.params.null_treatment.is_some()
                }
                Expr::WindowFunction(w) => w.params.null_treatment.is_some(),
                _ => false,
            })
        })
        .unwrap_or(false)
}

/// DataFusion evaluates `x SIMILAR TO p` as the regular-expression match `x ~ p` (see
/// `datafusion_physical_expr::expressions::similar_to`), but the unparser writes it as
/// `x LIKE p`. The owner, DataFusion too, evaluates `~` the same way.
pub(crate) fn normalize_expr_for_sql(expr: Expr) -> DfResult<Transformed<Expr>> {
    expr.transform(|x| match x {
        Expr::SimilarTo(like) if like.escape_char.is_none() => {
            let op = match (like.negated, like.case_insensitive) {
                (false, false) => Operator::RegexMatch,
                (false, true) => Operator::RegexIMatch,
                (true, false) => Operator::RegexNotMatch,
                (true, true) => Operator::RegexNotIMatch,
            };
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                like.expr,
                op,
                like.pattern,
            ))))
        }
        other => Ok(Transformed::no(other)),
    })
}
