//! Parse & Correlate on real data: each critical DUIS template (CV 4) against the RTDS
//! Pre-Command produced for the same request, and against Pre-Commands for other requests.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::path::Path;

use hubgate_protocol::correlate::{CorrelateError, correlate};
use hubgate_protocol::duis::model::request::Request;
use hubgate_protocol::duis::reader;
use hubgate_protocol::{conformance, hex};

fn pairs(root: &Path) -> Vec<(String, Request, Vec<u8>)> {
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(root.join("duis/templates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    for name in names {
        let Some(stem) = name.strip_suffix("_REQUEST_DUIS.XML") else {
            continue;
        };
        let mut parts = stem.splitn(3, '_');
        let (Some(uc), Some(srv)) = (parts.next(), parts.next()) else {
            continue;
        };
        let pre = root.join(format!("gbcs/rtds/{srv}_{uc}/{stem}_PRECOMMAND_GBCS.HEX"));
        let Ok(pre_hex) = std::fs::read_to_string(&pre) else {
            continue;
        };
        let xml = std::fs::read(root.join("duis/templates").join(&name)).unwrap();
        let req = reader::parse_request(&xml, &Default::default()).unwrap();
        out.push((name, req, hex::decode(&pre_hex).unwrap()));
    }
    out
}

#[test]
fn templates_correlate_with_their_rtds_precommands() {
    let root = conformance::require();
    let pairs = pairs(&root);
    let mut ok = 0;
    let mut key_parameters = 0;
    let mut cert_mismatches = Vec::new();
    for (name, req, pre) in &pairs {
        match correlate(req, pre) {
            Ok(c) => {
                ok += 1;
                for field in ["counter", "target", "originator"] {
                    assert!(c.checked.contains(&field), "{name}: {field} not checked");
                }
                if c.checked
                    .iter()
                    .any(|f| *f == "firmware hash" || *f == "other device ID")
                {
                    key_parameters += 1;
                }
            }
            // The public templates and the RTDS corpus were made with different replacement
            // certificates for 6.15.1 (only the certification-path certificate is shared), so
            // correlation must reject these pairs, and say why.
            Err(CorrelateError::Mismatch(m)) if m.field.starts_with("replacement") => {
                assert!(name.contains("_6.15.1_"), "{name}: {m}");
                cert_mismatches.push(name.clone());
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
    println!(
        "{ok} of {} template/Pre-Command pairs correlate ({key_parameters} with a key parameter \
         found in the payload); {} 6.15.1 pairs rejected for differing replacement certificates",
        pairs.len(),
        cert_mismatches.len()
    );
    assert!(ok >= 80, "only {ok} pairs correlate");
    assert!(
        key_parameters >= 5,
        "key parameters checked on only {key_parameters} pairs"
    );
    assert_eq!(ok + cert_mismatches.len(), pairs.len());
}

fn one(root: &Path, template: &str) -> (Request, Vec<u8>) {
    let (_, r, p) = pairs(root)
        .into_iter()
        .find(|(n, _, _)| n == template)
        .expect(template);
    (r, p)
}

#[test]
fn each_kind_of_mismatch_is_reported() {
    let root = conformance::require();
    let (req, pre) = one(&root, "ECS42_7.1_SUCCESS_REQUEST_DUIS.XML");
    correlate(&req, &pre).unwrap();

    let field = |r: &Request, p: &[u8]| match correlate(r, p) {
        Err(CorrelateError::Mismatch(m)) => m.field,
        other => panic!("expected a mismatch, got {other:?}"),
    };
    let mut r = req.clone();
    r.header.request_id.counter += 1;
    assert_eq!(field(&r, &pre), "counter");
    let mut r = req.clone();
    r.header.request_id.target[7] ^= 1;
    assert_eq!(field(&r, &pre), "target device");
    let mut r = req.clone();
    r.header.request_id.originator[7] ^= 1;
    assert_eq!(field(&r, &pre), "originator");

    // A Pre-Command for another service (1.6 Update Payment Mode) given this request's
    // originator, target and counter.
    let (_, mut other) = one(&root, "ECS02_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML");
    let id = &req.header.request_id;
    other[3..11].copy_from_slice(&id.counter.to_be_bytes());
    other[12..20].copy_from_slice(&id.originator);
    other[21..29].copy_from_slice(&id.target);
    assert_eq!(field(&req, &other), "message code");

    // Update Payment Mode: the body decides between ECS02 (credit) and ECS03 (prepayment).
    let (credit_req, credit_pre) =
        one(&root, "ECS02_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML");
    correlate(&credit_req, &credit_pre).unwrap();
    let (prepay_req, _) = one(&root, "ECS03_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML");
    let mut r = prepay_req.clone();
    r.header = credit_req.header.clone();
    assert_eq!(field(&r, &credit_pre), "message code");

    // A signed or MAC-wrapped message is not a Pre-Command.
    let cmd = std::fs::read_to_string(
        root.join("gbcs/rtds/7.1_ECS42/ECS42_7.1_SUCCESS_COMMAND_GBCS.HEX"),
    )
    .unwrap();
    assert_eq!(field(&req, &hex::decode(&cmd).unwrap()), "form");
    assert!(matches!(
        correlate(&req, &[0xdf, 0x09]),
        Err(CorrelateError::Parse(_))
    ));
}

#[test]
fn a_changed_key_parameter_is_caught() {
    let root = conformance::require();
    let (_, req, pre) = pairs(&root)
        .into_iter()
        .find(|(n, _, _)| n.starts_with("CS06_11.3_IMMEDIATE"))
        .expect("CS06 11.3 template");
    correlate(&req, &pre).unwrap();
    let mut r = req.clone();
    let hubgate_protocol::duis::model::body::Body::ActivateFirmware(b) = &mut r.body else {
        panic!("11.3 body is ActivateFirmware")
    };
    b.firmware_hash[0] ^= 0xff;
    match correlate(&r, &pre) {
        Err(CorrelateError::Mismatch(m)) => assert_eq!(m.field, "firmware hash"),
        other => panic!("expected a firmware hash mismatch, got {other:?}"),
    }
}
