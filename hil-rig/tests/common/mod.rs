//! Shared helpers for the emulator tests: RTDS devices, corpus files, seeding device state
//! from RTDS responses, comparisons, and the independent oracle.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use hubgate_hil_rig::cosem::{Attr, Profile};
use hubgate_hil_rig::pki::CertificateAuthority;
use hubgate_hil_rig::trust::role;
use hubgate_hil_rig::value::{TypeDesc, Value};
use hubgate_hil_rig::{Device, DeviceKeys, DeviceKind, Identity, TrustedParties, models};
use hubgate_protocol::conformance;
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::gbcs::auth::{self, TEST_ACB};
use hubgate_protocol::gbcs::payload::dlms::{AccessRequestSpec, Apdu};
use hubgate_protocol::gbcs::payload::{self, Payload};
use hubgate_protocol::gbcs::{self, Message, SignatureField};
use hubgate_protocol::hex;
use hubgate_protocol::smki::Store;

/// 2015-01-01T00:00:00Z: the device clock of the RTDS responses.
pub const RTDS_NOW: i64 = 1_420_070_400;

/// RTDS device EUIs.
pub const ESME: [u8; 8] = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa0];
/// GSME.
pub const GSME: [u8; 8] = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa1];
/// CHF.
pub const CHF: [u8; 8] = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa2];
/// GPF.
pub const GPF: [u8; 8] = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa3];
/// PPMID.
pub const PPMID: [u8; 8] = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa4];
/// The HCALCS-like device of CS08 ERROR.
pub const A5: [u8; 8] = [0x00, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, 0xa5];

/// RTDS supplier.
pub const SUPPLIER: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x01, 0x00, 0x00];
/// RTDS network operator.
pub const NETWORK_OPERATOR: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x02, 0x00, 0x00];

pub fn root() -> PathBuf {
    conformance::require()
}

/// The RTDS keystore and SMKI material (remote party private keys included).
pub fn store() -> Arc<Store> {
    static S: OnceLock<Arc<Store>> = OnceLock::new();
    S.get_or_init(|| Arc::new(Store::load_conformance(&root()).unwrap()))
        .clone()
}

/// One substitute DS identity per RTDS device, shared by every test in the process.
fn identities() -> &'static HashMap<[u8; 8], Identity> {
    static I: OnceLock<HashMap<[u8; 8], Identity>> = OnceLock::new();
    I.get_or_init(|| {
        let ca = CertificateAuthority::generate("EMULATED-SUBSTITUTE").unwrap();
        [ESME, GSME, CHF, GPF, PPMID, A5]
            .into_iter()
            .map(|eui| (eui, Identity::rtds(eui, &store(), &ca).unwrap()))
            .collect()
    })
}

/// The conformance store plus the substitute DS certificates: verifies everything the
/// emulated RTDS devices send.
pub fn verify_store() -> &'static Store {
    static V: OnceLock<Store> = OnceLock::new();
    V.get_or_init(|| {
        let mut s = Store::load_conformance(&root()).unwrap();
        for (eui, id) in identities() {
            s.add_certificate(
                id.ds_certificate(),
                &format!("emulated-{}-ds.pem", hex::eui(eui)),
            )
            .unwrap();
        }
        s
    })
}

/// Remote parties an RTDS device trusts.
pub fn rtds_parties() -> Vec<(u8, [u8; 8])> {
    vec![
        (role::SUPPLIER, SUPPLIER),
        (role::NETWORK_OPERATOR, NETWORK_OPERATOR),
        (role::ACB, TEST_ACB),
        (role::RECOVERY, hex::parse_eui("90b3d51f30000001").unwrap()),
        (
            role::TRANSITIONAL_COS,
            hex::parse_eui("90b3d51f30000004").unwrap(),
        ),
        (
            role::LOAD_CONTROLLER,
            hex::parse_eui("90b3d51f30010008").unwrap(),
        ),
    ]
}

/// A fresh emulated RTDS device of `kind` with the populated model of its kind.
pub fn rtds_device(eui: [u8; 8], kind: DeviceKind) -> Device {
    let identity = identities().get(&eui).unwrap().clone();
    let keys = DeviceKeys::new(identity, Some(store())).unwrap();
    let trusted = TrustedParties::from_store(&store(), &rtds_parties());
    let state = models::device_state(eui, kind, trusted);
    Device::from_parts(state, keys, Arc::new(DerivedKeyCache::default())).unwrap()
}

