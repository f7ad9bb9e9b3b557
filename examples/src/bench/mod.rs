//! The benchmarks behind `sluice bench`, each measured against its reference in the same
//! process or run: federated SQL against local DataFusion ([`federated`]), the same over
//! PostgreSQL against PostgreSQL itself and a postgres_fdw hub ([`postgres`]), the policy's
//! planning cost against planning without it ([`policy`]), chain commits ([`chain`]),
//! the directory's list, show, search and rebuild at a municipality's scale
//! ([`directory`]),
//! auditors' traces ([`trace`]) and sealed against plain result streams ([`transport`]).
//! Run them from a `--release` build.

pub mod chain;
pub mod directory;
pub mod federated;
pub mod policy;
pub mod postgres;
pub mod trace;
pub mod transport;
