//! The states of one request at an owner, as types: [`Planned`] (parsed and planned from
//! untrusted SQL), [`Judged`] (rewritten by the disclosure policy) and [`Logged`] (its
//! access entry committed). Each is made only by the step before it, inside
//! [`crate::owner`], and only a `Logged` query can run, so no code path releases data
//! that no policy judged or no chain entry covers.

use datafusion::logical_expr::LogicalPlan;
use sluice_core::DatasetRef;

use super::audit::{ColumnUse, Receipt};
use crate::context::RequestContext;

/// A query the owner has parsed and planned against its own datasets, not yet judged.
#[derive(Debug)]
pub struct Planned {
    pub(super) ctx: RequestContext,
    pub(super) plan: LogicalPlan,
    pub(super) datasets: Vec<DatasetRef>,
}

impl Planned {
    /// Who asks, why, and which query this is.
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    /// The datasets the query reads.
    pub fn datasets(&self) -> &[DatasetRef] {
        &self.datasets
    }
}

/// A query judged by the disclosure policy: the plan to run instead of the one asked
/// for, the columns and levels to record, and why it was allowed.
#[derive(Debug)]
pub struct Judged {
    pub(super) planned: Planned,
    pub(super) plan: LogicalPlan,
    pub(super) columns: Vec<ColumnUse>,
    pub(super) reason: String,
    pub(super) decision: Option<sluice_policy::Decision>,
}

impl Judged {
    /// The request as planned.
    pub fn planned(&self) -> &Planned {
        &self.planned
    }

    /// Each column the query reads and the level it is released at.
    pub fn columns(&self) -> &[ColumnUse] {
        &self.columns
    }

    /// Why the query was allowed, as the access entry records it.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The policy's decision, when a policy decided (not under `[policy] open = true`).
    /// Rendering it, with the rewritten SQL, costs more than deciding, so only
    /// `sluice policy explain` does.
    pub fn decision(&self) -> Option<&sluice_policy::Decision> {
        self.decision.as_ref()
    }
}

/// A judged query whose access entry is committed on the chain (or that runs on a
/// gateway started unaudited). The only state that can be executed.
#[derive(Debug)]
pub struct Logged {
    pub(super) ctx: RequestContext,
    pub(super) plan: LogicalPlan,
    pub(super) datasets: Vec<DatasetRef>,
    pub(super) receipt: Receipt,
    /// The columns read at a level other than `plain` (`dataset.column`): if any, an
    /// error's text is withheld from the caller, since it could quote their values.
    pub(super) protected: Vec<String>,
}

impl Logged {
    /// The proof that the access may release data.
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }
}
