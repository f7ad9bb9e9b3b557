//! Deterministic demo data for three housing-fund centres: persons, monthly
//! contributions and loans, written as Parquet. The same scale always gives the same
//! bytes, so tests and benchmarks can rely on it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Datelike;

use arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

use sluice_gateway::error::{GatewayError, Result};

/// One demo agency: its id, its city, and the region code its citizens' id numbers start with.
#[derive(Debug, Clone, Copy)]
pub struct DemoAgency {
    pub id: &'static str,
    pub city: &'static str,
    pub region: u32,
}

/// The three housing-fund centres of the demo.
pub const AGENCIES: [DemoAgency; 3] = [
    DemoAgency {
        id: "bj_hf",
        city: "Beijing",
        region: 110101,
    },
    DemoAgency {
        id: "sh_hf",
        city: "Shanghai",
        region: 310101,
    },
    DemoAgency {
        id: "cd_hf",
        city: "Chengdu",
        region: 510104,
    },
];

/// Persons per agency at scale 1. With about 15 contributions each and a loan for one
/// in seven, three agencies hold about a million rows.
pub const PERSONS_PER_AGENCY: usize = 20_000;

/// One in this many persons of Shanghai and Chengdu moved there from Beijing and keeps
/// the Beijing id number, so cross-city joins find them.
pub const MOVER_EVERY: usize = 20;

const ROWS_PER_BATCH: usize = 64 * 1024;
const SURNAMES: [&str; 12] = [
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun",
];
const GIVEN: [&str; 12] = [
    "Wei", "Fang", "Na", "Min", "Jing", "Lei", "Qiang", "Yan", "Jun", "Hui", "Tao", "Ping",
];
/// The employers the demo's persons and contributions name.
pub const EMPLOYERS: [&str; 8] = [
    "City Transit",
    "Municipal Hospital",
    "Grid Power",
    "Tech Park Ltd",
    "Water Works",
    "Public School",
    "Rail Bureau",
    "Steel Works",
];
const LOAN_STATUS: [&str; 3] = ["active", "repaid", "overdue"];

/// Days from 1970-01-01 to 2020-01-01.
const DAY_2020: i32 = 18262;

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct DemoData {
    pub dir: PathBuf,
    pub persons_per_agency: usize,
    pub rows: usize,
}

impl DemoData {
    /// Data that [`generate`] wrote to `dir` earlier.
    pub fn existing(dir: &Path) -> Self {
        DemoData {
            dir: dir.to_path_buf(),
            persons_per_agency: 0,
            rows: 0,
        }
    }

    /// Where one agency's dataset lives.
    pub fn path(&self, agency: &str, dataset: &str) -> PathBuf {
        self.dir.join(agency).join(format!("{dataset}.parquet"))
    }
}

/// SplitMix64: small, fast and deterministic. Not for secrets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = self.below(items.len() as u64) as usize;
        items.get(i).copied().unwrap_or_default()
    }
}

/// A person's national id number: region code, birth date and a sequence number.
fn id_number(region: u32, birth_day: i32, seq: usize) -> String {
    let date = chrono::NaiveDate::from_num_days_from_ce_opt(birth_day + 719_163)
        .map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_else(|| "19700101".into());
    format!("{region}{date}{:04}", seq % 10_000)
}

fn birth_day(agency: DemoAgency, i: usize) -> i32 {
    let mut r = Rng(u64::from(agency.region) * 1_000_003 + i as u64);
    // Born between 1960 and 2000.
    -3653 + r.below(14_610) as i32
}

/// The id number of person `i` of `agency`; movers carry their Beijing number.
pub fn person_id_number(agency: DemoAgency, i: usize) -> String {
    if agency.id != "bj_hf" && i.is_multiple_of(MOVER_EVERY) {
        let bj = AGENCIES[0];
        return id_number(bj.region, birth_day(bj, i), i);
    }
    id_number(agency.region, birth_day(agency, i), i)
}

/// The `person_id` of person `i` of the `a`th agency: unique across agencies.
pub fn person_id(a: usize, i: usize) -> i64 {
    (a as i64 + 1) * 100_000_000 + i as i64
}

