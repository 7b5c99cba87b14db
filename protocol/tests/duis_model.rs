//! The typed DUIS model against the shared corpus: every template reads, is consistent with
//! the SRV catalogue, and survives write → read unchanged; responses likewise; malformed
//! documents are refused with errors that name the place.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::fs;
use std::path::PathBuf;

use hubgate_protocol::conformance;
use hubgate_protocol::duis::model::{Body, Request, Response};
use hubgate_protocol::duis::reader::{self, DuisError};
use hubgate_protocol::duis::xml::{self, Limits};

fn templates() -> Vec<PathBuf> {
    let dir = conformance::require().join("duis/templates");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("templates folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")))
        .collect();
    v.sort();
    v
}

fn read_request_file(p: &PathBuf) -> Request {
    let bytes = fs::read(p).expect("read template");
    match Request::parse(&bytes, &Limits::default()) {
        Ok(r) => r,
        Err(e) => panic!("{}: {e}", p.display()),
    }
}

#[test]
fn every_template_round_trips() {
    let files = templates();
    assert_eq!(files.len(), 297);
    let mut with_execution_time = 0;
    for p in &files {
        let req = read_request_file(p);
        if let Err(e) = req.check_consistency() {
            panic!("{}: {e}", p.display());
        }
        if req.body.execution_date_time().is_some() {
            with_execution_time += 1;
        }
        assert!(req.signature.is_some(), "{}: signature kept", p.display());
        let xml = req.to_xml();
        let again = match Request::parse(xml.as_bytes(), &Limits::default()) {
            Ok(r) => r,
            Err(e) => panic!("{}: re-reading the written XML: {e}\n{xml}", p.display()),
        };
        assert_eq!(again, req, "{}", p.display());
        assert_eq!(again.to_xml(), xml, "{}: writing is stable", p.display());
        assert!(!matches!(req.body, Body::Other { .. }));
    }
    assert_eq!(with_execution_time, 42);
}

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?><sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" schemaVersion="5.4">"#;

fn request_xml(header: &str, body: &str) -> String {
    format!("{HEAD}<sr:Header>{header}</sr:Header><sr:Body>{body}</sr:Body></sr:Request>")
}

const STD_HEADER: &str = "<sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000</sr:RequestID><sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>4.1</sr:ServiceReference><sr:ServiceReferenceVariant>4.1.1</sr:ServiceReferenceVariant>";

fn read_err(xml: &str) -> String {
    match Request::parse(xml.as_bytes(), &Limits::default()) {
        Ok(r) => panic!("accepted: {r:?}"),
        Err(DuisError::Invalid(e)) => e.to_string(),
        Err(e) => panic!("not a DUIS error: {e}"),
    }
}

#[test]
fn minimal_request_reads() {
    let req = Request::parse(
        request_xml(STD_HEADER, "<sr:ReadInstantaneousImportRegisters/>").as_bytes(),
        &Limits::default(),
    )
    .expect("valid");
    assert_eq!(req.header.request_id.counter, 1000);
    assert_eq!(req.body.element_name(), "ReadInstantaneousImportRegisters");
    assert_eq!(req.header.service_reference_variant.as_str(), "4.1.1");
    assert!(req.signature.is_none());
    assert!(req.check_consistency().is_ok());
}

