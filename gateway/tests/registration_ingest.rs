//! Loading registration files and pushes: malformed rows, refresh reports, scoping.
#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use hubgate_gateway::registration::{
    Change, Date, Field, Format, IngestError, Limits, LoadError, Mpxn, PartyRole, RefreshReport,
    Registration, RegistrationData, RowProblem,
};
use hubgate_protocol::catalogue::Role;

const HEADER: &str = "mpxn,fuel,role,party,effective_from,effective_to\n";

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn reg(mpxn: &str, role: PartyRole, party: u8, from: &str, to: Option<&str>) -> Registration {
    let mpxn: Mpxn = mpxn.parse().unwrap();
    let party = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0x00, party];
    Registration::new(mpxn, mpxn.fuel(), role, party, d(from), to.map(d)).unwrap()
}

/// (line, field) of each rejected row.
fn rejects(r: &RefreshReport) -> Vec<(usize, Option<Field>)> {
    r.rejected.iter().map(|e| (e.line, e.field())).collect()
}

#[test]
fn csv_rejects_malformed_rows_by_line_and_field_and_keeps_the_rest() {
    let body = [
        HEADER.trim_end(), // 1
        "1312345678111,electricity,import_supplier,90B3D51F30010001,2023-01-01,2024-06-30", // 2
        "",                // 3
        "1312345678111,Electricity,IS,90-B3-D5-1F-30-01-00-02,2024-07-01,\r", // 4
        "131234567811,electricity,IS,90B3D51F30010001,2023-01-01,", // 5
        "1312345678222,gas,IS,90B3D51F30010001,2023-01-01,", // 6
        "1312345678222,electricity,landlord,90B3D51F30010001,2023-01-01,", // 7
        "1312345678222,electricity,ED,90B3D51F3002,2023-01-01,", // 8
        "1312345678222,electricity,ED,90B3D51F30020001,2024-02-30,", // 9
        "1312345678222,electricity,ED,90B3D51F30020001,2024-01-01,2023-12-31", // 10
        "1312345678222,electricity,ED,90B3D51F30020001,2024-01-01", // 11
        " \"1000999888\" , gas ,\"gas_transporter\",90b3d51f30020002, 1999-01-01 ,", // 12
        "1000999888,gas,GS,\"90B3D51F30010004,2024-01-01,", // 13
        "1000999888,gas,GS,,2024-01-01,", // 14
        "1000999888,gas,GS,90B3D51F30010004,2024-01-01,2024-12-3\u{1}", // 15
    ]
    .join("\n");
    let mut body = body.into_bytes();
    body.extend_from_slice(b"\n1000999888,gas,GS,\xff\xfe,2024-01-01,\n"); // 16
    let data = RegistrationData::new();
    let report = data.ingest(&body, Format::Csv).unwrap();

    assert_eq!(
        rejects(&report),
        [
            (5, Some(Field::Mpxn)),
            (6, Some(Field::Fuel)),
            (7, Some(Field::Role)),
            (8, Some(Field::Party)),
            (9, Some(Field::EffectiveFrom)),
            (10, Some(Field::EffectiveTo)),
            (11, None),
            (13, None),
            (14, Some(Field::Party)),
            (15, Some(Field::EffectiveTo)),
            (16, None),
        ]
    );
    assert_eq!(report.rejected_total, 11);
    let text: Vec<String> = report.rejected.iter().map(ToString::to_string).collect();
    assert!(
        text[0].starts_with("line 5: field `mpxn`: must be 13 digits"),
        "{}",
        text[0]
    );
    assert!(text[1].starts_with("line 6: field `fuel`"), "{}", text[1]);
    assert_eq!(text[6], "line 11: expected 6 fields, found 5");
    assert_eq!(text[7], "line 13: unterminated quoted field");
    assert_eq!(text[8], "line 14: field `party`: missing");
    assert_eq!(text[10], "line 16: not valid UTF-8");

    // The three valid rows are applied.
    assert_eq!(report.added.len(), 3);
    assert_eq!(data.len(), 3);
    assert_eq!(
        data.records(),
        vec![
            with_party(
                reg(
                    "1000999888",
                    PartyRole::GasTransporter,
                    0,
                    "1999-01-01",
                    None
                ),
                [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x02, 0x00, 0x02]
            ),
            reg(
                "1312345678111",
                PartyRole::ImportSupplier,
                1,
                "2023-01-01",
                Some("2024-06-30")
            ),
            reg(
                "1312345678111",
                PartyRole::ImportSupplier,
                2,
                "2024-07-01",
                None
            ),
        ]
    );
}

