//! Disclosure policy through running gateways: each owner applies its own policy to the
//! sub-queries it receives, masks before anything else sees a value, keeps aggregate-only
//! columns inside large enough groups, refuses with reasons, records its decisions on
//! the chain, and follows its policy file on disk.

use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use sluice_chain::TraceFilter;
use sluice_chain::entry::Body;
use sluice_examples::provident_fund as demo;
use sluice_gateway::Purpose;

use super::common::{Harness, rows, run_sluice};
use super::databases::Backend;

/// A [`Harness`] whose gateways run the demo's disclosure policy.
struct PolicyHarness(Harness);

impl std::ops::Deref for PolicyHarness {
    type Target = Harness;

    fn deref(&self) -> &Harness {
        &self.0
    }
}

impl PolicyHarness {
    async fn start() -> Self {
        PolicyHarness(Harness::start_with_policy(None).await)
    }

    /// As [`Self::start`], each agency's datasets in the database `layout` names for it.
    async fn start_on(layout: [Backend; 3]) -> Self {
        PolicyHarness(Harness::start_with_policy(Some(layout)).await)
    }

    async fn stop(self) {
        self.0.stop().await
    }

    async fn query(&self, purpose: &str, sql: &str) -> Result<Vec<RecordBatch>, String> {
        self.client
            .query_all(&Purpose::parse(purpose).unwrap(), sql)
            .await
            .map_err(|e| e.to_string())
    }

    async fn transfer(&self, sql: &str) -> Result<Vec<RecordBatch>, String> {
        self.query("provident_fund_transfer", sql).await
    }

    async fn local(&self, sql: &str) -> Vec<RecordBatch> {
        self.0
            .local
            .sql(sql)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    }
}

