//! The one door for untrusted SQL, used by the home planner and the owner alike: parse
//! one statement, refuse anything but a read-only query, and name the datasets it reads
//! as `<agency>.<dataset>`. Nothing is planned or run here.
//!
//! No statement may crash a gateway. The SQL parser builds a chain of n `OR`s (or `+`s)
//! as a tree n deep, and much of what follows it (cloning, dropping and printing
//! expressions, evaluating them) recurses once per level with no guard. So the
//! statement is bounded before it goes further ([`Limits`]): its size in bytes and
//! tokens first, then, on a stack sized for that many tokens, its nesting. Long chains
//! of `AND` or `OR` are rebalanced into trees of logarithmic depth, so that a list of
//! thousands of alternatives stays ordinary SQL; what still nests too deep is refused
//! with [`GatewayError::TooLarge`], naming what and how much. So is what DataFusion
//! takes long to plan, before any deadline applies: CTEs used so often that the plan
//! would be far larger than the SQL, and very wide CASEs. So are types that would be
//! too large or too deep to plan ([`GatewayError::TypeTooLarge`]).

use std::ops::ControlFlow;

use datafusion::common::TableReference;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SQLOptions;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DataType as SqlDataType, Expr as SqlExpr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Query, Select, TableFactor, Value, Visit, VisitMut, Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use sluice_core::{AgencyId, CATALOG, DatasetName, DatasetRef};

use crate::error::{GatewayError, Result};

/// The bounds on one statement.
#[derive(Debug, Clone, Copy)]
pub struct Limits;

impl Limits {
    /// Longest statement, in bytes.
    pub const MAX_BYTES: usize = 4 * 1024 * 1024;
    /// Most tokens (words, numbers, strings, operators; not whitespace). An IN list of
    /// 40,000 ids, or an OR of 20,000 comparisons, fits.
    pub const MAX_TOKENS: usize = 100_000;
    /// Deepest expression nesting, after `AND`/`OR` chains are rebalanced. Real queries
    /// nest a few dozen levels; a chain of 500 `+` is already generated SQL.
    pub const MAX_DEPTH: usize = 500;
    /// Most conditions in one `AND` chain. DataFusion's optimizer splits conjunctions
    /// and joins them again as a chain as deep as it is long, which then evaluates
    /// recursively, so these cannot simply be rebalanced.
    pub const MAX_CONJUNCTS: usize = 1_000;
    /// Most SELECTs and table references: each adds a level to the plan, and plans are
    /// dropped and cloned recursively.
    pub const MAX_RELATIONS: usize = 256;
    /// Most SELECTs and table references once each CTE is counted at every use, as
    /// DataFusion plans it: a CTE that uses the one before twice doubles the plan at
    /// each level, so 20 lines of SQL would plan a million scans.
    pub const MAX_EXPANDED_RELATIONS: usize = 4 * Self::MAX_RELATIONS;
    /// Most `WHEN` branches of one `CASE`. DataFusion's optimizer takes time growing with
    /// about the cube of a CASE's branches (`CASE WHEN c1 THEN true … ELSE false END`: 50
    /// ms for 100 branches, 1 s for 300 in a debug build), on the thread that plans,
    /// before any deadline applies.
    pub const MAX_CASE_BRANCHES: usize = 128;
    /// Most `WHEN` branches of all the statement's `CASE`s together, so that many wide
    /// CASEs cannot add up to what one very wide CASE would cost.
    pub const MAX_CASE_BRANCHES_IN_ALL: usize = 4 * Self::MAX_CASE_BRANCHES;
    /// Most calls that build a list, struct or map around their arguments (`struct`,
    /// `named_struct`, `arrays_zip`, `make_array`, `array_agg`, `map`, `[…]`, `(a, b)`).
    /// Each can nest a type one level deeper, and types are dropped and compared
    /// recursively.
    pub const MAX_TYPE_BUILDERS: usize = 64;
    /// Most fields a built type may hold, bounded from the SQL alone. `arrays_zip(s, s)`
    /// doubles its argument's type, so 30 derived tables that each zip their input build
    /// a type of 2^30 fields while DataFusion plans it, before any plan can be checked.
    pub const MAX_BUILT_FIELDS: usize = 65_536;
    /// Deepest type written in the statement (`INT[][]` is 2 deep). DataFusion converts,
    /// compares and drops types recursively.
    pub const MAX_TYPE_DEPTH: usize = 32;
    /// Longest type written as text (`arrow_cast(x, 'List(Int64)')`), in bytes.
    /// DataFusion parses such text recursively.
    pub const MAX_TYPE_TEXT: usize = 1024;
    /// The parser's recursion limit (it counts nested parentheses, subqueries and
    /// function calls). DataFusion's unparser writes every binary operator in
    /// parentheses, so a sub-query of 1,000 conditions nests 1,000 deep; the parser runs
    /// on a stack sized for the statement, so this only bounds the work.
    pub const PARSER_RECURSION: usize = 4 * Self::MAX_CONJUNCTS;
}

/// `config` with the parser's recursion limit of [`Limits::PARSER_RECURSION`]. Every
/// session that parses untrusted SQL (or SQL unparsed from it) is built with this.
pub fn with_sql_limits(
    mut config: datafusion::prelude::SessionConfig,
) -> datafusion::prelude::SessionConfig {
    if let Ok(limit) =
        datafusion::common::config::ConfigNonZeroUsize::try_new(Limits::PARSER_RECURSION)
    {
        config.options_mut().sql_parser.recursion_limit = limit;
    }
    config
}

