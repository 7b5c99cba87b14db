//! Registration data as a Registration Data Provider pushes it (`POST` to the gateway) or an
//! operator loads it: arbitrary CSV or JSON bodies. Never panics; the records it keeps are
//! consistent (one per key, in key order, fuel matching the MPxN, ranges not reversed); the
//! rejected rows kept are the first `max_rejects` of those counted; and the records (if
//! any) written back as CSV read back as the same records with no row rejected.
//!
//! The first byte picks the format (bit 0: CSV or JSON) and `max_rejects` (bits 1–3).
#![no_main]

use std::fmt::Write as _;

use hubgate_gateway::registration::{self, Format};
use hubgate_protocol::hex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let format = if which & 1 == 0 {
        Format::Csv
    } else {
        Format::Json
    };
    let max_rejects = usize::from((which >> 1) & 7);
    let Ok(parsed) = registration::parse(body, format, max_rejects) else {
        return;
    };
    assert_eq!(
        parsed.rejected.len(),
        parsed.rejected_total.min(max_rejects),
        "rejected rows kept"
    );
    for pair in parsed.records.windows(2) {
        assert!(
            pair[0].key() < pair[1].key(),
            "records in key order, one per key"
        );
    }
    let mut csv = String::from("mpxn,fuel,role,party,effective_from,effective_to\n");
    for r in &parsed.records {
        assert_eq!(r.mpxn().fuel(), r.fuel(), "fuel of {}", r.mpxn());
        if let Some(to) = r.effective_to() {
            assert!(
                to >= r.effective_from(),
                "a reversed range for {}",
                r.mpxn()
            );
        }
        let to = r.effective_to().map(|d| d.to_string()).unwrap_or_default();
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{to}",
            r.mpxn(),
            r.fuel(),
            r.party_role(),
            hex::eui(&r.party()),
            r.effective_from(),
        );
    }
    // A body without records is refused as a whole: nothing to read back.
    if parsed.records.is_empty() {
        return;
    }
    let again = registration::parse(csv.as_bytes(), Format::Csv, 1)
        .unwrap_or_else(|e| panic!("the records written back are refused: {e}\n{csv}"));
    assert_eq!(
        again.rejected,
        Vec::new(),
        "rows rejected when read back:\n{csv}"
    );
    assert_eq!(again.records, parsed.records, "records read back:\n{csv}");
});