fn with_party(r: Registration, party: [u8; 8]) -> Registration {
    Registration::new(
        r.mpxn(),
        r.fuel(),
        r.party_role(),
        party,
        r.effective_from(),
        r.effective_to(),
    )
    .unwrap()
}

#[test]
fn json_rejects_malformed_elements_by_line_and_field() {
    let body = r#"[
  {"mpxn": "1312345678111", "fuel": "electricity", "role": "IS", "party": "90B3D51F30010001", "effective_from": "2023-01-01", "effective_to": "2024-06-30"},
  {"mpxn": "1312345678111", "fuel": "electricity", "role": "IS",
   "party": "90B3D51F30010002", "effective_from": "2024-07-01", "effective_to": null},
  {"mpxn": 1312345678222, "fuel": "electricity", "role": "ED", "party": "90B3D51F30020001", "effective_from": "2024-01-01"},
  {"mpxn": "1000999888", "fuel": "gas", "role": "GT", "party": "90B3D51F30020002", "effective_from": "1999-01-01"},
  {"mpxn": "1000999888", "fuel": "gas", "role": "GS", "party": "90B3D51F30010004", "effective_from": "2024-01-01", "efective_to": "2024-12-31"},
  "not an object",

  {"mpxn": "1000999888", "fuel": "gas", "role": "GS", "party": "90B3D51F30010004", "effective_from": "2024-13-01", "effective_to": ""},
  {"mpxn": "1000999888", "fuel": "gas", "party": "90B3D51F30010004", "effective_from": "2024-01-01"}
]"#;
    let data = RegistrationData::new();
    let report = data.ingest(body.as_bytes(), Format::Json).unwrap();
    assert_eq!(
        rejects(&report),
        [
            (5, Some(Field::Mpxn)),
            (7, None),
            (8, None),
            (10, Some(Field::EffectiveFrom)),
            (11, Some(Field::Role)),
        ]
    );
    assert_eq!(
        report.rejected[0].to_string(),
        "line 5: field `mpxn`: expected a string"
    );
    assert!(
        matches!(&report.rejected[1].problem, RowProblem::UnknownField(k) if k == "efective_to")
    );
    assert_eq!(report.rejected[2].problem, RowProblem::NotAnObject);
    assert_eq!(
        report.rejected[4].to_string(),
        "line 11: field `role`: missing"
    );
    assert_eq!(data.len(), 3);
    let json = serde_json::to_value(&report.rejected[3]).unwrap();
    assert_eq!(json["line"], 10);
    assert_eq!(json["field"], "effective_from");
    assert_eq!(
        json["reason"],
        "field `effective_from`: month 13 is outside 1..=12"
    );

    // A JSON syntax fault leaves no element readable: the body is refused, data unchanged.
    let broken = "[\n {\"mpxn\": \"1000999888\",\n  \"fuel\": gas}\n]";
    match data.ingest(broken.as_bytes(), Format::Json) {
        Err(IngestError::Json { line, .. }) => assert_eq!(line, 3),
        other => panic!("{other:?}"),
    }
    assert_eq!(data.len(), 3);
}

fn csv(rows: &[&str]) -> Vec<u8> {
    let mut s = HEADER.to_owned();
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s.into_bytes()
}

const R1: &str = "1312345678111,electricity,IS,90B3D51F30010001,2023-01-01,";
const R2: &str = "1312345678111,electricity,ED,90B3D51F30020001,2000-01-01,";
const R2_ENDED: &str = "1312345678111,electricity,ED,90B3D51F30020001,2000-01-01,2024-03-31";
const R3: &str = "1312345678222,electricity,ES,90B3D51F30010003,2024-01-01,";
const R4: &str = "1000999888,gas,GS,90B3D51F30010004,2024-01-01,";
const R5: &str = "1000999888,gas,GT,90B3D51F30020002,1999-01-01,";

