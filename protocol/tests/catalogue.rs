//! The embedded SRV catalogue against its sources: the DUIS request matrix, the SERVICES.md
//! table, the 297 templates, the RTDS corpus and the GBCS use-case table.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use hubgate_protocol::catalogue::{Catalogue, Role};
use hubgate_protocol::conformance;
use hubgate_protocol::duis::NS_SR;
use hubgate_protocol::duis::xml::Document;
use serde_json::Value;

/// Known slips in the request matrix: the Service Reference of 6.20.x is given as `6.2`
/// (a number formatted as a float); the schema and the templates say `6.20`.
const MATRIX_ERRATA: &[(&str, &str, &str)] =
    &[("6.20.1", "6.2", "6.20"), ("6.20.2", "6.2", "6.20")];

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn yes(v: &Value) -> bool {
    match v.as_str() {
        Some("Yes") => true,
        Some("No") => false,
        other => panic!("expected Yes/No, got {other:?}"),
    }
}

#[test]
fn matches_the_request_matrix() {
    let root = conformance::require();
    let text = fs::read_to_string(root.join("duis/duis-request-matrix.json")).expect("matrix");
    let matrix: Vec<Value> = serde_json::from_str(&text).expect("matrix JSON");
    let cat = Catalogue::get();
    assert_eq!(matrix.len(), 129);
    assert_eq!(cat.len(), 129);
    let mut errata_seen = 0;
    for m in &matrix {
        let srv_name = m["Service Reference Variant"].as_str().expect("SRV");
        let srv = cat
            .srv(srv_name)
            .unwrap_or_else(|| panic!("{srv_name} missing"));
        let sr = m["Service Reference"].as_str().expect("SR");
        match MATRIX_ERRATA.iter().find(|(s, ..)| *s == srv_name) {
            Some((_, wrong, right)) => {
                assert_eq!(
                    sr, *wrong,
                    "{srv_name}: erratum no longer present in the matrix"
                );
                assert_eq!(srv.service_reference, *right, "{srv_name}");
                errata_seen += 1;
            }
            None => assert_eq!(srv.service_reference, sr, "{srv_name}"),
        }
        assert_eq!(
            srv.name,
            norm(m["Service Request Name"].as_str().expect("name")),
            "{srv_name}"
        );
        assert_eq!(srv.critical, yes(&m["Critical"]), "{srv_name} critical");
        assert_eq!(srv.on_demand, yes(&m["On Demand"]), "{srv_name} on demand");
        assert_eq!(
            srv.dcc_scheduled,
            yes(&m["DCC Scheduled"]),
            "{srv_name} scheduled"
        );
        assert_eq!(
            srv.non_device,
            yes(&m["Non-Device Request"]),
            "{srv_name} non-device"
        );
        assert_eq!(
            srv.future_dated.label(),
            m["Future Dated Response Pattern"]
                .as_str()
                .expect("pattern"),
            "{srv_name} future-dated pattern"
        );
        let roles: Vec<Role> = m["Eligible User Roles"]
            .as_array()
            .expect("roles")
            .iter()
            .map(|r| {
                r.as_str()
                    .and_then(Role::parse)
                    .unwrap_or_else(|| panic!("{srv_name}: role {r}"))
            })
            .collect();
        assert_eq!(srv.roles, roles, "{srv_name} roles");
        // The CommandVariant rule.
        let expected_cvs: &[u8] = if srv.non_device {
            &[8]
        } else if srv.critical {
            &[4, 5, 6, 7]
        } else {
            &[1, 2, 3]
        };
        assert_eq!(
            srv.command_variants, expected_cvs,
            "{srv_name} CommandVariants"
        );
    }
    assert_eq!(errata_seen, MATRIX_ERRATA.len());
    assert_eq!(cat.iter().filter(|s| s.critical).count(), 37);
    assert_eq!(cat.iter().filter(|s| s.non_device).count(), 16);
}

/// A row of the SERVICES.md table.
struct MdRow {
    name: String,
    critical: bool,
    non_device: bool,
    future_dated: String,
    scheduled: bool,
    roles: Vec<String>,
    element: String,
    cvs: Vec<u8>,
    use_cases: Vec<String>,
}

