//! `sluice bench`: the benchmarks, each reported against its reference. Run them from a
//! release build (`cargo run --release --bin sluice -- bench …`); the debug build says
//! so, because its figures mean little.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use sluice_examples::bench;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// A per-city aggregate and a selective filter across three gateways, against one
    /// local DataFusion context over the same data.
    Federated(FederatedArgs),
    /// An aggregate, a point lookup and a top 10 across three gateways whose contributions
    /// are in PostgreSQL, against local DataFusion, PostgreSQL's own time for the
    /// pushed-down statements, and a postgres_fdw hub over the same tables.
    Postgres(PostgresArgs),
    /// Entries committed per second, commit latency and CPU per entry on a three-node
    /// chain on loopback with fsync on; optionally the cost of losing the leader, proof
    /// times and a snapshot install.
    Chain(ChainArgs),
    /// The planning time the disclosure policy adds at an owner, against planning
    /// without it.
    Policy {
        #[arg(long, default_value_t = 200)]
        iterations: u32,
    },
    /// One owner's result streamed sealed (HPKE) against plain, over TLS on loopback,
    /// and a small query over a pooled connection against a new one each time.
    Transport {
        /// Rows in the streamed result.
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        /// Runs of each stream; the median is reported (ten times as many small queries).
        #[arg(long, default_value_t = 3)]
        iterations: usize,
    },
    /// `catalog list`, `show` and `search` over a directory of many agencies' catalogs,
    /// and the time to rebuild the directory's view from the chain's entries.
    Directory {
        #[arg(long, default_value_t = 53)]
        agencies: usize,
        /// Datasets per agency.
        #[arg(long, default_value_t = 200)]
        datasets: usize,
        /// Datasets that get more versions.
        #[arg(long, default_value_t = 1_000)]
        changed: usize,
        /// Versions each of those gets after the first.
        #[arg(long, default_value_t = 10)]
        versions: usize,
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
pub struct PostgresArgs {
    /// Contribution rows in all, split across the three agencies.
    #[arg(long, default_value_t = 10_000_000)]
    rows: u64,
    /// Runs per query; the median is reported.
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    /// Runs per query through the postgres_fdw hub, which ships every row.
    #[arg(long, default_value_t = 1)]
    fdw_iterations: usize,
    /// The PostgreSQL server to load the contributions into (superuser, for postgres_fdw).
    #[arg(long, default_value = bench::postgres::DEFAULT_URL)]
    url: String,
    /// Where to keep the generated data (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ChainArgs {
    /// Entries committed in each run.
    #[arg(long, default_value_t = 100_000)]
    entries: u64,
    /// Concurrent writers, one run per value.
    #[arg(long, value_delimiter = ',', default_value = "1,64,256")]
    writers: Vec<usize>,
    /// Size of one signed entry.
    #[arg(long, default_value_t = 256)]
    entry_bytes: usize,
    /// Group-commit batches each node keeps in flight.
    #[arg(long, default_value_t = sluice_chain::node::DEFAULT_BATCHES_IN_FLIGHT)]
    in_flight: usize,
    /// Also stop the leader under load (64 writers through a follower) and measure how
    /// long commits stop and appends are refused.
    #[arg(long)]
    leader_loss: bool,
    /// Also time proofs at size n/2 in a store of this many entries (0: skip).
    #[arg(long, default_value_t = 0)]
    proof_entries: u64,
    /// Also time installing a snapshot of this many entries (0: skip).
    #[arg(long, default_value_t = 0)]
    snapshot_entries: u64,
    /// Where to keep the chains (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// The two processes of the federated benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Local,
    Federated,
}

#[derive(clap::Args, Debug)]
pub struct FederatedArgs {
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
    #[arg(long, hide = true, value_enum)]
    worker: Option<Mode>,
}

fn table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(header);
    t
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this sluice was built without --release; its benchmark figures are not representative"
        );
    }
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    match cmd {
        Command::Federated(args) => federated(args).await,
        Command::Postgres(args) => postgres(args, tmp.path()).await,
        Command::Chain(args) => chain(args, tmp.path()).await,
        Command::Transport { rows, iterations } => {
            // sh_hf holds a third of the contributions the demo data generates.
            let data = sluice_examples::provident_fund::generate(
                tmp.path(),
                bench::federated::scale_for(rows * 3),
            )?;
            let r = bench::transport::run(data, iterations).await?;
            let secs = |d: std::time::Duration| d.as_secs_f64().max(1e-9);
            let mut t = table(&[
                "stream",
                "rows",
                "time",
                "rows/s",
                "vs plain",
                "CPU (both gateways)",
                "cores busy",
            ]);
            for (name, d, cpu) in [
                ("plain IPC over TLS", r.plain, r.plain_cpu),
                ("HPKE-sealed over mTLS", r.sealed, r.sealed_cpu),
            ] {
                t.add_row([
                    name.to_string(),
                    r.rows.to_string(),
                    format!("{d:.2?}"),
                    format!("{:.0}", r.rows as f64 / secs(d)),
                    format!("{:.2}x", secs(r.plain) / secs(d)),
                    format!("{cpu:.0?}"),
                    format!("{:.2}", secs(cpu) / secs(d)),
                ]);
            }
            println!("{t}");
            println!(
                "`{}`: pooled connection {:.2?}, new connection each time {:.2?} (handshake cost {:.2?}, {:.2}x)",
                bench::transport::SMALL,
                r.pooled,
                r.fresh,
                r.fresh.saturating_sub(r.pooled),
                secs(r.fresh) / secs(r.pooled)
            );
            Ok(())
        }
        Command::Policy { iterations } => {
            let timings = bench::policy::run(tmp.path(), iterations).await?;
            let mut t = table(&[
                "sub-query at sh_hf",
                "planning",
                "with policy",
                "added",
                "ratio",
            ]);
            for p in timings {
                let (without, with) = (p.without.as_secs_f64(), p.with.as_secs_f64());
                t.add_row([
                    p.sql,
                    format!("{:.0} µs", without * 1e6),
                    format!("{:.0} µs", with * 1e6),
                    format!("{:.0} µs", (with - without) * 1e6),
                    format!("{:.2}x", with / without.max(1e-9)),
                ]);
            }
            println!("mean of {iterations} runs each\n{t}");
            Ok(())
        }
        Command::Directory {
            agencies,
            datasets,
            changed,
            versions,
        } => {
            let shape = bench::directory::Shape {
                agencies,
                datasets,
                changed,
                versions,
            };
            eprintln!("filling a store with {shape:?} ...");
            let r = bench::directory::run(tmp.path(), shape)?;
            let mut t = table(&["operation", "time"]);
            for (what, time) in [
                (format!("catalog list, all {} datasets", r.live), r.list_all),
                ("catalog list, one agency".to_string(), r.list_agency),
                ("catalog show, median".to_string(), r.show.0),
                ("catalog show, p99".to_string(), r.show.1),
                ("first search (builds the index)".to_string(), r.index_build),
                ("catalog search, median".to_string(), r.search.0),
                ("catalog search, p99".to_string(), r.search.1),
                (
                    format!("rebuild the view from {} entries", r.entries),
                    r.rebuild,
                ),
            ] {
                t.add_row([what, format!("{time:.2?}")]);
            }
            println!(
                "{} entries written in {:.1?}\n{t}\ntargets: search p99 under 20 ms, show under 5 ms, rebuild under 5 s",
                r.entries, r.fill
            );
            Ok(())
        }
        Command::Trace { entries, dir } => {
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
            eprintln!(
                "filling a store with {entries} entries under {} ...",
                dir.display()
            );
            let (size, timings) = bench::trace::run(&dir, entries)?;
            let mut t = table(&["trace", "matches", "time (median of 5)"]);
            for r in timings {
                t.add_row([
                    r.name.to_string(),
                    r.matches.to_string(),
                    format!("{:.1?}", r.median),
                ]);
            }
            println!("{size} entries\n{t}");
            Ok(())
        }
    }
}

