//! 6.24.1 Retrieve Device Security Credentials (KRP) from the transform to the emulated
//! devices: the DCC's CS02a (and CS02f, with the load controller) built from the DUIS
//! templates, answered by each Type 1 device with the cells it holds for each role asked for
//! (subject EUIs and key identifiers of the certificates it was given) and the floor of each
//! party's counter, which moves when the party's commands are accepted. The independent
//! oracle accepts every command and answer.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use hubgate_hil_rig::pki::subject_key_identifier;
use hubgate_hil_rig::trust::role;
use hubgate_hil_rig::{Device, DeviceKind};
use hubgate_protocol::gbcs;
use hubgate_protocol::gbcs::auth::TEST_ACB;
use hubgate_protocol::gbcs::payload::asn1::Node;
use hubgate_protocol::hex;
use hubgate_protocol::transform::DeviceType;

/// The MAC'd command for `template` to `target` ([`transformed_command`]).
fn command(
    template: &str,
    device: DeviceType,
    target: [u8; 8],
    counter: u64,
    dcc_counter: u64,
) -> Vec<u8> {
    transformed_command(template, device, target, counter, dcc_counter)
}

/// One role's answer: (role, status, floor, cells as (usage bits, cell usage, EUI, key id)).
type RoleAnswer = (u8, u8, u64, Vec<(u8, Option<u8>, Vec<u8>, Vec<u8>)>);

