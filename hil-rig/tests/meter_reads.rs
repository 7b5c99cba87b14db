//! The fixed-list meter reads (4.2, 4.12.1, 4.12.2, 4.13, 4.15, 4.16, 4.18, 7.15), the log reads
//! 4.8.3, 4.17 and 6.13 (ESME event, security and switch event logs), and the power threshold
//! write (6.12): commands built by the transform from the DUIS templates,
//! answered by the emulated ESME and GSME. Each
//! answer is authentic (its MAC verifies), is the response of the command's use case, has a
//! result for every item read, and, where the emulated meter holds the objects, each item
//! succeeds with the data type the RTDS response of the same use case carries; the write
//! succeeds and the meter holds the new thresholds. The independent oracle accepts every
//! command and answer.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hubgate_hil_rig::cosem::Attr;
use hubgate_hil_rig::value::Value;
use hubgate_hil_rig::{DeviceKind, models};
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::duis::reader;
use hubgate_protocol::gbcs;
use hubgate_protocol::gbcs::auth::TEST_ACB;
use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::dlms::{AccessResponseSpec, Apdu};
use hubgate_protocol::gbcs::payload::gbz::ComponentBody;
use hubgate_protocol::gbcs::payload::{self, Payload};
use hubgate_protocol::transform::time::UtcDateTime;
use hubgate_protocol::transform::{Context, DeviceType, transform};

/// The MAC'd command the gateway would send to `target` for `template`, with `counter`.
fn command(template: &str, device: DeviceType, target: [u8; 8], counter: u64) -> Vec<u8> {
    let xml = std::fs::read(root().join("duis/templates").join(template)).unwrap();
    let mut req = reader::parse_request(&xml, &Default::default()).unwrap();
    req.header.request_id.target = target;
    req.header.request_id.counter = counter;
    let now = UtcDateTime::from_unix(RTDS_NOW);
    let t = transform(&req, &Context::new(device, TEST_ACB, now)).unwrap();
    t.command(&store(), &DerivedKeyCache::default()).unwrap()
}

/// A DLMS data item's type, with a structure's members (an array's elements are left out:
/// their number is the meter's business).
fn shape(d: &Data<'_>) -> String {
    match d {
        Data::Structure(members) => format!(
            "structure({})",
            members.iter().map(shape).collect::<Vec<_>>().join(",")
        ),
        other => other.type_name().to_owned(),
    }
}

/// The data items and their get results (`0` success) of a DLMS answer.
fn dlms_answer(content: &[u8]) -> (Vec<String>, Vec<u8>) {
    let Payload::Dlms(Apdu::AccessResponse(r)) = payload::decode(content).unwrap() else {
        panic!("not a DLMS Access-Response")
    };
    let results = r
        .specifications
        .iter()
        .map(|s| match s {
            AccessResponseSpec::Get(result) => result.0,
            AccessResponseSpec::Action(result) => result.0,
            other => panic!("not a get or action result: {other:?}"),
        })
        .collect();
    (r.data.iter().map(shape).collect(), results)
}

