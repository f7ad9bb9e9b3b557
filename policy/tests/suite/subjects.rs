//! Small groups count people, not rows: where a dataset declares its subject key, a
//! released group must hold k distinct subjects. Five loans of one person, or six
//! monthly contributions of two, are not a group of five.

use super::attack::Must::*;
use super::common::*;

attacks! {
    five_loans_of_one_person:
        "SELECT SUM(amount), COUNT(*) FROM loans WHERE loan_id BETWEEN 2000000001 AND 2000000005"
        => Empty;
    max_of_one_persons_loans:
        "SELECT MAX(amount) FROM loans WHERE loan_id <= 2000000005"
        => Empty;
    one_persons_loans_through_a_derived_table:
        "SELECT SUM(a) FROM (SELECT amount AS a FROM loans WHERE loan_id <= 2000000005) t"
        => Empty;
    one_persons_loans_in_a_cte:
        "WITH mine AS (SELECT amount FROM loans WHERE loan_id <= 2000000005) SELECT MIN(amount), MAX(amount) FROM mine"
        => Empty;
    contributions_of_two_persons:
        "SELECT SUM(c.amount) FROM contributions c JOIN persons p ON c.person_id = p.person_id WHERE p.city = 'xiong_an'"
        => Empty;
    subjects_lost_to_distinct:
        "SELECT COUNT(*) FROM (SELECT DISTINCT status, amount FROM loans) t"
        => Refuse("loans.amount", "subject key");
}

/// k rows from fewer than k subjects are suppressed, k rows from k subjects are not,
/// and the released value is the raw data's.
#[tokio::test]
async fn groups_of_k_rows_need_k_subjects() {
    let w = world();
    let ls = loans();
    // Loans 1..=5 are person 1's; loans 6..=10 belong to persons 6..=10.
    let one =
        "SELECT COUNT(*), SUM(amount) FROM loans WHERE loan_id BETWEEN 2000000001 AND 2000000005";
    let d = w.decide("sh_hf/bob", "statistics", one).await.unwrap();
    assert_eq!(d.decision.suppressions[0].subjects, ["loans.person_id"]);
    assert!(rows(&execute(&w.ctx, d.plan).await).is_empty());
    let five =
        "SELECT COUNT(*), SUM(amount) FROM loans WHERE loan_id BETWEEN 2000000006 AND 2000000010";
    let got = rows(&w.query("sh_hf/bob", "statistics", five).await.unwrap());
    let chosen: Vec<&Loan> = ls
        .iter()
        .filter(|l| (2_000_000_006..=2_000_000_010).contains(&l.loan_id))
        .collect();
    let people: std::collections::BTreeSet<i64> = chosen.iter().map(|l| l.person_id).collect();
    assert_eq!(people.len(), 5, "five loans of five persons");
    let sum: i64 = chosen.iter().map(|l| l.amount).sum();
    assert_eq!(got, vec![vec!["5".to_string(), sum.to_string()]]);
    // The explanation says what is counted.
    let text = d.decision.explain();
    assert!(text.contains("distinct loans.person_id"), "{text}");
}
