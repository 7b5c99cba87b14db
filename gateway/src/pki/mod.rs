//! Key material: the local test PKI created on first start, or a DCC Boxed key folder.
//!
//! [`Pki::open`] gives the gateway what it needs from keys and certificates:
//!
//! - the Users ([`crate::users::User`]) with their roles and certificates;
//! - the DSP XML-signing key that signs responses ([`DspKey`]);
//! - every certificate and key in an SMKI [`Store`], indexed by EUI, usage, serial and role
//!   (the users' GBCS keys, the ACB keys for MACs);
//! - the TLS files of the HTTPS listener ([`tls::TlsFiles`]).
//!
//! Without `smki_dir`, the local test PKI under the data folder is used, and created where
//! missing ([`generate`]): an SMKI-like CA, six demo Users and the DCC's own keys. With
//! `smki_dir`, a DCC Boxed folder is loaded instead ([`boxed`]).
//!
//! # Why certificates are written by hand
//!
//! SMKI organisation certificates carry the holder's EUI-64 as an `x500UniqueIdentifier`
//! (2.5.4.45) attribute of the subject, whose value is a BIT STRING, and the role as the
//! subject OU spelt as exactly two hex digits. Generic certificate builders model subject
//! attributes as strings: rcgen, for one, can add custom extensions but its distinguished-name
//! values are string types only, so it cannot write a BIT STRING attribute. The profile is
//! small and fixed, so the `der` module encodes the few ASN.1 types it needs, [`cert`]
//! assembles the certificates and aws-lc-rs makes the keys and the ECDSA P-256/SHA-256
//! signatures (DER, as X.509 wants). The result is read back by the protocol crate's SMKI
//! reader and checked by `openssl`, `xmlsec1` and rustls in the tests.

pub mod boxed;
pub mod cert;
mod der;
mod files;
pub mod generate;
pub mod role;
pub mod tls;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::duis::dsig::{self, DsigError};
use hubgate_protocol::hex;
use hubgate_protocol::smki::{Certificate, SmkiError, Store};

use crate::config::Config;
use crate::users::{RegistryError, User, UserRegistry};
use generate::{Credential, Layout};
use tls::TlsFiles;

