//! The ESME's resets, clears and settings (3.3, 3.4, 6.4.2, 6.18.2, 6.20.1, 6.20.2, 6.27, 7.9)
//! and the reads that show them (4.10, 7.11): commands built by the transform from the DUIS
//! templates, carried out by the emulated ESME. Each answer is authentic and succeeds; the
//! meter then holds what was set and has zeroed or emptied what was reset. The independent
//! oracle accepts every command and answer.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hubgate_hil_rig::cosem::Attr;
use hubgate_hil_rig::value::Value;
use hubgate_hil_rig::{Device, DeviceKind, models};
use hubgate_protocol::gbcs;
use hubgate_protocol::gbcs::payload::dlms::{AccessResponseSpec, Apdu};
use hubgate_protocol::gbcs::payload::{self, Payload};
use hubgate_protocol::transform::DeviceType;

/// The MAC'd command for `template` to the ESME, with `counter` as the User's and, for
/// ECS39b, which the ACB sends, as the DCC's.
fn command(template: &str, counter: u64) -> Vec<u8> {
    transformed_command(template, DeviceType::Esme, ESME, counter, counter)
}

/// Sends `cmd`: the answer must be authentic, of `use_case`, and every item must succeed.
/// Returns the answer and its data items.
fn run(d: &mut Device, cmd: &[u8], use_case: &str) -> (Vec<u8>, Vec<Value>) {
    let response = answer_of(d, cmd, use_case);
    let m = gbcs::parse(&response).unwrap();
    let Payload::Dlms(Apdu::AccessResponse(r)) = payload::decode(m.content).unwrap() else {
        panic!("{use_case}: not a DLMS Access-Response")
    };
    let results: Vec<u8> = r
        .specifications
        .iter()
        .map(|s| match s {
            AccessResponseSpec::Get(x) | AccessResponseSpec::Set(x) => x.0,
            AccessResponseSpec::Action(x) => x.0,
        })
        .collect();
    assert!(
        !results.is_empty() && results.iter().all(|r| *r == 0),
        "{use_case}: {results:?}"
    );
    let data = r.data.iter().map(Value::from_data).collect();
    (response, data)
}

fn get(d: &Device, class_id: u16, obis: [u8; 6], id: i8) -> Value {
    d.state()
        .cosem()
        .unwrap()
        .get(&Attr::new(class_id, obis, id))
        .cloned()
        .unwrap()
}

