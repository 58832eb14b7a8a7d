//! `hitl-host`: runs the hubspot-hitl component locally: a demo on a simulated HubSpot (`demo`), a
//! local runner with a terminal chat and an HTTP API (`serve`), one-off set-up (`setup`, `register`).

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    let code = cli::run(args);
    // A terminal prompt may still be waiting on stdin in a background thread: leave without it.
    std::process::exit(code);
}