/// Parses the SERVICES.md table. A row may wrap over several lines (8.2's name does): lines
/// are joined until the row has all its cells.
fn services_md() -> BTreeMap<String, MdRow> {
    let path = conformance::require().join("../docs/SERVICES.md");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = BTreeMap::new();
    let mut pending = String::new();
    for line in text.lines() {
        let starts_row =
            line.starts_with("| ") && line[2..].starts_with(|c: char| c.is_ascii_digit());
        if pending.is_empty() && !starts_row {
            continue;
        }
        if !pending.is_empty() {
            pending.push(' ');
        }
        pending.push_str(line);
        let cells: Vec<String> = pending
            .trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect();
        if cells.len() < 10 {
            continue;
        }
        pending.clear();
        let yn = |s: &str| match s {
            "Yes" => true,
            "No" => false,
            other => panic!("SERVICES.md: expected Yes/No, got {other:?}"),
        };
        let list = |s: &str, sep: char| -> Vec<String> {
            s.split(sep)
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        };
        rows.insert(
            cells[0].clone(),
            MdRow {
                name: norm(&cells[1]),
                critical: yn(&cells[2]),
                non_device: yn(&cells[3]),
                future_dated: cells[4].clone(),
                scheduled: yn(&cells[5]),
                roles: list(&cells[6], ' '),
                element: cells[7].clone(),
                cvs: list(&cells[8], ',')
                    .iter()
                    .map(|c| c.parse().expect("CV"))
                    .collect(),
                use_cases: list(&cells[9], ','),
            },
        );
    }
    rows
}

#[test]
fn matches_services_md() {
    let rows = services_md();
    let cat = Catalogue::get();
    assert_eq!(rows.len(), 129);
    for srv in cat {
        let row = rows
            .get(&srv.srv)
            .unwrap_or_else(|| panic!("SERVICES.md has no row for {}", srv.srv));
        let s = &srv.srv;
        assert_eq!(srv.name, row.name, "{s} name");
        assert_eq!(srv.critical, row.critical, "{s} critical");
        assert_eq!(srv.non_device, row.non_device, "{s} non-device");
        assert_eq!(srv.future_dated.label(), row.future_dated, "{s} pattern");
        assert_eq!(srv.dcc_scheduled, row.scheduled, "{s} scheduled");
        let roles: Vec<String> = srv.roles.iter().map(Role::to_string).collect();
        assert_eq!(roles, row.roles, "{s} roles");
        assert_eq!(
            srv.body_elements,
            std::slice::from_ref(&row.element),
            "{s} body element"
        );
        for cv in &row.cvs {
            assert!(srv.allows_command_variant(*cv), "{s}: template CV {cv}");
        }
        let ucs: Vec<&str> = srv.use_cases.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(ucs, row.use_cases, "{s} use cases");
    }
}

/// (SRV, CommandVariant, body element, file name) of every template.
fn templates() -> Vec<(String, u8, String, String)> {
    let dir = conformance::require().join("duis/templates");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("templates")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = fs::read_to_string(p).expect("template");
            let doc = Document::parse_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let header = doc.root.first_child(NS_SR, "Header").expect("Header");
            let field = |n: &str| {
                header
                    .first_child(NS_SR, n)
                    .map(|e| e.text().trim().to_owned())
                    .expect(n)
            };
            let body = doc.root.first_child(NS_SR, "Body").expect("Body");
            let element = body
                .child_elements()
                .next()
                .expect("body element")
                .local
                .clone();
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            (
                field("ServiceReferenceVariant"),
                field("CommandVariant").parse().expect("CV"),
                element,
                name,
            )
        })
        .collect()
}

#[test]
fn consistent_with_every_template() {
    let cat = Catalogue::get();
    let all = templates();
    assert_eq!(all.len(), 297);
    let mut srvs_with_template = BTreeSet::new();
    for (srv_name, cv, element, file) in &all {
        let srv = cat
            .srv(srv_name)
            .unwrap_or_else(|| panic!("{file}: SRV {srv_name} not in catalogue"));
        assert!(
            srv.accepts_body(element, *cv),
            "{file}: {element} with CV {cv} for {srv_name}"
        );
        assert!(
            cat.by_body_element(element).any(|s| s.srv == *srv_name),
            "{file}: by_body_element"
        );
        // A use-case prefix in the file name (`ECS17b_4.1.1_…`) is one of the SRV's.
        let first = file.split('_').next().unwrap_or_default();
        if !first.starts_with(|c: char| c.is_ascii_digit()) {
            assert!(
                srv.use_cases.iter().any(|u| u.name == first),
                "{file}: use case {first} of {srv_name}"
            );
        }
        srvs_with_template.insert(srv_name.clone());
    }
    assert_eq!(srvs_with_template.len(), 129);
}

