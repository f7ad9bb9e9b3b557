//! Ranked search over the catalog: Okapi BM25 over each live dataset's title,
//! description, keywords and column names, with filters by agency, classification,
//! sharing class and keyword.
//!
//! The scoring is that of Robertson's Okapi BM25 as the `rank_bm25` Python package
//! computes it (k1 = 1.5, b = 0.75, and a term in more than half the documents gets
//! 0.25 × the mean IDF instead of a negative one), so an independent implementation
//! orders the same corpus the same way. Text is cut into lowercase runs of letters and
//! digits, so `person_id` is the two terms `person` and `id`.

use std::collections::HashMap;

use crate::entry::{CatalogRecord, Classification, SharingClass};

const K1: f64 = 1.5;
const B: f64 = 0.75;
const EPSILON: f64 = 0.25;

/// The terms of `text`: lowercase runs of letters and digits.
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The terms a record is found by, in order: title, description, keywords, then column
/// names.
pub fn record_terms(r: &CatalogRecord) -> Vec<String> {
    let mut terms = tokenize(&r.title);
    terms.extend(tokenize(&r.description));
    for k in &r.keywords {
        terms.extend(tokenize(k));
    }
    for c in &r.columns {
        terms.extend(tokenize(&c.name));
    }
    terms
}

/// What a search keeps, besides matching its words. Empty fields keep everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// Only datasets of this agency.
    pub agency: Option<String>,
    /// Only datasets with at least one column of this classification.
    pub classification: Option<Classification>,
    /// Only datasets shared this way.
    pub sharing: Option<SharingClass>,
    /// Only datasets with this keyword (case-insensitive, whole keyword).
    pub keyword: Option<String>,
}

impl SearchFilter {
    /// Whether `r` passes the filter.
    pub fn keeps(&self, r: &CatalogRecord) -> bool {
        self.agency.as_deref().is_none_or(|a| r.agency() == a)
            && self
                .classification
                .is_none_or(|c| r.columns.iter().any(|col| col.classification == c))
            && self.sharing.is_none_or(|s| r.sharing == s)
            && self
                .keyword
                .as_deref()
                .is_none_or(|k| r.keywords.iter().any(|rk| rk.eq_ignore_ascii_case(k)))
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// `<agency>.<dataset>`.
    pub dataset: String,
    /// Its BM25 score for the query.
    pub score: f64,
}

struct Doc {
    record: CatalogRecord,
    len: usize,
}

/// A BM25 index over a set of records, built once and searched many times: each term's
/// postings (document, term frequency) and IDF.
pub struct SearchIndex {
    docs: Vec<Doc>,
    postings: HashMap<String, Vec<(usize, u32)>>,
    idf: HashMap<String, f64>,
    avgdl: f64,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("documents", &self.docs.len())
            .field("terms", &self.postings.len())
            .finish()
    }
}

impl SearchIndex {
    /// Indexes `records`, one document each.
    pub fn build(records: impl IntoIterator<Item = CatalogRecord>) -> Self {
        let mut docs = Vec::new();
        let mut postings: HashMap<String, Vec<(usize, u32)>> = HashMap::new();
        let mut total = 0usize;
        for record in records {
            let terms = record_terms(&record);
            let mut freqs: HashMap<String, u32> = HashMap::new();
            for t in &terms {
                *freqs.entry(t.clone()).or_default() += 1;
            }
            let doc = docs.len();
            for (t, tf) in freqs {
                postings.entry(t).or_default().push((doc, tf));
            }
            total += terms.len();
            docs.push(Doc {
                record,
                len: terms.len(),
            });
        }
        let n = docs.len() as f64;
        let mut idf = HashMap::with_capacity(postings.len());
        let mut sum = 0.0;
        let mut negative = Vec::new();
        for (term, list) in &postings {
            let f = list.len() as f64;
            let value = (n - f + 0.5).ln() - (f + 0.5).ln();
            sum += value;
            if value < 0.0 {
                negative.push(term.clone());
            }
            idf.insert(term.clone(), value);
        }
        if !idf.is_empty() {
            let floor = EPSILON * sum / idf.len() as f64;
            for t in negative {
                idf.insert(t, floor);
            }
        }
        let avgdl = if docs.is_empty() {
            0.0
        } else {
            total as f64 / docs.len() as f64
        };
        SearchIndex {
            docs,
            postings,
            idf,
            avgdl,
        }
    }

    /// How many records are indexed.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The records that hold at least one of `query`'s terms and pass `filter`, best
    /// first (ties by dataset name), at most `limit` of them.
    pub fn search(&self, query: &str, filter: &SearchFilter, limit: usize) -> Vec<Hit> {
        // Every query term counts, repeats included, as rank_bm25 counts them; a
        // document's score adds the terms' parts in query order.
        let mut scores: HashMap<usize, f64> = HashMap::new();
        for t in tokenize(query) {
            let (Some(list), Some(idf)) = (self.postings.get(&t), self.idf.get(&t)) else {
                continue;
            };
            for &(doc, tf) in list {
                let Some(d) = self.docs.get(doc) else {
                    continue;
                };
                let tf = f64::from(tf);
                let norm = K1 * (1.0 - B + B * d.len as f64 / self.avgdl);
                *scores.entry(doc).or_insert(0.0) += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        let mut hits: Vec<Hit> = scores
            .into_iter()
            .filter_map(|(doc, score)| {
                let d = self.docs.get(doc)?;
                filter.keeps(&d.record).then(|| Hit {
                    dataset: d.record.dataset.clone(),
                    score,
                })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.dataset.cmp(&b.dataset))
        });
        hits.truncate(limit);
        hits
    }

    /// The record of `dataset`, if indexed.
    pub fn record(&self, dataset: &str) -> Option<&CatalogRecord> {
        self.docs
            .iter()
            .find(|d| d.record.dataset == dataset)
            .map(|d| &d.record)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::entry::tests::catalog_record;

    #[test]
    fn tokens_are_lowercase_alphanumeric_runs() {
        assert_eq!(
            tokenize("Person_ID, Monthly-Contributions 2026!"),
            ["person", "id", "monthly", "contributions", "2026"]
        );
    }

    #[test]
    fn filters_and_ranking() {
        let mut a = catalog_record("bj_hf.contributions", 1);
        a.title = "Housing fund contributions".into();
        let mut b = catalog_record("sh_tax.returns", 1);
        b.title = "Tax returns".into();
        b.description = "Yearly tax returns of persons.".into();
        b.keywords = vec!["tax".into()];
        b.sharing = SharingClass::None;
        let index = SearchIndex::build([a, b]);
        let hits = index.search("tax", &SearchFilter::default(), 10);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].dataset, "sh_tax.returns");
        let only_bj = SearchFilter {
            agency: Some("bj_hf".into()),
            ..SearchFilter::default()
        };
        assert!(index.search("tax", &only_bj, 10).is_empty());
        let conditional = SearchFilter {
            sharing: Some(SharingClass::Conditional),
            ..SearchFilter::default()
        };
        let hits = index.search("contributions person", &conditional, 10);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].dataset, "bj_hf.contributions");
    }
}
