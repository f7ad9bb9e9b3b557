//! Lineage analysis of a whole logical plan, and the driver that applies the rewrites.
//!
//! One bottom-up pass follows every dataset column through projections, aliases,
//! subqueries (including correlated ones and `EXISTS`/`IN`), CTEs, unions, joins,
//! windows and expressions, and records each *use* of a protected column (`aggregate`,
//! `join` or `deny`) against the level that use needs:
//!
//! | use                                                    | needs       |
//! |--------------------------------------------------------|-------------|
//! | reaches the result, a row-level filter/sort/join condition, GROUP BY, a window, DISTINCT ON | `plain` |
//! | argument of COUNT/SUM/AVG/MIN/MAX, or a filter/sort/comparison below such an aggregate | `aggregate` |
//! | equality join key against another dataset column       | `join`      |
//!
//! An aggregate that releases aggregate-level data gets `HAVING count(*) >= k`. Its input
//! must not repeat the rows of the scans it releases (a join or a union of the same
//! dataset could make k rows out of one), and its arguments must not mix an
//! aggregate-level column with other per-row data (`MAX(CASE WHEN name = 'x' THEN
//! salary END)` would single a row out).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, DFSchemaRef, TableReference};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::utils::{conjunction, grouping_set_to_exprlist, split_conjunction};
use datafusion::logical_expr::{
    BinaryExpr, Distinct, Expr, ExprSchemable, JoinType, LogicalPlan, Operator, ScalarUDF,
    Subquery, TableScan,
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
use crate::rewrite::{ScanColumn, mask_scan, suppress_small_groups};

type SrcId = usize;
type ScanId = usize;

/// The aggregate functions that may take aggregate-level columns.
const RELEASING_AGGREGATES: &[&str] = &["count", "sum", "avg", "mean", "min", "max"];

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
    /// results, window results, subquery results).
    other: bool,
    /// It is exactly this column (through aliases and casts).
    origin: Option<SrcId>,
}

impl Flow {
    fn opaque() -> Flow {
        Flow {
            other: true,
            ..Flow::default()
        }
    }

    fn merge(&mut self, o: &Flow) {
        self.srcs.extend(o.srcs.iter().copied());
        self.other |= o.other;
        self.origin = None;
    }
}

/// What the analysis knows about one plan node's output.
#[derive(Debug, Clone, Default)]
struct Info {
    /// Per output field.
    cols: Vec<Flow>,
    /// Protected columns that decided which rows exist or their order, with the use.
    rows: BTreeMap<SrcId, String>,
    /// Scans whose rows make up this node's rows.
    scans: BTreeSet<ScanId>,
    /// Scans whose rows may appear more than once.
    dup: BTreeSet<ScanId>,
}

/// Columns visible to an expression: its node's inputs, then enclosing queries.
struct Scope<'a> {
    frames: Vec<(&'a DFSchema, &'a [Flow])>,
    parent: Option<&'a Scope<'a>>,
}

impl Scope<'_> {
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
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip_alias(&a.expr),
        e => e,
    }
}

