//! MariaDB (through the MySQL connector) tables and views: results, types, and pushdown
//! into the generated SQL.

use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use mysql_async::prelude::Queryable;
use sluice_connectors::{ConnectorConfig, open};

use super::common::{
    MYSQL_URL, assert_counts_without_columns, assert_select_list, assert_table, run, unique_name,
    with_cleanup,
};

async fn exec(sql: &str) {
    let pool = mysql_async::Pool::new(MYSQL_URL);
    let mut conn = pool
        .get_conn()
        .await
        .expect("MariaDB on 127.0.0.1:3306 (run scripts/setup.sh)");
    conn.query_drop(sql).await.unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}

fn config(table: &str) -> ConnectorConfig {
    ConnectorConfig::Mysql {
        url: MYSQL_URL.to_owned(),
        table: table.to_owned(),
    }
}

/// Create `name(a, b, c)` with rows `(10*i, i, 'row<i>')` for i in 1..=20.
async fn create_numbers(name: &str) {
    let values: Vec<String> = (1..=20)
        .map(|i| format!("({}, {i}, 'row{i}')", 10 * i))
        .collect();
    exec(&format!(
        "CREATE TABLE {name} (a INT, b INT, c VARCHAR(20)); INSERT INTO {name} VALUES {}",
        values.join(", ")
    ))
    .await;
}

#[tokio::test]
async fn mysql_table_types_and_nulls() {
    let name = unique_name("my_types");
    exec(&format!(
        "CREATE TABLE {name} (
            id INT PRIMARY KEY, big BIGINT, ratio DOUBLE, label VARCHAR(50),
            born DATE, seen DATETIME);
         INSERT INTO {name} VALUES
            (1, 10000000000, 1.5, 'one', '2024-01-15', '2024-01-15 10:30:00'),
            (2, NULL, NULL, NULL, NULL, NULL),
            (3, -5, -0.25, 'three', '1999-12-31', '2000-01-01 00:00:01');"
    ))
    .await;

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
            assert!(
                matches!(types[3], DataType::Utf8 | DataType::LargeUtf8),
                "{:?}",
                types[3]
            );
            assert_eq!(types[4], &DataType::Date32);
            assert!(
                matches!(types[5], DataType::Timestamp(_, None)),
                "{:?}",
                types[5]
            );

            let out = run(Arc::clone(&provider), "SELECT * FROM t ORDER BY id").await;
            assert_table(
                &out,
                "
+----+-------------+-------+-------+------------+---------------------+
| id | big         | ratio | label | born       | seen                |
+----+-------------+-------+-------+------------+---------------------+
| 1  | 10000000000 | 1.5   | one   | 2024-01-15 | 2024-01-15T10:30:00 |
| 2  |             |       |       |            |                     |
| 3  | -5          | -0.25 | three | 1999-12-31 | 2000-01-01T00:00:01 |
+----+-------------+-------+-------+------------+---------------------+",
            );

            let out = run(
                Arc::clone(&provider),
                "SELECT id FROM t WHERE born > DATE '2000-01-01' AND label <> 'x'",
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
            // The date comparison runs in MariaDB; `<>` on text stays in DataFusion, since
            // MariaDB's default collation would call 'X' and 'x ' equal to 'x'.
            let sql = out.pushed_sql();
            let (_, pushed) = sql.split_once("WHERE").unwrap();
            assert!(
                pushed.contains("born") && !pushed.contains("label"),
                "{sql}"
            );
            assert!(out.plan.contains("FilterExec: label"), "{}", out.plan);

            let out = run(provider, "SELECT id FROM t WHERE ratio IS NULL").await;
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
        exec(&format!("DROP TABLE {name}")),
    )
    .await;
}

/// Check a `SELECT a FROM t WHERE b > 5 LIMIT 3` result and the SQL that produced it.
fn check_limited_scan(out: &super::common::Output) {
    let sql = out.pushed_sql();
    eprintln!("pushed SQL: {sql}");
    assert!(sql.contains("WHERE"), "{sql}");
    assert!(sql.contains("`b` > 5"), "{sql}");
    assert!(sql.ends_with("LIMIT 3"), "{sql}");
    assert_select_list(&sql, &["a"]);
    assert!(!out.plan.contains("FilterExec"), "{}", out.plan);

    assert_eq!(out.num_rows(), 3, "{}", out.table);
    for batch in &out.batches {
        let a = cast(batch.column(0), &DataType::Int64).unwrap();
        let a = a
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap();
        assert_eq!(a.null_count(), 0);
        assert!(a.values().iter().all(|v| *v > 50), "{}", out.table);
    }
}

