//! `hubgate duis sign` and `hubgate duis verify`: the DUIS XML-DSig profile from the command
//! line.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::duis::dsig::{self, KeySource, ResolvedCert, VerifyOptions};
use hubgate_protocol::smki::{Certificate, Store};

/// `hubgate duis …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Sign a DUIS document; the signed compact XML goes to standard output.
    Sign(SignArgs),
    /// Verify a signed DUIS document; exit 0 only when valid, 1 with the reason otherwise.
    Verify(VerifyArgs),
}

/// Arguments of `hubgate duis sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The XML-signing private key, PKCS#8 DER or PEM.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// The certificate of that key; its issuer and serial go into KeyInfo.
    #[arg(long, value_name = "CERT")]
    cert: PathBuf,
    /// Replace the RequestID counter before signing: a decimal number, or `now` for the
    /// current time in milliseconds (the DCC Boxed convention). By default it is kept.
    #[arg(long, value_name = "N|now")]
    counter: Option<String>,
    /// The DUIS document to sign (`-` for standard input). Any existing signature is replaced.
    file: String,
}

/// Arguments of `hubgate duis verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Verify with this certificate, ignoring KeyInfo; repeatable (each is tried).
    #[arg(long, value_name = "CERT")]
    cert: Vec<PathBuf>,
    /// Trust store for the KeyInfo serial lookup: a folder of certificates (with any
    /// keystore.json in it), a certificate file or a keystore.json; repeatable.
    #[arg(long, value_name = "DIR")]
    certs: Vec<PathBuf>,
    /// When the document as received fails, retry with whitespace-only text removed (what a
    /// schema-validating Java parser sees) and say so.
    #[arg(long)]
    tolerate_whitespace: bool,
    /// The signed DUIS document (`-` for standard input).
    file: String,
}

/// Runs `hubgate duis …`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Sign(a) => sign(a),
        Command::Verify(a) => verify(a),
    }
}

fn load_certificate(path: &PathBuf) -> anyhow::Result<Certificate> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let cert = if bytes.starts_with(b"-----") || bytes.iter().take(64).all(|b| b.is_ascii()) {
        Certificate::from_pem(&bytes)
    } else {
        Certificate::from_der(&bytes)
    };
    cert.with_context(|| format!("{} is not an X.509 certificate", path.display()))
}

fn sign(a: SignArgs) -> anyhow::Result<i32> {
    let key_bytes =
        std::fs::read(&a.key).with_context(|| format!("reading {}", a.key.display()))?;
    let key = SigningKey::from_pem_or_der(&key_bytes).with_context(|| {
        format!(
            "--key {}: not a P-256 private key in PKCS#8 DER or PEM",
            a.key.display()
        )
    })?;
    let cert = load_certificate(&a.cert)?;
    if key.public_key_id() != cert.key_id() {
        bail!(
            "--key {} does not belong to --cert {} (the public keys differ)",
            a.key.display(),
            a.cert.display()
        );
    }
    let mut doc = super::read_input(&a.file)?;
    if let Some(c) = &a.counter {
        let n: u64 = if c == "now" {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        } else {
            c.parse()
                .with_context(|| format!("--counter {c:?}: not a decimal number or `now`"))?
        };
        doc = with_counter(&doc, n)
            .with_context(|| format!("{}: cannot set the RequestID counter", a.file))?;
    }
    if let (Some(originator), Some(eui)) = (request_originator(&doc), cert.eui())
        && eui != originator
    {
        eprintln!(
            "hubgate: warning: RequestID originator {} is not the certificate's EUI {}",
            hubgate_protocol::hex::eui_duis(&originator),
            hubgate_protocol::hex::eui_duis(&eui)
        );
    }
    let signed = dsig::sign_with_certificate(&doc, &key, &cert)
        .with_context(|| format!("signing {}", a.file))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&signed)?;
    out.write_all(b"\n")?;
    Ok(0)
}

/// The document with its RequestID counter replaced (the document is re-serialised).
fn with_counter(doc: &[u8], counter: u64) -> anyhow::Result<Vec<u8>> {
    use hubgate_protocol::duis::{NS_SR, xml};
    let mut d = xml::parse(doc, &xml::Limits::default())?;
    let header = d
        .root
        .child_elements_mut()
        .find(|e| e.is(NS_SR, "Header"))
        .context("no sr:Header")?;
    let id = header
        .child_elements_mut()
        .find(|e| e.is(NS_SR, "RequestID"))
        .context("no sr:Header/sr:RequestID")?;
    let text = id.text().to_string();
    let (prefix, _) = text.rsplit_once(':').context("RequestID has no counter")?;
    let new = format!("{prefix}:{counter}");
    id.children.clear();
    id.push_text(&new);
    Ok(d.to_xml_string().into_bytes())
}

/// The originator EUI of a Request's RequestID, if the document is a readable Request.
fn request_originator(doc: &[u8]) -> Option<[u8; 8]> {
    use hubgate_protocol::duis::{NS_SR, xml};
    let d = xml::parse(doc, &xml::Limits::default()).ok()?;
    let id = d
        .root
        .first_child(NS_SR, "Header")?
        .first_child(NS_SR, "RequestID")?
        .text();
    hubgate_protocol::hex::parse_eui(id.split(':').next()?)
}

fn verify(a: VerifyArgs) -> anyhow::Result<i32> {
    if a.cert.is_empty() && a.certs.is_empty() {
        bail!("give the signer's certificate with --cert CERT, or a trust store with --certs DIR");
    }
    let doc = super::read_input(&a.file)?;
    let options = VerifyOptions {
        whitespace_fallback: a.tolerate_whitespace,
        ..Default::default()
    };
    let result = if !a.cert.is_empty() {
        let certs = a
            .cert
            .iter()
            .map(load_certificate)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut last = None;
        for (cert, path) in certs.iter().zip(&a.cert) {
            let resolved = ResolvedCert::from_certificate(cert, path.display().to_string());
            match dsig::verify_with(&doc, KeySource::Explicit(&resolved), &options) {
                Ok(v) => {
                    last = Some(Ok(v));
                    break;
                }
                Err(e) => last = Some(Err(e)),
            }
        }
        last.context("no certificate given")?
    } else {
        let mut store = Store::new();
        for p in &a.certs {
            if p.is_dir() {
                store.load_dir(p)
            } else if p.extension().is_some_and(|e| e == "json") {
                store.load_keystore_json(p)
            } else {
                let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                store
                    .add_certificate(&bytes, &p.display().to_string())
                    .map(|_| ())
            }
            .with_context(|| format!("loading trust store {}", p.display()))?;
        }
        dsig::verify_with(&doc, KeySource::KeyInfo(&store), &options)
    };
    match result {
        Ok(v) => {
            let serial = v.serial.as_deref().unwrap_or("none");
            let ws = if v.whitespace_stripped {
                " (after removing whitespace-only text)"
            } else {
                ""
            };
            println!("VALID: signed by {} (KeyInfo serial {serial}){ws}", v.label);
            Ok(0)
        }
        Err(e) => {
            println!("INVALID: {e}");
            Ok(1)
        }
    }
}
