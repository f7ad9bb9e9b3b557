//! A loaded policy: one agency's Casbin model and policy, checked against its datasets'
//! schemas, with the digest the audit chain records. [`Policy::decide`] is the entry
//! point: a logical plan and a request in, a rewritten plan and its explanation out.

use std::path::Path;

use datafusion::logical_expr::LogicalPlan;
use sha2::{Digest, Sha256};

use crate::config::PolicyConfig;
use crate::decision::{ColumnDecision, Decided};
use crate::error::{Error, LoadError, Result};
use crate::grant::Grants;
use crate::level::Level;
use crate::lineage::Analyzer;
use crate::request::Request;
use crate::{limits, load};

/// One agency's loaded disclosure policy.
#[derive(Debug)]
pub struct Policy {
    pub(crate) config: PolicyConfig,
    pub(crate) grants: Grants,
    digest: String,
}

/// SHA-256 over the model and the policy, hex: `sha256(len(model) as u64 big-endian ||
/// model || policy)`. The length prefix keeps the split between the files unambiguous.
pub fn policy_digest(model: &[u8], policy: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update((model.len() as u64).to_be_bytes());
    h.update(model);
    h.update(policy);
    hex::encode(h.finalize())
}

pub(crate) fn read(path: &Path) -> std::result::Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|e| LoadError::Io {
        file: path.display().to_string(),
        message: e.to_string(),
    })
}

impl Policy {
    /// Load the model and policy files.
    pub fn load(config: PolicyConfig, model: &Path, policy: &Path) -> Result<Policy, LoadError> {
        let (m, p) = (read(model)?, read(policy)?);
        Self::from_bytes(
            config,
            &model.display().to_string(),
            &m,
            &policy.display().to_string(),
            &p,
        )
    }

    /// Load a model and policy held in memory; the names stand for their files in errors
    /// and explanations.
    pub fn from_bytes(
        config: PolicyConfig,
        model_name: &str,
        model: &[u8],
        policy_name: &str,
        policy: &[u8],
    ) -> Result<Policy, LoadError> {
        for (dataset, columns) in &config.keys {
            let schema = config.datasets.get(dataset).ok_or_else(|| {
                LoadError::Config(format!("a key is declared for unknown dataset `{dataset}`"))
            })?;
            if columns.is_empty() {
                return Err(LoadError::Config(format!(
                    "the key declared for `{dataset}` names no column"
                )));
            }
            for c in columns {
                if schema.field_with_name(c).is_err() {
                    return Err(LoadError::Config(format!(
                        "the key declared for `{dataset}` names column `{c}`, which it does not have"
                    )));
                }
            }
        }
        for (dataset, column) in &config.subjects {
            let schema = config.datasets.get(dataset).ok_or_else(|| {
                LoadError::Config(format!(
                    "a subject key is declared for unknown dataset `{dataset}`"
                ))
            })?;
            if schema.field_with_name(column).is_err() {
                return Err(LoadError::Config(format!(
                    "the subject key declared for `{dataset}` names column `{column}`, which it does not have"
                )));
            }
        }
        // The analysis adds hidden columns of its own, named `__sluice_*`; a dataset
        // column of that name could be confused with one.
        for (dataset, schema) in &config.datasets {
            if let Some(f) = schema
                .fields()
                .iter()
                .find(|f| f.name().starts_with(crate::rewrite::RESERVED_PREFIX))
            {
                return Err(LoadError::Config(format!(
                    "dataset `{dataset}` has column `{}`; names starting with `{}` are reserved for the policy's own columns",
                    f.name(),
                    crate::rewrite::RESERVED_PREFIX
                )));
            }
        }
        if config.secret.len() < 16 {
            return Err(LoadError::Config(
                "the owner secret for the hash mask must be at least 16 bytes".into(),
            ));
        }
        let text = |name: &str, b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_string)
                .map_err(|e| LoadError::Io {
                    file: name.to_string(),
                    message: format!("not UTF-8: {e}"),
                })
        };
        let (mt, pt) = (text(model_name, model)?, text(policy_name, policy)?);
        let grants = load::build(model_name, &mt, policy_name, &pt, &config.datasets)?;
        Ok(Policy {
            config,
            grants,
            digest: policy_digest(model, policy),
        })
    }

    /// SHA-256 of the model and policy (see [`policy_digest`]).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The owning agency.
    pub fn agency(&self) -> &str {
        &self.config.agency
    }

    /// The Casbin enforcer holding the rules.
    pub fn enforcer(&self) -> &casbin::Enforcer {
        &self.grants.enforcer
    }

    /// Check `plan` (as planned from untrusted SQL, before optimisation) for `request`,
    /// and return the plan to execute instead, with its explanation, or a refusal.
    ///
    /// The returned plan masks columns directly above their scans, injects the row
    /// filters below the masks, and suppresses groups smaller than k wherever
    /// aggregate-level data is released. It keeps its guarantees through DataFusion's
    /// optimizer. Never execute the original plan.
    pub fn decide(&self, plan: &LogicalPlan, request: &Request) -> Result<Decided> {
        if request.purpose().is_none() {
            return Err(Error::MissingPurpose);
        }
        // Measured without recursion, so that nothing deeper than the analysis can walk
        // reaches a recursive walk; what passes is walked on a stack sized for it.
        let depth = limits::measure(plan).check()?;
        depth.on_stack(|| {
            crate::growth::check(plan)?;
            Analyzer::new(&self.config, &self.grants, &self.digest, request).run(plan)
        })
    }

    /// The level one column gets for `request`, and the rule that decided it.
    pub fn column_level(
        &self,
        request: &Request,
        dataset: &str,
        column: &str,
    ) -> Result<ColumnDecision> {
        let purpose = request.purpose().ok_or(Error::MissingPurpose)?;
        let g = self.grants.grant(
            &request.subjects(),
            request.agency(),
            purpose,
            &format!("{dataset}.{column}"),
        )?;
        Ok(ColumnDecision {
            dataset: dataset.to_string(),
            column: column.to_string(),
            mask: match &g.level {
                Level::Masked(m) => Some(m.to_string()),
                _ => None,
            },
            level: g.level,
            rule: g.rule,
        })
    }
}
