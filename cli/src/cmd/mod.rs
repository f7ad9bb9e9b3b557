//! The command groups of `sluice`, one module each, and the dispatch between them.

mod access;
mod audit;
mod bench;
mod ca;
mod catalog;
mod chain;
mod demo;
mod export;
mod gateway;
mod init;
mod login;
mod policy;
mod query;
mod user;

use clap::{Parser, Subcommand};

/// Sluice: exchange data between agencies without moving it.
#[derive(Parser, Debug)]
#[command(name = "sluice", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an agency's gateway.
    Gateway(gateway::Args),
    /// Run federated SQL through a gateway.
    Query(query::Args),
    /// The federated data catalog: list, show, search, history, publish, export.
    #[command(subcommand)]
    Catalog(catalog::Command),
    /// Access requests for conditional datasets: request, pending, approve, deny.
    #[command(subcommand)]
    Access(access::Command),
    /// Run three housing-fund centres on this machine and query across them.
    Demo(demo::Args),
    /// Benchmarks: federated SQL, chain commits, audit traces, policy planning.
    #[command(subcommand)]
    Bench(bench::Command),
    /// Seal a query's result into a signed file for another agency.
    Export(export::ExportArgs),
    /// Verify and open an export file sealed for your agency.
    Import(export::ImportArgs),
    /// Create an agency's keys (signing, HPKE, TLS) and its public bundle.
    Init(init::Args),
    /// A federation CA and the agency certificates it issues.
    #[command(subcommand)]
    Ca(ca::Command),
    /// The agency's analysts and their credentials.
    #[command(subcommand)]
    User(user::Command),
    /// Log in to your home gateway; prints a session token for `SLUICE_TOKEN`.
    Login(login::Args),
    /// Trace, verify and prove what the audit chain recorded.
    #[command(subcommand)]
    Audit(audit::Command),
    /// The audit chain's members: sign a change, or list them.
    #[command(subcommand)]
    Chain(chain::Command),
    /// The agency's disclosure policy.
    #[command(subcommand)]
    Policy(policy::Command),
}

/// Run one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Gateway(args) => gateway::run(args).await,
        Command::Query(args) => query::run(args).await,
        Command::Catalog(cmd) => catalog::run(cmd).await,
        Command::Access(cmd) => access::run(cmd).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Bench(cmd) => bench::run(cmd).await,
        Command::Export(args) => export::export(args).await,
        Command::Import(args) => export::import(args),
        Command::Init(args) => init::run(args),
        Command::Ca(cmd) => ca::run(cmd),
        Command::User(cmd) => user::run(cmd),
        Command::Login(args) => login::run(args).await,
        Command::Audit(cmd) => audit::run(cmd),
        Command::Chain(cmd) => chain::run(cmd).await,
        Command::Policy(cmd) => policy::run(cmd).await,
    }
}

/// Whether the error, at any depth of its chain, is a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn broken_pipes_are_found_under_context() {
        let pipe = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed");
        let e = Err::<(), _>(pipe)
            .context("writing row 3")
            .context("writing the result")
            .unwrap_err();
        assert!(is_broken_pipe(&e));
        let other = anyhow::anyhow!("disk full").context("writing the result");
        assert!(!is_broken_pipe(&other));
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
