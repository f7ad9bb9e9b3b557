//! The directory: the federated catalog and the access requests, as the chain's entries
//! make them. Every replica applies the same [`rules`](Directory::apply) (an agency
//! publishes only its own datasets; only a dataset's owner approves, denies or expires
//! access to it) and keeps the resulting view in the chain store beside the audit
//! indexes, so any gateway can read the catalog with no central server.

pub mod search;
pub mod view;

pub use search::{Hit, SearchFilter, SearchIndex};

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sluice_core::{DatasetRef, Principal};

use crate::entry::{
    AccessApproval, AccessRequest, Body, CatalogRecord, ColumnAccess, Entry, EntryKind,
    SharingClass, owner_of,
};
use crate::error::{Error, Result};

/// Column family of the catalog view: dataset -> [`DatasetState`].
pub const CF_CATALOG: &str = "catalog";
/// Column family of the requests view: request id -> [`RequestState`].
pub const CF_REQUESTS: &str = "requests";
/// Column family indexing requests by dataset: `u16 len || dataset || request id` -> empty.
pub const CF_REQUESTS_BY_DATASET: &str = "requests_by_dataset";

/// The directory's column families: a view derived from the entries, rebuilt from them
/// when missing.
pub const VIEW_FAMILIES: [&str; 3] = [CF_CATALOG, CF_REQUESTS, CF_REQUESTS_BY_DATASET];

/// Where a dataset's record stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetState {
    /// The latest version published.
    pub version: u64,
    /// The chain index of the entry that made this state (publish, change or withdraw).
    pub index: u64,
    /// The chain index of the latest record (publish or change).
    pub record: u64,
    /// Whether the dataset is withdrawn.
    pub withdrawn: bool,
}

/// Where an access request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestStatus {
    /// Waiting for the owner.
    Pending,
    /// Approved: a grant until `until_ms`, by the approval at chain index `approval`.
    Approved {
        /// The approval entry's chain index.
        approval: u64,
        /// When the grant ends, unix ms.
        until_ms: u64,
    },
    /// Denied by the entry at chain index `denial`.
    Denied {
        /// The denial entry's chain index.
        denial: u64,
    },
    /// Approved, then ended: the owner recorded the expiry at chain index `expiry`.
    Expired {
        /// The approval entry's chain index.
        approval: u64,
        /// When the grant ended, unix ms.
        until_ms: u64,
        /// The expiry entry's chain index.
        expiry: u64,
    },
}

impl RequestStatus {
    /// `pending`, `approved`, `denied` or `expired`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved { .. } => "approved",
            Self::Denied { .. } => "denied",
            Self::Expired { .. } => "expired",
        }
    }
}

/// An access request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestState {
    /// The request entry's chain index.
    pub index: u64,
    /// `<agency>.<dataset>` asked for.
    pub dataset: String,
    /// `<agency>/<user>` who asked.
    pub principal: String,
    /// The purpose asked for.
    pub purpose: String,
    /// Its status.
    pub status: RequestStatus,
}

/// Why the directory refuses an entry. Every replica refuses it alike, so it never
/// reaches any copy of the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryRefusal {
    /// An agency wrote about a dataset of another agency.
    #[error("`{author}` may not {action} `{dataset}`: only `{owner}` may")]
    NotOwner {
        /// The entry's author.
        author: String,
        /// What it tried, e.g. "publish".
        action: &'static str,
        /// The dataset.
        dataset: String,
        /// The dataset's owner.
        owner: String,
    },
    /// The entry's dataset, principal or field is not well formed.
    #[error("{0}")]
    Invalid(String),
    /// A catalog entry does not follow the dataset's current version.
    #[error("`{dataset}` is at version {current}; {found} does not follow it")]
    Version {
        /// The dataset.
        dataset: String,
        /// Its current version (0: never published).
        current: u64,
        /// What the entry says.
        found: String,
    },
    /// The dataset is not in the catalog (never published, or withdrawn).
    #[error("`{0}` is not in the catalog")]
    NotPublished(String),
    /// The dataset is shared in a way that takes no request.
    #[error("`{dataset}` is shared `{sharing}`: {why}")]
    NotRequestable {
        /// The dataset.
        dataset: String,
        /// Its sharing class.
        sharing: &'static str,
        /// Why no request applies.
        why: &'static str,
    },
    /// The request id is already taken.
    #[error("access request `{0}` already exists")]
    DuplicateRequest(String),
    /// No such request.
    #[error("there is no access request `{0}`")]
    UnknownRequest(String),
    /// The request is not in the state this entry needs.
    #[error("access request `{id}` is {status}, not {needed}")]
    WrongStatus {
        /// The request.
        id: String,
        /// Its status.
        status: &'static str,
        /// The status the entry needs.
        needed: &'static str,
    },
    /// An approval grants more than was asked.
    #[error("access request `{id}` asked for {asked}; the approval grants {granted}")]
    Wider {
        /// The request.
        id: String,
        /// What was asked for the column.
        asked: String,
        /// What the approval grants.
        granted: String,
    },
}