/// Why key material could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An existing file is not what it should be.
    #[error("{}: {reason}", path.display())]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A certificate that cannot be used.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// A private key that cannot be used.
    #[error("invalid private key: {0}")]
    InvalidKey(&'static str),
    /// A name that cannot go into a certificate.
    #[error("cannot put {0:?} in a certificate")]
    InvalidName(String),
    /// A validity time outside years 0–9999.
    #[error("validity time {0} (Unix seconds) cannot be written in a certificate")]
    InvalidValidity(i64),
    /// A folder holds no DSP XML-signing certificate (role 137) with its private key.
    #[error("{}: no DSP XML-signing certificate (role 137) with its private key", .0.display())]
    NoDspKey(PathBuf),
    /// The SMKI store refused the material.
    #[error(transparent)]
    Smki(#[from] SmkiError),
    /// The Users cannot form a registry.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The cryptographic library failed (our fault, not the input's).
    #[error("cryptographic library failure: {0}")]
    Crypto(&'static str),
    /// Something that cannot happen did.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The DSP XML-signing key with its certificate: signs DUIS responses and alerts.
pub struct DspKey {
    certificate: Certificate,
    key: SigningKey,
    key_bytes: Vec<u8>,
    label: String,
}

impl DspKey {
    /// A key and its certificate; fails when they do not match.
    ///
    /// # Errors
    ///
    /// [`PkiError::Smki`] when the key cannot be read, [`PkiError::InvalidCertificate`] when
    /// it is not the certificate's key.
    pub fn new(
        certificate: Certificate,
        key_pem_or_der: &[u8],
        label: impl Into<String>,
    ) -> Result<Self, PkiError> {
        let key = SigningKey::from_pem_or_der(key_pem_or_der).map_err(SmkiError::from)?;
        if key.public_key_id() != certificate.key_id() {
            return Err(PkiError::InvalidCertificate(
                "the DSP XML-signing key does not match its certificate".into(),
            ));
        }
        Ok(DspKey {
            certificate,
            key,
            key_bytes: key_pem_or_der.to_vec(),
            label: label.into(),
        })
    }

    /// The certificate (its issuer and serial go into `KeyInfo`).
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// An owned copy of the signing key (for a component that keeps its own).
    ///
    /// # Errors
    ///
    /// Only if the key, which was read once already, cannot be read again.
    pub fn to_signing_key(&self) -> Result<SigningKey, PkiError> {
        Ok(SigningKey::from_pem_or_der(&self.key_bytes).map_err(SmkiError::from)?)
    }

    /// Where the certificate came from (a file name or key-store entry).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Signs a DUIS document with this key (see [`dsig::sign_with_certificate`]).
    ///
    /// # Errors
    ///
    /// As [`dsig::sign`].
    pub fn sign(&self, doc: &[u8]) -> Result<Vec<u8>, DsigError> {
        dsig::sign_with_certificate(doc, &self.key, &self.certificate)
    }
}

impl std::fmt::Debug for DspKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("DspKey")
            .field("label", &self.label)
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

/// A User whose XML-signing key and certificate are files, for the example command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleSigner {
    /// The User's name.
    pub user: String,
    /// The User ID.
    pub id: [u8; 8],
    /// Its XML-signing private key.
    pub key: PathBuf,
    /// Its XML-signing certificate.
    pub cert: PathBuf,
}

/// Where the key material came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The local test PKI under a data folder.
    Generated(Layout),
    /// A DCC Boxed key folder.
    Boxed(PathBuf),
}

/// The gateway's key material (see the module documentation).
#[derive(Debug)]
pub struct Pki {
    source: Source,
    store: Arc<Store>,
    users: Vec<User>,
    dsp: DspKey,
    acb_id: Option<[u8; 8]>,
    example: Option<ExampleSigner>,
    tls: Option<TlsFiles>,
    created: Vec<PathBuf>,
}

impl Pki {
    /// The key material `config` asks for: the DCC Boxed folder `smki_dir`, or else the
    /// local test PKI in `data_dir` (created where missing); plus, when TLS is enabled and no
    /// certificate is configured (or mutual TLS has no client CA configured), the local TLS
    /// CA and certificates. `now` (Unix seconds) dates the TLS certificates.
    ///
    /// # Errors
    ///
    /// A [`PkiError`] saying which file or folder is at fault.
    pub fn open(config: &Config, now: i64) -> Result<Pki, PkiError> {
        let mut pki = match &config.smki_dir {
            Some(dir) => Pki::load_boxed(dir)?,
            None => Pki::generated_with(
                &Layout::new(&config.data_dir).with_load_test_users(config.pki.load_test_users),
            )?,
        };
        let tls = &config.tls;
        // The SMWAN listener's server and rig certificates come from the local TLS CA too.
        let needs_local_tls = config.smwan.listen.is_some()
            || tls.enabled && (tls.cert.is_none() || (tls.mutual_tls && tls.client_ca.is_none()));
        if needs_local_tls {
            pki.ensure_tls(&Layout::new(&config.data_dir), now)?;
        }
        Ok(pki)
    }

    /// The local test PKI under `data_dir`: created where missing, then loaded, and its
    /// `users.toml` summary rewritten.
    ///
    /// # Errors
    ///
    /// A [`PkiError`] saying which file is at fault.
    pub fn generated(data_dir: &Path) -> Result<Pki, PkiError> {
        Pki::generated_with(&Layout::new(data_dir))
    }

    /// [`Pki::generated`] for a layout (with load-test Users, say).
    ///
    /// # Errors
    ///
    /// A [`PkiError`] saying which file is at fault.
    pub fn generated_with(layout: &Layout) -> Result<Pki, PkiError> {
        let layout = layout.clone();
        let created = generate::ensure(&layout)?;
        let mut pki = Pki::load_generated(&layout)?;
        pki.created = created;
        let summary = pki.users_toml(&layout)?;
        let path = layout.users_summary();
        if files::read(&path).ok().as_deref() != Some(summary.as_bytes()) {
            files::write(&path, summary.as_bytes(), false)?;
        }
        Ok(pki)
    }

    /// Loads the local test PKI under `layout` without creating anything.
    ///
    /// # Errors
    ///
    /// A [`PkiError`] saying which file is missing or at fault.
    pub fn load_generated(layout: &Layout) -> Result<Pki, PkiError> {
        let mut store = Store::new();
        let ca_bytes = files::read(&layout.ca_cert())?;
        store
            .add_certificate(&ca_bytes, "pki/ca.pem")
            .map_err(|e| generate::invalid(&layout.ca_cert(), e))?;
        let data = layout.data_dir();
        let mut add = |cert_path: &Path, key_path: &Path| -> Result<Certificate, PkiError> {
            let label = |p: &Path| p.strip_prefix(data).unwrap_or(p).display().to_string();
            let cert_bytes = files::read(cert_path)?;
            store
                .add_certificate(&cert_bytes, &label(cert_path))
                .map_err(|e| generate::invalid(cert_path, e))?;
            store
                .add_private_key(&files::read(key_path)?, &label(key_path))
                .map_err(|e| generate::invalid(key_path, e))?;
            generate::read_certificate(cert_path)
        };
        let dsp_cert = add(&layout.dsp_cert(), &layout.dsp_key())?;
        for usage in [
            hubgate_protocol::smki::Usage::DigitalSignature,
            hubgate_protocol::smki::Usage::KeyAgreement,
        ] {
            add(&layout.acb_cert(usage), &layout.acb_key(usage))?;
        }
        // The Transitional CoS party's key (older data folders get it issued by `ensure`).
        add(&layout.cos_cert(), &layout.cos_key())?;
        let local = layout.users();
        let mut users = Vec::with_capacity(local.len());
        for demo in &local {
            let mut user = User::new(demo.id, &demo.name, demo.roles.iter().copied());
            for credential in Credential::ALL {
                let cert_path = layout.user_cert(&demo.name, credential);
                let cert = add(&cert_path, &layout.user_key(&demo.name, credential))?;
                if cert.eui() != Some(demo.id) {
                    return Err(generate::invalid(
                        &cert_path,
                        format!(
                            "certifies {:?}, not the User {}",
                            cert.eui(),
                            user.id_duis()
                        ),
                    ));
                }
                user.add_certificate(cert);
            }
            users.push(user);
        }
        let dsp = DspKey::new(
            dsp_cert,
            &files::read(&layout.dsp_key())?,
            "pki/dsp-xml-sign.pem",
        )?;
        let example = local.first().map(|d| ExampleSigner {
            user: d.name.clone(),
            id: d.id,
            key: layout.user_key(&d.name, Credential::XmlSigning),
            cert: layout.user_cert(&d.name, Credential::XmlSigning),
        });
        Ok(Pki {
            source: Source::Generated(layout.clone()),
            store: Arc::new(store),
            users,
            dsp,
            acb_id: Some(generate::DCC_ID),
            example,
            tls: None,
            created: Vec::new(),
        })
    }

    /// A second, independent copy of the key store, read again from where it came from: for
    /// a component that must add certificates of its own (the emulated devices').
    ///
    /// # Errors
    ///
    /// As loading the material the first time.
    pub fn reload_store(&self) -> Result<Store, PkiError> {
        let fresh = match &self.source {
            Source::Generated(layout) => Pki::load_generated(layout)?.store,
            Source::Boxed(dir) => Pki::load_boxed(dir)?.store,
        };
        Arc::try_unwrap(fresh).map_err(|_| PkiError::InvalidFile {
            path: PathBuf::new(),
            reason: "the reloaded key store is shared".into(),
        })
    }

    /// Loads a DCC Boxed key folder (see [`boxed`]).
    ///
    /// # Errors
    ///
    /// [`PkiError::Smki`] when the folder cannot be read, [`PkiError::NoDspKey`] when it
    /// holds no DSP XML-signing key.
    pub fn load_boxed(dir: &Path) -> Result<Pki, PkiError> {
        let loaded = boxed::load(dir)?;
        Ok(Pki {
            source: Source::Boxed(dir.to_path_buf()),
            store: Arc::new(loaded.store),
            users: loaded.users,
            dsp: loaded.dsp,
            acb_id: loaded.acb_id,
            example: loaded.example,
            tls: None,
            created: Vec::new(),
        })
    }

    /// Creates or renews the local TLS CA, server certificate and a client certificate per
    /// User under `layout` (see [`tls`]).
    ///
    /// # Errors
    ///
    /// A [`PkiError`] saying which file is at fault.
    pub fn ensure_tls(&mut self, layout: &Layout, now: i64) -> Result<&TlsFiles, PkiError> {
        let names: Vec<(String, [u8; 8])> = self
            .users
            .iter()
            .map(|u| (file_safe(&u.name), u.id))
            .collect();
        let clients: Vec<(&str, [u8; 8])> = names.iter().map(|(n, id)| (n.as_str(), *id)).collect();
        let (files, created) = tls::ensure(layout, now, &clients)?;
        self.created.extend(created);
        Ok(self.tls.insert(files))
    }

    /// Where the material came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Every certificate and key, indexed by content.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The Users, sorted by User ID for a DCC Boxed folder, in [`generate::local_users`] order for the
    /// local PKI.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// A registry of the Users.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] when two Users share an ID or an XML-signing serial.
    pub fn registry(&self) -> Result<UserRegistry, RegistryError> {
        UserRegistry::new(self.users.clone())
    }

    /// The DSP XML-signing key.
    pub fn dsp(&self) -> &DspKey {
        &self.dsp
    }

    /// The DCC's (ACB's) EUI, when an ACB certificate is present.
    pub fn acb_id(&self) -> Option<[u8; 8]> {
        self.acb_id
    }

    /// The TLS files, after [`Pki::ensure_tls`] (or [`Pki::open`] with TLS enabled).
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// Files written while opening (empty when everything was reused).
    pub fn created(&self) -> &[PathBuf] {
        &self.created
    }

    /// A User whose signing files can be named on a command line.
    pub fn example_signer(&self) -> Option<&ExampleSigner> {
        self.example.as_ref()
    }

    /// A printable summary: where the files are, each User's ID and roles, the DSP key, and
    /// an example `hubgate duis sign` command line.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        match &self.source {
            Source::Generated(layout) => {
                let _ = writeln!(
                    s,
                    "Local test PKI in {} (delete the folder to start a new one)",
                    layout.pki_dir().display()
                );
                let _ = writeln!(s, "  SMKI-like CA      {}", layout.ca_cert().display());
                let _ = writeln!(
                    s,
                    "  Users summary     {}",
                    layout.users_summary().display()
                );
            }
            Source::Boxed(dir) => {
                let _ = writeln!(s, "DCC Boxed key folder {}", dir.display());
                let _ = writeln!(s, "  {} keys loaded", self.store.len());
            }
        }
        match (&self.source, self.created.len()) {
            (Source::Generated(_), 0) => {
                let _ = writeln!(s, "  (nothing written: existing files reused)");
            }
            (_, 0) => {}
            (_, n) => {
                let _ = writeln!(s, "  {n} files written on this start");
            }
        }
        let c = self.dsp.certificate();
        let _ = writeln!(
            s,
            "  DSP XML signing   {} (EUI {}, issuer {}, serial {})",
            self.dsp.label(),
            c.eui().map_or_else(|| "-".into(), |e| hex::eui_duis(&e)),
            c.issuer(),
            c.serial_decimal()
        );
        if let Some(t) = &self.tls {
            let _ = writeln!(
                s,
                "  TLS               CA {} (clients trust it), server {} ({})",
                t.ca_cert.display(),
                t.server_cert.display(),
                tls::SERVER_DNS_NAMES.join(", ")
                    + ", "
                    + &tls::SERVER_IPS.map(|i| i.to_string()).join(", ")
            );
            if let Some((_, any, _)) = t.rigs.first() {
                let _ = writeln!(
                    s,
                    "  SMWAN rigs        {} (one per CSP region beside it; a rig registers only its region's hubs)",
                    any.display()
                );
            }
        }
        let _ = writeln!(s, "\nUsers:");
        let width = self
            .users
            .iter()
            .map(|u| u.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            s,
            "  {:width$}  {:23}  {:14}  XML-signing certificate serial",
            "name", "User ID", "roles"
        );
        for u in &self.users {
            let serials: Vec<&str> = u
                .xml_signing_certs
                .iter()
                .map(|c| c.serial_decimal())
                .collect();
            let _ = writeln!(
                s,
                "  {:width$}  {:23}  {:14}  {}",
                u.name,
                u.id_duis(),
                u.roles_text(),
                if serials.is_empty() {
                    "-".to_string()
                } else {
                    serials.join(", ")
                }
            );
        }
        if let Some(e) = &self.example {
            let _ = writeln!(
                s,
                "\nSign a request as {} (its RequestID must start with {}):\n  \
                 hubgate duis sign --key {} --cert {} request.xml > signed.xml",
                e.user,
                hex::eui_duis(&e.id),
                e.key.display(),
                e.cert.display()
            );
        }
        s
    }

    fn users_toml(&self, layout: &Layout) -> Result<String, PkiError> {
        use generate::{Summary, SummaryUser, summary_credential};
        let cred = |name: &str, c: Credential, cert: Option<&Certificate>| {
            cert.map(|cert| {
                summary_credential(
                    layout,
                    &layout.user_cert(name, c),
                    &layout.user_key(name, c),
                    cert,
                )
            })
            .ok_or_else(|| {
                PkiError::Internal(format!("User {name} has no {} certificate", c.stem()))
            })
        };
        let users = self
            .users
            .iter()
            .map(|u| {
                Ok(SummaryUser {
                    name: u.name.clone(),
                    id: u.id_duis(),
                    roles: u.roles.iter().map(|r| r.code().to_string()).collect(),
                    xml_signing: cred(
                        &u.name,
                        Credential::XmlSigning,
                        u.xml_signing_certs.first(),
                    )?,
                    ds: cred(&u.name, Credential::DigitalSignature, u.ds_certs.first())?,
                    ka: cred(&u.name, Credential::KeyAgreement, u.ka_certs.first())?,
                })
            })
            .collect::<Result<Vec<_>, PkiError>>()?;
        Summary {
            note: "User IDs, roles and certificate files of the demo Users; paths are \
                   relative to this folder",
            ca: "ca.pem".into(),
            dcc_id: hex::eui_duis(&generate::DCC_ID),
            dsp_xml_signing: summary_credential(
                layout,
                &layout.dsp_cert(),
                &layout.dsp_key(),
                self.dsp.certificate(),
            ),
            users,
        }
        .to_toml()
    }
}

/// A name usable as a file name: ASCII letters, digits, `-`, `_` and `.`; others become `_`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