/// The configuration every gateway session starts from: [`with_sql_limits`], and sorts
/// that merge their input's partitions before sorting. DataFusion 55 sorts each partition
/// and merges them after, and that merge drops a key that is constant within each branch
/// of a UNION ALL but differs between branches: `SELECT * FROM (SELECT 'bj' AS city,
/// amount … UNION ALL SELECT 'sh', amount …) ORDER BY city, amount LIMIT 3` could start
/// with 'sh', ordered by amount alone.
///
/// An optimizer rule that fails is skipped rather than failing the query: a rule only
/// rewrites a plan into an equivalent one, and DataFusion 55's `eliminate_group_by_constant`
/// fails on `GROUP BY CAST(u.k AS VARCHAR), u.k`, whose two keys it names alike.
///
/// An aggregate's input is not checked against its logical schema. DataFusion 55 judges
/// the nullability of `CASE WHEN s <> 'x' AND … THEN s ELSE 'other' END` by its
/// conditions in the logical plan (not NULL) and by its branches in the physical one
/// (NULL, where `s` may be NULL, as every remote column may), and refused an aggregate
/// over a projection of such a CASE. The two plans differ in nullability only.
pub fn session_config() -> datafusion::prelude::SessionConfig {
    let mut config = with_sql_limits(datafusion::prelude::SessionConfig::new());
    config.options_mut().optimizer.repartition_sorts = false;
    config.options_mut().optimizer.skip_failed_rules = true;
    config
        .options_mut()
        .execution
        .skip_physical_aggregate_schema_check = true;
    config
}

/// Stack for walking a statement of `tokens` tokens: its nesting is at most about one
/// level per token, and a level of the parser or of a derived visitor takes well under
/// the per-token allowance in a debug build.
fn stack_for(tokens: usize) -> usize {
    const BASE: usize = 2 * 1024 * 1024;
    const PER_TOKEN: usize = 4 * 1024;
    BASE + tokens.saturating_mul(PER_TOKEN)
}

/// Run `f` on a stack big enough for a statement of `tokens` tokens. Anything that walks
/// an unchecked statement (parsing, printing, dropping it) must run inside.
pub fn on_stack<T>(tokens: usize, f: impl FnOnce() -> T) -> T {
    stacker::grow(stack_for(tokens), f)
}

/// Run `f`, which walks SQL generated from a plan the intake already bounded (the
/// federation's unparsed sub-queries), on a stack of its own: such SQL nests about
/// twice as deep as its plan, since the unparser writes every operator in parentheses.
pub fn on_generated_sql_stack<T>(f: impl FnOnce() -> T) -> T {
    stacker::grow(64 * 1024 * 1024, f)
}

/// One parsed read-only query and the datasets it names.
#[derive(Debug)]
pub struct ParsedQuery {
    pub statement: Statement,
    /// Every dataset the SQL names, once each, in order of appearance.
    pub tables: Vec<DatasetRef>,
}

/// Parse `sql` as untrusted input against `state`'s dialect.
pub fn parse(state: &SessionState, sql: &str) -> Result<ParsedQuery> {
    if sql.len() > Limits::MAX_BYTES {
        return Err(GatewayError::TooLarge {
            what: "bytes",
            found: sql.len(),
            limit: Limits::MAX_BYTES,
        });
    }
    let tokens = count_tokens(state, sql)?;
    if tokens > Limits::MAX_TOKENS {
        return Err(GatewayError::TooLarge {
            what: "tokens",
            found: tokens,
            limit: Limits::MAX_TOKENS,
        });
    }
    on_stack(tokens, || parse_bounded(state, sql))
}

/// The statement's tokens, whitespace and comments aside. The tokenizer is a loop, so
/// this is safe on any stack.
fn count_tokens(state: &SessionState, sql: &str) -> Result<usize> {
    let name = &state.config().options().sql_parser.dialect;
    let dialect = dialect_from_str(name)
        .ok_or_else(|| GatewayError::Sql(format!("unsupported SQL dialect {name}")))?;
    let tokens = Tokenizer::new(dialect.as_ref(), sql)
        .tokenize()
        .map_err(|e| GatewayError::Sql(e.to_string()))?;
    Ok(tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
        .count())
}

/// Everything that walks the statement before it is known to be shallow; runs on a
/// stack sized by [`on_stack`], and drops what it refuses there too.
fn parse_bounded(state: &SessionState, sql: &str) -> Result<ParsedQuery> {
    let mut statement = state
        .sql_to_statement(sql, &state.config().options().sql_parser.dialect)
        .map_err(|e| GatewayError::Sql(e.to_string()))?;
    check_is_query(&statement)?;
    rebalance(&mut statement)?;
    check_shape(&statement)?;
    let refs = state
        .resolve_table_references(&statement)
        .map_err(|e| GatewayError::Sql(e.to_string()))?;
    let mut tables = Vec::new();
    for r in refs {
        let d = dataset_ref(&r)?;
        if !tables.contains(&d) {
            tables.push(d);
        }
    }
    Ok(ParsedQuery { statement, tables })
}

