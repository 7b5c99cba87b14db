//! The GBCS payload decoder against the RTDS corpus: every content decodes to the kind its
//! first bytes announce, re-encodes byte for byte, and has exactly the number of encrypted
//! blocks `expected.csv` lists. Plus malformed inputs: truncations, corruptions, random bytes
//! and deep nesting must give errors, never panics.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::dlms::{Apdu, LongInvokeId};
use hubgate_protocol::gbcs::payload::gbz::{ComponentBody, GbzBody};
use hubgate_protocol::gbcs::payload::{
    self, BlockSource, Context, Payload, PayloadError, PayloadKind, SECURITY_HEADER, TAG_LEN,
};
use hubgate_protocol::gbcs::{self, Cra};
use hubgate_protocol::{conformance, hex};

/// One RTDS file: path relative to `rtds/` and the decoded message bytes.
struct Rtds {
    path: String,
    bytes: Vec<u8>,
}

fn collect(dir: &Path, root: &Path, out: &mut Vec<Rtds>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "HEX") {
            let text = std::fs::read_to_string(&p).unwrap();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push(Rtds {
                path: rel,
                bytes: hex::decode(&text).unwrap(),
            });
        }
    }
}

fn corpus() -> Vec<Rtds> {
    let root = conformance::require().join("gbcs/rtds");
    let mut v = Vec::new();
    collect(&root, &root, &mut v);
    v
}

/// `path` → `decrypted_blocks` from expected.csv.
fn expected_blocks() -> HashMap<String, usize> {
    conformance::expected(&conformance::require())
        .unwrap()
        .into_values()
        .map(|r| (r.path, r.decrypted_blocks))
        .collect()
}

/// The kind §4.6 assigns to a content from its first bytes.
fn kind_by_first_bytes(content: &[u8]) -> Option<PayloadKind> {
    match content {
        [0xd9, ..] => Some(PayloadKind::DlmsAccessRequest),
        [0xda, ..] => Some(PayloadKind::DlmsAccessResponse),
        [0x0f, ..] => Some(PayloadKind::DlmsDataNotification),
        [0x01, 0x09, ..] => Some(PayloadKind::Gbz),
        [0x30 | 0x04 | 0x05 | 0x02, ..] => Some(PayloadKind::Asn1),
        _ => None,
    }
}

/// Checks a block's ranges against the content: the length field holds the block length,
/// the header is `31 00000000`, the tag is 12 bytes and everything is in bounds and adjacent.
fn check_block(content: &[u8], b: &payload::EncryptedBlock) -> Result<(), String> {
    let lf = content
        .get(b.length_field.clone())
        .ok_or("length field out of bounds")?;
    let declared = match b.source {
        BlockSource::GbzComponent { .. } => {
            let a: [u8; 2] = lf
                .try_into()
                .map_err(|_| "GBZ length field is not 2 bytes")?;
            usize::from(u16::from_be_bytes(a))
        }
        BlockSource::DlmsOctetString => match lf {
            [n] if *n < 0x80 => usize::from(*n),
            [0x81, n] => usize::from(*n),
            [0x82, a, b] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => return Err(format!("odd A-XDR length field {lf:02x?}")),
        },
    };
    if b.length_field.end != b.security_header.start
        || b.security_header.end != b.ciphertext.start
        || b.ciphertext.end != b.tag.start
    {
        return Err("ranges are not adjacent".into());
    }
    if declared != b.range().len() {
        return Err(format!(
            "length field says {declared}, block is {}",
            b.range().len()
        ));
    }
    if content.get(b.security_header.clone()) != Some(&SECURITY_HEADER[..]) {
        return Err("no 31 00000000 at the security header".into());
    }
    if b.tag.len() != TAG_LEN || b.tag.end > content.len() {
        return Err("bad tag range".into());
    }
    Ok(())
}

