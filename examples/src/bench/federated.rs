//! `sluice bench`: the federation benchmark. The same per-city GROUP BY and the same
//! selective filter run over contributions split across three gateways on loopback, and
//! over one local DataFusion context holding the same Parquet files. Each mode runs in a
//! process of its own, so its peak memory is its own.

use std::path::Path;
use std::time::{Duration, Instant};

use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;

use crate::provident_fund::{AGENCIES, Cluster, DemoData};
use sluice_gateway::Purpose;
use sluice_gateway::error::{GatewayError, Result};

/// Contributions per agency at scale 1 (persons × about 15 months).
const CONTRIBUTIONS_PER_SCALE: f64 = 3.0 * 20_000.0 * 15.0;

/// The two benchmark queries: name and SQL.
pub fn queries() -> Vec<(&'static str, String)> {
    let union = AGENCIES
        .iter()
        .map(|a| {
            format!(
                "SELECT '{0}' AS city, person_id, month, amount FROM {0}.contributions",
                a.id
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    vec![
        (
            "per-city aggregate",
            format!(
                "SELECT city, COUNT(*), SUM(amount), MIN(amount), MAX(amount), AVG(amount) FROM ({union}) t GROUP BY city"
            ),
        ),
        (
            "selective filter",
            format!("SELECT city, person_id, month, amount FROM ({union}) t WHERE amount > 5390"),
        ),
    ]
}

/// The demo scale that gives about `rows` contributions in all.
pub fn scale_for(rows: u64) -> f64 {
    (rows as f64 / CONTRIBUTIONS_PER_SCALE).max(0.001)
}

/// Timings of one mode: per query, the median of `iterations` runs, and rows returned.
#[derive(Debug, Clone)]
pub struct ModeResult {
    pub timings: Vec<(String, Duration, usize)>,
    pub peak_rss_kib: u64,
}

/// Peak resident memory of this process, from `/proc/self/status`.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn time_runs<F, Fut>(iterations: usize, mut run: F) -> Result<(Duration, usize)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize>>,
{
    let mut times = Vec::with_capacity(iterations);
    let mut rows = 0;
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        rows = run().await?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok((times[times.len() / 2], rows))
}

/// One local DataFusion context holding every agency's contributions from `data`, as
/// `agency.contributions`.
pub async fn local_context(data: &DemoData) -> Result<SessionContext> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(false));
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| GatewayError::Internal("no default catalog".into()))?;
    for a in AGENCIES {
        catalog.register_schema(
            a.id,
            std::sync::Arc::new(datafusion::catalog::MemorySchemaProvider::new()),
        )?;
        let path = data.path(a.id, "contributions");
        let url = ListingTableUrl::parse(path.to_string_lossy())?;
        let options = ListingOptions::new(std::sync::Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet");
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .infer_schema(&ctx.state())
            .await?;
        ctx.register_table(
            TableReference::partial(a.id, "contributions"),
            std::sync::Arc::new(ListingTable::try_new(config)?),
        )?;
    }
    Ok(ctx)
}

/// Per query, the median of `iterations` runs on `ctx`, and the rows returned.
pub async fn time_local(
    ctx: &SessionContext,
    queries: &[(&'static str, String)],
    iterations: usize,
) -> Result<Vec<(String, Duration, usize)>> {
    let mut timings = Vec::new();
    for (name, sql) in queries {
        let (d, rows) = time_runs(iterations, || async {
            let mut s = ctx.sql(sql).await?.execute_stream().await?;
            let mut n = 0;
            while let Some(b) = s.next().await {
                n += b?.num_rows();
            }
            Ok(n)
        })
        .await?;
        timings.push((name.to_string(), d, rows));
    }
    Ok(timings)
}

/// Per query, the median of `iterations` runs through the analyst client of bj_hf's
/// gateway in `cluster`, and the rows returned.
pub async fn time_federated(
    cluster: &Cluster,
    queries: &[(&'static str, String)],
    iterations: usize,
) -> Result<Vec<(String, Duration, usize)>> {
    let client = cluster.analyst("bj_hf").await?;
    let purpose = Purpose::parse("benchmark")?;
    let mut timings = Vec::new();
    for (name, sql) in queries {
        let (d, rows) = time_runs(iterations, || async {
            let mut s = Box::pin(client.query(&purpose, sql).await?);
            let mut n = 0;
            while let Some(b) = s.next().await {
                n += b?.num_rows();
            }
            Ok(n)
        })
        .await?;
        timings.push((name.to_string(), d, rows));
    }
    Ok(timings)
}

/// Run the queries on one local DataFusion context over the data in `data`.
pub async fn run_local(data: &DemoData, iterations: usize) -> Result<ModeResult> {
    let ctx = local_context(data).await?;
    let timings = time_local(&ctx, &queries(), iterations).await?;
    Ok(ModeResult {
        timings,
        peak_rss_kib: peak_rss_kib(),
    })
}

/// Run the queries through three gateways on loopback.
pub async fn run_federated(data: DemoData, iterations: usize) -> Result<ModeResult> {
    let cluster = Cluster::start(data).await?;
    let timings = time_federated(&cluster, &queries(), iterations).await?;
    let peak = peak_rss_kib();
    cluster.stop().await?;
    Ok(ModeResult {
        timings,
        peak_rss_kib: peak,
    })
}

/// Generate (or reuse) benchmark data for about `rows` contributions under `dir`.
pub fn prepare(dir: &Path, rows: u64) -> Result<DemoData> {
    crate::provident_fund::generate(dir, scale_for(rows))
}
