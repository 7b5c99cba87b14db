//! 3.2 Restrict Access for Change of Tenancy on the emulated meters: the RTDS ECS12 (ESME)
//! and GCS09 (GPF) commands replayed, their answers byte for byte the RTDS responses (MAC
//! included), the date kept, and later profile and log reads by a party other than the
//! supplier cut at that date while the supplier still reads everything.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hubgate_hil_rig::dlms::{CHANGE_OF_TENANCY, tenancy_floor_for};
use hubgate_hil_rig::models::obis;
use hubgate_hil_rig::value::Value;
use hubgate_hil_rig::zcl::{Snapshot, change_of_tenancy};
use hubgate_hil_rig::{Device, DeviceKind};
use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::dlms::{AccessRequestSpec, SelectiveAccess};
use hubgate_protocol::gbcs::payload::gbz::{Component, ComponentBody, Gbz, GbzBody, ZclHeader};
use hubgate_protocol::gbcs::payload::{self, Payload};
use hubgate_protocol::gbcs::{self, auth::TEST_ACB};

/// 2014-03-27T15:45:32Z, the ECS12 RTDS command's date, in ZigBee seconds.
const ECS12_DATE: u32 = 0x1ac7_041c;
/// 2016-11-22T02:46:56Z, the GCS09 RTDS command's date, in ZigBee seconds.
const GCS09_DATE: u32 = 0x1fc6_6e20;

fn replay(d: &mut Device, stem: &str, dir: &str) -> Vec<u8> {
    let command = rtds(&format!("{dir}/{stem}_COMMAND_GBCS.HEX"));
    let expected = rtds(&format!("{dir}/{stem}_RESPONSE_GBCS.HEX"));
    let reply = d
        .handle(&command, RTDS_NOW)
        .unwrap_or_else(|e| panic!("{stem}: refused: {e}"));
    assert_authentic(&reply.response);
    assert_same_message(&reply.response, &expected, stem);
    reply.response
}

#[test]
fn ecs12_answers_as_the_rtds_and_keeps_the_date() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    assert_eq!(tenancy_floor_for(d.state(), &NETWORK_OPERATOR), None);
    replay(&mut d, "ECS12_3.2_SUCCESS", "3.2_ECS12");
    let stored = d
        .state()
        .cosem()
        .unwrap()
        .get(&CHANGE_OF_TENANCY)
        .cloned()
        .unwrap();
    assert_eq!(
        stored,
        Value::OctetString(hubgate_protocol::hex::decode("07de031bff0f2d20008000ff").unwrap())
    );
    assert!(
        d.state()
            .event_log
            .entries
            .iter()
            .any(|e| e.kind == "change-of-tenancy"),
        "the restriction is logged"
    );
    assert_eq!(
        tenancy_floor_for(d.state(), &NETWORK_OPERATOR),
        Some(u64::from(ECS12_DATE))
    );
    assert_eq!(tenancy_floor_for(d.state(), &SUPPLIER), None);

    // The ERROR vector: hardware-fault, and nothing stored.
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    d.state_mut().faults.insert(0x0022);
    replay(&mut d, "ECS12_3.2_ERROR", "3.2_ECS12");
    assert_eq!(tenancy_floor_for(d.state(), &NETWORK_OPERATOR), None);
}

#[test]
fn gcs09_answers_as_the_rtds_and_keeps_the_date() {
    let mut d = rtds_device(GPF, DeviceKind::Gpf);
    replay(&mut d, "GCS09_3.2_SUCCESS", "3.2_GCS09");
    assert_eq!(
        change_of_tenancy(d.state().zigbee().unwrap()),
        Some(GCS09_DATE)
    );
    assert!(
        d.state().pending.is_empty(),
        "not future-dated by the device"
    );
}

/// Times of the half-hour profile entries a range read of the whole buffer returns.
fn profile_times(d: &mut Device, from: [u8; 8], counter: u64) -> Vec<u64> {
    let params = Data::Structure(vec![
        Data::Null,
        Data::DoubleLongUnsigned(0),
        Data::DoubleLongUnsigned(u32::MAX - 1),
        Data::Array(vec![]),
    ]);
    let cmd = dlms_command(
        from,
        ESME,
        counter,
        0x0026,
        vec![AccessRequestSpec::GetWithSelection(
            desc(7, obis::HALF_HOUR_PROFILE, 2),
            SelectiveAccess {
                selector: 1,
                parameters: params,
            },
        )],
        vec![Data::Null],
    );
    let reply = d.handle(&cmd, RTDS_NOW).unwrap();
    assert_authentic(&reply.response);
    let (values, results) = dlms_answer(&reply.response);
    assert_eq!(results, [0]);
    let Value::CompactArray { elements, .. } = &values[0] else {
        panic!("not a compact array: {:?}", values[0])
    };
    elements
        .iter()
        .map(|e| e.as_structure().unwrap()[0].as_u64().unwrap())
        .collect()
}

