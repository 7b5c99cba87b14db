//! `hubgate conformance`: the protocol core checked end to end against the shared conformance
//! corpus, with a summary a person can read. Exit 0 only when every check agrees with the
//! independent oracle's recorded verdicts (`gbcs/expected.csv`) and the XML-DSig vector table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::duis::{dsig, reader, xml};
use hubgate_protocol::gbcs::{self, auth};
use hubgate_protocol::smki::Store;
use hubgate_protocol::{conformance, hex};

/// Arguments of `hubgate conformance`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The conformance corpus (default: $HUBGATE_CONFORMANCE, else ../shared/conformance).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

/// Verdicts expected for the DUIS signing vectors (the oracle's table).
const DSIG_EXPECTED: &[(&str, &str)] = &[
    ("ECS52_11.2_SUCCESS_RESPONSE_DUIS.XML", "valid"),
    ("message.xml", "valid"),
    ("read-inventory-response-4g.xml", "valid"),
    ("read-inventory-response-5.4.xml", "valid"),
    ("readfw-response-resigned.xml", "valid"),
    ("readfw-response.xml", "valid"),
    ("readfw-response-badsignature.xml", "bad-signature"),
    ("readfw-response-invalid.xml", "digest-mismatch"),
    ("readfw-response-no-serial.xml", "missing-keyinfo"),
    ("readfw-response-nonexist-serial.xml", "unknown-certificate"),
    (
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS-signed.XML",
        "placeholder",
    ),
    ("ECS50_9.1_SUCCESS_REQUEST_DUIS.XML", "placeholder"),
    ("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML", "unsigned"),
    (
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS-invalid.XML",
        "unsigned",
    ),
    (
        "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS-nonexist-businessid.XML",
        "unsigned",
    ),
    ("acknowledgement-error.xml", "unsigned"),
    ("message2.xml", "unsigned"),
    ("readfw-response-no-signature.xml", "unsigned"),
    ("duis-xxe.xml", "doctype"),
];

/// Runs the checks and prints the summary.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let root = match args.root {
        Some(r) => r,
        None => conformance::root().context(
            "the shared conformance corpus was not found: put it at ../shared/conformance or set HUBGATE_CONFORMANCE",
        )?,
    };
    let started = Instant::now();
    let store = Store::load_conformance(&root).context("loading the conformance key stores")?;
    println!(
        "HubGate {} protocol conformance, corpus {}",
        hubgate_protocol::VERSION,
        root.display()
    );
    println!(
        "key store: {} entries, {} skipped files",
        store.len(),
        store.warnings().len()
    );
    let mut failures = Vec::new();
    gbcs_checks(&root, &store, &mut failures)?;
    dsig_checks(&root, &store, &mut failures)?;
    template_checks(&root, &mut failures)?;
    println!("finished in {:.2} s", started.elapsed().as_secs_f64());
    if failures.is_empty() {
        println!("RESULT: PASS");
        Ok(0)
    } else {
        for f in failures.iter().take(50) {
            println!("  FAIL {f}");
        }
        println!("RESULT: FAIL ({} disagreements)", failures.len());
        Ok(1)
    }
}

fn gbcs_checks(root: &Path, store: &Store, failures: &mut Vec<String>) -> anyhow::Result<()> {
    let expected = conformance::expected(root).context("reading gbcs/expected.csv")?;
    let cache = DerivedKeyCache::default();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let files = conformance::rtds_files(root).context("listing gbcs/rtds")?;
    for f in &files {
        let rel = conformance::rtds_key(root, f);
        let bytes =
            hex::decode(&std::fs::read_to_string(f)?).with_context(|| format!("{rel}: not hex"))?;
        let m = match gbcs::parse(&bytes) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{rel}: parse error: {e}"));
                continue;
            }
        };
        *counts.entry("parsed").or_default() += 1;
        if m.encode() == bytes {
            *counts.entry("re-encoded identically").or_default() += 1;
        } else {
            failures.push(format!("{rel}: re-encoding differs"));
        }
        let Some(exp) = expected.get(&rel) else {
            failures.push(format!("{rel}: not in expected.csv"));
            continue;
        };
        let sig = auth::verify_signature(&m, store);
        if sig.name() != exp.signature_result {
            failures.push(format!(
                "{rel}: signature {} (oracle: {})",
                sig.name(),
                exp.signature_result
            ));
        } else if matches!(sig, auth::SignatureVerdict::Verified { .. }) {
            *counts.entry("signatures verified").or_default() += 1;
        }
        let mac = auth::verify_mac(&m, store, &auth::TEST_ACB, &cache)?;
        if mac.name() != exp.mac_result {
            failures.push(format!(
                "{rel}: MAC {} (oracle: {})",
                mac.name(),
                exp.mac_result
            ));
        } else if matches!(mac, auth::MacVerdict::Valid { .. }) {
            *counts.entry("MACs valid").or_default() += 1;
        }
        let blocks = auth::decrypt_blocks(&m, store, &cache)?;
        let decrypted = blocks.iter().filter(|b| b.plaintext().is_some()).count();
        if decrypted != exp.decrypted_blocks {
            failures.push(format!(
                "{rel}: {decrypted} blocks decrypted (oracle: {})",
                exp.decrypted_blocks
            ));
        }
        *counts.entry("encrypted blocks decrypted").or_default() += decrypted;
    }
    println!("GBCS: {} RTDS files", files.len());
    for (k, v) in &counts {
        println!("  {k:<28} {v}");
    }
    Ok(())
}

fn dsig_checks(root: &Path, store: &Store, failures: &mut Vec<String>) -> anyhow::Result<()> {
    let dir = root.join("duis/signing-vectors");
    let mut agreed = 0;
    for (file, want) in DSIG_EXPECTED {
        let bytes = std::fs::read(dir.join(file)).with_context(|| format!("reading {file}"))?;
        let got = match dsig::verify(&bytes, store) {
            Ok(_) => "valid",
            Err(dsig::DsigError::BadSignature { .. }) => "bad-signature",
            Err(dsig::DsigError::DigestMismatch) => "digest-mismatch",
            Err(dsig::DsigError::MissingKeyInfo) => "missing-keyinfo",
            Err(dsig::DsigError::UnknownCertificate(_)) => "unknown-certificate",
            Err(dsig::DsigError::Placeholder { .. }) => "placeholder",
            Err(dsig::DsigError::Unsigned) => "unsigned",
            Err(dsig::DsigError::Xml(xml::XmlError::Doctype)) => "doctype",
            Err(e) => {
                failures.push(format!("{file}: unexpected error {e}"));
                continue;
            }
        };
        if got == *want {
            agreed += 1;
        } else {
            failures.push(format!("{file}: {got} (expected {want})"));
        }
    }
    println!(
        "XML-DSig: {agreed}/{} signing vectors give the expected verdict",
        DSIG_EXPECTED.len()
    );
    Ok(())
}

fn template_checks(root: &Path, failures: &mut Vec<String>) -> anyhow::Result<()> {
    let dir = root.join("duis/templates");
    let mut read = 0;
    let mut total = 0;
    for f in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let f = f?.path();
        total += 1;
        let bytes = std::fs::read(&f)?;
        match reader::parse_request(&bytes, &xml::Limits::default()) {
            Ok(_) => read += 1,
            Err(e) => failures.push(format!("{}: {e}", f.display())),
        }
    }
    println!("DUIS: {read}/{total} request templates read into the typed model");
    Ok(())
}
