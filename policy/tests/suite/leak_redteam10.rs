//! A tenth red team, against the ninth's fix (a subquery's aggregate is correlated when an
//! outer column chooses its rows other than by an equality, or is a grouping key): the
//! same "all loans but this one" group, made per outer row by other routes. The
//! complement of an equality-correlated set one subquery down (NOT EXISTS, NOT IN, `<>
//! ALL`, EXCEPT, an anti join, an outer join's padding), an outer id laundered through a
//! scalar subquery, DISTINCT and DISTINCT ON keys that merge the outer loan into a
//! neighbour, a LIMIT or OFFSET ordered by an outer column, a window ordered or
//! partitioned by one, a semi or anti join whose ON reads one, a HAVING below a second
//! aggregate, a UNION branch, a two-level correlation, UNNEST of an outer value, a FILTER
//! or CASE inside the aggregate, and equalities that are not partitions. Each tries to
//! list, in one answer, the loans whose amount passes a threshold (the total, 10608395,
//! minus the sum of all others), or one salary. A few legitimate correlated queries must
//! stay allowed.
//!
//! When written, 12 attacks got through the decision (the tests assert the refusal they
//! should meet). The `outer` mark of a flow does not cross an EXISTS, IN, `<> ALL` or
//! EXCEPT subquery (their flows are built afresh, and an equality-correlated inner set
//! is not "correlated"), so the complement of `c.loan_id = a.loan_id` one subquery down
//! (NOT EXISTS, NOT IN, `<> ALL`, EXCEPT, and an inequality behind EXISTS or IN) chooses
//! all loans but the outer one unmarked; a join's filter that equates an inner column
//! with an outer one counts as a partition even where the join is an anti join or its
//! padding is then tested (`LEFT ANTI JOIN ... AND c.loan_id = a.loan_id`, `LEFT JOIN
//! ... WHERE c.loan_id IS NULL`); and a Sort or LIMIT ordered by an outer column marks
//! nothing (`ORDER BY d.loan_id = a.loan_id LIMIT 39`, `OFFSET 1`). DataFusion 55
//! cannot run any of these plans (nested correlation, EXISTS over a LIMIT), so they
//! leaked nothing yet. DISTINCT and DISTINCT ON keys that read the outer loan were
//! refused here only because every dataset of this world declares a subject key; the
//! scalar-subquery routes only because a scalar subquery can fail. All are now refused
//! as correlated: a subquery that reads a column from beyond its enclosing query, a
//! join whose condition does not narrow, and a sort or DISTINCT key that reads an outer
//! column each make the rows correlated.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;
/// The first loan: amount 100000, among the small loans (below 300000: 26 of them).
const FIRST: i64 = 2_000_000_001;

/// The outer loans for which `inner` (a subquery over `loans b` that may read `a`) has a
/// group whose SUM of amounts is below 9900000: with the group of all loans but `a`,
/// exactly the loans above 708395 (loan x).
fn listed(from_where: &str) -> String {
    format!(
        "SELECT a.loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM {from_where} HAVING SUM(b.amount) < 9900000)"
    )
}

/// The outer loans for which `inner` (a derived table `t` of the small loans' ids, per
/// outer loan) holds fewer than 26 rows: the small loans but the first.
fn small_listed(inner: &str) -> String {
    format!(
        "SELECT a.loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM {inner} t HAVING COUNT(*) < 26)"
    )
}

