//! Loading the DCC Boxed (ZAZ1) key folder of the conformance corpus: the test Users with
//! their real User IDs, roles and XML-signing certificates, and the DSP XML-signing key.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use hubgate_gateway::config::Config;
use hubgate_gateway::pki::{Pki, Source, boxed};
use hubgate_gateway::users::AccessError;
use hubgate_protocol::catalogue::Role;
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::duis::dsig;
use hubgate_protocol::smki::Certificate;

/// 2024-06-01T00:00:00Z: inside the validity of the ZAZ1 certificates used here.
const IN_2024: i64 = 1_717_200_000;

fn eui(s: &str) -> [u8; 8] {
    hubgate_protocol::hex::parse_eui(s).unwrap()
}

#[test]
fn zaz1_users_and_the_dsp_key() {
    let root = hubgate_protocol::conformance::require();
    let smki = root.join("smki");
    let pki = Pki::load_boxed(&smki).unwrap();
    assert_eq!(pki.source(), &Source::Boxed(smki.clone()));
    let registry = pki.registry().unwrap();

    let supplier = registry.get(&eui("90B3D51F30010000")).unwrap();
    assert_eq!(supplier.name, "supplier");
    assert_eq!(
        supplier.roles,
        [
            Role::ImportSupplier,
            Role::ExportSupplier,
            Role::GasSupplier
        ]
    );
    let serials: Vec<&str> = supplier
        .xml_signing_certs
        .iter()
        .map(Certificate::serial_decimal)
        .collect();
    assert_eq!(serials, ["27572613927499351639968579586655397031"]);
    // Its GBCS certificates: Z1 and Z1b DS, and the KA ones (supplier and prepayment).
    assert_eq!(supplier.ds_certs.len(), 2);
    assert!(supplier.ka_certs.len() >= 2);

    let operator = registry.get(&eui("90B3D51F30020000")).unwrap();
    assert_eq!(operator.name, "networkOperator");
    assert_eq!(
        operator.roles,
        [Role::ElectricityDistributor, Role::GasTransporter]
    );
    assert_eq!(
        operator.xml_signing_certs[0].serial_decimal(),
        "40938316298935008147424226388667426413"
    );

    let other = registry.get(&eui("00DB123456780004")).unwrap();
    assert_eq!(other.roles, [Role::OtherUser]);
    assert_eq!(
        other.xml_signing_certs[0].serial_decimal(),
        "37250744094852421200045328576547436839"
    );
    let supplier2 = registry.get(&eui("90B3D51F30030000")).unwrap();
    assert!(supplier2.has_role(Role::GasSupplier));
    assert!(supplier2.xml_signing_certs.is_empty());

    // The DCC's own parties and the other SMKI roles are not Users.
    for not_a_user in [
        "90B3D51F30000002", // ACB / DSP
        "90B3D51F30000001", // recovery
        "90B3D51F30000004", // transitional CoS
        "90B3D51F30000007", // WAN provider
        "90B3D51F30010008", // load controller
    ] {
        assert!(registry.get(&eui(not_a_user)).is_none(), "{not_a_user}");
    }
    assert_eq!(pki.acb_id(), Some(eui("90B3D51F30000002")));

    // The DSP key: the Z1 dSPXmlSign certificate, not its re-issued twin or the legacy one.
    let dsp = pki.dsp();
    assert_eq!(
        dsp.certificate().serial_decimal(),
        "20315062944123339095836004026371736578"
    );
    assert!(
        dsp.label().starts_with(boxed::PREFERRED_DSP_LABEL),
        "{}",
        dsp.label()
    );
    assert_eq!(dsp.certificate().issuer(), "CN=Z1,OU=07");
    assert_eq!(dsp.certificate().role(), Some(137));

    // The summary's example command uses real files of an import supplier.
    let example = pki.example_signer().unwrap();
    assert_eq!(example.id, eui("90B3D51F30010000"));
    assert!(example.key.is_file() && example.cert.is_file());
    assert!(pki.summary().contains("xml-sign-90B3D51F30010000-ds.key"));
}

