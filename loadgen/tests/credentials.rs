//! SR 6.15.1 Update Security Credentials sent by loadgen installs the sending User's own
//! certificates: against a real `hubgate serve` with its emulated premises, the supplier they
//! trust sends a 6.15.1 (Transform → Pre-Command → Signed Pre-Command) to an ESME, which
//! carries it out, and then critical 1.1.1 commands to the same ESME, which it must still
//! accept: each gets its Service Response I0. Had the 6.15.1 installed the conformance
//! corpus's certificates (the template's), the ESME would discard every later command the
//! User signs and the gateway would answer E21 once the (here shortened) response timeout
//! ran out.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Gateway, run_scenario};
use hubgate_loadgen::targets::{self, EmulatedPremises};

#[test]
fn after_a_6_15_1_the_esme_still_carries_out_the_users_critical_commands() {
    let (gw, port) = Gateway::start_delivering(
        "credentials",
        1,
        1,
        // A discarded command ends E21 after this, not after the default 30 s.
        &[("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "4000".to_string())],
    );

    // One ESME (and its hub) of the emulated premises, so that every request goes to it.
    let (supplier, premises) = targets::parse_emulated(&gw.startup);
    let first = premises.first().expect("the gateway emulates premises");
    let supplier = first.supplier.or(supplier).expect("the trusted supplier");
    let one = EmulatedPremises {
        hub: first.hub,
        esme: first.esme.clone(),
        gsme: None,
        supplier: Some(supplier),
    };
    targets::write_emulated(&gw.dir.join("one"), Some(supplier), &[one]).unwrap();

    let d = gw.dir.display();
    let scenario = |srv: &str| {
        format!(
            "name = \"it\"\nseed = 7\n\n[gateway]\nurl = \"{}\"\nca = \"{d}/data/tls/ca.pem\"\n\n\
             [users]\nkind = \"local\"\ndir = \"{d}/data\"\nnames = [\"{}\"]\n\n\
             [targets]\ninventory = \"{d}/one/inventory.csv\"\n\
             registration = \"{d}/one/registration.csv\"\n\n\
             [load]\nmode = \"open\"\nduration_s = 1.0\n\
             profile = {{ kind = \"constant\", rate = 2.0 }}\nanswer_wait_s = 20.0\n\n\
             [listener]\naddress = \"127.0.0.1:{port}\"\ndrain_s = 15.0\n\n\
             [report]\ndir = \"{d}/report\"\n\n[mix]\n\"{srv}\" = 1.0\n",
            gw.url,
            hubgate_protocol::hex::eui_duis(&supplier)
        )
    };

    // The 6.15.1s: carried out (I0), the supplier's credentials replaced with its own.
    let report = run_scenario(&scenario("6.15.1"));
    assert_eq!(report.build_failures, 0, "{report:#?}");
    let s = &report.per_srv["6.15.1"];
    assert!(s.signed_sent >= 1, "{report:#?}");
    assert_eq!(s.transforms, s.precommands, "{report:#?}");
    let a = report.asynchronous.as_ref().unwrap();
    assert_eq!(
        a.per_srv["6.15.1"].codes.get("I0"),
        Some(&s.signed_sent),
        "every 6.15.1 carried out: {a:#?}"
    );

    // Critical commands signed by the same User afterwards: still accepted by the ESME.
    let report = run_scenario(&scenario("1.1.1"));
    assert_eq!(report.build_failures, 0, "{report:#?}");
    let s = &report.per_srv["1.1.1"];
    assert!(s.signed_sent >= 1, "{report:#?}");
    assert_eq!(s.transforms, s.precommands, "{report:#?}");
    assert_eq!(s.codes.get("200 I99"), Some(&s.signed_sent), "{report:#?}");
    let a = report.asynchronous.as_ref().unwrap();
    assert_eq!(
        a.per_srv["1.1.1"].codes,
        [("I0".to_string(), s.signed_sent)].into_iter().collect(),
        "every 1.1.1 answered I0 (none discarded, none E21): {a:#?}"
    );
    let log = std::fs::read_to_string(gw.dir.join("stderr.log")).unwrap_or_default();
    assert!(
        !log.contains("no ds credential held"),
        "the ESME distrusts the User:\n{log}"
    );
}
