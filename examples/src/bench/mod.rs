//! The benchmarks behind `sluice bench`, each measured against its reference in the same
//! process or run: federated SQL against local DataFusion ([`federated`]), the policy's
//! planning cost against planning without it ([`policy`]), chain commits ([`chain`]),
//! auditors' traces ([`trace`]) and sealed against plain result streams ([`transport`]).
//! Run them from a `--release` build.

pub mod chain;
pub mod federated;
pub mod policy;
pub mod trace;
pub mod transport;
