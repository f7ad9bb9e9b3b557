//! Gateway config: a TOML file naming the agency, where it listens, its peers and the
//! datasets it publishes. Loading validates everything and reports the file, line and
//! column of the first problem.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sluice_chain::entry::{Classification, SharingClass};
use sluice_connectors::ConnectorConfig;
use sluice_core::{AgencyId, DatasetName};
use toml::Spanned;

use crate::budget::QueryLimits;
use crate::error::{GatewayError, Result};

/// A gateway's whole config, as loaded and validated from one TOML file.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The file the config was read from, for messages that name it.
    pub file: PathBuf,
    /// The agency this gateway serves, e.g. `bj_hf`.
    pub agency: AgencyId,
    /// Where the gateway listens for analysts and peers.
    pub listen: SocketAddr,
    /// The other agencies' gateways.
    pub peers: Vec<PeerConfig>,
    /// The datasets this agency publishes.
    pub datasets: Vec<DatasetConfig>,
    /// How long to wait for a peer to connect or to send the next frame.
    pub peer_timeout: Duration,
    /// Directory that relative paths in connector configs are resolved against.
    pub base_dir: PathBuf,
    /// Where the gateway records accesses. `None` when the config has no `[chain]`
    /// section: such a gateway refuses to serve.
    pub chain: Option<ChainChoice>,
    /// What the gateway may release.
    pub policy: PolicyChoice,
    /// How the gateway proves who it is and checks who calls it. Required to serve.
    pub identity: Option<IdentityConfig>,
    /// How the gateway keeps its part of the directory.
    pub directory: DirectorySettings,
    /// What one query may use.
    pub limits: QueryLimits,
}

/// The `[directory]` section: how often the owner checks its sources' schemas against
/// what it published, and its grants' end dates. Both have defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectorySettings {
    /// How often each dataset's source is read again to find a schema that drifted.
    pub schema_check: Duration,
    /// How often the owner looks for grants whose end date passed, to record their expiry.
    pub expiry_check: Duration,
}

impl Default for DirectorySettings {
    fn default() -> Self {
        DirectorySettings {
            schema_check: Duration::from_secs(30),
            expiry_check: Duration::from_secs(10),
        }
    }
}

/// The `[identity]` section: the agency's keys (`sluice init`), the federation CA, the
/// peers' bundles and the analysts' credentials. Paths are relative to the config file.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// The directory `sluice init` wrote this agency's keys to.
    pub keys: PathBuf,
    /// The federation CA certificate (PEM) every agency certificate chains to.
    pub ca: PathBuf,
    /// The trust directory: one `<agency>.bundle.toml` per trusted agency.
    pub trust: PathBuf,
    /// The users file (`sluice user add`); without one, nobody can log in.
    pub users: Option<PathBuf>,
    /// How long a login lasts.
    pub session: Duration,
    /// How far a peer's request time may be from this gateway's clock.
    pub request_window: Duration,
}

/// The `[policy]` section, or its absence.
#[derive(Debug, Clone)]
pub enum PolicyChoice {
    /// No `[policy]` section: every column is denied, as anything a policy does not
    /// name is.
    DenyAll,
    /// `[policy] open = true`: every published column is released plain. For tests,
    /// benchmarks and open data; the gateway says so at start.
    Open,
    /// The agency's Casbin policy files.
    Files(PolicyFilesConfig),
}

/// The `[chain]` section: a node of the audit chain, or the deliberate choice to
/// record nothing.
#[derive(Debug, Clone)]
pub enum ChainChoice {
    /// This gateway runs its agency's node of the audit chain.
    Node(ChainConfig),
    /// `[chain] none = true`: nothing is recorded. For tests and benchmarks only; the
    /// gateway says so at start.
    Unaudited,
}

/// The `[policy]` section: the agency's Casbin model and rules, and the owner's secret
/// for the `hash` mask. Paths are relative to the config file.
#[derive(Debug, Clone)]
pub struct PolicyFilesConfig {
    pub model: PathBuf,
    pub rules: PathBuf,
    /// A file holding the base64 of 32 random bytes.
    pub secret_file: PathBuf,
    /// Columns that are unique keys of a dataset, as `(dataset, columns)`.
    pub keys: Vec<(String, Vec<String>)>,
    /// The column naming each row's data subject, as `(dataset, column)`: small groups
    /// of that dataset count distinct subjects, not rows.
    pub subjects: Vec<(String, String)>,
}