/// Sends `cmd`; the answer must be authentic and of `use_case`. Returns it with its roles.
fn ask(d: &mut Device, cmd: &[u8], use_case: &str) -> (Vec<u8>, Vec<RoleAnswer>) {
    let response = answer_of(d, cmd, use_case);
    let m = gbcs::parse(&response).unwrap();
    assert_eq!(m.header.recipient, TEST_ACB, "answered to the ACB");
    let top = Node::decode(m.content).unwrap();
    let roles = top
        .children
        .iter()
        .map(|r| {
            let c = &r.children;
            let uint = |n: &Node<'_>| n.value.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
            let cells = c
                .get(3)
                .map(|list| {
                    list.children
                        .iter()
                        .map(|cell| {
                            let k = &cell.children;
                            let (usage_index, n) = (k[0].value[1], k.len());
                            let index = (n == 4).then(|| k[1].value[0]);
                            (
                                usage_index,
                                index,
                                k[n - 2].value.to_vec(),
                                k[n - 1].value.to_vec(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                c[0].value[0],
                c[1].value[0],
                c.get(2).map(uint).unwrap_or(0),
                cells,
            )
        })
        .collect();
    (response, roles)
}

/// The subject key identifier of the RTDS keystore certificate `file`
/// (`<eui>-[pp-]<ds|ka>.pem`).
fn ski(file: &str) -> Vec<u8> {
    use hubgate_protocol::smki::Usage;
    let eui = hex::parse_eui(&file[..16]).unwrap();
    let usage = if file.ends_with("-ds.pem") {
        Usage::DigitalSignature
    } else {
        Usage::KeyAgreement
    };
    let prepayment = file.contains("-pp-");
    let store = store();
    let entry = store
        .public_keys(&eui, usage)
        .find(|e| e.public_label().is_some_and(|l| l.contains("-pp-")) == prepayment)
        .unwrap();
    subject_key_identifier(entry.certificate().unwrap().der()).unwrap()
}

#[test]
fn every_type_1_device_reports_the_credentials_it_holds() {
    let ds = 0x80;
    let ka = 0x08;
    let supplier_cells = vec![
        (ds, None, SUPPLIER.to_vec(), ski("90b3d51f30010000-ds.pem")),
        (ka, None, SUPPLIER.to_vec(), ski("90b3d51f30010000-ka.pem")),
        (
            ka,
            Some(1),
            SUPPLIER.to_vec(),
            ski("90b3d51f30010000-pp-ka.pem"),
        ),
    ];
    let no_cells = vec![
        (
            ds,
            None,
            NETWORK_OPERATOR.to_vec(),
            ski("90b3d51f30020000-ds.pem"),
        ),
        (
            ka,
            None,
            NETWORK_OPERATOR.to_vec(),
            ski("90b3d51f30020000-ka.pem"),
        ),
    ];
    let mut files = Vec::new();
    let mut dcc = 5000;
    for (eui, kind, device) in [
        (ESME, DeviceKind::Esme, DeviceType::Esme),
        (GSME, DeviceKind::Gsme, DeviceType::Gsme),
        (GPF, DeviceKind::Gpf, DeviceType::Gpf),
        (CHF, DeviceKind::Chf, DeviceType::Chf),
        (PPMID, DeviceKind::Ppmid, DeviceType::Ppmid),
    ] {
        let mut d = rtds_device(eui, kind);
        dcc += 1;
        let cmd = command(
            "CS02aMAC_6.24.1_SUCCESS_REQUEST_DUIS.XML",
            device,
            eui,
            1000,
            dcc,
        );
        let (answer, roles) = ask(&mut d, &cmd, "CS02a");
        assert_eq!(
            roles,
            vec![
                (role::SUPPLIER, 0, 0, supplier_cells.clone()),
                (role::NETWORK_OPERATOR, 0, 0, no_cells.clone()),
            ],
            "{kind:?}"
        );
        let name = format!("{kind:?}");
        files.push((format!("CS02a_{name}_COMMAND_GBCS.HEX"), cmd));
        files.push((format!("CS02a_{name}_RESPONSE_GBCS.HEX"), answer));
    }

    // The ESME: CS02f for the supplier and the load controller; a supplier command moves the
    // supplier's floor; a replaced credential shows its new certificate.
    let mut esme = rtds_device(ESME, DeviceKind::Esme);
    let lc = hex::parse_eui("90b3d51f30010008").unwrap();
    let lc_cells = vec![
        (ds, None, lc.to_vec(), ski("90b3d51f30010008-ds.pem")),
        (ka, None, lc.to_vec(), ski("90b3d51f30010008-ka.pem")),
    ];
    let f = "CS02fMAC_6.24.1_SUCCESS_REQUEST_DUIS.XML";
    let cmd = command(f, DeviceType::Esme, ESME, 1000, 6001);
    let (answer, roles) = ask(&mut esme, &cmd, "CS02f");
    assert_eq!(
        roles,
        vec![
            (role::SUPPLIER, 0, 0, supplier_cells.clone()),
            (role::LOAD_CONTROLLER, 0, 0, lc_cells),
        ]
    );
    files.push(("CS02f_COMMAND_GBCS.HEX".to_owned(), cmd));
    files.push(("CS02f_RESPONSE_GBCS.HEX".to_owned(), answer));

    let read = command(
        "ECS82_4.18_SUCCESS_REQUEST_DUIS.XML",
        DeviceType::Esme,
        ESME,
        0x0400_0000_0000_1234,
        0,
    );
    esme.handle(&read, RTDS_NOW).unwrap();
    let cmd = command(
        "CS02aMAC_6.24.1_SUCCESS_REQUEST_DUIS.XML",
        DeviceType::Esme,
        ESME,
        1000,
        6002,
    );
    let (_, roles) = ask(&mut esme, &cmd, "CS02a");
    assert_eq!(roles[0].2, 0x0400_0000_0000_1234, "the supplier's floor");
    assert_eq!(roles[1].2, 0, "the network operator's floor");

    // A gas meter asked under CS02a for the load controller (CS02f's role), the
    // transitional CoS party, an unknown role and the ACB, whose digital-signature cell it
    // has lost: 127 for the first three, the ACB's one remaining cell for the last.
    let mut gsme = rtds_device(GSME, DeviceKind::Gsme);
    {
        use hubgate_hil_rig::pki::KeyUsage;
        let t = &mut gsme.state_mut().trusted;
        t.remove(role::ACB, KeyUsage::DigitalSignature, 0).unwrap();
    }
    // SEQUENCE { SEQUENCE { 4, keyAgreement }, SEQUENCE { 8, 5, 99, 4 } }
    let content = hex::decode("3017300702010403020308300c020108020105020163020104").unwrap();
    let header = command_header(TEST_ACB, GSME, 7001, 0x0008);
    let cmd = mac_command_in(&store(), &TEST_ACB, &header, &content);
    let (answer, roles) = ask(&mut gsme, &cmd, "CS02a");
    assert_eq!(
        roles,
        vec![
            (role::LOAD_CONTROLLER, 127, 0, vec![]),
            (role::TRANSITIONAL_COS, 127, 0, vec![]),
            (99, 127, 0, vec![]),
            (
                role::ACB,
                0,
                0,
                vec![(ka, None, TEST_ACB.to_vec(), ski("90b3d51f30000002-ka.pem"))]
            ),
        ]
    );
    files.push(("CS02a_roles_COMMAND_GBCS.HEX".to_owned(), cmd));
    files.push(("CS02a_roles_RESPONSE_GBCS.HEX".to_owned(), answer));

    // A command whose authorising cell is not the ACB's key agreement is refused.
    let bad = hex::decode("3011300702010203020780300602010202010300").unwrap();
    let header = command_header(TEST_ACB, GSME, 7002, 0x0008);
    let cmd = mac_command_in(&store(), &TEST_ACB, &header, &bad);
    assert!(gsme.handle(&cmd, RTDS_NOW).is_err());

    let Some(rows) = oracle(&files) else { return };
    assert_eq!(rows.len(), files.len());
    for (name, _) in &files {
        let row = rows.iter().find(|r| &r["path"] == name).unwrap();
        assert_eq!(row["mac_result"], "valid", "{name}: {row:?}");
    }
}

/// 6.24.2: the device's own certificates. The RTDS CS02e commands (the supplier's signed
/// digital-signature request, and the key-agreement one of the ERROR vector, here without a
/// fault) are answered, signed, with the certificate of that usage: the substitute
/// digital-signature certificate an emulated RTDS device signs with, and the ESME's own
/// key-agreement certificate from the RTDS key store.
#[test]
fn a_device_gives_its_own_certificates() {
    use hubgate_protocol::smki::{Certificate, Usage};
    let mut esme = rtds_device(ESME, DeviceKind::Esme);
    let ask_for = |d: &mut Device, file: &str| -> Certificate {
        d.state_mut().counters.clear();
        let response = answer_of(d, &rtds(file), "CS02e");
        Certificate::from_der(gbcs::parse(&response).unwrap().content).unwrap()
    };
    let ds = ask_for(
        &mut esme,
        "6.24.2_CS02e/CS02e_6.24.2_SUCCESS_COMMAND_GBCS.HEX",
    );
    assert_eq!(ds.eui(), Some(ESME));
    assert_eq!(ds.usage(), Some(Usage::DigitalSignature));
    let ka = ask_for(
        &mut esme,
        "6.24.2_CS02e/CS02e_6.24.2_ERROR_COMMAND_GBCS.HEX",
    );
    let published = store()
        .public_keys(&ESME, Usage::KeyAgreement)
        .find_map(|e| e.certificate().map(|c| c.der().to_vec()))
        .unwrap();
    assert_eq!(ka.der(), published.as_slice());
}
