//! The demo data loaded into the real database servers (PostgreSQL on 127.0.0.1:5432,
//! MariaDB on 127.0.0.1:3306, both started by `scripts/setup.sh`) and into an SQLite
//! file, so the federated suite can run with each agency's datasets in a database.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int32Type, Int64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use mysql_async::prelude::Queryable;
use sluice_examples::provident_fund::cluster::DATASETS;
use sluice_examples::provident_fund::{AGENCIES, DemoData};

pub const POSTGRES_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";
pub const MARIADB_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// Rows per `INSERT` statement.
const ROWS_PER_INSERT: usize = 1000;

/// Where one agency keeps its datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Parquet,
    Postgres,
    Mariadb,
    Sqlite,
}

/// Each demo agency's datasets, loaded into the backend `layout` gives it (in the order
/// of [`AGENCIES`]), under table names no other test or run uses.
pub struct Databases {
    layout: [Backend; 3],
    prefix: String,
    sqlite: PathBuf,
}

impl Databases {
    pub async fn load(data: &DemoData, layout: [Backend; 3]) -> Databases {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let db = Databases {
            layout,
            prefix: format!(
                "sluice_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
            sqlite: data.dir.join("agencies.sqlite"),
        };
        for (agency, backend) in AGENCIES.iter().zip(layout) {
            for (dataset, _, _) in DATASETS {
                if backend == Backend::Parquet {
                    continue;
                }
                let batches = read_parquet(&data.path(agency.id, dataset));
                let statements = statements(backend, &db.table(agency.id, dataset), &batches);
                match backend {
                    Backend::Postgres => postgres(&statements).await,
                    Backend::Mariadb => run_mariadb(&statements).await,
                    Backend::Sqlite => run_sqlite(&db.sqlite, &statements),
                    Backend::Parquet => {}
                }
            }
        }
        db
    }

    /// The database table holding `agency`'s `dataset`.
    pub fn table(&self, agency: &str, dataset: &str) -> String {
        format!("{}_{agency}_{dataset}", self.prefix)
    }

    /// The inline TOML `connector` table of `agency`'s `dataset`.
    pub fn connector(&self, agency: &str, dataset: &str) -> String {
        let i = AGENCIES.iter().position(|a| a.id == agency).unwrap();
        let table = self.table(agency, dataset);
        match self.layout[i] {
            Backend::Parquet => {
                format!("{{ kind = \"parquet\", path = \"{agency}/{dataset}.parquet\" }}")
            }
            // Each statement the gateway sends is logged, for the pushdown tests to read.
            Backend::Postgres => format!(
                "{{ kind = \"postgres\", url = \"{POSTGRES_URL}?options=-c%20log_statement%3Dall\", table = \"{table}\" }}"
            ),
            Backend::Mariadb => {
                format!("{{ kind = \"mysql\", url = \"{MARIADB_URL}\", table = \"{table}\" }}")
            }
            Backend::Sqlite => format!(
                "{{ kind = \"sqlite\", path = \"{}\", table = \"{table}\" }}",
                self.sqlite.display()
            ),
        }
    }

    /// Drops the tables made in the database servers.
    pub async fn drop_tables(&self) {
        for (agency, backend) in AGENCIES.iter().zip(self.layout) {
            let drops: Vec<String> = DATASETS
                .iter()
                .map(|(d, _, _)| format!("DROP TABLE IF EXISTS {}", self.table(agency.id, d)))
                .collect();
            match backend {
                Backend::Postgres => postgres(&drops).await,
                Backend::Mariadb => run_mariadb(&drops).await,
                Backend::Parquet | Backend::Sqlite => {}
            }
        }
    }
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// `CREATE TABLE` and the `INSERT`s that fill `table` with `batches`, in `backend`'s SQL.
fn statements(backend: Backend, table: &str, batches: &[RecordBatch]) -> Vec<String> {
    let schema = batches[0].schema();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            let null = if f.is_nullable() { "" } else { " NOT NULL" };
            format!("{} {}{null}", f.name(), column_type(backend, f.data_type()))
        })
        .collect();
    let options = match backend {
        // The server's default character set may not be Unicode.
        Backend::Mariadb => " DEFAULT CHARSET=utf8mb4",
        _ => "",
    };
    let mut out = vec![format!(
        "CREATE TABLE {table} ({}){options}",
        columns.join(", ")
    )];
    let mut rows = Vec::new();
    for batch in batches {
        for r in 0..batch.num_rows() {
            let values: Vec<String> = batch
                .columns()
                .iter()
                .map(|c| literal(backend, c.as_ref(), r))
                .collect();
            rows.push(format!("({})", values.join(", ")));
        }
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        out.push(format!("INSERT INTO {table} VALUES {}", chunk.join(", ")));
    }
    // As an agency's database would have it: one person's rows are found by index, and
    // the planner has statistics.
    if schema.field_with_name("person_id").is_ok() {
        out.push(format!(
            "CREATE INDEX {table}_person ON {table} (person_id)"
        ));
    }
    out.push(match backend {
        Backend::Mariadb => format!("ANALYZE TABLE {table}"),
        _ => format!("ANALYZE {table}"),
    });
    out
}

