//! A refresh is atomic: readers running alongside it see the data before or after, never a mix.
#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::sync::atomic::{AtomicBool, Ordering};

use hubgate_gateway::registration::{
    Date, Format, Mpxn, PartyRole, Reason, Registration, RegistrationData,
};
use hubgate_protocol::catalogue::Role;

const PARTY_A: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0x00, 0x0A];
const PARTY_B: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0x00, 0x0B];
const METERS: u64 = 1500;
const EXTRA_IN_B: u64 = 300;
const REFRESHES: usize = 60;

fn mpan(i: u64) -> String {
    format!("{:013}", 1_300_000_000_000 + i)
}

fn from() -> Date {
    "2024-01-01".parse().unwrap()
}

fn record(i: u64, party: [u8; 8]) -> Registration {
    let m: Mpxn = mpan(i).parse().unwrap();
    Registration::new(m, m.fuel(), PartyRole::ImportSupplier, party, from(), None).unwrap()
}

/// Set A: every meter's import supplier is A. Set B: the same keys with supplier B, plus
/// more meters. A refresh from one to the other modifies every record and adds or removes
/// some, touching every shard.
fn set_a() -> Vec<Registration> {
    (0..METERS).map(|i| record(i, PARTY_A)).collect()
}

fn set_b_csv() -> Vec<u8> {
    let mut s = String::from("mpxn,fuel,role,party,effective_from,effective_to\n");
    for i in 0..METERS + EXTRA_IN_B {
        s.push_str(&format!(
            "{},electricity,IS,90B3D51F3001000B,2024-01-01,\n",
            mpan(i)
        ));
    }
    s.into_bytes()
}

#[test]
fn readers_never_see_half_a_refresh() {
    let data = RegistrationData::from_records(set_a());
    assert_eq!(data.snapshot().generation(), 1);
    let b_body = set_b_csv();
    let done = AtomicBool::new(false);
    let at: Date = "2024-06-01".parse().unwrap();

    std::thread::scope(|s| {
        let data = &data;
        let done = &done;
        let b_body = &b_body;
        // Writer: alternate A (generations odd) and B (even).
        let writer = s.spawn(move || {
            for n in 0..REFRESHES {
                let report = if n % 2 == 0 {
                    data.ingest(b_body, Format::Csv).unwrap()
                } else {
                    data.refresh(set_a())
                };
                assert_eq!(report.modified.len(), METERS as usize);
                assert_eq!(
                    report.added.len() + report.removed.len(),
                    EXTRA_IN_B as usize
                );
                std::thread::yield_now();
            }
            done.store(true, Ordering::Release);
        });
        // Readers: whole snapshots must be all-A or all-B.
        let mut readers = Vec::new();
        for _ in 0..2 {
            readers.push(s.spawn(move || {
                let mut seen = [0usize; 2];
                while !done.load(Ordering::Acquire) {
                    let snap = data.snapshot();
                    let records = snap.records();
                    let is_b = snap.generation().is_multiple_of(2);
                    let (party, len) = if is_b {
                        (PARTY_B, METERS + EXTRA_IN_B)
                    } else {
                        (PARTY_A, METERS)
                    };
                    assert_eq!(
                        records.len() as u64,
                        len,
                        "generation {}",
                        snap.generation()
                    );
                    assert_eq!(snap.len() as u64, len);
                    assert!(records.iter().all(|r| r.party() == party));
                    // Queries against one snapshot agree with it, on every shard.
                    for i in (0..METERS).step_by(97) {
                        let m = mpan(i);
                        assert_eq!(
                            snap.authorised(party, &[Role::ImportSupplier], &m, at),
                            Ok(())
                        );
                    }
                    seen[usize::from(is_b)] += 1;
                }
                seen
            }));
        }
        // Single queries against the live data: the meter always has a supplier, A or B.
        readers.push(s.spawn(move || {
            let mut seen = [0usize; 2];
            let m = mpan(METERS - 1);
            while !done.load(Ordering::Acquire) {
                match data.authorised(PARTY_A, &[Role::ImportSupplier], &m, at) {
                    Ok(()) => seen[0] += 1,
                    Err(e) => {
                        assert!(matches!(e.reason, Reason::OtherParty { .. }), "{e}");
                        seen[1] += 1;
                    }
                }
            }
            seen
        }));
        writer.join().unwrap();
        let mut total = [0usize; 2];
        for r in readers {
            let seen = r.join().unwrap();
            total[0] += seen[0];
            total[1] += seen[1];
        }
        // The readers ran while both versions were live.
        assert!(total[0] > 0 && total[1] > 0, "{total:?}");
    });
    assert_eq!(data.snapshot().generation(), 1 + REFRESHES as u64);
}

#[test]
fn a_held_snapshot_is_unaffected_by_later_refreshes() {
    let data = RegistrationData::from_records(set_a());
    let before = data.snapshot();
    data.ingest(&set_b_csv(), Format::Csv).unwrap();
    let after = data.snapshot();
    assert_eq!(before.len() as u64, METERS);
    assert!(before.records().iter().all(|r| r.party() == PARTY_A));
    assert_eq!(after.len() as u64, METERS + EXTRA_IN_B);
    assert!(after.records().iter().all(|r| r.party() == PARTY_B));
    assert_eq!(after.generation(), before.generation() + 1);
}
