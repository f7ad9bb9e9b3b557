//! Sluice disclosure policy: given a DataFusion logical plan and a request context, the
//! owning gateway's Casbin policy will return a rewritten plan and an explained decision,
//! or a refusal. Pure library: no network, no storage.
//!
//! Nothing is enforced yet. The gateway's owner path (`Owner::plan` then
//! `Owner::execute`) is where this crate's rewrite will sit.
