//! The request context a decision is made for: who asks (`<agency>/<user>` and the roles
//! the owning gateway vouches for), why (the purpose), and the access grants the owning
//! agency approved for them on its audit chain. Values are checked here so that no
//! wildcard or separator from a request can reach a Casbin matcher.

use sluice_core::{Principal, Purpose};

use crate::decision::RuleRef;
use crate::error::{Error, Result};
use crate::level::Level;

/// An access the owning agency approved on its audit chain: columns of one dataset at
/// levels, for the request's principal and purpose, until an end date. The gateway reads
/// grants from the chain's state and hands them in as facts; the policy only combines
/// them with its own rules. This crate never reads the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainGrant {
    /// The chain index of the approval; the access entry of each query that relied on
    /// the grant cites it.
    pub approval: u64,
    /// The access request it approved.
    pub request_id: String,
    /// The dataset, as the policy names it (without the agency).
    pub dataset: String,
    /// Each column granted and its level.
    pub columns: Vec<(String, Level)>,
    /// When it ends, unix ms.
    pub until_ms: u64,
    /// Whether it is in force for this request; an ended grant only explains a refusal.
    pub active: bool,
}

impl ChainGrant {
    fn until(&self) -> String {
        i64::try_from(self.until_ms)
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map_or_else(
                || format!("{} ms", self.until_ms),
                |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            )
    }

    /// The grant as the rule that decided a column.
    pub(crate) fn rule(&self) -> RuleRef {
        RuleRef {
            file: "chain".into(),
            line: 0,
            text: format!(
                "access request `{}` approved until {}",
                self.request_id,
                self.until()
            ),
            entry: Some(self.approval),
        }
    }
}

/// Who asks and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    principal: String,
    agency: String,
    roles: Vec<String>,
    purpose: Option<String>,
    grants: Vec<ChainGrant>,
}

/// Roles may also hold `/` (e.g. `sh_hf/officer` granted through an approval).
fn check_role(r: &str) -> Result<()> {
    let ok = !r.is_empty()
        && r.len() <= 128
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '/'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "role `{r}` must be 1 to 128 letters, digits, `_`, `-`, `.`, `@` or `/`"
        )))
    }
}

impl Request {
    /// A request by `principal` (`<agency>/<user>`) for `purpose`. A request without a
    /// purpose can be built, but every decision on it is refused with
    /// [`Error::MissingPurpose`].
    pub fn new(principal: &str, purpose: Option<&str>) -> Result<Self> {
        let bad = |e: sluice_core::IdError| Error::BadRequest(e.to_string());
        let parsed = Principal::parse(principal).map_err(bad)?;
        let purpose = match purpose {
            None | Some("") => None,
            Some(p) => Some(Purpose::parse(p).map_err(bad)?.to_string()),
        };
        Ok(Request {
            principal: parsed.to_string(),
            agency: parsed.agency().to_string(),
            roles: Vec::new(),
            purpose,
            grants: Vec::new(),
        })
    }

    /// Add the access grants the owning agency approved on its chain for this principal
    /// and purpose, in force or ended.
    pub fn with_grants(mut self, grants: Vec<ChainGrant>) -> Self {
        self.grants = grants;
        self
    }

    /// The access grants the request carries.
    pub fn grants(&self) -> &[ChainGrant] {
        &self.grants
    }

    /// For a refusal of `dataset.column`: the ended grant that used to cover it.
    pub(crate) fn ended_grant_note(&self, dataset: &str, column: &str) -> Option<String> {
        let g = self.grants.iter().find(|g| {
            !g.active && g.dataset == dataset && g.columns.iter().any(|(c, _)| c == column)
        })?;
        Some(format!(
            "the grant of access request `{}` (chain entry {}) ended at {}; ask again with `sluice access request`",
            g.request_id,
            g.approval,
            g.until()
        ))
    }

    /// Add roles that the owning gateway itself vouches for (e.g. from an approved access
    /// grant). Never pass roles a peer merely asserts: roles from the policy's own `g`
    /// lines apply anyway.
    pub fn with_roles<I, S>(mut self, roles: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for r in roles {
            let r = r.as_ref();
            check_role(r)?;
            self.roles.push(r.to_string());
        }
        Ok(self)
    }

    /// `<agency>/<user>`.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// The requesting agency.
    pub fn agency(&self) -> &str {
        &self.agency
    }

    /// The purpose, if the request names one.
    pub fn purpose(&self) -> Option<&str> {
        self.purpose.as_deref()
    }

    /// The extra roles.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The subjects Casbin is asked about: the principal, then each extra role.
    pub(crate) fn subjects(&self) -> Vec<String> {
        std::iter::once(self.principal.clone())
            .chain(self.roles.iter().cloned())
            .collect()
    }
}
