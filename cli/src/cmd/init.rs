//! `sluice init`: create an agency's signing key.

use std::path::PathBuf;

use sluice_gateway::AgencyId;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The agency id, e.g. `bj_hf`.
    #[arg(long)]
    agency: AgencyId,
    /// Where to write the key files.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (key, public_file, public) = sluice_gateway::auditor::init_keys(&args.agency, &args.dir)?;
    println!("secret key: {} (keep it private)", key.display());
    println!("public key: {} = {public}", public_file.display());
    Ok(())
}
