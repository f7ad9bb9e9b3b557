//! `sluice bench postgres`: the federation over PostgreSQL. The contributions of
//! `sluice bench federated` go into one PostgreSQL table per agency, indexed on
//! `person_id`, and three queries run four ways: through three gateways that publish
//! those tables, on one local DataFusion context over the same rows in Parquet, as the
//! per-agency statements PostgreSQL itself runs on the three tables in parallel (its
//! `EXPLAIN ANALYZE` execution time), and through a postgres_fdw hub over the same tables.

use std::str::FromStr;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Int64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use futures::SinkExt;
use sluice_gateway::error::GatewayError;

use super::federated::{time_federated, time_local};
use super::transport::median;
use crate::provident_fund::{AGENCIES, Cluster, DemoData};

/// The server the tests and the benchmark use unless told otherwise.
pub const DEFAULT_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";

/// Rows per `COPY` message while loading.
const COPY_ROWS: usize = 50_000;

/// A person of bj_hf, for the point lookup.
const PERSON: i64 = 100_000_007;

#[derive(Debug, thiserror::Error)]
pub enum PostgresBenchError {
    #[error("PostgreSQL at {location}: {what}: {source}")]
    Database {
        location: String,
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("{0} is not a PostgreSQL URL: {1}")]
    Url(String, tokio_postgres::Error),
    #[error("reading {0}: {1}")]
    Parquet(String, String),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

pub type Result<T, E = PostgresBenchError> = std::result::Result<T, E>;

/// The table holding `agency`'s contributions.
pub fn table(agency: &str) -> String {
    format!("sluice_bench_{agency}_contributions")
}

/// The three queries: name, federated SQL over `agency.contributions`, and the statement
/// each agency's database runs for it (over `{table}`).
pub fn queries() -> Vec<(&'static str, String, &'static str)> {
    let union = AGENCIES
        .iter()
        .map(|a| {
            format!(
                "SELECT '{0}' AS city, person_id, month, amount, employer FROM {0}.contributions",
                a.id
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    vec![
        (
            "per-city, per-month aggregate",
            format!(
                "SELECT city, month, count(*) AS n, sum(amount) AS total FROM ({union}) t GROUP BY city, month"
            ),
            "SELECT month, count(*), CAST(sum(amount) AS BIGINT) FROM {table} GROUP BY month",
        ),
        (
            "point lookup",
            format!("SELECT city, month, amount FROM ({union}) t WHERE person_id = {PERSON}"),
            "SELECT month, amount FROM {table} WHERE person_id = 100000007",
        ),
        (
            "top 10 employers",
            format!(
                "SELECT employer, sum(amount) AS total FROM ({union}) t GROUP BY employer \
                 ORDER BY total DESC, employer LIMIT 10"
            ),
            "SELECT employer, CAST(sum(amount) AS BIGINT) FROM {table} GROUP BY employer",
        ),
    ]
}

/// Medians of one query in each way it was run.
#[derive(Debug, Clone)]
pub struct QueryTimes {
    pub name: String,
    pub rows: usize,
    pub gateways: Duration,
    pub local: Duration,
    /// The slowest of the three agencies' statements in PostgreSQL, run in parallel.
    pub database: Duration,
    pub fdw: Duration,
}

/// Where a server is, for messages: never its password.
fn location(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{}",
        config.get_dbname().unwrap_or("postgres")
    )
}

struct Server {
    url: String,
    config: tokio_postgres::Config,
    location: String,
}

impl Server {
    fn new(url: &str) -> Result<Self> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| PostgresBenchError::Url(url.to_owned(), e))?;
        Ok(Server {
            url: url.to_owned(),
            location: location(&config),
            config,
        })
    }

    fn failed(
        &self,
        what: impl Into<String>,
    ) -> impl FnOnce(tokio_postgres::Error) -> PostgresBenchError {
        let location = self.location.clone();
        let what = what.into();
        move |source| PostgresBenchError::Database {
            location,
            what,
            source,
        }
    }

    async fn connect(&self) -> Result<tokio_postgres::Client> {
        let (client, connection) = self
            .config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(self.failed("connecting"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "benchmark connection to PostgreSQL ended");
            }
        });
        Ok(client)
    }
}

