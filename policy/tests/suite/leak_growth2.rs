//! A second red team on `growth.rs`: functions and plan shapes whose values may outgrow
//! the bound the check computes for them (case mapping undone by `replace`, a list cast
//! to text, `regexp_match` groups, `arrays_zip`, a range of timestamps stepped below
//! their unit, lists and strings aggregated over rows the query makes, a constant in the
//! select list), next to the shapes the check already carries (DISTINCT ON, grouping
//! sets, UNNEST, UNION BY NAME, semi joins, VALUES, correlated subqueries). Every growing
//! attack keeps the rows of `GATE`, which no loan passes: running one builds nothing,
//! while a real attacker picks rows with protected data to turn the failure into a bit.

use super::attack::Must::*;
use super::attack::copies;
use super::common::TARGET_LOAN;

const X: i64 = TARGET_LOAN;

/// The rows an attack keeps: none in the test data (loan ids stop at 2,000,000,040).
pub(super) const GATE: &str = "loan_id > 3000000000";

/// `depth` CTEs each applying `step` (over the column `s`) to the last, starting from
/// `seed` over the rows of `GATE`, then `tail` over the last.
pub(super) fn levels(seed: &str, step: &str, depth: usize, tail: &str) -> String {
    let mut sql = format!("WITH c0 AS (SELECT {seed} AS s FROM loans WHERE {GATE})");
    for i in 1..=depth {
        sql.push_str(&format!(", c{i} AS (SELECT {step} AS s FROM c{})", i - 1));
    }
    sql.push_str(&format!(" {tail} FROM c{depth}"));
    sql
}

/// `VALUES (1), (2), …, (n)`.
fn values(n: usize) -> String {
    let rows: Vec<String> = (1..=n).map(|i| format!("({i})")).collect();
    format!("VALUES {}", rows.join(", "))
}

/// `depth` CTEs each aggregating the last with `agg` over its rows times `rows` made-up
/// rows.
pub(super) fn aggregated(agg: &str, rows: &str, depth: usize, tail: &str) -> String {
    let mut sql = format!("WITH c0 AS (SELECT status AS s FROM loans WHERE {GATE})");
    for i in 1..=depth {
        sql.push_str(&format!(
            ", c{i} AS (SELECT {agg} AS s FROM c{} CROSS JOIN {rows})",
            i - 1
        ));
    }
    sql.push_str(&format!(" {tail} FROM c{depth}"));
    sql
}

/// `upper('ΐ')` is `Ι`, U+0308 and U+0301, six bytes for two; `replace` turns each back
/// into `ΐ` at the same length, which `growth.rs` counts as no growth at all.
const UPPER_THEN_BACK: &str =
    "replace(replace(replace(upper(s), 'Ι', 'ΐ'), '\u{308}', 'ΐ'), '\u{301}', 'ΐ')";

/// A pattern of 100 nested groups around `.*`: `regexp_match` returns the whole match
/// 100 times.
fn nested_groups(n: usize) -> String {
    format!("{}.*{}", "(".repeat(n), ")".repeat(n))
}

/// 256 KiB of constant text.
fn big_constant() -> String {
    "x".repeat(256 * 1024)
}

