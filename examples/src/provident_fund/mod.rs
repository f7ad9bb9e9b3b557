//! `sluice demo`: three housing-fund centres on one machine. It generates their data,
//! starts their gateways on loopback, and runs federated queries through the Beijing
//! gateway, printing each result with its timing and the rows that crossed the wire.

pub mod cluster;
pub mod data;
pub mod policy;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

pub use cluster::Cluster;
pub use data::{AGENCIES, DemoData, generate};

use sluice_gateway::error::{GatewayError, Result};
use sluice_gateway::{Principal, Purpose};

/// One query of the demo: a title, what it shows, and its SQL.
#[derive(Debug, Clone)]
pub struct DemoQuery {
    pub title: &'static str,
    pub sql: String,
}

/// The id number of a person who moved from Beijing to Shanghai.
pub fn mover_id_number() -> String {
    data::person_id_number(AGENCIES[1], 0)
}

/// The demo's federated queries.
pub fn queries() -> Vec<DemoQuery> {
    let id = mover_id_number();
    let history = AGENCIES
        .iter()
        .map(|a| {
            format!(
                "SELECT '{0}' AS city, c.month, c.amount FROM {0}.persons p JOIN {0}.contributions c ON c.person_id = p.person_id WHERE p.id_number = '{id}'",
                a.id
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL\n");
    let per_city = AGENCIES
        .iter()
        .map(|a| format!("SELECT '{0}' AS city, amount FROM {0}.contributions", a.id))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let loans = AGENCIES
        .iter()
        .map(|a| {
            format!(
                "SELECT '{0}' AS city, loan_id, amount, status FROM {0}.loans",
                a.id
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    vec![
        DemoQuery {
            title: "Answered in full: contribution history of one person who moved from Beijing to Shanghai",
            sql: format!("SELECT city, month, amount FROM (\n{history}\n) h ORDER BY month, city"),
        },
        DemoQuery {
            title: "Per-city contributions (each centre aggregates its own rows)",
            sql: format!(
                "SELECT city, COUNT(*) AS payments, SUM(amount) AS total, AVG(amount) AS average\nFROM ({per_city}) t\nGROUP BY city ORDER BY city"
            ),
        },
        DemoQuery {
            title: "Masked: people registered in Beijing who hold a Shanghai loan (names and birth dates masked by their owner)",
            sql: "SELECT b.id_number, b.name, b.birth_date, l.status\nFROM sh_hf.loans l\nJOIN sh_hf.persons s ON l.person_id = s.person_id\nJOIN bj_hf.persons b ON b.id_number = s.id_number\nORDER BY b.id_number, l.status LIMIT 5".to_string(),
        },
        DemoQuery {
            title: "Aggregate only: loans per city (loan amounts leave only as sums over five or more loans)",
            sql: format!("SELECT city, COUNT(*) AS loans, SUM(amount) AS total, AVG(amount) AS average FROM ({loans}) t GROUP BY city ORDER BY city"),
        },
        DemoQuery {
            title: "Refused: the five largest loans across the three cities (single loan amounts may not leave)",
            sql: format!("SELECT city, loan_id, amount, status FROM ({loans}) t ORDER BY amount DESC, loan_id LIMIT 5"),
        },
    ]
}

/// Run the demo end to end, writing what happens to `out`.
pub async fn run(dir: &Path, scale: f64, out: &mut (dyn Write + Send)) -> Result<()> {
    let w = |out: &mut (dyn Write + Send), s: String| {
        writeln!(out, "{s}").map_err(|e| GatewayError::Transport(format!("writing output: {e}")))
    };
    let t = Instant::now();
    let data = generate(dir, scale)?;
    w(
        out,
        format!(
            "Generated {} rows for {} housing-fund centres in {:.1?} under {}",
            data.rows,
            AGENCIES.len(),
            t.elapsed(),
            dir.display()
        ),
    )?;

    let cluster = Cluster::start_with_policy(data).await?;
    for (a, g) in AGENCIES.iter().zip(&cluster.gateways) {
        w(
            out,
            format!(
                "  gateway {:<6} {:<9} listening on {}",
                a.id, a.city, g.addr
            ),
        )?;
    }
    let analyst = Principal::parse("bj_hf/analyst")?;
    let purpose = Purpose::parse("provident_fund_transfer")?;
    w(
        out,
        format!(
            "  each with its own keys and certificate from the demo's CA ({}); they talk mutual TLS,\n  sign their requests and seal their results. {analyst} logs in over TLS with a password.",
            cluster.identities.ca_cert.display()
        ),
    )?;
    let client = cluster.analyst("bj_hf").await?;

    w(
        out,
        "\nThe federated catalog, as bj_hf's copy of the audit chain holds it (sluice catalog list):".into(),
    )?;
    let listing = client
        .directory(sluice_proto::v1::DirectoryRequest {
            ask: sluice_proto::v1::directory_request::Ask::List as i32,
            ..Default::default()
        })
        .await?;
    for r in &listing.records {
        let entry = sluice_chain::SignedEntry::from_bytes(&r.entry)?;
        if let sluice_chain::Body::CatalogPublish(d) | sluice_chain::Body::CatalogChange(d) =
            &entry.entry().body
        {
            w(
                out,
                format!(
                    "  {:<22} v{} {} columns  {}  (chain entry {})",
                    d.dataset,
                    d.version,
                    d.columns.len(),
                    d.title,
                    r.index
                ),
            )?;
        }
    }

    let stats = cluster
        .gateway("bj_hf")
        .map(|g| std::sync::Arc::clone(g.gateway.home.stats()))
        .ok_or_else(|| GatewayError::Internal("no bj_hf gateway".into()))?;
    for q in queries() {
        w(out, format!("\n== {} ==\n{}", q.title, q.sql))?;
        let before = stats.total_rows();
        let t = Instant::now();
        let batches = match client.query_all(&purpose, &q.sql).await {
            Ok(b) => b,
            Err(e @ GatewayError::Refused(_)) => {
                w(
                    out,
                    format!(
                        "{e}\n(refused in {:.1?}; the refusal is on the audit chain)",
                        t.elapsed()
                    ),
                )?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let elapsed = t.elapsed();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        w(out, render_table(&batches)?)?;
        w(
            out,
            format!(
                "{rows} rows in {elapsed:.1?}; {} rows crossed the wire from the owning gateways",
                stats.total_rows() - before
            ),
        )?;
    }
    audit_tour(&cluster, &analyst, out).await?;
    let dir = cluster.data.dir.clone();
    cluster.stop().await?;
    w(
        out,
        format!(
            "\nDemo finished in {:.1?}. The chains, keys and configs are under {}.",
            t.elapsed(),
            dir.display()
        ),
    )?;
    Ok(())
}

/// What an auditor sees afterwards: Shanghai's record of the analyst's accesses, the
/// whole chain verified, and an evidence bundle for one access checked offline.
async fn audit_tour(
    cluster: &Cluster,
    analyst: &Principal,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    let w = |out: &mut (dyn Write + Send), s: String| {
        writeln!(out, "{s}").map_err(|e| GatewayError::Transport(format!("writing output: {e}")))
    };
    let node = cluster
        .chain("sh_hf")
        .ok_or_else(|| GatewayError::Internal("the demo's sh_hf gateway has no chain".into()))?;
    // Wait for the leader's next checkpoint, so the bundle below can be proved.
    let size = node.store().len()?;
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while node
        .latest_checkpoint()?
        .is_none_or(|c| c.checkpoint().size < size)
    {
        if Instant::now() > deadline {
            return Err(GatewayError::Audit(
                "no cosigned checkpoint within 10 s".into(),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let store = node.store();
    let filter = sluice_chain::TraceFilter {
        principal: Some(analyst.to_string()),
        agency: Some("sh_hf".into()),
        ..Default::default()
    };
    let hits = store.trace(&filter)?;
    w(
        out,
        format!(
            "\n== Audit: what sh_hf recorded for {analyst} (sluice audit trace --principal {analyst} --agency sh_hf) ==\n{}",
            sluice_gateway::auditor::trace_table(&hits)
        ),
    )?;
    let trust = sluice_chain::TrustBundle::from_dir(&cluster.trust_dir())?;
    let verified = store.verify(&trust)?;
    w(
        out,
        format!(
            "sluice audit verify: {} entries on sh_hf's copy of the chain, every signature and leaf hash checks",
            verified.size()
        ),
    )?;
    if let Some(hit) = hits.first() {
        let checkpoint = store
            .latest_checkpoint()?
            .ok_or_else(|| GatewayError::Internal("the checkpoint vanished".into()))?;
        let bundle = sluice_chain::EvidenceBundle::build(store, hit.index, &checkpoint)?;
        let path = cluster
            .data
            .dir
            .join(format!("evidence-{}.json", hit.index));
        std::fs::write(&path, bundle.to_json()?)
            .map_err(|e| GatewayError::Internal(format!("writing {}: {e}", path.display())))?;
        let ok = bundle.verify(&trust, 2)?;
        w(
            out,
            format!(
                "sluice audit prove {}: wrote {}; checked offline: entry in a tree of {} entries, checkpoint cosigned by {}",
                hit.index,
                path.display(),
                ok.tree_size,
                ok.cosigners.join(", ")
            ),
        )?;
    }
    Ok(())
}

/// Batches as a table for the terminal.
fn render_table(batches: &[arrow::array::RecordBatch]) -> Result<String> {
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok("(no rows)".into());
    }
    arrow::util::pretty::pretty_format_batches(batches)
        .map(|t| t.to_string())
        .map_err(|e| GatewayError::Internal(format!("formatting a result: {e}")))
}
