//! Requests built from the DUIS conformance templates: one template per SRV and device type,
//! its RequestID replaced (the sending User, the chosen device, the next counter) and the
//! whole document XML-signed with the User's key. Critical SRVs are sent as their template
//! says (CommandVariant 4, Transform); [`signed_precommand_request`] builds the CommandVariant
//! 5 request that follows once the Pre-Command is back.
//!
//! Which device type a template addresses comes from its GBCS use case, the file name's
//! prefix, as in the gateway's inventory check: `ECS…` an ESME, `GCS…` a GSME (or the GPF
//! when the name says so), `CS01a`/`CS01b` ESME/GSME top-ups, `CCS…`/`DBCH…` and the identity
//! reads `ECS26i`/`ECS26n` the CHF, `PCS…` a PPMID, other `CS…` an ESME or a GSME.
//! Non-device SRVs (CommandVariant 8) keep the template's target, the DCC; a `DeviceID` in
//! their body (8.2 Read Inventory) is replaced with one of the User's devices.
//!
//! Of several templates for one SRV and device type, the one chosen is the plainest success
//! case: `IMMEDIATE`/`SINGLE` preferred; `CANCELLATION`, `TWIN` (twin-element meters),
//! `UNRELIABLE`, error cases and network-operator variants avoided; future-dated ones only
//! with `templates.future_dated`. `templates.files` overrides the choice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hubgate_protocol::catalogue::{Catalogue, Srv};
use hubgate_protocol::duis::dsig;
use hubgate_protocol::duis::model::body::{Body, SignedPreCommand};
use hubgate_protocol::duis::model::header::{CommandVariant, RequestHeader, RequestId};
use hubgate_protocol::duis::model::request::Request;
use hubgate_protocol::duis::reader;
use hubgate_protocol::duis::xml::Limits;
use hubgate_protocol::hex;

use crate::targets::DeviceKind;
use crate::users::User;

/// One usable template.
#[derive(Clone)]
pub struct Template {
    /// File name.
    pub file: String,
    /// The SRV.
    pub srv: String,
    /// Its CommandVariant.
    pub cv: u8,
    /// Device types it may address (empty: a non-device request).
    pub kinds: Vec<DeviceKind>,
    /// Its `ExecutionDateTime` (future dated), as written.
    pub execution: Option<String>,
    /// The same instant in Unix milliseconds.
    pub execution_ms: Option<i64>,
    /// The document text (unsigned).
    text: String,
    /// The template's target (kept for non-device requests).
    target: [u8; 8],
    /// Non-device request naming a device in its body.
    body_device: bool,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("file", &self.file)
            .field("srv", &self.srv)
            .field("cv", &self.cv)
            .field("kinds", &self.kinds)
            .field("execution", &self.execution)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// The HTTP path for its CommandVariant.
    pub fn path(&self) -> &'static str {
        service_path(self.cv)
    }

    /// Whether this SRV is critical and sent for transformation (CommandVariant 4).
    pub fn is_transform(&self) -> bool {
        self.cv == 4
    }

    /// Device types a non-device request may name in its body.
    pub fn body_kinds(&self) -> &'static [DeviceKind] {
        if self.body_device {
            &[DeviceKind::Esme, DeviceKind::Gsme, DeviceKind::Chf]
        } else {
            &[]
        }
    }

    /// The request for `user` to `target` (`None`: the template's own target) with
    /// `counter`, body device `body_device` if the template names one; unsigned.
    pub fn render(
        &self,
        user: &User,
        target: Option<[u8; 8]>,
        counter: u64,
        body_device: Option<[u8; 8]>,
    ) -> Result<(String, RequestId), String> {
        let id = RequestId::new(user.id, target.unwrap_or(self.target), counter);
        let mut text = replace_element(&self.text, "RequestID", &id.to_string())
            .ok_or_else(|| format!("{}: no sr:RequestID", self.file))?;
        if let Some(d) = body_device
            && self.body_device
        {
            text = replace_element(&text, "DeviceID", &hex::eui_duis(&d)).unwrap_or(text);
        }
        Ok((text, id))
    }
}

