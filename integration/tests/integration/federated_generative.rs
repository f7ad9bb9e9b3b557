//! Generated federated SQL against a second engine. Random queries over the demo's three
//! agencies (filters, projections, aggregates with and without FILTER, joins and set
//! operations across agencies, derived tables and CTEs, correlated subqueries, window
//! functions, aggregates over a whole query, ORDER BY with LIMIT) must give the same
//! answer through the federation as DuckDB over the same files, or, where DuckDB cannot
//! run one, as one local DataFusion context holding all the data. The seed is fixed (override it with
//! `SLUICE_FEDGEN_SEED`, and the count with `SLUICE_FEDGEN_COUNT`), so a failure
//! reproduces.
//!
//! The generator stays inside what the two engines define alike: no integer `/` (float
//! division in DuckDB), every ORDER BY names its NULL placement (DuckDB puts NULLs last
//! both ways) and covers every output column, so the rows a LIMIT keeps are determined.

use sluice_examples::provident_fund::data::EMPLOYERS;

use super::common::*;
use super::databases::Backend;

const DEFAULT_COUNT: usize = 400;
const AGENCY_IDS: [&str; 3] = ["bj_hf", "sh_hf", "cd_hf"];
/// Persons per agency at the harness's scale.
const PERSONS: usize = 1_000;

/// A table in scope: its alias, its agency (in [`AGENCY_IDS`]) and dataset (in
/// [`TABLES`]), and the columns a derived table kept of it, if it is one.
#[derive(Clone)]
struct Scoped {
    alias: String,
    agency: usize,
    table: usize,
    columns: Option<Vec<usize>>,
}

impl Scoped {
    fn new(alias: &str, agency: usize, dataset: &str) -> Scoped {
        Scoped {
            alias: alias.into(),
            agency,
            table: table_index(dataset),
            columns: None,
        }
    }
    fn from(&self) -> String {
        format!(
            "{}.{} {}",
            AGENCY_IDS[self.agency], TABLES[self.table].0, self.alias
        )
    }
}

fn table_index(dataset: &str) -> usize {
    TABLES
        .iter()
        .position(|(n, _)| *n == dataset)
        .expect("a demo dataset")
}

/// A column reference: its text, dataset, name and kind.
struct ColumnRef {
    sql: String,
    dataset: &'static str,
    name: &'static str,
    kind: Kind,
    agency: usize,
}

struct Gen {
    rng: Rng,
    scope: Vec<Scoped>,
}

impl Gen {
    fn agency(&mut self) -> usize {
        self.rng.below(AGENCY_IDS.len())
    }

    fn column_of(&mut self, s: &Scoped, want: Option<Kind>) -> Option<ColumnRef> {
        let all = TABLES[s.table].1;
        let candidates: Vec<usize> = match &s.columns {
            Some(cols) => cols.clone(),
            None => (0..all.len()).collect(),
        };
        let fitting: Vec<usize> = candidates
            .into_iter()
            .filter(|&i| want.is_none_or(|k| all[i].1 == k))
            .collect();
        if fitting.is_empty() {
            return None;
        }
        let (name, kind) = all[fitting[self.rng.below(fitting.len())]];
        Some(ColumnRef {
            sql: format!("{}.{name}", s.alias),
            dataset: TABLES[s.table].0,
            name,
            kind,
            agency: s.agency,
        })
    }

    fn column(&mut self, want: Option<Kind>) -> Option<ColumnRef> {
        for _ in 0..8 {
            let s = self.scope[self.rng.below(self.scope.len())].clone();
            if let Some(c) = self.column_of(&s, want) {
                return Some(c);
            }
        }
        None
    }

    fn any_column(&mut self) -> ColumnRef {
        self.column(None).expect("every scope has columns")
    }

    fn date(&mut self, from: usize, years: usize) -> String {
        format!(
            "DATE '{}-{:02}-{:02}'",
            from + self.rng.below(years),
            1 + self.rng.below(12),
            1 + self.rng.below(28)
        )
    }

    /// A value of `c`'s column that the data may hold, or a near miss.
    fn literal(&mut self, c: &ColumnRef) -> String {
        let base = (c.agency as i64 + 1) * 100_000_000;
        match (c.dataset, c.name) {
            (_, "person_id") => (base + self.rng.below(PERSONS + 20) as i64).to_string(),
            (_, "loan_id") => {
                ((base + 7 * self.rng.below(PERSONS / 7) as i64 + 3) * 10 + 1).to_string()
            }
            ("contributions", "amount") => (800 + self.rng.below(5_000)).to_string(),
            (_, "amount") => (100_000 + self.rng.below(1_100_000)).to_string(),
            (_, "term_months") => self
                .rng
                .pick(&["60", "120", "180", "240", "360", "100"])
                .into(),
            (_, "rate") => self.rng.pick(&["2.6", "2.85", "3.0", "3.1", "3.25"]).into(),
            (_, "birth_date") => self.date(1960, 41),
            (_, "registered_on") => self.date(2010, 10),
            (_, "month") => self.date(2020, 4),
            (_, "issued_on") => self.date(2020, 6),
            (_, "gender") => quote(self.rng.pick(&["F", "M", "f", " F"])),
            (_, "status") => quote(
                self.rng
                    .pick(&["active", "repaid", "overdue", "ACTIVE", "active ", "repaid"]),
            ),
            // Now and then a near miss that a collation would fold into a real one.
            (_, "employer") if self.rng.chance(20) => {
                quote(
                    self.rng
                        .pick(&["city transit", "Grid Power ", "WATER WORKS"]),
                )
            }
            (_, "employer") => quote(self.rng.pick(&EMPLOYERS)),
            (_, "name") => quote(self.rng.pick(&[
                "Wang Wei",
                "Li Na",
                "Zhang Min",
                "Chen Jing",
                "wang wei",
                "Sun Ping",
            ])),
            (_, "id_number") => format!(
                "'{}{}'",
                self.rng.pick(&["110101", "310101", "510104"]),
                19_600_101 + self.rng.below(400_000)
            ),
            _ => "NULL".into(),
        }
    }

    fn like_pattern(&mut self, c: &ColumnRef) -> String {
        quote(match c.name {
            "name" => self
                .rng
                .pick(&["Wang%", "%Wei", "%an%", "W_ng%", "wang%", "Li _a"]),
            "employer" => self
                .rng
                .pick(&["%Works", "City%", "%o%", "%ark L%", "grid%"]),
            "status" => self.rng.pick(&["act%", "%ed", "_epaid", "%VE"]),
            "gender" => self.rng.pick(&["F%", "_", "m"]),
            _ => self
                .rng
                .pick(&["110101%", "310101%", "%01", "5101041990%", "%19_5%"]),
        })
    }

