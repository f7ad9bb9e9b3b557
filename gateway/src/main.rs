//! `sluice`: run a gateway, query through one, list the federated catalog, run the demo
//! or the benchmark. `main` parses, calls `run`, prints the error chain and sets the
//! exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_gateway::analyst::AnalystClient;
use sluice_gateway::output::{Format, ResultWriter};
use sluice_gateway::{
    GatewayConfig, Principal, Purpose, RequestContext, RunningGateway, bench, demo,
};

/// Sluice: exchange data between agencies without moving it.
#[derive(Parser, Debug)]
#[command(name = "sluice", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an agency's gateway.
    Gateway {
        /// The gateway's TOML config.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run federated SQL through a gateway.
    Query(QueryArgs),
    /// The federated data catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Run three housing-fund centres on this machine and query across them.
    Demo {
        /// Data size: 1 is about a million rows in all.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Where to write the data and configs (default: a temporary directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Benchmark federated queries against one local DataFusion context.
    Bench(BenchArgs),
}

#[derive(clap::Args, Debug)]
struct QueryArgs {
    /// `host:port` of your home gateway.
    #[arg(long, value_name = "ADDR")]
    gateway: String,
    /// Who you are: `<agency>/<user>`.
    #[arg(long = "as", value_name = "AGENCY/USER")]
    principal: String,
    /// Why you run this query.
    #[arg(long)]
    purpose: String,
    /// table, csv, json or parquet.
    #[arg(long, default_value = "table")]
    format: Format,
    /// Write to this file instead of standard output (required for parquet).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Seconds to wait for the gateway to answer the connection.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    /// The SQL; tables are named `<agency>.<dataset>`.
    sql: String,
}

#[derive(Subcommand, Debug)]
enum CatalogCommand {
    /// Every dataset of every agency the gateway can reach.
    List {
        /// `host:port` of a gateway.
        #[arg(long, value_name = "ADDR")]
        gateway: String,
        /// Who you are: `<agency>/<user>`.
        #[arg(
            long = "as",
            value_name = "AGENCY/USER",
            default_value = "public/anonymous"
        )]
        principal: String,
        /// table or json.
        #[arg(long, default_value = "table")]
        format: String,
        /// Seconds to wait for the gateway.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Contribution rows in all, split across the three agencies.
    #[arg(long, default_value_t = 10_000_000)]
    rows: u64,
    /// Runs per query; the median is reported.
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    /// Where to keep the generated data (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Run one mode in this process (used by the benchmark itself).
    #[arg(long, hide = true)]
    worker: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Gateway { config } => gateway(config).await,
        Command::Query(args) => query(args).await,
        Command::Catalog(CatalogCommand::List {
            gateway,
            principal,
            format,
            timeout,
        }) => catalog_list(&gateway, &principal, &format, timeout).await,
        Command::Demo { scale, dir } => {
            let tmp;
            let dir = match dir {
                Some(d) => d,
                None => {
                    tmp = tempfile::tempdir().context("creating a temporary directory")?;
                    tmp.path().to_path_buf()
                }
            };
            let mut out = std::io::stdout();
            demo::run(&dir, scale, &mut out).await?;
            Ok(())
        }
        Command::Bench(args) => bench_cmd(args).await,
    }
}

async fn gateway(path: PathBuf) -> anyhow::Result<()> {
    let config = GatewayConfig::load(&path)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let running = RunningGateway::start(&config, listener).await?;
    eprintln!(
        "gateway {} listening on {} with {} datasets and {} peers; Ctrl-C stops it",
        config.agency,
        running.addr,
        config.datasets.len(),
        config.peers.len()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    running.stop().await?;
    Ok(())
}

async fn query(args: QueryArgs) -> anyhow::Result<()> {
    let ctx = RequestContext::new(
        Principal::parse(&args.principal)?,
        Purpose::parse(&args.purpose)?,
    );
    if args.format == Format::Parquet && args.output.is_none() {
        bail!("--format parquet needs --output FILE");
    }
    let client = AnalystClient::connect(&args.gateway, Duration::from_secs(args.timeout)).await?;
    let mut stream = Box::pin(client.query(&ctx, &args.sql).await?);

    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {human_pos} rows {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.enable_steady_tick(Duration::from_millis(120));

    let out: Box<dyn std::io::Write + Send> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let mut writer: Option<ResultWriter<Box<dyn std::io::Write + Send>>> = None;
    let mut out = Some(out);
    while let Some(batch) = stream.next().await {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                progress.finish_and_clear();
                return Err(e.into());
            }
        };
        if writer.is_none()
            && let Some(o) = out.take()
        {
            writer = Some(ResultWriter::new(args.format, o, &batch.schema())?);
        }
        if let Some(w) = writer.as_mut() {
            w.write(&batch)?;
        }
        progress.inc(batch.num_rows() as u64);
    }
    progress.finish_and_clear();
    match writer {
        Some(w) => w.finish()?,
        None => {
            if let Some(mut o) = out {
                writeln!(o, "(no rows)")?;
            }
        }
    }
    Ok(())
}

