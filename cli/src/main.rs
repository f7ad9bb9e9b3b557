//! `sluice`: parse the command line, run the command, report the error chain and set the
//! exit code. Each command group lives in its own module under [`cmd`].

mod cmd;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                // openraft warns of routine election races while a chain starts; the
                // chain's own errors are reported by sluice's code.
                .unwrap_or_else(|_| "warn,openraft=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // Gateway workers plan and evaluate untrusted SQL. The intake bounds its nesting
    // and the tests prove 2 MiB suffice; the larger stack is headroom for a release
    // build's different frame sizes, not a guard anything relies on.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`sluice query … | head`) is not a failure.
        Err(e) if cmd::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
