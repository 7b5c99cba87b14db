//! Benchmark support shared by the criterion benchmarks (`benches/protocol.rs`) and the ratio
//! harness (`src/bin/ratios.rs`).
//!
//! [`Fixtures::load`] reads the inputs once from the shared conformance corpus (RTDS GBCS
//! messages, the SMKI store, DUIS templates signed here at start-up). [`operations`] turns
//! them into a list of named [`Op`]s, each a closure doing one unit of work, so that both
//! harnesses measure exactly the same code. Every operation is checked once when it is built
//! (a signature must verify, a MAC must be valid, a document must read), so a benchmark can
//! never time an early error path.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    ParsedPublicKey,
};
use hubgate_protocol::crypto::{DerivedKeyCache, SigningKey};
use hubgate_protocol::duis::c14n::{self, Mode, Sha256Sink};
use hubgate_protocol::duis::xml::{self, Limits};
use hubgate_protocol::duis::{NS_DS, dsig, reader};
use hubgate_protocol::gbcs::auth::{self, MacVerdict, SignatureVerdict, TEST_ACB};
use hubgate_protocol::gbcs::{self, payload};
use hubgate_protocol::smki::{Certificate, Store};

pub mod cpu;

/// Why the fixtures could not be prepared.
pub type SetupError = String;

/// The DUIS signing key of the test PKI (an Other User, `90-B3-D5-1F-30-01-00-00`).
pub const DUIS_KEY: &str = "smki/xml-sign-90B3D51F30010000-ds.key";
/// Its certificate.
pub const DUIS_CERT: &str = "smki/xml-sign-90B3D51F30010000-ds.pem";
/// The DUIS template used for the single-document rows (a typical read request).
pub const DUIS_TEMPLATE: &str = "duis/templates/ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML";
/// A large DUIS template (an Auxiliary Proportional Controller schedule, about 26 kB).
pub const DUIS_TEMPLATE_LARGE: &str =
    "duis/templates/ECS46d_6.14.3_FUTURE_DATED_APC_OUTPUT_SUCCESS_REQUEST_DUIS.XML";

/// Size of the message signed and verified by the bare ECDSA rows.
pub const BARE_MSG_LEN: usize = 100;
/// Distinct messages cycled by the bare ECDSA rows.
const BARE_MSGS: usize = 16;

/// An RTDS GBCS file used by the benchmarks, with the role it plays.
#[derive(Debug, Clone, Copy)]
pub struct GbcsCase {
    /// Short name used in benchmark ids.
    pub name: &'static str,
    /// Path below `gbcs/rtds/`.
    pub path: &'static str,
}

/// A small MAC-wrapped response (gas meter, 89 bytes; the median MAC'd response).
pub const MAC_RESPONSE_SMALL: GbcsCase = GbcsCase {
    name: "mac_response",
    path: "14.1_GCS31/GCS31_14.1_SUCCESS_RESPONSE_GBCS.HEX",
};
/// A MAC-wrapped response with an encrypted block (read instantaneous registers).
pub const MAC_RESPONSE_ENCRYPTED: GbcsCase = GbcsCase {
    name: "mac_response_enc",
    path: "4.1.1_ECS17b/ECS17b_4.1.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX",
};
/// A large MAC-wrapped DLMS response (profile data with an encrypted block).
pub const MAC_RESPONSE_LARGE: GbcsCase = GbcsCase {
    name: "mac_response_large",
    path: "4.4.2_ECS20b/ECS20b_4.4.2_SINGLE_SUCCESS_RESPONSE_GBCS.HEX",
};
/// A typical device-signed response (the median signed response size).
pub const SIGNED_RESPONSE: GbcsCase = GbcsCase {
    name: "signed_response",
    path: "7.2_GCS32/GCS32_7.2_SUCCESS_RESPONSE_GBCS.HEX",
};
/// The largest device-signed response of the corpus.
pub const SIGNED_RESPONSE_LARGE: GbcsCase = GbcsCase {
    name: "signed_response_large",
    path: "NA_CS02bAnyByContingency/CS02bAnyByContingency_NA_SUCCESS_RESPONSE_GBCS.HEX",
};
/// A MAC-wrapped GBZ response (gas profile data, four encrypted components).
pub const GBZ_RESPONSE: GbcsCase = GbcsCase {
    name: "gbz_response",
    path: "4.4.2_GCS15b/GCS15b_4.4.2_SUCCESS_RESPONSE_GBCS.HEX",
};
/// A Pre-Command (a 3/4-percentile size).
pub const PRECOMMAND: GbcsCase = GbcsCase {
    name: "precommand",
    path: "1.6_ECS03/ECS03_1.6_CANCELLATION_TWIN_SUCCESS_PRECOMMAND_GBCS.HEX",
};