/// Whether entries of `kind` are subject to the directory's rules.
pub fn is_directory_kind(kind: EntryKind) -> bool {
    matches!(
        kind,
        EntryKind::CatalogPublish
            | EntryKind::CatalogChange
            | EntryKind::CatalogWithdraw
            | EntryKind::AccessRequest
            | EntryKind::AccessApprove
            | EntryKind::AccessDeny
            | EntryKind::AccessExpire
    )
}

/// A disclosure level's breadth, for the one rule the chain applies to levels: an
/// approval never grants a column more than was asked. The gateway checks levels fully
/// against the policy's own grammar before it appends; this is the replicas' coarse check
/// that no stored approval exceeds its request. `deny` and unknown levels have none.
fn breadth(level: &str) -> Option<(u8, u32)> {
    match level {
        "plain" => Some((4, 0)),
        "join" => Some((1, 0)),
        "aggregate" => Some((2, 5)),
        l if l.starts_with("masked:") && l.len() > "masked:".len() => Some((3, 0)),
        l => l
            .strip_prefix("aggregate:")
            .and_then(|k| k.parse::<u32>().ok())
            .filter(|k| *k >= 2)
            // A larger k releases less: it ranks below a smaller one.
            .map(|k| (2, k)),
    }
}

/// Whether `granted` releases no more than `asked`.
fn within(granted: &str, asked: &str) -> bool {
    match (breadth(granted), breadth(asked)) {
        (Some((g, gk)), Some((a, ak))) => {
            if g != a {
                return g < a;
            }
            match g {
                2 => gk >= ak,
                // One mask is not narrower than another: only the same one is within.
                3 => granted == asked,
                _ => true,
            }
        }
        _ => false,
    }
}

/// What applying an entry adds to the audit indexes, for entries that do not name it
/// themselves (an approval names only its request).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Concerns {
    pub dataset: Option<String>,
    pub principal: Option<String>,
}

