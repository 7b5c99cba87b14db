//! The certificate and key store, indexed by certificate content.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::{Certificate, Holder, SmkiError, Usage};
use crate::crypto::{KeyAgreementKey, KeyId, PeerKey, SigningKey, VerifyingKey};

/// Certificates, public keys and private keys, merged by public key and indexed by the EUI,
/// usage, serial and role found in the certificates.
///
/// Several sources can be loaded; each load call is one source, and when one key appears in
/// several sources its label (the name used in reports) comes from the source loaded first.
/// Within a source, a file name that starts with the certificate's EUI is preferred, then the
/// alphabetically first.
///
/// Immutable once loaded: share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct Store {
    entries: Vec<KeyEntry>,
    by_id: HashMap<KeyId, usize>,
    public_index: HashMap<([u8; 8], Usage), Vec<usize>>,
    private_index: HashMap<([u8; 8], Usage), Vec<usize>>,
    serial_index: HashMap<Vec<u8>, Vec<(usize, usize)>>,
    role_index: BTreeMap<u8, Vec<usize>>,
    devices: HashSet<[u8; 8]>,
    organisations: HashSet<[u8; 8]>,
    warnings: Vec<LoadWarning>,
    notes: Vec<String>,
    next_source: u32,
}

/// One public key with everything known about it: its certificates, the files it came from,
/// and the private key if one was loaded.
pub struct KeyEntry {
    id: KeyId,
    certificates: Vec<Certificate>,
    certificate_labels: Vec<Vec<Label>>,
    verifying_key: VerifyingKey,
    peer_key: PeerKey,
    name_eui: Option<[u8; 8]>,
    name_usage: Option<Usage>,
    json_role: Option<u8>,
    public_labels: Vec<Label>,
    private_labels: Vec<Label>,
    signing_key: Option<SigningKey>,
    agreement_key: Option<KeyAgreementKey>,
}

/// One certificate found by a lookup, with its key entry and the name it was loaded under.
#[derive(Debug, Clone, Copy)]
pub struct CertRef<'a> {
    /// The key the certificate certifies.
    pub entry: &'a KeyEntry,
    /// The certificate.
    pub certificate: &'a Certificate,
    /// The best name of this certificate's file (or `keystore.json:<name>`).
    pub label: &'a str,
}

/// A file (or `keystore.json` entry) that was skipped, and why.
#[derive(Debug)]
pub struct LoadWarning {
    /// The file name, or `keystore.json:<entry>`.
    pub file: String,
    /// What went wrong.
    pub error: SmkiError,
}

