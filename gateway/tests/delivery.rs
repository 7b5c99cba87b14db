//! Delivery of responses and alerts to Users, against real HTTP(S) peers: receivers that are
//! actix-web servers started here (refusing some attempts, or gone), the pull endpoint
//! served over HTTP and mutual TLS and driven with `curl`, and a restart of the store.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hubgate_gateway::clock::SystemClock;
use hubgate_gateway::config::{Config, TlsConfig};
use hubgate_gateway::delivery::identity::{self, PullTokens};
use hubgate_gateway::delivery::pull::{self, PullEndpoint};
use hubgate_gateway::delivery::{self, Delivery, Kind, Receipt, Settings, Stats, SubmitError};
use hubgate_gateway::store::Store;
use metrics_exporter_prometheus::PrometheusHandle;

/// The demo import supplier (client certificate `tls/clients/import-supplier.pem`).
const A: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x01, 0x00, 0x00];
/// The demo export supplier (client certificate `tls/clients/export-supplier.pem`).
const B: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x02, 0x00, 0x00];
const TOKEN_A: &str = "pull-token-for-user-a-0123456789abcdefXYZ";
const TOKEN_B: &str = "pull-token-for-user-b-0123456789abcdefXYZ";

fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .unwrap()
    })
}

/// A folder removed when dropped (declare it before what uses it).
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("hubgate-delivery-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

/// A local TLS CA with a server certificate for 127.0.0.1 and a client certificate per demo
/// User, made by the gateway's own PKI code in cargo's folder for test files (and reused, or
/// renewed, by later runs).
fn pki_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("delivery-pki");
        let open = |data_dir: &Path| {
            let config = Config {
                data_dir: data_dir.to_path_buf(),
                tls: TlsConfig {
                    mutual_tls: true,
                    ..TlsConfig::default()
                },
                ..Config::default()
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            hubgate_gateway::pki::Pki::open(&config, i64::try_from(now).unwrap()).unwrap();
        };
        if !dir.exists() {
            // Made aside and moved into place whole: test processes may start at once (one
            // per test under nextest) and must not read each other's half-written files.
            let aside = dir.with_file_name(format!("delivery-pki.{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&aside);
            open(&aside);
            if std::fs::rename(&aside, &dir).is_err() {
                // Another process moved its folder into place first: that one is used.
                let _ = std::fs::remove_dir_all(&aside);
            }
        }
        open(&dir);
        dir
    })
}

fn server_tls(mutual: bool) -> rustls::ServerConfig {
    let tls = pki_dir().join("tls");
    let ca = tls.join("ca.pem");
    hubgate_gateway::ingress::tls::server_config(
        &tls.join("server.pem"),
        &tls.join("server.key"),
        mutual.then_some(ca.as_path()),
    )
    .unwrap()
}

/// An HTTP(S) server on a free loopback port, in a thread with its own actix system.
struct TestServer {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    fn start<F>(tls: Option<rustls::ServerConfig>, configure: F) -> TestServer
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    let configure = configure.clone();
                    App::new().configure(move |c| configure(c))
                })
                .on_connect(identity::on_connect)
                .workers(1)
                .disable_signals()
                .shutdown_timeout(1);
                let server = match tls {
                    Some(tls) => server.bind_rustls_0_23("127.0.0.1:0", tls),
                    None => server.bind("127.0.0.1:0"),
                }
                .unwrap();
                let addr = server.addrs()[0];
                let running = server.run();
                tx.send((addr, running.handle())).unwrap();
                running.await.unwrap();
            });
        });
        let (addr, handle) = rx.recv().unwrap();
        TestServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a receiver saw.
#[derive(Default)]
struct Inbox {
    /// Attempts to refuse with 503 before accepting.
    refuse_first: AtomicUsize,
    attempts: AtomicUsize,
    /// Accepted messages: (HubGate-Message-ID, Content-Type, body).
    accepted: Mutex<Vec<(String, String, Vec<u8>)>>,
}

impl Inbox {
    /// The bodies accepted so far, sorted (the order of delivery across Users is free).
    fn bodies_sorted(&self) -> Vec<Vec<u8>> {
        let mut got: Vec<Vec<u8>> = self
            .accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, b)| b.clone())
            .collect();
        got.sort();
        got
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    let n = inbox.attempts.fetch_add(1, Ordering::SeqCst);
    if n < inbox.refuse_first.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    inbox.accepted.lock().unwrap().push((
        header("HubGate-Message-ID"),
        header("Content-Type"),
        body.to_vec(),
    ));
    HttpResponse::Ok().finish()
}

