//! The Registration Data push endpoint of a running `hubgate serve`, over HTTPS with `curl`:
//! authentication, the change report, line-numbered errors that do not lose the valid rows,
//! the effect on the H4 registration check (E4 before the push, I99 after), and persistence
//! across a restart.
//!
//! Needs `curl` and the shared conformance corpus (the ZAZ1 keys and a DUIS template).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::{Gateway, NETWORK_OPERATOR, SUPPLIER, Seeds, element_text};

const MPAN: &str = "1100000000001";

const INVENTORY: &str = "\
device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with
00-DB-12-34-56-78-90-A2,CHF,Commissioned,106C,433100AC,,,M22 0RR,12,
00-DB-12-34-56-78-90-A0,ESME,Commissioned,AB01,010A030B,1100000000001,,M22 0RR,12,00-DB-12-34-56-78-90-A2
";

/// The gateway's settings for every start: the RTDS devices' certificates, so that commands
/// to them can be MAC'd, and no emulated premises (their registration records would be part
/// of every refresh).
fn seeds<'a>(inventory: Option<&'a str>, registration: Option<&'a str>) -> Seeds<'a> {
    Seeds {
        inventory,
        registration,
        rtds_device_keys: true,
        env: &[
            ("HUBGATE_EMULATION__HUBS", "0"),
            ("HUBGATE_REGISTRATION__MAX_PUSH_BYTES", "65536"),
        ],
        ..Seeds::default()
    }
}

/// The push token file the gateway names in its startup summary.
fn token_file(gw: &Gateway) -> PathBuf {
    gw.startup
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                "registration push: POST /api/v1/registration with the bearer token in ",
            )
        })
        .map(|rest| PathBuf::from(rest.trim_end_matches(" (new)")))
        .unwrap_or_else(|| panic!("no push token in the summary:\n{}", gw.startup))
}

fn push(
    gw: &Gateway,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let ct = format!("Content-Type: {content_type}");
    let mut args = vec!["--max-time", "20", "-H", ct.as_str()];
    if let Some(a) = &auth {
        args.extend(["-H", a.as_str()]);
    }
    let (status, text) = gw.post_with("/api/v1/registration", &args, body.as_bytes());
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {status} {text}"));
    (status, value)
}

/// A 4.1.1 read request from the supplier for the ESME, signed with `counter`; the DUIS
/// response code it gets.
fn read_supply(gw: &Gateway, counter: u64) -> String {
    let template = gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML");
    let signed = gw.sign_with(&template, SUPPLIER, Some(counter));
    let (status, answer) = gw.post_with(
        "/api/v1/serviceS",
        &["--max-time", "20", "-H", "Content-Type: application/xml"],
        &signed,
    );
    assert_eq!(status, 200, "{answer}");
    element_text(&answer, "ResponseCode").unwrap_or_else(|| panic!("{answer}"))
}

#[test]
fn a_pushed_refresh_is_authenticated_reported_applied_and_kept() {
    // The supplier is not registered for the MPAN yet: only the network operator is.
    let registration = format!(
        "mpxn,fuel,role,party,effective_from,effective_to\n{MPAN},electricity,ED,{NETWORK_OPERATOR},2000-01-01,\n"
    );
    let gw = Gateway::start("push", seeds(Some(INVENTORY), Some(&registration)));
    let token_path = token_file(&gw);
    let token = std::fs::read_to_string(&token_path)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        token_path.starts_with(gw.dir.join("data")),
        "{}",
        token_path.display()
    );

    assert_eq!(read_supply(&gw, 10), "E4", "not registered yet");

    let header = "mpxn,fuel,role,party,effective_from,effective_to\n";
    let is_row = format!("{MPAN},electricity,IS,{SUPPLIER},2000-01-01,\n");
    let csv = format!("{header}{is_row}");
    // Without a token, with a wrong one, or with a token but the wrong media type: refused,
    // and nothing changes.
    let (status, v) = push(&gw, None, "text/csv", &csv);
    assert_eq!(
        (status, &v["applied"]),
        (401, &serde_json::json!(false)),
        "{v}"
    );
    let wrong = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(push(&gw, Some(&wrong), "text/csv", &csv).0, 401);
    assert_eq!(push(&gw, Some(&token), "text/plain", &csv).0, 415);
    // A body over the limit is refused with 413, naming the limit, and changes nothing.
    let oversize = format!("{csv}{}", "#".repeat(65_536));
    let (status, v) = push(&gw, Some(&token), "text/csv", &oversize);
    assert_eq!(status, 413, "{v}");
    assert!(v["error"].as_str().unwrap().contains("65536"), "{v}");
    assert_eq!(read_supply(&gw, 11), "E4", "refused pushes changed nothing");

    // A body refused as a whole: 400, nothing applied.
    let (status, v) = push(&gw, Some(&token), "text/csv", "mpxn,fuel\n1,2\n");
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["applied"], false, "{v}");
    assert!(v["error"].as_str().unwrap().contains("line 1"), "{v}");

    // One good row and one bad: 400 with the bad row's line, and the good row applied. The
    // network operator's record, absent from this body, is kept because a row was rejected.
    let bad = format!("{header}{is_row}{MPAN},electricity,IS,{SUPPLIER},2000-13-01,\n");
    let (status, v) = push(&gw, Some(&token), "text/csv", &bad);
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["applied"], true, "{v}");
    assert_eq!(
        (v["added"].as_u64(), v["removed"].as_u64()),
        (Some(1), Some(0)),
        "{v}"
    );
    assert_eq!(v["removals_withheld"], 1, "{v}");
    assert_eq!(v["rejected"], 1, "{v}");
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{v}");
    assert_eq!(errors[0]["line"], 3, "{v}");
    assert_eq!(errors[0]["field"], "effective_from", "{v}");
    assert_eq!(v["added_sample"][0]["party"], SUPPLIER, "{v}");

    assert_eq!(read_supply(&gw, 12), "I99", "registered after the push");

    // A clean JSON refresh: 200 and what changed (the supplier's record now ends in 2099).
    let json = format!(
        r#"[{{"mpxn":"{MPAN}","fuel":"electricity","role":"IS","party":"{SUPPLIER}","effective_from":"2000-01-01","effective_to":"2099-12-31"}},
            {{"mpxn":"{MPAN}","fuel":"electricity","role":"ED","party":"{NETWORK_OPERATOR}","effective_from":"2000-01-01"}}]"#
    );
    let (status, v) = push(&gw, Some(&token), "application/json", &json);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (
            v["applied"].as_bool(),
            v["modified"].as_u64(),
            v["unchanged"].as_u64(),
            v["rejected"].as_u64()
        ),
        (Some(true), Some(1), Some(1), Some(0)),
        "{v}"
    );
    assert!(v["errors"].as_array().unwrap().is_empty(), "{v}");

    let text = gw.metrics_text();
    for needle in [
        "hubgate_registration_pushes_total{outcome=\"unauthorised\"} 2",
        "hubgate_registration_pushes_total{outcome=\"refused\"} 3",
        "hubgate_registration_pushes_total{outcome=\"partial\"} 1",
        "hubgate_registration_pushes_total{outcome=\"applied\"} 1",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }

    // After a restart without the file, the pushed data is still in force, and the token
    // file is reused.
    let gw = gw.restart(seeds(None, None));
    assert_eq!(
        std::fs::read_to_string(token_file(&gw)).unwrap().trim(),
        token
    );
    assert_eq!(read_supply(&gw, 13), "I99", "the push survived the restart");
}