/// Rewrite every chain of `AND` (or of `OR`) as a balanced tree: `a OR b OR c OR d`
/// becomes `(a OR b) OR (c OR d)`. Both are associative in SQL's three-valued logic,
/// and the terms keep their order.
fn rebalance(statement: &mut Statement) -> Result<()> {
    struct Balance;
    impl VisitorMut for Balance {
        type Break = GatewayError;
        // Before the visitor descends: it then walks the balanced tree, not the chain.
        fn pre_visit_expr(&mut self, e: &mut SqlExpr) -> ControlFlow<GatewayError> {
            let op = match e {
                SqlExpr::BinaryOp {
                    op: op @ (BinaryOperator::And | BinaryOperator::Or),
                    ..
                } => op.clone(),
                _ => return ControlFlow::Continue(()),
            };
            let terms = chain_terms(e, &op);
            if op == BinaryOperator::And && terms.len() > Limits::MAX_CONJUNCTS {
                return ControlFlow::Break(GatewayError::TooLarge {
                    what: "conditions joined by AND",
                    found: terms.len(),
                    limit: Limits::MAX_CONJUNCTS,
                });
            }
            *e = balanced(terms, &op);
            ControlFlow::Continue(())
        }
    }
    let Statement::Statement(s) = statement else {
        return Ok(());
    };
    match VisitMut::visit(s.as_mut(), &mut Balance) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Take the terms of the `op` chain at `e` apart, left to right, without recursion.
/// Parentheses around a chain of the same operator do not change its meaning, so they
/// are looked through (DataFusion's unparser writes every operator in parentheses).
fn chain_terms(e: &mut SqlExpr, op: &BinaryOperator) -> Vec<SqlExpr> {
    let placeholder = || SqlExpr::Value(Value::Null.with_empty_span());
    let mut terms = Vec::new();
    let mut stack = vec![std::mem::replace(e, placeholder())];
    while let Some(x) = stack.pop() {
        match x {
            SqlExpr::BinaryOp { left, op: o, right } if &o == op => {
                stack.push(*right);
                stack.push(*left);
            }
            SqlExpr::Nested(inner) if matches!(inner.as_ref(), SqlExpr::BinaryOp { op: o, .. } if o == op) =>
            {
                stack.push(*inner);
            }
            other => terms.push(other),
        }
    }
    terms
}

/// A balanced tree of `op` over `terms` (at least one), in order.
fn balanced(mut terms: Vec<SqlExpr>, op: &BinaryOperator) -> SqlExpr {
    if terms.len() <= 1 {
        return terms
            .pop()
            .unwrap_or_else(|| SqlExpr::Value(Value::Null.with_empty_span()));
    }
    let right = terms.split_off(terms.len() / 2);
    SqlExpr::BinaryOp {
        left: Box::new(balanced(terms, op)),
        op: op.clone(),
        right: Box::new(balanced(right, op)),
    }
}

/// Refuse a statement that still nests too deep, reads too many relations, or builds
/// types too large to plan.
fn check_shape(statement: &Statement) -> Result<()> {
    #[derive(Default)]
    struct Shape {
        depth: usize,
        deepest: usize,
        relations: usize,
        expanded: Expansion,
        widest_case: usize,
        case_branches: usize,
        types: BuiltTypes,
    }
    impl Visitor for Shape {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            self.expanded.enter_query(q);
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            self.expanded.leave_query(q);
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &SqlExpr) -> ControlFlow<()> {
            self.depth += 1;
            self.deepest = self.deepest.max(self.depth);
            if let SqlExpr::Case { conditions, .. } = e {
                self.widest_case = self.widest_case.max(conditions.len());
                self.case_branches = self.case_branches.saturating_add(conditions.len());
            }
            self.types.enter_expr();
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, e: &SqlExpr) -> ControlFlow<()> {
            self.depth = self.depth.saturating_sub(1);
            self.types.leave_expr(e);
            ControlFlow::Continue(())
        }
        fn pre_visit_select(&mut self, _: &Select) -> ControlFlow<()> {
            self.relations += 1;
            self.expanded.add(1);
            self.types.enter_select();
            ControlFlow::Continue(())
        }
        fn post_visit_select(&mut self, _: &Select) -> ControlFlow<()> {
            self.types.leave_select();
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
            self.relations += 1;
            self.expanded.add(1);
            self.expanded.use_cte(t);
            // `UNNEST(…)` or `LATERAL (VALUES …)` in FROM builds columns of its own.
            self.types.enter_select();
            ControlFlow::Continue(())
        }
        fn post_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<()> {
            self.types.leave_select();
            ControlFlow::Continue(())
        }
    }
    let Statement::Statement(s) = statement else {
        return Ok(());
    };
    let mut shape = Shape::default();
    let _ = Visit::visit(s.as_ref(), &mut shape);
    let bounds = [
        (
            "levels of nested expressions",
            shape.deepest,
            Limits::MAX_DEPTH,
        ),
        (
            "SELECTs and table references",
            shape.relations,
            Limits::MAX_RELATIONS,
        ),
        (
            "SELECTs and table references once each CTE is counted at every use",
            shape.expanded.total,
            Limits::MAX_EXPANDED_RELATIONS,
        ),
        (
            "WHEN branches in one CASE",
            shape.widest_case,
            Limits::MAX_CASE_BRANCHES,
        ),
        (
            "WHEN branches in all CASEs together",
            shape.case_branches,
            Limits::MAX_CASE_BRANCHES_IN_ALL,
        ),
    ];
    if let Some(&(what, found, limit)) = bounds.iter().find(|(_, found, limit)| found > limit) {
        return Err(GatewayError::TooLarge { what, found, limit });
    }
    if let Some(e) = shape.types.refused.take() {
        return Err(e);
    }
    let fields = shape.types.fields();
    if fields > Limits::MAX_BUILT_FIELDS {
        return Err(GatewayError::TypeTooLarge {
            what: "fields that its lists, structs and maps may hold",
            found: fields,
            limit: Limits::MAX_BUILT_FIELDS,
        });
    }
    if shape.types.builders > Limits::MAX_TYPE_BUILDERS {
        return Err(GatewayError::TypeTooLarge {
            what: "calls that build a list, struct or map",
            found: shape.types.builders,
            limit: Limits::MAX_TYPE_BUILDERS,
        });
    }
    Ok(())
}

/// The SELECTs and table references of a statement, each use of a CTE counted as its
/// body's. A CTE is in scope from its definition to the end of the query that defines
/// it, and a use names it alone; a name that is not a CTE in scope, or a CTE used in
/// its own body, counts as one table.
#[derive(Debug, Default)]
struct Expansion {
    /// Per query being walked, its relations so far.
    open: Vec<usize>,
    /// Per query being walked, how many CTEs it defines.
    defined: Vec<usize>,
    /// The CTEs in scope, innermost last.
    ctes: Vec<CteSize>,
    /// The whole statement's.
    total: usize,
}