/// Every GBCS file the benchmarks load.
pub const GBCS_CASES: &[GbcsCase] = &[
    MAC_RESPONSE_SMALL,
    MAC_RESPONSE_ENCRYPTED,
    MAC_RESPONSE_LARGE,
    SIGNED_RESPONSE,
    SIGNED_RESPONSE_LARGE,
    GBZ_RESPONSE,
    PRECOMMAND,
];

/// Inputs read once from the conformance corpus.
pub struct Fixtures {
    /// The conformance root.
    pub root: PathBuf,
    /// The SMKI store (`gbcs/keystore` then `smki/`).
    pub store: Store,
    /// A derived-key cache, warmed by [`operations`] for the MAC rows.
    pub cache: DerivedKeyCache,
    /// The GBCS files, decoded from hex, in [`GBCS_CASES`] order.
    pub gbcs: Vec<(GbcsCase, Vec<u8>)>,
    /// The DUIS signing key.
    pub duis_key: SigningKey,
    /// Its certificate.
    pub duis_cert: Certificate,
    /// Path of the certificate, for `xmlsec1 --pubkey-cert-pem`.
    pub duis_cert_path: PathBuf,
    /// [`DUIS_TEMPLATE`] as read (with its placeholder signature).
    pub template: Vec<u8>,
    /// [`DUIS_TEMPLATE`] signed here.
    pub signed: Vec<u8>,
    /// [`DUIS_TEMPLATE_LARGE`] signed here.
    pub signed_large: Vec<u8>,
}

impl std::fmt::Debug for Fixtures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixtures")
            .field("root", &self.root)
            .field("gbcs", &self.gbcs.len())
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, SetupError> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads an RTDS `.HEX` file.
pub fn read_hex(path: &Path) -> Result<Vec<u8>, SetupError> {
    let text = read(path)?;
    let text = String::from_utf8(text).map_err(|e| format!("{}: {e}", path.display()))?;
    hubgate_protocol::hex::decode(&text).map_err(|e| format!("{}: {e}", path.display()))
}

impl Fixtures {
    /// Loads everything from the conformance corpus (found by
    /// [`hubgate_protocol::conformance::require`], which panics with advice if it is missing).
    ///
    /// # Errors
    ///
    /// A message naming the file that could not be read or used.
    pub fn load() -> Result<Fixtures, SetupError> {
        let root = hubgate_protocol::conformance::require();
        let store = Store::load_conformance(&root).map_err(|e| format!("SMKI store: {e}"))?;
        let mut gbcs = Vec::new();
        for case in GBCS_CASES {
            let bytes = read_hex(&root.join("gbcs/rtds").join(case.path))?;
            gbcs::parse(&bytes).map_err(|e| format!("{}: {e}", case.path))?;
            gbcs.push((*case, bytes));
        }
        let duis_key = SigningKey::from_pem_or_der(&read(&root.join(DUIS_KEY))?)
            .map_err(|e| format!("{DUIS_KEY}: {e}"))?;
        let duis_cert_path = root.join(DUIS_CERT);
        let duis_cert = Certificate::from_pem(&read(&duis_cert_path)?)
            .map_err(|e| format!("{DUIS_CERT}: {e}"))?;
        let template = read(&root.join(DUIS_TEMPLATE))?;
        let signed = dsig::sign_with_certificate(&template, &duis_key, &duis_cert)
            .map_err(|e| format!("signing {DUIS_TEMPLATE}: {e}"))?;
        let large = read(&root.join(DUIS_TEMPLATE_LARGE))?;
        let signed_large = dsig::sign_with_certificate(&large, &duis_key, &duis_cert)
            .map_err(|e| format!("signing {DUIS_TEMPLATE_LARGE}: {e}"))?;
        Ok(Fixtures {
            root,
            store,
            cache: DerivedKeyCache::new(1024),
            gbcs,
            duis_key,
            duis_cert,
            duis_cert_path,
            template,
            signed,
            signed_large,
        })
    }

