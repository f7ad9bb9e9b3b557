//! The request context every query carries: who asks ([`Principal`]), why
//! ([`Purpose`]), and which query this is ([`QueryId`]). Authentication, policy and
//! audit all key on it.

use sluice_core::{Principal, Purpose, QueryId};
use sluice_proto::v1;

use crate::error::{GatewayError, Result};

/// Who asks, why, and which query this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub principal: Principal,
    pub purpose: Purpose,
    pub query_id: QueryId,
}

impl RequestContext {
    pub fn new(principal: Principal, purpose: Purpose) -> Self {
        RequestContext {
            principal,
            purpose,
            query_id: QueryId::new(),
        }
    }

    /// The context of the `n`th sub-query of this query: same principal and purpose, and
    /// an id that names its parent.
    pub fn sub_query(&self, n: usize) -> Self {
        RequestContext {
            principal: self.principal.clone(),
            purpose: self.purpose.clone(),
            query_id: self.query_id.sub_query(n),
        }
    }

    /// Validate a context that arrived over the wire.
    pub fn from_proto(ctx: Option<&v1::RequestContext>) -> Result<Self> {
        let ctx =
            ctx.ok_or_else(|| GatewayError::BadRequest("the request carries no context".into()))?;
        let bad = |e: sluice_core::IdError| GatewayError::BadRequest(e.to_string());
        Ok(RequestContext {
            principal: Principal::parse(&ctx.principal).map_err(bad)?,
            purpose: Purpose::parse(&ctx.purpose).map_err(bad)?,
            query_id: QueryId::parse(&ctx.query_id).map_err(bad)?,
        })
    }

    pub fn to_proto(&self) -> v1::RequestContext {
        v1::RequestContext {
            principal: self.principal.to_string(),
            purpose: self.purpose.to_string(),
            query_id: self.query_id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn context_round_trips_and_sub_queries_name_their_parent() {
        let ctx = RequestContext::new(
            Principal::parse("a/b").unwrap(),
            Purpose::parse("audit").unwrap(),
        );
        let back = RequestContext::from_proto(Some(&ctx.to_proto())).unwrap();
        assert_eq!(back, ctx);
        assert_eq!(
            ctx.sub_query(2).query_id.to_string(),
            format!("{}.2", ctx.query_id)
        );
        assert!(RequestContext::from_proto(None).is_err());
    }

    #[test]
    fn malformed_wire_contexts_are_bad_requests() {
        let good = RequestContext::new(
            Principal::parse("a/b").unwrap(),
            Purpose::parse("audit").unwrap(),
        )
        .to_proto();
        for bad in [
            v1::RequestContext {
                principal: "BJ/alice".into(),
                ..good.clone()
            },
            v1::RequestContext {
                purpose: "".into(),
                ..good.clone()
            },
            v1::RequestContext {
                query_id: "q 1".into(),
                ..good.clone()
            },
        ] {
            assert!(matches!(
                RequestContext::from_proto(Some(&bad)),
                Err(GatewayError::BadRequest(_))
            ));
        }
    }
}