impl std::fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.error)
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the conformance key material: `gbcs/keystore/` first (its file names label the
    /// keys in reports), then `smki/` (certificates, keys, then `keystore.json`).
    pub fn load_conformance(root: &Path) -> Result<Self, SmkiError> {
        let mut s = Store::new();
        s.load_dir(&root.join("gbcs/keystore"))?;
        s.load_dir(&root.join("smki"))?;
        Ok(s)
    }

    /// Loads every file of a folder (not recursive), as one source; `*.json` files in it are
    /// read as `keystore.json` afterwards, each as a further source.
    ///
    /// Accepted: PEM files holding certificates, bare `PUBLIC KEY`s and private keys
    /// (`PRIVATE KEY`, `EC PRIVATE KEY`); DER certificates (`.pem`, `.der`, `.crt`, `.cer`);
    /// DER private keys (`.key`, PKCS#8 or SEC1). Files that cannot be used are skipped and
    /// listed in [`Store::warnings`]. Fails only when the folder itself cannot be read.
    pub fn load_dir(&mut self, dir: &Path) -> Result<(), SmkiError> {
        let io = |source| SmkiError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for item in std::fs::read_dir(dir).map_err(io)? {
            let item = item.map_err(io)?;
            let path = item.path();
            if path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let source = self.new_source();
        let mut json = Vec::new();
        for path in files {
            let name = file_name(&path);
            if name.starts_with('.') {
                continue;
            }
            if name.ends_with(".json") {
                json.push(path);
                continue;
            }
            match std::fs::read(&path) {
                Ok(bytes) => self.add_file_bytes(&name, &bytes, source),
                Err(source) => self.warn(&name, SmkiError::Io { path, source }),
            }
        }
        for path in json {
            let source = self.new_source();
            match std::fs::read(&path) {
                Ok(bytes) => self.add_keystore_json_bytes(&file_name(&path), &bytes, source),
                Err(e) => self.warn(&file_name(&path), SmkiError::Io { path, source: e }),
            }
        }
        self.reindex();
        Ok(())
    }

    /// Loads a `keystore.json` file as one source:
    /// `{eui: {"digitalSignature"|"keyAgreement": {serial: {certificate, privateKey, name,
    /// role}}}}` with PEM strings. Entries are labelled `keystore.json:<name>`.
    pub fn load_keystore_json(&mut self, path: &Path) -> Result<(), SmkiError> {
        let bytes = std::fs::read(path).map_err(|source| SmkiError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let source = self.new_source();
        self.add_keystore_json_bytes(&file_name(path), &bytes, source);
        self.reindex();
        Ok(())
    }

    /// Adds one certificate (PEM or DER) as its own source, labelled `label`.
    pub fn add_certificate(&mut self, bytes: &[u8], label: &str) -> Result<KeyId, SmkiError> {
        let cert = certificate_of(bytes)?;
        let source = self.new_source();
        let id = self.add_cert(cert, label, source);
        self.reindex();
        Ok(id)
    }

    /// Adds many certificates (PEM or DER), each as its own source with its label, and
    /// re-indexes the store once at the end: for thousands of device certificates at a time,
    /// where [`Store::add_certificate`] for each would re-index the whole store every time.
    /// Stops at the first certificate that cannot be read; those before it are kept.
    pub fn add_certificates<B: AsRef<[u8]>>(
        &mut self,
        items: impl IntoIterator<Item = (B, String)>,
    ) -> Result<Vec<KeyId>, SmkiError> {
        let mut ids = Vec::new();
        let mut failed = None;
        for (bytes, label) in items {
            match certificate_of(bytes.as_ref()) {
                Ok(cert) => {
                    let source = self.new_source();
                    ids.push(self.add_cert(cert, &label, source));
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        self.reindex();
        failed.map_or(Ok(ids), Err)
    }

    /// Adds one private key (PEM or DER) as its own source, labelled `label`. It attaches to
    /// the certificate with the same public key, whenever that is loaded.
    pub fn add_private_key(&mut self, bytes: &[u8], label: &str) -> Result<KeyId, SmkiError> {
        let source = self.new_source();
        let id = self.add_private(bytes, label, source, None)?;
        self.reindex();
        Ok(id)
    }

    /// Public keys (certificates or bare public-key files) for `eui` and `usage`, best label
    /// first. Several generations may exist (e.g. `Z1` and `Z1b`): try each.
    pub fn public_keys<'a>(
        &'a self,
        eui: &[u8; 8],
        usage: Usage,
    ) -> impl Iterator<Item = &'a KeyEntry> + use<'a> {
        self.indexed(&self.public_index, eui, usage)
    }

    /// Keys with a private key for `eui` and `usage`, best label first.
    pub fn private_keys<'a>(
        &'a self,
        eui: &[u8; 8],
        usage: Usage,
    ) -> impl Iterator<Item = &'a KeyEntry> + use<'a> {
        self.indexed(&self.private_index, eui, usage)
    }

    /// Certificates with this serial number (big-endian magnitude; leading zeros ignored).
    pub fn by_serial<'a>(&'a self, serial: &[u8]) -> impl Iterator<Item = CertRef<'a>> + use<'a> {
        let first = serial
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(serial.len().saturating_sub(1));
        self.serial_hits(self.serial_index.get(&serial[first..]))
    }

    /// Certificates with this serial number written in decimal (as in DUIS KeyInfo).
    pub fn by_serial_decimal<'a>(
        &'a self,
        decimal: &str,
    ) -> impl Iterator<Item = CertRef<'a>> + use<'a> {
        let hits = x509_parser::num_bigint::BigUint::parse_bytes(decimal.trim().as_bytes(), 10)
            .and_then(|n| self.serial_index.get(&n.to_bytes_be()));
        self.serial_hits(hits)
    }

    /// Keys whose certificate (or `keystore.json` entry) carries `role`.
    pub fn by_role(&self, role: u8) -> impl Iterator<Item = &KeyEntry> {
        self.role_index
            .get(&role)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|&i| &self.entries[i])
    }

    /// True when a device certificate (hwModule subjectAltName) is held for `eui`.
    pub fn is_device(&self, eui: &[u8; 8]) -> bool {
        self.devices.contains(eui)
    }

    /// True when an organisation certificate (x500UniqueIdentifier) is held for `eui`.
    pub fn is_organisation(&self, eui: &[u8; 8]) -> bool {
        self.organisations.contains(eui)
    }

    /// The entry for a public key.
    pub fn get(&self, id: KeyId) -> Option<&KeyEntry> {
        self.by_id.get(&id).map(|&i| &self.entries[i])
    }

    /// Every entry, in load order.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// Number of distinct public keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Files and entries that were skipped.
    pub fn warnings(&self) -> &[LoadWarning] {
        &self.warnings
    }

    /// Informational remarks, such as a file whose name names another EUI than the
    /// certificate inside it.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    fn indexed<'a>(
        &'a self,
        index: &'a HashMap<([u8; 8], Usage), Vec<usize>>,
        eui: &[u8; 8],
        usage: Usage,
    ) -> impl Iterator<Item = &'a KeyEntry> + use<'a> {
        index
            .get(&(*eui, usage))
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|&i| &self.entries[i])
    }

    fn serial_hits<'a>(
        &'a self,
        hits: Option<&'a Vec<(usize, usize)>>,
    ) -> impl Iterator<Item = CertRef<'a>> + 'a {
        hits.map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|&(e, c)| {
                let entry = &self.entries[e];
                CertRef {
                    entry,
                    certificate: &entry.certificates[c],
                    label: entry.certificate_labels[c]
                        .first()
                        .map_or("", |l| l.name.as_str()),
                }
            })
    }

    fn new_source(&mut self) -> u32 {
        let s = self.next_source;
        self.next_source += 1;
        s
    }

    fn warn(&mut self, file: &str, error: SmkiError) {
        self.warnings.push(LoadWarning {
            file: file.to_string(),
            error,
        });
    }

    fn add_file_bytes(&mut self, name: &str, bytes: &[u8], source: u32) {
        let from_name = parse_key_file_name(name);
        if !crate::crypto::looks_like_pem(bytes) {
            let ext = name.rsplit('.').next().unwrap_or("");
            let result = match ext {
                "key" => self.add_private(bytes, name, source, from_name).map(|_| ()),
                "pem" | "der" | "crt" | "cer" => Certificate::from_der(bytes).map(|c| {
                    self.add_cert(c, name, source);
                }),
                _ => Err(SmkiError::Unsupported(
                    "not a certificate or key file (expected .pem, .key, .der, .crt, .cer)".into(),
                )),
            };
            if let Err(e) = result {
                self.warn(name, e);
            }
            return;
        }
        let blocks = match pem::parse_many(bytes) {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => return self.warn(name, SmkiError::Unsupported("no PEM block".into())),
            Err(e) => return self.warn(name, SmkiError::Unsupported(format!("bad PEM: {e}"))),
        };
        for block in blocks {
            let result = match block.tag() {
                "CERTIFICATE" => Certificate::from_der(block.contents()).map(|c| {
                    self.add_cert(c, name, source);
                }),
                "PUBLIC KEY" => self.add_public(block.contents(), name, source, from_name),
                "PRIVATE KEY" | "EC PRIVATE KEY" => self
                    .add_private(block.contents(), name, source, from_name)
                    .map(|_| ()),
                other => Err(SmkiError::Unsupported(format!("PEM block {other}"))),
            };
            if let Err(e) = result {
                self.warn(name, e);
            }
        }
    }

    fn add_keystore_json_bytes(&mut self, file: &str, bytes: &[u8], source: u32) {
        let root: serde_json::Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => return self.warn(file, SmkiError::InvalidKeystore(e.to_string())),
        };
        let Some(by_eui) = root.as_object() else {
            return self.warn(
                file,
                SmkiError::InvalidKeystore("top level is not an object".into()),
            );
        };
        for (eui_text, usages) in by_eui {
            let eui = crate::hex::parse_eui(eui_text);
            let Some(usages) = usages.as_object() else {
                self.warn(
                    file,
                    SmkiError::InvalidKeystore(format!("{eui_text}: not an object")),
                );
                continue;
            };
            for (usage_name, items) in usages {
                let usage = Usage::parse(usage_name);
                let Some(items) = items.as_object() else {
                    self.warn(
                        file,
                        SmkiError::InvalidKeystore(format!(
                            "{eui_text}.{usage_name}: not an object"
                        )),
                    );
                    continue;
                };
                for (serial, item) in items {
                    let name = item.get("name").and_then(|n| n.as_str()).unwrap_or(serial);
                    let label = format!("{file}:{name}");
                    let role = item
                        .get("role")
                        .and_then(serde_json::Value::as_u64)
                        .and_then(|r| u8::try_from(r).ok());
                    if let Err(e) = self.add_json_item(item, &label, source, eui, usage, role) {
                        self.warn(&label, e);
                    }
                }
            }
        }
    }

    fn add_json_item(
        &mut self,
        item: &serde_json::Value,
        label: &str,
        source: u32,
        eui: Option<[u8; 8]>,
        usage: Option<Usage>,
        role: Option<u8>,
    ) -> Result<(), SmkiError> {
        let cert_pem = item.get("certificate").and_then(|v| v.as_str());
        let key_pem = item.get("privateKey").and_then(|v| v.as_str());
        let hint = eui.zip(usage);
        let mut id = None;
        if let Some(pem) = cert_pem {
            let cert = Certificate::from_pem(pem.as_bytes())?;
            id = Some(self.add_cert(cert, label, source));
        }
        if let Some(pem) = key_pem {
            id = Some(self.add_private(pem.as_bytes(), label, source, hint)?);
        }
        let Some(id) = id else {
            return Err(SmkiError::InvalidKeystore(
                "entry has neither certificate nor privateKey".into(),
            ));
        };
        if let Some(&i) = self.by_id.get(&id) {
            let e = &mut self.entries[i];
            e.json_role = e.json_role.or(role);
            if e.name_eui.is_none()
                && let Some((eui, usage)) = hint
            {
                e.name_eui = Some(eui);
                e.name_usage = Some(usage);
            }
        }
        Ok(())
    }

    fn entry_for(&mut self, verifying_key: VerifyingKey, peer_key: PeerKey) -> usize {
        let id = verifying_key.id();
        if let Some(&i) = self.by_id.get(&id) {
            return i;
        }
        self.entries.push(KeyEntry {
            id,
            certificates: Vec::new(),
            certificate_labels: Vec::new(),
            verifying_key,
            peer_key,
            name_eui: None,
            name_usage: None,
            json_role: None,
            public_labels: Vec::new(),
            private_labels: Vec::new(),
            signing_key: None,
            agreement_key: None,
        });
        let i = self.entries.len() - 1;
        self.by_id.insert(id, i);
        i
    }

    fn add_cert(&mut self, cert: Certificate, label: &str, source: u32) -> KeyId {
        let i = self.entry_for(cert.verifying_key().clone(), cert.peer_key().clone());
        let e = &mut self.entries[i];
        let j = match e.certificates.iter().position(|c| c.der() == cert.der()) {
            Some(j) => j,
            None => {
                e.certificates.push(cert);
                e.certificate_labels.push(Vec::new());
                e.certificates.len() - 1
            }
        };
        push_label(&mut e.certificate_labels[j], source, label);
        push_label(&mut e.public_labels, source, label);
        e.id
    }

    fn add_public(
        &mut self,
        der: &[u8],
        label: &str,
        source: u32,
        from_name: Option<([u8; 8], Usage)>,
    ) -> Result<(), SmkiError> {
        let vk = VerifyingKey::from_bytes(der)?;
        let pk = PeerKey::from_bytes(der)?;
        let i = self.entry_for(vk, pk);
        let e = &mut self.entries[i];
        e.set_name_hint(from_name);
        push_label(&mut e.public_labels, source, label);
        Ok(())
    }

    fn add_private(
        &mut self,
        bytes: &[u8],
        label: &str,
        source: u32,
        from_name: Option<([u8; 8], Usage)>,
    ) -> Result<KeyId, SmkiError> {
        let signing = SigningKey::from_pem_or_der(bytes)?;
        let agreement = KeyAgreementKey::from_pem_or_der(bytes)?;
        let vk = signing.verifying_key().clone();
        let pk = PeerKey::from_bytes(signing.public_point())?;
        let i = self.entry_for(vk, pk);
        let e = &mut self.entries[i];
        e.set_name_hint(from_name);
        if e.signing_key.is_none() {
            e.signing_key = Some(signing);
            e.agreement_key = Some(agreement);
        }
        push_label(&mut e.private_labels, source, label);
        Ok(e.id)
    }

    /// Rebuilds the indexes and the notes from the entries.
    fn reindex(&mut self) {
        self.public_index.clear();
        self.private_index.clear();
        self.serial_index.clear();
        self.role_index.clear();
        self.devices.clear();
        self.organisations.clear();
        self.notes.clear();
        for (i, e) in self.entries.iter_mut().enumerate() {
            let eui = e.eui();
            let eui_hex = eui.map(|x| crate::hex::eui(&x)).unwrap_or_default();
            e.public_labels.sort_by_cached_key(|l| label_rank(l, eui));
            e.private_labels.sort_by_cached_key(|l| label_rank(l, eui));
            for labels in &mut e.certificate_labels {
                labels.sort_by_cached_key(|l| label_rank(l, eui));
            }
            if let (Some(eui), Some(usage)) = (eui, e.usage()) {
                if !e.public_labels.is_empty() {
                    self.public_index.entry((eui, usage)).or_default().push(i);
                }
                if e.agreement_key.is_some() {
                    self.private_index.entry((eui, usage)).or_default().push(i);
                }
            }
            for (j, c) in e.certificates.iter().enumerate() {
                self.serial_index
                    .entry(c.serial().to_vec())
                    .or_default()
                    .push((i, j));
                if let Some(ce) = c.eui() {
                    match c.holder() {
                        Holder::Device => {
                            self.devices.insert(ce);
                        }
                        Holder::Organisation => {
                            self.organisations.insert(ce);
                        }
                        Holder::Unknown => {}
                    }
                }
            }
            if let Some(role) = e.role() {
                self.role_index.entry(role).or_default().push(i);
            }
            if e.certificates.is_empty() || eui_hex.is_empty() {
                continue;
            }
            for l in e.public_labels.iter().chain(&e.private_labels) {
                if let Some((named, _)) = parse_key_file_name(&l.name)
                    && crate::hex::eui(&named) != eui_hex
                {
                    self.notes.push(format!(
                        "{}: holds the {} key of EUI {}; indexed under {eui_hex}, not {}",
                        l.name,
                        e.usage().map_or("?", Usage::short),
                        eui_hex,
                        crate::hex::eui(&named)
                    ));
                }
            }
        }
        let entries = &self.entries;
        let best = |i: usize, private: bool| {
            let e = &entries[i];
            let labels = if private {
                &e.private_labels
            } else {
                &e.public_labels
            };
            labels.first().map(|l| label_rank(l, e.eui()))
        };
        for list in self.public_index.values_mut() {
            list.sort_by_cached_key(|&i| best(i, false));
        }
        for list in self.private_index.values_mut() {
            list.sort_by_cached_key(|&i| best(i, true));
        }
    }
}

