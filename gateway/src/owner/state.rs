//! The states of one request at an owner, as types: [`Authenticated`] (the caller proved
//! who it is), [`Planned`] (parsed and planned from untrusted SQL), [`Judged`] (rewritten
//! by the disclosure policy) and [`Logged`] (its access entry committed). Each is made
//! only by the step before it, and only a `Logged` query can run, so no code path
//! releases data to an unproven caller, or that no policy judged or no chain entry covers.
//!
//! Outside [`crate::owner`], the states can be read, and walked only through
//! [`Owner::fetch`](super::Owner::fetch). The integration test `typestate` compiles code
//! that tries each forbidden step (making up a state, swapping a judged plan, running an
//! unlogged query, claiming the unaudited token) and checks the compiler's error for each.

use datafusion::logical_expr::LogicalPlan;
use sluice_core::{AgencyId, DatasetRef};

use super::audit::{ColumnUse, Receipt};
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};
use crate::identity::envelope::VerifiedRequest;
use crate::identity::users::Session;
use crate::seal;

/// Who the answer goes to.
#[derive(Debug, Clone)]
pub enum Recipient {
    /// A peer agency's gateway, over the network: the answer is sealed to its key.
    Peer {
        agency: AgencyId,
        reply_to: seal::PublicKey,
    },
    /// This gateway's own home planner, in process, for one of its analysts.
    Local,
}

/// A caller that proved who it is. Made only from a checked envelope
/// ([`VerifiedRequest`]) or a live session ([`Session`]), neither of which can be made
/// up outside [`crate::identity`].
#[derive(Debug)]
pub struct Authenticated {
    pub(super) ctx: RequestContext,
    pub(super) roles: Vec<String>,
    pub(super) recipient: Recipient,
}

impl Authenticated {
    /// A peer gateway's request whose certificate and signature checked out.
    pub fn from_peer(request: VerifiedRequest) -> Self {
        let (requester, ctx, roles, reply_to) = request.into_parts();
        Authenticated {
            roles: qualified(&requester, roles),
            ctx,
            recipient: Recipient::Peer {
                agency: requester,
                reply_to,
            },
        }
    }

    /// A query of this gateway's own analyst; `ctx` must be the session's principal's.
    pub fn from_session(session: &Session, ctx: RequestContext) -> Result<Self> {
        if &ctx.principal != session.principal() {
            return Err(GatewayError::Unauthenticated(format!(
                "the session is `{}`'s, not `{}`'s",
                session.principal(),
                ctx.principal
            )));
        }
        let agency = ctx.principal.agency().clone();
        Ok(Authenticated {
            roles: qualified(&agency, session.roles().to_vec()),
            ctx,
            recipient: Recipient::Local,
        })
    }

    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    /// The caller's roles, each named `<agency>.<role>` after the agency that vouches
    /// for it, so one agency's role names cannot stand for another's.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    pub fn recipient(&self) -> &Recipient {
        &self.recipient
    }
}

fn qualified(agency: &AgencyId, roles: Vec<String>) -> Vec<String> {
    roles.into_iter().map(|r| format!("{agency}.{r}")).collect()
}

/// A query the owner has parsed and planned against its own datasets, not yet judged.
#[derive(Debug)]
pub struct Planned {
    pub(super) ctx: RequestContext,
    pub(super) roles: Vec<String>,
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
    /// The chain entries of the access grants the decision relied on.
    pub(super) cites: Vec<u64>,
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
