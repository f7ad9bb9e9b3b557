//! Work happens where the data is: selective filters and GROUP BY run at the owning
//! gateway, and only their results cross the wire. Rows are counted as they arrive.
//! Where the data is in a database, the filter, projection and limit reach it as SQL,
//! read back from the database's own log, and it answers a point lookup by index and a
//! GROUP BY by aggregating, so only the groups leave the database.

use super::common::{Harness, kind, rows, shape};
use super::databases::{
    Backend, mariadb_explain, mariadb_logged, postgres_explain, postgres_logged,
};
use arrow::record_batch::RecordBatch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selective_filter_runs_at_the_owner() {
    let h = Harness::start().await;
    let table_rows: usize = h
        .reference("SELECT count(*) AS n FROM sh_hf.contributions")
        .await
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(table_rows, 1);
    let sql =
        "SELECT person_id, month, amount FROM sh_hf.contributions WHERE person_id = 200000007";
    let before = h.wire_rows();
    let got: usize = h
        .federated(sql)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    let crossed = h.wire_rows() - before;
    assert!(
        got > 0 && got < 30,
        "one person has a few months of contributions, got {got}"
    );
    assert_eq!(
        crossed, got as u64,
        "only the matching rows may cross the wire"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_runs_at_the_owner() {
    let h = Harness::start().await;
    let sql = "SELECT employer, count(*), sum(amount) FROM bj_hf.contributions GROUP BY employer";
    let before = h.wire_rows();
    let groups: usize = h
        .federated(sql)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    let crossed = h.wire_rows() - before;
    assert_eq!(groups, 9, "eight employers and NULL");
    assert_eq!(
        crossed, 9,
        "only the groups may cross the wire, not the rows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_over_a_union_of_agencies_is_split_into_partial_aggregates() {
    let h = Harness::start().await;
    let sql = "SELECT city, count(*), sum(amount), avg(amount), min(month), max(month) FROM \
               (SELECT 'bj' AS city, amount, month FROM bj_hf.contributions \
                UNION ALL SELECT 'sh', amount, month FROM sh_hf.contributions \
                UNION ALL SELECT 'cd', amount, month FROM cd_hf.contributions) t GROUP BY city";
    let home = &h.cluster.gateway("bj_hf").unwrap().gateway.home;
    let plan = home.plan(&h.caller(), sql).await.unwrap();
    assert_eq!(
        plan.sub_queries.len(),
        3,
        "one sub-query per agency: {:#?}",
        plan.sub_queries
    );
    for sq in &plan.sub_queries {
        assert!(
            sq.sql.to_uppercase().contains("GROUP BY"),
            "each owner aggregates: {}",
            sq.sql
        );
    }
    let before = h.wire_rows();
    let groups: usize = h
        .federated(sql)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(groups, 3);
    assert_eq!(
        h.wire_rows() - before,
        3,
        "one partial aggregate row per agency"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_agency_join_pushes_each_side_filter_to_its_owner() {
    let h = Harness::start().await;
    let sql = "SELECT b.name, l.amount FROM bj_hf.persons b JOIN sh_hf.persons s ON s.id_number = b.id_number \
               JOIN sh_hf.loans l ON l.person_id = s.person_id WHERE l.status = 'overdue' AND b.gender = 'F'";
    let home = &h.cluster.gateway("bj_hf").unwrap().gateway.home;
    let plan = home.plan(&h.caller(), sql).await.unwrap();
    // DataFusion joins in the written order, (bj ⋈ sh.persons) ⋈ sh.loans, so the two
    // sh_hf scans are separate sub-queries; each carries its own filter.
    assert!(
        plan.sub_queries
            .iter()
            .all(|s| s.agency == "bj_hf" || s.agency == "sh_hf")
    );
    let loans = plan
        .sub_queries
        .iter()
        .find(|s| s.sql.contains("loans"))
        .unwrap();
    assert!(
        loans.sql.contains("'overdue'"),
        "sh_hf filters its loans: {}",
        loans.sql
    );
    let bj = plan
        .sub_queries
        .iter()
        .find(|s| s.agency == "bj_hf")
        .unwrap();
    assert!(
        bj.sql.contains("'F'"),
        "bj_hf filters its own rows: {}",
        bj.sql
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_n_over_one_agency_sends_only_n_rows() {
    let h = Harness::start().await;
    let before = h.wire_rows();
    let sql = "SELECT loan_id, amount FROM cd_hf.loans ORDER BY amount DESC, loan_id LIMIT 3";
    let got: usize = h
        .federated(sql)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(got, 3);
    assert_eq!(h.wire_rows() - before, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_n_over_a_union_of_agencies_asks_each_owner_for_n_rows() {
    let h = Harness::start().await;
    let sql = "SELECT city, loan_id, amount FROM (SELECT 'bj' AS city, loan_id, amount FROM bj_hf.loans \
               UNION ALL SELECT 'sh', loan_id, amount FROM sh_hf.loans \
               UNION ALL SELECT 'cd', loan_id, amount FROM cd_hf.loans) t ORDER BY amount DESC, loan_id LIMIT 5";
    let before = h.wire_rows();
    let got: usize = h
        .federated(sql)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(got, 5);
    assert_eq!(
        h.wire_rows() - before,
        15,
        "each of the three owners sends its own top five"
    );
}

/// The statement among `logged` that carries the point lookup, and checks that it holds
/// the filter, only the asked-for columns and the limit.
/// The last statement `database` logged that mentions `needle`.
fn logged_with<'a>(logged: &'a [String], needle: &str, database: &str) -> &'a str {
    logged
        .iter()
        .rev()
        .find(|s| s.contains(needle))
        .unwrap_or_else(|| panic!("{database} logged no statement with {needle}: {logged:?}"))
}

fn lookup_statement<'a>(logged: &'a [String], person: &str, database: &str) -> &'a str {
    let sql = logged_with(logged, person, database);
    assert!(sql.contains("WHERE") && sql.contains("person_id"), "{sql}");
    assert!(sql.contains("month") && sql.contains("amount"), "{sql}");
    assert!(
        !sql.contains("employer"),
        "only the asked-for columns: {sql}"
    );
    assert!(sql.trim_end().ends_with("LIMIT 3"), "{sql}");
    sql
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_lookups_reach_the_database_and_use_its_index() {
    let h = Harness::start_on([Backend::Postgres, Backend::Mariadb, Backend::Parquet]).await;

    // bj_hf's contributions are in PostgreSQL.
    let sql = "SELECT month, amount FROM bj_hf.contributions WHERE person_id = 100000007 LIMIT 3";
    let rows: usize = h
        .federated(sql)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert!((1..=3).contains(&rows), "{rows} rows");
    let logged = postgres_logged(&h.database_table("bj_hf", "contributions"));
    let pg_sql = lookup_statement(&logged, "100000007", "PostgreSQL").to_owned();
    let plan = postgres_explain(&pg_sql).await;
    assert!(
        plan.contains("Index") && !plan.contains("Seq Scan"),
        "PostgreSQL should answer {pg_sql} by index:\n{plan}"
    );

    // sh_hf's are in MariaDB.
    let table = h.database_table("sh_hf", "contributions");
    let sql = "SELECT month, amount FROM sh_hf.contributions WHERE person_id = 200000007 LIMIT 3";
    let logged = mariadb_logged(&table, async {
        let rows: usize = h
            .federated(sql)
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert!((1..=3).contains(&rows), "{rows} rows");
    })
    .await;
    let my_sql = lookup_statement(&logged, "200000007", "MariaDB").to_owned();
    let plan = mariadb_explain(&my_sql).await;
    assert!(
        plan.iter()
            .all(|(access, key)| access == "ref" && key.is_some()),
        "MariaDB should answer {my_sql} by index: {plan:?}"
    );
    h.stop().await;
}

/// The federated answer to `sql`, checked against local DataFusion over the same rows.
async fn answer_matches_local(h: &Harness, sql: &str) -> usize {
    let got = h
        .federated(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let want = h.reference(sql).await;
    let (mut g, mut w) = (rows(&got), rows(&want));
    g.sort();
    w.sort();
    assert_eq!(g, w, "{sql}");
    // A database may present the same values as another string or integer type.
    let kinds = |b: &[RecordBatch]| {
        shape(b)
            .into_iter()
            .map(|(n, t)| (n, kind(&t)))
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(&got), kinds(&want), "{sql}");
    g.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_is_computed_by_the_database() {
    let h = Harness::start_on([Backend::Postgres, Backend::Mariadb, Backend::Sqlite]).await;

    // PostgreSQL compares text byte-wise, so it groups by employer itself.
    let sql = "SELECT employer, count(*) AS n, count(employer) AS named, sum(amount) AS total, \
               min(month) AS first, max(amount) AS top FROM bj_hf.contributions \
               WHERE person_id > 100000003 GROUP BY employer";
    let groups = answer_matches_local(&h, sql).await;
    assert!(groups > 1, "{groups} groups");
    let logged = postgres_logged(&h.database_table("bj_hf", "contributions"));
    let pg_sql = logged_with(&logged, "100000003", "PostgreSQL");
    assert!(
        pg_sql.contains("GROUP BY") && pg_sql.contains("count(") && pg_sql.contains("sum("),
        "the database aggregates: {pg_sql}"
    );
    let plan = postgres_explain(pg_sql).await;
    assert!(
        plan.contains("Aggregate"),
        "PostgreSQL should aggregate {pg_sql}:\n{plan}"
    );

    // MariaDB groups by a date and an integer, and sums with the filter in its WHERE.
    let table = h.database_table("sh_hf", "contributions");
    let sql = "SELECT month, count(*) AS n, sum(amount) AS total, min(person_id) AS low \
               FROM sh_hf.contributions WHERE person_id < 200000050 GROUP BY month";
    let logged = mariadb_logged(&table, async {
        assert!(answer_matches_local(&h, sql).await > 1);
    })
    .await;
    let my_sql = logged_with(&logged, "200000050", "MariaDB");
    assert!(
        my_sql.contains("GROUP BY") && my_sql.contains("sum("),
        "the database aggregates: {my_sql}"
    );

    // MariaDB's collation folds case and trailing spaces, so text keys stay in DataFusion:
    // the rows are fetched and the answer is still exact.
    let sql = "SELECT employer, count(*) AS n FROM sh_hf.contributions \
               WHERE person_id < 200000060 GROUP BY employer";
    let logged = mariadb_logged(&table, async {
        assert!(answer_matches_local(&h, sql).await > 1);
    })
    .await;
    let my_sql = logged_with(&logged, "200000060", "MariaDB");
    assert!(
        !my_sql.contains("GROUP BY"),
        "text keys are not grouped by MariaDB: {my_sql}"
    );

    // A key that is a constant stays in DataFusion, and an empty input has no group,
    // as DataFusion answers; counts over SQLite's integers are SQLite's.
    for sql in [
        "SELECT 'sh' AS city, count(*) AS n, sum(amount) AS total FROM sh_hf.contributions \
         WHERE person_id < 0 GROUP BY city",
        "SELECT count(*) AS n, sum(amount) AS total FROM sh_hf.contributions WHERE person_id < 0",
        "SELECT city, n FROM (SELECT 'cd' AS city, count(*) AS n, max(amount) AS top \
         FROM cd_hf.contributions GROUP BY city) t",
        "SELECT person_id, count(*) AS n FROM cd_hf.contributions GROUP BY person_id \
         ORDER BY n DESC, person_id LIMIT 4",
        "SELECT count(*) AS groups FROM (SELECT person_id FROM cd_hf.loans GROUP BY person_id) t",
    ] {
        answer_matches_local(&h, sql).await;
    }
    h.stop().await;
}