/// The MAC'd command the gateway would send to `target` for the DUIS template `template`,
/// with the User's `counter` and, for the use cases the ACB originates, the DCC's
/// `dcc_counter`, at the RTDS clock.
pub fn transformed_command(
    template: &str,
    device: hubgate_protocol::transform::DeviceType,
    target: [u8; 8],
    counter: u64,
    dcc_counter: u64,
) -> Vec<u8> {
    use hubgate_protocol::transform::{Context, time::UtcDateTime, transform};
    let xml = std::fs::read(root().join("duis/templates").join(template)).unwrap();
    let mut req = hubgate_protocol::duis::reader::parse_request(&xml, &Default::default()).unwrap();
    req.header.request_id.target = target;
    req.header.request_id.counter = counter;
    let mut ctx = Context::new(device, TEST_ACB, UtcDateTime::from_unix(RTDS_NOW));
    ctx.dcc_counter = Some(dcc_counter);
    let t = transform(&req, &ctx).unwrap();
    t.command(&store(), &DerivedKeyCache::default()).unwrap()
}

/// Sends `cmd` to `device` at the RTDS clock; the answer must be authentic and of
/// `use_case`. Returns it.
pub fn answer_of(device: &mut Device, cmd: &[u8], use_case: &str) -> Vec<u8> {
    let reply = device.handle(cmd, RTDS_NOW).unwrap();
    assert_authentic(&reply.response);
    let m = gbcs::parse(&reply.response).unwrap();
    assert_eq!(
        hubgate_protocol::gbcs::message_codes::use_case(m.header.other_info.message_code),
        Some(use_case)
    );
    reply.response
}

/// Bytes of an RTDS file, by its path below `gbcs/rtds`.
pub fn rtds(rel: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(root().join("gbcs/rtds").join(rel)).unwrap();
    hex::decode(text.trim()).unwrap()
}

/// The plaintexts of a message's encrypted blocks, by ciphertext range within the content.
pub fn plaintexts(msg: &Message<'_>, keys: &Store) -> Vec<(std::ops::Range<usize>, Vec<u8>)> {
    let cache = DerivedKeyCache::default();
    auth::decrypt_blocks(msg, keys, &cache)
        .unwrap()
        .into_iter()
        .map(|b| {
            let base = msg.regions.content.start;
            let r = b.block.ciphertext.start - base..b.block.ciphertext.end - base;
            (r, b.plaintext().expect("every block decrypts").to_vec())
        })
        .collect()
}

/// Puts into a DLMS device the values an RTDS response reports for the reads of its
/// command, so that replaying the command can reproduce the response.
pub fn seed_dlms_reads(device: &mut Device, command: &[u8], response: &[u8]) {
    let cmd = gbcs::parse(command).unwrap();
    let resp = gbcs::parse(response).unwrap();
    let Payload::Dlms(Apdu::AccessRequest(req)) = payload::decode(cmd.content).unwrap() else {
        panic!("not an access request")
    };
    let Payload::Dlms(Apdu::AccessResponse(res)) = payload::decode(resp.content).unwrap() else {
        panic!("not an access response")
    };
    let clear = plaintexts(&resp, &store());
    let objects = device.state_mut().cosem_mut().unwrap();
    let mut seed = |a: Attr, v: Value| match (a.class_id, v) {
        (
            7,
            Value::CompactArray {
                description,
                elements,
            },
        ) => {
            let mut p = Profile::new(description, 10_000);
            for e in elements {
                p.push(e);
            }
            objects.add_profile(a.obis, p);
        }
        (_, v) => objects.put(a, v),
    };
    for (i, spec) in req.specifications.iter().enumerate() {
        if !res.specifications.get(i).is_some_and(|s| s.is_success()) {
            continue;
        }
        let d = spec.descriptor();
        let a = Attr::new(d.class_id, d.instance_id.0, d.id);
        match spec {
            AccessRequestSpec::Get(_) | AccessRequestSpec::GetWithSelection(..) => {
                seed(a, Value::from_data(&res.data[i]));
            }
            AccessRequestSpec::Action(_) if d.class_id == 30 => {
                let defs = Value::from_data(&req.data[i]);
                let list = defs.as_structure().unwrap()[0].clone();
                let values = Value::decode(&clear.first().unwrap().1).unwrap();
                for (def, v) in list
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(values.as_structure().unwrap())
                {
                    let m = def.as_structure().unwrap();
                    let obis: [u8; 6] = m[1].as_octets().unwrap().try_into().unwrap();
                    seed(
                        Attr::new(
                            m[0].as_u64().unwrap() as u16,
                            obis,
                            m[2].as_i64().unwrap() as i8,
                        ),
                        v.clone(),
                    );
                }
            }
            _ => {}
        }
    }
}