/// The `[chain]` section: this gateway's node of the audit chain and the chain's members.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// This node's Raft id; one of `members`, run by this agency.
    pub node_id: u64,
    /// Where the chain's peer protocol listens.
    pub listen: SocketAddr,
    /// Where the Raft log and the chain are kept (relative paths: to the config file).
    pub data_dir: PathBuf,
    /// This agency's ed25519 signing key: a file holding the base64 of its 32-byte seed.
    /// By default the signing key of `[identity]`.
    pub key_file: Option<PathBuf>,
    /// The chain's name in its checkpoints.
    pub origin: String,
    /// Voter signatures a checkpoint needs (k of n); a majority by default.
    pub checkpoint_quorum: Option<usize>,
    /// How long an access waits for its entry to commit before it is refused.
    pub append_timeout: Duration,
    /// Every agency on the chain when it started, voters and learners, the same list in
    /// every config; after that, membership changes on the chain decide.
    pub members: Vec<ChainMemberConfig>,
    /// This agency joins a running chain through a membership change (`sluice chain
    /// add-member`): its own entry in `members` names its node and key, but is not part
    /// of the bootstrap membership the other configs list.
    pub joining: bool,
}

/// One agency's node on the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainMemberConfig {
    pub id: u64,
    pub agency: AgencyId,
    /// `host:port` of its chain listener.
    pub address: String,
    /// Its ed25519 public key, which checks its entries and checkpoint signatures.
    pub public_key: [u8; 32],
    /// Voters elect the leader and cosign checkpoints; learners only replicate.
    pub voter: bool,
}

/// Another agency's gateway.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub agency: AgencyId,
    /// `host:port` of the peer's gateway.
    pub address: String,
}

/// One dataset the agency publishes, addressed in SQL as `<agency>.<name>`, with what
/// its record in the directory says about it.
#[derive(Debug, Clone)]
pub struct DatasetConfig {
    pub name: DatasetName,
    pub title: String,
    pub description: String,
    pub connector: ConnectorConfig,
    /// The published schema, if the config declares one. The data must match it.
    pub columns: Option<Vec<ColumnConfig>>,
    /// Words to find it by.
    pub keywords: Vec<String>,
    /// The department that keeps it.
    pub department: String,
    /// The duty or legal basis the data serves.
    pub legal_basis: String,
    /// How it may be shared (`unconditional` by default).
    pub sharing: SharingClass,
    /// How often it is updated, e.g. `monthly`.
    pub update_frequency: String,
    /// How many rows it holds, as declared.
    pub row_count: Option<u64>,
    /// When it was last updated, `YYYY-MM-DD`.
    pub last_update: String,
    /// Whom to ask about it.
    pub contact: String,
}

/// A published column: its name, its Arrow type as written in the config (`Int64`,
/// `Utf8`, `Date32`, …) and its classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnConfig {
    pub name: String,
    pub data_type: String,
    /// `internal` unless declared.
    pub classification: Classification,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    agency: Spanned<String>,
    listen: Spanned<String>,
    #[serde(default)]
    peer_timeout_ms: Option<u64>,
    #[serde(default)]
    peers: Vec<RawPeer>,
    #[serde(default)]
    datasets: Vec<RawDataset>,
    #[serde(default)]
    chain: Option<Spanned<RawChain>>,
    #[serde(default)]
    policy: Option<Spanned<RawPolicy>>,
    #[serde(default)]
    identity: Option<RawIdentity>,
    #[serde(default)]
    directory: Option<RawDirectory>,
    #[serde(default)]
    limits: Option<RawLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default)]
    query_memory_mb: Option<Spanned<u64>>,
    #[serde(default)]
    query_time_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    #[serde(default)]
    schema_check_ms: Option<Spanned<u64>>,
    #[serde(default)]
    expiry_check_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    keys: PathBuf,
    ca: PathBuf,
    trust: PathBuf,
    #[serde(default)]
    users: Option<PathBuf>,
    #[serde(default)]
    session_minutes: Option<u64>,
    #[serde(default)]
    request_window_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    open: Option<Spanned<bool>>,
    #[serde(default)]
    model: Option<PathBuf>,
    #[serde(default)]
    rules: Option<PathBuf>,
    #[serde(default)]
    secret_file: Option<PathBuf>,
    #[serde(default)]
    keys: Vec<RawKey>,
    #[serde(default)]
    subjects: Vec<RawSubject>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubject {
    dataset: Spanned<String>,
    column: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    dataset: Spanned<String>,
    columns: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChain {
    #[serde(default)]
    none: Option<Spanned<bool>>,
    #[serde(default)]
    node_id: Option<Spanned<u64>>,
    #[serde(default)]
    listen: Option<Spanned<String>>,
    #[serde(default)]
    data_dir: Option<PathBuf>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default = "default_origin")]
    origin: String,
    #[serde(default)]
    checkpoint_quorum: Option<Spanned<usize>>,
    #[serde(default)]
    append_timeout_ms: Option<u64>,
    #[serde(default)]
    members: Option<Spanned<Vec<RawMember>>>,
    #[serde(default)]
    joining: bool,
}

