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
    // The same selection without the word FILTER: a condition or a non-linear function
    // inside the argument keeps one row's value and zeroes or nulls the others.
    sum_of_amounts_above_a_threshold_by_case:
        "SELECT SUM(CASE WHEN amount > 500000 THEN amount ELSE 0 END) FROM loans"
        => Refuse("loans.amount", "FILTER");
    average_of_amounts_above_a_threshold_by_a_null_else:
        "SELECT AVG(CASE WHEN amount > 500000 THEN amount END) FROM loans"
        => Refuse("loans.amount", "FILTER");
    smallest_amount_above_a_threshold:
        "SELECT MIN(CASE WHEN amount > 700000 THEN amount END) FROM loans"
        => Refuse("loans.amount", "FILTER");
    max_amount_of_one_employer_by_case:
        "SELECT MAX(CASE WHEN employer = 'Grid Power' THEN amount END), COUNT(*) FROM loans WHERE status = 'active'"
        => Refuse("loans.amount", "FILTER");
    integer_division_as_a_step_times_the_amount:
        "SELECT SUM(amount * (amount / 700000)) FROM loans"
        => Refuse("loans.amount", "FILTER");
    nullif_of_a_step_times_the_amount:
        "SELECT AVG(NULLIF(amount / 700000, 0) * amount) FROM loans"
        => Refuse("loans.amount", "FILTER");
    greatest_clips_all_but_the_largest:
        "SELECT AVG(GREATEST(amount, 700000)) FROM loans"
        => Refuse("loans.amount", "FILTER");
    boolean_cast_times_the_amount:
        "SELECT SUM(CAST(amount > 700000 AS BIGINT) * amount) FROM loans"
        => Refuse("loans.amount", "FILTER");
    least_and_greatest_keep_the_excess:
        "SELECT SUM(LEAST(amount, 0) + GREATEST(amount - 700000, 0)) FROM loans"
        => Refuse("loans.amount", "FILTER");
    try_cast_nulls_all_but_small_amounts:
        "SELECT SUM(TRY_CAST(amount - 700000 AS SMALLINT)) FROM loans"
        => Refuse("loans.amount", "FILTER");
    count_of_a_condition_on_the_amount:
        "SELECT COUNT(CASE WHEN amount > 700000 THEN 1 END) FROM loans"
        => Refuse("loans.amount", "FILTER");
    case_computed_in_a_derived_table_then_summed:
        "SELECT SUM(x) FROM (SELECT CASE WHEN amount > 500000 THEN amount ELSE 0 END AS x FROM loans) t"
        => Refuse("loans.amount", "FILTER");
    // Plain data that picks one row out of a group the amount chose: the count says
    // whether loan x is above the threshold.
    count_of_one_loan_in_a_group_an_amount_chose:
        format!("SELECT COUNT(*) FILTER (WHERE loan_id = {X}), COUNT(*) FROM loans WHERE amount > 300000")
        => Refuse("loans.amount", "FILTER");
    indicator_of_one_loan_in_a_group_an_amount_chose:
        format!("SELECT SUM(CASE WHEN loan_id = {X} THEN 1 ELSE 0 END), COUNT(*) FROM loans WHERE amount > 300000")
        => Refuse("loans.amount", "FILTER");
    average_indicator_over_loans_an_amount_chose:
        format!("SELECT AVG(CASE WHEN loan_id = {X} THEN 1.0 ELSE 0.0 END) FROM loans WHERE amount > 300000")
        => Refuse("loans.amount", "FILTER");
    float_spike_at_one_id_over_loans_an_amount_chose:
        "SELECT SUM(1e-300 / ((CAST(loan_id AS DOUBLE) - 2000000031.0) * (CAST(loan_id AS DOUBLE) - 2000000031.0) + 1e-300)) FROM loans WHERE amount > 300000"
        => Refuse("loans.amount", "FILTER");
    nullif_drops_one_id_from_loans_an_amount_chose:
        format!("SELECT COUNT(NULLIF(loan_id, {X})), COUNT(*) FROM loans WHERE amount > 300000")
        => Refuse("loans.amount", "FILTER");
    filtered_count_over_persons_a_salary_chose:
        "SELECT COUNT(*) FILTER (WHERE city = 'tianjin') FROM persons WHERE salary > 20000"
        => Refuse("persons.salary", "FILTER");
    linear_statistics_are_released:
        "SELECT AVG(COALESCE(amount, 0)), SUM(CAST(amount AS DOUBLE) / 1000.0), SUM(5 - amount), COUNT(DISTINCT status) FROM loans WHERE amount > 120000"
        => RevealNothing;
}