#[test]
fn zaz1_requests_resolve_and_responses_verify() {
    let root = hubgate_protocol::conformance::require();
    let smki = root.join("smki");
    let pki = Pki::load_boxed(&smki).unwrap();
    let registry = pki.registry().unwrap();

    // The supplier signs the 4.1.1 template (its RequestID names 90-B3-D5-1F-30-01-00-00).
    let template =
        std::fs::read(root.join("duis/templates/ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"))
            .unwrap();
    let key = SigningKey::from_pem_or_der(
        &std::fs::read(smki.join("xml-sign-90B3D51F30010000-ds.key")).unwrap(),
    )
    .unwrap();
    let cert = Certificate::from_pem(
        &std::fs::read(smki.join("xml-sign-90B3D51F30010000-ds.pem")).unwrap(),
    )
    .unwrap();
    let signed = dsig::sign_with_certificate(&template, &key, &cert).unwrap();
    let verified = dsig::verify(&signed, &registry).unwrap();
    assert_eq!(verified.label, "supplier");
    let serial = verified.serial.unwrap();
    let originator = eui("90B3D51F30010000");
    registry
        .check_signer(&originator, &serial, IN_2024)
        .unwrap();
    assert_eq!(
        registry.authorise(&originator, "4.1.1").unwrap().role,
        Role::ImportSupplier
    );

    // Signed with the supplier's GBCS DS key instead, the request does not resolve to a
    // User XML-signing certificate.
    let ds_key =
        SigningKey::from_pem_or_der(&std::fs::read(smki.join("Z1-supplier-ds.key")).unwrap())
            .unwrap();
    let ds_cert =
        Certificate::from_pem(&std::fs::read(smki.join("Z1-supplier-ds.pem")).unwrap()).unwrap();
    let wrong = dsig::sign_with_certificate(&template, &ds_key, &ds_cert).unwrap();
    assert!(dsig::verify(&wrong, &registry).is_err());
    assert!(matches!(
        registry.check_signer(&originator, ds_cert.serial_decimal(), IN_2024),
        Err(AccessError::UnknownSigner(_))
    ));

    // The vector the ZAZ1 DSP key signed verifies with the selected certificate.
    let resigned =
        std::fs::read(root.join("duis/signing-vectors/readfw-response-resigned.xml")).unwrap();
    let v = dsig::verify(&resigned, pki.dsp().certificate()).unwrap();
    assert_eq!(
        v.serial.as_deref(),
        Some("20315062944123339095836004026371736578")
    );
    // And what the gateway signs verifies with it too.
    let response = pki.dsp().sign(&resigned).unwrap();
    dsig::verify(&response, pki.dsp().certificate()).unwrap();
}

#[test]
fn open_with_smki_dir_creates_no_smki_files() {
    let root = hubgate_protocol::conformance::require();
    let dir = std::env::temp_dir().join(format!("hubgate-pki-boxed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config {
        data_dir: dir.clone(),
        smki_dir: Some(root.join("smki")),
        ..Config::default()
    };
    let pki = Pki::open(&config, IN_2024).unwrap();
    assert!(matches!(pki.source(), Source::Boxed(_)));
    assert!(!dir.join("pki").exists());
    // TLS is still local: a server certificate and a client certificate per ZAZ1 User.
    let tls = pki.tls().unwrap();
    assert!(tls.server_cert.is_file());
    assert!(tls.clients.iter().any(|(name, ..)| name == "supplier"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_without_a_dsp_key_is_refused() {
    let root = hubgate_protocol::conformance::require();
    let dir = std::env::temp_dir().join(format!("hubgate-pki-nodsp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["xml-sign-90B3D51F30010000-ds.pem", "Z1-supplier-ds.pem"] {
        std::fs::copy(root.join("smki").join(f), dir.join(f)).unwrap();
    }
    let e = Pki::load_boxed(&dir).unwrap_err();
    assert!(
        e.to_string().contains("no DSP XML-signing certificate"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
