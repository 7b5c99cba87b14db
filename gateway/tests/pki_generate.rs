//! The local test PKI: what it writes reads back with the protocol crate's SMKI reader,
//! verifies with `openssl` and `xmlsec1`, is reused on the next start, and signs requests the
//! User registry resolves and accepts.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::path::{Path, PathBuf};
use std::process::Command;

use hubgate_gateway::config::{Config, UserOverride};
use hubgate_gateway::pki::generate::{
    CA_COMMON_NAME, Credential, DCC_ID, DEMO_USERS, Layout, VALID_FROM, VALID_UNTIL,
};
use hubgate_gateway::pki::{Pki, role};
use hubgate_gateway::users::{AccessError, UserRegistry};
use hubgate_protocol::catalogue::Role;
use hubgate_protocol::duis::dsig;
use hubgate_protocol::duis::model::request::Request;
use hubgate_protocol::duis::xml::Limits;
use hubgate_protocol::smki::{Certificate, Usage};

/// 2025-06-01T00:00:00Z.
const NOW: i64 = 1_748_736_000;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hubgate-pki-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn tool_present(cmd: &str) -> bool {
    let ok = Command::new(cmd)
        .arg("version")
        .output()
        .or_else(|_| Command::new(cmd).arg("--version").output())
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("HUBGATE_SKIP_INTEROP").is_none() {
        panic!("{cmd} is required for interop tests, or set HUBGATE_SKIP_INTEROP=1");
    }
    ok
}

fn read_cert(path: &Path) -> Certificate {
    Certificate::from_pem(&std::fs::read(path).unwrap()).unwrap()
}

fn template(root: &Path, name: &str) -> String {
    std::fs::read_to_string(root.join("duis/templates").join(name)).unwrap()
}

/// A template with its originator replaced by `originator` (DUIS form).
fn request_from(originator: &str) -> Vec<u8> {
    let root = hubgate_protocol::conformance::require();
    template(&root, "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML")
        .replace("90-B3-D5-1F-30-01-00-00", originator)
        .into_bytes()
}

fn all_leaves(layout: &Layout) -> Vec<(PathBuf, [u8; 8], u8, Usage)> {
    let mut out = vec![
        (
            layout.dsp_cert(),
            DCC_ID,
            role::DSP_XML_SIGNING,
            Usage::DigitalSignature,
        ),
        (
            layout.acb_cert(Usage::DigitalSignature),
            DCC_ID,
            role::ACCESS_CONTROL_BROKER,
            Usage::DigitalSignature,
        ),
        (
            layout.acb_cert(Usage::KeyAgreement),
            DCC_ID,
            role::ACCESS_CONTROL_BROKER,
            Usage::KeyAgreement,
        ),
    ];
    for u in &DEMO_USERS {
        for c in Credential::ALL {
            out.push((
                layout.user_cert(u.name, c),
                u.id,
                c.smki_role(u.smki_role),
                c.usage(),
            ));
        }
    }
    out
}