    /// The bytes of a GBCS case.
    ///
    /// # Panics
    ///
    /// If `case` is not one of [`GBCS_CASES`].
    pub fn gbcs_bytes(&self, case: GbcsCase) -> &[u8] {
        self.gbcs
            .iter()
            .find(|(c, _)| c.path == case.path)
            .map(|(_, b)| b.as_slice())
            .unwrap_or_else(|| panic!("{} is not a loaded GBCS case", case.path))
    }

    /// Signs up to `count` DUIS templates, spread evenly over the sorted template folder, and
    /// returns `(file name, signed bytes)`. Templates our signer refuses are skipped.
    ///
    /// # Errors
    ///
    /// If the template folder cannot be read.
    pub fn signed_templates(&self, count: usize) -> Result<Vec<(String, Vec<u8>)>, SetupError> {
        let dir = self.root.join("duis/templates");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")))
            .collect();
        names.sort();
        let step = (names.len() / count.max(1)).max(1);
        let mut out = Vec::new();
        for path in names.iter().step_by(step) {
            if out.len() == count {
                break;
            }
            let bytes = read(path)?;
            if let Ok(signed) = dsig::sign_with_certificate(&bytes, &self.duis_key, &self.duis_cert)
                && dsig::verify(&signed, &self.duis_cert).is_ok()
            {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((name, signed));
            }
        }
        Ok(out)
    }
}

/// One benchmarked operation.
pub struct Op {
    /// Group, as in the criterion benchmark (`gbcs_parse`, `xmldsig_verify`, …).
    pub group: &'static str,
    /// Case within the group (`mac_response`, `ecs17b`, …).
    pub case: &'static str,
    /// What the input is, for tables (`89 B`, …).
    pub detail: String,
    /// Runs the operation once. Returns a value derived from the result so the optimiser
    /// cannot drop the work.
    pub run: Box<dyn FnMut() -> usize>,
}

impl Op {
    /// `group/case`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.group, self.case)
    }
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op")
            .field("id", &self.id())
            .field("detail", &self.detail)
            .finish_non_exhaustive()
    }
}

