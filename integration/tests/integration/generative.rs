//! Generated SQL against the intake and the disclosure policy: at least 100,000 random
//! statements over the demo schema (well-formed queries of every shape the policy knows,
//! queries with long chains and deep nesting, and mangled ones) go through
//! `intake::parse`, `intake::plan` and `Policy::decide` under the demo policy, on
//! threads with the 2 MiB stack of a gateway worker. None may panic or overflow; each
//! must be answered by a plan or a typed error. The seed is fixed (override with
//! `SLUICE_GEN_SEED`, and the count with `SLUICE_GEN_COUNT`) so a failure reproduces.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use sluice_examples::provident_fund::policy::RULES;
use sluice_gateway::intake;
use sluice_policy::{Policy, PolicyConfig, Request, STANDARD_MODEL};

use super::common::{Kind, Rng, TABLES};

const DEFAULT_COUNT: usize = 100_000;
const THREADS: usize = 2;

fn arrow_type(k: Kind) -> DataType {
    match k {
        Kind::Int => DataType::Int64,
        Kind::Float => DataType::Float64,
        Kind::Text => DataType::Utf8,
        Kind::Date => DataType::Date32,
    }
}

fn schema_of(columns: &[(&str, Kind)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, k)| Field::new(*n, arrow_type(*k), true))
            .collect::<Vec<_>>(),
    ))
}

/// Random SQL over [`TABLES`].
struct Gen {
    rng: Rng,
    /// The tables in scope, as (alias, table index).
    scope: Vec<(String, usize)>,
    depth: usize,
}

const INT_FUNCS: &[&str] = &["abs", "round", "floor", "ceil", "signum", "coalesce"];
const TEXT_FUNCS: &[&str] = &[
    "lower", "upper", "length", "trim", "reverse", "md5", "initcap", "btrim",
];
const AGGS: &[&str] = &[
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "array_agg",
    "string_agg",
    "first_value",
    "last_value",
    "median",
    "stddev",
    "bit_and",
    "bool_and",
    "approx_distinct",
    "var_pop",
];
const WINDOWS: &[&str] = &[
    "row_number()",
    "rank()",
    "dense_rank()",
    "ntile(3)",
    "lag(1)",
    "lead(2)",
    "percent_rank()",
];
const CMP: &[&str] = &["=", "<>", "<", "<=", ">", ">=", "IS DISTINCT FROM"];
const ARITH: &[&str] = &["+", "-", "*", "/", "%"];

impl Gen {
    fn column(&mut self, want: Option<Kind>) -> (String, Kind) {
        if self.scope.is_empty() {
            return ("1".into(), Kind::Int);
        }
        for _ in 0..8 {
            let (alias, t) = self.scope[self.rng.below(self.scope.len())].clone();
            let cols = TABLES[t].1;
            let (c, k) = cols[self.rng.below(cols.len())];
            if want.is_none_or(|w| w == k) {
                return (format!("{alias}.{c}"), k);
            }
        }
        let (alias, t) = self.scope[0].clone();
        let (c, k) = TABLES[t].1[0];
        (format!("{alias}.{c}"), k)
    }

    fn literal(&mut self, k: Kind) -> String {
        match k {
            Kind::Int => match self.rng.below(6) {
                0 => "0".into(),
                1 => "-1".into(),
                2 => "9223372036854775807".into(),
                _ => format!("{}", self.rng.below(3_000_000_000)),
            },
            Kind::Float => format!("{}.{}", self.rng.below(1000), self.rng.below(100)),
            Kind::Text => self
                .rng
                .pick(&[
                    "'active'",
                    "'x'",
                    "'Grid Power'",
                    "'(%'",
                    "'110%'",
                    "''",
                    "'2024-01-01'",
                ])
                .into(),
            Kind::Date => format!(
                "DATE '20{:02}-0{}-1{}'",
                self.rng.below(30),
                1 + self.rng.below(9),
                self.rng.below(9)
            ),
        }
    }

