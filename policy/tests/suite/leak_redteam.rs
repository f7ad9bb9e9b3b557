//! A second round of attacks across the classes, in shapes the other suites do not try.
//! The first part closed gaps:
//! - A LIMIT or OFFSET over rows a protected filter chose ranks them: the first five
//!   loans from x on among those below t are x..x+4 or x+1..x+5, whatever the order
//!   (a plain ORDER BY, or none), as ROW_NUMBER() would.
//! - A cast to REAL (Float32) rounds ids (any value past 2^24) to 24 bits:
//!   `CAST(CAST(loan_id AS DOUBLE) * c AS REAL)` is a step whose edge sits between loan
//!   x - 1 and loan x, so two such sums over one group differ by 128 exactly when x is
//!   in it. Only a cast to DOUBLE counts as exact.
//! - The float scale budget counts each constant's factor to 1/1024 of a power of two:
//!   rounded to whole powers, 218 factors of 1.41421 counted as 2^0 and scaled by 2^109.
//! - A disjunction of conditions on two aggregate-level columns is mixing: the amount is
//!   unique per loan, so `amount < t OR (amount >= u AND employer = e)` pads the largest
//!   loan with the small ones, and the count says its employer.
//! - `DISTRIBUTE BY` plans a `Repartition` by expressions, refused whole.
//!
//! The second part holds new shapes of the known classes, refused or safe.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;

/// `id * C1` rounds (as a Float32) to 2000000128 for ids >= x, to 2000000000 below.
const C1: &str = "1.0000000167499998";
/// `id * C2` rounds to 2000000128 for ids > x only.
const C2: &str = "1.0000000162499998";

/// 218 factors of 1.41421, each counted as 2^0 by the scale budget: 2^109 in all.
fn drift() -> String {
    " * 1.41421".repeat(218)
}