/// Group names, in the order [`operations`] returns them.
pub mod groups {
    /// aws-lc-rs ECDSA P-256 verify, parsed key, raw r‖s, 100-byte message.
    pub const ECDSA_VERIFY: &str = "ecdsa_verify";
    /// aws-lc-rs ECDSA P-256 sign, raw r‖s, 100-byte message.
    pub const ECDSA_SIGN: &str = "ecdsa_sign";
    /// `gbcs::parse`.
    pub const GBCS_PARSE: &str = "gbcs_parse";
    /// `gbcs::parse` + `auth::verify_signature`.
    pub const GBCS_VERIFY_SIGNATURE: &str = "gbcs_verify_signature";
    /// `gbcs::parse` + `auth::verify_mac`, warm derived-key cache.
    pub const GBCS_VERIFY_MAC: &str = "gbcs_verify_mac";
    /// `payload::decode_with` on an already located payload.
    pub const GBCS_PAYLOAD_DECODE: &str = "gbcs_payload_decode";
    /// `xml::parse` + `reader::read_request`.
    pub const DUIS_PARSE: &str = "duis_parse";
    /// `dsig::verify` with the SMKI store as resolver.
    pub const XMLDSIG_VERIFY: &str = "xmldsig_verify";
    /// `dsig::sign_with_certificate` of a template.
    pub const XMLDSIG_SIGN: &str = "xmldsig_sign";
    /// The stages of XML-DSig verify, each cumulative.
    pub const XMLDSIG_STAGES: &str = "xmldsig_stages";
    /// quick-xml tokenizing alone (events and attributes, no tree): a floor for `xml::parse`.
    pub const XML_FLOOR: &str = "xml_floor";
    /// `loadgen::answer::scan`: what the load generator reads from each answer.
    pub const ANSWER_SCAN: &str = "answer_scan";
}

fn check(ok: bool, what: &str) -> Result<(), SetupError> {
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what}: the operation did not succeed on its input"
        ))
    }
}

fn bytes_detail(n: usize) -> String {
    format!("{n} B")
}

/// Builds every operation over `fx`, checking that each succeeds on its input.
///
/// # Errors
///
/// A message naming the operation whose first run failed.
pub fn operations(fx: &Arc<Fixtures>) -> Result<Vec<Op>, SetupError> {
    let mut ops = Vec::new();
    bare_ecdsa(&mut ops)?;
    gbcs_ops(fx, &mut ops)?;
    duis_ops(fx, &mut ops)?;
    for op in &mut ops {
        check((op.run)() != 0, &op.id())?;
    }
    Ok(ops)
}

fn bare_ecdsa(ops: &mut Vec<Op>) -> Result<(), SetupError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|e| format!("P-256 key generation: {e}"))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|e| format!("P-256 key: {e}"))?;
    let public = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
        .map_err(|e| format!("P-256 public key: {e}"))?;
    let mut msgs = Vec::with_capacity(BARE_MSGS);
    for i in 0..BARE_MSGS {
        let mut m = vec![0u8; BARE_MSG_LEN];
        aws_lc_rs::rand::fill(&mut m).map_err(|e| format!("random: {e}"))?;
        m[0] = i as u8;
        let sig = pair
            .sign(&rng, &m)
            .map_err(|e| format!("P-256 sign: {e}"))?;
        msgs.push((m, sig.as_ref().to_vec()));
    }
    let msgs = Arc::new(msgs);

    let verify_msgs = Arc::clone(&msgs);
    let mut i = 0usize;
    ops.push(Op {
        group: groups::ECDSA_VERIFY,
        case: "p256_100B",
        detail: "aws-lc-rs, FIXED, parsed key, 100 B".into(),
        run: Box::new(move || {
            let (m, s) = &verify_msgs[i % BARE_MSGS];
            i = i.wrapping_add(1);
            usize::from(public.verify_sig(black_box(m), black_box(s)).is_ok())
        }),
    });

    let mut j = 0usize;
    ops.push(Op {
        group: groups::ECDSA_SIGN,
        case: "p256_100B",
        detail: "aws-lc-rs, FIXED_SIGNING, 100 B".into(),
        run: Box::new(move || {
            let (m, _) = &msgs[j % BARE_MSGS];
            j = j.wrapping_add(1);
            pair.sign(&rng, black_box(m))
                .map(|s| usize::from(s.as_ref()[0]) | 0x100)
                .unwrap_or(0)
        }),
    });
    Ok(())
}

