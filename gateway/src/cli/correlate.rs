//! `hubgate correlate`: check that a Pre-Command carries what the signed request asked for.

use anyhow::Context as _;
use hubgate_protocol::correlate::{CorrelateError, correlate};
use hubgate_protocol::duis::reader;

/// Arguments of `hubgate correlate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The DUIS request (CV 4) that was sent to the Transform service.
    #[arg(long, value_name = "REQ.xml")]
    request: String,
    /// The Pre-Command: a DUIS response carrying PreCommand/GBCSPayload, or the GBCS bytes
    /// as hex or base64 (file, or `-` for standard input).
    #[arg(long, value_name = "FILE")]
    precommand: String,
}

/// Runs the command: exit 0 when the Pre-Command matches, 1 with the first mismatch.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let xml = super::read_input(&args.request)?;
    let request = reader::parse_request(&xml, &Default::default())
        .with_context(|| format!("--request {}: not a valid DUIS request", args.request))?;
    let raw = super::read_input(&args.precommand)?;
    let messages = super::parse::split_messages(&raw)
        .with_context(|| format!("--precommand {}", args.precommand))?;
    let [pre] = messages.as_slice() else {
        anyhow::bail!(
            "--precommand {}: expected exactly one GBCS message, found {}",
            args.precommand,
            messages.len()
        );
    };
    match correlate(&request, pre) {
        Ok(c) => {
            println!(
                "CORRELATED: message code 0x{:04X} ({}); checked {}{}",
                c.message_code,
                c.use_case.unwrap_or("unknown use case"),
                c.checked.join(", "),
                if c.message_code_unchecked {
                    " (no message code known for this SRV: code not checked)"
                } else {
                    ""
                }
            );
            Ok(0)
        }
        Err(CorrelateError::UnknownSrv(s)) => {
            anyhow::bail!("unknown Service Reference Variant {s}")
        }
        Err(e) => {
            println!("MISMATCH: {e}");
            Ok(1)
        }
    }
}
