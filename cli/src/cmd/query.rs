//! `sluice query`: run federated SQL through a home gateway and write the result.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_gateway::Purpose;

use crate::output::{Format, ResultWriter};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `host:port` of your home gateway. You are who your session (`SLUICE_TOKEN`,
    /// from `sluice login`) says.
    #[arg(long, value_name = "ADDR")]
    gateway: String,
    /// The federation CA certificate the gateway's certificate chains to.
    #[arg(long, value_name = "FILE", env = "SLUICE_CA")]
    ca: PathBuf,
    /// Why you run this query.
    #[arg(long)]
    purpose: Purpose,
    /// How to write the result.
    #[arg(long, value_enum, default_value_t = Format::Table)]
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

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.format == Format::Parquet && args.output.is_none() {
        bail!("--format parquet needs --output FILE");
    }
    let client = super::login::client(&args.gateway, &args.ca, args.timeout).await?;
    let mut stream = Box::pin(client.query(&args.purpose, &args.sql).await?);

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
    let mut writer = ResultWriter::new(args.format, out, stream.schema())?;
    while let Some(batch) = stream.next().await {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                progress.finish_and_clear();
                return Err(e.into());
            }
        };
        writer.write(&batch)?;
        progress.inc(batch.num_rows() as u64);
    }
    progress.finish_and_clear();
    let mut out = writer.finish()?;
    out.flush().context("writing the result")?;
    Ok(())
}