fn default_origin() -> String {
    "sluice/chain".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    id: Spanned<u64>,
    agency: Spanned<String>,
    address: Spanned<String>,
    public_key: Spanned<String>,
    role: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    agency: Spanned<String>,
    address: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataset {
    name: Spanned<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    connector: ConnectorConfig,
    #[serde(default)]
    columns: Option<Vec<RawColumn>>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    department: String,
    #[serde(default)]
    legal_basis: String,
    #[serde(default)]
    sharing: Option<Spanned<String>>,
    #[serde(default)]
    update_frequency: String,
    #[serde(default)]
    row_count: Option<u64>,
    #[serde(default)]
    last_update: Option<Spanned<String>>,
    #[serde(default)]
    contact: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: Spanned<String>,
    #[serde(rename = "type")]
    data_type: Spanned<String>,
    #[serde(default)]
    classification: Option<Spanned<String>>,
}

/// Default for [`GatewayConfig::peer_timeout`].
pub const DEFAULT_PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an analyst's login lasts unless `[identity] session_minutes` says otherwise.
pub const DEFAULT_SESSION: Duration = Duration::from_secs(3600);
/// How far a peer's request time may be from this gateway's clock unless
/// `[identity] request_window_s` says otherwise.
pub const DEFAULT_REQUEST_WINDOW: Duration = Duration::from_secs(60);

impl GatewayConfig {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| GatewayError::ConfigIo {
            file: path.to_path_buf(),
            source: std::sync::Arc::new(source),
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, path, &base_dir)
    }

    /// Parse and validate config text. `file` is only used in error messages.
    pub fn parse(text: &str, file: &Path, base_dir: &Path) -> Result<Self> {
        let err_at = |offset: usize, message: String| {
            let (line, column) = crate::error::line_col(text, offset);
            GatewayError::Config {
                file: file.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            err_at(offset, e.message().trim().to_string())
        })?;

        let agency = AgencyId::parse(raw.agency.get_ref())
            .map_err(|m| err_at(raw.agency.span().start, format!("agency: {m}")))?;
        let listen: SocketAddr = raw.listen.get_ref().parse().map_err(|e| {
            err_at(
                raw.listen.span().start,
                format!(
                    "listen: `{}` is not a socket address: {e}",
                    raw.listen.get_ref()
                ),
            )
        })?;

        let mut seen = HashSet::from([agency.clone()]);
        let mut peers = Vec::with_capacity(raw.peers.len());
        for p in raw.peers {
            let peer = AgencyId::parse(p.agency.get_ref())
                .map_err(|m| err_at(p.agency.span().start, format!("peer agency: {m}")))?;
            if !seen.insert(peer.clone()) {
                return Err(err_at(
                    p.agency.span().start,
                    format!("agency `{}` is listed twice", p.agency.get_ref()),
                ));
            }
            check_address(p.address.get_ref())
                .map_err(|m| err_at(p.address.span().start, format!("peer address: {m}")))?;
            peers.push(PeerConfig {
                agency: peer,
                address: p.address.into_inner(),
            });
        }

        let mut names = HashSet::new();
        let mut datasets = Vec::with_capacity(raw.datasets.len());
        for d in raw.datasets {
            let name = DatasetName::parse(d.name.get_ref())
                .map_err(|m| err_at(d.name.span().start, format!("dataset name: {m}")))?;
            if !names.insert(d.name.get_ref().clone()) {
                return Err(err_at(
                    d.name.span().start,
                    format!("dataset `{}` is defined twice", d.name.get_ref()),
                ));
            }
            let columns = match d.columns {
                None => None,
                Some(cols) => {
                    let mut out = Vec::with_capacity(cols.len());
                    for c in cols {
                        if c.data_type
                            .get_ref()
                            .parse::<arrow::datatypes::DataType>()
                            .is_err()
                        {
                            return Err(err_at(
                                c.data_type.span().start,
                                format!(
                                    "column `{}`: `{}` is not an Arrow type (try Int64, Float64, Utf8, Date32, Boolean)",
                                    c.name.get_ref(),
                                    c.data_type.get_ref()
                                ),
                            ));
                        }
                        let classification = match c.classification {
                            None => Classification::Internal,
                            Some(k) => Classification::parse(k.get_ref()).ok_or_else(|| {
                                err_at(
                                    k.span().start,
                                    format!(
                                        "column `{}`: classification `{}` is none of public, internal, sensitive, personal",
                                        c.name.get_ref(),
                                        k.get_ref()
                                    ),
                                )
                            })?,
                        };
                        if out
                            .iter()
                            .any(|o: &ColumnConfig| o.name == *c.name.get_ref())
                        {
                            return Err(err_at(
                                c.name.span().start,
                                format!("column `{}` is declared twice", c.name.get_ref()),
                            ));
                        }
                        out.push(ColumnConfig {
                            name: c.name.into_inner(),
                            data_type: c.data_type.into_inner(),
                            classification,
                        });
                    }
                    Some(out)
                }
            };
            let sharing = match d.sharing {
                None => SharingClass::Unconditional,
                Some(s) => SharingClass::parse(s.get_ref()).ok_or_else(|| {
                    err_at(
                        s.span().start,
                        format!(
                            "sharing: `{}` is none of unconditional, conditional, none",
                            s.get_ref()
                        ),
                    )
                })?,
            };
            let last_update = match d.last_update {
                None => String::new(),
                Some(u) => {
                    if chrono::NaiveDate::parse_from_str(u.get_ref(), "%Y-%m-%d").is_err() {
                        return Err(err_at(
                            u.span().start,
                            format!("last_update: `{}` is not a date (YYYY-MM-DD)", u.get_ref()),
                        ));
                    }
                    u.into_inner()
                }
            };
            datasets.push(DatasetConfig {
                name,
                title: d.title,
                description: d.description,
                connector: d.connector,
                columns,
                keywords: d.keywords,
                department: d.department,
                legal_basis: d.legal_basis,
                sharing,
                update_frequency: d.update_frequency,
                row_count: d.row_count,
                last_update,
                contact: d.contact,
            });
        }

        let chain = match raw.chain {
            None => None,
            Some(c) => {
                let at = c.span().start;
                Some(parse_chain(c.into_inner(), &agency, at, base_dir, &err_at)?)
            }
        };

        let policy = match raw.policy {
            None => PolicyChoice::DenyAll,
            Some(p) => {
                let at = p.span().start;
                parse_policy(p.into_inner(), at, &names, base_dir, &err_at)?
            }
        };

        let identity = raw.identity.map(|i| IdentityConfig {
            keys: base_dir.join(i.keys),
            ca: base_dir.join(i.ca),
            trust: base_dir.join(i.trust),
            users: i.users.map(|u| base_dir.join(u)),
            session: i
                .session_minutes
                .map(|m| Duration::from_secs(m * 60))
                .unwrap_or(DEFAULT_SESSION),
            request_window: i
                .request_window_s
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_REQUEST_WINDOW),
        });

        let mut directory = DirectorySettings::default();
        if let Some(d) = raw.directory {
            for (value, slot, key) in [
                (
                    d.schema_check_ms,
                    &mut directory.schema_check,
                    "schema_check_ms",
                ),
                (
                    d.expiry_check_ms,
                    &mut directory.expiry_check,
                    "expiry_check_ms",
                ),
            ] {
                if let Some(v) = value {
                    if *v.get_ref() == 0 {
                        return Err(err_at(
                            v.span().start,
                            format!("directory: `{key}` must be at least 1"),
                        ));
                    }
                    *slot = Duration::from_millis(*v.get_ref());
                }
            }
        }

        let mut limits = QueryLimits::default();
        if let Some(l) = raw.limits {
            let at_least_one = |v: &Spanned<u64>, key: &str| {
                if *v.get_ref() == 0 {
                    Err(err_at(
                        v.span().start,
                        format!("limits: `{key}` must be at least 1"),
                    ))
                } else {
                    Ok(*v.get_ref())
                }
            };
            if let Some(v) = &l.query_memory_mb {
                let mb = at_least_one(v, "query_memory_mb")?;
                limits.memory =
                    usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
            }
            if let Some(v) = &l.query_time_ms {
                limits.time = Duration::from_millis(at_least_one(v, "query_time_ms")?);
            }
        }

        Ok(GatewayConfig {
            file: file.to_path_buf(),
            identity,
            directory,
            limits,
            chain,
            policy,
            agency,
            listen,
            peers,
            datasets,
            peer_timeout: raw
                .peer_timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_PEER_TIMEOUT),
            base_dir: base_dir.to_path_buf(),
        })
    }
}