#[test]
fn payload_rtds_corpus_decodes_reencodes_and_finds_blocks() {
    let files = corpus();
    let expected = expected_blocks();
    assert_eq!(files.len(), 1021, "RTDS file count");
    let mut failures = Vec::new();
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut blocks_total = 0;
    let mut blocks_dlms = 0;
    let mut blocks_gbz = 0;
    let mut files_with_blocks = 0;
    let mut reencoded = 0;
    let mut invoke_ids_checked = 0;
    let mut gbz_alerts = 0;
    let mut asn1_non_minimal = 0;
    for f in &files {
        let msg = match gbcs::parse(&f.bytes) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{}: frame: {e}", f.path));
                continue;
            }
        };
        let content = msg.content;
        let Some(want) = kind_by_first_bytes(content) else {
            failures.push(format!(
                "{}: unexpected first bytes {:02x?}",
                f.path,
                &content[..2]
            ));
            continue;
        };
        let p = match payload::decode_with(content, Context::for_message(&msg)) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{}: payload: {e}", f.path));
                continue;
            }
        };
        if p.kind() != want {
            failures.push(format!(
                "{}: kind {:?}, expected {want:?}",
                f.path,
                p.kind()
            ));
        }
        *per_kind.entry(p.kind().name()).or_default() += 1;

        if p.encode() == content {
            reencoded += 1;
        } else {
            failures.push(format!("{}: re-encoding differs", f.path));
        }

        if let Some(id) = p.invoke_id() {
            invoke_ids_checked += 1;
            if !id.matches_counter(msg.header.counter) {
                failures.push(format!(
                    "{}: invoke id {:08x} does not match counter {:x}",
                    f.path, id.0, msg.header.counter
                ));
            }
        }
        match &p {
            Payload::Gbz(g) if g.alert.is_some() => gbz_alerts += 1,
            Payload::Asn1(n) if !n.is_der() => asn1_non_minimal += 1,
            _ => {}
        }

        let blocks = p.encrypted_blocks();
        let want_blocks = expected.get(&f.path).copied();
        if want_blocks != Some(blocks.len()) {
            failures.push(format!(
                "{}: {} blocks, expected.csv says {want_blocks:?}",
                f.path,
                blocks.len()
            ));
        }
        for b in &blocks {
            if let Err(e) = check_block(content, b) {
                failures.push(format!("{}: block {b:?}: {e}", f.path));
            }
            match b.source {
                BlockSource::DlmsOctetString => blocks_dlms += 1,
                BlockSource::GbzComponent { .. } => blocks_gbz += 1,
            }
        }
        blocks_total += blocks.len();
        files_with_blocks += usize::from(!blocks.is_empty());

        let j = p.to_json();
        if j["kind"] != p.kind().name() {
            failures.push(format!("{}: JSON kind {}", f.path, j["kind"]));
        }
    }
    println!("payload corpus: {} files", files.len());
    for (k, n) in &per_kind {
        println!("  {k:<24} {n}");
    }
    println!("  GBZ alerts               {gbz_alerts}");
    println!("  ASN.1 with long lengths  {asn1_non_minimal} (non-minimal length form kept)");
    println!("  re-encoded identically   {reencoded}");
    println!("  DLMS invoke-ids checked  {invoke_ids_checked}");
    println!(
        "  encrypted blocks         {blocks_total} in {files_with_blocks} files ({blocks_dlms} DLMS, {blocks_gbz} GBZ)"
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    let counts: Vec<(&str, usize)> = per_kind.iter().map(|(k, n)| (*k, *n)).collect();
    assert_eq!(
        counts,
        [
            ("asn1", 155),
            ("dlms-access-request", 302),
            ("dlms-access-response", 225),
            ("dlms-data-notification", 48),
            ("gbz", 291),
        ]
    );
    assert_eq!(blocks_total, 47);
    assert_eq!(files_with_blocks, 32);
    assert_eq!(reencoded, files.len());
    assert_eq!(invoke_ids_checked, 575);
}

