//! The emulated meters on arbitrary commands that pass their authentication: never panic,
//! and every response and alert they produce parses and carries a valid MAC or signature.
//!
//! The input is a GBCS message (the seed corpus is the RTDS commands). Its message code,
//! date-time, supplementary fields and payload are kept; the harness re-addresses it to a
//! fresh device of a generated fleet (picked by the last byte of the recipient: RTDS EUIs end
//! in `a0` ESME, `a1` GSME, `a2` CHF, `a3` GPF, `a4` PPMID, anything else the IHD), from the
//! fleet party that plays the original originator's role, and protects it with the fleet's
//! keys: signed by that party when the original was signed or a Pre-Command, MAC'd by the
//! ACB always. So the fuzzer reaches the meters' command handling instead of stopping at
//! their MAC check.
#![no_main]

use std::sync::OnceLock;

use hubgate_hil_rig::fleet::Parties;
use hubgate_hil_rig::{Device, DeviceKeys, DeviceState, Fleet, Identity};
use hubgate_protocol::gbcs::{self, GroupingHeader, SignatureField, auth, frame};
use hubgate_protocol::smki::Usage;
use libfuzzer_sys::fuzz_target;

/// 2023-11-14T22:13:20Z.
const NOW: i64 = 1_700_000_000;

struct Rig {
    fleet: Fleet,
    /// Each device of the fleet's one hub as built, in `Hub` field order.
    devices: Vec<(DeviceState, Identity)>,
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let mut fleet = Fleet::builder().hubs(1).build().expect("fleet");
        let hub = fleet.hubs.pop().expect("one hub");
        let devices = [hub.chf, hub.esme, hub.gsme, hub.gpf, hub.ppmid, hub.ihd]
            .into_iter()
            .map(|d| {
                let (state, keys) = d.into_parts();
                (state, keys.identity().clone())
            })
            .collect();
        Rig { fleet, devices }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(m) = gbcs::parse(data) else {
        return;
    };
    let rig = rig();
    let parties = rig.fleet.parties;
    let index = match m.header.recipient[7] {
        0xa0 => 1,
        0xa1 => 2,
        0xa2 => 0,
        0xa3 => 3,
        0xa4 => 4,
        _ => 5,
    };
    let (state, identity) = &rig.devices[index];
    let recipient = state.eui;
    let originator = match m.header.originator {
        o if o == Parties::RTDS.network_operator => parties.network_operator,
        o if o == Parties::RTDS.acb => parties.acb,
        _ => parties.supplier,
    };
    let header = GroupingHeader {
        originator,
        recipient,
        ..m.header
    };
    let signed = !matches!(m.signature, SignatureField::Null);
    let store = &rig.fleet.store;
    let cache = &rig.fleet.cache;
    let acb = store
        .private_keys(&parties.acb, Usage::KeyAgreement)
        .next()
        .and_then(|k| k.agreement_key())
        .expect("the ACB's key-agreement key");
    let Some(peer) = store.public_keys(&recipient, Usage::KeyAgreement).next() else {
        return;
    };
    let signature = if signed { None } else { Some(None) };
    let apdu = frame::encode_apdu(
        &header,
        m.content,
        signature,
        m.forms.other_info,
        m.forms.content,
    );
    let command = if signed {
        let Some(ds) = store
            .private_keys(&originator, Usage::DigitalSignature)
            .next()
            .and_then(|k| k.signing_key())
        else {
            return;
        };
        auth::build_command(&apdu, ds, acb, peer.peer_key(), cache)
    } else {
        auth::mac_wrap(&apdu, acb, peer.peer_key(), cache)
    };
    let Ok(command) = command else {
        return;
    };

    let keys = DeviceKeys::new(identity.clone(), None).expect("device keys");
    let mut device = Device::from_parts(state.clone(), keys, cache.clone()).expect("device");
    let Ok(reply) = device.handle(&command, NOW) else {
        return;
    };
    authentic(&reply.response, "response");
    for alert in &reply.alerts {
        authentic(alert, "alert");
    }
});

/// What a device sent parses, and its MAC or signature verifies with the fleet's store.
fn authentic(bytes: &[u8], what: &str) {
    let rig = rig();
    let m = gbcs::parse(bytes)
        .unwrap_or_else(|e| panic!("the {what} does not parse: {e}\n{}", hex(bytes)));
    if m.is_mac_wrapped() {
        let v = auth::verify_mac(
            &m,
            &rig.fleet.store,
            &rig.fleet.parties.acb,
            &rig.fleet.cache,
        )
        .unwrap_or_else(|e| panic!("the {what}'s MAC cannot be checked: {e}"));
        assert_eq!(v.name(), "valid", "the {what}'s MAC\n{}", hex(bytes));
    } else {
        let v = auth::verify_signature(&m, &rig.fleet.store);
        assert_eq!(
            v.name(),
            "verified",
            "the {what}'s signature\n{}",
            hex(bytes)
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
