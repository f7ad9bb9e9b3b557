//! Leak class 2: FILTER clauses. A FILTER picks rows inside a group that small-group
//! suppression counts whole, so `COUNT(*) FILTER (WHERE loan_id = x AND amount >= t)`
//! over all loans answers for one loan: a binary search finds its amount in about 26
//! queries. Any FILTER that protected data takes part in is refused.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;

attacks! {
    count_filtered_to_one_loan_and_a_threshold:
        format!("SELECT COUNT(*) FILTER (WHERE loan_id = {X} AND amount >= 700000) FROM loans")
        => Refuse("loans.amount", "FILTER");
    array_agg_filtered_by_an_amount_band:
        "SELECT array_agg(loan_id) FILTER (WHERE amount >= 760000 AND amount < 770000) FROM loans"
        => Refuse("loans.amount", "FILTER");
    max_id_filtered_by_an_amount_band:
        "SELECT MAX(loan_id) FILTER (WHERE amount BETWEEN 769000 AND 770000) FROM loans"
        => Refuse("loans.amount", "FILTER");
    count_of_a_column_filtered_to_one_loan:
        format!("SELECT COUNT(loan_id) FILTER (WHERE amount > 769144 AND loan_id = {X}) FROM loans")
        => Refuse("loans.amount", "FILTER");
    sum_of_ones_filtered_to_one_loan:
        format!("SELECT SUM(1) FILTER (WHERE loan_id = {X} AND amount >= 769145) FROM loans")
        => Refuse("loans.amount", "FILTER");
    average_of_an_indicator_filtered_by_amount:
        format!("SELECT AVG(CASE WHEN loan_id = {X} THEN 1 ELSE 0 END) FILTER (WHERE amount >= 700000) FROM loans")
        => Refuse("loans.amount", "FILTER");
    string_agg_of_statuses_filtered_by_amount:
        "SELECT string_agg(status, ',') FILTER (WHERE amount > 760000) FROM loans"
        => Refuse("loans.amount", "FILTER");
    count_distinct_filtered_to_one_loan:
        format!("SELECT COUNT(DISTINCT status) FILTER (WHERE loan_id = {X} AND amount >= 700000) FROM loans")
        => Refuse("loans.amount", "FILTER");
    count_filtered_by_an_aggregate_level_text:
        format!("SELECT COUNT(*) FILTER (WHERE employer = 'Grid Power' AND loan_id = {X}) FROM loans")
        => Refuse("loans.employer", "FILTER");
    filtered_count_per_group:
        format!("SELECT status, COUNT(*) FILTER (WHERE loan_id = {X} AND amount >= 700000) FROM loans GROUP BY status")
        => Refuse("loans.amount", "FILTER");
    filtered_count_inside_a_derived_table:
        format!("SELECT c FROM (SELECT COUNT(*) FILTER (WHERE loan_id = {X} AND amount < 800000) AS c FROM loans) t")
        => Refuse("loans.amount", "FILTER");
    filtered_count_of_a_salary_in_a_small_city:
        "SELECT COUNT(*) FILTER (WHERE salary > 12000 AND city = 'xiong_an') FROM persons"
        => Refuse("persons.salary", "FILTER");
    filtered_sum_of_amounts_by_a_plain_id:
        format!("SELECT SUM(amount) FILTER (WHERE loan_id = {X}) FROM loans")
        => Refuse("loans.amount", "FILTER");
    a_filter_on_plain_data_only_is_fine:
        "SELECT COUNT(*) FILTER (WHERE status = 'active') FROM loans"
        => RevealNothing;
}