fn receiver(tls: Option<rustls::ServerConfig>, refuse_first: usize) -> (TestServer, Arc<Inbox>) {
    let inbox = Arc::new(Inbox::default());
    inbox.refuse_first.store(refuse_first, Ordering::SeqCst);
    let data = web::Data::from(Arc::clone(&inbox));
    let server = TestServer::start(tls, move |c| {
        c.app_data(data.clone())
            .route("/inbox", web::post().to(receive));
    });
    (server, inbox)
}

/// A loopback port with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn settings(endpoints: &[([u8; 8], String)], retries: u32, backoff_ms: u64) -> Settings {
    Settings {
        retries,
        backoff: Duration::from_millis(backoff_ms),
        timeout: Duration::from_secs(5),
        concurrency: 4,
        // One sender thread whatever the cores: the tests below that need one thread to
        // settle one User's message while another User's attempt hangs hold on any machine.
        threads: 1,
        max_messages_per_user: 1000,
        endpoints: endpoints.iter().cloned().collect::<HashMap<_, _>>(),
        default_endpoint: None,
        trust: delivery::load_trust(&pki_dir().join("tls/ca.pem")).unwrap(),
        carry_bytes: delivery::CARRY_BYTES,
    }
}

fn start(dir: &Path, settings: Settings) -> (Arc<Store>, Delivery) {
    let store = Arc::new(Store::open(dir).unwrap());
    let d = Delivery::start(Arc::clone(&store), settings, Arc::new(SystemClock)).unwrap();
    (store, d)
}