/// The stored view and entries the directory reads.
pub(crate) trait ViewSource {
    /// The stored value of `key` in column family `cf`.
    fn stored(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// The stored entry at chain index `index`, if there is one.
    fn stored_entry(&self, index: u64) -> Result<Option<Entry>>;
}

/// Changes to the directory's view over a stored view: what the entries applied since
/// it was read have changed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Directory {
    writes: HashMap<(&'static str, Vec<u8>), Vec<u8>>,
    /// Records and requests applied here, not yet stored, which later entries of the
    /// same batch may read back.
    recent: HashMap<u64, Entry>,
}

fn dataset_key(dataset: &str) -> Vec<u8> {
    dataset.as_bytes().to_vec()
}

/// `u16 len || dataset || request id`.
pub(crate) fn by_dataset_key(dataset: &str, request_id: &str) -> Result<Vec<u8>> {
    let mut k = by_dataset_prefix(dataset)?;
    k.extend_from_slice(request_id.as_bytes());
    Ok(k)
}

pub(crate) fn by_dataset_prefix(dataset: &str) -> Result<Vec<u8>> {
    let len = u16::try_from(dataset.len())
        .map_err(|_| Error::InvalidArgument(format!("dataset of {} bytes", dataset.len())))?;
    let mut k = len.to_be_bytes().to_vec();
    k.extend_from_slice(dataset.as_bytes());
    Ok(k)
}

fn decode<T: for<'de> Deserialize<'de>>(cf: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Inconsistent(format!("the directory's `{cf}` view: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|_| Error::Internal("a directory view value did not serialise"))
}

type Applied = std::result::Result<Concerns, DirectoryRefusal>;

impl Directory {
    /// The changes made so far, to be written with the entries that made them.
    pub(crate) fn writes(&self) -> impl Iterator<Item = (&'static str, &[u8], &[u8])> {
        self.writes
            .iter()
            .map(|((cf, k), v)| (*cf, k.as_slice(), v.as_slice()))
    }

    fn get(&self, src: &dyn ViewSource, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.writes.get(&(cf, key.to_vec())) {
            Some(v) => Ok(Some(v.clone())),
            None => src.stored(cf, key),
        }
    }

    fn put(&mut self, cf: &'static str, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert((cf, key), value);
    }

    fn dataset(&self, src: &dyn ViewSource, dataset: &str) -> Result<Option<DatasetState>> {
        self.get(src, CF_CATALOG, &dataset_key(dataset))?
            .map(|b| decode(CF_CATALOG, &b))
            .transpose()
    }

    fn entry(&self, src: &dyn ViewSource, index: u64) -> Result<Option<Entry>> {
        match self.recent.get(&index) {
            Some(e) => Ok(Some(e.clone())),
            None => src.stored_entry(index),
        }
    }

    fn request(&self, src: &dyn ViewSource, id: &str) -> Result<Option<RequestState>> {
        self.get(src, CF_REQUESTS, id.as_bytes())?
            .map(|b| decode(CF_REQUESTS, &b))
            .transpose()
    }

    /// Applies `entry`, at chain index `index`, to the view if the directory's rules
    /// allow it. The outer `Result` is a storage failure; the inner one the rules'
    /// verdict. A refused entry changes nothing.
    pub(crate) fn apply(
        &mut self,
        src: &dyn ViewSource,
        entry: &Entry,
        index: u64,
    ) -> Result<Applied> {
        let applied = self.rules(src, entry, index)?;
        let read_back = matches!(
            entry.body,
            Body::CatalogPublish(_) | Body::CatalogChange(_) | Body::AccessRequest(_)
        );
        if applied.is_ok() && read_back {
            self.recent.insert(index, entry.clone());
        }
        Ok(applied)
    }

    fn rules(&mut self, src: &dyn ViewSource, entry: &Entry, index: u64) -> Result<Applied> {
        let author = entry.author.as_str();
        Ok(match &entry.body {
            Body::CatalogPublish(r) => self.record(src, author, r, index, true)?,
            Body::CatalogChange(r) => self.record(src, author, r, index, false)?,
            Body::CatalogWithdraw(w) => {
                if let Err(refusal) = check_owner(author, "withdraw", &w.dataset) {
                    return Ok(Err(refusal));
                }
                let Some(state) = self.dataset(src, &w.dataset)?.filter(|s| !s.withdrawn) else {
                    return Ok(Err(DirectoryRefusal::NotPublished(w.dataset.clone())));
                };
                if w.version != state.version {
                    return Ok(Err(DirectoryRefusal::Version {
                        dataset: w.dataset.clone(),
                        current: state.version,
                        found: format!("a withdrawal of version {}", w.version),
                    }));
                }
                let next = DatasetState {
                    index,
                    withdrawn: true,
                    ..state
                };
                self.put(CF_CATALOG, dataset_key(&w.dataset), encode(&next)?);
                Ok(Concerns::default())
            }
            Body::AccessRequest(r) => self.request_access(src, entry, r, index)?,
            Body::AccessApprove(a) => self.approve(src, author, a, index)?,
            Body::AccessDeny(d) => {
                let state = match self.decidable(src, author, &d.request_id, &d.approver)? {
                    Ok(s) => s,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let concerns = Concerns {
                    dataset: Some(state.dataset.clone()),
                    principal: Some(state.principal.clone()),
                };
                let next = RequestState {
                    status: RequestStatus::Denied { denial: index },
                    ..state
                };
                self.put(
                    CF_REQUESTS,
                    d.request_id.as_bytes().to_vec(),
                    encode(&next)?,
                );
                Ok(concerns)
            }
            Body::AccessExpire(x) => {
                let Some(state) = self.request(src, &x.request_id)? else {
                    return Ok(Err(DirectoryRefusal::UnknownRequest(x.request_id.clone())));
                };
                let owner = owner_of(&state.dataset);
                if author != owner {
                    return Ok(Err(DirectoryRefusal::NotOwner {
                        author: author.into(),
                        action: "expire access to",
                        dataset: state.dataset.clone(),
                        owner: owner.into(),
                    }));
                }
                let RequestStatus::Approved { approval, until_ms } = state.status else {
                    return Ok(Err(DirectoryRefusal::WrongStatus {
                        id: x.request_id.clone(),
                        status: state.status.name(),
                        needed: "approved",
                    }));
                };
                if entry.time_ms < until_ms {
                    return Ok(Err(DirectoryRefusal::Invalid(format!(
                        "the grant of access request `{}` runs until {until_ms} ms; an expiry at {} ms is early",
                        x.request_id, entry.time_ms
                    ))));
                }
                let concerns = Concerns {
                    dataset: Some(state.dataset.clone()),
                    principal: Some(state.principal.clone()),
                };
                let next = RequestState {
                    status: RequestStatus::Expired {
                        approval,
                        until_ms,
                        expiry: index,
                    },
                    ..state
                };
                self.put(
                    CF_REQUESTS,
                    x.request_id.as_bytes().to_vec(),
                    encode(&next)?,
                );
                Ok(concerns)
            }
            _ => Ok(Concerns::default()),
        })
    }

    fn record(
        &mut self,
        src: &dyn ViewSource,
        author: &str,
        r: &CatalogRecord,
        index: u64,
        publish: bool,
    ) -> Result<Applied> {
        let action = if publish { "publish" } else { "change" };
        if let Err(refusal) = check_owner(author, action, &r.dataset) {
            return Ok(Err(refusal));
        }
        if let Err(refusal) = check_record(r) {
            return Ok(Err(refusal));
        }
        let state = self.dataset(src, &r.dataset)?;
        let current = state.as_ref().map_or(0, |s| s.version);
        let live = state.as_ref().is_some_and(|s| !s.withdrawn);
        let refusal = |found: String| {
            Ok(Err(DirectoryRefusal::Version {
                dataset: r.dataset.clone(),
                current,
                found,
            }))
        };
        if publish && live {
            return refusal(format!(
                "publishing version {} of a dataset already in the catalog",
                r.version
            ));
        }
        if !publish && !live {
            return Ok(Err(DirectoryRefusal::NotPublished(r.dataset.clone())));
        }
        if Some(r.version) != current.checked_add(1) {
            return refusal(format!("version {}", r.version));
        }
        let next = DatasetState {
            version: r.version,
            index,
            record: index,
            withdrawn: false,
        };
        self.put(CF_CATALOG, dataset_key(&r.dataset), encode(&next)?);
        Ok(Ok(Concerns::default()))
    }

    fn request_access(
        &mut self,
        src: &dyn ViewSource,
        entry: &Entry,
        r: &AccessRequest,
        index: u64,
    ) -> Result<Applied> {
        let invalid = |m: String| Ok(Err(DirectoryRefusal::Invalid(m)));
        let principal = match Principal::parse(&r.principal) {
            Ok(p) => p,
            Err(e) => return invalid(format!("access request `{}`: {e}", r.request_id)),
        };
        if principal.agency().as_str() != entry.author {
            return invalid(format!(
                "`{}` may not ask for access in the name of `{}`",
                entry.author, r.principal
            ));
        }
        if r.request_id.is_empty() || r.request_id.len() > 128 {
            return invalid("an access request id has 1 to 128 bytes".into());
        }
        if self.request(src, &r.request_id)?.is_some() {
            return Ok(Err(DirectoryRefusal::DuplicateRequest(
                r.request_id.clone(),
            )));
        }
        let Some(state) = self.dataset(src, &r.dataset)?.filter(|s| !s.withdrawn) else {
            return Ok(Err(DirectoryRefusal::NotPublished(r.dataset.clone())));
        };
        let record = match self.entry(src, state.record)? {
            Some(Entry {
                body: Body::CatalogPublish(rec) | Body::CatalogChange(rec),
                ..
            }) => rec,
            _ => {
                return Err(Error::Inconsistent(format!(
                    "the catalog record of `{}` at {} is missing",
                    r.dataset, state.record
                )));
            }
        };
        match record.sharing {
            SharingClass::Conditional => {}
            SharingClass::Unconditional => {
                return Ok(Err(DirectoryRefusal::NotRequestable {
                    dataset: r.dataset.clone(),
                    sharing: "unconditional",
                    why: "it needs no request; the owner's policy decides each query",
                }));
            }
            SharingClass::None => {
                return Ok(Err(DirectoryRefusal::NotRequestable {
                    dataset: r.dataset.clone(),
                    sharing: "none",
                    why: "it is listed, but not shared, and cannot be requested",
                }));
            }
        }
        if let Err(refusal) = check_columns(&r.request_id, &r.columns, &record) {
            return Ok(Err(refusal));
        }
        if r.until_ms <= entry.time_ms {
            return invalid(format!(
                "access request `{}` ends before it was made",
                r.request_id
            ));
        }
        let next = RequestState {
            index,
            dataset: r.dataset.clone(),
            principal: r.principal.clone(),
            purpose: r.purpose.clone(),
            status: RequestStatus::Pending,
        };
        self.put(
            CF_REQUESTS,
            r.request_id.as_bytes().to_vec(),
            encode(&next)?,
        );
        self.put(
            CF_REQUESTS_BY_DATASET,
            by_dataset_key(&r.dataset, &r.request_id)?,
            Vec::new(),
        );
        Ok(Ok(Concerns::default()))
    }

    /// The pending request `id`, if `author` owns its dataset and `approver` speaks
    /// for `author`.
    fn decidable(
        &self,
        src: &dyn ViewSource,
        author: &str,
        id: &str,
        approver: &str,
    ) -> Result<std::result::Result<RequestState, DirectoryRefusal>> {
        let Some(state) = self.request(src, id)? else {
            return Ok(Err(DirectoryRefusal::UnknownRequest(id.into())));
        };
        let owner = owner_of(&state.dataset);
        if author != owner {
            return Ok(Err(DirectoryRefusal::NotOwner {
                author: author.into(),
                action: "decide on access to",
                dataset: state.dataset.clone(),
                owner: owner.into(),
            }));
        }
        match Principal::parse(approver) {
            Ok(p) if p.agency().as_str() == author => {}
            _ => {
                return Ok(Err(DirectoryRefusal::Invalid(format!(
                    "`{approver}` is not a principal of `{author}`"
                ))));
            }
        }
        if state.status != RequestStatus::Pending {
            return Ok(Err(DirectoryRefusal::WrongStatus {
                id: id.into(),
                status: state.status.name(),
                needed: "pending",
            }));
        }
        Ok(Ok(state))
    }

    fn approve(
        &mut self,
        src: &dyn ViewSource,
        author: &str,
        a: &AccessApproval,
        index: u64,
    ) -> Result<Applied> {
        let state = match self.decidable(src, author, &a.request_id, &a.approver)? {
            Ok(s) => s,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let request = match self.entry(src, state.index)? {
            Some(Entry {
                body: Body::AccessRequest(r),
                ..
            }) => r,
            _ => {
                return Err(Error::Inconsistent(format!(
                    "access request `{}` at {} is missing",
                    a.request_id, state.index
                )));
            }
        };
        if a.columns.is_empty() {
            return Ok(Err(DirectoryRefusal::Invalid(format!(
                "the approval of `{}` grants no column; deny it instead",
                a.request_id
            ))));
        }
        for granted in &a.columns {
            let Some(asked) = request.columns.iter().find(|c| c.column == granted.column) else {
                return Ok(Err(DirectoryRefusal::Wider {
                    id: a.request_id.clone(),
                    asked: "no such column".into(),
                    granted: format!("`{}`", granted.column),
                }));
            };
            if !within(&granted.level, &asked.level) {
                return Ok(Err(DirectoryRefusal::Wider {
                    id: a.request_id.clone(),
                    asked: format!("`{}` at {}", asked.column, asked.level),
                    granted: granted.level.clone(),
                }));
            }
        }
        if a.valid_until_ms <= a.valid_from_ms || a.valid_until_ms > request.until_ms {
            return Ok(Err(DirectoryRefusal::Invalid(format!(
                "the approval of `{}` runs from {} to {} ms; it must end after it starts and no later than the request's {} ms",
                a.request_id, a.valid_from_ms, a.valid_until_ms, request.until_ms
            ))));
        }
        let concerns = Concerns {
            dataset: Some(state.dataset.clone()),
            principal: Some(state.principal.clone()),
        };
        let next = RequestState {
            status: RequestStatus::Approved {
                approval: index,
                until_ms: a.valid_until_ms,
            },
            ..state
        };
        self.put(
            CF_REQUESTS,
            a.request_id.as_bytes().to_vec(),
            encode(&next)?,
        );
        Ok(Ok(concerns))
    }
}

fn check_owner(
    author: &str,
    action: &'static str,
    dataset: &str,
) -> std::result::Result<(), DirectoryRefusal> {
    let parsed = DatasetRef::parse(dataset).map_err(|e| {
        DirectoryRefusal::Invalid(format!("`{dataset}` is not `<agency>.<dataset>`: {e}"))
    })?;
    if parsed.agency().as_str() != author {
        return Err(DirectoryRefusal::NotOwner {
            author: author.into(),
            action,
            dataset: dataset.into(),
            owner: parsed.agency().to_string(),
        });
    }
    Ok(())
}

fn check_record(r: &CatalogRecord) -> std::result::Result<(), DirectoryRefusal> {
    if r.columns.is_empty() {
        return Err(DirectoryRefusal::Invalid(format!(
            "the record of `{}` has no column",
            r.dataset
        )));
    }
    let mut names = std::collections::HashSet::new();
    for c in &r.columns {
        if c.name.is_empty() || !names.insert(c.name.as_str()) {
            return Err(DirectoryRefusal::Invalid(format!(
                "the record of `{}` names column `{}` twice or empty",
                r.dataset, c.name
            )));
        }
    }
    Ok(())
}

fn check_columns(
    id: &str,
    columns: &[ColumnAccess],
    record: &CatalogRecord,
) -> std::result::Result<(), DirectoryRefusal> {
    if columns.is_empty() {
        return Err(DirectoryRefusal::Invalid(format!(
            "access request `{id}` names no column"
        )));
    }
    for c in columns {
        if !record.columns.iter().any(|rc| rc.name == c.column) {
            return Err(DirectoryRefusal::Invalid(format!(
                "access request `{id}`: `{}` has no column `{}`",
                record.dataset, c.column
            )));
        }
        if breadth(&c.level).is_none() {
            return Err(DirectoryRefusal::Invalid(format!(
                "access request `{id}`: `{}` is not a level that can be granted (plain, masked:<mask>, aggregate, aggregate:<k> or join)",
                c.level
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvals_never_widen_a_level() {
        assert!(within("plain", "plain"));
        assert!(within("aggregate", "plain"));
        assert!(within("aggregate:10", "aggregate"));
        assert!(!within("aggregate:3", "aggregate"));
        assert!(within("join", "aggregate:10"));
        assert!(within("masked:hash", "plain"));
        assert!(!within("masked:hash", "masked:last:4"));
        assert!(!within("plain", "aggregate"));
        assert!(!within("deny", "plain"));
        assert!(!within("aggregate:1", "plain"));
        assert!(!within("masked:", "plain"));
        assert!(!within("everything", "plain"));
    }
}
