//! The online sharing process: an analyst asks for a conditional dataset through their
//! home gateway, the owning agency's data officer approves (perhaps for fewer columns or
//! at narrower levels) or denies, and the approval becomes a time-bounded grant that the
//! owner's policy enforces. Every step is a chain entry; the owner records each grant's
//! expiry when its end date passes.

use std::time::Duration;

use sluice_chain::directory::RequestStatus;
use sluice_chain::directory::view::AccessCase;
use sluice_chain::entry::{
    AccessApproval, AccessDenial, AccessExpiry, AccessRequest, Body, ColumnAccess,
};
use sluice_chain::{ChainNode, ChainStore};
use sluice_core::{AgencyId, DatasetRef, Principal, Purpose};
use sluice_policy::{ChainGrant, Level};
use sluice_proto::v1;

use super::append_applied;
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};

/// How long a decision waits for its request to reach this gateway's copy of the chain.
const REQUEST_WAIT: Duration = Duration::from_secs(2);

/// Checks that `level` is a level a grant can carry: one the policy's grammar accepts,
/// other than `deny`.
fn grantable(column: &str, level: &str) -> Result<ColumnAccess> {
    match Level::parse(level) {
        Ok(Level::Deny) => Err(GatewayError::BadRequest(format!(
            "column `{column}`: `deny` is not a level to ask for or grant"
        ))),
        Ok(l) => Ok(ColumnAccess {
            column: column.to_string(),
            level: l.to_string(),
        }),
        Err(e) => Err(GatewayError::BadRequest(format!("column `{column}`: {e}"))),
    }
}

fn columns_of(specs: &[v1::ColumnLevelSpec]) -> Result<Vec<ColumnAccess>> {
    specs
        .iter()
        .map(|c| grantable(&c.column, &c.level))
        .collect()
}

/// A fresh request id, unique across agencies: the home agency, the time and a counter.
fn request_id(agency: &AgencyId) -> String {
    let query = sluice_core::QueryId::new();
    format!("{agency}-{}", query.as_str().trim_start_matches('q'))
}

/// Files `principal`'s request on the chain, in the home agency's name.
pub async fn request(
    node: &ChainNode,
    principal: &Principal,
    ask: &v1::AccessAsk,
) -> Result<v1::AccessReceipt> {
    let dataset = DatasetRef::parse(&ask.dataset)?;
    let purpose = Purpose::parse(&ask.purpose)?;
    let columns = columns_of(&ask.columns)?;
    if columns.is_empty() {
        return Err(GatewayError::BadRequest(
            "name the columns you ask for, each with a level (`--columns amount:aggregate,person_id:join`)".into(),
        ));
    }
    let request_id = request_id(principal.agency());
    let body = Body::AccessRequest(AccessRequest {
        request_id: request_id.clone(),
        principal: principal.to_string(),
        dataset: dataset.to_string(),
        columns,
        purpose: purpose.to_string(),
        until_ms: ask.until_ms,
        justification: ask.reason.clone(),
    });
    let committed = append_applied(node, body).await?;
    tracing::info!(%principal, %dataset, %request_id, "access requested");
    Ok(v1::AccessReceipt {
        request_id,
        index: committed.index(),
    })
}

