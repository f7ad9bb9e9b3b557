//! How errors cross the wire: a [`GatewayError`] becomes a gRPC status code plus an
//! [`v1::ErrorDetail`] in the status details, and comes back as the same variant on the
//! other side. A failed status without a detail did not come from a gateway: it is the
//! transport's (a reset connection, a timeout).

use std::time::Duration;

use prost::Message as _;
use sluice_proto::v1::{self, error_detail::Kind};
use tonic::{Code, Status};

use crate::error::{GatewayError, Refusal, RefusedColumn};

/// The status a caller receives for `e`.
pub fn to_status(e: &GatewayError) -> Status {
    let (code, kind) = match e {
        GatewayError::Sql(m) => (
            Code::InvalidArgument,
            bad_input(v1::bad_input::Kind::Sql, m),
        ),
        GatewayError::BadRequest(m) => (
            Code::InvalidArgument,
            bad_input(v1::bad_input::Kind::Request, m),
        ),
        GatewayError::NotAQuery(m) => (
            Code::InvalidArgument,
            bad_input(v1::bad_input::Kind::NotAQuery, m),
        ),
        GatewayError::TooLarge { .. }
        | GatewayError::TypeTooLarge { .. }
        | GatewayError::TooLong(_) => (
            Code::InvalidArgument,
            bad_input(v1::bad_input::Kind::Sql, &e.to_string()),
        ),
        GatewayError::UnqualifiedTable(m) => (
            Code::InvalidArgument,
            bad_input(v1::bad_input::Kind::UnqualifiedTable, m),
        ),
        GatewayError::UnknownAgency { agency, known } => (
            Code::NotFound,
            Kind::UnknownAgency(v1::UnknownAgency {
                agency: agency.clone(),
                known: known.clone(),
            }),
        ),
        GatewayError::UnknownDataset {
            agency,
            dataset,
            published,
        } => (
            Code::NotFound,
            Kind::UnknownDataset(v1::UnknownDataset {
                agency: agency.clone(),
                dataset: dataset.clone(),
                published: published.clone(),
            }),
        ),
        GatewayError::PeerUnreachable {
            agency,
            address,
            waited,
            reason,
        } => (
            Code::FailedPrecondition,
            Kind::PeerUnreachable(v1::PeerUnreachable {
                agency: agency.clone(),
                address: address.clone(),
                waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                reason: reason.clone(),
            }),
        ),
        GatewayError::PeerDisconnected {
            agency,
            batches,
            rows,
            reason,
        } => (
            Code::FailedPrecondition,
            Kind::PeerDisconnected(v1::PeerDisconnected {
                agency: agency.clone(),
                batches: *batches,
                rows: *rows,
                reason: reason.clone(),
            }),
        ),
        GatewayError::Refused(r) => (Code::PermissionDenied, Kind::Refusal(refusal_to_proto(r))),
        GatewayError::Audit(m) => (Code::Aborted, Kind::Audit(m.clone())),
        GatewayError::Unauthenticated(m) => {
            (Code::Unauthenticated, Kind::Unauthenticated(m.clone()))
        }
        GatewayError::Forbidden(m) => (Code::PermissionDenied, Kind::Forbidden(m.clone())),
        GatewayError::SchemaMismatch {
            dataset,
            column,
            published,
            actual,
        } => (
            Code::DataLoss,
            Kind::SchemaMismatch(v1::SchemaMismatch {
                dataset: dataset.clone(),
                column: column.clone(),
                published: published.clone(),
                actual: actual.clone(),
            }),
        ),
        GatewayError::OverBudget(m) => (Code::ResourceExhausted, Kind::Other(m.clone())),
        GatewayError::PeerError { .. } | GatewayError::BadPeerData { .. } => {
            (Code::FailedPrecondition, Kind::Other(e.to_string()))
        }
        _ => (Code::Internal, Kind::Other(e.to_string())),
    };
    let detail = v1::ErrorDetail { kind: Some(kind) };
    Status::with_details(code, e.to_string(), detail.encode_to_vec().into())
}

fn bad_input(kind: v1::bad_input::Kind, message: &str) -> Kind {
    Kind::BadInput(v1::BadInput {
        kind: kind as i32,
        message: message.to_string(),
    })
}

/// What a failed status stands for.
#[derive(Debug)]
pub enum Received {
    /// A gateway's own error, as its variant.
    Gateway(GatewayError),
    /// A gateway's error with no variant of its own: its code and message.
    Other { code: Code, message: String },
    /// No gateway sent this: the connection broke or timed out.
    Transport(Status),
}

