//! The home gateway's federated planner: the federated catalog ([`schema`]), the
//! rewrites that push work to owners ([`union_aggregate`], [`pushdown`]), and the
//! execution node that streams a sub-query's answer back ([`exec`]).

mod branch;
pub mod exec;
pub mod pushdown;
pub mod schema;
pub mod union_aggregate;
pub mod union_topk;

pub use exec::{RemoteExec, RemoteQueryTable};
pub use pushdown::{Federator, SubQuery};
pub use schema::{AgencySchema, RemoteDataset};
pub use union_aggregate::push_aggregates_through_union;
pub use union_topk::push_top_n_through_union;
