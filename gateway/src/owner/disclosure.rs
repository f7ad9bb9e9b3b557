//! What an owner may release, as its config chose: its agency's Casbin policy, nothing
//! at all (no `[policy]` section), or everything plain (`[policy] open = true`). Policy
//! errors become the gateway's structured [`Refusal`].

use std::collections::BTreeMap;

use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use sluice_core::AgencyId;
use sluice_policy::{ChainGrant, Policy, PolicyConfig, ReloadingPolicy, Request};

use super::audit::ColumnUse;
use crate::catalog::DatasetInfo;
use crate::config::{PolicyChoice, PolicyFilesConfig};
use crate::context::RequestContext;
use crate::error::{GatewayError, Refusal, RefusedColumn, Result};
use crate::keys::read_key_file;

/// Why every column is denied on a gateway without a policy.
const NO_POLICY: &str = "this gateway has no [policy] section, so every column is denied; its agency must write a policy, or set `open = true` to release everything plain";

/// The policy in force at one owner.
#[derive(Debug)]
pub(super) enum Disclosure {
    /// The agency's policy files, reloaded when they change.
    Files(Box<ReloadingPolicy>),
    /// No `[policy]` section: a policy with no rules, which denies every column.
    DenyAll(Box<Policy>),
    /// `[policy] open = true`.
    Open,
}

/// What the judge decided for an allowed query.
pub(super) struct Verdict {
    pub plan: LogicalPlan,
    pub columns: Vec<ColumnUse>,
    pub reason: String,
    pub decision: Option<sluice_policy::Decision>,
    /// The chain entries of the access grants the decision relied on.
    pub cites: Vec<u64>,
}

impl Disclosure {
    pub(super) fn open(
        agency: &AgencyId,
        choice: &PolicyChoice,
        datasets: &BTreeMap<String, DatasetInfo>,
    ) -> Result<Self> {
        let schemas = || {
            datasets
                .iter()
                .map(|(name, info)| (name.clone(), SchemaRef::clone(&info.schema)))
                .collect()
        };
        match choice {
            PolicyChoice::Open => {
                tracing::warn!(%agency, "[policy] open = true: every published column is released plain");
                Ok(Disclosure::Open)
            }
            PolicyChoice::DenyAll => {
                tracing::warn!(%agency, "no [policy] section: every column is denied");
                // No rule grants anything, so the `hash` mask, the one use of the
                // secret, never runs.
                let config = PolicyConfig::new(agency.as_str(), vec![0u8; 32], schemas());
                let policy = Policy::from_bytes(
                    config,
                    "(no [policy] section)",
                    sluice_policy::STANDARD_MODEL.as_bytes(),
                    "(no [policy] section)",
                    b"",
                )
                .map_err(|e| GatewayError::PolicyLoad(e.to_string()))?;
                Ok(Disclosure::DenyAll(Box::new(policy)))
            }
            PolicyChoice::Files(files) => Ok(Disclosure::Files(Box::new(open_files(
                agency,
                files,
                schemas(),
            )?))),
        }
    }

    /// The digest of the policy in force, if the agency has one.
    pub(super) fn digest(&self) -> Option<String> {
        match self {
            Disclosure::Files(p) => Some(p.digest()),
            Disclosure::DenyAll(p) => Some(p.digest().to_string()),
            Disclosure::Open => None,
        }
    }

    /// Judge `plan` for `ctx`, with the access `grants` the agency approved for it on the
    /// chain: the plan to run, or a refusal.
    pub(super) fn judge(
        &self,
        agency: &AgencyId,
        state: &SessionState,
        ctx: &RequestContext,
        roles: &[String],
        grants: Vec<ChainGrant>,
        plan: &LogicalPlan,
    ) -> Result<Verdict> {
        let decided = match self {
            Disclosure::Open => return open_verdict(state, plan),
            Disclosure::Files(policy) => {
                if let Some(e) = policy.last_error() {
                    tracing::error!(%agency, error = %e, "policy file rejected; the last good policy stays in force");
                }
                let request = request(ctx, roles, grants)?;
                policy
                    .decide(plan, &request)
                    .map_err(|e| refusal(agency, ctx, e, None))?
            }
            Disclosure::DenyAll(policy) => policy
                .decide(plan, &request(ctx, roles, grants)?)
                .map_err(|e| refusal(agency, ctx, e, Some(NO_POLICY)))?,
        };
        let d = &decided.decision;
        let columns = d
            .columns
            .iter()
            .map(|c| ColumnUse {
                dataset: if c.dataset.contains('.') {
                    c.dataset.clone()
                } else {
                    format!("{agency}.{}", c.dataset)
                },
                column: c.column.clone(),
                level: c.level.to_string(),
            })
            .collect();
        let mut reason = format!("allowed by policy {}", short(&d.policy_digest));
        let cites = d.cites();
        if !cites.is_empty() {
            let list: Vec<String> = cites.iter().map(u64::to_string).collect();
            reason.push_str(&format!(
                "; with the access grants approved at chain entries {}",
                list.join(", ")
            ));
        }
        for f in &d.row_filters {
            reason.push_str(&format!("; row filter on {}: {}", f.dataset, f.predicate));
        }
        for s in &d.suppressions {
            reason.push_str(&format!("; groups under {} rows suppressed", s.k));
            if !s.subjects.is_empty() {
                reason.push_str(&format!(" (or {} distinct {})", s.k, s.subjects.join(", ")));
            }
        }
        Ok(Verdict {
            plan: decided.plan,
            columns,
            reason,
            decision: Some(decided.decision),
            cites,
        })
    }
}

