//! Fleets with generated keys: every device answers commands protected with the fleet's
//! remote party keys, the fleet store verifies every answer, and a passivated device
//! (serialised state and identity) carries on where it stopped.

#![allow(clippy::unwrap_used)]

mod common;

use hubgate_hil_rig::models::obis;
use hubgate_hil_rig::value::Value;
use hubgate_hil_rig::{Device, DeviceError, DeviceKeys, DeviceKind, DeviceState, Fleet, Identity};
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::gbcs::auth;
use hubgate_protocol::gbcs::frame::encode_apdu;
use hubgate_protocol::gbcs::payload::data::Data;
use hubgate_protocol::gbcs::payload::dlms::{AccessRequestSpec, Apdu};
use hubgate_protocol::gbcs::payload::{self, Payload};
use hubgate_protocol::gbcs::{self, LenForm};
use hubgate_protocol::smki::Usage;

const NOW: i64 = 1_700_000_000;

/// A command to a fleet device: MAC'd by the fleet ACB, signed by `originator` if `sign`.
fn command(
    fleet: &Fleet,
    device: [u8; 8],
    originator: [u8; 8],
    counter: u64,
    code: u16,
    content: &[u8],
    sign: bool,
) -> Vec<u8> {
    let header = common::command_header(originator, device, counter, code);
    let s = &fleet.store;
    if !sign {
        return common::mac_command_in(s, &fleet.parties.acb, &header, content);
    }
    let acb = s
        .private_keys(&fleet.parties.acb, Usage::KeyAgreement)
        .next()
        .unwrap();
    let peer = s.public_keys(&device, Usage::KeyAgreement).next().unwrap();
    let pre = encode_apdu(&header, content, None, LenForm::Short, LenForm::Short);
    let ds = s
        .private_keys(&originator, Usage::DigitalSignature)
        .next()
        .unwrap();
    auth::build_command(
        &pre,
        ds.signing_key().unwrap(),
        acb.agreement_key().unwrap(),
        peer.peer_key(),
        &DerivedKeyCache::default(),
    )
    .unwrap()
}

/// Checks MAC or signature against the fleet store.
fn assert_verified(fleet: &Fleet, response: &[u8]) {
    let m = gbcs::parse(response).unwrap();
    let cache = DerivedKeyCache::default();
    if m.is_mac_wrapped() {
        let v = auth::verify_mac(&m, &fleet.store, &fleet.parties.acb, &cache).unwrap();
        assert_eq!(v.name(), "valid");
    } else {
        assert_eq!(auth::verify_signature(&m, &fleet.store).name(), "verified");
    }
}

#[test]
fn every_device_of_every_hub_answers_with_its_own_keys() {
    let mut fleet = Fleet::builder().hubs(3).build().unwrap();
    assert_eq!(fleet.device_count(), 18);
    // Three parties (DS and KA each) and two certificates per device.
    assert_eq!(fleet.store.len(), 6 + 2 * 18);
    let parties = fleet.parties;
    let euis: Vec<Vec<([u8; 8], DeviceKind)>> = fleet
        .hubs
        .iter()
        .map(|h| h.devices().iter().map(|d| (d.eui(), d.kind())).collect())
        .collect();
    for hub in &euis {
        for (i, &(eui, kind)) in hub.iter().enumerate() {
            let counter = 100 + i as u64;
            let (content, code, originator) = match kind {
                DeviceKind::Esme => (
                    common::get_request(counter, 3, obis::IMPORT_ENERGY, 2),
                    0x0026,
                    parties.supplier,
                ),
                DeviceKind::Chf => (
                    common::get_request(counter, 104, [0, 0, 30, 3, 0, 255], 4),
                    0x010f,
                    parties.acb,
                ),
                // GCS38: read the firmware version attribute of the metering cluster.
                DeviceKind::Gsme | DeviceKind::Gpf => (
                    vec![
                        0x01, 0x09, 0x01, 0x01, 0x07, 0x02, 0x00, 0x05, 0x00, 0x00, 0x00, 0x06,
                        0x02,
                    ],
                    0x0084,
                    parties.supplier,
                ),
                // CS08: NULL.
                DeviceKind::Ppmid => (vec![0x05, 0x00], 0x0129, parties.acb),
                DeviceKind::Ihd => (
                    common::get_request(counter, 1, [0, 0, 0, 2, 1, 255], 2),
                    0x0059,
                    parties.supplier,
                ),
            };
            let cmd = command(&fleet, eui, originator, counter, code, &content, false);
            let device = fleet.device_mut(&eui).unwrap();
            let result = device.handle(&cmd, NOW);
            if kind == DeviceKind::Ihd {
                assert_eq!(result, Err(DeviceError::Unsupported(0x0059)));
                continue;
            }
            let reply = result.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_verified(&fleet, &reply.response);
            let m = gbcs::parse(&reply.response).unwrap();
            match (kind, payload::decode(m.content).unwrap()) {
                (DeviceKind::Chf, Payload::Dlms(Apdu::AccessResponse(r))) => {
                    // The whitelist of network 0 holds the ESME, GSME and PPMID of this hub.
                    let Data::Array(devices) = &r.data[0] else {
                        panic!()
                    };
                    assert_eq!(devices.len(), 3);
                }
                (DeviceKind::Esme, Payload::Dlms(Apdu::AccessResponse(r))) => {
                    assert_eq!(r.data, vec![Data::DoubleLongUnsigned(0)]);
                }
                (DeviceKind::Gsme | DeviceKind::Gpf, Payload::Gbz(g)) => {
                    let c = &g.components()[0];
                    assert_eq!(c.zcl.command_id, 0x01);
                }
                (DeviceKind::Ppmid, Payload::Asn1(n)) => assert_eq!(n.children.len(), 2),
                (k, p) => panic!("{k:?}: unexpected answer {p:?}"),
            }
        }
    }
}

