//! The Sluice gateway.
//!
//! Each agency runs one gateway next to its databases. The gateway is two things:
//!
//! - the **owner** of the agency's datasets ([`owner`]): it answers SQL over them, from
//!   peers and its own analysts alike, treating every SQL as untrusted input;
//! - the **home** of the agency's analysts ([`home`]): it plans their SQL across
//!   agencies ([`federation`]), sends each owner the largest sub-query it can run alone,
//!   and finishes joins and final aggregation itself.
//!
//! Every decision the owner takes is recorded on the audit chain ([`audit`]) before any
//! data leaves.
//!
//! Around them: the config ([`config`]), the request context every query carries
//! ([`context`]), the wire format of results ([`ipc`]), the gRPC server ([`server`]) and
//! clients ([`client`], [`analyst`]), and the `sluice demo` scenario ([`demo`]).

pub mod analyst;
pub mod audit;
pub mod auditor;
pub mod bench;
pub mod bench_chain;
pub mod bench_policy;
pub mod catalog;
pub mod client;
pub mod config;
pub mod context;
pub mod demo;
pub mod error;
pub mod federation;
pub mod home;
pub mod ipc;
pub mod output;
pub mod owner;
pub mod server;

pub use analyst::AnalystClient;
pub use config::GatewayConfig;
pub use context::{Principal, Purpose, RequestContext};
pub use error::{GatewayError, Result};
pub use home::Home;
pub use owner::Owner;
pub use server::{Gateway, RunningGateway};