/// Checks that an emulated response is the RTDS response: the whole message when it is
/// MAC'd (the MAC then also matches, through the mirrored key agreement), everything but
/// the signature when it is signed.
pub fn assert_same_message(ours: &[u8], theirs: &[u8], what: &str) {
    let a = gbcs::parse(ours).unwrap();
    let b = gbcs::parse(theirs).unwrap();
    assert_eq!(
        a.is_mac_wrapped(),
        b.is_mac_wrapped(),
        "{what}: wrapper differs"
    );
    match (a.signature, b.signature) {
        (SignatureField::Present(_), SignatureField::Present(_)) => {
            assert_eq!(
                hex::encode(a.signed_bytes()),
                hex::encode(b.signed_bytes()),
                "{what}: signed part differs"
            );
        }
        _ => assert_eq!(
            hex::encode(ours),
            hex::encode(theirs),
            "{what}: bytes differ"
        ),
    }
}

/// The type skeleton of a payload (decrypted), values dropped: the "same layout" check for
/// responses whose values cannot match the RTDS ones.
pub fn layout(msg: &Message<'_>) -> serde_json::Value {
    fn strip(v: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value as J;
        match v {
            J::Object(m) => J::Object(
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "value" | "ciphertext" | "plaintext" | "zcl_payload" | "tag" | "ranges"
                        )
                    })
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .chain(m.get("value").and_then(|x| match x {
                        J::Array(items) => Some((
                            "value".to_owned(),
                            J::Array(items.iter().map(strip).collect()),
                        )),
                        _ => None,
                    }))
                    .collect(),
            ),
            J::Array(items) => J::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let clear = plaintexts(msg, verify_store());
    let p = payload::decode_with(msg.content, payload::Context::for_message(msg)).unwrap();
    strip(&p.to_json_with(&clear))
}

/// Checks an emulated message's MAC or signature with the protocol crate.
pub fn assert_authentic(bytes: &[u8]) {
    let m = gbcs::parse(bytes).unwrap();
    let cache = DerivedKeyCache::default();
    if m.is_mac_wrapped() {
        let v = auth::verify_mac(&m, verify_store(), &TEST_ACB, &cache).unwrap();
        assert_eq!(v.name(), "valid", "MAC of {}", hex::encode(bytes));
    }
    if let SignatureField::Present(_) = m.signature {
        let v = auth::verify_signature(&m, verify_store());
        assert_eq!(v.name(), "verified", "signature of {}", hex::encode(bytes));
        assert!(
            v.signer_label().unwrap().starts_with("emulated-"),
            "signed with the substitute key"
        );
    }
}

