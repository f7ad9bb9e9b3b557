//! What a decision carries: the level, rule and mask of each column, the injected row
//! filters, the small-group suppressions and the rewritten SQL, with a text rendering for
//! `sluice policy explain` and the audit log.

use std::fmt;
use std::sync::{Arc, OnceLock};

use datafusion::logical_expr::LogicalPlan;

use crate::level::Level;

/// A policy rule, as written, and where: a line of a policy file, or an access grant
/// approved on the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// The policy file, or `chain` for a grant.
    pub file: String,
    /// 1-based line number; 0 for a grant.
    pub line: usize,
    /// The line as written (trimmed), or what the grant says.
    pub text: String,
    /// For a grant: the chain index of its approval, which the access entry cites.
    pub entry: Option<u64>,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry {
            Some(index) => write!(f, "`{}` (chain entry {index})", self.text),
            None => write!(f, "`{}` ({}:{})", self.text, self.file, self.line),
        }
    }
}

/// The level one column got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDecision {
    /// The dataset, e.g. `persons`.
    pub dataset: String,
    /// The column.
    pub column: String,
    /// The level granted.
    pub level: Level,
    /// The rule that decided; `None` means no rule named it (denied).
    pub rule: Option<RuleRef>,
    /// The mask applied above the scan, e.g. `last:4`.
    pub mask: Option<String>,
}

/// A row filter injected directly above a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedFilter {
    /// The dataset it filters.
    pub dataset: String,
    /// The predicate, as written in the policy.
    pub predicate: String,
    /// The rule that holds it.
    pub rule: RuleRef,
}

/// A `HAVING count(*) >= k` added above a grouping that releases aggregate-level data
/// (with `count(DISTINCT subject) >= k` for each released dataset with a subject key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Smallest group released.
    pub k: u32,
    /// The grouping, as `GROUP BY` expressions (empty: one global group).
    pub group_by: Vec<String>,
    /// The aggregate-level columns (`dataset.column`) the grouping releases.
    pub columns: Vec<String>,
    /// The subject keys (`dataset.column`) whose distinct values each group must hold
    /// at least k of; empty where no released dataset declares one.
    pub subjects: Vec<String>,
}

/// The explained decision for one allowed query.
#[derive(Debug, Clone)]
pub struct Decision {
    /// `<agency>/<user>` of the request.
    pub principal: String,
    /// The request's purpose.
    pub purpose: String,
    /// SHA-256 of the model and policy in force (hex), as the audit chain records it.
    pub policy_digest: String,
    /// The level of each column the query refers to.
    pub columns: Vec<ColumnDecision>,
    /// The row filters injected.
    pub row_filters: Vec<AppliedFilter>,
    /// The small-group suppressions added.
    pub suppressions: Vec<Suppression>,
    /// The rewritten plan, for [`Decision::rewritten_sql`].
    pub(crate) rewritten: Arc<LogicalPlan>,
    /// The rewritten SQL, unparsed on first use (it costs more than the decision).
    pub(crate) rewritten_sql: OnceLock<String>,
}

/// Stack for unparsing a plan to SQL: DataFusion's unparser recurses deeply (and
/// compiles regexes on the way), so it gets a stack of its own, and a gateway worker's
/// small stack cannot overflow.
const UNPARSE_STACK: usize = 16 * 1024 * 1024;

/// An allowed query: the plan to execute instead of the one given, and why.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The rewritten plan. Execute this one, never the original.
    pub plan: LogicalPlan,
    /// The explained decision.
    pub decision: Decision,
}

impl Decision {
    /// The chain entries of the access grants this decision relied on: the approvals
    /// that gave a column its level.
    pub fn cites(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .columns
            .iter()
            .filter_map(|c| c.rule.as_ref().and_then(|r| r.entry))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The text rendering `sluice policy explain` prints.
    pub fn explain(&self) -> String {
        self.to_string()
    }

    /// The rewritten plan as SQL, unparsed with DataFusion's unparser; where the plan
    /// does not unparse, the reason and the plan's text instead. Computed once.
    pub fn rewritten_sql(&self) -> &str {
        self.rewritten_sql.get_or_init(|| {
            let plan = &self.rewritten;
            match stacker::grow(UNPARSE_STACK, || {
                datafusion::sql::unparser::plan_to_sql(plan)
            }) {
                Ok(sql) => sql.to_string(),
                Err(e) => format!(
                    "(the rewritten plan does not unparse to SQL: {e})\n{}",
                    plan.display_indent()
                ),
            }
        })
    }
}

pub(crate) fn write_columns(f: &mut fmt::Formatter<'_>, columns: &[ColumnDecision]) -> fmt::Result {
    for c in columns {
        write!(f, "  {}.{}: {}", c.dataset, c.column, c.level)?;
        if let Some(m) = &c.mask {
            write!(f, " (mask {m})")?;
        }
        match &c.rule {
            Some(r) => writeln!(f, " by rule {r}")?,
            None => writeln!(f, " by no rule (default deny)")?,
        }
    }
    Ok(())
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "allowed for {} (purpose {}), policy {}",
            self.principal, self.purpose, self.policy_digest
        )?;
        writeln!(f, "columns:")?;
        write_columns(f, &self.columns)?;
        if self.row_filters.is_empty() {
            writeln!(f, "row filters: none")?;
        } else {
            writeln!(f, "row filters:")?;
            for r in &self.row_filters {
                writeln!(f, "  {}: {} by rule {}", r.dataset, r.predicate, r.rule)?;
            }
        }
        if self.suppressions.is_empty() {
            writeln!(f, "small-group suppression: none")?;
        } else {
            writeln!(f, "small-group suppression:")?;
            for s in &self.suppressions {
                let by = if s.group_by.is_empty() {
                    "the whole result".to_string()
                } else {
                    format!("GROUP BY {}", s.group_by.join(", "))
                };
                write!(
                    f,
                    "  groups of fewer than {} rows are suppressed ({by}; releases {}",
                    s.k,
                    s.columns.join(", ")
                )?;
                if s.subjects.is_empty() {
                    writeln!(f, ")")?;
                } else {
                    writeln!(
                        f,
                        "; and groups of fewer than {} distinct {})",
                        s.k,
                        s.subjects.join(", ")
                    )?;
                }
            }
        }
        write!(f, "rewritten SQL: {}", self.rewritten_sql())
    }
}
