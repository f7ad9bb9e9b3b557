//! A fifth round of attacks, by an independent red team: error oracles in functions the
//! analysis counts as total, aggregates that are not statistics, windows, joins and
//! unions that repeat rows, grouping by computed values, and probing predicates.

use super::attack::Must::*;
use super::attack::assert_walk_stops_at_its_first_probe;
use super::common::TARGET_LOAN;

const X: i64 = TARGET_LOAN;

attacks! {
    // ==== error oracles in functions counted as total ==================================

    // `date_part('year', ...)` fails on a TIME (a time has no year). The constant folder
    // keeps a call that fails, so it runs only on the rows that reach it: the query
    // fails exactly when loan x's amount is at least t. A binary search on t.
    time_has_no_year_for_one_loan_above_a_threshold:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND date_part('year', TIME '10:00:00') > 0")
        => Refuse("loans.amount", "can fail");
    // The same in a projection: the call runs on the rows the filter kept.
    time_has_no_year_in_a_derived_tables_column:
        format!("SELECT COUNT(y) FROM (SELECT date_part('year', TIME '10:00:00') AS y FROM loans WHERE loan_id = {X} AND amount >= 769145) t")
        => Refuse("loans.amount", "can fail");
    // An interval has no quarter.
    interval_has_no_quarter_for_one_loan_below_a_threshold:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount < 769146 AND EXTRACT(QUARTER FROM INTERVAL '1' DAY) >= 0")
        => Refuse("loans.amount", "can fail");
    // date_trunc refuses 'year' on a TIME; the CASE reaches it only above t.
    time_truncated_to_a_year_in_a_branch_chosen_by_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CASE WHEN amount >= 769145 THEN date_trunc('year', TIME '10:00:00') > TIME '00:00:00' ELSE true END")
        => Refuse("loans.amount", "can fail");
    // 'dow' is a part date_part knows but no granularity of date_trunc: it fails on any
    // input, here exactly when loan x's amount is at least t.
    day_of_week_is_no_granularity_of_date_trunc:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND date_trunc('dow', TIMESTAMP '2024-01-01 00:00:00') > TIMESTAMP '2000-01-01 00:00:00'")
        => Refuse("loans.amount", "can fail");
    // An interval has no day of the week: fails exactly when loan x is Grid Power's.
    interval_has_no_weekday_for_one_loans_employer:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND employer = 'Grid Power' AND date_part('dow', INTERVAL '1' DAY) >= 0")
        => Refuse("loans.employer", "can fail");
    // Person 10 (born 1970): fails exactly when the salary is at least 27770.
    time_has_no_year_for_one_persons_salary:
        "SELECT COUNT(*) FROM persons WHERE EXTRACT(YEAR FROM birth_date) = 1970 AND salary >= 27770 AND date_part('year', TIME '10:00:00') > 0"
        => Refuse("persons.salary", "can fail");
    // Fails exactly when a hidden row of Langfang reaches the call before the row filter.
    time_has_no_year_over_rows_a_row_filter_hides:
        "SELECT COUNT(*) FROM persons WHERE city = 'langfang' AND date_part('year', TIME '10:00:00') > 0"
        => RefuseUnsupported("row filter");
    // A TIME has no day of the year either; the CASE reaches it only for Grid Power.
    time_has_no_day_of_year_in_a_branch_chosen_by_employer:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CASE WHEN employer = 'Grid Power' THEN EXTRACT(DOY FROM TIME '10:00:00') > 0 ELSE true END")
        => Refuse("loans.employer", "can fail");

    // ==== error oracles in functions known to fail =====================================

    // Seconds times 1e9 overflow a nanosecond timestamp above 768614 * 12000.
    to_timestamp_overflows_above_a_threshold:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND to_timestamp(amount * 12000) IS NOT NULL")
        => Refuse("loans.amount", "can fail");
    arrow_cast_to_a_small_integer:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND arrow_cast(amount - 769145 + 32767, 'Int16') > 0")
        => Refuse("loans.amount", "can fail");
    // February 30th exactly when the amount is 769145.
    make_date_with_a_day_from_the_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND make_date(2024, 2, amount - 769115) IS NOT NULL")
        => Refuse("loans.amount", "can fail");
    // A surrogate code point exactly when the amount is 769145.
    chr_of_a_surrogate:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND chr(amount - 769145 + 55296) <> ''")
        => Refuse("loans.amount", "can fail");
    // A count that is not a constant has no bound: refused before the analysis, whatever
    // the data (`leak_growth.rs`).
    repeat_by_a_count_from_the_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND length(repeat(status, (amount - 769000) * 100000000)) > 0")
        => RefuseUnsupported("may build values");
    substr_with_a_negative_length_over_one_loan:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND substr(status, 1, -1) = ''")
        => Refuse("loans.amount", "can fail");
    // DECIMAL(7, 0) overflows exactly when the amount is at least 769145.
    decimal_cast_overflows_above_a_threshold:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CAST(amount + 9230855 AS DECIMAL(7, 0)) > 0")
        => Refuse("loans.amount", "can fail");
    levenshtein_distance_of_the_employer_summed:
        "SELECT SUM(levenshtein(employer, 'Grid Power')) FROM loans"
        => Refuse("loans.employer", "");

    // ==== aggregates that are not statistics ===========================================

    approx_median_of_the_last_loans:
        format!("SELECT approx_median(amount) FROM loans WHERE loan_id >= {X}")
        => Refuse("loans.amount", "not a statistic");
    approx_percentile_of_the_amounts:
        "SELECT approx_percentile_cont(amount, 0.99) FROM loans"
        => Refuse("loans.amount", "");
    // Slope on an indicator: x's amount minus the mean of the others.
    regression_on_an_indicator_of_one_loan:
        format!("SELECT regr_slope(CAST(amount AS DOUBLE), CASE WHEN loan_id = {X} THEN 1.0 ELSE 0.0 END) FROM loans")
        => Refuse("loans.amount", "");
    covariance_with_an_indicator_of_one_loan:
        format!("SELECT covar_pop(CAST(amount AS DOUBLE), CAST(loan_id = {X} AS DOUBLE)) FROM loans")
        => Refuse("loans.amount", "");
    // XOR of all and XOR of all but one differ by one amount.
    bit_xor_and_bit_or_of_the_amounts:
        "SELECT bit_xor(amount), bit_or(amount) FROM loans"
        => Refuse("loans.amount", "not a statistic");
    string_agg_of_the_employers_in_id_order:
        "SELECT string_agg(employer, ',' ORDER BY loan_id) FROM loans"
        => Refuse("loans.employer", "");

    // ==== windows ======================================================================

    ntile_over_the_amounts_ranks_one_loan:
        format!("SELECT MAX(CASE WHEN loan_id = {X} THEN q END) FROM (SELECT loan_id, ntile(40) OVER (ORDER BY amount) AS q FROM loans) t")
        => Refuse("loans.amount", "window");
    percent_rank_of_one_loan:
        format!("SELECT SUM(r) FROM (SELECT loan_id, percent_rank() OVER (ORDER BY amount) AS r FROM loans) t WHERE loan_id = {X}")
        => Refuse("loans.amount", "window");
    cume_dist_by_the_employer:
        format!("SELECT SUM(c) FROM (SELECT loan_id, cume_dist() OVER (ORDER BY employer) AS c FROM loans) t WHERE loan_id = {X}")
        => Refuse("loans.employer", "window");
    // A frame of one row is the row's own amount.
    a_one_row_frame_is_the_amount:
        format!("SELECT SUM(s) FROM (SELECT loan_id, SUM(amount) OVER (ORDER BY loan_id ROWS BETWEEN CURRENT ROW AND CURRENT ROW) AS s FROM loans) t WHERE loan_id = {X}")
        => Refuse("loans.amount", "window");
    // Loan x is the 11th of Grid Power's loans exactly when it is Grid Power's.
    row_number_partitioned_by_the_employer:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, row_number() OVER (PARTITION BY employer ORDER BY loan_id) AS rn FROM loans) t WHERE loan_id = {X} AND rn = 11")
        => Refuse("loans.employer", "window");

    // ==== joins and unions that repeat rows ============================================

    // Loan x repeated once per loan of its borrower.
    self_join_through_the_borrower_repeats_one_loan:
        format!("SELECT SUM(a.amount), COUNT(*) FROM loans a JOIN loans b ON a.person_id = b.person_id WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    union_all_of_the_table_five_times:
        format!("SELECT SUM(amount), COUNT(*) FROM (SELECT loan_id, amount FROM loans UNION ALL SELECT loan_id, amount FROM loans UNION ALL SELECT loan_id, amount FROM loans UNION ALL SELECT loan_id, amount FROM loans UNION ALL SELECT loan_id, amount FROM loans) u WHERE loan_id = {X}")
        => Refuse("loans.amount", "");
    cross_join_with_the_statuses_repeats_one_loan:
        format!("SELECT MAX(l.amount), COUNT(*) FROM loans l CROSS JOIN (SELECT status FROM loans GROUP BY status) s WHERE l.loan_id = {X}")
        => Refuse("loans.amount", "repeat");
    unnest_in_the_select_list_repeats_one_loan:
        format!("SELECT SUM(amount), COUNT(*) FROM (SELECT amount, unnest(make_array(1, 2, 3, 4, 5)) AS n FROM loans WHERE loan_id = {X}) t")
        => Refuse("loans.amount", "");
    recursive_cte_repeats_one_loan:
        format!("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT SUM(l.amount) FROM loans l CROSS JOIN r WHERE l.loan_id = {X}")
        => RefuseUnsupported("recursive");
    // A semi join does not repeat person 1: one person, suppressed.
    salary_of_the_borrower_of_five_loans:
        "SELECT AVG(salary), COUNT(*) FROM persons WHERE person_id IN (SELECT person_id FROM loans WHERE loan_id <= 2000000005)"
        => Empty;

    // ==== grouping and HAVING ==========================================================

    grouped_by_the_parity_of_the_amount:
        "SELECT amount % 2 AS p, COUNT(*) FROM loans GROUP BY 1"
        => Refuse("loans.amount", "GROUP BY");
    grouped_by_a_hash_of_the_employer:
        "SELECT left(md5(employer), 1) AS h, COUNT(*) FROM loans GROUP BY 1"
        => Refuse("loans.employer", "GROUP BY");
    having_a_sum_of_one_loans_amount:
        format!("SELECT status, COUNT(*) FROM loans GROUP BY status HAVING SUM(CASE WHEN loan_id = {X} THEN amount ELSE 0 END) >= 769145")
        => Refuse("loans.amount", "");
    grouping_sets_split_a_status_at_one_loan:
        format!("SELECT status, COUNT(*), AVG(amount) FROM loans GROUP BY GROUPING SETS ((status), (status, loan_id >= {X}))")
        => Refuse("loans.amount", "GROUPING SETS");

    // ==== predicates ===================================================================

    // 40 - (x's amount = 769145).
    is_distinct_from_an_amount_chosen_by_the_id:
        format!("SELECT COUNT(*) FROM loans WHERE amount IS DISTINCT FROM CASE WHEN loan_id = {X} THEN 769145 ELSE -1 END")
        => Refuse("loans.amount", "combines");
    like_on_the_employer_or_a_large_amount:
        "SELECT MAX(amount), COUNT(*) FROM loans WHERE employer LIKE 'W%' OR amount > 700000"
        => Refuse("loans.employer", "combines");
    // A dictionary attack on a hash, padded with 13 loans.
    hash_of_the_amount_or_an_id_range:
        "SELECT COUNT(*) FROM loans WHERE md5(CAST(amount AS VARCHAR)) = md5('769145') OR loan_id <= 2000000013"
        => Refuse("loans.amount", "combines");
    // Separate conjuncts: one loan at most, suppressed.
    employer_prefix_and_one_id:
        format!("SELECT COUNT(*) FROM loans WHERE left(employer, 4) = 'Grid' AND loan_id = {X}")
        => Empty;
    scalar_average_compared_with_one_loans_amount:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND a.amount > (SELECT AVG(b.amount) FROM loans b)")
        => Refuse("loans.amount", "");
    values_joined_on_the_amount_padded_with_small_loans:
        "SELECT COUNT(*) FROM loans l JOIN (VALUES (769145), (769146)) v(a) ON l.amount = v.a OR l.amount < 200000"
        => Refuse("loans.amount", "");
    generate_series_as_a_list_of_guesses:
        "SELECT COUNT(*) FROM loans WHERE amount < 200000 OR amount IN (SELECT value FROM generate_series(769000, 770000))"
        => RefuseUnsupported("not a dataset");
    // One multiplier keeps each loan's id in the low digits of its term.
    huge_multiplier_separates_rows_in_a_sum:
        format!("SELECT SUM(amount * 1000000000000 + loan_id - 2000000000) FROM loans WHERE loan_id >= {X}")
        => Refuse("loans.amount", "");
    order_by_a_residue_of_the_amount_then_limit:
        format!("SELECT SUM(loan_id) - {X} FROM (SELECT loan_id FROM loans ORDER BY amount % 1000 DESC, loan_id LIMIT 1) t")
        => Refuse("loans.amount", "LIMIT");
    explain_analyze_counts_the_rows:
        format!("EXPLAIN ANALYZE SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145")
        => RefuseUnsupported("EXPLAIN");

    // ==== masked and hidden rows =======================================================

    // Masked to the year: every day of the year is the first.
    day_of_year_of_masked_birth_dates:
        "SELECT EXTRACT(DOY FROM birth_date) AS d, COUNT(*) FROM persons GROUP BY 1"
        => RevealNothing;
    // Langfang's two persons, through their contributions: two subjects, suppressed.
    contributions_of_the_persons_a_row_filter_hides:
        "SELECT SUM(c.amount), COUNT(*) FROM contributions c WHERE c.person_id NOT IN (SELECT person_id FROM persons)"
        => Empty;
}

/// The first attack as an attacker would run it: halve the interval by whether the query
/// fails, until one amount is left.
#[tokio::test]
async fn the_error_oracle_walk_stops_at_its_first_probe() {
    // The query fails where x's amount is at least t.
    let probe = |t| {
        format!(
            "SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= {t} AND date_part('year', TIME '10:00:00') > 0"
        )
    };
    assert_walk_stops_at_its_first_probe((0, 2_000_000), probe, |a| a.is_some()).await;
}
