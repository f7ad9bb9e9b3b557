//! `sluice ca`: a federation CA for deployments that have none, and certificates for its
//! agencies. Keep `ca.key` offline; give every agency `ca.crt`.

use std::path::PathBuf;

use sluice_gateway::AgencyId;
use sluice_gateway::identity::ca;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create a CA: `ca.crt` (public) and `ca.key` (secret, mode 0600) in DIR.
    Init {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The CA's name in its certificate.
        #[arg(long, default_value = "Sluice federation CA")]
        name: String,
        /// Days the CA certificate is valid.
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
    /// Issue an agency a new TLS key and certificate (`<agency>.tls.key`, `.tls.crt`).
    Issue {
        /// The CA directory (`sluice ca init`).
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        #[arg(long)]
        agency: AgencyId,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Init { out, name, days } => {
            let cert = ca::init_ca(&out, &name, days)?;
            println!(
                "CA certificate: {} (give it to every agency); its key stays in {}",
                cert.display(),
                out.display()
            );
        }
        Command::Issue {
            ca: dir,
            agency,
            out,
            days,
        } => {
            let (from, to) = ca::validity(days);
            let issued = ca::issue(&dir, &agency, from, to)?;
            std::fs::create_dir_all(&out)?;
            let cert = out.join(format!("{agency}.tls.crt"));
            let key = out.join(format!("{agency}.tls.key"));
            sluice_gateway::keys::write_private(&key, issued.key_pem.as_bytes())?;
            std::fs::write(&cert, issued.cert_pem)?;
            println!(
                "issued {} for agency {agency}, valid until {to}; key {} (secret)",
                cert.display(),
                key.display()
            );
        }
    }
    Ok(())
}