#[test]
fn certificates_read_back_in_the_smki_profile() {
    let dir = fresh_dir("profile");
    let pki = Pki::generated(&dir).unwrap();
    let layout = Layout::new(&dir);
    let ca = read_cert(&layout.ca_cert());
    assert_eq!(ca.subject(), format!("CN={CA_COMMON_NAME},OU=07"));
    assert_eq!(ca.issuer(), ca.subject());

    let mut serials = std::collections::HashSet::new();
    for (path, eui, role, usage) in all_leaves(&layout) {
        let c = read_cert(&path);
        assert_eq!(c.eui(), Some(eui), "{}", path.display());
        assert_eq!(c.role(), Some(role), "{}", path.display());
        assert_eq!(c.usage(), Some(usage), "{}", path.display());
        assert_eq!(c.holder(), hubgate_protocol::smki::Holder::Organisation);
        assert_eq!(c.issuer(), ca.subject());
        assert_eq!((c.not_before(), c.not_after()), (VALID_FROM, VALID_UNTIL));
        // Positive, 16 bytes, and the decimal form is the same number.
        assert_eq!(c.serial().len(), 16);
        assert!(c.serial()[0] < 0x80);
        let decimal = c
            .serial()
            .iter()
            .fold(0u128, |acc, b| acc * 256 + u128::from(*b));
        assert_eq!(c.serial_decimal(), decimal.to_string());
        assert!(
            serials.insert(c.serial_decimal().to_string()),
            "serials repeat"
        );
        // The key file belongs to the certificate.
        let key = hubgate_protocol::crypto::SigningKey::from_pem_or_der(
            &std::fs::read(path.with_extension("key")).unwrap(),
        )
        .unwrap();
        assert_eq!(key.public_key_id(), c.key_id());
    }

    // The Users and their roles.
    assert_eq!(pki.users().len(), DEMO_USERS.len());
    let is = &pki.users()[0];
    assert_eq!(is.name, "import-supplier");
    assert_eq!(is.id_duis(), "90-B3-D5-1F-40-01-00-00");
    assert_eq!(is.roles, [Role::ImportSupplier]);
    assert_eq!(is.xml_signing_certs.len(), 1);
    assert_eq!(is.xml_signing_certs[0].role(), Some(135));
    assert_eq!(is.ds_certs[0].role(), Some(role::SUPPLIER));
    assert_eq!(is.ka_certs[0].usage(), Some(Usage::KeyAgreement));
    let ou = pki.users().iter().find(|u| u.name == "other-user").unwrap();
    assert_eq!(ou.ds_certs[0].role(), Some(127));
    assert_eq!(pki.dsp().certificate().role(), Some(137));
    assert_eq!(pki.acb_id(), Some(DCC_ID));

    // The store indexes every key by what its certificate says.
    assert!(
        pki.store()
            .private_keys(&DCC_ID, Usage::KeyAgreement)
            .next()
            .is_some()
    );
    assert!(
        pki.store()
            .private_keys(&is.id, Usage::DigitalSignature)
            .count()
            >= 2
    );

    // The summary file names every User.
    let summary = std::fs::read_to_string(layout.users_summary()).unwrap();
    let parsed: toml::Table = toml::from_str(&summary).unwrap();
    let users = parsed["users"].as_array().unwrap();
    assert_eq!(users.len(), DEMO_USERS.len());
    assert_eq!(
        users[0]["xml_signing"]["serial"].as_str(),
        Some(is.xml_signing_certs[0].serial_decimal())
    );
    assert_eq!(
        users[0]["xml_signing"]["cert"].as_str(),
        Some("users/import-supplier/xml-sign.pem")
    );

    // The printable summary has the example command line.
    let text = pki.summary();
    assert!(text.contains("hubgate duis sign --key "), "{text}");
    assert!(
        text.contains("users/import-supplier/xml-sign.key"),
        "{text}"
    );
    assert!(text.contains("90-B3-D5-1F-40-04-00-00"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn openssl_reads_and_verifies_every_certificate() {
    if !tool_present("openssl") {
        return;
    }
    let dir = fresh_dir("openssl");
    let config = Config {
        data_dir: dir.clone(),
        ..Config::default()
    };
    let pki = Pki::open(&config, NOW).unwrap();
    let layout = Layout::new(&dir);

    for (path, ..) in all_leaves(&layout) {
        let text = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(text.status.success());
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains("Issuer: OU = 07, CN = HubGate Test SMKI CA"),
            "{text}"
        );
        assert!(text.contains("x500UniqueIdentifier"), "{text}");
        assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
        assert!(
            text.contains("Policy: 1.2.826.0.1.8641679.1.2.1.4"),
            "{text}"
        );
        assert!(text.contains("ASN1 OID: prime256v1"), "{text}");

        let verify = Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(layout.ca_cert())
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "{}: {}{}",
            path.display(),
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
    }

    // The x500UniqueIdentifier is the BIT STRING of the EUI, exactly as in ZAZ1.
    let subject = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-in"])
        .arg(layout.user_cert("import-supplier", Credential::XmlSigning))
        .output()
        .unwrap();
    let subject = String::from_utf8_lossy(&subject.stdout);
    assert!(
        subject.contains("OU = 87, x500UniqueIdentifier = #03090090B3D51F40010000"),
        "{subject}"
    );

    // TLS: the server certificate chains to the local TLS CA for TLS server use, and names
    // localhost; client certificates are for TLS clients. The SMKI CA does not vouch for it.
    let tls = pki.tls().unwrap();
    let verify_tls = |ca: &Path, purpose: &str, cert: &Path| {
        Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(ca)
            .args(["-purpose", purpose])
            .arg(cert)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(verify_tls(&tls.ca_cert, "sslserver", &tls.server_cert));
    assert!(!verify_tls(
        &layout.ca_cert(),
        "sslserver",
        &tls.server_cert
    ));
    assert_eq!(tls.clients.len(), DEMO_USERS.len());
    for (_, cert, _) in &tls.clients {
        assert!(verify_tls(&tls.ca_cert, "sslclient", cert));
        assert!(!verify_tls(&tls.ca_cert, "sslserver", cert));
    }
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&tls.server_cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("DNS:localhost") && text.contains("IP Address:127.0.0.1"),
        "{text}"
    );
    assert_eq!(config.tls_cert_path(), tls.server_cert);
    assert_eq!(config.tls_key_path(), tls.server_key);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn second_start_reuses_and_missing_pairs_are_reissued() {
    let dir = fresh_dir("reuse");
    let config = Config {
        data_dir: dir.clone(),
        ..Config::default()
    };
    let first = Pki::open(&config, NOW).unwrap();
    assert!(!first.created().is_empty());
    let serial = |p: &Pki, i: usize| {
        p.users()[i].xml_signing_certs[0]
            .serial_decimal()
            .to_string()
    };

    let second = Pki::open(&config, NOW + 86_400).unwrap();
    assert!(second.created().is_empty(), "{:?}", second.created());
    assert!(second.summary().contains("existing files reused"));
    for i in 0..DEMO_USERS.len() {
        assert_eq!(serial(&first, i), serial(&second, i));
    }
    assert_eq!(
        first.dsp().certificate().serial_decimal(),
        second.dsp().certificate().serial_decimal()
    );

    // One key lost: that pair alone is issued again, by the same CA.
    let layout = Layout::new(&dir);
    std::fs::remove_file(layout.user_key("gas-supplier", Credential::XmlSigning)).unwrap();
    let third = Pki::open(&config, NOW + 2 * 86_400).unwrap();
    assert_eq!(
        third.created(),
        [
            layout.user_cert("gas-supplier", Credential::XmlSigning),
            layout.user_key("gas-supplier", Credential::XmlSigning)
        ]
    );
    assert_ne!(serial(&first, 2), serial(&third, 2));
    assert_eq!(serial(&first, 0), serial(&third, 0));

    // A key that belongs to another certificate is refused, not overwritten.
    std::fs::copy(
        layout.user_key("import-supplier", Credential::DigitalSignature),
        layout.user_key("import-supplier", Credential::KeyAgreement),
    )
    .unwrap();
    let e = Pki::open(&config, NOW).unwrap_err();
    assert!(e.to_string().contains("ka.key"), "{e}");

    // Near the end of its life the TLS server certificate is renewed; SMKI files are kept.
    std::fs::copy(
        layout.user_key("import-supplier", Credential::DigitalSignature),
        layout.user_key("import-supplier", Credential::KeyAgreement),
    )
    .unwrap();
    std::fs::remove_file(layout.user_key("import-supplier", Credential::KeyAgreement)).unwrap();
    let later = Pki::open(&config, NOW + 800 * 86_400).unwrap();
    assert!(later.created().contains(&layout.tls_server_cert()));
    assert!(!later.created().contains(&layout.ca_cert()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_demo_user_signs_and_the_registry_accepts() {
    let dir = fresh_dir("sign");
    let pki = Pki::generated(&dir).unwrap();
    let layout = Layout::new(&dir);
    let registry = pki.registry().unwrap();

    for (name, srv_ok, srv_refused) in [
        ("import-supplier", "4.1.1", "6.5"),
        ("gas-transporter", "4.1.1", "1.1.1"),
        ("other-user", "8.2", "4.1.1"),
    ] {
        let user = registry.by_name(name).unwrap();
        let key = hubgate_protocol::crypto::SigningKey::from_pem_or_der(
            &std::fs::read(layout.user_key(name, Credential::XmlSigning)).unwrap(),
        )
        .unwrap();
        let cert = read_cert(&layout.user_cert(name, Credential::XmlSigning));
        let signed =
            dsig::sign_with_certificate(&request_from(&user.id_duis()), &key, &cert).unwrap();

        // The registry finds the signer by KeyInfo serial, and the signature verifies.
        let verified = dsig::verify(&signed, &registry).unwrap();
        assert_eq!(verified.label, name);
        let serial = verified.serial.unwrap();
        let request = Request::parse(&signed, &Limits::default()).unwrap();
        let originator = request.header.request_id.originator;
        assert_eq!(originator, user.id);
        let signer = registry.check_signer(&originator, &serial, NOW).unwrap();
        assert_eq!(signer.serial_decimal(), cert.serial_decimal());

        let ok = registry.authorise(&originator, srv_ok).unwrap();
        assert_eq!(ok.user.name, name);
        let refused = registry.authorise(&originator, srv_refused).unwrap_err();
        assert_eq!(refused.code(), "E2", "{name} {srv_refused}: {refused}");

        // Outside its validity the certificate is refused (E41).
        let e = registry
            .check_signer(&originator, &serial, VALID_UNTIL + 1)
            .unwrap_err();
        assert!(matches!(e, AccessError::NotValidNow { .. }), "{e}");
        assert_eq!(e.code(), "E41");
    }

    // Someone else's certificate does not sign for the import supplier.
    let is = registry.by_name("import-supplier").unwrap().id;
    let gs_serial = registry.by_name("gas-supplier").unwrap().xml_signing_certs[0]
        .serial_decimal()
        .to_string();
    assert!(matches!(
        registry.check_signer(&is, &gs_serial, NOW),
        Err(AccessError::NotOriginator { .. })
    ));
    // A GBCS DS certificate is not an XML-signing certificate.
    let ds = &registry.by_name("import-supplier").unwrap().ds_certs[0];
    assert!(matches!(
        UserRegistry::check_certificate(ds, &is, NOW),
        Err(AccessError::NotXmlSigning { role: Some(2), .. })
    ));
    assert!(matches!(
        registry.check_signer(&is, ds.serial_decimal(), NOW),
        Err(AccessError::UnknownSigner(_))
    ));

    // A suspended User gets E3; an unknown one E1.
    let mut overrides = std::collections::BTreeMap::new();
    overrides.insert(
        "90B3D51F40010000".to_string(),
        UserOverride {
            delivery_endpoint: None,
            suspended: true,
            pull_token: None,
        },
    );
    let suspended = pki.registry().unwrap().with_overrides(&overrides).unwrap();
    assert_eq!(suspended.authorise(&is, "4.1.1").unwrap_err().code(), "E3");
    assert_eq!(
        suspended
            .authorise(&[0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x09, 0, 0], "4.1.1")
            .unwrap_err()
            .code(),
        "E1"
    );

    // The DSP key signs, and its certificate verifies the result.
    let response = pki
        .dsp()
        .sign(&request_from("90-B3-D5-1F-40-01-00-00"))
        .unwrap();
    dsig::verify(&response, pki.dsp().certificate()).unwrap();
    let owned = pki.dsp().to_signing_key().unwrap();
    assert_eq!(owned.public_key_id(), pki.dsp().certificate().key_id());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn xmlsec1_verifies_what_a_generated_key_signs() {
    if !tool_present("xmlsec1") {
        return;
    }
    let dir = fresh_dir("xmlsec1");
    let pki = Pki::generated(&dir).unwrap();
    let layout = Layout::new(&dir);
    let root = hubgate_protocol::conformance::require();
    for (name, template_name) in [
        (
            "import-supplier",
            "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        ),
        (
            "electricity-distributor",
            "8.2_READ_INVENTORY_REQUEST_DUIS.XML",
        ),
    ] {
        let key = hubgate_protocol::crypto::SigningKey::from_pem_or_der(
            &std::fs::read(layout.user_key(name, Credential::XmlSigning)).unwrap(),
        )
        .unwrap();
        let cert_path = layout.user_cert(name, Credential::XmlSigning);
        let signed = dsig::sign_with_certificate(
            template(&root, template_name).as_bytes(),
            &key,
            &read_cert(&cert_path),
        )
        .unwrap();
        let file = dir.join(format!("{name}-signed.xml"));
        std::fs::write(&file, &signed).unwrap();
        let out = Command::new("xmlsec1")
            .args(["--verify", "--pubkey-cert-pem"])
            .arg(&cert_path)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // And with another User's certificate it fails.
        let other = layout.user_cert("gas-supplier", Credential::XmlSigning);
        let out = Command::new("xmlsec1")
            .args(["--verify", "--pubkey-cert-pem"])
            .arg(&other)
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
    // The DSP key too.
    let signed = pki
        .dsp()
        .sign(template(&root, "8.2_READ_INVENTORY_REQUEST_DUIS.XML").as_bytes())
        .unwrap();
    let file = dir.join("dsp-signed.xml");
    std::fs::write(&file, &signed).unwrap();
    let out = Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(layout.dsp_cert())
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
