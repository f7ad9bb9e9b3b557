//! The home gateway's federated planner: the federated catalog ([`schema`]), the
//! rewrites that push work to owners ([`union_aggregate`], [`pushdown`]), and the
//! execution node that streams a sub-query's answer back ([`exec`]).
//!
//! It is written here rather than taken from `datafusion-federation` because the unit
//! of pushdown is an agency, not a database connection: every sub-query becomes SQL
//! that another gateway re-plans and judges as untrusted input under its own policy,
//! with the request context and audit id of this query, and GROUP BY and top-N over a
//! UNION ALL of agencies are split into per-agency partial work, which that crate does
//! not do.

mod branch;
pub mod exec;
pub mod pushdown;
pub mod schema;
mod sql_expr;
pub mod union_aggregate;
pub mod union_topk;
