//! A third round of attacks: LIMIT and OFFSET under joins and subqueries, self-joins,
//! set operations, windows, HAVING and nested aggregates, CASE and casts, error oracles
//! and row filters, each trying to learn one loan's amount or employer, one person's
//! salary, or a row the row filter hides, from answers the policy allows.
//!
//! The first part closed a gap:
//! - An outer join pads its optional side with NULL wherever the condition found no
//!   match, so a constant of that side (`SELECT loan_id, 1 AS flag FROM loans WHERE
//!   loan_id = y`) is per-row data: 1 on loan y, NULL elsewhere. It read no column,
//!   so a condition `a.amount < 200000 OR t.flag = 1` looked like a condition on the
//!   amount alone, and padded loan y with the small loans: MAX(amount) was y's amount,
//!   and `COALESCE(t.flag, 0) = 0 OR a.amount < t` counted 39 or 40 loans as x's amount
//!   is below t or not (a binary search). A padded value counts as other per-row data.
//! - DISTINCT and DISTINCT ON merge rows with equal keys, so a count above them is
//!   `COUNT(DISTINCT key)`; a key computed from protected data (`CASE WHEN loan_id = x
//!   AND amount < t THEN 1 ELSE loan_id END`) merges loan x into loan 1 exactly when its
//!   amount is below t. The fixture's subject keys refused the count anyway (DISTINCT
//!   drops them); without subject keys it answered 39 or 40. Like a DISTINCT aggregate,
//!   DISTINCT now takes the bare column (the last test, in a world without subject keys).
//!
//! The second part holds new shapes of the known classes, refused or safe today, and a
//! check that allowed answers are the same when two loans swap amounts.

use super::attack::Must::*;
use super::attack::{Must, outcome};
use super::common::{
    AGENCY, Data, Files, MODEL, POLICY, SECRET, TARGET_LOAN, World, datasets, req, rows,
    session_with, world, world_on,
};
use sluice_policy::{Policy, PolicyConfig};

const X: i64 = TARGET_LOAN;
/// Loan 21: amount 258380, neither the smallest nor the largest.
const Y: i64 = 2_000_000_021;