fn parse_policy(
    p: RawPolicy,
    at: usize,
    names: &HashSet<String>,
    base_dir: &Path,
    err_at: &dyn Fn(usize, String) -> GatewayError,
) -> Result<PolicyChoice> {
    if let Some(open) = &p.open {
        let has_files = p.model.is_some() || p.rules.is_some() || p.secret_file.is_some();
        if has_files || !p.keys.is_empty() || !p.subjects.is_empty() {
            return Err(err_at(
                open.span().start,
                "policy: `open = true` releases everything plain; it cannot be combined with model, rules, secret_file, keys or subjects".into(),
            ));
        }
        if !*open.get_ref() {
            return Err(err_at(
                open.span().start,
                "policy: `open = false` means nothing; remove it and name the model, rules and secret_file".into(),
            ));
        }
        return Ok(PolicyChoice::Open);
    }
    let (Some(model), Some(rules), Some(secret_file)) = (p.model, p.rules, p.secret_file) else {
        return Err(err_at(
            at,
            "[policy] needs `model`, `rules` and `secret_file` (or `open = true`)".into(),
        ));
    };
    let mut keys = Vec::new();
    for k in p.keys {
        if !names.contains(k.dataset.get_ref()) {
            return Err(err_at(
                k.dataset.span().start,
                format!(
                    "policy key: no dataset `{}` is published",
                    k.dataset.get_ref()
                ),
            ));
        }
        keys.push((k.dataset.into_inner(), k.columns));
    }
    let mut subjects = Vec::new();
    for k in p.subjects {
        if !names.contains(k.dataset.get_ref()) {
            return Err(err_at(
                k.dataset.span().start,
                format!(
                    "policy subject: no dataset `{}` is published",
                    k.dataset.get_ref()
                ),
            ));
        }
        if subjects
            .iter()
            .any(|(d, _): &(String, String)| d == k.dataset.get_ref())
        {
            return Err(err_at(
                k.dataset.span().start,
                format!(
                    "policy subject: dataset `{}` already has a subject key",
                    k.dataset.get_ref()
                ),
            ));
        }
        subjects.push((k.dataset.into_inner(), k.column));
    }
    Ok(PolicyChoice::Files(PolicyFilesConfig {
        model: base_dir.join(model),
        rules: base_dir.join(rules),
        secret_file: base_dir.join(secret_file),
        keys,
        subjects,
    }))
}

