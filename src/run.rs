//! Wiring: turns a parsed command line into a running service or mount.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the command; errors are printed with their whole cause chain.
pub fn main(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => crate::server::run_cli(&args),
        Command::Mount(_args) => Err(anyhow::anyhow!("mount: not wired yet")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vodfs: {e:#}");
            ExitCode::FAILURE
        }
    }
}