impl KeyEntry {
    /// The public key's identifier.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The holder's EUI: from the certificate, or for keys without one, from the file name
    /// (`<eui>[-pp]-<ds|ka>.<pem|key>`) or the `keystore.json` entry.
    pub fn eui(&self) -> Option<[u8; 8]> {
        self.certificates
            .iter()
            .find_map(Certificate::eui)
            .or(self.name_eui)
    }

    /// The key usage, from the certificate or, without one, from the file name.
    pub fn usage(&self) -> Option<Usage> {
        match self.certificates.first() {
            Some(c) => c.usage().or(self.name_usage),
            None => self.name_usage,
        }
    }

    /// The role, from the certificate OU or the `keystore.json` entry.
    pub fn role(&self) -> Option<u8> {
        self.certificates
            .iter()
            .find_map(Certificate::role)
            .or(self.json_role)
    }

    /// The first certificate loaded for this key.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificates.first()
    }

    /// The best file name (or `keystore.json:<name>`) of one of this key's certificates.
    ///
    /// One key can be certified more than once (the DSP XML-signing key has two certificates
    /// with different serials); each keeps the names of its own files.
    pub fn certificate_label(&self, cert: &Certificate) -> Option<&str> {
        let j = self
            .certificates
            .iter()
            .position(|c| c.der() == cert.der())?;
        self.certificate_labels[j].first().map(|l| l.name.as_str())
    }

    /// Every certificate loaded for this key (usually one).
    pub fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    /// True when a certificate says this key belongs to a device.
    pub fn is_device(&self) -> bool {
        self.certificates
            .iter()
            .any(|c| c.holder() == Holder::Device)
    }

    /// The public key, parsed for signature verification.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// The public key, parsed for key agreement.
    pub fn peer_key(&self) -> &PeerKey {
        &self.peer_key
    }

    /// The private key for signing, if loaded.
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing_key.as_ref()
    }

    /// The private key for key agreement, if loaded.
    pub fn agreement_key(&self) -> Option<&KeyAgreementKey> {
        self.agreement_key.as_ref()
    }

    /// The name of the best certificate or public-key file (or `keystore.json:<name>`).
    pub fn public_label(&self) -> Option<&str> {
        self.public_labels.first().map(|l| l.name.as_str())
    }

    /// The name of the best private-key file (or `keystore.json:<name>`).
    pub fn private_label(&self) -> Option<&str> {
        self.private_labels.first().map(|l| l.name.as_str())
    }

    /// Every name this public key was loaded under, best first.
    pub fn public_labels(&self) -> impl Iterator<Item = &str> {
        self.public_labels.iter().map(|l| l.name.as_str())
    }

    /// Every name this private key was loaded under, best first.
    pub fn private_labels(&self) -> impl Iterator<Item = &str> {
        self.private_labels.iter().map(|l| l.name.as_str())
    }

    fn set_name_hint(&mut self, hint: Option<([u8; 8], Usage)>) {
        if self.name_eui.is_none()
            && let Some((eui, usage)) = hint
        {
            self.name_eui = Some(eui);
            self.name_usage = Some(usage);
        }
    }
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("id", &self.id)
            .field("eui", &self.eui().map(|e| crate::hex::eui(&e)))
            .field("usage", &self.usage())
            .field("public_label", &self.public_label())
            .field("private_label", &self.private_label())
            .field("certificates", &self.certificates.len())
            .finish_non_exhaustive()
    }
}