async fn chain(args: ChainArgs, tmp: &std::path::Path) -> anyhow::Result<()> {
    let dir = args.dir.unwrap_or_else(|| tmp.to_path_buf());
    let mut t = table(&[
        "writers",
        "entries",
        "entries/s",
        "p50",
        "p99",
        "CPU-µs per entry (3 nodes)",
    ]);
    for (run, &writers) in args.writers.iter().enumerate() {
        let run_dir = dir.join(format!("commit-{run}-{writers}"));
        let r = bench::chain::commit_throughput(
            &run_dir,
            args.entries,
            writers,
            args.entry_bytes,
            args.in_flight,
        )
        .await?;
        t.add_row([
            writers.to_string(),
            r.entries.to_string(),
            format!("{:.0}", r.per_second()),
            format!("{:.1?}", r.p50),
            format!("{:.1?}", r.p99),
            format!("{:.0}", r.cpu_us_per_entry()),
        ]);
    }
    println!(
        "3 voters on loopback in one process, fsync on, {}-byte entries, {} batches in flight\n{t}",
        args.entry_bytes, args.in_flight
    );
    if args.leader_loss {
        let r = bench::chain::leader_loss(
            &dir.join("leader-loss"),
            64,
            std::time::Duration::from_secs(3),
            args.entry_bytes,
        )
        .await?;
        println!(
            "leader stopped under 64 writers (appending through a follower): no commits for {:.2?}, \
             appends refused for {:.2?} ({} refused, {} committed in the run)",
            r.no_commits, r.refusing_for, r.refused, r.committed
        );
    }
    if args.proof_entries > 0 {
        eprintln!("filling a store with {} entries ...", args.proof_entries);
        let p = bench::chain::proof_times(&dir.join("proofs"), args.proof_entries)?;
        println!(
            "store of {} entries, at size n/2 (median of 5): root {:.1?}, inclusion proof {:.1?}, \
             consistency proof n/2 -> n {:.1?}; {} stored hashes read for the three",
            p.size, p.root_at_half, p.inclusion_at_half, p.consistency_half_to_full, p.hashes_read
        );
    }
    if args.snapshot_entries > 0 {
        eprintln!(
            "building a snapshot of {} entries ...",
            args.snapshot_entries
        );
        let (n, took) =
            bench::chain::snapshot_install(&dir.join("snapshot"), args.snapshot_entries).await?;
        println!(
            "snapshot install of {n} entries (every signature, the tree and the checkpoint checked): {took:.2?}"
        );
    }
    Ok(())
}

