//! Leak class 1: a join that repeats rows passing as a join on a unique key. One loan
//! joined to many rows fills a "group" alone, so its amount comes out of MAX or AVG.
//! Only an equality between the declared key of one side and a column of the other,
//! each bare or through an injective cast, keeps the other side's rows unrepeated.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;

attacks! {
    join_on_lossy_boolean_casts:
        format!("SELECT MAX(loans.amount), COUNT(*) FROM loans JOIN loans l2 ON CAST(loans.loan_id AS BOOLEAN) = CAST(l2.loan_id AS BOOLEAN) WHERE loans.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_on_one_sides_key_with_itself:
        format!("SELECT MAX(loans.amount), COUNT(*) FROM loans JOIN loans l2 ON l2.loan_id = l2.loan_id WHERE loans.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_on_key_against_an_expression_of_both_sides:
        format!("SELECT MAX(loans.amount) FROM loans JOIN loans l2 ON l2.loan_id = l2.loan_id + loans.loan_id - loans.loan_id WHERE loans.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_on_the_left_key_with_itself:
        format!("SELECT AVG(loans.amount) FROM loans JOIN loans l2 ON loans.loan_id = loans.loan_id WHERE loans.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_on_try_casts_to_boolean:
        format!("SELECT MIN(loans.amount) FROM loans JOIN loans l2 ON TRY_CAST(loans.loan_id AS BOOLEAN) = TRY_CAST(l2.loan_id AS BOOLEAN) WHERE loans.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_on_a_boolean_cast_cast_back:
        format!("SELECT MAX(loans.amount) FROM loans JOIN loans l2 ON CAST(CAST(loans.loan_id AS BOOLEAN) AS BIGINT) = CAST(CAST(l2.loan_id AS BOOLEAN) AS BIGINT) WHERE loans.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_on_a_self_match_beside_a_real_condition:
        format!("SELECT MAX(loans.amount), COUNT(*) FROM loans JOIN loans l2 ON l2.loan_id = l2.loan_id AND loans.status = l2.status WHERE loans.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_a_derived_table_on_lossy_casts:
        format!("SELECT MAX(loans.amount) FROM loans JOIN (SELECT loan_id AS k FROM loans) l2 ON CAST(loans.loan_id AS BOOLEAN) = CAST(l2.k AS BOOLEAN) WHERE loans.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_on_a_self_match_in_the_where_of_a_subquery_side:
        format!("SELECT AVG(a.amount) FROM loans a JOIN (SELECT * FROM loans) b ON b.loan_id = b.loan_id WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_repeats_an_aggregate_level_text:
        format!("SELECT MAX(loans.employer) FROM loans JOIN loans l2 ON CAST(loans.loan_id AS BOOLEAN) = CAST(l2.loan_id AS BOOLEAN) WHERE loans.loan_id = {X}")
        => Refuse("loans.employer", "repeat");
    join_on_text_of_the_key_with_a_constant_suffix:
        format!("SELECT MAX(loans.amount) FROM loans JOIN loans l2 ON CAST(loans.loan_id % 1 AS VARCHAR) = CAST(l2.loan_id % 1 AS VARCHAR) WHERE loans.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_on_a_key_pair_from_the_same_side_in_where_form:
        format!("SELECT MAX(a.amount) FROM loans a INNER JOIN loans b ON a.loan_id = a.loan_id AND b.loan_id = b.loan_id WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    a_join_on_the_declared_key_still_counts:
        "SELECT a.status, SUM(a.amount) FROM loans a JOIN loans b ON a.loan_id = b.loan_id GROUP BY a.status"
        => RevealNothing;
    // An aggregate with several grouping sets puts a key out once per set.
    join_against_grouping_sets_that_repeat_the_key:
        format!("SELECT SUM(a.amount), COUNT(*) FROM loans a JOIN (SELECT loan_id FROM loans GROUP BY GROUPING SETS ((loan_id), (loan_id, status), (loan_id, loan_id + 1), (loan_id, loan_id + 2), (loan_id, loan_id + 3))) b ON a.loan_id = b.loan_id WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_against_a_rollup_of_the_key:
        format!("SELECT MAX(a.amount) FROM loans a JOIN (SELECT loan_id, status FROM loans GROUP BY ROLLUP(loan_id, status)) b ON a.loan_id = b.loan_id WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_against_a_cube_of_the_key:
        format!("SELECT AVG(a.amount) FROM loans a JOIN (SELECT loan_id FROM loans GROUP BY CUBE(loan_id, status)) b ON a.loan_id = b.loan_id WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
}