/// ESME reads: (template, use case, RTDS response, whether the emulated ESME holds every
/// object the use case reads).
const ESME_READS: &[(&str, &str, &str, bool)] = &[
    (
        "ECS17a_4.2_SUCCESS_REQUEST_DUIS.XML",
        "ECS17a",
        "4.2_ECS17a/ECS17a_4.2_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
    (
        "ECS18b_4.12.1_SUCCESS_REQUEST_DUIS.XML",
        "ECS18b",
        "4.12.1_ECS18b/ECS18b_4.12.1_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
    (
        "ECS18a_4.12.2_SUCCESS_REQUEST_DUIS.XML",
        "ECS18a",
        "4.12.2_ECS18a/ECS18a_4.12.2_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
    (
        "ECS26a_4.13_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        "ECS26a",
        "4.13_ECS26a/ECS26a_4.13_SINGLE_SUCCESS_RESPONSE_GBCS.HEX",
        false,
    ),
    (
        "ECS27_4.15_SUCCESS_REQUEST_DUIS.XML",
        "ECS27",
        "4.15_ECS27/ECS27_4.15_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
    (
        "ECS17c_4.16_SUCCESS_REQUEST_DUIS.XML",
        "ECS17c",
        "4.16_ECS17c/ECS17c_4.16_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
    (
        "ECS82_4.18_SUCCESS_REQUEST_DUIS.XML",
        "ECS82",
        "4.18_ECS82/ECS82_4.18_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
    (
        "ECS22a_4.8.3_SUCCESS_REQUEST_DUIS.XML",
        "ECS22a",
        "4.8.3_ECS22a/ECS22a_4.8.3_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
    (
        "ECS66_4.17_SUCCESS_REQUEST_DUIS.XML",
        "ECS66",
        "4.17_ECS66/ECS66_4.17_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
    (
        "ECS35a_6.13_SUCCESS_REQUEST_DUIS.XML",
        "ECS35a",
        "6.13_ECS35a/ECS35a_6.13_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
    (
        "ECS35b_6.13_SUCCESS_REQUEST_DUIS.XML",
        "ECS35b",
        "6.13_ECS35b/ECS35b_6.13_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
    (
        "ECS61e_7.15_SUCCESS_REQUEST_DUIS.XML",
        "ECS61e",
        "7.15_ECS61e/ECS61e_7.15_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
    (
        "ECS35f_6.13_SUCCESS_REQUEST_DUIS.XML",
        "ECS35f",
        "6.13_ECS35f/ECS35f_6.13_SUCCESS_RESPONSE_GBCS.HEX",
        true,
    ),
];

#[test]
fn the_emulated_meters_answer_the_fixed_list_reads_as_the_rtds_meters_do() {
    let mut esme = rtds_device(ESME, DeviceKind::Esme);
    let mut files = Vec::new();
    for (n, (template, use_case, rtds_response, modelled)) in ESME_READS.iter().enumerate() {
        let cmd = command(template, DeviceType::Esme, ESME, 6000 + n as u64);
        let answer = answer_of(&mut esme, &cmd, use_case);
        let (ours, results) = dlms_answer(gbcs::parse(&answer).unwrap().content);
        let reference = rtds(rtds_response);
        let (theirs, their_results) = dlms_answer(gbcs::parse(&reference).unwrap().content);
        assert_eq!(
            results.len(),
            their_results.len(),
            "{use_case}: one result per item"
        );
        if *modelled {
            assert!(results.iter().all(|r| *r == 0), "{use_case}: {results:?}");
            assert_eq!(ours, theirs, "{use_case}: the RTDS response's data types");
        }
        files.push((format!("{use_case}_COMMAND_GBCS.HEX"), cmd));
        files.push((format!("{use_case}_RESPONSE_GBCS.HEX"), answer));
    }

    // ECS34: the thresholds are set, and the Register Monitor holds them.
    let cmd = command(
        "ECS34_6.12_SUCCESS_REQUEST_DUIS.XML",
        DeviceType::Esme,
        ESME,
        6100,
    );
    let answer = answer_of(&mut esme, &cmd, "ECS34");
    let Payload::Dlms(Apdu::AccessResponse(r)) =
        payload::decode(gbcs::parse(&answer).unwrap().content).unwrap()
    else {
        panic!("ECS34: not a DLMS Access-Response")
    };
    assert!(
        matches!(r.specifications.as_slice(), [AccessResponseSpec::Set(s)] if s.0 == 0),
        "{:?}",
        r.specifications
    );
    let thresholds = esme
        .state()
        .cosem()
        .unwrap()
        .get(&Attr::new(21, models::obis::POWER_THRESHOLDS, 2))
        .cloned();
    assert_eq!(
        thresholds,
        Some(Value::Array(vec![
            Value::DoubleLongUnsigned(2300),
            Value::DoubleLongUnsigned(4600)
        ]))
    );
    files.push(("ECS34_COMMAND_GBCS.HEX".to_owned(), cmd));
    files.push(("ECS34_RESPONSE_GBCS.HEX".to_owned(), answer));

    // GCS60: Read Attributes Responses for the Metering and Prepayment clusters, each
    // attribute present with the RTDS response's status and data type.
    let mut gsme = rtds_device(GSME, DeviceKind::Gsme);
    let cmd = command(
        "GCS60_4.18_SUCCESS_REQUEST_DUIS.XML",
        DeviceType::Gsme,
        GSME,
        7000,
    );
    let answer = answer_of(&mut gsme, &cmd, "GCS60");
    let heads = |bytes: &[u8]| -> Vec<(u16, u8, Vec<u8>)> {
        let m = gbcs::parse(bytes).unwrap();
        let Payload::Gbz(g) = payload::decode(m.content).unwrap() else {
            panic!("GCS60: not a GBZ answer")
        };
        g.components()
            .iter()
            .map(|c| match c.body {
                // Attribute ID, status and data type: the value is the meter's.
                ComponentBody::Plain(p) => (c.cluster_id, c.zcl.command_id, p[..4].to_vec()),
                ComponentBody::Encrypted { .. } => panic!("GCS60: an encrypted component"),
            })
            .collect()
    };
    let reference = rtds("4.18_GCS60/GCS60_4.18_SUCCESS_RESPONSE_GBCS.HEX");
    assert_eq!(heads(&answer), heads(&reference));
    files.push(("GCS60_COMMAND_GBCS.HEX".to_owned(), cmd));
    files.push(("GCS60_RESPONSE_GBCS.HEX".to_owned(), answer));

    let Some(rows) = oracle(&files) else { return };
    assert_eq!(rows.len(), files.len());
    for (name, _) in &files {
        let row = rows.iter().find(|r| &r["path"] == name).unwrap();
        assert_eq!(row["mac_result"], "valid", "{name}: {row:?}");
    }
}
