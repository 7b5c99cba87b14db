//! `hubgate duis sign` / `duis verify` interoperate with xmlsec1 and the Python XML-DSig
//! oracle in both directions, and reject what they must.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::path::{Path, PathBuf};
use std::process::Command;

fn hubgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hubgate"))
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hubgate-duis-cli-{}-{name}", std::process::id()))
}

fn tool_present(cmd: &str, arg: &str) -> bool {
    let ok = Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("HUBGATE_SKIP_INTEROP").is_none() {
        panic!(
            "{cmd} is required for interop tests (apt-get install xmlsec1; pip install lxml cryptography), or set HUBGATE_SKIP_INTEROP=1"
        );
    }
    ok
}

fn oracle(root: &Path) -> PathBuf {
    root.join("../tools/oracle/xmldsig_oracle.py")
}

#[test]
fn what_we_sign_xmlsec1_and_the_oracle_accept() {
    let root = hubgate_protocol::conformance::require();
    if !tool_present("xmlsec1", "--version") {
        return;
    }
    let smki = root.join("smki");
    // One DER key and one PEM key.
    let signers = [
        (
            "xml-sign-90B3D51F30010000-ds.key",
            "xml-sign-90B3D51F30010000-ds.pem",
            "CS08_11.2_SUCCESS_REQUEST_DUIS.XML",
        ),
        (
            "dsp-xml-sign-90B3D51F30000002-ds.key.pem",
            "dsp-xml-sign-90B3D51F30000002-ds.pem",
            "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
        ),
    ];
    for (key, cert, template) in signers {
        let out = hubgate()
            .args(["duis", "sign", "--key"])
            .arg(smki.join(key))
            .arg("--cert")
            .arg(smki.join(cert))
            .arg(root.join("duis/templates").join(template))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sign failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let signed = tmp(template);
        std::fs::write(&signed, &out.stdout).unwrap();

        let x = Command::new("xmlsec1")
            .args(["--verify", "--pubkey-cert-pem"])
            .arg(smki.join(cert))
            .arg(&signed)
            .output()
            .unwrap();
        assert!(
            x.status.success(),
            "xmlsec1 rejected our signature: {}",
            String::from_utf8_lossy(&x.stderr)
        );

        let o = Command::new("python3")
            .arg(oracle(&root))
            .args(["verify", "--certs"])
            .arg(smki.join(cert))
            .arg(&signed)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "oracle rejected our signature: {}",
            String::from_utf8_lossy(&o.stdout)
        );

        // And our own verifier, by KeyInfo lookup in the smki folder.
        let v = hubgate()
            .args(["duis", "verify", "--certs"])
            .arg(&smki)
            .arg(&signed)
            .output()
            .unwrap();
        assert_eq!(
            v.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&v.stdout)
        );

        // A tampered copy fails everywhere.
        let text = String::from_utf8(out.stdout.clone()).unwrap();
        let tampered = tmp(&format!("tampered-{template}"));
        std::fs::write(
            &tampered,
            text.replacen("<sr:CommandVariant>1<", "<sr:CommandVariant>3<", 1),
        )
        .unwrap();
        let v = hubgate()
            .args(["duis", "verify", "--certs"])
            .arg(&smki)
            .arg(&tampered)
            .output()
            .unwrap();
        assert_eq!(v.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&v.stdout).contains("digest mismatch"));
        let x = Command::new("xmlsec1")
            .args(["--verify", "--pubkey-cert-pem"])
            .arg(smki.join(cert))
            .arg(&tampered)
            .output()
            .unwrap();
        assert!(!x.status.success(), "xmlsec1 accepted a tampered document");
        let _ = std::fs::remove_file(signed);
        let _ = std::fs::remove_file(tampered);
    }
}

#[test]
fn what_the_oracle_and_xmlsec1_sign_we_accept() {
    let root = hubgate_protocol::conformance::require();
    if !tool_present("xmlsec1", "--version") {
        return;
    }
    let smki = root.join("smki");
    let key = smki.join("xml-sign-90B3D51F30010000-ds.key");
    let cert = smki.join("xml-sign-90B3D51F30010000-ds.pem");
    let template = root.join("duis/templates/ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML");

    let by_oracle = tmp("by-oracle.xml");
    let o = Command::new("python3")
        .arg(oracle(&root))
        .arg("sign")
        .arg(&template)
        .arg("--key")
        .arg(&key)
        .arg("--cert")
        .arg(&cert)
        .arg("-o")
        .arg(&by_oracle)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "oracle sign failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = hubgate()
        .args(["duis", "verify", "--cert"])
        .arg(&cert)
        .arg(&by_oracle)
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );

    // xmlsec1 signs the template's own (placeholder) signature element in place.
    let by_xmlsec = tmp("by-xmlsec1.xml");
    let x = Command::new("xmlsec1")
        .args(["--sign", "--privkey-der"])
        .arg(&key)
        .arg("--output")
        .arg(&by_xmlsec)
        .arg(&template)
        .output()
        .unwrap();
    assert!(
        x.status.success(),
        "xmlsec1 sign failed: {}",
        String::from_utf8_lossy(&x.stderr)
    );
    let v = hubgate()
        .args(["duis", "verify", "--cert"])
        .arg(&cert)
        .arg(&by_xmlsec)
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
    let _ = std::fs::remove_file(by_oracle);
    let _ = std::fs::remove_file(by_xmlsec);
}

#[test]
fn verify_reports_the_reason_for_each_bad_vector() {
    let root = hubgate_protocol::conformance::require();
    let smki = root.join("smki");
    let v = root.join("duis/signing-vectors");
    let cases = [
        ("readfw-response.xml", 0, "VALID"),
        ("readfw-response-badsignature.xml", 1, "does not verify"),
        ("readfw-response-invalid.xml", 1, "digest mismatch"),
        (
            "readfw-response-nonexist-serial.xml",
            1,
            "no trusted certificate with serial",
        ),
        ("readfw-response-no-serial.xml", 1, "KeyInfo"),
        ("readfw-response-no-signature.xml", 1, "not signed"),
        (
            "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS-signed.XML",
            1,
            "placeholder",
        ),
        ("duis-xxe.xml", 1, "DOCTYPE"),
    ];
    for (file, code, needle) in cases {
        let out = hubgate()
            .args(["duis", "verify", "--certs"])
            .arg(&smki)
            .arg(v.join(file))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{file}: {text}");
        assert!(text.contains(needle), "{file}: {text}");
    }
    // The Java validator's second argument: an explicit certificate ignores KeyInfo.
    let out = hubgate()
        .args(["duis", "verify", "--cert"])
        .arg(smki.join("Z1-accessControlBroker-ds.pem"))
        .arg(v.join("readfw-response-nonexist-serial.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // Usage errors exit 2 with a message naming what is missing.
    let out = hubgate()
        .args(["duis", "verify"])
        .arg(v.join("readfw-response.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cert"));
    let out = hubgate()
        .args(["duis", "sign", "--key"])
        .arg(smki.join("xml-sign-90B3D51F30020000-ds.key"))
        .arg("--cert")
        .arg(smki.join("xml-sign-90B3D51F30010000-ds.pem"))
        .arg(v.join("message2.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not belong"));
}