    fn predicate(&mut self, depth: usize) -> String {
        if depth < 2 && self.rng.chance(35) {
            let a = self.predicate(depth + 1);
            return match self.rng.below(3) {
                0 => format!("({a} AND {})", self.predicate(depth + 1)),
                1 => format!("({a} OR {})", self.predicate(depth + 1)),
                _ => format!("NOT ({a})"),
            };
        }
        let c = self.any_column();
        let col = &c.sql;
        let nullable = matches!(c.name, "employer" | "rate");
        if nullable && self.rng.chance(15) {
            let not = if self.rng.chance(50) { " NOT" } else { "" };
            return format!("{col} IS{not} NULL");
        }
        match c.kind {
            Kind::Text => match self.rng.below(10) {
                8 => format!("{col} ILIKE {}", self.like_pattern(&c)),
                9 => format!("{col} NOT IN ({}, NULL)", self.literal(&c)),
                0 | 1 => format!("{col} = {}", self.literal(&c)),
                2 => format!("{col} <> {}", self.literal(&c)),
                3 => format!(
                    "{col} IN ({}, {}, {})",
                    self.literal(&c),
                    self.literal(&c),
                    self.literal(&c)
                ),
                4 => format!("{col} LIKE {}", self.like_pattern(&c)),
                5 => format!("{col} NOT LIKE {}", self.like_pattern(&c)),
                6 => format!("{col} {} {}", self.order_op(), self.literal(&c)),
                _ => format!("upper({col}) = upper({})", self.literal(&c)),
            },
            _ => match self.rng.below(6) {
                0..=2 => format!("{col} {} {}", self.order_op(), self.literal(&c)),
                3 => {
                    let (a, b) = (self.literal(&c), self.literal(&c));
                    format!("{col} BETWEEN {a} AND {b}")
                }
                4 if self.rng.chance(20) => format!("{col} IN ({}, NULL)", self.literal(&c)),
                4 => format!("{col} IN ({}, {})", self.literal(&c), self.literal(&c)),
                _ if c.kind == Kind::Int => format!("{col} % 7 = {}", self.rng.below(7)),
                _ => format!("({col} IS DISTINCT FROM {})", self.literal(&c)),
            },
        }
    }

