//! `sluice gateway`: run an agency's gateway from its config until Ctrl-C.

use std::path::PathBuf;

use anyhow::Context as _;
use sluice_gateway::{GatewayConfig, RunningGateway};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The gateway's TOML config.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = GatewayConfig::load(&args.config)?;
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
