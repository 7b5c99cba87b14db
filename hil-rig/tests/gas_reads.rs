//! The gas meter's register, profile and valve reads (GCS13a, GCS17, GCS33): commands built
//! by the transform from the DUIS templates, answered by the emulated GSME and GPF. Each
//! answer is authentic (its MAC verifies), is the response of the command's use case, and
//! carries what gas consumption and the RTDS valve command (GCS32) did to the meter; the
//! register and profile answers are encrypted and decrypt for the requester.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hubgate_hil_rig::{Device, DeviceKind, models};
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::duis::model::Body;
use hubgate_protocol::duis::model::xsd::DateTime;
use hubgate_protocol::duis::reader;
use hubgate_protocol::gbcs::auth::TEST_ACB;
use hubgate_protocol::gbcs::payload::gbz::ComponentBody;
use hubgate_protocol::gbcs::payload::{self, Payload};
use hubgate_protocol::gbcs::{self, message_codes};
use hubgate_protocol::transform::time::UtcDateTime;
use hubgate_protocol::transform::{Context, DeviceType, transform};

/// The MAC'd command the gateway would send to `target` for `template`, with `counter`;
/// `period` replaces a profile read's ReadLogPeriod.
fn command(
    template: &str,
    device: DeviceType,
    target: [u8; 8],
    counter: u64,
    period: Option<(&str, &str)>,
) -> Vec<u8> {
    let xml = std::fs::read(root().join("duis/templates").join(template)).unwrap();
    let mut req = reader::parse_request(&xml, &Default::default()).unwrap();
    req.header.request_id.target = target;
    req.header.request_id.counter = counter;
    if let (Some((start, end)), Body::ReadActiveImportProfileData(b)) = (period, &mut req.body) {
        b.read_log_period.start_date_time = DateTime::new(start).unwrap();
        b.read_log_period.end_date_time = DateTime::new(end).unwrap();
    }
    let now = UtcDateTime::from_unix(RTDS_NOW);
    let t = transform(&req, &Context::new(device, TEST_ACB, now)).unwrap();
    t.command(&store(), &DerivedKeyCache::default()).unwrap()
}

/// One component of an answer: cluster, ZCL command ID, and the payload (decrypted when
/// it was encrypted, with whether it was).
type Answer = Vec<(u16, u8, Vec<u8>, bool)>;

/// Sends `cmd` to `device` and reads the answer of use case `use_case`.
fn ask(device: &mut Device, cmd: &[u8], now: i64, use_case: &str) -> Answer {
    let reply = device.handle(cmd, now).unwrap();
    assert_authentic(&reply.response);
    let m = gbcs::parse(&reply.response).unwrap();
    assert_eq!(
        message_codes::use_case(m.header.other_info.message_code),
        Some(use_case)
    );
    let mut clear = plaintexts(&m, &store()).into_iter();
    let Payload::Gbz(g) = payload::decode(m.content).unwrap() else {
        panic!("{use_case}: not a GBZ answer")
    };
    g.components()
        .iter()
        .map(|c| match c.body {
            ComponentBody::Plain(p) => (c.cluster_id, c.zcl.command_id, p.to_vec(), false),
            ComponentBody::Encrypted { .. } => (
                c.cluster_id,
                c.zcl.command_id,
                clear.next().unwrap().1,
                true,
            ),
        })
        .collect()
}

const METERING: u16 = 0x0702;

/// 2015-01-01T00:00:00Z (RTDS_NOW), ZigBee seconds.
const NEW_YEAR: u32 = 473_385_600;

#[test]
fn the_consumption_register_counts_the_gas_used() {
    for (eui, kind, device) in [
        (GSME, DeviceKind::Gsme, DeviceType::Gsme),
        (GPF, DeviceKind::Gpf, DeviceType::Gpf),
    ] {
        let mut d = rtds_device(eui, kind);
        models::consume_gas(d.state_mut(), RTDS_NOW - 4000, 1500);
        models::consume_gas(d.state_mut(), RTDS_NOW - 100, 250);
        let cmd = command(
            "GCS13a_4.1.1_SUCCESS_RELIABLE_GSME_REQUEST_DUIS.XML",
            device,
            eui,
            5000,
            None,
        );
        let answer = ask(&mut d, &cmd, RTDS_NOW, "GCS13a");
        // Read Attributes Response: attribute 0x0000, SUCCESS, uint48, 1750.
        assert_eq!(
            answer,
            [(
                METERING,
                0x01,
                vec![0x00, 0x00, 0x00, 0x25, 0xd6, 0x06, 0, 0, 0, 0],
                true
            )],
            "{kind:?}"
        );
    }
}

