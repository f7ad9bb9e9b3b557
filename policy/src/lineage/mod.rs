//! Lineage analysis of a whole logical plan, and the driver that applies the rewrites.
//!
//! One bottom-up pass follows every dataset column through projections, aliases,
//! subqueries (including correlated ones and `EXISTS`/`IN`), CTEs, unions, joins,
//! windows and expressions, and records each *use* of a protected column (`aggregate`,
//! `join` or `deny`) against the level that use needs:
//!
//! | use                                                    | needs       |
//! |--------------------------------------------------------|-------------|
//! | reaches the result, a row-level filter/sort/join condition, GROUP BY, a window, DISTINCT ON, a sort that a LIMIT cuts | `plain` |
//! | argument of COUNT/SUM/AVG/MIN/MAX, or a filter/comparison below such an aggregate | `aggregate` |
//! | equality join key against another dataset column       | `join`      |
//!
//! An aggregate that releases aggregate-level data gets `HAVING count(*) >= k` (and a
//! count of distinct subjects where the dataset declares a subject key). Its input must
//! not repeat the rows of the scans it releases, and its arguments must not mix an
//! aggregate-level column with other per-row data ([`aggregate`]). A join repeats a
//! side's rows unless the other side is matched on its declared unique key ([`join`]).
//! Operations that can fail at run time ([`total`]) are refused wherever protected data
//! decides their input, the branch that reaches them, or the rows they see.

mod aggregate;
mod join;
pub(crate) mod total;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, DFSchemaRef, TableReference};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    BinaryExpr, Distinct, Expr, ExprSchemable, LogicalPlan, Operator, Partitioning, Projection,
    ScalarUDF, Subquery, TableScan,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;

use crate::config::PolicyConfig;
use crate::decision::{AppliedFilter, ColumnDecision, Decided, Decision, RuleRef, Suppression};
use crate::error::{Error, Refusal, Result, Violation};
use crate::grant::Grants;
use crate::level::{Level, Need};
use crate::mask::{self, MaskContext, MaskUdf};
use crate::request::Request;
use crate::rewrite::{ScanColumn, mask_scan, subject_column, suppress_small_groups};

type SrcId = usize;
type ScanId = usize;

/// One column of one scan.
#[derive(Debug)]
struct Src {
    scan: ScanId,
    dataset: String,
    column: String,
    level: Level,
    rule: Option<RuleRef>,
    referenced: bool,
}

/// Where a value comes from.
#[derive(Debug, Clone, Default)]
struct Flow {
    /// Every dataset column whose row value flows into this value.
    srcs: BTreeSet<SrcId>,
    /// It also depends on per-row data that is not a dataset column (VALUES, aggregated
    /// results, window results, subquery results, a constant an outer join pads with
    /// NULL where it found no match).
    other: bool,
    /// It is exactly this column (through aliases and injective casts).
    origin: Option<SrcId>,
    /// Protected columns whose aggregates flow into this value. Released, so they may
    /// reach the result; but no operation that can fail may see them, because a filter
    /// on them can be evaluated before small groups are suppressed.
    aggregated: BTreeSet<SrcId>,
    /// It is computed from per-row data by more than exact arithmetic (see
    /// [`total::arithmetic`]): by a condition, a comparison, a function, a subquery, a
    /// step such as integer division or float rounding. Inside an aggregate such a
    /// value can pick rows out of their group as a FILTER does
    /// (`SUM(CASE WHEN amount > t THEN amount END)`, `SUM((id - x + 2) / 2 - (id - x + 1) / 2)`).
    nonlinear: bool,
    /// It went through integer or decimal `+`, `-`, negation or `*` by a constant.
    /// Integers wrap at the type's limits (`id * 2^63` keeps only the parity), and a
    /// value shifted far rounds when cast to a float. Exact only for an integer SUM,
    /// which wraps the same way, and for COUNT.
    shifted: bool,
    /// The power of two by which float `*` and `/` by constants have scaled it so far,
    /// in steps of [`total::SCALE_STEPS`] to a power (kept within [`total::MAX_SCALE`]
    /// either way: beyond, values overflow or vanish).
    scale: i32,
    /// It reads a column of an enclosing query.
    outer: bool,
}

impl Flow {
    fn opaque() -> Flow {
        Flow {
            other: true,
            nonlinear: true,
            ..Flow::default()
        }
    }

    fn merge(&mut self, o: &Flow) {
        self.srcs.extend(o.srcs.iter().copied());
        self.aggregated.extend(o.aggregated.iter().copied());
        self.other |= o.other;
        self.nonlinear |= o.nonlinear;
        self.shifted |= o.shifted;
        if o.scale.abs() > self.scale.abs() {
            self.scale = o.scale;
        }
        self.outer |= o.outer;
        self.origin = None;
    }

    /// Whether the value varies from row to row.
    fn per_row(&self) -> bool {
        !self.srcs.is_empty() || self.other
    }
}

/// What the analysis knows about one plan node's output.
#[derive(Debug, Clone, Default)]
struct Info {
    /// Per output field.
    cols: Vec<Flow>,
    /// Protected columns that decided which rows exist, with the use.
    rows: BTreeMap<SrcId, String>,
    /// Protected columns that decided the order of the rows, with the use.
    order: BTreeMap<SrcId, String>,
    /// Scans whose rows make up this node's rows.
    scans: BTreeSet<ScanId>,
    /// Scans whose rows may appear more than once.
    dup: BTreeSet<ScanId>,
    /// Hidden columns carrying a scan's subject key: (scan, index into `cols`).
    subjects: Vec<(ScanId, usize)>,
    /// The first operation in this subtree that can fail at run time.
    fallible: Option<String>,
    /// These rows were chosen by a condition on a column of an enclosing query that is
    /// not an equality with it: each outer row gets a different set, not a partition.
    correlated: bool,
}

impl Info {
    fn is_hidden(&self, i: usize) -> bool {
        self.subjects.iter().any(|&(_, j)| j == i)
    }
}

/// Columns visible to an expression: its node's inputs, then enclosing queries.
struct Scope<'a> {
    frames: Vec<(&'a DFSchema, &'a [Flow])>,
    /// The inputs' schemas joined, for the types of expressions over several inputs.
    joined: Option<DFSchemaRef>,
    parent: Option<&'a Scope<'a>>,
}

impl<'a> Scope<'a> {
    fn new(frames: Vec<(&'a DFSchema, &'a [Flow])>, parent: Option<&'a Scope<'a>>) -> Self {
        Scope {
            frames,
            joined: None,
            parent,
        }
    }

    fn local(&self, c: &Column) -> Option<&Flow> {
        for (schema, flows) in &self.frames {
            if let Some(i) = schema.maybe_index_of_column(c) {
                return flows.get(i);
            }
        }
        None
    }

