//! A third red team on `growth.rs`: functions and plan shapes whose values outgrow the
//! bound the check once computed (a cast spelled as a function, `overlay` with a
//! negative count, casts to fixed-size lists and binaries, field names and metadata that
//! come out as values, rows made by a UNION of constants, a LATERAL outer reference),
//! next to growth that is already counted and ordinary uses that stay allowed. Every
//! growing attack keeps the rows of `GATE`, which no loan passes, and builds nothing
//! from a constant the optimizer could fold: running one builds nothing, while a real
//! attacker picks rows with protected data to turn the failure into a bit.

use super::attack::Must::*;
use super::attack::copies;
use super::leak_growth2::{GATE, aggregated, levels};

/// Ten rows made by a UNION of constant SELECTs: no VALUES, UNNEST or recursive query,
/// but made by the query all the same.
fn ten_rows(alias: &str) -> String {
    let selects: Vec<String> = (1..=10).map(|i| format!("SELECT {i} AS n")).collect();
    format!("({}) {alias}", selects.join(" UNION ALL "))
}

/// A thousand made rows, 30 SELECTs (the gateway's intake allows 256).
fn thousand_rows() -> String {
    format!(
        "{} CROSS JOIN {} CROSS JOIN {}",
        ten_rows("u1"),
        ten_rows("u2"),
        ten_rows("u3")
    )
}

/// A value NULL in every row that the optimizer cannot fold to a constant.
const NULL_TEXT: &str = "CASE WHEN loan_id < 0 THEN status END";

/// `depth` LATERAL subqueries in a row, each doubling the column of the one before
/// through an outer reference.
fn lateral_doubling(depth: usize) -> String {
    let mut sql = format!(
        "SELECT COUNT(*) FROM (SELECT loan_id, concat({}) AS s FROM loans WHERE {GATE}) l0",
        copies(16, "status")
    );
    for i in 1..=depth {
        let prev = if i == 1 {
            "l0.s".to_string()
        } else {
            format!("l{}.s", i - 1)
        };
        sql.push_str(&format!(
            " CROSS JOIN LATERAL (SELECT {prev} || {prev} AS s) l{i}"
        ));
    }
    sql.push_str(&format!(" WHERE length(l{depth}.s) > 0"));
    sql
}

