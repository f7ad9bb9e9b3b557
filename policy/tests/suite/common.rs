//! The test world: agency `bj_hf` with `persons`, `contributions` and `loans` in MemTables under
//! `sluice.bj_hf`, a Casbin model and policy written to a temporary directory, and helpers
//! that plan SQL as the gateway does, decide, execute and collect every value.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use sluice_policy::{Decided, Error, Policy, PolicyConfig, Refusal, Request};

pub const AGENCY: &str = "bj_hf";
pub const SECRET: &[u8] = b"bj_hf owner secret, 32 bytes ok!";

pub const MODEL: &str = sluice_policy::STANDARD_MODEL;

pub const POLICY: &str = r#"# Roles. Officers inherit what analysts may do.
g, sh_hf/bob, fund_analyst
g, sh_hf/carol, fund_officer
g, cd_hf/erin, fund_officer
g, fund_officer, fund_analyst
g, bj_hf/alice, local_clerk
g, sh_hf/mallory, fund_analyst
g, sh_hf/dave, fund_analyst

# The local clerk administers everything.
p, local_clerk, bj_hf, persons.*, administration, plain
p, local_clerk, bj_hf, contributions.*, administration, plain

# Analysts of any agency, for statistics.
p, fund_analyst, *, persons.city, statistics, plain
p, fund_analyst, *, persons.salary, statistics, aggregate
p, fund_analyst, *, persons.birth_date, statistics, masked:year
p, fund_analyst, *, persons.id_number, statistics, masked:last:4
p, fund_analyst, *, persons.name, statistics, masked:first:1
p, fund_analyst, *, persons.person_id, statistics, join
p, fund_analyst, *, contributions.person_id, statistics, join
p, fund_analyst, *, contributions.month, statistics, plain
p, fund_analyst, *, contributions.amount, statistics, aggregate

# Officers, for transfers between cities.
p, fund_officer, *, persons.id_number, provident_fund_transfer, masked:hash
p, fund_officer, *, persons.name, provident_fund_transfer, plain
p, fund_officer, *, persons.city, provident_fund_transfer, plain
p, fund_officer, *, contributions.*, provident_fund_transfer, aggregate:3