#[test]
fn errors_name_the_place() {
    let body = "<sr:ReadInstantaneousImportRegisters/>";
    let cases: Vec<(String, &str)> = vec![
        (
            request_xml(&STD_HEADER.replace(":1000<", ":01000<"), body),
            "Header/RequestID: counter has a leading zero",
        ),
        (
            request_xml(&STD_HEADER.replace(":1000<", ":18446744073709551616<"), body),
            "Header/RequestID: counter exceeds 18446744073709551615",
        ),
        (
            request_xml(&STD_HEADER.replace("90-B3-D5", "90-B3-G5"), body),
            "Header/RequestID: originator EUI \"90-B3-G5-1F-30-01-00-00\" is not eight hex pairs joined by '-'",
        ),
        (
            request_xml(&STD_HEADER.replace("<sr:CommandVariant>1<", "<sr:CommandVariant>9<"), body),
            "Header/CommandVariant: CommandVariant 9 is internal to the DCC and not accepted",
        ),
        (
            request_xml(&STD_HEADER.replace("4.1.1<", "4.1.9<"), body),
            "Header/ServiceReferenceVariant: unknown Service Reference Variant \"4.1.9\"",
        ),
        (
            request_xml(
                &STD_HEADER.replace(
                    "<sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>4.1</sr:ServiceReference>",
                    "<sr:ServiceReference>4.1</sr:ServiceReference><sr:CommandVariant>1</sr:CommandVariant>",
                ),
                body,
            ),
            "Header: missing element CommandVariant, found ServiceReference",
        ),
        (request_xml(STD_HEADER, "<sr:ReadEverything/>"), "Body: unknown body element ReadEverything"),
        (request_xml(STD_HEADER, ""), "Body: missing element a service element"),
        (
            request_xml(STD_HEADER, "<sr:ReadInstantaneousImportRegisters/><sr:ReadSupplyStatus/>"),
            "Body: unexpected element ReadSupplyStatus",
        ),
        (
            request_xml(STD_HEADER, "<ReadInstantaneousImportRegisters/>"),
            "Body: element ReadInstantaneousImportRegisters is not in the DUIS namespace",
        ),
        (request_xml(STD_HEADER, "text<sr:ReadInstantaneousImportRegisters/>"), "Body: unexpected text content"),
        (
            request_xml(STD_HEADER, "<sr:ReadInstantaneousImportRegisters x=\"1\"/>"),
            "Body/ReadInstantaneousImportRegisters: unexpected attribute x",
        ),
        (
            request_xml(STD_HEADER, "<sr:TopUpDevice><sr:UTRN>123</sr:UTRN></sr:TopUpDevice>"),
            "Body/TopUpDevice/UTRN: length is 3, must be at least 20",
        ),
        (
            request_xml(
                STD_HEADER,
                "<sr:TopUpDevice><sr:UTRN>7394614433204021731A</sr:UTRN></sr:TopUpDevice>",
            ),
            "Body/TopUpDevice/UTRN: does not match the pattern [0-9]{20}",
        ),
        (
            request_xml(
                STD_HEADER,
                "<sr:ReadInstantaneousImportRegisters><sr:ExecutionDateTime>2030-02-30T00:00:00Z</sr:ExecutionDateTime></sr:ReadInstantaneousImportRegisters>",
            ),
            "Body/ReadInstantaneousImportRegisters/ExecutionDateTime: invalid xs:dateTime \"2030-02-30T00:00:00Z\": day 30 out of range",
        ),
        (
            request_xml(
                STD_HEADER,
                "<sr:SignedPreCommand><sr:GBCSPayload>3w==</sr:GBCSPayload><sr:ExecutionDateTime>2030-01-01T00:00:00Z</sr:ExecutionDateTime></sr:SignedPreCommand>",
            ),
            "Body/SignedPreCommand: unexpected element ExecutionDateTime",
        ),
        (
            request_xml(STD_HEADER, "<sr:SignedPreCommand><sr:GBCSPayload>3w=</sr:GBCSPayload></sr:SignedPreCommand>"),
            "Body/SignedPreCommand/GBCSPayload: invalid base64",
        ),
        (
            request_xml(STD_HEADER, "<sr:SignedPreCommand/>"),
            "Body/SignedPreCommand: missing element GBCSPayload",
        ),
        (
            request_xml(
                STD_HEADER,
                "<sr:ReadInventory><sr:Nothing/></sr:ReadInventory>",
            ),
            "Body/ReadInventory: expected one of",
        ),
    ];
    for (xml, expected) in cases {
        let msg = read_err(&xml);
        assert!(
            msg.starts_with(expected),
            "expected {expected:?}, got {msg:?}"
        );
    }
}

