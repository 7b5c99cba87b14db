//! What commands do to device state, seen through later GBCS reads: tariffs, credit,
//! consumption, HAN joins, the CHF whitelist (with its CS14 alerts) and credentials.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hubgate_hil_rig::models::{self, obis};
use hubgate_hil_rig::value::Value;
use hubgate_hil_rig::{DeviceError, DeviceKind};
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::gbcs::auth::{self, TEST_ACB};
use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::dlms::{AccessRequestSpec, Apdu};
use hubgate_protocol::gbcs::payload::{self, Payload};
use hubgate_protocol::gbcs::{self, Cra};
use hubgate_protocol::smki::Usage;

#[test]
fn a_read_after_a_tariff_update_returns_the_new_tariff() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    let update = rtds("1.1.1_ECS01a/ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_COMMAND_GBCS.HEX");
    let m = gbcs::parse(&update).unwrap();
    let Payload::Dlms(Apdu::AccessRequest(req)) = payload::decode(m.content).unwrap() else {
        panic!()
    };
    let seasons = Value::from_data(&req.data[0]);
    let read = |d: &mut hubgate_hil_rig::Device, counter| {
        let cmd = dlms_command(
            SUPPLIER,
            ESME,
            counter,
            0x0026,
            vec![
                AccessRequestSpec::Get(desc(20, obis::CALENDAR, 3)),
                AccessRequestSpec::Get(desc(20, obis::CALENDAR, 7)),
            ],
            vec![Data::Null, Data::Null],
        );
        dlms_answer(&d.handle(&cmd, RTDS_NOW).unwrap().response)
    };
    let (before, results) = read(&mut d, 900);
    assert_eq!(results, [0, 0]);
    assert_ne!(before[1], seasons);
    d.handle(&update, RTDS_NOW).unwrap();
    let (after, _) = read(&mut d, 2000);
    assert_eq!(after[1], seasons, "passive season profile");
    assert_eq!(after[0], seasons, "activated at once (activation time 00…)");
}

#[test]
fn credit_and_consumption_show_in_reads() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    d.handle(
        &rtds("1.5_ECS04a/ECS04a_1.5_SUCCESS_COMMAND_GBCS.HEX"),
        RTDS_NOW,
    )
    .unwrap();
    models::consume(d.state_mut(), RTDS_NOW + 60, 1234);
    models::consume(d.state_mut(), RTDS_NOW + 120, 100);
    let cmd = dlms_command(
        NETWORK_OPERATOR,
        ESME,
        1100,
        0x0026,
        vec![
            AccessRequestSpec::Get(desc(112, [0, 0, 19, 10, 0, 255], 2)),
            AccessRequestSpec::Get(desc(3, obis::IMPORT_ENERGY, 2)),
            AccessRequestSpec::Get(desc(7, obis::HALF_HOUR_PROFILE, 2)),
        ],
        vec![Data::Null, Data::Null, Data::Null],
    );
    let reply = d.handle(&cmd, RTDS_NOW + 180).unwrap();
    assert_authentic(&reply.response);
    let (values, results) = dlms_answer(&reply.response);
    assert_eq!(results, [0, 0, 0]);
    assert_eq!(
        values[0],
        Value::DoubleLong(1_200_000),
        "ECS04a added credit"
    );
    assert_eq!(values[1], Value::DoubleLongUnsigned(1334));
    let Value::CompactArray { elements, .. } = &values[2] else {
        panic!("profile buffer")
    };
    assert_eq!(
        elements,
        &[Value::Structure(vec![
            Value::DoubleLongUnsigned(473_385_600),
            Value::DoubleLongUnsigned(1334)
        ])]
    );

    // The protected read (ECS17b layout) returns the new register, encrypted for the NO.
    let ecs17b = rtds("4.1.1_ECS17b/ECS17b_4.1.1_TWIN_SUCCESS_COMMAND_GBCS.HEX");
    let r = d.handle(&ecs17b, RTDS_NOW + 180).unwrap().response;
    let m = gbcs::parse(&r).unwrap();
    let clear = plaintexts(&m, &store());
    let v = Value::decode(&clear[0].1).unwrap();
    assert_eq!(
        v.as_structure().unwrap()[0].as_structure().unwrap()[0],
        Value::DoubleLongUnsigned(1334)
    );
}