fn schema(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

fn writer(path: &Path, schema: &SchemaRef) -> Result<ArrowWriter<File>> {
    let file = File::create(path)
        .map_err(|e| GatewayError::Internal(format!("creating {}: {e}", path.display())))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .build();
    ArrowWriter::try_new(file, Arc::clone(schema), Some(props))
        .map_err(|e| GatewayError::Internal(format!("writing {}: {e}", path.display())))
}

fn write_err(
    path: &Path,
) -> impl Fn(datafusion::parquet::errors::ParquetError) -> GatewayError + '_ {
    move |e| GatewayError::Internal(format!("writing {}: {e}", path.display()))
}

/// Generate the demo data under `dir`: `<dir>/<agency>/{persons,contributions,loans}.parquet`.
pub fn generate(dir: &Path, scale: f64) -> Result<DemoData> {
    if !(scale > 0.0 && scale <= 1000.0) {
        return Err(GatewayError::BadRequest(format!(
            "scale must be above 0 and at most 1000, not {scale}"
        )));
    }
    let persons = ((PERSONS_PER_AGENCY as f64) * scale)
        .round()
        .max(MOVER_EVERY as f64) as usize;
    let mut rows = 0;
    for (a, agency) in AGENCIES.iter().enumerate() {
        let adir = dir.join(agency.id);
        std::fs::create_dir_all(&adir)
            .map_err(|e| GatewayError::Internal(format!("creating {}: {e}", adir.display())))?;
        rows += write_persons(&adir.join("persons.parquet"), a, *agency, persons)?;
        rows += write_contributions(&adir.join("contributions.parquet"), a, *agency, persons)?;
        rows += write_loans(&adir.join("loans.parquet"), a, *agency, persons)?;
    }
    Ok(DemoData {
        dir: dir.to_path_buf(),
        persons_per_agency: persons,
        rows,
    })
}

fn write_persons(path: &Path, a: usize, agency: DemoAgency, n: usize) -> Result<usize> {
    let schema = schema(vec![
        Field::new("person_id", DataType::Int64, false),
        Field::new("id_number", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("gender", DataType::Utf8, false),
        Field::new("birth_date", DataType::Date32, false),
        Field::new("employer", DataType::Utf8, true),
        Field::new("registered_on", DataType::Date32, false),
    ]);
    let mut w = writer(path, &schema)?;
    let mut start = 0;
    while start < n {
        let end = (start + ROWS_PER_BATCH).min(n);
        let (mut pid, mut idn, mut name, mut gender, mut birth, mut emp, mut reg) = (
            Int64Builder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            Date32Builder::new(),
            StringBuilder::new(),
            Date32Builder::new(),
        );
        for i in start..end {
            let mut r = Rng((a as u64 + 1) << 40 | i as u64);
            pid.append_value(person_id(a, i));
            idn.append_value(person_id_number(agency, i));
            name.append_value(format!("{} {}", r.pick(&SURNAMES), r.pick(&GIVEN)));
            gender.append_value(if r.below(2) == 0 { "F" } else { "M" });
            birth.append_value(birth_day(agency, i));
            if r.below(50) == 0 {
                emp.append_null();
            } else {
                emp.append_value(r.pick(&EMPLOYERS));
            }
            reg.append_value(DAY_2020 - 3650 + r.below(3650) as i32);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(pid.finish()),
            Arc::new(idn.finish()),
            Arc::new(name.finish()),
            Arc::new(gender.finish()),
            Arc::new(birth.finish()),
            Arc::new(emp.finish()),
            Arc::new(reg.finish()),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), cols)
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
        w.write(&batch).map_err(write_err(path))?;
        start = end;
    }
    w.close().map_err(write_err(path))?;
    Ok(n)
}

/// Months since 2020-01 → the first day of that month, as days since the epoch.
fn month_start(m: u32) -> i32 {
    let (y, mo) = (2020 + (m / 12) as i32, m % 12 + 1);
    chrono::NaiveDate::from_ymd_opt(y, mo, 1)
        .map(|d| d.num_days_from_ce() - 719_163)
        .unwrap_or(DAY_2020)
}

