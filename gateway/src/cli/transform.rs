//! `hubgate transform`: what the gateway would send for a DUIS Service Request.
//!
//! Prints, as upper-case hex on one line (the form of the RTDS `.HEX` files), the Pre-Command
//! for a critical SRV (returned to the User for signing) or the MAC-wrapped Command for a
//! non-critical one (sent to the device; MAC'd with the ACB's key-agreement key from the key
//! store). The key store defaults to the RTDS key store of the conformance corpus when it is
//! present.

use anyhow::Context as _;
use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::duis::reader;
use hubgate_protocol::smki::Store;
use hubgate_protocol::transform::{
    self, Context, DeviceType, TransformError, Transformed, UtcDateTime,
};
use hubgate_protocol::{conformance, hex};

/// Arguments of `hubgate transform`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An SMKI folder (certificates, keys, `keystore.json`) to load as well; repeatable.
    #[arg(long = "smki", value_name = "DIR")]
    smki: Vec<std::path::PathBuf>,
    /// Key store folder (RTDS-style `<eui>-<ds|ka>.<pem|key>` files); repeatable. Default:
    /// the RTDS key store of the conformance corpus, when present.
    #[arg(long = "keystore", value_name = "DIR")]
    keystores: Vec<std::path::PathBuf>,
    /// The target device's type (ESME, GSME, GPF, CHF, PPMID, HCALCS). Default: the device
    /// type the SRV's supported use cases address for this body, when that is unambiguous.
    #[arg(long, value_name = "TYPE")]
    device_type: Option<DeviceType>,
    /// The ESME is a twin-element meter.
    #[arg(long)]
    twin_element: bool,
    /// The ESME is a polyphase meter (4.10 and 6.27 then produce ECS23b and ECS29f).
    #[arg(long)]
    polyphase: bool,
    /// The requester acts as a network operator (6.13's ALCS event log read is then ECS35g).
    #[arg(long)]
    network_operator: bool,
    /// The GBCS use case to produce, where the SRV has several for the device type.
    #[arg(long, value_name = "NAME")]
    use_case: Option<String>,
    /// EUI of the Access Control Broker.
    #[arg(long, default_value = "90b3d51f30000002", value_name = "EUI")]
    acb: String,
    /// The current time (xs:dateTime) that ZigBee commands carry as their issuer event ID.
    /// Default: now.
    #[arg(long, value_name = "DATETIME")]
    now: Option<String>,
    /// The DCC's own originator counter, for the use cases the ACB originates.
    #[arg(long, value_name = "N")]
    dcc_counter: Option<u64>,
    /// For 9.1: the Customer Identification Number (four digits) the command sets. Default:
    /// a new random one, printed on standard error.
    #[arg(long, value_name = "DIGITS")]
    cin: Option<String>,
    /// The Transitional Change of Supplier party and its counter, for 6.23 (`EUI:N`).
    #[arg(long, value_name = "EUI:N")]
    cos_party: Option<String>,
    /// Print the APDU without the MAC wrapper (the Pre-Command, or the APDU with its null
    /// signature), and no signature of the ACB or the CoS party.
    #[arg(long)]
    apdu: bool,
    /// The DUIS Service Request (file, or `-` for standard input).
    request: String,
}

