//! `hubgate quarantine list|release ID|delete ID`: the quarantine's admin API
//! (`hubgate_gateway::anomaly::admin`) from the command line, over HTTPS with the admin
//! bearer token.
//!
//! `list` prints a table: per held item its ID, its kind (`request`, `alert`, `response`),
//! when it was quarantined, the User, the SRV (an alert's code), the CommandVariant, the
//! window breached and the RequestID (an alert's `device:code:counter`), then, on a second
//! line, the hub and device of an alert (with its recipients) or a Service Response, and
//! the reason. `list --json` prints the admin API's JSON unchanged. The unit tests here
//! prove the table for each kind (and for records of an older version without a kind);
//! `gateway/tests/response_quarantine.rs` and `gateway/tests/quarantine.rs` prove both
//! forms against a running gateway.
//!
//! Exit status: 0 when the gateway did what was asked, 1 when it refused (unknown ID,
//! wrong token: the message says which), 2 when it could not be reached.

use hubgate_gateway::anomaly::admin::PATH;

use super::operator_api::{self, Call, Target};

/// `hubgate quarantine …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List what is quarantined (requests, device alerts, Service Responses), oldest first.
    List {
        /// Print the gateway's JSON, as the admin API answers it, instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Release a quarantined request: the gateway carries it out and the User gets its
    /// answer through delivery.
    Release {
        /// The quarantine ID (from `list`).
        id: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Delete a quarantined request: it is never carried out.
    Delete {
        /// The quarantine ID (from `list`).
        id: u64,
        #[command(flatten)]
        target: Target,
    },
}

/// Runs `hubgate quarantine …`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    let (method, path, target, table) = match &cmd {
        Command::List { json, target } => (awc::http::Method::GET, PATH.to_string(), target, !json),
        Command::Release { id, target } => (
            awc::http::Method::POST,
            format!("{PATH}/{id}/release"),
            target,
            false,
        ),
        Command::Delete { id, target } => (
            awc::http::Method::DELETE,
            format!("{PATH}/{id}"),
            target,
            false,
        ),
    };
    operator_api::run(
        "hubgate quarantine",
        target,
        Call {
            method,
            path,
            json: None,
            table: table.then_some(render_table),
        },
    )
}

