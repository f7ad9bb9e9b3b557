//! `sluice policy explain`: what the agency's policy does with a query, without running
//! or recording anything.

use std::path::PathBuf;

use sluice_gateway::owner::audit::Audit;
use sluice_gateway::{GatewayConfig, Owner, Principal, Purpose, RequestContext};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Show what the policy does with a query: the level, rule and mask of each column,
    /// the injected row filters, the small-group suppression and the rewritten SQL, or
    /// the refusal and its reasons. Nothing is run and nothing is recorded.
    Explain {
        /// The gateway's TOML config (its datasets and its `[policy]`).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Who asks: `<agency>/<user>`.
        #[arg(long = "as", value_name = "AGENCY/USER")]
        principal: Principal,
        /// Why.
        #[arg(long)]
        purpose: Purpose,
        /// SQL over this agency's datasets, named `<agency>.<dataset>`.
        sql: String,
    },
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    let Command::Explain {
        config,
        principal,
        purpose,
        sql,
    } = cmd;
    let config = GatewayConfig::load(&config)?;
    let owner = Owner::open(&config, Audit::unaudited(), None).await?;
    let ctx = RequestContext::new(principal, purpose);
    println!("{}", owner.explain(ctx, &sql).await?);
    Ok(())
}