#[test]
fn root_and_signature_placement() {
    let doc = format!(
        "{HEAD}<sr:Header>{STD_HEADER}</sr:Header><sr:Body><sr:ReadInstantaneousImportRegisters/></sr:Body><ds:Signature><ds:SignedInfo/></ds:Signature></sr:Request>"
    );
    let req = Request::parse(doc.as_bytes(), &Limits::default()).expect("valid");
    assert_eq!(
        req.signature.as_ref().map(|s| s.local.as_str()),
        Some("Signature")
    );
    let after = doc.replace(
        "</ds:Signature></sr:Request>",
        "</ds:Signature><sr:Extra/></sr:Request>",
    );
    assert_eq!(read_err(&after), "unexpected element sr:Extra");
    let no_version = request_xml(STD_HEADER, "<sr:ReadInstantaneousImportRegisters/>")
        .replace(" schemaVersion=\"5.4\"", "");
    assert_eq!(read_err(&no_version), "missing attribute schemaVersion");
    let response_root = request_xml(STD_HEADER, "<sr:ReadInstantaneousImportRegisters/>")
        .replace("sr:Request", "sr:Response");
    assert!(read_err(&response_root).starts_with("document element is sr:Response"));
    let xxe = conformance::require().join("duis/signing-vectors/duis-xxe.xml");
    let bytes = fs::read(xxe).expect("xxe vector");
    assert!(matches!(
        Request::parse(&bytes, &Limits::default()),
        Err(DuisError::Xml(_))
    ));
}

#[test]
fn execution_date_time_is_kept() {
    let p = conformance::require().join(
        "duis/templates/CS02bSupplierBySupplier_6.15.1_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML",
    );
    let req = read_request_file(&p);
    assert_eq!(
        req.body.execution_date_time().map(|d| d.as_str()),
        Some("2030-01-15T00:00:00.00Z")
    );
    let Body::UpdateSecurityCredentialsKRP(krp) = &req.body else {
        panic!("body {:?}", req.body.element_name())
    };
    assert_eq!(
        krp.execution_date_time.as_ref().map(|d| d.as_str()),
        Some("2030-01-15T00:00:00.00Z")
    );
    assert!(req.to_xml().contains("<sr:UpdateSecurityCredentialsKRP><sr:ExecutionDateTime>2030-01-15T00:00:00.00Z</sr:ExecutionDateTime>"));
}

#[test]
fn typed_bodies_hold_their_values() {
    let root = conformance::require().join("duis/templates");
    let top_up = read_request_file(&root.join("CS01a_2.2_SUCCESS_REQUEST_DUIS.XML"));
    let Body::TopUpDevice(t) = &top_up.body else {
        panic!("TopUpDevice")
    };
    assert_eq!(t.utrn, "73946144332040217315");
    assert_eq!(top_up.header.request_id.counter, 12_884_901_888);

    let ret =
        read_request_file(&root.join("8.13_RETURN_LOCAL_COMMAND_RESPONSE_CS06_REQUEST_DUIS.XML"));
    let Body::ReturnLocalCommandResponse(r) = &ret.body else {
        panic!("ReturnLocalCommandResponse")
    };
    assert_eq!(r.device_gbcs_response.first(), Some(&0xDF));

    let lower =
        conformance::require().join("duis/signing-vectors/ECS50_9.1_SUCCESS_REQUEST_DUIS.XML");
    let cin = read_request_file(&lower);
    assert!(cin.to_xml().contains(&cin.header.request_id.to_string()));
    assert_eq!(
        cin.header.request_id.to_string(),
        cin.header.request_id.to_string().to_uppercase()
    );
}

/// The reader agrees with the schema oracle's verdicts on the signing vectors (recorded by
/// running `xmldsig_oracle.py xsd` on them).
#[test]
fn signing_vectors_match_schema_verdicts() {
    let dir = conformance::require().join("duis/signing-vectors");
    let invalid = [
        (
            "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS-invalid.XML",
            "Header/RequestID: expected EUI:EUI:counter",
        ),
        (
            "readfw-response-invalid.xml",
            "Body/ResponseMessage/ServiceReference: unknown Service Reference \"11.2.11.2\"",
        ),
    ];
    let mut requests = 0;
    let mut responses = 0;
    for p in fs::read_dir(&dir)
        .expect("vectors")
        .filter_map(|e| e.ok().map(|e| e.path()))
    {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name == "duis-xxe.xml" || !name.to_lowercase().ends_with(".xml") {
            continue;
        }
        let bytes = fs::read(&p).expect("vector");
        let doc = xml::parse(&bytes, &Limits::default()).expect("well-formed");
        let verdict = if doc.root.local == "Request" {
            reader::read_request(&doc).map(|r| {
                requests += 1;
                let again =
                    Request::parse(r.to_xml().as_bytes(), &Limits::default()).expect("re-read");
                assert_eq!(again, r, "{name}");
            })
        } else {
            reader::read_response(&doc).map(|r| {
                responses += 1;
                let again =
                    Response::parse(r.to_xml().as_bytes(), &Limits::default()).expect("re-read");
                assert_eq!(again, r, "{name}");
            })
        };
        match invalid.iter().find(|(n, _)| *n == name) {
            Some((_, msg)) => assert_eq!(
                verdict.map_err(|e| e.to_string()),
                Err(msg.to_string()),
                "{name}"
            ),
            None => assert!(verdict.is_ok(), "{name}: {verdict:?}"),
        }
    }
    assert_eq!((requests, responses), (4, 12));
}