    fn outer(&self, c: &Column) -> Option<&Flow> {
        let mut p = self.parent;
        while let Some(s) = p {
            if let Some(f) = s.local(c) {
                return Some(f);
            }
            p = s.parent;
        }
        None
    }
}

impl total::Types for Scope<'_> {
    fn type_of(&self, e: &Expr) -> Option<DataType> {
        if let Some(j) = &self.joined
            && let Ok(t) = e.get_type(j.as_ref())
        {
            return Some(t);
        }
        self.frames
            .iter()
            .find_map(|(schema, _)| e.get_type(*schema).ok())
    }
}

/// One conjunct of a predicate, as flows.
enum Conjunct {
    /// `left = right`.
    Eq(Flow, Flow),
    /// Anything else.
    Other(Flow),
}

/// One decision in progress.
pub(crate) struct Analyzer<'p> {
    config: &'p PolicyConfig,
    grants: &'p Grants,
    digest: &'p str,
    request: &'p Request,
    subjects: Vec<String>,
    purpose: String,
    mask_ctx: MaskContext,
    udfs: HashMap<String, Arc<ScalarUDF>>,
    srcs: Vec<Src>,
    scan_datasets: Vec<String>,
    violations: Vec<(SrcId, Need, String)>,
    suppressions: Vec<Suppression>,
    filters: Vec<AppliedFilter>,
    subqueries: HashMap<usize, Info>,
    /// Every protected column that decides which rows exist, or which groups a filter
    /// keeps, anywhere in the plan: the rows an operation that can fail sees.
    gates: BTreeMap<SrcId, String>,
    /// Every operation in the plan that can fail at run time, in plan order.
    fallible: Vec<String>,
    /// The operations that can fail in the expression being analysed.
    expr_ops: Vec<String>,
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

fn strip_alias(e: &Expr) -> &Expr {
    let mut e = e;
    while let Expr::Alias(a) = e {
        e = &a.expr;
    }
    e
}

/// A plan node's kind, for messages. Never the node's `Display`, which prints its
/// expressions and recurses as deep as they nest.
fn node_name(plan: &LogicalPlan) -> &'static str {
    match plan {
        LogicalPlan::Projection(_) => "Projection",
        LogicalPlan::Filter(_) => "Filter",
        LogicalPlan::Window(_) => "Window",
        LogicalPlan::Aggregate(_) => "Aggregate",
        LogicalPlan::Sort(_) => "Sort",
        LogicalPlan::Join(_) => "Join",
        LogicalPlan::Repartition(_) => "Repartition",
        LogicalPlan::Union(_) => "Union",
        LogicalPlan::TableScan(_) => "TableScan",
        LogicalPlan::EmptyRelation(_) => "EmptyRelation",
        LogicalPlan::Subquery(_) => "Subquery",
        LogicalPlan::SubqueryAlias(_) => "SubqueryAlias",
        LogicalPlan::Limit(_) => "Limit",
        LogicalPlan::Statement(_) => "a statement",
        LogicalPlan::Values(_) => "Values",
        LogicalPlan::Explain(_) => "EXPLAIN",
        LogicalPlan::Analyze(_) => "EXPLAIN ANALYZE",
        LogicalPlan::Extension(_) => "an extension node",
        LogicalPlan::Distinct(_) => "Distinct",
        LogicalPlan::Dml(_) => "DML",
        LogicalPlan::Ddl(_) => "DDL",
        LogicalPlan::Copy(_) => "COPY",
        LogicalPlan::DescribeTable(_) => "DESCRIBE",
        LogicalPlan::Unnest(_) => "UNNEST",
        LogicalPlan::RecursiveQuery(_) => "a recursive query",
    }
}

/// `plan` over new inputs. DataFusion's `with_new_exprs` panics on DISTINCT ON with an
/// ORDER BY (it does not take the sort expressions it hands out), so that node is
/// rebuilt by hand.
pub(crate) fn with_new_inputs(plan: &LogicalPlan, inputs: Vec<LogicalPlan>) -> Result<LogicalPlan> {
    if let LogicalPlan::Distinct(Distinct::On(on)) = plan {
        let [input] = <[LogicalPlan; 1]>::try_from(inputs)
            .map_err(|_| internal("DISTINCT ON without one input"))?;
        let rebuilt = datafusion::logical_expr::DistinctOn::try_new(
            on.on_expr.clone(),
            on.select_expr.clone(),
            on.sort_expr.clone(),
            Arc::new(input),
        )
        .map_err(internal)?;
        return Ok(LogicalPlan::Distinct(Distinct::On(rebuilt)));
    }
    plan.with_new_exprs(plan.expressions(), inputs)
        .map_err(internal)
}

