//! A sixth round of attacks: an audit of the operations the analysis counts as total, each
//! tried on the arguments where DataFusion fails (integer negation folded to a constant,
//! dates and times out of range), and operations that are total on their worst arguments.

use super::attack::Must::*;
use super::common::TARGET_LOAN;

const X: i64 = TARGET_LOAN;

/// A date 2^31 - 1 days after 1970: a valid Date32, beyond any calendar, chosen only when
/// loan x's amount is at least 769145.
const FAR_DATE: &str = "CASE WHEN amount >= 769145 THEN CAST(CAST(2147483647 AS INT) AS DATE) ELSE DATE '2000-01-01' END";

attacks! {
    // ==== operations judged total that fail ============================================

    // `amount * 0` folds to 0, so the negation is of the constant i64::MIN, and DataFusion
    // negates a constant with a check: an error exactly when the CASE reaches it.
    negation_of_the_smallest_integer_above_a_threshold:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CASE WHEN amount >= 769145 THEN -(amount * 0 - 9223372036854775807 - 1) ELSE 0 END <= 0")
        => Refuse("loans.amount", "can fail");
    negation_of_the_smallest_integer_for_one_loans_employer:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CASE WHEN employer = 'Grid Power' THEN -(amount * 0 - 9223372036854775807 - 1) ELSE 0 END <= 0")
        => Refuse("loans.employer", "can fail");
    // A date beyond the calendar has no text: the cast fails exactly when it is chosen.
    date_out_of_range_cast_to_text:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CAST({FAR_DATE} AS VARCHAR) <> ''")
        => Refuse("loans.amount", "can fail");
    // date_part yields NULL for it, in a column declared not null: the batch fails.
    date_out_of_range_in_date_part:
        format!("SELECT COUNT(y) FROM (SELECT date_part('year', {FAR_DATE}) AS y FROM loans WHERE loan_id = {X}) t")
        => Refuse("loans.amount", "can fail");
    date_out_of_range_in_max_of_date_part:
        format!("SELECT MAX(y) FROM (SELECT date_part('doy', {FAR_DATE}) AS y FROM loans WHERE loan_id = {X}) t")
        => Refuse("loans.amount", "can fail");
    // concat and || cast their arguments to text.
    date_out_of_range_in_concat:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND concat('d', {FAR_DATE}) <> ''")
        => Refuse("loans.amount", "can fail");
    date_out_of_range_in_string_concat:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND 'd' || {FAR_DATE} <> ''")
        => Refuse("loans.amount", "can fail");
    date_out_of_range_through_coalesce:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CAST(coalesce(CASE WHEN amount >= 769145 THEN CAST(CAST(-2147483648 AS INT) AS DATE) END, DATE '2000-01-01') AS VARCHAR) <> ''")
        => Refuse("loans.amount", "can fail");
    date_out_of_range_through_greatest:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CAST(greatest({FAR_DATE}, DATE '1999-01-01') AS VARCHAR) <> ''")
        => Refuse("loans.amount", "can fail");
    // Seconds since 1970 up to i64::MAX are a valid TIMESTAMP(0), far beyond any calendar.
    timestamp_in_seconds_out_of_range_for_one_loans_employer:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CAST(CASE WHEN employer = 'Grid Power' THEN CAST(9223372036854775807 AS TIMESTAMP(0)) ELSE CAST(0 AS TIMESTAMP(0)) END AS VARCHAR) <> ''")
        => Refuse("loans.employer", "can fail");
    timestamp_in_milliseconds_out_of_range_in_concat_ws:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND length(concat_ws('-', status, CASE WHEN amount >= 769145 THEN CAST(9223372036854775807 AS TIMESTAMP(3)) ELSE CAST(0 AS TIMESTAMP(3)) END)) > 0")
        => Refuse("loans.amount", "can fail");
    timestamp_in_microseconds_out_of_range_in_date_part:
        format!("SELECT COUNT(h) FROM (SELECT date_part('hour', CASE WHEN amount >= 769145 THEN CAST(-9223372036854775808 AS TIMESTAMP(6)) ELSE CAST(0 AS TIMESTAMP(6)) END) AS h FROM loans WHERE loan_id = {X}) t")
        => Refuse("loans.amount", "can fail");
    // A time of day of -1 nanosecond.
    negative_time_of_day_cast_to_text:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CAST(CASE WHEN amount >= 769145 THEN CAST(-1 AS TIME) ELSE CAST(0 AS TIME) END AS VARCHAR) <> ''")
        => Refuse("loans.amount", "can fail");
    // Person 10 (born 1970): fails exactly when the salary is at least 27770.
    date_out_of_range_for_one_persons_salary:
        "SELECT COUNT(*) FROM persons WHERE EXTRACT(YEAR FROM birth_date) = 1970 AND CAST(CASE WHEN salary >= 27770 THEN CAST(CAST(2147483647 AS INT) AS DATE) ELSE birth_date END AS VARCHAR) <> ''"
        => Refuse("persons.salary", "can fail");

    // ==== operations that are total on their worst arguments ===========================

    // Each binary search below cannot fail, and its one loan is suppressed.
    left_by_the_smallest_integer:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND left(status, -9223372036854775808) = ''")
        => Empty;
    right_by_the_smallest_integer:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND right(status, -9223372036854775808) = ''")
        => Empty;
    substr_from_and_for_the_largest_integer:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND substr(status, 9223372036854775807, 9223372036854775807) = ''")
        => Empty;
    lpad_to_the_limit_with_a_four_byte_fill:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND length(lpad(status, 1000, '😀')) > 0")
        => Empty;
    trunc_to_the_largest_number_of_places:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND trunc(1.5, 9223372036854775807) > 0")
        => Empty;
    round_of_the_largest_double_to_many_places:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND round(1e308, 400) > 0")
        => Empty;
    // Integer division by a constant, and subtraction, wrap on i64::MIN.
    smallest_integer_divided_in_a_branch:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CASE WHEN amount >= 769145 THEN (amount * 0 - 9223372036854775807 - 1) / 2 ELSE 0 END <= 0")
        => Empty;
    smallest_integer_subtracted_from_zero_in_a_branch:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CASE WHEN amount >= 769145 THEN 0 - (amount * 0 - 9223372036854775807 - 1) ELSE 0 END <= 0")
        => Empty;
    signum_and_floor_of_the_smallest_integer:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND signum(-9223372036854775807 - 1) < 0 AND floor(-9223372036854775807 - 1) < 0")
        => Empty;
    float_remainder_by_zero_is_nan:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND CAST(amount AS DOUBLE) % 0.0 <> 1")
        => Empty;
    // A trailing backslash escapes nothing; arrow matches it literally.
    like_pattern_ending_in_a_backslash:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND status LIKE 'a\\'")
        => Empty;
    case_mapping_and_trims_of_edge_strings:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND upper('ß') = 'SS' AND initcap('') = '' AND btrim(status, '') <> ''")
        => Empty;
    // A date within the calendar prints.
    leap_day_cast_to_text_in_a_branch:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND CASE WHEN amount >= 769145 THEN CAST(DATE '2024-02-29' AS VARCHAR) ELSE '' END <> 'x'")
        => Empty;
    // Statistics over groups of 13 and 14 loans.
    sums_by_status_filtered_by_extreme_substrings:
        "SELECT status, COUNT(*), SUM(amount) FROM loans WHERE left(status, -9223372036854775808) = '' AND substr(status, 9223372036854775807) = '' GROUP BY status"
        => RevealNothing;
    averages_by_status_filtered_by_a_division_by_zero:
        "SELECT status, COUNT(*), AVG(amount) FROM loans WHERE CAST(amount AS DOUBLE) / 0.0 > 0 GROUP BY status"
        => RevealNothing;
    sums_of_negated_amounts_by_status:
        "SELECT status, SUM(0 - amount), SUM(-(amount * 1.0)), COUNT(*) FROM loans GROUP BY status"
        => RevealNothing;
}
