//! Request bodies on the DUIS services: the Content-Type is checked before a body is read,
//! device requests (Send Command, Transform) are limited to
//! `limits.max_device_request_bytes`, the Non-Device service (firmware images) to
//! `limits.max_request_bytes`, and the gateway serves the next request as before. The bodies
//! held at once are bounded by `limits.max_inflight_request_bytes`: past it a request is
//! answered 503 with `Retry-After`, and served again once the bytes are given back; a body
//! holds only the bytes that have arrived.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

mod common;

use common::*;

#[test]
fn bodies_are_limited_per_service_and_the_content_type_comes_first() {
    let gw = Gateway::start(
        "request-limits",
        Seeds {
            env: &[
                ("HUBGATE_LIMITS__MAX_DEVICE_REQUEST_BYTES", "65536"),
                ("HUBGATE_LIMITS__MAX_REQUEST_BYTES", "1048576"),
            ],
            ..Seeds::default()
        },
    );
    assert_a_signed_request_is_served(&gw);

    // Another content type: refused without reading the (large) body.
    let big = vec![b'x'; 200_000];
    let (status, text) = gw.post_with(
        "/api/v1/serviceS",
        &["-H", "Content-Type: text/plain"],
        &big,
    );
    assert_eq!(status, 415, "{text}");

    // Over the device limit on serviceS and serviceT: 413, naming the path and the limit.
    for path in ["/api/v1/serviceS", "/api/v1/serviceT"] {
        let (status, text) = gw.post(path, &big);
        assert_eq!(status, 413, "{path}: {text}");
        assert!(
            text.contains("65536") && text.contains(path),
            "{path}: {text}"
        );
    }
    // The same over HTTP/1.1.
    let (status, text) = gw.post_with(
        "/api/v1/serviceS",
        &["--http1.1", "-H", "Content-Type: application/xml"],
        &big,
    );
    assert_eq!(status, 413, "HTTP/1.1: {text}");
    // The same body on the Non-Device service is read and judged as a DUIS request (not
    // XML: E31), since its limit is the larger one.
    let (status, text) = gw.post("/api/v1/serviceD", &big);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("E31"), "{text}");
    // Over that limit too: 413.
    let huge = vec![b'x'; 1_100_000];
    let (status, text) = gw.post("/api/v1/serviceD", &huge);
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("1048576"), "{text}");

    // The next request is served as before.
    assert_a_signed_request_is_served(&gw);
}

/// A Read Inventory for a device the inventory does not hold, signed by the supplier, is
/// answered `E080201`.
fn assert_a_signed_request_is_served(gw: &Gateway) {
    let read = gw.template("8.2_READ_INVENTORY_REQUEST_DUIS.XML");
    let answer = gw.submit(&read, SUPPLIER);
    assert_eq!(
        (answer.http, answer.code.as_str()),
        (200, "E080201"),
        "{}",
        answer.xml
    );
}

/// A plain-HTTP client that has sent the headers of a `total`-byte body to serviceD, and
/// `sent` bytes of it.
struct PartialUpload {
    stream: std::net::TcpStream,
    left: usize,
}

impl PartialUpload {
    fn start(addr: std::net::SocketAddr, total: usize, sent: usize) -> Self {
        use std::io::Write as _;
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST /api/v1/serviceD HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/xml\r\nContent-Length: {total}\r\n\r\n"
        )
        .unwrap();
        stream.write_all(&vec![b'x'; sent]).unwrap();
        PartialUpload {
            stream,
            left: total - sent,
        }
    }

    /// Sends the rest and reads the answer's status line.
    fn finish(mut self) -> String {
        use std::io::{Read as _, Write as _};
        self.stream.write_all(&vec![b'x'; self.left]).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
            let n = self.stream.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "connection closed: {}",
                String::from_utf8_lossy(&answer)
            );
            answer.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap()
            .to_owned()
    }
}

#[test]
fn bodies_in_flight_share_one_budget() {
    let plain = common::free_local_addr();
    let plain_text = plain.to_string();
    let gw = Gateway::start(
        "request-budget",
        Seeds {
            env: &[
                ("HUBGATE_LIMITS__MAX_REQUEST_BYTES", "1048576"),
                ("HUBGATE_LIMITS__MAX_INFLIGHT_REQUEST_BYTES", "1500000"),
                ("HUBGATE_PLAIN_HTTP_LISTEN", &plain_text),
            ],
            ..Seeds::default()
        },
    );
    // A client that announces 1,000,000 bytes and sends nothing more holds nothing: a
    // body of 1,000,000 bytes is read and judged (not XML: E31) meanwhile.
    let idle = PartialUpload::start(plain, 1_000_000, 0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, text) = gw.post("/api/v1/serviceD", &vec![b'x'; 1_000_000]);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("E31"), "{text}");
    drop(idle);

    // One that has sent 900,000 bytes of its body holds them: 700,000 bytes more do not
    // fit, and are answered 503 with Retry-After and the setting named.
    let held = PartialUpload::start(plain, 1_000_000, 900_000);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (status, text) = gw.post_with(
        "/api/v1/serviceD",
        &["-H", "Content-Type: application/xml", "-D", "-"],
        &vec![b'x'; 700_000],
    );
    assert_eq!(status, 503, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1"),
        "{text}"
    );
    assert!(text.contains("limits.max_inflight_request_bytes"), "{text}");
    // A signed request of a few kB still fits, and is served.
    assert_a_signed_request_is_served(&gw);
    // The held body is completed and judged, and its bytes are given back: the same
    // 700,000 bytes are now read and judged too.
    let status = held.finish();
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    let (status, text) = gw.post("/api/v1/serviceD", &vec![b'x'; 700_000]);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("E31"), "{text}");
    // Capacity refusals are counted under check 0.
    let metrics = gw.metrics_text();
    assert!(
        metric_value(&metrics, "hubgate_ingress_rejected_total", "check=\"0\"") >= 1.0,
        "{metrics}"
    );
}
