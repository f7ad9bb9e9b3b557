//! A fourth round of attacks: join conditions that do not narrow.
//!
//! - An outer join keeps every row of its preserved side. A conjunct of its condition
//!   (`ON a.loan_id = t.loan_id AND a.amount < t`) removes no row: it decides which
//!   rows keep the padded side's values, so a padded value is the indicator of that
//!   conjunct. `WHERE t.f = 1 OR a.loan_id <> x` is then `a.amount < t OR a.loan_id
//!   <> x`: 39 or 40 loans, a binary search on loan x's amount. A padded value now
//!   carries the protected columns the condition compared and those that chose the
//!   padded side's rows.
//! - An anti join (NOT EXISTS, NOT IN, EXCEPT) keeps a row where no partner meets the
//!   condition: `NOT (a.amount >= t AND a.loan_id = x)` is a disjunction, and so are
//!   the conditions that chose the other side's rows. An aggregate-level column there
//!   is refused, as in any condition that combines it with per-row data.
//!
//! The last attacks are the same joins on plain columns, which stay allowed.

use super::attack::Must::*;
use super::common::TARGET_LOAN;

const X: i64 = TARGET_LOAN;
/// Loan 21: amount 258380, neither the smallest nor the largest.
const Y: i64 = 2_000_000_021;

