//! Leak class 5: aggregates that are not statistics. `array_agg`, `string_agg`,
//! `first_value`, `last_value`, `nth_value`, `median`, and MIN or MAX of anything but the
//! aggregate-level column itself return a member of their group, or a list of members;
//! over a group that protected data chose, ordered or filtered, that member is what the
//! protected data picked (the ids of the largest loans). Only COUNT, SUM and AVG, and
//! MIN and MAX of the aggregate-level column, are released.

use super::attack::Must::*;

attacks! {
    array_agg_of_ids_of_large_loans:
        "SELECT array_agg(loan_id) FROM loans WHERE amount > 350000"
        => Refuse("loans.amount", "members");
    string_agg_of_ids_of_large_loans:
        "SELECT string_agg(CAST(loan_id AS VARCHAR), ',') FROM loans WHERE amount > 350000"
        => Refuse("loans.amount", "members");
    first_value_of_large_loans:
        "SELECT first_value(loan_id) FROM loans WHERE amount > 350000"
        => Refuse("loans.amount", "members");
    last_value_of_large_loans:
        "SELECT last_value(loan_id) FROM loans WHERE amount > 350000"
        => Refuse("loans.amount", "members");
    nth_value_of_large_loans:
        "SELECT nth_value(loan_id, 2) FROM loans WHERE amount > 350000"
        => Refuse("loans.amount", "members");
    smallest_id_of_large_loans:
        "SELECT MIN(loan_id) FROM loans WHERE amount > 350000"
        => Refuse("loans.amount", "members");
    largest_id_padded_to_five:
        "SELECT MAX(loan_id) FROM loans WHERE amount > 760000 OR loan_id <= 2000000004"
        => Refuse("loans.amount", "members");
    median_id_of_large_loans:
        "SELECT median(loan_id) FROM loans WHERE amount > 350000"
        => Refuse("loans.amount", "members");
    distinct_statuses_of_large_loans:
        "SELECT array_agg(DISTINCT status) FROM loans WHERE amount > 350000"
        => Refuse("loans.amount", "members");
    smallest_status_padded_to_five:
        "SELECT COUNT(*), MIN(status) FROM loans WHERE amount > 760000 OR loan_id <= 2000000004"
        => Refuse("loans.amount", "members");
    a_window_member_summed_back:
        "SELECT SUM(fv) / COUNT(*) FROM (SELECT first_value(loan_id) OVER () AS fv FROM loans WHERE amount > 350000) t"
        => Refuse("loans.amount", "window");
    bit_and_of_ids_of_large_loans:
        "SELECT bit_and(loan_id) FROM loans WHERE amount > 350000"
        => Refuse("loans.amount", "members");
    array_agg_of_amounts:
        "SELECT array_agg(amount) FROM loans"
        => Refuse("loans.amount", "not a statistic");
    array_agg_ordered_by_amount:
        "SELECT array_agg(loan_id ORDER BY amount DESC) FROM loans"
        => Refuse("loans.amount", "ORDER BY");
    statistics_of_large_loans_are_released:
        "SELECT COUNT(*), SUM(amount), AVG(amount), COUNT(DISTINCT status) FROM loans WHERE amount > 350000"
        => RevealNothing;
    largest_combination_of_two_aggregate_level_columns:
        "SELECT MAX(l.amount - p.salary) FROM loans l JOIN persons p ON l.person_id = p.person_id"
        => Refuse("loans.amount", "not a statistic");
    largest_combination_per_city:
        "SELECT p.city, MIN(p.salary + l.amount) FROM persons p JOIN loans l ON l.person_id = p.person_id GROUP BY p.city"
        => Refuse("persons.salary", "not a statistic");
}
