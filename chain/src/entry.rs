//! Audit-chain entries: the [`Entry`] record, its typed [`Body`] per [`EntryKind`], and the
//! canonical, deterministic binary encoding that is signed and hashed.
//!
//! Layout (all integers big-endian, strings and byte strings `u32`-length-prefixed):
//! `version u8 (=1) || kind u8 || author str || time_ms u64 || body fields in declared order`.
//! [`Entry::from_bytes`] accepts exactly the bytes [`Entry::to_bytes`] produces: short input,
//! trailing bytes, unknown tags, bad UTF-8 and bad agency ids are all rejected.

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};

/// The encoding version byte that starts every entry.
pub const ENTRY_VERSION: u8 = 1;

/// A 32-byte SHA-256 digest.
pub type Digest = [u8; 32];

/// The kind of an entry. The tag values are part of the canonical encoding: never reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EntryKind {
    /// A query was allowed, possibly rewritten.
    AccessAllowed,
    /// A query was refused by policy.
    AccessRefused,
    /// The result stream of an allowed query ended: rows, bytes and digest.
    AccessCompleted,
    /// A dataset was published in the catalog.
    CatalogPublish,
    /// A new version of a catalog record.
    CatalogChange,
    /// A dataset was withdrawn (a tombstone).
    CatalogWithdraw,
    /// Someone asked for access to a conditional dataset.
    AccessRequest,
    /// The owner approved an access request (a time-bounded grant).
    AccessApprove,
    /// The owner denied an access request.
    AccessDeny,
    /// An approved grant reached its end date.
    AccessExpire,
    /// A data subject granted consent.
    ConsentGrant,
    /// A data subject revoked consent.
    ConsentRevoke,
    /// An agency changed its policy.
    PolicyChange,
    /// An agency joined, left or changed its key, role or address.
    Membership,
    /// A query's result was sealed into a file for another agency (`sluice export`).
    Export,
}

impl EntryKind {
    /// Every kind, in tag order.
    pub const ALL: [EntryKind; 15] = [
        Self::AccessAllowed,
        Self::AccessRefused,
        Self::AccessCompleted,
        Self::CatalogPublish,
        Self::CatalogChange,
        Self::CatalogWithdraw,
        Self::AccessRequest,
        Self::AccessApprove,
        Self::AccessDeny,
        Self::ConsentGrant,
        Self::ConsentRevoke,
        Self::PolicyChange,
        Self::Membership,
        Self::Export,
        Self::AccessExpire,
    ];

    /// The tag byte in the canonical encoding.
    pub fn tag(self) -> u8 {
        match self {
            Self::AccessAllowed => 1,
            Self::AccessRefused => 2,
            Self::AccessCompleted => 3,
            Self::CatalogPublish => 4,
            Self::CatalogChange => 5,
            Self::CatalogWithdraw => 6,
            Self::AccessRequest => 7,
            Self::AccessApprove => 8,
            Self::AccessDeny => 9,
            Self::ConsentGrant => 10,
            Self::ConsentRevoke => 11,
            Self::PolicyChange => 12,
            Self::Membership => 13,
            Self::Export => 14,
            Self::AccessExpire => 15,
        }
    }

    /// The kind for a tag byte, if there is one.
    pub fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.tag() == tag)
    }

    /// A stable snake_case name, for CLI output and filters.
    pub fn name(self) -> &'static str {
        match self {
            Self::AccessAllowed => "access_allowed",
            Self::AccessRefused => "access_refused",
            Self::AccessCompleted => "access_completed",
            Self::CatalogPublish => "catalog_publish",
            Self::CatalogChange => "catalog_change",
            Self::CatalogWithdraw => "catalog_withdraw",
            Self::AccessRequest => "access_request",
            Self::AccessApprove => "access_approve",
            Self::AccessDeny => "access_deny",
            Self::ConsentGrant => "consent_grant",
            Self::ConsentRevoke => "consent_revoke",
            Self::PolicyChange => "policy_change",
            Self::Membership => "membership",
            Self::Export => "export",
            Self::AccessExpire => "access_expire",
        }
    }
}

/// The level one column got in an access decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnLevel {
    /// `<agency>.<dataset>`.
    pub dataset: String,
    /// The column name.
    pub column: String,
    /// The disclosure level, e.g. `plain`, `masked:last:4`, `aggregate`, `deny`.
    pub level: String,
}

/// The body of [`EntryKind::AccessAllowed`] and [`EntryKind::AccessRefused`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessDecision {
    /// The query id the requester chose.
    pub query_id: String,
    /// `<agency>/<user>`.
    pub principal: String,
    /// The one purpose the request carried.
    pub purpose: String,
    /// Datasets the query touched.
    pub datasets: Vec<String>,
    /// Each column and the level it got.
    pub columns: Vec<ColumnLevel>,
    /// The explanation: the deciding rule, or the refusal reason.
    pub reason: String,
    /// Log indexes of the entries this decision relied on: consent grants and access
    /// approvals (each entry's kind says which).
    pub cites: Vec<u64>,
}