fn wait_for(what: &str, delivery: &Delivery, done: impl Fn(&Stats) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&delivery.stats()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            delivery.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn xml(n: u32) -> Vec<u8> {
    format!("<sr:Response xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\"><n>{n}</n></sr:Response>")
        .into_bytes()
}

/// A Service Response to `user` with body [`xml`]`(n)`, as the delivery is handed it.
fn out(user: [u8; 8], n: u32) -> delivery::Outgoing {
    delivery::Outgoing {
        user,
        body: xml(n),
        kind: Kind::Response,
    }
}

/// `curl` with `args` against `url`: (HTTP status, body). Panics when curl itself fails.
fn curl(url: &str, args: &[&str]) -> (u16, String) {
    try_curl(url, args).unwrap_or_else(|e| panic!("curl {url}: {e}"))
}

fn try_curl(url: &str, args: &[&str]) -> Result<(u16, String), String> {
    let o = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl is needed for the delivery tests");
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let text = String::from_utf8(o.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    Ok((status.trim().parse().unwrap(), body.to_string()))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn pull_server(delivery: Arc<Delivery>, tls: Option<rustls::ServerConfig>) -> TestServer {
    let tokens = PullTokens::new([(A, TOKEN_A), (B, TOKEN_B)]).unwrap();
    let endpoint = web::Data::new(PullEndpoint::new(delivery, tokens));
    TestServer::start(tls, move |c| pull::configure(c, endpoint.clone()))
}

#[test]
fn a_flaky_https_receiver_gets_the_message_exactly_once_after_retries() {
    recorder();
    let dir = temp_dir("flaky");
    let (server, inbox) = receiver(Some(server_tls(false)), 2);
    let url = format!("https://127.0.0.1:{}/inbox", server.addr.port());
    let (_store, d) = start(&dir, settings(&[(A, url)], 5, 20));
    let body = xml(1);
    let receipt = d.submit(A, body.clone(), Kind::Response).unwrap();
    let Receipt::Queued(id) = receipt else {
        panic!("a User with an endpoint gets its message queued: {receipt:?}")
    };
    wait_for("the delivery", &d, |s| s.delivered == 1);
    // Nothing more is sent once it is delivered.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        inbox.attempts.load(Ordering::SeqCst),
        3,
        "2 refused + 1 accepted"
    );
    let accepted = inbox.accepted.lock().unwrap().clone();
    assert_eq!(
        accepted,
        [(id.to_string(), "application/xml".to_string(), body)],
        "delivered exactly once, as XML, with its message ID"
    );
    let s = d.stats();
    assert_eq!(
        (
            s.failed_attempts,
            s.retries,
            s.delivered,
            s.pending,
            s.backlog
        ),
        (2, 2, 1, 0, 0),
        "{s:?}"
    );
    assert_eq!(d.held(A).unwrap(), 0, "removed from the outbox");

    // The endpoint's certificate must chain to a trusted CA: with no CA trusted, the same
    // receiver is never delivered to, and the message is kept instead.
    let dir2 = temp_dir("untrusted");
    let url = format!("https://127.0.0.1:{}/inbox", server.addr.port());
    let mut untrusting = settings(&[(B, url)], 1, 10);
    untrusting.trust.clear();
    let (_store2, d2) = start(&dir2, untrusting);
    let before = inbox.attempts.load(Ordering::SeqCst);
    d2.submit(B, xml(2), Kind::Response).unwrap();
    wait_for("the message to be kept", &d2, |s| {
        s.kept_retries_exhausted == 1
    });
    assert_eq!(
        inbox.attempts.load(Ordering::SeqCst),
        before,
        "no request reached the untrusted endpoint"
    );
    assert_eq!(d2.stats().failed_attempts, 2);
    assert_eq!(d2.pull(B, 10, usize::MAX).unwrap().0.len(), 1);
}

#[test]
fn an_unreachable_receiver_leaves_the_message_for_its_user_to_pull() {
    let prometheus = recorder();
    let dir = temp_dir("down");
    let url = format!("http://127.0.0.1:{}/inbox", closed_port());
    let (_store, d) = start(&dir, settings(&[(A, url)], 2, 10));
    let d = Arc::new(d);
    let body = xml(3);
    assert!(matches!(
        d.submit(A, body.clone(), Kind::DeviceAlert).unwrap(),
        Receipt::Queued(_)
    ));
    // B has no endpoint: its message is kept at once.
    let Receipt::Kept(b_seq) = d.submit(B, xml(4), Kind::Response).unwrap() else {
        panic!("a User without an endpoint gets its message kept")
    };
    wait_for("retries to run out", &d, |s| s.kept_retries_exhausted == 1);
    let s = d.stats();
    assert_eq!(
        (
            s.failed_attempts,
            s.retries,
            s.delivered,
            s.pending,
            s.backlog
        ),
        (3, 2, 0, 0, 2),
        "{s:?}"
    );
    let metrics = prometheus.render();
    let needle =
        "hubgate_delivery_undelivered_total{kind=\"device_alert\",reason=\"retries_exhausted\"} 1";
    assert!(
        metrics.contains(needle),
        "metrics lack {needle}:\n{metrics}"
    );
    assert!(
        metrics.contains("hubgate_delivery_failed_attempts_total{reason=\"connect\"}"),
        "{metrics}"
    );

    let server = pull_server(Arc::clone(&d), None);
    let url = format!("http://{}{}", server.addr, pull::PATH);
    let bearer = |t: &str| format!("Authorization: Bearer {t}");

    // Without a token, or with a wrong one: 401 and nothing else.
    let (status, text) = curl(&url, &[]);
    assert_eq!(status, 401, "{text}");
    assert!(!text.contains("sr:Response"), "{text}");
    let wrong = bearer(&TOKEN_A.replace('a', "b"));
    assert_eq!(curl(&url, &["-H", &wrong]).0, 401);
    let (_, headers) = curl(&url, &["-D", "-", "-o", "/dev/null"]);
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{headers}"
    );

    // A sees its own message, kept after the retries, and only that.
    let (status, text) = curl(&url, &["-H", &bearer(TOKEN_A)]);
    assert_eq!(status, 200, "{text}");
    let page = json(&text);
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{text}");
    assert_eq!(messages[0]["xml"], String::from_utf8(body).unwrap());
    assert_eq!(messages[0]["kind"], "device_alert");
    assert_eq!(messages[0]["reason"], "retries_exhausted");
    assert_eq!(page["more"], false);
    let a_seq = messages[0]["sequence"].as_u64().unwrap();

    // B sees only its own message, and cannot remove A's.
    let (_, text) = curl(&url, &["-H", &bearer(TOKEN_B)]);
    let page = json(&text);
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [b_seq], "{text}");
    let (status, _) = curl(
        &format!("{url}/{a_seq}"),
        &["-X", "DELETE", "-H", &bearer(TOKEN_B)],
    );
    assert_eq!(status, 404, "B cannot delete A's message");
    let (status, text) = curl(
        &format!("{url}/ack?through={a_seq}"),
        &["-X", "POST", "-H", &bearer(TOKEN_B)],
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)["removed"], 1, "only B's own message: {text}");
    assert_eq!(d.held(A).unwrap(), 1, "A's message is untouched");

    // Bad requests are refused, after authentication.
    assert_eq!(
        curl(&format!("{url}?limit=0"), &["-H", &bearer(TOKEN_A)]).0,
        400
    );
    assert_eq!(
        curl(&format!("{url}?limit=x"), &["-H", &bearer(TOKEN_A)]).0,
        400
    );
    assert_eq!(
        curl(
            &format!("{url}/ack"),
            &["-X", "POST", "-H", &bearer(TOKEN_A)]
        )
        .0,
        400
    );
    assert_eq!(curl(&format!("{url}?limit=0"), &[]).0, 401);

    // A acknowledges it; it is gone.
    let (status, text) = curl(
        &format!("{url}/ack?through={a_seq}"),
        &["-X", "POST", "-H", &bearer(TOKEN_A)],
    );
    assert_eq!((status, json(&text)["removed"].as_u64()), (200, Some(1)));
    let (_, text) = curl(&url, &["-H", &bearer(TOKEN_A)]);
    assert_eq!(json(&text)["messages"].as_array().unwrap().len(), 0);
    assert_eq!(d.held(A).unwrap(), 0);
    let s = d.stats();
    assert_eq!((s.acknowledged, s.backlog), (2, 0), "{s:?}");
}

