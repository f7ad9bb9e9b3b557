//! VALUES rows are expressions, and a cell may be a scalar subquery: what a cell reads
//! flows into its column like any projection's. Analysed as opaque constants, a VALUES
//! row carried one loan's raw amount past the analysis.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;

attacks! {
    a_raw_amount_in_a_values_cell:
        format!("SELECT * FROM (VALUES ((SELECT amount FROM loans WHERE loan_id = {X}))) v(x)")
        => Refuse("loans.amount", "in the result");
    a_raw_employer_in_a_values_cell:
        format!("SELECT * FROM (VALUES ((SELECT employer FROM loans WHERE loan_id = {X}))) v(x)")
        => Refuse("loans.employer", "in the result");
    a_raw_amount_in_the_second_row:
        format!("SELECT x FROM (VALUES (0), ((SELECT amount FROM loans WHERE loan_id = {X}))) v(x) WHERE x > 0")
        => Refuse("loans.amount", "in the result");
    a_values_cell_compared_after_the_fact:
        format!("SELECT COUNT(*) FROM (VALUES ((SELECT amount FROM loans WHERE loan_id = {X}))) v(x) WHERE x > 700000")
        => Refuse("loans.amount", "can fail");
    a_values_cell_joined_to_the_loans:
        format!("SELECT COUNT(*) FROM loans l JOIN (VALUES ((SELECT amount FROM loans WHERE loan_id = {X}))) v(x) ON l.loan_id - 2000000000 = v.x")
        => Refuse("loans.amount", "can fail");
    plain_values_are_fine:
        "SELECT p.city, COUNT(*) FROM persons p JOIN (VALUES ('beijing'), ('tianjin')) v(c) ON p.city = v.c GROUP BY p.city"
        => RevealNothing;
}
