//! The Sluice gateway protocol: the `.proto` files under `proto/` and the tonic/prost
//! code generated from them at build time.
//!
//! Conversions to and from domain types live in the crates that own those types.

#![allow(clippy::unwrap_used, missing_docs)]

/// Version 1 of the gateway protocol (`package sluice.v1`).
#[allow(clippy::clone_on_ref_ptr)]
pub mod v1 {
    tonic::include_proto!("sluice.v1");
}

/// Version 1 of the audit chain's peer protocol (`package sluice.chain.v1`).
#[allow(clippy::clone_on_ref_ptr)]
pub mod chain_v1 {
    tonic::include_proto!("sluice.chain.v1");
}

pub use v1::gateway_client::GatewayClient;
pub use v1::gateway_server::{Gateway, GatewayServer};
