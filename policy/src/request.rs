//! The request context a decision is made for: who asks (`<agency>/<user>` and the roles
//! the owning gateway vouches for) and why (the purpose). Values are checked here so that
//! no wildcard or separator from a request can reach a Casbin matcher.

use crate::error::{Error, Result};

/// Who asks and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    principal: String,
    agency: String,
    roles: Vec<String>,
    purpose: Option<String>,
}

fn check_name(what: &str, s: &str, allow_slash: bool) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '@')
                || (allow_slash && c == '/')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "{what} `{s}` must be 1 to 128 letters, digits, `_`, `-`, `.` or `@`"
        )))
    }
}

impl Request {
    /// A request by `principal` (`<agency>/<user>`) for `purpose`. A request without a
    /// purpose can be built, but every decision on it is refused with
    /// [`Error::MissingPurpose`].
    pub fn new(principal: &str, purpose: Option<&str>) -> Result<Self> {
        let (agency, user) = principal.split_once('/').ok_or_else(|| {
            Error::BadRequest(format!(
                "principal `{principal}` has no `/`; expected `<agency>/<user>`"
            ))
        })?;
        let agency_ok = !agency.is_empty()
            && agency
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !agency_ok {
            return Err(Error::BadRequest(format!(
                "principal `{principal}`: the agency must be a lower-case SQL identifier"
            )));
        }
        check_name("user", user, false)?;
        let purpose = match purpose {
            None | Some("") => None,
            Some(p) => {
                check_name("purpose", p, false)?;
                Some(p.to_string())
            }
        };
        Ok(Request {
            principal: principal.to_string(),
            agency: agency.to_string(),
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
            check_name("role", r, true)?;
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
