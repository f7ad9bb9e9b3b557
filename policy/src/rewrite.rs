//! The plan rewrites, each a small function with a name like an optimizer rule:
//!
//! - [`MASK_SCAN`]: directly above a table scan, a filter with the row filters (it sees
//!   raw values), then a projection that masks `masked` columns and replaces denied
//!   columns by typed nulls, keeping every field's name and qualifier. Nothing above the
//!   scan ever sees a raw masked value, so no filter, join, sort or grouping can probe it.
//!   Where the dataset declares a subject key, the projection also carries that key
//!   under a hidden name ([`subject_column`]) up to the groupings that need it.
//! - [`SUPPRESS_SMALL_GROUPS`]: above an aggregate that releases aggregate-level data,
//!   `HAVING count(*) >= k` (and `count(DISTINCT subject) >= k` for each released
//!   dataset with a subject key), then a projection back to the aggregate's own schema.
//!
//! A failed rewrite refuses the query; it never falls back to the plan before rewriting.

use std::sync::Arc;

use datafusion::common::{Column, ScalarValue};
use datafusion::functions_aggregate::count::{count_all, count_distinct};
use datafusion::logical_expr::{
    Aggregate, Expr, Filter, Limit, LogicalPlan, Projection, ScalarUDF, TableScan, lit,
};

use crate::error::{Error, Result};

/// Name of the scan rewrite.
pub const MASK_SCAN: &str = "mask_scan";
/// Name of the small-group suppression rewrite.
pub const SUPPRESS_SMALL_GROUPS: &str = "suppress_small_groups";
/// Names starting with this are the policy's own columns; datasets may not use them.
pub const RESERVED_PREFIX: &str = "__sluice";
/// The column the suppression counts a group's rows into.
pub const GROUP_ROWS: &str = "__sluice_group_rows";
/// The columns the suppression counts a group's distinct subjects into, one per
/// subject key, numbered from 0.
pub const GROUP_SUBJECTS: &str = "__sluice_group_subjects";

/// The hidden column that carries scan `scan`'s subject key up the plan.
pub fn subject_column(scan: usize) -> String {
    format!("{RESERVED_PREFIX}_subject_{scan}")
}

/// What the scan projection does with one column.
#[derive(Debug, Clone)]
pub(crate) enum ScanColumn {
    /// Pass the raw value (plain, and aggregate/join, which lineage analysis guards).
    Keep,
    /// Apply this mask UDF.
    Mask(Arc<ScalarUDF>),
    /// Replace by a typed null (denied columns: defence in depth behind the analysis).
    Null,
}

fn rule_err(rule: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("rewrite {rule}: {e}"))
}

/// Rewrite one scan: row filters, then masks; a pushed-down filter or limit the scan
/// carried is moved above the masks so that it too sees only masked values. With
/// `subject` = `(key column, hidden name)`, the projection ends with the raw key under
/// the hidden name.
pub(crate) fn mask_scan(
    scan: &TableScan,
    columns: &[ScanColumn],
    row_filter: Option<Expr>,
    subject: Option<(&str, &str)>,
) -> Result<LogicalPlan> {
    let err = |e: datafusion::error::DataFusionError| rule_err(MASK_SCAN, e);
    let fields: Vec<_> = scan.projected_schema.iter().collect();
    if fields.len() != columns.len() {
        return Err(rule_err(MASK_SCAN, "column count mismatch"));
    }
    let mut bare = scan.clone();
    bare.filters = Vec::new();
    bare.fetch = None;
    let subject_missing = subject.is_some_and(|(key, _)| {
        scan.projected_schema
            .index_of_column_by_name(None, key)
            .is_none()
    });
    if (row_filter.is_some() || subject_missing) && bare.projection.is_some() {
        // The row filter or the subject key may need columns the query does not read.
        bare.projection = None;
        bare.projected_schema = Arc::new(
            datafusion::common::DFSchema::try_from_qualified_schema(
                scan.table_name.clone(),
                &bare.source.schema(),
            )
            .map_err(err)?,
        );
    }
    let mut plan = LogicalPlan::TableScan(bare);
    if let Some(pred) = row_filter {
        plan = LogicalPlan::Filter(Filter::try_new(pred, Arc::new(plan)).map_err(err)?);
    }
    let mut exprs = Vec::with_capacity(columns.len());
    for ((qualifier, field), what) in fields.into_iter().zip(columns) {
        let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
        exprs.push(match what {
            ScanColumn::Keep => column,
            ScanColumn::Mask(udf) => udf
                .call(vec![column])
                .alias_qualified(qualifier.cloned(), field.name()),
            ScanColumn::Null => {
                Expr::Literal(ScalarValue::try_from(field.data_type()).map_err(err)?, None)
                    .alias_qualified(qualifier.cloned(), field.name())
            }
        });
    }
    if let Some((key, hidden)) = subject {
        let q = Some(scan.table_name.clone());
        exprs.push(Expr::Column(Column::new(q.clone(), key)).alias_qualified(q, hidden));
    }
    plan = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(plan)).map_err(err)?);
    if let Some(pred) = datafusion::logical_expr::utils::conjunction(scan.filters.clone()) {
        plan = LogicalPlan::Filter(Filter::try_new(pred, Arc::new(plan)).map_err(err)?);
    }
    if let Some(n) = scan.fetch {
        plan = LogicalPlan::Limit(Limit {
            skip: None,
            fetch: Some(Box::new(lit(n as i64))),
            input: Arc::new(plan),
        });
    }
    Ok(plan)
}

/// Wrap `aggregate` so that only groups of at least `k` input rows, and of at least `k`
/// distinct values of each of `subjects` (columns of the aggregate's input), come out.
/// The result has the aggregate's schema, field for field.
pub(crate) fn suppress_small_groups(
    aggregate: &Aggregate,
    k: u32,
    subjects: &[Column],
) -> Result<LogicalPlan> {
    let err = |e: datafusion::error::DataFusionError| rule_err(SUPPRESS_SMALL_GROUPS, e);
    let mut aggr_expr = aggregate.aggr_expr.clone();
    aggr_expr.push(count_all().alias(GROUP_ROWS));
    let mut having = Expr::Column(Column::new_unqualified(GROUP_ROWS)).gt_eq(lit(i64::from(k)));
    for (i, subject) in subjects.iter().enumerate() {
        let name = format!("{GROUP_SUBJECTS}_{i}");
        aggr_expr.push(count_distinct(Expr::Column(subject.clone())).alias(&name));
        having = having.and(Expr::Column(Column::new_unqualified(name)).gt_eq(lit(i64::from(k))));
    }
    let counted = Aggregate::try_new(
        Arc::clone(&aggregate.input),
        aggregate.group_expr.clone(),
        aggr_expr,
    )
    .map_err(err)?;
    let filtered =
        Filter::try_new(having, Arc::new(LogicalPlan::Aggregate(counted))).map_err(err)?;
    let exprs = aggregate
        .schema
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect();
    let plan = Projection::try_new(exprs, Arc::new(LogicalPlan::Filter(filtered))).map_err(err)?;
    Ok(LogicalPlan::Projection(plan))
}
