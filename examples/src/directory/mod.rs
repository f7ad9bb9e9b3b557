//! `sluice demo directory`: five municipal departments put their catalogs on one chain,
//! as Beijing's directory chain does. An analyst of the housing-fund centre searches the
//! catalog, finds the household registration, asks for it, and the public security
//! bureau approves at a narrower level; the query succeeds citing the grant, the grant
//! expires, the query is refused again, and an auditor reads the whole story.

pub mod data;
pub mod federation;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use sluice_chain::entry::Body;
use sluice_gateway::error::{GatewayError, Result};
use sluice_gateway::{AnalystClient, Purpose};
use sluice_proto::v1::{self, directory_request::Ask};

pub use data::DEPARTMENTS;
pub use federation::Federation;

/// The dataset the analyst finds and asks for.
pub const WANTED: &str = "bj_psb.households";
/// The purpose of the analyst's request.
pub const PURPOSE: &str = "housing_subsidy_review";

/// The analyst's query: housing-fund contributors per district of registration.
pub fn district_query() -> String {
    "SELECT h.district, COUNT(DISTINCT c.person_id) AS contributors, SUM(c.amount) AS paid \
     FROM bj_psb.households h JOIN bj_hf.contributions c ON c.person_id = h.person_id \
     GROUP BY h.district ORDER BY h.district"
        .into()
}

/// The analyst's request: person ids and districts in full, years of registration only
/// as aggregates, until `until_ms`.
pub fn request(until_ms: u64) -> v1::AccessAsk {
    let col = |column: &str, level: &str| v1::ColumnLevelSpec {
        column: column.into(),
        level: level.into(),
    };
    v1::AccessAsk {
        dataset: WANTED.into(),
        columns: vec![
            col("person_id", "plain"),
            col("district", "plain"),
            col("registered_year", "plain"),
        ],
        purpose: PURPOSE.into(),
        until_ms,
        reason: "Review housing subsidies by district of household registration".into(),
    }
}

/// The public security bureau's approval of `request_id`: person ids and districts as
/// asked, years of registration narrowed to aggregates, until `until_ms`.
pub fn approval(request_id: &str, until_ms: u64) -> v1::AccessDecide {
    let col = |column: &str, level: &str| v1::ColumnLevelSpec {
        column: column.into(),
        level: level.into(),
    };
    v1::AccessDecide {
        request_id: request_id.into(),
        approve: true,
        columns: vec![
            col("person_id", "plain"),
            col("district", "plain"),
            col("registered_year", "aggregate"),
        ],
        until_ms,
        reason: String::new(),
    }
}

/// The signed entries a directory answer carries, decoded.
pub fn bodies(records: &[v1::ChainRecord]) -> Result<Vec<(u64, Body)>> {
    records
        .iter()
        .map(|r| {
            sluice_chain::SignedEntry::from_bytes(&r.entry)
                .map(|s| (r.index, s.entry().body.clone()))
                .map_err(GatewayError::from)
        })
        .collect()
}

fn now_ms() -> u64 {
    sluice_gateway::identity::envelope::now_ms()
}

async fn table(client: &AnalystClient, purpose: &Purpose, sql: &str) -> Result<String> {
    let batches = client.query_all(purpose, sql).await?;
    arrow::util::pretty::pretty_format_batches(&batches)
        .map(|t| t.to_string())
        .map_err(|e| GatewayError::Internal(format!("formatting a result: {e}")))
}

