//! Shared set-up: a demo cluster at a small scale, a local reference context over the
//! same files, and result comparison that ignores nothing but float noise.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use sluice_examples::identities::{self, Identities};
use sluice_examples::provident_fund::{self as demo, AGENCIES, Cluster};
use sluice_gateway::Gateway;
use sluice_gateway::identity::agency::Addresses;
use sluice_gateway::identity::agency::AgencyKeys;
use sluice_gateway::identity::tls::TlsSettings;
use sluice_gateway::peer::Caller;
use sluice_gateway::{AgencyId, AnalystClient, Purpose, QueryId};
use sluice_proto::GatewayClient;
use tonic::transport::Channel;

use super::databases::{Backend, Databases};

pub const SCALE: f64 = 0.05;

/// The `sluice` binary cargo built beside this test binary.
pub fn sluice_exe() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join("sluice");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// Runs the `sluice` CLI to completion.
pub fn run_sluice<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(sluice_exe()).args(args).output().unwrap()
}

/// Runs the `sluice` CLI and fails the test, with its stderr, unless it succeeds.
pub fn run_sluice_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    let out = run_sluice(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub struct Harness {
    pub cluster: Cluster,
    pub client: AnalystClient,
    pub local: SessionContext,
    /// The database tables the agencies read, when not their Parquet files.
    databases: Option<Databases>,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::launch(None, false).await
    }

    /// As [`Self::start`], with each agency's datasets loaded into the backend `layout`
    /// names for it (in the order of [`AGENCIES`]) and read from there. The reference
    /// context still reads the Parquet files the rows came from.
    pub async fn start_on(layout: [Backend; 3]) -> Harness {
        Self::launch(Some(layout), false).await
    }

    /// As [`Self::start`] or [`Self::start_on`], with the demo's disclosure policy at
    /// every agency.
    pub async fn start_with_policy(layout: Option<[Backend; 3]>) -> Harness {
        Self::launch(layout, true).await
    }

    async fn launch(layout: Option<[Backend; 3]>, policy: bool) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let data = demo::generate(dir.path(), SCALE).unwrap();
        let local = local_context(&data).await;
        let (cluster, databases) = match layout {
            None if policy => (Cluster::start_with_policy(data).await, None),
            None => (Cluster::start(data).await, None),
            Some(layout) => {
                let databases = Databases::load(&data, layout).await;
                let connector = |agency: &str, dataset: &str| databases.connector(agency, dataset);
                let cluster = if policy {
                    Cluster::start_over_with_policy(data, &connector).await
                } else {
                    Cluster::start_over(data, &connector).await
                };
                (cluster, Some(databases))
            }
        };
        let cluster = cluster.unwrap();
        let client = cluster.analyst("bj_hf").await.unwrap();
        Harness {
            cluster,
            client,
            local,
            databases,
            _dir: dir,
        }
    }

    /// The database table `agency`'s `dataset` was loaded into by [`Self::start_on`].
    pub fn database_table(&self, agency: &str, dataset: &str) -> String {
        self.databases
            .as_ref()
            .expect("a harness started on databases")
            .table(agency, dataset)
    }

    /// Stops the gateways and drops the database tables made for them.
    pub async fn stop(self) {
        let Harness {
            cluster, databases, ..
        } = self;
        cluster.stop().await.unwrap();
        if let Some(d) = databases {
            d.drop_tables().await;
        }
    }

    /// bj_hf's analyst, logged in at bj_hf, for calling its home planner in process.
    pub fn caller(&self) -> Caller {
        Caller::new(self.cluster.session("bj_hf").unwrap(), purpose())
    }

    pub async fn federated(
        &self,
        sql: &str,
    ) -> Result<Vec<RecordBatch>, sluice_gateway::GatewayError> {
        self.client.query_all(&purpose(), sql).await
    }

    /// As [`Self::federated`], under `query_id`.
    pub async fn federated_with_id(
        &self,
        query_id: &QueryId,
        sql: &str,
    ) -> Result<Vec<RecordBatch>, sluice_gateway::GatewayError> {
        let mut stream = self.client.query_with_id(&purpose(), query_id, sql).await?;
        let mut out = Vec::new();
        while let Some(b) = futures::StreamExt::next(&mut stream).await {
            out.push(b?);
        }
        Ok(out)
    }

    pub async fn reference(&self, sql: &str) -> Vec<RecordBatch> {
        self.local.sql(sql).await.unwrap().collect().await.unwrap()
    }

    /// Rows received by bj_hf's home from each owner so far.
    pub fn wire_rows(&self) -> u64 {
        self.cluster
            .gateway("bj_hf")
            .unwrap()
            .gateway
            .home
            .stats()
            .total_rows()
    }
}

/// `agency`'s keys, as its gateway loads them.
pub fn keys(cluster: &Cluster, agency: &str) -> AgencyKeys {
    let id = cluster.identities.get(agency).unwrap();
    AgencyKeys::load(&id.keys_dir, &id.agency).unwrap()
}

