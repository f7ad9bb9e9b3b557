//! `sluice init`: create an agency's keys (signing, HPKE, TLS) and its public bundle.

use std::path::PathBuf;

use anyhow::bail;
use sluice_gateway::AgencyId;
use sluice_gateway::identity::agency::{Addresses, CertificateSource, init};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The agency id, e.g. `bj_hf`.
    #[arg(long)]
    agency: AgencyId,
    /// Where to write the keys.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Issue the TLS certificate from this CA directory (`sluice ca init`).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["cert", "cert_key"])]
    ca: Option<PathBuf>,
    /// Or take an existing certificate from the deployment's CA (PEM)…
    #[arg(long, value_name = "FILE", requires = "cert_key")]
    cert: Option<PathBuf>,
    /// …and its private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    cert_key: Option<PathBuf>,
    /// Days a CA-issued certificate is valid.
    #[arg(long, default_value_t = 365)]
    days: i64,
    /// The gateway's address for the public bundle, `host:port`.
    #[arg(long, value_name = "ADDR")]
    gateway: Option<String>,
    /// The chain node's address for the public bundle, `host:port`.
    #[arg(long, value_name = "ADDR")]
    chain: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let source = match (&args.ca, &args.cert, &args.cert_key) {
        (Some(dir), None, None) => CertificateSource::Ca {
            dir,
            days: args.days,
        },
        (None, Some(cert), Some(key)) => CertificateSource::Existing { cert, key },
        _ => bail!("name a CA directory (--ca) or an existing certificate (--cert and --cert-key)"),
    };
    let files = init(
        &args.agency,
        &args.out,
        source,
        Addresses {
            gateway: args.gateway,
            chain: args.chain,
        },
    )?;
    println!(
        "secret keys (mode 0600, keep them private): {}, {}, {}",
        files.signing.display(),
        files.hpke.display(),
        files.tls_key.display()
    );
    println!("certificate: {}", files.tls_cert.display());
    println!(
        "public bundle for your peers' trust directories: {}",
        files.bundle.display()
    );
    Ok(())
}
