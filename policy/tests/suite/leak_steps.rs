//! Arithmetic that looks linear but is a step. Integer division, float rounding and
//! integer overflow map all rows but one to the same value, so inside a statistic they
//! pick rows as a FILTER does: `SUM((loan_id - x + 128) / 128 - (loan_id - x + 127) /
//! 128)` is 1 for loan x alone, and over the loans below t it says whether x's amount
//! is below t. An aggregate over protected data, or over a group it chose, takes only
//! arithmetic that keeps the rows' values apart and in place.

use arrow::array::RecordBatch;

use super::attack::Must::*;
use super::attack::assert_walk_stops_at_its_first_probe;
use super::common::*;

const X: i64 = TARGET_LOAN;

/// Is 1 for loan x alone among ids within 127 of it.
fn indicator() -> String {
    format!("(loan_id - {X} + 128) / 128 - (loan_id - {X} + 127) / 128")
}

attacks! {
    integer_division_indicator_over_the_loans_below_a_threshold:
        format!("SELECT SUM({}) FROM loans WHERE amount < 769146", indicator())
        => Refuse("loans.amount", "FILTER");
    integer_division_indicator_counted_distinct:
        format!("SELECT COUNT(DISTINCT {}) FROM loans WHERE amount < 769146", indicator())
        => Refuse("loans.amount", "FILTER");
    integer_division_indicator_in_a_derived_table:
        format!("SELECT SUM(i) FROM (SELECT {} AS i, amount FROM loans) t WHERE amount < 769146", indicator())
        => Refuse("loans.amount", "FILTER");
    integer_division_indicator_times_the_amount:
        format!("SELECT SUM(({}) * 1000000 + amount) FROM loans", indicator())
        => Refuse("loans.amount", "FILTER");
    modulo_indicator_over_the_loans_below_a_threshold:
        format!("SELECT SUM((loan_id - {X}) % 2) FROM loans WHERE amount < 769146")
        => Refuse("loans.amount", "FILTER");
    integer_division_of_the_amount_counts_a_band:
        "SELECT SUM(amount / 769145) FROM loans"
        => Refuse("loans.amount", "FILTER");
    float_rounding_keeps_only_the_high_bits:
        "SELECT SUM((CAST(amount AS DOUBLE) + 576460752303423488.0) - 576460752303423488.0) FROM loans"
        => Refuse("loans.amount", "FILTER");
    float_rounding_of_an_id_over_the_loans_below_a_threshold:
        format!("SELECT SUM((CAST(loan_id AS DOUBLE) - {X}.5 + 4503599627370496.0) - 4503599627370496.0) FROM loans WHERE amount < 769146")
        => Refuse("loans.amount", "FILTER");
    a_computed_integer_cast_to_a_float_rounds:
        "SELECT SUM(CAST(amount + 9007199254000000 AS DOUBLE)) FROM loans"
        => Refuse("loans.amount", "FILTER");
    overflow_keeps_the_parity_under_an_average:
        format!("SELECT AVG((loan_id - {X}) * 4611686018427387904) FROM loans WHERE amount < 769146")
        => Refuse("loans.amount", "FILTER");
    overflow_keeps_the_parity_cast_to_a_float:
        "SELECT SUM(CAST(amount * 4611686018427387904 AS DOUBLE)) FROM loans"
        => Refuse("loans.amount", "FILTER");
    a_float_scaled_past_overflow:
        "SELECT SUM(CAST(amount AS DOUBLE) * 1e300 * 1e300) FROM loans"
        => Refuse("loans.amount", "FILTER");
    a_float_scaled_to_nothing:
        "SELECT AVG(CAST(amount AS DOUBLE) / 1e200 / 1e200) FROM loans"
        => Refuse("loans.amount", "FILTER");
    distinct_over_a_multiple_of_the_amount:
        "SELECT COUNT(DISTINCT amount * 4611686018427387904) FROM loans"
        => Refuse("loans.amount", "FILTER");
    max_of_a_band_of_the_amount:
        "SELECT MAX(amount / 1000) FROM loans WHERE status = 'active'"
        => Refuse("loans.amount", "FILTER");
    max_of_a_wrapped_amount:
        "SELECT MAX(amount * 4611686018427387904) FROM loans"
        => Refuse("loans.amount", "not a statistic");
    max_of_a_scaled_amount_is_not_the_column:
        "SELECT MAX(CAST(amount AS DOUBLE) * 2.0) FROM loans"
        => Refuse("loans.amount", "not a statistic");
    // An outer join is a step too: the padded side is NULL wherever its condition
    // found no match.
    a_left_join_pads_all_loans_but_one:
        format!("SELECT SUM(t.one) FROM loans LEFT JOIN (SELECT loan_id AS id, 1 AS one FROM loans WHERE loan_id = {X}) t ON loans.loan_id = t.id WHERE loans.amount < 769146")
        => Refuse("loans.amount", "FILTER");
    a_left_join_on_a_values_row:
        format!("SELECT COUNT(t.id) FROM loans LEFT JOIN (VALUES ({X})) t(id) ON loans.loan_id = t.id WHERE loans.amount < 769146")
        => Refuse("loans.amount", "");
    a_right_join_pads_the_other_way:
        format!("SELECT SUM(t.id - {X} + 1) FROM (SELECT loan_id AS id FROM loans WHERE loan_id = {X}) t RIGHT JOIN loans ON loans.loan_id = t.id WHERE loans.amount < 769146")
        => Refuse("loans.amount", "FILTER");
    a_padded_amount_counted_in_rows_it_does_not_fill:
        "SELECT p.city, SUM(l.amount) FROM persons p LEFT JOIN loans l ON l.person_id = p.person_id AND l.amount > 700000 GROUP BY p.city"
        => Refuse("loans.amount", "");
    // Exact arithmetic stays a statistic.
    an_integer_sum_of_a_shifted_amount_is_fine:
        "SELECT SUM(amount + 5), COUNT(amount * 3) FROM loans"
        => RevealNothing;
    a_scaled_float_average_is_fine:
        "SELECT AVG(CAST(amount AS DOUBLE) * 2.5), SUM(CAST(amount AS DOUBLE) / 1000.0) FROM loans"
        => RevealNothing;
    arithmetic_outside_the_aggregate_is_fine:
        "SELECT AVG(amount) + 5, SUM(amount) / 100 FROM loans"
        => RevealNothing;
    an_integer_sum_of_a_shifted_id_over_the_loans_below_a_threshold_is_fine:
        format!("SELECT SUM(loan_id - {X}), COUNT(*) FROM loans WHERE amount < 769146")
        => RevealNothing;
}

/// The attack as a walk: a binary search over the threshold, which needs only that the
/// first probe is answered. It is refused, so the walk learns nothing.
#[tokio::test]
async fn the_binary_search_stops_at_its_first_probe() {
    let probe = |t| format!("SELECT SUM({}) FROM loans WHERE amount < {t}", indicator());
    // Suppressed groups come out empty; either way, move on as the attacker would.
    let below =
        |a: Option<&[RecordBatch]>| a.is_some_and(|b| cells(b).first().is_some_and(|c| c == "1"));
    assert_walk_stops_at_its_first_probe((0, 2_000_000), probe, below).await;
}
