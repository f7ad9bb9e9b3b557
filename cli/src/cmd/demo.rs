//! `sluice demo`: the provident-fund story on this machine.

use std::path::PathBuf;

use anyhow::Context as _;

#[derive(clap::Args, Debug)]
pub struct Args {
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
    sluice_examples::provident_fund::run(&dir, args.scale, &mut out).await?;
    Ok(())
}
