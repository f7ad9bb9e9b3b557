//! CSV, Parquet and NDJSON files: reads, filters, projections and limits.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Date32Array, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use sluice_connectors::{ConnectorConfig, open};

use super::common::{assert_table, run};

const CSV: &str = "\
id,name,score,day
1,alice,3.5,2024-01-01
2,bob,7.25,2024-02-01
3,carol,,2024-03-01
4,dave,9.0,2024-04-01
5,erin,6.5,
";

fn csv_config(path: &str) -> ConnectorConfig {
    ConnectorConfig::Csv {
        path: PathBuf::from(path),
        has_header: true,
        delimiter: ',',
    }
}

#[tokio::test]
async fn csv_file_reads_all_rows_with_inferred_types() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("people.csv"), CSV).unwrap();

    // A relative path is resolved against the base directory.
    let provider = open(&csv_config("people.csv"), dir.path()).await.unwrap();
    let schema = provider.schema();
    assert_eq!(
        schema.field_with_name("id").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("name").unwrap().data_type(),
        &DataType::Utf8
    );
    assert_eq!(
        schema.field_with_name("score").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(
        schema.field_with_name("day").unwrap().data_type(),
        &DataType::Date32
    );

    let out = run(provider, "SELECT * FROM t ORDER BY id").await;
    assert_table(
        &out,
        "
+----+-------+-------+------------+
| id | name  | score | day        |
+----+-------+-------+------------+
| 1  | alice | 3.5   | 2024-01-01 |
| 2  | bob   | 7.25  | 2024-02-01 |
| 3  | carol |       | 2024-03-01 |
| 4  | dave  | 9.0   | 2024-04-01 |
| 5  | erin  | 6.5   |            |
+----+-------+-------+------------+",
    );
}

#[tokio::test]
async fn csv_file_filter_projection_limit() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("people.csv"), CSV).unwrap();
    let provider = open(&csv_config("people.csv"), dir.path()).await.unwrap();

    let out = run(
        Arc::clone(&provider),
        "SELECT name FROM t WHERE score > 5 ORDER BY name",
    )
    .await;
    assert_table(
        &out,
        "
+------+
| name |
+------+
| bob  |
| dave |
| erin |
+------+",
    );
    // Only the two columns the query needs are decoded.
    assert!(
        out.plan.contains("projection=[name, score]"),
        "{}",
        out.plan
    );

    // Without a filter, the limit reaches the scan.
    let out = run(Arc::clone(&provider), "SELECT id, name FROM t LIMIT 2").await;
    assert_eq!(out.num_rows(), 2);
    assert!(out.plan.contains("limit=2"), "{}", out.plan);
    assert!(out.plan.contains("projection=[id, name]"), "{}", out.plan);

    // With a filter, the limit is applied after it: had it been applied first, the
    // first two rows (alice 3.5, bob 7.25) would leave only one match.
    let out = run(provider, "SELECT name FROM t WHERE score > 5 LIMIT 2").await;
    assert_eq!(out.num_rows(), 2, "{}", out.table);
    for name in ["alice", "carol"] {
        assert!(!out.table.contains(name), "{}", out.table);
    }
}

#[tokio::test]
async fn csv_custom_delimiter_without_header() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("rows.txt"), "1;x\n2;y\n").unwrap();
    let config = ConnectorConfig::Csv {
        path: PathBuf::from("rows.txt"),
        has_header: false,
        delimiter: ';',
    };
    let provider = open(&config, dir.path()).await.unwrap();
    let out = run(provider, "SELECT column_2 FROM t WHERE column_1 = 2").await;
    assert_table(
        &out,
        "
+----------+
| column_2 |
+----------+
| y        |
+----------+",
    );
}

#[tokio::test]
async fn csv_directory_reads_every_csv_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("parts");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("a.csv"), "id,city\n1,Pune\n2,Delhi\n").unwrap();
    fs::write(data.join("b.csv"), "id,city\n3,Chennai\n4,Kochi\n").unwrap();
    // Not a CSV file: ignored.
    fs::write(data.join("README.md"), "not data\n").unwrap();

    // An absolute path ignores the base directory.
    let config = csv_config(data.to_str().unwrap());
    let provider = open(&config, Path::new("/nonexistent")).await.unwrap();

    let out = run(Arc::clone(&provider), "SELECT * FROM t ORDER BY id").await;
    assert_table(
        &out,
        "
+----+---------+
| id | city    |
+----+---------+
| 1  | Pune    |
| 2  | Delhi   |
| 3  | Chennai |
| 4  | Kochi   |
+----+---------+",
    );

    let out = run(
        Arc::clone(&provider),
        "SELECT city FROM t WHERE id >= 2 AND id < 4 ORDER BY city",
    )
    .await;
    assert_table(
        &out,
        "
+---------+
| city    |
+---------+
| Chennai |
| Delhi   |
+---------+",
    );

    let out = run(provider, "SELECT city FROM t LIMIT 3").await;
    assert_eq!(out.num_rows(), 3);
}

fn write_parquet(path: &Path, batches: &[RecordBatch]) {
    let file = fs::File::create(path).unwrap();
    // Small row groups, so that statistics can prune some of them.
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(2))
        .build();
    let mut writer = ArrowWriter::try_new(file, batches[0].schema(), Some(props)).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
}

