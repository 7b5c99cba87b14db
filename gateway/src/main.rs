//! `hubgate`: the HubGate gateway binary.
//!
//! Subcommands so far are offline tools built on the protocol core: `parse` (GBCS Parse),
//! `correlate` (does a Pre-Command match its request), `duis sign` / `duis verify` (the DUIS
//! XML-DSig profile) and `conformance` (the protocol core checked against the shared corpus).

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("hubgate: {e:#}");
            std::process::exit(2);
        }
    }
}