    fn order_op(&mut self) -> &'static str {
        self.rng.pick(&["=", "<>", "<", "<=", ">", ">="])
    }

    /// A per-row value: a column, or a function or arithmetic of one.
    fn scalar(&mut self) -> String {
        let c = self.any_column();
        let col = c.sql.clone();
        let plain = self.rng.chance(45);
        if plain {
            return col;
        }
        match c.kind {
            Kind::Int => match self.rng.below(8) {
                0 => format!("{col} + 1"),
                1 => format!("{col} * 2"),
                2 => format!("{col} % 7"),
                3 => format!("-{col}"),
                4 => format!("abs({col} - {})", self.literal(&c)),
                5 => format!("CAST({col} AS DOUBLE) / 3"),
                6 => format!("CAST({col} AS VARCHAR)"),
                _ => format!("CASE WHEN {} THEN {col} ELSE 0 END", self.predicate(1)),
            },
            Kind::Float => match self.rng.below(3) {
                0 => format!("round({col}, 1)"),
                1 => format!("{col} * 2"),
                _ => format!("coalesce({col}, 0)"),
            },
            Kind::Text => match self.rng.below(10) {
                0 => format!("upper({col})"),
                1 => format!("lower({col})"),
                2 => format!("substr({col}, 1, 3)"),
                3 => format!("length({col})"),
                4 => format!("coalesce({col}, 'none')"),
                5 => format!("{col} || '-x'"),
                6 => format!("replace({col}, 'a', 'A')"),
                7 => format!("nullif({col}, {})", self.literal(&c)),
                8 => format!("trim({col})"),
                _ => format!(
                    "CASE WHEN {} THEN {col} ELSE 'other' END",
                    self.predicate(1)
                ),
            },
            Kind::Date => match self.rng.below(4) {
                0 => format!("extract(year FROM {col})"),
                1 => format!("extract(month FROM {col})"),
                2 => format!("CAST({col} + INTERVAL '3 days' AS DATE)"),
                _ => format!("{col} < {}", self.literal(&c)),
            },
        }
    }

    /// A value with few distinct values, to group by.
    fn grouping(&mut self) -> String {
        let s = self.scope[self.rng.below(self.scope.len())].clone();
        let keys: &[&str] = match TABLES[s.table].0 {
            "persons" => &[
                "gender",
                "employer",
                "extract(year FROM {})",
                "substr({}, 1, 1)",
            ],
            "contributions" => &["employer", "extract(month FROM {})", "{} % 10"],
            _ => &["status", "term_months", "rate", "extract(year FROM {})"],
        };
        let key = self.rng.pick(keys);
        let column = match (TABLES[s.table].0, key) {
            ("persons", "substr({}, 1, 1)") => "name",
            ("persons", _) => "birth_date",
            ("contributions", "extract(month FROM {})") => "month",
            ("contributions", _) => "amount",
            (_, "extract(year FROM {})") => "issued_on",
            _ => "",
        };
        let usable = |c: &str| {
            s.columns
                .as_ref()
                .is_none_or(|cols| cols.iter().any(|&i| TABLES[s.table].1[i].0 == c))
        };
        if key.contains("{}") {
            if !usable(column) {
                return self.scalar();
            }
            key.replace("{}", &format!("{}.{column}", s.alias))
        } else if usable(key) {
            format!("{}.{key}", s.alias)
        } else {
            self.scalar()
        }
    }

    fn aggregate(&mut self) -> String {
        let c = self.any_column();
        let col = &c.sql;
        let call = match self.rng.below(7) {
            0 => "count(*)".into(),
            1 => format!("count({col})"),
            2 => format!("count(DISTINCT {col})"),
            3 | 4 if matches!(c.kind, Kind::Int | Kind::Float) => {
                let f = if c.kind == Kind::Int && self.rng.chance(50) {
                    "sum"
                } else {
                    "avg"
                };
                format!("{f}({col})")
            }
            5 => format!("min({col})"),
            _ => format!("max({col})"),
        };
        if self.rng.chance(15) {
            format!("{call} FILTER (WHERE {})", self.predicate(1))
        } else {
            call
        }
    }

    fn where_clause(&mut self) -> String {
        if self.rng.chance(70) {
            format!(" WHERE {}", self.predicate(0))
        } else {
            String::new()
        }
    }

    /// `SELECT` of `n` values from the scope, named c0, c1, …
    fn select_list(&mut self, values: Vec<String>) -> String {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| format!("{v} AS c{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn scalars(&mut self) -> (String, usize) {
        let n = 1 + self.rng.below(4);
        let values = (0..n).map(|_| self.scalar()).collect();
        (self.select_list(values), n)
    }

    /// `SELECT groups…, aggregates… FROM … GROUP BY groups…`, with the FROM and WHERE
    /// given.
    fn grouped(&mut self, from: &str, filter: &str) -> (String, usize) {
        let groups: Vec<String> = (0..self.rng.below(3)).map(|_| self.grouping()).collect();
        let aggregates: Vec<String> = (0..1 + self.rng.below(3))
            .map(|_| self.aggregate())
            .collect();
        let n = groups.len() + aggregates.len();
        let mut values = groups.clone();
        values.extend(aggregates);
        let mut sql = format!("SELECT {} FROM {from}{filter}", self.select_list(values));
        if !groups.is_empty() {
            sql += &format!(" GROUP BY {}", groups.join(", "));
            if self.rng.chance(30) {
                sql += &format!(" HAVING count(*) > {}", self.rng.below(20));
            }
        }
        (sql, n)
    }

    fn one_table(&mut self) -> (String, usize) {
        let a = self.agency();
        let dataset = TABLES[self.rng.below(TABLES.len())].0;
        let t = Scoped::new("t", a, dataset);
        self.scope = vec![t.clone()];
        let filter = self.where_clause();
        if self.rng.chance(50) {
            self.grouped(&t.from(), &filter)
        } else {
            let distinct = if self.rng.chance(15) { "DISTINCT " } else { "" };
            let (list, n) = self.scalars();
            (
                format!("SELECT {distinct}{list} FROM {}{filter}", t.from()),
                n,
            )
        }
    }

    /// Two or three agencies' copies of one dataset, as a derived table `u` with a
    /// `city` column.
    fn union_all(&mut self) -> (String, usize) {
        let table = self.rng.below(TABLES.len());
        let columns = TABLES[table].1;
        let mut kept: Vec<usize> = (0..columns.len()).filter(|_| self.rng.chance(50)).collect();
        if kept.is_empty() {
            kept.push(self.rng.below(columns.len()));
        }
        let names: Vec<&str> = kept.iter().map(|&i| columns[i].0).collect();
        let mut agencies: Vec<usize> = (0..3).filter(|_| self.rng.chance(75)).collect();
        if agencies.len() < 2 {
            agencies = vec![0, 2];
        }
        // Branches at one agency go to that owner as one statement, which the
        // federation unparses differently from one statement per agency.
        let first = agencies[0];
        if self.rng.chance(25) {
            agencies.fill(first);
        } else if self.rng.chance(25) {
            agencies[1] = first;
        }
        let mut branches = Vec::new();
        for (i, &a) in agencies.iter().enumerate() {
            let b = Scoped {
                alias: "b".into(),
                agency: a,
                table,
                columns: None,
            };
            self.scope = vec![b.clone()];
            let filter = self.where_clause();
            let list: Vec<String> = names.iter().map(|n| format!("b.{n}")).collect();
            branches.push(format!(
                "SELECT '{}{i}' AS city, {} FROM {}{filter}",
                &AGENCY_IDS[a][..2],
                list.join(", "),
                b.from()
            ));
        }
        let inner = branches.join(" UNION ALL ");
        self.scope = vec![Scoped {
            alias: "u".into(),
            agency: agencies[0],
            table,
            columns: Some(kept),
        }];
        let from = format!("({inner}) u");
        match self.rng.below(3) {
            0 => {
                let aggregates: Vec<String> = (0..1 + self.rng.below(3))
                    .map(|_| self.aggregate())
                    .collect();
                let n = aggregates.len() + 1;
                let mut values = vec!["u.city".to_string()];
                values.extend(aggregates);
                (
                    format!(
                        "SELECT {} FROM {from} GROUP BY u.city",
                        self.select_list(values)
                    ),
                    n,
                )
            }
            1 => {
                let filter = self.where_clause();
                self.grouped(&from, &filter)
            }
            _ => {
                let filter = self.where_clause();
                let (list, n) = self.scalars();
                (
                    format!("SELECT u.city AS city, {list} FROM {from}{filter}"),
                    n + 1,
                )
            }
        }
    }

    /// A set operation between two agencies' values of one column.
    fn set_operation(&mut self) -> (String, usize) {
        let (dataset, column) = *[
            ("persons", "id_number"),
            ("persons", "employer"),
            ("persons", "gender"),
            ("loans", "status"),
            ("loans", "term_months"),
            ("contributions", "employer"),
        ]
        .get(self.rng.below(6))
        .expect("in range");
        let op = self
            .rng
            .pick(&["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]);
        let mut sides = Vec::new();
        for _ in 0..2 {
            let s = Scoped::new("s", self.agency(), dataset);
            self.scope = vec![s.clone()];
            let filter = self.where_clause();
            sides.push(format!("SELECT s.{column} AS c0 FROM {}{filter}", s.from()));
        }
        (format!("{} {op} {}", sides[0], sides[1]), 1)
    }

    fn join(&mut self) -> (String, usize) {
        let kind = self
            .rng
            .pick(&["JOIN", "JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"]);
        let (a, b) = (self.agency(), self.agency());
        let (x, y, on) = match self.rng.below(5) {
            0 => (
                Scoped::new("x", a, "persons"),
                Scoped::new("y", b, "persons"),
                "x.id_number = y.id_number",
            ),
            1 => (
                Scoped::new("x", a, "persons"),
                Scoped::new("y", a, "loans"),
                "y.person_id = x.person_id",
            ),
            2 => (
                Scoped::new("x", a, "loans"),
                Scoped::new("y", a, "contributions"),
                "y.person_id = x.person_id",
            ),
            3 => (
                Scoped::new("x", a, "loans"),
                Scoped::new("y", b, "loans"),
                "x.term_months = y.term_months AND x.status = y.status AND x.rate = y.rate",
            ),
            _ => (
                Scoped::new("x", a, "persons"),
                Scoped::new("y", b, "persons"),
                "x.id_number = y.id_number AND x.gender = y.gender",
            ),
        };
        // A condition in ON on the side an outer join preserves keeps its rows, padded.
        self.scope = match self.rng.below(3) {
            0 => vec![x.clone()],
            1 => vec![y.clone()],
            _ => vec![x.clone(), y.clone()],
        };
        let extra = if self.rng.chance(25) {
            format!(" AND {}", self.predicate(1))
        } else {
            String::new()
        };
        let mut from = format!("{} {kind} {} ON {on}{extra}", x.from(), y.from());
        self.scope = vec![x, y];
        if self.rng.chance(20) {
            let z = Scoped::new("z", b, "loans");
            from += &format!(" LEFT JOIN {} ON z.person_id = y.person_id", z.from());
            self.scope.push(z);
        }
        let filter = self.where_clause();
        if self.rng.chance(50) {
            self.grouped(&from, &filter)
        } else {
            let (list, n) = self.scalars();
            (format!("SELECT {list} FROM {from}{filter}"), n)
        }
    }

    /// The rows a correlated subquery reads for a person of agency `a`, and the column
    /// they match on: `a`'s loans by person id, or agency `b`'s persons by id number
    /// (person ids are per agency).
    fn correlated_rows(&mut self, a: usize, b: usize) -> (Scoped, &'static str) {
        if self.rng.chance(50) {
            (Scoped::new("s", a, "loans"), "person_id")
        } else {
            (Scoped::new("s", b, "persons"), "id_number")
        }
    }

    fn subquery(&mut self) -> (String, usize) {
        let (a, b) = (self.agency(), self.agency());
        let (outer, condition) = match self.rng.below(5) {
            0 => {
                let s = Scoped::new("s", b, "persons");
                self.scope = vec![s.clone()];
                let filter = self.where_clause();
                let not = if self.rng.chance(40) { "NOT " } else { "" };
                (
                    Scoped::new("x", a, "persons"),
                    format!(
                        "x.id_number {not}IN (SELECT s.id_number FROM {}{filter})",
                        s.from()
                    ),
                )
            }
            1 => {
                let (s, key) = self.correlated_rows(a, b);
                self.scope = vec![s.clone()];
                let p = self.predicate(1);
                let not = if self.rng.chance(40) { "NOT " } else { "" };
                (
                    Scoped::new("x", a, "persons"),
                    format!(
                        "{not}EXISTS (SELECT 1 FROM {} WHERE s.{key} = x.{key} AND {p})",
                        s.from()
                    ),
                )
            }
            2 => {
                let s = Scoped::new("s", b, "loans");
                self.scope = vec![s.clone()];
                let filter = self.where_clause();
                let f = self.rng.pick(&["avg", "min", "max"]);
                let op = self.order_op();
                (
                    Scoped::new("x", a, "loans"),
                    format!(
                        "x.amount {op} (SELECT {f}(s.amount) FROM {}{filter})",
                        s.from()
                    ),
                )
            }
            3 => {
                let s = Scoped::new("s", a, "contributions");
                self.scope = vec![s.clone()];
                let filter = self.where_clause();
                (
                    Scoped::new("x", a, "loans"),
                    format!(
                        "x.person_id IN (SELECT s.person_id FROM {}{filter})",
                        s.from()
                    ),
                )
            }
            _ => {
                // A correlated count in the select list: a person with no loans counts 0.
                let (s, key) = self.correlated_rows(a, b);
                let x = Scoped::new("x", a, "persons");
                self.scope = vec![x.clone()];
                let filter = self.where_clause();
                let (list, n) = self.scalars();
                return (
                    format!(
                        "SELECT {list}, (SELECT count(*) FROM {} WHERE s.{key} = x.{key}) AS c{n} FROM {}{filter}",
                        s.from(),
                        x.from()
                    ),
                    n + 1,
                );
            }
        };
        self.scope = vec![outer.clone()];
        let more = if self.rng.chance(40) {
            format!(" AND {}", self.predicate(1))
        } else {
            String::new()
        };
        let filter = format!(" WHERE {condition}{more}");
        if self.rng.chance(40) {
            self.grouped(&outer.from(), &filter)
        } else {
            let (list, n) = self.scalars();
            (format!("SELECT {list} FROM {}{filter}", outer.from()), n)
        }
    }

    /// A derived table or CTE `d` (some columns of one agency's dataset, filtered, maybe
    /// DISTINCT) joined to an agency's persons, then projected or grouped.
    fn derived(&mut self) -> (String, usize) {
        let a = self.agency();
        let dataset = self.rng.pick(&["persons", "loans", "contributions"]);
        let table = table_index(dataset);
        let columns = TABLES[table].1;
        let key = if dataset == "persons" {
            "id_number"
        } else {
            "person_id"
        };
        let kept: Vec<usize> = (0..columns.len())
            .filter(|&i| columns[i].0 == key || self.rng.chance(50))
            .collect();
        let inner = Scoped::new("s", a, dataset);
        self.scope = vec![inner.clone()];
        let filter = self.where_clause();
        let distinct = if self.rng.chance(20) { "DISTINCT " } else { "" };
        let list: Vec<String> = kept
            .iter()
            .map(|&i| format!("s.{}", columns[i].0))
            .collect();
        let body = format!(
            "SELECT {distinct}{} FROM {}{filter}",
            list.join(", "),
            inner.from()
        );
        let d = Scoped {
            alias: "d".into(),
            agency: a,
            table,
            columns: Some(kept),
        };
        let (with, from_d) = if self.rng.chance(50) {
            (format!("WITH d AS ({body}) "), "d".to_string())
        } else {
            (String::new(), format!("({body}) d"))
        };
        // Person ids are per agency: another agency's persons match on id_number only.
        let partner_agency = if dataset == "persons" || self.rng.chance(20) {
            self.agency()
        } else {
            a
        };
        let p = Scoped::new("p", partner_agency, "persons");
        let kind = self.rng.pick(&["JOIN", "LEFT JOIN", "RIGHT JOIN"]);
        let from = format!("{from_d} {kind} {} ON p.{key} = d.{key}", p.from());
        self.scope = vec![d, p];
        let filter = self.where_clause();
        let (sql, n) = if self.rng.chance(50) {
            self.grouped(&from, &filter)
        } else {
            let (list, n) = self.scalars();
            (format!("SELECT {list} FROM {from}{filter}"), n)
        };
        (format!("{with}{sql}"), n)
    }

    fn window(&mut self) -> (String, usize) {
        let a = self.agency();
        let (t, partitions, order) = if self.rng.chance(70) {
            (
                Scoped::new("t", a, "loans"),
                self.rng
                    .pick(&["t.status", "t.term_months", "t.rate", "t.status, t.rate"]),
                self.rng.pick(&[
                    "t.loan_id",
                    "t.amount DESC, t.loan_id",
                    "t.rate NULLS FIRST, t.loan_id DESC",
                    "t.issued_on, t.loan_id",
                ]),
            )
        } else {
            (
                Scoped::new("t", a, "contributions"),
                self.rng.pick(&["t.person_id", "t.employer"]),
                self.rng.pick(&[
                    "t.month, t.person_id",
                    "t.amount DESC, t.person_id, t.month",
                ]),
            )
        };
        let function = self.rng.pick(&[
            "row_number()",
            "rank()",
            "dense_rank()",
            "count(*)",
            "sum(t.amount)",
            "min(t.amount)",
            "lag(t.amount)",
            "lead(t.amount, 2)",
            "first_value(t.amount)",
        ]);
        let frame = if function.starts_with("sum") && self.rng.chance(40) {
            " ROWS BETWEEN 2 PRECEDING AND CURRENT ROW"
        } else {
            ""
        };
        self.scope = vec![t.clone()];
        // Keep the contributions small enough to compare quickly.
        let mut filter = self.where_clause();
        if t.table == table_index("contributions") {
            let first = (a as i64 + 1) * 100_000_000 + self.rng.below(PERSONS) as i64;
            let clause = format!("t.person_id BETWEEN {first} AND {}", first + 40);
            filter = if filter.is_empty() {
                format!(" WHERE {clause}")
            } else {
                format!("{filter} AND {clause}")
            };
        }
        let (list, n) = self.scalars();
        (
            format!(
                "SELECT {list}, {function} OVER (PARTITION BY {partitions} ORDER BY {order}{frame}) AS c{n} FROM {}{filter}",
                t.from()
            ),
            n + 1,
        )
    }

    /// One query, and whether its rows come in a defined order.
    fn query(&mut self) -> (String, bool) {
        let (mut sql, mut columns) = match self.rng.below(11) {
            0 | 1 => self.one_table(),
            2 => self.union_all(),
            3 => self.set_operation(),
            4..=6 => self.join(),
            7 | 8 => self.subquery(),
            9 => self.derived(),
            _ => self.window(),
        };
        // Every shape names its first column c0.
        if self.rng.chance(10) {
            sql = format!(
                "SELECT count(*) AS c0, count(DISTINCT q.c0) AS c1, min(q.c0) AS c2, max(q.c0) AS c3 FROM ({sql}) q"
            );
            columns = 4;
        }
        if !self.rng.chance(35) {
            return (sql, false);
        }
        let keys: Vec<String> = (1..=columns)
            .map(|i| {
                format!(
                    "{i} {} NULLS {}",
                    self.rng.pick(&["ASC", "DESC"]),
                    self.rng.pick(&["FIRST", "LAST"])
                )
            })
            .collect();
        let mut sql = format!(
            "SELECT * FROM ({sql}) q ORDER BY {} LIMIT {}",
            keys.join(", "),
            1 + self.rng.below(25)
        );
        if self.rng.chance(30) {
            sql += &format!(" OFFSET {}", self.rng.below(10));
        }
        (sql, true)
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn queries(count: usize) -> Vec<(String, bool)> {
    let seed = std::env::var("SLUICE_FEDGEN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_F00D_u64);
    let mut g = Gen {
        rng: Rng(seed | 1),
        scope: Vec::new(),
    };
    (0..count).map(|_| g.query()).collect()
}

fn count() -> usize {
    std::env::var("SLUICE_FEDGEN_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_COUNT)
}

fn compare(
    sql: &str,
    ordered: bool,
    mut want: Vec<Vec<String>>,
    mut have: Vec<Vec<String>>,
) -> Option<String> {
    if !ordered {
        want.sort();
        have.sort();
    }
    let same_row = |a: &Vec<String>, b: &Vec<String>| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_cell(x, y))
    };
    let same = want.len() == have.len() && want.iter().zip(&have).all(|(a, b)| same_row(a, b));
    (!same).then(|| {
        format!(
            "{sql}\n  expected {} rows, got {}; first difference: {:?}",
            want.len(),
            have.len(),
            want.iter().zip(&have).find(|(a, b)| !same_row(a, b)),
        )
    })
}

/// Floats are printed to seven significant digits; an average summed in another order
/// can round the last one the other way (2.9578125 as 2.957812 or 2.957813).
fn same_cell(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let float = |s: &str| s.contains('e').then(|| s.parse::<f64>().ok()).flatten();
    match (float(a), float(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= 2e-6 * x.abs().max(y.abs()),
        _ => false,
    }
}

fn assert_none(failures: &[String], total: usize, against: &str) {
    assert!(
        failures.is_empty(),
        "{} of {total} generated queries differ from {against}:\n{}",
        failures.len(),
        failures[..failures.len().min(15)].join("\n")
    );
}

/// Runs the generated queries through the federation of `h`; returns every answer that
/// differs from DuckDB's over the same files. Where DuckDB cannot run a query, local
/// DataFusion is the reference. Where local DataFusion alone disagrees with both, it is
/// DataFusion that is wrong (DataFusion 55 can drop rows from an ORDER BY with LIMIT over
/// a UNION ALL whose branches give a column different constants), and where it alone
/// fails, it hit one of its own bugs: that is reported on stderr, not counted against
/// the federation.
async fn differences(h: &Harness, queries: &[(String, bool)]) -> Vec<String> {
    let sqls: Vec<&str> = queries.iter().map(|(s, _)| s.as_str()).collect();
    let duck = duckdb(&h.cluster.data, &sqls);
    let mut failures = Vec::new();
    for ((sql, ordered), duck) in queries.iter().zip(duck) {
        let local = match h.local.sql(sql).await {
            Ok(df) => df.collect().await.map(|b| rows(&b)),
            Err(e) => Err(e),
        };
        let got = match h.federated(sql).await {
            Ok(b) => rows(&b),
            Err(e) => {
                failures.push(format!("{sql}\n  failed: {e}"));
                continue;
            }
        };
        let reference = match (duck, local) {
            (Ok(d), Ok(local)) => {
                if let Some(wrong) = compare(sql, *ordered, d.clone(), local) {
                    eprintln!("local DataFusion differs from DuckDB: {wrong}");
                }
                d
            }
            (Ok(d), Err(e)) => {
                eprintln!("local DataFusion fails where DuckDB answers: {e}\n{sql}");
                d
            }
            (Err(_), Ok(local)) => local,
            (Err(duck), Err(e)) => {
                panic!(
                    "the generator wrote SQL that DuckDB ({duck}) and DataFusion ({e}) refuse:\n{sql}"
                )
            }
        };
        failures.extend(compare(sql, *ordered, reference, got));
    }
    failures
}

/// Fixed queries, each with whether its answer is ordered: the federation's answers
/// equal DuckDB's.
async fn assert_match_duckdb(h: &Harness, queries: &[(&str, bool)]) {
    let queries: Vec<(String, bool)> = queries
        .iter()
        .map(|(q, ordered)| (q.to_string(), *ordered))
        .collect();
    let failures = differences(h, &queries).await;
    assert_none(&failures, queries.len(), "DuckDB");
}

/// Every generated query over the agencies' Parquet files: the federation's answer equals
/// DuckDB's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_federated_queries_match_duckdb() {
    let h = Harness::start().await;
    let queries = queries(count());
    let failures = differences(&h, &queries).await;
    assert_none(&failures, queries.len(), "DuckDB");
}

/// The same queries with bj_hf on PostgreSQL, sh_hf on MariaDB and cd_hf on SQLite: what
/// each database answers (pushed filters, aggregates, limits) must not change a result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_federated_queries_over_databases_match_duckdb() {
    let h = Harness::start_on([Backend::Postgres, Backend::Mariadb, Backend::Sqlite]).await;
    let queries = queries(count());
    let failures = differences(&h, &queries).await;
    h.stop().await;
    assert_none(&failures, queries.len(), "DuckDB");
}

/// ORDER BY with LIMIT over a UNION ALL whose branches give a column different constants,
/// the shape that found DataFusion's merge dropping that column (see
/// `sluice_gateway::intake::session_config`). The answer came out wrong only some of
/// the time, so each query runs several times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_by_a_constant_of_each_union_branch_with_limit() {
    let h = Harness::start().await;
    let queries = [
        "SELECT * FROM (SELECT 'bj' AS city, b.amount FROM bj_hf.contributions b WHERE b.employer IS NULL UNION ALL SELECT 'sh' AS city, b.amount FROM sh_hf.contributions b WHERE b.person_id IN (200000631, 200000053) UNION ALL SELECT 'cd' AS city, b.amount FROM cd_hf.contributions b) u ORDER BY 1, 2 LIMIT 3",
        "SELECT * FROM (SELECT 'bj' AS city, b.amount FROM bj_hf.contributions b UNION ALL SELECT 'sh' AS city, b.amount FROM sh_hf.contributions b WHERE b.amount > 2145 UNION ALL SELECT 'cd' AS city, b.amount FROM cd_hf.contributions b) u ORDER BY 1 DESC, 2 DESC LIMIT 25 OFFSET 5",
    ];
    let want = duckdb(&h.cluster.data, &queries);
    for (sql, want) in queries.iter().zip(want) {
        let want = want.unwrap();
        for _ in 0..8 {
            let have = rows(&h.federated(sql).await.unwrap());
            assert_eq!(have, want, "{sql}");
        }
    }
}

/// A UNION ALL whose branches (all, or some) read one agency, so that they could go to
/// that owner as one statement: the per-branch top-N and partial GROUP BY, and a sort,
/// limit or distinct UNION inside a branch, must keep their meaning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn union_branches_at_one_agency() {
    let h = Harness::start().await;
    let queries = [
        (
            "SELECT * FROM (SELECT 'b' AS k, b.amount FROM sh_hf.contributions b UNION ALL SELECT 'c' AS k, d.amount FROM sh_hf.contributions d) u ORDER BY 1, 2 LIMIT 3",
            true,
        ),
        (
            "SELECT * FROM (SELECT 'b' AS k, b.amount FROM sh_hf.contributions b WHERE b.amount > 2000 UNION ALL SELECT 'c' AS k, d.amount FROM sh_hf.contributions d UNION ALL SELECT 'e' AS k, e.amount FROM bj_hf.contributions e) u ORDER BY 2 DESC, 1 LIMIT 7",
            true,
        ),
        (
            "SELECT u.k, u.amount FROM (SELECT 'b' AS k, b.amount, b.person_id FROM sh_hf.contributions b UNION ALL SELECT 'c', d.amount, d.person_id FROM sh_hf.contributions d) u ORDER BY u.amount DESC, u.person_id, u.k LIMIT 4 OFFSET 2",
            true,
        ),
        (
            "SELECT k, COUNT(*), SUM(amount), MIN(amount), AVG(amount) FROM (SELECT 'b' AS k, b.amount FROM sh_hf.contributions b UNION ALL SELECT 'c' AS k, d.amount FROM sh_hf.contributions d) u GROUP BY k",
            false,
        ),
        (
            "SELECT u.employer, COUNT(*), MAX(u.amount) FROM (SELECT b.employer, b.amount FROM cd_hf.contributions b UNION ALL SELECT d.employer, d.amount FROM cd_hf.contributions d WHERE d.amount < 3000 UNION ALL SELECT e.employer, e.amount FROM bj_hf.contributions e) u GROUP BY u.employer",
            false,
        ),
        (
            "SELECT p.gender, c.amount FROM sh_hf.persons p JOIN sh_hf.contributions c ON p.person_id = c.person_id UNION ALL SELECT p.gender, c.amount FROM sh_hf.persons p JOIN sh_hf.contributions c ON p.person_id = c.person_id ORDER BY 2 DESC, 1 LIMIT 5",
            true,
        ),
    ];
    // Limits and a distinct UNION inside branches, with no order on the whole.
    let inside = [
        "(SELECT amount FROM sh_hf.contributions ORDER BY amount LIMIT 2) UNION ALL (SELECT amount FROM sh_hf.contributions ORDER BY amount DESC LIMIT 3)",
        "SELECT * FROM (SELECT b.amount FROM bj_hf.contributions b ORDER BY 1 DESC LIMIT 4) x UNION ALL SELECT * FROM (SELECT d.amount FROM bj_hf.contributions d ORDER BY 1 LIMIT 1) y",
        "SELECT employer FROM cd_hf.persons UNION ALL (SELECT employer FROM cd_hf.contributions UNION SELECT employer FROM cd_hf.persons)",
    ];
    let inside: Vec<(&str, bool)> = inside.iter().map(|q| (*q, false)).collect();
    assert_match_duckdb(&h, &[&queries[..], &inside[..]].concat()).await;
}

/// A sort or limit inside a derived table, under an aggregate, a join, a DISTINCT or a
/// window, in a query that one owner answers as one statement: the limit must keep
/// applying to the derived table alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_inside_a_statement_at_one_agency() {
    let h = Harness::start().await;
    let queries = [
        (
            "SELECT COUNT(*), SUM(amount) FROM (SELECT amount FROM sh_hf.contributions ORDER BY amount LIMIT 3)",
            false,
        ),
        (
            "SELECT COUNT(*) FROM (SELECT amount FROM sh_hf.contributions LIMIT 3)",
            false,
        ),
        (
            "SELECT MAX(x.amount), MIN(x.amount) FROM (SELECT amount FROM sh_hf.contributions ORDER BY amount DESC LIMIT 10 OFFSET 3) x",
            false,
        ),
        (
            "SELECT p.gender, COUNT(*) FROM sh_hf.persons p JOIN (SELECT person_id FROM sh_hf.contributions ORDER BY amount DESC, person_id LIMIT 20) c ON p.person_id = c.person_id GROUP BY p.gender",
            false,
        ),
        (
            "SELECT DISTINCT amount FROM (SELECT amount FROM bj_hf.contributions ORDER BY amount LIMIT 5)",
            false,
        ),
        (
            "SELECT amount, ROW_NUMBER() OVER (ORDER BY amount) FROM (SELECT amount FROM cd_hf.contributions ORDER BY amount DESC LIMIT 4) ORDER BY 2",
            true,
        ),
        (
            "SELECT employer, COUNT(*) FROM (SELECT employer FROM sh_hf.contributions ORDER BY amount DESC, person_id, month LIMIT 30) GROUP BY employer ORDER BY 2 DESC, 1 NULLS LAST LIMIT 3",
            true,
        ),
        (
            "SELECT COUNT(*) FROM sh_hf.contributions c WHERE c.amount > (SELECT MIN(amount) FROM (SELECT amount FROM sh_hf.contributions ORDER BY amount DESC LIMIT 7))",
            false,
        ),
    ];
    assert_match_duckdb(&h, &queries).await;
}