use std::io::Write as _;

async fn catalog_list(
    gateway: &str,
    principal: &str,
    format: &str,
    timeout: u64,
) -> anyhow::Result<()> {
    let ctx = RequestContext::new(Principal::parse(principal)?, Purpose::parse("catalog")?);
    let client = AnalystClient::connect(gateway, Duration::from_secs(timeout)).await?;
    let listing = client.catalog(&ctx, true).await?;
    match format {
        "json" => {
            let items: Vec<_> = listing
                .agencies
                .iter()
                .flat_map(|c| c.datasets.iter())
                .map(|d| {
                    serde_json::json!({
                        "agency": d.agency,
                        "dataset": d.name,
                        "title": d.title,
                        "description": d.description,
                        "columns": d.schema.fields().iter().map(|f| serde_json::json!({
                            "name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let unreachable: Vec<_> = listing
                .unreachable
                .iter()
                .map(|(a, m)| serde_json::json!({"agency": a, "error": m}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"datasets": items, "unreachable": unreachable})
                )?
            );
        }
        "table" => {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            table.set_header(["dataset", "title", "columns"]);
            for c in &listing.agencies {
                for d in &c.datasets {
                    let cols = d
                        .schema
                        .fields()
                        .iter()
                        .map(|f| format!("{} {}", f.name(), f.data_type()))
                        .collect::<Vec<_>>()
                        .join(", ");
                    table.add_row([d.qualified_name(), d.title.clone(), cols]);
                }
            }
            println!("{table}");
            for (agency, message) in &listing.unreachable {
                eprintln!("warning: agency {agency} is unreachable: {message}");
            }
        }
        other => bail!("unknown format `{other}`: use table or json"),
    }
    if !listing.unreachable.is_empty() {
        bail!(
            "{} agencies could not be reached",
            listing.unreachable.len()
        );
    }
    Ok(())
}

async fn bench_cmd(args: BenchArgs) -> anyhow::Result<()> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    if let Some(mode) = &args.worker {
        let data = sluice_gateway::demo::DemoData::existing(&dir);
        let result = match mode.as_str() {
            "local" => bench::run_local(&data, args.iterations).await?,
            "federated" => bench::run_federated(data, args.iterations).await?,
            other => bail!("unknown bench mode {other}"),
        };
        for (name, d, rows) in &result.timings {
            println!("{name}\t{}\t{rows}", d.as_secs_f64());
        }
        println!("peak_rss_kib\t{}", result.peak_rss_kib);
        return Ok(());
    }

    eprintln!(
        "generating about {} contribution rows under {} ...",
        args.rows,
        dir.display()
    );
    let data = bench::prepare(&dir, args.rows)?;
    eprintln!(
        "{} rows in all; running each mode in its own process",
        data.rows
    );
    let exe = std::env::current_exe().context("finding the sluice executable")?;
    let mut results = Vec::new();
    for mode in ["local", "federated"] {
        let out = std::process::Command::new(&exe)
            .args([
                "bench",
                "--worker",
                mode,
                "--iterations",
                &args.iterations.to_string(),
                "--dir",
            ])
            .arg(&dir)
            .output()
            .with_context(|| format!("running the {mode} benchmark"))?;
        if !out.status.success() {
            bail!(
                "the {mode} benchmark failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        results.push((mode, String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let parse = |text: &str| -> Vec<(String, f64, String)> {
        text.lines()
            .filter_map(|l| {
                let mut it = l.split('\t');
                let name = it.next()?.to_string();
                let secs: f64 = it.next()?.parse().ok()?;
                Some((name, secs, it.next().unwrap_or("").to_string()))
            })
            .collect()
    };
    let local = parse(&results[0].1);
    let fed = parse(&results[1].1);
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "measure",
        "local DataFusion",
        "3 gateways on loopback",
        "ratio",
    ]);
    for (l, f) in local.iter().zip(&fed) {
        if l.0 == "peak_rss_kib" {
            table.add_row([
                "peak memory (MiB)".to_string(),
                format!("{:.0}", l.1 / 1024.0),
                format!("{:.0}", f.1 / 1024.0),
                format!("{:.2}x", f.1 / l.1.max(1.0)),
            ]);
        } else {
            table.add_row([
                format!("{} ({} rows out)", l.0, l.2),
                format!("{:.1} ms", l.1 * 1000.0),
                format!("{:.1} ms", f.1 * 1000.0),
                format!("{:.2}x", f.1 / l.1.max(1e-9)),
            ]);
        }
    }
    println!(
        "{} contribution rows, median of {} runs\n{table}",
        data.rows, args.iterations
    );
    Ok(())
}