attacks! {
    // ==== the complement of an equality-correlated set, one subquery down ==============

    // The inner EXISTS is correlated by equalities only (a partition); its negation in
    // the middle subquery keeps every loan but the outer one.
    not_exists_of_an_equality_correlated_set:
        listed("loans b WHERE NOT EXISTS (SELECT 1 FROM loans c WHERE c.loan_id = b.loan_id AND c.loan_id = a.loan_id)")
        => Refuse("loans.amount", "correlated");
    not_in_an_equality_correlated_set:
        listed("loans b WHERE b.loan_id NOT IN (SELECT c.loan_id FROM loans c WHERE c.loan_id = a.loan_id)")
        => Refuse("loans.amount", "correlated");
    not_equal_to_all_of_an_equality_correlated_set:
        listed("loans b WHERE b.loan_id <> ALL (SELECT c.loan_id FROM loans c WHERE c.loan_id = a.loan_id)")
        => Refuse("loans.amount", "correlated");
    in_an_except_of_an_equality_correlated_set:
        listed("loans b WHERE b.loan_id IN (SELECT loan_id FROM loans EXCEPT SELECT c.loan_id FROM loans c WHERE c.loan_id = a.loan_id)")
        => Refuse("loans.amount", "correlated");
    // The inequality one level down, behind EXISTS and IN, whose flows drop `outer`.
    exists_of_an_inequality_one_level_down:
        listed("loans b WHERE EXISTS (SELECT 1 FROM loans c WHERE c.loan_id = b.loan_id AND c.loan_id <> a.loan_id)")
        => Refuse("loans.amount", "correlated");
    in_an_inequality_one_level_down:
        listed("loans b WHERE b.loan_id IN (SELECT c.loan_id FROM loans c WHERE c.loan_id <> a.loan_id)")
        => Refuse("loans.amount", "correlated");
    // The outer id laundered through a scalar subquery correlated by equality.
    outer_id_through_a_scalar_subquery:
        listed("loans b WHERE b.loan_id <> (SELECT MAX(c.loan_id) FROM loans c WHERE c.loan_id = a.loan_id)")
        => Refuse("loans.amount", "");
    // An anti join, inside the subquery, on the outer loan by equality.
    anti_join_on_the_outer_loan_by_equality:
        listed("loans b LEFT ANTI JOIN loans c ON b.loan_id = c.loan_id AND c.loan_id = a.loan_id")
        => Refuse("loans.amount", "correlated");
    // An outer join on the key, padded exactly for every loan but the outer one.
    left_join_padding_on_the_outer_loan:
        listed("loans b LEFT JOIN loans c ON b.loan_id = c.loan_id AND c.loan_id = a.loan_id WHERE c.loan_id IS NULL")
        => Refuse("loans.amount", "correlated");
    // The same differences as a column: each loan beside the total of all the others.
    all_others_summed_in_a_scalar_subquery_in_select:
        "SELECT a.loan_id, (SELECT SUM(b.amount) FROM loans b WHERE b.loan_id NOT IN (SELECT c.loan_id FROM loans c WHERE c.loan_id = a.loan_id)) AS others FROM loans a"
        => Refuse("loans.amount", "");
    // ... and as an order: the loan whose others sum least is the largest loan.
    all_others_summed_in_order_by_with_limit:
        format!("SELECT SUM(loan_id) - {X} FROM (SELECT a.loan_id FROM loans a ORDER BY (SELECT SUM(b.amount) FROM loans b WHERE NOT EXISTS (SELECT 1 FROM loans c WHERE c.loan_id = b.loan_id AND c.loan_id = a.loan_id)) LIMIT 1) t")
        => Refuse("loans.amount", "");
    // Two levels: the inequality reads the outermost query directly.
    inequality_on_the_outermost_query_two_levels_down:
        "SELECT a.loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM loans c WHERE c.loan_id = a.loan_id AND EXISTS (SELECT 1 FROM loans b WHERE b.loan_id <> a.loan_id HAVING SUM(b.amount) < 9900000))"
        => Refuse("loans.amount", "correlated");
    // Salaries: every person but the outer one, by the join-level id.
    other_persons_salaries_by_a_nested_not_exists:
        "SELECT COUNT(*) FROM persons p WHERE EXISTS (SELECT 1 FROM persons q WHERE NOT EXISTS (SELECT 1 FROM persons r WHERE r.person_id = q.person_id AND r.person_id = p.person_id) HAVING SUM(q.salary) < 250000)"
        => Refuse("persons.salary", "correlated");
    // By the masked id number (unique after masking? the last four digits are kept).
    other_persons_salaries_by_a_masked_not_in:
        "SELECT COUNT(*) FROM persons p WHERE EXISTS (SELECT 1 FROM persons q WHERE q.id_number NOT IN (SELECT r.id_number FROM persons r WHERE r.id_number = p.id_number) HAVING SUM(q.salary) < 250000)"
        => Refuse("persons.salary", "correlated");

    // ==== DISTINCT and DISTINCT ON keys that read the outer loan =======================

    // The outer loan is merged into the next one, which DISTINCT ON keeps: the sum of the
    // others, per outer loan.
    distinct_on_merges_the_outer_loan_into_the_next:
        listed("(SELECT DISTINCT ON (CASE WHEN d.loan_id = a.loan_id THEN a.loan_id + 1 ELSE d.loan_id END) d.amount FROM loans d ORDER BY CASE WHEN d.loan_id = a.loan_id THEN a.loan_id + 1 ELSE d.loan_id END, d.loan_id DESC) b")
        => Refuse("loans.amount", "");
    // The outer loan merged into the first among the small loans: 25 rows when it is
    // small, 26 when not.
    distinct_on_counts_the_small_loans_but_the_outer_one:
        small_listed(&format!("(SELECT DISTINCT ON (CASE WHEN b.loan_id = a.loan_id THEN {FIRST} ELSE b.loan_id END) b.loan_id FROM loans b WHERE b.amount < 300000)"))
        => Refuse("loans.amount", "");
    distinct_counts_the_small_loans_but_the_outer_one:
        small_listed(&format!("(SELECT DISTINCT CASE WHEN b.loan_id = a.loan_id THEN {FIRST} ELSE b.loan_id END AS k FROM loans b WHERE b.amount < 300000)"))
        => Refuse("loans.amount", "");
    count_distinct_of_a_key_that_reads_the_outer_loan:
        format!("SELECT a.loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.amount < 300000 HAVING COUNT(DISTINCT CASE WHEN b.loan_id = a.loan_id THEN {FIRST} ELSE b.loan_id END) < 26)")
        => Refuse("loans.amount", "");

    // ==== a FILTER or a condition inside the aggregate =================================

    count_of_nullif_the_outer_loan_over_small_loans:
        "SELECT a.loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.amount < 300000 HAVING COUNT(NULLIF(b.loan_id, a.loan_id)) < 26)"
        => Refuse("loans.amount", "");
    count_filtered_by_the_outer_loan_over_small_loans:
        "SELECT a.loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.amount < 300000 HAVING COUNT(*) FILTER (WHERE b.loan_id <> a.loan_id) < 26)"
        => Refuse("loans.amount", "");
    sum_filtered_by_the_outer_loan:
        "SELECT a.loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM loans b HAVING SUM(b.amount) FILTER (WHERE b.loan_id <> a.loan_id) < 9900000)"
        => Refuse("loans.amount", "");
    sum_of_a_case_on_the_outer_loan:
        "SELECT a.loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM loans b HAVING SUM(CASE WHEN b.loan_id <> a.loan_id THEN b.amount ELSE 0 END) < 9900000)"
        => Refuse("loans.amount", "");

    // ==== a LIMIT, an OFFSET or a window ordered by the outer loan ====================

    limit_drops_the_outer_loan_ordered_last:
        listed("(SELECT d.amount FROM loans d ORDER BY d.loan_id = a.loan_id, d.loan_id LIMIT 39) b")
        => Refuse("loans.amount", "correlated");
    offset_drops_the_outer_loan_ordered_first:
        listed("(SELECT d.amount FROM loans d ORDER BY d.loan_id <> a.loan_id, d.loan_id OFFSET 1) b")
        => Refuse("loans.amount", "correlated");
    limit_over_small_loans_ordered_by_the_outer_loan:
        small_listed("(SELECT b.loan_id FROM loans b WHERE b.amount < 300000 ORDER BY b.loan_id = a.loan_id, b.loan_id LIMIT 25)")
        => Refuse("loans.amount", "");
    row_number_ordered_by_the_outer_loan:
        listed("(SELECT d.amount, row_number() OVER (ORDER BY d.loan_id = a.loan_id DESC, d.loan_id) AS rn FROM loans d) b WHERE b.rn > 1")
        => Refuse("loans.amount", "");
    window_partitioned_by_the_outer_loan:
        listed("(SELECT d.amount, COUNT(*) OVER (PARTITION BY d.loan_id = a.loan_id) AS n FROM loans d) b WHERE b.n > 1")
        => Refuse("loans.amount", "");

    // ==== joins, HAVING, unions and UNNEST inside the subquery ========================

    semi_join_on_an_outer_inequality:
        listed("loans b LEFT SEMI JOIN loans c ON b.loan_id = c.loan_id AND c.loan_id <> a.loan_id")
        => Refuse("loans.amount", "correlated");
    union_of_the_loans_before_and_after_the_outer_one:
        listed("(SELECT d.amount FROM loans d WHERE d.loan_id < a.loan_id UNION ALL SELECT e.amount FROM loans e WHERE e.loan_id > a.loan_id) b")
        => Refuse("loans.amount", "");
    unnest_of_the_outer_id:
        listed("loans b CROSS JOIN unnest(make_array(a.loan_id)) AS u(me) WHERE b.loan_id <> u.me")
        => RefuseUnsupported("LATERAL");

    // ==== equalities that are not partitions ==========================================

    an_equality_negated_by_is_not_true:
        listed("loans b WHERE (b.loan_id = a.loan_id) IS NOT TRUE")
        => Refuse("loans.amount", "correlated");
    an_equality_compared_with_false:
        listed("loans b WHERE (b.loan_id = a.loan_id) = false")
        => Refuse("loans.amount", "correlated");
    an_equality_or_a_constant_status:
        "SELECT a.loan_id FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id OR b.status = 'active' HAVING SUM(b.amount) > 3000000)"
        => Refuse("loans.amount", "correlated");
    an_equality_through_a_text_cast_negated:
        listed("loans b WHERE NOT (CAST(b.loan_id AS VARCHAR) = CAST(a.loan_id AS VARCHAR))")
        => Refuse("loans.amount", "correlated");

    // ==== legitimate correlated queries ===============================================

    loans_counted_per_status_in_a_scalar_subquery:
        "SELECT a.status, (SELECT COUNT(*) FROM loans b WHERE b.status = a.status) AS n FROM loans a"
        => RevealNothing;
    cities_of_borrowers_by_a_correlated_exists:
        "SELECT p.city, COUNT(*) FROM persons p WHERE EXISTS (SELECT 1 FROM loans l WHERE l.person_id = p.person_id) GROUP BY p.city"
        => RevealNothing;
    statuses_whose_loans_sum_above_a_threshold:
        "SELECT a.status, COUNT(*) FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.status = a.status HAVING SUM(b.amount) > 1000000) GROUP BY a.status"
        => RevealNothing;
    amounts_summed_but_repaid_loans_by_a_keyed_not_exists:
        "SELECT a.status, SUM(a.amount) FROM loans a WHERE NOT EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.status = 'repaid') GROUP BY a.status"
        => RevealNothing;
    loans_in_an_equality_correlated_in_subquery:
        "SELECT a.status, SUM(a.amount) FROM loans a WHERE a.loan_id IN (SELECT b.loan_id FROM loans b WHERE b.status = a.status) GROUP BY a.status"
        => RevealNothing;
    loans_after_the_first_of_their_status:
        "SELECT a.status, COUNT(*) FROM loans a WHERE a.loan_id > (SELECT MIN(b.loan_id) FROM loans b WHERE b.status = a.status) GROUP BY a.status"
        => RevealNothing;
}