/// GROUP BY over a UNION ALL of agencies is split into partial aggregates per owner: AVG
/// of every integer width, and group keys whose names collide once a cast drops its
/// qualifier (`CAST(u.loan_id AS VARCHAR)` is named `u.loan_id`, beside `u.loan_id`),
/// which also fails DataFusion's own `eliminate_group_by_constant` rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_aggregates_over_a_union_of_agencies() {
    let h = Harness::start().await;
    let queries = [
        "SELECT u.city, max(u.amount), avg(u.term_months) FROM (SELECT 'bj' AS city, b.amount, b.term_months FROM bj_hf.loans b UNION ALL SELECT 'sh' AS city, b.amount, b.term_months FROM sh_hf.loans b WHERE NOT (b.amount <> 309469)) u GROUP BY u.city",
        "SELECT avg(CAST(u.term_months AS SMALLINT)) AS a, avg(u.loan_id) AS b, avg(u.rate) AS c FROM (SELECT term_months, loan_id, rate FROM bj_hf.loans UNION ALL SELECT term_months, loan_id, rate FROM cd_hf.loans) u",
        "SELECT u.status, avg(CAST(u.term_months AS SMALLINT UNSIGNED)) FROM (SELECT status, term_months FROM sh_hf.loans UNION ALL SELECT status, term_months FROM cd_hf.loans) u GROUP BY u.status",
        "SELECT CAST(u.loan_id AS VARCHAR) AS c0, u.loan_id AS c1, avg(u.loan_id) AS c2, min(u.loan_id) AS c3 FROM (SELECT 'bj' AS city, b.loan_id FROM bj_hf.loans b UNION ALL SELECT 'sh' AS city, b.loan_id FROM sh_hf.loans b WHERE b.person_id >= 200000901 UNION ALL SELECT 'cd' AS city, b.loan_id FROM cd_hf.loans b WHERE b.status LIKE '%VE') u GROUP BY CAST(u.loan_id AS VARCHAR), u.loan_id",
        "SELECT u.status, CAST(u.term_months AS BIGINT) AS t, u.term_months, count(*) FROM (SELECT status, term_months FROM sh_hf.loans UNION ALL SELECT status, term_months FROM cd_hf.loans) u GROUP BY u.status, u.term_months, CAST(u.term_months AS BIGINT)",
    ];
    let queries: Vec<(&str, bool)> = queries.iter().map(|q| (*q, false)).collect();
    assert_match_duckdb(&h, &queries).await;
}

