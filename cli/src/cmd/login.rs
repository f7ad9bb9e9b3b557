//! `sluice login`: exchange a password for a session token once, so queries pay no
//! password hash. Queries and catalog listings then read the token from `SLUICE_TOKEN`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use sluice_gateway::identity::users::token_agency;
use sluice_gateway::{AnalystClient, Principal};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `host:port` of your home gateway.
    #[arg(long, value_name = "ADDR")]
    gateway: String,
    /// Who you are: `<agency>/<user>`. The password is read from `SLUICE_PASSWORD` or,
    /// if unset, from the first line of standard input.
    #[arg(long = "as", value_name = "AGENCY/USER")]
    principal: Principal,
    /// The federation CA certificate the gateway's certificate chains to.
    #[arg(long, value_name = "FILE", env = "SLUICE_CA")]
    ca: PathBuf,
    /// Seconds to wait for the gateway.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// Where to reach your home gateway, with the session from `SLUICE_TOKEN`.
#[derive(clap::Args, Debug)]
pub struct HomeGateway {
    /// `host:port` of your home gateway (your session comes from `SLUICE_TOKEN`).
    #[arg(long, value_name = "ADDR")]
    pub gateway: String,
    /// The federation CA certificate the gateway's certificate chains to.
    #[arg(long, value_name = "FILE", env = "SLUICE_CA")]
    pub ca: PathBuf,
    /// Seconds to wait for the gateway.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

impl HomeGateway {
    /// A client of the gateway, logged in with the session token from `SLUICE_TOKEN`.
    pub async fn client(&self) -> anyhow::Result<AnalystClient> {
        client(&self.gateway, &self.ca, self.timeout).await
    }
}

/// The password from `SLUICE_PASSWORD`, or the first line of standard input.
pub fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("SLUICE_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_ca(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading the CA certificate {}", path.display()))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let ca = read_ca(&args.ca)?;
    let mut client = AnalystClient::connect(
        &args.gateway,
        args.principal.agency(),
        &ca,
        Duration::from_secs(args.timeout),
    )
    .await?;
    let token = client
        .login(&args.principal.to_string(), &password()?)
        .await?;
    eprintln!("logged in as {}; the session token is:", args.principal);
    println!("{token}");
    Ok(())
}

/// A client logged in with the session token from `SLUICE_TOKEN`.
pub async fn client(gateway: &str, ca: &Path, timeout: u64) -> anyhow::Result<AnalystClient> {
    let token = std::env::var("SLUICE_TOKEN")
        .context("no session: run `sluice login` and set SLUICE_TOKEN to the token it prints")?;
    let home = token_agency(&token)?;
    let ca = read_ca(ca)?;
    let client = AnalystClient::connect(gateway, &home, &ca, Duration::from_secs(timeout)).await?;
    Ok(client.with_token(token))
}