/// Runs the command: prints the hex; exit 0, or an error naming the field or SRV.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let xml = super::read_input(&args.request)?;
    let request = reader::parse_request(&xml, &Default::default())
        .with_context(|| format!("{}: not a valid DUIS request", args.request))?;
    let acb = hex::parse_eui(&args.acb)
        .with_context(|| format!("--acb {:?} is not an EUI-64", args.acb))?;
    let now = match &args.now {
        Some(t) => UtcDateTime::parse(t).with_context(|| format!("--now {t:?}"))?,
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs();
            UtcDateTime::from_unix(i64::try_from(secs).context("the system clock")?)
        }
    };
    let cos_party = match &args.cos_party {
        None => None,
        Some(s) => {
            let (eui, n) = s
                .split_once(':')
                .with_context(|| format!("--cos-party {s:?}: expected EUI:COUNTER"))?;
            Some((
                hex::parse_eui(eui)
                    .with_context(|| format!("--cos-party {s:?}: {eui:?} is not an EUI-64"))?,
                n.parse::<u64>()
                    .with_context(|| format!("--cos-party {s:?}: {n:?} is not a counter"))?,
            ))
        }
    };
    let cin = match &args.cin {
        Some(c) if transform::is_cin(c) => Some(c.clone()),
        Some(c) => anyhow::bail!("--cin {c:?}: a Customer Identification Number is four digits"),
        None if request.header.service_reference_variant.as_str() == "9.1" => {
            let c = transform::random_cin()?;
            eprintln!("hubgate: Customer Identification Number {c}");
            Some(c)
        }
        None => None,
    };
    let context = |device_type| {
        let mut c = Context::new(device_type, acb, now);
        c.twin_element = args.twin_element;
        c.polyphase = args.polyphase;
        c.network_operator = args.network_operator;
        c.use_case = args.use_case.clone();
        c.dcc_counter = args.dcc_counter;
        c.cos_party = cos_party;
        c.cin = cin.clone();
        c
    };
    let transformed = match args.device_type {
        Some(d) => transform::transform(&request, &context(d))?,
        None => infer_device_type(&request, context)?,
    };
    if args.apdu {
        println!("{}", hex::encode(transformed.apdu()).to_uppercase());
        return Ok(0);
    }
    let out = if transformed.critical {
        transformed.apdu().to_vec()
    } else {
        let store = load_store(&args)?;
        transformed
            .command(&store, &DerivedKeyCache::default())
            .with_context(|| format!("SRV {}: building the Command", transformed.srv))?
    };
    println!("{}", hex::encode(&out).to_uppercase());
    Ok(0)
}

/// Transforms for the only device type that has a use case for this request.
fn infer_device_type(
    request: &hubgate_protocol::duis::model::Request,
    context: impl Fn(DeviceType) -> Context,
) -> anyhow::Result<Transformed> {
    let mut done: Vec<(DeviceType, Transformed)> = Vec::new();
    let mut first_error: Option<TransformError> = None;
    for d in DeviceType::ALL {
        match transform::transform(request, &context(d)) {
            Ok(t) => done.push((d, t)),
            Err(TransformError::DeviceType { .. }) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let same = done.windows(2).all(|w| w[0].1.apdu() == w[1].1.apdu());
    match done.len() {
        1.. if same => Ok(done.remove(0).1),
        0 => Err(match first_error {
            Some(e) => e.into(),
            None => anyhow::anyhow!(
                "SRV {}: no supported use case for any device type",
                request.header.service_reference_variant.as_str()
            ),
        }),
        _ => {
            let names: Vec<String> = done
                .iter()
                .map(|(d, t)| format!("{d} ({})", t.use_case))
                .collect();
            anyhow::bail!(
                "SRV {} is transformed differently for {}: give --device-type",
                request.header.service_reference_variant.as_str(),
                names.join(", ")
            )
        }
    }
}

/// The key store: `--keystore` folders (default: the corpus's RTDS key store) and `--smki`
/// folders.
fn load_store(args: &Args) -> anyhow::Result<Store> {
    let mut store = Store::new();
    let mut dirs = args.keystores.clone();
    if dirs.is_empty()
        && let Some(root) = conformance::root()
    {
        dirs.push(root.join("gbcs/keystore"));
    }
    dirs.extend(args.smki.iter().cloned());
    if dirs.is_empty() {
        anyhow::bail!(
            "a non-critical SRV is MAC-wrapped with the ACB's key: give --keystore DIR (no \
             conformance corpus was found to default to; set {} to it)",
            conformance::ENV_VAR
        );
    }
    for d in &dirs {
        store
            .load_dir(d)
            .with_context(|| format!("loading key store {}", d.display()))?;
    }
    Ok(store)
}
