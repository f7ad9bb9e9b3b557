//! Values that grow until a batch fails: concatenation doubled through derived tables,
//! `repeat`, `lpad`, `replace` and lists with a count the data chooses. A batch of rows
//! too long overflows Arrow's 2 GiB string offsets (a panic) or exhausts memory, and
//! where protected data chose the rows or the count, whether it fails is the answer. Every
//! such plan is refused before it runs, whatever the data; ordinary text building is not.

use super::attack::Must::*;
use super::attack::copies;
use super::common::TARGET_LOAN;

const X: i64 = TARGET_LOAN;

/// `depth` CTEs each doubling `s`, over `status` padded to 1,000 characters in the rows
/// `rows` chooses, then `tail` over the last.
fn doubling(depth: usize, rows: &str, tail: &str) -> String {
    let mut sql =
        format!("WITH c0 AS (SELECT lpad(status, 1000, 'x') AS s FROM loans WHERE {rows})");
    for i in 1..=depth {
        sql.push_str(&format!(", c{i} AS (SELECT s || s AS s FROM c{})", i - 1));
    }
    sql.push_str(&format!(" {tail} FROM c{depth}"));
    sql
}

attacks! {
    // ==== doubling through derived tables ===============================================

    // 22 doublings of 4,000 bytes: 16 GiB a row, and only when loan x is large.
    cte_doubling_gated_on_one_loans_amount:
        doubling(22, &format!("loan_id = {X} AND amount >= 769145"), "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    cte_doubling_of_every_large_loan:
        doubling(20, "amount >= 700000", "SELECT COUNT(*)")
        => RefuseUnsupported("may build values");
    cte_doubling_of_one_loans_employer_name:
        format!("WITH a AS (SELECT CASE WHEN employer = 'Grid Power' THEN repeat(status, 100) ELSE '' END AS s FROM loans WHERE loan_id = {X}) SELECT COUNT(*) FROM a")
        => RefuseUnsupported("may build values");
    nested_subqueries_doubling:
        format!("SELECT COUNT(*) FROM (SELECT s || s AS s FROM (SELECT s || s AS s FROM (SELECT s || s AS s FROM (SELECT s || s AS s FROM (SELECT s || s AS s FROM (SELECT s || s AS s FROM (SELECT status || status AS s FROM loans WHERE loan_id = {X} AND amount >= 769145) a) b) c) d) e) f) g")
        => RefuseUnsupported("may build values");
    doubling_through_a_union:
        format!("WITH a AS (SELECT lpad(status, 16000) AS s FROM loans WHERE amount >= 769145 UNION ALL SELECT 'x'), b AS (SELECT s || s || s || s || s AS s FROM a) SELECT COUNT(*) FROM b")
        => RefuseUnsupported("may build values");
    doubling_through_a_scalar_subquery:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND length((SELECT concat({}) FROM loans l2 WHERE l2.loan_id = {X})) > 0", copies(40, "l2.status"))
        => RefuseUnsupported("may build values");
    doubling_through_a_join:
        format!("WITH a AS (SELECT loan_id, concat({}) AS s FROM loans) SELECT COUNT(*) FROM a JOIN a b ON a.loan_id = b.loan_id WHERE length(a.s || b.s) > 0", copies(20, "status"))
        => RefuseUnsupported("may build values");
    doubling_through_group_by_keys:
        format!("SELECT COUNT(*) FROM (SELECT s || s AS s FROM (SELECT concat({}) AS s FROM loans GROUP BY status) g) t", copies(20, "status"))
        => RefuseUnsupported("may build values");
    doubling_through_a_window:
        format!("SELECT COUNT(*) FROM (SELECT s || first_value(s) OVER (ORDER BY loan_id) AS s FROM (SELECT loan_id, concat({}) AS s FROM loans) a) b", copies(20, "status"))
        => RefuseUnsupported("may build values");
    doubling_through_max:
        format!("SELECT COUNT(*) FROM (SELECT m || m AS s FROM (SELECT MAX(concat({})) AS m FROM loans WHERE amount >= 769145) a) b", copies(20, "status"))
        => RefuseUnsupported("may build values");
    recursive_doubling:
        "WITH RECURSIVE r(s, n) AS (SELECT status, 0 FROM loans WHERE amount >= 769145 UNION ALL SELECT s || s, n + 1 FROM r WHERE n < 40) SELECT COUNT(*) FROM r"
        => RefuseUnsupported("recursive");

    // ==== multipliers in one expression =================================================

    concat_of_forty_copies:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND length(concat({})) > 0", copies(40, "status"))
        => RefuseUnsupported("may build values");
    concat_ws_with_a_long_separator:
        format!("SELECT COUNT(*) FROM loans WHERE amount >= 769145 AND length(concat_ws(lpad('', 16000, 'x'), status, status, status, status, status, status)) > 0")
        => RefuseUnsupported("may build values");
    repeat_a_constant_million_times:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND amount >= 769145 AND length(repeat(status, 1000000)) > 0")
        => RefuseUnsupported("may build values");
    repeat_by_the_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND length(repeat('x', CAST(amount AS INT))) > 0")
        => RefuseUnsupported("may build values");
    repeat_chosen_by_a_case_on_the_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND length(repeat(status, CASE WHEN amount >= 769145 THEN 1000000000 ELSE 1 END)) > 0")
        => RefuseUnsupported("may build values");
    lpad_to_a_width_the_amount_chooses:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND length(lpad(status, CAST(amount AS INT) * 1000)) > 0")
        => RefuseUnsupported("may build values");
    lpad_to_a_wide_constant:
        format!("SELECT COUNT(*) FROM loans WHERE amount >= 769145 AND length(rpad(status, 100000000, 'x')) > 0")
        => RefuseUnsupported("may build values");
    replace_every_position:
        format!("SELECT COUNT(*) FROM loans WHERE amount >= 769145 AND length(replace(replace(replace(status, '', '0123456789'), '', '0123456789'), '', '0123456789')) > 0")
        => RefuseUnsupported("may build values");
    replace_with_a_column:
        format!("SELECT COUNT(*) FROM loans WHERE amount >= 769145 AND length(replace(status, 'a', status)) > 0")
        => RefuseUnsupported("may build values");
    regexp_replace_every_character_by_many_copies:
        format!("SELECT COUNT(*) FROM loans WHERE amount >= 769145 AND length(regexp_replace(regexp_replace(status, '(.)', '$1$1$1$1$1$1$1$1', 'g'), '(.)', '$1$1$1$1$1$1$1$1', 'g')) > 0")
        => RefuseUnsupported("may build values");
    array_repeat_by_the_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND cardinality(array_repeat(status, CAST(amount AS BIGINT))) > 0")
        => RefuseUnsupported("may build values");
    range_to_the_amount:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id = {X} AND cardinality(range(amount)) > 0")
        => RefuseUnsupported("may build values");
    array_to_string_with_a_long_separator:
        format!("SELECT COUNT(*) FROM loans WHERE amount >= 769145 AND length(array_to_string(make_array({}), lpad('', 4000, 'x'))) > 0", copies(10, "status"))
        => RefuseUnsupported("may build values");
    upper_of_doubled_values_in_a_filter_below_an_aggregate:
        format!("SELECT SUM(amount) FROM (SELECT amount, concat({}) AS s FROM loans WHERE amount >= 769145) t WHERE upper(s || s) <> ''", copies(20, "status"))
        => RefuseUnsupported("may build values");

    // ==== ordinary text building stays allowed ==========================================

    status_joined_with_itself_a_few_times:
        "SELECT concat_ws('/', status, status, status) AS s, COUNT(*) FROM loans GROUP BY 1 ORDER BY 1"
        => RevealNothing;
    padded_status_and_loan_id:
        "SELECT lpad(status, 20, '.') || ':' || CAST(loan_id AS VARCHAR) FROM loans ORDER BY loan_id LIMIT 5"
        => RevealNothing;
    repeat_by_a_small_constant:
        "SELECT repeat(status, 3), COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    replace_by_a_shorter_constant:
        "SELECT upper(replace(status, 'active', 'A')), COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    // 1,001 elements: the step counts.
    range_with_a_large_step:
        "SELECT cardinality(range(0, 1000000, 1000)) AS n, COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    count_of_large_loans_by_a_status_label:
        "SELECT 'status: ' || status || ' (' || lower(status) || ')', COUNT(*), SUM(amount) FROM loans GROUP BY status"
        => RevealNothing;
}