/// Contents of a few corpus files covering every kind and the hard cases (encrypted DLMS and
/// GBZ blocks, compact arrays, GBZ alert forms, non-minimal DER lengths).
fn samples() -> Vec<(String, Vec<u8>, Context)> {
    const PICK: &[&str] = &[
        "ECS17b_4.1.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX",
        "ECS17b_4.1.1_ERROR_COMMAND_GBCS.HEX",
        "ECS68_NA_8F0A_SINGLE_ALERT_GBCS.HEX",
        "ECS35a_6.13_SUCCESS_RESPONSE_GBCS.HEX",
        "GCS18_4.10_SUCCESS_RESPONSE_GBCS.HEX",
        "GCS53_NA_8F0A_ALERT_GBCS.HEX",
        "GCS01a_1.1.1_8F66_FUTURE_DATED_BLOCK_SUCCESS_ALERT_PUBLISH_BLOCK_THRESHOLDS_GBCS.HEX",
        "MIIWA-ZigBee_NA_81A0_ALERT_GBCS.HEX",
        "GCS05_2.1_FUTURE_DATED_SUCCESS_COMMAND_GBCS.HEX",
        "CS06_11.3_8F66_FUTURE_DATED_SUCCESS_ALERT_GBCS.HEX",
        "CS02c_6.17_ERROR_RESPONSE_GBCS.HEX",
    ];
    let mut out = Vec::new();
    for f in corpus() {
        if PICK.iter().any(|p| f.path.ends_with(p)) {
            let m = gbcs::parse(&f.bytes).unwrap();
            out.push((f.path.clone(), m.content.to_vec(), Context::for_message(&m)));
        }
    }
    // The 8F66 ASN.1 alert name matches several files; keep the first of each.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0.rsplit('/').next() == b.0.rsplit('/').next());
    assert!(
        out.len() >= PICK.len(),
        "sample files missing: got {}",
        out.len()
    );
    let long_der = corpus()
        .into_iter()
        .map(|f| gbcs::parse(&f.bytes).unwrap().content.to_vec())
        .find(|c| matches!(payload::decode(c), Ok(Payload::Asn1(n)) if !n.is_der()))
        .unwrap();
    out.push((
        "ASN.1 with long DER lengths".into(),
        long_der,
        Context::new(Cra::Command),
    ));
    out
}

#[test]
fn payload_truncations_are_errors_at_every_offset() {
    let mut checked = 0;
    for (name, content, ctx) in samples() {
        assert!(
            payload::decode_with(&content, ctx).is_ok(),
            "{name} decodes"
        );
        for cut in 0..content.len() {
            let r = payload::decode_with(&content[..cut], ctx);
            assert!(r.is_err(), "{name}: prefix of {cut} bytes decoded");
            if let Err(e) = r
                && let Some(o) = e.offset()
            {
                assert!(
                    o <= cut,
                    "{name}: error offset {o} beyond the {cut} bytes given: {e}"
                );
            }
            checked += 1;
        }
        // One extra byte is always trailing garbage.
        let mut longer = content.clone();
        longer.push(0);
        assert!(
            matches!(
                payload::decode_with(&longer, ctx),
                Err(PayloadError::Trailing { .. })
            ),
            "{name}: trailing byte accepted"
        );
    }
    println!("truncations checked: {checked}");
}

#[test]
fn payload_corrupted_never_panic() {
    let mut decoded = 0usize;
    let mut rejected = 0usize;
    for (_, content, ctx) in samples() {
        for i in 0..content.len() {
            for v in [
                0x00,
                0x01,
                0x09,
                0x13,
                0x7f,
                0x80,
                0x81,
                0x82,
                0x84,
                0xff,
                content[i] ^ 0x02,
            ] {
                let mut m = content.clone();
                m[i] = v;
                match payload::decode_with(&m, ctx) {
                    Ok(p) => {
                        decoded += 1;
                        // Whatever decodes must re-encode to the same bytes and render.
                        assert_eq!(p.encode(), m);
                        let _ = p.to_json();
                        let _ = p.encrypted_blocks();
                    }
                    Err(_) => rejected += 1,
                }
            }
        }
    }
    println!("corruptions: {decoded} still decode, {rejected} rejected");
}

#[test]
fn payload_random_inputs_never_panic() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let prefixes: [&[u8]; 6] = [&[0xd9], &[0xda], &[0x0f], &[0x01, 0x09], &[0x30], &[]];
    for i in 0..60_000 {
        let mut v = prefixes[i % prefixes.len()].to_vec();
        let n = (next() % 48) as usize;
        for _ in 0..n {
            let r = next();
            // Bias towards small values, which are plausible tags, counts and lengths.
            v.push(if r & 3 == 0 {
                (r >> 8) as u8
            } else {
                ((r >> 8) % 28) as u8
            });
        }
        let ctx = if i % 2 == 0 {
            Context::new(Cra::Alert)
        } else {
            Context::default()
        };
        if let Ok(p) = payload::decode_with(&v, ctx) {
            assert_eq!(p.encode(), v);
            let _ = p.to_json();
        }
    }
}

