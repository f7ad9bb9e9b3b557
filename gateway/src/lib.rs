//! The Sluice gateway, as a library. Each agency runs one gateway next to its databases.
//! The `sluice` binary (`cli/`) and the scenarios (`examples/`) are built on it.
//!
//! A gateway is two things:
//! - the **owner** of the agency's datasets ([`owner`]): it answers SQL over them, from
//!   peers and its own analysts alike, as untrusted input. One request moves through
//!   typed states, planned, judged by the policy, logged on the chain, and only then
//!   run ([`owner::state`]);
//! - the **home** of the agency's analysts ([`home`]): it plans their SQL across
//!   agencies ([`federation`]), sends each owner the largest sub-query it can run alone
//!   ([`peer`]), and finishes joins and final aggregation itself.
//!
//! | module | what it owns |
//! |---|---|
//! | [`config`] | the TOML config, validated with file, line and column |
//! | [`context`] | the request context every query carries |
//! | [`intake`] | the one door for untrusted SQL, home and owner alike |
//! | [`budget`] | the memory and time one query may use |
//! | [`catalog`] | what an agency publishes, on the wire and in the planner |
//! | [`directory`] | its datasets' records on the chain, access requests and grants, drift |
//! | [`owner`] | the owner's typestate path, its disclosure policy and its audit trail |
//! | [`home`] | the federated planner of one gateway |
//! | [`federation`] | the rewrites that push work to owners, and the remote scan |
//! | [`peer`] | clients of the owning agencies (remote and in process) and result streams |
//! | [`grpc`] | the gRPC service and how errors travel as status details |
//! | [`ipc`] | result frames: an Arrow IPC stream cut into messages |
//! | [`server`] | a whole gateway, opened from its config and served |
//! | [`identity`] | keys, bundles, certificates, mutual TLS, signed requests, analysts' sessions |
//! | [`seal`] | result streams sealed with HPKE for their requester |
//! | [`export`] | signed, sealed export files for offline exchange |
//! | [`chain`], [`keys`] | starting the agency's chain node; key files |
//! | [`analyst`] | the analyst's client of a home gateway |
//! | [`auditor`] | what `sluice audit` does over a node's chain store |
//! | [`error`] | the one error type |

pub mod analyst;
pub mod auditor;
pub mod budget;
pub mod catalog;
pub mod chain;
pub mod config;
pub mod context;
pub mod directory;
pub mod error;
pub mod export;
pub mod federation;
pub mod grpc;
pub mod home;
pub mod identity;
pub mod intake;
pub mod ipc;
pub mod keys;
pub mod owner;
pub mod peer;
pub mod seal;
pub mod server;

pub use analyst::AnalystClient;
pub use config::GatewayConfig;
pub use context::RequestContext;
pub use error::{GatewayError, Refusal, RefusedColumn, Result};
pub use home::Home;
pub use owner::Owner;
pub use server::{Gateway, RunningGateway};
pub use sluice_core::{AgencyId, DatasetRef, Principal, Purpose, QueryId};