#[test]
fn refresh_reports_added_removed_and_modified() {
    let data = RegistrationData::new();
    let first = data.ingest(&csv(&[R1, R2, R3, R4]), Format::Csv).unwrap();
    assert_eq!((first.added.len(), first.removed.len()), (4, 0));
    assert_eq!(
        (first.generation, first.records, first.unchanged),
        (1, 4, 0)
    );

    let second = data
        .ingest(&csv(&[R4, R2_ENDED, R5, R1]), Format::Csv)
        .unwrap();
    let r = |row: &str| {
        RegistrationData::new()
            .ingest(&csv(&[row]), Format::Csv)
            .unwrap()
            .added[0]
    };
    assert_eq!(second.added, [r(R5)]);
    assert_eq!(second.removed, [r(R3)]);
    assert_eq!(second.modified.len(), 1);
    assert_eq!(second.modified[0].before, r(R2));
    assert_eq!(second.modified[0].after, r(R2_ENDED));
    assert_eq!(second.unchanged, 2);
    assert_eq!((second.generation, second.records), (2, 4));
    assert!(second.rejected.is_empty() && second.removals_withheld == 0);
    assert_eq!(
        second.changes(),
        [
            Change::Remove(r(R3).key()),
            Change::Upsert(r(R5)),
            Change::Upsert(r(R2_ENDED)),
        ]
    );
    // The modification took effect.
    let ed = [Role::ElectricityDistributor];
    let dno = r(R2).party();
    assert!(
        data.authorised(dno, &ed, "1312345678111", d("2024-03-31"))
            .is_ok()
    );
    assert!(
        data.authorised(dno, &ed, "1312345678111", d("2024-04-01"))
            .is_err()
    );

    let summary = serde_json::to_value(second.summary(1)).unwrap();
    assert_eq!(summary["added"], 1);
    assert_eq!(summary["removed"], 1);
    assert_eq!(summary["modified"], 1);
    assert_eq!(summary["unchanged"], 2);
    assert_eq!(summary["rejected"], 0);
    assert_eq!(summary["removed_sample"][0]["mpxn"], "1312345678222");
    assert_eq!(summary["removed_sample"][0]["role"], "export_supplier");
    assert_eq!(
        summary["modified_sample"][0]["after"]["effective_to"],
        "2024-03-31"
    );

    // The same body again changes nothing and keeps the generation.
    let same = data
        .ingest(&csv(&[R1, R2_ENDED, R4, R5]), Format::Csv)
        .unwrap();
    assert!(!same.changed());
    assert_eq!((same.generation, same.unchanged), (2, 4));
    assert_eq!(data.snapshot().generation(), 2);
}

#[test]
fn a_partly_rejected_refresh_never_deletes() {
    let data = RegistrationData::new();
    data.ingest(&csv(&[R1, R2, R3]), Format::Csv).unwrap();
    // R3's row is corrupt; R2 is missing. Neither is removed while rows are rejected.
    let bad_r3 = R3.replace("2024-01-01", "2024-01-32");
    let report = data
        .ingest(
            &csv(&[R1, &bad_r3, R2_ENDED.replace("2000", "2001").as_str()]),
            Format::Csv,
        )
        .unwrap();
    assert_eq!(report.rejected_total, 1);
    assert_eq!(rejects(&report), [(3, Some(Field::EffectiveFrom))]);
    assert_eq!(report.added.len(), 1);
    assert!(report.removed.is_empty());
    assert_eq!(report.removals_withheld, 2);
    assert_eq!(report.records, 4);
    assert_eq!(data.len(), 4);
    // A clean refresh then removes them.
    let clean = data.ingest(&csv(&[R1]), Format::Csv).unwrap();
    assert_eq!(clean.removed.len(), 3);
    assert_eq!(data.len(), 1);
}

#[test]
fn a_push_replaces_only_the_fuels_it_carries() {
    let data = RegistrationData::new();
    data.ingest(&csv(&[R1, R2, R4]), Format::Csv).unwrap();
    // The gas provider's refresh: R4 gone, R5 new; electricity untouched.
    let gas = data.ingest(&csv(&[R5]), Format::Csv).unwrap();
    assert_eq!((gas.added.len(), gas.removed.len()), (1, 1));
    assert_eq!(gas.removed[0].party_role(), PartyRole::GasSupplier);
    assert_eq!(data.len(), 3);
    // A full refresh through the API replaces everything.
    let all = data.refresh(Vec::new());
    assert_eq!(all.removed.len(), 3);
    assert!(data.is_empty());
}

#[test]
fn repeated_keys_collapse_or_conflict() {
    let data = RegistrationData::new();
    let other_party = R1.replace("90B3D51F30010001", "90B3D51F30010009");
    let report = data
        .ingest(&csv(&[R1, R4, R4, &other_party, R2]), Format::Csv)
        .unwrap();
    // R4 twice, identical: one record. R1 and its conflicting twin: both rejected.
    assert_eq!(rejects(&report), [(2, None), (5, None)]);
    assert_eq!(
        report.rejected[0].problem,
        RowProblem::Conflict { other_line: 5 }
    );
    assert_eq!(
        report.rejected[1].problem,
        RowProblem::Conflict { other_line: 2 }
    );
    assert!(
        report.rejected[0]
            .to_string()
            .contains("conflicts with line 5")
    );
    assert_eq!(data.len(), 2);
}