/// The body of [`EntryKind::AccessCompleted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessCompletion {
    /// The query id of the allowed access.
    pub query_id: String,
    /// Rows delivered.
    pub rows: u64,
    /// Bytes delivered.
    pub bytes: u64,
    /// SHA-256 of what was delivered.
    pub digest: Digest,
}

/// How an agency shares a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SharingClass {
    /// Anyone the owner's policy allows may query it; no request is needed.
    Unconditional,
    /// Access is requested on the chain and approved by the owner, for a time.
    Conditional,
    /// Listed in the directory, but not shared with other agencies.
    None,
}

impl SharingClass {
    /// Every class, in tag order.
    pub const ALL: [SharingClass; 3] = [Self::Unconditional, Self::Conditional, Self::None];

    /// The name configs, the CLI and the DCAT export use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unconditional => "unconditional",
            Self::Conditional => "conditional",
            Self::None => "none",
        }
    }

    /// The class named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    fn tag(self) -> u8 {
        match self {
            Self::Unconditional => 1,
            Self::Conditional => 2,
            Self::None => 3,
        }
    }
}

/// How sensitive a column's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Classification {
    /// May be published to anyone.
    Public,
    /// For use inside government.
    Internal,
    /// Harmful if disclosed, though not about a person.
    Sensitive,
    /// About an identifiable person.
    Personal,
}

impl Classification {
    /// Every classification, in tag order.
    pub const ALL: [Classification; 4] = [
        Self::Public,
        Self::Internal,
        Self::Sensitive,
        Self::Personal,
    ];

    /// The name configs, the CLI and the DCAT export use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::Sensitive => "sensitive",
            Self::Personal => "personal",
        }
    }

    /// The classification named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    fn tag(self) -> u8 {
        match self {
            Self::Public => 1,
            Self::Internal => 2,
            Self::Sensitive => 3,
            Self::Personal => 4,
        }
    }
}

/// One column of a published dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogColumn {
    /// The column's name.
    pub name: String,
    /// Its Arrow type, as Arrow displays it (`Int64`, `Utf8`, `Date32`, …).
    pub data_type: String,
    /// Whether it may hold NULL.
    pub nullable: bool,
    /// How sensitive its values are.
    pub classification: Classification,
}

/// The body of [`EntryKind::CatalogPublish`] and [`EntryKind::CatalogChange`]: one
/// version of a dataset's record in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRecord {
    /// `<agency>.<dataset>`.
    pub dataset: String,
    /// The record's version, from 1; each change is the next version.
    pub version: u64,
    /// A short title.
    pub title: String,
    /// What the dataset holds.
    pub description: String,
    /// Words to find it by.
    pub keywords: Vec<String>,
    /// The department of the agency that keeps it.
    pub department: String,
    /// The duty or legal basis the data serves.
    pub legal_basis: String,
    /// The schema, with a classification per column.
    pub columns: Vec<CatalogColumn>,
    /// How it may be shared.
    pub sharing: SharingClass,
    /// How often it is updated, e.g. `monthly`.
    pub update_frequency: String,
    /// How many rows it holds, as declared.
    pub row_count: Option<u64>,
    /// When it was last updated, an ISO 8601 date as declared (empty if not declared).
    pub last_update: String,
    /// Whom to ask about it.
    pub contact: String,
}

impl CatalogRecord {
    /// The owning agency: the part of `dataset` before the dot.
    pub fn agency(&self) -> &str {
        owner_of(&self.dataset)
    }

    /// Whether `other` says the same as this record, versions aside.
    pub fn same_content(&self, other: &CatalogRecord) -> bool {
        CatalogRecord {
            version: other.version,
            ..self.clone()
        } == *other
    }
}

/// The agency of `<agency>.<dataset>`: the part before the first dot.
pub fn owner_of(dataset: &str) -> &str {
    dataset.split_once('.').map_or(dataset, |(a, _)| a)
}

/// The body of [`EntryKind::CatalogWithdraw`]: a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogWithdrawal {
    /// `<agency>.<dataset>`.
    pub dataset: String,
    /// The version this tombstone follows.
    pub version: u64,
    /// Why it was withdrawn.
    pub reason: String,
}

/// A column and the disclosure level asked for or granted on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnAccess {
    /// The column's name.
    pub column: String,
    /// A disclosure level as policies write it: `plain`, `masked:<mask>`, `aggregate`,
    /// `aggregate:<k>` or `join`.
    pub level: String,
}

/// The body of [`EntryKind::AccessRequest`]: an analyst asks for a conditional dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// An id chosen by the requester, cited by the approval or denial.
    pub request_id: String,
    /// `<agency>/<user>` who asks.
    pub principal: String,
    /// `<agency>.<dataset>` asked for.
    pub dataset: String,
    /// The columns asked for, each at a level.
    pub columns: Vec<ColumnAccess>,
    /// The purpose of the access.
    pub purpose: String,
    /// Until when access is asked for, unix ms.
    pub until_ms: u64,
    /// Free-text justification.
    pub justification: String,
}

