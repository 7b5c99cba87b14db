//! The `hil-rig` process next to a test gateway: building the binary, the client
//! certificate the rig presents, and `hil-rig emulate` with one premises run until it has
//! registered its hub over the SMWAN link.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Gateway, SUPPLIER, Seeds};

/// The `hil-rig` binary, built next to `hubgate` (same profile) when missing or stale.
pub fn hil_rig() -> PathBuf {
    let hubgate = PathBuf::from(env!("CARGO_BIN_EXE_hubgate"));
    let dir = hubgate.parent().unwrap();
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args(["build", "-q", "-p", "hubgate-hil-rig", "--bin", "hil-rig"]);
    if dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().expect("running cargo to build hil-rig");
    assert!(status.success(), "building hil-rig failed");
    dir.join(format!("hil-rig{}", std::env::consts::EXE_SUFFIX))
}

/// Writes the device certificates of one premises from `first_eui` into `keys_out` with
/// `hil-rig keys` (the gateway loads them at start).
pub fn device_keys(bin: &Path, first_eui: &str, keys_out: &Path) {
    let out = Command::new(bin)
        .args([
            "keys",
            "--hubs",
            "1",
            "--first-eui",
            first_eui,
            "--keys-out",
        ])
        .arg(keys_out)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An SMWAN rig certificate and key the gateway's local TLS CA issued:
/// `data/tls/rigs/<stem>.pem` (`any`, `north`, `4g-south`, …).
pub fn rig_cert(gw: &Gateway, stem: &str) -> (PathBuf, PathBuf) {
    let cert = gw.dir.join("data/tls/rigs").join(format!("{stem}.pem"));
    assert!(cert.is_file(), "no rig certificate {}", cert.display());
    (cert.clone(), cert.with_extension("key"))
}

/// The first User client certificate and key in `data/tls/clients` (not a rig certificate).
pub fn user_client_cert(gw: &Gateway) -> (PathBuf, PathBuf) {
    let mut certs: Vec<PathBuf> = std::fs::read_dir(gw.dir.join("data/tls/clients"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
        .collect();
    certs.sort();
    let cert = certs
        .first()
        .expect("a client certificate in data/tls/clients")
        .clone();
    let key = cert.with_extension("key");
    (cert, key)
}

/// A running rig, killed on drop, with its stdout lines on a channel.
pub struct Rig {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Rig {
    /// Waits up to `wait` until the rig prints (from now on) that it registered its hub;
    /// fails the test with the rig's log `log` otherwise.
    pub fn wait_registered(&self, log: &Path, wait: Duration) {
        self.wait_for("registered 1 hubs", log, wait);
    }

    /// Waits up to `wait` until the rig prints (from now on) a line starting with `prefix`;
    /// fails the test with the rig's log `log` otherwise.
    pub fn wait_for(&self, prefix: &str, log: &Path, wait: Duration) {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return,
                Ok(_) => {}
                Err(_) => panic!(
                    "the rig did not register:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                ),
            }
        }
    }
}

/// Starts `hil-rig emulate` (binary `bin`) with one premises whose hub is `first_eui`
/// against `gw`'s SMWAN address `smwan`, writing its keys to `keys` and its stderr to `log`,
/// and waits up to `wait` until it has registered its hub.
pub fn start_rig(
    bin: &Path,
    gw: &Gateway,
    first_eui: &str,
    smwan: &str,
    files: (&Path, &Path),
    wait: Duration,
) -> Rig {
    let rig = spawn_rig(bin, gw, first_eui, smwan, files);
    rig.wait_registered(files.1, wait);
    rig
}

/// Starts `hil-rig emulate` as [`start_rig`] does, without waiting for anything.
pub fn spawn_rig(
    bin: &Path,
    gw: &Gateway,
    first_eui: &str,
    smwan: &str,
    files: (&Path, &Path),
) -> Rig {
    spawn_rig_as(bin, gw, first_eui, smwan, files, rig_cert(gw, "any"))
}

/// Starts `hil-rig emulate` as [`spawn_rig`] does, presenting the client certificate and
/// key `(cert, key)`.
pub fn spawn_rig_as(
    bin: &Path,
    gw: &Gateway,
    first_eui: &str,
    smwan: &str,
    (keys, log): (&Path, &Path),
    (cert, key): (PathBuf, PathBuf),
) -> Rig {
    let mut child = Command::new(bin)
        .args(["emulate", "--hubs", "1", "--first-eui", first_eui])
        .args(["--gateway", smwan])
        .arg("--ca")
        .arg(gw.dir.join("data/tls/ca.pem"))
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg("--parties")
        .arg(gw.root.join("smki"))
        .arg("--keys-out")
        .arg(keys)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Rig { child, lines: rx }
}

/// A gateway `name` with no emulated premises and an SMWAN listener on a free port, whose
/// inventory holds the rig's hub `chf` (CSP region North) and ESME `esme` (MPAN `mpan`, registered to the
/// supplier), reading device keys from `keys`; `response_timeout_ms` bounds each command. The
/// gateway and its SMWAN address.
pub fn start_smwan_gateway(
    name: &str,
    token: &str,
    (chf, esme, mpan): (&str, &str, &str),
    response_timeout_ms: &str,
    keys: &Path,
) -> (Gateway, String) {
    let inventory = format!(
        "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with,csp_region\n\
         {chf},CHF,Commissioned,106C,433100AC,,,EM1 1AA,1,,North\n\
         {esme},ESME,Commissioned,EE01,010A030B,{mpan},,EM1 1AA,1,{chf},\n"
    );
    let registration = format!(
        "mpxn,fuel,role,party,effective_from,effective_to\n{mpan},electricity,IS,{SUPPLIER},2000-01-01,\n"
    );
    let keys_env = keys.to_string_lossy().to_string();
    let gw = Gateway::start(
        name,
        Seeds {
            inventory: Some(&inventory),
            registration: Some(&registration),
            env: &[
                ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", token),
                ("HUBGATE_EMULATION__HUBS", "0"),
                ("HUBGATE_ROUTING__RESPONSE_TIMEOUT_MS", response_timeout_ms),
                ("HUBGATE_SMWAN__LISTEN", "127.0.0.1:0"),
                ("HUBGATE_SMWAN__DEVICE_KEYS", &keys_env),
            ],
            ..Seeds::default()
        },
    );
    let smwan = gw
        .startup
        .lines()
        .find_map(|l| l.strip_prefix("SMWAN listening on quic://"))
        .unwrap_or_else(|| panic!("no SMWAN listener:\n{}", gw.startup))
        .trim()
        .to_string();
    (gw, smwan)
}
