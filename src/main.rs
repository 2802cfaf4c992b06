//! The `sfb-dr` binary: a small dispatcher over the library.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    // Installed as `kubectl-sfbdr`, the binary is the kubectl plugin.
    let result = if cli::plugin::invoked_as_plugin() {
        cli::plugin::run(cli::plugin::Plugin::parse())
    } else {
        cli::run(cli::Cli::parse())
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(cli::Failure::BadInput(lines)) => {
            for line in lines {
                eprintln!("error: {line}");
            }
            ExitCode::from(2)
        }
        Err(cli::Failure::Findings(code)) => ExitCode::from(code),
        Err(cli::Failure::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
