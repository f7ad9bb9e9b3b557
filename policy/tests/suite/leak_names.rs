//! The policy's own hidden columns (the rows and distinct subjects each released group
//! is counted into, the subject key carried up from each scan) are found by name. A
//! query that names a column or alias the same way could stand in for them, so any name
//! starting with `__sluice` is refused.

use super::attack::Must::*;

const X: i64 = super::common::TARGET_LOAN;

attacks! {
    a_group_key_named_like_the_row_count:
        "SELECT __sluice_group_rows, SUM(amount) FROM (SELECT loan_id AS __sluice_group_rows, amount FROM loans) t GROUP BY __sluice_group_rows"
        => RefuseUnsupported("reserved");
    a_constant_named_like_the_row_count:
        format!("SELECT x, SUM(amount) FROM (SELECT 10 AS __sluice_group_rows, amount, loan_id = {X} AS x FROM loans) t GROUP BY x")
        => RefuseUnsupported("reserved");
    a_result_named_like_the_row_count:
        format!("SELECT SUM(a) AS __sluice_group_rows FROM (SELECT amount a FROM loans WHERE loan_id = {X}) t")
        => RefuseUnsupported("reserved");
    an_id_named_like_the_subject_key:
        format!("SELECT SUM(amount) FROM (SELECT amount, loan_id AS __sluice_subject_0 FROM loans WHERE loan_id = {X}) t")
        => RefuseUnsupported("reserved");
    a_subject_key_named_under_the_tables_own_alias:
        "SELECT SUM(amount) FROM (SELECT amount, CAST(loan_id AS BIGINT) AS __sluice_subject_0 FROM loans WHERE loan_id BETWEEN 2000000001 AND 2000000005) loans"
        => RefuseUnsupported("reserved");
    a_constant_named_like_a_subject_count:
        format!("SELECT g, SUM(amount) FROM (SELECT amount, loan_id = {X} AS g, 100 AS __sluice_group_subjects_0 FROM loans) t GROUP BY g")
        => RefuseUnsupported("reserved");
    a_reserved_name_in_a_cte:
        format!("WITH __sluice_subject_1 AS (SELECT amount FROM loans WHERE loan_id = {X}) SELECT SUM(amount) AS __sluice_subject_1 FROM __sluice_subject_1")
        => RefuseUnsupported("reserved");
    a_reserved_name_in_a_subquery:
        format!("SELECT COUNT(*) FROM loans WHERE loan_id IN (SELECT loan_id AS __sluice_x FROM loans WHERE loan_id = {X})")
        => RefuseUnsupported("reserved");
    a_reserved_name_in_upper_case:
        "SELECT \"__SLUICE_GROUP_ROWS\" FROM (SELECT COUNT(*) AS \"__SLUICE_GROUP_ROWS\" FROM loans) t"
        => RefuseUnsupported("reserved");
    a_reserved_name_in_values:
        "SELECT SUM(amount) FROM loans JOIN (VALUES (1)) AS v(__sluice_group_rows) ON true"
        => RefuseUnsupported("reserved");
}