attacks! {
    // ==== closed gap: a constant an outer join pads is per-row data ====================

    // 13 loans below 200000 (9 borrowers) and loan y: MAX is y's amount, 258380.
    padded_constant_pads_one_loan_with_small_ones:
        format!("SELECT MAX(a.amount), COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS flag FROM loans WHERE loan_id = {Y}) t ON a.loan_id = t.loan_id WHERE a.amount < 200000 OR t.flag = 1")
        => Refuse("loans.amount", "combines");
    // 39 + (x's amount < t): a binary search on t finds 769145.
    padded_constant_counts_one_loan_below_a_threshold:
        format!("SELECT COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS flag FROM loans WHERE loan_id = {X}) t ON a.loan_id = t.loan_id WHERE COALESCE(t.flag, 0) = 0 OR a.amount < 769146")
        => Refuse("loans.amount", "combines");
    padded_constant_in_a_case_condition:
        format!("SELECT COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS flag FROM loans WHERE loan_id = {X}) t ON a.loan_id = t.loan_id WHERE CASE WHEN t.flag = 1 THEN a.amount < 769146 ELSE true END")
        => Refuse("loans.amount", "combines");
    padded_constant_through_a_right_join:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, 'me' AS tag FROM loans WHERE loan_id = {X}) t RIGHT JOIN loans a ON a.loan_id = t.loan_id WHERE t.tag IS NULL OR a.amount < 769146")
        => Refuse("loans.amount", "combines");
    padded_constant_renamed_in_a_derived_table:
        format!("SELECT MAX(amount) FROM (SELECT a.amount, COALESCE(t.flag, 0) AS f FROM loans a LEFT JOIN (SELECT loan_id, 1 AS flag FROM loans WHERE loan_id = {Y}) t ON a.loan_id = t.loan_id) d WHERE amount < 200000 OR f = 1")
        => Refuse("loans.amount", "combines");
    padded_constant_with_a_cte:
        format!("WITH me AS (SELECT loan_id, 1 AS flag FROM loans WHERE loan_id = {X}) SELECT COUNT(*) FROM loans a LEFT JOIN me ON a.loan_id = me.loan_id WHERE me.flag IS NULL OR a.amount >= 769145")
        => Refuse("loans.amount", "combines");
    padded_constant_says_one_loans_employer:
        format!("SELECT COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS flag FROM loans WHERE loan_id = {X}) t ON a.loan_id = t.loan_id WHERE t.flag IS NULL OR a.employer = 'Grid Power'")
        => Refuse("loans.employer", "combines");
    // Person 10 (born 1970, masked:year shows it) padded with the five persons below
    // 20000: MAX is person 10's salary, 27770.
    padded_constant_pins_one_persons_salary:
        "SELECT MAX(p.salary), COUNT(*) FROM persons p LEFT JOIN (SELECT person_id, 1 AS flag FROM persons WHERE EXTRACT(YEAR FROM birth_date) = 1970) t ON p.person_id = t.person_id WHERE p.salary < 20000 OR t.flag = 1"
        => Refuse("persons.salary", "combines");

    // The flag padded by an inner join, carried through a second join.
    padded_constant_carried_through_a_second_join:
        format!("SELECT COUNT(*) FROM loans a JOIN (SELECT b.loan_id, t.flag FROM loans b LEFT JOIN (SELECT loan_id, 1 AS flag FROM loans WHERE loan_id = {X}) t ON b.loan_id = t.loan_id) u ON a.loan_id = u.loan_id WHERE u.flag IS NULL OR a.amount < 769146")
        => Refuse("loans.amount", "");
    // DISTINCT keys computed from the amount (see the test without subject keys below):
    // here the subject keys refuse them too.
    distinct_key_merging_one_loan_by_its_amount:
        format!("SELECT COUNT(*) FROM (SELECT DISTINCT CASE WHEN loan_id = {X} AND amount < 769146 THEN {FIRST} ELSE loan_id END AS k FROM loans) t")
        => Refuse("loans.amount", "DISTINCT");
    distinct_on_key_merging_one_loan_by_its_amount:
        format!("SELECT COUNT(*) FROM (SELECT DISTINCT ON (CASE WHEN loan_id = {X} AND amount < 769146 THEN {FIRST} ELSE loan_id END) loan_id FROM loans) t")
        => Refuse("loans.amount", "DISTINCT ON");

    // ==== coverage: LIMIT and OFFSET ======================================================

    // The five first loans from x on that a join on amounts kept: x..x+4 when x's amount
    // is below t.
    limit_over_a_key_join_whose_other_side_an_amount_chose:
        format!("SELECT SUM(loan_id) - 5 * {X} FROM (SELECT a.loan_id FROM loans a JOIN (SELECT loan_id FROM loans WHERE amount < 769146) b ON a.loan_id = b.loan_id WHERE a.loan_id >= {X} ORDER BY a.loan_id LIMIT 5) t")
        => Refuse("loans.amount", "LIMIT");
    limit_over_an_in_subquery_on_amounts:
        format!("SELECT SUM(loan_id) - 5 * {X} FROM (SELECT loan_id FROM loans WHERE loan_id IN (SELECT loan_id FROM loans WHERE amount < 769146) AND loan_id >= {X} ORDER BY loan_id LIMIT 5) t")
        => Refuse("loans.amount", "LIMIT");
    limit_over_a_correlated_exists_on_amounts:
        format!("SELECT SUM(loan_id) - 5 * {X} FROM (SELECT a.loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.amount < 769146) AND a.loan_id >= {X} ORDER BY a.loan_id LIMIT 5) t")
        => Refuse("loans.amount", "LIMIT");
    limit_over_a_not_in_on_amounts:
        format!("SELECT SUM(loan_id) - 5 * {X} FROM (SELECT loan_id FROM loans WHERE loan_id NOT IN (SELECT loan_id FROM loans WHERE amount >= 769146) AND loan_id >= {X} ORDER BY loan_id LIMIT 5) t")
        => Refuse("loans.amount", "LIMIT");
    limit_over_a_not_exists_on_amounts:
        format!("SELECT SUM(loan_id) - 5 * {X} FROM (SELECT a.loan_id FROM loans a WHERE NOT EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.amount >= 769146) AND a.loan_id >= {X} LIMIT 5) t")
        => Refuse("loans.amount", "LIMIT");
    limit_inside_a_cte_over_rows_an_amount_chose:
        format!("WITH firsts AS (SELECT loan_id FROM loans WHERE amount < 769146 AND loan_id >= {X} ORDER BY loan_id LIMIT 5) SELECT SUM(loan_id) - 5 * {X}, COUNT(*) FROM firsts")
        => Refuse("loans.amount", "LIMIT");
    limit_inside_a_scalar_subquery_over_rows_an_amount_chose:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = (SELECT loan_id FROM loans WHERE amount < 769146 AND loan_id >= {X} ORDER BY loan_id LIMIT 1)")
        => Refuse("loans.amount", "LIMIT");
    limit_inside_an_in_subquery_ordered_by_amount:
        "SELECT COUNT(*) FROM loans WHERE loan_id IN (SELECT loan_id FROM loans ORDER BY amount DESC LIMIT 1) AND status = 'active'"
        => Refuse("loans.amount", "LIMIT");
    offset_over_a_union_whose_branch_an_amount_chose:
        format!("SELECT SUM(loan_id) FROM (SELECT loan_id FROM (SELECT loan_id FROM loans WHERE amount < 769146 AND loan_id = {X} UNION ALL SELECT loan_id FROM loans WHERE loan_id > {X}) u ORDER BY loan_id LIMIT 4 OFFSET 1) t")
        => Refuse("loans.amount", "LIMIT");
    // The planner drops an ORDER BY without LIMIT in a derived table: the LIMIT takes
    // the first loan in storage order (loan 1), never x, the largest. Were the order
    // kept, the analysis would see it (it follows orders through subqueries).
    limit_three_subqueries_above_an_order_by_amount:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM (SELECT loan_id FROM (SELECT loan_id, amount FROM loans ORDER BY amount DESC) s1) s2 LIMIT 1) s3 WHERE loan_id = {X}")
        => RevealNothing;

    // ==== coverage: self-joins and joins on inequalities ==================================

    self_join_on_the_key_comparing_the_amounts:
        "SELECT COUNT(*) FROM loans a JOIN loans b ON a.loan_id = b.loan_id AND a.amount > b.amount"
        => Refuse("loans.amount", "combines");
    // The loans below x's amount: x's rank, in one count.
    self_join_ranking_one_loan:
        format!("SELECT COUNT(*) FROM loans a JOIN loans b ON a.loan_id = {X} AND b.amount < a.amount")
        => Refuse("loans.amount", "");
    join_on_neighbouring_ids:
        "SELECT SUM(b.amount) - SUM(a.amount) FROM loans a JOIN loans b ON b.loan_id = a.loan_id + 1"
        => Refuse("loans.amount", "repeat");
    // Prefix sums: two neighbours differ by one loan.
    inequality_join_gives_prefix_sums:
        "SELECT a.loan_id, SUM(b.amount) FROM loans a JOIN loans b ON b.loan_id <= a.loan_id GROUP BY a.loan_id"
        => Refuse("loans.amount", "repeat");
    not_equal_join_gives_all_loans_but_one:
        "SELECT a.loan_id, SUM(b.amount) FROM loans a JOIN loans b ON b.loan_id <> a.loan_id GROUP BY a.loan_id"
        => Refuse("loans.amount", "repeat");
    full_join_pads_the_released_side:
        format!("SELECT SUM(a.amount) FROM loans a FULL JOIN (SELECT loan_id FROM loans WHERE loan_id = {X}) t ON a.loan_id = t.loan_id")
        => Refuse("loans.amount", "");
    // The anti join by hand: the loans that no large loan other than x matched.
    left_join_is_null_on_a_constant_of_rows_an_amount_chose:
        format!("SELECT MAX(a.amount), COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS f FROM loans WHERE amount >= 200000 AND loan_id <> {X}) t ON a.loan_id = t.loan_id WHERE t.f IS NULL")
        => Refuse("loans.amount", "repeat");
    join_on_the_maximum_of_each_status:
        "SELECT l.status, COUNT(*) FROM loans l JOIN (SELECT status, MAX(amount) AS m FROM loans GROUP BY status) g ON l.status = g.status AND l.amount = g.m GROUP BY l.status"
        => Refuse("loans.amount", "combines");
    salary_over_a_join_that_repeats_persons:
        format!("SELECT SUM(p.salary) FROM loans l JOIN persons p ON l.person_id = p.person_id WHERE l.loan_id IN ({X}, {Y})")
        => Refuse("persons.salary", "repeat");

    // ==== coverage: set operations ======================================================

    union_all_of_one_loan_and_small_ones:
        format!("SELECT MAX(amount), COUNT(*) FROM (SELECT amount FROM loans WHERE loan_id = {Y} UNION ALL SELECT amount FROM loans WHERE amount < 200000) u")
        => Refuse("loans.amount", "");
    // A constant per branch: 1 on loan x only.
    union_branch_constant_pads_one_loan:
        format!("SELECT COUNT(*) FROM (SELECT amount, 1 AS f FROM loans WHERE loan_id = {X} UNION ALL SELECT amount, 0 FROM loans WHERE loan_id <> {X}) u WHERE f = 0 OR amount < 769146")
        => Refuse("loans.amount", "");
    intersect_with_rows_an_amount_chose:
        format!("SELECT COUNT(*), SUM(loan_id) FROM (SELECT loan_id FROM loans WHERE loan_id >= {X} INTERSECT SELECT loan_id FROM loans WHERE amount < 769146) t")
        => Refuse("loans.amount", "");
    except_rows_an_amount_chose:
        format!("SELECT COUNT(*), SUM(loan_id) FROM (SELECT loan_id FROM loans WHERE loan_id BETWEEN {X} AND {X} + 4 EXCEPT SELECT loan_id FROM loans WHERE amount >= 769146) t")
        => Refuse("loans.amount", "");
    except_with_the_amount_on_the_left:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM loans WHERE amount < 769146 EXCEPT SELECT loan_id FROM loans WHERE loan_id <> {X}) t")
        => Refuse("loans.amount", "");
    sum_over_union_branches_split_by_amount:
        "SELECT SUM(amount) FROM (SELECT amount FROM loans WHERE amount < 769145 UNION ALL SELECT amount FROM loans WHERE amount >= 769145) u"
        => Refuse("loans.amount", "");

    // ==== coverage: windows ===============================================================

    row_number_over_rows_an_amount_chose:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, ROW_NUMBER() OVER (ORDER BY loan_id) AS rn FROM loans WHERE amount < 769146) t WHERE loan_id = {X} + 1 AND rn = 31")
        => Refuse("loans.amount", "window");
    lag_over_rows_an_in_subquery_chose:
        format!("SELECT SUM(prev) FROM (SELECT loan_id, LAG(loan_id) OVER (ORDER BY loan_id) AS prev FROM loans WHERE loan_id IN (SELECT loan_id FROM loans WHERE amount < 769146)) t WHERE loan_id = {X} + 1")
        => Refuse("loans.amount", "window");
    running_sum_over_rows_a_join_chose:
        format!("SELECT MAX(s) - MIN(s) FROM (SELECT a.loan_id, SUM(a.loan_id - {X}) OVER (ORDER BY a.loan_id) AS s FROM loans a JOIN (SELECT loan_id FROM loans WHERE amount < 769146) b ON a.loan_id = b.loan_id) t")
        => Refuse("loans.amount", "window");
    window_count_over_rows_an_amount_chose:
        "SELECT DISTINCT COUNT(*) OVER () FROM loans WHERE amount < 769146"
        => Refuse("loans.amount", "window");
    window_rank_in_a_disjunction_with_the_amount:
        "SELECT COUNT(*) FROM (SELECT amount, ROW_NUMBER() OVER (PARTITION BY status ORDER BY loan_id) AS rn FROM loans) t WHERE amount < 200000 OR rn = 11"
        => Refuse("loans.amount", "combines");
    window_over_the_outputs_of_an_aggregate:
        "SELECT status, SUM(amount) AS s, SUM(SUM(amount)) OVER () AS total, LAG(SUM(amount), 1) OVER (ORDER BY status) AS prev FROM loans GROUP BY status"
        => RevealNothing;

    // ==== coverage: HAVING, grouping and nested aggregates ==============================

    // One borrower's loans: suppressed whatever HAVING asks.
    having_binary_search_over_one_borrowers_loans:
        "SELECT COUNT(*) FROM loans WHERE loan_id <= 2000000005 HAVING SUM(amount) > 500000"
        => Empty;
    having_compares_extremes_of_four_loans:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id IN ({X}, 2000000006, 2000000007, 2000000008) HAVING MAX(amount) > 2 * MIN(amount)")
        => Empty;
    having_divides_by_a_difference_of_released_aggregates:
        "SELECT status FROM loans GROUP BY status HAVING 1 / (MAX(amount) - 769145) > 0"
        => Refuse("loans.amount", "can fail");
    // The group of x alone is suppressed; the other is all loans but x.
    group_by_an_expression_isolating_one_loan:
        format!("SELECT loan_id = {X} AS me, SUM(amount), COUNT(*) FROM loans GROUP BY 1")
        => RevealNothing;
    // x with one borrower's five loans: two borrowers, suppressed.
    group_by_a_case_padding_one_loan_with_one_borrowers_loans:
        format!("SELECT CASE WHEN loan_id = {X} OR loan_id <= 2000000005 THEN 0 ELSE 1 END AS g, SUM(amount), COUNT(*) FROM loans GROUP BY 1")
        => RevealNothing;
    nested_aggregate_over_groups_of_one_loan:
        "SELECT MAX(s), COUNT(*) FROM (SELECT loan_id, SUM(amount) AS s FROM loans GROUP BY loan_id) t"
        => RevealNothing;
    count_of_one_loan_groups_above_a_threshold:
        "SELECT COUNT(*) FROM (SELECT loan_id FROM loans WHERE amount >= 769000 GROUP BY loan_id) t"
        => RevealNothing;
    grouping_by_ids_an_aggregate_subquery_chose:
        "SELECT l.status, COUNT(*) FROM loans l WHERE l.loan_id IN (SELECT loan_id FROM loans GROUP BY loan_id HAVING MAX(amount) > 769000) GROUP BY l.status"
        => Empty;
    a_scalar_subquerys_aggregate_in_a_filter:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id - 2000000000 < (SELECT MAX(amount) FROM loans WHERE loan_id IN ({X}, 2000000006, 2000000007, 2000000008, 2000000009)) / 10000")
        => Refuse("loans.amount", "can fail");

    // ==== coverage: DISTINCT, CASE, casts, strings ======================================

    count_distinct_of_an_amount_condition:
        "SELECT COUNT(DISTINCT amount >= 769000) FROM loans"
        => Refuse("loans.amount", "FILTER");
    max_distinct_of_a_narrowed_amount:
        "SELECT MAX(DISTINCT CAST(amount AS SMALLINT)) FROM loans"
        => Refuse("loans.amount", "");
    case_in_where_reading_the_amount_and_an_id:
        format!("SELECT COUNT(*) FROM loans WHERE CASE WHEN loan_id = {X} THEN amount < 769146 ELSE true END")
        => Refuse("loans.amount", "combines");
    coalesce_nullif_of_an_id_padding_one_loan:
        format!("SELECT MAX(amount) FROM loans WHERE COALESCE(NULLIF(loan_id, {Y}), 0) = 0 OR amount < 200000")
        => Refuse("loans.amount", "combines");
    greatest_of_the_amount_and_an_id_indicator:
        format!("SELECT SUM(GREATEST(amount, CAST(loan_id = {X} AS BIGINT) * 1000000)) FROM loans")
        => Refuse("loans.amount", "");
    least_inside_a_count:
        "SELECT COUNT(NULLIF(LEAST(amount, 769000), 769000)) FROM loans"
        => Refuse("loans.amount", "FILTER");
    sum_of_a_decimal_cast:
        "SELECT SUM(CAST(amount AS DECIMAL(20, 2))) FROM loans"
        => Refuse("loans.amount", "");
    sum_through_text_and_back:
        "SELECT SUM(CAST(CAST(amount AS VARCHAR) AS BIGINT)) FROM loans"
        => Refuse("loans.amount", "can fail");
    length_of_the_amounts_text:
        "SELECT SUM(length(CAST(amount AS VARCHAR))) FROM loans"
        => Refuse("loans.amount", "FILTER");
    grouped_by_the_first_digit_of_the_amount:
        "SELECT substr(CAST(amount AS VARCHAR), 1, 1) AS d, COUNT(*) FROM loans GROUP BY 1"
        => Refuse("loans.amount", "GROUP BY");
    strpos_of_the_employer_inside_a_sum:
        "SELECT SUM(strpos(employer, 'Grid')) FROM loans"
        => Refuse("loans.employer", "FILTER");
    employer_prefix_or_one_id:
        format!("SELECT COUNT(*) FROM loans WHERE starts_with(employer, 'G') OR loan_id = {X}")
        => Refuse("loans.employer", "combines");

    // ==== coverage: error oracles =======================================================

    regex_on_the_employer:
        "SELECT COUNT(*) FROM loans WHERE regexp_like(employer, '^G')"
        => Refuse("loans.employer", "can fail");
    array_index_by_the_amount:
        "SELECT COUNT(*) FROM loans WHERE make_array(1, 2, 3)[amount - 769143] = 2"
        => Refuse("loans.amount", "can fail");
    date_parse_of_the_employer:
        "SELECT COUNT(*) FROM loans WHERE to_date(employer) IS NOT NULL"
        => Refuse("loans.employer", "can fail");
    amount_cast_to_a_timestamp:
        "SELECT COUNT(*) FROM loans WHERE CAST(amount AS TIMESTAMP) > CAST('1970-01-01' AS TIMESTAMP)"
        => Refuse("loans.amount", "can fail");
    failing_cast_of_a_plain_column_over_rows_an_amount_chose:
        "SELECT COUNT(*) FROM loans WHERE amount >= 769145 AND CAST(status AS INT) = 0"
        => Refuse("loans.amount", "can fail");
    failing_division_in_another_union_branch:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM loans WHERE amount >= 769145 UNION ALL SELECT 1 / (loan_id - {X}) FROM loans) u")
        => Refuse("loans.amount", "");

    regex_operator_on_the_employer:
        "SELECT COUNT(*) FROM loans WHERE employer ~ '^G'"
        => Refuse("loans.employer", "can fail");
    like_with_the_employer_as_the_pattern:
        "SELECT COUNT(*) FROM loans WHERE 'Grid Power' LIKE employer"
        => Refuse("loans.employer", "can fail");
    sum_of_an_amount_narrowed_to_int:
        "SELECT SUM(CAST(amount AS INT)) FROM loans"
        => Refuse("loans.amount", "can fail");
    overflowing_cast_of_a_scaled_amount:
        "SELECT COUNT(*) FROM loans WHERE CAST(CAST(amount AS DOUBLE) * 1e13 AS BIGINT) > 0"
        => Refuse("loans.amount", "can fail");
    timestamp_from_an_amount:
        "SELECT COUNT(*) FROM loans WHERE date_part('day', to_timestamp_seconds(amount)) = 9"
        => Refuse("loans.amount", "can fail");

    // ==== coverage: more shapes of the known classes ======================================

    // COUNT over a LEFT JOIN whose condition reads the amount: a FILTER by another name.
    count_of_the_padded_side_of_a_join_on_the_amount:
        format!("SELECT COUNT(b.loan_id), COUNT(*) FROM loans a LEFT JOIN loans b ON a.loan_id = b.loan_id AND b.amount >= 769145 AND b.loan_id = {X}")
        => Refuse("loans.amount", "");
    having_max_id_over_rows_an_amount_chose:
        format!("SELECT COUNT(*) FROM loans WHERE amount < 769146 AND loan_id <= {X} HAVING MAX(loan_id) = {X}")
        => Refuse("loans.amount", "members");
    // Only the loan of exactly this amount: one row, suppressed.
    nullif_isolates_an_exact_amount:
        "SELECT COUNT(*), SUM(loan_id) FROM loans WHERE NULLIF(amount, 769145) IS NULL"
        => Empty;
    grouped_by_the_employers_initial:
        "SELECT left(employer, 1) AS i, COUNT(*) FROM loans GROUP BY 1"
        => Refuse("loans.employer", "GROUP BY");
    count_distinct_of_the_employers_initial:
        "SELECT COUNT(DISTINCT left(employer, 1)) FROM loans"
        => Refuse("loans.employer", "FILTER");
    max_of_an_upper_cased_employer:
        "SELECT MAX(upper(employer)) FROM loans"
        => Refuse("loans.employer", "FILTER");
    // The counts per status of the loans above 300000 are released; grouping by them
    // releases nothing more.
    grouping_by_a_released_count:
        "SELECT g.n, COUNT(*) FROM loans l JOIN (SELECT status, COUNT(*) AS n FROM loans WHERE amount > 300000 GROUP BY status) g ON l.status = g.status GROUP BY g.n"
        => RevealNothing;

    // ==== coverage: rows a row filter hides (Langfang's persons) =========================

    hidden_city_is_not_counted:
        "SELECT city, COUNT(*) FROM persons GROUP BY city"
        => RevealNothing;
    hidden_persons_through_a_join_from_loans:
        "SELECT p.city, COUNT(*) FROM loans l JOIN persons p ON l.person_id = p.person_id GROUP BY p.city"
        => RevealNothing;
    hidden_persons_through_an_outer_join_from_loans:
        "SELECT p.city, COUNT(*) FROM loans l LEFT JOIN persons p ON l.person_id = p.person_id GROUP BY p.city"
        => RevealNothing;
    hidden_persons_salary_by_their_city:
        "SELECT MAX(salary), MAX(birth_date) FROM persons WHERE city = 'langfang'"
        => RevealNothing;
    failing_cast_over_rows_a_row_filter_hides:
        "SELECT COUNT(*) FROM persons WHERE CAST(substr(city, 1, 2) AS INT) IS NULL"
        => RefuseUnsupported("row filter");
}