/// The web service path for a CommandVariant (DCC Boxed paths).
pub fn service_path(cv: u8) -> &'static str {
    match cv {
        4 => "/api/v1/serviceT",
        2 | 6 | 8 => "/api/v1/serviceD",
        _ => "/api/v1/serviceS",
    }
}

/// Replaces the text of the first `<sr:NAME>` element.
fn replace_element(text: &str, name: &str, value: &str) -> Option<String> {
    let open = format!("<sr:{name}>");
    let close = format!("</sr:{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some(format!("{}{value}{}", &text[..start], &text[end..]))
}

/// Device types the use case in a template's file name addresses.
fn kinds_of(file: &str) -> Vec<DeviceKind> {
    use DeviceKind::*;
    let uc = file.split('_').next().unwrap_or_default();
    let upper = file.to_ascii_uppercase();
    if matches!(uc, "ECS26i" | "ECS26n") || uc.starts_with("CCS") || uc.starts_with("DBCH") {
        vec![Chf]
    } else if uc.starts_with("ECS") || uc == "CS01a" {
        vec![Esme]
    } else if uc.starts_with("GCS") {
        if upper.contains("GPF") {
            vec![Gpf]
        } else {
            vec![Gsme]
        }
    } else if uc == "CS01b" {
        vec![Gsme]
    } else if uc.starts_with("PCS") {
        vec![Ppmid]
    } else {
        vec![Esme, Gsme]
    }
}

/// How plain a success case the file name says it is (higher is better); `None` to skip.
fn score(file: &str, future_dated: bool, dated: bool) -> Option<i32> {
    let f = file.to_ascii_uppercase();
    if f.contains("ERROR") || f.contains("FAILURE") {
        return None;
    }
    if dated && !future_dated {
        return None;
    }
    let mut s = 0;
    for (word, w) in [
        ("SUCCESS", 4),
        ("IMMEDIATE", 3),
        ("SINGLE", 2),
        ("RELIABLE_GSME", 1),
        ("SUPPLIERBYSUPPLIER", 2),
        ("CANCELLATION", -20),
        ("TWIN", -10),
        ("UNRELIABLE", -6),
        ("NOBYNO", -8),
        ("LOADCONTROLLER", -4),
        ("DSP_FUTURE_DATED", -2),
    ] {
        if f.contains(word) {
            s += w;
        }
    }
    Some(s)
}

/// The templates chosen for each SRV, by device-type group.
#[derive(Debug, Clone, Default)]
pub struct Library {
    by_srv: BTreeMap<String, Vec<Template>>,
    dir: PathBuf,
}

impl Library {
    /// Reads every `*_REQUEST_DUIS.XML` in `dir` and keeps the best template for each SRV
    /// and device type; `overrides` (SRV → file name) win.
    ///
    /// # Errors
    ///
    /// When the folder cannot be read, or an override names a file that is missing or not
    /// a request for its SRV.
    pub fn load(
        dir: &Path,
        future_dated: bool,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Library, String> {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with("_REQUEST_DUIS.XML"))
            .collect();
        files.sort();
        let catalogue = Catalogue::get();
        let mut best: BTreeMap<(String, Vec<DeviceKind>), (i32, Template)> = BTreeMap::new();
        for file in files {
            let Ok(t) = read_template(dir, &file) else {
                continue;
            };
            let Some(srv) = catalogue.srv(&t.srv) else {
                continue;
            };
            let dated = t.execution.is_some();
            let forced = overrides.get(&t.srv).is_some_and(|f| *f == file);
            let Some(s) = score(&file, future_dated, dated) else {
                continue;
            };
            let s = if forced { i32::MAX } else { s };
            if overrides.contains_key(&t.srv) && !forced {
                continue;
            }
            // Templates in the CommandVariant the SRV is sent with first: 4 for critical
            // device SRVs, 8 for non-device ones, else 1.
            let wanted_cv = if srv.non_device {
                8
            } else if srv.critical {
                4
            } else {
                1
            };
            if t.cv != wanted_cv && !forced {
                continue;
            }
            let key = (t.srv.clone(), t.kinds.clone());
            match best.get(&key) {
                Some((old, _)) if *old >= s => {}
                _ => {
                    best.insert(key, (s, t));
                }
            }
        }
        let mut by_srv: BTreeMap<String, Vec<Template>> = BTreeMap::new();
        for ((srv, _), (_, t)) in best {
            by_srv.entry(srv).or_default().push(t);
        }
        for (srv, file) in overrides {
            if !by_srv
                .get(srv)
                .is_some_and(|v| v.iter().any(|t| t.file == *file))
            {
                return Err(format!(
                    "templates.files.\"{srv}\": {file:?} is not a usable {srv} request template in {}",
                    dir.display()
                ));
            }
        }
        Ok(Library {
            by_srv,
            dir: dir.to_path_buf(),
        })
    }

    /// The templates for `srv` (one per device-type group).
    pub fn for_srv(&self, srv: &str) -> &[Template] {
        self.by_srv.get(srv).map_or(&[], Vec::as_slice)
    }

    /// SRVs with a template.
    pub fn srvs(&self) -> impl Iterator<Item = &str> {
        self.by_srv.keys().map(String::as_str)
    }

    /// The folder read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn read_template(dir: &Path, file: &str) -> Result<Template, String> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let request =
        reader::parse_request(text.as_bytes(), &Limits::default()).map_err(|e| e.to_string())?;
    let srv = request.header.service_reference_variant.to_string();
    let non_device = Catalogue::get()
        .srv(&srv)
        .is_some_and(|s: &Srv| s.non_device);
    let execution = request
        .body
        .execution_date_time()
        .map(|d| d.as_str().to_string());
    let execution_ms = execution.as_deref().and_then(crate::time::parse_rfc3339_ms);
    Ok(Template {
        file: file.to_string(),
        cv: request.header.command_variant.as_u8(),
        kinds: if non_device {
            Vec::new()
        } else {
            kinds_of(file)
        },
        execution,
        execution_ms,
        body_device: non_device && text.contains("<sr:DeviceID>"),
        target: request.header.request_id.target,
        text,
        srv,
    })
}

/// XML-signs a rendered request as `user`.
///
/// # Errors
///
/// What the signer reports (a template that does not parse, a key failure).
pub fn sign(user: &User, text: &str) -> Result<Vec<u8>, String> {
    dsig::sign_with_certificate(text.as_bytes(), &user.xml_key, &user.xml_cert)
        .map_err(|e| e.to_string())
}

/// The CommandVariant 5 request (Send Command with a Signed Pre-Command) that follows a
/// Transform: same RequestID and SRV, the Pre-Command signed with the User's GBCS DS key;
/// XML-signed. `execution` is copied from the Transform request, if it had one.
///
/// # Errors
///
/// When the User has no DS key, the Pre-Command is not one, or signing fails.
pub fn signed_precommand_request(
    user: &User,
    request_id: RequestId,
    srv: &str,
    precommand: &[u8],
    execution: Option<&str>,
) -> Result<Vec<u8>, String> {
    let ds = user
        .ds_key
        .as_ref()
        .ok_or_else(|| format!("User {} has no digital-signature key", user.name))?;
    let signed = hubgate_protocol::gbcs::auth::sign_precommand(precommand, ds)
        .map_err(|e| format!("signing the Pre-Command: {e}"))?;
    let cv = CommandVariant::from_u8(5).ok_or("CommandVariant 5")?;
    let header = RequestHeader::new(request_id, cv, srv).ok_or_else(|| format!("SRV {srv}"))?;
    let execution_date_time = match execution {
        Some(e) => Some(
            hubgate_protocol::duis::model::xsd::DateTime::new(e)
                .map_err(|e| format!("ExecutionDateTime: {e:?}"))?,
        ),
        None => None,
    };
    let body = Body::SignedPreCommand(Box::new(SignedPreCommand {
        execution_date_time,
        gbcs_payload: signed,
    }));
    let xml = Request::new(header, body).to_xml();
    sign(user, &xml)
}
