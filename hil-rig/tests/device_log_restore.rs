//! The emulated CHF and GPF restoring their device logs: the GPF answers the RTDS GCS59
//! command with the RTDS response byte for byte (MAC included) and its device log becomes the
//! command's list; the CHF takes a CCS03 restore_PAN (the derived encoding), replaces its
//! whitelist and extended PAN ID, and reports the change with a CS14 alert.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hubgate_hil_rig::DeviceKind;
use hubgate_hil_rig::value::Value;
use hubgate_protocol::gbcs::auth::TEST_ACB;
use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::dlms::AccessRequestSpec;
use hubgate_protocol::transform::chf_log_alert;

#[test]
fn gpf_answers_the_rtds_gcs59_and_takes_the_restored_log() {
    let mut gpf = rtds_device(GPF, DeviceKind::Gpf);
    let command = rtds("8.12.2_GCS59/GCS59_8.12.2_SUCCESS_COMMAND_GBCS.HEX");
    let reply = gpf.handle(&command, RTDS_NOW).unwrap();
    assert_same_message(
        &reply.response,
        &rtds("8.12.2_GCS59/GCS59_8.12.2_SUCCESS_RESPONSE_GBCS.HEX"),
        "GCS59",
    );
    assert!(hubgate_protocol::transform::chf_log_succeeded(
        &reply.response
    ));
    let log: Vec<_> = gpf
        .state()
        .joined
        .iter()
        .map(|d| (d.eui, d.device_type))
        .collect();
    assert_eq!(
        log,
        [
            ([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77], 5),
            ([0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff], 6),
        ]
    );
    // Replayed, it is refused (counter) and changes nothing.
    assert!(gpf.handle(&command, RTDS_NOW).is_err());
    assert_eq!(gpf.state().joined.len(), 2);
}

#[test]
fn chf_restores_its_whitelist_and_sends_cs14() {
    let mut chf = rtds_device(CHF, DeviceKind::Chf);
    let network = [0, 0, 30, 3, 0, 255];
    let old_chf = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0x95];
    let time = [0x07, 0xdf, 1, 1, 0xff, 0, 0, 0, 0, 0x80, 0, 0xff];
    let entries: Vec<Data<'_>> = [ESME, PPMID]
        .iter()
        .map(|d| Data::Structure(vec![Data::OctetString(d), Data::OctetString(&[])]))
        .collect();
    let restore = dlms_command(
        TEST_ACB,
        CHF,
        1500,
        0x0003,
        vec![AccessRequestSpec::Action(desc(104, network, 5))],
        vec![Data::Structure(vec![
            Data::OctetString(&time),
            Data::OctetString(&old_chf),
            Data::Array(entries),
        ])],
    );
    let reply = chf.handle(&restore, RTDS_NOW).unwrap();
    assert_eq!(dlms_answer(&reply.response).1, [0]);
    let net = &chf.state().han_networks[0];
    assert_eq!(net.extended_pan_id, old_chf);
    let whitelisted: Vec<_> = net.devices.iter().map(|d| d.eui).collect();
    assert_eq!(whitelisted, [ESME, PPMID]);
    // The CS14 alert carries the restored whitelist, as the DCC's copy reads it.
    assert_eq!(reply.alerts.len(), 1);
    assert_authentic(&reply.alerts[0]);
    assert_eq!(chf_log_alert(&reply.alerts[0]), Some(vec![ESME, PPMID]));
    // The backup (CCS07's method 4) now reports the restored PAN.
    let backup = dlms_command(
        TEST_ACB,
        CHF,
        1501,
        0x00fe,
        vec![AccessRequestSpec::Action(desc(104, network, 4))],
        vec![Data::Null],
    );
    let (values, results) = dlms_answer(&chf.handle(&backup, RTDS_NOW).unwrap().response);
    assert_eq!(results, [0]);
    assert_eq!(
        values[0].as_structure().unwrap()[1],
        Value::OctetString(old_chf.to_vec())
    );
    // The same restore again is no change: no alert. A malformed parameter is refused with
    // type-unmatched and changes nothing.
    let again = dlms_command(
        TEST_ACB,
        CHF,
        1502,
        0x0003,
        vec![AccessRequestSpec::Action(desc(104, network, 5))],
        vec![Data::Structure(vec![
            Data::OctetString(&time),
            Data::OctetString(&old_chf),
            Data::Array(
                [ESME, PPMID]
                    .iter()
                    .map(|d| Data::Structure(vec![Data::OctetString(d), Data::OctetString(&[])]))
                    .collect(),
            ),
        ])],
    );
    assert!(chf.handle(&again, RTDS_NOW).unwrap().alerts.is_empty());
    let bad = dlms_command(
        TEST_ACB,
        CHF,
        1503,
        0x0003,
        vec![AccessRequestSpec::Action(desc(104, network, 5))],
        vec![Data::OctetString(&old_chf)],
    );
    let reply = chf.handle(&bad, RTDS_NOW).unwrap();
    assert_ne!(dlms_answer(&reply.response).1, [0]);
    assert_eq!(chf.state().han_networks[0].devices.len(), 2);
}