/// The body of [`EntryKind::AccessApprove`]: the owner grants a request, perhaps for
/// fewer columns or at narrower levels than asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessApproval {
    /// The request approved.
    pub request_id: String,
    /// `<agency>/<user>` who approved.
    pub approver: String,
    /// The columns granted, each at a level no wider than asked.
    pub columns: Vec<ColumnAccess>,
    /// Start of the grant, unix ms.
    pub valid_from_ms: u64,
    /// End of the grant, unix ms.
    pub valid_until_ms: u64,
}

/// The body of [`EntryKind::AccessDeny`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessDenial {
    /// The request denied.
    pub request_id: String,
    /// `<agency>/<user>` who denied.
    pub approver: String,
    /// Why.
    pub reason: String,
}

/// The body of [`EntryKind::AccessExpire`]: the owner records that a grant ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessExpiry {
    /// The request whose grant ended.
    pub request_id: String,
}

/// The body of [`EntryKind::ConsentGrant`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentGrant {
    /// An id for the grant, cited by revocations.
    pub consent_id: String,
    /// The data subject.
    pub subject: String,
    /// The agency allowed to request.
    pub requester: String,
    /// `<agency>.<dataset>`.
    pub dataset: String,
    /// Columns covered (empty: the whole dataset).
    pub columns: Vec<String>,
    /// The purpose consented to.
    pub purpose: String,
    /// Start of validity, unix ms.
    pub valid_from_ms: u64,
    /// End of validity, unix ms.
    pub valid_until_ms: u64,
}

/// The body of [`EntryKind::ConsentRevoke`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRevocation {
    /// The grant revoked.
    pub consent_id: String,
    /// The data subject.
    pub subject: String,
}

/// The body of [`EntryKind::PolicyChange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChange {
    /// SHA-256 of the new policy files.
    pub digest: Digest,
    /// The policy's version.
    pub version: u64,
    /// A short description of the change.
    pub note: String,
}

/// What a membership entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MembershipAction {
    /// The agency joins.
    Join,
    /// The agency's key, role or address changes.
    Update,
    /// The agency leaves.
    Leave,
}

impl MembershipAction {
    /// The action's name, as entries render it: `join`, `update` or `leave`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Join => "join",
            Self::Update => "update",
            Self::Leave => "leave",
        }
    }
}

/// An agency's role in replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemberRole {
    /// Votes in Raft.
    Voter,
    /// Replicates without voting.
    Learner,
}

impl MemberRole {
    /// The role's name, as entries and configs spell it: `voter` or `learner`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voter => "voter",
            Self::Learner => "learner",
        }
    }
}

/// The body of [`EntryKind::Membership`]: one voter's signature on a change of the
/// chain's members. The change takes effect once a majority of the current voters have
/// each appended the same body (see [`crate::membership`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MembershipChange {
    /// The agency concerned.
    pub agency: String,
    /// Join, update or leave.
    pub action: MembershipAction,
    /// Voter or learner.
    pub role: MemberRole,
    /// The agency's ed25519 public key.
    pub public_key: [u8; 32],
    /// The agency's chain node address, `host:port`.
    pub address: String,
    /// The agency's Raft node id, unique in the cluster and fixed for as long as the
    /// agency is a member.
    pub node: u64,
}

/// The body of [`EntryKind::Export`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRecord {
    /// The query id the export's query ran under.
    pub query_id: String,
    /// `<agency>/<user>` who exported.
    pub principal: String,
    /// The purpose the export was made for.
    pub purpose: String,
    /// The agency the file is sealed for.
    pub recipient: String,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// SHA-256 of the whole file, as `sha256sum` prints it.
    pub digest: Digest,
}

/// The typed body of an entry; its variant decides the entry's [`EntryKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// See [`EntryKind::AccessAllowed`].
    AccessAllowed(AccessDecision),
    /// See [`EntryKind::AccessRefused`].
    AccessRefused(AccessDecision),
    /// See [`EntryKind::AccessCompleted`].
    AccessCompleted(AccessCompletion),
    /// See [`EntryKind::CatalogPublish`].
    CatalogPublish(CatalogRecord),
    /// See [`EntryKind::CatalogChange`].
    CatalogChange(CatalogRecord),
    /// See [`EntryKind::CatalogWithdraw`].
    CatalogWithdraw(CatalogWithdrawal),
    /// See [`EntryKind::AccessRequest`].
    AccessRequest(AccessRequest),
    /// See [`EntryKind::AccessApprove`].
    AccessApprove(AccessApproval),
    /// See [`EntryKind::AccessDeny`].
    AccessDeny(AccessDenial),
    /// See [`EntryKind::AccessExpire`].
    AccessExpire(AccessExpiry),
    /// See [`EntryKind::ConsentGrant`].
    ConsentGrant(ConsentGrant),
    /// See [`EntryKind::ConsentRevoke`].
    ConsentRevoke(ConsentRevocation),
    /// See [`EntryKind::PolicyChange`].
    PolicyChange(PolicyChange),
    /// See [`EntryKind::Membership`].
    Membership(MembershipChange),
    /// See [`EntryKind::Export`].
    Export(ExportRecord),
}