attacks! {
    // ==== closed gaps =====================================================================

    // ---- a LIMIT ranks the rows a protected filter chose ------------------------------
    // Of the loans from x on below t, the five first by id are x..x+4 when x's amount is
    // below t and x+1..x+5 when it is not: SUM(loan_id) - 5x is 10 or 15, one statistic
    // over five loans of five borrowers. A binary search on t finds x's amount.
    limit_over_rows_an_amount_chose_ranks_them:
        format!("SELECT SUM(loan_id) - 5 * {X}, COUNT(*) FROM (SELECT loan_id FROM loans WHERE amount < 769146 AND loan_id >= {X} ORDER BY loan_id LIMIT 5) t")
        => Refuse("loans.amount", "LIMIT");
    // The same at t = x's amount: 15.
    limit_over_rows_an_amount_chose_without_the_loan:
        format!("SELECT SUM(loan_id) - 5 * {X}, COUNT(*) FROM (SELECT loan_id FROM loans WHERE amount < 769145 AND loan_id >= {X} ORDER BY loan_id LIMIT 5) t")
        => Refuse("loans.amount", "LIMIT");
    offset_over_rows_an_amount_chose:
        format!("SELECT SUM(loan_id) - 5 * {X}, COUNT(*) FROM (SELECT loan_id FROM loans WHERE amount < 769146 AND loan_id >= {X} ORDER BY loan_id LIMIT 5 OFFSET 1) t")
        => Refuse("loans.amount", "LIMIT");
    // Without ORDER BY the scan's order ranks them the same way.
    limit_in_storage_order_over_rows_an_amount_chose:
        format!("SELECT SUM(loan_id) - 5 * {X}, COUNT(*) FROM (SELECT loan_id FROM loans WHERE amount < 769146 AND loan_id >= {X} LIMIT 5) t")
        => Refuse("loans.amount", "LIMIT");
    // The protected condition in a join, not a WHERE.
    limit_over_rows_a_join_on_amounts_chose:
        format!("SELECT SUM(a.loan_id) - 5 * {X} FROM (SELECT a.loan_id FROM loans a JOIN loans b ON a.loan_id = b.loan_id AND b.amount < 769146 WHERE a.loan_id >= {X} ORDER BY a.loan_id LIMIT 5) a")
        => Refuse("loans.amount", "LIMIT");
    // The five first loans from x on that are not City Transit's: 16 if x is among
    // them, 23 if it is City Transit's.
    limit_over_rows_an_employer_chose_ranks_them:
        format!("SELECT SUM(loan_id) - 5 * {X}, COUNT(*) FROM (SELECT loan_id FROM loans WHERE employer <> 'City Transit' AND loan_id >= {X} ORDER BY loan_id LIMIT 5) t")
        => Refuse("loans.employer", "LIMIT");

    // ---- float steps the budget misses ------------------------------------------------
    // 128/n when loan x's amount is below t, 0 when it is not (next attack).
    float32_rounding_isolates_one_id_over_the_loans_below_a_threshold:
        format!("SELECT AVG(CAST(CAST(loan_id AS DOUBLE) * {C1} AS REAL)) - AVG(CAST(CAST(loan_id AS DOUBLE) * {C2} AS REAL)), COUNT(*) FROM loans WHERE amount < 769146")
        => Refuse("loans.amount", "FILTER");
    float32_rounding_without_the_loan_below_its_own_amount:
        format!("SELECT AVG(CAST(CAST(loan_id AS DOUBLE) * {C1} AS REAL)) - AVG(CAST(CAST(loan_id AS DOUBLE) * {C2} AS REAL)), COUNT(*) FROM loans WHERE amount < 769145")
        => Refuse("loans.amount", "FILTER");
    // One sum: 31 * 2000000000 + 128 when x is below t.
    float32_rounding_counts_one_id_in_one_sum:
        format!("SELECT SUM(CAST(CAST(loan_id AS DOUBLE) * {C1} AS REAL)), COUNT(*) FROM loans WHERE amount < 769146 AND loan_id <= {X}")
        => Refuse("loans.amount", "FILTER");
    // Over the Grid Power loans the two steps differ by 128 exactly when loan x is one
    // of them: its employer, in one answer over 14 loans.
    float32_rounding_says_whether_one_loan_is_grid_powers:
        format!("SELECT SUM(CAST(CAST(loan_id AS DOUBLE) * {C1} AS REAL)) - SUM(CAST(CAST(loan_id AS DOUBLE) * {C2} AS REAL)), COUNT(*) FROM loans WHERE employer = 'Grid Power'")
        => Refuse("loans.employer", "FILTER");
    // The bare cast is the same step (here every id rounds to 2000000000).
    direct_cast_of_an_id_to_real_rounds:
        "SELECT SUM(CAST(loan_id AS REAL)) FROM loans WHERE amount < 769146"
        => Refuse("loans.amount", "FILTER");
    // 218 factors of 1.41421 count as 2^0 but scale by 2^109: only 769145 overflows
    // REAL, so the average is infinite.
    scale_drift_then_real_overflows_for_the_largest_amount:
        format!("SELECT AVG(CAST(CAST(amount AS DOUBLE){} AS REAL)) FROM loans", drift())
        => Refuse("loans.amount", "FILTER");

    // ---- padding inside aggregate-level data alone --------------------------------------
    // The amount is unique per loan, so a disjunction of aggregate-level conditions pads
    // the largest loan (x, 769145) with the 13 below 200000: 14 says it is Grid Power's.
    employer_of_the_largest_loan_padded_with_small_ones:
        "SELECT COUNT(*) FROM loans WHERE amount < 200000 OR (amount >= 769000 AND employer = 'Grid Power')"
        => Refuse("loans.employer", "combines");

    // ---- DISTRIBUTE BY ---------------------------------------------------------------------
    // DISTRIBUTE BY plans a Repartition by expressions, here an integer division by
    // zero in a branch the amount chooses. DataFusion 55 cannot execute it whatever the
    // data, but an analysis that passed it through would not have read them.
    distribute_by_division_in_a_branch_chosen_by_amount:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, amount FROM loans DISTRIBUTE BY CASE WHEN loan_id = {X} AND amount >= 700000 THEN loan_id / (loan_id - loan_id) ELSE 0 END) t")
        => RefuseUnsupported("DISTRIBUTE BY");

    // ==== coverage: new shapes, refused or safe today ===================================

    // ---- rows that repeat ----------------------------------------------------------------
    cross_join_with_values_repeats_one_loan:
        format!("SELECT MAX(l.amount), COUNT(*) FROM loans l CROSS JOIN (VALUES (1), (2), (3), (4), (5)) v(n) WHERE l.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_on_a_key_made_non_unique_by_an_inner_join:
        format!("SELECT MAX(a.amount), COUNT(*) FROM loans a JOIN (SELECT b.loan_id FROM loans b JOIN loans c ON b.status = c.status) d ON a.loan_id = d.loan_id WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    join_using_a_key_repeated_by_unnest:
        format!("SELECT MIN(a.amount) FROM loans a JOIN (SELECT loan_id, unnest(make_array(1, 2, 3, 4, 5)) AS n FROM loans) b USING (loan_id) WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    natural_join_with_contributions_uses_a_denied_column:
        "SELECT COUNT(*) FROM loans NATURAL JOIN contributions"
        => Refuse("contributions.employer", "");

    // ---- anti joins and set operations that turn conjuncts into disjuncts --------------
    except_all_pads_one_loan_with_small_ones:
        format!("SELECT MAX(amount), COUNT(*) FROM (SELECT loan_id, amount FROM loans EXCEPT ALL SELECT loan_id, amount FROM loans WHERE amount >= 200000 AND loan_id <> {X}) t")
        => Refuse("loans.amount", "");
    left_anti_join_pads_one_loan_with_small_ones:
        format!("SELECT MAX(a.amount) FROM loans a LEFT ANTI JOIN (SELECT loan_id FROM loans WHERE amount >= 200000 AND loan_id <> {X}) b ON a.loan_id = b.loan_id")
        => Refuse("loans.amount", "");
    left_join_is_null_pads_one_loan_with_small_ones:
        format!("SELECT MAX(a.amount) FROM loans a LEFT JOIN (SELECT loan_id FROM loans WHERE amount < 200000) b ON a.loan_id = b.loan_id WHERE b.loan_id IS NOT NULL OR a.loan_id = {X}")
        => Refuse("loans.amount", "");
    semi_join_with_a_mixed_condition:
        format!("SELECT MAX(a.amount) FROM loans a LEFT SEMI JOIN loans b ON a.loan_id = b.loan_id AND (a.amount < 160000 OR b.loan_id = {X})")
        => Refuse("loans.amount", "combines");
    padding_through_an_equality_on_the_amount_of_one_loan:
        format!("SELECT MAX(a.amount) FROM loans a JOIN (SELECT amount AS m FROM loans WHERE loan_id = {X}) b ON a.amount = b.m OR a.amount < 160000")
        => Refuse("loans.amount", "");

    // ---- errors, windows, aggregates that are not statistics, small groups -------------
    failing_division_after_a_join_an_amount_chose:
        format!("SELECT SUM(1 / (a.loan_id - {X})) FROM loans a JOIN (SELECT loan_id FROM loans WHERE amount > 760000) b ON a.loan_id = b.loan_id")
        => Refuse("loans.amount", "can fail");
    qualify_row_number_over_rows_an_amount_chose:
        "SELECT COUNT(*) FROM (SELECT loan_id FROM loans WHERE amount > 300000 QUALIFY ROW_NUMBER() OVER (ORDER BY loan_id) = 1) t"
        => Refuse("loans.amount", "window");
    window_in_a_subquery_then_a_filter_on_the_amount:
        "SELECT SUM(amount), COUNT(*) FROM (SELECT amount, ROW_NUMBER() OVER (ORDER BY loan_id) AS rn FROM loans) t WHERE amount < 160000 OR rn = 31"
        => Refuse("loans.amount", "combines");
    variance_of_a_padded_group:
        format!("SELECT var_pop(amount), stddev(amount) FROM loans WHERE loan_id IN ({X}, 2000000001, 2000000006, 2000000007, 2000000008)")
        => Refuse("loans.amount", "not a statistic");
    grouping_over_rows_an_amount_chose:
        "SELECT status, grouping(status), COUNT(*) FROM loans WHERE amount > 300000 GROUP BY status"
        => Refuse("loans.amount", "");
    one_persons_loans_joined_to_persons:
        "SELECT SUM(l.amount), COUNT(*) FROM loans l JOIN persons p ON l.person_id = p.person_id WHERE l.loan_id <= 2000000005"
        => Empty;
}