#[test]
fn the_valve_status_follows_the_valve_command() {
    let mut d = rtds_device(GSME, DeviceKind::Gsme);
    let read = |d: &mut Device, counter| {
        let cmd = command(
            "GCS33_7.4_SUCCESS_REQUEST_DUIS.XML",
            DeviceType::Gsme,
            GSME,
            counter,
            None,
        );
        ask(d, &cmd, RTDS_NOW, "GCS33")
    };
    // SupplyStatus (0x0014), SUCCESS, enum8: 2 (on), in the clear.
    assert_eq!(
        read(&mut d, 900),
        [(METERING, 0x01, vec![0x14, 0x00, 0x00, 0x30, 0x02], false)]
    );
    // The RTDS Change Supply (GCS32, supplier-signed, counter 1000) closes the valve.
    let close = d
        .handle(
            &rtds("7.2_GCS32/GCS32_7.2_SUCCESS_COMMAND_GBCS.HEX"),
            RTDS_NOW,
        )
        .unwrap();
    assert_authentic(&close.response);
    assert_eq!(
        read(&mut d, 2000),
        [(METERING, 0x01, vec![0x14, 0x00, 0x00, 0x30, 0x00], false)]
    );
}

#[test]
fn the_profile_returns_each_half_hour_newest_first() {
    let mut d = rtds_device(GSME, DeviceKind::Gsme);
    // Three half hours before the new year: 23:00 (10), none at 23:30, 22:00 (7 + 5).
    models::consume_gas(d.state_mut(), RTDS_NOW - 3600 + 60, 10);
    models::consume_gas(d.state_mut(), RTDS_NOW - 7200 + 60, 7);
    models::consume_gas(d.state_mut(), RTDS_NOW - 7200 + 1000, 5);
    // Consumption in the half hour in progress is not yet a profile interval.
    models::consume_gas(d.state_mut(), RTDS_NOW + 60, 99);

    let get_profile = |end: u32, status: u8, values: &[u32]| {
        let mut p = end.to_le_bytes().to_vec();
        p.extend([status, 0x02, values.len() as u8]);
        for v in values {
            p.extend(&v.to_le_bytes()[..3]);
        }
        (METERING, 0x00, p, true)
    };
    // The template's two days: the first Get Profile (the newest day) returns the four
    // half hours the profile holds, newest first, 0 for the empty one; the second finds
    // nothing older.
    let cmd = command(
        "GCS17_4.8.1_SUCCESS_REQUEST_DUIS.XML",
        DeviceType::Gsme,
        GSME,
        5000,
        None,
    );
    assert_eq!(
        ask(&mut d, &cmd, RTDS_NOW + 120, "GCS17"),
        [
            get_profile(NEW_YEAR, 0x00, &[0, 10, 0, 12]),
            get_profile(NEW_YEAR - 86_400, 0x05, &[]),
        ]
    );
    // A period ending at 23:00 returns what ended by then: 22:00 and 22:30.
    let cmd = command(
        "GCS17_4.8.1_SUCCESS_REQUEST_DUIS.XML",
        DeviceType::Gsme,
        GSME,
        5001,
        Some(("2014-12-31T20:00:00Z", "2014-12-31T23:00:00Z")),
    );
    assert_eq!(
        ask(&mut d, &cmd, RTDS_NOW + 120, "GCS17"),
        [get_profile(NEW_YEAR - 3600, 0x00, &[0, 12])]
    );
}