fn parse_chain(
    c: RawChain,
    agency: &AgencyId,
    at: usize,
    base_dir: &Path,
    err_at: &dyn Fn(usize, String) -> GatewayError,
) -> Result<ChainChoice> {
    use base64::Engine as _;
    if let Some(none) = &c.none {
        let has_node = c.node_id.is_some()
            || c.listen.is_some()
            || c.data_dir.is_some()
            || c.key_file.is_some()
            || c.members.is_some();
        if has_node {
            return Err(err_at(
                none.span().start,
                "chain: `none = true` records nothing; it cannot be combined with a chain node's settings".into(),
            ));
        }
        if !*none.get_ref() {
            return Err(err_at(
                none.span().start,
                "chain: `none = false` means nothing; remove it and configure the chain node"
                    .into(),
            ));
        }
        return Ok(ChainChoice::Unaudited);
    }
    let missing = |key: &str| {
        err_at(
            at,
            format!("[chain] needs `{key}` (or `none = true` to record nothing)"),
        )
    };
    let node_id = c.node_id.ok_or_else(|| missing("node_id"))?;
    let listen_raw = c.listen.ok_or_else(|| missing("listen"))?;
    let data_dir = c.data_dir.ok_or_else(|| missing("data_dir"))?;
    let members_raw = c.members.ok_or_else(|| missing("members"))?;
    let listen: SocketAddr = listen_raw.get_ref().parse().map_err(|e| {
        err_at(
            listen_raw.span().start,
            format!(
                "chain listen: `{}` is not a socket address: {e}",
                listen_raw.get_ref()
            ),
        )
    })?;
    let members_at = members_raw.span().start;
    let mut members = Vec::new();
    let (mut ids, mut agencies) = (HashSet::new(), HashSet::new());
    for m in members_raw.into_inner() {
        let member_agency = AgencyId::parse(m.agency.get_ref())
            .map_err(|e| err_at(m.agency.span().start, format!("chain member agency: {e}")))?;
        if !ids.insert(*m.id.get_ref()) {
            return Err(err_at(
                m.id.span().start,
                format!("chain member id {} is listed twice", m.id.get_ref()),
            ));
        }
        if !agencies.insert(m.agency.get_ref().clone()) {
            return Err(err_at(
                m.agency.span().start,
                format!(
                    "agency `{}` runs more than one chain node",
                    m.agency.get_ref()
                ),
            ));
        }
        check_address(m.address.get_ref())
            .map_err(|e| err_at(m.address.span().start, format!("chain member address: {e}")))?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(m.public_key.get_ref().trim())
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| {
                err_at(
                    m.public_key.span().start,
                    "public_key: not the base64 of a 32-byte ed25519 key".into(),
                )
            })?;
        let voter = match m.role.get_ref().as_str() {
            "voter" => true,
            "learner" => false,
            other => {
                return Err(err_at(
                    m.role.span().start,
                    format!("role: `{other}` is neither `voter` nor `learner`"),
                ));
            }
        };
        members.push(ChainMemberConfig {
            id: m.id.into_inner(),
            agency: member_agency,
            address: m.address.into_inner(),
            public_key: key,
            voter,
        });
    }
    let voters = members.iter().filter(|m| m.voter).count();
    if !(1..=7).contains(&voters) {
        return Err(err_at(
            members_at,
            format!("the chain has {voters} voters; it needs one to seven"),
        ));
    }
    match members.iter().find(|m| m.id == *node_id.get_ref()) {
        Some(m) if &m.agency == agency && c.joining && m.voter => {
            return Err(err_at(
                node_id.span().start,
                format!(
                    "`{agency}` joins the chain (`joining = true`), so its own member entry must have role \"learner\": an agency is promoted once it has caught up"
                ),
            ));
        }
        Some(m) if &m.agency == agency => {}
        Some(m) => {
            return Err(err_at(
                node_id.span().start,
                format!(
                    "node_id {} belongs to `{}`, not to this gateway's agency `{agency}`",
                    m.id, m.agency
                ),
            ));
        }
        None => {
            return Err(err_at(
                node_id.span().start,
                format!(
                    "node_id {} is not among the chain members",
                    node_id.get_ref()
                ),
            ));
        }
    }
    if let Some(k) = &c.checkpoint_quorum
        && (*k.get_ref() == 0 || *k.get_ref() > voters)
    {
        return Err(err_at(
            k.span().start,
            format!("checkpoint_quorum must be between 1 and the {voters} voters"),
        ));
    }
    Ok(ChainChoice::Node(ChainConfig {
        node_id: node_id.into_inner(),
        listen,
        data_dir: base_dir.join(data_dir),
        key_file: c.key_file.map(|k| base_dir.join(k)),
        origin: c.origin,
        checkpoint_quorum: c.checkpoint_quorum.map(Spanned::into_inner),
        append_timeout: Duration::from_millis(c.append_timeout_ms.unwrap_or(3000)),
        members,
        joining: c.joining,
    }))
}