#[test]
fn resets_clear_and_settings_hold() {
    let mut esme = rtds_device(ESME, DeviceKind::Esme);
    let mut files = Vec::new();
    let mut counter = 8000;
    let mut send = |esme: &mut Device, template: &str, use_case: &str| {
        counter += 1;
        let cmd = command(template, counter);
        let (answer, data) = run(esme, &cmd, use_case);
        files.push((format!("{use_case}_{counter}_COMMAND_GBCS.HEX"), cmd));
        files.push((format!("{use_case}_{counter}_RESPONSE_GBCS.HEX"), answer));
        data
    };

    // Something to reset: counters, maximum demand, an event, the load limiting counter.
    {
        let o = esme.state_mut().cosem_mut().unwrap();
        for c in models::obis::RMS_VOLTAGE_COUNTERS {
            o.put(Attr::new(3, c, 2), Value::DoubleLongUnsigned(7));
        }
        for r in [
            [1, 0, 1, 6, 0, 255],
            [1, 0, 1, 6, 1, 255],
            [1, 0, 2, 6, 0, 255],
        ] {
            o.put(Attr::new(4, r, 2), Value::DoubleLongUnsigned(4200));
        }
        o.put(
            Attr::new(3, [0, 0, 94, 44, 42, 255], 2),
            Value::DoubleLongUnsigned(3),
        );
        o.profile_mut(&models::obis::EVENT_LOG)
            .unwrap()
            .push(Value::Structure(vec![
                Value::DoubleLongUnsigned(473_000_000),
                Value::LongUnsigned(0x8040),
                Value::OctetString(Vec::new()),
            ]));
        o.profile_mut(&models::obis::RMS_VOLTAGE_PROFILE)
            .unwrap()
            .push(Value::Structure(vec![
                Value::DoubleLongUnsigned(473_300_000),
                Value::DoubleLongUnsigned(239),
            ]));
    }

    // 4.10 before the reset: the counters and the profile entry in the period.
    let data = send(&mut esme, "ECS23_4.10_SUCCESS_REQUEST_DUIS.XML", "ECS23");
    assert_eq!(data[0], Value::DoubleLongUnsigned(7));
    assert_eq!(data[2], Value::DoubleLongUnsigned(7));
    let Value::CompactArray { elements, .. } = &data[4] else {
        panic!("the profile: {:?}", data[4])
    };
    assert_eq!(elements.len(), 1, "the one entry in the period");
    assert_eq!(data[5], Value::DoubleLongUnsigned(3600));

    send(&mut esme, "ECS29e_6.27_SUCCESS_REQUEST_DUIS.XML", "ECS29e");
    for c in models::obis::RMS_VOLTAGE_COUNTERS {
        assert_eq!(get(&esme, 3, c, 2), Value::DoubleLongUnsigned(0));
    }
    send(
        &mut esme,
        "ECS57_6.18.2_SOME_OPTIONALS_SUCCESS_REQUEST_DUIS.XML",
        "ECS57",
    );
    assert_eq!(
        get(&esme, 4, [1, 0, 1, 6, 1, 255], 2),
        Value::DoubleLongUnsigned(0)
    );
    assert_eq!(
        get(&esme, 4, [1, 0, 1, 6, 0, 255], 2),
        Value::DoubleLongUnsigned(4200),
        "only the register named is reset"
    );
    send(
        &mut esme,
        "ECS57_6.18.2_ALL_OPTIONALS_SUCCESS_REQUEST_DUIS.XML",
        "ECS57",
    );
    for r in [[1, 0, 1, 6, 0, 255], [1, 0, 2, 6, 0, 255]] {
        assert_eq!(get(&esme, 4, r, 2), Value::DoubleLongUnsigned(0));
    }
    send(&mut esme, "ECS28b_6.4.2_SUCCESS_REQUEST_DUIS.XML", "ECS28b");
    assert_eq!(
        get(&esme, 3, [0, 0, 94, 44, 42, 255], 2),
        Value::DoubleLongUnsigned(0)
    );
    send(&mut esme, "ECS15a_3.3_SUCCESS_REQUEST_DUIS.XML", "ECS15a");
    let events = esme
        .state()
        .cosem()
        .unwrap()
        .profile(&models::obis::EVENT_LOG)
        .unwrap()
        .entries
        .len();
    assert_eq!(events, 0, "the event log is cleared");

    // Settings.
    send(&mut esme, "ECS16_3.4_SUCCESS_REQUEST_DUIS.XML", "ECS16");
    assert_eq!(
        get(&esme, 9000, [0, 0, 96, 13, 1, 255], 2),
        Value::OctetString(b"E-ON".to_vec())
    );
    assert_eq!(
        get(&esme, 9000, [0, 0, 96, 13, 0, 255], 2),
        Value::OctetString(b"0333 202 4650".to_vec())
    );
    send(
        &mut esme,
        "ECS39a_6.20.1_TWIN_SUCCESS_REQUEST_DUIS.XML",
        "ECS39a",
    );
    assert_eq!(
        get(&esme, 1, [0, 0, 94, 44, 34, 11], 2),
        Value::OctetString(b"13123456781111312345678222".to_vec())
    );
    send(
        &mut esme,
        "ECS39b_6.20.2_SUCCESS_REQUEST_DUIS.XML",
        "ECS39b",
    );
    assert_eq!(
        get(&esme, 1, [1, 0, 0, 0, 2, 255], 2),
        Value::OctetString(b"1312345678333".to_vec())
    );

    // 7.11 before and after 7.9: the switches the boost button drives.
    let data = send(&mut esme, "ECS61c_7.11_SUCCESS_REQUEST_DUIS.XML", "ECS61c");
    assert_eq!(data[2..], vec![Value::Boolean(false); 5]);
    send(
        &mut esme,
        "ECS62Add_7.9_SUCCESS_REQUEST_DUIS.XML",
        "ECS62Add",
    );
    let data = send(&mut esme, "ECS61c_7.11_SUCCESS_REQUEST_DUIS.XML", "ECS61c");
    assert_eq!(data[0], Value::Boolean(true));
    assert_eq!(data[2..], vec![Value::Boolean(true); 5]);

    let Some(rows) = oracle(&files) else { return };
    assert_eq!(rows.len(), files.len());
    for (name, _) in &files {
        let row = rows.iter().find(|r| &r["path"] == name).unwrap();
        assert_eq!(row["mac_result"], "valid", "{name}: {row:?}");
    }
}
