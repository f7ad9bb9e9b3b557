//! Reading the directory: the live catalog, a dataset's history, ranked search, and the
//! access requests with the grants they became, as a [`ChainStore`] holds them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::search::{Hit, SearchFilter, SearchIndex};
use super::{CF_CATALOG, CF_REQUESTS, CF_REQUESTS_BY_DATASET, DatasetState, RequestState};
use super::{ViewSource, by_dataset_prefix, decode};
use crate::entry::{AccessApproval, AccessRequest, Body, CatalogRecord, EntryKind};
use crate::error::{Error, Result};
use crate::store::ChainStore;

/// A dataset's current record and where it is on the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The chain index of the entry that published this version.
    pub index: u64,
    /// When the owner wrote it, unix ms.
    pub time_ms: u64,
    /// The record.
    pub record: CatalogRecord,
}

/// One version in a dataset's history: a publish, a change or a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEvent {
    /// The entry's chain index.
    pub index: u64,
    /// When its author wrote it, unix ms.
    pub time_ms: u64,
    /// The agency that wrote it.
    pub author: String,
    /// The entry's body: `CatalogPublish`, `CatalogChange` or `CatalogWithdraw`.
    pub body: Body,
}

/// An access request as filed, with what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessCase {
    /// The request's id.
    pub request_id: String,
    /// When it was filed, unix ms.
    pub time_ms: u64,
    /// The request as filed.
    pub request: AccessRequest,
    /// Its status now.
    pub state: RequestState,
    /// The approval, if it was approved (and perhaps since expired).
    pub approval: Option<AccessApproval>,
    /// Why it was denied, if it was.
    pub denial_reason: Option<String>,
}

impl AccessCase {
    /// Whether its grant is in force at `now_ms`: approved, not recorded as expired, and
    /// `now_ms` inside the approval's validity.
    pub fn active_at(&self, now_ms: u64) -> bool {
        self.approval
            .as_ref()
            .is_some_and(|a| a.valid_from_ms <= now_ms && now_ms < a.valid_until_ms)
            && matches!(self.state.status, super::RequestStatus::Approved { .. })
    }
}

/// The directory as one store holds it.
#[derive(Debug, Clone, Copy)]
pub struct DirectoryView<'a> {
    store: &'a ChainStore,
}

impl ChainStore {
    /// The directory's view of this store: catalog, history, search and access requests.
    pub fn directory(&self) -> DirectoryView<'_> {
        DirectoryView { store: self }
    }
}

impl<'a> DirectoryView<'a> {
    fn entry_at(&self, index: u64) -> Result<crate::entry::Entry> {
        self.store.stored_entry(index)?.ok_or_else(|| {
            Error::Inconsistent(format!(
                "the directory cites entry {index}, which is missing"
            ))
        })
    }

    fn published_at(&self, state: &DatasetState) -> Result<Published> {
        let e = self.entry_at(state.record)?;
        match e.body {
            Body::CatalogPublish(record) | Body::CatalogChange(record) => Ok(Published {
                index: state.record,
                time_ms: e.time_ms,
                record,
            }),
            _ => Err(Error::Inconsistent(format!(
                "the catalog view points at entry {}, which is no catalog record",
                state.record
            ))),
        }
    }

    /// The current record of `dataset` (`<agency>.<dataset>`), unless it was never
    /// published or is withdrawn.
    pub fn dataset(&self, dataset: &str) -> Result<Option<Published>> {
        let Some(bytes) = self.store.stored(CF_CATALOG, dataset.as_bytes())? else {
            return Ok(None);
        };
        let state: DatasetState = decode(CF_CATALOG, &bytes)?;
        if state.withdrawn {
            return Ok(None);
        }
        self.published_at(&state).map(Some)
    }

    /// The state of `dataset` in the catalog, withdrawn or not.
    pub fn state(&self, dataset: &str) -> Result<Option<DatasetState>> {
        self.store
            .stored(CF_CATALOG, dataset.as_bytes())?
            .map(|b| decode(CF_CATALOG, &b))
            .transpose()
    }

    /// Every live dataset, by name; only `agency`'s if one is given.
    pub fn datasets(&self, agency: Option<&str>) -> Result<Vec<Published>> {
        let prefix = agency.map(|a| format!("{a}.")).unwrap_or_default();
        let mut out = Vec::new();
        for (_, v) in self.store.view_prefix(CF_CATALOG, prefix.as_bytes())? {
            let state: DatasetState = decode(CF_CATALOG, &v)?;
            if !state.withdrawn {
                out.push(self.published_at(&state)?);
            }
        }
        Ok(out)
    }