fn write_contributions(path: &Path, a: usize, agency: DemoAgency, persons: usize) -> Result<usize> {
    let schema = schema(vec![
        Field::new("person_id", DataType::Int64, false),
        Field::new("month", DataType::Date32, false),
        Field::new("amount", DataType::Int64, false),
        Field::new("employer", DataType::Utf8, true),
    ]);
    let mut w = writer(path, &schema)?;
    let mut total = 0;
    let (mut pid, mut month, mut amount, mut emp) = (
        Int64Builder::new(),
        Date32Builder::new(),
        Int64Builder::new(),
        StringBuilder::new(),
    );
    let mut in_batch = 0;
    for i in 0..persons {
        let mut r = Rng((a as u64 + 11) << 40 | i as u64);
        let months = 6 + r.below(19) as u32;
        let first = r.below(36) as u32;
        let base = 800 + r.below(4000) as i64 + if agency.id == "bj_hf" { 500 } else { 0 };
        let employer = if r.below(50) == 0 {
            None
        } else {
            Some(r.pick(&EMPLOYERS))
        };
        for m in first..first + months {
            pid.append_value(person_id(a, i));
            month.append_value(month_start(m));
            amount.append_value(base + (m as i64 % 12) * 10);
            emp.append_option(employer);
            in_batch += 1;
            total += 1;
            if in_batch == ROWS_PER_BATCH {
                flush_contributions(
                    &mut w,
                    &schema,
                    path,
                    &mut pid,
                    &mut month,
                    &mut amount,
                    &mut emp,
                )?;
                in_batch = 0;
            }
        }
    }
    if in_batch > 0 {
        flush_contributions(
            &mut w,
            &schema,
            path,
            &mut pid,
            &mut month,
            &mut amount,
            &mut emp,
        )?;
    }
    w.close().map_err(write_err(path))?;
    Ok(total)
}

fn flush_contributions(
    w: &mut ArrowWriter<File>,
    schema: &SchemaRef,
    path: &Path,
    pid: &mut Int64Builder,
    month: &mut Date32Builder,
    amount: &mut Int64Builder,
    emp: &mut StringBuilder,
) -> Result<()> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(pid.finish()),
        Arc::new(month.finish()),
        Arc::new(amount.finish()),
        Arc::new(emp.finish()),
    ];
    let batch = RecordBatch::try_new(Arc::clone(schema), cols)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    w.write(&batch).map_err(write_err(path))
}

fn write_loans(path: &Path, a: usize, agency: DemoAgency, persons: usize) -> Result<usize> {
    let schema = schema(vec![
        Field::new("loan_id", DataType::Int64, false),
        Field::new("person_id", DataType::Int64, false),
        Field::new("amount", DataType::Int64, false),
        Field::new("term_months", DataType::Int32, false),
        Field::new("issued_on", DataType::Date32, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("rate", DataType::Float64, true),
    ]);
    let mut w = writer(path, &schema)?;
    let (mut id, mut pid, mut amount, mut term, mut issued, mut status, mut rate) = (
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int32Builder::new(),
        Date32Builder::new(),
        StringBuilder::new(),
        Float64Builder::new(),
    );
    let mut n = 0;
    for i in (0..persons).filter(|i| i % 7 == 3) {
        let mut r = Rng((a as u64 + 21) << 40 | i as u64);
        id.append_value(person_id(a, i) * 10 + 1);
        pid.append_value(person_id(a, i));
        let big = if agency.id == "sh_hf" { 200_000 } else { 0 };
        amount.append_value(100_000 + big + r.below(900_000) as i64);
        term.append_value([60, 120, 180, 240, 360][r.below(5) as usize % 5]);
        issued.append_value(DAY_2020 + r.below(1800) as i32);
        status.append_value(r.pick(&LOAN_STATUS));
        if r.below(10) == 0 {
            rate.append_null();
        } else {
            rate.append_value([2.6, 2.85, 3.1, 3.25][r.below(4) as usize % 4]);
        }
        n += 1;
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(pid.finish()),
        Arc::new(amount.finish()),
        Arc::new(term.finish()),
        Arc::new(issued.finish()),
        Arc::new(status.finish()),
        Arc::new(rate.finish()),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), cols)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    w.write(&batch).map_err(write_err(path))?;
    w.close().map_err(write_err(path))?;
    Ok(n)
}