/// The oracle checks the commands and the answers: every MAC verifies, and the register
/// and profile answers decrypt.
#[test]
fn the_oracle_accepts_the_gas_reads() {
    let mut d = rtds_device(GSME, DeviceKind::Gsme);
    models::consume_gas(d.state_mut(), RTDS_NOW - 600, 42);
    let mut files = Vec::new();
    for (counter, use_case, template) in [
        (
            5000,
            "GCS13a",
            "GCS13a_4.1.1_SUCCESS_RELIABLE_GSME_REQUEST_DUIS.XML",
        ),
        (5001, "GCS17", "GCS17_4.8.1_SUCCESS_REQUEST_DUIS.XML"),
        (5002, "GCS33", "GCS33_7.4_SUCCESS_REQUEST_DUIS.XML"),
    ] {
        let cmd = command(template, DeviceType::Gsme, GSME, counter, None);
        let reply = d.handle(&cmd, RTDS_NOW).unwrap();
        files.push((format!("{use_case}_COMMAND_GBCS.HEX"), cmd));
        files.push((format!("{use_case}_RESPONSE_GBCS.HEX"), reply.response));
    }
    let Some(rows) = oracle(&files) else { return };
    assert_eq!(rows.len(), files.len());
    for (name, _) in &files {
        let row = rows.iter().find(|r| &r["path"] == name).unwrap();
        assert_eq!(row["mac_result"], "valid", "{name}: {row:?}");
        let encrypted = name.ends_with("_RESPONSE_GBCS.HEX") && !name.starts_with("GCS33");
        assert_eq!(
            row["decrypted_blocks"].parse::<usize>().unwrap() > 0,
            encrypted,
            "{name}: {row:?}"
        );
    }
}

/// The gas meter's event log (CS10a) holds the alerts it raised until a Clear Event Log
/// (CS11), and its security log (CS10b) stays empty; an empty log answers NOT_FOUND; each
/// log keeps its newest 100 events.
#[test]
fn the_event_log_holds_the_alerts_the_meter_raised() {
    const EVENTS: u16 = 0x0709;
    let mut d = rtds_device(GSME, DeviceKind::Gsme);
    let read = |d: &mut Device, template: &str, counter, use_case| {
        let cmd = command(template, DeviceType::Gsme, GSME, counter, None);
        ask(d, &cmd, RTDS_NOW, use_case)
    };
    let event_log = "CS10a_6.13_SUCCESS_REQUEST_DUIS.XML";
    let security_log = "CS10b_6.13_SUCCESS_REQUEST_DUIS.XML";
    // Default Response to Get Event Log (00): NOT_FOUND.
    let not_found = [(EVENTS, 0x0b, vec![0x00, 0x8b], false)];
    assert_eq!(read(&mut d, event_log, 900, "CS10a"), not_found);

    let alert = d.raise_alert(0x8f35, false, RTDS_NOW).unwrap();
    assert_authentic(&alert);
    let t = (RTDS_NOW - 946_684_800) as u32;
    let mut publish = vec![1, 0, 0, 1, 0, 0x03, 0x35, 0x8f];
    publish.extend_from_slice(&t.to_le_bytes());
    publish.push(0);
    assert_eq!(
        read(&mut d, event_log, 901, "CS10a"),
        [(EVENTS, 0x01, publish, false)],
        "Publish Event Log: one event, log 3, 0x8F35, at the alert's time, no data"
    );
    // The security log holds nothing.
    assert_eq!(read(&mut d, security_log, 902, "CS10b"), not_found);

    // Each log keeps its newest 100 events: security events do not push out the alert.
    let m = d.state_mut().zigbee_mut().unwrap();
    for n in 0..150u16 {
        m.log_event(0x04, 0x8f00 + n, t - 60, &[]);
    }
    let count = |log| m.events.iter().filter(|e| e.log == log).count();
    assert_eq!((count(0x03), count(0x04)), (1, 100));
    assert_eq!(
        m.events.iter().find(|e| e.log == 0x04).unwrap().id,
        0x8f00 + 50
    );

    // Clear Event Log (CS11) empties the event log CS10a reads.
    read(&mut d, "CS11_3.3_SUCCESS_REQUEST_DUIS.XML", 903, "CS11");
    assert_eq!(read(&mut d, event_log, 904, "CS10a"), not_found);
}

