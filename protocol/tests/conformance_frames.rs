//! Every RTDS GBCS file parses, re-encodes byte for byte, and has the header fields the
//! independent oracle recorded in `gbcs/expected.csv`.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::collections::HashMap;

use hubgate_protocol::gbcs::{self, SignatureField};
use hubgate_protocol::{conformance, hex};

#[test]
fn every_rtds_file_parses_and_reencodes_identically() {
    let root = conformance::require();
    let files = conformance::rtds_files(&root).unwrap();
    let exp = conformance::expected(&root).unwrap();
    assert_eq!(
        files.len(),
        exp.len(),
        "corpus and expected.csv disagree on the file count"
    );
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for f in &files {
        let rel = f
            .strip_prefix(root.join("gbcs/rtds"))
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = hex::decode(&std::fs::read_to_string(f).unwrap()).unwrap();
        let m = gbcs::parse(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(m.encode(), bytes, "{rel}: re-encoding differs");
        let row = &exp[&rel];
        assert_eq!(m.header.cra.name(), row.cra, "{rel}: cra");
        assert_eq!(
            format!("{:04X}", m.header.other_info.message_code),
            row.message_code,
            "{rel}"
        );
        assert_eq!(
            hex::eui(&m.header.originator),
            row.originator,
            "{rel}: originator"
        );
        assert_eq!(
            hex::eui(&m.header.recipient),
            row.recipient,
            "{rel}: recipient"
        );
        let sig = match m.signature {
            SignatureField::Absent => "absent",
            SignatureField::Null => "null",
            SignatureField::Present(_) => "present",
        };
        match row.signature_result.as_str() {
            "absent" | "null" => assert_eq!(sig, row.signature_result, "{rel}"),
            _ => assert_eq!(sig, "present", "{rel}"),
        }
        assert_eq!(
            m.is_mac_wrapped(),
            row.mac_result != "none",
            "{rel}: MAC wrapper"
        );
        let kind = row.kind.as_str();
        if kind == "PRECOMMAND" {
            assert!(m.is_precommand(), "{rel}");
        }
        *kinds
            .entry(match kind {
                "COMMAND" => "COMMAND",
                "PRECOMMAND" => "PRECOMMAND",
                "RESPONSE" => "RESPONSE",
                _ => "ALERT",
            })
            .or_default() += 1;
    }
    println!("parsed and re-encoded {} files: {kinds:?}", files.len());
    assert_eq!(files.len(), 1021);
}

#[test]
fn every_precommand_is_embedded_verbatim_in_its_command() {
    let root = conformance::require();
    let mut pairs = 0;
    for f in conformance::rtds_files(&root).unwrap() {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with("_PRECOMMAND_GBCS.HEX") {
            continue;
        }
        let cmd = f.with_file_name(name.replace("_PRECOMMAND_GBCS.HEX", "_COMMAND_GBCS.HEX"));
        let Ok(cmd_hex) = std::fs::read_to_string(&cmd) else {
            continue;
        };
        let pre = hex::decode(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let cmd = hex::decode(&cmd_hex).unwrap();
        let pm = gbcs::parse(&pre).unwrap();
        let cm = gbcs::parse(&cmd).unwrap();
        assert!(pm.is_precommand());
        assert_eq!(&cm.apdu()[..pre.len()], &pre[..], "{name}");
        assert_eq!(pm.header, cm.header, "{name}");
        pairs += 1;
    }
    println!("{pairs} PRECOMMAND/COMMAND pairs");
    assert!(pairs >= 140, "only {pairs} pairs found");
}

#[test]
fn bit_flips_and_truncations_never_panic() {
    let root = conformance::require();
    for f in conformance::rtds_files(&root).unwrap().iter().step_by(7) {
        let bytes = hex::decode(&std::fs::read_to_string(f).unwrap()).unwrap();
        for i in 0..bytes.len().min(64) {
            let mut b = bytes.clone();
            b[i] ^= 0x80;
            let _ = gbcs::parse(&b).map(|m| m.encode());
            let _ = gbcs::parse(&bytes[..i]);
        }
    }
}
