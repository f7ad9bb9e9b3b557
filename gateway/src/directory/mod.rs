//! This agency's part of the directory: the records of its datasets, published on the
//! chain at start and by `sluice catalog publish`; the grants its data officers approve,
//! enforced by its owner and expired on time; and the checks that what it serves is what
//! it published. The federated catalog itself is the chain's state
//! ([`sluice_chain::directory`]).
//!
//! | module | what it owns |
//! |---|---|
//! | [`publish`] | records from the config and the sources, and syncing them to the chain |
//! | [`access`] | access requests, approvals and denials; the grants an owner enforces; expiry |
//! | [`drift`] | sources whose schema no longer matches their published record |
//! | [`read`] | answers to catalog list, show, search and history |
//! | [`dcat`] | the catalog as DCAT-AP 3 JSON-LD |

pub mod access;
pub mod dcat;
pub mod drift;
pub mod publish;
pub mod read;

use sluice_chain::ChainNode;

use crate::error::{GatewayError, Result};
use crate::identity::users::Session;

/// The role an agency gives the users who publish its catalog and decide on access
/// requests (`sluice user add bj_hf/officer --role data_officer`).
pub const DATA_OFFICER: &str = "data_officer";

/// Refuses a session without the data officer's role.
pub fn require_data_officer(session: &Session, what: &str) -> Result<()> {
    if session.roles().iter().any(|r| r == DATA_OFFICER) {
        return Ok(());
    }
    tracing::warn!(principal = %session.principal(), "{what} refused: not a {DATA_OFFICER}");
    Err(GatewayError::Forbidden(format!(
        "`{}` may not {what}: that takes the role `{DATA_OFFICER}`",
        session.principal()
    )))
}

/// Appends `body` in `node`'s agency's name and waits until this node has applied it,
/// so a read of the directory right after sees it. A refusal by the directory's rules
/// becomes a [`GatewayError::BadRequest`] that says why.
pub(crate) async fn append_applied(
    node: &ChainNode,
    body: sluice_chain::Body,
) -> Result<sluice_chain::EntryCommitted> {
    let entry = sluice_chain::Entry {
        author: node.agency().to_string(),
        time_ms: crate::identity::envelope::now_ms(),
        body,
    };
    let committed = node.append(entry).await.map_err(|e| match e {
        sluice_chain::Error::Refused(reason) => {
            GatewayError::BadRequest(format!("the chain refused it: {reason}"))
        }
        other => GatewayError::Audit(other.to_string()),
    })?;
    node.wait_for_size(committed.index() + 1, APPLIED_WAIT)
        .await?;
    Ok(committed)
}

/// How long an append waits for this gateway's own node to apply it.
const APPLIED_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