    /// Every publish, change and withdrawal of `dataset`, oldest first.
    pub fn history(&self, dataset: &str) -> Result<Vec<CatalogEvent>> {
        let mut out = Vec::new();
        for index in self.store.by_dataset(dataset)? {
            let e = self.entry_at(index)?;
            if matches!(
                e.kind(),
                EntryKind::CatalogPublish | EntryKind::CatalogChange | EntryKind::CatalogWithdraw
            ) {
                out.push(CatalogEvent {
                    index,
                    time_ms: e.time_ms,
                    author: e.author,
                    body: e.body,
                });
            }
        }
        Ok(out)
    }

    /// The live datasets that match `query`'s words and `filter`, best first. The index
    /// is built on first use and again only after the catalog changed.
    pub fn search(&self, query: &str, filter: &SearchFilter, limit: usize) -> Result<Vec<Hit>> {
        Ok(self.search_index()?.search(query, filter, limit))
    }

    /// The search index over the live catalog as it is now.
    pub fn search_index(&self) -> Result<Arc<SearchIndex>> {
        let generation = self.store.catalog_generation.load(Ordering::Acquire);
        let mut cached = self
            .store
            .search
            .lock()
            .map_err(|_| Error::Internal("search index lock poisoned"))?;
        if let Some((g, index)) = cached.as_ref()
            && *g == generation
        {
            return Ok(Arc::clone(index));
        }
        let records = self.datasets(None)?.into_iter().map(|p| p.record);
        let index = Arc::new(SearchIndex::build(records));
        *cached = Some((generation, Arc::clone(&index)));
        Ok(index)
    }

    /// The access request `id`, with what became of it.
    pub fn request(&self, id: &str) -> Result<Option<AccessCase>> {
        let Some(bytes) = self.store.stored(CF_REQUESTS, id.as_bytes())? else {
            return Ok(None);
        };
        let state: RequestState = decode(CF_REQUESTS, &bytes)?;
        self.case(id, state).map(Some)
    }

    fn case(&self, id: &str, state: RequestState) -> Result<AccessCase> {
        let filed = self.entry_at(state.index)?;
        let Body::AccessRequest(request) = filed.body else {
            return Err(Error::Inconsistent(format!(
                "access request `{id}` points at entry {}, which is no request",
                state.index
            )));
        };
        let (approval, denial_reason) = match &state.status {
            super::RequestStatus::Approved { approval, .. }
            | super::RequestStatus::Expired { approval, .. } => {
                match self.entry_at(*approval)?.body {
                    Body::AccessApprove(a) => (Some(a), None),
                    _ => {
                        return Err(Error::Inconsistent(format!(
                            "the approval of `{id}` at {approval} is no approval"
                        )));
                    }
                }
            }
            super::RequestStatus::Denied { denial } => match self.entry_at(*denial)?.body {
                Body::AccessDeny(d) => (None, Some(d.reason)),
                _ => {
                    return Err(Error::Inconsistent(format!(
                        "the denial of `{id}` at {denial} is no denial"
                    )));
                }
            },
            super::RequestStatus::Pending => (None, None),
        };
        Ok(AccessCase {
            request_id: id.to_string(),
            time_ms: filed.time_ms,
            request,
            state,
            approval,
            denial_reason,
        })
    }

    /// Every access request about `dataset`, in the order of their ids.
    pub fn requests_for(&self, dataset: &str) -> Result<Vec<AccessCase>> {
        let prefix = by_dataset_prefix(dataset)?;
        let mut out = Vec::new();
        for (k, _) in self.store.view_prefix(CF_REQUESTS_BY_DATASET, &prefix)? {
            let id = std::str::from_utf8(&k[prefix.len()..])
                .map_err(|_| Error::Inconsistent("a request id is not UTF-8".into()))?;
            if let Some(case) = self.request(id)? {
                out.push(case);
            }
        }
        Ok(out)
    }

