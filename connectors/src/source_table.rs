//! A database table as DataFusion reads it: [`SourceTable`] wraps the table provider of
//! a database connector and makes each scan return exactly the schema the plan expects.
//!
//! Two things need it. A column a source stores as text but declares as another type
//! (SQLite's `DATE` and `TIMESTAMP`) is presented with its declared type and parsed as
//! it streams past, so a comparison with a date is never made on text; a filter on it is
//! never sent to the source, which would compare text, and [`SourceScanExec`] takes part
//! in no physical filter pushdown, so no optimizer moves it back below the parse. And a
//! scan that needs no column (`count(*)` over a subquery) reads one column and drops it,
//! keeping the row count, where the source would answer with a column the plan lacks.
//!
//! A database table also carries a [`SqlSource`], through which a whole `SELECT` (an
//! aggregate, [`crate::aggregate`]) can be run at the database instead of a scan.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
};
use datafusion::sql::unparser::dialect::Dialect;
use datafusion_table_providers::sql::db_connection_pool::DbConnectionPool;
use datafusion_table_providers::sql::sql_provider_datafusion::SqlExec;
use futures::StreamExt;

use crate::filters::{FilterRules, Pushdown};

/// A source table read as `typed`, whose columns are the source's, some of them text at
/// the source that holds dates or timestamps.
#[derive(Debug)]
pub struct SourceTable {
    source: Arc<dyn TableProvider>,
    typed: SchemaRef,
    /// Names of the columns that are text at the source and typed here.
    parsed: HashSet<String>,
    /// Which filters the source's SQL computes as DataFusion does.
    rules: FilterRules,
    /// The table, as error messages name it.
    what: String,
    /// Runs other SQL over the same table at the database.
    sql: Option<Arc<dyn SqlSource>>,
}

/// Runs one `SELECT`, written in the database's own dialect, at the database that holds
/// a [`SourceTable`].
pub trait SqlSource: Send + Sync + fmt::Debug {
    /// The table's name at the database.
    fn table(&self) -> &TableReference;

    /// The database's SQL dialect, for the unparser.
    fn dialect(&self) -> &(dyn Dialect + Send + Sync);

    /// A plan that sends `sql` to the database and yields its rows as `schema`.
    fn run(&self, sql: String, schema: &SchemaRef) -> Result<Arc<dyn ExecutionPlan>>;
}

/// A [`SqlSource`] over a `datafusion-table-providers` connection pool, the one its
/// table scans through.
pub struct PooledSql<T: 'static, P: 'static> {
    pool: Arc<dyn DbConnectionPool<T, P> + Send + Sync>,
    dialect: Arc<dyn Dialect + Send + Sync>,
    table: TableReference,
}

impl<T: 'static, P: 'static> PooledSql<T, P> {
    pub fn new(
        pool: Arc<dyn DbConnectionPool<T, P> + Send + Sync>,
        dialect: Arc<dyn Dialect + Send + Sync>,
        table: TableReference,
    ) -> Self {
        PooledSql {
            pool,
            dialect,
            table,
        }
    }
}

impl<T, P> fmt::Debug for PooledSql<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledSql")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl<T: 'static, P: 'static> SqlSource for PooledSql<T, P> {
    fn table(&self) -> &TableReference {
        &self.table
    }

    fn dialect(&self) -> &(dyn Dialect + Send + Sync) {
        self.dialect.as_ref()
    }

    fn run(&self, sql: String, schema: &SchemaRef) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(SqlExec::new(
            None,
            schema,
            Arc::clone(&self.pool),
            sql,
            Arc::clone(&self.dialect),
        )?))
    }
}

impl SourceTable {
    /// `source` read as its own schema, sent only the filters `rules` allow.
    pub fn new(source: Arc<dyn TableProvider>, rules: FilterRules, what: String) -> Self {
        let typed = source.schema();
        Self::typed(source, typed, rules, what)
    }

    /// `source` read as `typed`, which has the same column names in the same order.
    pub fn typed(
        source: Arc<dyn TableProvider>,
        typed: SchemaRef,
        rules: FilterRules,
        what: String,
    ) -> Self {
        let text = source.schema();
        let parsed = typed
            .fields()
            .iter()
            .zip(text.fields())
            .filter(|(t, s)| t.data_type() != s.data_type())
            .map(|(t, _)| t.name().clone())
            .collect();
        SourceTable {
            source,
            typed,
            parsed,
            rules,
            what,
            sql: None,
        }
    }

    /// This table, which can also run `sql`'s statements at its database.
    pub fn with_sql(mut self, sql: Arc<dyn SqlSource>) -> Self {
        self.sql = Some(sql);
        self
    }

    pub(crate) fn sql(&self) -> Option<&Arc<dyn SqlSource>> {
        self.sql.as_ref()
    }

    pub(crate) fn rules(&self) -> &FilterRules {
        &self.rules
    }

    pub(crate) fn what(&self) -> &str {
        &self.what
    }

    /// The source's own schema, in which parsed columns are still text.
    pub(crate) fn source_schema(&self) -> SchemaRef {
        self.source.schema()
    }

    /// The column `name`, with its type as DataFusion reads it, unless it is parsed here
    /// from the source's text.
    pub(crate) fn unparsed_type(&self, name: &str) -> Option<&DataType> {
        if self.parsed.contains(name) {
            return None;
        }
        self.typed.field_with_name(name).ok().map(|f| f.data_type())
    }

