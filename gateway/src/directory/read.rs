//! Answers to `sluice catalog list|show|search|history`, from this gateway's copy of the
//! chain. Records travel as the signed entries themselves, so the CLI shows exactly what
//! the owners signed.

use sluice_chain::ChainStore;
use sluice_chain::directory::SearchFilter;
use sluice_chain::entry::{Classification, SharingClass};
use sluice_proto::v1;
use sluice_proto::v1::directory_request::Ask;

use crate::error::{GatewayError, Result};

/// Search results when the request names no limit.
const DEFAULT_LIMIT: usize = 20;

fn filter(req: &v1::DirectoryRequest) -> Result<SearchFilter> {
    let bad = |what: &str, value: &str, allowed: &str| {
        GatewayError::BadRequest(format!("{what} `{value}` is none of {allowed}"))
    };
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(SearchFilter {
        agency: opt(&req.agency),
        classification: match req.classification.as_str() {
            "" => None,
            c => Some(Classification::parse(c).ok_or_else(|| {
                bad("classification", c, "public, internal, sensitive, personal")
            })?),
        },
        sharing: match req.sharing.as_str() {
            "" => None,
            c => Some(
                SharingClass::parse(c)
                    .ok_or_else(|| bad("sharing class", c, "unconditional, conditional, none"))?,
            ),
        },
        keyword: opt(&req.keyword),
    })
}

fn record(store: &ChainStore, index: u64) -> Result<v1::ChainRecord> {
    Ok(v1::ChainRecord {
        index,
        entry: store.get_bytes(index)?,
    })
}

/// Answers one directory question.
pub fn answer(store: &ChainStore, req: &v1::DirectoryRequest) -> Result<v1::DirectoryResponse> {
    let dir = store.directory();
    let mut resp = v1::DirectoryResponse::default();
    match Ask::try_from(req.ask).unwrap_or(Ask::Unspecified) {
        Ask::Unspecified => {
            return Err(GatewayError::BadRequest(
                "the directory request asks nothing".into(),
            ));
        }
        Ask::List => {
            let keep = filter(req)?;
            for p in dir.datasets(keep.agency.as_deref())? {
                if keep.keeps(&p.record) {
                    resp.records.push(record(store, p.index)?);
                }
            }
        }
        Ask::Show => {
            let p = dir.dataset(&req.dataset)?.ok_or_else(|| {
                GatewayError::BadRequest(format!(
                    "`{}` is not in the catalog (never published, or withdrawn; `sluice catalog history` shows which)",
                    req.dataset
                ))
            })?;
            resp.records.push(record(store, p.index)?);
        }
        Ask::Search => {
            let limit = match req.limit {
                0 => DEFAULT_LIMIT,
                n => n as usize,
            };
            let index = dir.search_index()?;
            for hit in index.search(&req.words, &filter(req)?, limit) {
                if let Some(p) = dir.dataset(&hit.dataset)? {
                    resp.records.push(record(store, p.index)?);
                    resp.scores.push(hit.score);
                }
            }
        }
        Ask::History => {
            let events = dir.history(&req.dataset)?;
            if events.is_empty() {
                return Err(GatewayError::BadRequest(format!(
                    "`{}` was never published",
                    req.dataset
                )));
            }
            for e in events {
                resp.records.push(record(store, e.index)?);
            }
        }
    }
    Ok(resp)
}

/// How `new`'s columns differ from `old`'s, one line per column, in `new`'s order, then
/// the columns `new` dropped.
pub fn schema_diff(
    old: &[sluice_chain::entry::CatalogColumn],
    new: &[sluice_chain::entry::CatalogColumn],
) -> Vec<String> {
    let mut out = Vec::new();
    for c in new {
        match old.iter().find(|o| o.name == c.name) {
            None => out.push(format!(
                "+ {} {} ({})",
                c.name,
                c.data_type,
                c.classification.as_str()
            )),
            Some(o) => {
                if o.data_type != c.data_type {
                    out.push(format!("~ {}: {} -> {}", c.name, o.data_type, c.data_type));
                }
                if o.classification != c.classification {
                    out.push(format!(
                        "~ {}: {} -> {}",
                        c.name,
                        o.classification.as_str(),
                        c.classification.as_str()
                    ));
                }
                if o.nullable != c.nullable {
                    let null = |n: bool| if n { "nullable" } else { "not null" };
                    out.push(format!(
                        "~ {}: {} -> {}",
                        c.name,
                        null(o.nullable),
                        null(c.nullable)
                    ));
                }
            }
        }
    }
    for o in old {
        if !new.iter().any(|c| c.name == o.name) {
            out.push(format!("- {} {}", o.name, o.data_type));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_chain::entry::{CatalogColumn, Classification};

    fn col(name: &str, t: &str, c: Classification) -> CatalogColumn {
        CatalogColumn {
            name: name.into(),
            data_type: t.into(),
            nullable: true,
            classification: c,
        }
    }

    #[test]
    fn a_diff_names_each_added_changed_and_dropped_column() {
        let old = [
            col("id", "Int64", Classification::Internal),
            col("amount", "Int64", Classification::Sensitive),
            col("gone", "Utf8", Classification::Public),
        ];
        let new = [
            col("id", "Int64", Classification::Personal),
            col("amount", "Float64", Classification::Sensitive),
            col("city", "Utf8", Classification::Public),
        ];
        assert_eq!(
            schema_diff(&old, &new),
            [
                "~ id: internal -> personal",
                "~ amount: Int64 -> Float64",
                "+ city Utf8 (public)",
                "- gone Utf8",
            ]
        );
        assert!(schema_diff(&new, &new).is_empty());
    }
}