#[test]
fn payload_hand_made_malformed_inputs() {
    let cases: &[(&str, &[u8])] = &[
        ("empty", &[]),
        ("unknown Data tag 07", &[0x0f, 0x20, 0, 0, 1, 0x00, 0x07]),
        (
            "unknown Data tag 0e",
            &[0x0f, 0x20, 0, 0, 1, 0x00, 0x0e, 0x00],
        ),
        ("boolean 01", &[0x0f, 0x20, 0, 0, 1, 0x00, 0x03, 0x01]),
        (
            "octet-string overrun",
            &[0x0f, 0x20, 0, 0, 1, 0x00, 0x09, 0x05, 1, 2],
        ),
        (
            "non-minimal A-XDR length",
            &[0x0f, 0x20, 0, 0, 1, 0x00, 0x09, 0x81, 0x01, 0xaa],
        ),
        (
            "indefinite A-XDR length",
            &[0x0f, 0x20, 0, 0, 1, 0x00, 0x09, 0x80],
        ),
        (
            "huge array count",
            &[
                0x0f, 0x20, 0, 0, 1, 0x00, 0x01, 0x84, 0xff, 0xff, 0xff, 0xff,
            ],
        ),
        (
            "date-time of 5 bytes",
            &[0x0f, 0x20, 0, 0, 1, 0x05, 1, 2, 3, 4, 5, 0x00],
        ),
        (
            "invalid utf8",
            &[0x0f, 0x20, 0, 0, 1, 0x00, 0x0c, 0x01, 0xff],
        ),
        (
            "trailing after notification",
            &[0x0f, 0x20, 0, 0, 1, 0x00, 0x00, 0x00],
        ),
        (
            "request spec choice 6",
            &[
                0xd9, 0x20, 0, 0, 1, 0x00, 0x01, 0x06, 0, 1, 0, 0, 1, 0, 0, 255, 2, 0x01, 0x00,
            ],
        ),
        (
            "request data count mismatch",
            &[
                0xd9, 0x20, 0, 0, 1, 0x00, 0x01, 0x01, 0, 1, 0, 0, 1, 0, 0, 255, 2, 0x02, 0x00,
                0x00,
            ],
        ),
        (
            "response optional flag 02",
            &[0xda, 0x20, 0, 0, 1, 0x00, 0x02, 0x00, 0x00],
        ),
        (
            "response spec count mismatch",
            &[0xda, 0x20, 0, 0, 1, 0x00, 0x00, 0x01, 0x00, 0x00],
        ),
        (
            "response spec choice 4",
            &[
                0xda, 0x20, 0, 0, 1, 0x00, 0x00, 0x01, 0x00, 0x01, 0x04, 0x00,
            ],
        ),
        (
            "compact array of nulls with contents",
            &[0x0f, 0x20, 0, 0, 1, 0x00, 0x13, 0x00, 0x01, 0xaa],
        ),
        (
            "compact array nested",
            &[0x0f, 0x20, 0, 0, 1, 0x00, 0x13, 0x13, 0x00],
        ),
        (
            "compact array partial element",
            &[0x0f, 0x20, 0, 0, 1, 0x00, 0x13, 0x12, 0x03, 0, 1, 2],
        ),
        (
            "compact array of zero-size arrays",
            &[
                0x0f, 0x20, 0, 0, 1, 0x00, 0x13, 0x01, 0xff, 0xff, 0x01, 0xff, 0xff, 0x00, 0x00,
            ],
        ),
        (
            "GBZ unknown control bit",
            &[
                0x01, 0x09, 0x01, 0x05, 0x07, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
            ],
        ),
        (
            "GBZ last bit missing",
            &[
                0x01, 0x09, 0x01, 0x00, 0x07, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
            ],
        ),
        (
            "GBZ last bit early",
            &[
                0x01, 0x09, 0x02, 0x01, 0x07, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x07, 0x00,
                0x00, 0x03, 0, 0, 0,
            ],
        ),
        (
            "GBZ component overrun",
            &[
                0x01, 0x09, 0x01, 0x01, 0x07, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00,
            ],
        ),
        (
            "GBZ short ZCL header",
            &[0x01, 0x09, 0x01, 0x01, 0x07, 0x00, 0x00, 0x02, 0x00, 0x00],
        ),
        (
            "GBZ encrypted, wrong security header",
            &[
                0x01, 0x09, 0x01, 0x03, 0x07, 0x02, 0x00, 0x18, 0x00, 0x00, 0x09, 0x00, 0x07, 0x00,
                0x11, 0x11, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
            ],
        ),
        (
            "GBZ encrypted, ciphered length disagrees",
            &[
                0x01, 0x09, 0x01, 0x03, 0x07, 0x02, 0x00, 0x18, 0x00, 0x00, 0x09, 0x00, 0x07, 0x00,
                0x12, 0x31, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
            ],
        ),
        ("GBZ wrong profile", &[0x01, 0x0a, 0x00]),
        ("ASN.1 indefinite length", &[0x30, 0x80, 0x00, 0x00]),
        ("ASN.1 overrun", &[0x30, 0x03, 0x02, 0x01]),
        ("ASN.1 trailing", &[0x05, 0x00, 0x05, 0x00]),
        ("ASN.1 non-minimal INTEGER", &[0x02, 0x02, 0x00, 0x01]),
        ("ASN.1 constructed INTEGER", &[0x22, 0x00]),
        ("ASN.1 five-byte length", &[0x04, 0x85, 0, 0, 0, 0, 1, 0xaa]),
    ];
    for (name, bytes) in cases {
        let r = payload::decode(bytes);
        assert!(
            r.is_err(),
            "{name}: accepted {:?}",
            r.ok().map(|p| p.kind())
        );
        if let Err(e) = r {
            println!("{name:<40} {e}");
        }
    }
    // The MIIWA-style and future-dated alert forms only apply to alerts.
    let miiwa = [
        0x01, 0x09, 0x01, 0x81, 0xa0, 0x1c, 0x37, 0x4a, 0x80, 0x00, 0x05,
    ];
    assert!(payload::decode(&miiwa).is_err());
    let p = payload::decode_with(&miiwa, Context::new(Cra::Alert)).unwrap();
    assert!(matches!(&p, Payload::Gbz(g) if g.body == GbzBody::AlertData(&[0x00, 0x05])));
}