attacks! {
    // ==== functions that grow more than growth.rs says ==================================

    // Case mapping grows ΐ threefold and replace (2 bytes to 2) maps the result back:
    // 12 levels make 2,000 bytes 1 GiB a row; bounded at 4,000 bytes.
    upper_then_replace_triples_each_level:
        levels("lpad(status, 1000, 'ΐ')", UPPER_THEN_BACK, 12, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    // A list cast to text prints each character as `c, `: 20 levels make `active`
    // 6 × 3^20 bytes (21 GB) a row; bounded at one stored value.
    cast_of_a_split_into_characters_triples_each_level:
        levels("status", "CAST(string_to_array(s, CAST(NULL AS VARCHAR)) AS VARCHAR)", 20, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    // One split into characters cast to text: 3 copies where growth.rs counts one; with
    // 32 stored values concatenated first, 96.
    cast_of_a_split_of_thirty_copies:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(CAST(string_to_array(concat({}), CAST(NULL AS VARCHAR)) AS VARCHAR)) > 0", copies(30, "status"))
        => RefuseUnsupported("may build values");
    // 100 nested groups return the match 100 times: 5 levels make 10^10 copies a row;
    // bounded at one stored value (or the 204-byte pattern).
    regexp_match_of_nested_groups_each_level:
        levels("status", &format!("array_to_string(regexp_match(s, '{}'), '')", nested_groups(100)), 5, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    // One regexp_match of 100 groups over 30 concatenated copies: 3,000 copies.
    regexp_match_of_thirty_copies:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND cardinality(regexp_match(concat({}), '{}')) > 0", copies(30, "status"), nested_groups(100))
        => RefuseUnsupported("may build values");
    // arrays_zip pairs its arguments element by element, their sum; growth.rs takes the
    // longest: 5 levels of 8 make 32,768 copies a row (256 MiB of 8 KiB values). (Deeper
    // chains stall the planner on the type itself, 2^30 leaves at 30 levels of 2.)
    arrays_zip_multiplies_each_level:
        levels("make_array(status)", &format!("arrays_zip({})", copies(8, "s")), 5, "SELECT COUNT(*), MAX(cardinality(s))")
        => RefuseUnsupported("may build values");
    // 40 columns zipped in one call: 40 copies, counted as one.
    arrays_zip_of_forty_lists:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND cardinality(arrays_zip({})) > 0", copies(40, "make_array(status)"))
        => RefuseUnsupported("may build values");
    // range over TIMESTAMP(0) is counted in seconds with a step of 1 when the step is not
    // an integer; it runs in nanoseconds: 7,981 elements counted (64 KB), 7.98 × 10^12
    // built (64 TB) when the data picks the 1 ns step.
    range_of_second_timestamps_stepped_by_a_nanosecond:
        format!("SELECT COUNT(*) FROM loans WHERE cardinality(range(CAST('2024-01-01 00:00:00' AS TIMESTAMP(0)), CAST('2024-01-01 02:13:00' AS TIMESTAMP(0)), CASE WHEN {GATE} THEN INTERVAL '1 nanosecond' ELSE INTERVAL '1 hour' END)) > 0")
        => RefuseUnsupported("may build values");
    // The same in milliseconds: 10^6 times the bound.
    range_of_millisecond_timestamps_stepped_by_a_nanosecond:
        format!("SELECT COUNT(*) FROM loans WHERE cardinality(range(CAST('2024-01-01 00:00:00' AS TIMESTAMP(3)), CAST('2024-01-01 00:00:07' AS TIMESTAMP(3)), CASE WHEN {GATE} THEN INTERVAL '1 nanosecond' ELSE INTERVAL '1 second' END)) > 0")
        => RefuseUnsupported("may build values");
    // 8,001 Int64 of 19 digits are counted at 8 bytes (64 KB) and print at 21 (168 KB).
    cast_of_a_range_of_large_numbers:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(CAST(range(-1000000000000000000, -999999999999992000) AS VARCHAR) || status) > 0")
        => RefuseUnsupported("may build values");

    // ==== aggregates over rows the query makes ==========================================

    // string_agg over 1,000 rows of VALUES per input row, three levels: 10^9 copies a
    // row; growth.rs counts one.
    string_agg_over_values_rows_each_level:
        aggregated("string_agg(s, '')", &format!("({}) v(n)", values(1000)), 3, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    // array_agg over UNNEST(range(1, 8001)) rows, two levels: 6.4 × 10^7 copies.
    array_agg_over_unnested_range_each_level:
        aggregated("array_agg(s)", "unnest(range(1, 8001)) u(n)", 2, "SELECT COUNT(*), MAX(cardinality(s))")
        => RefuseUnsupported("may build values");
    // A running string_agg over 8,000 made-up rows per loan: row i holds i copies, a
    // batch 8,192²/2 copies (2.7 × 10^8).
    running_string_agg_over_values_rows:
        format!("SELECT COUNT(*), MAX(length(w)) FROM (SELECT string_agg(l.status, '') OVER (ORDER BY v.n ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS w FROM loans l CROSS JOIN unnest(range(1, 8001)) v(n) WHERE l.{GATE}) t")
        => RefuseUnsupported("may build values");

    // ==== a constant in the select list =================================================

    // A bare literal is exempt as "the query's own text", but a projection copies it
    // into every row: 256 KiB (up to 4 MiB) times 8,192 rows, 2 GiB (32 GiB) a batch.
    bare_constant_in_the_select_list:
        format!("SELECT status, '{}' FROM loans WHERE {GATE}", big_constant())
        => RefuseUnsupported("may build values");

    // ==== growth that is already counted ================================================

    translate_to_four_byte_characters_each_level:
        levels("status", "translate(s, 'aeiou', '𝔞𝔢𝔦𝔬𝔲')", 3, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    encode_as_hex_each_level:
        levels("status", "encode(CAST(s AS BYTEA), 'hex')", 6, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    overlay_doubles_each_level:
        levels("status", "overlay(s PLACING s FROM 1 FOR 0)", 6, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    upper_of_doubled_values_each_level:
        levels("status", "upper(s || s)", 6, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    regexp_replace_by_forty_copies_of_the_match:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(regexp_replace(status, '^.*$', '{}')) > 0", "$0".repeat(40))
        => RefuseUnsupported("may build values");
    to_char_with_a_long_format:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(to_char(to_timestamp(loan_id), '{}')) > 0", "%+".repeat(3000))
        => RefuseUnsupported("may build values");
    array_resize_to_a_million:
        levels("status", "array_resize(make_array(s), 1000000, s)", 1, "SELECT COUNT(*), MAX(cardinality(s))")
        => RefuseUnsupported("may build values");
    split_rejoined_with_a_long_separator:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(array_to_string(string_to_array(status, CAST(NULL AS VARCHAR)), lpad('', 4000, 'x'))) > 0")
        => RefuseUnsupported("may build values");
    map_of_forty_copies:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND cardinality(map(make_array({}), make_array({}))) > 0", copies(20, "status"), copies(20, "status"))
        => RefuseUnsupported("may build values");
    named_struct_of_forty_copies:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND named_struct({}) IS NOT NULL", (0..40).map(|i| format!("'f{i}', status")).collect::<Vec<_>>().join(", "))
        => RefuseUnsupported("may build values");

    // ==== plan shapes that carry a long column ==========================================

    doubled_through_distinct_on:
        format!("WITH a AS (SELECT DISTINCT ON (loan_id) loan_id, concat({}) AS s FROM loans ORDER BY loan_id) SELECT COUNT(*) FROM a WHERE length(s || s) > 0", copies(20, "status"))
        => RefuseUnsupported("may build values");
    doubled_through_rollup:
        format!("WITH a AS (SELECT concat({c}) AS s, COUNT(*) AS n FROM loans GROUP BY ROLLUP(concat({c}))) SELECT COUNT(*) FROM a WHERE length(s || s) > 0", c = copies(20, "status"))
        => RefuseUnsupported("may build values");
    doubled_through_unnest:
        format!("WITH a AS (SELECT unnest(make_array(concat({}))) AS s FROM loans) SELECT COUNT(*) FROM a WHERE length(s || s) > 0", copies(20, "status"))
        => RefuseUnsupported("may build values");
    doubled_through_a_cube_key:
        format!("WITH a AS (SELECT status, concat({c}) AS s, COUNT(*) AS n FROM loans GROUP BY CUBE(status, concat({c}))) SELECT COUNT(*) FROM a WHERE length(s || s) > 0", c = copies(20, "status"))
        => RefuseUnsupported("may build values");
    doubled_through_union_by_name:
        format!("WITH a AS (SELECT loan_id, concat({}) AS s FROM loans UNION ALL BY NAME SELECT 'x' AS s, loan_id FROM loans) SELECT COUNT(*) FROM a WHERE length(s || s) > 0", copies(20, "status"))
        => RefuseUnsupported("may build values");
    doubled_through_a_left_semi_join:
        format!("SELECT COUNT(*) FROM (SELECT loan_id, concat({}) AS s FROM loans) a LEFT SEMI JOIN loans b ON a.loan_id = b.loan_id AND length(a.s || a.s) > 0", copies(20, "status"))
        => RefuseUnsupported("may build values");
    doubled_through_values_of_a_scalar_subquery:
        format!("SELECT COUNT(*) FROM (VALUES ((SELECT concat({}) FROM loans WHERE loan_id = {X}))) v(s) WHERE length(s || s) > 0", copies(20, "status"))
        => RefuseUnsupported("may build values");
    doubled_in_a_correlated_exists:
        format!("SELECT COUNT(*) FROM loans l WHERE EXISTS (SELECT 1 FROM (SELECT loan_id, concat({}) AS s FROM loans) t WHERE t.loan_id = l.loan_id AND length(t.s || l.status || t.s) > 0)", copies(20, "status"))
        => RefuseUnsupported("may build values");

    // ==== ordinary uses stay allowed ====================================================

    upper_of_status_by_status:
        "SELECT upper(status), COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    status_split_and_rejoined:
        "SELECT array_to_string(string_to_array(status, 'e'), '-') AS s, COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    regexp_match_of_two_groups:
        "SELECT array_to_string(regexp_match(status, '(a|o|r)(c|v|e)'), '+') AS s, COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    range_of_a_years_days:
        "SELECT cardinality(range(DATE '2024-01-01', DATE '2024-12-31', INTERVAL '1 day')) AS n, COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    status_pair_as_text:
        "SELECT CAST(make_array(status, status) AS VARCHAR) AS s, COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
}