/// Runs the story under `dir`, the grant lasting `grant` from its approval.
pub async fn run(dir: &Path, grant: Duration, out: &mut (dyn Write + Send)) -> Result<()> {
    let w = |out: &mut (dyn Write + Send), s: String| {
        writeln!(out, "{s}").map_err(|e| GatewayError::Transport(format!("writing output: {e}")))
    };
    let started = Instant::now();
    let fed = Federation::start(dir).await?;
    w(
        out,
        "Five departments started their gateways; bj_psb, bj_hf and bj_tax vote on the chain, bj_ca and bj_hc replicate it.".into(),
    )?;
    let analyst = fed.analyst("bj_hf").await?;
    let officer = fed.officer("bj_psb").await?;
    let purpose = Purpose::parse(PURPOSE)?;

    w(
        out,
        "\n== 1. The directory, from bj_hf's copy of the chain (sluice catalog list) ==".into(),
    )?;
    let listing = analyst
        .directory(v1::DirectoryRequest {
            ask: Ask::List as i32,
            ..Default::default()
        })
        .await?;
    for (index, body) in bodies(&listing.records)? {
        if let Body::CatalogPublish(r) | Body::CatalogChange(r) = body {
            w(
                out,
                format!(
                    "  {:<26} {:<13} {:<40} entry {index}",
                    r.dataset,
                    r.sharing.as_str(),
                    r.title
                ),
            )?;
        }
    }

    let words = "household registration district";
    w(
        out,
        format!("\n== 2. bj_hf/analyst searches \"{words}\" (sluice catalog search) =="),
    )?;
    let found = analyst
        .directory(v1::DirectoryRequest {
            ask: Ask::Search as i32,
            words: words.into(),
            limit: 3,
            ..Default::default()
        })
        .await?;
    for ((_, body), score) in bodies(&found.records)?.into_iter().zip(&found.scores) {
        if let Body::CatalogPublish(r) | Body::CatalogChange(r) = body {
            w(out, format!("  {score:6.3}  {}  {}", r.dataset, r.title))?;
        }
    }

    w(
        out,
        format!(
            "\n== 3. Without a grant, bj_psb refuses ==\n{}",
            district_query()
        ),
    )?;
    match analyst.query_all(&purpose, &district_query()).await {
        Err(e @ GatewayError::Refused(_)) => w(out, format!("{e}"))?,
        Err(e) => return Err(e),
        Ok(_) => {
            return Err(GatewayError::Internal(
                "bj_psb answered without a grant".into(),
            ));
        }
    }

    w(
        out,
        "\n== 4. bj_hf/analyst asks for access (sluice access request) ==".into(),
    )?;
    let receipt = analyst
        .request_access(request(now_ms() + 3_600_000))
        .await?;
    w(
        out,
        format!(
            "  request `{}` on the chain at entry {}",
            receipt.request_id, receipt.index
        ),
    )?;
    match analyst
        .request_access(v1::AccessAsk {
            dataset: "bj_psb.vehicles".into(),
            ..request(now_ms() + 3_600_000)
        })
        .await
    {
        Err(e) => w(out, format!("  asking for bj_psb.vehicles instead: {e}"))?,
        Ok(_) => {
            return Err(GatewayError::Internal(
                "a dataset shared `none` was requested".into(),
            ));
        }
    }

    w(
        out,
        "\n== 5. bj_psb's data officer approves, years of registration only as aggregates (sluice access approve) ==".into(),
    )?;
    // bj_psb's copy of the chain applies the request a moment after bj_hf's.
    let deadline = Instant::now() + Duration::from_secs(10);
    let pending = loop {
        let p = officer
            .list_access(v1::AccessListRequest {
                to_my_agency: true,
                pending_only: true,
            })
            .await?;
        if !p.cases.is_empty() || Instant::now() > deadline {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    w(
        out,
        format!("  pending at bj_psb: {} request(s)", pending.cases.len()),
    )?;
    let until_ms = now_ms() + u64::try_from(grant.as_millis()).unwrap_or(u64::MAX);
    let approval = officer
        .decide_access(approval(&receipt.request_id, until_ms))
        .await?;
    w(
        out,
        format!(
            "  approved at entry {} for {} s",
            approval.index,
            grant.as_secs()
        ),
    )?;

    w(
        out,
        "\n== 6. The query succeeds; bj_psb's access entry cites the grant ==".into(),
    )?;
    w(out, table(&analyst, &purpose, &district_query()).await?)?;

    w(
        out,
        "\n== 7. The grant ends; bj_psb records its expiry, and the query is refused again =="
            .into(),
    )?;
    let psb = fed.chain("bj_psb")?;
    let deadline = Instant::now() + grant + Duration::from_secs(30);
    loop {
        let case = psb.store().directory().request(&receipt.request_id)?;
        if case.is_some_and(|c| c.state.status.name() == "expired") {
            break;
        }
        if Instant::now() > deadline {
            return Err(GatewayError::Audit(
                "bj_psb recorded no expiry of the grant".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    match analyst.query_all(&purpose, &district_query()).await {
        Err(e @ GatewayError::Refused(_)) => w(out, format!("{e}"))?,
        Err(e) => return Err(e),
        Ok(_) => {
            return Err(GatewayError::Internal(
                "bj_psb answered after the grant expired".into(),
            ));
        }
    }

    w(
        out,
        "\n== 8. The auditor's view of bj_hf/analyst at bj_psb (sluice audit trace --principal bj_hf/analyst) ==".into(),
    )?;
    let hits = psb.store().trace(&sluice_chain::TraceFilter {
        principal: Some("bj_hf/analyst".into()),
        ..Default::default()
    })?;
    w(out, sluice_gateway::auditor::trace_table(&hits).to_string())?;
    let dir = fed.dir.clone();
    fed.stop().await?;
    w(
        out,
        format!(
            "\nThe directory story took {:.1?}. The chains, keys and configs are under {}.",
            started.elapsed(),
            dir.display()
        ),
    )?;
    Ok(())
}
