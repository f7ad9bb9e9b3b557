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
    /// Benchmarks: federated SQL, chain commits, audit traces.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Create an agency's signing key: `<agency>.key` (secret) and `<agency>.pub`.
    Init {
        /// The agency id, e.g. `bj_hf`.
        #[arg(long)]
        agency: String,
        /// Where to write the key files.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Trace, verify and prove what the audit chain recorded.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The agency's disclosure policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Show what the policy does with a query: the level, rule and mask of each column,
    /// the injected row filters, the small-group suppression and the rewritten SQL, or
    /// the refusal and its reasons. Nothing is run and nothing is recorded.
    Explain {
        /// The gateway's TOML config (its datasets and its `[policy]`).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Who asks: `<agency>/<user>`.
        #[arg(long = "as", value_name = "AGENCY/USER")]
        principal: String,
        /// Why.
        #[arg(long)]
        purpose: String,
        /// SQL over this agency's datasets, named `<agency>.<dataset>`.
        sql: String,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// List the entries that match every filter given.
    Trace(TraceArgs),
    /// Recompute every signature and the Merkle tree of a node's store; name the first
    /// bad entry.
    Verify {
        /// The node's chain data directory.
        #[arg(long, value_name = "DIR")]
        store: PathBuf,
        /// A directory of `<agency>.pub` files.
        #[arg(long, value_name = "DIR")]
        trust: PathBuf,
    },
    /// Write an evidence bundle for one entry: the entry, its signature, an inclusion
    /// proof and a cosigned checkpoint.
    Prove {
        /// The entry's index on the chain.
        entry: u64,
        /// The node's chain data directory.
        #[arg(long, value_name = "DIR")]
        store: PathBuf,
        /// Where to write the bundle.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check an evidence bundle offline with only the agencies' public keys.
    VerifyBundle {
        /// The bundle file.
        bundle: PathBuf,
        /// A directory of `<agency>.pub` files.
        #[arg(long, value_name = "DIR")]
        trust: PathBuf,
        /// Checkpoint signatures required (default: a majority of the trusted agencies).
        #[arg(long)]
        quorum: Option<usize>,
    },
}

#[derive(clap::Args, Debug)]
struct TraceArgs {
    /// The node's chain data directory.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// `<agency>/<user>`.
    #[arg(long)]
    principal: Option<String>,
    /// The agency that wrote the entry.
    #[arg(long)]
    agency: Option<String>,
    /// `<agency>.<dataset>`.
    #[arg(long)]
    dataset: Option<String>,
    /// A column, as `name` or `<agency>.<dataset>.name`.
    #[arg(long)]
    column: Option<String>,
    #[arg(long)]
    purpose: Option<String>,
    /// From this time on (RFC 3339, e.g. 2026-11-22T08:00:00Z).
    #[arg(long)]
    from: Option<String>,
    /// Before this time (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// allowed or refused.
    #[arg(long)]
    decision: Option<String>,
    /// At most this many entries.
    #[arg(long)]
    limit: Option<usize>,
    /// table or json.
    #[arg(long, default_value = "table")]
    format: String,
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

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// A per-city aggregate and a selective filter across three gateways, against one
    /// local DataFusion context over the same data.
    Federated(BenchArgs),
    /// Entries committed per second, and commit latency, on a three-node chain on
    /// loopback with fsync on.
    Chain {
        #[arg(long, default_value_t = 100_000)]
        entries: u64,
        #[arg(long, default_value_t = 64)]
        writers: usize,
        /// Size of one signed entry.
        #[arg(long, default_value_t = 256)]
        entry_bytes: usize,
        /// Where to keep the chains (default: a temporary directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The planning time the disclosure policy adds at an owner, against planning
    /// without it.
    Policy {
        #[arg(long, default_value_t = 200)]
        iterations: u32,
    },
    /// Filtered `audit trace` queries over a store of many entries.
    Trace {
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Where to keep the store; an existing one is reused (default: temporary).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
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
        Command::Bench(BenchCommand::Federated(args)) => bench_cmd(args).await,
        Command::Bench(BenchCommand::Chain {
            entries,
            writers,
            entry_bytes,
            dir,
        }) => {
            let tmp = tempfile::tempdir().context("creating a temporary directory")?;
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
            let r =
                sluice_gateway::bench_chain::commit_throughput(&dir, entries, writers, entry_bytes)
                    .await?;
            println!(
                "{} entries of {} bytes, {writers} writers, 3 nodes on loopback, fsync on:\n  {:.0} entries/s, commit latency p50 {:.1?}, p99 {:.1?}",
                r.entries,
                r.entry_bytes,
                r.entries as f64 / r.elapsed.as_secs_f64(),
                r.p50,
                r.p99
            );
            Ok(())
        }
        Command::Bench(BenchCommand::Policy { iterations }) => {
            let tmp = tempfile::tempdir().context("creating a temporary directory")?;
            let timings = sluice_gateway::bench_policy::run(tmp.path(), iterations).await?;
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            table.set_header([
                "sub-query at sh_hf",
                "planning",
                "with policy",
                "added",
                "ratio",
            ]);
            for t in timings {
                table.add_row([
                    t.sql,
                    format!("{:.0} µs", t.without.as_secs_f64() * 1e6),
                    format!("{:.0} µs", t.with.as_secs_f64() * 1e6),
                    format!(
                        "{:.0} µs",
                        (t.with.as_secs_f64() - t.without.as_secs_f64()) * 1e6
                    ),
                    format!(
                        "{:.2}x",
                        t.with.as_secs_f64() / t.without.as_secs_f64().max(1e-9)
                    ),
                ]);
            }
            println!("mean of {iterations} runs each\n{table}");
            Ok(())
        }
        Command::Bench(BenchCommand::Trace { entries, dir }) => {
            let tmp = tempfile::tempdir().context("creating a temporary directory")?;
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
            eprintln!(
                "filling a store with {entries} entries under {} ...",
                dir.display()
            );
            let store = sluice_gateway::bench_chain::fill_store(&dir, entries)?;
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            table.set_header(["trace", "matches", "time (median of 5)"]);
            for (name, filter) in sluice_gateway::bench_chain::trace_queries() {
                let mut times = Vec::new();
                let mut matches = 0;
                for _ in 0..5 {
                    let t = std::time::Instant::now();
                    matches = store.trace(&filter)?.len();
                    times.push(t.elapsed());
                }
                times.sort_unstable();
                table.add_row([
                    name.to_string(),
                    matches.to_string(),
                    format!("{:.1?}", times[2]),
                ]);
            }
            println!("{} entries\n{table}", store.len()?);
            Ok(())
        }
        Command::Init { agency, dir } => {
            let (key, public_file, public) = sluice_gateway::auditor::init_keys(&agency, &dir)?;
            println!("secret key: {} (keep it private)", key.display());
            println!("public key: {} = {public}", public_file.display());
            Ok(())
        }
        Command::Audit(cmd) => audit(cmd),
        Command::Policy(PolicyCommand::Explain {
            config,
            principal,
            purpose,
            sql,
        }) => {
            let config = GatewayConfig::load(&config)?;
            if config.policy.is_none() {
                bail!("the config has no [policy] section");
            }
            let owner =
                sluice_gateway::Owner::open(&config, sluice_gateway::audit::Audit::disabled())
                    .await?;
            let ctx = RequestContext::new(Principal::parse(&principal)?, Purpose::parse(&purpose)?);
            println!("{}", owner.explain(ctx, &sql).await?);
            Ok(())
        }
    }
}

fn parse_time(flag: &str, value: &Option<String>) -> anyhow::Result<Option<u64>> {
    value
        .as_deref()
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.timestamp_millis().max(0) as u64)
                .with_context(|| format!("--{flag} `{v}` is not an RFC 3339 time"))
        })
        .transpose()
}