/// Where a key was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Label {
    source: u32,
    name: String,
}

/// Sort key of a label: earlier source first, then a file name that starts with the key's
/// EUI, then by name.
fn label_rank(l: &Label, eui: Option<[u8; 8]>) -> (u32, bool, String) {
    let agrees = eui.is_some_and(|e| {
        l.name
            .to_ascii_lowercase()
            .starts_with(&crate::hex::eui(&e))
    });
    (l.source, !agrees, l.name.clone())
}

fn push_label(labels: &mut Vec<Label>, source: u32, name: &str) {
    if !labels.iter().any(|l| l.name == name) {
        labels.push(Label {
            source,
            name: name.to_string(),
        });
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Parses `<16 hex digits>[-pp]-<ds|ka>.<pem|key>`.
fn parse_key_file_name(name: &str) -> Option<([u8; 8], Usage)> {
    let stem = name
        .strip_suffix(".pem")
        .or_else(|| name.strip_suffix(".key"))?;
    let (eui, rest) = stem.split_at_checked(16)?;
    if !eui.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = rest.strip_prefix("-pp").unwrap_or(rest);
    let usage = Usage::parse(rest.strip_prefix('-')?)?;
    Some((crate::hex::parse_eui(eui)?, usage))
}

/// A certificate from PEM or DER bytes.
fn certificate_of(bytes: &[u8]) -> Result<Certificate, SmkiError> {
    if crate::crypto::looks_like_pem(bytes) {
        Ok(Certificate::from_pem(bytes)?)
    } else {
        Ok(Certificate::from_der(bytes)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::hex::parse_eui;

    fn eui(s: &str) -> [u8; 8] {
        parse_eui(s).unwrap()
    }

    fn conformance() -> Store {
        Store::load_conformance(&crate::conformance::require()).unwrap()
    }

    fn labels<'a>(it: impl Iterator<Item = &'a KeyEntry>, private: bool) -> Vec<String> {
        it.map(|e| {
            if private {
                e.private_label()
            } else {
                e.public_label()
            }
            .unwrap_or("-")
            .to_string()
        })
        .collect()
    }

    #[test]
    fn loads_the_conformance_key_material_without_warnings() {
        let s = conformance();
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
        assert!(s.len() > 400, "{}", s.len());
    }

    #[test]
    fn devices_and_organisations_by_content() {
        let s = conformance();
        let meter = eui("00db1234567890a0");
        assert!(s.is_device(&meter) && !s.is_organisation(&meter));
        assert_eq!(
            labels(s.public_keys(&meter, Usage::DigitalSignature), false),
            ["00db1234567890a0-ds.pem"]
        );
        assert_eq!(
            labels(s.public_keys(&meter, Usage::KeyAgreement), false),
            ["00db1234567890a0-ka.pem"]
        );
        assert_eq!(s.private_keys(&meter, Usage::KeyAgreement).count(), 0);

        let acb = eui("90b3d51f30000002");
        assert!(s.is_organisation(&acb) && !s.is_device(&acb));
        let ds = labels(s.private_keys(&acb, Usage::DigitalSignature), true);
        assert_eq!(ds[0], "90b3d51f30000002-ds.key");
        let ka = labels(s.private_keys(&acb, Usage::KeyAgreement), true);
        assert_eq!(ka[0], "90b3d51f30000002-ka.key");
        assert!(
            ka.iter()
                .any(|l| l == "keystore.json:Z1b-accessControlBroker-ka"),
            "{ka:?}"
        );
        let first = s.private_keys(&acb, Usage::KeyAgreement).next().unwrap();
        assert_eq!(first.public_label(), Some("90b3d51f30000002-ka.pem"));
        assert_eq!(first.role(), Some(4));
    }

    #[test]
    fn file_named_0007_ka_is_supplier_two() {
        let s = conformance();
        let sup2 = eui("90b3d51f30030000");
        let pubs: Vec<&KeyEntry> = s.public_keys(&sup2, Usage::KeyAgreement).collect();
        let e = pubs
            .iter()
            .find(|e| e.public_labels().any(|l| l == "90b3d51f30000007-ka.pem"))
            .expect("the 0007-ka.pem certificate is indexed under supplier 2");
        assert_eq!(e.public_label(), Some("90b3d51f30030000-ka.pem"));
        assert_eq!(e.private_label(), Some("90b3d51f30030000-ka.key"));
        assert_eq!(
            s.public_keys(&eui("90b3d51f30000007"), Usage::KeyAgreement)
                .count(),
            0
        );
        assert_eq!(
            labels(
                s.public_keys(&eui("90b3d51f30000007"), Usage::DigitalSignature),
                false
            )[0],
            "90b3d51f30000007-ds.pem"
        );
        assert!(
            s.notes()
                .iter()
                .any(|n| n.starts_with("90b3d51f30000007-ka.pem:")),
            "{:?}",
            s.notes()
        );
    }

    #[test]
    fn gbcs_keystore_labels_win_over_smki_copies() {
        let s = conformance();
        let supplier = eui("90b3d51f30010000");
        let ds: Vec<&KeyEntry> = s.public_keys(&supplier, Usage::DigitalSignature).collect();
        assert_eq!(ds[0].public_label(), Some("90b3d51f30010000-ds.pem"));
        assert!(ds[0].public_labels().any(|l| l == "Z1-supplier-ds.pem"));
        // Z1, Z1b and the XML-signing certificate.
        assert!(ds.len() >= 3, "{ds:?}");
    }

    #[test]
    fn serial_role_and_issuer() {
        let s = conformance();
        let hits: Vec<_> = s
            .by_serial_decimal("20315062944123339095836004026371736578")
            .collect();
        assert_eq!(hits.len(), 1);
        let CertRef {
            entry,
            certificate: cert,
            label,
        } = hits[0];
        assert_eq!(label, "Z1-accessControlBroker-dSPXmlSign.pem");
        assert_eq!(entry.certificate_label(cert), Some(label));
        assert_eq!(cert.issuer(), "CN=Z1,OU=07");
        assert_eq!(cert.role(), Some(0x89));
        assert!(entry.signing_key().is_some());
        // The same key is certified twice; each certificate keeps its own file name.
        let other: Vec<_> = s
            .by_serial(&crate::hex::decode("7DAC7283AAD29BDD23C9EFBFDDB52A41").unwrap())
            .collect();
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].label, "dsp-xml-sign-90B3D51F30000002-ds.pem");
        assert_eq!(other[0].entry.id(), entry.id());
        let by_bytes = crate::hex::decode("000f4889ef197d41e9016966f9d5ab0402").unwrap();
        assert_eq!(s.by_serial(&by_bytes).count(), 1);
        assert_eq!(s.by_serial_decimal("not a number").count(), 0);
        assert_eq!(s.by_serial_decimal("1").count(), 0);
        // Role OU 04 = ACB; 137 = DSP XML signing (hex "89" and the literal "137").
        assert!(
            s.by_role(4)
                .all(|e| e.eui() == Some(eui("90b3d51f30000002")))
        );
        let dsp: Vec<_> = s
            .by_role(137)
            .map(|e| e.public_label().unwrap_or(""))
            .collect();
        assert_eq!(
            dsp,
            [
                "Z1-accessControlBroker-dSPXmlSign.pem",
                "dsp-xml-sign-90B3D51F30000002-ds-pre-1.4.1.pem"
            ]
        );
    }

    #[test]
    fn files_without_certificates_fall_back_to_their_names() {
        let s = conformance();
        let abab = eui("abababababababab");
        let e: Vec<&KeyEntry> = s.private_keys(&abab, Usage::KeyAgreement).collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].private_label(), Some("abababababababab-ka.key"));
        assert!(e[0].certificate().is_none());
        assert_eq!(s.public_keys(&abab, Usage::KeyAgreement).count(), 0);
        let ff = eui("fffffffffffffffe");
        assert_eq!(
            labels(s.public_keys(&ff, Usage::KeyAgreement), false),
            ["fffffffffffffffe-ka.pem"]
        );
        assert!(!s.is_device(&ff) && !s.is_organisation(&ff));
    }

    #[test]
    fn every_private_key_matches_its_certificate() {
        let s = conformance();
        let mut pairs = 0;
        for e in s.entries() {
            if let (Some(k), Some(_)) = (e.signing_key(), e.certificate()) {
                let sig = k.sign(b"pairing check");
                e.verifying_key().verify(b"pairing check", &sig).unwrap();
                pairs += 1;
            }
        }
        assert!(pairs >= 30, "{pairs}");
    }

    #[test]
    fn bad_files_become_warnings() {
        let dir = std::env::temp_dir().join(format!("hubgate-smki-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("junk.pem"),
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(dir.join("junk.key"), b"\x30\x03\x02\x01\x00").unwrap();
        std::fs::write(dir.join("notes.txt"), b"hello").unwrap();
        std::fs::write(dir.join("keystore.json"), b"[1,2]").unwrap();
        let mut s = Store::new();
        s.load_dir(&dir).unwrap();
        let files: Vec<&str> = s.warnings().iter().map(|w| w.file.as_str()).collect();
        assert_eq!(
            files,
            ["junk.key", "junk.pem", "notes.txt", "keystore.json"]
        );
        assert!(s.warnings().iter().all(|w| w.error.is_input_error()));
        assert!(s.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(s.load_dir(&dir), Err(SmkiError::Io { .. })));
    }

    #[test]
    fn key_file_names() {
        assert_eq!(
            parse_key_file_name("90b3d51f30010000-pp-ka.pem"),
            Some((eui("90b3d51f30010000"), Usage::KeyAgreement))
        );
        assert_eq!(
            parse_key_file_name("00DB1234567890A0-ds.key"),
            Some((eui("00db1234567890a0"), Usage::DigitalSignature))
        );
        assert_eq!(parse_key_file_name("Z1-supplier-ds.key"), None);
        assert_eq!(parse_key_file_name("90b3d51f30010000-xx.pem"), None);
    }
}