#[test]
fn responses_expose_their_parts() {
    let dir = conformance::require().join("duis/signing-vectors");
    let read = |n: &str| {
        Response::parse(&fs::read(dir.join(n)).expect("vector"), &Limits::default()).expect(n)
    };
    let fw = read("readfw-response.xml");
    assert_eq!(fw.header.response_code.as_str(), "I0");
    assert_eq!(
        fw.header.request_id.map(|r| r.counter),
        Some(1_660_751_141_087)
    );
    assert_eq!(
        fw.header.response_id,
        fw.header.request_id.map(|r| r.response_id())
    );
    assert_eq!(fw.gbcs_payload().and_then(|p| p.first()), Some(&0xDD));
    assert!(fw.signature.is_some());

    let ack = read("acknowledgement-error.xml");
    assert!(ack.header.response_code.is_error());
    assert!(ack.signature.is_none());
    assert!(matches!(&ack.body, ResponseBody::ResponseMessage(m) if m.payload.is_none()));

    let inv = read("read-inventory-response-5.4.xml");
    let ResponseBody::ResponseMessage(m) = &inv.body else {
        panic!("ResponseMessage")
    };
    assert!(
        matches!(&m.payload, Some(ResponsePayload::Dsp { element, .. }) if element == "DSPInventory")
    );
}

#[test]
fn no_panic_on_truncated_or_mangled_input() {
    // Every prefix of a template is either refused or read; none panics.
    let p = conformance::require()
        .join("duis/templates/ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML");
    let bytes = fs::read(p).expect("template");
    for cut in (0..bytes.len()).step_by(97) {
        let _ = Request::parse(&bytes[..cut], &Limits::default());
    }
    let text = String::from_utf8(bytes).expect("utf-8");
    for (from, to) in [
        ("sr:", "xx:"),
        ("</sr:", "<sr:"),
        ("true", "maybe"),
        (">1<", ">-1<"),
        ("Z<", "+25:00<"),
    ] {
        let _ = Request::parse(text.replacen(from, to, 3).as_bytes(), &Limits::default());
    }
}

use hubgate_protocol::duis::model::{ResponseBody, ResponsePayload};

#[test]
fn other_bodies_pass_through() {
    let doc = xml::Document::parse_str(
        r#"<sr:ReadSupplyStatus xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway"/>"#,
    )
    .expect("xml");
    let other = Body::other(doc.root.clone()).expect("schema element");
    assert_eq!(other.element_name(), "ReadSupplyStatus");
    let typed = other.clone().into_typed().expect("typed");
    assert!(matches!(typed, Body::ReadSupplyStatus(_)));
    let not_duis = xml::Document::parse_str("<ReadSupplyStatus/>").expect("xml");
    assert!(Body::other(not_duis.root).is_err());
    let unknown = xml::Document::parse_str(
        r#"<sr:ReadEverything xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway"/>"#,
    )
    .expect("xml");
    assert!(Body::other(unknown.root).is_err());

    // Written raw, read back typed.
    let mut req = Request::parse(
        request_xml(STD_HEADER, "<sr:ReadInstantaneousImportRegisters/>").as_bytes(),
        &Limits::default(),
    )
    .expect("valid");
    req.body = other;
    let back = Request::parse(req.to_xml().as_bytes(), &Limits::default()).expect("re-read");
    assert_eq!(back.body, typed);
}
