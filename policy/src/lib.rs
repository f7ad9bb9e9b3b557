//! Sluice disclosure policy: the owning gateway's judge of its own data.
//!
//! Given a DataFusion logical plan planned from untrusted SQL, a [`Request`] (principal,
//! roles, purpose) and the owning agency's Casbin policy, [`Policy::decide`] returns
//! either a rewritten plan plus an explained [`Decision`], or a typed refusal
//! ([`Error::Refused`]) naming each column, the level the query needed, the level
//! granted and the rule. Pure library: no network, and no storage but its policy files.
//!
//! - [`level`]: the disclosure levels `plain`, `masked:<fn>`, `aggregate[:k]`, `join`,
//!   `deny`, and what each use of a column needs;
//! - [`mask`]: the masks (`redact`, `last:N`, `first:N`, `year`, `null`, `hash`), one
//!   file each, run as DataFusion UDFs;
//! - `model`, `load`, `grant`: the Casbin model contract, loading and checking the
//!   policy file, and asking Casbin for a column's level and a dataset's row filters;
//! - `lineage`, `rewrite`: the analysis of the whole plan and the rewrites (masks and
//!   row filters above scans, small-group suppression above aggregates); `lineage`'s
//!   `total` module is the allowlist of operations that cannot fail at run time;
//! - `limits`: how deep a plan may nest, measured without recursion;
//! - [`growth`]: how long a value a plan may build (nested concatenation, `repeat`);
//! - [`decision`], [`error`]: what comes out;
//! - [`reload`]: a policy that follows its files, keeping the last good one.
//!
//! # Use
//! ```text
//! let policy = ReloadingPolicy::open(PolicyConfig::new("bj_hf", secret, schemas), model, csv)?;
//! let plan = state.statement_to_plan(stmt).await?;           // untrusted SQL, unoptimised
//! let decided = policy.decide(&plan, &Request::new("sh_hf/bob", Some("statistics"))?)?;
//! ctx.execute_logical_plan(decided.plan).await?;             // never the original plan
//! audit(policy.digest(), decided.decision.explain());
//! ```
//!
//! # Policy files
//! A standard Casbin model and a CSV policy. `r`/`p` decide column levels, the optional
//! `r2`/`p2` hold row filters, `g` holds roles. See `policy/README.md` for the format and
//! a complete example.

mod config;
pub mod decision;
pub mod error;
mod grant;
pub mod growth;
pub mod level;
mod limits;
mod lineage;
mod load;
pub mod mask;
mod model;
mod policy;
pub mod reload;
mod request;
pub mod rewrite;

pub use config::PolicyConfig;
pub use decision::{AppliedFilter, ColumnDecision, Decided, Decision, RuleRef, Suppression};
pub use error::{Error, LoadError, Refusal, Result, Violation};
pub use level::{DEFAULT_K, Level, Need};
pub use limits::{MAX_EXPR_DEPTH, MAX_PLAN_DEPTH, MAX_PLAN_NODES};
pub use mask::MaskSpec;
pub use model::STANDARD_MODEL;
pub use policy::{Policy, policy_digest};
pub use reload::ReloadingPolicy;
pub use request::{ChainGrant, Request};