/// Every agency's loans, each row with its agency.
const LOANS_OF_ALL: &str = "(SELECT 'bj' AS city, * FROM bj_hf.loans UNION ALL SELECT 'sh' AS city, * FROM sh_hf.loans UNION ALL SELECT 'cd' AS city, * FROM cd_hf.loans)";

/// Shapes the generator does not write: ordinals, CTEs used twice, chains of set
/// operations, uncorrelated scalar subqueries, grouping sets, statistical and boolean
/// aggregates and DISTINCT aggregates over a union of agencies, windows over
/// aggregates, DISTINCT ON, USING and comma joins.
fn assorted_shapes() -> Vec<(String, bool)> {
    let union = LOANS_OF_ALL;
    [
        ("SELECT t.status, count(*) FROM bj_hf.loans t GROUP BY 1 ORDER BY 2 DESC, 1 NULLS LAST".to_string(), true),
        ("SELECT x.gender, count(DISTINCT x.employer), count(DISTINCT x.name) FROM bj_hf.persons x JOIN sh_hf.persons y ON x.id_number = y.id_number GROUP BY x.gender".into(), false),
        ("WITH a AS (SELECT employer, count(*) AS n FROM bj_hf.persons GROUP BY employer), b AS (SELECT employer, count(*) AS n FROM sh_hf.persons GROUP BY employer) SELECT a.employer, a.n, b.n FROM a FULL JOIN b ON a.employer = b.employer".into(), false),
        ("WITH a AS (SELECT id_number, employer FROM cd_hf.persons WHERE gender = 'F') SELECT count(*) FROM a x JOIN a y ON x.employer = y.employer AND x.id_number < y.id_number".into(), false),
        ("SELECT employer FROM bj_hf.persons INTERSECT SELECT employer FROM sh_hf.persons EXCEPT SELECT employer FROM cd_hf.contributions".into(), false),
        ("SELECT count(*) FROM bj_hf.persons x WHERE x.id_number IN (SELECT id_number FROM sh_hf.persons) AND x.id_number NOT IN (SELECT id_number FROM cd_hf.persons WHERE id_number IS NOT NULL)".into(), false),
        ("SELECT (SELECT max(amount) FROM sh_hf.loans) - (SELECT min(amount) FROM bj_hf.loans) AS spread".into(), false),
        (format!("SELECT u.status, sum(u.amount) FILTER (WHERE u.term_months > 120), count(*) FILTER (WHERE u.city = 'sh'), avg(u.rate) FROM {union} u GROUP BY u.status"), false),
        (format!("SELECT u.status, count(DISTINCT u.person_id), avg(DISTINCT u.term_months) FROM {union} u GROUP BY u.status"), false),
        ("SELECT CASE WHEN amount > 500000 THEN 'big' ELSE 'small' END AS size, count(*) FROM sh_hf.loans GROUP BY 1".into(), false),
        ("SELECT x.employer, rank() OVER (ORDER BY count(*) DESC, x.employer) AS r FROM bj_hf.persons x JOIN sh_hf.persons y ON x.id_number = y.id_number GROUP BY x.employer".into(), false),
        ("SELECT DISTINCT ON (status) status, loan_id FROM bj_hf.loans ORDER BY status, loan_id".into(), true),
        ("SELECT count(*) FROM bj_hf.persons x, sh_hf.persons y WHERE x.id_number = y.id_number AND x.gender <> y.gender".into(), false),
        ("SELECT p.gender, max(l.amount) FROM bj_hf.persons p JOIN bj_hf.loans l USING (person_id) WHERE l.amount > 1000000 GROUP BY p.gender".into(), false),
        (format!("SELECT u.city, stddev(u.amount), var_samp(u.term_months), bool_and(u.amount > 150000), bool_or(u.rate > 3.2) FROM {union} u GROUP BY u.city"), false),
        (format!("SELECT u.city, u.status, count(*), sum(u.amount) FROM {union} u GROUP BY ROLLUP (u.city, u.status)"), false),
        (format!("SELECT u.status, u.term_months, count(*) FROM {union} u GROUP BY GROUPING SETS ((u.status), (u.term_months), ())"), false),
        (format!("SELECT u.city, sum(u.amount) FROM {union} u GROUP BY u.city HAVING sum(u.amount) > 1000000 AND max(u.rate) >= 3.0"), false),
        (format!("SELECT count(*), count(u.rate), min(u.issued_on), max(u.issued_on) FROM {union} u WHERE u.rate IS NULL OR u.issued_on < DATE '2021-06-01'"), false),
        ("SELECT count(*) FROM (SELECT * FROM bj_hf.persons LIMIT 10) t".into(), false),
        ("SELECT l.status, count(*) FROM bj_hf.loans l WHERE l.amount > (SELECT avg(amount) FROM sh_hf.loans) GROUP BY l.status".into(), false),
        ("SELECT greatest(x.amount, y.amount) AS g, least(x.term_months, y.term_months) AS t FROM bj_hf.loans x JOIN cd_hf.loans y ON x.term_months = y.term_months AND x.status = y.status AND x.rate = y.rate ORDER BY 1 DESC, 2 LIMIT 5".into(), true),
    ]
    .into_iter()
    .collect()
}

