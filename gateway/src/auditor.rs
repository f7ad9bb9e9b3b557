//! What `sluice audit …` and `sluice init` do, as library functions: open a node's chain
//! store read-only, trace entries, verify the store, write and check evidence bundles,
//! and create an agency's signing key.

use std::path::{Path, PathBuf};

use sluice_chain::entry::Body;
use sluice_chain::render::entry_json;
use sluice_chain::{
    AgencySigner, ChainStore, EvidenceBundle, SignedEntry, TraceFilter, TraceHit, TrustBundle,
};

use sluice_core::AgencyId;

use crate::error::{GatewayError, Result};
use crate::keys::write_key_file;

/// Opens the chain store under `path`: a node's data directory or its `chain` folder.
pub fn open_store(path: &Path) -> Result<ChainStore> {
    let nested = path.join("chain");
    let dir = if nested.join("CURRENT").exists() {
        nested
    } else {
        path.to_path_buf()
    };
    ChainStore::open_read_only(&dir).map_err(|e| {
        GatewayError::BadRequest(format!(
            "cannot open the chain store at {}: {e}",
            dir.display()
        ))
    })
}

/// Trace hits as a table: index, time, kind, author, principal, purpose, datasets,
/// columns and the reason or counts.
pub fn trace_table(hits: &[TraceHit]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "index",
        "time (UTC)",
        "kind",
        "author",
        "principal",
        "purpose",
        "what",
        "detail",
    ]);
    for h in hits {
        let j = entry_json(h.index, &h.entry);
        let b = &j["body"];
        let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
        let time = chrono::DateTime::from_timestamp_millis(h.entry.entry().time_ms as i64)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_default();
        let what = match (b["datasets"].as_array(), b["dataset"].as_str()) {
            (Some(ds), _) => {
                let cols: Vec<String> = b["columns"]
                    .as_array()
                    .map(|cs| {
                        cs.iter()
                            .map(|c| {
                                let dataset = s(&c["dataset"]);
                                let table = dataset.rsplit('.').next().unwrap_or_default();
                                format!("{table}.{}:{}", s(&c["column"]), s(&c["level"]))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let ds: Vec<String> = ds.iter().map(s).collect();
                if cols.is_empty() {
                    ds.join(", ")
                } else {
                    format!("{} [{}]", ds.join(", "), cols.join(", "))
                }
            }
            (None, Some(d)) => d.to_string(),
            _ if b["request_id"].is_string() => format!("access request {}", s(&b["request_id"])),
            _ => s(&b["query_id"]),
        };
        let detail = match j["kind"].as_str() {
            Some("access_completed") => format!(
                "{} rows, {} bytes, sha256 {}",
                b["rows"],
                b["bytes"],
                s(&b["digest"])
            ),
            Some("access_approve") => format!(
                "approved by {}: {} until {}",
                s(&b["approver"]),
                levels(&b["columns"]),
                utc(&b["valid_until_ms"])
            ),
            Some("access_request") => format!(
                "asks for {} until {}: {}",
                levels(&b["columns"]),
                utc(&b["until_ms"]),
                s(&b["justification"])
            ),
            Some("access_deny") => format!("denied by {}: {}", s(&b["approver"]), s(&b["reason"])),
            Some("access_expire") => "the grant ended".to_string(),
            Some("export") => format!(
                "{} rows sealed for {}, file sha256 {}",
                b["rows"],
                s(&b["recipient"]),
                s(&b["file_sha256"])
            ),
            // The table shows the first line; `--format json` has the whole reason.
            _ => s(&b["reason"])
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        };
        table.add_row([
            h.index.to_string(),
            time,
            s(&j["kind"]),
            s(&j["author"]),
            s(&b["principal"]),
            s(&b["purpose"]),
            what,
            detail,
        ]);
    }
    table
}

/// `column:level` pairs of an access request or approval, rendered.
fn levels(columns: &serde_json::Value) -> String {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    columns
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| format!("{}:{}", s(&c["column"]), s(&c["level"])))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A rendered unix time in ms, as UTC.
fn utc(ms: &serde_json::Value) -> String {
    ms.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Trace hits as a JSON array of rendered entries.
pub fn trace_json(hits: &[TraceHit]) -> Result<String> {
    let all: Vec<_> = hits.iter().map(|h| entry_json(h.index, &h.entry)).collect();
    serde_json::to_string_pretty(&all).map_err(|e| GatewayError::Internal(e.to_string()))
}

/// Writes the evidence bundle for entry `index` to `out`, proved against the latest
/// cosigned checkpoint the store holds.
pub fn prove(store: &ChainStore, index: u64, out: &Path) -> Result<EvidenceBundle> {
    let checkpoint = store.latest_checkpoint()?.ok_or_else(|| {
        GatewayError::BadRequest(
            "this store holds no cosigned checkpoint yet; wait for the leader to publish one"
                .into(),
        )
    })?;
    let bundle = EvidenceBundle::build(store, index, &checkpoint)?;
    std::fs::write(out, bundle.to_json()?)
        .map_err(|e| GatewayError::BadRequest(format!("cannot write {}: {e}", out.display())))?;
    Ok(bundle)
}

/// What the digest on a completion or export entry proves was delivered, in words, for
/// `sluice audit prove`. For a completion, the access entry of the same query in `store`
/// tells whether the result went sealed to another agency's gateway or to the owner's
/// own analyst.
pub fn delivery(store: &ChainStore, signed: &SignedEntry) -> Result<Option<String>> {
    let entry = signed.entry();
    match &entry.body {
        Body::Export(x) => Ok(Some(format!(
            "the export file sealed for {}: `sha256sum` of the file prints {} ({} rows, {} bytes)",
            x.recipient,
            hex::encode(x.digest),
            x.rows,
            x.bytes
        ))),
        Body::AccessCompleted(c) => {
            let filter = TraceFilter {
                agency: Some(entry.author.clone()),
                ..TraceFilter::default()
            };
            let requester =
                store
                    .trace(&filter)?
                    .into_iter()
                    .find_map(|h| match &h.entry.entry().body {
                        Body::AccessAllowed(d) if d.query_id == c.query_id => d
                            .principal
                            .split_once('/')
                            .map(|(agency, _)| agency.to_string()),
                        _ => None,
                    });
            let digest = hex::encode(c.digest);
            Ok(Some(match requester {
                Some(agency) if agency != entry.author => format!(
                    "{} rows sealed for {agency}'s gateway; SHA-256 over the sealed stream (encapsulated key, then each frame's number, last flag and ciphertext) is {digest}",
                    c.rows
                ),
                Some(_) => format!(
                    "{} rows to {}'s own analyst; SHA-256 over the Arrow IPC stream is {digest}",
                    c.rows, entry.author
                ),
                None => format!(
                    "{} rows; digest {digest} (no access entry of query {} in this store)",
                    c.rows, c.query_id
                ),
            }))
        }
        _ => Ok(None),
    }
}

/// Reads a bundle file.
pub fn read_bundle(path: &Path) -> Result<EvidenceBundle> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| GatewayError::BadRequest(format!("cannot read {}: {e}", path.display())))?;
    EvidenceBundle::from_json(&text)
        .map_err(|e| GatewayError::BadRequest(format!("{}: {e}", path.display())))
}

/// Creates agency `agency`'s signing key in `dir`: `<agency>.key` (the secret seed,
/// mode 0600) and `<agency>.pub` (the public key, for trust directories and configs).
/// Refuses to overwrite an existing key.
pub fn init_keys(agency: &AgencyId, dir: &Path) -> Result<(PathBuf, PathBuf, String)> {
    std::fs::create_dir_all(dir)
        .map_err(|e| GatewayError::BadRequest(format!("cannot create {}: {e}", dir.display())))?;
    let key = dir.join(format!("{agency}.key"));
    if key.exists() {
        return Err(GatewayError::BadRequest(format!(
            "{} exists; refusing to replace an agency's key",
            key.display()
        )));
    }
    let signer = AgencySigner::generate(agency.as_str())?;
    write_key_file(&key, &signer.seed())?;
    let mut trust = TrustBundle::new();
    trust.insert(agency.as_str(), signer.verifying_key())?;
    trust.to_dir(dir)?;
    use base64::Engine as _;
    let public =
        base64::engine::general_purpose::STANDARD.encode(signer.verifying_key().as_bytes());
    Ok((key, dir.join(format!("{agency}.pub")), public))
}