fn gbcs_ops(fx: &Arc<Fixtures>, ops: &mut Vec<Op>) -> Result<(), SetupError> {
    for case in [MAC_RESPONSE_SMALL, SIGNED_RESPONSE_LARGE, PRECOMMAND] {
        let fx = Arc::clone(fx);
        ops.push(Op {
            group: groups::GBCS_PARSE,
            case: case.name,
            detail: bytes_detail(fx.gbcs_bytes(case).len()),
            run: Box::new(move || {
                gbcs::parse(black_box(fx.gbcs_bytes(case)))
                    .map(|m| m.content.len() + 1)
                    .unwrap_or(0)
            }),
        });
    }

    for case in [SIGNED_RESPONSE, SIGNED_RESPONSE_LARGE] {
        let fx = Arc::clone(fx);
        ops.push(Op {
            group: groups::GBCS_VERIFY_SIGNATURE,
            case: case.name,
            detail: bytes_detail(fx.gbcs_bytes(case).len()),
            run: Box::new(move || match gbcs::parse(black_box(fx.gbcs_bytes(case))) {
                Ok(m) => usize::from(matches!(
                    auth::verify_signature(&m, &fx.store),
                    SignatureVerdict::Verified { .. }
                )),
                Err(_) => 0,
            }),
        });
    }

    for case in [MAC_RESPONSE_SMALL, MAC_RESPONSE_ENCRYPTED] {
        let fx = Arc::clone(fx);
        // Warm the cache: the benchmark measures the steady state (ECDH already done).
        let msg = gbcs::parse(fx.gbcs_bytes(case)).map_err(|e| format!("{}: {e}", case.path))?;
        let warm = auth::verify_mac(&msg, &fx.store, &TEST_ACB, &fx.cache)
            .map_err(|e| format!("{}: {e}", case.path))?;
        check(matches!(warm, MacVerdict::Valid { .. }), case.path)?;
        ops.push(Op {
            group: groups::GBCS_VERIFY_MAC,
            case: case.name,
            detail: bytes_detail(fx.gbcs_bytes(case).len()),
            run: Box::new(move || match gbcs::parse(black_box(fx.gbcs_bytes(case))) {
                Ok(m) => usize::from(matches!(
                    auth::verify_mac(&m, &fx.store, &TEST_ACB, &fx.cache),
                    Ok(MacVerdict::Valid { .. })
                )),
                Err(_) => 0,
            }),
        });
    }

    for case in [
        MAC_RESPONSE_ENCRYPTED,
        MAC_RESPONSE_LARGE,
        GBZ_RESPONSE,
        SIGNED_RESPONSE_LARGE,
    ] {
        let fx = Arc::clone(fx);
        let msg = gbcs::parse(fx.gbcs_bytes(case)).map_err(|e| format!("{}: {e}", case.path))?;
        let range = msg.regions.content.clone();
        let ctx = payload::Context::for_message(&msg);
        let kind = payload::decode_with(msg.content, ctx)
            .map_err(|e| format!("{}: payload: {e}", case.path))?
            .kind()
            .name();
        let detail = format!("{}, {} B payload", kind, range.len());
        ops.push(Op {
            group: groups::GBCS_PAYLOAD_DECODE,
            case: case.name,
            detail,
            run: Box::new(move || {
                let content = &fx.gbcs_bytes(case)[range.clone()];
                payload::decode_with(black_box(content), ctx)
                    .map(|p| p.kind() as usize + 1)
                    .unwrap_or(0)
            }),
        });
    }
    Ok(())
}