/// Load every agency's contributions from `data` into PostgreSQL, unless a table already
/// holds the same number of rows.
async fn load(server: &Server, data: &DemoData) -> Result<()> {
    let client = server.connect().await?;
    for a in AGENCIES {
        let path = data.path(a.id, "contributions");
        let batches = read_parquet(&path)?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let t = table(a.id);
        let existing = client
            .query_opt(&format!("SELECT count(*) FROM {t}"), &[])
            .await
            .ok()
            .flatten()
            .map(|r| r.get::<_, i64>(0));
        if existing == Some(rows as i64) {
            tracing::info!(table = %t, rows, "reusing the loaded table");
            continue;
        }
        eprintln!("loading {rows} rows into {t} ...");
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (person_id BIGINT NOT NULL, \
                 month DATE NOT NULL, amount BIGINT NOT NULL, employer TEXT)"
            ))
            .await
            .map_err(server.failed(format!("creating {t}")))?;
        let sink = client
            .copy_in::<_, std::io::Cursor<Vec<u8>>>(&format!("COPY {t} FROM STDIN"))
            .await
            .map_err(server.failed(format!("copying into {t}")))?;
        let mut sink = Box::pin(sink);
        let mut text = Vec::new();
        let mut pending = 0;
        for b in &batches {
            write_copy_text(b, &mut text);
            pending += b.num_rows();
            if pending >= COPY_ROWS {
                sink.send(std::io::Cursor::new(std::mem::take(&mut text)))
                    .await
                    .map_err(server.failed(format!("copying into {t}")))?;
                pending = 0;
            }
        }
        sink.send(std::io::Cursor::new(text))
            .await
            .map_err(server.failed(format!("copying into {t}")))?;
        sink.as_mut()
            .finish()
            .await
            .map_err(server.failed(format!("copying into {t}")))?;
        client
            .batch_execute(&format!("CREATE INDEX ON {t} (person_id); ANALYZE {t}"))
            .await
            .map_err(server.failed(format!("indexing {t}")))?;
    }
    Ok(())
}

fn read_parquet(path: &std::path::Path) -> Result<Vec<RecordBatch>> {
    let failed = |e: String| PostgresBenchError::Parquet(path.display().to_string(), e);
    let file = std::fs::File::open(path).map_err(|e| failed(e.to_string()))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| failed(e.to_string()))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| failed(e.to_string()))
}

/// `batch` (person_id, month, amount, employer) in COPY's text format.
fn write_copy_text(batch: &RecordBatch, out: &mut Vec<u8>) {
    use std::io::Write;
    let person = batch.column(0).as_primitive::<Int64Type>();
    let month = batch.column(1).as_primitive::<Date32Type>();
    let amount = batch.column(2).as_primitive::<Int64Type>();
    let employer = batch.column(3).as_string::<i32>();
    for i in 0..batch.num_rows() {
        let day = month.value_as_date(i).unwrap_or_default();
        let _ = write!(out, "{}\t{day}\t{}\t", person.value(i), amount.value(i));
        if employer.is_null(i) {
            out.extend_from_slice(b"\\N");
        } else {
            // Employer names hold no tab, newline or backslash (the generator's).
            out.extend_from_slice(employer.value(i).as_bytes());
        }
        out.push(b'\n');
    }
}

/// The median of `iterations` runs of PostgreSQL's own execution time for `statement`
/// on the three agencies' tables at once: the slowest of the three each time.
async fn time_database(server: &Server, statement: &str, iterations: usize) -> Result<Duration> {
    let mut clients = Vec::new();
    for _ in AGENCIES {
        clients.push(server.connect().await?);
    }
    let mut times = Vec::new();
    for _ in 0..iterations.max(1) {
        let runs = AGENCIES.iter().zip(&clients).map(|(a, client)| async move {
            let sql = format!(
                "EXPLAIN (ANALYZE, TIMING OFF) {}",
                statement.replace("{table}", &table(a.id))
            );
            let lines = client
                .simple_query(&sql)
                .await
                .map_err(server.failed("EXPLAIN ANALYZE"))?;
            let ms = lines
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                    _ => None,
                })
                .find_map(|l| {
                    l.strip_prefix("Execution Time: ")
                        .and_then(|v| v.trim_end_matches(" ms").parse::<f64>().ok())
                })
                .unwrap_or(0.0);
            Ok::<_, PostgresBenchError>(Duration::from_secs_f64(ms / 1000.0))
        });
        let each = futures::future::try_join_all(runs).await?;
        times.push(each.into_iter().max().unwrap_or_default());
    }
    Ok(median(times))
}

