//! A User's kept messages on the pull endpoint (`GET /api/v1/responses`, acknowledged with
//! `DELETE /api/v1/responses/{sequence}`): listing them, waiting for one, acknowledging it.
//!
//! Every listing asserts the endpoint answered 200 or 204, and every acknowledgement that it
//! answered 200 or 204, so a gateway that stops serving a User's messages fails the test at
//! the call.

use std::time::{Duration, Instant};

use super::Gateway;

/// The `Authorization` header for the User with pull `token`.
pub fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

/// Every message kept now for the User with pull `token` (up to 100): (pull sequence, XML),
/// oldest first. Nothing is acknowledged.
pub fn kept_messages(gw: &Gateway, token: &str) -> Vec<(u64, String)> {
    let (status, body) = gw.get("/api/v1/responses?limit=100", &[&bearer(token)]);
    assert!(status == 200 || status == 204, "{status}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["messages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    (
                        m["sequence"].as_u64().expect("a kept message's sequence"),
                        m["xml"].as_str().expect("a kept message's XML").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Acknowledges (removes) the kept message `seq` of the User with pull `token`, asserting
/// that the gateway accepted the acknowledgement.
pub fn acknowledge(gw: &Gateway, token: &str, seq: u64) {
    let code = gw.remove_message(&bearer(token), seq);
    assert!(
        code == "200" || code == "204",
        "acknowledging message {seq}: {code}"
    );
}

/// Waits up to `wait` for a message kept for the User with pull `token` that `pred` accepts,
/// acknowledges it and returns its XML. Other kept messages stay.
pub fn take_message(
    gw: &Gateway,
    token: &str,
    wait: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let all = kept_messages(gw, token);
        if let Some((seq, xml)) = all.iter().find(|(_, x)| pred(x)) {
            acknowledge(gw, token, *seq);
            return xml.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no matching message within {wait:?}; kept: {all:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The first message kept for the User with pull `token` within `wait`, acknowledged;
/// `None` if none came.
pub fn next_message_within(gw: &Gateway, token: &str, wait: Duration) -> Option<String> {
    let deadline = Instant::now() + wait;
    loop {
        let (status, body) = gw.get("/api/v1/responses?limit=1", &[&bearer(token)]);
        assert!(status == 200 || status == 204, "{status}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if let Some(m) = v["messages"].as_array().and_then(|a| a.first()) {
            let seq = m["sequence"].as_u64().expect("a kept message's sequence");
            acknowledge(gw, token, seq);
            return Some(m["xml"].as_str().expect("a kept message's XML").to_string());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
