//! Auditors' queries over a chain store: which entries match a principal, agency,
//! dataset, column, purpose, time range or decision. The store's indexes narrow the
//! candidates (their intersection); every candidate is then checked against the filter.

use crate::entry::{AccessDecision, Body, EntryKind};
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

    /// Whether `signed` matches every filter that is set. An access decision (approval,
    /// denial, expiry) names only its request, so its principal and dataset are those of
    /// the request, which `store` looks up.
    pub fn matches(&self, store: &ChainStore, signed: &SignedEntry) -> Result<bool> {
        let e = signed.entry();
        if self.agency.as_deref().is_some_and(|a| a != e.author)
            || self.from_ms.is_some_and(|t| e.time_ms < t)
            || self.to_ms.is_some_and(|t| e.time_ms >= t)
        {
            return Ok(false);
        }
        let request = match &e.body {
            Body::AccessApprove(a) => Some(&a.request_id),
            Body::AccessDeny(d) => Some(&d.request_id),
            Body::AccessExpire(x) => Some(&x.request_id),
            _ => None,
        };
        let requested = match request {
            Some(id) => store.directory().request(id)?.map(|c| c.request),
            None => None,
        };
        let principal = requested
            .as_ref()
            .map(|r| r.principal.as_str())
            .or(e.principal());
        let datasets = match &requested {
            Some(r) => vec![r.dataset.as_str()],
            None => e.datasets(),
        };
        if self
            .principal
            .as_deref()
            .is_some_and(|p| principal != Some(p))
            || self
                .dataset
                .as_deref()
                .is_some_and(|d| !datasets.contains(&d))
        {
            return Ok(false);
        }
        if !self.needs_decision() {
            return Ok(true);
        }
        let (decision, d) = match &e.body {
            Body::AccessAllowed(d) => (Decision::Allowed, d),
            Body::AccessRefused(d) => (Decision::Refused, d),
            _ => return Ok(false),
        };
        Ok(self.decision.is_none_or(|want| want == decision)
            && self.purpose.as_deref().is_none_or(|p| p == d.purpose)
            && self.column.as_deref().is_none_or(|c| names_column(d, c)))
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
        let mut consider = |index: u64, bytes: &[u8]| -> Result<bool> {
            let entry = SignedEntry::from_bytes(bytes).map_err(|e| e.at_entry(index))?;
            if filter.matches(self, &entry)? {
                hits.push(TraceHit { index, entry });
            }
            Ok(hits.len() < limit)
        };
        match self.candidates(filter)? {
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

    /// The log indexes the indexes allow, sorted; `None` when no filter is indexed. The
    /// selective indexes (principal, dataset, purpose, time) are intersected; the broad
    /// ones (decision, agency) are read only when nothing else narrows the search.
    fn candidates(&self, filter: &TraceFilter) -> Result<Option<Vec<u64>>> {
        let mut lists = Vec::new();
        if let Some(p) = &filter.principal {
            lists.push(self.by_principal(p)?);
        }
        if let Some(d) = &filter.dataset {
            lists.push(self.by_dataset(d)?);
        }
        if let Some(p) = &filter.purpose {
            lists.push(self.by_purpose(p)?);
        }
        if filter.from_ms.is_some() || filter.to_ms.is_some() {
            let from = filter.from_ms.unwrap_or(0);
            lists.push(self.by_time(from, filter.to_ms.unwrap_or(u64::MAX))?);
        }
        if lists.is_empty() {
            if let Some(d) = filter.decision {
                lists.push(self.by_kind(match d {
                    Decision::Allowed => EntryKind::AccessAllowed,
                    Decision::Refused => EntryKind::AccessRefused,
                })?);
            } else if let Some(a) = &filter.agency {
                lists.push(self.by_agency(a)?);
            }
        }
        Ok(lists.into_iter().reduce(intersect))
    }
}

/// The indexes in both sorted lists.
fn intersect(a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small
        .into_iter()
        .filter(|i| large.binary_search(i).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::entry::{ColumnLevel, Entry};
    use crate::sign::{AgencySigner, TrustBundle};

    /// 600 entries from two agencies: accesses (one in five refused) by 7 principals over
    /// 4 datasets and 3 purposes, with clocks that run out of order along the log, plus
    /// entries of other kinds.
    fn store(dir: &std::path::Path) -> ChainStore {
        let signers = [
            AgencySigner::from_seed("bj_hf", [1; 32]).unwrap(),
            AgencySigner::from_seed("sh_hf", [2; 32]).unwrap(),
        ];
        let mut trust = TrustBundle::new();
        for s in &signers {
            trust.insert(s.agency(), s.verifying_key()).unwrap();
        }
        let store = ChainStore::open(dir).unwrap();
        let others = crate::entry::tests::one_of_each("bj_hf");
        let mut batch = Vec::new();
        for i in 0u64..600 {
            let signer = &signers[(i % 2) as usize];
            // Time jumps back every 50 entries.
            let time_ms = 1_000_000 + (i % 50) * 1_000 + (i / 50) * 7;
            let body = if i % 13 == 0 {
                others[(i as usize / 13) % others.len()].body.clone()
            } else {
                let d = AccessDecision {
                    query_id: format!("q{i}"),
                    principal: format!("bj_hf/user{}", i % 7),
                    purpose: ["audit", "loans", "statistics"][(i % 3) as usize].into(),
                    datasets: vec![format!("sh_hf.set{}", i % 4)],
                    columns: vec![ColumnLevel {
                        dataset: format!("sh_hf.set{}", i % 4),
                        column: format!("col{}", i % 5),
                        level: "plain".into(),
                    }],
                    reason: String::new(),
                    cites: vec![],
                };
                if i % 5 == 0 {
                    Body::AccessRefused(d)
                } else {
                    Body::AccessAllowed(d)
                }
            };
            let entry = Entry {
                author: signer.agency().into(),
                time_ms,
                body,
            };
            batch.push(trust.verify(signer.sign(entry).unwrap()).unwrap());
        }
        store.append_batch(batch).unwrap();
        store
    }

    #[test]
    fn indexed_traces_find_exactly_what_a_full_scan_finds() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let all: Vec<(u64, SignedEntry)> = store
            .scan(0)
            .unwrap()
            .map(|r| {
                let (i, b) = r.unwrap();
                (i, SignedEntry::from_bytes(&b).unwrap())
            })
            .collect();
        let principals = [None, Some("bj_hf/user3"), Some("bj_hf/nobody")];
        let datasets = [None, Some("sh_hf.set2"), Some("bj_hf.contributions")];
        let purposes = [None, Some("loans"), Some("provident_fund_transfer")];
        let times = [None, Some((1_010_000, 1_020_003)), Some((0, 1_000_001))];
        let decisions = [None, Some(Decision::Allowed), Some(Decision::Refused)];
        let agencies = [None, Some("sh_hf")];
        let mut checked = 0;
        for p in principals {
            for d in datasets {
                for u in purposes {
                    for t in times {
                        for c in decisions {
                            for a in agencies {
                                let filter = TraceFilter {
                                    principal: p.map(Into::into),
                                    dataset: d.map(Into::into),
                                    purpose: u.map(Into::into),
                                    from_ms: t.map(|t| t.0),
                                    to_ms: t.map(|t| t.1),
                                    decision: c,
                                    agency: a.map(Into::into),
                                    ..Default::default()
                                };
                                let want: Vec<u64> = all
                                    .iter()
                                    .filter(|(_, e)| filter.matches(&store, e).unwrap())
                                    .map(|(i, _)| *i)
                                    .collect();
                                let got: Vec<u64> = store
                                    .trace(&filter)
                                    .unwrap()
                                    .into_iter()
                                    .map(|h| h.index)
                                    .collect();
                                assert_eq!(got, want, "{filter:?}");
                                checked += usize::from(!want.is_empty());
                            }
                        }
                    }
                }
            }
        }
        // The grid is not vacuous: many filters match something.
        assert!(checked > 100, "only {checked} filters matched anything");
    }

    #[test]
    fn time_ranges_are_half_open_and_follow_each_entrys_clock() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        // Entry 50 is stamped 1_000_007: earlier than entry 49, later than entry 0.
        let hits = store.by_time(1_000_007, 1_000_008).unwrap();
        assert_eq!(hits, vec![50]);
        assert!(store.by_time(1_000_008, 1_000_008).unwrap().is_empty());
        assert_eq!(store.by_time(0, u64::MAX).unwrap().len(), 600);
    }
}
