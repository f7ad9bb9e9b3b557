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

#[tokio::test]
async fn postgres_computes_exact_aggregates_and_leaves_the_rest_to_datafusion() {
    let client = client().await;
    let name = unique_name("pg_agg");
    create_numbers(&client, &name).await;
    with_cleanup(
        async {
            let provider = open(&config(&name), std::path::Path::new("."))
                .await
                .unwrap();
            // Integer sums, counts, min/max and text keys: PostgreSQL computes them, with
            // the filter in its WHERE.
            let out = run(
                Arc::clone(&provider),
                "SELECT b % 2 = 0 AS even, count(*) AS n FROM t GROUP BY b % 2 = 0",
            )
            .await;
            assert!(
                out.plan.contains("AggregateExec"),
                "a computed key stays in DataFusion:\n{}",
                out.plan
            );
            let out = run(
                Arc::clone(&provider),
                "SELECT c, count(*) AS n, count(c) AS named, sum(a) AS total, min(b) AS low, \
                 max(b) AS high FROM t WHERE b > 17 GROUP BY c ORDER BY c",
            )
            .await;
            assert_table(
                &out,
                "
+-------+---+-------+-------+-----+------+
| c     | n | named | total | low | high |
+-------+---+-------+-------+-----+------+
| row18 | 1 | 1     | 180   | 18  | 18   |
| row19 | 1 | 1     | 190   | 19  | 19   |
| row20 | 1 | 1     | 200   | 20  | 20   |
+-------+---+-------+-------+-----+------+",
            );
            let sql = out.pushed_sql();
            assert!(sql.contains("GROUP BY") && sql.contains("WHERE"), "{sql}");
            assert!(!out.plan.contains("AggregateExec"), "{}", out.plan);

            // No GROUP BY: one row, even over no rows.
            let out = run(
                Arc::clone(&provider),
                "SELECT count(*) AS n, sum(a) AS total FROM t WHERE b > 100",
            )
            .await;
            assert_table(
                &out,
                "
+---+-------+
| n | total |
+---+-------+
| 0 |       |
+---+-------+",
            );
            assert!(out.pushed_sql().contains("count("), "{}", out.plan);
            let out = run(
                Arc::clone(&provider),
                "SELECT count(DISTINCT b) AS kinds, count(*) AS n FROM t WHERE b > 10",
            )
            .await;
            assert_table(
                &out,
                "
+-------+----+
| kinds | n  |
+-------+----+
| 10    | 10 |
+-------+----+",
            );
            assert!(out.pushed_sql().contains("DISTINCT"), "{}", out.plan);

            // A constant key over no rows has no group; the same count named twice is
            // computed once.
            for (sql, want) in [
                (
                    "SELECT 'k' AS k, count(*) AS n, count(2) AS m FROM t WHERE b > 100 GROUP BY k",
                    "++\n++",
                ),
                (
                    "SELECT 'k' AS k, count(*) AS n, count(2) AS m FROM t WHERE b > 17 GROUP BY k",
                    "
+---+---+---+
| k | n | m |
+---+---+---+
| k | 3 | 3 |
+---+---+---+",
                ),
            ] {
                let out = run(Arc::clone(&provider), sql).await;
                assert_table(&out, want);
                assert!(out.pushed_sql().contains("HAVING"), "{sql}:\n{}", out.plan);
            }

            // Other DISTINCTs, FILTER, text order and computed arguments are DataFusion's.
            for sql in [
                "SELECT sum(DISTINCT a) AS n FROM t",
                "SELECT count(*) FILTER (WHERE b > 3) AS n FROM t",
                "SELECT max(c) AS top FROM t",
                "SELECT sum(a * 2) AS twice FROM t",
            ] {
                let out = run(Arc::clone(&provider), sql).await;
                assert!(out.plan.contains("AggregateExec"), "{sql}:\n{}", out.plan);
                assert!(!out.pushed_sql().contains("GROUP BY"), "{sql}");
            }
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
async fn postgres_numeric_timestamptz_and_varchar_keep_their_meaning() {
    let client = client().await;
    let name = unique_name("pg_kinds");
    client
        .batch_execute(&format!(
            "CREATE TABLE {name} (id integer, price numeric(12, 2), at timestamptz,
                label varchar(12), code char(4));
             INSERT INTO {name} VALUES
                (1, 1234567890.25, '2024-03-01 10:00:00+00', 'alpha', 'ab'),
                (2, -0.50, '2024-03-01 23:30:00-02', 'beta', 'cd'),
                (3, NULL, NULL, NULL, NULL),
                (4, 0.10, '1999-12-31 23:59:59+00', 'alpha', 'ab');"
        ))
        .await
        .unwrap();
    with_cleanup(
        async {
            let provider = open(&config(&name), std::path::Path::new("."))
                .await
                .unwrap();
            let schema = provider.schema();
            let kind = |i: usize| schema.field(i).data_type().clone();
            assert!(
                matches!(kind(1), DataType::Decimal128(12, 2)),
                "numeric(12, 2) is a decimal: {:?}",
                kind(1)
            );
            assert!(
                matches!(kind(2), DataType::Timestamp(_, Some(_))),
                "timestamptz keeps its zone: {:?}",
                kind(2)
            );
            assert_eq!(kind(3), DataType::Utf8);

            // Exact decimal arithmetic and comparison, an instant compared across zones,
            // and varchar equality.
            let out = run(
                Arc::clone(&provider),
                "SELECT label, count(*) AS n, sum(price) AS total, max(at) AS last FROM t \
                 WHERE price > 0.05 AND at < TIMESTAMP '2024-03-02 00:00:00Z' \
                 GROUP BY label ORDER BY label",
            )
            .await;
            assert_table(
                &out,
                "
+-------+---+---------------+----------------------+
| label | n | total         | last                 |
+-------+---+---------------+----------------------+
| alpha | 2 | 1234567890.35 | 2024-03-01T10:00:00Z |
+-------+---+---------------+----------------------+",
            );
            // The 23:30 at -02:00 is 01:30 UTC on 2 March: after the bound, so beta is
            // out even though its local date is 1 March.
            let out = run(
                Arc::clone(&provider),
                "SELECT id FROM t WHERE at >= TIMESTAMP '2024-03-02 01:00:00Z' ORDER BY id",
            )
            .await;
            assert_table(
                &out,
                "
+----+
| id |
+----+
| 2  |
+----+",
            );
            let out = run(
                Arc::clone(&provider),
                "SELECT id FROM t WHERE label = 'alpha' AND price < 1 ORDER BY id",
            )
            .await;
            assert_table(
                &out,
                "
+----+
| id |
+----+
| 4  |
+----+",
            );
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
