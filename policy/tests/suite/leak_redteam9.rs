//! A ninth red team, against the two fixes of the eighth: per-row flags that a union or
//! grouping sets made out of constants (now per-row data), and row decisions that a
//! GROUP BY dropped (now kept above it). Each attack makes the same per-row flag by
//! another route (DISTINCT or DISTINCT ON over a union, a CTE used twice, VALUES or
//! UNNEST joined by key, an outer join's padding through a GROUP BY, a window, a scalar
//! subquery, COALESCE and NULLIF, IN or EXISTS beside the amount, INTERSECT and EXCEPT),
//! or carries a row decision through another node (DISTINCT, a window, a union, a join,
//! a scalar subquery, a LIMIT, a HAVING on an outer column). Each tries to learn loan
//! x's amount, a salary, a borrower, or a row the row filter hides. A few legitimate
//! queries of the same shapes must stay allowed.
//!
//! When written, every route around the two fixes was refused, and the legitimate
//! queries allowed; 3 attacks of another route got through the decision: an outer
//! column in a subquery's GROUP BY chose its groups (all loans but the outer one)
//! without making the subquery correlated. DataFusion 55 cannot run those plans, so
//! they leaked nothing yet.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;

/// Every loan but x carries flag 0, loan x flag 1 (a UNION ALL of two constants).
fn flagged() -> String {
    format!(
        "(SELECT loan_id, 1 AS f FROM loans WHERE loan_id = {X} UNION ALL SELECT loan_id, 0 AS f FROM loans WHERE loan_id <> {X})"
    )
}

/// A semi join of every loan with `flags` (a derived table of `loan_id, f` with loan x's
/// flag 1 and every other loan's 0): 40 loans when x's amount is below 769146, else 39.
fn semi_on(flags: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM loans a LEFT SEMI JOIN {flags} u ON a.loan_id = u.loan_id AND (u.f = 0 OR a.amount < 769146)"
    )
}

/// Loan x's id, kept by a GROUP BY over a semi join with the loans at or above its
/// amount: one row when x's amount is at least 769145, none otherwise.
fn grouped_semi() -> String {
    format!(
        "(SELECT a.loan_id FROM loans a LEFT SEMI JOIN (SELECT loan_id FROM loans WHERE amount >= 769145) b ON a.loan_id = b.loan_id WHERE a.loan_id = {X} GROUP BY a.loan_id)"
    )
}

