//! The response listener and matching, fed by the gateway's own delivery code: a HubGate
//! `Delivery` (outbox and sender, in process) configured with `delivery.default_endpoint` =
//! the listener and `delivery.ca` = the CA loadgen made for it, POSTs signed DUIS Service
//! Responses and an alert; loadgen matches the response to the request it registered.
//! Repeats, bodies that are not DUIS and responses to unknown requests are then POSTed
//! directly.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hubgate_gateway::clock::SystemClock;
use hubgate_gateway::config::Config;
use hubgate_gateway::delivery::{self, Delivery, Kind, Receipt, Settings};
use hubgate_gateway::store::Store;
use hubgate_loadgen::listener::Listener;
use hubgate_loadgen::stats::Live;
use hubgate_loadgen::tracker::{AsyncSummary, Tracker};
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::duis::dsig;
use hubgate_protocol::duis::model::header::{RequestId, ServiceReference, ServiceReferenceVariant};
use hubgate_protocol::duis::model::response::{
    DeviceAlertMessage, Response, ResponseBody, ResponseCode, ResponseHeader, ResponseMessage,
    ResponsePayload,
};
use hubgate_protocol::duis::model::xsd::DateTime;
use hubgate_protocol::smki::Certificate;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const USER: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x50, 0x00, 0x00, 0x01];
const DEVICE: [u8; 8] = [0x00, 0xdb, 0x00, 0x01, 0x00, 0x00, 0x01, 0xa0];

/// A DUIS response signed with the ZAZ1 DSP XML-signing key.
fn signed_response(request: Option<RequestId>, code: ResponseCode, body: ResponseBody) -> Vec<u8> {
    let root = hubgate_protocol::conformance::require();
    let smki = root.join("smki");
    let key = SigningKey::from_pem_or_der(
        &std::fs::read(smki.join("dsp-xml-sign-90B3D51F30000002-ds.key")).unwrap(),
    )
    .unwrap();
    let cert = Certificate::from_pem(
        &std::fs::read(smki.join("dsp-xml-sign-90B3D51F30000002-ds.pem")).unwrap(),
    )
    .unwrap();
    let now = hubgate_loadgen::time::format_rfc3339_ms(hubgate_loadgen::time::now_ms());
    let response = Response::new(
        ResponseHeader {
            request_id: request,
            response_id: request.map(|r| r.response_id()),
            response_code: code,
            response_date_time: DateTime::new(&now).unwrap(),
        },
        body,
    );
    dsig::sign_with_certificate(response.to_xml().as_bytes(), &key, &cert).unwrap()
}

fn service_response(request: RequestId) -> Vec<u8> {
    signed_response(
        Some(request),
        ResponseCode::I0,
        ResponseBody::ResponseMessage(ResponseMessage {
            service_reference: ServiceReference::parse("4.1").unwrap(),
            service_reference_variant: ServiceReferenceVariant::parse("4.1.1").unwrap(),
            payload: Some(ResponsePayload::GbcsPayload(vec![0xdd, 0, 0, 0, 0, 0, 0])),
        }),
    )
}