fn column_type(backend: Backend, t: &DataType) -> &'static str {
    match (backend, t) {
        (Backend::Sqlite, DataType::Int64 | DataType::Int32) => "INTEGER",
        (Backend::Sqlite, DataType::Float64) => "REAL",
        (Backend::Sqlite, DataType::Utf8) => "TEXT",
        (Backend::Mariadb, DataType::Int32) => "INT",
        (Backend::Mariadb, DataType::Float64) => "DOUBLE",
        (Backend::Mariadb, DataType::Utf8) => "VARCHAR(255)",
        (_, DataType::Int64) => "BIGINT",
        (_, DataType::Int32) => "INTEGER",
        (_, DataType::Float64) => "DOUBLE PRECISION",
        (_, DataType::Utf8) => "TEXT",
        (_, DataType::Date32) => "DATE",
        (_, other) => panic!("the demo data has no {other} columns"),
    }
}

/// Row `r` of `column` as an SQL literal.
fn literal(backend: Backend, column: &dyn Array, r: usize) -> String {
    if column.is_null(r) {
        return "NULL".into();
    }
    match column.data_type() {
        DataType::Int64 => column.as_primitive::<Int64Type>().value(r).to_string(),
        DataType::Int32 => column.as_primitive::<Int32Type>().value(r).to_string(),
        // `{:?}` is the shortest text that parses back to the same double.
        DataType::Float64 => format!("{:?}", column.as_primitive::<Float64Type>().value(r)),
        DataType::Date32 => {
            let day = column.as_primitive::<Date32Type>().value(r);
            let date = chrono::NaiveDate::from_num_days_from_ce_opt(day + 719_163).unwrap();
            format!("'{}'", date.format("%Y-%m-%d"))
        }
        DataType::Utf8 => {
            let s = column.as_string::<i32>().value(r).replace('\'', "''");
            match backend {
                // MariaDB reads a backslash in a string literal as an escape.
                Backend::Mariadb => format!("'{}'", s.replace('\\', "\\\\")),
                _ => format!("'{s}'"),
            }
        }
        other => panic!("the demo data has no {other} columns"),
    }
}

/// A client of the PostgreSQL server, and the task driving its connection.
async fn postgres_client() -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=test",
        tokio_postgres::NoTls,
    )
    .await
    .expect("PostgreSQL on 127.0.0.1:5432 (run scripts/setup.sh)");
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, task)
}

/// Runs `statements` on the PostgreSQL server.
pub async fn postgres(statements: &[String]) {
    let (client, task) = postgres_client().await;
    for s in statements {
        client.batch_execute(s).await.unwrap();
    }
    drop(client);
    let _ = task.await;
}