/// A gRPC client of `to`'s gateway that presents `from`'s certificate, as `from`'s
/// gateway does when it sends a sub-query.
pub async fn peer_client(cluster: &Cluster, from: &str, to: &str) -> GatewayClient<Channel> {
    let tls = TlsSettings::new(&cluster.identities.ca_pem().unwrap(), &keys(cluster, from))
        .client_for(&AgencyId::parse(to).unwrap());
    let channel = sluice_gateway::peer::remote::connect(
        &cluster.address(to).unwrap(),
        tls,
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    GatewayClient::new(channel)
}

/// Fresh identities for a lone `agency` under `dir`: the `[identity]` section of its
/// config, with paths relative to `dir`, and the identities.
pub fn lone_identity(dir: &Path, agency: &str) -> (String, Identities) {
    let ids = identities::create(dir, &[(agency, Addresses::default())]).unwrap();
    (ids.config_section(agency).unwrap(), ids)
}

/// `agency`'s analyst, logged in at `gw`.
pub fn caller_at(gw: &Gateway, ids: &Identities, agency: &str) -> Caller {
    let id = ids.get(agency).unwrap();
    let (_, session) = gw
        .sessions
        .login(&id.analyst.to_string(), &id.password)
        .unwrap();
    Caller::new(session, purpose())
}

/// The purpose the integration tests query for.
pub fn purpose() -> Purpose {
    Purpose::parse("integration_test").unwrap()
}

/// One DataFusion context holding all three agencies' tables under the same names.
pub async fn local_context(data: &demo::DemoData) -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(false));
    let catalog = ctx.catalog("datafusion").unwrap();
    for a in AGENCIES {
        catalog
            .register_schema(a.id, Arc::new(MemorySchemaProvider::new()))
            .unwrap();
        for d in ["persons", "contributions", "loans"] {
            ctx.register_parquet(
                TableReference::partial(a.id, d),
                data.path(a.id, d).to_str().unwrap(),
                ParquetReadOptions::default(),
            )
            .await
            .unwrap();
        }
    }
    ctx
}

/// Rows as strings, floats rounded so summation order does not matter.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<Box<dyn Fn(usize) -> String>> = b
            .columns()
            .iter()
            .map(|c| -> Box<dyn Fn(usize) -> String> {
                match c.data_type() {
                    DataType::Float64 | DataType::Float32 => {
                        let f = arrow::compute::cast(c, &DataType::Float64).unwrap();
                        let f = f
                            .as_any()
                            .downcast_ref::<arrow::array::Float64Array>()
                            .unwrap()
                            .clone();
                        Box::new(move |i| {
                            if f.is_null(i) {
                                "NULL".into()
                            } else {
                                format!("{:.6e}", f.value(i))
                            }
                        })
                    }
                    _ => {
                        let c = Arc::clone(c);
                        let opts = opts.clone();
                        Box::new(move |i| {
                            ArrayFormatter::try_new(c.as_ref(), &opts)
                                .unwrap()
                                .value(i)
                                .to_string()
                        })
                    }
                }
            })
            .collect();
        for i in 0..b.num_rows() {
            out.push(cols.iter().map(|f| f(i)).collect());
        }
    }
    out
}

/// Column names and types of a result.
pub fn shape(batches: &[RecordBatch]) -> Vec<(String, DataType)> {
    batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The kind of values a type holds, for comparing results whose sources chose different
/// widths or encodings for them.
pub fn kind(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        t if t.is_integer() => "integer".into(),
        t if t.is_floating() => "float".into(),
        other => other.to_string(),
    }
}

/// The answers of DuckDB, a second engine, to `queries` over the demo's Parquet files in
/// `data`, with cells formatted as [`rows`] formats them; an error as its message.
/// Runs `tests/duckdb_reference.py` (DuckDB from PyPI, installed by `scripts/setup.sh`).
pub fn duckdb(data: &demo::DemoData, queries: &[&str]) -> Vec<Result<Vec<Vec<String>>, String>> {
    let mut tables = serde_json::Map::new();
    for a in AGENCIES {
        for d in ["persons", "contributions", "loans"] {
            tables.insert(
                format!("{}.{d}", a.id),
                data.path(a.id, d).display().to_string().into(),
            );
        }
    }
    let request = serde_json::json!({ "tables": tables, "queries": queries });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/duckdb_reference.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (run scripts/setup.sh)");
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        request.to_string().as_bytes(),
    )
    .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    answers
        .into_iter()
        .map(|a| match a.get("rows") {
            Some(rows) => Ok(serde_json::from_value(rows.clone()).unwrap()),
            None => Err(a["error"].as_str().unwrap_or("no answer").to_owned()),
        })
        .collect()
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// The demo's datasets, as every agency publishes them: (name, columns as (name, kind)).
pub const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "persons",
        &[
            ("person_id", Kind::Int),
            ("id_number", Kind::Text),
            ("name", Kind::Text),
            ("gender", Kind::Text),
            ("birth_date", Kind::Date),
            ("employer", Kind::Text),
            ("registered_on", Kind::Date),
        ],
    ),
    (
        "contributions",
        &[
            ("person_id", Kind::Int),
            ("month", Kind::Date),
            ("amount", Kind::Int),
            ("employer", Kind::Text),
        ],
    ),
    (
        "loans",
        &[
            ("loan_id", Kind::Int),
            ("person_id", Kind::Int),
            ("amount", Kind::Int),
            ("term_months", Kind::Int),
            ("issued_on", Kind::Date),
            ("status", Kind::Text),
            ("rate", Kind::Float),
        ],
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Text,
    Date,
}
