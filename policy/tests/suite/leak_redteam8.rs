//! An eighth red team: per-row data hidden in constants (UNION branches, GROUPING SETS)
//! inside semi joins, protected columns that a GROUP BY in a subquery drops on the
//! floor (outer references in EXISTS, IN and ANY, the other side of a semi join or an
//! INTERSECT), grouping sets, DISTINCT ON, scalar subqueries in every clause, window
//! frames, aggregates that return members, error oracles through functions not tried
//! before, masks and the row filter, type coercion, ORDER BY by position and alias, and
//! a plan whose tree is exponentially larger than its SQL. Each tries to learn loan x's
//! amount or employer, a salary, a borrower, or a row the row filter hides.
//!
//! When written, 14 attacks of the first two sections got through (constants a UNION
//! or GROUPING SETS makes per-row; a GROUP BY that dropped the protected columns of an
//! outer query or of a semi join's other side), both walks recovered loan x's amount,
//! and the shared-subtree plan took 6 to 10 s to decide.

use arrow::array::RecordBatch;

use super::attack::Must::*;
use super::attack::assert_walk_stops_at_its_first_probe;
use super::common::{TARGET_LOAN, cells, req, world};

const X: i64 = TARGET_LOAN;
/// Loan 21: amount 258380, neither the smallest nor the largest.
const Y: i64 = 2_000_000_021;

/// Every loan but x carries flag 0, loan x flag 1: a UNION ALL of two branches, each a
/// constant, so the flag's lineage is empty although it says which loan a row is.
fn flagged(one: i64) -> String {
    format!(
        "(SELECT loan_id, 1 AS f FROM loans WHERE loan_id = {one} UNION ALL SELECT loan_id, 0 AS f FROM loans WHERE loan_id <> {one})"
    )
}

/// 40 loans when loan x's amount is below `t`, 39 when it is not: a semi join whose
/// condition pads x with every other loan through the flag.
fn union_flag_probe(t: i64) -> String {
    format!(
        "SELECT COUNT(*) FROM loans a LEFT SEMI JOIN {} u ON a.loan_id = u.loan_id AND (u.f = 0 OR a.amount < {t})",
        flagged(X)
    )
}

/// A count of 1 when loan x's amount is below `t`, 0 when it is not: the outer amount
/// is read in a subquery whose GROUP BY drops it from the rows the EXISTS tests.
fn grouped_exists_probe(t: i64) -> String {
    format!(
        "SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND a.amount < {t} GROUP BY b.loan_id)"
    )
}

/// The one count an answer holds.
fn count_of(a: Option<&[RecordBatch]>) -> Option<i64> {
    a.and_then(|b| cells(b).first().and_then(|c| c.parse().ok()))
}

