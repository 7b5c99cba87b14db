//! Command checks: a command whose MAC, signature, counter or addressing is wrong is not
//! executed and gets no response; the refusal is logged. Valid commands still work after a
//! refusal.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hubgate_hil_rig::{DeviceError, DeviceKind, models};
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::gbcs::auth::{self, TEST_ACB};
use hubgate_protocol::gbcs::{self, frame};

const ECS17A: &str = "4.2_ECS17a/ECS17a_4.2_SUCCESS_COMMAND_GBCS.HEX";
const ECS01A: &str = "1.1.1_ECS01a/ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS";

/// MAC-wraps an APDU as the DCC does, for the RTDS ESME.
fn wrap(apdu: &[u8]) -> Vec<u8> {
    wrap_for(ESME, apdu)
}

#[test]
fn tampered_mac_is_refused_and_nothing_changes() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    let good = rtds(ECS17A);
    let m = gbcs::parse(&good).unwrap();
    for at in [
        m.regions.mac.clone().unwrap().start,
        m.regions.content.start + 3,
    ] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        assert_eq!(d.handle(&bad, RTDS_NOW), Err(DeviceError::MacInvalid));
    }
    assert!(d.state().counters.is_empty(), "no counter recorded");
    assert_eq!(d.state().security_log.of_kind("mac-invalid").count(), 2);
    assert_eq!(d.state().event_log.of_kind("command").count(), 0);
    // The genuine command is still accepted: its counter was not consumed.
    assert!(d.handle(&good, RTDS_NOW).is_ok());
}

#[test]
fn replayed_counters_are_refused() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    let first = rtds("4.2_ECS17a/ECS17a_4.2_ERROR_COMMAND_GBCS.HEX"); // counter 1201
    let older = rtds(ECS17A); // counter 1200, same originator
    assert!(d.handle(&first, RTDS_NOW).is_ok());
    assert_eq!(
        d.handle(&first, RTDS_NOW),
        Err(DeviceError::Replay {
            party: "90b3d51f30020000".into(),
            last: 1201,
            got: 1201
        })
    );
    assert!(matches!(
        d.handle(&older, RTDS_NOW),
        Err(DeviceError::Replay { got: 1200, .. })
    ));
    // Counters are per remote party: the supplier's 1000 is still fresh.
    let supplier = rtds("4.1.1_ECS17b/ECS17b_4.1.1_SINGLE_SUCCESS_COMMAND_GBCS.HEX");
    assert!(d.handle(&supplier, RTDS_NOW).is_ok());
    assert_eq!(d.state().security_log.of_kind("replay").count(), 2);
}

#[test]
fn forged_or_missing_signatures_on_critical_commands_are_refused() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    let before = models::passive_season_profile(d.state()).cloned();
    let command = rtds(&format!("{ECS01A}_COMMAND_GBCS.HEX"));
    let m = gbcs::parse(&command).unwrap();

    // A signature bit flipped, MAC recomputed: only the signature is wrong.
    let mut apdu = m.apdu().to_vec();
    let sig_at = m.regions.signature.clone().unwrap().start - m.regions.apdu.start;
    apdu[sig_at + 5] ^= 0x80;
    assert_eq!(
        d.handle(&wrap(&apdu), RTDS_NOW),
        Err(DeviceError::SignatureInvalid("90b3d51f30010000".into()))
    );

    // The Pre-Command with a null signature, correctly MAC'd: unsigned critical command.
    let mut pre = rtds(&format!("{ECS01A}_PRECOMMAND_GBCS.HEX"));
    pre.push(0x00);
    assert_eq!(
        d.handle(&wrap(&pre), RTDS_NOW),
        Err(DeviceError::SignatureRequired(0x0019))
    );
    // A signed command without the MAC wrapper is authenticated by its signature.
    assert_eq!(models::passive_season_profile(d.state()).cloned(), before);
    let signed_only = m.apdu().to_vec();
    let reply = d.handle(&signed_only, RTDS_NOW).unwrap();
    assert!(!frame::parse(&reply.response).unwrap().is_mac_wrapped());
    assert_ne!(models::passive_season_profile(d.state()).cloned(), before);
}

#[test]
fn a_critical_command_signed_by_a_party_in_another_role_is_refused() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    let before = models::passive_season_profile(d.state()).cloned();
    // The supplier's tariff Pre-Command, re-addressed from the network operator and signed
    // with the network operator's own (trusted) key: a correct signature from the wrong role.
    let mut pre = rtds(&format!("{ECS01A}_PRECOMMAND_GBCS.HEX"));
    let at = pre
        .windows(8)
        .position(|w| w == SUPPLIER)
        .expect("the originator in the header");
    pre[at..at + 8].copy_from_slice(&NETWORK_OPERATOR);
    let key = hubgate_protocol::crypto::SigningKey::from_pem_or_der(
        &std::fs::read(root().join("gbcs/keystore/90b3d51f30020000-ds.key")).unwrap(),
    )
    .unwrap();
    let signed = auth::sign_precommand(&pre, &key).unwrap();
    assert_eq!(
        d.handle(&wrap(&signed), RTDS_NOW),
        Err(DeviceError::SignerRole {
            code: 0x0019,
            party: "90b3d51f30020000".into(),
            role: 3
        })
    );
    assert_eq!(models::passive_season_profile(d.state()).cloned(), before);
    assert_eq!(d.state().security_log.of_kind("signer-role").count(), 1);
}