/// A postgres_fdw hub over the three tables, as a PostgreSQL user would federate them:
/// one foreign table per agency, named `sluice_bench_fdw_<agency>`.
async fn fdw_hub(server: &Server) -> Result<tokio_postgres::Client> {
    let client = server.connect().await?;
    let host = match server.config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "localhost".into(),
    };
    let port = server.config.get_ports().first().copied().unwrap_or(5432);
    let db = server.config.get_dbname().unwrap_or("postgres").to_owned();
    let user = server.config.get_user().unwrap_or("postgres").to_owned();
    let mut setup = String::from("CREATE EXTENSION IF NOT EXISTS postgres_fdw;");
    for a in AGENCIES {
        let srv = format!("sluice_bench_{}", a.id);
        setup.push_str(&format!(
            "DROP SERVER IF EXISTS {srv} CASCADE; \
             CREATE SERVER {srv} FOREIGN DATA WRAPPER postgres_fdw \
               OPTIONS (host '{host}', port '{port}', dbname '{db}'); \
             CREATE USER MAPPING FOR CURRENT_USER SERVER {srv} OPTIONS (user '{user}'); \
             CREATE FOREIGN TABLE sluice_bench_fdw_{id} (person_id BIGINT, month DATE, \
               amount BIGINT, employer TEXT) SERVER {srv} OPTIONS (table_name '{t}');",
            id = a.id,
            t = table(a.id)
        ));
    }
    client
        .batch_execute(&setup)
        .await
        .map_err(server.failed("setting up the postgres_fdw hub"))?;
    Ok(client)
}

async fn time_fdw(
    server: &Server,
    client: &tokio_postgres::Client,
    sql: &str,
    iterations: usize,
) -> Result<Duration> {
    let mut sql = sql.to_owned();
    for a in AGENCIES {
        sql = sql.replace(
            &format!("{}.contributions", a.id),
            &format!("sluice_bench_fdw_{}", a.id),
        );
    }
    let mut times = Vec::new();
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        client
            .simple_query(&sql)
            .await
            .map_err(server.failed("querying through postgres_fdw"))?;
        times.push(t.elapsed());
    }
    Ok(median(times))
}

/// Run the benchmark over the contributions in `data`, loaded into the server at `url`.
/// The postgres_fdw hub runs each query `fdw_iterations` times: it ships rows, not groups.
pub async fn run(
    data: DemoData,
    url: &str,
    iterations: usize,
    fdw_iterations: usize,
) -> Result<Vec<QueryTimes>> {
    let server = Server::new(url)?;
    load(&server, &data).await?;
    let queries = queries();
    let federated: Vec<(&'static str, String)> = queries
        .iter()
        .map(|(n, sql, _)| (*n, sql.clone()))
        .collect();

    let ctx = super::federated::local_context(&data).await?;
    let local = time_local(&ctx, &federated, iterations).await?;
    drop(ctx);

    let connector = |agency: &str, dataset: &str| {
        if dataset == "contributions" {
            format!(
                "{{ kind = \"postgres\", url = \"{}\", table = \"{}\" }}",
                server.url,
                table(agency)
            )
        } else {
            format!("{{ kind = \"parquet\", path = \"{agency}/{dataset}.parquet\" }}")
        }
    };
    let cluster = Cluster::start_over(data, &connector).await?;
    let gateways = time_federated(&cluster, &federated, iterations).await;
    cluster.stop().await?;
    let gateways = gateways?;

    let hub = fdw_hub(&server).await?;
    let mut out = Vec::new();
    for (((name, sql, statement), (_, local, rows)), (_, gateway, _)) in
        queries.iter().zip(local).zip(gateways)
    {
        out.push(QueryTimes {
            name: (*name).to_owned(),
            rows,
            gateways: gateway,
            local,
            database: time_database(&server, statement, iterations).await?,
            fdw: time_fdw(&server, &hub, sql, fdw_iterations).await?,
        });
    }
    Ok(out)
}
