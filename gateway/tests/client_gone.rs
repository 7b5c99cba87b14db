//! A DUIS request read in full is processed to its end even when its client goes away
//! before the answer: the client resets its connection while the gateway is checking and
//! accepting the request, and the request is still accepted, sent to the meter and answered
//! (the Service Response is kept for the User to pull). Without that, a request whose
//! acceptance was already on its way to the store would wait in the journal for the next
//! start.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

mod common;

use std::io::Write as _;
use std::time::Duration;

use common::{Gateway, SUPPLIER, Seeds, element_text, pull_answer, set_target};

const TOKEN: &str = "client-gone-pull-token-0123456789abcdef0123";
const ESME: &str = "00-DB-55-00-00-00-00-01";
const REQUESTS: usize = 24;

#[test]
fn a_request_whose_client_reset_the_connection_is_still_answered() {
    let plain = common::free_local_addr();
    let plain_text = plain.to_string();
    let gw = Gateway::start(
        "client-gone",
        Seeds {
            env: &[
                ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", TOKEN),
                ("HUBGATE_EMULATION__HUBS", "1"),
                ("HUBGATE_PLAIN_HTTP_LISTEN", &plain_text),
            ],
            ..Seeds::default()
        },
    );
    let request = set_target(
        &gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"),
        ESME,
    );
    // One request answered normally first, so that the resets below do not race the
    // gateway's first connection and its cold paths.
    let warm = gw.submit(&request, SUPPLIER);
    assert_eq!(warm.code, "I99", "{}", warm.xml);
    let mut ids = Vec::new();
    for i in 0..REQUESTS {
        let signed = gw.sign(&request, SUPPLIER);
        ids.push(element_text(&String::from_utf8_lossy(&signed), "RequestID").unwrap());
        let mut stream = std::net::TcpStream::connect(plain).unwrap();
        write!(
            stream,
            "POST /api/v1/serviceS HTTP/1.1\r\nHost: {plain}\r\n\
             Content-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
            signed.len()
        )
        .unwrap();
        stream.write_all(&signed).unwrap();
        // Reset (not close) the connection a little later each time, so that the resets
        // fall at different points of the gateway's work on the request. A reset discards
        // what the gateway has not read yet, so none comes before it has had a millisecond
        // to read the request (a request it never read is not one it accepted).
        std::thread::sleep(Duration::from_micros(1_000 + 500 * (i as u64 % 8)));
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(stream);
    }
    for id in &ids {
        let xml = pull_answer(&gw, TOKEN, id, Duration::from_secs(30));
        assert_eq!(
            element_text(&xml, "ResponseCode").as_deref(),
            Some("I0"),
            "{id}: {xml}"
        );
    }
}
