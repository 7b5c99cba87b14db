//! Driving the real `hubgate serve` binary over HTTPS, for the integration tests that need it:
//! start a gateway on a fresh data directory with seed files, edit DUIS conformance templates,
//! sign them with `hubgate duis sign` (a fresh RequestID counter each time), post them with
//! `curl` trusting the gateway's local TLS CA, and read the signed answers.
//!
//! Shared helpers in submodules: `pull` (a User's kept messages: list, wait, acknowledge),
//! `clock` (real and virtual time), `critical` (CV 4 / CV 5 critical commands), `admin`
//! (bearer-token API calls and the response quarantine), `oracle` (XSD and XML-DSig checks)
//! and `rig` (a `hil-rig` process). Each asserts what it relies on, so a gateway that
//! misbehaves fails the calling test at the call.
//!
//! Needs `curl` and the conformance data (`hubgate_protocol::conformance::require`).

// Each test file that includes this module uses a part of it.
#![allow(dead_code)]

pub mod admin;
pub mod clock;
pub mod critical;
pub mod oracle;
pub mod pull;
pub mod rig;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hubgate_protocol::duis::NS_SR;
use hubgate_protocol::duis::xml::{self, Element, Limits};

/// The ZAZ1 supplier (roles IS, ES, GS); its XML-signing key is in the conformance SMKI folder.
pub const SUPPLIER: &str = "90-B3-D5-1F-30-01-00-00";
/// The ZAZ1 network operator (roles ED, GT).
pub const NETWORK_OPERATOR: &str = "90-B3-D5-1F-30-02-00-00";

/// The files a gateway is started with.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seeds<'a> {
    /// Inventory CSV imported at start (`--inventory`).
    pub inventory: Option<&'a str>,
    /// Registration data CSV (`--registration`).
    pub registration: Option<&'a str>,
    /// SM WAN coverage CSV (`--wan-matrix`).
    pub wan_matrix: Option<&'a str>,
    /// Extra environment variables (`HUBGATE_*` settings).
    pub env: &'a [(&'a str, &'a str)],
    /// Add the RTDS device certificates (`--device-keys <conformance>/gbcs/keystore`).
    pub rtds_device_keys: bool,
}

/// A running `hubgate serve`, killed (and its data directory removed) on drop.
pub struct Gateway {
    child: Child,
    /// `host:port` of the DUIS HTTPS listener.
    pub addr: String,
    /// The metrics URL.
    pub metrics: String,
    /// The test's directory (seed files, `data/`, `stderr.log`).
    pub dir: PathBuf,
    /// The conformance root.
    pub root: PathBuf,
    /// What the gateway printed up to "listening" (PKI summary, import report).
    pub startup: String,
    counter: AtomicU64,
    /// Leave `dir` in place on drop (the gateway is being restarted on it).
    keep_dir: bool,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            eprintln!("gateway stderr (last lines):\n{tail}");
        }
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The `hubgate` binary under test.
pub fn hubgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hubgate"))
}

