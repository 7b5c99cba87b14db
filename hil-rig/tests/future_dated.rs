//! Future-dated commands: the immediate response, nothing before the execution time, then
//! the 8F66/8F67 alerts, whose signed content equals the RTDS alerts (device-signed, the
//! alert counter set to the RTDS one), and the state change they announce.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hubgate_hil_rig::{Device, DeviceKind, models};
use hubgate_protocol::gbcs::{self, Cra, SignatureField};

/// Replays a future-dated command, then checks the alerts of its execution against the
/// RTDS alert files (given in alert-counter order).
fn future_dated(device: &mut Device, dir: &str, stem: &str, alerts: &[&str]) -> i64 {
    let command = rtds(&format!("{dir}/{stem}_COMMAND_GBCS.HEX"));
    let reply = device.handle(&command, RTDS_NOW).unwrap();
    assert_same_message(
        &reply.response,
        &rtds(&format!("{dir}/{stem}_RESPONSE_GBCS.HEX")),
        stem,
    );
    let due = reply.due.expect("the command is future-dated");
    assert!(due > RTDS_NOW);
    assert_eq!(device.next_due(), Some(due));
    assert!(
        device.tick(due - 1).unwrap().is_empty(),
        "nothing before the due time"
    );

    let expected: Vec<Vec<u8>> = alerts.iter().map(|a| rtds(&format!("{dir}/{a}"))).collect();
    let first = gbcs::parse(&expected[0]).unwrap().header.counter;
    device.state_mut().alert_counter = first;
    let sent = device.tick(due).unwrap();
    assert_eq!(sent.len(), expected.len(), "{stem}: number of alerts");
    for (ours, theirs) in sent.iter().zip(&expected) {
        let m = gbcs::parse(ours).unwrap();
        assert_eq!(m.header.cra, Cra::Alert);
        assert!(!m.is_mac_wrapped(), "critical alerts are not MAC'd");
        assert!(matches!(m.signature, SignatureField::Present(_)));
        assert_authentic(ours);
        assert_same_message(ours, theirs, stem);
    }
    assert!(device.state().pending.is_empty());
    assert!(
        device.tick(due + 86_400).unwrap().is_empty(),
        "alerts are sent once"
    );
    due
}

#[test]
fn tariff_becomes_active_at_the_execution_time() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    let before = models::active_season_profile(d.state()).cloned();
    let dir = "1.1.1_ECS01a";
    let due = future_dated(
        &mut d,
        dir,
        "ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS",
        &[
            "ECS01a_1.1.1_8F66_FUTURE_DATED_TOU_BLOCK_SUCCESS_ALERT_SWITCHING_TABLE_GBCS.HEX",
            "ECS01a_1.1.1_8F66_FUTURE_DATED_TOU_BLOCK_SUCCESS_ALERT_SPECIAL_DAYS_GBCS.HEX",
            "ECS01a_1.1.1_8F66_FUTURE_DATED_TOU_BLOCK_SUCCESS_ALERT_CURRENCY_UNIT_GBCS.HEX",
            "ECS01a_1.1.1_8F66_FUTURE_DATED_TOU_BLOCK_SUCCESS_ALERT_STANDING_CHARGE_GBCS.HEX",
            "ECS01a_1.1.1_8F66_FUTURE_DATED_TOU_BLOCK_SUCCESS_ALERT_PRICE_MATRIX_GBCS.HEX",
            "ECS01a_1.1.1_8F66_FUTURE_DATED_TOU_BLOCK_SUCCESS_ALERT_THRESHOLD_MATRIX_GBCS.HEX",
        ],
    );
    // 2030-01-15T09:00:00Z.
    assert_eq!(due, 1_894_698_000);
    let after = models::active_season_profile(d.state()).cloned();
    assert_ne!(before, after, "the new season profile is active");
    let seasons = after.unwrap();
    let names: Vec<&[u8]> = seasons
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_structure().unwrap()[0].as_octets().unwrap())
        .collect();
    assert_eq!(names, [b"winter".as_slice(), b"summer".as_slice()]);
}