    fn expr(&mut self, k: Kind) -> String {
        self.depth += 1;
        let out = if self.depth > 6 || self.rng.chance(35) {
            if self.rng.chance(70) {
                self.column(Some(k)).0
            } else {
                self.literal(k)
            }
        } else {
            match (k, self.rng.below(9)) {
                (Kind::Int | Kind::Float, 0..=2) => {
                    let op = self.rng.pick(ARITH);
                    format!("({} {op} {})", self.expr(k), self.expr(k))
                }
                (Kind::Int, 3) => {
                    let f = self.rng.pick(INT_FUNCS);
                    format!("{f}({})", self.expr(Kind::Int))
                }
                (Kind::Text, 0..=2) => {
                    let f = self.rng.pick(TEXT_FUNCS);
                    format!("CAST({f}({}) AS VARCHAR)", self.expr(Kind::Text))
                }
                (Kind::Text, 3) => {
                    format!("{} || {}", self.expr(Kind::Text), self.expr(Kind::Text))
                }
                (Kind::Text, 4) => format!(
                    "substr({}, {}, {})",
                    self.expr(Kind::Text),
                    self.rng.below(5),
                    self.literal(Kind::Int)
                ),
                (_, 4) => {
                    let from = [Kind::Int, Kind::Text, Kind::Float, Kind::Date]
                        .get(self.rng.below(4))
                        .copied()
                        .unwrap_or(Kind::Int);
                    format!(
                        "CAST({} AS {})",
                        self.expr(from),
                        self.rng.pick(&[
                            "BIGINT", "INT", "SMALLINT", "DOUBLE", "VARCHAR", "BOOLEAN", "DATE"
                        ])
                    )
                }
                (_, 5) => format!(
                    "CASE WHEN {} THEN {} ELSE {} END",
                    self.predicate(),
                    self.expr(k),
                    self.expr(k)
                ),
                (_, 6) => format!(
                    "TRY_CAST({} AS {})",
                    self.expr(Kind::Text),
                    match k {
                        Kind::Int => "BIGINT",
                        Kind::Float => "DOUBLE",
                        Kind::Text => "VARCHAR",
                        Kind::Date => "DATE",
                    }
                ),
                (_, 7) if self.depth < 3 => format!("({})", self.scalar_subquery(k)),
                // Text that grows: bounded, refused as too long, or a count the data picks.
                (Kind::Text, 8) => {
                    let (a, b) = (self.expr(Kind::Text), self.expr(Kind::Text));
                    let n = self.literal(Kind::Int);
                    match self.rng.below(4) {
                        0 => format!("repeat({a}, {n})"),
                        1 => format!("lpad({a}, {n}, {b})"),
                        2 => format!("replace({a}, 'a', {b})"),
                        _ => format!("concat({a}, {b}, {a}, {b})"),
                    }
                }
                _ => self.column(Some(k)).0,
            }
        };
        self.depth -= 1;
        out
    }

    fn predicate(&mut self) -> String {
        self.depth += 1;
        let k = [Kind::Int, Kind::Text, Kind::Date, Kind::Float][self.rng.below(4)];
        let out = if self.depth > 6 {
            format!(
                "{} {} {}",
                self.column(Some(k)).0,
                self.rng.pick(CMP),
                self.literal(k)
            )
        } else {
            match self.rng.below(12) {
                0 => format!("{} AND {}", self.predicate(), self.predicate()),
                1 => format!("({} OR {})", self.predicate(), self.predicate()),
                2 => format!("NOT ({})", self.predicate()),
                3 => {
                    let n = 1 + self.rng.below(20);
                    let items: Vec<String> = (0..n).map(|_| self.literal(k)).collect();
                    format!("{} IN ({})", self.expr(k), items.join(", "))
                }
                4 => format!(
                    "{} LIKE {}",
                    self.expr(Kind::Text),
                    self.rng
                        .pick(&["'a%'", "'%x_'", "'\\\\'", "name", "CAST(amount AS VARCHAR)"])
                ),
                5 => format!(
                    "{} BETWEEN {} AND {}",
                    self.expr(k),
                    self.literal(k),
                    self.literal(k)
                ),
                6 => format!("{} IS NULL", self.expr(k)),
                7 if self.depth < 3 => format!("EXISTS ({})", self.select(false)),
                8 if self.depth < 3 => {
                    let (c, ck) = self.column(None);
                    let sub = self.subquery_of(ck);
                    format!("{c} IN ({sub})")
                }
                9 => format!(
                    "{} SIMILAR TO {}",
                    self.expr(Kind::Text),
                    self.expr(Kind::Text)
                ),
                _ => format!("{} {} {}", self.expr(k), self.rng.pick(CMP), self.expr(k)),
            }
        };
        self.depth -= 1;
        out
    }

