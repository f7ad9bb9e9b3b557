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
//! with [`GatewayError::TooLarge`], naming what and how much.

use std::ops::ControlFlow;

use datafusion::common::TableReference;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SQLOptions;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr as SqlExpr, Select, TableFactor, Value, Visit, VisitMut, Visitor,
    VisitorMut,
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

/// Refuse a statement that still nests too deep, or reads too many relations.
fn check_shape(statement: &Statement) -> Result<()> {
    #[derive(Default)]
    struct Shape {
        depth: usize,
        deepest: usize,
        relations: usize,
    }
    impl Visitor for Shape {
        type Break = ();
        fn pre_visit_expr(&mut self, _: &SqlExpr) -> ControlFlow<()> {
            self.depth += 1;
            self.deepest = self.deepest.max(self.depth);
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, _: &SqlExpr) -> ControlFlow<()> {
            self.depth = self.depth.saturating_sub(1);
            ControlFlow::Continue(())
        }
        fn pre_visit_select(&mut self, _: &Select) -> ControlFlow<()> {
            self.relations += 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<()> {
            self.relations += 1;
            ControlFlow::Continue(())
        }
    }
    let Statement::Statement(s) = statement else {
        return Ok(());
    };
    let mut shape = Shape::default();
    let _ = Visit::visit(s.as_ref(), &mut shape);
    if shape.deepest > Limits::MAX_DEPTH {
        return Err(GatewayError::TooLarge {
            what: "levels of nested expressions",
            found: shape.deepest,
            limit: Limits::MAX_DEPTH,
        });
    }
    if shape.relations > Limits::MAX_RELATIONS {
        return Err(GatewayError::TooLarge {
            what: "SELECTs and table references",
            found: shape.relations,
            limit: Limits::MAX_RELATIONS,
        });
    }
    Ok(())
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
