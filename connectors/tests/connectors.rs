//! Integration tests for every connector kind, in one test binary.
//!
//! The PostgreSQL and MariaDB tests use the servers on 127.0.0.1:5432 (user `postgres`,
//! database `test`) and 127.0.0.1:3306 (user `root`, database `test`);
//! `scripts/setup.sh` starts them. Each test creates uniquely named tables and drops them
//! afterwards, so tests can run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod connectors {
    pub mod common;
    mod errors;
    mod files;
    mod mysql;
    mod postgres;
    mod sqlite;
}