async fn federated(args: FederatedArgs) -> anyhow::Result<()> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    if let Some(mode) = args.worker {
        let data = sluice_examples::provident_fund::DemoData::existing(&dir);
        let result = match mode {
            Mode::Local => bench::federated::run_local(&data, args.iterations).await?,
            Mode::Federated => bench::federated::run_federated(data, args.iterations).await?,
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
    let data = bench::federated::prepare(&dir, args.rows)?;
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
        results.push(String::from_utf8_lossy(&out.stdout).into_owned());
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
    let (local, fed) = (parse(&results[0]), parse(&results[1]));
    let mut t = table(&[
        "measure",
        "local DataFusion",
        "3 gateways on loopback",
        "ratio",
    ]);
    for (l, f) in local.iter().zip(&fed) {
        if l.0 == "peak_rss_kib" {
            t.add_row([
                "peak memory (MiB)".to_string(),
                format!("{:.0}", l.1 / 1024.0),
                format!("{:.0}", f.1 / 1024.0),
                format!("{:.2}x", f.1 / l.1.max(1.0)),
            ]);
        } else {
            t.add_row([
                format!("{} ({} rows out)", l.0, l.2),
                format!("{:.1} ms", l.1 * 1000.0),
                format!("{:.1} ms", f.1 * 1000.0),
                format!("{:.2}x", f.1 / l.1.max(1e-9)),
            ]);
        }
    }
    println!(
        "{} contribution rows, median of {} runs\n{t}",
        data.rows, args.iterations
    );
    Ok(())
}

async fn postgres(args: PostgresArgs, tmp: &std::path::Path) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(|| tmp.to_path_buf());
    eprintln!(
        "generating about {} contribution rows under {} ...",
        args.rows,
        dir.display()
    );
    let data = bench::federated::prepare(&dir, args.rows)?;
    let rows = data.rows;
    let times = bench::postgres::run(data, &args.url, args.iterations, args.fdw_iterations)
        .await
        .context("running the PostgreSQL benchmark")?;
    println!("{rows} contribution rows over three agencies in PostgreSQL (medians)");
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut t = table(&[
        "query",
        "rows",
        "3 gateways over PostgreSQL",
        "local DataFusion",
        "vs local",
        "PostgreSQL, 3 tables in parallel",
        "vs PostgreSQL",
        "overhead",
        "postgres_fdw hub",
        "fdw / gateways",
    ]);
    for q in &times {
        t.add_row([
            q.name.clone(),
            q.rows.to_string(),
            format!("{:.1} ms", ms(q.gateways)),
            format!("{:.1} ms", ms(q.local)),
            format!("{:.2}x", ms(q.gateways) / ms(q.local).max(1e-6)),
            format!("{:.1} ms", ms(q.database)),
            format!("{:.2}x", ms(q.gateways) / ms(q.database).max(1e-6)),
            format!("{:.1} ms", ms(q.gateways) - ms(q.database)),
            format!("{:.1} ms", ms(q.fdw)),
            format!("{:.1}x", ms(q.fdw) / ms(q.gateways).max(1e-6)),
        ]);
    }
    println!("{t}");
    Ok(())
}
