//! `sluice export` and `sluice import`: a query's result as a file sealed for one other
//! agency and signed by yours, for exchange without a live connection.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use sluice_gateway::identity::agency::AgencyKeys;
use sluice_gateway::identity::bundle::TrustStore;
use sluice_gateway::{AgencyId, Purpose, export};

use crate::output::{Format, ResultWriter};

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// `host:port` of your home gateway; the session comes from `SLUICE_TOKEN`.
    #[arg(long, value_name = "ADDR")]
    gateway: String,
    /// The federation CA certificate the gateway's certificate chains to.
    #[arg(long, value_name = "FILE", env = "SLUICE_CA")]
    ca: PathBuf,
    /// The agency the file is sealed for.
    #[arg(long, value_name = "AGENCY")]
    to: AgencyId,
    /// Why you export.
    #[arg(long)]
    purpose: Purpose,
    /// Where to write the export file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Seconds to wait for the gateway to answer the connection.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    /// The SQL; tables are named `<agency>.<dataset>`.
    sql: String,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The export file.
    file: PathBuf,
    /// Your agency: the one the file must be sealed for.
    #[arg(long, value_name = "AGENCY")]
    agency: AgencyId,
    /// Your agency's key directory (`sluice init --out`).
    #[arg(long, value_name = "DIR")]
    keys: PathBuf,
    /// The trust directory holding the sender's bundle.
    #[arg(long, value_name = "DIR")]
    trust: PathBuf,
    /// How to write the result.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write to this file instead of standard output (required for parquet).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let client = super::login::client(&args.gateway, &args.ca, args.timeout).await?;
    let resp = client.export(&args.purpose, &args.to, &args.sql).await?;
    std::fs::write(&args.out, &resp.file)
        .with_context(|| format!("writing the export to {}", args.out.display()))?;
    let entry = match resp.entry {
        Some(i) => format!("recorded as chain entry {i}"),
        None => "not recorded: the gateway runs unaudited".into(),
    };
    eprintln!(
        "{} rows sealed for {} in {} ({} bytes, SHA-256 {}); {entry}",
        resp.rows,
        args.to,
        args.out.display(),
        resp.file.len(),
        hex::encode(export::file_digest(&resp.file)),
    );
    Ok(())
}

pub fn import(args: ImportArgs) -> anyhow::Result<()> {
    if args.format == Format::Parquet && args.output.is_none() {
        bail!("--format parquet needs --output FILE");
    }
    let file = std::fs::read(&args.file)
        .with_context(|| format!("reading the export {}", args.file.display()))?;
    let keys = AgencyKeys::load(&args.keys, &args.agency)?;
    let trust = TrustStore::load(&args.trust)?;
    let opened = export::open(&file, &keys, &trust)
        .with_context(|| format!("opening {}", args.file.display()))?;
    eprintln!(
        "from {} ({}, purpose {}), query {}, SHA-256 {}",
        opened.sender,
        opened.principal,
        opened.purpose,
        opened.query_id,
        hex::encode(opened.digest),
    );
    let out: Box<dyn std::io::Write + Send> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let mut writer = ResultWriter::new(args.format, out, opened.schema)?;
    for batch in &opened.batches {
        writer.write(batch)?;
    }
    writer.finish()?.flush().context("writing the result")?;
    Ok(())
}