#[test]
fn commands_for_others_and_non_commands_are_ignored() {
    let mut gas = rtds_device(GSME, DeviceKind::Gsme);
    assert!(matches!(
        gas.handle(&rtds(ECS17A), RTDS_NOW),
        Err(DeviceError::NotAddressedToMe { .. })
    ));
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    let response = rtds("4.2_ECS17a/ECS17a_4.2_SUCCESS_RESPONSE_GBCS.HEX");
    assert_eq!(
        d.handle(&response, RTDS_NOW),
        Err(DeviceError::NotACommand(2))
    );
    // Every prefix of a command is refused without panicking.
    let good = rtds(ECS17A);
    for n in 0..good.len() {
        assert!(d.handle(&good[..n], RTDS_NOW).is_err());
    }
    // An unauthenticated command (no MAC, null signature).
    let m = gbcs::parse(&good).unwrap();
    assert_eq!(
        d.handle(m.apdu(), RTDS_NOW),
        Err(DeviceError::Unauthenticated)
    );
    assert!(d.state().counters.is_empty());
}

#[test]
fn a_command_from_an_unknown_party_is_refused() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    let good = rtds(ECS17A);
    let m = gbcs::parse(&good).unwrap();
    let mut apdu = m.apdu().to_vec();
    // Originator: the second test supplier, whom the device does not trust.
    let at = m.regions.originator.start - m.regions.apdu.start;
    apdu[at..at + 8].copy_from_slice(&[0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x03, 0x00, 0x00]);
    assert_eq!(
        d.handle(&wrap(&apdu), RTDS_NOW),
        Err(DeviceError::UnknownRemoteParty {
            party: "90b3d51f30030000".into(),
            usage: "ds"
        })
    );
}

#[test]
fn responses_use_the_device_keys() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    // MAC'd response: verifies with the RTDS device certificate (mirrored key agreement).
    let r = d.handle(&rtds(ECS17A), RTDS_NOW).unwrap().response;
    let m = gbcs::parse(&r).unwrap();
    let s = store();
    let v = auth::verify_mac(&m, &s, &TEST_ACB, &DerivedKeyCache::default()).unwrap();
    assert_eq!(
        v.key_pair_label().as_deref(),
        Some("90b3d51f30020000-ka.key x 00db1234567890a0-ka.pem")
    );
    // Signed response: the substitute key, not the RTDS device certificate.
    let r = d
        .handle(&rtds(&format!("{ECS01A}_COMMAND_GBCS.HEX")), RTDS_NOW)
        .unwrap()
        .response;
    let m = gbcs::parse(&r).unwrap();
    assert_eq!(auth::verify_signature(&m, &store()).name(), "failed");
    assert_eq!(
        auth::verify_signature(&m, verify_store()).name(),
        "verified"
    );
}

#[test]
fn authenticated_but_mangled_payloads_never_panic() {
    // Valid MACs over payloads with one byte changed: the device answers or refuses, but
    // never panics.
    for (eui, kind, file) in [
        (
            ESME,
            DeviceKind::Esme,
            "4.8.1_ECS22b/ECS22b_4.8.1_SINGLE_SUCCESS_COMMAND_GBCS.HEX",
        ),
        (
            ESME,
            DeviceKind::Esme,
            "4.4.4_ECS20a/ECS20a_4.4.4_SUCCESS_COMMAND_GBCS.HEX",
        ),
        (
            GSME,
            DeviceKind::Gsme,
            "8.7.2_CS03B/CS03B_8.7.2_SUCCESS_COMMAND_GBCS.HEX",
        ),
        (
            GSME,
            DeviceKind::Gsme,
            "4.4.5_GCS15e/GCS15e_4.4.5_SUCCESS_COMMAND_GBCS.HEX",
        ),
        (
            CHF,
            DeviceKind::Chf,
            "8.9_CCS07/CCS07_8.9_SUCCESS_COMMAND_GBCS.HEX",
        ),
    ] {
        let good = rtds(file);
        let m = gbcs::parse(&good).unwrap();
        let apdu = m.apdu().to_vec();
        let content = m.regions.content.start - m.regions.apdu.start
            ..m.regions.content.end - m.regions.apdu.start;
        let mut d = rtds_device(eui, kind);
        let mut answered = 0;
        for at in content {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = apdu.clone();
                bad[at] ^= flip;
                d.state_mut().counters.clear();
                if d.handle(&wrap_for(eui, &bad), RTDS_NOW).is_ok() {
                    answered += 1;
                }
            }
        }
        assert!(
            answered > 0,
            "{file}: some mutations are still valid commands"
        );
    }
}