#[tokio::test]
async fn mysql_pushes_filter_projection_and_limit_into_sql() {
    let name = unique_name("my_push");
    create_numbers(&name).await;

    with_cleanup(
        async {
            // Qualified with the database name.
            let provider = open(&config(&format!("test.{name}")), std::path::Path::new("."))
                .await
                .unwrap();
            let out = run(Arc::clone(&provider), "SELECT a FROM t WHERE b > 5 LIMIT 3").await;
            check_limited_scan(&out);

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
        exec(&format!("DROP TABLE {name}")),
    )
    .await;
}

#[tokio::test]
async fn mysql_view_reads_and_pushes_down() {
    let name = unique_name("my_base");
    let view = format!("{name}_v");
    create_numbers(&name).await;
    exec(&format!(
        "CREATE VIEW {view} AS SELECT a, b, c FROM {name} WHERE b % 2 = 0"
    ))
    .await;

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
            assert!(out.pushed_sql().contains(&view), "{}", out.plan);

            let out = run(provider, "SELECT a FROM t WHERE b > 5 LIMIT 3").await;
            check_limited_scan(&out);
        },
        exec(&format!("DROP VIEW {view}; DROP TABLE {name}")),
    )
    .await;
}

#[tokio::test]
async fn mysql_computes_exact_aggregates_but_never_groups_text() {
    let name = unique_name("my_agg");
    exec(&format!(
        "CREATE TABLE {name} (k INT, u BIGINT UNSIGNED, price DECIMAL(10, 2), label VARCHAR(12), \
         at DATETIME)"
    ))
    .await;
    exec(&format!(
        "INSERT INTO {name} VALUES (1, 18446744073709551615, 1.25, 'Alpha', '2024-03-01 10:00:00'), \
         (1, 7, 2.50, 'alpha', '2024-03-02 11:00:00'), (2, 8, NULL, 'alpha ', NULL), \
         (2, NULL, 0.10, 'beta', '1999-12-31 23:59:59')"
    ))
    .await;
    with_cleanup(
        async {
            let provider = open(&config(&name), std::path::Path::new("."))
                .await
                .unwrap();
            let schema = provider.schema();
            assert_eq!(schema.field(1).data_type(), &DataType::UInt64);
            assert!(
                matches!(schema.field(2).data_type(), DataType::Decimal128(10, 2)),
                "{:?}",
                schema.field(2).data_type()
            );
            // Integer keys: MariaDB groups, counts and takes the unsigned maximum.
            let out = run(
                Arc::clone(&provider),
                "SELECT k, count(*) AS n, count(u) AS known, max(u) AS top FROM t GROUP BY k ORDER BY k",
            )
            .await;
            assert_table(
                &out,
                "
+---+---+-------+----------------------+
| k | n | known | top                  |
+---+---+-------+----------------------+
| 1 | 2 | 2     | 18446744073709551615 |
| 2 | 2 | 1     | 8                    |
+---+---+-------+----------------------+",
            );
            assert!(out.pushed_sql().contains("GROUP BY"), "{}", out.plan);

            // Its collation would fold 'Alpha', 'alpha' and 'alpha ' into one group, so
            // text keys are grouped by DataFusion, byte by byte.
            let out = run(
                Arc::clone(&provider),
                "SELECT label, count(*) AS n, sum(price) AS total FROM t GROUP BY label ORDER BY label",
            )
            .await;
            assert_table(
                &out,
                "
+--------+---+-------+
| label  | n | total |
+--------+---+-------+
| Alpha  | 1 | 1.25  |
| alpha  | 1 | 2.50  |
| alpha  | 1 |       |
| beta   | 1 | 0.10  |
+--------+---+-------+",
            );
            assert!(!out.pushed_sql().contains("GROUP BY"), "{}", out.plan);
        },
        exec(&format!("DROP TABLE {name}")),
    )
    .await;
}