impl Gateway {
    /// Starts `hubgate serve` on free ports with the conformance SMKI folder and `seeds`, and
    /// waits until it listens. `name` keeps the data directories of parallel tests apart.
    pub fn start(name: &str, seeds: Seeds<'_>) -> Gateway {
        let root = hubgate_protocol::conformance::require();
        let dir = std::env::temp_dir().join(format!("hubgate-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Gateway::launch(dir, root, seeds)
    }

    /// Starts `hubgate serve` like [`Gateway::start`] in `dir`, which the caller prepared
    /// (its `data` folder may be a mounted filesystem, say) and which is not emptied first.
    pub fn start_in(dir: PathBuf, seeds: Seeds<'_>) -> Gateway {
        let root = hubgate_protocol::conformance::require();
        std::fs::create_dir_all(&dir).unwrap();
        Gateway::launch(dir, root, seeds)
    }

    /// Stops this gateway and starts `hubgate serve` again on the same data directory, with
    /// `seeds` (which may be empty: what the gateway kept is in its data directory).
    pub fn restart(mut self, seeds: Seeds<'_>) -> Gateway {
        let (dir, root) = (self.dir.clone(), self.root.clone());
        self.keep_dir = true;
        drop(self);
        Gateway::launch(dir, root, seeds)
    }

    /// [`Gateway::restart`] after a graceful stop (SIGTERM, then waiting for the process to
    /// end), so that what the gateway writes when it stops (counts kept in memory between
    /// flushes, say) is in the store when it starts again.
    pub fn restart_after_graceful_stop(mut self, seeds: Seeds<'_>) -> Gateway {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill is needed to stop the gateway gracefully");
        assert!(term.success(), "SIGTERM to the gateway failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the gateway did not stop within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.restart(seeds)
    }

    /// Starts `hubgate serve` like [`Gateway::start`], but with the local test PKI it creates
    /// in its data directory (demo and load-test Users, the DCC's keys under `data/pki`)
    /// instead of the conformance SMKI folder. Not for [`Gateway::restart`], which uses the
    /// SMKI folder.
    pub fn start_local_pki(name: &str, seeds: Seeds<'_>) -> Gateway {
        let root = hubgate_protocol::conformance::require();
        let dir = std::env::temp_dir().join(format!("hubgate-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Gateway::launch_with(dir, root, seeds, false)
    }

    fn launch(dir: PathBuf, root: PathBuf, seeds: Seeds<'_>) -> Gateway {
        Gateway::launch_with(dir, root, seeds, true)
    }

    fn launch_with(dir: PathBuf, root: PathBuf, seeds: Seeds<'_>, smki: bool) -> Gateway {
        let mut cmd = hubgate();
        cmd.arg("serve").arg("--data-dir").arg(dir.join("data"));
        if smki {
            cmd.arg("--smki").arg(root.join("smki"));
        }
        cmd.args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"]);
        if seeds.rtds_device_keys {
            cmd.arg("--device-keys").arg(root.join("gbcs/keystore"));
        }
        for (flag, file, content) in [
            ("--inventory", "inventory.csv", seeds.inventory),
            ("--registration", "registration.csv", seeds.registration),
            ("--wan-matrix", "wan.csv", seeds.wan_matrix),
        ] {
            if let Some(content) = content {
                std::fs::write(dir.join(file), content).unwrap();
                cmd.arg(flag).arg(dir.join(file));
            }
        }
        let mut child = cmd
            .env("HUBGATE_LOG_LEVEL", "warn")
            .envs(seeds.env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut addr, mut metrics) = (None, None);
        let mut seen = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen += &line;
            seen.push('\n');
            if let Some(a) = line.strip_prefix("DUIS listening on https://") {
                addr = Some(a.trim().to_string());
            }
            if let Some(a) = line.strip_prefix("metrics listening on ") {
                metrics = Some(a.trim().to_string());
            }
            if addr.is_some() && metrics.is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "gateway did not start:\n{seen}");
        }
        let Some(addr) = addr else {
            let err = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
            let _ = child.kill();
            let _ = child.wait();
            panic!("gateway exited before listening:\n{seen}\n{err}")
        };
        let Some(metrics) = metrics else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no metrics listener:\n{seen}")
        };
        // Keep reading what the gateway prints, so that it never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Gateway {
            child,
            addr,
            metrics,
            dir,
            root,
            startup: seen,
            counter: AtomicU64::new(1_000),
            keep_dir: false,
        }
    }

    /// The text of the conformance DUIS template `name`.
    pub fn template(&self, name: &str) -> String {
        let p = self.root.join("duis/templates").join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// Signs `xml` as `signer` (a User with an XML-signing key in the conformance SMKI
    /// folder) with the next RequestID counter: one counter for all Users, so strictly
    /// increasing for each.
    pub fn sign(&self, xml: &str, signer: &str) -> Vec<u8> {
        let counter = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        self.sign_with(xml, signer, Some(counter))
    }

    /// Signs `xml` as `signer` with RequestID counter `counter`, or the one `xml` carries.
    pub fn sign_with(&self, xml: &str, signer: &str, counter: Option<u64>) -> Vec<u8> {
        let compact: String = signer.chars().filter(|c| *c != '-').collect();
        let smki = self.root.join("smki");
        self.sign_as(
            xml,
            &smki.join(format!("xml-sign-{compact}-ds.key")),
            &smki.join(format!("xml-sign-{compact}-ds.pem")),
            counter,
        )
    }

    /// Signs `xml` with the XML-signing `key` and its certificate `cert` (paths), with
    /// RequestID counter `counter`, or the one `xml` carries.
    pub fn sign_as(&self, xml: &str, key: &Path, cert: &Path, counter: Option<u64>) -> Vec<u8> {
        let mut cmd = hubgate();
        cmd.args(["duis", "sign"]);
        if let Some(c) = counter {
            cmd.args(["--counter", &c.to_string()]);
        }
        let mut child = cmd
            .arg("--key")
            .arg(key)
            .arg("--cert")
            .arg(cert)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(xml.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "hubgate duis sign: {}\n{xml}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// GETs `path` over HTTPS with extra `headers`; the HTTP status and the body.
    pub fn get(&self, path: &str, headers: &[&str]) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--cacert"])
            .arg(self.dir.join("data/tls/ca.pem"))
            .args(["-w", "\n%{http_code}"]);
        for h in headers {
            cmd.args(["-H", h]);
        }
        let out = cmd
            .arg(format!("https://{}{path}", self.addr))
            .output()
            .expect("curl is needed for the end-to-end tests");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (answer, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (status.trim().parse().unwrap_or(0), answer.to_string())
    }

    /// POSTs `body` to `path` over HTTPS; the HTTP status and the body of the answer.
    pub fn post(&self, path: &str, body: &[u8]) -> (u16, String) {
        self.post_with(path, &["-H", "Content-Type: application/xml"], body)
    }

    /// POSTs `body` to `path` over HTTPS with extra curl `args` (headers, a time limit);
    /// curl must succeed. The HTTP status and the body of the answer.
    pub fn post_with(&self, path: &str, args: &[&str], body: &[u8]) -> (u16, String) {
        Self::posted(self.spawn_post(path, args, body))
    }

    /// Starts posting `body` to `path` with curl and extra `args`; [`Gateway::posted`]
    /// waits for the answer.
    pub fn spawn_post(&self, path: &str, args: &[&str], body: &[u8]) -> std::process::Child {
        let mut child = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(self.dir.join("data/tls/ca.pem"))
            .args(args)
            .args(["--data-binary", "@-"])
            .args(["-w", "\n%{http_code}"])
            .arg(format!("https://{}{path}", self.addr))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("curl is needed for the end-to-end tests");
        child.stdin.take().unwrap().write_all(body).unwrap();
        child
    }

    /// The HTTP status and text of a post [`Gateway::spawn_post`] started.
    pub fn posted(child: std::process::Child) -> (u16, String) {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (answer, status) = text.rsplit_once('\n').unwrap();
        (status.trim().parse().unwrap(), answer.to_string())
    }

    /// The metrics endpoint's text (Prometheus text format).
    pub fn metrics_text(&self) -> String {
        let out = Command::new("curl")
            .args(["-sS", &self.metrics])
            .output()
            .expect("curl is needed for the end-to-end tests");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Signs `xml` as `signer`, posts it to the path its CommandVariant belongs on and reads
    /// the answer, which must be a DUIS Response to this very request.
    pub fn submit(&self, xml: &str, signer: &str) -> Answer {
        let cv: u8 = element_text(xml, "CommandVariant")
            .and_then(|c| c.parse().ok())
            .expect("a CommandVariant");
        let body = self.sign(xml, signer);
        let signed = String::from_utf8_lossy(&body).to_string();
        let sent_id = element_text(&signed, "RequestID").unwrap_or_default();
        let (http, text) = self.post(path_for_cv(cv), &body);
        let answer = Answer::parse(http, &text);
        assert_eq!(
            answer.request_id, sent_id,
            "the answer is not to the request sent:\n{text}"
        );
        answer
    }
}

/// The DUIS web service path for a CommandVariant.
pub fn path_for_cv(cv: u8) -> &'static str {
    match cv {
        4 => "/api/v1/serviceT",
        2 | 6 | 8 => "/api/v1/serviceD",
        _ => "/api/v1/serviceS",
    }
}

/// A DUIS answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub http: u16,
    /// `ResponseCode`.
    pub code: String,
    /// `RequestID`.
    pub request_id: String,
    /// `ResponseDateTime`.
    pub response_date_time: String,
    /// The whole answer.
    pub xml: String,
    root: Option<Element>,
}

impl Answer {
    /// Reads `text`; an answer that is not a DUIS Response keeps empty fields.
    pub fn parse(http: u16, text: &str) -> Answer {
        let root = xml::parse(text.as_bytes(), &Limits::default())
            .ok()
            .map(|d| d.root);
        let header = |name: &str| {
            root.as_ref()
                .and_then(|r| r.first_child(NS_SR, "Header"))
                .and_then(|h| h.first_child(NS_SR, name))
                .map(|e| e.text().into_owned())
                .unwrap_or_default()
        };
        Answer {
            http,
            code: header("ResponseCode"),
            request_id: header("RequestID"),
            response_date_time: header("ResponseDateTime"),
            xml: text.to_string(),
            root,
        }
    }

    /// The `xs:date` of `ResponseDateTime` (UTC): the gateway's "today" for this request.
    pub fn date(&self) -> &str {
        self.response_date_time.get(..10).unwrap_or_default()
    }

    /// The payload element `name` of the `ResponseMessage`, if any.
    pub fn payload(&self, name: &str) -> Option<&Element> {
        self.root
            .as_ref()?
            .first_child(NS_SR, "Body")?
            .first_child(NS_SR, "ResponseMessage")?
            .first_child(NS_SR, name)
    }

    /// The `Device` elements of a `DSPInventory`, in order, each as its fields by element
    /// name (`PropertyFilter` flattened to `PostCode` and `AddressIdentifier`).
    pub fn devices(&self) -> Vec<BTreeMap<String, String>> {
        let Some(inv) = self.payload("DSPInventory") else {
            return Vec::new();
        };
        inv.children_named(NS_SR, "Device")
            .map(|d| {
                let mut m = BTreeMap::new();
                for f in d.child_elements() {
                    if f.child_elements().next().is_some() {
                        for g in f.child_elements() {
                            m.insert(g.local.clone(), g.text().into_owned());
                        }
                    } else {
                        m.insert(f.local.clone(), f.text().into_owned());
                    }
                }
                m
            })
            .collect()
    }
}

/// The text of the first `<sr:name>` element of `xml`.
pub fn element_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<sr:{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find('<')? + start;
    Some(xml[start..end].to_string())
}

/// `xml` with the text of its first `<sr:name>` element replaced by `value`.
pub fn set_text(xml: &str, name: &str, value: &str) -> String {
    let open = format!("<sr:{name}>");
    let start = xml
        .find(&open)
        .map(|i| i + open.len())
        .unwrap_or_else(|| panic!("no <sr:{name}> in the template"));
    let end = xml[start..].find('<').unwrap() + start;
    format!("{}{value}{}", &xml[..start], &xml[end..])
}

/// `xml` with its first `sr:name` element (`<sr:name/>` or `<sr:name>…</sr:name>`, not
/// nested in another of the same name) replaced by `replacement` (which may be empty).
pub fn replace_element(xml: &str, name: &str, replacement: &str) -> String {
    let empty = format!("<sr:{name}/>");
    let open = format!("<sr:{name}>");
    let close = format!("</sr:{name}>");
    let (start, end) = match (xml.find(&empty), xml.find(&open)) {
        (Some(e), o) if o.is_none_or(|o| e < o) => (e, e + empty.len()),
        (_, Some(o)) => {
            let c = xml[o..]
                .find(&close)
                .unwrap_or_else(|| panic!("no {close} in the template"))
                + o;
            (o, c + close.len())
        }
        _ => panic!("no sr:{name} element in the template"),
    };
    format!("{}{replacement}{}", &xml[..start], &xml[end..])
}

/// `xml` (a Request) addressed to `target`: the middle part of its RequestID.
pub fn set_target(xml: &str, target: &str) -> String {
    let id = element_text(xml, "RequestID").expect("a RequestID");
    let mut parts: Vec<&str> = id.split(':').collect();
    assert_eq!(parts.len(), 3, "RequestID {id}");
    parts[1] = target;
    set_text(xml, "RequestID", &parts.join(":"))
}

/// Waits up to `wait` for the message kept for the User with pull `token` that answers
/// `request_id` (a Service Response with that RequestID), removes it from the User's kept
/// messages and returns its XML. Other kept messages (alerts, other answers) stay.
pub fn pull_answer(gw: &Gateway, token: &str, request_id: &str, wait: Duration) -> String {
    let auth = format!("Authorization: Bearer {token}");
    let deadline = Instant::now() + wait;
    loop {
        let (status, body) = gw.get("/api/v1/responses?limit=100", &[&auth]);
        assert!(status == 200 || status == 204, "{status}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let found = v["messages"].as_array().and_then(|all| {
            all.iter().find_map(|m| {
                let xml = m["xml"].as_str()?;
                (element_text(xml, "RequestID").as_deref() == Some(request_id))
                    .then(|| (m["sequence"].as_u64(), xml.to_string()))
            })
        });
        if let Some((Some(seq), xml)) = found {
            let code = gw.remove_message(&auth, seq);
            assert!(
                code == "200" || code == "204",
                "removing message {seq}: {code}"
            );
            return xml;
        }
        assert!(
            Instant::now() < deadline,
            "no Service Response to {request_id} within {wait:?}; kept: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A gateway with one emulated premises (hub `00-DB-55-00-00-00-00-00`) that also has on its
/// inventory `silent`, an RTDS ESME behind that hub with no emulated meter (nothing answers
/// it), registered to the supplier; `env` adds settings.
pub fn start_with_silent_esme(name: &str, silent: &str, env: &[(&str, &str)]) -> Gateway {
    let inventory = format!(
        "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with\n\
         {silent},ESME,Commissioned,EE01,010A030B,1900000000099,,EM1 1AA,1,00-DB-55-00-00-00-00-00\n"
    );
    let registration = format!(
        "mpxn,fuel,role,party,effective_from,effective_to\n1900000000099,electricity,IS,{SUPPLIER},2000-01-01,\n"
    );
    Gateway::start(
        name,
        Seeds {
            inventory: Some(&inventory),
            registration: Some(&registration),
            rtds_device_keys: true,
            env,
            ..Seeds::default()
        },
    )
}

/// Waits up to `wait` for the first message kept for the User with pull `token`,
/// acknowledges (removes) it and returns its XML.
pub fn next_message(gw: &Gateway, token: &str, wait: Duration) -> String {
    pull::next_message_within(gw, token, wait)
        .unwrap_or_else(|| panic!("no message arrived within {} s", wait.as_secs()))
}

/// Standard base64 of `bytes` (DUIS `GBCSPayload`).
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The bytes of the standard base64 `text` (surrounding whitespace ignored).
pub fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("valid base64")
}

/// A loopback address with a port free at the time of the call (for a listener the gateway
/// binds, such as `HUBGATE_PLAIN_HTTP_LISTEN`).
pub fn free_local_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// The value of the Prometheus sample `name{labels}` in `text` (`labels` as written between
/// the braces, e.g. `kind="mac"`; empty for none); 0 when absent.
pub fn metric_value(text: &str, name: &str, labels: &str) -> f64 {
    let series = if labels.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines()
        .filter_map(|l| l.strip_prefix(&series))
        .filter_map(|rest| rest.strip_prefix(' '))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum()
}

impl Gateway {
    /// Stops the gateway (SIGKILL: no orderly shutdown) and keeps its directory, whose path
    /// is returned: its store can then be opened by the test.
    pub fn stop_keeping_data(mut self) -> PathBuf {
        self.keep_dir = true;
        self.dir.clone()
    }

    /// Moves the RequestID counter `by` ahead (after a restart the harness counts from its
    /// start value again, which the gateway, keeping each User's last counter, refuses).
    pub fn advance_counter(&self, by: u64) {
        self.counter.fetch_add(by, Ordering::SeqCst);
    }

    /// Removes the kept message `seq` (`DELETE /api/v1/responses/{seq}`) with the header
    /// `auth` (`Authorization: Bearer …`); the HTTP status code it got.
    pub fn remove_message(&self, auth: &str, seq: u64) -> String {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "DELETE",
            ])
            .arg("--cacert")
            .arg(self.dir.join("data/tls/ca.pem"))
            .args(["-H", auth])
            .arg(format!("https://{}/api/v1/responses/{seq}", self.addr))
            .output()
            .expect("curl is needed for the end-to-end tests");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The process ID of the running `hubgate serve` (for reading `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The gateway's log so far (`stderr.log`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for `unix` seconds (the gateway's own formatter, whole seconds).
pub fn rfc3339(unix: i64) -> String {
    hubgate_gateway::clock::rfc3339_ms(unix * 1000).replace(".000Z", "Z")
}

impl Gateway {
    /// `hubgate <args> --url … --token-file … --ca …` against this gateway (the operator
    /// CLIs: `quarantine …`, `forecast …`): exit code and stdout+stderr.
    pub fn operator_cli(&self, token_file: &Path, args: &[&str]) -> (i32, String) {
        let out = hubgate()
            .args(args)
            .args(["--url", &format!("https://{}", self.addr)])
            .arg("--token-file")
            .arg(token_file)
            .arg("--ca")
            .arg(self.dir.join("data/tls/ca.pem"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }
}