/// Read a failed status back into the error it carries.
pub fn from_status(status: Status) -> Received {
    let Some(kind) = v1::ErrorDetail::decode(status.details())
        .ok()
        .and_then(|d| d.kind)
    else {
        return Received::Transport(status);
    };
    let e = match kind {
        Kind::Refusal(r) => GatewayError::Refused(Box::new(refusal_from_proto(r))),
        Kind::UnknownAgency(u) => GatewayError::UnknownAgency {
            agency: u.agency,
            known: u.known,
        },
        Kind::UnknownDataset(u) => GatewayError::UnknownDataset {
            agency: u.agency,
            dataset: u.dataset,
            published: u.published,
        },
        Kind::PeerUnreachable(p) => GatewayError::PeerUnreachable {
            agency: p.agency,
            address: p.address,
            waited: Duration::from_millis(p.waited_ms),
            reason: p.reason,
        },
        Kind::PeerDisconnected(p) => GatewayError::PeerDisconnected {
            agency: p.agency,
            batches: p.batches,
            rows: p.rows,
            reason: p.reason,
        },
        Kind::Audit(m) => GatewayError::Audit(m),
        Kind::Unauthenticated(m) => GatewayError::Unauthenticated(m),
        Kind::Forbidden(m) => GatewayError::Forbidden(m),
        Kind::BadInput(b) => {
            use v1::bad_input::Kind as B;
            match B::try_from(b.kind).unwrap_or(B::Unspecified) {
                B::Sql => GatewayError::Sql(b.message),
                B::NotAQuery => GatewayError::NotAQuery(b.message),
                B::UnqualifiedTable => GatewayError::UnqualifiedTable(b.message),
                B::Request | B::Unspecified => GatewayError::BadRequest(b.message),
            }
        }
        Kind::SchemaMismatch(s) => GatewayError::SchemaMismatch {
            dataset: s.dataset,
            column: s.column,
            published: s.published,
            actual: s.actual,
        },
        Kind::Other(message) => {
            return Received::Other {
                code: status.code(),
                message,
            };
        }
    };
    Received::Gateway(e)
}

fn refusal_to_proto(r: &Refusal) -> v1::Refusal {
    v1::Refusal {
        agency: r.agency.clone(),
        principal: r.principal.clone(),
        purpose: r.purpose.clone(),
        columns: r
            .columns
            .iter()
            .map(|c| v1::RefusedColumn {
                dataset: c.dataset.clone(),
                column: c.column.clone(),
                needed: c.needed.clone(),
                granted: c.granted.clone(),
                rule: c.rule.clone(),
                usage: c.usage.clone(),
                note: c.note.clone(),
            })
            .collect(),
        reason: r.reason.clone(),
    }
}

fn refusal_from_proto(r: v1::Refusal) -> Refusal {
    Refusal {
        agency: r.agency,
        principal: r.principal,
        purpose: r.purpose,
        columns: r
            .columns
            .into_iter()
            .map(|c| RefusedColumn {
                dataset: c.dataset,
                column: c.column,
                needed: c.needed,
                granted: c.granted,
                rule: c.rule,
                usage: c.usage,
                note: c.note,
            })
            .collect(),
        reason: r.reason,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn round_trip(e: GatewayError) -> GatewayError {
        match from_status(to_status(&e)) {
            Received::Gateway(g) => g,
            other => panic!("{e:?} came back as {other:?}"),
        }
    }

    #[test]
    fn refusals_keep_their_fields() {
        let r = Refusal {
            agency: "sh_hf".into(),
            principal: "bj_hf/alice".into(),
            purpose: "audit".into(),
            columns: vec![RefusedColumn {
                dataset: "loans".into(),
                column: "amount".into(),
                needed: "plain".into(),
                granted: "aggregate".into(),
                rule: Some("sh_hf.csv:12".into()),
                usage: "in the result".into(),
                note: None,
            }],
            reason: None,
        };
        let back = round_trip(GatewayError::Refused(Box::new(r.clone())));
        assert_eq!(back.refusal(), Some(&r));
    }

    #[test]
    fn specific_errors_round_trip() {
        let e = round_trip(GatewayError::PeerUnreachable {
            agency: "zz_hf".into(),
            address: "127.0.0.1:1".into(),
            waited: Duration::from_millis(300),
            reason: "connection refused".into(),
        });
        assert!(
            matches!(&e, GatewayError::PeerUnreachable { waited, .. } if *waited == Duration::from_millis(300)),
            "{e:?}"
        );
        assert!(matches!(
            round_trip(GatewayError::NotAQuery("x".into())),
            GatewayError::NotAQuery(_)
        ));
        assert!(matches!(
            round_trip(GatewayError::Audit("down".into())),
            GatewayError::Audit(_)
        ));
    }

    #[test]
    fn a_status_without_detail_is_the_transport() {
        let s = Status::internal("h2 protocol error: connection reset");
        assert!(matches!(from_status(s), Received::Transport(_)));
        let other = to_status(&GatewayError::Internal("bug".into()));
        assert!(matches!(
            from_status(other),
            Received::Other {
                code: Code::Internal,
                ..
            }
        ));
    }
}