#[test]
fn message_codes_match_the_rtds_corpus() {
    let root = conformance::require();
    let cat = Catalogue::get();
    let csv = fs::read_to_string(root.join("gbcs/expected.csv")).expect("expected.csv");
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |n: &str| {
        head.iter()
            .position(|h| *h == n)
            .unwrap_or_else(|| panic!("column {n}"))
    };
    let (path_col, kind_col, code_col) = (col("path"), col("kind"), col("message_code"));
    // use case -> (non-alert codes, alert codes)
    let mut codes: BTreeMap<String, (BTreeSet<u16>, BTreeSet<u16>)> = BTreeMap::new();
    let mut dirs = BTreeSet::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        let dir = cells[path_col].split('/').next().expect("dir");
        dirs.insert(dir.to_owned());
        let (_, uc) = dir.split_once('_').expect("SRV_UseCase");
        let code = u16::from_str_radix(cells[code_col], 16).expect("hex code");
        let entry = codes.entry(uc.to_owned()).or_default();
        if cells[kind_col] == "ALERT" {
            entry.1.insert(code)
        } else {
            entry.0.insert(code)
        };
    }
    let mut checked = 0;
    for dir in &dirs {
        let (srv_name, uc) = dir.split_once('_').expect("SRV_UseCase");
        let (plain, alerts) = &codes[uc];
        let expected = if plain.is_empty() { alerts } else { plain };
        assert_eq!(expected.len(), 1, "{dir}: one message code");
        let code = expected.iter().next().copied();
        let u = cat
            .use_case(uc)
            .unwrap_or_else(|| panic!("use case {uc} missing"));
        assert_eq!(u.message_code, code, "{uc}");
        if srv_name != "NA" {
            let srv = cat.srv(srv_name).unwrap_or_else(|| panic!("{dir}: SRV"));
            let r = srv
                .use_cases
                .iter()
                .find(|r| r.name == uc)
                .unwrap_or_else(|| panic!("{dir}: not listed"));
            assert_eq!(r.message_code, code, "{dir}");
            assert!(
                cat.srvs_by_message_code(code.expect("code"))
                    .any(|s| s.srv == srv_name)
            );
        }
        if let Some(c) = code {
            assert!(
                cat.use_cases_by_code(c).any(|x| x.name == uc),
                "{dir}: by code"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 193);
    // Use cases absent from the corpus have no code rather than an invented one.
    for srv in cat {
        for r in &srv.use_cases {
            if !codes.contains_key(&r.name) {
                assert_eq!(r.message_code, None, "{} {}", srv.srv, r.name);
            }
        }
    }
}

#[test]
fn titles_and_types_match_the_use_case_table() {
    let root = conformance::require();
    let text = fs::read_to_string(root.join("gbcs/use-case-table.json")).expect("use-case table");
    let table: Vec<Value> = serde_json::from_str(&text).expect("JSON");
    let cat = Catalogue::get();
    let mut checked = 0;
    for entry in &table {
        let title = norm(entry["Use Case Title"].as_str().expect("title"));
        let (code, rest) = title.split_once(' ').expect("code and title");
        let u = cat
            .use_case(code)
            .unwrap_or_else(|| panic!("use case {code} missing"));
        if u.title.as_deref() == Some(rest) {
            assert_eq!(u.base.as_deref(), Some(code));
            assert_eq!(
                u.message_type.as_deref(),
                Some(norm(entry["Message Type"].as_str().expect("type")).as_str())
            );
            checked += 1;
        }
    }
    // The table repeats a few codes (ECS25a…); the first entry of each code is kept.
    assert!(checked >= 200, "{checked}");
    let ecs01a = cat.use_case("ECS01a").expect("ECS01a");
    assert_eq!(ecs01a.message_type.as_deref(), Some("SME.C.C"));
    assert_eq!(ecs01a.message_code, Some(0x0019));
    for u in cat.use_cases() {
        if let Some(base) = &u.base {
            assert!(u.name.starts_with(base.as_str()), "{}", u.name);
        }
    }
}
