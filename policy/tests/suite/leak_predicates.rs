//! Predicate probing: a condition that reads aggregate-level data together with other
//! per-row data singles one row out of a group that suppression counts whole. `WHERE
//! amount < 200000 OR loan_id = x` pads loan x with small loans, so MAX(amount) is x's;
//! `WHERE NOT (loan_id = x AND amount >= t)` drops loan x from the count exactly when
//! its amount is at least t. Such a condition needs `plain`; separate conjuncts only
//! narrow the group, which suppression then counts.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;

attacks! {
    largest_amount_padded_with_small_loans:
        format!("SELECT MAX(amount) FROM loans WHERE amount < 200000 OR loan_id = {X}")
        => Refuse("loans.amount", "combines");
    average_padded_with_small_loans:
        format!("SELECT AVG(amount), COUNT(*) FROM loans WHERE loan_id = {X} OR amount < 160000")
        => Refuse("loans.amount", "combines");
    count_without_one_loan_above_a_threshold:
        format!("SELECT COUNT(*) FROM loans WHERE NOT (loan_id = {X} AND amount >= 700000)")
        => Refuse("loans.amount", "combines");
    case_in_where_tests_one_loan_only:
        format!("SELECT COUNT(*) FROM loans WHERE CASE WHEN loan_id = {X} THEN amount >= 700000 ELSE true END")
        => Refuse("loans.amount", "combines");
    largest_employer_padded_by_a_text_threshold:
        format!("SELECT MAX(employer) FROM loans WHERE employer < 'H' OR loan_id = {X}")
        => Refuse("loans.employer", "combines");
    padding_in_a_join_condition:
        format!("SELECT MAX(a.amount) FROM loans a JOIN loans b ON a.loan_id = b.loan_id AND (a.amount < 160000 OR b.loan_id = {X})")
        => Refuse("loans.amount", "combines");
    padding_through_an_in_subquery:
        format!("SELECT MAX(amount) FROM loans WHERE loan_id = {X} OR loan_id IN (SELECT loan_id FROM loans WHERE amount < 160000)")
        => Refuse("loans.amount", "combines");
    padding_inside_the_in_subquery:
        format!("SELECT MAX(amount) FROM loans WHERE loan_id IN (SELECT loan_id FROM loans WHERE amount < 160000 OR loan_id = {X})")
        => Refuse("loans.amount", "combines");
    coalesce_swaps_in_the_amount_for_one_loan:
        format!("SELECT COUNT(*) FROM loans WHERE COALESCE(NULLIF(loan_id, {X}) * 0, amount) < 700000")
        => Refuse("loans.amount", "combines");
    amount_compared_with_a_plain_column:
        "SELECT COUNT(*) FROM loans WHERE amount > loan_id - 2000000000 + 769000"
        => Refuse("loans.amount", "combines");
    mixed_condition_computed_in_a_derived_table:
        format!("SELECT MAX(a) FROM (SELECT amount AS a, loan_id = {X} OR amount < 160000 AS keep FROM loans) t WHERE keep")
        => Refuse("loans.amount", "combines");
    salary_or_a_masked_name:
        "SELECT MAX(salary) FROM persons WHERE salary < 15000 OR name LIKE 'L%'"
        => Refuse("persons.salary", "combines");
    separate_conditions_only_narrow_the_group:
        "SELECT COUNT(*), SUM(amount) FROM loans WHERE amount > 120000 AND status = 'active'"
        => RevealNothing;
}
