//! An independent red team on the shapes around joins and subqueries (semi, anti and
//! mark joins, scalar subqueries, set operations, outer, range and self-joins) that turn
//! loan x's amount against a threshold into a count of 39 or 40; the last stay allowed.

use super::attack::Must::*;
use super::common::TARGET_LOAN;

const X: i64 = TARGET_LOAN;

attacks! {
    // ==== semi and mark joins: IN and EXISTS next to per-row data ======================

    // A mark join: 39 + (x's amount < t).
    in_subquery_or_every_other_loan:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id <> {X} OR loan_id IN (SELECT loan_id FROM loans WHERE amount < 769146)")
        => Refuse("loans.amount", "");
    correlated_exists_or_every_other_loan:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id <> {X} OR EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.amount < 769146)")
        => Refuse("loans.amount", "");
    in_subquery_chosen_by_a_case_for_one_loan:
        format!("SELECT COUNT(*) FROM loans WHERE CASE WHEN loan_id = {X} THEN loan_id IN (SELECT loan_id FROM loans WHERE amount < 769146) ELSE true END")
        => Refuse("loans.amount", "");
    // NOT (x AND x >= t): 40 - (x's amount >= t).
    not_of_one_loan_and_a_correlated_exists:
        format!("SELECT COUNT(*) FROM loans a WHERE NOT (a.loan_id = {X} AND EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.amount >= 769146))")
        => Refuse("loans.amount", "");
    any_subquery_or_every_other_loan:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id <> {X} OR loan_id = ANY (SELECT loan_id FROM loans WHERE amount < 769146)")
        => Refuse("loans.amount", "");
    // A correlated IN whose subquery pads x's row with the others.
    correlated_in_on_the_status_with_a_disjunction:
        format!("SELECT COUNT(*) FROM loans a WHERE a.status IN (SELECT b.status FROM loans b WHERE b.loan_id = a.loan_id AND (b.amount < 769146 OR b.loan_id <> {X}))")
        => Refuse("loans.amount", "");
    employer_in_subquery_or_every_other_loan:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id <> {X} OR loan_id IN (SELECT loan_id FROM loans WHERE employer = 'Grid Power')")
        => Refuse("loans.employer", "");
    exists_limited_to_one_row_or_every_other_loan:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id <> {X} OR EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.amount >= 769145 LIMIT 1)")
        => Refuse("loans.amount", "");
    in_subquery_ordered_by_amount_or_every_other_loan:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id IN (SELECT loan_id FROM loans WHERE amount < 769146 ORDER BY amount DESC) OR loan_id <> {X}")
        => Refuse("loans.amount", "");
    // An uncorrelated EXISTS over a one-row group: all 40 loans or none. The subquery's
    // conjuncts only narrow, but nothing suppresses the group they narrow to.
    uncorrelated_exists_of_one_loan_above_a_threshold:
        format!("SELECT COUNT(*) FROM loans WHERE EXISTS (SELECT 1 FROM loans WHERE loan_id = {X} AND amount >= 769145)")
        => Refuse("loans.amount", "");
    // The 14 active loans, or none.
    status_in_the_status_of_one_large_loan:
        format!("SELECT COUNT(*) FROM loans WHERE status IN (SELECT status FROM loans WHERE loan_id = {X} AND amount >= 769145)")
        => Refuse("loans.amount", "");
    // Person 10's loans (or all others'), by salary against t.
    borrowers_in_a_set_padded_by_their_city:
        "SELECT COUNT(*) FROM loans l WHERE l.person_id IN (SELECT person_id FROM persons WHERE salary < 27771 OR EXTRACT(YEAR FROM birth_date) <> 1970)"
        => Refuse("persons.salary", "");
    // NOT IN a set holding a NULL keeps no row: 0 loans when x is at least t, else 40.
    not_in_a_set_holding_a_null_for_one_large_loan:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id NOT IN (SELECT NULLIF(loan_id, loan_id) FROM loans WHERE loan_id = {X} AND amount >= 769145)")
        => Refuse("loans.amount", "");

    // ==== scalar subqueries ============================================================

    // 40 exactly when x is the largest loan.
    scalar_maximum_or_every_other_loan:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id <> {X} OR a.amount >= (SELECT MAX(b.amount) FROM loans b)")
        => Refuse("loans.amount", "");
    // The threshold comes from the row's own id: 769176 for x, above every other loan.
    correlated_scalar_threshold_from_the_id:
        "SELECT COUNT(*) FROM loans a WHERE a.amount < (SELECT b.loan_id - 1999230855 FROM loans b WHERE b.loan_id = a.loan_id)"
        => Refuse("loans.amount", "");
    // COUNT of a one-row group compared inside the outer filter: 40 or 0.
    one_loan_group_counted_in_a_scalar_subquery:
        format!("SELECT COUNT(*) FROM loans WHERE (SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145) = 1")
        => Refuse("loans.amount", "");
    scalar_subquery_of_each_loans_amount_as_a_group_key:
        "SELECT (SELECT MAX(b.amount) FROM loans b WHERE b.loan_id = a.loan_id) >= 769145 AS big, COUNT(*) FROM loans a GROUP BY 1"
        => Refuse("loans.amount", "");
    // Over the ten loans from x on: the sum is 1 exactly when x is at least t.
    scalar_subquery_of_an_amount_condition_summed:
        format!("SELECT SUM((SELECT COUNT(*) FROM loans b WHERE b.loan_id = a.loan_id AND b.amount >= 769145)), COUNT(*) FROM loans a WHERE a.loan_id >= {X}")
        => Refuse("loans.amount", "");
    // Lists the loans at least t: x.
    having_a_correlated_scalar_of_each_loans_amount:
        "SELECT a.loan_id FROM loans a GROUP BY a.loan_id HAVING (SELECT MAX(b.amount) FROM loans b WHERE b.loan_id = a.loan_id) >= 769145"
        => Refuse("loans.amount", "");
    // The raw amount of one row, not an aggregate, as the threshold: how many are bigger.
    loans_bigger_than_one_loans_raw_amount:
        format!("SELECT COUNT(*) FROM loans b WHERE b.amount > (SELECT a.amount FROM loans a WHERE a.loan_id = {X})")
        => Refuse("loans.amount", "");
    // 40 exactly when no loan is bigger than x.
    correlated_count_of_bigger_loans_for_one_loan:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id <> {X} OR (SELECT COUNT(*) FROM loans b WHERE b.amount > a.amount) = 0")
        => Refuse("loans.amount", "");
    // The two sides of a key join, one read in each disjunct.
    having_count_probe_across_a_key_join:
        format!("SELECT 1 AS hit FROM loans a JOIN loans b ON a.loan_id = b.loan_id WHERE b.amount < 769146 OR a.loan_id <> {X} HAVING COUNT(*) = 40")
        => Refuse("loans.amount", "");

    // ==== set operations ===============================================================

    // UNION (DISTINCT) is OR: 39 + (x's amount < t).
    union_is_a_disjunction_with_every_other_loan:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM loans WHERE loan_id <> {X} UNION SELECT loan_id FROM loans WHERE amount < 769146) u")
        => Refuse("loans.amount", "");
    union_of_an_employer_and_every_other_loan:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM loans WHERE employer = 'Grid Power' UNION SELECT loan_id FROM loans WHERE loan_id <> {X}) u")
        => Refuse("loans.employer", "");
    union_all_counted_distinct:
        format!("SELECT COUNT(DISTINCT loan_id) FROM (SELECT loan_id FROM loans WHERE loan_id <> {X} UNION ALL SELECT loan_id FROM loans WHERE amount < 769146) u")
        => Refuse("loans.amount", "");
    // EXCEPT of an INTERSECT: all loans but x when x is at least t.
    except_an_intersect_of_one_loan_and_large_ones:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM loans EXCEPT (SELECT loan_id FROM loans WHERE loan_id = {X} INTERSECT SELECT loan_id FROM loans WHERE amount >= 769145)) u")
        => Refuse("loans.amount", "");
    // The narrowing key join, then a union with every other loan: 39 + (x >= t).
    union_all_of_a_key_join_and_every_other_loan:
        format!("SELECT COUNT(*) FROM (SELECT a.loan_id FROM loans a JOIN (SELECT loan_id FROM loans WHERE amount >= 769145) b ON a.loan_id = b.loan_id UNION ALL SELECT loan_id FROM loans WHERE loan_id <> {X}) u")
        => Refuse("loans.amount", "");

    // ==== outer joins ==================================================================

    // Padded where x is below t; the padded key says so.
    left_join_on_is_not_distinct_from_a_large_set:
        format!("SELECT COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id FROM loans WHERE amount >= 769145) t ON a.loan_id IS NOT DISTINCT FROM t.loan_id WHERE t.loan_id IS NULL OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");
    // An ON with OR on an inner join: 39 + (x >= t) pairs.
    inner_join_condition_with_an_or:
        format!("SELECT COUNT(*) FROM loans a JOIN loans b ON (a.loan_id = b.loan_id AND a.amount >= 769145) OR (a.loan_id = b.loan_id AND a.loan_id <> {X})")
        => Refuse("loans.amount", "");
    coalesce_of_the_padded_key_in_a_derived_table:
        format!("SELECT COUNT(*) FROM (SELECT COALESCE(t.loan_id, 0) AS k, a.loan_id FROM loans a LEFT JOIN (SELECT loan_id FROM loans WHERE amount >= 769145) t ON a.loan_id = t.loan_id) d WHERE k = 0 OR loan_id <> {X}")
        => Refuse("loans.amount", "");
    // Five loans around x: 0 or 1 of them matched.
    count_of_the_padded_key_over_a_band_of_ids:
        format!("SELECT COUNT(t.loan_id), COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id FROM loans WHERE amount >= 769145) t ON a.loan_id = t.loan_id WHERE a.loan_id BETWEEN {X} - 2 AND {X} + 2")
        => Refuse("loans.amount", "");
    nested_outer_joins_in_a_derived_table:
        format!("SELECT COUNT(*) FROM loans a LEFT JOIN (SELECT b.loan_id, c.f FROM loans b LEFT JOIN (SELECT loan_id, 1 AS f FROM loans WHERE amount >= 769145) c ON b.loan_id = c.loan_id) d ON a.loan_id = d.loan_id WHERE d.f IS NULL OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");
    // A FULL join is a union: every loan but x, and the loans at least t.
    full_join_is_a_union_with_every_other_loan:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM loans WHERE loan_id <> {X}) a FULL JOIN (SELECT loan_id FROM loans WHERE amount >= 769145) b ON a.loan_id = b.loan_id")
        => Refuse("loans.amount", "");

    // ==== join keys computed from protected columns ====================================

    // A key join only narrows; its OR with every other loan fans the one large loan
    // out to all: 40 pairs or none.
    key_join_with_an_or_fans_out:
        format!("SELECT COUNT(*) FROM loans a JOIN (SELECT loan_id FROM loans WHERE amount >= 769145) b ON a.loan_id = b.loan_id OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");
    // A one-row side chosen by x's amount, crossed with all loans: 40 or 0.
    cross_join_with_a_one_row_side_chosen_by_the_amount:
        format!("SELECT COUNT(*) FROM loans a CROSS JOIN (SELECT 1 AS one FROM loans WHERE loan_id = {X} AND amount >= 769145) s")
        => Refuse("loans.amount", "");
    join_on_the_amount_in_thousands_or_every_other_loan:
        format!("SELECT COUNT(*) FROM loans a JOIN (VALUES (769)) v(k) ON a.amount / 1000 = v.k OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");
    // Both thresholds at once: one row per guess, 39 or 40 each.
    cross_join_with_a_list_of_thresholds:
        format!("SELECT v.t, COUNT(*) FROM loans a CROSS JOIN (VALUES (769145), (769146)) v(t) WHERE a.amount < v.t OR a.loan_id <> {X} GROUP BY v.t")
        => Refuse("loans.amount", "");
    range_join_to_a_band_or_every_other_loan:
        format!("SELECT COUNT(*) FROM loans a JOIN (VALUES (769000, 770000)) v(lo, hi) ON a.amount BETWEEN v.lo AND v.hi OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");

    // ==== grouping by a join's indicator, windows over joins ===========================

    grouped_by_whether_a_large_loan_matched:
        "SELECT t.loan_id IS NULL AS small, COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id FROM loans WHERE amount >= 400000) t ON a.loan_id = t.loan_id GROUP BY 1"
        => Refuse("loans.amount", "");
    // Each loan's position among the loans below t equals its id's position up to x,
    // and for all 40 only when x is below t: 40 or 30.
    row_number_over_a_key_join_matches_the_ids:
        "SELECT COUNT(*) FROM (SELECT a.loan_id, ROW_NUMBER() OVER (ORDER BY a.loan_id) AS rn FROM loans a JOIN (SELECT loan_id FROM loans WHERE amount < 769146) b ON a.loan_id = b.loan_id) t WHERE rn = loan_id - 2000000000"
        => Refuse("loans.amount", "");

    // ==== aggregates that differ by one row, released together =========================


    // ==== legitimate analyst queries over the same shapes ==============================

    semi_join_on_a_plain_status_then_narrowed:
        "SELECT COUNT(*), SUM(amount) FROM loans WHERE loan_id IN (SELECT loan_id FROM loans WHERE status = 'repaid') AND amount > 150000"
        => RevealNothing;
    correlated_exists_by_equality_on_plain_data:
        "SELECT status, AVG(amount), COUNT(*) FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.status = a.status AND b.loan_id > 2000000030) GROUP BY status"
        => RevealNothing;
    scalar_subquery_on_plain_data_in_a_filter:
        "SELECT COUNT(*), SUM(amount) FROM loans WHERE loan_id > (SELECT MIN(loan_id) FROM loans) + 10"
        => RevealNothing;
    intersect_of_plain_branches:
        "SELECT COUNT(*) FROM (SELECT loan_id FROM loans WHERE status = 'active' INTERSECT SELECT loan_id FROM loans WHERE loan_id > 2000000010) t"
        => RevealNothing;
    loans_by_borrowers_city_on_the_key:
        "SELECT p.city, COUNT(*), SUM(l.amount) FROM loans l JOIN persons p ON l.person_id = p.person_id GROUP BY p.city"
        => RevealNothing;
    persons_with_active_loans_by_city:
        "SELECT p.city, COUNT(*), AVG(p.salary) FROM persons p WHERE EXISTS (SELECT 1 FROM loans l WHERE l.person_id = p.person_id AND l.status = 'active') GROUP BY p.city"
        => RevealNothing;
    // Safe, but refused: an IN subquery's result counts as per-row data, whatever chose
    // its rows. The same narrowing written as a key join (next) is allowed.
    semi_join_on_an_amount_threshold_alone:
        "SELECT status, COUNT(*) FROM loans WHERE loan_id IN (SELECT loan_id FROM loans WHERE amount > 150000) GROUP BY status"
        => Refuse("loans.amount", "");
    key_join_to_the_loans_above_a_threshold:
        "SELECT a.status, COUNT(*) FROM loans a JOIN (SELECT loan_id FROM loans WHERE amount > 150000) b ON a.loan_id = b.loan_id GROUP BY a.status"
        => RevealNothing;
}