/// Records `officer`'s decision on a request to `node`'s agency. An approval with no
/// columns grants what was asked, and one with no end date runs as long as asked.
pub async fn decide(
    node: &ChainNode,
    officer: &Principal,
    decide: &v1::AccessDecide,
) -> Result<v1::AccessReceipt> {
    // This node may apply the request a moment after the requester's node did.
    let deadline = std::time::Instant::now() + REQUEST_WAIT;
    let case = loop {
        if let Some(case) = node.store().directory().request(&decide.request_id)? {
            break case;
        }
        if std::time::Instant::now() >= deadline {
            return Err(GatewayError::BadRequest(format!(
                "there is no access request `{}` (waited {} ms for it to reach this gateway's copy of the chain)",
                decide.request_id,
                REQUEST_WAIT.as_millis()
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let body = if decide.approve {
        let columns = if decide.columns.is_empty() {
            case.request.columns.clone()
        } else {
            columns_of(&decide.columns)?
        };
        let now = crate::identity::envelope::now_ms();
        let until = if decide.until_ms == 0 {
            case.request.until_ms
        } else {
            decide.until_ms
        };
        Body::AccessApprove(AccessApproval {
            request_id: decide.request_id.clone(),
            approver: officer.to_string(),
            columns,
            valid_from_ms: now,
            valid_until_ms: until,
        })
    } else {
        if decide.reason.trim().is_empty() {
            return Err(GatewayError::BadRequest(
                "a denial needs a reason (`--reason`)".into(),
            ));
        }
        Body::AccessDeny(AccessDenial {
            request_id: decide.request_id.clone(),
            approver: officer.to_string(),
            reason: decide.reason.clone(),
        })
    };
    let committed = append_applied(node, body).await?;
    tracing::info!(
        %officer,
        request_id = %decide.request_id,
        approved = decide.approve,
        "access request decided"
    );
    Ok(v1::AccessReceipt {
        request_id: decide.request_id.clone(),
        index: committed.index(),
    })
}

/// Access requests as the CLI lists them: `principal`'s own, or (`to_agency`) those
/// about `agency`'s datasets.
pub fn list(
    store: &ChainStore,
    principal: &Principal,
    req: &v1::AccessListRequest,
) -> Result<v1::AccessListResponse> {
    let dir = store.directory();
    let cases = if req.to_my_agency {
        dir.requests_to(principal.agency().as_str())?
    } else {
        let mut mine = Vec::new();
        for index in store.by_principal(&principal.to_string())? {
            if let Body::AccessRequest(r) = store.get(index)?.entry().body.clone()
                && let Some(case) = dir.request(&r.request_id)?
            {
                mine.push(case);
            }
        }
        mine
    };
    let record = |index: u64| -> Result<v1::ChainRecord> {
        Ok(v1::ChainRecord {
            index,
            entry: store.get_bytes(index)?,
        })
    };
    let mut out = Vec::new();
    for c in cases {
        if req.pending_only && c.state.status != RequestStatus::Pending {
            continue;
        }
        let (decision, expiry) = match c.state.status {
            RequestStatus::Pending => (None, None),
            RequestStatus::Approved { approval, .. } => (Some(approval), None),
            RequestStatus::Denied { denial } => (Some(denial), None),
            RequestStatus::Expired {
                approval, expiry, ..
            } => (Some(approval), Some(expiry)),
        };
        out.push(v1::AccessCaseInfo {
            request_id: c.request_id.clone(),
            status: c.state.status.name().into(),
            request: Some(record(c.state.index)?),
            decision: decision.map(record).transpose()?,
            expiry: expiry.map(record).transpose()?,
        });
    }
    Ok(v1::AccessListResponse { cases: out })
}

/// The grants approved on the chain for `ctx`'s principal and purpose on `datasets`, as
/// the policy takes them: in force at `now_ms`, or ended (to explain a refusal).
pub fn grants_for(
    store: &ChainStore,
    ctx: &RequestContext,
    datasets: &[DatasetRef],
    now_ms: u64,
) -> Result<Vec<ChainGrant>> {
    let dir = store.directory();
    let principal = ctx.principal.to_string();
    let mut out = Vec::new();
    for d in datasets {
        for case in dir.grants(&d.to_string(), &principal, ctx.purpose.as_str())? {
            if let Some(g) = chain_grant(d, &case, now_ms) {
                out.push(g);
            }
        }
    }
    Ok(out)
}

fn chain_grant(dataset: &DatasetRef, case: &AccessCase, now_ms: u64) -> Option<ChainGrant> {
    let approval = case.approval.as_ref()?;
    let index = match case.state.status {
        RequestStatus::Approved { approval, .. } | RequestStatus::Expired { approval, .. } => {
            approval
        }
        _ => return None,
    };
    let active = case.active_at(now_ms);
    // A grant that has not started yet neither applies nor explains anything.
    if !active && now_ms < approval.valid_until_ms {
        return None;
    }
    Some(ChainGrant {
        approval: index,
        request_id: case.request_id.clone(),
        dataset: dataset.dataset().to_string(),
        columns: approval
            .columns
            .iter()
            .filter_map(|c| Level::parse(&c.level).ok().map(|l| (c.column.clone(), l)))
            .collect(),
        until_ms: approval.valid_until_ms,
        active,
    })
}

/// Records the expiry of every grant to `agency`'s datasets whose end date has passed;
/// returns how many.
pub async fn expire_due(node: &ChainNode, agency: &AgencyId, now_ms: u64) -> Result<usize> {
    let due: Vec<String> = node
        .store()
        .directory()
        .requests_to(agency.as_str())?
        .into_iter()
        .filter(|c| matches!(c.state.status, RequestStatus::Approved { until_ms, .. } if until_ms <= now_ms))
        .map(|c| c.request_id)
        .collect();
    for request_id in &due {
        append_applied(
            node,
            Body::AccessExpire(AccessExpiry {
                request_id: request_id.clone(),
            }),
        )
        .await?;
        tracing::info!(%request_id, "access grant expired");
    }
    Ok(due.len())
}

/// Records expiries until the gateway stops: at once (grants that ended while it was
/// down), then every `every`.
pub async fn expire_forever(node: std::sync::Arc<ChainNode>, agency: AgencyId, every: Duration) {
    loop {
        if let Err(e) = expire_due(&node, &agency, crate::identity::envelope::now_ms()).await {
            tracing::info!(error = %e, "could not record grant expiries yet");
        }
        tokio::time::sleep(every).await;
    }
}
