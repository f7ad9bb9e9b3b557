//! The request context every query carries: who asks (`Principal`), why (`Purpose`),
//! and which query this is. Authentication, policy and audit all key on it.

use std::fmt;

use sluice_proto::v1;

use crate::config::check_identifier;
use crate::error::{GatewayError, Result};

/// `<agency>/<user>`, e.g. `bj_hf/alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    agency: String,
    user: String,
}

impl Principal {
    /// Parse `<agency>/<user>`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            GatewayError::BadRequest(format!("principal `{s}` {why}; expected `<agency>/<user>`"))
        };
        let (agency, user) = s.split_once('/').ok_or_else(|| bad("has no `/`"))?;
        check_identifier(agency)
            .map_err(|m| GatewayError::BadRequest(format!("principal `{s}`: {m}")))?;
        if user.is_empty() || user.contains('/') || user.chars().any(char::is_whitespace) {
            return Err(bad("has an empty or malformed user"));
        }
        Ok(Principal {
            agency: agency.to_string(),
            user: user.to_string(),
        })
    }

    pub fn agency(&self) -> &str {
        &self.agency
    }

    pub fn user(&self) -> &str {
        &self.user
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.agency, self.user)
    }
}

/// Why a query runs, e.g. `provident_fund_transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Purpose(String);

impl Purpose {
    pub fn parse(s: &str) -> Result<Self> {
        check_identifier(s).map_err(|m| GatewayError::BadRequest(format!("purpose: {m}")))?;
        Ok(Purpose(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who asks, why, and which query this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub principal: Principal,
    pub purpose: Purpose,
    pub query_id: String,
}

impl RequestContext {
    pub fn new(principal: Principal, purpose: Purpose) -> Self {
        RequestContext {
            principal,
            purpose,
            query_id: new_query_id(),
        }
    }

    /// The context of the `n`th sub-query of this query: same principal and purpose, and
    /// an id that names its parent.
    pub fn sub_query(&self, n: usize) -> Self {
        RequestContext {
            principal: self.principal.clone(),
            purpose: self.purpose.clone(),
            query_id: format!("{}.{n}", self.query_id),
        }
    }

    /// Validate a context that arrived over the wire.
    pub fn from_proto(ctx: Option<&v1::RequestContext>) -> Result<Self> {
        let ctx =
            ctx.ok_or_else(|| GatewayError::BadRequest("the request carries no context".into()))?;
        if ctx.query_id.is_empty() || ctx.query_id.len() > 128 {
            return Err(GatewayError::BadRequest(
                "query id must be 1 to 128 characters".into(),
            ));
        }
        Ok(RequestContext {
            principal: Principal::parse(&ctx.principal)?,
            purpose: Purpose::parse(&ctx.purpose)?,
            query_id: ctx.query_id.clone(),
        })
    }

    pub fn to_proto(&self) -> v1::RequestContext {
        v1::RequestContext {
            principal: self.principal.to_string(),
            purpose: self.purpose.to_string(),
            query_id: self.query_id.clone(),
        }
    }
}

/// A fresh query id: time plus randomness, so ids sort roughly by time and do not collide.
pub fn new_query_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("q{now:x}-{:x}-{seq:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn principal_parses() {
        let p = Principal::parse("bj_hf/alice").unwrap();
        assert_eq!((p.agency(), p.user()), ("bj_hf", "alice"));
        assert_eq!(p.to_string(), "bj_hf/alice");
    }

    #[test]
    fn malformed_principals_are_refused() {
        for bad in [
            "alice",
            "/alice",
            "bj_hf/",
            "BJ/alice",
            "bj_hf/a/b",
            "bj_hf/a b",
        ] {
            assert!(
                matches!(Principal::parse(bad), Err(GatewayError::BadRequest(_))),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn context_round_trips_and_sub_queries_name_their_parent() {
        let ctx = RequestContext::new(
            Principal::parse("a/b").unwrap(),
            Purpose::parse("audit").unwrap(),
        );
        let back = RequestContext::from_proto(Some(&ctx.to_proto())).unwrap();
        assert_eq!(back, ctx);
        assert_eq!(ctx.sub_query(2).query_id, format!("{}.2", ctx.query_id));
        assert!(RequestContext::from_proto(None).is_err());
    }
}