#[test]
fn a_cancellation_drops_the_pending_tariff() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    let dir = "1.1.1_ECS01a";
    let fd = rtds(&format!(
        "{dir}/ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS_COMMAND_GBCS.HEX"
    ));
    let due = d.handle(&fd, RTDS_NOW).unwrap().due.unwrap();
    assert_eq!(d.state().pending.len(), 1);
    let cancel = rtds(&format!(
        "{dir}/ECS01a_1.1.1_CANCELLATION_TOU_BLOCK_SUCCESS_COMMAND_GBCS.HEX"
    ));
    let reply = d.handle(&cancel, RTDS_NOW).unwrap();
    assert_eq!(reply.due, None);
    assert!(d.state().pending.is_empty());
    assert!(d.tick(due).unwrap().is_empty());
    assert_eq!(
        models::active_season_profile(d.state()),
        models::esme_objects().get(&hubgate_hil_rig::cosem::Attr::new(
            20,
            models::obis::CALENDAR,
            3
        ))
    );
}

#[test]
fn payment_mode_changes_at_the_execution_time() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    assert_eq!(models::payment_mode(d.state()), Some(1));
    future_dated(
        &mut d,
        "1.6_ECS03",
        "ECS03_1.6_FUTURE_DATED_TWIN_SUCCESS",
        &[
            "ECS03_1.6_8F66_FUTURE_DATED_TWIN_SUCCESS_ALERT_DISABLEMENT_THRESHOLD_GBCS.HEX",
            "ECS03_1.6_8F66_FUTURE_DATED_TWIN_SUCCESS_ALERT_PAYMENT_MODE_GBCS.HEX",
        ],
    );
    assert_eq!(models::payment_mode(d.state()), Some(2), "prepayment");
    // The RTDS ECS02 command has a lower counter than the ECS03 one: forget the supplier's.
    d.state_mut().counters.clear();
    future_dated(
        &mut d,
        "1.6_ECS02",
        "ECS02_1.6_FUTURE_DATED_TWIN_SUCCESS",
        &["ECS02_1.6_8F66_FUTURE_DATED_TWIN_SUCCESS_ALERT_PAYMENT_MODE_GBCS.HEX"],
    );
    assert_eq!(models::payment_mode(d.state()), Some(1), "credit");
}

#[test]
fn credentials_update_alerts() {
    let dir = "6.15.1_CS02bSupplierBySupplier";
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    future_dated(
        &mut d,
        dir,
        "CS02bSupplierBySupplier_6.15.1_FUTURE_DATED_SUCCESS",
        &["CS02bSupplierBySupplier_6.15.1_8F66_FUTURE_DATED_SUCCESS_ALERT_GBCS.HEX"],
    );
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    future_dated(
        &mut d,
        dir,
        "CS02bSupplierBySupplier_6.15.1_FUTURE_DATED_ERROR",
        &["CS02bSupplierBySupplier_6.15.1_8F67_FUTURE_DATED_ERROR_ALERT_GBCS.HEX"],
    );
}

#[test]
fn gas_tariff_publishes_alert_and_become_active() {
    let mut d = rtds_device(GSME, DeviceKind::Gsme);
    future_dated(
        &mut d,
        "1.1.1_GCS01a",
        "GCS01a_1.1.1_FUTURE_DATED_BLOCK_SUCCESS",
        &[
            "GCS01a_1.1.1_8F66_FUTURE_DATED_BLOCK_SUCCESS_ALERT_PUBLISH_CALENDAR_GBCS.HEX",
            "GCS01a_1.1.1_8F66_FUTURE_DATED_BLOCK_SUCCESS_ALERT_PUBLISH_SPECIAL_DAYS_GBCS.HEX",
            "GCS01a_1.1.1_8F66_FUTURE_DATED_BLOCK_SUCCESS_ALERT_PUBLISH_TARIFF_INFORMATION_GBCS.HEX",
            "GCS01a_1.1.1_8F66_FUTURE_DATED_BLOCK_SUCCESS_ALERT_PUBLISH_BLOCK_THRESHOLDS_GBCS.HEX",
            "GCS01a_1.1.1_8F66_FUTURE_DATED_BLOCK_SUCCESS_ALERT_PUBLISH_PRICE_MATRIX_GBCS.HEX",
        ],
    );
    let published = &d.state().zigbee().unwrap().published;
    assert_eq!(published.len(), 8, "every publish of the command is active");
    assert!(published.contains_key(&(0x0700, 0x05)));
}