#[test]
fn payload_nesting_is_bounded() {
    let mut deep = vec![0x0f, 0x20, 0, 0, 1, 0x00];
    for _ in 0..200 {
        deep.extend_from_slice(&[0x02, 0x01]);
    }
    deep.push(0x00);
    assert!(matches!(
        payload::decode(&deep),
        Err(PayloadError::TooDeep { .. })
    ));

    let mut der = Vec::new();
    for i in 0..200usize {
        let remaining = 199 - i;
        der.extend_from_slice(&[0x30, 0x82]);
        der.extend_from_slice(&u16::try_from(remaining * 4).unwrap().to_be_bytes());
    }
    assert!(matches!(
        payload::decode(&der),
        Err(PayloadError::TooDeep { .. })
    ));

    // Compact-array type descriptions nest too.
    let mut ca = vec![0x0f, 0x20, 0, 0, 1, 0x00, 0x13];
    for _ in 0..200 {
        ca.extend_from_slice(&[0x02, 0x01]);
    }
    ca.extend_from_slice(&[0x11, 0x00]);
    assert!(matches!(
        payload::decode(&ca),
        Err(PayloadError::TooDeep { .. })
    ));
}

#[test]
fn payload_worked_example_structure() {
    // ECS17b error response and command (PROTOCOLS.md §4.8 worked example, counter 1001).
    let resp = hex::decode("da200003e900000100010301").unwrap();
    let p = payload::decode(&resp).unwrap();
    assert_eq!(p.invoke_id(), Some(LongInvokeId::for_counter(1001)));
    let Payload::Dlms(Apdu::AccessResponse(r)) = &p else {
        panic!("not an access-response")
    };
    assert_eq!(r.data, vec![Data::Null]);
    assert_eq!(r.specifications.len(), 1);
    assert_eq!(r.specifications[0].choice(), 3);
    assert_eq!(r.specifications[0].result(), 1);
    let j = p.to_json();
    assert_eq!(j["invoke_id"], 1001);
    assert_eq!(j["specifications"][0]["result_name"], "hardware-fault");

    let cmd = hex::decode(
        "d9200003e9000103001e00002b0208ff0101020201010205120001090600005e2c220a0f021200000202160000\
         010102021602020509090400000000000003e9090890b3d51f30010000090800db1234567890a00900020216\
         0202020901020900",
    )
    .unwrap();
    let p = payload::decode(&cmd).unwrap();
    let j = p.to_json();
    assert_eq!(j["kind"], "dlms-access-request");
    assert_eq!(j["specifications"][0]["request"], "action");
    assert_eq!(j["specifications"][0]["class_id"], 30);
    assert_eq!(j["specifications"][0]["instance_id"], "0.0.43.2.8.255");
    assert_eq!(j["specifications"][0]["method_id"], 1);
    assert_eq!(p.encode(), cmd);
}

