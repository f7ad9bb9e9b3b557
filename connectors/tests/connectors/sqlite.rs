//! SQLite tables and views: results, types, pushdown, and that the file is left untouched.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use sluice_connectors::{ConnectorConfig, open};

use super::common::{assert_counts_without_columns, assert_select_list, assert_table, run};

fn create_db(dir: &Path) -> PathBuf {
    let path = dir.join("data.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut sql = String::from(
        "CREATE TABLE people (
            id INTEGER PRIMARY KEY, big BIGINT, ratio REAL, label TEXT,
            born DATE, seen TIMESTAMP, amount DECIMAL(10,2));
         INSERT INTO people VALUES
            (1, 10000000000, 1.5, 'one', '2024-01-15', '2024-01-15 10:30:00', 12),
            (2, NULL, NULL, NULL, NULL, NULL, NULL),
            (3, -5, -0.25, 'three', '1999-12-31', '2000-01-01 00:00:01', 0.5);
         CREATE TABLE numbers (a INTEGER, b INTEGER, c TEXT);
         CREATE VIEW even_numbers AS SELECT a, b, c, b * 2 AS twice FROM numbers WHERE b % 2 = 0;",
    );
    for i in 1..=20 {
        sql.push_str(&format!(
            "INSERT INTO numbers VALUES ({}, {i}, 'row{i}');",
            10 * i
        ));
    }
    conn.execute_batch(&sql).unwrap();
    path
}

fn config(table: &str) -> ConnectorConfig {
    ConnectorConfig::Sqlite {
        path: PathBuf::from("data.db"),
        table: table.to_owned(),
    }
}

#[tokio::test]
async fn sqlite_table_types_and_nulls() {
    let dir = tempfile::tempdir().unwrap();
    create_db(dir.path());
    let provider = open(&config("people"), dir.path()).await.unwrap();
    let schema = provider.schema();
    let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
    assert_eq!(
        types,
        [
            &DataType::Int64,
            &DataType::Int64,
            &DataType::Float64,
            &DataType::Utf8,
            // SQLite stores dates and timestamps as text; they are read as declared.
            &DataType::Date32,
            &DataType::Timestamp(TimeUnit::Microsecond, None),
            &DataType::Float64,
        ]
    );

    let out = run(Arc::clone(&provider), "SELECT * FROM t ORDER BY id").await;
    assert_table(
        &out,
        "
+----+-------------+-------+-------+------------+---------------------+--------+
| id | big         | ratio | label | born       | seen                | amount |
+----+-------------+-------+-------+------------+---------------------+--------+
| 1  | 10000000000 | 1.5   | one   | 2024-01-15 | 2024-01-15T10:30:00 | 12.0   |
| 2  |             |       |       |            |                     |        |
| 3  | -5          | -0.25 | three | 1999-12-31 | 2000-01-01T00:00:01 | 0.5    |
+----+-------------+-------+-------+------------+---------------------+--------+",
    );

    // A NULL first row does not confuse the types of later rows.
    let out = run(
        Arc::clone(&provider),
        "SELECT id, big FROM t WHERE id >= 2 ORDER BY id",
    )
    .await;
    assert_table(
        &out,
        "
+----+-----+
| id | big |
+----+-----+
| 2  |     |
| 3  | -5  |
+----+-----+",
    );

    // The date filter is compared as dates by DataFusion; SQLite, which would compare
    // text, gets only the filter on the text column.
    let out = run(
        Arc::clone(&provider),
        "SELECT id FROM t WHERE born > DATE '2000-01-01' AND label IS NOT NULL",
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
    let sql = out.pushed_sql();
    assert!(sql.contains("WHERE") && sql.contains("label"), "{sql}");
    assert!(
        !sql.contains("born >") && !sql.contains("`born` >"),
        "{sql}"
    );
    assert!(out.plan.contains("FilterExec"), "{}", out.plan);

    // Date arithmetic works on the declared type.
    let out = run(
        provider,
        "SELECT id, born - INTERVAL '1 month' AS earlier, seen > TIMESTAMP '2024-01-15 10:00:00' AS later FROM t WHERE id <> 2 ORDER BY id",
    )
    .await;
    assert_table(
        &out,
        "
+----+------------+-------+
| id | earlier    | later |
+----+------------+-------+
| 1  | 2023-12-15 | true  |
| 3  | 1999-11-30 | false |
+----+------------+-------+",
    );
}

/// Text in a `DATE` column that is not a date fails the query, naming the column and
/// never the value.
#[tokio::test]
async fn sqlite_text_that_is_not_a_date_names_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE t (id INTEGER, born DATE);
             INSERT INTO t VALUES (1, '2024-01-15'), (2, 'secret-not-a-date');",
        )
        .unwrap();
    let provider = open(&config("t"), dir.path()).await.unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_table("t", provider).unwrap();
    let err = ctx
        .sql("SELECT born FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("column `born`") && err.contains("not a DATE"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
}

fn check_limited_scan(out: &super::common::Output) {
    let sql = out.pushed_sql();
    eprintln!("pushed SQL: {sql}");
    // e.g. SELECT `numbers`.`a` FROM `numbers` WHERE (`numbers`.`b` > 5) LIMIT 3
    assert!(sql.contains("WHERE"), "{sql}");
    assert!(sql.contains("`b` > 5"), "{sql}");
    assert!(sql.ends_with("LIMIT 3"), "{sql}");
    assert_select_list(&sql, &["a"]);
    assert!(!out.plan.contains("FilterExec"), "{}", out.plan);

    assert_eq!(out.num_rows(), 3, "{}", out.table);
    for batch in &out.batches {
        let a = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert!(a.values().iter().all(|v| *v > 50), "{}", out.table);
    }
}

#[tokio::test]
async fn sqlite_pushes_filter_projection_and_limit_into_sql() {
    let dir = tempfile::tempdir().unwrap();
    let path = create_db(dir.path());
    let before = std::fs::read(&path).unwrap();

    let provider = open(&config("numbers"), dir.path()).await.unwrap();
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

    // Read-only: the database file is unchanged and no journal was created.
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["data.db"]);
}

#[tokio::test]
async fn sqlite_view_reads_and_pushes_down() {
    let dir = tempfile::tempdir().unwrap();
    create_db(dir.path());
    let provider = open(&config("even_numbers"), dir.path()).await.unwrap();
    // `twice` is an expression without a declared type: typed from its values.
    assert_eq!(
        provider
            .schema()
            .field_with_name("twice")
            .unwrap()
            .data_type(),
        &DataType::Int64
    );

    let out = run(
        Arc::clone(&provider),
        "SELECT c, twice FROM t WHERE b > 14 ORDER BY b",
    )
    .await;
    assert_table(
        &out,
        "
+-------+-------+
| c     | twice |
+-------+-------+
| row16 | 32    |
| row18 | 36    |
| row20 | 40    |
+-------+-------+",
    );
    assert!(out.pushed_sql().contains("even_numbers"), "{}", out.plan);

    let out = run(provider, "SELECT a FROM t WHERE b > 5 LIMIT 3").await;
    check_limited_scan(&out);
}