fn wait_for(tracker: &Tracker, done: impl Fn(&AsyncSummary) -> bool) -> AsyncSummary {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = tracker.summary();
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "not reached: {s:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// POSTs `body` to the listener over TLS (trusting `ca`); the HTTP status.
async fn post(addr: std::net::SocketAddr, ca: &std::path::Path, id: &str, body: &[u8]) -> u16 {
    let endpoint = hubgate_loadgen::client::Endpoint::parse(&format!("https://{addr}")).unwrap();
    let tls = hubgate_loadgen::client::tls_config(ca).unwrap();
    let mut io = hubgate_loadgen::client::connect(&endpoint, Some(&tls), "localhost")
        .await
        .unwrap();
    let mut req = format!(
        "POST /duis HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/xml\r\n\
         HubGate-Message-ID: {id}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    io.write_all(&req).await.unwrap();
    io.flush().await.unwrap();
    let mut answer = Vec::new();
    let _ = io.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn delivered_responses_are_matched_and_oddities_counted() {
    let dir = std::env::temp_dir().join(format!("loadgen-listener-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tracker = Arc::new(Tracker::new(Arc::new(Live::default())));

    // The listener, with the identity loadgen makes for it.
    let id = hubgate_loadgen::tls::ensure_identity(&dir, "127.0.0.1:0".parse().unwrap()).unwrap();
    let tls = hubgate_loadgen::tls::server_config(&id.cert, &id.key).unwrap();
    let listener = Listener::start(
        "127.0.0.1:0".parse().unwrap(),
        Some(tls),
        Arc::clone(&tracker),
    )
    .unwrap();
    let ca = id.ca.clone().unwrap();

    // A request loadgen sent 50 ms ago and that was acknowledged.
    let request = RequestId::new(USER, DEVICE, 1_700_000_000_000_001);
    let sent = Instant::now() - Duration::from_millis(50);
    tracker.expect(
        &request.originator,
        request.counter,
        Arc::from("4.1.1"),
        sent,
        hubgate_loadgen::time::now_ms() + 30_000,
    );
    tracker.acknowledged(&request.originator, request.counter);
    assert_eq!(tracker.outstanding(), 1);

    // The gateway's delivery, with the listener as every User's endpoint.
    let mut config = Config {
        data_dir: dir.join("gw"),
        ..Config::default()
    };
    config.delivery.default_endpoint = Some(format!("https://{}/duis", listener.addr));
    config.delivery.ca = Some(ca.clone());
    config.delivery.backoff_ms = 100;
    let settings = Settings::from_config(&config).unwrap();
    let store = Arc::new(Store::open(&dir.join("gw")).unwrap());
    let delivery = Delivery::start(Arc::clone(&store), settings, Arc::new(SystemClock)).unwrap();
    assert!(delivery.has_endpoint(&USER));
    let response = service_response(request);
    let receipt = delivery
        .submit(USER, response.clone(), Kind::Response)
        .unwrap();
    assert!(matches!(receipt, Receipt::Queued(_)), "{receipt:?}");
    let alert = signed_response(
        None,
        ResponseCode::I0,
        ResponseBody::DeviceAlertMessage(DeviceAlertMessage {
            alert_code: vec![0x8f, 0x0a],
            throttled_alert_sequence_id: None,
            throttled_alert_count: None,
            gbcs_payload: vec![0xdf, 0x09, 0, 0, 0],
        }),
    );
    delivery.submit(USER, alert, Kind::DeviceAlert).unwrap();

    let s = wait_for(&tracker, |s| s.matched == 1 && s.alerts.len() == 1);
    let srv = &s.per_srv["4.1.1"];
    assert_eq!(srv.received, 1);
    assert_eq!(srv.within_target, 1);
    assert_eq!(srv.outstanding, 0);
    assert_eq!(srv.codes.get("I0"), Some(&1));
    let latency = srv.latency.unwrap();
    assert!(
        latency.max_ms >= 50.0,
        "measured from the send: {latency:?}"
    );
    assert_eq!(s.alerts.get("8F0A"), Some(&1));
    assert_eq!(s.alerts_within_target, 1);
    assert_eq!(s.kinds.get("response"), Some(&1));
    assert_eq!(s.kinds.get("device_alert"), Some(&1));
    assert_eq!(tracker.outstanding(), 0);
    // Both left the gateway's outbox: the listener answered 2xx.
    let deadline = Instant::now() + Duration::from_secs(10);
    while delivery.stats().delivered < 2 {
        assert!(Instant::now() < deadline, "{:?}", delivery.stats());
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(delivery);

    // Directly: a repeat of a message ID, a body that is not DUIS, a response for a request
    // this run did not send.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let addr = listener.addr;
        assert_eq!(post(addr, &ca, "77", &response).await, 200);
        assert_eq!(post(addr, &ca, "77", &response).await, 200);
        assert_eq!(post(addr, &ca, "78", b"<not-duis/>").await, 400);
        let stranger = RequestId::new(USER, DEVICE, 5);
        assert_eq!(
            post(addr, &ca, "79", &service_response(stranger)).await,
            200
        );
        listener.stop().await;
    });
    let s = tracker.summary();
    assert_eq!(s.duplicates, 1, "{s:#?}");
    assert_eq!(s.unreadable, 1);
    // The first "77" is the matched response again: its request is no longer waiting.
    assert_eq!(s.unmatched, 2);
    assert_eq!(s.matched, 1);
    let _ = delivery::load_trust(&ca).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
