//! Loading a DCC Boxed key folder (`--smki DIR`, e.g. the ZAZ1 test material): certificates,
//! private keys and `keystore.json`, read with the protocol crate's SMKI [`Store`].
//!
//! Users are built from what the certificates say, never from file names:
//!
//! - every organisation EUI whose DS or KA certificate carries a role that maps to DUIS roles
//!   ([`role::duis_roles`]: `02` → IS, ES, GS; `03` → ED, GT; `7F` → OU) is a User with the
//!   union of those roles, and so is every EUI holding a User XML-signing certificate
//!   (role 135);
//! - its XML-signing certificates are the role-135 digital-signature certificates with its
//!   EUI;
//! - its name is taken from the label of its first DS certificate (`Z1-supplier-ds.pem` →
//!   `supplier`, `keystore.json:otherUser-ds` → `otherUser`), else the certificate's
//!   common name, else the EUI.
//!
//! The DSP XML-signing key (role 137, with its private key) signs responses. When several
//! are present, the certificate labelled [`PREFERRED_DSP_LABEL`] wins (the ZAZ1 one valid to
//! 2035, serial 20315062944123339095836004026371736578); otherwise the one valid the longest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hubgate_protocol::crypto::{KeyId, SigningKey};
use hubgate_protocol::smki::{Certificate, Holder, KeyEntry, Store, Usage};

use super::{DspKey, ExampleSigner, PkiError, files, role};
use crate::users::User;

/// The label (file stem) of the preferred DSP XML-signing certificate in a DCC Boxed folder.
pub const PREFERRED_DSP_LABEL: &str = "Z1-accessControlBroker-dSPXmlSign";

/// Key files larger than this are skipped when looking for the DSP private key.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// What a DCC Boxed folder yields.
#[derive(Debug)]
pub(super) struct Loaded {
    pub store: Store,
    pub users: Vec<User>,
    pub dsp: DspKey,
    pub acb_id: Option<[u8; 8]>,
    pub example: Option<ExampleSigner>,
}

/// Loads `dir` (see the module documentation).
pub(super) fn load(dir: &Path) -> Result<Loaded, PkiError> {
    let mut store = Store::new();
    store.load_dir(dir)?;
    for w in store.warnings() {
        tracing::warn!(file = %w.file, "skipped in the SMKI folder: {:#}", w.error);
    }
    let users = users_from_store(&store);
    let (entry, cert, label) = select_dsp(&store).ok_or_else(|| PkiError::NoDspKey(dir.into()))?;
    let key_bytes =
        find_private_key(dir, entry.id())?.ok_or_else(|| PkiError::NoDspKey(dir.into()))?;
    let dsp = DspKey::new(cert.clone(), &key_bytes, label)?;
    let acb_id = store
        .by_role(role::ACCESS_CONTROL_BROKER)
        .find_map(KeyEntry::eui);
    let example = example_signer(dir, &store, &users);
    Ok(Loaded {
        store,
        users,
        dsp,
        acb_id,
        example,
    })
}

#[derive(Default)]
struct Party {
    ds_labels: Vec<String>,
    common_name: Option<String>,
    certs: Vec<(String, Certificate)>,
    roles: Vec<hubgate_protocol::catalogue::Role>,
    xml_signing: bool,
}

/// The Users found in `store` (see the module documentation), sorted by User ID.
pub fn users_from_store(store: &Store) -> Vec<User> {
    let mut parties: BTreeMap<[u8; 8], Party> = BTreeMap::new();
    for entry in store.entries() {
        for cert in entry.certificates() {
            let (Holder::Organisation, Some(eui), Some(r), Some(usage)) =
                (cert.holder(), cert.eui(), cert.role(), cert.usage())
            else {
                continue;
            };
            let label = entry
                .certificate_label(cert)
                .unwrap_or_default()
                .to_string();
            let roles = role::duis_roles(r);
            if r == role::USER_XML_SIGNING && usage == Usage::DigitalSignature {
                let p = parties.entry(eui).or_default();
                p.xml_signing = true;
                p.certs.push((label, cert.clone()));
            } else if !roles.is_empty() {
                let p = parties.entry(eui).or_default();
                p.roles.extend_from_slice(roles);
                if usage == Usage::DigitalSignature {
                    p.ds_labels.push(label.clone());
                }
                if p.common_name.is_none() {
                    p.common_name = cert.common_name().map(str::to_string);
                }
                p.certs.push((label, cert.clone()));
            }
        }
    }
    parties
        .into_iter()
        .map(|(eui, mut p)| {
            p.ds_labels.sort();
            p.certs.sort_by(|a, b| a.0.cmp(&b.0));
            let name = p
                .ds_labels
                .iter()
                .find_map(|l| name_from_label(l))
                .or(p.common_name)
                .unwrap_or_else(|| hubgate_protocol::hex::eui(&eui).to_uppercase());
            let mut user = User::new(eui, name, p.roles);
            for (_, cert) in p.certs {
                user.add_certificate(cert);
            }
            user
        })
        .collect()
}