impl Body {
    /// The kind this body belongs to.
    pub fn kind(&self) -> EntryKind {
        match self {
            Self::AccessAllowed(_) => EntryKind::AccessAllowed,
            Self::AccessRefused(_) => EntryKind::AccessRefused,
            Self::AccessCompleted(_) => EntryKind::AccessCompleted,
            Self::CatalogPublish(_) => EntryKind::CatalogPublish,
            Self::CatalogChange(_) => EntryKind::CatalogChange,
            Self::CatalogWithdraw(_) => EntryKind::CatalogWithdraw,
            Self::AccessRequest(_) => EntryKind::AccessRequest,
            Self::AccessApprove(_) => EntryKind::AccessApprove,
            Self::AccessDeny(_) => EntryKind::AccessDeny,
            Self::AccessExpire(_) => EntryKind::AccessExpire,
            Self::ConsentGrant(_) => EntryKind::ConsentGrant,
            Self::ConsentRevoke(_) => EntryKind::ConsentRevoke,
            Self::PolicyChange(_) => EntryKind::PolicyChange,
            Self::Membership(_) => EntryKind::Membership,
            Self::Export(_) => EntryKind::Export,
        }
    }

    fn encode(&self, w: &mut Writer) -> Result<()> {
        match self {
            Self::AccessAllowed(d) | Self::AccessRefused(d) => {
                w.str(&d.query_id)?;
                w.str(&d.principal)?;
                w.str(&d.purpose)?;
                w.strs(&d.datasets)?;
                w.len(d.columns.len())?;
                for c in &d.columns {
                    w.str(&c.dataset)?;
                    w.str(&c.column)?;
                    w.str(&c.level)?;
                }
                w.str(&d.reason)?;
                w.u64s(&d.cites)?;
            }
            Self::AccessCompleted(c) => {
                w.str(&c.query_id)?;
                w.u64(c.rows);
                w.u64(c.bytes);
                w.fixed(&c.digest);
            }
            Self::CatalogPublish(r) | Self::CatalogChange(r) => {
                w.str(&r.dataset)?;
                w.u64(r.version);
                w.str(&r.title)?;
                w.str(&r.description)?;
                w.strs(&r.keywords)?;
                w.str(&r.department)?;
                w.str(&r.legal_basis)?;
                w.len(r.columns.len())?;
                for c in &r.columns {
                    w.str(&c.name)?;
                    w.str(&c.data_type)?;
                    w.u8(u8::from(c.nullable));
                    w.u8(c.classification.tag());
                }
                w.u8(r.sharing.tag());
                w.str(&r.update_frequency)?;
                match r.row_count {
                    Some(n) => {
                        w.u8(1);
                        w.u64(n);
                    }
                    None => w.u8(0),
                }
                w.str(&r.last_update)?;
                w.str(&r.contact)?;
            }
            Self::CatalogWithdraw(t) => {
                w.str(&t.dataset)?;
                w.u64(t.version);
                w.str(&t.reason)?;
            }
            Self::AccessRequest(r) => {
                w.str(&r.request_id)?;
                w.str(&r.principal)?;
                w.str(&r.dataset)?;
                write_access(w, &r.columns)?;
                w.str(&r.purpose)?;
                w.u64(r.until_ms);
                w.str(&r.justification)?;
            }
            Self::AccessApprove(a) => {
                w.str(&a.request_id)?;
                w.str(&a.approver)?;
                write_access(w, &a.columns)?;
                w.u64(a.valid_from_ms);
                w.u64(a.valid_until_ms);
            }
            Self::AccessExpire(x) => {
                w.str(&x.request_id)?;
            }
            Self::AccessDeny(d) => {
                w.str(&d.request_id)?;
                w.str(&d.approver)?;
                w.str(&d.reason)?;
            }
            Self::ConsentGrant(g) => {
                w.str(&g.consent_id)?;
                w.str(&g.subject)?;
                w.str(&g.requester)?;
                w.str(&g.dataset)?;
                w.strs(&g.columns)?;
                w.str(&g.purpose)?;
                w.u64(g.valid_from_ms);
                w.u64(g.valid_until_ms);
            }
            Self::ConsentRevoke(r) => {
                w.str(&r.consent_id)?;
                w.str(&r.subject)?;
            }
            Self::PolicyChange(p) => {
                w.fixed(&p.digest);
                w.u64(p.version);
                w.str(&p.note)?;
            }
            Self::Membership(m) => {
                w.str(&m.agency)?;
                w.u8(match m.action {
                    MembershipAction::Join => 1,
                    MembershipAction::Update => 2,
                    MembershipAction::Leave => 3,
                });
                w.u8(match m.role {
                    MemberRole::Voter => 1,
                    MemberRole::Learner => 2,
                });
                w.fixed(&m.public_key);
                w.str(&m.address)?;
                w.u64(m.node);
            }
            Self::Export(x) => {
                w.str(&x.query_id)?;
                w.str(&x.principal)?;
                w.str(&x.purpose)?;
                w.str(&x.recipient)?;
                w.u64(x.rows);
                w.u64(x.bytes);
                w.fixed(&x.digest);
            }
        }
        Ok(())
    }

