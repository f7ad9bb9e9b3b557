//! PostgreSQL tables and views: results, types, and pushdown into the generated SQL.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use sluice_connectors::{ConnectorConfig, open};
use tokio_postgres::{Client, NoTls};

use super::common::{
    POSTGRES_URL, assert_counts_without_columns, assert_select_list, assert_table, run,
    unique_name, with_cleanup,
};

async fn client() -> Client {
    let (client, connection) =
        tokio_postgres::connect("host=127.0.0.1 port=5432 user=postgres dbname=test", NoTls)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (run scripts/setup.sh)");
    tokio::spawn(connection);
    client
}

fn config(table: &str) -> ConnectorConfig {
    ConnectorConfig::Postgres {
        url: POSTGRES_URL.to_owned(),
        table: table.to_owned(),
    }
}

/// Create `name(a, b, c)` with rows `(10*i, i, 'row<i>')` for i in 1..=20.
async fn create_numbers(client: &Client, name: &str) {
    client
        .batch_execute(&format!(
            "CREATE TABLE {name} (a integer, b integer, c text);
             INSERT INTO {name} SELECT 10 * i, i, 'row' || i FROM generate_series(1, 20) AS i;"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn postgres_table_types_and_nulls() {
    let client = client().await;
    let name = unique_name("pg_types");
    client
        .batch_execute(&format!(
            "CREATE TABLE {name} (
                id integer PRIMARY KEY, big bigint, ratio double precision, label text,
                born date, seen timestamp, active boolean);
             INSERT INTO {name} VALUES
                (1, 10000000000, 1.5, 'one', '2024-01-15', '2024-01-15 10:30:00', true),
                (2, NULL, NULL, NULL, NULL, NULL, NULL),
                (3, -5, -0.25, 'three', '1999-12-31', '2000-01-01 00:00:01', false);"
        ))
        .await
        .unwrap();

    with_cleanup(
        async {
            let provider = open(&config(&name), std::path::Path::new("."))
                .await
                .unwrap();
            let schema = provider.schema();
            let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
            assert_eq!(types[0], &DataType::Int32);
            assert_eq!(types[1], &DataType::Int64);
            assert_eq!(types[2], &DataType::Float64);
            assert_eq!(types[3], &DataType::Utf8);
            assert_eq!(types[4], &DataType::Date32);
            assert!(
                matches!(types[5], DataType::Timestamp(_, None)),
                "{:?}",
                types[5]
            );
            assert_eq!(types[6], &DataType::Boolean);

            let out = run(Arc::clone(&provider), "SELECT * FROM t ORDER BY id").await;
            assert_table(
                &out,
                "
+----+-------------+-------+-------+------------+---------------------+--------+
| id | big         | ratio | label | born       | seen                | active |
+----+-------------+-------+-------+------------+---------------------+--------+
| 1  | 10000000000 | 1.5   | one   | 2024-01-15 | 2024-01-15T10:30:00 | true   |
| 2  |             |       |       |            |                     |        |
| 3  | -5          | -0.25 | three | 1999-12-31 | 2000-01-01T00:00:01 | false  |
+----+-------------+-------+-------+------------+---------------------+--------+",
            );

            // Date, timestamp, text and NULL predicates are pushed into the SQL too.
            let out = run(
                Arc::clone(&provider),
                "SELECT id FROM t WHERE born > DATE '2000-01-01' \
                 AND seen < TIMESTAMP '2025-01-01 00:00:00' AND label <> 'x'",
            )
            .await;
            assert_table(
                &out,
                "
+----+
| id |
+----+
| 1  |
+----+",
            );
            // Dates and text equality run in PostgreSQL; a timestamp comparison stays in
            // DataFusion, since the server would read the literal in its session's zone.
            let sql = out.pushed_sql();
            let (_, pushed) = sql.split_once("WHERE").unwrap();
            assert!(pushed.contains("born") && pushed.contains("label"), "{sql}");
            assert!(!pushed.contains("seen"), "{sql}");
            assert!(out.plan.contains("FilterExec: seen"), "{}", out.plan);

            let out = run(provider, "SELECT id FROM t WHERE big IS NULL").await;
            assert_table(
                &out,
                "
+----+
| id |
+----+
| 2  |
+----+",
            );
            assert!(out.pushed_sql().contains("IS NULL"), "{}", out.plan);
        },
        async {
            client
                .batch_execute(&format!("DROP TABLE {name}"))
                .await
                .unwrap();
        },
    )
    .await;
}

#[tokio::test]
async fn postgres_pushes_filter_projection_and_limit_into_sql() {
    let client = client().await;
    let name = unique_name("pg_push");
    create_numbers(&client, &name).await;

    with_cleanup(
        async {
            // Schema-qualified.
            let provider = open(
                &config(&format!("public.{name}")),
                std::path::Path::new("."),
            )
            .await
            .unwrap();
            let out = run(Arc::clone(&provider), "SELECT a FROM t WHERE b > 5 LIMIT 3").await;

            let sql = out.pushed_sql();
            eprintln!("pushed SQL: {sql}");
            assert!(sql.contains("WHERE"), "{sql}");
            assert!(sql.contains("\"b\" > 5"), "{sql}");
            assert!(sql.ends_with("LIMIT 3"), "{sql}");
            assert_select_list(&sql, &["a"]);
            // The filter is Exact: DataFusion does not filter again.
            assert!(!out.plan.contains("FilterExec"), "{}", out.plan);

            // Three rows, each satisfying the predicate (a = 10 * b, so a > 50).
            assert_eq!(out.num_rows(), 3, "{}", out.table);
            let batch = &out.batches[0];
            let a = batch
                .column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int32Array>()
                .unwrap();
            assert!(a.iter().all(|v| v.unwrap() > 50), "{}", out.table);

            assert_counts_without_columns(Arc::clone(&provider)).await;

            let out = run(
                provider,
                "SELECT c FROM t WHERE b BETWEEN 3 AND 5 OR c = 'row20' ORDER BY b",
            )
            .await;
            assert_table(
                &out,
                "
+-------+
| c     |
+-------+
| row3  |
| row4  |
| row5  |
| row20 |
+-------+",
            );
            assert!(out.pushed_sql().contains("'row20'"), "{}", out.plan);
        },
        async {
            client
                .batch_execute(&format!("DROP TABLE {name}"))
                .await
                .unwrap();
        },
    )
    .await;
}

#[tokio::test]
async fn postgres_view_reads_and_pushes_down() {
    let client = client().await;
    let name = unique_name("pg_base");
    let view = format!("{name}_v");
    create_numbers(&client, &name).await;
    client
        .batch_execute(&format!(
            "CREATE VIEW {view} AS SELECT a, b, c FROM {name} WHERE b % 2 = 0"
        ))
        .await
        .unwrap();

    with_cleanup(
        async {
            let provider = open(&config(&view), std::path::Path::new("."))
                .await
                .unwrap();
            let out = run(
                Arc::clone(&provider),
                "SELECT c FROM t WHERE b > 10 ORDER BY b",
            )
            .await;
            assert_table(
                &out,
                "
+-------+
| c     |
+-------+
| row12 |
| row14 |
| row16 |
| row18 |
| row20 |
+-------+",
            );
            let sql = out.pushed_sql();
            assert!(sql.contains(&view), "{sql}");
            assert!(sql.contains("\"b\" > 10"), "{sql}");

            let out = run(provider, "SELECT a FROM t WHERE b > 5 LIMIT 3").await;
            assert_eq!(out.num_rows(), 3);
            let sql = out.pushed_sql();
            assert!(sql.contains("WHERE") && sql.ends_with("LIMIT 3"), "{sql}");
            assert_select_list(&sql, &["a"]);
        },
        async {
            client
                .batch_execute(&format!("DROP VIEW {view}; DROP TABLE {name}"))
                .await
                .unwrap();
        },
    )
    .await;
}