#[derive(Debug)]
struct CteSize {
    name: String,
    /// Its body, to know when the walk leaves it.
    body: *const Query,
    /// Its body's relations, once walked.
    relations: Option<usize>,
}

impl Expansion {
    fn add(&mut self, n: usize) {
        if let Some(open) = self.open.last_mut() {
            *open = open.saturating_add(n);
        }
    }

    fn enter_query(&mut self, q: &Query) {
        self.open.push(0);
        let with = q.with.iter().flat_map(|w| &w.cte_tables);
        let before = self.ctes.len();
        self.ctes.extend(with.map(|cte| CteSize {
            name: cte.alias.name.value.to_ascii_lowercase(),
            body: std::ptr::from_ref(cte.query.as_ref()),
            relations: None,
        }));
        self.defined.push(self.ctes.len() - before);
    }

    fn leave_query(&mut self, q: &Query) {
        let relations = self.open.pop().unwrap_or(0);
        let defined = self.defined.pop().unwrap_or(0);
        self.ctes.truncate(self.ctes.len().saturating_sub(defined));
        // A CTE's body counts where the CTE is used, not where it is defined.
        if let Some(cte) = self.ctes.iter_mut().rev().find(|c| std::ptr::eq(c.body, q)) {
            cte.relations = Some(relations);
        } else if self.open.is_empty() {
            self.total = self.total.saturating_add(relations);
        } else {
            self.add(relations);
        }
    }

    fn use_cte(&mut self, t: &TableFactor) {
        let TableFactor::Table { name, .. } = t else {
            return;
        };
        let [part] = name.0.as_slice() else {
            return;
        };
        let Some(ident) = part.as_ident() else {
            return;
        };
        let used = self
            .ctes
            .iter()
            .rev()
            .find(|c| c.name.eq_ignore_ascii_case(&ident.value))
            .and_then(|c| c.relations);
        if let Some(n) = used {
            self.add(n);
        }
    }
}

/// A bound, from the SQL alone, on the fields of the types a statement builds.
///
/// An expression's *fan-out* bounds its type's fields as a multiple of the most any
/// column it reads holds: a column or constant has 1, a struct (or zip, or map) the sum
/// of its arguments', a cast the fields of its type, anything else the most of its
/// arguments'. A SELECT's columns (or a FROM item's, such as UNNEST) then hold at most
/// its largest fan-out times what its inputs' columns hold, so the product over every
/// SELECT and FROM item of its largest fan-out bounds every type in the statement,
/// however its derived tables and CTEs refer to each other.
#[derive(Debug)]
struct BuiltTypes {
    /// Per expression being walked, its children's fan-outs so far.
    exprs: Vec<Vec<usize>>,
    /// Per SELECT or FROM item being walked (the statement itself at the bottom), its
    /// largest fan-out.
    selects: Vec<usize>,
    /// The product of the largest fan-out of each SELECT and FROM item already walked.
    product: usize,
    builders: usize,
    /// A type written in the statement that is too deep or too long.
    refused: Option<GatewayError>,
}

impl Default for BuiltTypes {
    fn default() -> Self {
        BuiltTypes {
            exprs: Vec::new(),
            selects: vec![1],
            product: 1,
            builders: 0,
            refused: None,
        }
    }
}

impl BuiltTypes {
    fn enter_expr(&mut self) {
        self.exprs.push(Vec::new());
    }

    fn leave_expr(&mut self, e: &SqlExpr) {
        let children = self.exprs.pop().unwrap_or_default();
        let widest = children.iter().copied().max().unwrap_or(1);
        let sum = || children.iter().fold(0usize, |a, &c| a.saturating_add(c));
        let fan_out = match builds(e) {
            None => widest,
            // A cast's type is the one written, whatever it casts: only a nested one
            // builds anything.
            Some(Builds::Written(t)) => match t.shape() {
                Ok((fields, depth)) => {
                    if depth > 0 {
                        self.builders += 1;
                    }
                    fields
                }
                Err(e) => {
                    self.refused.get_or_insert(e);
                    widest
                }
            },
            Some(Builds::List) => {
                self.builders += 1;
                widest
            }
            Some(Builds::Struct) => {
                self.builders += 1;
                sum()
            }
            // Every second argument is a field's name.
            Some(Builds::NamedStruct) => {
                self.builders += 1;
                children
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .fold(0usize, |a, &c| a.saturating_add(c))
            }
            Some(Builds::Map) => {
                self.builders += 1;
                widest.saturating_mul(2)
            }
        }
        .max(1);
        if let Some(parent) = self.exprs.last_mut() {
            parent.push(fan_out);
        }
        if let Some(select) = self.selects.last_mut() {
            *select = (*select).max(fan_out);
        }
    }

    fn enter_select(&mut self) {
        self.selects.push(1);
    }

    fn leave_select(&mut self) {
        if let Some(widest) = self.selects.pop() {
            self.product = self.product.saturating_mul(widest);
        }
    }

    /// The bound on the fields of any type the statement builds.
    fn fields(&self) -> usize {
        self.selects
            .iter()
            .fold(self.product, |a, &s| a.saturating_mul(s))
    }
}

/// What a list, struct or map builder does to its arguments' types.
enum Builds<'a> {
    /// The type written in a cast: as many fields as it has.
    Written(WrittenType<'a>),
    /// A list of (the common type of) its arguments.
    List,
    /// A struct of its arguments.
    Struct,
    /// A struct of every second argument.
    NamedStruct,
    /// A map from its keys' type to its values' type.
    Map,
}

