//! The growth bound as an allowlist: a function, aggregate or operator that no rule in
//! `growth.rs` names counts only if its type is of fixed size, and is refused otherwise.
//! Before, an unnamed function was taken to return no more than its longest argument,
//! which a function that widens, pads or describes its input breaks. Next to the
//! refusals, the ordinary functions on the lists, and those of fixed-size types, stay
//! allowed. Every refused query keeps the rows of `GATE`, which no loan passes.

use super::attack::Must::*;
use super::leak_growth2::GATE;

attacks! {
    // ==== functions no rule bounds: refused ============================================

    // Let through before this file: a list of positions holds 8 bytes per match, which
    // is longer than a stored list of booleans it searches; no rule counts it.
    array_positions_of_a_split:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND cardinality(array_positions(string_to_array(status, CAST(NULL AS VARCHAR)), 'a')) > 0")
        => RefuseUnsupported("not known to be bounded");
    // Let through before this file: the path of the file a row came from is as long as
    // the deployment made it, not the query.
    input_file_name_as_text:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(input_file_name() || status) > 0")
        => RefuseUnsupported("not known to be bounded");
    // Let through before this file: elementwise arithmetic widens each element to a
    // double, 8 bytes whatever the element read.
    array_scale_of_a_list:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND cardinality(array_scale(make_array(loan_id, loan_id), 2.0)) > 0")
        => RefuseUnsupported("not known to be bounded");
    array_add_of_two_lists:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND cardinality(array_add(make_array(loan_id), make_array(loan_id))) > 0")
        => RefuseUnsupported("not known to be bounded");
    // Refused before this file by its own rule, and still: a type's printed name.
    arrow_typeof_is_refused_as_unbounded:
        format!("SELECT COUNT(*) FROM loans WHERE {GATE} AND length(arrow_typeof(status)) > 0")
        => RefuseUnsupported("may build values");

    // ==== functions on the lists, or of fixed-size types: allowed =======================

    parts_of_a_text:
        "SELECT substr(status, 1, 3) AS a, btrim(status) AS b, left(status, 2) AS c, right(status, 2) AS d, reverse(status) AS e, COUNT(*) FROM loans GROUP BY 1, 2, 3, 4, 5"
        => RevealNothing;
    picks_among_values:
        "SELECT coalesce(status, 'none') AS a, nullif(status, 'closed') AS b, greatest(status, 'm') AS c, COUNT(*) FROM loans GROUP BY 1, 2, 3"
        => RevealNothing;
    digests_of_a_text:
        "SELECT md5(status) AS a, sha256(status) AS b, COUNT(*) FROM loans GROUP BY 1, 2"
        => RevealNothing;
    decode_of_an_encoding:
        "SELECT decode(encode(CAST(status AS BYTEA), 'hex'), 'hex') AS s, COUNT(*) FROM loans GROUP BY 1"
        => RevealNothing;
    numbers_and_dates_of_fixed_size:
        "SELECT abs(loan_id) % 3 AS a, date_part('year', now()) AS b, AVG(amount) AS c, COUNT(*) FROM loans GROUP BY 1, 2"
        => RevealNothing;
    a_negated_count:
        "SELECT -COUNT(*) AS n FROM loans"
        => RevealNothing;
    conditions_of_every_kind:
        "SELECT COUNT(*) FROM loans WHERE status LIKE 'a%' OR status IS NULL OR NOT (loan_id BETWEEN 1 AND 5) OR status IN ('x', 'y')"
        => RevealNothing;
    a_window_over_plain_columns:
        "SELECT loan_id, status, lag(status, 1, 'none') OVER (ORDER BY loan_id) AS before, row_number() OVER (ORDER BY loan_id) AS n FROM loans"
        => RevealNothing;
    first_value_of_a_plain_column:
        "SELECT loan_id, first_value(status) OVER (PARTITION BY status ORDER BY loan_id) AS f FROM loans"
        => RevealNothing;
    a_sorted_list_of_made_values:
        "SELECT COUNT(*) FROM loans WHERE cardinality(array_sort(make_array(status, 'a'))) = 2"
        => RevealNothing;
}