// ==== answers that must not depend on which loan holds which amount =====================

/// Loan 1: active and Grid Power's, as loan x is.
const FIRST: i64 = 2_000_000_001;

/// The standard data with the amounts of loans x and 1 swapped. Both are active and
/// Grid Power's, so every statistic of the amounts over all loans, a status or an
/// employer is the same; only which loan holds which amount differs.
fn swapped() -> Data {
    let mut d = Data::standard();
    let amount = |d: &Data, id: i64| {
        d.loans
            .iter()
            .find(|l| l.loan_id == id)
            .map(|l| l.amount)
            .unwrap_or_default()
    };
    let (x, first) = (amount(&d, X), amount(&d, FIRST));
    for l in &mut d.loans {
        if l.loan_id == X {
            l.amount = first;
        } else if l.loan_id == FIRST {
            l.amount = x;
        }
    }
    d
}

/// Allowed shapes whose answers must be the same in both worlds: statistics over groups
/// that hold both loans or neither, in an order the amounts set (a float sum rounds by
/// the order it adds in), or below a window.
const SAME_ON_SWAPPED: &[&str] = &[
    "SELECT SUM(x) FROM (SELECT CAST(loan_id AS DOUBLE) * 1e10 AS x FROM loans ORDER BY amount) t",
    "SELECT AVG(x) FROM (SELECT CAST(loan_id AS DOUBLE) * 1e10 AS x FROM loans ORDER BY amount DESC) t",
    "SELECT status, SUM(x) FROM (SELECT status, CAST(loan_id AS DOUBLE) * 3.3e9 AS x FROM loans ORDER BY amount) t GROUP BY status",
    "SELECT status, COUNT(*), SUM(amount), MAX(amount), MIN(amount) FROM loans GROUP BY status",
    "SELECT status, AVG(amount), COUNT(DISTINCT amount) FROM loans GROUP BY status",
    "SELECT status, SUM(amount) AS s, SUM(SUM(amount)) OVER () AS total, LAG(SUM(amount), 1) OVER (ORDER BY status) AS prev FROM loans GROUP BY status",
    "SELECT COUNT(*) FROM (SELECT loan_id FROM loans WHERE amount >= 769000 GROUP BY loan_id) t",
];