#[test]
fn future_dated_prices_and_prepay_configuration_alert_when_they_take_effect() {
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    future_dated(
        &mut d,
        "1.2.1_ECS01b",
        "ECS01b_1.2.1_FUTURE_DATED_TOU_BLOCK_SUCCESS",
        &[
            "ECS01b_1.2.1_8F66_FUTURE_DATED_TOU_BLOCK_SUCCESS_ALERT_STANDING_CHARGE_GBCS.HEX",
            "ECS01b_1.2.1_8F66_FUTURE_DATED_TOU_BLOCK_SUCCESS_ALERT_PRICE_MATRIX_GBCS.HEX",
        ],
    );
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    future_dated(
        &mut d,
        "1.2.2_ECS01d",
        "ECS01d_1.2.2_FUTURE_DATED_SUCCESS",
        &["ECS01d_1.2.2_8F66_FUTURE_DATED_SUCCESS_ALERT_PRICE_MATRIX_GBCS.HEX"],
    );
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    future_dated(
        &mut d,
        "1.1.2_ECS01c",
        "ECS01c_1.1.2_FUTURE_DATED_SUCCESS",
        &[
            "ECS01c_1.1.2_8F66_FUTURE_DATED_SUCCESS_ALERT_SWITCHING_TABLE_GBCS.HEX",
            "ECS01c_1.1.2_8F66_FUTURE_DATED_SUCCESS_ALERT_PRICE_MATRIX_GBCS.HEX",
            "ECS01c_1.1.2_8F66_FUTURE_DATED_SUCCESS_ALERT_SPECIAL_DAYS_GBCS.HEX",
        ],
    );
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    future_dated(
        &mut d,
        "2.1_ECS08",
        "ECS08_2.1_FUTURE_DATED_SUCCESS",
        &[
            "ECS08_2.1_8F66_FUTURE_DATED_SUCCESS_ALERT_SPECIAL_DAYS_GBCS.HEX",
            "ECS08_2.1_8F66_FUTURE_DATED_SUCCESS_ALERT_MAX_METER_BALANCE_GBCS.HEX",
            "ECS08_2.1_8F66_FUTURE_DATED_SUCCESS_ALERT_MAX_CREDIT_THRESHOLD_GBCS.HEX",
            "ECS08_2.1_8F66_FUTURE_DATED_SUCCESS_ALERT_DEBT_RECOVERY_RATE_CAP_AMOUNT_GBCS.HEX",
            "ECS08_2.1_8F66_FUTURE_DATED_SUCCESS_ALERT_DEBT_RECOVERY_RATE_CAP_PERIOD_GBCS.HEX",
            "ECS08_2.1_8F66_FUTURE_DATED_SUCCESS_ALERT_LOW_CREDIT_THRESHOLD_GBCS.HEX",
            "ECS08_2.1_8F66_FUTURE_DATED_SUCCESS_ALERT_EMERGENCY_CREDIT_LIMIT_GBCS.HEX",
            "ECS08_2.1_8F66_FUTURE_DATED_SUCCESS_ALERT_EMERGENCY_CREDIT_THRESHOLD_GBCS.HEX",
            "ECS08_2.1_8F66_FUTURE_DATED_SUCCESS_ALERT_CALENDAR_GBCS.HEX",
        ],
    );
    let mut d = rtds_device(ESME, DeviceKind::Esme);
    future_dated(
        &mut d,
        "6.14.2_ECS46c",
        "ECS46c_6.14.2_FUTURE_DATED_ALL_OPTIONALS_SUCCESS",
        &[
            "ECS46c_6.14.2_8F66_FUTURE_DATED_ALL_OPTIONALS_SUCCESS_ALERT_CALENDAR_GBCS.HEX",
            "ECS46c_6.14.2_8F66_FUTURE_DATED_ALL_OPTIONALS_SUCCESS_ALERT_SPECIAL_DAYS_GBCS.HEX",
        ],
    );
    let mut d = rtds_device(GSME, DeviceKind::Gsme);
    future_dated(
        &mut d,
        "1.2.1_GCS01b",
        "GCS01b_1.2.1_FUTURE_DATED_BLOCK_SUCCESS",
        &[
            "GCS01b_1.2.1_8F66_FUTURE_DATED_BLOCK_SUCCESS_ALERT_PUBLISH_TARIFF_INFORMATION_GBCS.HEX",
            "GCS01b_1.2.1_8F66_FUTURE_DATED_BLOCK_SUCCESS_ALERT_PUBLISH_PRICE_MATRIX_GBCS.HEX",
        ],
    );
    let published = &d.state().zigbee().unwrap().published;
    assert!(
        published.contains_key(&(0x0700, 0x05)),
        "the price matrix is active"
    );
}
