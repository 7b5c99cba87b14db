//! A full disk under a running gateway: `hubgate serve` keeps its data directory on a small
//! tmpfs; signed device requests are acknowledged and their Service Responses kept for
//! pulling; then a filler file takes every free byte. New requests must then get `E44`
//! (HTTP 503) with a reason naming the store, `/ready` must answer 503 and the
//! `hubgate_store_degraded` gauge must be 1, while the responses kept before still come from
//! the pull endpoint. Once the filler is removed the gateway must accept and store again by
//! itself, without a restart.
//!
//! Real filesystem, real gateway, real meters (emulated): needs root (to mount the tmpfs),
//! `mount`, `umount` and `curl`. Without root, or when the mount fails, the test says so and
//! passes without running.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Answer, Gateway, SUPPLIER, Seeds, element_text, metric_value, set_target};

const TOKEN: &str = "disk-full-pull-token-0123456789abcdefXYZ";
/// The first emulated premises' ESME.
const ESME: &str = "00-DB-55-00-00-00-00-01";
const READ: &str = "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML";

/// A tmpfs mounted for the test, unmounted (and its folder removed) on drop, also when the
/// test fails.
struct Tmpfs {
    dir: PathBuf,
    mount: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_mib` at `<dir>/data`; `None` (with the reason printed) when
    /// not root or the mount fails.
    fn mount(dir: &Path, size_mib: u32) -> Option<Tmpfs> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            println!("SKIPPED disk_full: not root, cannot mount a tmpfs");
            return None;
        }
        let _ = std::fs::remove_dir_all(dir);
        let mount = dir.join("data");
        std::fs::create_dir_all(&mount).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&mount)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir: dir.to_owned(),
                mount,
            }),
            Ok(o) => {
                println!(
                    "SKIPPED disk_full: mount -t tmpfs failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                let _ = std::fs::remove_dir_all(dir);
                None
            }
            Err(e) => {
                println!("SKIPPED disk_full: cannot run mount: {e}");
                let _ = std::fs::remove_dir_all(dir);
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mount)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still holds a file there: detach it now, freed when released.
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes `path` until the filesystem is full; the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "filling: {e}");
                break;
            }
        }
    }
    let _ = f.sync_all();
    written
}

/// The RequestIDs of the Service Responses kept for the supplier, read (not removed) from
/// the pull endpoint; `Err` with the status and body when the endpoint fails.
fn kept_ids(gw: &Gateway) -> Result<Vec<String>, String> {
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, body) = gw.get("/api/v1/responses?limit=100", &[&auth]);
    if status != 200 && status != 204 {
        return Err(format!("{status}: {body}"));
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    Ok(v["messages"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|m| element_text(m["xml"].as_str()?, "RequestID"))
                .collect()
        })
        .unwrap_or_default())
}

/// Waits up to `wait` until every ID in `ids` is kept for the supplier.
fn wait_kept(gw: &Gateway, ids: &[String], wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    loop {
        let kept = kept_ids(gw);
        if let Ok(k) = &kept
            && ids.iter().all(|id| k.contains(id))
        {
            return k.clone();
        }
        assert!(
            Instant::now() < deadline,
            "responses to {ids:?} not all kept within {wait:?}: {kept:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET /ready`'s HTTP status.
fn ready(gw: &Gateway) -> u16 {
    gw.get("/ready", &[]).0
}

/// Signs a read of the ESME and posts it; the signed body and the answer.
fn send_read(gw: &Gateway, xml: &str) -> (Vec<u8>, Answer) {
    let body = gw.sign(xml, SUPPLIER);
    let (http, text) = gw.post("/api/v1/serviceS", &body);
    (body, Answer::parse(http, &text))
}

#[test]
fn a_full_disk_stops_acceptance_keeps_reads_and_recovers_by_itself() {
    let dir = std::env::temp_dir().join(format!("hubgate-it-disk-full-{}", std::process::id()));
    // Declared before the gateway, so dropped after it: the gateway is stopped first.
    let Some(tmpfs) = Tmpfs::mount(&dir, 24) else {
        return;
    };
    let gw = Gateway::start_in(
        dir.clone(),
        Seeds {
            env: &[
                ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
                ("HUBGATE_EMULATION__HUBS", "1"),
                ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", "3000"),
                ("HUBGATE_LOG_LEVEL", "info"),
            ],
            ..Seeds::default()
        },
    );
    let read = set_target(&gw.template(READ), ESME);
    assert_eq!(ready(&gw), 200, "ready before the disk fills");

    // Acknowledged requests whose Service Responses are kept for pulling.
    let mut before = Vec::new();
    for _ in 0..3 {
        let (_, ack) = send_read(&gw, &read);
        assert_eq!((ack.http, ack.code.as_str()), (200, "I99"), "{}", ack.xml);
        before.push(ack.request_id);
    }
    wait_kept(&gw, &before, Duration::from_secs(20));

    // The disk fills up.
    let filler = tmpfs.mount.join("filler");
    let filled = fill(&filler);
    println!("filler: {} MiB", filled >> 20);

    // Requests until a store write fails (a request's own commit, or a response, hub state
    // or tally write in the background); the first refusal must be E44.
    let mut refused = None;
    let mut accepted_while_full = 0;
    for _ in 0..60 {
        let (body, answer) = send_read(&gw, &read);
        match answer.code.as_str() {
            "I99" => accepted_while_full += 1,
            "E44" => {
                refused = Some((body, answer));
                break;
            }
            other => panic!("unexpected {other} on a full disk:\n{}", answer.xml),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, first) = refused.unwrap_or_else(|| {
        panic!(
            "no request refused on a full disk ({accepted_while_full} accepted)\n{}",
            gw.log()
        )
    });
    assert_eq!(first.http, 503, "{}", first.xml);
    println!("{accepted_while_full} requests accepted before the first refusal");

    // Degraded: refused at once, not ready, the gauge and the log say so.
    let started = Instant::now();
    let (refused_body, again) = send_read(&gw, &read);
    assert_eq!(
        (again.http, again.code.as_str()),
        (503, "E44"),
        "{}",
        again.xml
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused at once"
    );
    assert_eq!(ready(&gw), 503, "/ready while the store cannot write");
    let metrics = gw.metrics_text();
    assert_eq!(
        metric_value(&metrics, "hubgate_store_degraded", ""),
        1.0,
        "gauge while degraded"
    );
    assert!(metric_value(&metrics, "hubgate_store_write_failures_total", "") >= 1.0);
    let log = gw.log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("store degraded")),
        "a WARN log line says the store is degraded:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("request refused")
            && l.contains("E44")
            && l.contains("hubgate.redb cannot be written")),
        "the refusal's reason names the store:\n{log}"
    );

    // What is durable is still served: the responses kept before the disk filled, read
    // first at once, then again after a probe has run (it reopens the redb file, whose
    // handle failed with the write, and finds the disk still full).
    let kept = wait_kept(&gw, &before, Duration::from_secs(5));
    println!("kept while degraded: {} responses", kept.len());
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric_value(
        &gw.metrics_text(),
        "hubgate_store_probes_total",
        "outcome=\"failed\"",
    ) < 1.0
    {
        assert!(Instant::now() < deadline, "no probe within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        gw.log().contains("store reopened"),
        "the probe reopened the store"
    );
    let kept = kept_ids(&gw).expect("pulling from the reopened store");
    for id in &before {
        assert!(
            kept.contains(id),
            "{id} not served while degraded: {kept:?}"
        );
    }
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, page) = gw.get("/api/v1/responses?limit=100", &[&auth]);
    assert_eq!(status, 200);
    assert!(page.contains("ResponseCode"), "{page}");
    // Still degraded after the reads: the disk is still full.
    assert_eq!(ready(&gw), 503);
    assert_eq!(send_read(&gw, &read).1.code, "E44");

    // Space returns: the gateway accepts again by itself.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready(&gw) != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready 30 s after space returned\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = gw.metrics_text();
    assert_eq!(metric_value(&metrics, "hubgate_store_degraded", ""), 0.0);
    assert!(
        metric_value(
            &metrics,
            "hubgate_store_probes_total",
            "outcome=\"recovered\""
        ) >= 1.0
    );
    assert!(
        gw.log().contains("store recovered"),
        "a log line says the store recovered"
    );

    // A request refused while degraded kept nothing (its counter was not spent): the same
    // signed request is accepted now.
    let (http, text) = gw.post("/api/v1/serviceS", &refused_body);
    let resent = Answer::parse(http, &text);
    assert_eq!(
        (resent.http, resent.code.as_str()),
        (200, "I99"),
        "{}",
        resent.xml
    );
    assert_eq!(resent.request_id, again.request_id);

    // A new request is accepted, and its Service Response is stored and pulled.
    let (_, fresh) = send_read(&gw, &read);
    assert_eq!(
        (fresh.http, fresh.code.as_str()),
        (200, "I99"),
        "{}",
        fresh.xml
    );
    let xml = common::pull_answer(&gw, TOKEN, &fresh.request_id, Duration::from_secs(20));
    assert_eq!(
        element_text(&xml, "ResponseCode").as_deref(),
        Some("I0"),
        "{xml}"
    );
    // The responses kept before the disk filled are all still there.
    let kept = kept_ids(&gw).unwrap();
    for id in &before {
        assert!(kept.contains(id), "{id} lost: {kept:?}");
    }
    drop(gw);
    drop(tmpfs);
}