    fn aggregate(&mut self) -> String {
        let f = self.rng.pick(AGGS);
        let k = [Kind::Int, Kind::Text, Kind::Float][self.rng.below(3)];
        let arg = if f == "COUNT" && self.rng.chance(40) {
            "*".to_string()
        } else {
            self.expr(k)
        };
        let distinct = if self.rng.chance(15) && arg != "*" {
            "DISTINCT "
        } else {
            ""
        };
        let extra = if f == "string_agg" { ", ','" } else { "" };
        let order = if self.rng.chance(10) && arg != "*" {
            format!(" ORDER BY {}", self.column(None).0)
        } else {
            String::new()
        };
        let filter = if self.rng.chance(15) {
            format!(" FILTER (WHERE {})", self.predicate())
        } else {
            String::new()
        };
        format!("{f}({distinct}{arg}{extra}{order}){filter}")
    }

    fn table(&mut self, alias: &str) -> String {
        let t = self.rng.below(TABLES.len());
        self.scope.push((alias.to_string(), t));
        if self.rng.chance(15) && self.depth < 2 {
            // A derived table with the same columns.
            let name = TABLES[t].0;
            let inner_pred = {
                let saved = std::mem::take(&mut self.scope);
                self.scope.push((name.to_string(), t));
                let p = self.predicate();
                self.scope = saved;
                self.scope.push((alias.to_string(), t));
                p
            };
            let limit = if self.rng.chance(30) {
                format!(
                    " ORDER BY {name}.{} LIMIT {}",
                    TABLES[t].1[self.rng.below(TABLES[t].1.len())].0,
                    1 + self.rng.below(10)
                )
            } else {
                String::new()
            };
            format!("(SELECT * FROM sh_hf.{name} WHERE {inner_pred}{limit}) {alias}")
        } else {
            format!("sh_hf.{} {alias}", TABLES[t].0)
        }
    }