async fn answer_in(w: &World, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let plan = w.plan(sql).await;
    let decided = w
        .policy
        .decide(&plan, &req("sh_hf/bob", "statistics"))
        // The refusal names the policy file, whose path differs between worlds.
        .map_err(|e| {
            format!(
                "refused: {}",
                e.to_string().split(" (/").next().unwrap_or_default()
            )
        })?;
    let df = w
        .ctx
        .execute_logical_plan(decided.plan)
        .await
        .map_err(|e| format!("fails: {e}"))?;
    let batches = df.collect().await.map_err(|e| format!("fails: {e}"))?;
    let mut r = rows(&batches);
    r.sort();
    Ok(r)
}

#[tokio::test]
async fn answers_do_not_depend_on_which_loan_holds_which_amount() {
    let a = world();
    let b = world_on(POLICY, &swapped());
    let mut failures = Vec::new();
    for sql in SAME_ON_SWAPPED {
        let (x, y) = (answer_in(&a, sql).await, answer_in(&b, sql).await);
        if x != y {
            failures.push(format!("{sql}\n    {x:?}\n    {y:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} answers depend on which loan holds which amount:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ==== DISTINCT keys, where no subject key stands in the way ===============================

/// The fixture without subject keys. With them, an aggregate after DISTINCT is refused
/// because its rows no longer carry the subject; without them, only the analysis of the
/// DISTINCT keys stands between a count and `COUNT(DISTINCT f(amount, id))`.
fn world_without_subjects() -> World {
    let files = Files::new(MODEL, POLICY);
    let config = PolicyConfig::new(AGENCY, SECRET.to_vec(), datasets())
        .with_key("persons", ["person_id"])
        .with_key("loans", ["loan_id"]);
    let policy = Policy::load(config, &files.model(), &files.policy()).unwrap();
    World {
        ctx: session_with(&Data::standard()),
        policy,
        _files: files,
    }
}

/// (name, SQL, what it must come to) in the world without subject keys.
fn without_subjects() -> Vec<(&'static str, String, Must)> {
    vec![
        // Loan x merges into loan 1 exactly when its amount is below t: 39 or 40.
        (
            "distinct_on_a_key_that_merges_one_loan_by_its_amount",
            format!(
                "SELECT COUNT(*) FROM (SELECT DISTINCT ON (CASE WHEN loan_id = {X} AND amount < 769146 THEN {FIRST} ELSE loan_id END) loan_id FROM loans) t"
            ),
            Must::Refuse("loans.amount", "DISTINCT ON"),
        ),
        (
            "distinct_over_a_key_that_merges_one_loan_by_its_amount",
            format!(
                "SELECT COUNT(*) FROM (SELECT DISTINCT CASE WHEN loan_id = {X} AND amount < 769146 THEN {FIRST} ELSE loan_id END AS k FROM loans) t"
            ),
            Must::Refuse("loans.amount", "DISTINCT"),
        ),
        // Only loan x is at or above 769000: the active loans have one pair more.
        (
            "distinct_over_a_status_and_an_amount_condition",
            "SELECT COUNT(*) FROM (SELECT DISTINCT status, amount >= 769000 AS big FROM loans) t"
                .to_string(),
            Must::Refuse("loans.amount", "DISTINCT"),
        ),
        (
            "distinct_over_an_employer_band_and_an_id",
            format!(
                "SELECT COUNT(*) FROM (SELECT DISTINCT CASE WHEN employer = 'Grid Power' AND loan_id = {X} THEN {FIRST} ELSE loan_id END AS k FROM loans) t"
            ),
            Must::Refuse("loans.employer", "DISTINCT"),
        ),
        // The bare columns merge only equal amounts: every pair is distinct.
        (
            "distinct_over_a_status_and_the_bare_amount",
            "SELECT COUNT(*) FROM (SELECT DISTINCT status, amount FROM loans) t".to_string(),
            Must::RevealNothing,
        ),
    ]
}

#[tokio::test]
async fn distinct_keys_computed_from_protected_data_without_subject_keys() {
    let w = world_without_subjects();
    let mut failures = Vec::new();
    for (name, sql, must) in without_subjects() {
        if let Err(e) = outcome(&w, name, &sql, must).await {
            failures.push(format!("{name} got through: {e}\n    {sql}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
