//! `sluice demo`: the provident-fund story on this machine, or (`sluice demo directory`)
//! the directory story: five departments' catalogs on one chain, an access request,
//! its approval, its expiry.

use std::path::PathBuf;

use anyhow::Context as _;

/// Which story `sluice demo` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Scenario {
    /// Three housing-fund centres query across cities under their policies.
    #[default]
    ProvidentFund,
    /// Five departments publish catalogs; an analyst finds a dataset, asks for it, is
    /// granted it for a while, and is refused again when the grant ends.
    Directory,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The story to run.
    #[arg(value_enum, default_value_t = Scenario::ProvidentFund)]
    scenario: Scenario,
    /// How long the directory story's grant lasts, in seconds.
    #[arg(long, default_value_t = 5)]
    grant_seconds: u64,
    /// Data size: 1 is about a million rows in all.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Where to write the data and configs (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let tmp;
    let dir = match args.dir {
        Some(d) => d,
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    let mut out = std::io::stdout();
    match args.scenario {
        Scenario::ProvidentFund => {
            sluice_examples::provident_fund::run(&dir, args.scale, &mut out).await?
        }
        Scenario::Directory => {
            let grant = std::time::Duration::from_secs(args.grant_seconds);
            sluice_examples::directory::run(&dir, grant, &mut out).await?
        }
    }
    Ok(())
}