fn request(ctx: &RequestContext, roles: &[String], grants: Vec<ChainGrant>) -> Result<Request> {
    Request::new(&ctx.principal.to_string(), Some(ctx.purpose.as_str()))
        .and_then(|r| r.with_roles(roles))
        .map(|r| r.with_grants(grants))
        .map_err(|e| GatewayError::BadRequest(e.to_string()))
}

/// Everything is plain: record the columns the optimized plan really scans.
fn open_verdict(state: &SessionState, plan: &LogicalPlan) -> Result<Verdict> {
    let plan = state
        .optimize(plan)
        .map_err(GatewayError::from_datafusion)?;
    let columns = scanned_columns(&plan)
        .into_iter()
        .map(|(dataset, column)| ColumnUse {
            dataset,
            column,
            level: "plain".into(),
        })
        .collect();
    Ok(Verdict {
        plan,
        columns,
        reason: "[policy] open = true: every published column is plain".into(),
        decision: None,
        cites: Vec::new(),
    })
}

/// A policy error as the gateway's error: refusals keep every column, level and rule.
fn refusal(
    agency: &AgencyId,
    ctx: &RequestContext,
    e: sluice_policy::Error,
    why: Option<&str>,
) -> GatewayError {
    let base = |reason: Option<String>, columns: Vec<RefusedColumn>| {
        GatewayError::Refused(Box::new(Refusal {
            agency: agency.to_string(),
            principal: ctx.principal.to_string(),
            purpose: ctx.purpose.to_string(),
            columns,
            reason,
        }))
    };
    match e {
        sluice_policy::Error::Refused(r) => base(
            why.map(str::to_string),
            r.violations
                .iter()
                .map(|v| RefusedColumn {
                    dataset: v.dataset.clone(),
                    column: v.column.clone(),
                    needed: v.needed.to_string(),
                    granted: v.granted.to_string(),
                    rule: v.rule.as_ref().map(ToString::to_string),
                    usage: v.usage.clone(),
                    note: v.note.clone(),
                })
                .collect(),
        ),
        sluice_policy::Error::BadRequest(m) => GatewayError::BadRequest(m),
        sluice_policy::Error::Load(l) => GatewayError::PolicyLoad(l.to_string()),
        other => base(Some(other.to_string()), Vec::new()),
    }
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

fn open_files(
    agency: &AgencyId,
    files: &PolicyFilesConfig,
    schemas: BTreeMap<String, SchemaRef>,
) -> Result<ReloadingPolicy> {
    let secret = read_key_file(&files.secret_file)?;
    let mut config = PolicyConfig::new(agency.as_str(), secret.to_vec(), schemas);
    for (dataset, columns) in &files.keys {
        config = config.with_key(dataset, columns.iter().cloned());
    }
    for (dataset, column) in &files.subjects {
        config = config.with_subject(dataset, column.clone());
    }
    ReloadingPolicy::open(config, &files.model, &files.rules)
        .map_err(|e| GatewayError::PolicyLoad(e.to_string()))
}

/// The columns each table scan of `plan` reads, as `(dataset, column)`; a scan of
/// `<agency>.<dataset>` reports `<agency>.<dataset>`.
fn scanned_columns(plan: &LogicalPlan) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let dataset = scan.table_name.to_string();
            for f in scan.projected_schema.fields() {
                let pair = (dataset.clone(), f.name().clone());
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}
