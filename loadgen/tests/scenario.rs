//! Scenario files: the default one, errors that name the field at fault (through the
//! `loadgen` binary too), and the checks made before anything is sent, on the DCC Boxed
//! (ZAZ1) Users of the conformance corpus.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use hubgate_loadgen::run;
use hubgate_loadgen::scenario::{EXAMPLE, Mode, Scenario, ScenarioError};
use hubgate_loadgen::targets;

fn field_of(text: &str) -> String {
    match Scenario::parse(text, "t") {
        Err(e @ ScenarioError::Field { .. }) => e.field().unwrap().to_string(),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn the_default_scenario_is_a_dcc_like_open_loop() {
    let s = Scenario::example().unwrap();
    assert_eq!(s.load.mode, Mode::Open);
    let total: f64 = s.mix.values().sum();
    assert!((total - 100.0).abs() < 1e-9);
    let reads: f64 = s
        .mix
        .iter()
        .filter(|(srv, _)| srv.starts_with("4."))
        .map(|(_, v)| v)
        .sum();
    // Reads (service group 4) are 60 % plus the tariff read (4.11.1, counted with tariffs).
    assert!((reads - 61.0).abs() < 1e-9, "{reads}");
    for srv in ["2.2", "1.1.1", "6.15.1", "11.1", "7.1", "8.2"] {
        assert!(s.mix.contains_key(srv), "{srv}");
    }
    // `loadgen scenario example` prints exactly it.
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["scenario", "example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), EXAMPLE);
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            EXAMPLE.replace("rate = 200.0", "rate = \"fast\""),
            "load.profile.rate",
        ),
        (
            EXAMPLE.replace("rate = 200.0", "rate = -5.0"),
            "load.profile.rate",
        ),
        (
            EXAMPLE.replace("depth = 64", "depth = \"deep\""),
            "load.depth",
        ),
        (EXAMPLE.replace("depth = 64", "depth = 0"), "load.depth"),
        (
            EXAMPLE.replace("mode = \"open\"", "mode = \"ajar\""),
            "load.mode",
        ),
        (
            EXAMPLE.replace("\"8.2\" = 4.0", "\"9.9.9\" = 4.0"),
            "mix.\"9.9.9\"",
        ),
        (
            EXAMPLE.replace("\"8.2\" = 4.0", "\"8.2\" = -1.0"),
            "mix.\"8.2\"",
        ),
        (
            EXAMPLE.replace("kind = \"local\"", "kind = \"remote\""),
            "users.kind",
        ),
        (
            EXAMPLE.replace("exponent = 1.0", "exponent = 0.0"),
            "targets.skew.exponent",
        ),
        (
            EXAMPLE.replace("url = \"https://127.0.0.1:8079\"", "url = \"ftp://x\""),
            "gateway.url",
        ),
        (
            EXAMPLE.replace("address = \"127.0.0.1:8443\"", "address = \"nowhere\""),
            "listener.address",
        ),
        (
            EXAMPLE.replace("duration_s = 60.0\n", ""),
            "load.duration_s",
        ),
    ];
    for (text, field) in &cases {
        assert_eq!(field_of(text), *field, "for {field}");
    }
    // An unknown key names the table it is in, and itself in the message.
    let e = Scenario::parse(&EXAMPLE.replace("depth = 64", "dept = 64"), "t").unwrap_err();
    assert_eq!(e.field(), Some("load.dept"));
    assert!(e.to_string().contains("dept"), "{e}");
}

#[test]
fn the_binary_reports_the_field_and_fails() {
    let dir = std::env::temp_dir().join(format!("loadgen-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, EXAMPLE.replace("rate = 200.0", "rate = \"fast\"")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("run")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("load.profile.rate"), "{err}");
    assert!(err.contains("bad.toml"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scenario with the ZAZ1 Users and a generated inventory for the supplier.
fn zaz1_scenario(dir: &std::path::Path, mix: &str) -> Scenario {
    let root = hubgate_protocol::conformance::require();
    let supplier = hubgate_protocol::hex::parse_eui("90-B3-D5-1F-30-01-00-00").unwrap();
    let g = targets::generate(&dir.join("targets"), &[supplier], 3).unwrap();
    let text = format!(
        "[gateway]\nurl = \"https://127.0.0.1:8079\"\n\
         [users]\nkind = \"zaz1\"\ndir = \"{}\"\n\
         [targets]\ninventory = \"{}\"\nregistration = \"{}\"\n\
         [load]\nmode = \"closed\"\nduration_s = 1.0\n\
         [report]\ndir = \"{}\"\n\
         [mix]\n{mix}\n",
        root.join("smki").display(),
        g.inventory.display(),
        g.registration.display(),
        dir.join("report").display()
    );
    Scenario::parse(&text, "t").unwrap()
}

#[test]
fn prepare_finds_users_templates_and_devices() {
    let dir: PathBuf = std::env::temp_dir().join(format!("loadgen-prepare-{}", std::process::id()));
    let s = zaz1_scenario(&dir, "\"4.1.1\" = 1.0\n\"7.1\" = 1.0\n\"8.2\" = 1.0");
    let p = run::prepare(s).unwrap();
    // Every User of the folder with an XML-signing key; the supplier and the network
    // operator also have their GBCS DS key in a file of its own.
    let names: Vec<&str> = p.users.iter().map(|u| u.name.as_str()).collect();
    for org in ["90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00"] {
        let u = p.users.iter().find(|u| u.name == org).unwrap();
        assert!(u.ds_key.is_some(), "{org}");
        assert!(!u.roles.is_empty(), "{org}");
    }
    assert!(names.len() >= 2, "{names:?}");
    assert_eq!(p.targets.hubs(), 3);
    let by_name = |n: &str| p.srvs.iter().find(|s| &*s.name == n).unwrap();
    // Only the supplier (index of its entry) may send 4.1.1 and 7.1, and it has the meters.
    let supplier = p
        .users
        .iter()
        .position(|u| u.name == "90-B3-D5-1F-30-01-00-00")
        .unwrap();
    assert_eq!(by_name("7.1").users, vec![supplier]);
    assert!(by_name("7.1").critical);
    assert_eq!(by_name("7.1").templates[0].cv, 4);
    assert_eq!(by_name("8.2").templates[0].cv, 8);

    // The network operator may send 6.5, but has no meter of its own here: the error names
    // the mix entry and says why.
    let s = zaz1_scenario(&dir, "\"4.1.1\" = 1.0\n\"6.5\" = 1.0");
    let e = run::prepare(s).unwrap_err();
    assert!(e.starts_with("mix.\"6.5\": no User can send it"), "{e}");
    // A templates folder without a template for an SRV of the mix.
    let empty = dir.join("no-templates");
    std::fs::create_dir_all(&empty).unwrap();
    let mut s = zaz1_scenario(&dir, "\"4.1.1\" = 1.0");
    s.templates.dir = Some(empty);
    let e = run::prepare(s).unwrap_err();
    assert!(
        e.starts_with("mix.\"4.1.1\": no usable request template"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