async fn run_mariadb(statements: &[String]) {
    let pool = mysql_async::Pool::new(MARIADB_URL);
    let mut conn = pool
        .get_conn()
        .await
        .expect("MariaDB on 127.0.0.1:3306 (run scripts/setup.sh)");
    for s in statements {
        conn.query_drop(s).await.unwrap();
    }
    drop(conn);
    pool.disconnect().await.unwrap();
}

fn run_sqlite(path: &Path, statements: &[String]) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    for s in statements {
        tx.execute_batch(s).unwrap();
    }
    tx.commit().unwrap();
}

/// The statements PostgreSQL logged (its sessions run with `log_statement = all`) that
/// contain `needle`, oldest first, as the server received them.
pub fn postgres_logged(needle: &str) -> Vec<String> {
    // pg_lsclusters: Ver Cluster Port Status Owner Data-directory Log-file
    let clusters = std::process::Command::new("pg_lsclusters")
        .arg("--no-header")
        .output()
        .expect("pg_lsclusters (from PostgreSQL's Debian packaging)");
    let listing = String::from_utf8_lossy(&clusters.stdout);
    let log = listing
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&"5432"))
        .and_then(|f| f.get(6).map(|s| s.to_string()))
        .expect("a PostgreSQL cluster on port 5432");
    let text = std::fs::read_to_string(&log).unwrap();
    text.lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| {
            let (_, rest) = l.split_once("LOG:  ")?;
            if let Some(sql) = rest.strip_prefix("statement: ") {
                Some(sql.to_owned())
            } else if rest.starts_with("execute ") {
                rest.split_once(": ").map(|(_, sql)| sql.to_owned())
            } else {
                None
            }
        })
        .collect()
}

/// PostgreSQL's plan of `sql`, as `EXPLAIN` prints it.
pub async fn postgres_explain(sql: &str) -> String {
    let (client, task) = postgres_client().await;
    let plan: Vec<String> = client
        .query(&format!("EXPLAIN {sql}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    drop(client);
    let _ = task.await;
    plan.join("\n")
}

/// Runs `body` with MariaDB's general log written to `mysql.general_log`, then returns
/// the statements it logged that contain `needle`.
pub async fn mariadb_logged<F: std::future::Future<Output = ()>>(
    needle: &str,
    body: F,
) -> Vec<String> {
    let pool = mysql_async::Pool::new(MARIADB_URL);
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("SET GLOBAL log_output = 'TABLE', GLOBAL general_log = 1")
        .await
        .unwrap();
    body.await;
    conn.query_drop("SET GLOBAL general_log = 0").await.unwrap();
    let logged: Vec<String> = conn
        .exec(
            "SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log \
             WHERE command_type IN ('Query', 'Execute', 'Prepare') AND argument LIKE ? \
             AND argument NOT LIKE '%general_log%' ORDER BY event_time",
            (format!("%{needle}%"),),
        )
        .await
        .unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
    logged
}

/// MariaDB's plan of `sql`: for each table it reads, the access type and the index used.
pub async fn mariadb_explain(sql: &str) -> Vec<(String, Option<String>)> {
    let pool = mysql_async::Pool::new(MARIADB_URL);
    let mut conn = pool.get_conn().await.unwrap();
    let rows: Vec<mysql_async::Row> = conn.query(format!("EXPLAIN {sql}")).await.unwrap();
    let plan = rows
        .into_iter()
        .map(|r| {
            let access = r.get::<Option<String>, _>("type").flatten();
            let key = r.get::<Option<String>, _>("key").flatten();
            (access.unwrap_or_default(), key)
        })
        .collect();
    drop(conn);
    pool.disconnect().await.unwrap();
    plan
}

/// Ends every PostgreSQL session that is running a statement containing `needle`, as an
/// administrator or a crash would; returns how many it ended.
pub async fn postgres_terminate_running(needle: &str) -> usize {
    let (client, task) = postgres_client().await;
    let ended = client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE state = 'active' AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
            &[&needle],
        )
        .await
        .unwrap()
        .len();
    drop(client);
    let _ = task.await;
    ended
}
