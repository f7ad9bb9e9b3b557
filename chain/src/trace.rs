//! Auditors' queries over a chain store: which entries match a principal, agency,
//! dataset, column, purpose, time range or decision. The by-principal, by-dataset and
//! by-agency indexes narrow the candidates; the other filters check each candidate.

use crate::entry::{AccessDecision, Body};
use crate::error::Result;
use crate::sign::SignedEntry;
use crate::store::ChainStore;

/// Whether an access was allowed or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// `access_allowed` entries.
    Allowed,
    /// `access_refused` entries.
    Refused,
}

/// What to look for. Every filter that is set must match.
#[derive(Debug, Clone, Default)]
pub struct TraceFilter {
    /// `<agency>/<user>`.
    pub principal: Option<String>,
    /// The author agency.
    pub agency: Option<String>,
    /// `<agency>.<dataset>`.
    pub dataset: Option<String>,
    /// A column, as `column` or `<agency>.<dataset>.column`.
    pub column: Option<String>,
    /// The request's purpose.
    pub purpose: Option<String>,
    /// Entries at or after this time (ms since the epoch).
    pub from_ms: Option<u64>,
    /// Entries before this time (ms since the epoch).
    pub to_ms: Option<u64>,
    /// Allowed or refused accesses only.
    pub decision: Option<Decision>,
    /// Stop after this many matches.
    pub limit: Option<usize>,
}

/// One matching entry and its chain index.
#[derive(Debug, Clone)]
pub struct TraceHit {
    /// The entry's index (its Merkle leaf index).
    pub index: u64,
    /// The signed entry as stored.
    pub entry: SignedEntry,
}

impl TraceFilter {
    fn needs_decision(&self) -> bool {
        self.column.is_some() || self.purpose.is_some() || self.decision.is_some()
    }

    /// Whether `signed` matches every filter that is set.
    pub fn matches(&self, signed: &SignedEntry) -> bool {
        let e = signed.entry();
        if self.agency.as_deref().is_some_and(|a| a != e.author)
            || self.from_ms.is_some_and(|t| e.time_ms < t)
            || self.to_ms.is_some_and(|t| e.time_ms >= t)
        {
            return false;
        }
        if self
            .principal
            .as_deref()
            .is_some_and(|p| e.principal() != Some(p))
            || self
                .dataset
                .as_deref()
                .is_some_and(|d| !e.datasets().contains(&d))
        {
            return false;
        }
        if !self.needs_decision() {
            return true;
        }
        let (decision, d) = match &e.body {
            Body::AccessAllowed(d) => (Decision::Allowed, d),
            Body::AccessRefused(d) => (Decision::Refused, d),
            _ => return false,
        };
        self.decision.is_none_or(|want| want == decision)
            && self.purpose.as_deref().is_none_or(|p| p == d.purpose)
            && self.column.as_deref().is_none_or(|c| names_column(d, c))
    }
}

fn names_column(d: &AccessDecision, column: &str) -> bool {
    d.columns
        .iter()
        .any(|c| c.column == column || format!("{}.{}", c.dataset, c.column) == column)
}

impl ChainStore {
    /// The entries that match `filter`, in log order.
    pub fn trace(&self, filter: &TraceFilter) -> Result<Vec<TraceHit>> {
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut hits = Vec::new();
        let candidates = if let Some(p) = &filter.principal {
            Some(self.by_principal(p)?)
        } else if let Some(d) = &filter.dataset {
            Some(self.by_dataset(d)?)
        } else if let Some(a) = &filter.agency {
            Some(self.by_agency(a)?)
        } else {
            None
        };
        let mut consider = |index: u64, bytes: &[u8]| -> Result<bool> {
            let entry = SignedEntry::from_bytes(bytes).map_err(|e| e.at_entry(index))?;
            if filter.matches(&entry) {
                hits.push(TraceHit { index, entry });
            }
            Ok(hits.len() < limit)
        };
        match candidates {
            Some(indexes) => {
                for index in indexes {
                    if !consider(index, &self.get_bytes(index)?)? {
                        break;
                    }
                }
            }
            None => {
                for item in self.scan(0)? {
                    let (index, bytes) = item?;
                    if !consider(index, &bytes)? {
                        break;
                    }
                }
            }
        }
        Ok(hits)
    }
}
