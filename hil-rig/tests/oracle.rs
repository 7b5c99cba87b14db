//! The independent oracle (`shared/tools/oracle/gbcs_oracle.py`) checks a sample of what the
//! emulated RTDS devices send: MAC'd and signed responses, encrypted DLMS and GBZ payloads,
//! critical and non-critical alerts. Its key folder is the RTDS keystore plus the substitute
//! device certificates.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hubgate_hil_rig::{DeviceKind, models};

#[test]
fn oracle_accepts_emulated_responses_and_alerts() {
    let mut messages: Vec<(String, Vec<u8>, &str)> = Vec::new();
    let mut push = |name: &str, bytes: Vec<u8>, expect: &'static str| {
        messages.push((name.to_owned(), bytes, expect));
    };

    // ESME: MAC'd plain and encrypted reads, signed write, future-dated alert.
    let mut e = rtds_device(ESME, DeviceKind::Esme);
    models::consume(e.state_mut(), RTDS_NOW, 500);
    for (name, file) in [
        ("ECS17a", "4.2_ECS17a/ECS17a_4.2_SUCCESS_COMMAND_GBCS.HEX"),
        (
            "ECS17b",
            "4.1.1_ECS17b/ECS17b_4.1.1_SINGLE_SUCCESS_COMMAND_GBCS.HEX",
        ),
        (
            "ECS22b",
            "4.8.1_ECS22b/ECS22b_4.8.1_SINGLE_SUCCESS_COMMAND_GBCS.HEX",
        ),
    ] {
        let r = e.handle(&rtds(file), RTDS_NOW).unwrap();
        push(&format!("E_{name}_RESPONSE_GBCS.HEX"), r.response, "mac");
    }
    let fd = rtds("1.1.1_ECS01a/ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_COMMAND_GBCS.HEX");
    let r = e.handle(&fd, RTDS_NOW).unwrap();
    push("E_ECS01a_RESPONSE_GBCS.HEX", r.response, "signed");
    let alerts = e.tick(r.due.unwrap()).unwrap();
    push("E_ECS01a_8F66_ALERT_GBCS.HEX", alerts[0].clone(), "signed");
    push(
        "E_GNCA_ALERT_GBCS.HEX",
        e.raise_alert(0x810e, false, RTDS_NOW).unwrap(),
        "mac",
    );
    push(
        "E_GCA_ALERT_GBCS.HEX",
        e.raise_alert(0x8f30, true, RTDS_NOW).unwrap(),
        "signed",
    );

    // GSME: encrypted GBZ, signed ASN.1.
    let mut g = rtds_device(GSME, DeviceKind::Gsme);
    g.state_mut()
        .zigbee_mut()
        .unwrap()
        .snapshots
        .push(hubgate_hil_rig::zcl::Snapshot {
            cluster: 0x0705,
            id: 0,
            time: 470_707_200,
            cause: 8,
            payload_type: 0,
            payload: vec![0; 24],
        });
    let r = g
        .handle(
            &rtds("6.11_GCS28/GCS28_6.11_SUCCESS_COMMAND_GBCS.HEX"),
            RTDS_NOW,
        )
        .unwrap();
    push("G_GCS28_RESPONSE_GBCS.HEX", r.response, "signed");
    let r = g
        .handle(
            &rtds("4.4.2_GCS15b/GCS15b_4.4.2_SUCCESS_COMMAND_GBCS.HEX"),
            RTDS_NOW,
        )
        .unwrap();
    push("G_GCS15b_RESPONSE_GBCS.HEX", r.response, "mac");

    // CHF: response to the ACB.
    let mut c = rtds_device(CHF, DeviceKind::Chf);
    let r = c
        .handle(
            &rtds("8.9_CCS07/CCS07_8.9_SUCCESS_COMMAND_GBCS.HEX"),
            RTDS_NOW,
        )
        .unwrap();
    push("C_CCS07_RESPONSE_GBCS.HEX", r.response, "mac");

    let files: Vec<(String, Vec<u8>)> = messages
        .iter()
        .map(|(n, b, _)| (n.clone(), b.clone()))
        .collect();
    let Some(rows) = oracle(&files) else { return };
    assert_eq!(rows.len(), messages.len());
    for (name, _, expect) in &messages {
        let row = rows.iter().find(|r| &r["path"] == name).unwrap();
        match *expect {
            "mac" => {
                assert_eq!(row["mac_result"], "valid", "{name}: {row:?}");
                assert_eq!(row["signature_result"], "null", "{name}");
            }
            _ => {
                assert_eq!(row["signature_result"], "verified", "{name}: {row:?}");
                assert!(row["signer_cert"].starts_with("emulated-"), "{name}");
                assert_eq!(row["mac_result"], "none", "{name}");
            }
        }
        let encrypted = ["E_ECS17b", "E_ECS22b", "G_GCS15b"]
            .iter()
            .any(|p| name.starts_with(p));
        assert_eq!(
            row["decrypted_blocks"].parse::<usize>().unwrap() > 0,
            encrypted,
            "{name}: decrypted blocks {}",
            row["decrypted_blocks"]
        );
        assert!(
            !row["note"].contains("not decrypted"),
            "{name}: {}",
            row["note"]
        );
    }
}
