//! `hubgate config …`: the configuration file.

use hubgate_gateway::config::Config;

/// `hubgate config …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print a commented configuration file holding every default.
    Example,
}

/// Runs `hubgate config …`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Example => {
            print!("{}", Config::example_toml());
            Ok(0)
        }
    }
}