attacks! {
    // ==== functions that grow more than growth.rs says ==================================

    // Let through before this file: `cast_to_type(x, ref)` is CAST(x AS <ref's type>) spelled as a function
    // (the optimizer turns it into a cast, after the check); growth.rs counts an
    // `Expr::Cast` of a list to text threefold plus 128 bytes, but this call as its
    // longest argument. 8,001 Int64 of 19 digits are counted at 8 bytes each (64,008
    // bytes) and print at 21 (168 KB); the same as CAST is refused
    // (`leak_growth2::cast_of_a_range_of_large_numbers`). Not compounding: the split
    // into characters that printing triples is already counted ninefold below.
    cast_to_type_of_a_range_of_large_numbers:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(cast_to_type(range(-1000000000000000000, -999999999999992000), 'x') || status) > 0")
        => RefuseUnsupported("may build values");
    // Let through before this file: the same with `try_cast_to_type`.
    try_cast_to_type_of_a_range_of_large_numbers:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(try_cast_to_type(range(-1000000000000000000, -999999999999992000), 'x') || status) > 0")
        => RefuseUnsupported("may build values");
    // Refused, though not for the cast: `string_to_array` counts each byte as an element
    // of 9 bytes, which covers the threefold print, so 20 levels are refused either way.
    cast_to_type_of_a_split_each_level:
        levels("status", "cast_to_type(string_to_array(s, CAST(NULL AS VARCHAR)), CAST(NULL AS VARCHAR))", 20, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    // Let through before this file: `overlay(s PLACING t FROM a FOR b)` with a negative count re-emits the
    // string after the replacement: FROM past the end and FOR minus as much is `s || t
    // || s`, two copies where growth.rs counts the sum of its arguments (one copy of s
    // and a few bytes). 20 levels make 2^20 copies a row (8 GiB of 8 KiB values).
    overlay_with_a_negative_count_doubles_each_level:
        levels("status", "overlay(s PLACING '' FROM 1000000 FOR -1000000)", 20, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    // Let through before this file: one level over 30 concatenated copies: 60 copies, counted 30.
    overlay_with_a_negative_count_of_thirty_copies:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(overlay(concat({}) PLACING '' FROM 1000000 FOR -1000000)) > 0", copies(30, "status"))
        => RefuseUnsupported("may build values");
    // Let through before this file: a fixed-size list holds all its slots even where it is NULL: a cast to
    // BIGINT[100][100] makes 80 KB a row out of a NULL that growth.rs counts at 128
    // bytes (a cast keeps its input's bound unless it prints to text). The sizes multiply:
    // BIGINT[1000][1000] is 8 MB a row (64 GiB a batch), and `[10]` repeated 12 times
    // is 10^12 slots a row from 50 bytes of SQL. (Kept small here: were the filter
    // evaluated before the gate, the test data's 40 rows would build it.)
    cast_of_null_rows_to_a_fixed_size_list:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND CAST(CASE WHEN loan_id < 0 THEN make_array(make_array(loan_id)) END AS BIGINT[100][100]) IS NULL")
        => RefuseUnsupported("may build values");
    // Let through before this file: the same with arrow_cast to FixedSizeBinary: a megabyte a row (up to 2 GB
    // with 'FixedSizeBinary(2147483647)'), counted at 3 x 128 + 128 bytes.
    arrow_cast_of_null_rows_to_a_megabyte_fixed_size_binary:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND arrow_cast(CAST({NULL_TEXT} AS BYTEA), 'FixedSizeBinary(1000000)') IS NULL")
        => RefuseUnsupported("may build values");
    // Let through before this file: arrow_cast to a fixed-size list of 100,000 (800 KB a row), also counted
    // at 512 bytes.
    arrow_cast_of_null_rows_to_a_fixed_size_list:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND arrow_cast(CASE WHEN loan_id < 0 THEN make_array(loan_id) END, 'FixedSizeList(100000, Int64)') IS NULL")
        => RefuseUnsupported("may build values");

    // ==== constants that come out as values without being literals ======================

    // Let through before this file: `arrow_field(x)` returns x's field, whose name is the column's alias: an
    // identifier, not a literal, so not counted. A 256 KiB alias comes out in every row
    // (2 GiB a batch; the intake lets a statement hold a 4 MiB one, 32 GiB a batch);
    // growth.rs counts one stored copy.
    arrow_field_name_of_a_long_alias:
        format!("WITH a AS (SELECT status AS \"{n}\" FROM loans WHERE {GATE}) SELECT COUNT(*), MAX(length(get_field(arrow_field(\"{n}\"), 'name'))) FROM a", n = "x".repeat(256 * 1024))
        => RefuseUnsupported("may build values");
    // Let through before this file: `with_metadata` adds a key and value to a field's metadata and counts as
    // its longest argument; stacked, the metadata holds the sum: 16 values of 60 KB
    // make arrow_metadata() return 960 KB a row, counted 60 KB.
    arrow_metadata_of_stacked_with_metadata:
        {
            let mut e = "status".to_string();
            for i in 0..16 {
                e = format!("with_metadata({e}, 'k{i}', '{}')", "v".repeat(60_000));
            }
            format!("SELECT COUNT(*), MAX(cardinality(arrow_metadata({e}))) FROM loans WHERE {GATE}")
        }
        => RefuseUnsupported("may build values");
    // Let through before this file: arrow_typeof prints its argument's type; a struct type with a 50 KB field
    // name (from an arrow_cast type string, whose literal is not counted towards the
    // cast), doubled 6 times by struct(s, s), prints 3.2 MB a row, counted 34 KB.
    arrow_typeof_of_a_doubled_struct_with_a_long_field_name:
        levels(
            &format!("arrow_cast(NULL, 'Struct(\"{}\": Int8)')", "f".repeat(50_000)),
            "struct(s, s)",
            6,
            "SELECT COUNT(*), MAX(length(arrow_typeof(s)))",
        )
        => RefuseUnsupported("may build values");

    // ==== rows the query makes that growth.rs does not see ==============================

    // Let through before this file: a UNION ALL of constant SELECTs makes rows as VALUES does, but `makes_rows`
    // only looks for VALUES, UNNEST and recursive queries: string_agg over 1,000 made
    // rows per input row, three levels, 10^9 copies a row, counted one.
    string_agg_over_a_union_of_constants_each_level:
        aggregated("string_agg(s, '')", &thousand_rows(), 3, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    // Let through before this file: the same with array_agg.
    array_agg_over_a_union_of_constants_each_level:
        aggregated("array_agg(s)", &thousand_rows(), 3, "SELECT COUNT(*), MAX(cardinality(s))")
        => RefuseUnsupported("may build values");
    // The table function generate_series makes rows as a scan, not as VALUES: refused,
    // as a table that is not a dataset.
    string_agg_over_the_generate_series_table_function:
        aggregated("string_agg(s, '')", "generate_series(1, 1000000) g", 2, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("not a dataset");

    // ==== plan shapes that hide a long column ===========================================

    // A LATERAL outer reference (`l0.s`) is resolved in the join's left side, so each
    // level counts the doubling: refused by the bound, before the ban on LATERAL.
    doubled_through_lateral_outer_references:
        lateral_doubling(20)
        => RefuseUnsupported("may build values");

    // ==== growth that is already counted ================================================

    lpad_to_a_huge_constant_width:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(lpad(status, 100000000, 'x')) > 0")
        => RefuseUnsupported("may build values");
    array_concat_doubles_each_level:
        levels("make_array(status)", "array_concat(s, s)", 10, "SELECT COUNT(*), MAX(cardinality(s))")
        => RefuseUnsupported("may build values");
    array_union_doubles_each_level:
        levels("make_array(status)", "array_union(s, s)", 10, "SELECT COUNT(*), MAX(cardinality(s))")
        => RefuseUnsupported("may build values");
    flatten_of_a_pair_each_level:
        levels("make_array(status)", "flatten(make_array(s, s))", 10, "SELECT COUNT(*), MAX(cardinality(s))")
        => RefuseUnsupported("may build values");
    array_append_of_itself_each_level:
        levels("make_array(make_array(status))", "array_append(s, flatten(s))", 10, "SELECT COUNT(*), MAX(cardinality(s))")
        => RefuseUnsupported("may build values");
    map_doubles_each_level:
        levels("status", "map(make_array(s), make_array(s))", 10, "SELECT COUNT(*)")
        => RefuseUnsupported("may build values");
    base64_of_doubled_values_each_level:
        levels("status", "encode(CAST(s || s AS BYTEA), 'base64')", 6, "SELECT COUNT(*), MAX(length(s))")
        => RefuseUnsupported("may build values");
    array_to_string_with_a_long_null_text:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(array_to_string(array_resize(make_array(status), 1000, CAST(NULL AS VARCHAR)), ',', '{}')) > 0", "n".repeat(1000))
        => RefuseUnsupported("may build values");
    array_to_string_with_a_null_text_the_data_picks:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(array_to_string(make_array(status, NULL), ',', employer)) > 0")
        => RefuseUnsupported("may build values");
    string_agg_distinct_over_values_rows:
        format!("SELECT COUNT(*) FROM (SELECT string_agg(DISTINCT l.status || CAST(v.n AS VARCHAR), '') AS s FROM loans l CROSS JOIN (VALUES (1), (2), (3)) v(n) WHERE l.{GATE}) t")
        => RefuseUnsupported("may build values");
    case_branch_doubles_each_level:
        levels("status", "CASE WHEN length(s) > 3 THEN s || s ELSE s END", 10, "SELECT COUNT(*)")
        => RefuseUnsupported("may build values");
    union_branch_doubles_each_level:
        {
            let mut sql = format!("WITH c0 AS (SELECT status AS s FROM loans WHERE {GATE})");
            for i in 1..=10 {
                sql.push_str(&format!(", c{i} AS (SELECT s FROM c{p} UNION ALL SELECT s || s FROM c{p})", p = i - 1));
            }
            sql + " SELECT COUNT(*) FROM c10"
        }
        => RefuseUnsupported("may build values");
    scalar_subquery_doubles_each_level:
        levels("status", "s || (SELECT MAX(status) FROM loans) || s", 10, "SELECT COUNT(*)")
        => RefuseUnsupported("may build values");
    first_value_with_order_doubles_each_level:
        levels("status", "s || first_value(s) OVER (ORDER BY s)", 10, "SELECT COUNT(*)")
        => RefuseUnsupported("may build values");
    grouping_sets_key_doubled:
        format!("WITH a AS (SELECT concat({c}) AS s, status, COUNT(*) AS n FROM loans GROUP BY GROUPING SETS ((concat({c})), (status))) SELECT COUNT(*) FROM a WHERE length(s || s) > 0", c = copies(20, "status"))
        => RefuseUnsupported("may build values");
    recursive_lengthening:
        "WITH RECURSIVE r(s, n) AS (SELECT status, 0 FROM loans UNION ALL SELECT s || 'x', n + 1 FROM r WHERE n < 1000000) SELECT COUNT(*) FROM r"
        => RefuseUnsupported("recursive");
    regexp_replace_with_a_data_picked_replacement:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(regexp_replace(status, '.', employer, 'g')) > 0")
        => RefuseUnsupported("may build values");
    to_char_with_a_data_picked_format:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(to_char(to_timestamp(loan_id), employer)) > 0")
        => RefuseUnsupported("may build values");

    // ==== ordinary uses stay allowed ====================================================

    split_part_of_status:
        "SELECT split_part(status, 'e', 1) AS s, COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    base64_of_status:
        "SELECT encode(CAST(status AS BYTEA), 'base64') AS s, COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    overlay_of_status:
        "SELECT overlay(status PLACING 'X' FROM 2 FOR 1) AS s, COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    translate_of_status:
        "SELECT translate(status, 'aeiou', 'AEIOU') AS s, COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    cast_to_type_of_a_number:
        "SELECT cast_to_type(COUNT(*), CAST(NULL AS VARCHAR)) AS n FROM loans"
        => RevealNothing;
}
