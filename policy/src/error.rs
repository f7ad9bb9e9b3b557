//! The crate's errors, split by whose fault they are: the caller's query or request
//! ([`Error::Refused`], [`Error::MissingPurpose`], [`Error::BadRequest`],
//! [`Error::Unsupported`], [`Error::TooDeep`], [`Error::TooLarge`], [`Error::TooLong`]), the
//! operator's policy files ([`LoadError`]), or a bug here
//! ([`Error::Internal`]). A refusal is data: it names every refused column at once.

use std::fmt;

use crate::decision::{ColumnDecision, RuleRef};
use crate::level::{Level, Need};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a request was not answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The query needs more than the policy grants. The caller's fault; audit it.
    #[error("{0}")]
    Refused(Box<Refusal>),
    /// The request names no purpose. Every request must carry exactly one.
    #[error("refused: the request names no purpose, and every request must carry one")]
    MissingPurpose,
    /// The request is malformed (principal, purpose or role spelling).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The plan holds something the policy engine does not analyse; it refuses rather
    /// than guess. The caller's fault.
    #[error("refused: {0}")]
    Unsupported(String),
    /// The query nests deeper than the analysis walks (see `limits`): refused before
    /// anything recursive touches it, so no query can overflow the gateway's stack.
    /// The caller's fault.
    #[error(
        "refused: the query nests {what} {depth} levels deep, and the disclosure policy analyses at most {limit}; write a long list of alternatives as `IN (...)`, or split the query"
    )]
    TooDeep {
        /// What nests: expressions, or plan nodes and subqueries.
        what: &'static str,
        /// How deep the query nests them.
        depth: usize,
        /// The deepest the policy accepts.
        limit: usize,
    },
    /// The query's plan, with every CTE written out where it is used, has more nodes
    /// than the analysis walks (see `limits`): a CTE that uses the one before it twice
    /// doubles the plan at each level, so a short statement can make an exponential one.
    /// The caller's fault.
    #[error(
        "refused: the query's plan has more than {limit} nodes once each CTE is counted where it is used, and the disclosure policy analyses at most {limit}; use each CTE fewer times, or split the query"
    )]
    TooLarge {
        /// The most nodes the policy accepts.
        limit: usize,
    },
    /// The query may build a value longer than a gateway builds (see `growth`): refused
    /// before it runs, whatever the data, so that running out of memory, or Arrow's
    /// limit on a column, never depends on which rows protected data kept. The caller's
    /// fault.
    /// It holds what builds the value, how long it may be, and the limits.
    #[error("refused: {0}")]
    TooLong(String),
    /// The policy files are broken. The operator's fault.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A broken invariant in this crate or an error from DataFusion while rewriting: the
    /// query is refused. Please report it.
    #[error("internal error in the disclosure policy (the query is refused): {0}")]
    Internal(String),
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl Error {
    /// The refusal, if this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Refused(r) => Some(r),
            _ => None,
        }
    }
}

/// A policy file that cannot be used. The last good policy stays in force.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file could not be read.
    #[error("cannot read {file}: {message}")]
    Io {
        /// The file.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// The Casbin model is malformed or lacks what this crate needs.
    #[error("{file}: bad policy model: {message}")]
    Model {
        /// The model file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A line of the policy file is malformed or names something that does not exist.
    #[error("{file}:{line}: {message}")]
    Policy {
        /// The policy file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the field at fault.
        message: String,
    },
    /// The owner's configuration handed to the loader is unusable (e.g. a short secret).
    #[error("bad policy configuration: {0}")]
    Config(String),
}

/// A query refused by policy: every column it would have needed more of.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// `<agency>/<user>` of the request.
    pub principal: String,
    /// The request's purpose.
    pub purpose: String,
    /// Each refused use, one per column and needed level.
    pub violations: Vec<Violation>,
    /// The level each column of the query got, for explain.
    pub columns: Vec<ColumnDecision>,
}

/// One refused use of one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The dataset, e.g. `persons`.
    pub dataset: String,
    /// The column, e.g. `id_number`.
    pub column: String,
    /// The level this use needs.
    pub needed: Need,
    /// The level the policy grants.
    pub granted: Level,
    /// The rule that granted it; `None` means no rule names the column.
    pub rule: Option<RuleRef>,
    /// How the query uses the column, e.g. "in the result" or "in GROUP BY".
    pub usage: String,
    /// A hint, e.g. a rule that would grant more for another purpose.
    pub note: Option<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column {}.{} is used {}, which needs level {}; granted {} by ",
            self.dataset, self.column, self.usage, self.needed, self.granted
        )?;
        match &self.rule {
            Some(r) => write!(f, "rule {r}")?,
            None => f.write_str("no rule (anything not named is denied)")?,
        }
        if let Some(n) = &self.note {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

impl Refusal {
    /// The text `sluice policy explain` prints for a refused query: the reasons, then the
    /// level each column got.
    pub fn explain(&self) -> String {
        struct Columns<'a>(&'a [ColumnDecision]);
        impl fmt::Display for Columns<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                crate::decision::write_columns(f, self.0)
            }
        }
        let mut out = String::from("refused\n");
        for v in &self.violations {
            out.push_str(&format!("  {v}\n"));
        }
        out.push_str(&format!("columns:\n{}", Columns(&self.columns)));
        out
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused by policy for {} (purpose {}): ",
            self.principal, self.purpose
        )?;
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}
