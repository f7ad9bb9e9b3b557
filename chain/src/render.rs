//! Entries rendered for people: the JSON that `sluice audit trace --format json` prints
//! and that evidence bundles carry as a summary. Binary fields appear as hex.

use serde_json::{Value, json};

use crate::entry::{Body, CatalogRecord, ColumnAccess};
use crate::sign::SignedEntry;

/// One entry as a JSON object: index, kind, author, time, the body's fields and the
/// signature.
pub fn entry_json(index: u64, signed: &SignedEntry) -> Value {
    let e = signed.entry();
    let body = match &e.body {
        Body::AccessAllowed(d) | Body::AccessRefused(d) => json!({
            "query_id": d.query_id,
            "principal": d.principal,
            "purpose": d.purpose,
            "datasets": d.datasets,
            "columns": d.columns.iter().map(|c| json!({
                "dataset": c.dataset, "column": c.column, "level": c.level,
            })).collect::<Vec<_>>(),
            "reason": d.reason,
            "cites": d.cites,
        }),
        Body::AccessCompleted(c) => json!({
            "query_id": c.query_id, "rows": c.rows, "bytes": c.bytes, "digest": hex::encode(c.digest),
        }),
        Body::CatalogPublish(r) | Body::CatalogChange(r) => record_json(r),
        Body::CatalogWithdraw(w) => json!({
            "dataset": w.dataset, "version": w.version, "reason": w.reason,
        }),
        Body::AccessRequest(r) => json!({
            "request_id": r.request_id, "principal": r.principal, "dataset": r.dataset,
            "columns": access_json(&r.columns), "purpose": r.purpose, "until_ms": r.until_ms,
            "justification": r.justification,
        }),
        Body::AccessApprove(a) => json!({
            "request_id": a.request_id, "approver": a.approver, "columns": access_json(&a.columns),
            "valid_from_ms": a.valid_from_ms, "valid_until_ms": a.valid_until_ms,
        }),
        Body::AccessExpire(x) => json!({ "request_id": x.request_id }),
        Body::AccessDeny(d) => json!({
            "request_id": d.request_id, "approver": d.approver, "reason": d.reason,
        }),
        Body::ConsentGrant(g) => json!({
            "consent_id": g.consent_id, "subject": g.subject, "requester": g.requester,
            "dataset": g.dataset, "columns": g.columns, "purpose": g.purpose,
            "valid_from_ms": g.valid_from_ms, "valid_until_ms": g.valid_until_ms,
        }),
        Body::ConsentRevoke(r) => json!({ "consent_id": r.consent_id, "subject": r.subject }),
        Body::PolicyChange(p) => json!({
            "digest": hex::encode(p.digest), "version": p.version, "note": p.note,
        }),
        Body::Membership(m) => json!({
            "agency": m.agency,
            "action": m.action.as_str(),
            "role": m.role.as_str(),
            "public_key": hex::encode(m.public_key),
            "address": m.address,
            "node": m.node,
        }),
        Body::Export(x) => json!({
            "query_id": x.query_id, "principal": x.principal, "purpose": x.purpose,
            "recipient": x.recipient, "rows": x.rows, "bytes": x.bytes,
            "file_sha256": hex::encode(x.digest),
        }),
    };
    json!({
        "index": index,
        "kind": e.kind().name(),
        "author": e.author,
        "time_ms": e.time_ms,
        "body": body,
        "signature": hex::encode(signed.signature()),
    })
}

/// A catalog record as a JSON object, every field named.
pub fn record_json(r: &CatalogRecord) -> Value {
    json!({
        "dataset": r.dataset,
        "version": r.version,
        "title": r.title,
        "description": r.description,
        "keywords": r.keywords,
        "department": r.department,
        "legal_basis": r.legal_basis,
        "columns": r.columns.iter().map(|c| json!({
            "name": c.name,
            "type": c.data_type,
            "nullable": c.nullable,
            "classification": c.classification.as_str(),
        })).collect::<Vec<_>>(),
        "sharing": r.sharing.as_str(),
        "update_frequency": r.update_frequency,
        "row_count": r.row_count,
        "last_update": r.last_update,
        "contact": r.contact,
    })
}

fn access_json(columns: &[ColumnAccess]) -> Value {
    Value::Array(
        columns
            .iter()
            .map(|c| json!({ "column": c.column, "level": c.level }))
            .collect(),
    )
}