fn strings(batches: &[RecordBatch], col: usize) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let a = arrow::compute::cast(b.column(col), &arrow::datatypes::DataType::Utf8).unwrap();
        let a = a.as_string::<i32>();
        for i in 0..a.len() {
            out.push(if a.is_null(i) {
                "NULL".into()
            } else {
                a.value(i).to_string()
            });
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn owners_mask_aggregate_refuse_record_and_reload() {
    let h = PolicyHarness::start().await;
    let id = demo::mover_id_number();

    // Masked: the name keeps its first letter, the birth date its year; no raw value.
    let sql = format!("SELECT name, birth_date FROM sh_hf.persons WHERE id_number = '{id}'");
    let got = h.transfer(&sql).await.unwrap();
    let raw = h.local(&sql).await;
    let (got_names, raw_names) = (strings(&got, 0), strings(&raw, 0));
    assert_eq!(got_names.len(), 1);
    assert_ne!(got_names, raw_names, "the raw name left sh_hf");
    assert_eq!(got_names[0].chars().next(), raw_names[0].chars().next());
    assert!(
        strings(&got, 1)[0].ends_with("-01-01"),
        "{:?}",
        strings(&got, 1)
    );

    // Probing a masked column with its raw value finds nothing: the filter sees the mask.
    let probe = format!(
        "SELECT id_number FROM sh_hf.persons WHERE name = '{}'",
        raw_names[0]
    );
    assert!(strings(&h.transfer(&probe).await.unwrap(), 0).is_empty());
    let like = format!(
        "SELECT COUNT(*) FROM sh_hf.persons WHERE name LIKE '{}%'",
        &raw_names[0][..2]
    );
    assert_eq!(strings(&h.transfer(&like).await.unwrap(), 0), ["0"]);

    // Aggregate only: sums over large groups are exact, single amounts are refused.
    let sum = "SELECT COUNT(*), SUM(amount) FROM sh_hf.loans";
    assert_eq!(
        strings(&h.transfer(sum).await.unwrap(), 1),
        strings(&h.local(sum).await, 1)
    );
    for probe in [
        "SELECT amount FROM sh_hf.loans LIMIT 1",
        "SELECT loan_id FROM sh_hf.loans ORDER BY amount DESC LIMIT 1",
        "SELECT SUM(amount) OVER (ORDER BY loan_id) FROM sh_hf.loans",
    ] {
        let err = h.transfer(probe).await.unwrap_err();
        assert!(
            err.contains("refused by sh_hf's disclosure policy"),
            "{probe}: {err}"
        );
        assert!(err.contains("loans.amount"), "{probe}: {err}");
        assert!(
            err.contains("sh_hf.csv:12"),
            "{probe}: the rule is named: {err}"
        );
    }

    // A cross-agency join on person ids is refused: they are join keys, never output.
    let err = h
        .transfer("SELECT b.person_id FROM bj_hf.persons b JOIN sh_hf.persons s ON s.person_id = b.person_id")
        .await
        .unwrap_err();
    assert!(err.contains("person_id"), "{err}");

    // Another purpose is refused.
    let err = h
        .query("marketing", "SELECT status FROM sh_hf.loans LIMIT 1")
        .await
        .unwrap_err();
    assert!(err.contains("loans.status"), "{err}");

    // Every decision is on sh_hf's chain, with the levels granted.
    let sh = h.cluster.chain("sh_hf").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (allowed, refused) = loop {
        let hits = sh
            .store()
            .trace(&TraceFilter {
                principal: Some("bj_hf/analyst".into()),
                ..Default::default()
            })
            .unwrap();
        let levels: Vec<String> = hits
            .iter()
            .filter_map(|h| match &h.entry.entry().body {
                Body::AccessAllowed(d) => Some(
                    d.columns
                        .iter()
                        .map(|c| format!("{}:{}", c.column, c.level))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                _ => None,
            })
            .collect();
        let refused = hits
            .iter()
            .filter(|h| matches!(&h.entry.entry().body, Body::AccessRefused(d) if d.reason.contains("loans.amount")))
            .count();
        if refused >= 3 || Instant::now() > deadline {
            break (levels, refused);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refused >= 3, "refusals recorded: {refused}");
    assert!(
        allowed.iter().any(|l| l.contains("name:masked:first:1")),
        "{allowed:?}"
    );
    assert!(
        allowed.iter().any(|l| l.contains("amount:aggregate")),
        "{allowed:?}"
    );

    // Hot reload: sh_hf makes loan amounts plain; the next query sees it.
    let rules = h.cluster.data.dir.join("policy").join("sh_hf.csv");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(
        &rules,
        text.replace(
            "loans.amount, provident_fund_transfer, aggregate",
            "loans.amount, provident_fund_transfer, plain",
        ),
    )
    .unwrap();
    let one = "SELECT amount FROM sh_hf.loans ORDER BY loan_id LIMIT 1";
    assert_eq!(
        strings(&h.transfer(one).await.unwrap(), 0),
        strings(&h.local(one).await, 0)
    );
    // A broken file is rejected; the last good policy stays in force.
    std::fs::write(&rules, format!("{text}p, *, *, loans.amount\n")).unwrap();
    assert_eq!(
        strings(&h.transfer(one).await.unwrap(), 0),
        strings(&h.local(one).await, 0)
    );
    let persons = "SELECT birth_date FROM sh_hf.persons ORDER BY birth_date LIMIT 1";
    assert!(strings(&h.transfer(persons).await.unwrap(), 0)[0].ends_with("-01-01"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn policy_explain_names_levels_rules_and_the_rewritten_sql() {
    let h = PolicyHarness::start().await;
    let config = h.cluster.configs[1].to_str().unwrap().to_owned();
    let explain = |sql: &str| {
        run_sluice(&[
            "policy",
            "explain",
            "--config",
            &config,
            "--as",
            "bj_hf/analyst",
            "--purpose",
            "provident_fund_transfer",
            sql,
        ])
    };
    let out = explain("SELECT name, COUNT(*) FROM sh_hf.persons GROUP BY name");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("masked:first:1"), "{stdout}");
    assert!(stdout.contains("sh_hf.csv:4"), "{stdout}");
    assert!(stdout.to_lowercase().contains("select"), "{stdout}");

    let refused = explain("SELECT amount FROM sh_hf.loans");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("loans.amount") && stderr.contains("aggregate"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_refusal_reaches_the_analyst_as_fields() {
    let h = PolicyHarness::start().await;
    let transfer = Purpose::parse("provident_fund_transfer").unwrap();
    // sh_hf refuses; bj_hf relays; the analyst's client reads the refusal's fields, not
    // its text.
    let err = h
        .client
        .query_all(&transfer, "SELECT loan_id, amount FROM sh_hf.loans")
        .await
        .expect_err("single loan amounts may not leave");
    let r = err
        .refusal()
        .unwrap_or_else(|| panic!("expected a refusal, got {err:?}"));
    assert_eq!(r.agency, "sh_hf");
    assert_eq!(r.principal, "bj_hf/analyst");
    assert_eq!(r.purpose, "provident_fund_transfer");
    let amount = r
        .columns
        .iter()
        .find(|c| c.dataset.ends_with("loans") && c.column == "amount")
        .unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(amount.needed, "plain");
    assert_eq!(amount.granted, "aggregate");
    assert!(
        amount
            .rule
            .as_deref()
            .is_some_and(|rule| rule.contains("sh_hf.csv:")),
        "{amount:?}"
    );

    // A LATERAL or correlated subquery that cannot become a join cannot run: a clear error
    // naming the outer column, not an internal one. One that can become a join runs.
    for sql in [
        "SELECT COUNT(*) FROM sh_hf.loans a, LATERAL (SELECT SUM(b.amount) AS s FROM sh_hf.loans b WHERE b.loan_id <> a.loan_id) t",
        "SELECT COUNT(*) FROM sh_hf.loans a, LATERAL (SELECT a.term_months + 1 AS x) t",
    ] {
        let err = h.transfer(sql).await.expect_err(sql);
        assert!(err.contains("cannot be rewritten as a join"), "{err}");
        assert!(err.contains("a.") && !err.contains("Internal"), "{err}");
    }
    let joinable = "SELECT COUNT(*) FROM bj_hf.loans a, LATERAL \
        (SELECT COUNT(*) AS c FROM sh_hf.loans b WHERE b.status = a.status) t";
    let joined = h.transfer(joinable).await.unwrap();
    assert_eq!(strings(&joined, 0), strings(&h.local(joinable).await, 0));
    h.stop().await;
}

/// The issue-10 crash: a list of 2,000 alternatives aborted both gateways. It is ordinary
/// SQL: answered, through bj_hf (home) and sh_hf (owner), and exactly. 100,000
/// alternatives, and a value that doubles until no batch can hold it, are refused with
/// an error that says what is too large; both gateways keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_alternatives_are_answered_deep_ones_refused_and_gateways_keep_serving() {
    let h = PolicyHarness::start().await;
    // 2,000 alternatives, cycling through the loans this scale has.
    let alternatives = |ids: &[String]| {
        (0..2000)
            .map(|i| format!("loan_id = {}", ids[i % ids.len()]))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let ids = strings(
        &h.local("SELECT loan_id FROM sh_hf.loans ORDER BY loan_id LIMIT 2000")
            .await,
        0,
    );
    assert!(
        ids.len() >= 100,
        "the demo has {} loans at sh_hf",
        ids.len()
    );
    let sql = format!(
        "SELECT COUNT(*), SUM(amount) FROM sh_hf.loans WHERE {}",
        alternatives(&ids)
    );
    let expected = format!(
        "SELECT COUNT(*), SUM(amount) FROM sh_hf.loans WHERE loan_id IN ({})",
        ids.join(", ")
    );
    let got = h.transfer(&sql).await.unwrap();
    let want = h.local(&expected).await;
    assert_eq!(strings(&got, 0), strings(&want, 0));
    assert_eq!(strings(&got, 1), strings(&want, 1));
    assert_eq!(strings(&got, 0), [ids.len().to_string()]);

    // The same list over the home agency's own data: bj_hf is home and owner at once.
    let bj_ids = strings(
        &h.local("SELECT loan_id FROM bj_hf.loans ORDER BY loan_id LIMIT 2000")
            .await,
        0,
    );
    let or = alternatives(&bj_ids);
    let got = h
        .transfer(&format!(
            "SELECT COUNT(*), SUM(amount) FROM bj_hf.loans WHERE {or}"
        ))
        .await
        .unwrap();
    let want = h
        .local(&format!(
            "SELECT COUNT(*), SUM(amount) FROM bj_hf.loans WHERE loan_id IN ({})",
            bj_ids.join(", ")
        ))
        .await;
    assert_eq!(strings(&got, 1), strings(&want, 1));

    // 100,000 alternatives: refused, naming the limit.
    let huge = (0..100_000)
        .map(|i| format!("loan_id = {i}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let err = h
        .transfer(&format!("SELECT COUNT(*) FROM sh_hf.loans WHERE {huge}"))
        .await
        .unwrap_err();
    assert!(
        err.contains("tokens") && err.contains("at most 100000"),
        "{err}"
    );
    // A chain that cannot be rebalanced is refused by its depth.
    let plus = format!(
        "SELECT SUM(amount{}) FROM sh_hf.loans",
        " + 0".repeat(3_000)
    );
    let err = h.transfer(&plus).await.unwrap_err();
    assert!(err.contains("nested"), "{err}");

    // A value doubled through 22 derived tables, 16 GiB a row: refused before it runs,
    // whatever the data. A few columns joined into one value are answered.
    let mut grow =
        String::from("WITH c0 AS (SELECT lpad(status, 1000, 'x') AS s FROM sh_hf.loans)");
    for i in 1..=22 {
        grow.push_str(&format!(", c{i} AS (SELECT s || s AS s FROM c{})", i - 1));
    }
    grow.push_str(" SELECT COUNT(*), MAX(length(s)) FROM c22");
    let err = h.transfer(&grow).await.unwrap_err();
    assert!(
        err.contains("may build values") && err.contains("at most 32 copies"),
        "{err}"
    );
    let few = "SELECT concat_ws('/', status, lpad(status, 12, '.'), upper(status)) AS s, COUNT(*) AS n FROM sh_hf.loans GROUP BY 1 ORDER BY 1";
    let got = h.transfer(few).await.unwrap();
    let want = h.local(few).await;
    assert!(!strings(&want, 0).is_empty());
    assert_eq!(strings(&got, 0), strings(&want, 0));
    assert_eq!(strings(&got, 1), strings(&want, 1));

    // Both gateways still answer.
    let sum = "SELECT COUNT(*), SUM(amount) FROM sh_hf.loans";
    assert_eq!(
        strings(&h.transfer(sum).await.unwrap(), 1),
        strings(&h.local(sum).await, 1)
    );
    let sh = h.cluster.analyst("sh_hf").await.unwrap();
    let got = sh
        .query_all(&Purpose::parse("provident_fund_transfer").unwrap(), &sql)
        .await
        .unwrap();
    assert_eq!(strings(&got, 0), [ids.len().to_string()]);
}

/// A query that reads protected (here masked) columns and fails at run time: the analyst
/// learns which datasets and columns failed, never the value in DataFusion's message;
/// the owner's chain keeps the detail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_time_errors_on_protected_columns_are_withheld_and_recorded() {
    let h = PolicyHarness::start().await;
    let err = h
        .transfer("SELECT CAST(name AS INT) FROM sh_hf.persons")
        .await
        .unwrap_err();
    assert!(
        err.contains("withheld") && err.contains("sh_hf.persons"),
        "{err}"
    );
    assert!(
        !err.contains("Cannot cast") && !err.contains("***"),
        "the error text quotes a value: {err}"
    );
    // On the chain: the detail, under the same principal.
    let sh = h.cluster.chain("sh_hf").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hits = sh
            .store()
            .trace(&TraceFilter {
                principal: Some("bj_hf/analyst".into()),
                ..Default::default()
            })
            .unwrap();
        let recorded = hits.iter().any(|h| {
            matches!(&h.entry.entry().body, Body::AccessRefused(d)
                if d.reason.contains("failed while running") && d.reason.to_lowercase().contains("cast"))
        });
        if recorded {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failure's detail is not on the chain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A plain query's error keeps its detail: nothing protected was read.
    let err = h
        .transfer("SELECT CAST(status AS INT) FROM sh_hf.loans")
        .await
        .unwrap_err();
    assert!(err.to_lowercase().contains("cast"), "{err}");
}

/// Where loans are in a database that computes the aggregate itself, what leaves is
/// still only groups of at least five loans of five people, with exact sums.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aggregates_computed_by_a_database_keep_the_small_group_rule() {
    let h = PolicyHarness::start_on([Backend::Parquet, Backend::Postgres, Backend::Mariadb]).await;
    let large = " HAVING count(*) >= 5 AND count(DISTINCT person_id) >= 5";
    for agency in ["sh_hf", "cd_hf"] {
        for (sql, grouped) in [
            (
                format!(
                    "SELECT status, count(*) AS n, sum(amount) AS total FROM {agency}.loans GROUP BY status"
                ),
                true,
            ),
            // Narrow groups: most hold fewer than five loans and must not leave.
            (
                format!(
                    "SELECT status, count(*) AS n, sum(amount) AS total, max(amount) AS top \
                     FROM {agency}.loans WHERE loan_id % 40 = 0 GROUP BY status"
                ),
                true,
            ),
            (
                format!(
                    "SELECT loan_id, sum(amount) AS total FROM {agency}.loans GROUP BY loan_id"
                ),
                true,
            ),
            (
                format!("SELECT count(*) AS n, sum(amount) AS total FROM {agency}.loans"),
                false,
            ),
        ] {
            let got = match h.transfer(&sql).await {
                Ok(b) => b,
                Err(e) => {
                    assert!(e.contains("refused"), "{sql}: {e}");
                    continue;
                }
            };
            let reference = if grouped {
                format!("{sql}{large}")
            } else {
                format!("SELECT * FROM ({sql}) t WHERE n >= 5")
            };
            let (mut g, mut w) = (rows(&got), rows(&h.local(&reference).await));
            g.sort();
            w.sort();
            assert_eq!(g, w, "{sql}");
        }
    }
    h.stop().await;
}