/// Refuse a query that names a column or alias the way the policy names its own hidden
/// columns: the suppression's `HAVING` and the subject counts find theirs by name, and
/// must never find one the query made.
fn reserved_names(plan: &LogicalPlan) -> Result<()> {
    let mut found: Option<String> = None;
    plan.apply_with_subqueries(|node| {
        if let Some(f) = node.schema().fields().iter().find(|f| {
            f.name()
                .get(..crate::rewrite::RESERVED_PREFIX.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(crate::rewrite::RESERVED_PREFIX))
        }) {
            found = Some(f.name().clone());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(internal)?;
    match found {
        Some(name) => Err(Error::Unsupported(format!(
            "the query names a column `{name}`; names starting with `{}` (in any case) are reserved for the disclosure policy's own columns",
            crate::rewrite::RESERVED_PREFIX
        ))),
        None => Ok(()),
    }
}

/// The column at `i` of `plan`'s output.
fn column_at(plan: &LogicalPlan, i: usize) -> Column {
    let (q, f) = plan.schema().qualified_field(i);
    Column::new(q.cloned(), f.name())
}

/// Drop the hidden subject columns from `plan`'s output, for nodes whose meaning or
/// shape they would change (DISTINCT, UNION, UNNEST, a subquery's result, the result).
fn strip_hidden(plan: LogicalPlan, mut info: Info) -> Result<(LogicalPlan, Info)> {
    if info.subjects.is_empty() {
        return Ok((plan, info));
    }
    let keep: Vec<usize> = (0..info.cols.len())
        .filter(|&i| !info.is_hidden(i))
        .collect();
    let exprs = keep
        .iter()
        .map(|&i| Expr::Column(column_at(&plan, i)))
        .collect();
    let stripped =
        LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(plan)).map_err(internal)?);
    info.cols = keep
        .into_iter()
        .filter_map(|i| info.cols.get(i).cloned())
        .collect();
    info.subjects.clear();
    Ok((stripped, info))
}

impl<'p> Analyzer<'p> {
    pub fn new(
        config: &'p PolicyConfig,
        grants: &'p Grants,
        digest: &'p str,
        request: &'p Request,
    ) -> Self {
        Analyzer {
            config,
            grants,
            digest,
            request,
            subjects: request.subjects(),
            purpose: request.purpose().unwrap_or_default().to_string(),
            mask_ctx: MaskContext::new(&config.secret, request.agency()),
            udfs: HashMap::new(),
            srcs: Vec::new(),
            scan_datasets: Vec::new(),
            violations: Vec::new(),
            suppressions: Vec::new(),
            filters: Vec::new(),
            subqueries: HashMap::new(),
            gates: BTreeMap::new(),
            fallible: Vec::new(),
            expr_ops: Vec::new(),
        }
    }

    /// Analyse and rewrite `plan`, then decide.
    pub fn run(mut self, plan: &LogicalPlan) -> Result<Decided> {
        // Analyse the plan with DataFusion's implicit casts made explicit: the analysis
        // must see every operation that will run.
        let plan = TypeCoercion::new()
            .analyze(plan.clone(), &ConfigOptions::default())
            .map_err(|e| Error::BadRequest(format!("the query does not type-check: {e}")))?;
        reserved_names(&plan)?;
        let (rewritten, info) = self.visit(&plan, None)?;
        let (rewritten, info) = strip_hidden(rewritten, info)?;
        // The result: every column reaching it, and every row decision, needs `plain`.
        for f in &info.cols {
            for &s in &f.srcs {
                self.use_src(s, Need::Plain, "in the result");
            }
        }
        for (&s, usage) in &info.rows {
            self.use_src(
                s,
                Need::Plain,
                &format!("{usage} of a result that is not aggregated"),
            );
        }
        for (&s, usage) in &info.order {
            self.use_src(s, Need::Plain, &format!("{usage}, which orders the result"));
        }
        self.judge_fallible()?;
        let columns = self.column_decisions();
        if !self.violations.is_empty() {
            return Err(Error::Refused(Box::new(self.refusal(columns))));
        }
        if let Some(what) = self.fallible.first()
            && let Some(f) = self.filters.first()
        {
            // A row filter hides rows, but the optimizer may evaluate the query's own
            // expressions before it: an error on a hidden row would reveal that row.
            return Err(Error::Unsupported(format!(
                "the query computes {what}, which can fail at run time, over `{}`, whose rows a row filter hides (rule {}); an error on a hidden row would reveal it. Write it so that it cannot fail (TRY_CAST, a float division, a constant divisor)",
                f.dataset, f.rule
            )));
        }
        let decision = Decision {
            principal: self.request.principal().to_string(),
            purpose: self.purpose.clone(),
            policy_digest: self.digest.to_string(),
            columns,
            row_filters: std::mem::take(&mut self.filters),
            suppressions: std::mem::take(&mut self.suppressions),
            rewritten: Arc::new(rewritten.clone()),
            rewritten_sql: std::sync::OnceLock::new(),
        };
        Ok(Decided {
            plan: rewritten,
            decision,
        })
    }

    /// An operation that can fail anywhere in a plan where protected data decides which
    /// rows exist: the optimizer may move that decision below the operation (filters
    /// are pushed down and reordered, joins skip a side), so whether the query fails
    /// would reveal which rows the protected data kept.
    fn judge_fallible(&mut self) -> Result<()> {
        let Some(what) = self.fallible.first().cloned() else {
            return Ok(());
        };
        let gates: Vec<(SrcId, String)> = self.gates.iter().map(|(s, u)| (*s, u.clone())).collect();
        for (s, usage) in gates {
            self.use_src(
                s,
                Need::Plain,
                &format!(
                    "{usage} in a query that also computes {what}, which can fail at run time: whether it fails would reveal which rows the column kept"
                ),
            );
        }
        Ok(())
    }

    fn column_decisions(&self) -> Vec<ColumnDecision> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for s in self.srcs.iter().filter(|s| s.referenced) {
            if seen.insert((s.dataset.clone(), s.column.clone())) {
                out.push(ColumnDecision {
                    dataset: s.dataset.clone(),
                    column: s.column.clone(),
                    mask: match &s.level {
                        Level::Masked(m) => Some(m.to_string()),
                        _ => None,
                    },
                    level: s.level.clone(),
                    rule: s.rule.clone(),
                });
            }
        }
        out
    }

    fn refusal(&self, columns: Vec<ColumnDecision>) -> Refusal {
        // One violation per column and level needed; each further reason is added to
        // its usage (up to a few), so that the refusal says every way the query used it.
        const MAX_REASONS: usize = 4;
        let mut seen: BTreeMap<(String, String, Need), (usize, usize)> = BTreeMap::new();
        let mut violations: Vec<Violation> = Vec::new();
        for (s, need, usage) in &self.violations {
            let Some(src) = self.srcs.get(*s) else {
                continue;
            };
            let key = (src.dataset.clone(), src.column.clone(), *need);
            if let Some((i, reasons)) = seen.get_mut(&key) {
                if let Some(v) = violations.get_mut(*i)
                    && *reasons < MAX_REASONS
                    && !v.usage.contains(usage.as_str())
                {
                    v.usage.push_str("; and ");
                    v.usage.push_str(usage);
                    *reasons += 1;
                }
                continue;
            }
            seen.insert(key, (violations.len(), 1));
            let ended = self.request.ended_grant_note(&src.dataset, &src.column);
            let note = if ended.is_some() {
                ended
            } else if src.rule.is_none() {
                self.grants.purpose_hint(
                    &self.subjects,
                    self.request.agency(),
                    &self.purpose,
                    &format!("{}.{}", src.dataset, src.column),
                )
            } else {
                None
            };
            violations.push(Violation {
                dataset: src.dataset.clone(),
                column: src.column.clone(),
                needed: *need,
                granted: src.level.clone(),
                rule: src.rule.clone(),
                usage: usage.clone(),
                note,
            });
        }
        Refusal {
            principal: self.request.principal().to_string(),
            purpose: self.purpose.clone(),
            violations,
            columns,
        }
    }

    /// Record a use of `s` that needs `need`; a violation unless its level allows it.
    fn use_src(&mut self, s: SrcId, need: Need, usage: &str) {
        if let Some(src) = self.srcs.get(s)
            && !src.level.allows(need)
        {
            self.violations.push((s, need, usage.to_string()));
        }
    }

    fn level(&self, s: SrcId) -> Option<&Level> {
        self.srcs.get(s).map(|x| &x.level)
    }

    fn is_protected(&self, s: SrcId) -> bool {
        self.level(s).is_some_and(Level::is_protected)
    }

    fn protected(&self, f: &Flow) -> Vec<SrcId> {
        f.srcs
            .iter()
            .copied()
            .filter(|&s| self.is_protected(s))
            .collect()
    }

    /// Record that protected columns decided which rows (or groups) exist.
    fn gate(&mut self, srcs: impl IntoIterator<Item = SrcId>, usage: &str) {
        for s in srcs {
            if self.is_protected(s) {
                self.gates.entry(s).or_insert_with(|| usage.to_string());
            }
        }
    }

    // ---- plans -------------------------------------------------------------------

    // Deep plans and expressions grow the stack on demand instead of overflowing it.
    #[recursive::recursive]
    fn visit(
        &mut self,
        plan: &LogicalPlan,
        outer: Option<&Scope<'_>>,
    ) -> Result<(LogicalPlan, Info)> {
        let ops_before = self.fallible.len();
        let (rebuilt, mut info) = self.visit_node(plan, outer)?;
        if info.cols.len() != rebuilt.schema().fields().len() {
            return Err(internal(format!(
                "lineage of {} has {} columns, its schema {}",
                node_name(&rebuilt),
                info.cols.len(),
                rebuilt.schema().fields().len()
            )));
        }
        let rows: Vec<(SrcId, String)> = info
            .rows
            .iter()
            .chain(info.order.iter())
            .map(|(s, u)| (*s, u.clone()))
            .collect();
        for (s, u) in rows {
            self.gate([s], &u);
        }
        info.fallible = self.fallible.get(ops_before).cloned().or(info.fallible);
        Ok((rebuilt, info))
    }

    fn visit_node(
        &mut self,
        plan: &LogicalPlan,
        outer: Option<&Scope<'_>>,
    ) -> Result<(LogicalPlan, Info)> {
        if let LogicalPlan::TableScan(scan) = plan {
            return self.scan(scan);
        }
        match plan {
            LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::DescribeTable(_)
            | LogicalPlan::Extension(_)
            | LogicalPlan::RecursiveQuery(_) => {
                return Err(Error::Unsupported(format!(
                    "{} is not supported under a disclosure policy",
                    node_name(plan)
                )));
            }
            // A subquery in FROM that reads the tables before it: LATERAL. Its rows
            // depend on each outer row, which the analysis does not follow.
            LogicalPlan::Subquery(sq) if !sq.outer_ref_columns.is_empty() => {
                return Err(Error::Unsupported(
                    "a LATERAL subquery (one in FROM that reads the tables before it) is not \
                     supported under a disclosure policy; write it as a join or a subquery in \
                     SELECT or WHERE"
                        .into(),
                ));
            }
            _ => {}
        }

        // Children first. Nodes whose meaning the hidden subject columns would change
        // get their inputs without them.
        let strips = matches!(
            plan,
            LogicalPlan::Distinct(Distinct::All(_))
                | LogicalPlan::Union(_)
                | LogicalPlan::Unnest(_)
        );
        let mut inputs = Vec::new();
        let mut infos = Vec::new();
        for child in plan.inputs() {
            let (mut p, mut i) = self.visit(child, outer)?;
            if strips {
                (p, i) = strip_hidden(p, i)?;
            }
            inputs.push(p);
            infos.push(i);
        }
        let schemas: Vec<DFSchemaRef> = inputs.iter().map(|p| Arc::clone(p.schema())).collect();
        let rebuilt = with_new_inputs(plan, inputs)?;
        let scope = Scope::new(
            schemas
                .iter()
                .zip(&infos)
                .map(|(s, i)| (s.as_ref(), i.cols.as_slice()))
                .collect(),
            outer,
        );

        // Subqueries in this node's expressions see this node's inputs as their outer scope.
        let rebuilt = self.visit_subqueries(rebuilt, &scope)?;

        let info = match &rebuilt {
            LogicalPlan::Projection(p) => {
                let mut cols = Vec::with_capacity(p.expr.len());
                for e in &p.expr {
                    cols.push(self.flow(e, &scope)?);
                }
                let input = first(&infos);
                let mut info = Info {
                    cols,
                    subjects: Vec::new(),
                    ..input.clone()
                };
                // Carry the hidden subject columns through, to the grouping that counts
                // them.
                if !input.subjects.is_empty() {
                    let mut exprs = p.expr.clone();
                    for &(scan, i) in &input.subjects {
                        exprs.push(Expr::Column(column_at(&p.input, i)));
                        info.subjects.push((scan, info.cols.len()));
                        info.cols.push(Flow::default());
                    }
                    let carried =
                        Projection::try_new(exprs, Arc::clone(&p.input)).map_err(internal)?;
                    return Ok((LogicalPlan::Projection(carried), info));
                }
                info
            }
            LogicalPlan::Filter(f) => {
                let mut info = first(&infos);
                info.correlated |=
                    self.predicate(&f.predicate, &scope, &mut info.rows, "in WHERE or HAVING")?;
                info
            }
            LogicalPlan::Sort(s) => {
                let mut info = first(&infos);
                for e in &s.expr {
                    let f = self.flow(&e.expr, &scope)?;
                    for p in self.protected(&f) {
                        info.order.entry(p).or_insert_with(|| "in ORDER BY".into());
                    }
                    // Cut by a LIMIT or OFFSET, an order on an outer column keeps
                    // different rows for each outer row: all loans but this one.
                    info.correlated |= f.outer;
                }
                if s.fetch.is_some() {
                    self.limit(&info);
                }
                info
            }
            LogicalPlan::Limit(l) => {
                // A count that is not a constant (a scalar subquery) would make how
                // many rows come out depend on whatever it reads, unanalysed.
                let constant = |e: &Option<Box<Expr>>| {
                    e.as_deref().is_none_or(|e| {
                        !e.exists(|x| {
                            Ok(matches!(
                                x,
                                Expr::Column(_)
                                    | Expr::OuterReferenceColumn(..)
                                    | Expr::ScalarSubquery(_)
                                    | Expr::Exists(_)
                                    | Expr::InSubquery(_)
                                    | Expr::SetComparison(_)
                            ))
                        })
                        .unwrap_or(true)
                    })
                };
                if !constant(&l.skip) || !constant(&l.fetch) {
                    return Err(Error::Unsupported(
                        "LIMIT and OFFSET must be constants under a disclosure policy".into(),
                    ));
                }
                let info = first(&infos);
                self.limit(&info);
                info
            }
            LogicalPlan::Repartition(r)
                if !matches!(r.partitioning_scheme, Partitioning::RoundRobinBatch(_)) =>
            {
                return Err(Error::Unsupported(
                    "DISTRIBUTE BY is not supported under a disclosure policy".into(),
                ));
            }
            LogicalPlan::Repartition(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Subquery(_) => first(&infos),
            LogicalPlan::Distinct(Distinct::All(_)) => {
                // DISTINCT decides which rows exist by comparing every column.
                let mut info = first(&infos);
                for c in info.cols.clone() {
                    self.distinct_key(&c, "in DISTINCT");
                    for p in self.protected(&c) {
                        info.rows.entry(p).or_insert_with(|| "in DISTINCT".into());
                    }
                    // Which rows it merges then differs for each outer row.
                    info.correlated |= c.outer;
                }
                info
            }
            LogicalPlan::Distinct(Distinct::On(on)) => {
                let mut info = first(&infos);
                for e in &on.on_expr {
                    let f = self.flow(e, &scope)?;
                    info.correlated |= f.outer;
                    self.distinct_key(&f, "in DISTINCT ON");
                    for p in self.protected(&f) {
                        info.rows
                            .entry(p)
                            .or_insert_with(|| "in DISTINCT ON".into());
                    }
                }
                // DISTINCT ON keeps the first row of each group in this order: the order
                // selects rows, as ORDER BY ... LIMIT does.
                for s in on.sort_expr.iter().flatten() {
                    let f = self.flow(&s.expr, &scope)?;
                    info.correlated |= f.outer;
                    for p in self.protected(&f) {
                        self.use_src(
                            p,
                            Need::Plain,
                            "in the ORDER BY of DISTINCT ON, which selects one row per group by that order",
                        );
                    }
                }
                let mut cols = Vec::new();
                for e in &on.select_expr {
                    cols.push(self.flow(e, &scope)?);
                }
                info.cols = cols;
                info.subjects.clear();
                info
            }
            LogicalPlan::Union(_) => self.union(&infos, rebuilt.schema().fields().len())?,
            LogicalPlan::Join(j) => {
                let (l, r) = match (infos.first(), infos.get(1), schemas.first(), schemas.get(1)) {
                    (Some(l), Some(r), Some(ls), Some(rs)) => ((l, ls), (r, rs)),
                    _ => return Err(internal("a join without two inputs")),
                };
                self.join(j, l, r, outer)?
            }
            LogicalPlan::Aggregate(a) => {
                let child = first(&infos);
                let (info, release) = self.aggregate(a, &child, &scope)?;
                if let Some(release) = release {
                    let wrapped = suppress_small_groups(a, release.k, &release.subjects)?;
                    return Ok((wrapped, info));
                }
                info
            }
            LogicalPlan::Window(w) => self.window(w, first(&infos), &scope)?,
            LogicalPlan::Values(v) => {
                // Its cells are expressions, scalar subqueries included: each column
                // carries what its cells read.
                let mut cols = vec![Flow::opaque(); v.schema.fields().len()];
                for row in &v.values {
                    for (c, e) in cols.iter_mut().zip(row) {
                        let f = self.flow(e, &scope)?;
                        c.merge(&f);
                    }
                }
                Info {
                    cols,
                    ..Info::default()
                }
            }
            LogicalPlan::EmptyRelation(e) => Info {
                cols: vec![Flow::default(); e.schema.fields().len()],
                ..Info::default()
            },
            LogicalPlan::Unnest(_) => {
                // Every output may come from any input column; rows repeat.
                let child = first(&infos);
                let mut all = Flow::opaque();
                for c in &child.cols {
                    all.merge(c);
                }
                let mut rows = child.rows;
                for p in self.protected(&all) {
                    rows.entry(p).or_insert_with(|| "in UNNEST".into());
                }
                Info {
                    cols: vec![all; rebuilt.schema().fields().len()],
                    rows,
                    order: child.order,
                    dup: child.scans.clone(),
                    scans: child.scans,
                    subjects: Vec::new(),
                    fallible: None,
                    correlated: child.correlated,
                }
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "{} is not supported under a disclosure policy",
                    node_name(other)
                )));
            }
        };
        Ok((rebuilt, info))
    }

    /// DISTINCT and DISTINCT ON merge the rows whose keys are equal, so a count above
    /// them is `COUNT(DISTINCT key)`. A key computed from protected data merges the rows
    /// it maps alike, as a FILTER picks them: `CASE WHEN id = x AND amount < t THEN y
    /// ELSE id END` merges loan x into loan y exactly when x's amount is below t, and
    /// `(status, amount >= t)` has one pair more when a status holds loans on both
    /// sides of t. Like a DISTINCT aggregate, it takes the bare column.
    fn distinct_key(&mut self, f: &Flow, usage: &str) {
        if self.identity(f).is_some() && !f.nonlinear {
            return;
        }
        for p in self.protected(f) {
            self.use_src(
                p,
                Need::Plain,
                &format!(
                    "{usage} on a value computed from it (DISTINCT takes the bare column): which rows it merges picks rows as a FILTER does"
                ),
            );
        }
    }

    /// A LIMIT or OFFSET over rows ordered by protected data keeps the rows that data
    /// ranks first: a selection by that data, whatever is done with the rows after.
    fn limit(&mut self, info: &Info) {
        for (&s, usage) in &info.order {
            self.use_src(
                s,
                Need::Plain,
                &format!("{usage} with LIMIT or OFFSET, which selects rows by that order"),
            );
        }
        // Which rows a LIMIT or OFFSET keeps depends on which rows there were: over rows
        // protected data chose, the rows kept rank the choice (`WHERE amount < t AND id
        // >= x ORDER BY id LIMIT 5` starts at x exactly when x's amount is below t).
        for (&s, usage) in &info.rows {
            self.use_src(
                s,
                Need::Plain,
                &format!("{usage}, which decides the rows a LIMIT or OFFSET counts"),
            );
        }
    }

    fn window(
        &mut self,
        w: &datafusion::logical_expr::Window,
        mut info: Info,
        scope: &Scope<'_>,
    ) -> Result<Info> {
        // A window function sees every row of its partition: over rows that protected
        // data chose, its value (a rank, a neighbour's value) describes that choice.
        for (&s, usage) in &info.rows {
            self.use_src(
                s,
                Need::Plain,
                &format!("{usage}, which decides the rows a window function runs over"),
            );
        }
        // It also numbers, offsets and accumulates rows in their input order, which its
        // own ORDER BY falls back to on ties: a protected order ranks by protected data.
        for (&s, usage) in &info.order {
            self.use_src(
                s,
                Need::Plain,
                &format!("{usage}, which orders the rows a window function runs over"),
            );
        }
        for we in &w.window_expr {
            let mut f = Flow::opaque();
            match strip_alias(we) {
                Expr::WindowFunction(wf) => {
                    let params = &wf.params;
                    let exprs = params
                        .args
                        .iter()
                        .chain(params.partition_by.iter())
                        .chain(params.order_by.iter().map(|s| &s.expr))
                        .chain(params.filter.as_deref());
                    for e in exprs {
                        let x = self.flow(e, scope)?;
                        f.merge(&x);
                    }
                    let name = wf.fun.name().to_ascii_lowercase();
                    let types: Vec<Option<DataType>> = params
                        .args
                        .iter()
                        .map(|a| total::Types::type_of(scope, a))
                        .collect();
                    if total::window_may_fail(&name, &params.args, &types) {
                        self.fails(&f, format!("the window function {name}()"));
                    }
                }
                other => {
                    let x = self.flow(other, scope)?;
                    f.merge(&x);
                }
            }
            for p in self.protected(&f) {
                self.use_src(p, Need::Plain, "in a window function");
            }
            f.other = true;
            info.cols.push(f);
        }
        Ok(info)
    }

    fn visit_subqueries(&mut self, plan: LogicalPlan, scope: &Scope<'_>) -> Result<LogicalPlan> {
        let mut failed: Option<Error> = None;
        let out = plan.map_subqueries(|sq| {
            let LogicalPlan::Subquery(sq) = sq else {
                return Ok(Transformed::no(sq));
            };
            match self
                .visit(&sq.subquery, Some(scope))
                .and_then(|(p, i)| strip_hidden(p, i))
            {
                Ok((p, info)) => {
                    let inner = Arc::new(p);
                    self.subqueries.insert(Arc::as_ptr(&inner) as usize, info);
                    Ok(Transformed::yes(LogicalPlan::Subquery(Subquery {
                        subquery: inner,
                        ..sq
                    })))
                }
                Err(e) => {
                    failed = Some(e);
                    Err(DataFusionError::Execution("policy analysis failed".into()))
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(out.map_err(internal)?.data)
    }

    fn scan(&mut self, scan: &TableScan) -> Result<(LogicalPlan, Info)> {
        let dataset = self.dataset_of(&scan.table_name)?;
        let scan_id = self.scan_datasets.len();
        self.scan_datasets.push(dataset.clone());
        let mut cols = Vec::new();
        let mut what = Vec::new();
        for (_, field) in scan.projected_schema.iter() {
            let grant = self.grants.column(
                self.request,
                &self.subjects,
                &self.purpose,
                &dataset,
                field.name(),
            )?;
            let (level, action) = match &grant.level {
                Level::Masked(spec) => match self.udf(spec, field.data_type()) {
                    Some(udf) => (grant.level.clone(), ScanColumn::Mask(udf)),
                    // A mask that cannot apply to this column (a wildcard rule): deny.
                    None => (Level::Deny, ScanColumn::Null),
                },
                Level::Deny => (Level::Deny, ScanColumn::Null),
                l => (l.clone(), ScanColumn::Keep),
            };
            let id = self.srcs.len();
            self.srcs.push(Src {
                scan: scan_id,
                dataset: dataset.clone(),
                column: field.name().clone(),
                level,
                rule: grant.rule,
                referenced: false,
            });
            cols.push(Flow {
                srcs: BTreeSet::from([id]),
                origin: Some(id),
                ..Flow::default()
            });
            what.push(action);
        }
        let rules = self.grants.filters_for(
            &self.subjects,
            self.request.agency(),
            &self.purpose,
            &dataset,
        )?;
        let mut preds = Vec::new();
        for r in rules {
            preds.push(r.expr.clone());
            if !self
                .filters
                .iter()
                .any(|f| f.dataset == r.dataset && f.predicate == r.predicate)
            {
                self.filters.push(AppliedFilter {
                    dataset: r.dataset.clone(),
                    predicate: r.predicate.clone(),
                    rule: r.rule.clone(),
                });
            }
        }
        let hidden = subject_column(scan_id);
        let subject = self
            .config
            .subjects
            .get(&dataset)
            .map(|key| (key.as_str(), hidden.as_str()));
        let plan = mask_scan(scan, &what, conjunction(preds), subject)?;
        let mut info = Info {
            cols,
            scans: BTreeSet::from([scan_id]),
            ..Info::default()
        };
        if subject.is_some() {
            info.subjects.push((scan_id, info.cols.len()));
            info.cols.push(Flow::default());
        }
        if !scan.filters.is_empty() {
            let schema = Arc::clone(&scan.projected_schema);
            let cols = info.cols.clone();
            let scope = Scope::new(vec![(schema.as_ref(), cols.as_slice())], None);
            for f in &scan.filters {
                info.correlated |= self.predicate(f, &scope, &mut info.rows, "in WHERE")?;
            }
        }
        Ok((plan, info))
    }

    fn dataset_of(&self, t: &TableReference) -> Result<String> {
        let agency = self.config.agency.as_str();
        let name = match t {
            TableReference::Bare { table } => Some(table),
            TableReference::Partial { schema, table } if schema.as_ref() == agency => Some(table),
            TableReference::Full {
                catalog,
                schema,
                table,
            } if catalog.as_ref() == self.config.catalog && schema.as_ref() == agency => {
                Some(table)
            }
            _ => None,
        };
        match name {
            Some(n) if self.config.datasets.contains_key(n.as_ref()) => Ok(n.to_string()),
            _ => Err(Error::Unsupported(format!(
                "table `{t}` is not a dataset of {agency} under this policy"
            ))),
        }
    }

    fn udf(
        &mut self,
        spec: &crate::mask::MaskSpec,
        t: &arrow::datatypes::DataType,
    ) -> Option<Arc<ScalarUDF>> {
        let m = mask::parse(spec).ok()?;
        if !m.supports(t) {
            return None;
        }
        let key = spec.to_string();
        if let Some(u) = self.udfs.get(&key) {
            return Some(Arc::clone(u));
        }
        let udf = MaskUdf::new(Arc::from(m), self.mask_ctx.clone()).into_udf();
        self.udfs.insert(key, Arc::clone(&udf));
        Some(udf)
    }

    fn union(&mut self, infos: &[Info], width: usize) -> Result<Info> {
        let mut out = Info {
            cols: vec![Flow::default(); width],
            ..Info::default()
        };
        for info in infos {
            if info.cols.len() != width {
                return Err(internal("union branches of different widths"));
            }
            for (o, c) in out.cols.iter_mut().zip(&info.cols) {
                o.merge(c);
            }
            for (s, u) in &info.rows {
                out.rows.entry(*s).or_insert_with(|| u.clone());
            }
            for (s, u) in &info.order {
                out.order.entry(*s).or_insert_with(|| u.clone());
            }
            out.scans.extend(info.scans.iter().copied());
            out.dup.extend(info.dup.iter().copied());
            out.correlated |= info.correlated;
        }
        // A union's rows are no longer the rows of one scan: another branch can repeat
        // them (the same dataset again) or pad a group with rows of its own (VALUES, or
        // another dataset), so a group of k rows could hold fewer than k of a scan's rows.
        // And each column says which branch a row came from, so it is per-row data
        // computed from what chose each branch's rows, even where every branch wrote a
        // constant: with `1 AS f` on loan x's branch and `0 AS f` on the others', `f = 0
        // OR amount < t` is `loan_id <> x OR amount < t`.
        if infos.len() > 1 {
            out.dup.extend(out.scans.iter().copied());
            let chose: Vec<SrcId> = out.rows.keys().copied().collect();
            for c in &mut out.cols {
                c.other = true;
                c.nonlinear = true;
                c.srcs.extend(chose.iter().copied());
            }
        }
        Ok(out)
    }

    // ---- expressions -------------------------------------------------------------

    /// A column exactly, through aliases and injective casts: `Some(column)`.
    fn identity(&self, f: &Flow) -> Option<SrcId> {
        let o = f.origin?;
        (f.srcs.len() == 1 && !f.other && f.aggregated.is_empty()).then_some(o)
    }

    /// `l = r`: an equality join between two dataset columns of different scans is a
    /// join use; anything else is a comparison, recorded in `rows`.
    fn equality(&mut self, l: &Flow, r: &Flow, rows: &mut BTreeMap<SrcId, String>, usage: &str) {
        self.gate(l.aggregated.iter().chain(&r.aggregated).copied(), usage);
        let mut both = l.clone();
        both.merge(r);
        self.refuse_mixing(&both, usage);
        if let (Some(a), Some(b)) = (self.identity(l), self.identity(r)) {
            let scans = (
                self.srcs.get(a).map(|s| s.scan),
                self.srcs.get(b).map(|s| s.scan),
            );
            if scans.0 != scans.1 {
                for (s, other) in [(a, b), (b, a)] {
                    let other_is_join = matches!(self.level(other), Some(Level::Join));
                    match self.level(s) {
                        Some(Level::Aggregate { .. }) => {
                            rows.entry(s).or_insert_with(|| usage.to_string());
                        }
                        // Against a column the query may filter (plain or masked), the
                        // join would pin a join-level value: a comparison, not a join.
                        Some(Level::Join) if !other_is_join => {
                            rows.entry(s).or_insert_with(|| {
                                format!("{usage} against a column that is not join-level")
                            });
                        }
                        Some(Level::Deny) => self.use_src(s, Need::Join, "as a join key"),
                        _ => {}
                    }
                }
                return;
            }
        }
        for s in self.protected(&both) {
            rows.entry(s).or_insert_with(|| usage.to_string());
        }
    }

    /// A condition that reads aggregate-level data together with other per-row data (a
    /// plain, masked or join-level column, a subquery's or a window's result) can single
    /// one row out of a group that suppression counts whole: `WHERE amount < 200000 OR
    /// id = x` pads loan x with small loans, so MAX(amount) is x's. Its aggregate-level
    /// columns need `plain`. Separate conjuncts (`amount > t AND status = 'a'`) only
    /// narrow the group, which suppression then counts.
    fn refuse_mixing(&mut self, f: &Flow, usage: &str) {
        let aggregate: Vec<SrcId> = f
            .srcs
            .iter()
            .copied()
            .filter(|&s| matches!(self.level(s), Some(Level::Aggregate { .. })))
            .collect();
        // Two aggregate-level columns are per-row data to each other: `amount < t OR
        // (amount >= u AND employer = 'x')` pads one loan with small ones.
        if aggregate.is_empty()
            || !(f.other || aggregate.len() > 1 || aggregate.len() < f.srcs.len())
        {
            return;
        }
        for s in aggregate {
            self.use_src(
                s,
                Need::Plain,
                &format!(
                    "{usage}, in a condition that combines it with other per-row data (a plain, masked or join-level column, another aggregate-level column, a subquery's or window's result, or a value an outer join pads with NULL): it could single a row out of its group"
                ),
            );
        }
    }

    /// The flows of each conjunct of `pred`.
    fn conjuncts(&mut self, pred: &Expr, scope: &Scope<'_>) -> Result<Vec<Conjunct>> {
        let mut out = Vec::new();
        for c in split_conjunction(pred) {
            if let Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) = c
            {
                let l = self.flow(left, scope)?;
                let r = self.flow(right, scope)?;
                out.push(Conjunct::Eq(l, r));
            } else {
                out.push(Conjunct::Other(self.flow(c, scope)?));
            }
        }
        Ok(out)
    }

    /// Record what the conjuncts of a predicate decide. Returns whether one of them
    /// reads a column of an enclosing query other than in an equality of two columns,
    /// one inner and one outer (which partitions the rows as GROUP BY would).
    fn decide_rows(
        &mut self,
        conjuncts: &[Conjunct],
        rows: &mut BTreeMap<SrcId, String>,
        usage: &str,
    ) -> bool {
        let mut correlated = false;
        for c in conjuncts {
            match c {
                Conjunct::Eq(l, r) => {
                    if (l.outer || r.outer)
                        && !(l.outer != r.outer
                            && self.identity(l).is_some()
                            && self.identity(r).is_some())
                    {
                        correlated = true;
                    }
                    self.equality(l, r, rows, usage);
                }
                Conjunct::Other(f) => {
                    correlated |= f.outer;
                    self.gate(f.aggregated.iter().copied(), usage);
                    self.refuse_mixing(f, usage);
                    for s in self.protected(f) {
                        rows.entry(s).or_insert_with(|| usage.to_string());
                    }
                }
            }
        }
        correlated
    }

    /// Record what `pred` decides; see [`Self::decide_rows`] for what it returns.
    fn predicate(
        &mut self,
        pred: &Expr,
        scope: &Scope<'_>,
        rows: &mut BTreeMap<SrcId, String>,
        usage: &str,
    ) -> Result<bool> {
        let conjuncts = self.conjuncts(pred, scope)?;
        Ok(self.decide_rows(&conjuncts, rows, usage))
    }

    fn subquery_info(&self, sq: &Subquery) -> Result<Info> {
        self.subqueries
            .get(&(Arc::as_ptr(&sq.subquery) as usize))
            .cloned()
            .ok_or_else(|| internal("a subquery was not analysed"))
    }

    fn reference(&mut self, f: &Flow) -> Flow {
        for &s in &f.srcs {
            if let Some(src) = self.srcs.get_mut(s) {
                src.referenced = true;
            }
        }
        f.clone()
    }

    /// The flow of one whole expression. Any operation in it that can fail makes the
    /// expression's protected inputs (its values, its branch conditions, its
    /// short-circuited operands) need `plain`: the error would reveal them.
    fn flow(&mut self, e: &Expr, scope: &Scope<'_>) -> Result<Flow> {
        let mark = self.expr_ops.len();
        let f = self.flow_in(e, scope)?;
        let ops: Vec<String> = self.expr_ops.drain(mark..).collect();
        let mut ops = ops.into_iter();
        if let Some(what) = ops.next() {
            self.fails(&f, what);
        }
        self.fallible.extend(ops);
        Ok(f)
    }

    /// An operation `what` that can fail, with input `f`.
    fn fails(&mut self, f: &Flow, what: String) {
        let tainted: BTreeSet<SrcId> = self
            .protected(f)
            .into_iter()
            .chain(f.aggregated.iter().copied())
            .collect();
        for s in tainted {
            self.use_src(
                s,
                Need::Plain,
                &format!(
                    "in an expression that computes {what}, which can fail at run time, so an error would reveal its value"
                ),
            );
        }
        self.fallible.push(what);
    }

    #[recursive::recursive]
    fn flow_in(&mut self, e: &Expr, scope: &Scope<'_>) -> Result<Flow> {
        if let Some(what) = total::may_fail(e, scope) {
            self.expr_ops.push(what);
        }
        Ok(match e {
            Expr::Column(c) => {
                if let Some(f) = scope.local(c) {
                    let f = f.clone();
                    self.reference(&f)
                } else if let Some(f) = scope.outer(c) {
                    let mut f = f.clone();
                    f.outer = true;
                    self.reference(&f)
                } else if c.name == datafusion::logical_expr::Aggregate::INTERNAL_GROUPING_ID {
                    Flow::default()
                } else {
                    return Err(internal(format!("column {c} is not in scope")));
                }
            }
            Expr::OuterReferenceColumn(_, c) => {
                let mut f = scope
                    .outer(c)
                    .cloned()
                    .ok_or_else(|| internal(format!("outer column {c} is not in scope")))?;
                f.outer = true;
                self.reference(&f)
            }
            Expr::Alias(a) => self.flow_in(&a.expr, scope)?,
            Expr::Cast(c) => {
                let mut f = self.flow_in(&c.expr, scope)?;
                let from = total::Types::type_of(scope, &c.expr);
                let to = c.field.data_type();
                if !from
                    .as_ref()
                    .is_some_and(|t| total::exact_cast(t, to, f.shifted))
                {
                    f.nonlinear |= f.per_row();
                }
                if !from.as_ref().is_some_and(|t| total::injective_cast(t, to)) {
                    f.origin = None;
                }
                f
            }
            Expr::TryCast(c) => {
                let mut f = self.flow_in(&c.expr, scope)?;
                let from = total::Types::type_of(scope, &c.expr);
                // TRY_CAST turns what does not fit into NULL: injective only where CAST
                // cannot fail either.
                let to = c.field.data_type();
                if !from
                    .as_ref()
                    .is_some_and(|t| total::exact_cast(t, to, f.shifted))
                {
                    f.nonlinear |= f.per_row();
                }
                if !from
                    .as_ref()
                    .is_some_and(|t| total::injective_cast(t, to) && total::safe_cast(t, to))
                {
                    f.origin = None;
                }
                f
            }
            Expr::Literal(..) | Expr::ScalarVariable(..) | Expr::Placeholder(_) => Flow::default(),
            Expr::Exists(x) => {
                let info = self.subquery_info(&x.subquery)?;
                self.note_subquery(&info);
                let mut f = Flow::opaque();
                f.srcs.extend(info.rows.keys().copied());
                f.outer |= reads_beyond(&x.subquery, scope);
                f
            }
            Expr::ScalarSubquery(sq) => {
                let info = self.subquery_info(sq)?;
                self.note_subquery(&info);
                let mut f = Flow::opaque();
                if let Some(c) = info.cols.first() {
                    f.merge(c);
                }
                f.srcs.extend(info.rows.keys().copied());
                f.other = true;
                f.outer |= reads_beyond(sq, scope);
                f
            }
            Expr::InSubquery(i) => {
                let lhs = self.flow_in(&i.expr, scope)?;
                let info = self.subquery_info(&i.subquery)?;
                self.note_subquery(&info);
                let rhs = info.cols.first().cloned().unwrap_or_default();
                let mut rows = BTreeMap::new();
                self.equality(&lhs, &rhs, &mut rows, "in IN (subquery)");
                let mut f = Flow::opaque();
                f.srcs.extend(rows.keys().copied());
                f.srcs.extend(info.rows.keys().copied());
                f.aggregated
                    .extend(lhs.aggregated.iter().chain(&rhs.aggregated).copied());
                f.outer |= lhs.outer || reads_beyond(&i.subquery, scope);
                f
            }
            Expr::SetComparison(s) => {
                let lhs = self.flow_in(&s.expr, scope)?;
                let info = self.subquery_info(&s.subquery)?;
                self.note_subquery(&info);
                let mut f = Flow::opaque();
                f.merge(&lhs);
                if let Some(c) = info.cols.first() {
                    f.merge(c);
                }
                f.srcs.extend(info.rows.keys().copied());
                f.outer |= reads_beyond(&s.subquery, scope);
                f
            }
            e => {
                let mut kids = Vec::new();
                e.apply_children(|c| {
                    kids.push(c);
                    Ok(TreeNodeRecursion::Continue)
                })
                .map_err(internal)?;
                let mut f = Flow::default();
                for k in kids {
                    let x = self.flow_in(k, scope)?;
                    f.merge(&x);
                }
                f.origin = None;
                if matches!(e, Expr::AggregateFunction(_) | Expr::WindowFunction(_)) {
                    f.other = true;
                }
                if f.per_row() {
                    match total::arithmetic(e, scope) {
                        total::Arithmetic::Exact => {}
                        total::Arithmetic::Shifts => f.shifted = true,
                        total::Arithmetic::Scales(k) => {
                            f.scale = f.scale.saturating_add(k);
                            if f.scale.abs() > total::MAX_SCALE * total::SCALE_STEPS {
                                f.nonlinear = true;
                            }
                        }
                        total::Arithmetic::Step => f.nonlinear = true,
                    }
                }
                f
            }
        })
    }

    /// A subquery inside an expression: an operation in it that can fail counts as one
    /// of the expression's own (its result may decide whether the subquery runs).
    fn note_subquery(&mut self, info: &Info) {
        if let Some(what) = &info.fallible {
            self.expr_ops
                .push(format!("a subquery that computes {what}"));
        }
    }
}

/// Whether `sq` reads a column that is not among `scope`'s inputs: one of a query that
/// encloses the one `scope` belongs to. Its answer then varies with that query's rows
/// as an outer column does: `NOT EXISTS (SELECT 1 FROM loans c WHERE c.loan_id =
/// b.loan_id AND c.loan_id = a.loan_id)` is `b.loan_id <> a.loan_id`.
fn reads_beyond(sq: &Subquery, scope: &Scope<'_>) -> bool {
    sq.outer_ref_columns.iter().any(|e| match e {
        Expr::OuterReferenceColumn(_, c) => scope.local(c).is_none(),
        _ => true,
    })
}

fn first(infos: &[Info]) -> Info {
    infos.first().cloned().unwrap_or_default()
}
