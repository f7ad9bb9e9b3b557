//! Correlated subqueries that difference: a condition on an outer column that is not an
//! equality with it (`b.loan_id <> a.loan_id`) gives each outer row a group of its own,
//! all loans but this one. Each group passes suppression, and two of them differ by one
//! loan, so `HAVING SUM(b.amount) > t` on the group of loan x says whether x's amount is
//! below the total minus t. An aggregate that releases aggregate-level data over such
//! rows is refused; a correlation by equality partitions the rows as GROUP BY does.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;

attacks! {
    all_but_one_summed_in_exists:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT 1 FROM loans b WHERE b.loan_id <> a.loan_id HAVING SUM(b.amount) > 9808395)")
        => Refuse("loans.amount", "correlated");
    all_but_one_largest_in_not_exists:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND NOT EXISTS (SELECT 1 FROM loans b WHERE b.loan_id <> a.loan_id HAVING MAX(b.amount) >= 769145)")
        => Refuse("loans.amount", "correlated");
    the_loan_without_which_the_maximum_drops:
        "SELECT a.loan_id FROM loans a WHERE NOT EXISTS (SELECT 1 FROM loans b WHERE b.loan_id <> a.loan_id HAVING MAX(b.amount) >= 769145)"
        => Refuse("loans.amount", "correlated");
    all_but_one_grouped_in_an_in_subquery:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND a.status IN (SELECT b.status FROM loans b WHERE b.loan_id <> a.loan_id GROUP BY b.status HAVING SUM(b.amount) > 0)")
        => Refuse("loans.amount", "correlated");
    a_sliding_window_of_loans_by_id:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT 1 FROM loans b WHERE b.loan_id < a.loan_id + 5 HAVING MAX(b.amount) > 700000)")
        => Refuse("loans.amount", "correlated");
    loans_from_this_one_on:
        "SELECT a.loan_id FROM loans a WHERE a.loan_id IN (SELECT MIN(b.loan_id) FROM loans b WHERE b.loan_id >= a.loan_id GROUP BY b.status HAVING SUM(b.amount) > 0)"
        => Refuse("loans.amount", "correlated");
    a_correlation_through_an_expression:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT 1 FROM loans b WHERE b.loan_id + 0 = a.loan_id + 1 - 1 OR b.status = 'active' HAVING AVG(b.amount) > 300000)")
        => Refuse("loans.amount", "correlated");
    other_salaries_than_this_persons:
        "SELECT COUNT(*) FROM persons a WHERE a.city = 'beijing' AND EXISTS (SELECT 1 FROM persons b WHERE b.name <> a.name HAVING SUM(b.salary) > 300000)"
        => Refuse("persons.salary", "correlated");
    all_but_one_in_a_correlated_join:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT 1 FROM loans b JOIN loans c ON b.loan_id = c.loan_id AND c.loan_id <> a.loan_id HAVING SUM(b.amount) > 9808395)")
        => Refuse("loans.amount", "correlated");
    all_but_one_counted_in_a_derived_table:
        format!("SELECT COUNT(*) FROM loans a WHERE a.loan_id = {X} AND EXISTS (SELECT 1 FROM (SELECT b.amount FROM loans b WHERE b.loan_id <> a.loan_id) t HAVING SUM(t.amount) > 9808395)")
        => Refuse("loans.amount", "correlated");
    // LATERAL gives each outer row a derived table of its own: all loans but this one.
    all_but_one_in_a_lateral_derived_table:
        format!("SELECT SUM(t.s) FROM loans a, LATERAL (SELECT SUM(b.amount) AS s FROM loans b WHERE b.loan_id <> a.loan_id) t WHERE a.loan_id = {X}")
        => RefuseUnsupported("LATERAL");
    a_lateral_join_by_equality:
        "SELECT COUNT(*) FROM persons p CROSS JOIN LATERAL (SELECT amount FROM loans WHERE loans.person_id = p.person_id) t"
        => RefuseUnsupported("LATERAL");
    a_correlation_by_equality_is_a_grouping:
        "SELECT status, COUNT(*) FROM loans a WHERE EXISTS (SELECT 1 FROM loans b WHERE b.status = a.status HAVING MAX(b.amount) > 700000) GROUP BY status"
        => RevealNothing;
}
