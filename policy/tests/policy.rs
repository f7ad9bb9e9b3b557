//! The policy crate's one test binary: an adversarial suite of queries that try to learn
//! what the policy forbids, plus loading, hot reload, masks, purposes, roles and the
//! positive cases. Each test plans SQL the way the owning gateway does, decides, executes
//! the rewritten plan and checks the values that come out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