attacks! {
    // ==== per-row data hidden in constants, inside a semi join =========================

    // A semi join repeats nothing, so the "rows that repeat" rule does not see the
    // union; its condition reads the amount and a flag whose lineage is empty.
    semi_join_on_a_union_branch_flag_counts_one_loan_below_a_threshold:
        union_flag_probe(769_146)
        => Refuse("loans.amount", "combines");
    // The loans below 200000 and loan y: MAX is y's amount.
    semi_join_on_a_union_branch_flag_pads_one_loan_with_small_ones:
        format!("SELECT MAX(a.amount), COUNT(*) FROM loans a LEFT SEMI JOIN {} u ON a.loan_id = u.loan_id AND (u.f = 1 OR a.amount < 200000)", flagged(Y))
        => Refuse("loans.amount", "combines");
    semi_join_on_a_union_branch_flag_says_one_loans_employer:
        format!("SELECT COUNT(*) FROM loans a LEFT SEMI JOIN {} u ON a.loan_id = u.loan_id AND (u.f = 0 OR a.employer = 'Grid Power')", flagged(X))
        => Refuse("loans.employer", "combines");
    // Ranges of ids made of constant SELECTs: no dataset on that side at all.
    right_semi_join_on_ranges_of_constant_selects:
        format!("SELECT COUNT(*) FROM (SELECT {X} AS lo, {X} AS hi, 1 AS f UNION ALL SELECT 0, {X} - 1, 0 UNION ALL SELECT {X} + 1, 9000000000, 0) r RIGHT SEMI JOIN loans a ON a.loan_id BETWEEN r.lo AND r.hi AND (r.f = 0 OR a.amount < 769146)")
        => Refuse("loans.amount", "combines");
    // Person 10 (born 1970) keyed by the masked id number (its last four digits are
    // unique): 16 persons when the salary is below 27771, else 15.
    semi_join_on_a_union_branch_flag_pins_one_persons_salary:
        "SELECT COUNT(*) FROM persons p LEFT SEMI JOIN (SELECT id_number, 1 AS f FROM persons WHERE EXTRACT(YEAR FROM birth_date) = 1970 UNION ALL SELECT id_number, 0 FROM persons WHERE EXTRACT(YEAR FROM birth_date) <> 1970) u ON p.id_number = u.id_number AND (u.f = 0 OR p.salary < 27771)"
        => Refuse("persons.salary", "combines");
    // INTERSECT ALL is a semi join on every column: (id, amount < t) against every id
    // with both flags, but x with `true` only.
    intersect_all_with_constant_flags_keeps_one_loan_by_its_amount:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, amount < 769146 AS below FROM loans INTERSECT ALL (SELECT loan_id, true FROM loans UNION ALL SELECT loan_id, false FROM loans WHERE loan_id <> {X})) t")
        => Refuse("loans.amount", "");
    // GROUPING SETS turn a constant into per-row data: `c` is NULL in one set and 'all'
    // in the other, and the HAVING keeps only the NULL row of loan x.
    semi_join_on_a_grouping_set_constant:
        format!("SELECT COUNT(*) FROM loans a LEFT SEMI JOIN (SELECT loan_id, c FROM (SELECT loan_id, 'all' AS c FROM loans) s GROUP BY GROUPING SETS ((loan_id), (loan_id, c)) HAVING loan_id <> {X} OR c IS NULL) g ON a.loan_id = g.loan_id AND (g.c = 'all' OR a.amount < 769146)")
        => Refuse("loans.amount", "combines");

    // ==== protected columns a GROUP BY in a subquery drops =============================

    // The outer amount decides whether the subquery has groups; its projection of a
    // constant forgets what decided them.
    exists_over_a_grouped_subquery_reading_the_outer_amount:
        grouped_exists_probe(769_146)
        => Refuse("loans.amount", "");
    // Every loan at or above 700000, by id: no aggregate at all.
    exists_over_a_grouped_subquery_lists_the_large_loans:
        "SELECT loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND a.amount >= 700000 GROUP BY b.loan_id)"
        => Refuse("loans.amount", "");
    in_a_constant_of_a_grouped_subquery_reading_the_outer_employer:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND 1 IN (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND a.employer = 'Grid Power' GROUP BY b.loan_id)")
        => Refuse("loans.employer", "");
    any_of_a_grouped_subquery_reading_the_outer_salary:
        "SELECT COUNT(*) FROM persons p WHERE EXTRACT(YEAR FROM birth_date) = 1970 AND 1 = ANY (SELECT 1 FROM persons q WHERE q.person_id = p.person_id AND p.salary >= 27770 GROUP BY q.city)"
        => Refuse("persons.salary", "");
    // The loans of person 17, whom the row filter hides: a join-level column against a
    // literal.
    exists_over_a_grouped_subquery_picks_one_borrowers_loans:
        "SELECT loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND a.person_id = 17 GROUP BY b.loan_id)"
        => Refuse("loans.person_id", "");
    // The other side of a semi join chose the rows; a GROUP BY, counted outside.
    group_by_over_a_semi_join_on_large_loans_counted_outside:
        format!("SELECT COUNT(*) FROM (SELECT a.loan_id FROM loans a LEFT SEMI JOIN (SELECT loan_id FROM loans WHERE amount >= 769145) b ON a.loan_id = b.loan_id WHERE a.loan_id = {X} GROUP BY a.loan_id) t")
        => Refuse("loans.amount", "");
    intersect_then_group_by_counts_one_large_loan:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM (SELECT loan_id FROM loans WHERE loan_id = {X} INTERSECT SELECT loan_id FROM loans WHERE amount >= 769145) i GROUP BY loan_id) t")
        => Refuse("loans.amount", "");
    // Without the GROUP BY the same semi join is refused: the count carries the amount.
    semi_join_on_large_loans_counted_directly:
        format!("SELECT COUNT(*) FROM (SELECT a.loan_id FROM loans a LEFT SEMI JOIN (SELECT loan_id FROM loans WHERE amount >= 769145) b ON a.loan_id = b.loan_id WHERE a.loan_id = {X}) t")
        => Refuse("loans.amount", "");
    // A HAVING on the grouped subquery's count reads what the GROUP BY carried.
    exists_over_a_grouped_subquery_with_a_having_on_its_count:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND a.amount < 769146 GROUP BY b.loan_id HAVING COUNT(*) > 0)")
        => Refuse("loans.amount", "");

    // ==== grouping sets ================================================================

    // A plain column beside a ROLLUP: DataFusion enumerates them into grouping sets.
    rollup_of_one_loans_flag_beside_a_plain_column:
        format!("SELECT status, COUNT(*), SUM(amount) FROM loans GROUP BY status, ROLLUP(loan_id = {X})")
        => Refuse("loans.amount", "GROUPING SETS");
    the_same_grouping_set_twice:
        "SELECT status, AVG(amount) FROM loans GROUP BY GROUPING SETS ((status), (status))"
        => Refuse("loans.amount", "GROUPING SETS");
    // Counts only, of rows the amount chose: the total minus the released statuses.
    rollup_of_statuses_counting_loans_an_amount_chose:
        "SELECT status, COUNT(*) FROM loans WHERE amount > 300000 GROUP BY ROLLUP(status)"
        => Refuse("loans.amount", "GROUPING SETS");
    grouping_function_over_a_cube_of_large_loans:
        "SELECT status, GROUPING(status), COUNT(*) FROM loans WHERE amount > 300000 GROUP BY CUBE(status)"
        => Refuse("loans.amount", "");
    a_cube_of_plain_columns_is_fine:
        "SELECT status, loan_id > 2000000020 AS late, COUNT(*) FROM loans GROUP BY CUBE(status, loan_id > 2000000020)"
        => RevealNothing;

    // ==== DISTINCT ON ==================================================================

    distinct_on_status_ordered_by_employer:
        "SELECT SUM(loan_id) FROM (SELECT DISTINCT ON (status) status, loan_id FROM loans ORDER BY status, employer DESC, loan_id) t"
        => Refuse("loans.employer", "DISTINCT ON");
    // Ten chosen loans of six borrowers; DISTINCT ON drops the subject key.
    distinct_on_a_residue_of_the_id_then_summed:
        "SELECT COUNT(*), SUM(amount) FROM (SELECT DISTINCT ON (loan_id % 10) loan_id, amount FROM loans ORDER BY loan_id % 10, loan_id) t"
        => Refuse("loans.amount", "subject key");

    // ==== scalar subqueries in every clause ============================================

    scalar_subquery_in_having_counts_one_large_loan:
        format!("SELECT status, COUNT(*) FROM loans GROUP BY status HAVING COUNT(*) > 100 * (SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145)")
        => Refuse("loans.amount", "can fail");
    scalar_subquery_in_a_join_condition_on_each_loans_amount:
        "SELECT COUNT(*) FROM loans a JOIN loans c ON a.loan_id = c.loan_id AND (SELECT COUNT(*) FROM loans b WHERE b.loan_id = a.loan_id AND b.amount >= 769145) = 0"
        => Refuse("loans.amount", "");
    scalar_subquery_in_order_by_then_limit:
        format!("SELECT SUM(loan_id) - {X} FROM (SELECT loan_id FROM loans a ORDER BY (SELECT MAX(b.amount) FROM loans b WHERE b.loan_id = a.loan_id) DESC LIMIT 1) t")
        => Refuse("loans.amount", "");

    // ==== window frames ================================================================

    sliding_sum_of_three_amounts_by_id:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, SUM(amount) OVER (ORDER BY loan_id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS s FROM loans) t WHERE loan_id = {X} AND s > 1000000")
        => Refuse("loans.amount", "window");
    ntile_over_rows_an_employer_chose:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, ntile(4) OVER (PARTITION BY status ORDER BY loan_id) AS b FROM loans WHERE employer <> 'City Transit') t WHERE loan_id = {X} AND b = 4")
        => Refuse("loans.employer", "window");
    cume_dist_over_large_loans:
        format!("SELECT MAX(c) FROM (SELECT loan_id, cume_dist() OVER (ORDER BY loan_id) AS c FROM loans WHERE amount > 300000) t WHERE loan_id = {X}")
        => Refuse("loans.amount", "window");
    percent_rank_partitioned_by_an_amount_band:
        format!("SELECT MAX(r) FROM (SELECT loan_id, percent_rank() OVER (PARTITION BY amount > 500000 ORDER BY loan_id) AS r FROM loans) t WHERE loan_id = {X}")
        => Refuse("loans.amount", "window");
    running_total_of_released_group_sums:
        "SELECT status, SUM(SUM(amount)) OVER (ORDER BY status ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM loans GROUP BY status"
        => RevealNothing;
    // Five loans of five borrowers, picked by a row number on the id: a statistic.
    row_number_in_a_derived_table_then_a_band_of_five:
        "SELECT SUM(amount), COUNT(*) FROM (SELECT amount, row_number() OVER (ORDER BY loan_id) AS rn FROM loans) t WHERE rn BETWEEN 27 AND 31"
        => RevealNothing;

    // ==== aggregates that return members, or are not statistics ========================

    median_of_distinct_amounts_per_status:
        "SELECT status, median(DISTINCT amount) FROM loans GROUP BY status"
        => Refuse("loans.amount", "median()");
    // A weight of 1000 on loan x makes its amount the weighted median.
    weighted_percentile_with_all_the_weight_on_one_loan:
        format!("SELECT approx_percentile_cont_with_weight(CASE WHEN loan_id = {X} THEN 1000.0 ELSE 1.0 END, 0.5) WITHIN GROUP (ORDER BY amount) FROM loans")
        => Refuse("loans.amount", "");
    bit_or_of_ids_of_grid_powers_loans:
        format!("SELECT bit_or(loan_id - {X}) FROM loans WHERE employer = 'Grid Power' AND loan_id >= {X}")
        => Refuse("loans.employer", "members");
    variance_of_ids_over_rows_an_employer_chose:
        format!("SELECT var_pop(CAST(loan_id - {X} AS DOUBLE)) FROM loans WHERE employer = 'Grid Power' AND loan_id >= {X} - 1")
        => Refuse("loans.employer", "");
    count_distinct_of_amount_bands:
        "SELECT COUNT(DISTINCT amount / 100000) FROM loans"
        => Refuse("loans.amount", "FILTER");
    approx_distinct_of_amounts_per_status:
        "SELECT status, approx_distinct(amount) FROM loans GROUP BY status"
        => Refuse("loans.amount", "not a statistic");
    first_value_aggregate_ordered_by_amount:
        "SELECT first_value(loan_id ORDER BY amount DESC) FROM loans"
        => Refuse("loans.amount", "ORDER BY");
    string_agg_of_statuses_ordered_by_employer:
        "SELECT string_agg(status, ',' ORDER BY employer) FROM loans"
        => Refuse("loans.employer", "ORDER BY");
    average_of_the_amount_as_real:
        "SELECT status, AVG(CAST(amount AS REAL)) FROM loans GROUP BY status"
        => Refuse("loans.amount", "FILTER");

    // ==== HAVING over a suppressed group ===============================================

    // Loan x alone in group 0: suppressed before the HAVING sees it.
    having_brackets_a_suppressed_groups_sum:
        format!("SELECT CASE WHEN loan_id = {X} THEN 0 ELSE 1 END AS g, COUNT(*) FROM loans GROUP BY 1 HAVING SUM(amount) >= 769145 AND SUM(amount) < 769146")
        => Empty;

    // ==== error oracles ================================================================

    // gcd(i64::MIN, 0) overflows exactly when the amount is 769145.
    gcd_of_the_smallest_integer:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND gcd(amount - 769145 - 9223372036854775807 - 1, 0) <> 0")
        => Refuse("loans.amount", "can fail");
    from_unixtime_of_a_scaled_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND from_unixtime(amount * 12000000000) IS NOT NULL")
        => Refuse("loans.amount", "can fail");
    regexp_replace_with_a_bad_pattern_for_one_employer:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CASE WHEN employer = 'Grid Power' THEN regexp_replace(status, 'a(', 'x') ELSE '' END = ''")
        => Refuse("loans.employer", "can fail");
    // Integer multiplication wraps: no error, and one loan is suppressed.
    amount_times_the_largest_integer_wraps:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount * 9223372036854775807 < 0")
        => Empty;
    absolute_value_of_the_smallest_integer_in_a_branch:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND abs(CASE WHEN amount >= 769145 THEN amount * 0 - 9223372036854775807 - 1 ELSE 0 END) >= 0")
        => Refuse("loans.amount", "can fail");
    logarithm_of_zero_or_a_negative_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND ln(CAST(amount - 769145 AS DOUBLE)) IS NOT NULL")
        => Refuse("loans.amount", "can fail");
    // A number's text parsed as a time: some parse, some do not.
    to_unixtime_of_the_amounts_text:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND to_unixtime(CAST(amount - 769000 AS VARCHAR)) IS NOT NULL")
        => Refuse("loans.amount", "can fail");
    // A division in a window frame fails at loan x whatever the data; the amount gates
    // the rest of the query.
    division_in_a_window_frame_beside_an_amount_filter:
        format!("SELECT COUNT(*) FROM loans a WHERE a.amount >= 769145 AND a.loan_id IN (SELECT loan_id FROM (SELECT loan_id, SUM(100 / (loan_id - {X})) OVER (ORDER BY loan_id ROWS BETWEEN CURRENT ROW AND CURRENT ROW) AS s FROM loans) w)")
        => Refuse("loans.amount", "can fail");
    right_by_a_count_the_amount_chose:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND right(status, CASE WHEN amount >= 769145 THEN -9223372036854775807 - 1 ELSE 1 END) = ''")
        => Refuse("loans.amount", "can fail");

    // ==== masks and the row filter =====================================================

    masked_names_through_a_union_all:
        "SELECT name, city FROM persons UNION ALL SELECT name, city FROM persons"
        => RevealNothing;
    hidden_city_through_a_values_join:
        "SELECT COUNT(*), MAX(p.name) FROM persons p JOIN (VALUES ('langfang')) v(c) ON p.city = v.c"
        => RevealNothing;
    raw_id_prefix_through_a_self_join_on_the_masked_id:
        "SELECT a.city FROM persons a JOIN persons b ON a.id_number = b.id_number WHERE b.id_number LIKE '131%'"
        => Empty;
    hidden_rows_through_a_cte_used_twice:
        "WITH p AS (SELECT city FROM persons) SELECT city, COUNT(*) FROM (SELECT city FROM p UNION ALL SELECT city FROM p) u GROUP BY city"
        => RevealNothing;

    // ==== type coercion ================================================================

    amount_compared_with_text_for_one_loan:
        format!("SELECT COUNT(*) FROM loans WHERE amount = '769145' AND loan_id = {X}")
        => Empty;
    amount_compared_with_a_decimal_for_one_loan:
        format!("SELECT COUNT(*), SUM(loan_id) FROM loans WHERE amount < 769145.5 AND loan_id = {X}")
        => Empty;

    // ==== ORDER BY by position and alias ===============================================

    order_by_position_of_the_amount_then_limit:
        format!("SELECT SUM(loan_id) - {X} FROM (SELECT loan_id, amount FROM loans ORDER BY 2 DESC LIMIT 1) t")
        => Refuse("loans.amount", "LIMIT");
    order_by_an_alias_of_the_employer_then_offset:
        "SELECT SUM(loan_id) FROM (SELECT loan_id, employer AS e FROM loans ORDER BY e, loan_id LIMIT 1 OFFSET 13) t"
        => Refuse("loans.employer", "LIMIT");

    // ==== UNNEST of an outer column ====================================================

    // UNNEST in FROM reading the outer row is a LATERAL subquery: refused whole.
    unnest_of_the_outer_amount_in_an_exists:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT 1 FROM unnest(make_array(a.amount)) AS u(v) WHERE v >= 769145)")
        => RefuseUnsupported("LATERAL");
}

