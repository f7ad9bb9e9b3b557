//! How deep and how large the analysis lets a plan be, measured without recursion.
//! Cloning, dropping, printing and comparing DataFusion expressions recurse once per
//! level with no guard, so a query nested deeper than [`MAX_EXPR_DEPTH`] is refused
//! ([`Error::TooDeep`]) before any of that happens, and a deep but allowed one is
//! analysed on a stack sized for its depth. A plan shares a CTE's subtree wherever the
//! CTE is used, and every walk visits each use, so a plan of more than
//! [`MAX_PLAN_NODES`] nodes counted that way is refused too ([`Error::TooLarge`]).

use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};

use crate::error::{Error, Result};

/// Deepest expression the analysis accepts. A left-deep chain of n `AND`, `OR` or `+`
/// terms nests n deep; 10,000 covers ordinary generated SQL (lists of a few thousand
/// ids) with room to spare.
pub const MAX_EXPR_DEPTH: usize = 10_000;

/// Deepest plan (nodes, subqueries included) the analysis accepts.
pub const MAX_PLAN_DEPTH: usize = 1_000;

/// Most plan nodes (subqueries included, a CTE's counted at each use) the analysis
/// walks. Each walk is linear in them, and a decision walks a plan a few times.
pub const MAX_PLAN_NODES: usize = 20_000;

/// Plans no deeper than this are analysed on the caller's stack.
const SHALLOW: usize = 64;

/// Stack per level of nesting for the unguarded walks, with room for the rest.
const STACK_PER_LEVEL: usize = 2 * 1024;
const STACK_BASE: usize = 4 * 1024 * 1024;

/// How deep a plan nests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Depth {
    /// The deepest expression, in expression nodes.
    pub expr: usize,
    /// The deepest chain of plan nodes, subqueries included.
    pub plan: usize,
    /// Plan nodes, subqueries included, up to one more than [`MAX_PLAN_NODES`]: the
    /// walk stops there.
    pub nodes: usize,
}

impl Depth {
    /// Refuse what nests deeper than the limits.
    pub fn check(self) -> Result<Self> {
        if self.expr > MAX_EXPR_DEPTH {
            return Err(Error::TooDeep {
                what: "expressions",
                depth: self.expr,
                limit: MAX_EXPR_DEPTH,
            });
        }
        if self.plan > MAX_PLAN_DEPTH {
            return Err(Error::TooDeep {
                what: "subqueries and plan nodes",
                depth: self.plan,
                limit: MAX_PLAN_DEPTH,
            });
        }
        if self.nodes > MAX_PLAN_NODES {
            return Err(Error::TooLarge {
                limit: MAX_PLAN_NODES,
            });
        }
        Ok(self)
    }

    /// Run `f` on a stack deep enough for plans of this depth.
    pub fn on_stack<T>(self, f: impl FnOnce() -> T) -> T {
        let levels = self.expr.max(self.plan);
        if levels <= SHALLOW {
            return f();
        }
        stacker::grow(STACK_BASE + levels * STACK_PER_LEVEL, f)
    }
}

/// The depth of `plan`, walked with explicit stacks.
pub(crate) fn measure(plan: &LogicalPlan) -> Depth {
    let mut depth = Depth::default();
    let mut plans: Vec<(Arc<LogicalPlan>, usize)> = Vec::new();
    measure_plan(plan, 1, &mut depth, &mut plans);
    while let Some((p, d)) = plans.pop() {
        if depth.nodes > MAX_PLAN_NODES {
            break;
        }
        measure_plan(&p, d, &mut depth, &mut plans);
    }
    depth
}

/// One plan tree; subqueries are queued on `more`.
fn measure_plan(
    plan: &LogicalPlan,
    at: usize,
    depth: &mut Depth,
    more: &mut Vec<(Arc<LogicalPlan>, usize)>,
) {
    let mut stack: Vec<(&LogicalPlan, usize)> = vec![(plan, at)];
    while let Some((node, d)) = stack.pop() {
        depth.nodes += 1;
        if depth.nodes > MAX_PLAN_NODES {
            return;
        }
        depth.plan = depth.plan.max(d);
        let _ = node.apply_expressions(|e| {
            let (deepest, subqueries) = measure_expr(e);
            depth.expr = depth.expr.max(deepest);
            more.extend(subqueries.into_iter().map(|s| (s, d + 1)));
            Ok(TreeNodeRecursion::Continue)
        });
        for child in node.inputs() {
            stack.push((child, d + 1));
        }
    }
}

/// The depth of `e`, and the plans of the subqueries in it.
fn measure_expr(e: &Expr) -> (usize, Vec<Arc<LogicalPlan>>) {
    let mut deepest = 0;
    let mut subqueries = Vec::new();
    let mut stack: Vec<(&Expr, usize)> = vec![(e, 1)];
    while let Some((x, d)) = stack.pop() {
        deepest = deepest.max(d);
        match x {
            Expr::ScalarSubquery(s) => subqueries.push(Arc::clone(&s.subquery)),
            Expr::Exists(s) => subqueries.push(Arc::clone(&s.subquery.subquery)),
            Expr::InSubquery(s) => subqueries.push(Arc::clone(&s.subquery.subquery)),
            Expr::SetComparison(s) => subqueries.push(Arc::clone(&s.subquery.subquery)),
            _ => {}
        }
        let _ = x.apply_children(|c| {
            stack.push((c, d + 1));
            Ok(TreeNodeRecursion::Continue)
        });
    }
    (deepest, subqueries)
}