#[test]
fn joins_and_unjoins_change_the_device_log() {
    let mut gas = rtds_device(GSME, DeviceKind::Gsme);
    gas.handle(
        &rtds("8.7.2_CS03B/CS03B_8.7.2_SUCCESS_COMMAND_GBCS.HEX"),
        RTDS_NOW,
    )
    .unwrap();
    gas.handle(
        &rtds("8.7.1_CS03CCritical/CS03CCritical_8.7.1_SUCCESS_COMMAND_GBCS.HEX"),
        RTDS_NOW,
    )
    .unwrap();
    let joined: Vec<_> = gas.state().joined.iter().map(|j| j.eui).collect();
    assert_eq!(
        joined,
        [
            [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0x9c],
            [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0x98]
        ]
    );
    assert!(gas.state().joined[1].certificate.is_some());

    let mut e = rtds_device(ESME, DeviceKind::Esme);
    let unjoin = rtds("8.8.1_CS04ACCritical/CS04ACCritical_8.8.1_SUCCESS_COMMAND_GBCS.HEX");
    let (answer, _) = asn1_integer(&e.handle(&unjoin, RTDS_NOW).unwrap().response);
    assert_eq!(answer, 1, "not joined yet");
    models::join(
        e.state_mut(),
        [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0x99],
        1,
    );
    e.state_mut().counters.clear();
    let (answer, _) = asn1_integer(&e.handle(&unjoin, RTDS_NOW).unwrap().response);
    assert_eq!(answer, 0);
    assert!(e.state().joined.is_empty());
}

fn asn1_integer(response: &[u8]) -> (i64, ()) {
    let m = gbcs::parse(response).unwrap();
    let Payload::Asn1(n) = payload::decode(m.content).unwrap() else {
        panic!()
    };
    (
        n.value
            .iter()
            .fold(0i64, |acc, b| (acc << 8) | i64::from(*b)),
        (),
    )
}

