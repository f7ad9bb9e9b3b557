//! `sluice audit`: trace, verify and prove what the audit chain recorded, from a node's
//! store, offline.

use std::path::PathBuf;

use anyhow::Context as _;
use sluice_gateway::auditor;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
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

/// Which accesses a trace keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DecisionArg {
    Allowed,
    Refused,
}

/// How a trace prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct TraceArgs {
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
    #[arg(long, value_parser = parse_time)]
    from: Option<u64>,
    /// Before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    to: Option<u64>,
    #[arg(long, value_enum)]
    decision: Option<DecisionArg>,
    /// At most this many entries.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, value_enum, default_value_t = TraceFormat::Table)]
    format: TraceFormat,
}

/// An RFC 3339 time as unix milliseconds.
fn parse_time(value: &str) -> Result<u64, String> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis().max(0) as u64)
        .map_err(|e| format!("`{value}` is not an RFC 3339 time: {e}"))
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Trace(a) => {
            let filter = sluice_chain::TraceFilter {
                from_ms: a.from,
                to_ms: a.to,
                principal: a.principal,
                agency: a.agency,
                dataset: a.dataset,
                column: a.column,
                purpose: a.purpose,
                decision: a.decision.map(|d| match d {
                    DecisionArg::Allowed => sluice_chain::Decision::Allowed,
                    DecisionArg::Refused => sluice_chain::Decision::Refused,
                }),
                limit: a.limit,
            };
            let store = auditor::open_store(&a.store)?;
            let hits = store.trace(&filter)?;
            match a.format {
                TraceFormat::Json => println!("{}", auditor::trace_json(&hits)?),
                TraceFormat::Table => {
                    println!("{}", auditor::trace_table(&hits));
                    eprintln!("{} entries", hits.len());
                }
            }
        }
        Command::Verify { store, trust } => {
            let trust = sluice_chain::TrustBundle::from_dir(&trust)?;
            let store = auditor::open_store(&store)?;
            let verified = store.verify(&trust).context("the chain does not verify")?;
            println!(
                "ok: {} entries, every signature and leaf hash checked; root {}",
                verified.size(),
                hex::encode(verified.root())
            );
        }
        Command::Prove { entry, store, out } => {
            let store = auditor::open_store(&store)?;
            let bundle = auditor::prove(&store, entry, &out)?;
            println!(
                "wrote {}: entry {} proved in a tree of {} entries",
                out.display(),
                entry,
                bundle.proof.size
            );
            let signed = sluice_chain::SignedEntry::from_bytes(&bundle.entry)?;
            if let Some(delivered) = auditor::delivery(&store, &signed)? {
                println!("delivered: {delivered}");
            }
        }
        Command::VerifyBundle {
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