    fn from(&mut self) -> String {
        let mut out = self.table("t0");
        let joins = self.rng.below(3);
        for j in 1..=joins {
            let alias = format!("t{j}");
            let kind =
                self.rng
                    .pick(&["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "CROSS JOIN"]);
            let t = self.table(&alias);
            if kind == "CROSS JOIN" {
                out = format!("{out} CROSS JOIN {t}");
            } else {
                let left = format!("t{}", self.rng.below(j));
                let key = self
                    .rng
                    .pick(&["person_id", "loan_id", "amount", "employer"]);
                let cond = if self.rng.chance(60) {
                    format!("{left}.person_id = {alias}.person_id")
                } else if self.rng.chance(50) {
                    format!("CAST({left}.{key} AS BOOLEAN) = CAST({alias}.{key} AS BOOLEAN)")
                } else {
                    self.predicate()
                };
                out = format!("{out} {kind} {t} ON {cond}");
            }
        }
        out
    }

    fn select(&mut self, top: bool) -> String {
        let saved = std::mem::take(&mut self.scope);
        let from = self.from();
        let grouped = self.rng.chance(45);
        let mut items = Vec::new();
        let mut groups = Vec::new();
        if grouped && self.rng.chance(60) {
            let (g, _) = self.column(None);
            groups.push(g.clone());
            items.push(g);
        }
        for _ in 0..1 + self.rng.below(3) {
            if grouped {
                items.push(self.aggregate());
            } else if self.rng.chance(10) {
                let w = self.rng.pick(WINDOWS);
                let w = match w {
                    "lag(1)" | "lead(2)" => {
                        format!("{}({}, {})", &w[..4], self.column(None).0, &w[5..6])
                    }
                    other => other.to_string(),
                };
                items.push(format!(
                    "{w} OVER (PARTITION BY {} ORDER BY {})",
                    self.column(None).0,
                    self.column(None).0
                ));
            } else {
                let k = [Kind::Int, Kind::Text, Kind::Float, Kind::Date][self.rng.below(4)];
                items.push(self.expr(k));
            }
        }
        let mut sql = format!(
            "SELECT {}{} FROM {from}",
            if self.rng.chance(8) { "DISTINCT " } else { "" },
            items.join(", ")
        );
        if self.rng.chance(70) {
            sql.push_str(&format!(" WHERE {}", self.predicate()));
        }
        if !groups.is_empty() {
            sql.push_str(&format!(" GROUP BY {}", groups.join(", ")));
        }
        if grouped && self.rng.chance(25) {
            sql.push_str(&format!(
                " HAVING {} > {}",
                self.aggregate(),
                self.literal(Kind::Int)
            ));
        }
        if top && self.rng.chance(25) {
            sql.push_str(&format!(" ORDER BY {}", 1 + self.rng.below(items.len())));
            if self.rng.chance(60) {
                sql.push_str(&format!(" LIMIT {}", self.rng.below(20)));
            }
        }
        if top && self.rng.chance(5) {
            let other = self.select(false);
            sql = format!("{sql} UNION ALL {other}");
        }
        self.scope = saved;
        sql
    }

    fn scalar_subquery(&mut self, k: Kind) -> String {
        let saved_depth = self.depth;
        self.depth = 4;
        let outer = self.scope.clone();
        self.scope.clear();
        let t = self.table("s");
        let agg = match k {
            Kind::Text => format!("MAX({})", self.column(Some(Kind::Text)).0),
            _ => format!("COUNT({})", self.column(None).0),
        };
        // Correlated now and then.
        self.scope.extend(outer.iter().cloned());
        let pred = self.predicate();
        self.scope = outer;
        self.depth = saved_depth;
        format!("SELECT {agg} FROM {t} WHERE {pred}")
    }

    fn subquery_of(&mut self, k: Kind) -> String {
        let outer = std::mem::take(&mut self.scope);
        let t = self.table("q");
        let (c, _) = self.column(Some(k));
        let pred = self.predicate();
        self.scope = outer;
        format!("SELECT {c} FROM {t} WHERE {pred}")
    }

    /// A long chain or deep nesting, as generated SQL has.
    fn long(&mut self) -> String {
        let n = [10, 100, 600, 2_000, 5_000, 30_000][self.rng.below(6)];
        match self.rng.below(6) {
            0 => {
                let terms: Vec<String> = (0..n).map(|i| format!("loan_id = {i}")).collect();
                format!(
                    "SELECT COUNT(*) FROM sh_hf.loans WHERE {}",
                    terms.join(" OR ")
                )
            }
            1 => {
                let terms: Vec<String> = (0..n).map(|i| format!("loan_id <> {i}")).collect();
                format!(
                    "SELECT COUNT(*), SUM(amount) FROM sh_hf.loans WHERE {}",
                    terms.join(" AND ")
                )
            }
            2 => format!("SELECT amount{} FROM sh_hf.loans", " + 1".repeat(n)),
            3 => format!(
                "SELECT COUNT(*) FROM sh_hf.loans WHERE {}loan_id = 1{}",
                "(".repeat(n.min(5_000)),
                ")".repeat(n.min(5_000))
            ),
            4 => {
                let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
                format!(
                    "SELECT status, MAX(amount) FROM sh_hf.loans WHERE loan_id IN ({}) GROUP BY status",
                    items.join(",")
                )
            }
            _ => vec!["SELECT loan_id FROM sh_hf.loans"; n.min(400)].join(" UNION ALL "),
        }
    }

    /// A statement: mostly well-formed, some long, some mangled.
    fn statement(&mut self) -> String {
        self.depth = 0;
        self.scope.clear();
        match self.rng.below(100) {
            0 => self.long(),
            1..=8 => {
                // Mangle a well-formed statement: cut it, or drop or repeat a piece.
                let s = self.select(true);
                let bytes: Vec<char> = s.chars().collect();
                let a = self.rng.below(bytes.len());
                let b = (a + self.rng.below(20)).min(bytes.len());
                match self.rng.below(3) {
                    0 => bytes[..a].iter().collect(),
                    1 => bytes[..a].iter().chain(&bytes[b..]).collect(),
                    _ => bytes[..b].iter().chain(&bytes[a..]).collect(),
                }
            }
            9 => self
                .rng
                .pick(&[
                    "DROP TABLE sh_hf.loans",
                    "EXPLAIN SELECT * FROM sh_hf.loans",
                    "SELECT * FROM loans",
                    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
                    "SELECT 1; SELECT 2",
                    "",
                    "SELECT",
                    "SELECT * FROM sh_hf.nope",
                    "COPY sh_hf.loans TO '/tmp/x'",
                ])
                .to_string(),
            _ => self.select(true),
        }
    }
}

fn policy() -> Arc<Policy> {
    let datasets: BTreeMap<String, SchemaRef> = TABLES
        .iter()
        .map(|(n, cols)| (n.to_string(), schema_of(cols)))
        .collect();
    let config = PolicyConfig::new("sh_hf", vec![7u8; 32], datasets)
        .with_key("persons", ["person_id"])
        .with_key("loans", ["loan_id"])
        .with_subject("persons", "person_id")
        .with_subject("contributions", "person_id")
        .with_subject("loans", "person_id");
    Arc::new(
        Policy::from_bytes(
            config,
            "model.conf",
            STANDARD_MODEL.as_bytes(),
            "sh_hf.csv",
            RULES.as_bytes(),
        )
        .unwrap(),
    )
}

fn owner_session() -> SessionContext {
    let ctx = SessionContext::new_with_config(intake::with_sql_limits(
        SessionConfig::new()
            .with_information_schema(false)
            .with_default_catalog_and_schema("sluice", "sh_hf"),
    ));
    let catalog = ctx.catalog("sluice").unwrap();
    catalog
        .register_schema("sh_hf", Arc::new(MemorySchemaProvider::new()))
        .unwrap();
    for (name, cols) in TABLES {
        let t = MemTable::try_new(schema_of(cols), vec![vec![]]).unwrap();
        ctx.register_table(TableReference::partial("sh_hf", *name), Arc::new(t))
            .unwrap();
    }
    ctx
}

/// What became of the statements one worker sent.
#[derive(Debug, Default)]
struct Tally {
    sent: usize,
    refused_at_intake: usize,
    not_planned: usize,
    refused_by_policy: usize,
    decided: usize,
}

fn worker(seed: u64, count: usize, policy: Arc<Policy>) -> Tally {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ctx = owner_session();
    let state = ctx.state();
    let request = Request::new("bj_hf/analyst", Some("provident_fund_transfer")).unwrap();
    let mut generator = Gen {
        rng: Rng(seed | 1),
        scope: Vec::new(),
        depth: 0,
    };
    let mut tally = Tally::default();
    for i in 0..count {
        let sql = generator.statement();
        tally.sent += 1;
        let parsed = match intake::parse(&state, &sql) {
            Ok(p) => p,
            Err(_) => {
                tally.refused_at_intake += 1;
                continue;
            }
        };
        let plan = match rt.block_on(intake::plan(&state, parsed)) {
            Ok(p) => p,
            Err(_) => {
                tally.not_planned += 1;
                continue;
            }
        };
        match policy.decide(&plan, &request) {
            Ok(d) => {
                tally.decided += 1;
                // Now and then, the rest of the owner's path: optimize the rewritten plan
                // and render the decision (which unparses it).
                if i % 64 == 0 {
                    let _ = state.optimize(&d.plan);
                    let _ = d.decision.explain();
                }
            }
            Err(_) => tally.refused_by_policy += 1,
        }
    }
    tally
}

#[test]
fn random_statements_never_crash_the_intake_or_the_policy() {
    let count: usize = std::env::var("SLUICE_GEN_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_COUNT);
    let seed: u64 = std::env::var("SLUICE_GEN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x51_u64 << 32 | 0x1CE);
    let policy = policy();
    let start = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let policy = Arc::clone(&policy);
            let per = count.div_ceil(THREADS);
            std::thread::Builder::new()
                .name(format!("gen-{t}"))
                // A gateway worker's stack: the intake and the policy must not need more.
                .stack_size(2 * 1024 * 1024)
                .spawn(move || worker(seed.wrapping_add(t as u64 * 0x9E37_79B9), per, policy))
                .unwrap()
        })
        .collect();
    let mut total = Tally::default();
    for h in handles {
        let t = h.join().expect("a generator thread panicked");
        total.sent += t.sent;
        total.refused_at_intake += t.refused_at_intake;
        total.not_planned += t.not_planned;
        total.refused_by_policy += t.refused_by_policy;
        total.decided += t.decided;
    }
    let took = start.elapsed();
    println!("{total:?} in {took:?}");
    assert!(total.sent >= count);
    // The generator reaches every outcome in earnest, not only parse errors (about 3%
    // of its statements plan and pass the policy).
    assert!(total.decided > count / 50, "{total:?}");
    assert!(total.refused_by_policy > count / 20, "{total:?}");
    assert!(
        total.refused_at_intake > 0 && total.not_planned > 0,
        "{total:?}"
    );
    assert!(took < Duration::from_secs(600), "took {took:?}");
}