    /// Whether the source computes every one of `filters` exactly.
    pub(crate) fn settles(&self, filters: &[Expr]) -> Result<bool> {
        let judged = self.judge(&filters.iter().collect::<Vec<_>>())?;
        Ok(judged.iter().all(|p| *p == Pushdown::Exact))
    }

    /// How far each filter can be left to the source: what the rules allow, no more than
    /// the source itself claims, and nothing on a column parsed here.
    fn judge(&self, filters: &[&Expr]) -> Result<Vec<Pushdown>> {
        let mine: Vec<Pushdown> = filters
            .iter()
            .map(|f| {
                let parsed = f
                    .column_refs()
                    .iter()
                    .any(|c| self.parsed.contains(&c.name));
                if parsed {
                    Pushdown::No
                } else {
                    self.rules.judge(f, &self.typed)
                }
            })
            .collect();
        let asked: Vec<&Expr> = filters
            .iter()
            .zip(&mine)
            .filter(|(_, p)| **p != Pushdown::No)
            .map(|(f, _)| *f)
            .collect();
        let answers = self.source.supports_filters_pushdown(&asked)?;
        if answers.len() != asked.len() {
            return Err(DataFusionError::Internal(format!(
                "{}: the source answered for {} filters, not {}",
                self.what,
                answers.len(),
                asked.len()
            )));
        }
        let mut answers = answers.into_iter();
        Ok(mine
            .into_iter()
            .map(|p| {
                if p == Pushdown::No {
                    return Pushdown::No;
                }
                let theirs = match answers.next() {
                    Some(TableProviderFilterPushDown::Exact) => Pushdown::Exact,
                    Some(TableProviderFilterPushDown::Inexact) => Pushdown::Superset,
                    _ => Pushdown::No,
                };
                p.min(theirs)
            })
            .collect())
    }
}

#[async_trait]
impl TableProvider for SourceTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.typed)
    }

    fn table_type(&self) -> TableType {
        self.source.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(self
            .judge(filters)?
            .into_iter()
            .map(Pushdown::as_datafusion)
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let judged = self.judge(&filters.iter().collect::<Vec<_>>())?;
        let passed: Vec<Expr> = filters
            .iter()
            .zip(&judged)
            .filter(|(_, p)| **p != Pushdown::No)
            .map(|(f, _)| f.clone())
            .collect();
        // A filter the source does not settle exactly runs above this scan, so a row
        // limit at the source could cut rows that filter would keep.
        let limit = if judged.iter().all(|p| *p == Pushdown::Exact) {
            limit
        } else {
            None
        };
        let typed = match projection {
            Some(p) => Arc::new(self.typed.project(p)?),
            None => Arc::clone(&self.typed),
        };
        // A scan for no column still needs its rows counted: read the first column.
        let first = vec![0];
        let read = match projection {
            Some(p) if p.is_empty() && !self.typed.fields().is_empty() => Some(&first),
            other => other,
        };
        let input = self.source.scan(state, read, &passed, limit).await?;
        Ok(Arc::new(SourceScanExec::new(
            input,
            typed,
            self.what.clone(),
        )))
    }
}

/// Turns its input's batches into `schema`: text columns parsed into their declared
/// types, or, for a schema of no column, batches of no column with the input's row count.
pub struct SourceScanExec {
    input: Arc<dyn ExecutionPlan>,
    props: Arc<PlanProperties>,
    what: String,
}

impl SourceScanExec {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>, schema: SchemaRef, what: String) -> Self {
        let props = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            input.output_partitioning().clone(),
            input.pipeline_behavior(),
            input.boundedness(),
        ));
        SourceScanExec { input, props, what }
    }
}

impl fmt::Debug for SourceScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceScanExec")
            .field("what", &self.what)
            .finish()
    }
}

impl DisplayAs for SourceScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SourceScanExec: {}", self.what)
    }
}

impl ExecutionPlan for SourceScanExec {
    fn name(&self) -> &'static str {
        "SourceScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(SourceScanExec::new(
                input,
                Arc::clone(self.props.eq_properties.schema()),
                self.what.clone(),
            ))),
            _ => Err(DataFusionError::Internal(
                "SourceScanExec takes exactly one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let schema = Arc::clone(self.props.eq_properties.schema());
        let what = self.what.clone();
        let out = Arc::clone(&schema);
        let stream = self
            .input
            .execute(partition, context)?
            .map(move |batch| match batch {
                Ok(b) => parse(&b, &out, &what),
                // Name the database: the source's own error often does not.
                Err(e) => Err(e.context(format!("reading {what}"))),
            });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// `batch` with each column cast to `schema`'s type. A value that does not parse fails
/// the query naming the column and the type, never the value.
fn parse(batch: &RecordBatch, schema: &SchemaRef, what: &str) -> Result<RecordBatch> {
    if schema.fields().is_empty() {
        let rows = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        return Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            Vec::new(),
            &rows,
        )?);
    }
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| -> Result<ArrayRef> {
            if column.data_type() == field.data_type() {
                return Ok(Arc::clone(column));
            }
            cast_with_options(column, field.data_type(), &options).map_err(|_| {
                DataFusionError::Execution(format!(
                    "column `{}` of {what} holds text that is not a {}",
                    field.name(),
                    declared_name(field.data_type())
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

fn declared_name(t: &DataType) -> String {
    match t {
        DataType::Date32 => "DATE".into(),
        DataType::Timestamp(..) => "TIMESTAMP".into(),
        other => other.to_string(),
    }
}
