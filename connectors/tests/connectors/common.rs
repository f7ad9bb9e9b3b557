//! Helpers shared by the connector tests.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::catalog::TableProvider;
use datafusion::physical_plan::{collect, displayable};
use datafusion::prelude::SessionContext;
use futures::FutureExt;
use sluice_connectors::aggregate::push_aggregates;

pub const POSTGRES_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";
pub const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// A table name no other test (or earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a query over a provider returned, and the physical plan that ran it.
pub struct Output {
    pub batches: Vec<RecordBatch>,
    /// `pretty_format_batches` of the result.
    pub table: String,
    /// The indented physical plan.
    pub plan: String,
}

impl Output {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The SQL that the plan's scan node sends to the database (`… sql=<SQL>`).
    pub fn pushed_sql(&self) -> String {
        let line = self
            .plan
            .lines()
            .find(|l| l.contains("sql="))
            .unwrap_or_else(|| panic!("no SQL scan in plan:\n{}", self.plan));
        line.split_once("sql=").unwrap().1.trim().to_owned()
    }
}

/// Register `provider` as `t` and run `sql` against it, with aggregates handed to the
/// database as an owning gateway hands them.
pub async fn run(provider: Arc<dyn TableProvider>, sql: &str) -> Output {
    let ctx = SessionContext::new();
    ctx.register_table("t", provider).unwrap();
    let df = ctx.sql(sql).await.unwrap();
    let state = ctx.state();
    let logical = push_aggregates(state.optimize(df.logical_plan()).unwrap()).unwrap();
    let plan = state.create_physical_plan(&logical).await.unwrap();
    let plan_text = displayable(plan.as_ref()).indent(true).to_string();
    let batches = collect(plan, ctx.task_ctx())
        .await
        .unwrap_or_else(|e| panic!("{sql} failed: {e}\nplan:\n{plan_text}"));
    let table = pretty_format_batches(&batches).unwrap().to_string();
    Output {
        batches,
        table,
        plan: plan_text,
    }
}

/// Queries that read no column of `t`, a table of 20 rows with a column `b` holding
/// 1 to 20, count its rows right: the scan reads one column and drops it.
pub async fn assert_counts_without_columns(provider: Arc<dyn TableProvider>) {
    for (sql, n) in [
        ("SELECT count(*) AS n FROM (SELECT * FROM t LIMIT 7) s", 7),
        ("SELECT count(*) AS n FROM t WHERE b > 5", 15),
        ("SELECT count(*) AS n FROM t x CROSS JOIN t y", 400),
        (
            "SELECT count(1) AS n FROM (SELECT b FROM t ORDER BY b LIMIT 3 OFFSET 18) s",
            2,
        ),
    ] {
        let out = run(Arc::clone(&provider), sql).await;
        let counted = out.batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .map(|c| c.value(0));
        assert_eq!(counted, Some(n), "{sql}\n{}\n{}", out.table, out.plan);
    }
}

/// Assert two pretty-printed tables are equal, ignoring surrounding whitespace.
#[track_caller]
pub fn assert_table(actual: &Output, expected: &str) {
    assert_eq!(
        actual.table.trim(),
        expected.trim(),
        "\nactual:\n{}\nexpected:\n{}\nplan:\n{}",
        actual.table,
        expected.trim(),
        actual.plan
    );
}

/// Run `body`, then `cleanup` even if `body` panicked, then re-raise the panic.
pub async fn with_cleanup<B, C>(body: B, cleanup: C)
where
    B: Future<Output = ()>,
    C: Future<Output = ()>,
{
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    cleanup.await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Assert the `SELECT` list of `sql` names exactly `columns` (quoted any way), i.e. that
/// the projection was narrowed.
#[track_caller]
pub fn assert_select_list(sql: &str, columns: &[&str]) {
    let upper = sql.to_uppercase();
    let start = upper.find("SELECT ").unwrap() + "SELECT ".len();
    let end = upper.find(" FROM ").unwrap();
    let list: Vec<String> = sql[start..end]
        .split(',')
        .map(|c| {
            // `"t"."a"` / `` `t`.`a` `` / `a` → `a`
            let last = c.trim().rsplit('.').next().unwrap_or_default();
            last.trim_matches(|ch| ch == '"' || ch == '`').to_owned()
        })
        .collect();
    assert_eq!(list, columns, "select list of pushed SQL: {sql}");
}