    fn decode(kind: EntryKind, r: &mut Reader<'_>) -> Result<Self> {
        Ok(match kind {
            EntryKind::AccessAllowed | EntryKind::AccessRefused => {
                let query_id = r.string()?;
                let principal = r.string()?;
                let purpose = r.string()?;
                let datasets = r.strings()?;
                let n = r.len()?;
                let mut columns = Vec::new();
                for _ in 0..n {
                    columns.push(ColumnLevel {
                        dataset: r.string()?,
                        column: r.string()?,
                        level: r.string()?,
                    });
                }
                let d = AccessDecision {
                    query_id,
                    principal,
                    purpose,
                    datasets,
                    columns,
                    reason: r.string()?,
                    cites: r.u64s()?,
                };
                if kind == EntryKind::AccessAllowed {
                    Self::AccessAllowed(d)
                } else {
                    Self::AccessRefused(d)
                }
            }
            EntryKind::AccessCompleted => Self::AccessCompleted(AccessCompletion {
                query_id: r.string()?,
                rows: r.u64()?,
                bytes: r.u64()?,
                digest: r.array()?,
            }),
            EntryKind::CatalogPublish | EntryKind::CatalogChange => {
                let rec = CatalogRecord {
                    dataset: r.string()?,
                    version: r.u64()?,
                    title: r.string()?,
                    description: r.string()?,
                    keywords: r.strings()?,
                    department: r.string()?,
                    legal_basis: r.string()?,
                    columns: {
                        let n = r.len()?;
                        let mut columns = Vec::new();
                        for _ in 0..n {
                            columns.push(CatalogColumn {
                                name: r.string()?,
                                data_type: r.string()?,
                                nullable: match r.u8()? {
                                    0 => false,
                                    1 => true,
                                    t => return Err(r.malformed(format!("nullable flag {t}"))),
                                },
                                classification: {
                                    let t = r.u8()?;
                                    Classification::ALL
                                        .into_iter()
                                        .find(|c| c.tag() == t)
                                        .ok_or_else(|| {
                                            r.malformed(format!("unknown classification {t}"))
                                        })?
                                },
                            });
                        }
                        columns
                    },
                    sharing: {
                        let t = r.u8()?;
                        SharingClass::ALL
                            .into_iter()
                            .find(|c| c.tag() == t)
                            .ok_or_else(|| r.malformed(format!("unknown sharing class {t}")))?
                    },
                    update_frequency: r.string()?,
                    row_count: match r.u8()? {
                        0 => None,
                        1 => Some(r.u64()?),
                        t => return Err(r.malformed(format!("row count flag {t}"))),
                    },
                    last_update: r.string()?,
                    contact: r.string()?,
                };
                if kind == EntryKind::CatalogPublish {
                    Self::CatalogPublish(rec)
                } else {
                    Self::CatalogChange(rec)
                }
            }
            EntryKind::CatalogWithdraw => Self::CatalogWithdraw(CatalogWithdrawal {
                dataset: r.string()?,
                version: r.u64()?,
                reason: r.string()?,
            }),
            EntryKind::AccessRequest => Self::AccessRequest(AccessRequest {
                request_id: r.string()?,
                principal: r.string()?,
                dataset: r.string()?,
                columns: read_access(r)?,
                purpose: r.string()?,
                until_ms: r.u64()?,
                justification: r.string()?,
            }),
            EntryKind::AccessApprove => Self::AccessApprove(AccessApproval {
                request_id: r.string()?,
                approver: r.string()?,
                columns: read_access(r)?,
                valid_from_ms: r.u64()?,
                valid_until_ms: r.u64()?,
            }),
            EntryKind::AccessExpire => Self::AccessExpire(AccessExpiry {
                request_id: r.string()?,
            }),
            EntryKind::AccessDeny => Self::AccessDeny(AccessDenial {
                request_id: r.string()?,
                approver: r.string()?,
                reason: r.string()?,
            }),
            EntryKind::ConsentGrant => Self::ConsentGrant(ConsentGrant {
                consent_id: r.string()?,
                subject: r.string()?,
                requester: r.string()?,
                dataset: r.string()?,
                columns: r.strings()?,
                purpose: r.string()?,
                valid_from_ms: r.u64()?,
                valid_until_ms: r.u64()?,
            }),
            EntryKind::ConsentRevoke => Self::ConsentRevoke(ConsentRevocation {
                consent_id: r.string()?,
                subject: r.string()?,
            }),
            EntryKind::PolicyChange => Self::PolicyChange(PolicyChange {
                digest: r.array()?,
                version: r.u64()?,
                note: r.string()?,
            }),
            EntryKind::Membership => {
                let agency = r.string()?;
                let action = match r.u8()? {
                    1 => MembershipAction::Join,
                    2 => MembershipAction::Update,
                    3 => MembershipAction::Leave,
                    t => return Err(r.malformed(format!("unknown membership action {t}"))),
                };
                let role = match r.u8()? {
                    1 => MemberRole::Voter,
                    2 => MemberRole::Learner,
                    t => return Err(r.malformed(format!("unknown member role {t}"))),
                };
                Self::Membership(MembershipChange {
                    agency,
                    action,
                    role,
                    public_key: r.array()?,
                    address: r.string()?,
                    node: r.u64()?,
                })
            }
            EntryKind::Export => Self::Export(ExportRecord {
                query_id: r.string()?,
                principal: r.string()?,
                purpose: r.string()?,
                recipient: r.string()?,
                rows: r.u64()?,
                bytes: r.u64()?,
                digest: r.array()?,
            }),
        })
    }
}

