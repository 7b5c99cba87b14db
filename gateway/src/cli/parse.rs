//! `hubgate parse`: GBCS Parse (SEC H11) for Users and tests.

use anyhow::Context as _;
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::gbcs::{self, Cra, SignatureField, Supplementary, auth, payload};
use hubgate_protocol::hex;
use hubgate_protocol::smki::Store;
use serde_json::{Value, json};

/// Arguments of `hubgate parse`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Key store folder (RTDS-style `.pem`/`.key` files or a DCC Boxed `smki` folder with
    /// `keystore.json`); repeatable. Without one, signatures and MACs report `no-key`.
    #[arg(long = "keystore", value_name = "DIR")]
    keystores: Vec<std::path::PathBuf>,
    /// EUI of the Access Control Broker, whose key-agreement key MACs commands.
    #[arg(long, default_value = "90b3d51f30000002", value_name = "EUI")]
    acb: String,
    /// Files (hex, base64 or DUIS XML carrying GBCSPayload elements), hex or base64 strings,
    /// or `-` for standard input.
    #[arg(required = true)]
    inputs: Vec<String>,
}

/// Runs the command: prints one JSON object per message; exit 1 if any check fails.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let checker = Checker::load(&args.keystores, &args.acb)?;
    let mut failed = false;
    for input in &args.inputs {
        let raw = if input == "-" || std::path::Path::new(input).is_file() {
            super::read_input(input)?
        } else {
            input.clone().into_bytes()
        };
        let messages = split_messages(&raw).with_context(|| format!("reading {input}"))?;
        if messages.is_empty() {
            anyhow::bail!("no GBCS message found in {input}");
        }
        for bytes in &messages {
            let (mut v, ok) = describe(bytes, &checker);
            if let Some(o) = v.as_object_mut() {
                o.insert("source".into(), json!(input));
            }
            failed |= !ok;
            println!("{v}");
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// Finds the GBCS messages in the input: base64 in `GBCSPayload`/`DeviceGBCSResponse` elements
/// of a DUIS document, or one hex/base64 string.
pub fn split_messages(raw: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(raw)
        .context("input is not UTF-8 text")?
        .trim();
    if text.starts_with('<') {
        let doc = hubgate_protocol::duis::xml::parse(text.as_bytes(), &Default::default())
            .context("input looks like XML but is not a well-formed DUIS document")?;
        let mut out = Vec::new();
        collect_payloads(&doc.root, &mut out)?;
        return Ok(out);
    }
    Ok(vec![decode_text(text)?])
}

fn collect_payloads(
    e: &hubgate_protocol::duis::xml::Element,
    out: &mut Vec<Vec<u8>>,
) -> anyhow::Result<()> {
    if e.local == "GBCSPayload" || e.local == "DeviceGBCSResponse" {
        out.push(decode_base64(&e.text()).with_context(|| format!("{} is not base64", e.local))?);
    }
    for c in e.child_elements() {
        collect_payloads(c, out)?;
    }
    Ok(())
}

fn decode_base64(s: &str) -> anyhow::Result<Vec<u8>> {
    hubgate_protocol::duis::model::xsd::decode_base64(s).map_err(anyhow::Error::msg)
}

/// Hex if it is all hex digits (with optional whitespace/colons), base64 otherwise.
fn decode_text(s: &str) -> anyhow::Result<Vec<u8>> {
    if s.chars()
        .all(|c| c.is_ascii_hexdigit() || c.is_ascii_whitespace() || c == ':')
    {
        Ok(hex::decode(s)?)
    } else {
        decode_base64(s).context("input is neither hex nor base64")
    }
}

/// What `describe` verifies with.
#[derive(Debug)]
pub struct Checker {
    /// Certificates and keys.
    pub store: Store,
    /// ECDH results.
    pub cache: DerivedKeyCache,
    /// The ACB EUI.
    pub acb: [u8; 8],
}

impl Checker {
    /// Loads the key stores.
    pub fn load(dirs: &[std::path::PathBuf], acb: &str) -> anyhow::Result<Self> {
        let mut store = Store::new();
        for d in dirs {
            store
                .load_dir(d)
                .with_context(|| format!("loading key store {}", d.display()))?;
        }
        let acb = hex::parse_eui(acb).with_context(|| format!("--acb {acb:?} is not an EUI-64"))?;
        Ok(Checker {
            store,
            cache: DerivedKeyCache::default(),
            acb,
        })
    }
}

/// One message as JSON, and whether every check passed (no parse error, no failed
/// signature, MAC or invoke-id check; `no-key` is not a failure).
pub fn describe(bytes: &[u8], checker: &Checker) -> (Value, bool) {
    let m = match gbcs::parse(bytes) {
        Ok(m) => m,
        Err(e) => {
            return (
                json!({"ok": false, "error": format!("parse error: {e}"), "length": bytes.len()}),
                false,
            );
        }
    };
    let mut failures: Vec<String> = Vec::new();
    let h = &m.header;
    let kind = match h.cra {
        Cra::Command if m.is_precommand() => "precommand",
        Cra::Command => "command",
        Cra::Response => "response",
        Cra::Alert => "alert",
    };
    let supplementary = match h.other_info.supplementary {
        Supplementary::None => Value::Null,
        s => json!({
            "remote_party": s.remote_party().map(|e| hex::eui(&e)),
            "remote_party_counter": s.remote_party_counter().map(|c| c.to_string()),
            "originator_counter": s.originator_counter().map(|c| c.to_string()),
            "certificate": match s {
                Supplementary::Certificate { certificate, .. } => Some(hex::encode(certificate)),
                _ => None,
            },
        }),
    };
    let sig = auth::verify_signature(&m, &checker.store);
    if matches!(sig, auth::SignatureVerdict::Failed) {
        failures.push("signature does not verify".into());
    }
    let signature = json!({
        "present": matches!(m.signature, SignatureField::Present(_)),
        "result": sig.name(),
        "valid": match sig {
            auth::SignatureVerdict::Verified { .. } => Some(true),
            auth::SignatureVerdict::Failed => Some(false),
            _ => None,
        },
        "signer": sig.signer_label(),
    });
    let mac = match auth::verify_mac(&m, &checker.store, &checker.acb, &checker.cache) {
        Ok(v) => {
            if matches!(v, auth::MacVerdict::Invalid) {
                failures.push("MAC does not verify".into());
            }
            json!({
                "present": m.is_mac_wrapped(),
                "result": v.name(),
                "valid": match v {
                    auth::MacVerdict::Valid { .. } => Some(true),
                    auth::MacVerdict::Invalid => Some(false),
                    _ => None,
                },
                "key_pair": v.key_pair_label(),
            })
        }
        Err(e) => {
            failures.push(format!("MAC check: {e}"));
            json!({"present": m.is_mac_wrapped(), "result": "error", "valid": null, "error": e.to_string()})
        }
    };
    let payload = match payload::decode_with(m.content, payload::Context::for_message(&m)) {
        Ok(p) => {
            if let Some(id) = p.invoke_id()
                && !id.matches_counter(h.counter)
            {
                failures.push("DLMS invoke-id does not match the originator counter".into());
            }
            let base = m.regions.content.start;
            let mut shown = Vec::new();
            let mut blocks = Vec::new();
            match auth::decrypt_blocks(&m, &checker.store, &checker.cache) {
                Ok(list) => {
                    for b in list {
                        let ct = b.block.ciphertext.start - base..b.block.ciphertext.end - base;
                        blocks.push(json!({
                            "ciphertext": [b.block.ciphertext.start, b.block.ciphertext.end],
                            "decrypted": b.plaintext().is_some(),
                            "key_pair": b.key_pair_label(),
                        }));
                        if let Some(pt) = b.plaintext() {
                            shown.push((ct, pt.to_vec()));
                        }
                    }
                }
                Err(e) => failures.push(format!("decryption: {e}")),
            }
            json!({"structure": p.to_json_with(&shown), "encrypted_blocks": blocks})
        }
        Err(e) => {
            failures.push(format!("payload: {e}"));
            json!({"error": e.to_string()})
        }
    };
    let r = &m.regions;
    let span = |x: &std::ops::Range<usize>| json!([x.start, x.end]);
    let opt = |x: &Option<std::ops::Range<usize>>| x.as_ref().map(span);
    let regions = json!({
        "mac_header": r.mac_header.as_ref().map(|h| json!([h.start, r.security_header.as_ref().map_or(h.end, |s| s.end)])),
        "ciphered_length_field": opt(&r.ciphered_length_field),
        "security_header": opt(&r.security_header),
        "general_signing_apdu": span(&r.apdu),
        "signed": span(&r.signed),
        "cra_flag": span(&r.cra_flag),
        "originator_counter": span(&r.originator_counter),
        "originator": span(&r.originator),
        "recipient": span(&r.recipient),
        "date_time": span(&r.date_time),
        "other_information": span(&r.other_information),
        "content": span(&r.content),
        "signature_length_field": opt(&r.signature_length_field),
        "signature": opt(&r.signature),
        "mac": opt(&r.mac),
    });
    let ok = failures.is_empty();
    let v = json!({
        "kind": kind,
        "cra": h.cra.name(),
        "counter": h.counter.to_string(),
        "originator": hex::eui(&h.originator),
        "recipient": hex::eui(&h.recipient),
        "message_code": format!("0x{:04X}", h.other_info.message_code),
        "use_case": gbcs::message_codes::use_case(h.other_info.message_code),
        "date_time": h.date_time.map(|d| d.to_string()),
        "supplementary": supplementary,
        "signature": signature,
        "mac": mac,
        "payload": payload,
        "regions": regions,
        "length": bytes.len(),
        "ok": ok,
        "failures": failures,
    });
    (v, ok)
}
