//! Small groups and their complements: GROUPING SETS, ROLLUP and CUBE release, in one
//! answer, a group and groups that partition it, so the group suppression hides is the
//! difference of those it releases (`GROUPING SETS ((), (loan_id <> x))` gives the total
//! and the total without loan x). Several grouping sets over aggregate-level data are
//! refused; one set, and grouping sets over plain data, are not.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;

attacks! {
    total_and_all_but_one:
        format!("SELECT SUM(amount) FROM loans GROUP BY GROUPING SETS ((), (loan_id <> {X}))")
        => Refuse("loans.amount", "GROUPING SETS");
    rollup_of_one_loan_against_the_rest:
        format!("SELECT loan_id = {X}, SUM(amount) FROM loans GROUP BY ROLLUP(loan_id = {X})")
        => Refuse("loans.amount", "GROUPING SETS");
    cube_of_one_loan_and_a_status:
        format!("SELECT SUM(amount) FROM loans GROUP BY CUBE(loan_id = {X}, status)")
        => Refuse("loans.amount", "GROUPING SETS");
    rollup_of_cities_reveals_the_suppressed_city:
        "SELECT city, SUM(salary) FROM persons GROUP BY ROLLUP(city)"
        => Refuse("persons.salary", "GROUPING SETS");
    rollup_of_statuses_with_an_average:
        "SELECT status, AVG(amount), COUNT(*) FROM loans GROUP BY ROLLUP(status)"
        => Refuse("loans.amount", "GROUPING SETS");
    grouping_sets_of_a_count_over_large_loans:
        format!("SELECT COUNT(*) FROM loans WHERE amount > 300000 GROUP BY GROUPING SETS ((), (loan_id <> {X}))")
        => Refuse("loans.amount", "GROUPING SETS");
    largest_employer_by_grouping_sets:
        format!("SELECT MAX(employer) FROM loans GROUP BY GROUPING SETS ((status), (status, loan_id = {X}))")
        => Refuse("loans.employer", "GROUPING SETS");
    grouping_sets_in_a_derived_table:
        format!("SELECT s FROM (SELECT SUM(amount) AS s FROM loans GROUP BY GROUPING SETS ((), (loan_id <> {X}))) t")
        => Refuse("loans.amount", "GROUPING SETS");
    one_grouping_set_is_a_group_by:
        "SELECT status, SUM(amount) FROM loans GROUP BY GROUPING SETS ((status))"
        => RevealNothing;
    a_cube_of_plain_counts_is_fine:
        "SELECT status, COUNT(*) FROM loans GROUP BY CUBE(status)"
        => RevealNothing;
}