fn parquet_batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("day", DataType::Date32, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6])),
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("b"),
                None,
                Some("d"),
                Some("e"),
                Some("f"),
            ])),
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                Some(2.5),
                Some(3.5),
                None,
                Some(5.5),
                Some(6.5),
            ])),
            // Days since 1970-01-01: 19723 is 2024-01-01.
            Arc::new(Date32Array::from(vec![
                Some(19723),
                Some(19724),
                Some(19725),
                Some(19726),
                None,
                Some(19728),
            ])),
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn parquet_file_filter_projection_limit() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("sales.parquet"), &[parquet_batch()]);
    let config = ConnectorConfig::Parquet {
        path: PathBuf::from("sales.parquet"),
    };
    let provider = open(&config, dir.path()).await.unwrap();

    let out = run(Arc::clone(&provider), "SELECT * FROM t ORDER BY id").await;
    assert_table(
        &out,
        "
+----+------+--------+------------+
| id | name | amount | day        |
+----+------+--------+------------+
| 1  | a    | 1.5    | 2024-01-01 |
| 2  | b    | 2.5    | 2024-01-02 |
| 3  |      | 3.5    | 2024-01-03 |
| 4  | d    |        | 2024-01-04 |
| 5  | e    | 5.5    |            |
| 6  | f    | 6.5    | 2024-01-06 |
+----+------+--------+------------+",
    );

    let out = run(
        Arc::clone(&provider),
        "SELECT name FROM t WHERE id > 4 ORDER BY name",
    )
    .await;
    assert_table(
        &out,
        "
+------+
| name |
+------+
| e    |
| f    |
+------+",
    );
    // The predicate reaches the Parquet scan (for row-group pruning) and only the needed
    // columns are read.
    assert!(out.plan.contains("predicate=id@0 > 4"), "{}", out.plan);
    assert!(out.plan.contains("projection=[id, name]"), "{}", out.plan);

    let out = run(provider, "SELECT id FROM t LIMIT 4").await;
    assert_eq!(out.num_rows(), 4);
    assert!(out.plan.contains("limit=4"), "{}", out.plan);
}

#[tokio::test]
async fn parquet_directory_reads_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let batch = parquet_batch();
    write_parquet(&dir.path().join("part-0.parquet"), &[batch.slice(0, 3)]);
    write_parquet(&dir.path().join("part-1.parquet"), &[batch.slice(3, 3)]);
    let config = ConnectorConfig::Parquet {
        path: PathBuf::from("."),
    };
    let provider = open(&config, dir.path()).await.unwrap();
    let out = run(
        provider,
        "SELECT count(*) AS n, sum(amount) AS total FROM t WHERE day IS NOT NULL",
    )
    .await;
    assert_table(
        &out,
        "
+---+-------+
| n | total |
+---+-------+
| 5 | 14.0  |
+---+-------+",
    );
}

const NDJSON: &str = r#"{"id": 1, "name": "alice", "score": 3.5, "tags": null}
{"id": 2, "name": "bob", "score": 7.25}
{"id": 3, "name": null, "score": 9.0}
{"id": 4, "name": "dave", "score": null}
"#;

#[tokio::test]
async fn ndjson_file_filter_projection_limit() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("events.ndjson"), NDJSON).unwrap();
    let config = ConnectorConfig::Ndjson {
        path: PathBuf::from("events.ndjson"),
    };
    let provider = open(&config, dir.path()).await.unwrap();
    let schema = provider.schema();
    assert_eq!(
        schema.field_with_name("id").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("score").unwrap().data_type(),
        &DataType::Float64
    );

    let out = run(
        Arc::clone(&provider),
        "SELECT id, name, score FROM t ORDER BY id",
    )
    .await;
    assert_table(
        &out,
        "
+----+-------+-------+
| id | name  | score |
+----+-------+-------+
| 1  | alice | 3.5   |
| 2  | bob   | 7.25  |
| 3  |       | 9.0   |
| 4  | dave  |       |
+----+-------+-------+",
    );

    let out = run(
        Arc::clone(&provider),
        "SELECT id FROM t WHERE score > 5 ORDER BY id",
    )
    .await;
    assert_table(
        &out,
        "
+----+
| id |
+----+
| 2  |
| 3  |
+----+",
    );
    assert!(out.plan.contains("projection=[id, score]"), "{}", out.plan);

    let out = run(provider, "SELECT name FROM t LIMIT 1").await;
    assert_eq!(out.num_rows(), 1);
    assert!(out.plan.contains("limit=1"), "{}", out.plan);
}

#[tokio::test]
async fn ndjson_directory_prefers_ndjson_extension() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.ndjson"), "{\"x\": 1}\n{\"x\": 2}\n").unwrap();
    fs::write(dir.path().join("b.ndjson"), "{\"x\": 3}\n").unwrap();
    // Not read: the directory has .ndjson files, so .json files are left alone.
    fs::write(dir.path().join("meta.json"), "{\"other\": true}\n").unwrap();
    let config = ConnectorConfig::Ndjson {
        path: dir.path().to_path_buf(),
    };
    let provider = open(&config, Path::new(".")).await.unwrap();
    assert_eq!(provider.schema().fields().len(), 1);
    let out = run(provider, "SELECT sum(x) AS s FROM t").await;
    assert_table(
        &out,
        "
+---+
| s |
+---+
| 6 |
+---+",
    );
}
