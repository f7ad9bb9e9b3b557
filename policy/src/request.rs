//! The request context a decision is made for: who asks (`<agency>/<user>` and the roles
//! the owning gateway vouches for) and why (the purpose). Values are checked here so that
//! no wildcard or separator from a request can reach a Casbin matcher.

use sluice_core::{Principal, Purpose};

use crate::error::{Error, Result};

/// Who asks and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    principal: String,
    agency: String,
    roles: Vec<String>,
    purpose: Option<String>,
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
        })
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
