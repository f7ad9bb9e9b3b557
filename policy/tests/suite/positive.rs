//! Allowed queries: plain queries by the local clerk, aggregate queries with correct
//! values, the partial-aggregate and top-N sub-queries other gateways send, and the
//! explanation of a decision.

use std::collections::BTreeMap;

use super::common::*;

#[tokio::test]
async fn a_plain_query_returns_raw_values() {
    let w = world();
    let b = w
        .query(
            "bj_hf/alice",
            "administration",
            "SELECT * FROM persons ORDER BY person_id",
        )
        .await
        .unwrap();
    let r = rows(&b);
    let ps = persons();
    assert_eq!(r.len(), ps.len());
    assert_eq!(r[0][1], ps[0].id_number);
    assert_eq!(r[0][2], ps[0].name);
    assert_eq!(r[0][3], ps[0].birth);
    assert_eq!(r[0][5], "12345");
    let d = w
        .decide(
            "bj_hf/alice",
            "administration",
            "SELECT name FROM persons WHERE city = 'beijing'",
        )
        .await
        .unwrap();
    assert!(d.decision.suppressions.is_empty() && d.decision.row_filters.is_empty());
}

fn expected_avg(filter: impl Fn(&Person) -> bool) -> BTreeMap<String, (usize, i64)> {
    let mut m: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    for p in persons().into_iter().filter(|p| filter(p)) {
        let e = m.entry(p.city.clone()).or_default();
        e.0 += 1;
        e.1 += p.salary;
    }
    m
}

#[tokio::test]
async fn an_aggregate_query_gets_correct_values_and_small_groups_are_suppressed() {
    let w = world();
    let sql =
        "SELECT city, COUNT(*) AS n, SUM(salary) AS s FROM persons GROUP BY city ORDER BY city";
    let d = w.decide("sh_hf/bob", "statistics", sql).await.unwrap();
    assert_eq!(d.decision.suppressions.len(), 1);
    assert_eq!(d.decision.suppressions[0].k, 5);
    assert_eq!(d.decision.suppressions[0].columns, vec!["persons.salary"]);
    let got = rows(&execute(&w.ctx, d.plan).await);
    let want: Vec<Vec<String>> = expected_avg(|p| p.id_number.starts_with("110"))
        .into_iter()
        .filter(|(_, (n, _))| *n >= 5)
        .map(|(c, (n, s))| vec![c, n.to_string(), s.to_string()])
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        got.len(),
        2,
        "beijing and tianjin; xiong_an (2) is suppressed, langfang filtered"
    );

    // A global aggregate is suppressed too when too few rows remain.
    let b = w
        .query(
            "sh_hf/bob",
            "statistics",
            "SELECT AVG(salary) FROM persons WHERE city IN ('xiong_an')",
        )
        .await
        .unwrap();
    assert!(rows(&b).is_empty());
    let b = w
        .query("sh_hf/bob", "statistics", "SELECT COUNT(*) FROM persons")
        .await
        .unwrap();
    assert_eq!(
        cells(&b),
        vec!["16"],
        "the row filter sees raw ids: 16 of 18 persons"
    );
}

#[tokio::test]
async fn partial_aggregate_sub_queries_are_accepted() {
    let w = world();
    let b = w
        .query(
            "sh_hf/bob",
            "statistics",
            "SELECT month, COUNT(amount) AS __p0, SUM(amount) AS __p1 FROM bj_hf.contributions \
             WHERE month >= '2024-01' GROUP BY month",
        )
        .await
        .unwrap();
    let r = rows(&b);
    assert_eq!(r.len(), 3);
    let total: i64 = contributions()
        .iter()
        .filter(|c| c.month == "2024-02")
        .map(|c| c.amount)
        .sum();
    let feb = r.iter().find(|x| x[0] == "2024-02").unwrap();
    assert_eq!(feb[1], "18");
    assert_eq!(feb[2], total.to_string());

    let b = w
        .query(
            "sh_hf/bob",
            "statistics",
            "SELECT city, COUNT(salary) AS __p0, SUM(salary) AS __p1 FROM bj_hf.persons WHERE city <> 'nowhere' GROUP BY city",
        )
        .await
        .unwrap();
    assert_eq!(rows(&b).len(), 2);

    // Officers: k = 3 on contributions.
    let b = w
        .query(
            "sh_hf/carol",
            "provident_fund_transfer",
            "SELECT COUNT(amount) AS __p0, SUM(amount) AS __p1 FROM bj_hf.contributions WHERE amount > 0",
        )
        .await
        .unwrap();
    assert_eq!(
        rows(&b).len(),
        1,
        "contributions.* is aggregate for officers: month too"
    );

    // A top-N sub-query over allowed columns.
    let b = w
        .query(
            "sh_hf/bob",
            "statistics",
            "SELECT city, name FROM bj_hf.persons WHERE city = 'beijing' ORDER BY city, name LIMIT 10",
        )
        .await
        .unwrap();
    assert_eq!(rows(&b).len(), 8);
    // Joins on join-level keys.
    let b = w
        .query(
            "sh_hf/bob",
            "statistics",
            "SELECT p.city, c.month FROM persons p JOIN contributions c ON p.person_id = c.person_id WHERE p.city = 'tianjin'",
        )
        .await
        .unwrap();
    assert_eq!(rows(&b).len(), 18);
    let b = w
        .query(
            "sh_hf/bob",
            "statistics",
            "SELECT c.month, SUM(c.amount) FROM contributions c WHERE c.person_id IN (SELECT person_id FROM persons WHERE city = 'beijing') GROUP BY c.month",
        )
        .await
        .unwrap();
    assert_eq!(rows(&b).len(), 3);
}