/// The listing as a table: two lines per held item. The first: its ID, its `kind`
/// (`request`, `alert` or `response`), when it was quarantined, the User (a request's
/// sender, a Service Response's requester; `-` for an alert, which has recipients), the SRV
/// (an alert's code), the CommandVariant (`-` where there is none), the window breached and
/// the RequestID (an alert's `device:code:counter`). The second: for an alert or a Service
/// Response its hub and device (and an alert's recipients), then the reason.
fn render_table(v: &serde_json::Value) -> String {
    let held = v["held"].as_array().cloned().unwrap_or_default();
    let of_kind = |k: &str| {
        held.iter()
            .filter(|h| h["kind"].as_str().unwrap_or("request") == k)
            .count()
    };
    let mut out = format!(
        "{} quarantined: {} request(s), {} alert(s), {} Service Response(s)\n\
         {:<6} {:<8} {:<24} {:<23} {:<8} {:<3} {:<7} {}\n",
        v["count"].as_u64().unwrap_or(held.len() as u64),
        of_kind("request"),
        of_kind("alert"),
        of_kind("response"),
        "ID",
        "KIND",
        "QUARANTINED AT",
        "USER",
        "SRV/CODE",
        "CV",
        "WINDOW",
        "REQUEST ID / HUB, DEVICE: REASON"
    );
    for h in &held {
        let s = |k: &str| h[k].as_str().unwrap_or("").to_string();
        // Records of an older version carry no kind: they are requests.
        let kind = h["kind"].as_str().unwrap_or("request");
        let (user, srv, cv, detail) = match kind {
            "alert" => {
                let recipients: Vec<&str> = h["recipients"]
                    .as_array()
                    .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
                    .unwrap_or_default();
                (
                    "-".to_string(),
                    s("alert_code"),
                    "-".to_string(),
                    format!(
                        "hub {}, device {}, for {}: ",
                        s("hub"),
                        s("device"),
                        if recipients.is_empty() {
                            "nobody".to_string()
                        } else {
                            recipients.join(" ")
                        }
                    ),
                )
            }
            "response" => (
                s("user"),
                s("srv"),
                "-".to_string(),
                format!("hub {}, device {}: ", s("hub"), s("device")),
            ),
            _ => (
                s("user"),
                s("srv"),
                h["cv"].as_u64().unwrap_or(0).to_string(),
                String::new(),
            ),
        };
        out.push_str(&format!(
            "{:<6} {:<8} {:<24} {:<23} {:<8} {:<3} {:<7} {}\n{:>85} {}{}\n",
            h["id"].as_u64().unwrap_or(0),
            kind,
            s("quarantined_at"),
            user,
            srv,
            cv,
            s("window"),
            s("request_id"),
            "",
            detail,
            s("reason"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render_table;

    /// The summaries as the admin API lists them (`hubgate_gateway::anomaly::quarantine`).
    fn listing() -> serde_json::Value {
        serde_json::json!({
            "count": 3,
            "held": [
                {
                    "id": 1, "kind": "request", "user": "90-B3-D5-1F-30-01-00-00", "srv": "8.2",
                    "cv": 1, "request_id": "90-B3-D5-1F-30-01-00-00:00-DB-55-00-00-00-00-01:1001",
                    "role": "IS", "window": "minute", "reason": "over 3 per minute",
                    "quarantined_at": "2030-01-15T09:00:00.000Z", "body_bytes": 2048
                },
                {
                    "id": 2, "kind": "alert", "hub": "00-DB-55-00-00-00-00-00",
                    "device": "00-DB-55-00-00-00-00-01", "alert_code": "8F04", "counter": 7,
                    "recipients": ["90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00"],
                    "user": "00-DB-55-00-00-00-00-00", "srv": "alert", "cv": 0,
                    "request_id": "00-DB-55-00-00-00-00-01:8F04:7", "window": "hour",
                    "reason": "hub over 600 alerts per hour",
                    "quarantined_at": "2030-01-15T09:00:01.000Z", "messages": 2
                },
                {
                    "id": 3, "kind": "response", "hub": "00-DB-55-00-00-00-00-10",
                    "device": "00-DB-55-00-00-00-00-11", "user": "90-B3-D5-1F-30-01-00-00",
                    "srv": "4.1.1",
                    "request_id": "90-B3-D5-1F-30-01-00-00:00-DB-55-00-00-00-00-11:1002",
                    "window": "minute", "reason": "Service Responses from hub over 60 per minute",
                    "quarantined_at": "2030-01-15T09:00:02.000Z", "messages": 1
                }
            ]
        })
    }

    /// The first line of the item with ID `id` and the line after it.
    fn item(table: &str, id: u64) -> (String, String) {
        // Past the count and the column headings.
        let lines: Vec<&str> = table.lines().collect();
        let at = (2..lines.len())
            .find(|i| lines[*i].split_whitespace().next() == Some(&id.to_string()))
            .unwrap_or_else(|| panic!("no item {id} in\n{table}"));
        (lines[at].to_string(), lines[at + 1].trim().to_string())
    }

    fn columns(line: &str) -> Vec<&str> {
        line.split_whitespace().collect()
    }

    #[test]
    fn each_kind_is_listed_with_its_own_columns() {
        let table = render_table(&listing());
        assert!(
            table.starts_with("3 quarantined: 1 request(s), 1 alert(s), 1 Service Response(s)\n"),
            "{table}"
        );
        assert_eq!(
            columns(table.lines().nth(1).unwrap_or_default())[..3],
            ["ID", "KIND", "QUARANTINED"]
        );

        let (first, second) = item(&table, 1);
        assert_eq!(
            columns(&first),
            [
                "1",
                "request",
                "2030-01-15T09:00:00.000Z",
                "90-B3-D5-1F-30-01-00-00",
                "8.2",
                "1",
                "minute",
                "90-B3-D5-1F-30-01-00-00:00-DB-55-00-00-00-00-01:1001"
            ]
        );
        assert_eq!(second, "over 3 per minute");

        let (first, second) = item(&table, 2);
        assert_eq!(
            columns(&first),
            [
                "2",
                "alert",
                "2030-01-15T09:00:01.000Z",
                "-",
                "8F04",
                "-",
                "hour",
                "00-DB-55-00-00-00-00-01:8F04:7"
            ]
        );
        assert_eq!(
            second,
            "hub 00-DB-55-00-00-00-00-00, device 00-DB-55-00-00-00-00-01, for \
             90-B3-D5-1F-30-01-00-00 90-B3-D5-1F-30-02-00-00: hub over 600 alerts per hour"
        );

        let (first, second) = item(&table, 3);
        assert_eq!(
            columns(&first),
            [
                "3",
                "response",
                "2030-01-15T09:00:02.000Z",
                "90-B3-D5-1F-30-01-00-00",
                "4.1.1",
                "-",
                "minute",
                "90-B3-D5-1F-30-01-00-00:00-DB-55-00-00-00-00-11:1002"
            ]
        );
        assert_eq!(
            second,
            "hub 00-DB-55-00-00-00-00-10, device 00-DB-55-00-00-00-00-11: \
             Service Responses from hub over 60 per minute"
        );
    }

    #[test]
    fn a_record_without_a_kind_is_a_request_and_an_empty_listing_reads() {
        let mut v = listing();
        v["held"] = serde_json::json!([{
            "id": 9, "user": "90-B3-D5-1F-30-01-00-00", "srv": "8.2", "cv": 1,
            "request_id": "90-B3-D5-1F-30-01-00-00:00-DB-55-00-00-00-00-01:1",
            "window": "minute", "reason": "r", "quarantined_at": "2030-01-15T09:00:00.000Z"
        }]);
        v["count"] = serde_json::json!(1);
        let table = render_table(&v);
        assert!(
            table.starts_with("1 quarantined: 1 request(s), 0 alert(s)"),
            "{table}"
        );
        assert_eq!(columns(&item(&table, 9).0)[1], "request");
        let empty = render_table(&serde_json::json!({"count": 0, "held": []}));
        assert_eq!(empty.lines().count(), 2, "{empty}");
        assert!(empty.starts_with("0 quarantined: 0 request(s)"), "{empty}");
    }
}