#[test]
fn payload_decrypted_plaintext_is_shown_in_place() {
    let f = corpus()
        .into_iter()
        .find(|f| {
            f.path
                .ends_with("ECS17b_4.1.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX")
        })
        .unwrap();
    let m = gbcs::parse(&f.bytes).unwrap();
    let p = payload::decode_with(m.content, Context::for_message(&m)).unwrap();
    let blocks = p.encrypted_blocks();
    assert_eq!(blocks.len(), 1);
    let b = &blocks[0];
    // Offsets the independent checker reports for this file, less the content's start.
    let start = m.regions.content.start;
    assert_eq!(b.length_field, 123 - start..124 - start);
    assert_eq!(b.ciphertext, 129 - start..155 - start);
    assert_eq!(b.tag, 155 - start..167 - start);
    // Its plaintext, as the checker decrypts it.
    let plain = hex::decode("02010204060000000a02020f00161e060000000a02020f001620").unwrap();
    let j = p.to_json_with(&[(b.ciphertext.clone(), plain.clone())]);
    let text = j.to_string();
    assert!(
        text.contains(&hex::encode(&plain)),
        "plaintext missing: {text}"
    );
    assert!(
        text.contains("\"plaintext_data\""),
        "plaintext not decoded: {text}"
    );
    assert!(!p.to_json().to_string().contains("plaintext"));
}

#[test]
fn payload_gbz_block_ranges_match_the_checker() {
    let f = corpus()
        .into_iter()
        .find(|f| f.path.ends_with("GCS18_4.10_SUCCESS_RESPONSE_GBCS.HEX"))
        .unwrap();
    let m = gbcs::parse(&f.bytes).unwrap();
    let p = payload::decode_with(m.content, Context::for_message(&m)).unwrap();
    let start = m.regions.content.start;
    let blocks = p.encrypted_blocks();
    assert_eq!(blocks.len(), 1);
    assert_eq!(
        blocks[0].source,
        BlockSource::GbzComponent {
            index: 0,
            cluster_id: 0x0702
        }
    );
    assert_eq!(blocks[0].length_field, 62 - start..64 - start);
    assert_eq!(blocks[0].ciphertext, 69 - start..203 - start);
    assert_eq!(blocks[0].tag, 203 - start..215 - start);
    let Payload::Gbz(g) = &p else {
        panic!("not GBZ")
    };
    assert!(matches!(
        g.components()[0].body,
        ComponentBody::Encrypted { .. }
    ));
    assert_eq!(g.components()[0].zcl.command_id, 0x07);
}

#[test]
fn payload_compact_array_plaintext_decodes() {
    // Plaintext of the ECS68 alert's encrypted block: a structure holding a compact array of
    // structures with an array member.
    let plain = hex::decode(
        "0201130207060601003006010008060100080601000806010008068201481c374a80009f39b800013c680000\
         3a980002af800001ec3000031510000367180001d8a80002f9b80000fde800001f400002e24800017ed00002\
         78d000010d8800029bf8000042680001f0180000bb800001a5e000039210000203a0000203a0000121100000\
         bb800002b3680002bb38000232800002cec0000274e800018a88000318f80003b1500001c5200001e4600003\
         a9800002e6300003577800019e100001ffb8000075300001c1380002ee000000000000024608000017700002\
         9bf800028c580002078800035b60000061a80001adb000001770000124f800035b600003d8600001b9680002\
         3e380000e29000027100000134980003b1500002de6000030188000226c80003a5980002328000000bb80001\
         fbd00002d2a80001117000018e700000232800036b000001211000022e980003d09000009c40000138800000\
         0bb8000320c8",
    )
    .unwrap();
    let d = Data::decode(&plain).unwrap();
    let Data::Structure(items) = &d else {
        panic!("not a structure")
    };
    let Data::CompactArray(c) = &items[0] else {
        panic!("not a compact array")
    };
    assert_eq!(c.elements.len(), 1);
    let Data::Structure(members) = &c.elements[0] else {
        panic!("element not a structure")
    };
    assert_eq!(members.len(), 7);
    assert!(matches!(&members[2], Data::Array(v) if v.len() == 48));
    assert_eq!(d.to_bytes(), plain);
    // A complete hand-made compact array of two (double-long-unsigned, long-unsigned) pairs.
    let ca = hex::decode("13020206120c000000010002000000030004").unwrap();
    let d = Data::decode(&ca).unwrap();
    let Data::CompactArray(c) = &d else {
        panic!("not a compact array")
    };
    assert_eq!(c.elements.len(), 2);
    assert_eq!(
        c.elements[1],
        Data::Structure(vec![Data::DoubleLongUnsigned(3), Data::LongUnsigned(4)])
    );
    assert_eq!(d.to_bytes(), ca);
}