/// The GPF's gas daily consumption log (GCS61) gives each day's consumption: the gas used
/// on a day of the read period, 0 for a day of it with none, and NOT_FOUND for a period
/// after today.
#[test]
fn the_daily_consumption_log_sums_each_day() {
    const METERING: u16 = 0x0702;
    let mut d = rtds_device(GPF, DeviceKind::Gpf);
    let day = 86_400;
    // 2014-12-10 (the template's first day): 30 + 12; 2014-12-12: 5.
    let dec10 = RTDS_NOW - 22 * day;
    models::consume_gas(d.state_mut(), dec10 + 3_600, 30);
    models::consume_gas(d.state_mut(), dec10 + 80_000, 12);
    models::consume_gas(d.state_mut(), dec10 + 2 * day + 60, 5);
    let mut template =
        std::fs::read_to_string(root().join("duis/templates/GCS61_4.17_SUCCESS_REQUEST_DUIS.XML"))
            .unwrap();
    let read = |d: &mut Device, xml: &str, counter| {
        let mut req = reader::parse_request(xml.as_bytes(), &Default::default()).unwrap();
        req.header.request_id.target = GPF;
        req.header.request_id.counter = counter;
        let mut ctx = Context::new(DeviceType::Gpf, TEST_ACB, UtcDateTime::from_unix(RTDS_NOW));
        ctx.dcc_counter = Some(3000 + counter);
        let cmd = transform(&req, &ctx)
            .unwrap()
            .command(&store(), &DerivedKeyCache::default())
            .unwrap();
        ask(d, &cmd, RTDS_NOW, "GCS61")
    };
    // Sample ID 1, 2014-12-10, consumption delivered, interval FFFF, 11 days of uint24.
    let mut sampled = vec![0x01, 0x00];
    sampled.extend_from_slice(&((dec10 - 946_684_800) as u32).to_le_bytes());
    sampled.extend_from_slice(&[0x00, 0xff, 0xff, 11, 0]);
    for v in [42u32, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0] {
        sampled.extend_from_slice(&v.to_le_bytes()[..3]);
    }
    assert_eq!(
        read(&mut d, &template, 900),
        [(METERING, 0x07, sampled, true)]
    );
    template = template.replace("2014-12-10T00:00:00.00Z", "2015-01-02T00:00:00.00Z");
    template = template.replace("2014-12-20T00:00:00.00Z", "2015-01-05T00:00:00.00Z");
    assert_eq!(
        read(&mut d, &template, 901),
        [(METERING, 0x0b, vec![0x08, 0x8b], false)],
        "NOT_FOUND"
    );
}

/// The gas meter's prepayment configuration read (GCS21b) gives back the calendar last
/// published to it: after the RTDS tariff (GCS01a), its four day profiles, two week
/// profiles, seasons and special days, as published.
#[test]
fn the_prepayment_configuration_reads_back_the_published_calendar() {
    const CALENDAR: u16 = 0x0707;
    let mut d = rtds_device(GSME, DeviceKind::Gsme);
    let read = |d: &mut Device, counter| {
        let cmd = command(
            "GCS21b_4.13_SUCCESS_REQUEST_DUIS.XML",
            DeviceType::Gsme,
            GSME,
            counter,
            None,
        );
        ask(d, &cmd, RTDS_NOW, "GCS21b")
    };
    let calendar = |answer: Answer| -> Vec<(u8, Vec<u8>)> {
        answer
            .into_iter()
            .filter(|(cluster, ..)| *cluster == CALENDAR)
            .map(|(_, command, payload, _)| (command, payload))
            .collect()
    };
    // No calendar yet: a Default Response NOT_FOUND to each of the four gets.
    assert_eq!(
        calendar(read(&mut d, 900)),
        (1..=4u8).map(|c| (0x0b, vec![c, 0x8b])).collect::<Vec<_>>()
    );

    let tariff = rtds("1.1.1_GCS01a/GCS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_COMMAND_GBCS.HEX");
    let published: Vec<(u8, Vec<u8>)> = {
        let m = gbcs::parse(&tariff).unwrap();
        let Payload::Gbz(g) = payload::decode(m.content).unwrap() else {
            panic!("not GBZ")
        };
        g.components()
            .iter()
            .filter(|c| c.cluster_id == CALENDAR && c.zcl.command_id != 0x00)
            .map(|c| match c.body {
                ComponentBody::Plain(p) => (c.zcl.command_id, p.to_vec()),
                _ => panic!("encrypted"),
            })
            .collect()
    };
    assert_eq!(
        published.len(),
        8,
        "4 day and 2 week profiles, seasons, special days"
    );
    let reply = d.handle(&tariff, RTDS_NOW).unwrap();
    assert_authentic(&reply.response);
    assert_eq!(calendar(read(&mut d, 2000)), published);
}
