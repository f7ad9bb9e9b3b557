//! Runnable scenarios with their own generated data, and the fixtures the benchmarks
//! and the integration tests share. Each scenario is one module.
//!
//! | module | what it holds |
//! |---|---|
//! | [`provident_fund`] | three housing-fund centres: data, policy, the loopback [`Cluster`](provident_fund::Cluster), and `sluice demo` |
//! | [`directory`] | five departments' catalogs on one chain, discovery, access requests and grants: `sluice demo directory` |
//! | [`chain_fixtures`] | fixed agency keys, sized access entries, a store of many entries |
//! | [`identities`] | a federation CA, agencies' keys and bundles, and one analyst each |
//! | [`bench`] | what `sluice bench` measures, each against its reference |

pub mod bench;
pub mod chain_fixtures;
pub mod directory;
pub mod identities;
pub mod provident_fund;
