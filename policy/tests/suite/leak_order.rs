//! Leak class 4: selection by a protected ordering. `ORDER BY ... LIMIT n` keeps the rows
//! an order ranks first, so ordering by protected data selects rows by it: the five
//! smallest loans plus the target make MAX return the target's amount. A sort on
//! protected data that a LIMIT, OFFSET or DISTINCT ON cuts needs `plain`.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;

attacks! {
    target_first_then_the_smallest_amounts:
        format!("SELECT MAX(amount) FROM (SELECT amount FROM loans ORDER BY CASE WHEN loan_id = {X} THEN 0 ELSE 1 END, amount LIMIT 5) t")
        => Refuse("loans.amount", "LIMIT");
    array_agg_of_the_five_largest_loans:
        "SELECT array_agg(loan_id) FROM (SELECT loan_id FROM loans ORDER BY amount DESC LIMIT 5) t"
        => Refuse("loans.amount", "LIMIT");
    smallest_id_among_the_largest_loans:
        "SELECT MIN(loan_id) FROM (SELECT loan_id FROM loans ORDER BY amount DESC LIMIT 5) t"
        => Refuse("loans.amount", "LIMIT");
    sum_of_a_ranked_window_cut_by_offset:
        "SELECT SUM(amount) FROM (SELECT amount FROM loans ORDER BY amount DESC LIMIT 5 OFFSET 1) t"
        => Refuse("loans.amount", "LIMIT");
    average_of_the_five_smallest:
        "SELECT AVG(amount) FROM (SELECT amount FROM loans ORDER BY amount LIMIT 5) t"
        => Refuse("loans.amount", "LIMIT");
    order_by_the_target_amount_only:
        format!("SELECT SUM(amount) FROM (SELECT amount FROM loans ORDER BY CASE WHEN loan_id = {X} THEN amount ELSE 0 END DESC LIMIT 5) t")
        => Refuse("loans.amount", "LIMIT");
    distinct_on_keeps_the_largest_per_group:
        "SELECT MIN(amount) FROM (SELECT DISTINCT ON (status) status, amount FROM loans ORDER BY status, amount DESC) t"
        => Refuse("loans.amount", "DISTINCT ON");
    order_by_an_aggregate_level_text_then_limit:
        "SELECT MAX(amount) FROM (SELECT amount FROM loans ORDER BY employer, loan_id LIMIT 5) t"
        => Refuse("loans.employer", "LIMIT");
    sort_in_one_derived_table_cut_in_another:
        "SELECT MAX(a) FROM (SELECT amount AS a FROM (SELECT amount FROM loans ORDER BY amount DESC LIMIT 100) s LIMIT 5) t"
        => Refuse("loans.amount", "LIMIT");
    in_list_of_the_largest_loans:
        "SELECT MAX(amount) FROM loans WHERE loan_id IN (SELECT loan_id FROM loans ORDER BY amount DESC LIMIT 5)"
        => Refuse("loans.amount", "LIMIT");
    top_salaries_in_a_derived_table:
        "SELECT MIN(salary) FROM (SELECT salary FROM persons ORDER BY salary DESC LIMIT 5) t"
        => Refuse("persons.salary", "LIMIT");
    largest_loans_then_their_statuses:
        "SELECT status, COUNT(*) FROM (SELECT status FROM loans ORDER BY amount DESC LIMIT 6) t GROUP BY status"
        => Refuse("loans.amount", "LIMIT");
    an_order_without_limit_changes_no_statistic:
        "SELECT SUM(amount) FROM (SELECT amount FROM loans ORDER BY amount) t"
        => RevealNothing;
    a_limit_over_a_plain_order_is_fine:
        "SELECT SUM(amount) FROM (SELECT amount FROM loans ORDER BY loan_id LIMIT 10) t"
        => RevealNothing;
    // A LIMIT or OFFSET counted by protected data would pass as many rows as it says.
    limit_counted_by_a_subquery_on_amounts:
        "SELECT COUNT(*) FROM (SELECT loan_id FROM loans ORDER BY loan_id LIMIT (SELECT COUNT(*) FROM loans WHERE amount > 700000)) t"
        => RefuseUnsupported("LIMIT and OFFSET must be constants");
    offset_counted_by_a_subquery_on_amounts:
        "SELECT COUNT(*) FROM (SELECT loan_id FROM loans ORDER BY loan_id OFFSET (SELECT COUNT(*) FROM loans WHERE amount > 700000)) t"
        => RefuseUnsupported("LIMIT and OFFSET must be constants");
    a_constant_expression_as_limit_is_fine:
        "SELECT SUM(amount) FROM (SELECT amount FROM loans ORDER BY loan_id LIMIT 10 + 10) t"
        => RevealNothing;
}