/// The oracle's verdicts (CSV rows as maps) for messages checked with a key folder holding
/// the RTDS keystore plus the substitute device certificates. `None` when Python or its
/// `cryptography` package is missing.
pub fn oracle(messages: &[(String, Vec<u8>)]) -> Option<Vec<HashMap<String, String>>> {
    let script = root().join("../tools/oracle/gbcs_oracle.py");
    if !script.is_file() {
        eprintln!("{} not found: oracle check skipped", script.display());
        return None;
    }
    let ok = std::process::Command::new("python3")
        .args(["-c", "import cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("python3 with cryptography not available: oracle check skipped");
        return None;
    }
    let dir = std::env::temp_dir().join(format!(
        "hubgate-hil-oracle-{}-{}",
        std::process::id(),
        messages.len()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let ks = dir.join("keystore");
    let msgs = dir.join("messages");
    std::fs::create_dir_all(&ks).unwrap();
    std::fs::create_dir_all(&msgs).unwrap();
    for f in std::fs::read_dir(root().join("gbcs/keystore")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, ks.join(f.file_name().unwrap())).unwrap();
    }
    for (eui, id) in identities() {
        let pem = hubgate_hil_rig::der::pem("CERTIFICATE", id.ds_certificate());
        std::fs::write(ks.join(format!("emulated-{}-ds.pem", hex::eui(eui))), pem).unwrap();
    }
    for (name, bytes) in messages {
        std::fs::write(msgs.join(name), hex::encode(bytes).to_uppercase()).unwrap();
    }
    let csv = dir.join("out.csv");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(root())
        .arg("--keystore")
        .arg(&ks)
        .arg("--dir")
        .arg(&msgs)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&csv).unwrap_or_else(|_| {
        panic!(
            "oracle wrote no CSV: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.splitn(header.len(), ',').map(str::to_owned))
                .collect()
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    Some(rows)
}

/// Compact-array description of the entries of a profile (for seeding by hand).
pub fn pair_desc() -> TypeDesc {
    TypeDesc::Structure(vec![TypeDesc::Simple(6), TypeDesc::Simple(6)])
}

/// MAC-wraps an APDU as the DCC does (ACB key-agreement key with the RTDS device's KA
/// certificate).
pub fn wrap_for(device: [u8; 8], apdu: &[u8]) -> Vec<u8> {
    mac_wrap_in(&store(), &TEST_ACB, device, apdu)
}

/// MAC-wraps an APDU with `acb`'s key-agreement key and `device`'s KA certificate, both
/// from `store`.
pub fn mac_wrap_in(store: &Store, acb: &[u8; 8], device: [u8; 8], apdu: &[u8]) -> Vec<u8> {
    use hubgate_protocol::smki::Usage;
    let acb = store.private_keys(acb, Usage::KeyAgreement).next().unwrap();
    let peer = store
        .public_keys(&device, Usage::KeyAgreement)
        .next()
        .unwrap();
    auth::mac_wrap(
        apdu,
        acb.agreement_key().unwrap(),
        peer.peer_key(),
        &DerivedKeyCache::default(),
    )
    .unwrap()
}

/// The grouping header of a command from `originator` to `device`.
pub fn command_header(
    originator: [u8; 8],
    device: [u8; 8],
    counter: u64,
    code: u16,
) -> gbcs::GroupingHeader<'static> {
    use hubgate_protocol::gbcs::{Cra, GroupingHeader, OtherInfo, Supplementary};
    GroupingHeader {
        cra: Cra::Command,
        counter,
        originator,
        recipient: device,
        date_time: None,
        other_info: OtherInfo {
            message_code: code,
            supplementary: Supplementary::None,
        },
    }
}

/// A MAC-wrapped command (null signature) carrying `content`, protected with `acb`'s keys
/// from `store`.
pub fn mac_command_in(
    store: &Store,
    acb: &[u8; 8],
    header: &gbcs::GroupingHeader<'_>,
    content: &[u8],
) -> Vec<u8> {
    use hubgate_protocol::gbcs::LenForm;
    let apdu =
        gbcs::frame::encode_apdu(header, content, Some(None), LenForm::Short, LenForm::Short);
    mac_wrap_in(store, acb, header.recipient, &apdu)
}

/// An encoded DLMS access request.
pub fn access_request(
    counter: u64,
    specs: Vec<AccessRequestSpec<'_>>,
    data: Vec<hubgate_protocol::gbcs::payload::data::Data<'_>>,
) -> Vec<u8> {
    use hubgate_protocol::gbcs::payload::dlms::{AccessRequest, LongInvokeId};
    let mut content = Vec::new();
    Apdu::AccessRequest(AccessRequest {
        invoke_id: LongInvokeId::for_counter(counter),
        date_time: None,
        specifications: specs,
        data,
    })
    .encode(&mut content);
    content
}

/// An encoded DLMS access request getting one attribute.
pub fn get_request(counter: u64, class_id: u16, obis: [u8; 6], id: i8) -> Vec<u8> {
    access_request(
        counter,
        vec![AccessRequestSpec::Get(desc(class_id, obis, id))],
        vec![hubgate_protocol::gbcs::payload::data::Data::Null],
    )
}

/// A MAC-wrapped DLMS command (null signature) from `originator` to an RTDS device.
pub fn dlms_command(
    originator: [u8; 8],
    device: [u8; 8],
    counter: u64,
    code: u16,
    specs: Vec<AccessRequestSpec<'_>>,
    data: Vec<hubgate_protocol::gbcs::payload::data::Data<'_>>,
) -> Vec<u8> {
    mac_command_in(
        &store(),
        &TEST_ACB,
        &command_header(originator, device, counter, code),
        &access_request(counter, specs, data),
    )
}

/// A descriptor.
pub fn desc(
    class_id: u16,
    obis: [u8; 6],
    id: i8,
) -> hubgate_protocol::gbcs::payload::dlms::CosemDescriptor {
    hubgate_protocol::gbcs::payload::dlms::CosemDescriptor {
        class_id,
        instance_id: hubgate_protocol::gbcs::payload::dlms::Obis(obis),
        id,
    }
}

/// The data and results of a DLMS response.
pub fn dlms_answer(response: &[u8]) -> (Vec<Value>, Vec<u8>) {
    let m = gbcs::parse(response).unwrap();
    let Payload::Dlms(Apdu::AccessResponse(r)) = payload::decode(m.content).unwrap() else {
        panic!("not an access response")
    };
    (
        r.data.iter().map(Value::from_data).collect(),
        r.specifications.iter().map(|s| s.result()).collect(),
    )
}