fn duis_ops(fx: &Arc<Fixtures>, ops: &mut Vec<Op>) -> Result<(), SetupError> {
    let limits = Limits::default();
    {
        let fx = Arc::clone(fx);
        ops.push(Op {
            group: groups::DUIS_PARSE,
            case: "ecs17b",
            detail: format!("xml::parse + read_request, signed, {} B", fx.signed.len()),
            run: Box::new(move || {
                xml::parse(black_box(&fx.signed), &limits)
                    .ok()
                    .and_then(|doc| reader::read_request(&doc).ok())
                    .map_or(0, |r| r.header.request_id.counter as usize | 1)
            }),
        });
    }

    for (case, pick) in [("ecs17b", false), ("ecs46d_large", true)] {
        let fx = Arc::clone(fx);
        let len = if pick {
            fx.signed_large.len()
        } else {
            fx.signed.len()
        };
        ops.push(Op {
            group: groups::XMLDSIG_VERIFY,
            case,
            detail: format!("{len} B, signer found in the SMKI store"),
            run: Box::new(move || {
                let doc = if pick { &fx.signed_large } else { &fx.signed };
                dsig::verify(black_box(doc), &fx.store)
                    .map(|v| usize::from(v.digest[0]) | 0x100)
                    .unwrap_or(0)
            }),
        });
    }

    {
        let fx = Arc::clone(fx);
        ops.push(Op {
            group: groups::XMLDSIG_SIGN,
            case: "ecs17b",
            detail: format!("template {} B -> {} B", fx.template.len(), fx.signed.len()),
            run: Box::new(move || {
                dsig::sign_with_certificate(black_box(&fx.template), &fx.duis_key, &fx.duis_cert)
                    .map_or(0, |v| v.len())
            }),
        });
    }

    // How the gateway signs its answers: an I99 acknowledgement written directly in
    // canonical form, digested as written, the signature pasted in.
    {
        let fx = Arc::clone(fx);
        let ack = acknowledgement()?;
        ops.push(Op {
            group: groups::XMLDSIG_SIGN,
            case: "ack_canonical",
            detail: format!("I99 acknowledgement, {} B unsigned", ack.len()),
            run: Box::new(move || {
                dsig::sign_canonical(
                    black_box(&ack),
                    &fx.duis_key,
                    fx.duis_cert.issuer(),
                    fx.duis_cert.serial_decimal(),
                )
                .map_or(0, |v| v.len())
            }),
        });
    }

    // What loadgen reads from every answer it receives: a signed I99 acknowledgement.
    {
        let fx = Arc::clone(fx);
        let signed = dsig::sign_canonical(
            &acknowledgement()?,
            &fx.duis_key,
            fx.duis_cert.issuer(),
            fx.duis_cert.serial_decimal(),
        )
        .map_err(|e| format!("signing the acknowledgement: {e}"))?;
        check(
            hubgate_loadgen::answer::scan(&signed).is_ok(),
            "answer_scan/ack_signed",
        )?;
        ops.push(Op {
            group: groups::ANSWER_SCAN,
            case: "ack_signed",
            detail: format!("signed I99 acknowledgement, {} B", signed.len()),
            run: Box::new(move || {
                hubgate_loadgen::answer::scan(black_box(&signed))
                    .map_or(0, |a| a.response_date_time.len())
            }),
        });
    }

    // What the tokenizer under `xml::parse` costs by itself: every event and attribute
    // read, names and values borrowed, nothing built.
    for (case, pick) in [("ecs17b", false), ("ecs46d_large", true)] {
        let fx = Arc::clone(fx);
        ops.push(Op {
            group: groups::XML_FLOOR,
            case,
            detail: "quick-xml events + attributes, no tree".into(),
            run: Box::new(move || {
                let doc = if pick { &fx.signed_large } else { &fx.signed };
                tokenize(black_box(doc))
            }),
        });
    }

    // The stages of `dsig::verify`, each including the ones before it, over the same
    // documents as `xmldsig_verify/*`.
    for (cases, pick) in [(STAGES_SMALL, false), (STAGES_LARGE, true)] {
        for (stage, case) in cases.iter().enumerate() {
            let fx = Arc::clone(fx);
            ops.push(Op {
                group: groups::XMLDSIG_STAGES,
                case,
                detail: STAGE_DETAILS[stage].into(),
                run: Box::new(move || {
                    let doc = if pick { &fx.signed_large } else { &fx.signed };
                    verify_stages(black_box(doc), &limits, stage + 1)
                }),
            });
        }
    }
    Ok(())
}