/// `Z1-supplier-ds.pem` → `supplier`, `keystore.json:otherUser-ds` → `otherUser`.
fn name_from_label(label: &str) -> Option<String> {
    let l = label.strip_prefix("keystore.json:").unwrap_or(label);
    let l = [".pem", ".crt", ".cer", ".der"]
        .iter()
        .find_map(|ext| l.strip_suffix(ext))
        .unwrap_or(l);
    let l = ["-ds", "-ka"]
        .iter()
        .find_map(|s| l.strip_suffix(s))
        .unwrap_or(l);
    // A PKI generation prefix: `Z1-`, `Z1b-`, `Z99-`.
    let l = match l.split_once('-') {
        Some((prefix, rest))
            if prefix.starts_with('Z')
                && prefix.len() > 1
                && prefix[1..].bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            rest
        }
        _ => l,
    };
    (!l.is_empty()).then(|| l.to_string())
}

/// The DSP XML-signing certificate to sign with: key entry, certificate and label.
fn select_dsp(store: &Store) -> Option<(&KeyEntry, &Certificate, String)> {
    let mut candidates: Vec<(&KeyEntry, &Certificate, String)> = store
        .by_role(role::DSP_XML_SIGNING)
        .filter(|e| e.signing_key().is_some())
        .flat_map(|e| {
            e.certificates()
                .iter()
                .filter(|c| {
                    c.role() == Some(role::DSP_XML_SIGNING)
                        && c.usage() == Some(Usage::DigitalSignature)
                })
                .map(move |c| (e, c, e.certificate_label(c).unwrap_or_default().to_string()))
        })
        .collect();
    candidates.sort_by(|a, b| {
        let preferred = |l: &str| stem(l) == PREFERRED_DSP_LABEL;
        preferred(&b.2)
            .cmp(&preferred(&a.2))
            .then(b.1.not_after().cmp(&a.1.not_after()))
            .then(a.2.cmp(&b.2))
    });
    candidates.into_iter().next()
}

fn stem(label: &str) -> &str {
    let l = label.strip_prefix("keystore.json:").unwrap_or(label);
    l.rsplit_once('.').map_or(l, |(s, _)| s)
}

/// The bytes of the private key for `id` in `dir`: a key file (PEM or DER), or a
/// `privateKey` of a `*.json` key store.
fn find_private_key(dir: &Path, id: KeyId) -> Result<Option<Vec<u8>>, PkiError> {
    let io = |source| PkiError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let matches =
        |bytes: &[u8]| SigningKey::from_pem_or_der(bytes).is_ok_and(|k| k.public_key_id() == id);
    let small = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() <= MAX_KEY_FILE);
    let (json, others): (Vec<_>, Vec<_>) = paths
        .into_iter()
        .filter(|p| small(p))
        .partition(|p| p.extension().is_some_and(|e| e == "json"));
    for path in others {
        let bytes = files::read(&path)?;
        if matches(&bytes) {
            return Ok(Some(bytes));
        }
    }
    for path in json {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&files::read(&path)?) else {
            continue;
        };
        let mut stack = vec![&value];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(k)) = map.get("privateKey")
                        && matches(k.as_bytes())
                    {
                        return Ok(Some(k.as_bytes().to_vec()));
                    }
                    stack.extend(map.values());
                }
                serde_json::Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
    }
    Ok(None)
}

/// A User whose XML-signing certificate and key are plain files, for the example command;
/// an import supplier if there is one.
fn example_signer(dir: &Path, store: &Store, users: &[User]) -> Option<ExampleSigner> {
    let mut ordered: Vec<&User> = users.iter().collect();
    ordered.sort_by_key(|u| !u.has_role(hubgate_protocol::catalogue::Role::ImportSupplier));
    ordered.into_iter().find_map(|u| {
        u.xml_signing_certs.iter().find_map(|c| {
            let hit = store.by_serial(c.serial()).next()?;
            let key = hit.entry.private_labels().find(|l| !l.contains(':'))?;
            if hit.label.contains(':') {
                return None;
            }
            Some(ExampleSigner {
                user: u.name.clone(),
                id: u.id,
                key: dir.join(key),
                cert: dir.join(hit.label),
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_labels() {
        assert_eq!(
            name_from_label("Z1-supplier-ds.pem").as_deref(),
            Some("supplier")
        );
        assert_eq!(
            name_from_label("Z1b-supplier-ds.pem").as_deref(),
            Some("supplier")
        );
        assert_eq!(
            name_from_label("keystore.json:otherUser-ds").as_deref(),
            Some("otherUser")
        );
        assert_eq!(
            name_from_label("keystore.json:mdr-ds").as_deref(),
            Some("mdr")
        );
        assert_eq!(name_from_label("-ds.pem"), None);
    }

    #[test]
    fn stems_drop_the_extension() {
        assert_eq!(
            stem("Z1-accessControlBroker-dSPXmlSign.pem"),
            PREFERRED_DSP_LABEL
        );
        assert_eq!(stem("keystore.json:dsp-xml-sign"), "dsp-xml-sign");
    }
}
