//! `hitl-host`: runs the hubspot-hitl component locally (subcommands arrive in a later pass).

use clap::{CommandFactory, Parser};

/// A wasmtime host for the hubspot-hitl component: tests, benchmarks, the demo and a local runner.
#[derive(Parser, Debug)]
#[command(name = "hitl-host", version, about)]
struct Cli {}

fn main() -> std::io::Result<()> {
    Cli::parse();
    Cli::command().print_help()
}