/// Whether `e` builds a list, struct or map around its arguments, and how. Functions
/// that return a fixed type, or their argument's, are not builders.
fn builds(e: &SqlExpr) -> Option<Builds<'_>> {
    match e {
        SqlExpr::Cast { data_type, .. } => Some(Builds::Written(WrittenType::Sql(data_type))),
        SqlExpr::Array(_) => Some(Builds::List),
        SqlExpr::Struct { .. } | SqlExpr::Tuple(_) | SqlExpr::Dictionary(_) => Some(Builds::Struct),
        SqlExpr::Map(_) => Some(Builds::Map),
        SqlExpr::Function(f) => {
            let name = f.name.0.last()?.as_ident()?.value.to_ascii_lowercase();
            match name.as_str() {
                "make_array" | "make_list" | "array_repeat" | "list_repeat" | "array_agg" => {
                    Some(Builds::List)
                }
                "struct" | "row" | "arrays_zip" | "list_zip" => Some(Builds::Struct),
                "named_struct" => Some(Builds::NamedStruct),
                "map" | "make_map" => Some(Builds::Map),
                // The type as text, as DataFusion spells it.
                "arrow_cast" | "arrow_try_cast" => {
                    let FunctionArguments::List(list) = &f.args else {
                        return None;
                    };
                    match list.args.get(1) {
                        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(v)))) => {
                            Some(Builds::Written(WrittenType::Text(
                                v.value.clone().into_string()?,
                            )))
                        }
                        _ => None,
                    }
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A type the statement writes out.
enum WrittenType<'a> {
    /// In SQL: `CAST(x AS INT[])`.
    Sql(&'a SqlDataType),
    /// As DataFusion's text for an Arrow type: `arrow_cast(x, 'List(Int64)')`.
    Text(String),
}

impl WrittenType<'_> {
    /// At most how many fields the type holds, and how deep it nests, if it is shallow
    /// and short enough.
    fn shape(&self) -> Result<(usize, usize)> {
        let (fields, depth) = match self {
            WrittenType::Sql(t) => sql_type_shape(t),
            WrittenType::Text(t) => {
                if t.len() > Limits::MAX_TYPE_TEXT {
                    return Err(GatewayError::TypeTooLarge {
                        what: "bytes in a type written as text",
                        found: t.len(),
                        limit: Limits::MAX_TYPE_TEXT,
                    });
                }
                // Each field but the first follows a comma; each level opens a bracket.
                let fields = t.matches(',').count() + 1;
                let mut depth = 0usize;
                let mut deepest = 0usize;
                for c in t.chars() {
                    match c {
                        '(' | '<' | '[' => {
                            depth += 1;
                            deepest = deepest.max(depth);
                        }
                        ')' | '>' | ']' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
                (fields, deepest)
            }
        };
        if depth > Limits::MAX_TYPE_DEPTH {
            return Err(GatewayError::TypeTooLarge {
                what: "levels of nesting in a type it writes",
                found: depth,
                limit: Limits::MAX_TYPE_DEPTH,
            });
        }
        Ok((fields.max(1), depth))
    }
}

/// The fields (leaves) and the nesting of a type written in SQL. Runs on the
/// statement's stack ([`on_stack`]), which is sized for types as deep as it has tokens.
fn sql_type_shape(t: &SqlDataType) -> (usize, usize) {
    use datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
    let nested = |types: &mut dyn Iterator<Item = &SqlDataType>| {
        let (mut fields, mut depth) = (0usize, 0usize);
        for t in types {
            let (f, d) = sql_type_shape(t);
            fields = fields.saturating_add(f);
            depth = depth.max(d);
        }
        (fields.max(1), depth.saturating_add(1))
    };
    match t {
        SqlDataType::Array(
            ArrayElemTypeDef::AngleBracket(t)
            | ArrayElemTypeDef::SquareBracket(t, _)
            | ArrayElemTypeDef::Parenthesis(t),
        ) => nested(&mut std::iter::once(t.as_ref())),
        SqlDataType::Array(ArrayElemTypeDef::None) => (1, 1),
        SqlDataType::Map(k, v) => nested(&mut [k.as_ref(), v.as_ref()].into_iter()),
        SqlDataType::Struct(fields, _) | SqlDataType::Tuple(fields) => {
            nested(&mut fields.iter().map(|f| &f.field_type))
        }
        SqlDataType::Union(fields) => nested(&mut fields.iter().map(|f| &f.field_type)),
        SqlDataType::Nested(columns) => nested(&mut columns.iter().map(|c| &c.data_type)),
        SqlDataType::Nullable(t) | SqlDataType::LowCardinality(t) => sql_type_shape(t),
        _ => (1, 0),
    }
}

/// Plan a parsed query and check the plan holds no DDL, DML or statement either, and
/// builds no value longer than a gateway builds.
pub async fn plan(state: &SessionState, query: ParsedQuery) -> Result<LogicalPlan> {
    let plan = state
        .statement_to_plan(query.statement)
        .await
        .map_err(GatewayError::from_datafusion)?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| GatewayError::NotAQuery(e.to_string()))?;
    sluice_policy::growth::check(&plan).map_err(|e| match e {
        sluice_policy::Error::TooLong(why) => GatewayError::TooLong(why),
        other => GatewayError::Internal(other.to_string()),
    })?;
    Ok(plan)
}

/// Check that an optimized plan can run: DataFusion runs a LATERAL or correlated subquery
/// only once its optimizer has rewritten it as a join, and otherwise fails deep in
/// physical planning with an error that reads as its own bug. Naming the outer column
/// tells the analyst what to rewrite.
pub fn check_decorrelated(plan: &LogicalPlan) -> Result<()> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::Expr;

    let mut outer = None;
    let walked = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|x| {
                if let Expr::OuterReferenceColumn(_, c) = x {
                    outer = Some(c.clone());
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    walked.map_err(GatewayError::from_datafusion)?;
    match outer {
        None => Ok(()),
        Some(column) => Err(GatewayError::Sql(format!(
            "a subquery reads `{column}` from the query around it (LATERAL, or a correlated \
             subquery), and it cannot be rewritten as a join, which is the only way it can \
             run; write it as a join"
        ))),
    }
}

/// Only a plain query may run: no DDL, DML, `SET`, `COPY` or `EXPLAIN ANALYZE` side doors.
fn check_is_query(stmt: &Statement) -> Result<()> {
    use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
    match stmt {
        Statement::Statement(s) if matches!(s.as_ref(), SqlStatement::Query(_)) => Ok(()),
        other => {
            let text = other.to_string();
            let head: String = text
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ");
            Err(GatewayError::NotAQuery(format!(
                "`{head} …` is not a SELECT"
            )))
        }
    }
}

/// A table reference from SQL as a dataset: `<agency>.<dataset>`, optionally prefixed
/// with the `sluice` catalog.
pub fn dataset_ref(r: &TableReference) -> Result<DatasetRef> {
    let (schema, table) = match r {
        TableReference::Partial { schema, table } => (schema, table),
        TableReference::Full {
            catalog,
            schema,
            table,
        } if catalog.as_ref() == CATALOG => (schema, table),
        _ => return Err(GatewayError::UnqualifiedTable(r.to_string())),
    };
    let unknown = |what: &str| {
        GatewayError::Sql(format!(
            "table `{r}`: {what}; tables are named `<agency>.<dataset>` in lower case"
        ))
    };
    let agency = AgencyId::parse(schema).map_err(|e| unknown(&e.to_string()))?;
    let dataset = DatasetName::parse(table).map_err(|e| unknown(&e.to_string()))?;
    Ok(DatasetRef::new(agency, dataset))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use datafusion::prelude::SessionContext;

    use super::*;

    #[test]
    fn only_queries_pass() {
        let state = SessionContext::new().state();
        let q = parse(
            &state,
            "SELECT * FROM bj_hf.persons p JOIN sluice.sh_hf.loans l ON true JOIN bj_hf.persons q ON true",
        )
        .unwrap();
        let names: Vec<String> = q.tables.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["bj_hf.persons", "sh_hf.loans"]);
        for bad in [
            "DROP TABLE bj_hf.persons",
            "INSERT INTO bj_hf.x VALUES (1)",
            "SET datafusion.execution.batch_size = 1",
            "CREATE TABLE bj_hf.x AS SELECT 1",
            "COPY bj_hf.persons TO '/tmp/x'",
        ] {
            assert!(
                matches!(parse(&state, bad), Err(GatewayError::NotAQuery(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse(&state, "SELECT * FROM persons"),
            Err(GatewayError::UnqualifiedTable(_))
        ));
        assert!(matches!(
            parse(&state, "SELECT 1; SELECT 2"),
            Err(GatewayError::Sql(_))
        ));
    }

    fn or_chain(n: usize) -> String {
        let terms: Vec<String> = (0..n).map(|i| format!("loan_id = {i}")).collect();
        format!(
            "SELECT COUNT(*) FROM sh_hf.loans WHERE {}",
            terms.join(" OR ")
        )
    }

    /// The statement's expression depth.
    fn depth(statement: &Statement) -> usize {
        #[derive(Default)]
        struct D(usize, usize);
        impl Visitor for D {
            type Break = ();
            fn pre_visit_expr(&mut self, _: &SqlExpr) -> ControlFlow<()> {
                self.0 += 1;
                self.1 = self.1.max(self.0);
                ControlFlow::Continue(())
            }
            fn post_visit_expr(&mut self, _: &SqlExpr) -> ControlFlow<()> {
                self.0 -= 1;
                ControlFlow::Continue(())
            }
        }
        let Statement::Statement(s) = statement else {
            return 0;
        };
        let mut d = D::default();
        let _ = Visit::visit(s.as_ref(), &mut d);
        d.1
    }

    // The parse, the rebalancing and the checks run on their own stack; the test thread's
    // small stack proves that nothing deep is left to its callers.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn long_or_chains_are_rebalanced_not_refused() {
        on_small_stack(|| {
            let state = SessionContext::new().state();
            let q = parse(&state, &or_chain(2_000)).unwrap();
            let d = depth(&q.statement);
            assert!(
                d <= 20,
                "2,000 alternatives nest {d} deep after rebalancing"
            );
            // The terms keep their order and all are there.
            let text = q.statement.to_string();
            assert!(
                text.contains("loan_id = 0 OR loan_id = 1"),
                "{}",
                &text[..200]
            );
            assert_eq!(text.matches("loan_id = ").count(), 2_000);
        });
    }

    #[test]
    fn oversized_and_deep_statements_are_refused_by_name() {
        on_small_stack(|| {
            let state = SessionContext::new().state();
            let e = parse(&state, &or_chain(100_000)).unwrap_err();
            assert!(
                matches!(&e, GatewayError::TooLarge { what: "tokens", found, .. } if *found > Limits::MAX_TOKENS),
                "{e:?}"
            );
            let plus = format!("SELECT loan_id {} FROM sh_hf.loans", " + 1".repeat(5_000));
            let e = parse(&state, &plus).unwrap_err();
            assert!(
                matches!(
                    &e,
                    GatewayError::TooLarge {
                        what: "levels of nested expressions",
                        ..
                    }
                ),
                "{e:?}"
            );
            assert!(e.to_string().contains("at most 500"), "{e}");
            let and = format!(
                "SELECT 1 FROM sh_hf.loans WHERE {}",
                vec!["loan_id <> 7"; 5_000].join(" AND ")
            );
            let e = parse(&state, &and).unwrap_err();
            assert!(
                matches!(
                    &e,
                    GatewayError::TooLarge {
                        what: "conditions joined by AND",
                        found: 5_000,
                        ..
                    }
                ),
                "{e:?}"
            );
            let parens = format!("SELECT {}1{}", "(".repeat(3_000), ")".repeat(3_000));
            assert!(parse(&state, &parens).is_err());
            let unions = vec!["SELECT 1"; 400].join(" UNION ALL ");
            let e = parse(&state, &unions).unwrap_err();
            assert!(
                matches!(
                    &e,
                    GatewayError::TooLarge {
                        what: "SELECTs and table references",
                        ..
                    }
                ),
                "{e:?}"
            );
            let big = format!("SELECT '{}'", "x".repeat(Limits::MAX_BYTES));
            assert!(matches!(
                parse(&state, &big),
                Err(GatewayError::TooLarge { what: "bytes", .. })
            ));
        });
    }

    /// `levels` CTEs, each a UNION ALL of the one before with itself.
    fn doubling_ctes(levels: usize) -> String {
        ctes(levels, |p| {
            format!("SELECT s FROM {p} UNION ALL SELECT s FROM {p}")
        })
    }

    #[test]
    fn ctes_count_at_every_use() {
        on_small_stack(|| {
            let state = SessionContext::new().state();
            parse(&state, &doubling_ctes(6)).unwrap();
            // 16 levels are 65,536 scans from 1.3 KB of SQL, and 4 SELECTs and table
            // references a level as written.
            let e = parse(&state, &doubling_ctes(16)).unwrap_err();
            assert!(
                matches!(
                    &e,
                    GatewayError::TooLarge { what, found, limit }
                        if what.contains("CTE") && *found > 65_536
                            && *limit == Limits::MAX_EXPANDED_RELATIONS
                ),
                "{e:?}"
            );
            // A CTE counts its body at each use: here the reference and ten relations
            // (five SELECTs of a table), with one SELECT around them all.
            let body = ["SELECT loan_id FROM sh_hf.loans"; 5].join(" UNION ALL ");
            let uses = |n: usize| {
                let joins: String = (1..n)
                    .map(|i| format!(" JOIN c c{i} ON c0.loan_id = c{i}.loan_id"))
                    .collect();
                format!("WITH c AS ({body}) SELECT COUNT(*) FROM c c0{joins}")
            };
            let found = |n: usize| 1 + 11 * n;
            let fits = (Limits::MAX_EXPANDED_RELATIONS - 1) / 11;
            parse(&state, &uses(fits)).unwrap();
            let e = parse(&state, &uses(fits + 1)).unwrap_err();
            assert!(
                matches!(&e, GatewayError::TooLarge { what, found: f, .. }
                    if what.contains("CTE") && *f == found(fits + 1)),
                "{e:?}"
            );
            // Only where it is in scope: the inner `c` of the derived table shadows
            // the outer one, and a name that is no CTE is a table.
            let shadowed = "WITH c AS (SELECT loan_id FROM sh_hf.loans) SELECT COUNT(*) FROM (WITH c AS (SELECT 1 AS loan_id) SELECT loan_id FROM c) t JOIN c ON t.loan_id = c.loan_id";
            parse(&state, shadowed).unwrap();
        });
    }

    /// A CASE on the loan's id with `branches` branches.
    fn case_of(branches: usize) -> String {
        let whens: String = (0..branches)
            .map(|i| format!(" WHEN loan_id = {i} THEN {i}"))
            .collect();
        format!("CASE{whens} ELSE 0 END")
    }

    #[test]
    fn wide_cases_are_refused_by_name() {
        on_small_stack(|| {
            let state = SessionContext::new().state();
            let widest = Limits::MAX_CASE_BRANCHES;
            let sql = |cases: &[usize]| {
                let columns: Vec<String> = cases.iter().map(|&n| case_of(n)).collect();
                format!("SELECT {} FROM sh_hf.loans", columns.join(", "))
            };
            parse(&state, &sql(&[widest])).unwrap();
            let e = parse(&state, &sql(&[widest + 1])).unwrap_err();
            assert!(
                matches!(
                    &e,
                    GatewayError::TooLarge { what: "WHEN branches in one CASE", found, limit }
                        if *found == widest + 1 && *limit == widest
                ),
                "{e:?}"
            );
            // Each CASE within bounds, all of them together not.
            let each = [widest; 4];
            parse(&state, &sql(&each)).unwrap();
            let e = parse(&state, &sql(&[widest, widest, widest, widest, 1])).unwrap_err();
            assert!(
                matches!(
                    &e,
                    GatewayError::TooLarge { what: "WHEN branches in all CASEs together", found, .. }
                        if *found == 4 * widest + 1
                ),
                "{e:?}"
            );
            // CASEs in a sub-query count toward the whole statement.
            let inner = sql(&[widest, widest, widest]);
            let outer = format!(
                "SELECT {}, {} FROM ({inner}) t",
                case_of(widest),
                case_of(widest)
            );
            let e = parse(&state, &outer).unwrap_err();
            assert!(
                matches!(
                    &e,
                    GatewayError::TooLarge { what: "WHEN branches in all CASEs together", found, .. }
                        if *found == 5 * widest
                ),
                "{e:?}"
            );
        });
    }

    /// `levels` CTEs after `c0` (the loans' status as `s`), each the `body` made of the
    /// name of the one before.
    fn ctes(levels: usize, body: impl Fn(&str) -> String) -> String {
        let mut sql = String::from("WITH c0 AS (SELECT status AS s FROM sh_hf.loans)");
        for i in 1..=levels {
            sql.push_str(&format!(", c{i} AS ({})", body(&format!("c{}", i - 1))));
        }
        sql.push_str(&format!(" SELECT COUNT(*) FROM c{levels}"));
        sql
    }

    /// `levels` derived tables, each building `step` over the one before.
    fn chain(levels: usize, step: &str) -> String {
        ctes(levels, |p| format!("SELECT {step} AS s FROM {p}"))
    }

    #[test]
    fn types_that_double_at_each_level_are_refused_before_planning() {
        on_small_stack(|| {
            let state = SessionContext::new().state();
            for step in [
                "arrays_zip(make_array(s), make_array(s))",
                "struct(s, s)",
                "row(s, s)",
                "named_struct('a', s, 'b', s)",
                "(s, s)",
                "map(make_array(s), make_array(s))",
                "{'a': s, 'b': s}",
                // Two levels per derived table, one of them a list.
                "struct(array_agg(s), s)",
            ] {
                let e = parse(&state, &chain(30, step)).unwrap_err();
                assert!(
                    matches!(
                        &e,
                        GatewayError::TypeTooLarge {
                            what: "fields that its lists, structs and maps may hold",
                            ..
                        }
                    ),
                    "{step}: {e:?}"
                );
                assert!(e.to_string().contains("at most 65536"), "{e}");
            }
            // A list or struct around a single value nests deeper without growing:
            // bounded by the number of builders.
            let e = parse(&state, &chain(80, "make_array(s)")).unwrap_err();
            assert!(
                matches!(
                    &e,
                    GatewayError::TypeTooLarge {
                        what: "calls that build a list, struct or map",
                        found: 80,
                        ..
                    }
                ),
                "{e:?}"
            );
            assert!(parse(&state, &chain(80, "upper(s)")).is_ok());
        });
    }

    #[test]
    fn types_written_too_deep_long_or_wide_are_refused() {
        on_small_stack(|| {
            let state = SessionContext::new().state();
            let refused = |sql: &str, what: &str| {
                let e = parse(&state, sql).unwrap_err();
                assert!(
                    matches!(&e, GatewayError::TypeTooLarge { what: w, .. } if *w == what),
                    "{}: {e:?}",
                    &sql[..sql.len().min(80)]
                );
            };
            // Deep types from linear SQL: in SQL, and as text DataFusion parses itself.
            let deep = format!(
                "SELECT CAST(NULL AS INT{}) FROM sh_hf.loans",
                "[]".repeat(40_000)
            );
            refused(&deep, "levels of nesting in a type it writes");
            let deep = format!(
                "SELECT CAST(NULL AS {}INT{}) FROM sh_hf.loans",
                "STRUCT<a ".repeat(40),
                " >".repeat(40)
            );
            refused(&deep, "levels of nesting in a type it writes");
            let text = format!(
                "SELECT arrow_cast(NULL, '{}Int8{}') FROM sh_hf.loans",
                "List(".repeat(500_000),
                ")".repeat(500_000)
            );
            refused(&text, "bytes in a type written as text");
            let text = format!(
                "SELECT arrow_cast(NULL, '{}Int8{}') FROM sh_hf.loans",
                "List(".repeat(40),
                ")".repeat(40)
            );
            refused(&text, "levels of nesting in a type it writes");
            // A wide type from a cast, then doubled: 1,000 fields times 2^10.
            let wide = (0..1000)
                .map(|i| format!("a{i} INT"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut sql =
                format!("WITH c0 AS (SELECT CAST(NULL AS STRUCT<{wide}>) AS s FROM sh_hf.loans)");
            for i in 1..=10 {
                sql.push_str(&format!(
                    ", c{i} AS (SELECT struct(s, s) AS s FROM c{})",
                    i - 1
                ));
            }
            sql.push_str(" SELECT COUNT(*) FROM c10");
            refused(&sql, "fields that its lists, structs and maps may hold");
            // Doubling through UNNEST in FROM, within one SELECT.
            let mut sql =
                String::from("SELECT COUNT(*) FROM (SELECT status AS s FROM sh_hf.loans) u0");
            for i in 1..=20 {
                sql.push_str(&format!(
                    " CROSS JOIN unnest(make_array(struct(u{p}.s, u{p}.s))) AS u{i}(s)",
                    p = i - 1
                ));
            }
            refused(&sql, "fields that its lists, structs and maps may hold");
        });
    }

    #[test]
    fn ordinary_lists_structs_and_maps_pass() {
        let state = SessionContext::new().state();
        let wide = (0..16)
            .map(|i| format!("'f{i}', status"))
            .collect::<Vec<_>>()
            .join(", ");
        for sql in [
            // Several wide records side by side do not multiply each other.
            format!(
                "SELECT named_struct({wide}), named_struct({wide}), named_struct({wide}), \
                 named_struct({wide}), named_struct({wide}) FROM sh_hf.loans"
            ),
            // A record of records, three levels deep.
            chain(3, &format!("named_struct({})", wide.replace("status", "s"))),
            chain(12, "struct(s, s)"),
            "SELECT array_agg(loan_id), [1, 2, 3], map(['a'], [1]) FROM sh_hf.loans".into(),
            // Casts to plain types are not builders, however many.
            format!(
                "SELECT {} FROM sh_hf.loans",
                vec!["CAST(amount AS DOUBLE), arrow_cast(amount, 'Int32')"; 100].join(", ")
            ),
            "SELECT CAST(NULL AS INT[][]), arrow_cast(NULL, 'List(Int64)') FROM sh_hf.loans".into(),
        ] {
            parse(&state, &sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn parenthesised_chains_from_the_unparser_flatten() {
        on_small_stack(|| {
            // As DataFusion's unparser writes a conjunction: every operator in parentheses.
            let mut e = "(loan_id <> 0)".to_string();
            for i in 1..800 {
                e = format!("({e} AND (loan_id <> {i}))");
            }
            let ctx = SessionContext::new_with_config(with_sql_limits(
                datafusion::prelude::SessionConfig::new(),
            ));
            let state = ctx.state();
            let q = parse(&state, &format!("SELECT 1 FROM sh_hf.loans WHERE {e}")).unwrap();
            assert!(depth(&q.statement) <= 40);
        });
    }
}