fn write_access(w: &mut Writer, columns: &[ColumnAccess]) -> Result<()> {
    w.len(columns.len())?;
    for c in columns {
        w.str(&c.column)?;
        w.str(&c.level)?;
    }
    Ok(())
}

fn read_access(r: &mut Reader<'_>) -> Result<Vec<ColumnAccess>> {
    let n = r.len()?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(ColumnAccess {
            column: r.string()?,
            level: r.string()?,
        });
    }
    Ok(out)
}

/// One record on the audit chain, before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The agency that wrote (and signs) the entry; a SQL identifier such as `bj_hf`.
    pub author: String,
    /// When the author wrote it, unix milliseconds.
    pub time_ms: u64,
    /// What happened.
    pub body: Body,
}

/// Whether `id` is a valid agency id, by [`sluice_core::AgencyId`]'s one rule.
pub fn is_agency_id(id: &str) -> bool {
    sluice_core::AgencyId::parse(id).is_ok()
}

impl Entry {
    /// The entry's kind, decided by its body.
    pub fn kind(&self) -> EntryKind {
        self.body.kind()
    }

    /// The canonical encoding. Fails only for a bad author id (the caller's fault) or a field
    /// longer than `u32::MAX` bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if !is_agency_id(&self.author) {
            return Err(Error::InvalidArgument(format!(
                "author `{}` is not an agency id ([a-z_][a-z0-9_]*, at most 63 bytes)",
                self.author
            )));
        }
        let mut w = Writer::new();
        w.u8(ENTRY_VERSION);
        w.u8(self.kind().tag());
        w.str(&self.author)?;
        w.u64(self.time_ms);
        self.body.encode(&mut w)?;
        Ok(w.into_bytes())
    }

    /// Parses exactly one canonical entry; anything else is [`Error::Malformed`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "entry");
        let version = r.u8()?;
        if version != ENTRY_VERSION {
            return Err(r.malformed(format!("unknown entry version {version}")));
        }
        let tag = r.u8()?;
        let kind = EntryKind::from_tag(tag)
            .ok_or_else(|| r.malformed(format!("unknown kind tag {tag}")))?;
        let author = r.string()?;
        if !is_agency_id(&author) {
            return Err(r.malformed(format!("author `{author}` is not an agency id")));
        }
        let time_ms = r.u64()?;
        let body = Body::decode(kind, &mut r)?;
        r.finish()?;
        Ok(Self {
            author,
            time_ms,
            body,
        })
    }

    /// The principal the entry is about, if any (for the by-principal index).
    pub fn principal(&self) -> Option<&str> {
        match &self.body {
            Body::AccessAllowed(d) | Body::AccessRefused(d) => Some(&d.principal),
            Body::AccessRequest(r) => Some(&r.principal),
            Body::Export(x) => Some(&x.principal),
            _ => None,
        }
    }

    /// The purpose the entry was made for, if any (for the by-purpose index).
    pub fn purpose(&self) -> Option<&str> {
        match &self.body {
            Body::AccessAllowed(d) | Body::AccessRefused(d) => Some(&d.purpose),
            Body::AccessRequest(r) => Some(&r.purpose),
            Body::ConsentGrant(g) => Some(&g.purpose),
            Body::Export(x) => Some(&x.purpose),
            _ => None,
        }
    }

    /// The datasets the entry is about (for the by-dataset index).
    pub fn datasets(&self) -> Vec<&str> {
        match &self.body {
            Body::AccessAllowed(d) | Body::AccessRefused(d) => {
                d.datasets.iter().map(String::as_str).collect()
            }
            Body::CatalogPublish(r) | Body::CatalogChange(r) => vec![&r.dataset],
            Body::CatalogWithdraw(t) => vec![&t.dataset],
            Body::AccessRequest(r) => vec![&r.dataset],
            Body::ConsentGrant(g) => vec![&g.dataset],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::MalformedKind;

    /// A full catalog record of `dataset` at `version`.
    pub(crate) fn catalog_record(dataset: &str, version: u64) -> CatalogRecord {
        CatalogRecord {
            dataset: dataset.into(),
            version,
            title: "Monthly contributions".into(),
            description: "One row per person and month.".into(),
            keywords: vec!["housing fund".into(), "contributions".into()],
            department: "Collection department".into(),
            legal_basis: "Housing Provident Fund Regulations, art. 13".into(),
            columns: vec![
                CatalogColumn {
                    name: "person_id".into(),
                    data_type: "Int64".into(),
                    nullable: false,
                    classification: Classification::Personal,
                },
                CatalogColumn {
                    name: "amount".into(),
                    data_type: "Int64".into(),
                    nullable: true,
                    classification: Classification::Sensitive,
                },
            ],
            sharing: SharingClass::Conditional,
            update_frequency: "monthly".into(),
            row_count: Some(1_000_000),
            last_update: "2026-11-30".into(),
            contact: "data-office@bj-hf.example".into(),
        }
    }

    /// One entry of every kind, and a second access request: sixteen entries that the
    /// chain's rules accept in this order, all about `<author>.contributions`. A catalog
    /// record is published and changed, two requests are filed, one approved and one
    /// denied, the dataset is withdrawn, and at the end the approved grant expires.
    pub(crate) fn one_of_each(author: &str) -> Vec<Entry> {
        let dataset = format!("{author}.contributions");
        let base = 1_700_000_000_000;
        let decision = AccessDecision {
            query_id: "q-1".into(),
            principal: "sh_hf/bob".into(),
            purpose: "provident_fund_transfer".into(),
            datasets: vec![dataset.clone()],
            columns: vec![ColumnLevel {
                dataset: dataset.clone(),
                column: "id_number".into(),
                level: "masked:last:4".into(),
            }],
            reason: "rule p3".into(),
            cites: vec![4, 9],
        };
        let request = |id: &str| {
            Body::AccessRequest(AccessRequest {
                request_id: id.into(),
                principal: format!("{author}/bob"),
                dataset: dataset.clone(),
                columns: vec![ColumnAccess {
                    column: "amount".into(),
                    level: "aggregate".into(),
                }],
                purpose: "audit".into(),
                until_ms: base + 1_000,
                justification: "annual audit".into(),
            })
        };
        let bodies = vec![
            Body::AccessAllowed(decision.clone()),
            Body::AccessRefused(AccessDecision {
                reason: "column salary needs aggregate".into(),
                ..decision
            }),
            Body::AccessCompleted(AccessCompletion {
                query_id: "q-1".into(),
                rows: 12,
                bytes: 3456,
                digest: [7; 32],
            }),
            Body::CatalogPublish(catalog_record(&dataset, 1)),
            Body::CatalogChange(CatalogRecord {
                row_count: None,
                keywords: vec![],
                ..catalog_record(&dataset, 2)
            }),
            request(&format!("{author}-r-1")),
            request(&format!("{author}-r-2")),
            Body::AccessApprove(AccessApproval {
                request_id: format!("{author}-r-1"),
                approver: format!("{author}/alice"),
                columns: vec![ColumnAccess {
                    column: "amount".into(),
                    level: "aggregate:10".into(),
                }],
                valid_from_ms: base,
                valid_until_ms: base + 10,
            }),
            Body::AccessDeny(AccessDenial {
                request_id: format!("{author}-r-2"),
                approver: format!("{author}/alice"),
                reason: "no".into(),
            }),
            Body::CatalogWithdraw(CatalogWithdrawal {
                dataset: dataset.clone(),
                version: 2,
                reason: "retired".into(),
            }),
            Body::ConsentGrant(ConsentGrant {
                consent_id: "c-1".into(),
                subject: "citizen-42".into(),
                requester: "sh_hf".into(),
                dataset: dataset.clone(),
                columns: vec![],
                purpose: "provident_fund_transfer".into(),
                valid_from_ms: 10,
                valid_until_ms: 20,
            }),
            Body::ConsentRevoke(ConsentRevocation {
                consent_id: "c-1".into(),
                subject: "citizen-42".into(),
            }),
            Body::PolicyChange(PolicyChange {
                digest: [9; 32],
                version: 3,
                note: "tighten salary".into(),
            }),
            Body::Membership(MembershipChange {
                agency: "gz_hf".into(),
                action: MembershipAction::Join,
                role: MemberRole::Learner,
                // The ed25519 base point: a valid key of prime order.
                public_key: {
                    let mut key = [0x66; 32];
                    key[0] = 0x58;
                    key
                },
                address: "127.0.0.1:7001".into(),
                node: 4,
            }),
            Body::Export(ExportRecord {
                query_id: "q-2".into(),
                principal: "bj_hf/alice".into(),
                purpose: "audit".into(),
                recipient: "cd_hf".into(),
                rows: 3,
                bytes: 900,
                digest: [5; 32],
            }),
            Body::AccessExpire(AccessExpiry {
                request_id: format!("{author}-r-1"),
            }),
        ];
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| Entry {
                author: author.into(),
                time_ms: base + 100 * i as u64,
                body,
            })
            .collect()
    }

    #[test]
    fn every_kind_round_trips_and_covers_all_tags() {
        let entries = one_of_each("bj_hf");
        let mut kinds: Vec<EntryKind> = entries.iter().map(Entry::kind).collect();
        kinds.sort();
        kinds.dedup();
        let mut all = EntryKind::ALL.to_vec();
        all.sort();
        assert_eq!(kinds, all);
        for e in entries {
            let bytes = e.to_bytes().unwrap();
            assert_eq!(Entry::from_bytes(&bytes).unwrap(), e);
            // Deterministic: encoding twice gives the same bytes.
            assert_eq!(e.to_bytes().unwrap(), bytes);
        }
    }

    #[test]
    fn tags_are_unique_and_names_stable() {
        for k in EntryKind::ALL {
            assert_eq!(EntryKind::from_tag(k.tag()), Some(k));
        }
        assert_eq!(EntryKind::from_tag(0), None);
        assert_eq!(EntryKind::from_tag(16), None);
        assert_eq!(EntryKind::AccessRefused.name(), "access_refused");
    }

    #[test]
    fn encoding_is_pinned() {
        let e = Entry {
            author: "ab".into(),
            time_ms: 258,
            body: Body::ConsentRevoke(ConsentRevocation {
                consent_id: "c".into(),
                subject: "s".into(),
            }),
        };
        assert_eq!(
            e.to_bytes().unwrap(),
            vec![
                1, 11, 0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1, b'c', 0, 0, 0,
                1, b's'
            ]
        );
    }

    #[test]
    fn every_truncation_is_rejected_as_short() {
        for e in one_of_each("bj_hf") {
            let bytes = e.to_bytes().unwrap();
            for cut in 0..bytes.len() {
                let err = Entry::from_bytes(&bytes[..cut]).unwrap_err();
                assert!(
                    matches!(
                        err,
                        Error::Malformed {
                            what: "entry",
                            kind: MalformedKind::Short { .. }
                        }
                    ),
                    "cut at {cut}: {err}"
                );
            }
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = one_of_each("bj_hf")[0].to_bytes().unwrap();
        bytes.push(0);
        assert!(matches!(
            Entry::from_bytes(&bytes).unwrap_err(),
            Error::Malformed {
                kind: MalformedKind::Trailing { extra: 1 },
                ..
            }
        ));
    }

    #[test]
    fn bad_version_kind_author_and_enum_values_are_rejected() {
        let good = one_of_each("bj_hf");
        let bytes = good[0].to_bytes().unwrap();

        let mut bad_version = bytes.clone();
        bad_version[0] = 2;
        let mut bad_kind = bytes.clone();
        bad_kind[1] = 99;
        let mut bad_author = bytes.clone();
        bad_author[6] = b'B'; // "bj_hf" -> "Bj_hf"
        let member = good[13].to_bytes().unwrap();
        let mut bad_action = member.clone();
        let action_at = 2 + 4 + 5 + 8 + 4 + "gz_hf".len();
        bad_action[action_at] = 9;

        for bad in [bad_version, bad_kind, bad_author, bad_action] {
            assert!(matches!(
                Entry::from_bytes(&bad).unwrap_err(),
                Error::Malformed {
                    kind: MalformedKind::Invalid(_),
                    ..
                }
            ));
        }
    }

    #[test]
    fn invalid_author_is_a_caller_fault_on_encode() {
        let mut e = one_of_each("bj_hf").remove(0);
        e.author = "Not An Id".into();
        let err = e.to_bytes().unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        assert_eq!(err.fault(), crate::Fault::Caller);
    }

    #[test]
    fn agency_ids() {
        assert!(is_agency_id("bj_hf"));
        assert!(is_agency_id("x_1"));
        assert!(!is_agency_id(""));
        assert!(!is_agency_id("1abc"));
        assert!(!is_agency_id("a-b"));
        assert!(!is_agency_id(&"a".repeat(64)));
    }

    #[test]
    fn index_keys_come_from_the_body() {
        let all = one_of_each("bj_hf");
        assert_eq!(all[0].principal(), Some("sh_hf/bob"));
        assert_eq!(all[0].datasets(), vec!["bj_hf.contributions"]);
        assert_eq!(all[12].principal(), None);
        assert!(all[12].datasets().is_empty());
    }
}
