//! `hubgate`: the HubGate gateway binary.
//!
//! `serve` runs the gateway; the other subcommands are offline tools built on the protocol
//! core: `parse` (GBCS Parse), `correlate` (does a Pre-Command match its request), `transform`
//! (the GBCS a request becomes), `duis sign` / `duis verify` (the DUIS XML-DSig profile) and
//! `conformance` (the protocol core checked against the shared corpus).

mod cli;

use clap::Parser;

/// mimalloc instead of the system allocator: every request builds and drops an XML tree of a
/// few hundred small nodes on the HTTP worker threads, and with glibc malloc allocation and
/// freeing took about a fifth of the gateway's CPU under load (measured with `perf` on the
/// ingress benchmark); mimalloc's per-thread free lists make them much cheaper.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