/// The union-flag semi join as an attacker would run it: a binary search on t by the
/// count, 40 below x's amount and 39 at or above it.
#[tokio::test]
async fn the_union_flag_walk_stops_at_its_first_probe() {
    assert_walk_stops_at_its_first_probe((0, 2_000_000), union_flag_probe, |a| {
        count_of(a) == Some(40)
    })
    .await;
}

/// The grouped EXISTS as an attacker would run it: 1 below x's amount, 0 at or above.
#[tokio::test]
async fn the_grouped_exists_walk_stops_at_its_first_probe() {
    assert_walk_stops_at_its_first_probe((0, 2_000_000), grouped_exists_probe, |a| {
        count_of(a) == Some(1)
    })
    .await;
}

/// `levels` CTEs, each a UNION ALL of the one before with itself: 2^levels scans in the
/// plan tree from a statement of a few hundred bytes, with one SELECT and two table
/// references a level (the gateway's intake counts 256 of those).
fn doubling_ctes(levels: usize) -> String {
    let mut sql = String::from("WITH t0 AS (SELECT loan_id, status FROM loans)");
    for i in 1..=levels {
        let p = i - 1;
        sql.push_str(&format!(
            ", t{i} AS (SELECT loan_id, status FROM t{p} UNION ALL SELECT loan_id, status FROM t{p})"
        ));
    }
    sql.push_str(&format!(
        " SELECT status, COUNT(*) FROM t{levels} GROUP BY status"
    ));
    sql
}

/// A decision walks each use of a CTE: one that uses the one before twice doubles the
/// plan at each level. Eight levels (256 scans) are decided; sixteen (65,536 scans,
/// from a statement of 1.4 KB) are refused by their size before any walk but the count.
#[tokio::test]
async fn a_plan_that_shares_its_subtrees_is_refused_by_its_size() {
    let w = world();
    let small = w.plan(&doubling_ctes(8)).await;
    w.policy
        .decide(&small, &req("sh_hf/bob", "statistics"))
        .unwrap();
    let plan = w.plan(&doubling_ctes(16)).await;
    match w.policy.decide(&plan, &req("sh_hf/bob", "statistics")) {
        Err(e @ sluice_policy::Error::TooLarge { limit }) => {
            assert_eq!(limit, sluice_policy::MAX_PLAN_NODES);
            assert!(e.to_string().contains("CTE"), "{e}");
        }
        other => panic!(
            "expected TooLarge, got {:?}",
            other.map(|d| d.decision.explain())
        ),
    }
}
