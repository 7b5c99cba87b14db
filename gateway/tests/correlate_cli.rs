//! `hubgate correlate` on real request/Pre-Command pairs, including a Pre-Command delivered
//! inside a DUIS response.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::process::Command;

use base64::Engine as _;

#[test]
fn correlate_accepts_the_matching_precommand_and_names_the_first_mismatch() {
    let root = hubgate_protocol::conformance::require();
    let req = root.join("duis/templates/CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML");
    let good = root.join("gbcs/rtds/11.3_CS06/CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND_GBCS.HEX");
    let run = |pre: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_hubgate"))
            .args(["correlate", "--request"])
            .arg(&req)
            .arg("--precommand")
            .arg(pre)
            .output()
            .unwrap()
    };
    let out = run(&good);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("firmware hash"));

    // The same Pre-Command as the DCC returns it: base64 in ResponseMessage/PreCommand.
    let bytes = hubgate_protocol::hex::decode(&std::fs::read_to_string(&good).unwrap()).unwrap();
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><sr:Response xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4"><sr:Header><sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000</sr:RequestID><sr:ResponseCode>I0</sr:ResponseCode><sr:ResponseDateTime>2026-01-01T00:00:00Z</sr:ResponseDateTime></sr:Header><sr:Body><sr:ResponseMessage><sr:ServiceReference>11.3</sr:ServiceReference><sr:ServiceReferenceVariant>11.3</sr:ServiceReferenceVariant><sr:PreCommand><sr:GBCSVersion>4.0</sr:GBCSVersion><sr:GBCSPayload>{}</sr:GBCSPayload></sr:PreCommand></sr:ResponseMessage></sr:Body></sr:Response>"#,
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    );
    let resp = std::env::temp_dir().join(format!("hubgate-correlate-{}.xml", std::process::id()));
    std::fs::write(&resp, xml).unwrap();
    let out = run(&resp);
    let _ = std::fs::remove_file(&resp);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let wrong = root.join("gbcs/rtds/11.3_CS06/CS06_11.3_FUTURE_DATED_SUCCESS_PRECOMMAND_GBCS.HEX");
    let out = run(&wrong);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.starts_with("MISMATCH"), "{text}");
}