attacks! {
    // ==== an outer join's condition picks the rows that keep the padded values ========

    // The loans below 200000 and loan y: MAX is y's amount.
    outer_condition_on_the_amount_pins_one_loan:
        format!("SELECT MAX(a.amount), COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS f FROM loans) t ON a.loan_id = t.loan_id AND a.amount < 200000 WHERE t.f = 1 OR a.loan_id = {Y}")
        => Refuse("loans.amount", "");
    // 39 + (x's amount < t).
    outer_condition_on_the_amount_counts_one_loan:
        format!("SELECT COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS f FROM loans) t ON a.loan_id = t.loan_id AND a.amount < 769146 WHERE t.f = 1 OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");
    outer_condition_on_the_padded_sides_amount:
        format!("SELECT COUNT(*) FROM loans a LEFT JOIN loans b ON a.loan_id = b.loan_id AND b.amount < 769146 WHERE b.loan_id IS NOT NULL OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");
    outer_condition_on_the_employer:
        format!("SELECT COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS f FROM loans) t ON a.loan_id = t.loan_id AND a.employer = 'Grid Power' WHERE t.f IS NULL OR a.loan_id <> {X}")
        => Refuse("loans.employer", "");
    outer_condition_through_a_right_join:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, 1 AS f FROM loans) t RIGHT JOIN loans a ON t.loan_id = a.loan_id AND a.amount < 769146 WHERE t.f = 1 OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");
    outer_condition_through_a_full_join:
        format!("SELECT COUNT(*) FROM loans a FULL JOIN (SELECT loan_id, 1 AS f FROM loans) t ON a.loan_id = t.loan_id AND a.amount < 769146 WHERE t.f = 1 OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");
    outer_condition_renamed_in_a_derived_table:
        format!("SELECT MAX(amount) FROM (SELECT a.amount, a.loan_id, COALESCE(t.f, 0) AS small FROM loans a LEFT JOIN (SELECT loan_id, 1 AS f FROM loans) t ON a.loan_id = t.loan_id AND a.amount < 200000) d WHERE small = 1 OR loan_id = {Y}")
        => Refuse("loans.amount", "");
    // 0 or 1, summed over all loans.
    outer_condition_summed_for_one_loan:
        format!("SELECT SUM(CASE WHEN a.loan_id = {X} THEN COALESCE(t.f, 0) ELSE 0 END) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS f FROM loans) t ON a.loan_id = t.loan_id AND a.amount < 769146")
        => Refuse("loans.amount", "");
    outer_condition_in_a_filter_clause:
        format!("SELECT COUNT(*) FILTER (WHERE t.f = 1 OR a.loan_id <> {X}) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS f FROM loans) t ON a.loan_id = t.loan_id AND a.amount < 769146")
        => Refuse("loans.amount", "");
    outer_condition_with_a_cte:
        format!("WITH s AS (SELECT loan_id, 1 AS f FROM loans) SELECT COUNT(*) FROM loans a LEFT JOIN s ON s.loan_id = a.loan_id AND a.amount >= 769145 WHERE s.f IS NULL OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");
    outer_condition_on_an_amount_band:
        format!("SELECT COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS f FROM loans) t ON a.loan_id = t.loan_id AND a.amount BETWEEN 769000 AND 770000 WHERE t.f IS NULL OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");
    // The borrower's city, padded where the amount is below t.
    outer_condition_pads_the_borrowers_city:
        format!("SELECT COUNT(*) FROM loans a LEFT JOIN persons p ON p.person_id = a.person_id AND a.amount < 769146 WHERE p.city IS NOT NULL OR a.loan_id <> {X}")
        => Refuse("loans.amount", "");
    // Person 10 (born 1970): 17 + (salary < t).
    outer_condition_on_a_salary:
        "SELECT COUNT(*) FROM persons p LEFT JOIN (SELECT person_id, 1 AS f FROM persons) t ON p.person_id = t.person_id AND p.salary < 27771 WHERE t.f = 1 OR EXTRACT(YEAR FROM p.birth_date) <> 1970"
        => Refuse("persons.salary", "");
    outer_condition_grouped_by_the_padded_flag:
        format!("SELECT t.f, COUNT(*) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS f FROM loans WHERE loan_id = {X}) t ON a.loan_id = t.loan_id AND a.amount < 769146 GROUP BY t.f")
        => Refuse("loans.amount", "");

    // ==== an anti join keeps the rows where its condition fails ========================

    // NOT (x's amount >= t AND loan_id = x): 39 or 40.
    not_exists_with_the_outer_rows_amount:
        format!("SELECT COUNT(*) FROM loans a WHERE NOT EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND a.amount >= 769146 AND a.loan_id = {X})")
        => Refuse("loans.amount", "");
    not_exists_with_the_inner_rows_amount:
        format!("SELECT COUNT(*) FROM loans a WHERE NOT EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.amount >= 769146 AND b.loan_id = {X})")
        => Refuse("loans.amount", "");
    not_in_a_set_chosen_by_the_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id NOT IN (SELECT loan_id FROM loans WHERE amount >= 769146 AND loan_id = {X})")
        => Refuse("loans.amount", "");
    except_a_set_chosen_by_the_amount:
        format!("SELECT COUNT(*) FROM (SELECT loan_id FROM loans EXCEPT SELECT loan_id FROM loans WHERE amount >= 769146 AND loan_id = {X}) t")
        => Refuse("loans.amount", "");
    not_exists_with_the_employer:
        format!("SELECT COUNT(*) FROM loans a WHERE NOT EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.employer = 'Grid Power' AND b.loan_id = {X})")
        => Refuse("loans.employer", "");
    // Keeps the loans below 200000 and loan y: MAX is y's amount.
    not_exists_pins_one_loan_with_small_ones:
        format!("SELECT MAX(a.amount) FROM loans a WHERE NOT EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.amount >= 200000 AND b.loan_id <> {Y})")
        => Refuse("loans.amount", "");
    // Keeps the persons below 20000 and person 10: MAX is 27770.
    not_exists_pins_one_persons_salary:
        "SELECT MAX(p.salary) FROM persons p WHERE NOT EXISTS (SELECT 1 FROM persons q WHERE q.person_id = p.person_id AND q.salary >= 20000 AND EXTRACT(YEAR FROM q.birth_date) <> 1970)"
        => Refuse("persons.salary", "");
    not_in_with_an_or_around_it:
        format!("SELECT COUNT(*) FROM loans WHERE status = 'nothing' OR loan_id NOT IN (SELECT loan_id FROM loans WHERE amount >= 769146 AND loan_id = {X})")
        => Refuse("loans.amount", "");

    // ==== the same joins on plain columns stay allowed ================================

    outer_condition_on_a_plain_column:
        "SELECT a.status, COUNT(t.f), SUM(a.amount) FROM loans a LEFT JOIN (SELECT loan_id, 1 AS f FROM loans) t ON a.loan_id = t.loan_id AND a.status = 'active' GROUP BY a.status"
        => RevealNothing;
    not_exists_on_a_plain_column:
        "SELECT COUNT(*), SUM(a.amount) FROM loans a WHERE NOT EXISTS (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND b.status = 'repaid')"
        => RevealNothing;
}
