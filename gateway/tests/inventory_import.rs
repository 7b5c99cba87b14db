//! Bulk import of inventory files: CSV, JSON arrays and JSON Lines; bad rows reported with
//! their line numbers and skipped, good rows kept, across batches.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::path::PathBuf;
use std::sync::Arc;

use hubgate_gateway::inventory::import::{
    ImportError, ImportOptions, ImportReport, import_csv, import_file, import_json,
};
use hubgate_gateway::inventory::{DeviceStatus, DeviceType, Eui, Inventory};
use hubgate_gateway::store::Store;

struct Lab {
    inv: Inventory,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn lab(tag: &str) -> Lab {
    let dir = std::env::temp_dir().join(format!("hubgate-import-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Lab {
        inv: Inventory::open(Arc::new(Store::open(&dir).unwrap())).unwrap(),
        dir,
    }
}

fn eui(s: &str) -> Eui {
    s.parse().unwrap()
}

fn lines_of(r: &ImportReport) -> Vec<u64> {
    r.errors.iter().map(|e| e.line).collect()
}

const CSV: &str = "\
device_id,device_type,device_status,manufacturer,model,import_mpxn,uprn,post_code,address_identifier,associated_with
# a commissioned hub and electricity system
00-DB-12-34-56-78-90-A1,CHF,Commissioned,106C,433100AC,,123456789012,M22 0RR,12,
00-DB-12-34-56-78-90-A0,ESME,Commissioned,AB01,010A030B,1100000000001,123456789012,M22 0RR,12,00-DB-12-34-56-78-90-A1
00DB1234567890C0,PPMID,,AB01,P1,,,,,00-DB-12-34-56-78-90-A0
00-DB-12-34-56-78-90-ZZ,ESME,,AB01,M,,,,,
00-DB-12-34-56-78-90-D0,ESME,Commissioned,AB01,M,1100000000001,,,,00-DB-12-34-56-78-90-A1
00-DB-12-34-56-78-90-D1,GPF,Pending,AB01,M,,,,,00-DB-12-34-56-78-90-A1
00-DB-12-34-56-78-90-D2,IHD,Pending,AB01,M,,,M22 0RR,,
00-DB-12-34-56-78-90-D3,IHD,Installed,AB01,M,,,,,
00-DB-12-34-56-78-90-D4,IHD,Pending,AB01,M,,,,
00-DB-12-34-56-78-90-D5,CAD,Pending,AB01,M,,0,,,
00-DB-12-34-56-78-90-D6,GSME,Commissioned,AB01,M,1234567890,,,,00-DB-12-34-56-78-90-E1
00-DB-12-34-56-78-90-A0,ESME,Pending,AB01,M,,,,,
00-DB-12-34-56-78-90-E1,CHF,Pending,,M,,,,,
00-DB-12-34-56-78-90-E2,CHF,Pending,AB01,M,,,,,
";

#[test]
fn csv_rows_are_checked_one_by_one() {
    for batch_size in [1, 3, 1000] {
        let lab = lab(&format!("csv-{batch_size}"));
        let r = import_csv(
            &lab.inv,
            CSV.as_bytes(),
            ImportOptions {
                batch_size,
                replace_existing: false,
            },
        )
        .unwrap();
        assert_eq!(r.rows, 14, "comment lines are not rows");
        assert_eq!(r.imported, 4, "{:#?}", r.errors);
        assert_eq!(r.failed, 10);
        assert_eq!(
            lines_of(&r),
            vec![6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
            "batch {batch_size}: {:#?}",
            r.errors
        );
        let why = |line: u64| -> &str { &r.errors.iter().find(|e| e.line == line).unwrap().reason };
        assert!(why(6).contains("device_id"), "{}", why(6));
        assert!(
            why(7).contains("already has the commissioned Smart Meter"),
            "{}",
            why(7)
        );
        assert!(why(8).contains("cannot be associated"), "{}", why(8));
        assert!(
            why(9).contains("post_code and address_identifier"),
            "{}",
            why(9)
        );
        assert!(why(10).contains("Installed"), "{}", why(10));
        assert!(
            why(11).contains("found record with 9 fields"),
            "{}",
            why(11)
        );
        assert!(why(12).contains("UPRN"), "{}", why(12));
        assert!(why(13).contains("not on the inventory"), "{}", why(13));
        assert!(why(14).contains("already on the inventory"), "{}", why(14));
        assert!(why(15).contains("manufacturer is required"), "{}", why(15));
        assert_eq!(
            r.errors
                .iter()
                .find(|e| e.line == 7)
                .unwrap()
                .device_id
                .as_deref(),
            Some("00-DB-12-34-56-78-90-D0")
        );

        assert_eq!(lab.inv.len().unwrap(), 4);
        let esme = lab
            .inv
            .get(&eui("00-DB-12-34-56-78-90-A0"))
            .unwrap()
            .unwrap();
        assert_eq!(esme.status, DeviceStatus::Commissioned);
        assert_eq!(esme.associated_with, Some(eui("00-DB-12-34-56-78-90-A1")));
        assert_eq!(esme.uprn, Some(123_456_789_012));
        assert!(lab.inv.is_enrolled(&esme.id).unwrap());
        let ppmid = lab
            .inv
            .get(&eui("00-DB-12-34-56-78-90-C0"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (ppmid.device_type, ppmid.status),
            (DeviceType::Ppmid, DeviceStatus::Pending)
        );
        // Imported devices are indexed: the PPMID can be commissioned under the rules.
        lab.inv.check_commission(&ppmid.id).unwrap();
    }
}

#[test]
fn replace_existing_updates_in_place() {
    let lab = lab("replace");
    let first = "device_id,device_type,manufacturer,model,import_mpxn\n\
                 00-DB-12-34-56-78-90-A0,ESME,AB01,M1,1100000000001\n";
    let second = "device_id,device_type,manufacturer,model,import_mpxn\n\
                  00-DB-12-34-56-78-90-A0,ESME,AB01,M2,2200000000002\n";
    import_csv(&lab.inv, first.as_bytes(), ImportOptions::default()).unwrap();
    let r = import_csv(&lab.inv, second.as_bytes(), ImportOptions::default()).unwrap();
    assert_eq!((r.imported, r.failed), (0, 1));
    let r = import_csv(
        &lab.inv,
        second.as_bytes(),
        ImportOptions {
            replace_existing: true,
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert_eq!((r.imported, r.failed), (1, 0));
    let d = lab
        .inv
        .get(&eui("00-DB-12-34-56-78-90-A0"))
        .unwrap()
        .unwrap();
    assert_eq!(d.model, "M2");
    use hubgate_gateway::inventory::InventoryView;
    let (old, new) = lab
        .inv
        .read(|v| Ok((v.with_mpxn("1100000000001")?, v.with_mpxn("2200000000002")?)))
        .unwrap();
    assert!(old.is_empty(), "stale index entry removed");
    assert_eq!(new, vec![d.id]);
}

#[test]
fn csv_header_problems_refuse_the_file() {
    let lab = lab("header");
    let r = import_csv(
        &lab.inv,
        "device_id,device_type,manufacturer,model,colour\n".as_bytes(),
        ImportOptions::default(),
    );
    assert!(
        matches!(r, Err(ImportError::Malformed { line: 1, ref reason }) if reason.contains("colour")),
        "{r:?}"
    );
    let r = import_csv(
        &lab.inv,
        "device_id,device_type,model\n".as_bytes(),
        ImportOptions::default(),
    );
    assert!(
        matches!(r, Err(ImportError::Malformed { ref reason, .. }) if reason.contains("manufacturer")),
        "{r:?}"
    );
}

const JSON_ARRAY: &str = r#"[
  {"device_id": "00-DB-12-34-56-78-90-A1", "device_type": "CHF", "device_status": "Commissioned",
   "manufacturer": "106C", "model": "433100AC", "uprn": 123456789012,
   "post_code": "M22 0RR", "address_identifier": "12", "csp_region": "4G Central",
   "han_variant": "Single Band", "connectivity": "Virtual"},
  {"device_id": "00-DB-12-34-56-78-90-A0", "device_type": "ESME", "manufacturer": "AB01",
   "model": "010A030B", "import_mpxn": "1100000000001", "uprn": "123456789012",
   "associated_with": "00-DB-12-34-56-78-90-A1", "esme_variant": "A"},
  {"device_id": "00-DB-12-34-56-78-90-B0", "device_type": "GSME", "manufacturer": "AB01",
   "model": "M", "esme_variant": "A"},
  {"device_id": "00-DB-12-34-56-78-90-B1", "device_type": "GPF", "manufacturer": "AB01",
   "model": "M", "colour": "blue"},
  {"device_id": "00-DB-12-34-56-78-90-B2", "device_type": "GPF", "manufacturer": "AB01",
   "model": "M", "import_mpxn": 1234},
  {"device_id": "00-DB-12-34-56-78-90-B3", "device_type": "GPF", "manufacturer": "AB01", "model": "M" oops},
  {"device_id": "00-DB-12-34-56-78-90-B4", "device_type": "GPF", "manufacturer": "AB01", "model": "M"}
]
"#;

#[test]
fn json_array_rows_keep_their_lines() {
    let lab = lab("json");
    let r = import_json(&lab.inv, JSON_ARRAY.as_bytes(), ImportOptions::default()).unwrap();
    assert_eq!(r.rows, 7);
    assert_eq!(r.imported, 3, "{:#?}", r.errors);
    assert_eq!(lines_of(&r), vec![9, 11, 13, 15], "{:#?}", r.errors);
    assert!(
        r.errors[0].reason.contains("ESMEVariant"),
        "{}",
        r.errors[0].reason
    );
    assert!(
        r.errors[1].reason.contains("colour"),
        "{}",
        r.errors[1].reason
    );
    assert_eq!(
        r.errors[1].device_id.as_deref(),
        Some("00-DB-12-34-56-78-90-B1")
    );
    assert!(r.errors[2].reason.contains("import_mpxn") || r.errors[2].reason.contains("string"));
    let chf = lab
        .inv
        .get(&eui("00-DB-12-34-56-78-90-A1"))
        .unwrap()
        .unwrap();
    assert_eq!(chf.han_variant.as_deref(), Some("Single Band"));
    assert_eq!(chf.csp_region.map(|c| c.as_str()), Some("4G Central"));
    let esme = lab
        .inv
        .get(&eui("00-DB-12-34-56-78-90-A0"))
        .unwrap()
        .unwrap();
    assert_eq!(esme.uprn, Some(123_456_789_012), "UPRN as a string");
}

#[test]
fn broken_json_array_keeps_the_rows_before() {
    let lab = lab("json-broken");
    let text = r#"[
{"device_id": "00-DB-12-34-56-78-90-A1", "device_type": "CHF", "manufacturer": "a", "model": "b"},
{"device_id": "00-DB-12-34-56-78-90-A2", "device_type": "CHF", "manufacturer": "a", "model": "b"}"#;
    let r = import_json(&lab.inv, text.as_bytes(), ImportOptions::default());
    assert!(
        matches!(r, Err(ImportError::Malformed { line: 3, .. })),
        "{r:?}"
    );
    // The first item was delimited and imported; the unterminated one was not.
    assert_eq!(lab.inv.len().unwrap(), 1);
}

#[test]
fn json_lines_and_files() {
    let lab = lab("jsonl");
    let text = "{\"device_id\": \"00-DB-12-34-56-78-90-A1\", \"device_type\": \"CHF\", \"manufacturer\": \"a\", \"model\": \"b\"}\n\
                \n\
                {\"device_id\": \"00-DB-12-34-56-78-90-A2\", \"device_type\": \"XYZ\", \"manufacturer\": \"a\", \"model\": \"b\"}\n\
                not json\n\
                {\"device_id\": \"00-DB-12-34-56-78-90-A3\", \"device_type\": \"CHF\", \"manufacturer\": \"a\", \"model\": \"b\"}\n";
    let path = lab.dir.join("inventory.jsonl");
    std::fs::write(&path, text).unwrap();
    let r = import_file(&lab.inv, &path, ImportOptions::default()).unwrap();
    assert_eq!((r.rows, r.imported, r.failed), (4, 2, 2));
    assert_eq!(lines_of(&r), vec![3, 4]);
    assert!(r.errors[0].reason.contains("XYZ"), "{}", r.errors[0].reason);
    assert_eq!(
        r.errors[0].device_id.as_deref(),
        Some("00-DB-12-34-56-78-90-A2")
    );

    let csv = lab.dir.join("more.csv");
    std::fs::write(
        &csv,
        "device_id,device_type,manufacturer,model\n00-DB-12-34-56-78-90-A4,CHF,a,b\n",
    )
    .unwrap();
    let r = import_file(&lab.inv, &csv, ImportOptions::default()).unwrap();
    assert_eq!(r.imported, 1);
    assert_eq!(lab.inv.len().unwrap(), 3);
    assert!(matches!(
        import_file(&lab.inv, &lab.dir.join("x.xml"), ImportOptions::default()),
        Err(ImportError::UnknownFormat(_))
    ));
    assert!(matches!(
        import_file(
            &lab.inv,
            &lab.dir.join("missing.csv"),
            ImportOptions::default()
        ),
        Err(ImportError::Io { .. })
    ));
}

#[test]
fn large_import_in_batches() {
    let lab = lab("large");
    let mut csv = String::from(
        "device_id,device_type,device_status,manufacturer,model,import_mpxn,associated_with\n",
    );
    let n = 600u32;
    for i in 0..n {
        let [_, a, b, c] = i.to_be_bytes();
        let chf = format!("00-DB-00-00-01-{a:02X}-{b:02X}-{c:02X}");
        let esme = format!("00-DB-00-00-02-{a:02X}-{b:02X}-{c:02X}");
        csv.push_str(&format!("{chf},CHF,Commissioned,AB01,M,,\n"));
        csv.push_str(&format!(
            "{esme},ESME,Commissioned,AB01,M,{:013},{chf}\n",
            1_000_000_000_000u64 + u64::from(i)
        ));
    }
    let r = import_csv(
        &lab.inv,
        csv.as_bytes(),
        ImportOptions {
            batch_size: 250,
            replace_existing: false,
        },
    )
    .unwrap();
    assert_eq!(
        (r.imported, r.failed),
        (u64::from(2 * n), 0),
        "{:?}",
        r.errors.first()
    );
    assert_eq!(lab.inv.len().unwrap(), u64::from(2 * n));
    assert!(
        lab.inv
            .is_enrolled(&eui("00-DB-00-00-02-00-01-2B"))
            .unwrap()
    );
}

#[test]
fn comment_and_blank_lines_keep_line_numbers() {
    let lab = lab("comments");
    let text = "# inventory for rig 3\ndevice_id,device_type,manufacturer,model\n# hubs\n\n00-DB-12-34-56-78-90-A1,HUB,a,b\n00-DB-12-34-56-78-90-A2,CHF,a,b\n";
    let r = import_csv(&lab.inv, text.as_bytes(), ImportOptions::default()).unwrap();
    assert_eq!((r.imported, r.failed), (1, 1));
    assert_eq!(lines_of(&r), vec![5]);
    let r = import_csv(
        &lab.inv,
        "# c\n\ndevice_id,device_type,manufacturer,model,colour\n".as_bytes(),
        ImportOptions::default(),
    );
    assert!(
        matches!(r, Err(ImportError::Malformed { line: 3, .. })),
        "{r:?}"
    );
}