#[test]
fn chf_whitelist_changes_send_cs14_alerts() {
    let mut chf = rtds_device(CHF, DeviceKind::Chf);
    let network = [0, 0, 30, 3, 0, 255];
    let ihd = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xb0];
    let key = [0x11u8; 16];
    let add = Data::Array(vec![Data::Structure(vec![
        Data::OctetString(&ihd),
        Data::OctetString(&key),
        Data::LongUnsigned(600),
    ])]);
    let cmd = dlms_command(
        TEST_ACB,
        CHF,
        1200,
        0x0001,
        vec![AccessRequestSpec::Action(desc(104, network, 1))],
        vec![add],
    );
    let reply = chf.handle(&cmd, RTDS_NOW).unwrap();
    assert_eq!(dlms_answer(&reply.response).1, [0]);
    assert_eq!(reply.alerts.len(), 1);
    let alert = gbcs::parse(&reply.alerts[0]).unwrap();
    assert_eq!(alert.header.cra, Cra::Alert);
    assert_eq!(alert.header.other_info.message_code, 0x0018);
    assert_eq!(alert.header.recipient, TEST_ACB);
    assert!(alert.is_mac_wrapped(), "CS14 is non-critical: MAC'd");
    assert_authentic(&reply.alerts[0]);
    // The same body layout as the RTDS CS14 alert: alert code, time, whitelist backup.
    let body = |m: &gbcs::Message<'_>| match payload::decode(m.content).unwrap() {
        Payload::Dlms(Apdu::DataNotification(n)) => Value::from_data(&n.body),
        _ => panic!("not a data notification"),
    };
    let ours = body(&alert);
    let cs14 = rtds("NA_CS14/CS14_NA_8F12_ALERT_GBCS.HEX");
    let theirs = body(&gbcs::parse(&cs14).unwrap());
    let (o, t) = (ours.as_structure().unwrap(), theirs.as_structure().unwrap());
    assert_eq!(o[0], t[0], "alert code 8F12");
    assert_eq!(o[1], t[1], "2015-01-01T00:00:00");
    let backup = o[2].as_structure().unwrap();
    let rtds_backup = t[2].as_structure().unwrap();
    assert_eq!(
        backup[..2],
        rtds_backup[..2],
        "backup time and extended PAN ID"
    );
    assert_eq!(
        backup[2],
        Value::Array(vec![Value::Structure(vec![
            Value::OctetString(ihd.to_vec()),
            Value::OctetString(Vec::new())
        ])]),
        "no link key established yet: empty hash"
    );

    // CCS06 (the RTDS read of the device list) now lists the IHD.
    let read = rtds("8.9_CCS06/CCS06_8.9_SUCCESS_COMMAND_GBCS.HEX");
    let (values, _) = dlms_answer(&chf.handle(&read, RTDS_NOW).unwrap().response);
    let listed: Vec<&[u8]> = values[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_structure().unwrap()[0].as_octets().unwrap())
        .collect();
    assert_eq!(listed, [ihd.as_slice()]);

    // CCS02 removes it, with another CS14.
    let remove = dlms_command(
        TEST_ACB,
        CHF,
        1401,
        0x0002,
        vec![AccessRequestSpec::Action(desc(104, network, 2))],
        vec![Data::OctetString(&ihd)],
    );
    let reply = chf.handle(&remove, RTDS_NOW).unwrap();
    assert_eq!(reply.alerts.len(), 1);
    assert!(chf.state().han_networks[0].devices.is_empty());
}

#[test]
fn chf_whitelist_refuses_a_registration_past_its_capacity_whole() {
    let mut chf = rtds_device(CHF, DeviceKind::Chf);
    let network = [0, 0, 30, 3, 0, 255];
    let euis: Vec<[u8; 8]> = (0..40u8)
        .map(|i| [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x91, i])
        .collect();
    let register = |chf: &mut hubgate_hil_rig::Device, counter, euis: &[[u8; 8]]| {
        let list = Data::Array(euis.iter().map(|e| Data::OctetString(e)).collect());
        let cmd = dlms_command(
            TEST_ACB,
            CHF,
            counter,
            0x0001,
            vec![AccessRequestSpec::Action(desc(104, network, 1))],
            vec![list],
        );
        let reply = chf.handle(&cmd, RTDS_NOW).unwrap();
        (dlms_answer(&reply.response).1, reply.alerts.len())
    };
    let before = chf.state().han_networks[0].devices.len();
    // One registration that would take the whitelist past 32 entries: refused, nothing added.
    assert_eq!(register(&mut chf, 1200, &euis), ([250].to_vec(), 0));
    assert_eq!(chf.state().han_networks[0].devices.len(), before);
    // Up to the capacity it is taken; one more is then refused.
    let room = 32 - before;
    assert_eq!(register(&mut chf, 1201, &euis[..room]), ([0].to_vec(), 1));
    assert_eq!(chf.state().han_networks[0].devices.len(), 32);
    assert_eq!(register(&mut chf, 1202, &euis[room..=room]).0, [250]);
    // Registering a device already listed still succeeds when the list is full.
    assert_eq!(register(&mut chf, 1203, &euis[..1]), ([0].to_vec(), 0));
}

