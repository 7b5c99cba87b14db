//! The Users loadgen sends as: their User ID, DUIS roles, XML-signing key and certificate
//! (every request is XML-signed), GBCS digital-signature key (Pre-Commands of critical
//! requests are signed with it), and their own GBCS digital-signature and key-agreement
//! certificates with the certificate of the CA that issued them (SR 6.15.1 Update Security
//! Credentials installs these on the device, see [`crate::templates`]).
//!
//! Two sources:
//! - **local**: a `hubgate serve` data folder. Its local test PKI lists every User in
//!   `pki/users.toml` (demo Users, and `load-NNNNN` load-test Users when the gateway runs
//!   with `HUBGATE_PKI__LOAD_TEST_USERS=N`), with key files under `pki/users/<name>/`.
//! - **zaz1**: a DCC Boxed SMKI folder (`hubgate serve --smki`): `xml-sign-<EUI>-ds.{key,pem}`
//!   for XML signing, and the organisation's digital-signature key found by EUI among the
//!   folder's keys. DUIS roles follow the SMKI role as the gateway derives them (`02`
//!   supplier: IS, ES, GS; `03` network operator: ED, GT; `7F` other User: OU).

use std::path::{Path, PathBuf};

use hubgate_protocol::catalogue::Role;
use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::hex;
use hubgate_protocol::smki::{Certificate, Store, Usage};
use serde::Deserialize;

use crate::scenario::{UsersKind, UsersSection};

/// SMKI role of User XML-signing certificates (OU `87`).
const XML_SIGNING_ROLE: u8 = 0x87;

/// One User loadgen signs as.
#[derive(Debug)]
pub struct User {
    /// Display name (`load-00001`, or the User ID for ZAZ1 Users).
    pub name: String,
    /// User ID.
    pub id: [u8; 8],
    /// DUIS roles.
    pub roles: Vec<Role>,
    /// XML-signing key.
    pub xml_key: SigningKey,
    /// XML-signing certificate (issuer and serial go into `KeyInfo`).
    pub xml_cert: Certificate,
    /// GBCS digital-signature key (signs Pre-Commands); `None` if the folder has none.
    pub ds_key: Option<SigningKey>,
    /// GBCS digital-signature certificate; `None` if the folder has none.
    pub ds_cert: Option<Certificate>,
    /// GBCS key-agreement certificate; `None` if the folder has none.
    pub ka_cert: Option<Certificate>,
    /// DER of the CA certificate that issued `ds_cert` (and `ka_cert`), if found.
    pub issuer_ca: Option<Vec<u8>>,
}

impl User {
    /// The User ID as DUIS writes it.
    pub fn id_duis(&self) -> String {
        hex::eui_duis(&self.id)
    }

    /// Whether one of its roles may send `srv`.
    pub fn may_send(&self, srv: &hubgate_protocol::catalogue::Srv) -> bool {
        self.roles.iter().any(|r| srv.allows_role(*r))
    }
}

/// Why the Users could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// A file could not be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The selection names no User, or a User that is not there.
    #[error("users: {0}")]
    Selection(String),
}