#[test]
fn profile_reads_after_ecs12_start_at_the_date_except_for_the_supplier() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    let before = ECS12_DATE - 1800;
    let after = ECS12_DATE + 1800;
    let profile = d
        .state_mut()
        .cosem_mut()
        .unwrap()
        .profile_mut(&obis::HALF_HOUR_PROFILE)
        .unwrap();
    for t in [before, after] {
        profile.push(Value::Structure(vec![
            Value::DoubleLongUnsigned(t),
            Value::DoubleLongUnsigned(7),
        ]));
    }
    let all = vec![u64::from(before), u64::from(after)];
    assert_eq!(profile_times(&mut d, NETWORK_OPERATOR, 900), all);
    replay(&mut d, "ECS12_3.2_SUCCESS", "3.2_ECS12");
    assert_eq!(
        profile_times(&mut d, NETWORK_OPERATOR, 2000),
        vec![u64::from(after)],
        "the previous tenant's half hour is withheld"
    );
    assert_eq!(profile_times(&mut d, SUPPLIER, 2001), all);
}

#[test]
fn gas_log_reads_after_gcs09_start_at_the_date_except_for_the_supplier() {
    let mut d = rtds_device(GPF, DeviceKind::Gpf);
    let before = GCS09_DATE - 86_400;
    let after = GCS09_DATE + 86_400;
    let z = d.state_mut().zigbee_mut().unwrap();
    for (id, time) in [(1, before), (2, after)] {
        z.snapshots.push(Snapshot {
            cluster: 0x0702,
            id,
            time,
            cause: 1,
            payload_type: 0,
            payload: vec![0; 6],
        });
    }
    replay(&mut d, "GCS09_3.2_SUCCESS", "3.2_GCS09");
    // GetSnapshot over all time, offset 0, any cause: the oldest snapshot the reader may see.
    let first_snapshot = |d: &mut Device, from: [u8; 8], counter: u64| -> u32 {
        let mut zcl = Vec::new();
        zcl.extend_from_slice(&0u32.to_le_bytes());
        zcl.extend_from_slice(&(u32::MAX - 1).to_le_bytes());
        zcl.push(0);
        zcl.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut content = Vec::new();
        Gbz {
            alert: None,
            body: GbzBody::Components(vec![Component {
                cluster_id: 0x0702,
                from_date_time: None,
                zcl: ZclHeader {
                    frame_control: 0x01,
                    manufacturer_code: None,
                    sequence_number: 0,
                    command_id: 0x06,
                },
                body: ComponentBody::Plain(&zcl),
            }]),
        }
        .encode(&mut content);
        let cmd = mac_command_in(
            &store(),
            &TEST_ACB,
            &command_header(from, GPF, counter, 0x00c3),
            &content,
        );
        let reply = d.handle(&cmd, RTDS_NOW).unwrap();
        let m = gbcs::parse(&reply.response).unwrap();
        let Payload::Gbz(g) = payload::decode(m.content).unwrap() else {
            panic!("not GBZ")
        };
        let c = &g.components()[0];
        assert_eq!(c.zcl.command_id, 0x06, "PublishSnapshot");
        let p = match c.body {
            ComponentBody::Plain(p) => p.to_vec(),
            _ => plaintexts(&m, &store()).remove(0).1,
        };
        u32::from_le_bytes(p[4..8].try_into().unwrap())
    };
    assert_eq!(first_snapshot(&mut d, NETWORK_OPERATOR, 2000), after);
    assert_eq!(first_snapshot(&mut d, SUPPLIER, 2001), before);
}

/// The emulated answers pass the independent GBCS oracle: MAC valid, no signature, as the
/// RTDS responses.
#[test]
fn the_answers_pass_the_oracle() {
    let mut e = rtds_device(ESME, DeviceKind::Esme);
    let ecs12 = replay(&mut e, "ECS12_3.2_SUCCESS", "3.2_ECS12");
    let mut g = rtds_device(GPF, DeviceKind::Gpf);
    let gcs09 = replay(&mut g, "GCS09_3.2_SUCCESS", "3.2_GCS09");
    let files = vec![
        ("E_ECS12_3.2_RESPONSE_GBCS.HEX".to_owned(), ecs12),
        ("P_GCS09_3.2_RESPONSE_GBCS.HEX".to_owned(), gcs09),
    ];
    let Some(rows) = oracle(&files) else { return };
    assert_eq!(rows.len(), 2);
    for (name, _) in &files {
        let row = rows.iter().find(|r| &r["path"] == name).unwrap();
        assert_eq!(row["mac_result"], "valid", "{name}: {row:?}");
        assert_eq!(row["signature_result"], "null", "{name}: {row:?}");
    }
}