#[test]
fn after_a_credentials_update_only_the_new_key_is_trusted() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    let update = rtds(
        "6.15.1_CS02bSupplierBySupplier/CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_COMMAND_GBCS.HEX",
    );
    d.handle(&update, RTDS_NOW).unwrap();
    assert_eq!(
        d.state()
            .security_log
            .of_kind("credential-replaced")
            .count(),
        3
    );

    // A tariff update signed with the old supplier key is refused.
    let tariff = rtds("1.1.1_ECS01a/ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_COMMAND_GBCS.HEX");
    assert_eq!(
        d.handle(&tariff, RTDS_NOW),
        Err(DeviceError::SignatureInvalid("90b3d51f30010000".into()))
    );

    // The same Pre-Command signed with the new key (its certificate is the one the update
    // carried; its private key is in the SMKI test material) is accepted.
    let pre = rtds("1.1.1_ECS01a/ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_PRECOMMAND_GBCS.HEX");
    let cell = d
        .state()
        .trusted
        .cell(2, hubgate_hil_rig::pki::KeyUsage::DigitalSignature, 0)
        .unwrap()
        .clone();
    let new_cert = hubgate_protocol::smki::Certificate::from_der(&cell.certificate).unwrap();
    let s = store();
    let new_key = s.get(new_cert.key_id()).unwrap().signing_key().unwrap();
    let acb = s
        .private_keys(&TEST_ACB, Usage::KeyAgreement)
        .next()
        .unwrap();
    let device = s.public_keys(&ESME, Usage::KeyAgreement).next().unwrap();
    let command = auth::build_command(
        &pre,
        new_key,
        acb.agreement_key().unwrap(),
        device.peer_key(),
        &DerivedKeyCache::default(),
    )
    .unwrap();
    let reply = d.handle(&command, RTDS_NOW).unwrap();
    assert_authentic(&reply.response);
    assert_eq!(
        dlms_answer(&reply.response).1,
        vec![0; 21],
        "every set succeeded"
    );
}

#[test]
fn gas_credit_adjustments_and_an_event_log_clear_change_the_meter() {
    use hubgate_hil_rig::zcl::cluster;
    let mut d = rtds_device(GSME, DeviceKind::Gsme);
    let attribute = |d: &hubgate_hil_rig::Device, key: (u16, u16)| -> i32 {
        let a = &d.state().zigbee().unwrap().attributes[&key];
        i32::from_le_bytes(a.value[..4].try_into().unwrap())
    };
    let credit = (cluster::PREPAYMENT, 0x0001);
    let balance = (cluster::METERING, 0x0a00);
    // The corpus's commands reuse counters: the device forgets them between commands.
    let send = |d: &mut hubgate_hil_rig::Device, file: &str| {
        d.state_mut().counters.clear();
        let reply = d.handle(&rtds(file), RTDS_NOW).unwrap();
        assert_authentic(&reply.response);
    };
    send(&mut d, "1.5_GCS40a/GCS40a_1.5_SUCCESS_COMMAND_GBCS.HEX");
    send(&mut d, "1.5_GCS40c/GCS40c_1.5_SUCCESS_COMMAND_GBCS.HEX");
    assert_eq!(attribute(&d, credit), 23_130, "GCS40a added credit");
    assert_eq!(
        attribute(&d, balance),
        5_000_000,
        "GCS40c added to the balance"
    );
    send(&mut d, "1.5_GCS40d/GCS40d_1.5_SUCCESS_COMMAND_GBCS.HEX");
    assert_eq!(attribute(&d, balance), 0, "GCS40d reset the balance");
    assert_eq!(attribute(&d, credit), 23_130, "the credit is left alone");

    d.state_mut().event_log.push(RTDS_NOW - 60, "tamper", "");
    send(&mut d, "3.3_CS11/CS11_3.3_SUCCESS_COMMAND_GBCS.HEX");
    let kinds: Vec<&str> = d
        .state()
        .event_log
        .entries
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    // The clearing, then the record of the CS11 command itself.
    assert_eq!(kinds, ["event-log-cleared", "command"]);
}
