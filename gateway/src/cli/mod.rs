//! Command-line interface: one file per subcommand.

mod config;
mod conformance;
mod correlate;
mod duis;
mod forecast;
mod operator_api;
mod parse;
mod quarantine;
mod report;
mod serve;
mod transform;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// HubGate: a DCC User Gateway for GB smart metering.
#[derive(Debug, Parser)]
#[command(name = "hubgate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse GBCS messages (hex, base64, a .HEX file, a DUIS XML file, or - for stdin) and
    /// print one JSON object per message; verifies signatures and MACs with the key stores.
    Parse(parse::Args),
    /// Check that a Pre-Command carries what the signed request asked for (exit 1 with the
    /// first mismatch).
    Correlate(correlate::Args),
    /// Print, as hex, what the gateway sends for a DUIS Service Request: the Pre-Command of
    /// a critical SRV, the MAC-wrapped Command of a non-critical one.
    Transform(transform::Args),
    /// Run the DCC User Gateway (DUIS over HTTPS) until SIGTERM/SIGINT.
    Serve(serve::Args),
    /// The configuration file.
    #[command(subcommand)]
    Config(config::Command),
    /// Quarantined requests on a running gateway: list, release or delete them.
    #[command(subcommand)]
    Quarantine(quarantine::Command),
    /// Six-month forecasts of Service Requests on a running gateway: submit or show them.
    #[command(subcommand)]
    Forecast(forecast::Command),
    /// Reports read from the gateway's store (the gateway stopped).
    #[command(subcommand)]
    Report(report::Command),
    /// Check the protocol core against the shared conformance corpus and print a summary.
    Conformance(conformance::Args),
    /// DUIS XML-DSig: sign and verify documents.
    #[command(subcommand)]
    Duis(duis::Command),
}

/// Runs the chosen subcommand; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Parse(a) => parse::run(a),
        Command::Duis(c) => duis::run(c),
        Command::Conformance(a) => conformance::run(a),
        Command::Correlate(a) => correlate::run(a),
        Command::Transform(a) => transform::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Config(c) => config::run(c),
        Command::Quarantine(c) => quarantine::run(c),
        Command::Report(c) => report::run(c),
        Command::Forecast(c) => forecast::run(c),
    }
}

/// Reads a file, or standard input for `-`.
pub fn read_input(path: &str) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context as _;
    use std::io::Read as _;
    if path == "-" {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .context("reading standard input")?;
        Ok(v)
    } else {
        std::fs::read(PathBuf::from(path)).with_context(|| format!("reading {path}"))
    }
}
