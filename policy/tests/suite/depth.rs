//! No plan crashes the policy: deep expressions and deep plans are decided on a stack
//! the policy sizes itself, or refused with `Error::TooDeep` when deeper than it walks.
//! Each decision runs on a thread with a small stack, as a gateway worker's is.

use std::sync::Arc;

use datafusion::common::TableReference;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, col, lit};
use datafusion::prelude::SessionContext;
use sluice_policy::{Decided, Error, Policy};

use super::common::*;

/// Decide `plan` for bob on a thread with a 1 MiB stack; the plan comes back to be
/// dropped by the caller.
fn decide_on_small_stack(
    policy: Arc<Policy>,
    plan: LogicalPlan,
) -> (LogicalPlan, Result<Decided, Error>) {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let r = policy.decide(&plan, &req("sh_hf/bob", "statistics"));
            (plan, r)
        })
        .unwrap()
        .join()
        .unwrap()
}

/// Run `f` on a thread with a large stack and a runtime of its own: building and
/// dropping a plan 100,000 levels deep is DataFusion's business, not the policy's.
fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn loans_scan(ctx: &SessionContext) -> LogicalPlanBuilder {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let table = rt
        .block_on(ctx.table_provider(TableReference::partial(AGENCY, "loans")))
        .unwrap();
    LogicalPlanBuilder::scan(
        TableReference::full("sluice", AGENCY, "loans"),
        datafusion::datasource::provider_as_source(table),
        None,
    )
    .unwrap()
}

/// `loan_id = 2000000000 OR loan_id = 2000000001 OR …`, left-deep as a parser builds it.
fn or_chain(n: usize) -> Expr {
    let term = |i: usize| col("loan_id").eq(lit(2_000_000_000_i64 + i as i64));
    let mut e = term(0);
    for i in 1..n {
        e = e.or(term(i));
    }
    e
}

#[test]
fn a_two_thousand_term_or_is_decided_and_answered() {
    on_big_stack(|| {
        let w = world();
        let policy = Arc::new(w.policy);
        let plan = loans_scan(&w.ctx)
            .filter(or_chain(2_000))
            .unwrap()
            .aggregate(
                Vec::<Expr>::new(),
                vec![
                    datafusion::functions_aggregate::count::count_all(),
                    datafusion::functions_aggregate::sum::sum(col("amount")),
                ],
            )
            .unwrap()
            .build()
            .unwrap();
        let (_plan, decided) = decide_on_small_stack(policy, plan);
        let decided = decided.unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = rows(&rt.block_on(execute(&w.ctx, decided.plan)));
        // Loans 2000000001 to 2000000040 are all in the list.
        let sum: i64 = loans().iter().map(|l| l.amount).sum();
        assert_eq!(got, vec![vec!["40".to_string(), sum.to_string()]]);
    });
}

#[test]
fn a_hundred_thousand_term_or_is_refused_as_too_deep() {
    on_big_stack(|| {
        let w = world();
        let policy = Arc::new(w.policy);
        let plan = loans_scan(&w.ctx)
            .filter(or_chain(100_000))
            .unwrap()
            .project(vec![col("status")])
            .unwrap()
            .build()
            .unwrap();
        let (_plan, decided) = decide_on_small_stack(policy, plan);
        match decided {
            Err(
                e @ Error::TooDeep {
                    what: "expressions",
                    depth,
                    limit,
                },
            ) => {
                assert!(
                    depth > 100_000 && limit == sluice_policy::MAX_EXPR_DEPTH,
                    "{e}"
                );
                assert!(e.to_string().contains("IN (...)"), "{e}");
            }
            other => panic!(
                "expected TooDeep, got {:?}",
                other.map(|d| d.decision.explain())
            ),
        }
    });
}

#[test]
fn deep_plans_are_refused_and_moderately_deep_ones_decided() {
    on_big_stack(|| {
        let w = world();
        let policy = Arc::new(w.policy);
        let nested = |levels: usize| {
            let mut b = loans_scan(&w.ctx);
            for i in 0..levels {
                b = b
                    .filter(col("loan_id").gt(lit(i as i64)))
                    .unwrap()
                    .project(vec![col("loan_id"), col("status")])
                    .unwrap();
            }
            b.build().unwrap()
        };
        let (_p, d) = decide_on_small_stack(Arc::clone(&policy), nested(300));
        assert!(d.is_ok(), "{:?}", d.err());
        let (_p, d) = decide_on_small_stack(policy, nested(2_000));
        assert!(
            matches!(
                d,
                Err(Error::TooDeep {
                    what: "subqueries and plan nodes",
                    ..
                })
            ),
            "{:?}",
            d.map(|d| d.decision.explain())
        );
    });
}

#[test]
fn a_deep_sum_chain_under_an_aggregate_is_decided_with_its_uses() {
    on_big_stack(|| {
        let w = world();
        let policy = Arc::new(w.policy);
        // amount + 0 + 0 + … (3,000 deep): still a protected value, so refused in the
        // result and named; the walk does not overflow.
        let mut e = col("amount");
        for _ in 0..3_000 {
            e = e + lit(0_i64);
        }
        let plan = loans_scan(&w.ctx)
            .project(vec![e.alias("x")])
            .unwrap()
            .build()
            .unwrap();
        let (_p, d) = decide_on_small_stack(policy, plan);
        let r = match d {
            Err(Error::Refused(r)) => r,
            other => panic!("{:?}", other.map(|d| d.decision.explain())),
        };
        assert_eq!(refused_columns(&r), ["loans.amount"]);
    });
}