#[test]
fn a_client_certificate_identifies_the_user_over_mutual_tls() {
    recorder();
    let dir = temp_dir("mtls");
    let (_store, d) = start(&dir, settings(&[], 0, 10));
    let d = Arc::new(d);
    d.submit(A, xml(10), Kind::Response).unwrap();
    d.submit(B, xml(11), Kind::DccAlert).unwrap();
    let server = pull_server(Arc::clone(&d), Some(server_tls(true)));
    let url = format!("https://127.0.0.1:{}{}", server.addr.port(), pull::PATH);
    let tls = pki_dir().join("tls");
    let ca = tls.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let as_user = |name: &str, extra: &[&str]| -> Result<(u16, String), String> {
        let cert = tls.join(format!("clients/{name}.pem"));
        let key = tls.join(format!("clients/{name}.key"));
        let mut args = vec![
            "--cacert",
            ca,
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        try_curl(&url, &args)
    };
    let bodies = |text: &str| -> Vec<String> {
        json(text)["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["xml"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, text) = as_user("import-supplier", &[]).unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(bodies(&text), [String::from_utf8(xml(10)).unwrap()]);
    let (status, text) = as_user("export-supplier", &[]).unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(bodies(&text), [String::from_utf8(xml(11)).unwrap()]);
    // The certificate names the User: another User's token does not change who it is.
    let other = format!("Authorization: Bearer {TOKEN_B}");
    let (_, text) = as_user("import-supplier", &["-H", &other]).unwrap();
    assert_eq!(bodies(&text), [String::from_utf8(xml(10)).unwrap()]);
    // A User with a certificate but no messages sees none.
    let (status, text) = as_user("gas-supplier", &[]).unwrap();
    assert_eq!((status, bodies(&text).len()), (200, 0), "{text}");
    // Without a client certificate the handshake itself is refused.
    assert!(try_curl(&url, &["--cacert", ca]).is_err());
}

#[test]
fn waiting_messages_are_delivered_after_a_restart() {
    recorder();
    let dir = temp_dir("restart");
    // The receiver refuses everything at first.
    let (server, inbox) = receiver(None, usize::MAX);
    let url = format!("http://{}/inbox", server.addr);
    let endpoints = [(A, url)];
    let bodies: Vec<Vec<u8>> = (20..23).map(xml).collect();
    {
        let (_store, d) = start(&dir, settings(&endpoints, 1000, 20));
        for b in &bodies {
            d.submit(A, b.clone(), Kind::Response).unwrap();
        }
        d.submit(B, xml(29), Kind::Response).unwrap();
        wait_for("failed attempts", &d, |s| s.failed_attempts >= 3);
        assert_eq!(d.stats().pending, 3);
    }
    // The delivery threads are stopped and the store closed: it can be opened again.
    std::thread::sleep(Duration::from_millis(100));
    let attempts_before = inbox.attempts.load(Ordering::SeqCst);
    assert!(attempts_before >= 3);
    inbox.refuse_first.store(0, Ordering::SeqCst);
    assert!(inbox.accepted.lock().unwrap().is_empty());

    let (_store, d) = start(&dir, settings(&endpoints, 1000, 20));
    assert_eq!(d.stats().pending, 3, "the outbox survived the restart");
    assert_eq!(d.stats().backlog, 1);
    wait_for("the resumed deliveries", &d, |s| s.delivered == 3);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        inbox.bodies_sorted(),
        bodies,
        "each waiting message delivered exactly once"
    );
    assert_eq!(d.stats().pending, 0);
    // The kept message survived too.
    let (kept, more) = d.pull(B, 10, usize::MAX).unwrap();
    assert_eq!((kept.len(), more), (1, false));
    assert_eq!(kept[0].body, xml(29));
}

/// A batch placed without an fsync of its own is sent only once released (after its caller
/// made it durable); one that keeps a message for pulling is committed durably at once; one
/// dropped unreleased (its commit never became durable) is sent after a restart from the
/// outbox, if the store still holds it.
#[test]
fn a_placed_batch_is_sent_only_once_released() {
    recorder();
    let dir = temp_dir("placed");
    let (server, inbox) = receiver(None, 0);
    let url = format!("http://{}/inbox", server.addr);
    let endpoints = [(A, url)];
    {
        let (store, d) = start(&dir, settings(&endpoints, 5, 20));
        let placed = d
            .place_batch_with(vec![out(A, 40)], redb::Durability::None, |_| Ok(()))
            .unwrap();
        assert!(!placed.is_durable());
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            inbox.attempts.load(Ordering::SeqCst),
            0,
            "not sent before release"
        );
        let results = placed.release(&d);
        assert!(
            matches!(results[..], [Ok(Receipt::Queued(_))]),
            "{results:?}"
        );
        wait_for("the released message", &d, |s| s.delivered == 1);

        // B has no endpoint: its message is kept for pulling, so the batch is durable.
        let placed = d
            .place_batch_with(vec![out(A, 41), out(B, 42)], redb::Durability::None, |_| {
                Ok(())
            })
            .unwrap();
        assert!(placed.is_durable());
        assert_eq!(d.stats().backlog, 0, "counted as kept only when released");
        let results = placed.release(&d);
        assert!(
            matches!(results[..], [Ok(Receipt::Queued(_)), Ok(Receipt::Kept(_))]),
            "{results:?}"
        );
        assert_eq!(d.stats().backlog, 1);
        wait_for("the second message", &d, |s| s.delivered == 2);

        // Dropped unreleased: nobody is told.
        let placed = d
            .place_batch_with(vec![out(A, 43)], redb::Durability::None, |_| Ok(()))
            .unwrap();
        drop(placed);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(d.stats().delivered, 2);
        // A later durable commit of any writer makes it durable.
        store
            .write(|_| Ok::<(), hubgate_gateway::store::StoreError>(()))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let (_store, d) = start(&dir, settings(&endpoints, 5, 20));
    wait_for("the unreleased message after the restart", &d, |s| {
        s.delivered == 1
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(inbox.bodies_sorted(), vec![xml(40), xml(41), xml(43)]);
    assert_eq!(d.pull(B, 10, usize::MAX).unwrap().0[0].body, xml(42));
}

/// A store reopened between placing a batch and releasing it has gone back to its last
/// durable commit, which may not hold the batch: the bodies placed with it are not sent from
/// memory then; whatever the store still holds is read from it.
#[test]
fn a_batch_released_after_the_store_was_reopened_is_read_from_the_store() {
    recorder();
    let dir = temp_dir("reopened");
    let (server, inbox) = receiver(None, 0);
    let url = format!("http://{}/inbox", server.addr);
    let (store, d) = start(&dir, settings(&[(A, url)], 5, 20));
    let placed = d
        .place_batch_with(vec![out(A, 60)], redb::Durability::None, |_| Ok(()))
        .unwrap();
    let reopens = store.reopens();
    store.health().write_failed("I/O error: test");
    store.try_recover().unwrap();
    assert!(store.reopens() > reopens, "the store was reopened");
    let results = placed.release(&d);
    assert!(
        matches!(results[..], [Ok(Receipt::Queued(_))]),
        "{results:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(d.stats().carried, 0, "nothing sent from memory");
    let got = inbox.bodies_sorted();
    assert!(
        got.is_empty() || got == vec![xml(60)],
        "only what the store holds, once: {got:?}"
    );
}

/// Bodies handed to the sender in memory and bodies read back from the outbox (when the
/// carry budget is spent, or is zero) reach the receiver alike: each once, under its own
/// message ID.
#[test]
fn messages_beyond_the_carry_budget_are_read_from_the_outbox() {
    recorder();
    let (server, inbox) = receiver(None, 0);
    let url = format!("http://{}/inbox", server.addr);
    let endpoints = [(A, url)];
    for (tag, carry) in [
        ("carry-all", delivery::CARRY_BYTES),
        ("carry-some", 3 * xml(100).len()),
        ("carry-none", 0),
    ] {
        let dir = temp_dir(tag);
        let before = inbox.accepted.lock().unwrap().len();
        let (_store, d) = start(
            &dir,
            Settings {
                carry_bytes: carry,
                ..settings(&endpoints, 5, 20)
            },
        );
        let messages: Vec<delivery::Outgoing> = (100..110).map(|n| out(A, n)).collect();
        let ids: Vec<String> = d
            .submit_batch(messages)
            .unwrap()
            .into_iter()
            .map(|r| match r {
                Ok(Receipt::Queued(id)) => id.to_string(),
                other => panic!("{tag}: {other:?}"),
            })
            .collect();
        wait_for("the batch", &d, |s| s.delivered == 10);
        std::thread::sleep(Duration::from_millis(100));
        let mut got: Vec<(String, Vec<u8>)> = inbox.accepted.lock().unwrap()[before..]
            .iter()
            .map(|(id, _, body)| (id.clone(), body.clone()))
            .collect();
        got.sort();
        let mut want: Vec<(String, Vec<u8>)> = ids.into_iter().zip((100..110).map(xml)).collect();
        want.sort();
        assert_eq!(got, want, "{tag}: each message once, under its own ID");
        let stats = d.stats();
        assert_eq!(stats.pending, 0, "{tag}");
        // Which way each body came: all ten in memory, some, or none.
        match tag {
            "carry-all" => assert_eq!(stats.carried, 10, "{tag}"),
            "carry-some" => assert!((1..10).contains(&stats.carried), "{tag}: {stats:?}"),
            _ => assert_eq!(stats.carried, 0, "{tag}"),
        }
    }
}

/// Several sender threads (as on a machine with many cores): each User's messages go to one
/// of them, the waiting ones are shared out again by a restart with another number of
/// threads, and every message is delivered exactly once.
#[test]
fn several_sender_threads_deliver_each_message_once_also_after_a_restart() {
    recorder();
    let dir = temp_dir("threads");
    // The receiver refuses everything at first.
    let (server, inbox) = receiver(None, usize::MAX);
    let url = format!("http://{}/inbox", server.addr);
    let users: Vec<[u8; 8]> = (0..8u8)
        .map(|i| [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x10 + i, 0x00, 0x00])
        .collect();
    let endpoints: Vec<([u8; 8], String)> = users.iter().map(|u| (*u, url.clone())).collect();
    let with_threads = |threads| Settings {
        threads,
        ..settings(&endpoints, 1000, 20)
    };
    let mut bodies = Vec::new();
    {
        let (_store, d) = start(&dir, with_threads(3));
        for (i, u) in (0u32..).zip(&users) {
            for j in 0..3 {
                let b = xml(100 + 10 * i + j);
                d.submit(*u, b.clone(), Kind::Response).unwrap();
                bodies.push(b);
            }
        }
        wait_for("failed attempts", &d, |s| s.failed_attempts >= 24);
        assert_eq!(d.stats().pending, 24);
    }
    std::thread::sleep(Duration::from_millis(100));
    inbox.refuse_first.store(0, Ordering::SeqCst);
    let (_store, d) = start(&dir, with_threads(4));
    assert_eq!(d.stats().pending, 24, "the outbox survived the restart");
    wait_for("the resumed deliveries", &d, |s| s.delivered == 24);
    for (i, u) in (0u32..).zip(&users) {
        let b = xml(900 + i);
        d.submit(*u, b.clone(), Kind::Response).unwrap();
        bodies.push(b);
    }
    wait_for("the new deliveries", &d, |s| s.delivered == 32);
    std::thread::sleep(Duration::from_millis(200));
    bodies.sort();
    assert_eq!(
        inbox.bodies_sorted(),
        bodies,
        "each message delivered exactly once"
    );
    assert_eq!(d.stats().pending, 0);
    for u in &users {
        assert_eq!(d.held(*u).unwrap(), 0, "settled");
    }
}

#[test]
fn a_full_user_is_refused_without_evicting_anything() {
    recorder();
    let dir = temp_dir("full");
    let mut s = settings(&[], 0, 10);
    s.max_messages_per_user = 3;
    let (_store, d) = start(&dir, s);
    for n in 0..3 {
        d.submit(A, xml(n), Kind::Response).unwrap();
    }
    let e = d.submit(A, xml(3), Kind::Response).unwrap_err();
    assert!(matches!(e, SubmitError::Full { held: 3, .. }), "{e}");
    assert!(e.to_string().contains("90-B3-D5-1F-40-01-00-00"), "{e}");
    // Another User is not affected.
    d.submit(B, xml(4), Kind::Response).unwrap();
    // A body that is not UTF-8 is refused before anything is stored.
    assert!(matches!(
        d.submit(B, vec![0xff, 0xfe], Kind::Response),
        Err(SubmitError::NotUtf8)
    ));
    let (kept, _) = d.pull(A, 10, usize::MAX).unwrap();
    let bodies: Vec<Vec<u8>> = kept.iter().map(|m| m.body.clone()).collect();
    assert_eq!(
        bodies,
        [xml(0), xml(1), xml(2)],
        "the oldest are all still there"
    );
    assert!(d.acknowledge(A, kept[0].sequence).unwrap());
    assert!(matches!(
        d.submit(A, xml(5), Kind::Response).unwrap(),
        Receipt::Kept(_)
    ));
    let s = d.stats();
    assert_eq!((s.submitted, s.refused, s.backlog), (5, 1, 4), "{s:?}");
}

/// Delivered messages leave the outbox in batches, but never wait for a slow attempt to end:
/// while one receiver takes 4 s to answer, a message delivered to another is recorded as
/// delivered and removed from the outbox within a couple of seconds.
#[test]
fn a_delivered_message_is_settled_while_another_attempt_still_hangs() {
    recorder();
    let dir = temp_dir("settle-slow");
    let (fast, inbox) = receiver(None, 0);
    let slow_hits = Arc::new(AtomicUsize::new(0));
    let hits = web::Data::from(Arc::clone(&slow_hits));
    let slow = TestServer::start(None, move |c| {
        c.app_data(hits.clone()).route(
            "/slow",
            web::post().to(|hits: web::Data<AtomicUsize>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                actix_web::rt::time::sleep(Duration::from_secs(4)).await;
                HttpResponse::Ok().finish()
            }),
        );
    });
    let endpoints = [
        (A, format!("http://127.0.0.1:{}/slow", slow.addr.port())),
        (B, format!("http://127.0.0.1:{}/inbox", fast.addr.port())),
    ];
    let (_store, d) = start(&dir, settings(&endpoints, 0, 10));
    d.submit(A, xml(1), Kind::Response).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while slow_hits.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the slow attempt never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    d.submit(B, xml(2), Kind::Response).unwrap();
    wait_for("B's delivery", &d, |s| s.delivered == 1);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "settled only after the slow attempt ended ({:?})",
        started.elapsed()
    );
    assert_eq!(inbox.accepted.lock().unwrap().len(), 1);
    assert_eq!(d.held(B).unwrap(), 0, "B's message left the outbox");
    assert_eq!(d.held(A).unwrap(), 1, "A's is still being delivered");
    wait_for("A's delivery", &d, |s| s.delivered == 2);
    assert_eq!(d.held(A).unwrap(), 0);
}