fn node_name(plan: &LogicalPlan) -> String {
    let s = plan.display().to_string();
    s.split(':')
        .next()
        .unwrap_or("plan node")
        .trim()
        .to_string()
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
        }
    }

    /// Analyse and rewrite `plan`, then decide.
    pub fn run(mut self, plan: &LogicalPlan) -> Result<Decided> {
        // Analyse the plan with DataFusion's implicit casts made explicit: the analysis
        // must see every operation that will run.
        let plan = TypeCoercion::new()
            .analyze(plan.clone(), &ConfigOptions::default())
            .map_err(|e| Error::BadRequest(format!("the query does not type-check: {e}")))?;
        let (rewritten, info) = self.visit(&plan, None)?;
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
        let columns = self.column_decisions();
        if !self.violations.is_empty() {
            return Err(Error::Refused(Box::new(self.refusal(columns))));
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
        let mut seen = BTreeSet::new();
        let mut violations = Vec::new();
        for (s, need, usage) in &self.violations {
            let Some(src) = self.srcs.get(*s) else {
                continue;
            };
            if !seen.insert((src.dataset.clone(), src.column.clone(), *need)) {
                continue;
            }
            let note = if src.rule.is_none() {
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

    fn protected(&self, f: &Flow) -> Vec<SrcId> {
        f.srcs
            .iter()
            .copied()
            .filter(|&s| self.level(s).is_some_and(Level::is_protected))
            .collect()
    }

    // ---- plans -------------------------------------------------------------------

    // Deep plans and expressions grow the stack on demand instead of overflowing it.
    #[recursive::recursive]
    fn visit(
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
            _ => {}
        }

        // Children first.
        let mut inputs = Vec::new();
        let mut infos = Vec::new();
        for child in plan.inputs() {
            let (p, i) = self.visit(child, outer)?;
            inputs.push(p);
            infos.push(i);
        }
        let schemas: Vec<DFSchemaRef> = inputs.iter().map(|p| Arc::clone(p.schema())).collect();
        let rebuilt = plan
            .with_new_exprs(plan.expressions(), inputs)
            .map_err(internal)?;
        let scope = Scope {
            frames: schemas
                .iter()
                .zip(&infos)
                .map(|(s, i)| (s.as_ref(), i.cols.as_slice()))
                .collect(),
            parent: outer,
        };

        // Subqueries in this node's expressions see this node's inputs as their outer scope.
        let rebuilt = self.visit_subqueries(rebuilt, &scope)?;

        let info = match &rebuilt {
            LogicalPlan::Projection(p) => {
                let mut cols = Vec::with_capacity(p.expr.len());
                for e in &p.expr {
                    cols.push(self.flow(e, &scope)?);
                }
                Info {
                    cols,
                    ..first(&infos)
                }
            }
            LogicalPlan::Filter(f) => {
                let mut info = first(&infos);
                self.predicate(&f.predicate, &scope, &mut info.rows, "in WHERE or HAVING")?;
                info
            }
            LogicalPlan::Sort(s) => {
                let mut info = first(&infos);
                for e in &s.expr {
                    let f = self.flow(&e.expr, &scope)?;
                    for p in self.protected(&f) {
                        info.rows.entry(p).or_insert_with(|| "in ORDER BY".into());
                    }
                }
                info
            }
            LogicalPlan::Limit(_)
            | LogicalPlan::Repartition(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Subquery(_) => first(&infos),
            LogicalPlan::Distinct(Distinct::All(_)) => {
                // DISTINCT decides which rows exist by comparing every column.
                let mut info = first(&infos);
                for c in info.cols.clone() {
                    for p in self.protected(&c) {
                        info.rows.entry(p).or_insert_with(|| "in DISTINCT".into());
                    }
                }
                info
            }
            LogicalPlan::Distinct(Distinct::On(on)) => {
                let mut info = first(&infos);
                for e in on
                    .on_expr
                    .iter()
                    .chain(on.sort_expr.iter().flatten().map(|s| &s.expr))
                {
                    let f = self.flow(e, &scope)?;
                    for p in self.protected(&f) {
                        info.rows
                            .entry(p)
                            .or_insert_with(|| "in DISTINCT ON".into());
                    }
                }
                let mut cols = Vec::new();
                for e in &on.select_expr {
                    cols.push(self.flow(e, &scope)?);
                }
                info.cols = cols;
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
                let (info, release) = self.aggregate(a, &first(&infos), &scope)?;
                if let Some(k) = release {
                    let wrapped = suppress_small_groups(a, k)?;
                    return Ok((wrapped, info));
                }
                info
            }
            LogicalPlan::Window(w) => {
                let mut info = first(&infos);
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
                                let x = self.flow(e, &scope)?;
                                f.merge(&x);
                            }
                        }
                        other => {
                            let x = self.flow(other, &scope)?;
                            f.merge(&x);
                        }
                    }
                    for p in self.protected(&f) {
                        self.use_src(p, Need::Plain, "in a window function");
                    }
                    f.other = true;
                    info.cols.push(f);
                }
                info
            }
            LogicalPlan::Values(v) => Info {
                cols: vec![Flow::opaque(); v.schema.fields().len()],
                ..Info::default()
            },
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
                    dup: child.scans.clone(),
                    scans: child.scans,
                }
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "{} is not supported under a disclosure policy",
                    node_name(other)
                )));
            }
        };
        if info.cols.len() != rebuilt.schema().fields().len() {
            return Err(internal(format!(
                "lineage of {} has {} columns, its schema {}",
                node_name(&rebuilt),
                info.cols.len(),
                rebuilt.schema().fields().len()
            )));
        }
        Ok((rebuilt, info))
    }

    fn visit_subqueries(&mut self, plan: LogicalPlan, scope: &Scope<'_>) -> Result<LogicalPlan> {
        let mut failed: Option<Error> = None;
        let out = plan.map_subqueries(|sq| {
            let LogicalPlan::Subquery(sq) = sq else {
                return Ok(Transformed::no(sq));
            };
            match self.visit(&sq.subquery, Some(scope)) {
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
            let grant = self.grants.grant(
                &self.subjects,
                self.request.agency(),
                &self.purpose,
                &format!("{dataset}.{}", field.name()),
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
                other: false,
                origin: Some(id),
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
        let plan = mask_scan(scan, &what, conjunction(preds))?;
        let mut info = Info {
            cols,
            rows: BTreeMap::new(),
            scans: BTreeSet::from([scan_id]),
            dup: BTreeSet::new(),
        };
        if !scan.filters.is_empty() {
            let schema = Arc::clone(&scan.projected_schema);
            let cols = info.cols.clone();
            let scope = Scope {
                frames: vec![(schema.as_ref(), cols.as_slice())],
                parent: None,
            };
            for f in &scan.filters {
                self.predicate(f, &scope, &mut info.rows, "in WHERE")?;
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
            out.scans.extend(info.scans.iter().copied());
            out.dup.extend(info.dup.iter().copied());
        }
        // A union's rows are no longer the rows of one scan: another branch can repeat
        // them (the same dataset again) or pad a group with rows of its own (VALUES, or
        // another dataset), so a group of k rows could hold fewer than k of a scan's rows.
        if infos.len() > 1 {
            out.dup.extend(out.scans.iter().copied());
        }
        Ok(out)
    }

    fn join(
        &mut self,
        j: &datafusion::logical_expr::Join,
        (l, ls): (&Info, &DFSchemaRef),
        (r, rs): (&Info, &DFSchemaRef),
        outer: Option<&Scope<'_>>,
    ) -> Result<Info> {
        let mut rows = l.rows.clone();
        for (s, u) in &r.rows {
            rows.entry(*s).or_insert_with(|| u.clone());
        }
        let lscope = Scope {
            frames: vec![(ls.as_ref(), l.cols.as_slice())],
            parent: outer,
        };
        let rscope = Scope {
            frames: vec![(rs.as_ref(), r.cols.as_slice())],
            parent: outer,
        };
        let both = Scope {
            frames: vec![
                (ls.as_ref(), l.cols.as_slice()),
                (rs.as_ref(), r.cols.as_slice()),
            ],
            parent: outer,
        };
        let mut key_flow = Flow::opaque();
        // Equality keys between the sides, by side, for the uniqueness check.
        let (mut lkeys, mut rkeys) = (BTreeSet::new(), BTreeSet::new());
        for (le, re) in &j.on {
            let lf = self.flow(le, &lscope)?;
            let rf = self.flow(re, &rscope)?;
            self.equality(&lf, &rf, &mut rows, "in a join condition");
            lkeys.extend(self.identity(&lf));
            rkeys.extend(self.identity(&rf));
            key_flow.merge(&lf);
            key_flow.merge(&rf);
        }
        if let Some(f) = &j.filter {
            self.predicate(f, &both, &mut rows, "in a join condition")?;
            for c in split_conjunction(f) {
                if let Expr::BinaryExpr(BinaryExpr {
                    left,
                    op: Operator::Eq,
                    right,
                }) = c
                {
                    for side in [left, right] {
                        let x = self.flow(side, &both)?;
                        if let Some(s) = self.identity(&x)
                            && let Some(src) = self.srcs.get(s)
                        {
                            if l.scans.contains(&src.scan) {
                                lkeys.insert(s);
                            } else if r.scans.contains(&src.scan) {
                                rkeys.insert(s);
                            }
                        }
                    }
                }
            }
            let ff = self.flow(f, &both)?;
            key_flow.merge(&ff);
        }
        let mut mark = Flow::opaque();
        mark.srcs.extend(rows.keys().copied());
        for s in self.protected(&key_flow) {
            mark.srcs.insert(s);
        }
        let mut all_scans = l.scans.clone();
        all_scans.extend(r.scans.iter().copied());
        let (l_unique, r_unique) = (self.unique_on(l, &lkeys), self.unique_on(r, &rkeys));
        let (cols, scans, dup) = match j.join_type {
            JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                // A side's rows repeat unless the other side is unique on the join key;
                // the side an outer join pads with nulls counts as repeated too.
                let mut dup = l.dup.clone();
                dup.extend(r.dup.iter().copied());
                let pads_left = matches!(j.join_type, JoinType::Right | JoinType::Full);
                let pads_right = matches!(j.join_type, JoinType::Left | JoinType::Full);
                if !r_unique || pads_left {
                    dup.extend(l.scans.iter().copied());
                }
                if !l_unique || pads_right {
                    dup.extend(r.scans.iter().copied());
                }
                (
                    l.cols.iter().chain(&r.cols).cloned().collect(),
                    all_scans,
                    dup,
                )
            }
            JoinType::LeftSemi | JoinType::LeftAnti => {
                (l.cols.clone(), l.scans.clone(), l.dup.clone())
            }
            JoinType::RightSemi | JoinType::RightAnti => {
                (r.cols.clone(), r.scans.clone(), r.dup.clone())
            }
            JoinType::LeftMark => {
                let mut cols = l.cols.clone();
                cols.push(mark);
                (cols, l.scans.clone(), l.dup.clone())
            }
            JoinType::RightMark => {
                let mut cols = r.cols.clone();
                cols.push(mark);
                (cols, r.scans.clone(), r.dup.clone())
            }
        };
        Ok(Info {
            cols,
            rows,
            scans,
            dup,
        })
    }

    /// Whether `side`'s rows are the rows of one scan, unrepeated, and `keys` (columns
    /// of that scan compared for equality with the other side) hold a declared key.
    fn unique_on(&self, side: &Info, keys: &BTreeSet<SrcId>) -> bool {
        let [scan] = side.scans.iter().copied().collect::<Vec<_>>()[..] else {
            return false;
        };
        if side.dup.contains(&scan) {
            return false;
        }
        let Some(dataset) = self.scan_datasets.get(scan) else {
            return false;
        };
        let Some(key) = self.config.keys.get(dataset) else {
            return false;
        };
        let compared: BTreeSet<&str> = keys
            .iter()
            .filter_map(|&k| self.srcs.get(k))
            .filter(|s| s.scan == scan)
            .map(|s| s.column.as_str())
            .collect();
        key.iter().all(|c| compared.contains(c.as_str()))
    }

    /// Returns the released k if this aggregate releases aggregate-level data.
    fn aggregate(
        &mut self,
        a: &datafusion::logical_expr::Aggregate,
        child: &Info,
        scope: &Scope<'_>,
    ) -> Result<(Info, Option<u32>)> {
        let mut cols = Vec::new();
        let mut group_by = Vec::new();
        for g in grouping_set_to_exprlist(&a.group_expr).map_err(internal)? {
            let f = self.flow(g, scope)?;
            for p in self.protected(&f) {
                self.use_src(p, Need::Plain, "in GROUP BY");
            }
            group_by.push(g.to_string());
            cols.push(f);
        }
        if matches!(a.group_expr.as_slice(), [Expr::GroupingSet(_)]) {
            cols.push(Flow::default());
        }
        // Aggregate-level columns whose data this aggregate releases.
        let mut released: BTreeSet<SrcId> = BTreeSet::new();
        // Protected columns of enclosing queries: their influence is not released by
        // grouping here, so it stays on every output.
        let mut carried = Flow::default();
        let local = |me: &Self, s: SrcId| {
            me.srcs
                .get(s)
                .is_some_and(|x| child.scans.contains(&x.scan))
        };
        for ae in &a.aggr_expr {
            let Expr::AggregateFunction(af) = strip_alias(ae) else {
                return Err(internal(format!("unexpected aggregate expression {ae}")));
            };
            let name = af.func.name().to_ascii_lowercase();
            let mut arg = Flow::default();
            for e in &af.params.args {
                let f = self.flow(e, scope)?;
                arg.merge(&f);
            }
            let prot = self.protected(&arg);
            if !prot.is_empty() {
                let releasing = RELEASING_AGGREGATES.contains(&name.as_str());
                let agg_level: Vec<SrcId> = prot
                    .iter()
                    .copied()
                    .filter(|&s| matches!(self.level(s), Some(Level::Aggregate { .. })))
                    .collect();
                let mixed = arg.other
                    || arg
                        .srcs
                        .iter()
                        .any(|&s| !matches!(self.level(s), Some(Level::Aggregate { .. })));
                for &s in &prot {
                    if !local(self, s) {
                        carried.srcs.insert(s);
                        continue;
                    }
                    if !releasing {
                        self.use_src(
                            s,
                            Need::Plain,
                            &format!("inside {name}(), which is not COUNT, SUM, AVG, MIN or MAX"),
                        );
                    } else if af.params.filter.is_some() {
                        self.use_src(
                            s,
                            Need::Plain,
                            &format!("inside {name}() with a FILTER clause"),
                        );
                    } else if mixed && agg_level.contains(&s) {
                        self.use_src(
                            s,
                            Need::Plain,
                            &format!(
                                "inside {name}() together with other columns, which could single a row out"
                            ),
                        );
                    } else {
                        self.use_src(s, Need::Aggregate, &format!("inside {name}()"));
                        released.insert(s);
                    }
                }
            }
            if let Some(filter) = &af.params.filter {
                let f = self.flow(filter, scope)?;
                for s in self.protected(&f) {
                    if local(self, s) {
                        self.use_src(s, Need::Aggregate, &format!("in the FILTER of {name}()"));
                        released.insert(s);
                    } else {
                        carried.srcs.insert(s);
                    }
                }
            }
            for o in &af.params.order_by {
                let f = self.flow(&o.expr, scope)?;
                for s in self.protected(&f) {
                    self.use_src(s, Need::Plain, &format!("in the ORDER BY of {name}()"));
                }
            }
            cols.push(Flow::opaque());
        }
        for (&s, usage) in &child.rows {
            if !local(self, s) {
                carried.srcs.insert(s);
                continue;
            }
            self.use_src(s, Need::Aggregate, &format!("{usage} below an aggregate"));
            released.insert(s);
        }
        released.retain(|&s| matches!(self.level(s), Some(Level::Aggregate { .. })));
        for &s in &released {
            if self
                .srcs
                .get(s)
                .is_some_and(|x| child.dup.contains(&x.scan))
            {
                self.use_src(
                    s,
                    Need::Plain,
                    "in an aggregate over a join or union that may repeat its rows (a group of k rows could hold fewer than k)",
                );
            }
        }
        if !carried.srcs.is_empty() {
            for c in &mut cols {
                c.merge(&carried);
            }
        }
        let k = released
            .iter()
            .filter_map(|&s| match self.level(s) {
                Some(Level::Aggregate { k }) => Some(*k),
                _ => None,
            })
            .max();
        if let Some(k) = k {
            self.suppressions.push(Suppression {
                k,
                group_by,
                columns: released
                    .iter()
                    .filter_map(|&s| self.srcs.get(s))
                    .map(|s| format!("{}.{}", s.dataset, s.column))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            });
        }
        Ok((
            Info {
                cols,
                rows: BTreeMap::new(),
                scans: child.scans.clone(),
                dup: child.dup.clone(),
            },
            k,
        ))
    }

    // ---- expressions -------------------------------------------------------------

    /// A column exactly, through aliases and casts: `Some(column)`.
    fn identity(&self, f: &Flow) -> Option<SrcId> {
        let o = f.origin?;
        (f.srcs.len() == 1 && !f.other).then_some(o)
    }

    /// `l = r`: an equality join between two dataset columns of different scans is a
    /// join use; anything else is a comparison, recorded in `rows`.
    fn equality(&mut self, l: &Flow, r: &Flow, rows: &mut BTreeMap<SrcId, String>, usage: &str) {
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
        let mut both = l.clone();
        both.merge(r);
        for s in self.protected(&both) {
            rows.entry(s).or_insert_with(|| usage.to_string());
        }
    }

    fn predicate(
        &mut self,
        pred: &Expr,
        scope: &Scope<'_>,
        rows: &mut BTreeMap<SrcId, String>,
        usage: &str,
    ) -> Result<()> {
        for c in split_conjunction(pred) {
            if let Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) = c
            {
                let l = self.flow(left, scope)?;
                let r = self.flow(right, scope)?;
                self.equality(&l, &r, rows, usage);
                continue;
            }
            let f = self.flow(c, scope)?;
            for s in self.protected(&f) {
                rows.entry(s).or_insert_with(|| usage.to_string());
            }
        }
        Ok(())
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

    #[recursive::recursive]
    fn flow(&mut self, e: &Expr, scope: &Scope<'_>) -> Result<Flow> {
        Ok(match e {
            Expr::Column(c) => {
                if let Some(f) = scope.local(c).or_else(|| scope.outer(c)) {
                    let f = f.clone();
                    self.reference(&f)
                } else if c.name == datafusion::logical_expr::Aggregate::INTERNAL_GROUPING_ID {
                    Flow::default()
                } else {
                    return Err(internal(format!("column {c} is not in scope")));
                }
            }
            Expr::OuterReferenceColumn(_, c) => {
                let f = scope
                    .outer(c)
                    .cloned()
                    .ok_or_else(|| internal(format!("outer column {c} is not in scope")))?;
                self.reference(&f)
            }
            Expr::Alias(a) => self.flow(&a.expr, scope)?,
            Expr::Cast(c) => {
                let f = self.flow(&c.expr, scope)?;
                let from = scope
                    .frames
                    .iter()
                    .find_map(|(schema, _)| c.expr.get_type(*schema).ok());
                if !safe_cast(from.as_ref(), c.field.data_type()) {
                    self.fallible(&f, &format!("CAST(... AS {})", c.field.data_type()));
                }
                f
            }
            Expr::TryCast(c) => self.flow(&c.expr, scope)?,
            Expr::Literal(..) | Expr::ScalarVariable(..) | Expr::Placeholder(_) => Flow::default(),
            Expr::Exists(x) => {
                let info = self.subquery_info(&x.subquery)?;
                let mut f = Flow::opaque();
                f.srcs.extend(info.rows.keys().copied());
                f
            }
            Expr::ScalarSubquery(sq) => {
                let info = self.subquery_info(sq)?;
                let mut f = Flow::opaque();
                if let Some(c) = info.cols.first() {
                    f.merge(c);
                }
                f.srcs.extend(info.rows.keys().copied());
                f.other = true;
                f
            }
            Expr::InSubquery(i) => {
                let lhs = self.flow(&i.expr, scope)?;
                let info = self.subquery_info(&i.subquery)?;
                let rhs = info.cols.first().cloned().unwrap_or_default();
                let mut rows = BTreeMap::new();
                self.equality(&lhs, &rhs, &mut rows, "in IN (subquery)");
                let mut f = Flow::opaque();
                f.srcs.extend(rows.keys().copied());
                f.srcs.extend(info.rows.keys().copied());
                f
            }
            Expr::SetComparison(s) => {
                let lhs = self.flow(&s.expr, scope)?;
                let info = self.subquery_info(&s.subquery)?;
                let mut f = Flow::opaque();
                f.merge(&lhs);
                if let Some(c) = info.cols.first() {
                    f.merge(c);
                }
                f.srcs.extend(info.rows.keys().copied());
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
                    let x = self.flow(k, scope)?;
                    f.merge(&x);
                }
                f.origin = None;
                if matches!(e, Expr::AggregateFunction(_) | Expr::WindowFunction(_)) {
                    f.other = true;
                }
                if let Some(what) = may_fail(e) {
                    self.fallible(&f, &what);
                }
                f
            }
        })
    }

    /// An operation that can fail at run time applied to protected data: whether the
    /// query errors would reveal the data, however the result is aggregated.
    fn fallible(&mut self, f: &Flow, what: &str) {
        for s in self.protected(f) {
            self.use_src(
                s,
                Need::Plain,
                &format!(
                    "in {what}, which can fail at run time, so an error would reveal its value"
                ),
            );
        }
    }
}

/// Scalar functions that cannot fail on any input value.
const INFALLIBLE_FUNCTIONS: &[&str] = &[
    "coalesce",
    "nullif",
    "nvl",
    "nvl2",
    "greatest",
    "least",
    "round",
    "floor",
    "ceil",
    "trunc",
    "signum",
    "isnan",
    "iszero",
    "lower",
    "upper",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "concat",
    "concat_ws",
    "starts_with",
    "ends_with",
];

/// Whether evaluating `e` itself (not its children) can fail for some input values; if
/// so, a name for it.
fn may_fail(e: &Expr) -> Option<String> {
    use Operator::*;
    match e {
        Expr::BinaryExpr(b) => (!matches!(
            b.op,
            Eq | NotEq
                | Lt
                | LtEq
                | Gt
                | GtEq
                | Plus
                | Minus
                | Multiply
                | And
                | Or
                | IsDistinctFrom
                | IsNotDistinctFrom
                | StringConcat
                | LikeMatch
                | ILikeMatch
                | NotLikeMatch
                | NotILikeMatch
        ))
        .then(|| format!("the operator {}", b.op)),
        Expr::ScalarFunction(f) => {
            let name = f.func.name().to_ascii_lowercase();
            (!INFALLIBLE_FUNCTIONS.contains(&name.as_str())).then(|| format!("{name}()"))
        }
        Expr::Negative(_) => Some("negation".into()),
        Expr::Not(_)
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNotFalse(_)
        | Expr::IsNotUnknown(_)
        | Expr::Between(_)
        | Expr::InList(_)
        | Expr::Like(_)
        | Expr::SimilarTo(_)
        | Expr::Case(_)
        | Expr::AggregateFunction(_)
        | Expr::WindowFunction(_)
        | Expr::GroupingSet(_) => None,
        other => Some(other.variant_name().to_string()),
    }
}

/// Whether a cast from `from` (if known) to `to` cannot fail.
fn safe_cast(from: Option<&DataType>, to: &DataType) -> bool {
    use DataType::*;
    if matches!(to, Float64 | Float32 | Utf8 | LargeUtf8 | Utf8View) || from == Some(to) {
        return true;
    }
    matches!(
        (from, to),
        (
            Some(Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32 | Boolean),
            Int64
        ) | (Some(Int8 | Int16 | UInt8 | Boolean), Int32)
            | (Some(Date32), Date64)
    )
}

fn first(infos: &[Info]) -> Info {
    infos.first().cloned().unwrap_or_default()
}
