//! The identifier types and their one set of rules. Each type can only be built by
//! parsing, so holding one means it is valid.

use std::fmt;
use std::str::FromStr;

/// A value that is not a valid identifier of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what}: {rule}")]
pub struct IdError {
    /// What was expected, e.g. "agency id".
    pub what: &'static str,
    /// The value as given (cut to 80 characters).
    pub value: String,
    /// The rule it breaks.
    pub rule: &'static str,
}

impl IdError {
    fn new(what: &'static str, value: &str, rule: &'static str) -> Self {
        let value = if value.chars().count() > 80 {
            format!("{}…", value.chars().take(80).collect::<String>())
        } else {
            value.to_string()
        };
        IdError { what, value, rule }
    }
}

const SQL_IDENTIFIER_RULE: &str =
    "use 1 to 63 lower-case letters, digits and `_`, not starting with a digit";

const AGENCY_ID_RULE: &str = "use 1 to 63 lower-case letters, digits and `_`, starting with a letter and not ending with `_`";

/// An agency id is a SQL identifier and, with `_` written `-`, a DNS label in the
/// agency's TLS certificate, so it starts with a letter and does not end with `_`.
fn is_agency_id(s: &str) -> bool {
    is_sql_identifier(s) && s.starts_with(|c: char| c.is_ascii_lowercase()) && !s.ends_with('_')
}

/// Lower-case SQL identifiers never need quoting, in SQL or in Casbin rules.
fn is_sql_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:expr, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses `s`, refusing anything that breaks the rule.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let check: fn(&str) -> bool = $check;
                if check(s) {
                    Ok($name(s.to_string()))
                } else {
                    Err(IdError::new($what, s, $rule))
                }
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id!(
    /// An agency, e.g. `bj_hf` (the Beijing housing-fund centre). It is the schema its
    /// datasets live in, the author of its chain entries and the first half of its
    /// users' principals.
    AgencyId,
    "agency id",
    is_agency_id,
    AGENCY_ID_RULE
);

impl AgencyId {
    /// The DNS name the agency's TLS certificate carries, e.g. `bj-hf.agency.sluice`:
    /// peers connect to the agency under this name.
    pub fn tls_server_name(&self) -> String {
        format!("{}.agency.sluice", self.0.replace('_', "-"))
    }

    /// The URI subject alternative name that names the agency in its certificate, e.g.
    /// `urn:sluice:agency:bj_hf`.
    pub fn certificate_uri(&self) -> String {
        format!("{AGENCY_URI_PREFIX}{}", self.0)
    }

    /// The agency a certificate's URI subject alternative name names, if it is one.
    pub fn from_certificate_uri(uri: &str) -> Option<Self> {
        Self::parse(uri.strip_prefix(AGENCY_URI_PREFIX)?).ok()
    }
}

const AGENCY_URI_PREFIX: &str = "urn:sluice:agency:";

string_id!(
    /// A dataset's name within its agency, e.g. `contributions`.
    DatasetName,
    "dataset name",
    is_sql_identifier,
    SQL_IDENTIFIER_RULE
);

string_id!(
    /// Why a query runs, e.g. `provident_fund_transfer`. Every request carries exactly
    /// one, and policies can require a particular one.
    Purpose,
    "purpose",
    is_sql_identifier,
    SQL_IDENTIFIER_RULE
);

string_id!(
    /// Which query something belongs to. A sub-query's id is its parent's with `.<n>`
    /// appended, so the home gateway's entry links the owners' entries.
    QueryId,
    "query id",
    |s| {
        !s.is_empty()
            && s.len() <= 128
            && s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    },
    "use 1 to 128 letters, digits, `_`, `-` and `.`"
);

impl QueryId {
    /// A fresh id: time plus process and sequence, so ids sort roughly by time and two
    /// processes do not collide.
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or_default();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        QueryId(format!("q{now:x}-{:x}-{seq:x}", std::process::id()))
    }

    /// The id of this query's `n`th sub-query.
    pub fn sub_query(&self, n: usize) -> Self {
        QueryId(format!("{}.{n}", self.0))
    }
}

impl Default for QueryId {
    fn default() -> Self {
        Self::new()
    }
}

/// `<agency>.<dataset>`, e.g. `bj_hf.contributions`: how SQL, the catalog and the chain
/// address a dataset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatasetRef {
    agency: AgencyId,
    dataset: DatasetName,
}

impl DatasetRef {
    /// A reference to `dataset` of `agency`.
    pub fn new(agency: AgencyId, dataset: DatasetName) -> Self {
        DatasetRef { agency, dataset }
    }

