//! Leak class 4: selection by a protected ordering. `ORDER BY ... LIMIT n` keeps the rows
//! an order ranks first, so ordering by protected data selects rows by it: the five
//! smallest loans plus the target make MAX return the target's amount. A sort on
//! protected data that a LIMIT, OFFSET, DISTINCT ON or window function depends on needs
//! `plain`.

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
    // A window function numbers, offsets or accumulates rows in their input order, and
    // ties of its own ORDER BY fall back to it: over rows sorted by protected data, it
    // would rank by that data. DataFusion's SQL planner drops the ORDER BY of a derived
    // table that has no LIMIT, so from SQL these see rows in no order and must reveal
    // nothing; `a_window_over_rows_sorted_by_amount_is_refused` below gives the analysis
    // a plan that keeps the sort.
    row_number_names_the_largest_loan:
        "SELECT MAX(CASE WHEN rn = 1 THEN loan_id END) FROM (SELECT loan_id, ROW_NUMBER() OVER () AS rn FROM (SELECT loan_id FROM loans ORDER BY amount DESC) s) t"
        => RevealNothing;
    row_number_cut_to_the_five_largest:
        "SELECT SUM(amount) FROM (SELECT amount, ROW_NUMBER() OVER () AS rn FROM (SELECT amount FROM loans ORDER BY amount DESC) s) t WHERE rn <= 5"
        => RevealNothing;
    first_value_of_a_protected_order:
        "SELECT MAX(f) FROM (SELECT FIRST_VALUE(loan_id) OVER () AS f FROM (SELECT loan_id FROM loans ORDER BY amount) s) t"
        => RevealNothing;
    lag_pairs_neighbours_in_a_protected_order:
        format!("SELECT MAX(p) FROM (SELECT loan_id, LAG(loan_id) OVER () AS p FROM (SELECT loan_id FROM loans ORDER BY amount) s) t WHERE loan_id = {X}")
        => RevealNothing;
    ties_of_a_plain_window_order_fall_back_to_a_protected_one:
        "SELECT MAX(CASE WHEN rn = 1 THEN loan_id END) FROM (SELECT loan_id, ROW_NUMBER() OVER (PARTITION BY status ORDER BY status) AS rn FROM (SELECT loan_id, status FROM loans ORDER BY amount DESC) s) t"
        => RevealNothing;
    running_count_in_a_protected_order:
        format!("SELECT MAX(CASE WHEN loan_id = {X} THEN c END) FROM (SELECT loan_id, COUNT(*) OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS c FROM (SELECT loan_id FROM loans ORDER BY amount) s) t")
        => RevealNothing;
    a_window_over_a_plain_order_is_fine:
        "SELECT MAX(rn) FROM (SELECT ROW_NUMBER() OVER () AS rn FROM (SELECT loan_id FROM loans ORDER BY loan_id) s) t"
        => RevealNothing;
    a_constant_expression_as_limit_is_fine:
        "SELECT SUM(amount) FROM (SELECT amount FROM loans ORDER BY loan_id LIMIT 10 + 10) t"
        => RevealNothing;
}

/// A plan that keeps a sort on `amount` below a window function (as a DataFrame, or a
/// planner that keeps derived tables' ORDER BY, builds it): ROW_NUMBER() then ranks the
/// loans by amount, and `rn <= 5` keeps the five largest.
#[tokio::test]
async fn a_window_over_rows_sorted_by_amount_is_refused() {
    use datafusion::functions_aggregate::expr_fn::max;
    use datafusion::functions_window::expr_fn::row_number;
    use datafusion::prelude::{col, lit};

    let w = super::common::world();
    let plan = w
        .ctx
        .table("loans")
        .await
        .unwrap()
        .sort(vec![col("amount").sort(false, true)])
        .unwrap()
        .select(vec![col("loan_id"), row_number().alias("rn")])
        .unwrap()
        .filter(col("rn").lt_eq(lit(5)))
        .unwrap()
        .aggregate(vec![], vec![max(col("loan_id"))])
        .unwrap()
        .into_unoptimized_plan();
    let refused = match w
        .policy
        .decide(&plan, &super::common::req("sh_hf/bob", "statistics"))
    {
        Err(sluice_policy::Error::Refused(r)) => r,
        other => panic!("a window over a protected order got through: {other:?}"),
    };
    assert!(
        refused.violations.iter().any(|v| v.dataset == "loans"
            && v.column == "amount"
            && v.usage
                .contains("orders the rows a window function runs over")),
        "{refused}"
    );
}