fn file_err(path: &Path, reason: impl std::fmt::Display) -> UsersError {
    UsersError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The Users a scenario's `[users]` section selects, in order.
///
/// # Errors
///
/// [`UsersError`].
pub fn load(section: &UsersSection) -> Result<Vec<User>, UsersError> {
    let all = match section.kind {
        UsersKind::Local => load_local(&section.dir)?,
        UsersKind::Zaz1 => load_zaz1(&section.dir)?,
    };
    select(all, section)
}

fn select(all: Vec<User>, section: &UsersSection) -> Result<Vec<User>, UsersError> {
    if !section.names.is_empty() {
        let mut out = Vec::new();
        let mut all: Vec<Option<User>> = all.into_iter().map(Some).collect();
        for want in &section.names {
            let want_id = hex::parse_eui(want);
            let slot = all.iter_mut().find(|u| {
                u.as_ref()
                    .is_some_and(|u| u.name == *want || Some(u.id) == want_id)
            });
            match slot.and_then(Option::take) {
                Some(u) => out.push(u),
                None => {
                    return Err(UsersError::Selection(format!(
                        "no User {want:?} in {} (or named twice)",
                        section.dir.display()
                    )));
                }
            }
        }
        return Ok(out);
    }
    // Load-test Users when the folder has some, else every User with a DUIS role.
    let has_load_test = all.iter().any(|u| u.name.starts_with("load-"));
    let pool = all
        .into_iter()
        .filter(|u| {
            if has_load_test {
                u.name.starts_with("load-")
            } else {
                !u.roles.is_empty()
            }
        })
        .collect();
    finish(pool, section)
}

fn finish(mut pool: Vec<User>, section: &UsersSection) -> Result<Vec<User>, UsersError> {
    if let Some(n) = section.count {
        if pool.len() < n {
            return Err(UsersError::Selection(format!(
                "{n} Users asked for, {} found in {}{}",
                pool.len(),
                section.dir.display(),
                if section.kind == UsersKind::Local {
                    " (start the gateway with HUBGATE_PKI__LOAD_TEST_USERS set to at least that)"
                } else {
                    ""
                }
            )));
        }
        pool.truncate(n);
    }
    if pool.is_empty() {
        return Err(UsersError::Selection(format!(
            "no User with a DUIS role in {}",
            section.dir.display()
        )));
    }
    Ok(pool)
}

#[derive(Debug, Deserialize)]
struct Summary {
    /// The CA certificate, relative to the pki folder.
    #[serde(default)]
    ca: Option<String>,
    users: Vec<SummaryUser>,
}

#[derive(Debug, Deserialize)]
struct SummaryUser {
    name: String,
    id: String,
    roles: Vec<String>,
    xml_signing: SummaryCredential,
    ds: Option<SummaryCredential>,
    #[serde(default)]
    ka: Option<SummaryCredential>,
}

#[derive(Debug, Deserialize)]
struct SummaryCredential {
    cert: String,
    key: String,
}

fn read(path: &Path) -> Result<Vec<u8>, UsersError> {
    std::fs::read(path).map_err(|e| file_err(path, e))
}

/// Every User of a local test PKI (`<data_dir>/pki/users.toml`).
///
/// # Errors
///
/// [`UsersError::File`].
pub fn load_local(data_dir: &Path) -> Result<Vec<User>, UsersError> {
    let pki = data_dir.join("pki");
    let summary_path = pki.join("users.toml");
    let text = std::fs::read_to_string(&summary_path).map_err(|e| {
        file_err(
            &summary_path,
            format!(
                "{e} (start `hubgate serve --data-dir {}` once)",
                data_dir.display()
            ),
        )
    })?;
    let summary: Summary = toml::from_str(&text).map_err(|e| file_err(&summary_path, e))?;
    let cert_at = |rel: &str| -> Result<Certificate, UsersError> {
        let p = pki.join(rel);
        Certificate::from_pem(&read(&p)?).map_err(|e| file_err(&p, e))
    };
    let issuer_ca = summary
        .ca
        .as_deref()
        .map(cert_at)
        .transpose()?
        .map(|c| c.der().to_vec());
    let mut out = Vec::with_capacity(summary.users.len());
    for u in summary.users {
        let id = hex::parse_eui(&u.id)
            .ok_or_else(|| file_err(&summary_path, format!("{:?} is not a User ID", u.id)))?;
        let roles = u.roles.iter().filter_map(|r| Role::parse(r)).collect();
        let path = |rel: &str| -> PathBuf { pki.join(rel) };
        let key_path = path(&u.xml_signing.key);
        let cert_path = path(&u.xml_signing.cert);
        let xml_key =
            SigningKey::from_pem_or_der(&read(&key_path)?).map_err(|e| file_err(&key_path, e))?;
        let xml_cert =
            Certificate::from_pem(&read(&cert_path)?).map_err(|e| file_err(&cert_path, e))?;
        let ds_key = match &u.ds {
            Some(ds) => {
                let p = path(&ds.key);
                Some(SigningKey::from_pem_or_der(&read(&p)?).map_err(|e| file_err(&p, e))?)
            }
            None => None,
        };
        let ds_cert = u.ds.as_ref().map(|c| cert_at(&c.cert)).transpose()?;
        let ka_cert = u.ka.as_ref().map(|c| cert_at(&c.cert)).transpose()?;
        out.push(User {
            name: u.name,
            id,
            roles,
            xml_key,
            xml_cert,
            ds_key,
            ds_cert,
            ka_cert,
            issuer_ca: issuer_ca.clone(),
        });
    }
    Ok(out)
}

/// DUIS roles of an organisation with this SMKI role (as the gateway derives them).
fn duis_roles(smki_role: u8) -> Vec<Role> {
    match smki_role {
        0x02 => vec![
            Role::ImportSupplier,
            Role::ExportSupplier,
            Role::GasSupplier,
        ],
        0x03 => vec![Role::ElectricityDistributor, Role::GasTransporter],
        0x7F => vec![Role::OtherUser],
        _ => Vec::new(),
    }
}

/// Every User of a DCC Boxed SMKI folder that has an XML-signing key.
///
/// # Errors
///
/// [`UsersError::File`].
pub fn load_zaz1(dir: &Path) -> Result<Vec<User>, UsersError> {
    let mut store = Store::new();
    store.load_dir(dir).map_err(|e| file_err(dir, e))?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| file_err(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("xml-sign-") && n.ends_with("-ds.pem"))
        })
        .collect();
    names.sort();
    let mut out = Vec::new();
    for cert_path in names {
        let key_path = cert_path.with_extension("key");
        if !key_path.is_file() {
            continue;
        }
        let xml_cert =
            Certificate::from_pem(&read(&cert_path)?).map_err(|e| file_err(&cert_path, e))?;
        // Devices are not Users, whatever keys the folder holds for them.
        let Some(id) = xml_cert.eui().filter(|id| !store.is_device(id)) else {
            continue;
        };
        let xml_key =
            SigningKey::from_pem_or_der(&read(&key_path)?).map_err(|e| file_err(&key_path, e))?;
        // The organisation's GBCS DS key: same EUI, digital signature, not XML signing.
        let ds = store.entries().iter().find(|e| {
            e.eui() == Some(id)
                && e.usage() == Some(Usage::DigitalSignature)
                && e.role() != Some(XML_SIGNING_ROLE)
                && e.signing_key().is_some()
        });
        let roles = ds
            .and_then(|e| e.role())
            .map(duis_roles)
            .unwrap_or_default();
        // Read the DS key again from its own file (the store keeps it, but keys are not
        // shared); an entry only known from keystore.json has no file of its own.
        let ds_key = match ds.and_then(|e| e.private_labels().find(|l| !l.contains(':'))) {
            Some(label) => {
                let p = dir.join(label);
                Some(SigningKey::from_pem_or_der(&read(&p)?).map_err(|e| file_err(&p, e))?)
            }
            None => None,
        };
        // The organisation's own certificates: its DS certificate (the key's), its
        // key-agreement certificate, and the CA certificate that issued the DS one.
        let ds_cert = ds.and_then(|e| e.certificates().first()).cloned();
        let ka_cert = store
            .entries()
            .iter()
            .filter(|e| e.eui() == Some(id) && e.usage() == Some(Usage::KeyAgreement))
            .find_map(|e| e.certificates().first())
            .cloned();
        let issuer_ca = ds_cert
            .as_ref()
            .and_then(|c| issuer_of(&store, c))
            .map(|ca| ca.der().to_vec());
        out.push(User {
            name: hex::eui_duis(&id),
            id,
            roles,
            xml_key,
            xml_cert,
            ds_key,
            ds_cert,
            ka_cert,
            issuer_ca,
        });
    }
    Ok(out)
}

/// The certificate in `store` whose subject is `cert`'s issuer (not `cert` itself).
fn issuer_of<'a>(store: &'a Store, cert: &Certificate) -> Option<&'a Certificate> {
    store
        .entries()
        .iter()
        .flat_map(|e| e.certificates().iter())
        .find(|c| c.subject() == cert.issuer() && c.der() != cert.der())
}