    /// Parses `<agency>.<dataset>`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        const RULE: &str = "expected `<agency>.<dataset>`";
        let (agency, dataset) = s
            .split_once('.')
            .ok_or_else(|| IdError::new("dataset reference", s, RULE))?;
        let agency =
            AgencyId::parse(agency).map_err(|_| IdError::new("dataset reference", s, RULE))?;
        let dataset =
            DatasetName::parse(dataset).map_err(|_| IdError::new("dataset reference", s, RULE))?;
        Ok(DatasetRef { agency, dataset })
    }

    /// The owning agency.
    pub fn agency(&self) -> &AgencyId {
        &self.agency
    }

    /// The dataset's name within its agency.
    pub fn dataset(&self) -> &DatasetName {
        &self.dataset
    }
}

impl fmt::Display for DatasetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.agency, self.dataset)
    }
}

impl FromStr for DatasetRef {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

/// Who asks: `<agency>/<user>`, e.g. `bj_hf/alice`. The user part may hold letters,
/// digits, `_`, `-`, `.` and `@`, so e-mail style names work but no Casbin wildcard
/// or separator does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Principal {
    agency: AgencyId,
    user: String,
}

impl Principal {
    const RULE: &str =
        "expected `<agency>/<user>`, the user 1 to 128 letters, digits, `_`, `-`, `.` or `@`";

    /// Parses `<agency>/<user>`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::new("principal", s, Self::RULE);
        let (agency, user) = s.split_once('/').ok_or_else(bad)?;
        let agency = AgencyId::parse(agency).map_err(|_| bad())?;
        let user_ok = !user.is_empty()
            && user.len() <= 128
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
        if !user_ok {
            return Err(bad());
        }
        Ok(Principal {
            agency,
            user: user.to_string(),
        })
    }

    /// The agency the user belongs to, and whose gateway speaks for them.
    pub fn agency(&self) -> &AgencyId {
        &self.agency
    }

    /// The user's name within the agency.
    pub fn user(&self) -> &str {
        &self.user
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.agency, self.user)
    }
}

impl FromStr for Principal {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn agency_ids() {
        for ok in ["bj_hf", "x_1", "a", &"a".repeat(63)] {
            assert!(AgencyId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "BJ",
            "bj hf",
            "_x1",
            "bj_",
            "bj.hf",
            "bj/hf",
            "*",
            &"a".repeat(64),
        ] {
            let e = AgencyId::parse(bad).unwrap_err();
            assert_eq!(e.what, "agency id", "{bad}");
        }
    }

    #[test]
    fn agencies_name_themselves_in_certificates() {
        let a = AgencyId::parse("bj_hf").unwrap();
        assert_eq!(a.tls_server_name(), "bj-hf.agency.sluice");
        assert_eq!(a.certificate_uri(), "urn:sluice:agency:bj_hf");
        assert_eq!(
            AgencyId::from_certificate_uri(&a.certificate_uri()),
            Some(a)
        );
        assert_eq!(AgencyId::from_certificate_uri("urn:sluice:agency:BJ"), None);
        assert_eq!(AgencyId::from_certificate_uri("https://bj_hf"), None);
    }

    #[test]
    fn principals() {
        let p = Principal::parse("bj_hf/alice.w@x-y_z").unwrap();
        assert_eq!(p.agency().as_str(), "bj_hf");
        assert_eq!(p.user(), "alice.w@x-y_z");
        assert_eq!(p.to_string(), "bj_hf/alice.w@x-y_z");
        for bad in [
            "alice",
            "/alice",
            "bj_hf/",
            "BJ/alice",
            "bj_hf/a/b",
            "bj_hf/a b",
            "bj_hf/*",
            "bj_hf/a,b",
            "*/alice",
        ] {
            assert!(Principal::parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(Principal::parse(&format!("a/{}", "u".repeat(129))).is_err());
    }

    #[test]
    fn dataset_refs() {
        let d = DatasetRef::parse("bj_hf.loans").unwrap();
        assert_eq!(
            (d.agency().as_str(), d.dataset().as_str()),
            ("bj_hf", "loans")
        );
        assert_eq!(d.to_string(), "bj_hf.loans");
        for bad in ["loans", "bj_hf.", ".loans", "bj_hf.a.b", "Bj.loans"] {
            assert!(DatasetRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn purposes_and_query_ids() {
        assert!(Purpose::parse("provident_fund_transfer").is_ok());
        for bad in ["", "Fund", "a b", "*", "a,b"] {
            assert!(Purpose::parse(bad).is_err(), "{bad}");
        }
        let q = QueryId::new();
        assert!(QueryId::parse(q.as_str()).is_ok());
        assert_eq!(q.sub_query(2).as_str(), format!("{q}.2"));
        assert_ne!(QueryId::new(), QueryId::new());
        for bad in ["", "a b", "q/1", &"q".repeat(129)] {
            assert!(QueryId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_cut_long_values() {
        let e = AgencyId::parse(&"X".repeat(500)).unwrap_err();
        assert!(e.to_string().len() < 250, "{e}");
    }
}