fn audit(cmd: AuditCommand) -> anyhow::Result<()> {
    use sluice_gateway::auditor;
    match cmd {
        AuditCommand::Trace(a) => {
            let decision = match a.decision.as_deref() {
                None => None,
                Some("allowed") => Some(sluice_chain::Decision::Allowed),
                Some("refused") => Some(sluice_chain::Decision::Refused),
                Some(other) => bail!("--decision `{other}`: use allowed or refused"),
            };
            let filter = sluice_chain::TraceFilter {
                from_ms: parse_time("from", &a.from)?,
                to_ms: parse_time("to", &a.to)?,
                principal: a.principal,
                agency: a.agency,
                dataset: a.dataset,
                column: a.column,
                purpose: a.purpose,
                decision,
                limit: a.limit,
            };
            let store = auditor::open_store(&a.store)?;
            let hits = store.trace(&filter)?;
            match a.format.as_str() {
                "json" => println!("{}", auditor::trace_json(&hits)?),
                "table" => {
                    println!("{}", auditor::trace_table(&hits));
                    eprintln!("{} entries", hits.len());
                }
                other => bail!("unknown format `{other}`: use table or json"),
            }
        }
        AuditCommand::Verify { store, trust } => {
            let trust = sluice_chain::TrustBundle::from_dir(&trust)?;
            let store = auditor::open_store(&store)?;
            let verified = store.verify(&trust).context("the chain does not verify")?;
            println!(
                "ok: {} entries, every signature and leaf hash checked; root {}",
                verified.size(),
                hex(&verified.root())
            );
        }
        AuditCommand::Prove { entry, store, out } => {
            let store = auditor::open_store(&store)?;
            let bundle = auditor::prove(&store, entry, &out)?;
            println!(
                "wrote {}: entry {} proved in a tree of {} entries",
                out.display(),
                entry,
                bundle.proof.size
            );
        }
        AuditCommand::VerifyBundle {
            bundle,
            trust,
            quorum,
        } => {
            let trust = sluice_chain::TrustBundle::from_dir(&trust)?;
            let k = quorum.unwrap_or(trust.len() / 2 + 1);
            let parsed = auditor::read_bundle(&bundle)?;
            let ok = parsed
                .verify(&trust, k)
                .with_context(|| format!("{} does not verify", bundle.display()))?;
            let e = ok.entry.signed().entry();
            println!(
                "ok: entry {} ({} by {}) is in the chain of {} entries; checkpoint cosigned by {}",
                ok.index,
                e.kind().name(),
                e.author,
                ok.tree_size,
                ok.cosigners.join(", ")
            );
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
                "federated",
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