#[tokio::test]
async fn a_join_on_a_declared_key_keeps_aggregates_countable() {
    let w = world();
    let sql = "SELECT p.city, SUM(c.amount) AS s FROM contributions c JOIN persons p ON c.person_id = p.person_id GROUP BY p.city ORDER BY p.city";
    let got = rows(&w.query("sh_hf/bob", "statistics", sql).await.unwrap());
    let ps = persons();
    // Groups count people: xiong_an's six contributions come from two persons.
    let mut want =
        std::collections::BTreeMap::<String, (std::collections::BTreeSet<i64>, i64)>::new();
    for c in contributions() {
        let p = ps.iter().find(|p| p.person_id == c.person_id).unwrap();
        if p.id_number.starts_with("110") {
            let e = want.entry(p.city.clone()).or_default();
            e.0.insert(p.person_id);
            e.1 += c.amount;
        }
    }
    let want: Vec<Vec<String>> = want
        .into_iter()
        .filter(|(_, (people, _))| people.len() >= 5)
        .map(|(c, (_, s))| vec![c, s.to_string()])
        .collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 2, "beijing and tianjin: {got:?}");
    // Without the declared key the same join could repeat rows: refused.
    let mut cfg = config();
    cfg.keys.clear();
    let f = Files::new(MODEL, POLICY);
    let p = sluice_policy::Policy::load(cfg, &f.model(), &f.policy()).unwrap();
    let plan = w.plan(sql).await;
    assert!(p.decide(&plan, &req("sh_hf/bob", "statistics")).is_err());
}

#[tokio::test]
async fn row_filters_apply_per_role_and_purpose() {
    let w = world();
    let q = "SELECT city, COUNT(*) FROM persons GROUP BY city ORDER BY city";
    let dave = rows(&w.query("sh_hf/dave", "statistics", q).await.unwrap());
    assert_eq!(
        dave,
        vec![vec!["tianjin".to_string(), "6".to_string()]],
        "both of dave's filters apply"
    );
    let carol = rows(
        &w.query("sh_hf/carol", "provident_fund_transfer", q)
            .await
            .unwrap(),
    );
    assert_eq!(carol.len(), 2);
    let d = w
        .decide(
            "sh_hf/carol",
            "provident_fund_transfer",
            "SELECT city FROM persons",
        )
        .await
        .unwrap();
    assert_eq!(d.decision.row_filters.len(), 1);
    assert_eq!(
        d.decision.row_filters[0].predicate,
        "city IN ('beijing', 'tianjin')"
    );
}

#[tokio::test]
async fn the_explanation_names_levels_rules_masks_filters_and_sql() {
    let w = world();
    let d = w
        .decide(
            "sh_hf/bob",
            "statistics",
            "SELECT city, id_number, COUNT(*) FROM persons WHERE salary > 10000 GROUP BY city, id_number",
        )
        .await
        .unwrap();
    let text = d.decision.explain();
    println!("{text}");
    for needle in [
        "sh_hf/bob",
        "persons.city: plain by rule `p, fund_analyst, *, persons.city, statistics, plain` (",
        "persons.id_number: masked:last:4 (mask last:4)",
        "persons.salary: aggregate",
        "policy.csv:",
        "id_number LIKE '110%'",
        "groups of fewer than 5 rows are suppressed",
        "mask_last_4",
        "rewritten SQL: SELECT",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert_eq!(d.decision.policy_digest, w.policy.digest());
    assert_eq!(d.decision.policy_digest.len(), 64);
}