attacks! {
    // ==== per-row flags by other routes ================================================

    distinct_over_a_union_flag_then_semi_join:
        semi_on(&format!("(SELECT DISTINCT loan_id, f FROM {} d)", flagged()))
        => Refuse("loans.amount", "combines");
    distinct_on_over_a_union_flag_then_semi_join:
        semi_on(&format!("(SELECT DISTINCT ON (loan_id) loan_id, f FROM {} d ORDER BY loan_id, f)", flagged()))
        => Refuse("loans.amount", "combines");
    group_by_the_union_flag_then_semi_join:
        semi_on(&format!("(SELECT loan_id, f FROM {} d GROUP BY loan_id, f)", flagged()))
        => Refuse("loans.amount", "combines");
    union_flag_in_a_cte_used_twice:
        format!("WITH u AS {} SELECT COUNT(*) FROM loans a LEFT SEMI JOIN u ON a.loan_id = u.loan_id AND (u.f = 0 OR a.amount < 769146) LEFT SEMI JOIN u v ON a.loan_id = v.loan_id AND v.f >= 0", flagged())
        => Refuse("loans.amount", "combines");
    // Padding from VALUES: loan x meets the one row, every other loan is padded to 0.
    values_flag_joined_by_key:
        semi_on(&format!("(SELECT l.loan_id, COALESCE(v.f, 0) AS f FROM loans l LEFT JOIN (VALUES ({X}, 1)) v(id, f) ON l.loan_id = v.id)"))
        => Refuse("loans.amount", "combines");
    // An outer join's padding, made a group key, then a plain-looking column.
    outer_join_padding_through_a_group_by:
        semi_on(&format!("(SELECT l.loan_id, COALESCE(t.one, 0) AS f FROM loans l LEFT JOIN (SELECT loan_id, 1 AS one FROM loans WHERE loan_id = {X}) t ON l.loan_id = t.loan_id GROUP BY l.loan_id, COALESCE(t.one, 0))"))
        => Refuse("loans.amount", "combines");
    // row_number() over an order that puts loan x first: 1 on x alone.
    window_row_number_flag:
        semi_on(&format!("(SELECT loan_id, CASE WHEN row_number() OVER (ORDER BY loan_id = {X} DESC, loan_id) = 1 THEN 1 ELSE 0 END AS f FROM loans)"))
        => Refuse("loans.amount", "combines");
    scalar_subquery_flag:
        semi_on(&format!("(SELECT b.loan_id, (SELECT COUNT(*) FROM loans c WHERE c.loan_id = b.loan_id AND c.loan_id = {X}) AS f FROM loans b)"))
        => Refuse("loans.amount", "");
    // NULLIF makes x's flag NULL, COALESCE puts its amount in its place.
    coalesce_nullif_of_a_union_column:
        format!("SELECT COUNT(*) FROM loans a LEFT SEMI JOIN {} u ON a.loan_id = u.loan_id AND COALESCE(NULLIF(u.f, 1), a.amount) < 769146", flagged())
        => Refuse("loans.amount", "combines");
    // Each loan meets the UNNEST row whose flag says whether it is loan x.
    unnest_of_a_constant_array_joined_by_a_flag:
        semi_on(&format!("(SELECT l.loan_id, n.f FROM loans l JOIN (SELECT unnest(make_array(0, 1)) AS f) n ON (l.loan_id = {X}) = (n.f = 1))"))
        => Refuse("loans.amount", "combines");
    // A mark join in the making: IN (subquery) beside the amount, in one disjunction.
    in_subquery_or_amount:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id IN (SELECT loan_id FROM loans WHERE loan_id <> {X}) OR a.amount < 769146")
        => Refuse("loans.amount", "combines");
    exists_or_amount:
        format!("SELECT COUNT(*) FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.loan_id <> {X}) OR a.amount < 769146")
        => Refuse("loans.amount", "combines");
    union_flag_inside_a_correlated_exists:
        format!("SELECT COUNT(*) FROM loans a WHERE EXISTS (SELECT 1 FROM {} u WHERE u.loan_id = a.loan_id AND (u.f = 0 OR a.amount < 769146))", flagged())
        => Refuse("loans.amount", "");
    union_flag_in_an_inner_join_on_the_key:
        format!("SELECT COUNT(*) FROM loans a JOIN {} u ON a.loan_id = u.loan_id WHERE u.f = 0 OR a.amount < 769146", flagged())
        => Refuse("loans.amount", "combines");
    // INTERSECT (distinct) of (id, amount below t) with both flags for all but x.
    intersect_distinct_with_union_flags:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, amount < 769146 AS below FROM loans INTERSECT (SELECT loan_id, true FROM loans UNION ALL SELECT loan_id, false FROM loans WHERE loan_id <> {X})) t")
        => Refuse("loans.amount", "");
    // EXCEPT removes (x, false): 40 rows when x is below t, 39 when not.
    except_of_one_loans_flag:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, amount < 769146 AS below FROM loans EXCEPT SELECT loan_id, false FROM loans WHERE loan_id = {X}) t")
        => Refuse("loans.amount", "");
    except_all_of_one_loans_flag:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, amount < 769146 AS below FROM loans EXCEPT ALL SELECT loan_id, false FROM loans WHERE loan_id = {X}) t")
        => Refuse("loans.amount", "");
    // A grouping-set key that is NULL for loan x alone, through DISTINCT.
    grouping_set_key_through_distinct:
        semi_on(&format!("(SELECT DISTINCT loan_id, CASE WHEN c IS NULL THEN 1 ELSE 0 END AS f FROM (SELECT loan_id, c FROM (SELECT loan_id, 'all' AS c FROM loans) s GROUP BY GROUPING SETS ((loan_id), (loan_id, c)) HAVING loan_id <> {X} OR c IS NULL) g)"))
        => Refuse("loans.amount", "combines");
    // Person 10's salary, by the masked id number, with the flag through DISTINCT.
    distinct_union_flag_pins_one_persons_salary:
        "SELECT COUNT(*) FROM persons p LEFT SEMI JOIN (SELECT DISTINCT id_number, f FROM (SELECT id_number, 1 AS f FROM persons WHERE EXTRACT(YEAR FROM birth_date) = 1970 UNION ALL SELECT id_number, 0 FROM persons WHERE EXTRACT(YEAR FROM birth_date) <> 1970) d) u ON p.id_number = u.id_number AND (u.f = 0 OR p.salary < 27771)"
        => Refuse("persons.salary", "combines");
    // The loans of person 17 (hidden by the row filter) by a join-level column against
    // union constants.
    join_level_borrower_against_union_constants:
        "SELECT loan_id FROM loans a LEFT SEMI JOIN (SELECT 17 AS pid UNION ALL SELECT 18) u ON a.person_id = u.pid"
        => Refuse("loans.person_id", "");
    // A union flag over the rows the row filter hides: the join-level id against a
    // union's column is a comparison, not a join.
    union_flag_over_hidden_rows:
        "SELECT COUNT(*), MAX(p.city) FROM persons p LEFT SEMI JOIN (SELECT person_id, 1 AS f FROM persons WHERE city = 'langfang' UNION ALL SELECT person_id, 0 FROM persons WHERE city <> 'langfang') u ON p.person_id = u.person_id AND u.f = 1"
        => Refuse("persons.person_id", "");
    // The same over the visible cities by the plain city: the hidden rows are not there.
    union_flag_by_city_over_hidden_rows:
        "SELECT COUNT(*), MAX(p.city) FROM persons p LEFT SEMI JOIN (SELECT city, 1 AS f FROM persons WHERE city = 'langfang' UNION ALL SELECT city, 0 FROM persons WHERE city <> 'langfang') u ON p.city = u.city AND u.f = 1"
        => RevealNothing;
    // Two constant branches side by side in a FULL JOIN instead of a union.
    full_join_of_two_constant_branches:
        semi_on(&format!("(SELECT COALESCE(s.loan_id, t.loan_id) AS loan_id, COALESCE(s.f, t.f) AS f FROM (SELECT loan_id, 1 AS f FROM loans WHERE loan_id = {X}) s FULL JOIN (SELECT loan_id, 0 AS f FROM loans WHERE loan_id <> {X}) t ON s.loan_id = t.loan_id)"))
        => Refuse("loans.amount", "combines");
    // A UNION (distinct) of the flags, then the semi join.
    union_distinct_flag_then_semi_join:
        semi_on(&format!("(SELECT loan_id, 1 AS f FROM loans WHERE loan_id = {X} UNION SELECT loan_id, 0 AS f FROM loans WHERE loan_id <> {X})"))
        => Refuse("loans.amount", "combines");

    // ==== a disjunction spelled as a union of two choices ==============================

    // `amount < t OR loan_id <> x` as the union of the two sets of ids: 40 or 39.
    count_distinct_over_a_union_of_two_choices:
        format!("SELECT COUNT(DISTINCT loan_id) FROM (SELECT loan_id FROM loans WHERE amount < 769146 UNION ALL SELECT loan_id FROM loans WHERE loan_id <> {X}) t")
        => Refuse("loans.amount", "");
    union_distinct_of_two_choices_counted:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM loans WHERE amount < 769146 UNION SELECT loan_id FROM loans WHERE loan_id <> {X}) t")
        => Refuse("loans.amount", "");
    semi_join_on_a_union_of_two_choices:
        format!("SELECT COUNT(*) FROM loans a LEFT SEMI JOIN (SELECT loan_id FROM loans WHERE amount < 769146 UNION ALL SELECT loan_id FROM loans WHERE loan_id <> {X}) u ON a.loan_id = u.loan_id")
        => Refuse("loans.amount", "");
    intersect_with_a_union_of_two_choices:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM loans INTERSECT (SELECT loan_id FROM loans WHERE amount < 769146 UNION ALL SELECT loan_id FROM loans WHERE loan_id <> {X})) t")
        => Refuse("loans.amount", "");
    grouped_union_of_two_choices_counted:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM (SELECT loan_id FROM loans WHERE amount < 769146 UNION ALL SELECT loan_id FROM loans WHERE loan_id <> {X}) u GROUP BY loan_id) g")
        => Refuse("loans.amount", "");

    // ==== row decisions carried through other nodes ====================================

    exists_over_a_distinct_subquery_reading_the_outer_amount:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT DISTINCT b.status FROM loans b WHERE b.loan_id = a.loan_id AND a.amount < 769146)")
        => Refuse("loans.amount", "");
    exists_over_a_limited_subquery_reading_the_outer_amount:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND a.amount < 769146 ORDER BY b.loan_id LIMIT 1)")
        => Refuse("loans.amount", "");
    having_on_the_outer_amount_in_a_correlated_subquery:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id GROUP BY b.loan_id HAVING COUNT(*) > 0 AND a.amount < 769146)")
        => Refuse("loans.amount", "");
    grouped_then_distinct_in_an_exists:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT DISTINCT b.status FROM loans b WHERE b.loan_id = a.loan_id AND a.amount < 769146 GROUP BY b.loan_id, b.status)")
        => Refuse("loans.amount", "");
    in_a_grouped_subquery_on_the_outer_borrower:
        "SELECT loan_id FROM loans a WHERE a.loan_id IN (SELECT b.loan_id FROM loans b WHERE a.person_id = 17 GROUP BY b.loan_id)"
        => Refuse("loans.person_id", "");
    grouped_semi_join_joined_back_to_loans:
        format!("SELECT COUNT(*) FROM {} t JOIN loans c ON c.loan_id = t.loan_id", grouped_semi())
        => Refuse("loans.amount", "");
    distinct_over_a_semi_join_counted_outside:
        format!("SELECT COUNT(*) FROM (SELECT DISTINCT a.loan_id FROM loans a LEFT SEMI JOIN (SELECT loan_id FROM loans WHERE amount >= 769145) b ON a.loan_id = b.loan_id WHERE a.loan_id = {X}) t")
        => Refuse("loans.amount", "");
    window_over_a_grouped_semi_join:
        format!("SELECT MAX(rn) FROM (SELECT loan_id, row_number() OVER (ORDER BY loan_id) AS rn FROM {} g) w", grouped_semi())
        => Refuse("loans.amount", "");
    union_of_a_grouped_semi_join_and_a_constant:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM {} g UNION ALL SELECT 0) t", grouped_semi())
        => Refuse("loans.amount", "");
    grouped_semi_join_grouped_again:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM {} g GROUP BY loan_id) t", grouped_semi())
        => Refuse("loans.amount", "");
    grouped_semi_join_in_an_in_subquery:
        format!("SELECT COUNT(*) FROM loans c WHERE c.loan_id IN (SELECT loan_id FROM {} g)", grouped_semi())
        => Refuse("loans.amount", "");
    scalar_subquery_over_a_grouped_exists:
        format!("SELECT (SELECT COUNT(*) FROM (SELECT 1 AS one FROM loans b WHERE b.loan_id = {X} AND b.amount >= 769145 GROUP BY b.loan_id) g) FROM loans a WHERE a.loan_id = {X}")
        => Refuse("loans.amount", "");
    // The loans at or above x's amount, grouped by id: groups of one, suppressed, so the
    // INTERSECT is empty whatever the amount.
    intersect_with_suppressed_groups_of_large_loans:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM loans WHERE loan_id = {X} INTERSECT SELECT loan_id FROM (SELECT loan_id FROM loans WHERE amount >= 769145 GROUP BY loan_id) g) t")
        => RevealNothing;

    // ==== an outer column that chooses the groups, not the rows =======================

    // Item 10 refuses `WHERE b.loan_id <> a.loan_id` under an aggregate: each outer row
    // gets the group of all loans but itself. A GROUP BY on the same comparison makes
    // the same two groups, {all but a} (39 loans, released) and {a} (suppressed), with
    // no condition at all, so nothing marks the subquery correlated. Each outer loan is
    // listed when the total minus its amount is below the threshold (the total,
    // 10608395, is released by `SELECT SUM(amount) FROM loans`): every loan whose amount
    // is above 10608395 - t, by id, in one answer. DataFusion cannot yet decorrelate an
    // outer column in a GROUP BY, so the allowed plan fails to run, whatever the data.
    any_over_sums_grouped_by_an_outer_inequality_lists_large_loans:
        "SELECT loan_id FROM loans a WHERE 9900000 > ANY (SELECT SUM(b.amount) FROM loans b GROUP BY b.loan_id <> a.loan_id)"
        => Refuse("loans.amount", "");
    exists_having_a_sum_grouped_by_an_outer_inequality:
        "SELECT loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM loans b GROUP BY b.loan_id <> a.loan_id HAVING SUM(b.amount) < 9900000)"
        => Refuse("loans.amount", "");
    all_over_sums_grouped_by_an_outer_equality:
        "SELECT loan_id FROM loans a WHERE 9900000 > ALL (SELECT SUM(b.amount) FROM loans b GROUP BY b.loan_id = a.loan_id)"
        => Refuse("loans.amount", "");

    // ==== legitimate queries of the same shapes ========================================

    statuses_counted_over_a_union_all:
        "SELECT status, COUNT(*) FROM (SELECT status FROM loans UNION ALL SELECT status FROM loans) t GROUP BY status"
        => RevealNothing;
    rollup_of_plain_columns_counted:
        "SELECT status, COUNT(*) FROM loans GROUP BY ROLLUP(status)"
        => RevealNothing;
    exists_with_a_group_by_over_plain_columns:
        "SELECT a.status, SUM(a.amount) FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id GROUP BY b.loan_id) GROUP BY a.status"
        => RevealNothing;
    semi_join_on_a_union_of_plain_choices_then_summed:
        "SELECT a.status, SUM(a.amount) FROM loans a LEFT SEMI JOIN (SELECT loan_id FROM loans WHERE status = 'active' UNION ALL SELECT loan_id FROM loans WHERE status = 'repaid') u ON a.loan_id = u.loan_id GROUP BY a.status"
        => RevealNothing;
    intersect_of_plain_statuses:
        format!("SELECT status FROM loans WHERE loan_id < {X} INTERSECT SELECT status FROM loans")
        => RevealNothing;
    distinct_statuses_over_a_union_counted:
        "SELECT COUNT(*) FROM (SELECT DISTINCT status FROM (SELECT status FROM loans UNION ALL SELECT status FROM loans) u) t"
        => RevealNothing;
    hidden_cities_through_a_rollup:
        "SELECT city, COUNT(*) FROM persons GROUP BY ROLLUP(city)"
        => RevealNothing;
}
