//! The gateway's token-protected HTTPS API beyond DUIS: any method on any path with a bearer
//! token, and the response quarantine's admin API (`/api/v1/admin/quarantine`) and operator
//! CLI (`hubgate quarantine …`).

use std::path::Path;
use std::process::Command;

use super::Gateway;

/// The admin API path of the response quarantine.
pub const QUARANTINE_PATH: &str = "/api/v1/admin/quarantine";

impl Gateway {
    /// `curl -X method` on `path` over HTTPS with the bearer `token` (none: no
    /// `Authorization` header); the HTTP status and the body.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", method, "-w", "\n%{http_code}", "--cacert"])
            .arg(self.dir.join("data/tls/ca.pem"));
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = cmd
            .arg(format!("https://{}{path}", self.addr))
            .output()
            .expect("curl is needed for the end-to-end tests");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, status) = text.rsplit_once('\n').expect("curl printed the status");
        (
            status.trim().parse().expect("an HTTP status"),
            body.to_string(),
        )
    }
}

/// The messages the response quarantine holds, as its admin API lists them with the admin
/// `token`; asserts a 200 and that `count` matches the list.
pub fn quarantine_held(gw: &Gateway, token: &str) -> Vec<serde_json::Value> {
    let (status, body) = gw.call("GET", QUARANTINE_PATH, Some(token));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("a JSON quarantine list");
    let list = v["held"].as_array().expect("a held list").clone();
    assert_eq!(v["count"].as_u64(), Some(list.len() as u64), "{body}");
    list
}

/// `hubgate quarantine <args>` against `gw` with the admin token in `token_file`: exit code
/// and stdout+stderr.
pub fn quarantine_cli(gw: &Gateway, token_file: &Path, args: &[&str]) -> (i32, String) {
    let args: Vec<&str> = std::iter::once("quarantine")
        .chain(args.iter().copied())
        .collect();
    gw.operator_cli(token_file, &args)
}

/// Whether `xml` is a DCC alert (whose body may name a RequestID too).
pub fn is_dcc_alert(xml: &str) -> bool {
    xml.contains("<sr:DCCAlertMessage>")
}