/// More shapes: OFFSET, explicit null ordering, nested set operations, range and
/// non-equality joins across agencies, correlated comparisons with another agency's
/// rows, ON conditions on the padded side, CUBE, windows with frames over a union, type
/// coercion across a union, and empty answers.
fn more_shapes() -> Vec<(String, bool)> {
    let union = LOANS_OF_ALL;
    [
        (format!("SELECT u.city, u.loan_id, u.amount FROM {union} u ORDER BY u.amount DESC, u.city, u.loan_id LIMIT 5 OFFSET 3"), true),
        (format!("SELECT u.city, u.loan_id FROM {union} u ORDER BY u.rate NULLS FIRST, u.city, u.loan_id LIMIT 7"), true),
        ("(SELECT employer FROM bj_hf.persons UNION SELECT employer FROM sh_hf.persons) EXCEPT (SELECT employer FROM cd_hf.persons INTERSECT SELECT employer FROM bj_hf.contributions)".into(), false),
        ("SELECT count(*) FROM bj_hf.loans x JOIN sh_hf.loans y ON x.amount BETWEEN y.amount - 20000 AND y.amount + 20000 AND x.status = y.status".into(), false),
        ("SELECT x.status, count(*) FROM bj_hf.loans x WHERE EXISTS (SELECT 1 FROM sh_hf.loans y WHERE y.term_months = x.term_months AND y.amount > x.amount) GROUP BY x.status".into(), false),
        ("SELECT x.status, count(*) FROM bj_hf.loans x WHERE x.amount > (SELECT avg(y.amount) FROM sh_hf.loans y WHERE y.status = x.status) GROUP BY x.status".into(), false),
        ("SELECT x.status, count(*), count(y.loan_id) FROM bj_hf.loans x LEFT JOIN sh_hf.loans y ON x.term_months = y.term_months AND x.status = y.status AND y.amount > 500000 GROUP BY x.status".into(), false),
        ("SELECT y.status, count(*), count(x.loan_id) FROM cd_hf.loans x RIGHT JOIN sh_hf.loans y ON x.term_months = y.term_months AND x.amount < y.amount WHERE y.term_months >= 60 GROUP BY y.status".into(), false),
        (format!("SELECT u.city, u.status, count(*) FROM {union} u GROUP BY CUBE (u.city, u.status)"), false),
        (format!("SELECT u.city, u.loan_id, sum(u.amount) OVER (PARTITION BY u.city ORDER BY u.loan_id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s FROM {union} u"), false),
        (format!("SELECT u.city, u.loan_id, count(*) OVER () AS n, row_number() OVER (PARTITION BY u.status ORDER BY u.city, u.loan_id) AS r FROM {union} u"), false),
        ("SELECT amount AS v FROM bj_hf.loans UNION ALL SELECT rate FROM sh_hf.loans".into(), false),
        ("SELECT x.gender, count(*) FILTER (WHERE y.employer = x.employer), count(*) FROM bj_hf.persons x JOIN cd_hf.persons y ON x.id_number = y.id_number GROUP BY x.gender".into(), false),
        ("SELECT count(*), sum(amount), min(issued_on) FROM sh_hf.loans WHERE 1 = 0".into(), false),
        ("SELECT loan_id FROM bj_hf.loans LIMIT 0".into(), false),
        ("SELECT upper(x.name), length(x.employer) FROM bj_hf.persons x JOIN sh_hf.persons y ON x.id_number = y.id_number WHERE x.name LIKE '%a%' OR substr(y.employer, 1, 2) = 'Ci'".into(), false),
        ("SELECT x.status, count(*) FROM sh_hf.loans x WHERE x.issued_on >= DATE '2021-01-01' AND x.issued_on < DATE '2023-01-01' AND x.person_id NOT IN (SELECT person_id FROM sh_hf.contributions WHERE amount > 3000) GROUP BY x.status".into(), false),
        ("SELECT CASE WHEN x.rate IS NULL THEN 'none' WHEN x.rate > 3.5 THEN 'high' ELSE 'low' END AS band, count(*), avg(x.amount) FROM cd_hf.loans x GROUP BY 1".into(), false),
        ("SELECT DISTINCT x.gender, y.gender FROM bj_hf.persons x JOIN sh_hf.persons y ON x.id_number = y.id_number".into(), false),
        ("SELECT t.status, t.n FROM (SELECT status, count(*) AS n FROM bj_hf.loans GROUP BY status UNION ALL SELECT status, count(*) FROM cd_hf.loans GROUP BY status) t ORDER BY t.n DESC, t.status LIMIT 3".into(), true),
        ("SELECT x.employer, count(*) FROM bj_hf.contributions x WHERE x.amount = (SELECT max(amount) FROM bj_hf.contributions) OR x.amount = (SELECT min(amount) FROM sh_hf.contributions) GROUP BY x.employer".into(), false),
        // Text compares by code point, whatever a database's collation does: case,
        // trailing spaces and locale order must not leak into pushed filters and sorts.
        ("SELECT count(*) FROM sh_hf.persons WHERE name LIKE 'z%' OR employer = 'city transit'".into(), false),
        ("SELECT count(*) FROM sh_hf.persons WHERE employer = 'City Transit ' OR employer = 'CITY TRANSIT'".into(), false),
        ("SELECT employer, count(*) FROM sh_hf.persons WHERE employer < 'M' GROUP BY employer".into(), false),
        ("SELECT name FROM bj_hf.persons ORDER BY name LIMIT 5".into(), true),
        ("SELECT min(name), max(employer) FROM bj_hf.persons WHERE name >= 'a' OR employer < 'C'".into(), false),
        ("SELECT count(*) FROM cd_hf.persons WHERE upper(name) = name OR lower(employer) = 'grid power'".into(), false),
        // A CASE whose condition implies its branch is not NULL: DataFusion 55 calls it
        // not nullable in the logical plan and nullable in the physical one, over columns
        // that may be NULL (every remote column), and refused the aggregate above it.
        ("SELECT count(*) AS c0, count(DISTINCT q.c0) AS c1, min(q.c0) AS c2, max(q.c0) AS c3 FROM (SELECT CASE WHEN (t.status <> 'repaid' AND t.loan_id % 7 = 1) THEN t.status ELSE 'other' END AS c0, t.rate * 2 AS c1 FROM cd_hf.loans t WHERE t.status LIKE '%VE') q".into(), false),
        ("SELECT CASE WHEN x.employer <> '' THEN x.employer ELSE 'none' END AS e, count(*) FROM bj_hf.persons x JOIN sh_hf.persons y ON x.id_number = y.id_number GROUP BY 1".into(), false),
        (format!("SELECT count(DISTINCT CASE WHEN u.rate > 3 THEN u.rate ELSE 0 END), max(CASE WHEN u.status = 'active' THEN u.status END) FROM {union} u")
, false),
    ]
    .into_iter()
    .collect()
}

/// The fixed shapes through the federation over its Parquet files: the answers equal
/// DuckDB's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_shapes_match_duckdb() {
    let h = Harness::start().await;
    let queries: Vec<(String, bool)> = assorted_shapes().into_iter().chain(more_shapes()).collect();
    let failures = differences(&h, &queries).await;
    assert_none(&failures, queries.len(), "DuckDB");
}

/// The fixed shapes with bj_hf on PostgreSQL, sh_hf on MariaDB and cd_hf on SQLite:
/// string functions, LIKE and comparisons each database would answer its own way
/// (case-insensitive collations, byte lengths) must not change a result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_shapes_over_databases_match_duckdb() {
    let h = Harness::start_on([Backend::Postgres, Backend::Mariadb, Backend::Sqlite]).await;
    let queries: Vec<(String, bool)> = assorted_shapes().into_iter().chain(more_shapes()).collect();
    let failures = differences(&h, &queries).await;
    h.stop().await;
    assert_none(&failures, queries.len(), "DuckDB");
}
