//! Bad input and unavailable sources: each case returns the exact error variant, with a
//! message that names the source and never the password.

use std::path::{Path, PathBuf};

use sluice_connectors::{ConnectorConfig, ConnectorError, open};

use super::common::{MYSQL_URL, POSTGRES_URL, unique_name};

async fn open_err(config: &ConnectorConfig, base: &Path) -> ConnectorError {
    match open(config, base).await {
        Ok(_) => panic!("opening {config:?} should fail"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn missing_files_are_no_such_file() {
    let dir = tempfile::tempdir().unwrap();
    let configs = [
        ConnectorConfig::Csv {
            path: PathBuf::from("data/x.csv"),
            has_header: true,
            delimiter: ',',
        },
        ConnectorConfig::Parquet {
            path: PathBuf::from("data/x.parquet"),
        },
        ConnectorConfig::Ndjson {
            path: PathBuf::from("data/x.ndjson"),
        },
        ConnectorConfig::Sqlite {
            path: PathBuf::from("data/x.db"),
            table: "t".to_owned(),
        },
    ];
    for config in &configs {
        let err = open_err(config, dir.path()).await;
        let ConnectorError::NoSuchFile { path } = &err else {
            panic!("{config:?}: expected NoSuchFile, got {err:?}");
        };
        // Resolved against the base directory.
        assert_eq!(path.parent().unwrap(), dir.path().join("data"));
        assert_eq!(path.file_stem().unwrap(), "x");
        assert_eq!(err.to_string(), format!("no such file: {}", path.display()));
    }
    // SQLite did not create the file it was asked to open.
    assert!(!dir.path().join("data/x.db").exists());
}

#[tokio::test]
async fn directory_without_data_files_is_no_data_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let config = ConnectorConfig::Parquet {
        path: PathBuf::from("."),
    };
    let err = open_err(&config, dir.path()).await;
    assert!(
        matches!(
            err,
            ConnectorError::NoDataFiles {
                kind: "parquet",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_csv_delimiter_is_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.csv"), "a\n1\n").unwrap();
    let config = ConnectorConfig::Csv {
        path: PathBuf::from("x.csv"),
        has_header: true,
        delimiter: '→',
    };
    let err = open_err(&config, dir.path()).await;
    assert!(
        matches!(err, ConnectorError::InvalidConfig { kind: "csv", .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn unreachable_postgres_is_connection_failed_naming_host_and_port() {
    let config = ConnectorConfig::Postgres {
        url: "postgresql://postgres:hunter2secret@127.0.0.1:1/test".to_owned(),
        table: "t".to_owned(),
    };
    let err = open_err(&config, Path::new(".")).await;
    let ConnectorError::ConnectionFailed { kind, location, .. } = &err else {
        panic!("expected ConnectionFailed, got {err:?}");
    };
    assert_eq!(*kind, "postgres");
    assert_eq!(location, "127.0.0.1:1/test");
    let message = err.to_string();
    assert!(
        message.starts_with("cannot connect to postgres at 127.0.0.1:1/test: "),
        "{message}"
    );
    assert!(!message.contains("hunter2secret"), "{message}");
    assert!(!format!("{err:?}").contains("hunter2secret"));
    assert!(!format!("{config:?}").contains("hunter2secret"));
}

#[tokio::test]
async fn unreachable_mysql_is_connection_failed_naming_host_and_port() {
    let config = ConnectorConfig::Mysql {
        url: "mysql://root:hunter2secret@127.0.0.1:1/test".to_owned(),
        table: "t".to_owned(),
    };
    let err = open_err(&config, Path::new(".")).await;
    let ConnectorError::ConnectionFailed { kind, location, .. } = &err else {
        panic!("expected ConnectionFailed, got {err:?}");
    };
    assert_eq!(*kind, "mysql");
    assert_eq!(location, "127.0.0.1:1/test");
    let message = err.to_string();
    assert!(
        message.starts_with("cannot connect to mysql at 127.0.0.1:1/test: "),
        "{message}"
    );
    assert!(!message.contains("hunter2secret"), "{message}");
}

#[tokio::test]
async fn unknown_postgres_table_is_table_not_found() {
    let table = unique_name("pg_missing");
    let config = ConnectorConfig::Postgres {
        url: POSTGRES_URL.to_owned(),
        table: table.clone(),
    };
    let err = open_err(&config, Path::new(".")).await;
    assert!(
        matches!(&err, ConnectorError::TableNotFound { kind: "postgres", table: t, location }
            if *t == table && location == "127.0.0.1:5432/test"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("table `{table}` not found in postgres database 127.0.0.1:5432/test")
    );

    // An unknown schema too.
    let config = ConnectorConfig::Postgres {
        url: POSTGRES_URL.to_owned(),
        table: format!("no_such_schema.{table}"),
    };
    let err = open_err(&config, Path::new(".")).await;
    assert!(
        matches!(err, ConnectorError::TableNotFound { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_mysql_table_is_table_not_found() {
    let table = unique_name("my_missing");
    let config = ConnectorConfig::Mysql {
        url: MYSQL_URL.to_owned(),
        table: table.clone(),
    };
    let err = open_err(&config, Path::new(".")).await;
    assert!(
        matches!(&err, ConnectorError::TableNotFound { kind: "mysql", table: t, location }
            if *t == table && location == "127.0.0.1:3306/test"),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_sqlite_table_is_table_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("x.db")).unwrap();
    conn.execute_batch("CREATE TABLE present (a INTEGER)")
        .unwrap();
    drop(conn);
    let config = ConnectorConfig::Sqlite {
        path: PathBuf::from("x.db"),
        table: "foo".to_owned(),
    };
    let err = open_err(&config, dir.path()).await;
    assert!(
        matches!(&err, ConnectorError::TableNotFound { kind: "sqlite", table, .. } if table == "foo"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "table `foo` not found in sqlite database {}",
            dir.path().join("x.db").display()
        )
    );
}

#[tokio::test]
async fn not_an_sqlite_file_is_connection_failed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.db"), "this is not a database, just text").unwrap();
    let config = ConnectorConfig::Sqlite {
        path: PathBuf::from("x.db"),
        table: "t".to_owned(),
    };
    let err = open_err(&config, dir.path()).await;
    assert!(
        matches!(err, ConnectorError::ConnectionFailed { kind: "sqlite", .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_urls_are_invalid_url_without_password() {
    let cases = [
        ConnectorConfig::Postgres {
            url: "postgresql://u:hunter2secret@127.0.0.1:notaport/test".to_owned(),
            table: "t".to_owned(),
        },
        ConnectorConfig::Postgres {
            url: "mysql://u:hunter2secret@127.0.0.1/test".to_owned(),
            table: "t".to_owned(),
        },
        ConnectorConfig::Mysql {
            url: "mysql://u:hunter2secret@127.0.0.1/test?bogus=1".to_owned(),
            table: "t".to_owned(),
        },
    ];
    for config in &cases {
        let err = open_err(config, Path::new(".")).await;
        assert!(matches!(err, ConnectorError::InvalidUrl { .. }), "{err:?}");
        assert!(!err.to_string().contains("hunter2secret"), "{err}");
        assert!(err.to_string().contains("u:***@127.0.0.1"), "{err}");
    }
}