fn check_address(addr: &str) -> std::result::Result<(), String> {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!("`{addr}` is not `host:port`")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<GatewayConfig> {
        GatewayConfig::parse(text, Path::new("gw.toml"), Path::new("."))
    }

    const GOOD: &str = r#"
agency = "bj_hf"
listen = "127.0.0.1:7401"

[[peers]]
agency = "sh_hf"
address = "127.0.0.1:7402"

[[datasets]]
name = "persons"
title = "Registered persons"
connector = { kind = "csv", path = "persons.csv" }
columns = [ { name = "id", type = "Int64" } ]
"#;

    #[test]
    fn good_config_loads() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.agency, "bj_hf");
        assert_eq!(c.peers[0].agency, "sh_hf");
        assert_eq!(c.datasets[0].name, "persons");
        assert_eq!(c.datasets[0].connector.kind(), "csv");
        assert_eq!(c.peer_timeout, DEFAULT_PEER_TIMEOUT);
    }

    #[test]
    fn query_limits_have_defaults_and_refuse_zero_by_line() {
        assert_eq!(parse(GOOD).unwrap().limits, QueryLimits::default());
        let c = parse(&format!(
            "{GOOD}\n[limits]\nquery_memory_mb = 64\nquery_time_ms = 1500\n"
        ))
        .unwrap();
        assert_eq!(c.limits.memory, 64 * 1024 * 1024);
        assert_eq!(c.limits.time, Duration::from_millis(1500));
        let text = format!("{GOOD}\n[limits]\nquery_time_ms = 0\n");
        let (line, _, message) = config_error(&text);
        assert_eq!(line, text.lines().count());
        assert!(
            message.contains("`query_time_ms` must be at least 1"),
            "{message}"
        );
        let (_, _, message) = config_error(&format!("{GOOD}\n[limits]\nquery_memory = 1\n"));
        assert!(message.contains("query_memory"), "{message}");
    }

    fn config_error(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(GatewayError::Config {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn syntax_error_names_line() {
        let (line, _, _) = config_error("agency = \"bj_hf\"\nlisten = \n");
        assert_eq!(line, 2);
    }

    #[test]
    fn bad_listen_address_names_line_and_column() {
        let (line, column, msg) = config_error("agency = \"bj_hf\"\nlisten = \"nowhere\"\n");
        assert_eq!((line, column), (2, 10));
        assert!(msg.contains("not a socket address"), "{msg}");
    }

    #[test]
    fn bad_agency_id_is_refused() {
        let (line, _, msg) = config_error("agency = \"Bj-HF\"\nlisten = \"127.0.0.1:1\"\n");
        assert_eq!(line, 1);
        assert!(msg.contains("not a valid agency id"), "{msg}");
    }

    #[test]
    fn unknown_field_is_refused() {
        let (line, _, msg) =
            config_error("agency = \"bj_hf\"\nlisten = \"127.0.0.1:1\"\nlistne = 3\n");
        assert_eq!(line, 3);
        assert!(msg.contains("listne"), "{msg}");
    }

    #[test]
    fn unknown_connector_kind_is_refused() {
        let text = "agency = \"a\"\nlisten = \"127.0.0.1:1\"\n[[datasets]]\nname = \"x\"\nconnector = { kind = \"oracle\", path = \"x\" }\n";
        let (line, _, msg) = config_error(text);
        assert_eq!(line, 5);
        assert!(msg.contains("oracle"), "{msg}");
    }

    #[test]
    fn duplicate_dataset_is_refused() {
        let text = "agency = \"a\"\nlisten = \"127.0.0.1:1\"\n[[datasets]]\nname = \"x\"\nconnector = { kind = \"csv\", path = \"x\" }\n[[datasets]]\nname = \"x\"\nconnector = { kind = \"csv\", path = \"y\" }\n";
        let (line, _, msg) = config_error(text);
        assert_eq!(line, 7);
        assert!(msg.contains("defined twice"), "{msg}");
    }

    #[test]
    fn bad_column_type_is_refused() {
        let text = "agency = \"a\"\nlisten = \"127.0.0.1:1\"\n[[datasets]]\nname = \"x\"\nconnector = { kind = \"csv\", path = \"x\" }\ncolumns = [ { name = \"id\", type = \"Integer\" } ]\n";
        let (line, _, msg) = config_error(text);
        assert_eq!(line, 6);
        assert!(msg.contains("not an Arrow type"), "{msg}");
    }

    #[test]
    fn duplicate_peer_is_refused() {
        let text = "agency = \"a\"\nlisten = \"127.0.0.1:1\"\n[[peers]]\nagency = \"a\"\naddress = \"h:1\"\n";
        let (line, _, msg) = config_error(text);
        assert_eq!(line, 4);
        assert!(msg.contains("listed twice"), "{msg}");
    }

    #[test]
    fn policy_and_chain_default_to_deny_and_missing() {
        let c = parse(GOOD).unwrap();
        assert!(matches!(c.policy, PolicyChoice::DenyAll));
        assert!(c.chain.is_none());
    }

    #[test]
    fn open_policy_and_no_chain_are_explicit_choices() {
        let c = parse(&format!(
            "{GOOD}\n[policy]\nopen = true\n[chain]\nnone = true\n"
        ))
        .unwrap();
        assert!(matches!(c.policy, PolicyChoice::Open));
        assert!(matches!(c.chain, Some(ChainChoice::Unaudited)));
    }

    #[test]
    fn open_policy_cannot_be_mixed_or_false() {
        let (line, _, msg) = config_error(&format!(
            "{GOOD}\n[policy]\nopen = true\nmodel = \"m.conf\"\n"
        ));
        assert_eq!(line, 16);
        assert!(msg.contains("cannot be combined"), "{msg}");
        let (_, _, msg) = config_error(&format!("{GOOD}\n[policy]\nopen = false\n"));
        assert!(msg.contains("means nothing"), "{msg}");
        let (line, _, msg) = config_error(&format!("{GOOD}\n[policy]\nmodel = \"m.conf\"\n"));
        assert_eq!(line, 15);
        assert!(
            msg.contains("needs `model`, `rules` and `secret_file`"),
            "{msg}"
        );
    }

    #[test]
    fn unaudited_chain_cannot_be_mixed_and_a_node_needs_its_keys() {
        let (_, _, msg) = config_error(&format!("{GOOD}\n[chain]\nnone = true\nnode_id = 1\n"));
        assert!(msg.contains("cannot be combined"), "{msg}");
        let (line, _, msg) = config_error(&format!("{GOOD}\n[chain]\nnode_id = 1\n"));
        assert_eq!(line, 15);
        assert!(msg.contains("[chain] needs `listen`"), "{msg}");
    }

    #[test]
    fn a_joining_agency_enters_as_a_learner() {
        let chain = |role: &str| {
            let key = "WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=";
            format!(
                "{GOOD}\n[chain]\nnode_id = 2\nlisten = \"127.0.0.1:7502\"\ndata_dir = \"c\"\njoining = true\n\
                 [[chain.members]]\nid = 1\nagency = \"sh_hf\"\naddress = \"127.0.0.1:7501\"\npublic_key = \"{key}\"\nrole = \"voter\"\n\
                 [[chain.members]]\nid = 2\nagency = \"bj_hf\"\naddress = \"127.0.0.1:7502\"\npublic_key = \"{key}\"\nrole = \"{role}\"\n"
            )
        };
        let (_, _, msg) = config_error(&chain("voter"));
        assert!(msg.contains("must have role \"learner\""), "{msg}");
        let loaded = parse(&chain("learner")).unwrap();
        let Some(ChainChoice::Node(c)) = &loaded.chain else {
            panic!("no chain node: {:?}", loaded.chain);
        };
        assert!(c.joining);
    }
}