#[test]
fn whole_body_faults_and_limits() {
    let data = RegistrationData::with_limits(Limits {
        max_body_bytes: 400,
        max_reported_rejects: 2,
    });
    data.ingest(&csv(&[R1]), Format::Csv).unwrap();
    assert!(matches!(
        data.ingest(HEADER.as_bytes(), Format::Csv),
        Err(IngestError::Empty)
    ));
    assert!(matches!(
        data.ingest(b"", Format::Csv),
        Err(IngestError::Empty)
    ));
    assert!(matches!(
        data.ingest(b"mpxn;fuel;role\n", Format::Csv),
        Err(IngestError::Header { line: 1, .. })
    ));
    let big = vec![b' '; 401];
    assert!(matches!(
        data.ingest(&big, Format::Csv),
        Err(IngestError::TooLarge {
            size: 401,
            limit: 400
        })
    ));
    // Every rejected row is counted; only the first two are kept.
    let bad = "1,electricity,IS,90B3D51F30010001,2023-01-01,";
    let report = data
        .ingest(&csv(&[bad, bad, bad, bad, bad, R1]), Format::Csv)
        .unwrap();
    assert_eq!(report.rejected_total, 5);
    assert_eq!(
        rejects(&report),
        [(2, Some(Field::Mpxn)), (3, Some(Field::Mpxn))]
    );
    // The header may come in any column order and letter case; a BOM is skipped.
    let reordered = "\u{feff}Party,MPXN,role,fuel,effective_to,effective_from\n90B3D51F30010001,1312345678111,IS,electricity,,2023-01-01\n";
    let report = data.ingest(reordered.as_bytes(), Format::Csv).unwrap();
    assert!(report.rejected.is_empty() && !report.changed());
    assert_eq!(data.len(), 1);
}

#[test]
fn apply_reports_a_batch_of_changes() {
    let r1 = reg(
        "1312345678111",
        PartyRole::ImportSupplier,
        1,
        "2023-01-01",
        None,
    );
    let r2 = reg(
        "1312345678111",
        PartyRole::ElectricityDistributor,
        2,
        "2000-01-01",
        None,
    );
    let r3 = reg("1000999888", PartyRole::GasSupplier, 4, "2024-01-01", None);
    let data = RegistrationData::from_records([r1, r2]);
    let r1_ended = reg(
        "1312345678111",
        PartyRole::ImportSupplier,
        1,
        "2023-01-01",
        Some("2024-06-30"),
    );
    let report = data.apply(&[
        Change::Upsert(r3),
        Change::Upsert(r1),
        Change::Upsert(r1_ended),
        Change::Remove(r2.key()),
        Change::Remove(r2.key()),
        Change::Remove(
            reg(
                "1000999888",
                PartyRole::GasTransporter,
                5,
                "1999-01-01",
                None,
            )
            .key(),
        ),
    ]);
    assert_eq!(report.added, [r3]);
    assert_eq!(report.removed, [r2]);
    assert_eq!(report.modified.len(), 1);
    assert_eq!(report.modified[0].before, r1);
    assert_eq!(report.modified[0].after, r1_ended);
    assert_eq!(report.unchanged, 1); // the removal of an absent key
    assert_eq!((report.generation, report.records), (2, 2));
    assert_eq!(data.records(), vec![r3, r1_ended]);
    assert!(!data.apply(&[]).changed());
}

#[test]
fn refresh_from_files() {
    let dir = std::env::temp_dir().join(format!("hubgate-registration-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv_path = dir.join("elec.CSV");
    std::fs::write(&csv_path, csv(&[R1, R2])).unwrap();
    let json_path = dir.join("gas.json");
    std::fs::write(
        &json_path,
        r#"[{"mpxn": "1000999888", "fuel": "gas", "role": "GS", "party": "90B3D51F30010004", "effective_from": "2024-01-01"}]"#,
    )
    .unwrap();
    let data = RegistrationData::new();
    assert_eq!(data.refresh_from_file(&csv_path).unwrap().added.len(), 2);
    assert_eq!(data.refresh_from_file(&json_path).unwrap().added.len(), 1);
    assert_eq!(data.len(), 3);
    assert!(matches!(
        data.refresh_from_file(&dir.join("data.txt")),
        Err(LoadError::UnknownFormat { .. })
    ));
    assert!(matches!(
        data.refresh_from_file(&dir.join("absent.csv")),
        Err(LoadError::Io { .. })
    ));
    std::fs::write(&csv_path, HEADER).unwrap();
    let err = data.refresh_from_file(&csv_path).unwrap_err();
    assert!(matches!(
        err,
        LoadError::Ingest {
            source: IngestError::Empty,
            ..
        }
    ));
    assert!(err.to_string().contains("elec.CSV"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