/// Reads every event and attribute of `bytes` with quick-xml, building nothing. Returns the
/// number of events plus attribute bytes, or 0 on an error.
fn tokenize(bytes: &[u8]) -> usize {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut n = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                for a in e.attributes().with_checks(true) {
                    match a {
                        Ok(a) => n += a.key.0.len() + a.value.len(),
                        Err(_) => return 0,
                    }
                }
                n += e.name().0.len();
            }
            Ok(Event::Eof) => return n + 1,
            Ok(_) => n += 1,
            Err(_) => return 0,
        }
    }
}

/// Stage cases of `xmldsig_stages` for `xmldsig_verify/ecs17b`.
pub const STAGES_SMALL: [&str; 3] = [
    "ecs17b_1_parse",
    "ecs17b_2_parse_digest",
    "ecs17b_3_parse_digest_signedinfo",
];
/// Stage cases of `xmldsig_stages` for `xmldsig_verify/ecs46d_large`.
pub const STAGES_LARGE: [&str; 3] = [
    "ecs46d_large_1_parse",
    "ecs46d_large_2_parse_digest",
    "ecs46d_large_3_parse_digest_signedinfo",
];
const STAGE_DETAILS: [&str; 3] = [
    "xml::parse (and drop)",
    "+ inclusive C14N of the document + SHA-256",
    "+ exclusive C14N of SignedInfo",
];

/// The first `stages` steps of `dsig::verify`: 1 parse, 2 the Reference digest, 3 the
/// canonical SignedInfo. Returns 0 on failure.
fn verify_stages(bytes: &[u8], limits: &Limits, stages: usize) -> usize {
    let Ok(doc) = xml::parse(bytes, limits) else {
        return 0;
    };
    if stages < 2 {
        return doc.root.children.len() + 1;
    }
    let Some(sig) = doc.root.last_child_element() else {
        return 0;
    };
    let mut sink = Sha256Sink::new();
    c14n::canonicalize_document(&doc, Mode::Inclusive, Some(sig), &mut sink);
    let digest = usize::from(sink.finish().as_ref()[0]) | 0x100;
    if stages < 3 {
        return digest;
    }
    let Some(si) = sig.first_child(NS_DS, "SignedInfo") else {
        return 0;
    };
    let mut out = Vec::with_capacity(640);
    c14n::canonicalize_subtree(si, &[], Mode::Exclusive, None, &mut out);
    out.len() ^ digest
}

/// An I99 acknowledgement of a 4.1.1 request, in canonical form (what the gateway signs).
fn acknowledgement() -> Result<String, SetupError> {
    use hubgate_protocol::duis::model::header::{ServiceReference, ServiceReferenceVariant};
    use hubgate_protocol::duis::model::response::{
        Response, ResponseBody, ResponseCode, ResponseHeader, ResponseMessage,
    };
    use hubgate_protocol::duis::model::xsd::DateTime;
    let header = ResponseHeader {
        request_id: Some(
            "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1700000000123456"
                .parse()
                .map_err(|e| format!("RequestID: {e}"))?,
        ),
        response_id: None,
        response_code: ResponseCode::parse("I99").ok_or("I99 is not a response code")?,
        response_date_time: DateTime::new("2031-02-03T04:05:06.789Z")
            .map_err(|e| format!("dateTime: {e}"))?,
    };
    let body = ResponseBody::ResponseMessage(ResponseMessage {
        service_reference: ServiceReference::parse("4.1")
            .ok_or("4.1 is not a Service Reference")?,
        service_reference_variant: ServiceReferenceVariant::parse("4.1.1")
            .ok_or("4.1.1 is not a Service Reference Variant")?,
        payload: None,
    });
    hubgate_protocol::duis::writer::write_response_canonical(&Response::new(header, body))
        .ok_or_else(|| "the acknowledgement is not canonical".to_string())
}