# Anyone at sh_hf may see cities for public information.
p, sh_hf/*, *, persons.city, public_info, plain

# Mallory lost her access.
p, sh_hf/mallory, *, persons.*, *, deny

# Loans: ids and statuses are plain, amounts and employers only aggregated, the
# borrower only joins.
p, fund_analyst, *, loans.loan_id, statistics, plain
p, fund_analyst, *, loans.status, statistics, plain
p, fund_analyst, *, loans.person_id, statistics, join
p, fund_analyst, *, loans.amount, statistics, aggregate
p, fund_analyst, *, loans.employer, statistics, aggregate
p, local_clerk, bj_hf, loans.*, administration, plain

# Row filters: analysts see only Beijing-registered ids (the filter sees raw ids);
# officers only two cities; dave only Tianjin.
p2, fund_analyst, *, persons, statistics, id_number LIKE '110%'
p2, fund_officer, *, persons, provident_fund_transfer, "city IN ('beijing', 'tianjin')"
p2, sh_hf/dave, *, persons, *, city = 'tianjin'
"#;

/// (city, persons, id prefix)
pub const CITIES: &[(&str, usize, &str)] = &[
    ("beijing", 8, "110101"),
    ("tianjin", 6, "110105"),
    ("xiong_an", 2, "110108"),
    ("langfang", 2, "131002"),
];
const SURNAMES: &[&str] = &["Zhang", "Wang", "Li", "Zhao", "Chen", "Liu"];
pub const EMPLOYERS: &[&str] = &["Acme Works", "Globex Corp", "Initech Ltd"];
pub const MONTHS: &[&str] = &["2024-01", "2024-02", "2024-03"];

#[derive(Debug, Clone)]
pub struct Person {
    pub person_id: i64,
    pub id_number: String,
    pub name: String,
    /// days since 1970-01-01
    pub birth_date: i32,
    pub birth: String,
    pub city: String,
    pub salary: i64,
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i32 {
    // Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32
}

pub fn persons() -> Vec<Person> {
    let mut out = Vec::new();
    let mut i: i64 = 0;
    for (city, n, prefix) in CITIES {
        for _ in 0..*n {
            i += 1;
            let (y, m, d) = (1960 + i, (i % 12) + 1, (i % 27) + 2);
            out.push(Person {
                person_id: i,
                id_number: format!("{prefix}{y:04}{m:02}{d:02}{:04}", 1000 + i),
                name: format!("{} Wei{i:02}", SURNAMES[(i as usize) % SURNAMES.len()]),
                birth_date: days_from_civil(y, m, d),
                birth: format!("{y:04}-{m:02}-{d:02}"),
                city: city.to_string(),
                salary: if i == 1 { 12345 } else { 10_000 + i * 1777 },
            });
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct Contribution {
    pub person_id: i64,
    pub month: String,
    pub amount: i64,
    pub employer: String,
}

pub fn contributions() -> Vec<Contribution> {
    let mut out = Vec::new();
    for p in persons() {
        for (mi, month) in MONTHS.iter().enumerate() {
            out.push(Contribution {
                person_id: p.person_id,
                month: month.to_string(),
                amount: p.salary / 10 + mi as i64 * 7,
                employer: EMPLOYERS[(p.person_id as usize) % EMPLOYERS.len()].to_string(),
            });
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct Loan {
    pub loan_id: i64,
    pub person_id: i64,
    pub amount: i64,
    pub status: String,
    pub employer: String,
}

/// The loan the attacks single out, with the amount the issue's attacker recovered.
pub const TARGET_LOAN: i64 = 2_000_000_031;
pub const TARGET_AMOUNT: i64 = 769_145;
pub const LOAN_STATUS: &[&str] = &["active", "repaid", "overdue"];
pub const LOAN_EMPLOYERS: &[&str] = &["Grid Power", "City Transit", "Water Works"];

/// 40 loans: ids 2000000001 to 2000000040, distinct amounts.
pub fn loans() -> Vec<Loan> {
    (0..40)
        .map(|i: i64| {
            let loan_id = 2_000_000_001 + i;
            Loan {
                loan_id,
                person_id: if i < 5 { 1 } else { i % 18 + 1 },
                amount: if loan_id == TARGET_LOAN {
                    TARGET_AMOUNT
                } else {
                    100_000 + i * 7_919
                },
                status: LOAN_STATUS[(i as usize) % 3].to_string(),
                employer: LOAN_EMPLOYERS[(i as usize / 2) % 3].to_string(),
            }
        })
        .collect()
}

pub fn loans_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("loan_id", DataType::Int64, false),
        Field::new("person_id", DataType::Int64, false),
        Field::new("amount", DataType::Int64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("employer", DataType::Utf8, false),
    ]))
}

pub fn persons_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("person_id", DataType::Int64, false),
        Field::new("id_number", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("birth_date", DataType::Date32, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("salary", DataType::Int64, false),
    ]))
}

pub fn contributions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("person_id", DataType::Int64, false),
        Field::new("month", DataType::Utf8, false),
        Field::new("amount", DataType::Int64, false),
        Field::new("employer", DataType::Utf8, false),
    ]))
}

pub fn datasets() -> BTreeMap<String, SchemaRef> {
    BTreeMap::from([
        ("persons".to_string(), persons_schema()),
        ("contributions".to_string(), contributions_schema()),
        ("loans".to_string(), loans_schema()),
    ])
}

/// The raw data a world serves: the standard data, or a variant of it.
#[derive(Clone)]
pub struct Data {
    pub persons: Vec<Person>,
    pub contributions: Vec<Contribution>,
    pub loans: Vec<Loan>,
}

impl Data {
    pub fn standard() -> Data {
        Data {
            persons: persons(),
            contributions: contributions(),
            loans: loans(),
        }
    }
}

pub fn session_with(data: &Data) -> SessionContext {
    let ctx = SessionContext::new_with_config(
        SessionConfig::new()
            .with_information_schema(false)
            .with_default_catalog_and_schema("sluice", AGENCY),
    );
    let ps = &data.persons;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(ps.iter().map(|p| p.person_id))),
        Arc::new(StringArray::from_iter_values(
            ps.iter().map(|p| p.id_number.clone()),
        )),
        Arc::new(StringArray::from_iter_values(
            ps.iter().map(|p| p.name.clone()),
        )),
        Arc::new(Date32Array::from_iter_values(
            ps.iter().map(|p| p.birth_date),
        )),
        Arc::new(StringArray::from_iter_values(
            ps.iter().map(|p| p.city.clone()),
        )),
        Arc::new(Int64Array::from_iter_values(ps.iter().map(|p| p.salary))),
    ];
    let batch = RecordBatch::try_new(persons_schema(), cols).unwrap();
    let t = MemTable::try_new(persons_schema(), vec![vec![batch]]).unwrap();
    ctx.register_table(TableReference::partial(AGENCY, "persons"), Arc::new(t))
        .unwrap();

    let cs = &data.contributions;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(cs.iter().map(|c| c.person_id))),
        Arc::new(StringArray::from_iter_values(
            cs.iter().map(|c| c.month.clone()),
        )),
        Arc::new(Int64Array::from_iter_values(cs.iter().map(|c| c.amount))),
        Arc::new(StringArray::from_iter_values(
            cs.iter().map(|c| c.employer.clone()),
        )),
    ];
    let batch = RecordBatch::try_new(contributions_schema(), cols).unwrap();
    let t = MemTable::try_new(contributions_schema(), vec![vec![batch]]).unwrap();
    ctx.register_table(
        TableReference::partial(AGENCY, "contributions"),
        Arc::new(t),
    )
    .unwrap();

    let ls = &data.loans;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(ls.iter().map(|l| l.loan_id))),
        Arc::new(Int64Array::from_iter_values(ls.iter().map(|l| l.person_id))),
        Arc::new(Int64Array::from_iter_values(ls.iter().map(|l| l.amount))),
        Arc::new(StringArray::from_iter_values(
            ls.iter().map(|l| l.status.clone()),
        )),
        Arc::new(StringArray::from_iter_values(
            ls.iter().map(|l| l.employer.clone()),
        )),
    ];
    let batch = RecordBatch::try_new(loans_schema(), cols).unwrap();
    let t = MemTable::try_new(loans_schema(), vec![vec![batch]]).unwrap();
    ctx.register_table(TableReference::partial(AGENCY, "loans"), Arc::new(t))
        .unwrap();
    ctx
}

pub fn config() -> PolicyConfig {
    PolicyConfig::new(AGENCY, SECRET.to_vec(), datasets())
        .with_key("persons", ["person_id"])
        .with_key("loans", ["loan_id"])
        .with_subject("persons", "person_id")
        .with_subject("contributions", "person_id")
        .with_subject("loans", "person_id")
}

/// A temporary directory holding `model.conf` and `policy.csv`.
pub struct Files {
    pub dir: tempfile::TempDir,
}

impl Files {
    pub fn new(model: &str, policy: &str) -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.conf"), model).unwrap();
        std::fs::write(dir.path().join("policy.csv"), policy).unwrap();
        Files { dir }
    }
    pub fn model(&self) -> PathBuf {
        self.dir.path().join("model.conf")
    }
    pub fn policy(&self) -> PathBuf {
        self.dir.path().join("policy.csv")
    }
}

pub struct World {
    pub ctx: SessionContext,
    pub policy: Policy,
    pub _files: Files,
}

pub fn world() -> World {
    world_with(POLICY)
}

pub fn world_with(policy: &str) -> World {
    world_on(policy, &Data::standard())
}

/// A world serving `data` under `policy`.
pub fn world_on(policy: &str, data: &Data) -> World {
    let files = Files::new(MODEL, policy);
    let policy = Policy::load(config(), &files.model(), &files.policy()).unwrap();
    World {
        ctx: session_with(data),
        policy,
        _files: files,
    }
}

pub fn req(principal: &str, purpose: &str) -> Request {
    Request::new(principal, Some(purpose)).unwrap()
}

impl World {
    pub async fn plan(&self, sql: &str) -> LogicalPlan {
        self.ctx
            .state()
            .create_logical_plan(sql)
            .await
            .unwrap_or_else(|e| panic!("planning {sql}: {e}"))
    }

    pub async fn decide(
        &self,
        principal: &str,
        purpose: &str,
        sql: &str,
    ) -> Result<Decided, Error> {
        let plan = self.plan(sql).await;
        self.policy.decide(&plan, &req(principal, purpose))
    }

    /// Decide, then execute the rewritten plan through the optimizer.
    pub async fn query(
        &self,
        principal: &str,
        purpose: &str,
        sql: &str,
    ) -> Result<Vec<RecordBatch>, Error> {
        let decided = self.decide(principal, purpose, sql).await?;
        Ok(execute(&self.ctx, decided.plan).await)
    }
}

pub async fn execute(ctx: &SessionContext, plan: LogicalPlan) -> Vec<RecordBatch> {
    let shown = plan.display_indent().to_string();
    ctx.execute_logical_plan(plan)
        .await
        .unwrap_or_else(|e| panic!("planning the rewritten plan: {e}\n{shown}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("executing the rewritten plan: {e}\n{shown}"))
}

/// Every cell, as text, row by row.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let opts = FormatOptions::default().with_null("NULL");
    for b in batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    out
}

pub fn cells(batches: &[RecordBatch]) -> Vec<String> {
    rows(batches).into_iter().flatten().collect()
}

pub fn refusal(r: Result<Vec<RecordBatch>, Error>) -> Refusal {
    match r {
        Err(Error::Refused(r)) => *r,
        Err(e) => panic!("expected a refusal, got error {e}"),
        Ok(b) => panic!("expected a refusal, got {:?}", rows(&b)),
    }
}

pub fn refused_columns(r: &Refusal) -> Vec<String> {
    r.violations
        .iter()
        .map(|v| format!("{}.{}", v.dataset, v.column))
        .collect()
}
