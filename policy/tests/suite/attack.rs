//! The harness of the leak-class suites: an attack is SQL sent as `sh_hf/bob` (an
//! analyst, purpose `statistics`), and what it must come to: a refusal naming the
//! column it tried to learn, with the rule that refused it, or an answer in which no
//! protected value of a single row appears (checked against the raw data).

use std::collections::BTreeSet;

use arrow::array::RecordBatch;
use sluice_policy::{Error, Refusal};

use super::common::*;

/// What an attack must come to.
#[derive(Debug, Clone, Copy)]
pub enum Must {
    /// Refused, naming `dataset.column`, in a use whose description contains the text.
    Refuse(&'static str, &'static str),
    /// Refused for a reason that is not one column (a row filter, nesting, a value that
    /// may grow too long), with a message that contains the text.
    RefuseUnsupported(&'static str),
    /// Allowed, and no single loan's amount or employer, salary or contribution, and
    /// no filtered row, comes out.
    RevealNothing,
    /// Allowed, and nothing comes out.
    Empty,
}

/// One `#[tokio::test]` per attack: `name: sql => must;`.
macro_rules! attacks {
    ($($name:ident: $sql:expr => $must:expr;)+) => {
        /// Every attack of this module, by name, for the non-interference test.
        pub(super) fn all() -> Vec<(&'static str, String)> {
            vec![$((stringify!($name), ($sql).to_string()),)+]
        }
        $(
            #[tokio::test]
            async fn $name() {
                $crate::suite::attack::run_one(stringify!($name), &$sql, $must).await;
            }
        )+
    };
}

/// `n` copies of `v`, comma-separated: the arguments of a `concat` that grows.
pub fn copies(n: usize, v: &str) -> String {
    vec![v; n].join(", ")
}

/// Values that no answer may show: every single row's protected values.
fn forbidden() -> BTreeSet<String> {
    let mut out: BTreeSet<String> = loans().iter().map(|l| l.amount.to_string()).collect();
    out.extend(persons().iter().map(|p| p.salary.to_string()));
    out.extend(contributions().iter().map(|c| c.amount.to_string()));
    out
}

fn check_answer(name: &str, batches: &[RecordBatch]) -> Result<(), String> {
    let forbidden = forbidden();
    for cell in cells(batches) {
        if forbidden.contains(&cell) {
            return Err(format!("{name}: a single row's value came out: {cell}"));
        }
        for e in LOAN_EMPLOYERS.iter().chain(EMPLOYERS) {
            if cell.contains(e) {
                return Err(format!("{name}: an employer came out: {cell}"));
            }
        }
        if cell.contains("langfang") {
            return Err(format!("{name}: a filtered row came out: {cell}"));
        }
    }
    Ok(())
}

fn check_refusal(r: &Refusal, column: &str, usage: &str) -> Result<(), String> {
    let hit = r
        .violations
        .iter()
        .find(|v| format!("{}.{}", v.dataset, v.column) == column && v.usage.contains(usage));
    match hit {
        Some(v) if v.rule.is_some() || v.granted == sluice_policy::Level::Deny => Ok(()),
        Some(v) => Err(format!("refusal names {column} but no rule: {v}")),
        None => Err(format!(
            "refused, but not {column} in a use containing {usage:?}: {r}"
        )),
    }
}

/// Run one attack; fail with what got through.
pub async fn run_one(name: &str, sql: &str, must: Must) {
    let w = world();
    if let Err(e) = outcome(&w, name, sql, must).await {
        panic!("{name} got through: {e}\n    {sql}");
    }
}

/// Whether `sql` comes to `must` in world `w`.
pub async fn outcome(w: &World, name: &str, sql: &str, must: Must) -> Result<(), String> {
    let plan = w
        .ctx
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(|e| format!("does not plan: {e}"))?;
    let decided = w.policy.decide(&plan, &req("sh_hf/bob", "statistics"));
    match (decided, must) {
        (Err(Error::Refused(r)), Must::Refuse(col, usage)) => check_refusal(&r, col, usage),
        (Err(Error::Unsupported(m)), Must::RefuseUnsupported(text)) if m.contains(text) => Ok(()),
        (Err(e @ Error::TooLong(_)), Must::RefuseUnsupported(text))
            if e.to_string().contains(text) =>
        {
            Ok(())
        }
        (Err(e), must) => Err(format!("expected {must:?}, got error: {e}")),
        (Ok(d), Must::Refuse(..) | Must::RefuseUnsupported(_)) => {
            let got = match w.ctx.execute_logical_plan(d.plan.clone()).await {
                Ok(df) => df
                    .collect()
                    .await
                    .map(|b| rows(&b))
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            Err(format!("expected {must:?}, allowed; it answers {got:?}"))
        }
        (Ok(d), must) => {
            let df = w
                .ctx
                .execute_logical_plan(d.plan.clone())
                .await
                .map_err(|e| format!("the allowed plan fails to plan: {e}"))?;
            let b = df
                .collect()
                .await
                .map_err(|e| format!("the allowed plan fails: {e}"))?;
            check_answer(name, &b)?;
            if matches!(must, Must::Empty) && b.iter().any(|b| b.num_rows() > 0) {
                return Err(format!("expected no rows, got {:?}", rows(&b)));
            }
            Ok(())
        }
    }
}

/// Run a binary search for one value in `lo..hi` as an attacker would, and assert that
/// the policy answers none of its probes. `probe(t)` asks whether the value is below
/// `t`, and `below` reads the answer: the result, or `None` where the query failed.
pub async fn assert_walk_stops_at_its_first_probe(
    (mut lo, mut hi): (i64, i64),
    probe: impl Fn(i64) -> String,
    below: impl Fn(Option<&[RecordBatch]>) -> bool,
) {
    let w = world();
    let mut answered = 0;
    while hi - lo > 1 {
        let t = (lo + hi) / 2;
        let plan = w.plan(&probe(t)).await;
        let Ok(d) = w.policy.decide(&plan, &req("sh_hf/bob", "statistics")) else {
            break;
        };
        answered += 1;
        let answer = match w.ctx.execute_logical_plan(d.plan).await {
            Ok(df) => df.collect().await.ok(),
            Err(_) => None,
        };
        if below(answer.as_deref()) {
            hi = t;
        } else {
            lo = t;
        }
    }
    assert_eq!(
        answered, 0,
        "the walk got {answered} answers, narrowing to {lo}..{hi}"
    );
}