#[test]
fn critical_commands_get_device_signed_responses() {
    let mut fleet = Fleet::builder()
        .hubs(1)
        .first_eui(0x00db_7700_0000_0000)
        .build()
        .unwrap();
    let esme = fleet.hubs[0].esme.eui();
    let supplier = fleet.parties.supplier;
    // ECS04a: add credit (action on class 112, method 1).
    let content = common::access_request(
        7,
        vec![AccessRequestSpec::Action(common::desc(
            112,
            [0, 0, 19, 10, 0, 255],
            1,
        ))],
        vec![Data::DoubleLong(500)],
    );
    let unsigned = command(&fleet, esme, supplier, 7, 0x001c, &content, false);
    let device = fleet.device_mut(&esme).unwrap();
    assert_eq!(
        device.handle(&unsigned, NOW),
        Err(DeviceError::SignatureRequired(0x001c))
    );
    let signed = command(&fleet, esme, supplier, 8, 0x001c, &content, true);
    let device = fleet.device_mut(&esme).unwrap();
    let reply = device.handle(&signed, NOW).unwrap();
    let m = gbcs::parse(&reply.response).unwrap();
    assert!(!m.is_mac_wrapped());
    assert_verified(&fleet, &reply.response);
    let objects = fleet.hubs[0].esme.state().cosem().unwrap();
    assert_eq!(
        objects.get(&hubgate_hil_rig::cosem::Attr::new(
            112,
            [0, 0, 19, 10, 0, 255],
            2
        )),
        Some(&Value::DoubleLong(500))
    );
}

#[test]
fn a_passivated_device_resumes_with_its_state_and_keys() {
    let mut fleet = Fleet::builder()
        .hubs(1)
        .first_eui(0x00db_8800_0000_0000)
        .build()
        .unwrap();
    let esme = fleet.hubs[0].esme.eui();
    let supplier = fleet.parties.supplier;
    let first = command(
        &fleet,
        esme,
        supplier,
        10,
        0x0026,
        &common::get_request(10, 3, obis::IMPORT_ENERGY, 2),
        false,
    );
    let device = fleet.device_mut(&esme).unwrap();
    hubgate_hil_rig::models::consume(device.state_mut(), NOW, 42);
    device.handle(&first, NOW).unwrap();

    // Passivate: state and identity to JSON, device dropped.
    let hub = fleet.hubs.pop().unwrap();
    let (state, keys) = hub.esme.into_parts();
    let state_json = serde_json::to_string(&state).unwrap();
    let identity_json = serde_json::to_string(keys.identity()).unwrap();
    drop((state, keys));

    // Restore.
    let before: DeviceState = serde_json::from_str(&state_json).unwrap();
    let identity: Identity = serde_json::from_str(&identity_json).unwrap();
    let mut restored = Device::from_parts(
        before.clone(),
        DeviceKeys::new(identity, None).unwrap(),
        fleet.cache.clone(),
    )
    .unwrap();
    assert_eq!(
        restored.handle(&first, NOW),
        Err(DeviceError::Replay {
            party: hubgate_protocol::hex::eui(&supplier),
            last: 10,
            got: 10
        }),
        "counters survive passivation"
    );
    let next = command(
        &fleet,
        esme,
        supplier,
        11,
        0x0026,
        &common::get_request(11, 3, obis::IMPORT_ENERGY, 2),
        false,
    );
    let reply = restored.handle(&next, NOW).unwrap();
    assert_verified(&fleet, &reply.response);
    let m = gbcs::parse(&reply.response).unwrap();
    match payload::decode(m.content).unwrap() {
        Payload::Dlms(Apdu::AccessResponse(r)) => {
            assert_eq!(
                r.data,
                vec![Data::DoubleLongUnsigned(42)],
                "registers survive"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        restored.state().trusted,
        before.trusted,
        "credentials survive"
    );
    assert_eq!(
        restored.state().event_log.of_kind("command").count(),
        before.event_log.of_kind("command").count() + 1
    );
}

#[test]
fn the_in_home_display_shows_the_meters() {
    let mut fleet = Fleet::builder()
        .hubs(1)
        .first_eui(0x00db_9900_0000_0000)
        .build()
        .unwrap();
    let hub = &mut fleet.hubs[0];
    hubgate_hil_rig::models::consume(hub.esme.state_mut(), NOW, 777);
    assert_eq!(hub.ihd.state().display().unwrap().updated, None);
    hubgate_hil_rig::models::refresh_display(
        hub.ihd.state_mut(),
        Some(hub.esme.state()),
        Some(hub.gsme.state()),
        NOW,
    );
    let d = hub.ihd.state().display().unwrap();
    assert_eq!(d.electricity_import_wh, Some(777));
    assert_eq!(d.electricity_payment_mode, Some(1));
    assert_eq!(d.gas_summation, Some(0));
    assert_eq!(d.updated, Some(NOW));
}