    /// Every access request about any dataset of `agency`.
    pub fn requests_to(&self, agency: &str) -> Result<Vec<AccessCase>> {
        let mut out = Vec::new();
        for (k, v) in self
            .store
            .view_prefix(CF_CATALOG, format!("{agency}.").as_bytes())?
        {
            let _: DatasetState = decode(CF_CATALOG, &v)?;
            let dataset = std::str::from_utf8(&k)
                .map_err(|_| Error::Inconsistent("a dataset name is not UTF-8".into()))?;
            out.extend(self.requests_for(dataset)?);
        }
        Ok(out)
    }

    /// The requests of `principal` about `dataset` for `purpose` that were approved,
    /// whether or not their grants are still in force.
    pub fn grants(&self, dataset: &str, principal: &str, purpose: &str) -> Result<Vec<AccessCase>> {
        Ok(self
            .requests_for(dataset)?
            .into_iter()
            .filter(|c| {
                c.approval.is_some()
                    && c.request.principal == principal
                    && c.request.purpose == purpose
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::directory::RequestStatus;
    use crate::entry::tests::catalog_record;
    use crate::entry::{AccessDenial, AccessExpiry, CatalogWithdrawal, ColumnAccess, Entry};
    use crate::sign::{AgencySigner, TrustBundle};

    struct World {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        store: ChainStore,
        bj: AgencySigner,
        sh: AgencySigner,
        trust: TrustBundle,
    }

    fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain");
        let bj = AgencySigner::from_seed("bj_hf", [1; 32]).unwrap();
        let sh = AgencySigner::from_seed("sh_hf", [2; 32]).unwrap();
        let mut trust = TrustBundle::new();
        trust.insert("bj_hf", bj.verifying_key()).unwrap();
        trust.insert("sh_hf", sh.verifying_key()).unwrap();
        World {
            store: ChainStore::open(&path).unwrap(),
            _dir: dir,
            path,
            bj,
            sh,
            trust,
        }
    }

    impl World {
        fn append(&self, signer: &AgencySigner, time_ms: u64, body: Body) -> u64 {
            let entry = Entry {
                author: signer.agency().into(),
                time_ms,
                body,
            };
            self.store
                .append(self.trust.verify(signer.sign(entry).unwrap()).unwrap())
                .unwrap()
        }
    }

    fn request(id: &str, principal: &str, columns: &[(&str, &str)], until_ms: u64) -> Body {
        Body::AccessRequest(AccessRequest {
            request_id: id.into(),
            principal: principal.into(),
            dataset: "bj_hf.contributions".into(),
            columns: columns
                .iter()
                .map(|(c, l)| ColumnAccess {
                    column: (*c).into(),
                    level: (*l).into(),
                })
                .collect(),
            purpose: "audit".into(),
            until_ms,
            justification: "annual audit".into(),
        })
    }

    #[test]
    fn publish_change_withdraw_and_history() {
        let w = world();
        let dir = w.store.directory();
        w.append(
            &w.bj,
            1,
            Body::CatalogPublish(catalog_record("bj_hf.contributions", 1)),
        );
        let mut v2 = catalog_record("bj_hf.contributions", 2);
        v2.title = "Contributions, monthly".into();
        let at = w.append(&w.bj, 2, Body::CatalogChange(v2.clone()));
        let now = dir.dataset("bj_hf.contributions").unwrap().unwrap();
        assert_eq!((now.index, now.record), (at, v2));
        assert_eq!(dir.datasets(Some("bj_hf")).unwrap().len(), 1);
        assert!(dir.datasets(Some("sh_hf")).unwrap().is_empty());
        // Another agency's record of bj_hf's dataset changes nothing.
        let mut forged = catalog_record("bj_hf.contributions", 3);
        forged.title = "forged".into();
        w.append(&w.sh, 3, Body::CatalogChange(forged));
        assert_eq!(
            dir.dataset("bj_hf.contributions")
                .unwrap()
                .unwrap()
                .record
                .version,
            2
        );
        w.append(
            &w.bj,
            4,
            Body::CatalogWithdraw(CatalogWithdrawal {
                dataset: "bj_hf.contributions".into(),
                version: 2,
                reason: "retired".into(),
            }),
        );
        assert!(dir.dataset("bj_hf.contributions").unwrap().is_none());
        let kinds: Vec<_> = dir
            .history("bj_hf.contributions")
            .unwrap()
            .iter()
            .map(|e| (e.body.kind(), e.author.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                (EntryKind::CatalogPublish, "bj_hf".to_string()),
                (EntryKind::CatalogChange, "bj_hf".to_string()),
                (EntryKind::CatalogChange, "sh_hf".to_string()),
                (EntryKind::CatalogWithdraw, "bj_hf".to_string()),
            ]
        );
        // Publishing again after a tombstone is the next version.
        w.append(
            &w.bj,
            5,
            Body::CatalogPublish(catalog_record("bj_hf.contributions", 3)),
        );
        assert_eq!(
            dir.dataset("bj_hf.contributions")
                .unwrap()
                .unwrap()
                .record
                .version,
            3
        );
    }

    #[test]
    fn requests_approvals_denials_and_expiry() {
        let w = world();
        let dir = w.store.directory();
        w.append(
            &w.bj,
            1,
            Body::CatalogPublish(catalog_record("bj_hf.contributions", 1)),
        );
        w.append(
            &w.sh,
            2,
            request(
                "r-1",
                "sh_hf/bob",
                &[("amount", "plain"), ("person_id", "join")],
                1000,
            ),
        );
        w.append(
            &w.sh,
            3,
            request("r-2", "sh_hf/bob", &[("amount", "plain")], 1000),
        );
        assert_eq!(
            dir.request("r-1").unwrap().unwrap().state.status,
            RequestStatus::Pending
        );
        let approval = w.append(
            &w.bj,
            4,
            Body::AccessApprove(AccessApproval {
                request_id: "r-1".into(),
                approver: "bj_hf/officer".into(),
                columns: vec![ColumnAccess {
                    column: "amount".into(),
                    level: "aggregate".into(),
                }],
                valid_from_ms: 4,
                valid_until_ms: 500,
            }),
        );
        w.append(
            &w.bj,
            5,
            Body::AccessDeny(AccessDenial {
                request_id: "r-2".into(),
                approver: "bj_hf/officer".into(),
                reason: "no need shown".into(),
            }),
        );
        let case = dir.request("r-1").unwrap().unwrap();
        assert!(case.active_at(100));
        assert!(!case.active_at(500));
        assert_eq!(
            case.state.status,
            RequestStatus::Approved {
                approval,
                until_ms: 500
            }
        );
        let denied = dir.request("r-2").unwrap().unwrap();
        assert_eq!(denied.denial_reason.as_deref(), Some("no need shown"));
        assert_eq!(
            dir.grants("bj_hf.contributions", "sh_hf/bob", "audit")
                .unwrap()
                .len(),
            1
        );
        assert_eq!(dir.requests_to("bj_hf").unwrap().len(), 2);
        // The approval is indexed under the dataset and the requester.
        assert!(
            w.store
                .by_principal("sh_hf/bob")
                .unwrap()
                .contains(&approval)
        );
        assert!(
            w.store
                .by_dataset("bj_hf.contributions")
                .unwrap()
                .contains(&approval)
        );
        let expiry = w.append(
            &w.bj,
            600,
            Body::AccessExpire(AccessExpiry {
                request_id: "r-1".into(),
            }),
        );
        let case = dir.request("r-1").unwrap().unwrap();
        assert_eq!(
            case.state.status,
            RequestStatus::Expired {
                approval,
                until_ms: 500,
                expiry
            }
        );
        assert!(!case.active_at(100));
    }

    #[test]
    fn a_store_without_the_view_rebuilds_it_on_open() {
        let w = world();
        w.append(
            &w.bj,
            1,
            Body::CatalogPublish(catalog_record("bj_hf.contributions", 1)),
        );
        w.append(
            &w.sh,
            2,
            request("r-1", "sh_hf/bob", &[("amount", "plain")], 1000),
        );
        let World {
            store, path, _dir, ..
        } = w;
        drop(store);
        {
            let names = rocksdb::DB::list_cf(&rocksdb::Options::default(), &path).unwrap();
            let mut db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &path, names).unwrap();
            for cf in crate::directory::VIEW_FAMILIES {
                db.drop_cf(cf).unwrap();
            }
        }
        let store = ChainStore::open(&path).unwrap();
        let dir = store.directory();
        assert_eq!(
            dir.dataset("bj_hf.contributions")
                .unwrap()
                .unwrap()
                .record
                .version,
            1
        );
        assert_eq!(
            dir.request("r-1").unwrap().unwrap().state.status,
            RequestStatus::Pending
        );
        let hits = dir
            .search("contributions", &SearchFilter::default(), 5)
            .unwrap();
        assert_eq!(hits.len(), 1);
    }
}
