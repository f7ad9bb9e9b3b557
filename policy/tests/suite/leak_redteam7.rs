//! A seventh red team, across the classes: joins that repeat rows while looking like
//! key joins, FILTER and CASE inside aggregates, run-time errors as an oracle, selection
//! by a protected order, aggregates that return members, small groups and subjects,
//! predicate probing, and plans meant to crash the analysis. Each tries to learn loan
//! x's amount or employer, a salary, or a row the row filter hides.

use super::attack::Must::*;
use super::attack::assert_walk_stops_at_its_first_probe;
use super::common::TARGET_LOAN;

const X: i64 = TARGET_LOAN;

/// `n` ids from loan 1 on, comma-separated: a long IN list.
fn ids(n: usize) -> String {
    (0..n)
        .map(|i| (2_000_000_001 + i as i64).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The last day with a calendar form, +262142-12-31, in days since 1970.
const LAST_DAY: i64 = 95_026_236;

/// Groups loan x alone (group 0, suppressed) and the other loans in seven groups of five
/// or six borrowers; the HAVING prints, for each group, the date `LAST_DAY + t - SUM`,
/// which has no calendar form exactly when the sum is below `t`.
fn having_probe(t: i64) -> String {
    format!(
        "SELECT COUNT(*) FROM (SELECT CASE WHEN loan_id = {X} THEN 0 ELSE loan_id % 7 + 1 END AS g FROM loans GROUP BY 1 HAVING CAST(TRY_CAST({LAST_DAY} + {t} - SUM(amount) AS DATE) AS VARCHAR) <> '') t"
    )
}

/// A CASE on the amount alone with `n` branches.
fn wide_case(n: usize) -> String {
    let whens: String = (0..n)
        .map(|i| format!(" WHEN amount = {} THEN true", 100_000 + i as i64 * 7))
        .collect();
    format!("CASE{whens} ELSE false END")
}

attacks! {
    // ==== joins that repeat rows while passing as key joins ============================

    // USING on a side that is a UNION ALL of the table with itself: x twice.
    join_using_the_key_of_a_union_all_side:
        format!("SELECT MAX(a.amount), COUNT(*) FROM loans a JOIN (SELECT loan_id FROM loans UNION ALL SELECT loan_id FROM loans) b USING (loan_id) WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    // NATURAL join against a key-only side that a cross join with VALUES repeated.
    natural_join_with_a_key_repeated_by_values:
        format!("SELECT SUM(a.amount), COUNT(*) FROM loans a NATURAL JOIN (SELECT l.loan_id FROM loans l CROSS JOIN (VALUES (1), (2), (3), (4), (5)) v(n)) b WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    // The key side made by UNNEST of a constant list: no scan, five copies of x's id.
    join_on_the_key_against_an_unnested_list_of_one_id:
        format!("SELECT AVG(a.amount), COUNT(*) FROM loans a JOIN (SELECT unnest(make_array({X}, {X}, {X}, {X}, {X})) AS loan_id) u ON a.loan_id = u.loan_id")
        => Refuse("loans.amount", "repeat");
    // A cross join narrowed in a derived table: x once per remaining loan of the other side.
    cross_join_filtered_to_the_key_in_a_derived_table:
        format!("SELECT MAX(amount), COUNT(*) FROM (SELECT a.amount, a.loan_id AS ai, b.loan_id AS bi FROM loans a CROSS JOIN loans b WHERE b.loan_id >= {X} - 2) t WHERE ai = {X}")
        => Refuse("loans.amount", "repeat");
    // The key compared through a CASE that keeps it: no longer the column itself.
    join_on_the_key_through_a_case_that_keeps_it:
        format!("SELECT MAX(a.amount) FROM loans a JOIN loans b ON a.loan_id = CASE WHEN b.loan_id > 0 THEN b.loan_id END WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    // IS NOT DISTINCT FROM matches the key, but is not an equality the analysis reads.
    join_on_the_key_with_is_not_distinct_from:
        format!("SELECT SUM(a.amount) FROM loans a JOIN loans b ON a.loan_id IS NOT DISTINCT FROM b.loan_id WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    // UNNEST of a list of the row's own amount: one row per element.
    unnest_of_a_list_of_the_amount:
        format!("SELECT SUM(a), COUNT(*) FROM (SELECT unnest(make_array(amount, amount, amount, amount, amount)) AS a FROM loans WHERE loan_id = {X}) t")
        => Refuse("loans.amount", "");
    // A cross join with an UNNEST of constants, filtered to one loan.
    cross_join_with_an_unnest_of_constants:
        format!("SELECT MIN(l.amount), COUNT(*) FROM loans l CROSS JOIN unnest(make_array(1, 2, 3, 4, 5)) AS u(n) WHERE l.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    // A key join against a side grouped by the key (unique): one loan, suppressed.
    key_join_against_a_side_grouped_by_the_key:
        format!("SELECT SUM(a.amount), COUNT(*) FROM loans a JOIN (SELECT loan_id, COUNT(*) AS c FROM loans GROUP BY loan_id, status) g ON a.loan_id = g.loan_id WHERE a.loan_id = {X}")
        => Empty;

    // ==== FILTER and CASE inside aggregates ============================================

    // The FILTER picks x out of the loans a key join to the large ones kept.
    filter_on_the_id_over_a_key_join_an_amount_chose:
        format!("SELECT COUNT(*) FILTER (WHERE a.loan_id = {X}), COUNT(*) FROM loans a JOIN (SELECT loan_id FROM loans WHERE amount >= 769145) b ON a.loan_id = b.loan_id")
        => Refuse("loans.amount", "FILTER");
    // A FILTER on a window's row number is a FILTER on the id.
    filter_on_a_row_number_around_the_amount:
        "SELECT SUM(amount) FILTER (WHERE rn = 31) FROM (SELECT amount, row_number() OVER (ORDER BY loan_id) AS rn FROM loans) t"
        => Refuse("loans.amount", "FILTER");
    // The condition computed in a CTE, cast to a number, summed with the id's offset.
    case_flag_from_a_cte_summed_with_the_id:
        format!("WITH f AS (SELECT loan_id, amount >= 769145 AS big FROM loans) SELECT SUM(CAST(big AS BIGINT) * (loan_id - {X} + 1)) FROM f WHERE loan_id >= {X}")
        => Refuse("loans.amount", "FILTER");
    // A simple CASE on the employer, inside COUNT: the loans of one employer.
    simple_case_on_the_employer_inside_count:
        format!("SELECT COUNT(CASE employer WHEN 'Grid Power' THEN loan_id END) FROM loans WHERE loan_id >= {X}")
        => Refuse("loans.employer", "FILTER");
    // MAX of the amount with a FILTER on plain data alone: x's amount.
    max_with_a_filter_on_one_status_and_id_band:
        format!("SELECT MAX(amount) FILTER (WHERE status = 'active' AND loan_id BETWEEN {X} AND {X} + 2), COUNT(*) FROM loans")
        => Refuse("loans.amount", "FILTER");

    // ==== run-time errors as an oracle =================================================

    // TRY_CAST never fails, but an integer cast to a DATE lands beyond the calendar, and
    // printing it fails: only x's amount times 125 passes the last day, +262142-12-31.
    try_cast_of_the_amount_to_a_date_then_to_text:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CAST(TRY_CAST(amount * 125 AS DATE) AS VARCHAR) <> ''")
        => Refuse("loans.amount", "can fail");
    // The same with seconds since 1970 past year 262143.
    try_cast_of_the_amount_to_a_timestamp_in_seconds_then_to_text:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CAST(TRY_CAST(amount * 12000000 AS TIMESTAMP(0)) AS VARCHAR) <> ''")
        => Refuse("loans.amount", "can fail");
    // A time of day of -1 nanosecond exactly when the amount is at least 769145.
    try_cast_to_a_negative_time_of_day_then_to_text:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CAST(TRY_CAST(769144 - amount AS TIME) AS VARCHAR) <> ''")
        => Refuse("loans.amount", "can fail");
    // The constant check reads CAST, not TRY_CAST: the date of day 2^31 - 1 in a branch.
    try_cast_constant_beyond_the_calendar_in_a_branch_chosen_by_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CAST(CASE WHEN amount >= 769145 THEN TRY_CAST(CAST(2147483647 AS INT) AS DATE) ELSE DATE '2000-01-01' END AS VARCHAR) <> ''")
        => Refuse("loans.amount", "can fail");
    // concat prints a date made from the employer's length: fails unless Grid Power.
    try_cast_date_from_the_employers_length_in_concat:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND concat('d', TRY_CAST((length(employer) - 10) * 100000000 AS DATE)) <> ''")
        => Refuse("loans.employer", "can fail");
    // Person 10 (born 1970): fails exactly when the salary times 3500 is past the calendar.
    try_cast_date_from_one_persons_salary:
        "SELECT COUNT(*) FROM persons WHERE EXTRACT(YEAR FROM birth_date) = 1970 AND CAST(TRY_CAST(salary * 3500 AS DATE) AS VARCHAR) <> ''"
        => Refuse("persons.salary", "can fail");
    // Fails exactly when a hidden Langfang row reaches the cast before the row filter.
    try_cast_date_over_rows_a_row_filter_hides:
        "SELECT COUNT(*) FROM persons WHERE CAST(TRY_CAST(CASE WHEN city = 'langfang' THEN 2147483647 ELSE 0 END AS DATE) AS VARCHAR) <> ''"
        => RefuseUnsupported("row filter");
    // Loan x alone in group 0, suppressed, beside seven released groups: the HAVING
    // also runs on group 0, and fails exactly when x's amount is below t.
    try_cast_date_of_a_suppressed_groups_sum_in_having:
        having_probe(769_146)
        => Refuse("loans.amount", "can fail");
    // Field 0 is an error; field 1 is not.
    split_part_with_a_field_from_the_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND split_part(status, 'c', amount - 769145) = ''")
        => Refuse("loans.amount", "can fail");
    // Not hex: decode fails on the employer's text.
    decode_of_the_employer_as_hex:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND length(decode(employer, 'hex')) > 0")
        => Refuse("loans.employer", "can fail");
    // 21! overflows: fails exactly when the amount is at least 769145.
    factorial_of_the_amount_overflows:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND factorial(amount - 769124) > 0")
        => Refuse("loans.amount", "can fail");
    // An index computed from the amount into a split of the status.
    string_to_array_indexed_by_the_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND string_to_array(status, 'c')[amount - 769143] IS NULL")
        => Refuse("loans.amount", "can fail");
    // An integer power checks for overflow: 10^19 fails exactly at 769145.
    integer_power_overflows_above_a_threshold:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND power(10, amount - 769126) > 0")
        => Refuse("loans.amount", "can fail");
    // A literal past every integer type is a float: the widening cast cannot fail.
    comparison_with_a_constant_past_every_integer:
        "SELECT COUNT(*) FROM loans WHERE amount < 99999999999999999999999999999999999999"
        => RevealNothing;

    // ==== selection by a protected order ===============================================

    // The padded flag says which loan is large; ordering by it puts x first.
    order_by_an_outer_join_flag_then_limit:
        format!("SELECT SUM(s.loan_id) - {X} FROM (SELECT a.loan_id FROM loans a LEFT JOIN (SELECT loan_id, 1 AS f FROM loans WHERE amount >= 769145) t ON a.loan_id = t.loan_id ORDER BY t.f, a.loan_id LIMIT 1) s")
        => Refuse("loans.amount", "");
    // An ORDER BY EXISTS on the amount, cut to one row.
    order_by_a_correlated_exists_on_the_amount_then_limit:
        format!("SELECT SUM(s.loan_id) - {X} FROM (SELECT a.loan_id FROM loans a ORDER BY EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.amount >= 769145) DESC, a.loan_id LIMIT 1) s")
        => Refuse("loans.amount", "");
    // A LIMIT inside one branch of a union, over loans sorted by amount.
    limit_by_amount_in_a_union_branch:
        format!("SELECT COUNT(*) FROM ((SELECT loan_id FROM loans ORDER BY amount DESC LIMIT 1) UNION ALL (SELECT loan_id FROM loans WHERE loan_id < 0)) u WHERE loan_id = {X}")
        => Refuse("loans.amount", "LIMIT");
    // Ranked by the amount as text: the first digit picks x.
    rank_over_the_amount_as_text:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, rank() OVER (ORDER BY CAST(amount AS VARCHAR) DESC) AS r FROM loans) t WHERE loan_id = {X} AND r = 1")
        => Refuse("loans.amount", "window");
    // QUALIFY on a rank by employer.
    qualify_on_a_dense_rank_by_employer:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM loans QUALIFY dense_rank() OVER (ORDER BY employer) = 2) t WHERE loan_id = {X}")
        => Refuse("loans.employer", "window");
    // A LIMIT over released groups ranks released values only.
    limit_over_released_groups_of_large_loans:
        "SELECT SUM(n) FROM (SELECT status, COUNT(*) AS n FROM loans WHERE amount > 200000 GROUP BY status ORDER BY status LIMIT 2) t"
        => RevealNothing;

    // ==== aggregates that return members ===============================================

    // The median of the ten loans from x on, through WITHIN GROUP.
    percentile_cont_within_group_over_the_last_loans:
        format!("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FROM loans WHERE loan_id >= {X}")
        => Refuse("loans.amount", "");
    // A sketch of the ids of the loans the amount chose: 1 says x alone.
    approx_distinct_of_ids_chosen_by_amount:
        "SELECT approx_distinct(loan_id) FROM loans WHERE amount > 700000 OR loan_id < 0"
        => Refuse("loans.amount", "");
    // Over five loans of five borrowers, false exactly when one is at least 769145.
    bool_and_of_an_amount_condition_over_a_band:
        format!("SELECT bool_and(amount < 769145), COUNT(*) FROM loans WHERE loan_id BETWEEN {X} - 4 AND {X}")
        => Refuse("loans.amount", "bool_and");
    // The average of y over the rows where x is not NULL: x's amount alone.
    regr_avgy_over_one_loans_indicator:
        format!("SELECT regr_avgy(CAST(amount AS DOUBLE), CASE WHEN loan_id = {X} THEN 1.0 END) FROM loans")
        => Refuse("loans.amount", "");
    // Correlation with x's indicator: a function of x's amount and the released moments.
    correlation_of_the_amount_with_an_indicator:
        format!("SELECT corr(CAST(amount AS DOUBLE), CAST(loan_id = {X} AS DOUBLE)) FROM loans")
        => Refuse("loans.amount", "");

    // ==== small groups and subjects ====================================================

    // The subjects themselves are join-level: no count of them is released.
    count_of_distinct_borrowers_per_status:
        "SELECT status, COUNT(DISTINCT person_id) FROM loans GROUP BY status"
        => Refuse("loans.person_id", "");
    // A CUBE of a plain status and one loan's indicator, counting Grid Power's loans.
    cube_of_status_and_one_loan_over_an_employer:
        format!("SELECT COUNT(*) FROM loans WHERE employer = 'Grid Power' GROUP BY CUBE(status, loan_id = {X})")
        => Refuse("loans.employer", "GROUPING SETS");
    // Four loans of person 1 and loan x: five rows, two subjects.
    five_loans_of_two_borrowers_through_a_key_self_join:
        format!("SELECT SUM(a.amount), COUNT(*) FROM loans a JOIN loans b ON a.loan_id = b.loan_id WHERE a.loan_id IN (2000000001, 2000000002, 2000000003, 2000000004, {X})")
        => Empty;

    // ==== predicate probing ============================================================

    // A list of guesses padded with four small loans.
    amount_in_a_list_or_a_band_of_ids:
        "SELECT MAX(amount), COUNT(*) FROM loans WHERE amount IN (769145, 1) OR loan_id <= 2000000004"
        => Refuse("loans.amount", "combines");
    // An aggregate-level text compared with a plain one, row by row.
    employer_compared_with_the_status:
        "SELECT COUNT(*) FROM loans WHERE employer > status"
        => Refuse("loans.employer", "combines");

    // ==== plans that try to crash the analysis =========================================

    // Wide and deep inputs: decided and answered, or refused, without a crash. (Deeper
    // chains overflow DataFusion's own SQL planner first; the gateway's intake bounds them.)
    an_in_list_of_twenty_thousand_ids:
        format!("SELECT COUNT(*), SUM(amount) FROM loans WHERE loan_id IN ({})", ids(20_000))
        => RevealNothing;
    a_case_of_three_hundred_branches_on_the_amount:
        format!("SELECT COUNT(*) FROM loans WHERE {}", wide_case(300))
        => RevealNothing;
    a_chain_of_a_thousand_casts:
        format!("SELECT SUM(amount{}) FROM loans", "::BIGINT".repeat(1_000))
        => RevealNothing;
    a_string_constant_of_a_megabyte:
        format!("SELECT COUNT(*) FROM loans WHERE status <> '{}'", "a".repeat(1 << 20))
        => RefuseUnsupported("may build values");
}

/// The HAVING probe as an attacker would run it: a binary search on t, going by whether
/// the query fails, over a group that suppression never releases.
#[tokio::test]
async fn the_suppressed_group_walk_stops_at_its_first_probe() {
    // The query fails where x's amount is below t; each released group sums to more.
    assert_walk_stops_at_its_first_probe((0, 1_000_000), having_probe, |a| a.is_none()).await;
}
