//! Leak class 3: run-time errors as an oracle. Whether a query fails, and the text it
//! fails with, reveals what decided that it failed. Any expression whose value, branch
//! or evaluated operand depends on protected data may contain no operation that can
//! fail; nor may a query in which protected data decides which rows exist (the
//! optimizer moves and reorders filters, so the rows an operation sees are whatever
//! the protected filter kept); nor may one over rows a row filter hides. The list of
//! operations that cannot fail is an allowlist.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;

attacks! {
    division_by_zero_in_a_branch_chosen_by_amount:
        format!("SELECT COUNT(*) FROM loans WHERE CASE WHEN loan_id = {X} AND amount >= 700000 THEN loan_id / (loan_id - loan_id) ELSE 1 END = 1")
        => Refuse("loans.amount", "can fail");
    modulo_by_zero_in_a_branch_chosen_by_amount:
        format!("SELECT COUNT(*) FROM loans WHERE CASE WHEN loan_id = {X} AND amount >= 700000 THEN loan_id % (loan_id - loan_id) ELSE 1 END = 1")
        => Refuse("loans.amount", "can fail");
    failing_text_cast_in_a_branch_chosen_by_amount:
        format!("SELECT COUNT(*) FROM loans WHERE CASE WHEN loan_id = {X} AND amount >= 700000 THEN CAST(CAST(loan_id AS VARCHAR) || 'x' AS BIGINT) ELSE 1 END = 1")
        => Refuse("loans.amount", "can fail");
    similar_to_on_a_pattern_built_from_the_amount:
        format!("SELECT COUNT(*) FROM loans WHERE 'x' SIMILAR TO CASE WHEN loan_id = {X} THEN concat('(', CAST(amount AS VARCHAR)) ELSE 'x' END")
        => Refuse("loans.amount", "can fail");
    text_to_double_cast_of_an_aggregate_level_text:
        "SELECT SUM(CAST(employer AS DOUBLE)) FROM loans"
        => Refuse("loans.employer", "can fail");
    text_round_trip_of_the_amount:
        "SELECT SUM(CAST(CAST(amount AS VARCHAR) AS DOUBLE)) FROM loans"
        => Refuse("loans.amount", "can fail");
    division_after_a_protected_filter_in_a_derived_table:
        format!("SELECT SUM(x) FROM (SELECT amount, 1 / (loan_id - {X}) AS x FROM loans) t WHERE amount >= 700000")
        => Refuse("loans.amount", "can fail");
    division_short_circuited_by_an_amount_condition:
        format!("SELECT COUNT(*) FROM loans WHERE amount >= 700000 AND loan_id = {X} AND 1 / (loan_id - {X}) = 0")
        => Refuse("loans.amount", "can fail");
    narrowing_cast_of_a_plain_id_chosen_by_amount:
        "SELECT COUNT(*) FROM loans WHERE CASE WHEN amount > 760000 THEN CAST(loan_id AS SMALLINT) ELSE 0 END = 0"
        => Refuse("loans.amount", "can fail");
    bad_regex_reached_only_for_large_amounts:
        "SELECT COUNT(*) FROM loans WHERE CASE WHEN amount > 760000 THEN status ~ '(' ELSE false END"
        => Refuse("loans.amount", "can fail");
    constant_division_by_zero_in_a_branch_chosen_by_employer:
        format!("SELECT COUNT(*) FROM loans WHERE CASE WHEN employer = 'Grid Power' AND loan_id = {X} THEN 1 / (loan_id - loan_id) ELSE 1 END = 1")
        => Refuse("loans.employer", "can fail");
    division_by_a_released_sum_in_having:
        "SELECT status FROM loans GROUP BY status HAVING 1000000 / (SUM(amount) - 4000000) > 0"
        => Refuse("loans.amount", "can fail");
    failing_cast_in_a_query_whose_rows_an_amount_chose:
        "SELECT COUNT(*), SUM(CAST(status AS BIGINT)) FROM loans WHERE amount > 350000"
        => Refuse("loans.amount", "can fail");
    failing_cast_in_the_coalesce_of_a_protected_value:
        "SELECT COUNT(*) FROM loans WHERE COALESCE(CASE WHEN amount > 760000 THEN NULL ELSE 1 END, CAST(status AS INT)) = 1"
        => Refuse("loans.amount", "can fail");
    division_over_rows_a_row_filter_hides:
        "SELECT COUNT(*) FROM persons WHERE 1 / (CASE WHEN city = 'langfang' THEN 0 ELSE 1 END) = 1"
        => RefuseUnsupported("row filter");
    total_operations_over_protected_data_are_fine:
        "SELECT status, SUM(amount) / 1000, AVG(CAST(amount AS DOUBLE)), MAX(amount) * 2 FROM loans WHERE amount > 120000.5 AND CAST(loan_id AS VARCHAR) LIKE '2%' GROUP BY status"
        => RevealNothing;
    // Functions the list of total ones held total that are not, in every form.
    rounding_to_negative_places_overflows_near_the_limit:
        "SELECT COUNT(*) FROM loans WHERE CASE WHEN amount >= 769145 THEN round(amount + 9223372036854006660, -1) ELSE 0 END > 0"
        => Refuse("loans.amount", "can fail");
    rounding_a_sum_to_negative_places:
        "SELECT SUM(round(amount, -1)) FROM loans"
        => Refuse("loans.amount", "can fail");
    substr_from_the_smallest_start_in_a_branch_chosen_by_amount:
        "SELECT COUNT(*) FROM loans WHERE CASE WHEN amount >= 769145 THEN substr('abc', -9223372036854775808) ELSE '' END = 'x'"
        => Refuse("loans.amount", "can fail");
    substr_from_the_smallest_start_over_rows_an_amount_chose:
        "SELECT COUNT(*) FROM loans WHERE amount > 760000 AND substr(status, -9223372036854775808) = 'x'"
        => Refuse("loans.amount", "can fail");
    rounding_in_a_branch_chosen_by_employer:
        "SELECT COUNT(*) FROM loans WHERE CASE WHEN employer = 'Grid Power' THEN round(length(employer) + 9223372036854775795, -1) ELSE 0 END > 0"
        => Refuse("loans.employer", "can fail");
    rounding_a_float_to_places_cannot_fail:
        "SELECT COUNT(*) FROM loans WHERE round(CAST(amount AS DOUBLE), 2) > 700000.5"
        => RevealNothing;
}
