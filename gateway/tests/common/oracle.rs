//! The independent XML checker (`tools/oracle/xmldsig_oracle.py`) on messages a test gateway
//! produced: XSD validity (lxml) and the DSP's XML signature. Each check fails the test with
//! the checker's own output.

use std::path::PathBuf;
use std::process::Command;

use super::Gateway;

/// Writes `xml` to `<gateway dir>/<name>.xml` and returns the path and the checker's path.
fn stage(gw: &Gateway, xml: &str, name: &str) -> (PathBuf, PathBuf) {
    let path = gw.dir.join(format!("{name}.xml"));
    std::fs::write(&path, xml).unwrap();
    (path, gw.root.join("../tools/oracle/xmldsig_oracle.py"))
}

/// Asserts that `xml` is valid against the DUIS XSD.
pub fn xsd_valid(gw: &Gateway, xml: &str, name: &str) {
    let (path, oracle) = stage(gw, xml, name);
    let xsd = Command::new("python3")
        .arg(&oracle)
        .arg("xsd")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        xsd.status.success(),
        "{name}: not valid against the DUIS XSD:\n{}{}\n{xml}",
        String::from_utf8_lossy(&xsd.stdout),
        String::from_utf8_lossy(&xsd.stderr)
    );
}

/// Asserts that `xml` is valid against the DUIS XSD and carries a DSP signature the checker
/// verifies with the DSP's XML signing certificate.
pub fn xml_oracle(gw: &Gateway, xml: &str, name: &str) {
    xsd_valid(gw, xml, name);
    let path = gw.dir.join(format!("{name}.xml"));
    let oracle = gw.root.join("../tools/oracle/xmldsig_oracle.py");
    let verify = Command::new("python3")
        .arg(&oracle)
        .args(["verify", "--certs"])
        .arg(gw.root.join("smki/Z1-accessControlBroker-dSPXmlSign.pem"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{name}: the oracle rejects the DSP signature:\n{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
